/* SPDX-License-Identifier: MIT */
/* Which signal handlers ran in a thread, and when: the kernel's
 * signal:signal_deliver tracepoint, read through one sampling perf event
 * per CPU (not per thread: no cost at a park, none at a context switch,
 * no fd per caller).  The filter keeps only deliveries that run a
 * handler (sa_handler > 1: not SIG_DFL, not SIG_IGN); each sample
 * carries the thread, a CLOCK_MONOTONIC time and the handler's
 * sa_flags.  A parked call whose thread comes back with the same call
 * asks here whether a handler ran since it was received, and whether
 * that handler had SA_RESTART (spec/compatibility.md, "Signals").
 *
 * The rings are drained by the threads that ask, under one lock, into a
 * direct-mapped table of the last deliveries per thread.  What cannot be
 * known (a ring overflowed, a thread's history was evicted) is reported
 * as such, never guessed.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <asm/perf_regs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "notify.h"

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif

#define RING_PAGES 128 /* per CPU by default: about 7000 deliveries between drains */
#define HIST 4        /* deliveries remembered per thread */
#define SA_RESTART_FLAG 0x10000000UL
#define ERESTARTSYS_RET ((uint64_t)-512)

/* The caller's return register and instruction pointer at the delivery:
 * a wait in a seccomp notification that the signal ended holds
 * -ERESTARTSYS, the pointer just past the system call instruction (what
 * seccomp_data.instruction_pointer of the restarted call says).  */
#if defined(__x86_64__)
#define REG_RET PERF_REG_X86_AX
#define REG_PC PERF_REG_X86_IP
#elif defined(__aarch64__)
#define REG_RET PERF_REG_ARM64_X0
#define REG_PC PERF_REG_ARM64_PC
#endif

struct delivery {
	int64_t t;
	bool restart;
	bool in_wait;  /* it ended a wait that returns -ERESTARTSYS */
	uint64_t pc;
};

struct slot {
	pid_t tid;
	int n;                  /* entries used, oldest first */
	struct delivery d[HIST];
	int64_t dropped;        /* the latest delivery forgotten here */
	pid_t dropped_tid;      /* whose */
	int64_t used;           /* deliveries up to this time decided a call */
};

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	unsigned char *data;
	uint64_t size;
};

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;
	int err;                /* 0, or why there is no watch */
	struct ring *rings;
	int nrings;
	int epfd;               /* the rings, readable when a quarter full */
	int64_t lost;           /* the last drain that found records lost */
	unsigned ring_pages;    /* per ring, a power of two */
	struct slot slots[4096];
} W = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .ring_pages = RING_PAGES };

static int read_id(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[32];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	return atoi(buf);
}

/* The tracepoint's id: from a mounted tracefs, or from a tracefs
 * instance created for the purpose and never attached anywhere (fsmount
 * without move_mount), so the host's mount table is not touched.  */
static int tracepoint_id(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/signal/signal_deliver/id",
		"/sys/kernel/debug/tracing/events/signal/signal_deliver/id",
	};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		int id = read_id(AT_FDCWD, paths[i]);
		if (id > 0)
			return id;
	}
	int fsfd = (int)syscall(SYS_fsopen, "tracefs", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	int ret = -EIO;
	if (syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0) {
		int mfd = (int)syscall(SYS_fsmount, fsfd, FSOPEN_CLOEXEC, 0);
		if (mfd >= 0) {
			ret = read_id(mfd, "events/signal/signal_deliver/id");
			close(mfd);
		} else {
			ret = -errno;
		}
	} else {
		ret = -errno;
	}
	close(fsfd);
	return ret;
}

static int ring_open(struct ring *r, int id, int cpu)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = (uint64_t)id;
	a.sample_period = 1;
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW | PERF_SAMPLE_REGS_USER;
	a.sample_regs_user = (1ULL << REG_RET) | (1ULL << REG_PC);
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	/* A quarter full wakes the drainer (ipcns_sigwatch_drain_thread): deliveries
	 * elsewhere on the host fill the rings while no call parks here,
	 * and a ring that overflows makes every decision after it
	 * unknown.  */
	a.watermark = 1;
	a.wakeup_watermark = (uint32_t)(W.ring_pages * (size_t)sysconf(_SC_PAGESIZE) / 4);
	r->fd = (int)syscall(SYS_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	if (ioctl(r->fd, PERF_EVENT_IOC_SET_FILTER, "sa_handler > 1") < 0)
		return -errno;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, (W.ring_pages + 1) * pg, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	r->meta = m;
	r->data = (unsigned char *)m + pg;
	r->size = W.ring_pages * pg;
	return 0;
}

static void start(void)
{
	int id = tracepoint_id();
	if (id < 0) {
		W.err = id;
		return;
	}
	int ncpu = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu < 1)
		ncpu = 1;
	W.rings = calloc((size_t)ncpu, sizeof(*W.rings));
	if (!W.rings) {
		W.err = -ENOMEM;
		return;
	}
	for (int i = 0; i < ncpu; i++)
		W.rings[i].fd = -1;
	for (int i = 0; i < ncpu; i++) {
		int ret = ring_open(&W.rings[i], id, i);
		if (ret < 0 && ret != -ENODEV) { /* ENODEV: an offline CPU */
			W.err = ret;
			break;
		}
	}
	if (W.err) {
		for (int i = 0; i < ncpu; i++)
			if (W.rings[i].fd >= 0)
				close(W.rings[i].fd);
		free(W.rings);
		W.rings = NULL;
		return;
	}
	W.epfd = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; W.epfd >= 0 && i < ncpu; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (W.rings[i].fd >= 0 && epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.rings[i].fd, &ev) < 0) {
			close(W.epfd);
			W.epfd = -1;
		}
	}
	__atomic_store_n(&W.nrings, ncpu, __ATOMIC_RELEASE);
}


int ipcns_sigwatch_ring_pages(unsigned pages)
{
	if (pages == 0 || (pages & (pages - 1)) || pages > 65536)
		return -EINVAL;
	W.ring_pages = pages;
	return 0;
}

int ipcns_sigwatch_start(void)
{
	pthread_once(&W.once, start);
	return W.err;
}

static void record(pid_t tid, const struct delivery *d)
{
	struct slot *s = &W.slots[(uint32_t)tid % ARRAY_SIZE(W.slots)];
	if (s->tid != tid) {
		/* Another thread's history goes: a question about it after
		 * that time is unknown.  */
		if (s->n && s->d[s->n - 1].t > s->used) {
			s->dropped = s->d[s->n - 1].t;
			s->dropped_tid = s->tid;
		}
		s->tid = tid;
		s->n = 0;
		s->used = 0;
	}
	if (s->n == HIST) {
		if (s->d[0].t > s->dropped) {
			s->dropped = s->d[0].t;
			s->dropped_tid = tid;
		}
		memmove(&s->d[0], &s->d[1], (HIST - 1) * sizeof(s->d[0]));
		s->n--;
	}
	s->d[s->n++] = *d;
}

static void copy_out(const struct ring *r, uint64_t off, void *dst, size_t len)
{
	uint64_t at = off % r->size;
	size_t first = len < r->size - at ? len : (size_t)(r->size - at);
	memcpy(dst, r->data + at, first);
	memcpy((unsigned char *)dst + first, r->data, len - first);
}

static void drain_ring(struct ring *r)
{
	if (!r->meta)
		return;
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	while (tail < head) {
		struct perf_event_header h;
		copy_out(r, tail, &h, sizeof(h));
		if (h.size < sizeof(h))
			break;
		if (h.type == PERF_RECORD_SAMPLE) {
			/* pid, tid; time; raw size; raw: the trace entry
			 * (common fields, then sig, errno, code,
			 * sa_handler at 24, sa_flags at 32).  */
			unsigned char buf[128];
			size_t len = h.size < sizeof(buf) ? h.size : sizeof(buf);
			copy_out(r, tail, buf, len);
			uint32_t tid, rawsz;
			uint64_t t, flags;
			size_t o = sizeof(h);
			if (len >= o + 4 + 4 + 8 + 4 + 40) {
				memcpy(&tid, buf + o + 4, 4);
				memcpy(&t, buf + o + 8, 8);
				memcpy(&rawsz, buf + o + 16, 4);
				memcpy(&flags, buf + o + 20 + 32, 8);
				struct delivery d = { .t = (int64_t)t, .restart = flags & SA_RESTART_FLAG };
				/* Then the user registers: abi, the return
				 * register, the pc (bit order).  */
				size_t ro = o + 20 + rawsz;
				uint64_t abi = 0, ret = 0, pc = 0;
				if (len >= ro + 24) {
					memcpy(&abi, buf + ro, 8);
					memcpy(&ret, buf + ro + 8, 8);
					memcpy(&pc, buf + ro + 16, 8);
				}
				d.in_wait = abi != PERF_SAMPLE_REGS_ABI_NONE && ret == ERESTARTSYS_RET;
				d.pc = pc;
				if (rawsz >= 40)
					record((pid_t)tid, &d);
			}
		} else if (h.type == PERF_RECORD_LOST) {
			W.lost = ipcns_mono_ns();
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
}

int ipcns_sigwatch_first(pid_t tid, int64_t since)
{
	if (ipcns_sigwatch_start() < 0)
		return -EIO;
	pthread_mutex_lock(&W.lock);
	for (int i = 0; i < W.nrings; i++)
		drain_ring(&W.rings[i]);
	int ret = IPCNS_SIG_NONE;
	struct slot *s = &W.slots[(uint32_t)tid % ARRAY_SIZE(W.slots)];
	if (W.lost > since || (s->dropped > since && s->dropped_tid == tid)) {
		ret = -EIO;
	} else if (s->tid == tid) {
		for (int i = 0; i < s->n; i++) {
			if (s->d[i].t > since) {
				ret = s->d[i].restart ? IPCNS_SIG_RESTART : IPCNS_SIG_NORESTART;
				break;
			}
		}
	}
	/* What ran until now has decided this call: not the next.  */
	if (s->tid == tid && s->n)
		s->used = s->d[s->n - 1].t;
	pthread_mutex_unlock(&W.lock);
	return ret;
}

bool ipcns_sigwatch_restarted(pid_t tid, uint64_t pc, int64_t now, int64_t window)
{
	if (ipcns_sigwatch_start() < 0)
		return false;
	bool hit = false;
	pthread_mutex_lock(&W.lock);
	for (int i = 0; i < W.nrings; i++)
		drain_ring(&W.rings[i]);
	struct slot *s = &W.slots[(uint32_t)tid % ARRAY_SIZE(W.slots)];
	if (s->tid == tid) {
		for (int i = s->n - 1; i >= 0 && !hit; i--) {
			const struct delivery *d = &s->d[i];
			if (d->t <= s->used || d->t < now - window)
				break;
			hit = d->restart && d->in_wait && d->pc == pc;
		}
		if (hit)
			s->used = s->d[s->n - 1].t;
	}
	pthread_mutex_unlock(&W.lock);
	return hit;
}

void ipcns_sigwatch_poll(void)
{
	if (__atomic_load_n(&W.nrings, __ATOMIC_ACQUIRE) == 0 || pthread_mutex_trylock(&W.lock))
		return;
	for (int i = 0; i < W.nrings; i++)
		drain_ring(&W.rings[i]);
	pthread_mutex_unlock(&W.lock);
}

/* The drainer: wakes when a ring is a quarter full and empties them all.
 * Real-time priority where allowed, so that a busy host (whose every
 * handler delivery lands in these rings) does not keep it from running
 * until a ring overflows; its work is a copy of a few thousand records.  */
static void *drainer(void *arg)
{
	(void)arg;
	struct sched_param sp = { .sched_priority = 1 };
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(W.epfd, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			return NULL;
		pthread_mutex_lock(&W.lock);
		for (int i = 0; i < W.nrings; i++)
			drain_ring(&W.rings[i]);
		pthread_mutex_unlock(&W.lock);
	}
}

int ipcns_sigwatch_drain_thread(void)
{
	static pthread_t th;
	static int ret = 1;
	if (ipcns_sigwatch_start() < 0 || W.epfd < 0)
		return -ENOTSUP;
	if (ret == 1) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		ret = -pthread_create(&th, NULL, drainer, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (ret == 0)
			pthread_detach(th);
	}
	return ret;
}
