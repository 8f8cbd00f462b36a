/* SPDX-License-Identifier: MIT */
/* Which signal handlers ran in a thread, and when: the kernel's
 * signal:signal_deliver tracepoint, read through watches, each a sampling
 * perf event per CPU (not per thread: no cost at a park, none at a
 * context switch of the caller, no fd per caller).  A watch sees one
 * cgroup and its descendants (PERF_FLAG_PID_CGROUP), or the whole host:
 * ipcnsd gives each cgroup of its containers one, so that deliveries
 * elsewhere (a signal storm in another container or on the host) neither
 * overflow its rings nor evict its history (spec/security.md, "Signal
 * watches").  The filter keeps only deliveries that run a handler
 * (sa_handler > 1: not SIG_DFL, not SIG_IGN) and those of a stop signal
 * with its default action (a stop ends a semop with EINTR); each sample
 * carries the
 * thread, a CLOCK_MONOTONIC time, the handler's sa_flags and two user
 * registers.  A parked call whose thread comes back with the same call
 * asks its watch whether a handler ran since it was received, and
 * whether that handler had SA_RESTART (spec/compatibility.md, "Signals").
 *
 * A watch's rings are drained by the threads that ask and by the drainer,
 * under the watch's lock, into its direct-mapped table of the last
 * deliveries per thread.  What cannot be known (a ring overflowed, a
 * thread's history was evicted, the watch opened later) is reported as
 * such, never guessed.  */
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
#define HOST_SLOTS 4096 /* threads remembered by the host's watch */
#define CGROUP_SLOTS 256 /* by a cgroup's */
#define CGROUP_RING_PAGES 64
#define EVICTS 4
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
	bool stop;     /* a stop signal with its default action, no handler */
	uint64_t pc;
};

struct slot {
	pid_t tid;
	int n;                  /* entries used, oldest first */
	struct delivery d[HIST];
	int64_t used;           /* deliveries up to this time decided a call */
	int64_t overflowed;     /* the latest of tid's unused deliveries forgotten */
	/* The threads that lost the slot with unused deliveries, and the
	 * latest of those; past EVICTS of them, the latest forgotten.  */
	struct {
		pid_t tid;
		int64_t t;
	} ev[EVICTS];
	int nev;
	int64_t ev_lost;
};

struct ring {
	int fd;
	int cpu;
	struct perf_event_mmap_page *meta;
	unsigned char *data;
	uint64_t size;
};

/* What a watch knows, in a memfd mapped shared: it outlives this process
 * when a keeper holds the memfd (and keeps the rings mapped, so that the
 * kernel goes on recording into them), and the next daemon goes on from
 * it (ipcns_sigwatch_adopt): a handler that ran while no daemon did is
 * found in the rings, one drained before the last daemon died in the
 * table.  A kill in the middle of a record() can tear one slot: at worst
 * one thread's history of that moment.  */
#define TABLE_MAGIC 0x69707377u /* "wspi" */
#define TABLE_VERSION 2 /* 1: no stops recorded (the same layout) */
struct table {
	uint32_t magic, version;
	uint32_t slot_size, nslots;
	uint32_t pages, pad;
	uint64_t cgroup;
	int64_t started;        /* CLOCK_MONOTONIC ns: nothing before is seen */
	int64_t lost;           /* the last drain that found records lost */
	char name[48];          /* unique: names the watch's fds in a keeper */
	struct slot slots[];
};

/* One watch: a ring per CPU for the deliveries it sees (the whole host's,
 * or those of one cgroup and its descendants) and the last deliveries per
 * thread.  Its lock covers the rings' tails and the table; only its own
 * questions and the drainer take it, so a storm that keeps one watch
 * busy holds no other.  */
struct ipcns_sigwatch {
	struct ipcns_sigwatch *next; /* in W.watches */
	uint64_t serial;        /* names it to the drainer (epoll data) */
	uint64_t cgroup;        /* the cgroup's id (its directory's inode); 0: the host */
	const void *scope;      /* whose it is (a namespace) */
	int refs;               /* under W.lock */
	pthread_mutex_t lock;
	struct ring *rings;
	int nrings;             /* open ones */
	unsigned pages;         /* of each ring */
	uint32_t nslots;
	struct table *t;        /* mapped, tsize bytes */
	size_t tsize;
	struct slot *slots;     /* t->slots */
};

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;   /* the list of watches; then a watch's lock */
	int err;                /* 0, or why there is no watch */
	int id;                 /* the tracepoint's */
	int ncpu;
	int epfd;               /* every ring, readable when a quarter full */
	unsigned ring_pages;    /* per ring, a power of two */
	uint64_t serials;
	struct ipcns_sigwatch *watches;
	struct ipcns_sigwatch *host;
	/* The drainer: its state (1 not started, 0 running, -errno), and
	 * the eventfd that stops it (in epfd with serial 0, which no watch
	 * has).  */
	pthread_mutex_t drainer_lock;
	pthread_t drainer;
	int drainer_state;
	int stop_fd;
	const struct ipcns_sigwatch_keeper *keeper;
} W = { .once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.ring_pages = RING_PAGES,
	.drainer_lock = PTHREAD_MUTEX_INITIALIZER,
	.drainer_state = 1,
	.stop_fd = -1 };

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

/* Map a ring: a ring a keeper still maps is the same buffer again, with
 * what the kernel wrote into it meanwhile past the tail we left.  */
static int ring_map(struct ring *r, unsigned pages)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, (pages + 1) * pg, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	r->meta = m;
	r->data = (unsigned char *)m + pg;
	r->size = pages * pg;
	return 0;
}

static int ring_open(struct ring *r, int id, int cpu, int cgfd, unsigned pages)
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
	a.wakeup_watermark = (uint32_t)(pages * (size_t)sysconf(_SC_PAGESIZE) / 4);
	r->fd = (int)syscall(SYS_perf_event_open, &a, cgfd >= 0 ? cgfd : -1, cpu, -1,
			     PERF_FLAG_FD_CLOEXEC | (cgfd >= 0 ? PERF_FLAG_PID_CGROUP : 0));
	if (r->fd < 0)
		return -errno;
	/* Deliveries that run a handler, and those that stop the thread:
	 * SIGSTOP, and SIGTSTP, SIGTTIN, SIGTTOU with their default action.  */
	if (ioctl(r->fd, PERF_EVENT_IOC_SET_FILTER,
		  "sa_handler > 1 || sig == 19 || ((sig == 20 || sig == 21 || sig == 22) && sa_handler == 0)") < 0)
		return -errno;
	return ring_map(r, pages);
}

static void start(void)
{
	int id = tracepoint_id();
	if (id < 0) {
		W.err = id;
		return;
	}
	W.id = id;
	W.ncpu = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (W.ncpu < 1)
		W.ncpu = 1;
	W.epfd = epoll_create1(EPOLL_CLOEXEC);
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

int ipcns_sigwatch_nfds(void)
{
	return ipcns_sigwatch_start() < 0 ? 0 : W.ncpu;
}

/* A cgroup's rings see one container's deliveries: smaller than the
 * host's (the kernel memory is locked, per CPU, per container).  */
static unsigned cgroup_ring_pages(void)
{
	return W.ring_pages < CGROUP_RING_PAGES ? W.ring_pages : CGROUP_RING_PAGES;
}

uint64_t ipcns_sigwatch_cgroup_bytes(void)
{
	if (ipcns_sigwatch_start() < 0)
		return 0;
	return sizeof(struct ipcns_sigwatch) + CGROUP_SLOTS * sizeof(struct slot) +
	       (uint64_t)W.ncpu * ((cgroup_ring_pages() + 1) * (uint64_t)sysconf(_SC_PAGESIZE) + sizeof(struct ring));
}

static size_t table_size(uint32_t nslots)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (sizeof(struct table) + nslots * sizeof(struct slot) + pg - 1) & ~(pg - 1);
}

static void watch_close(struct ipcns_sigwatch *w)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	for (int i = 0; i < W.ncpu; i++) {
		if (w->rings[i].meta)
			munmap(w->rings[i].meta, (w->pages + 1) * pg);
		if (w->rings[i].fd >= 0)
			close(w->rings[i].fd); /* out of the drainer's epoll with it */
	}
	if (w->t)
		munmap(w->t, w->tsize);
	free(w->rings);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static struct ipcns_sigwatch *watch_alloc(const void *scope, uint32_t nslots, unsigned pages)
{
	struct ipcns_sigwatch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->rings = calloc((size_t)W.ncpu, sizeof(*w->rings));
	if (!w->rings) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->scope = scope;
	w->nslots = nslots;
	w->pages = pages;
	for (int i = 0; i < W.ncpu; i++) {
		w->rings[i].fd = -1;
		w->rings[i].cpu = i;
	}
	pthread_mutex_lock(&W.lock);
	w->serial = ++W.serials;
	pthread_mutex_unlock(&W.lock);
	return w;
}

/* Into the drainer's set and the list of watches.  */
static void watch_publish(struct ipcns_sigwatch *w)
{
	for (int i = 0; i < W.ncpu; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = w->serial };
		if (w->rings[i].fd >= 0 && W.epfd >= 0)
			epoll_ctl(W.epfd, EPOLL_CTL_ADD, w->rings[i].fd, &ev);
	}
	pthread_mutex_lock(&W.lock);
	w->next = W.watches;
	W.watches = w;
	pthread_mutex_unlock(&W.lock);
}

/* The watch's fds to the keeper, if there is one: the table's memfd
 * (then closed here: the mapping is what we use) and each ring.  */
static void watch_keep(struct ipcns_sigwatch *w, int tfd)
{
	const struct ipcns_sigwatch_keeper *k = W.keeper;
	int *fds = k && k->opened ? calloc((size_t)W.ncpu * 2, sizeof(int)) : NULL;
	if (fds) {
		int *cpus = fds + W.ncpu;
		int n = 0;
		for (int i = 0; i < W.ncpu; i++) {
			if (w->rings[i].fd >= 0) {
				fds[n] = w->rings[i].fd;
				cpus[n++] = w->rings[i].cpu;
			}
		}
		size_t ringlen = (w->pages + 1) * (size_t)sysconf(_SC_PAGESIZE);
		k->opened(k->arg, w->t->name, w->cgroup, w->scope, tfd, fds, cpus, n, ringlen);
		free(fds);
	}
	close(tfd);
}

/* A new watch of cgroup `cgfd' (-1: the host): a ring per online CPU.  */
static int watch_open(int cgfd, uint64_t cgroup, const void *scope, uint32_t nslots, struct ipcns_sigwatch **out)
{
	int ret = ipcns_sigwatch_start();
	if (ret < 0)
		return ret;
	struct ipcns_sigwatch *w = watch_alloc(scope, nslots, cgfd >= 0 ? cgroup_ring_pages() : W.ring_pages);
	if (!w)
		return -ENOMEM;
	w->cgroup = cgroup;
	w->refs = 1;
	w->tsize = table_size(nslots);
	int tfd = memfd_create("ipcns-sigwatch", MFD_CLOEXEC);
	if (tfd < 0 || ftruncate(tfd, (off_t)w->tsize) < 0) {
		ret = -errno;
		if (tfd >= 0)
			close(tfd);
		watch_close(w);
		return ret;
	}
	void *m = mmap(NULL, w->tsize, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		close(tfd);
		watch_close(w);
		return ret;
	}
	w->t = m;
	w->slots = w->t->slots;
	*w->t = (struct table){ .magic = TABLE_MAGIC, .version = TABLE_VERSION, .slot_size = sizeof(struct slot),
				.nslots = nslots, .pages = w->pages, .cgroup = cgroup };
	/* Deliveries from now on are seen: a question about an earlier
	 * time cannot be answered (ipcns_sigwatch_first).  */
	w->t->started = ipcns_mono_ns();
	snprintf(w->t->name, sizeof(w->t->name), "sigwatch.%d.%llx.%llu", (int)getpid(),
		 (unsigned long long)w->t->started, (unsigned long long)w->serial);
	for (int i = 0; i < W.ncpu && ret == 0; i++) {
		ret = ring_open(&w->rings[i], W.id, i, cgfd, w->pages);
		if (ret == -ENODEV) /* an offline CPU */
			ret = 0;
		if (ret == 0 && w->rings[i].fd >= 0)
			w->nrings++;
	}
	if (ret < 0) {
		close(tfd);
		watch_close(w);
		return ret;
	}
	watch_publish(w);
	watch_keep(w, tfd);
	*out = w;
	return 0;
}

void ipcns_sigwatch_set_keeper(const struct ipcns_sigwatch_keeper *k)
{
	W.keeper = k;
}

int ipcns_sigwatch_adopt(int tfd, const int *ringfds, const int *cpus, int nrings, const void *scope,
			 struct ipcns_sigwatch **out)
{
	int ret = ipcns_sigwatch_start();
	if (ret < 0)
		return ret;
	struct stat st;
	if (fstat(tfd, &st) < 0)
		return -errno;
	struct table head;
	if (st.st_size < (off_t)sizeof(head) || pread(tfd, &head, sizeof(head), 0) != (ssize_t)sizeof(head))
		return -EBADMSG;
	if (head.magic != TABLE_MAGIC || head.version < 1 || head.version > TABLE_VERSION ||
	    head.slot_size != sizeof(struct slot) ||
	    head.nslots == 0 || head.nslots > HOST_SLOTS || head.pages == 0 || (head.pages & (head.pages - 1)) ||
	    head.pages > 65536 || (size_t)st.st_size != table_size(head.nslots) || nrings > W.ncpu ||
	    (head.cgroup == 0) != (scope == NULL) || memchr(head.name, 0, sizeof(head.name)) == NULL)
		return -EBADMSG;
	if (!scope && __atomic_load_n(&W.host, __ATOMIC_ACQUIRE))
		return -EEXIST;
	struct ipcns_sigwatch *w = watch_alloc(scope, head.nslots, head.pages);
	if (!w)
		return -ENOMEM;
	w->cgroup = head.cgroup;
	w->tsize = table_size(head.nslots);
	void *m = mmap(NULL, w->tsize, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		watch_close(w);
		return ret;
	}
	w->t = m;
	w->slots = w->t->slots;
	for (int i = 0; i < nrings && ret == 0; i++) {
		if (cpus[i] < 0 || cpus[i] >= W.ncpu || w->rings[cpus[i]].fd >= 0) {
			ret = -EBADMSG;
			break;
		}
		struct ring *r = &w->rings[cpus[i]];
		r->fd = fcntl(ringfds[i], F_DUPFD_CLOEXEC, 3);
		ret = r->fd < 0 ? -errno : ring_map(r, w->pages);
		if (ret == 0)
			w->nrings++;
	}
	if (ret < 0) {
		watch_close(w);
		return ret;
	}
	watch_publish(w);
	if (!scope) {
		pthread_mutex_lock(&W.lock);
		if (!W.host)
			__atomic_store_n(&W.host, w, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&W.lock);
	}
	*out = w;
	return 0;
}

int ipcns_sigwatch_drop_scope(const void *scope)
{
	int closed = 0;
	for (;;) {
		struct ipcns_sigwatch *w;
		pthread_mutex_lock(&W.lock);
		for (w = W.watches; w && !(w->scope == scope && w->cgroup != 0 && w->refs == 0); w = w->next)
			;
		if (w)
			w->refs = 1;
		pthread_mutex_unlock(&W.lock);
		if (!w)
			return closed;
		closed += ipcns_sigwatch_put(w);
	}
}

struct ipcns_sigwatch *ipcns_sigwatch_host(void)
{
	static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
	struct ipcns_sigwatch *w = __atomic_load_n(&W.host, __ATOMIC_ACQUIRE);
	if (w)
		return w;
	pthread_mutex_lock(&host_lock);
	if (!W.host && watch_open(-1, 0, NULL, HOST_SLOTS, &w) == 0)
		__atomic_store_n(&W.host, w, __ATOMIC_RELEASE);
	w = W.host;
	pthread_mutex_unlock(&host_lock);
	return w;
}

struct ipcns_sigwatch *ipcns_sigwatch_find(uint64_t cgroup, const void *scope)
{
	struct ipcns_sigwatch *found = NULL;
	pthread_mutex_lock(&W.lock);
	for (struct ipcns_sigwatch *w = W.watches; w; w = w->next) {
		if (w->cgroup == cgroup && w->scope == scope) {
			w->refs++;
			found = w;
			break;
		}
	}
	pthread_mutex_unlock(&W.lock);
	return found;
}

int ipcns_sigwatch_cgroup(int cgfd, uint64_t cgroup, const void *scope, struct ipcns_sigwatch **out)
{
	return watch_open(cgfd, cgroup, scope, CGROUP_SLOTS, out);
}

int ipcns_sigwatch_put(struct ipcns_sigwatch *w)
{
	if (!w || w->cgroup == 0) /* the host's stays */
		return 0;
	pthread_mutex_lock(&W.lock);
	if (--w->refs > 0) {
		pthread_mutex_unlock(&W.lock);
		return 0;
	}
	for (struct ipcns_sigwatch **pp = &W.watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	/* The drainer finds a watch under W.lock and drains it under its
	 * own: once out of the list and its lock free, nobody holds it.  */
	pthread_mutex_lock(&w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_unlock(&W.lock);
	int n = W.ncpu;
	if (W.keeper && W.keeper->closed)
		W.keeper->closed(W.keeper->arg, w->t->name);
	watch_close(w);
	return n;
}

int64_t ipcns_sigwatch_since(const struct ipcns_sigwatch *w)
{
	return w->t->started;
}

static void record(struct ipcns_sigwatch *w, pid_t tid, const struct delivery *d)
{
	struct slot *s = &w->slots[(uint32_t)tid % w->nslots];
	if (s->tid != tid) {
		/* Another thread's history goes: a question about that thread
		 * after that time is unknown.  */
		if (s->n && s->d[s->n - 1].t > s->used) {
			if (s->nev == EVICTS) {
				if (s->ev[0].t > s->ev_lost)
					s->ev_lost = s->ev[0].t;
				memmove(&s->ev[0], &s->ev[1], (EVICTS - 1) * sizeof(s->ev[0]));
				s->nev--;
			}
			s->ev[s->nev].tid = s->tid;
			s->ev[s->nev++].t = s->d[s->n - 1].t;
		}
		s->tid = tid;
		s->n = 0;
		s->used = 0;
		s->overflowed = 0;
	}
	if (s->n == HIST) {
		if (s->d[0].t > s->used && s->d[0].t > s->overflowed)
			s->overflowed = s->d[0].t;
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

static void drain_ring(struct ipcns_sigwatch *w, struct ring *r)
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
			uint64_t t, flags, handler;
			size_t o = sizeof(h);
			if (len >= o + 4 + 4 + 8 + 4 + 40) {
				memcpy(&tid, buf + o + 4, 4);
				memcpy(&t, buf + o + 8, 8);
				memcpy(&rawsz, buf + o + 16, 4);
				memcpy(&handler, buf + o + 20 + 24, 8);
				memcpy(&flags, buf + o + 20 + 32, 8);
				struct delivery d = { .t = (int64_t)t, .restart = flags & SA_RESTART_FLAG, .stop = handler <= 1 };
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
					record(w, (pid_t)tid, &d);
			}
		} else if (h.type == PERF_RECORD_LOST) {
			w->t->lost = ipcns_mono_ns();
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
}

static void drain(struct ipcns_sigwatch *w)
{
	for (int i = 0; i < W.ncpu; i++)
		drain_ring(w, &w->rings[i]);
}

/* Was a delivery to tid after `since' forgotten?  */
static bool forgotten(const struct slot *s, pid_t tid, int64_t since)
{
	if (s->ev_lost > since || (s->tid == tid && s->overflowed > since))
		return true;
	for (int i = 0; i < s->nev; i++)
		if (s->ev[i].tid == tid && s->ev[i].t > since)
			return true;
	return false;
}

int ipcns_sigwatch_first(struct ipcns_sigwatch *w, pid_t tid, int64_t since)
{
	if (!w)
		return -ENOTSUP;
	if (since < w->t->started)
		return -EAGAIN;
	pthread_mutex_lock(&w->lock);
	drain(w);
	int ret = IPCNS_SIG_NONE;
	struct slot *s = &w->slots[(uint32_t)tid % w->nslots];
	if (w->t->lost > since) {
		ret = -EIO;
	} else if (forgotten(s, tid, since)) {
		ret = -ESTALE;
	} else if (s->tid == tid) {
		for (int i = 0; i < s->n; i++) {
			if (s->d[i].t > since && !s->d[i].stop) {
				ret = s->d[i].restart ? IPCNS_SIG_RESTART : IPCNS_SIG_NORESTART;
				break;
			}
		}
	}
	/* What ran until now has decided this call: not the next.  */
	if (s->tid == tid && s->n)
		s->used = s->d[s->n - 1].t;
	pthread_mutex_unlock(&w->lock);
	return ret;
}

bool ipcns_sigwatch_restarted(struct ipcns_sigwatch *w, pid_t tid, uint64_t pc, int64_t now, int64_t window,
			      int64_t stop_window)
{
	if (!w)
		return false;
	bool hit = false;
	pthread_mutex_lock(&w->lock);
	drain(w);
	struct slot *s = &w->slots[(uint32_t)tid % w->nslots];
	if (s->tid == tid) {
		for (int i = s->n - 1; i >= 0 && !hit; i--) {
			const struct delivery *d = &s->d[i];
			if (d->t <= s->used)
				break;
			if (d->t < now - (d->stop ? stop_window : window))
				continue;
			hit = (d->stop || d->restart) && d->in_wait && d->pc == pc;
		}
		if (hit)
			s->used = s->d[s->n - 1].t;
	}
	pthread_mutex_unlock(&w->lock);
	return hit;
}

void ipcns_sigwatch_poll(struct ipcns_sigwatch *w)
{
	if (!w || pthread_mutex_trylock(&w->lock))
		return;
	drain(w);
	pthread_mutex_unlock(&w->lock);
}

/* The drainer: wakes when a ring is a quarter full and empties its
 * watch.  Real-time priority where allowed, so that a busy host does not
 * keep it from running until a ring overflows; its work is a copy of a
 * few thousand records.  */
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
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == 0) /* ipcns_sigwatch_drain_stop */
				return NULL;
			/* Each watch once per wake-up.  */
			bool seen = false;
			for (int k = 0; k < i && !seen; k++)
				seen = evs[k].data.u64 == evs[i].data.u64;
			if (seen)
				continue;
			pthread_mutex_lock(&W.lock);
			struct ipcns_sigwatch *w = W.watches;
			while (w && w->serial != evs[i].data.u64)
				w = w->next;
			if (w)
				pthread_mutex_lock(&w->lock);
			pthread_mutex_unlock(&W.lock);
			if (w) {
				drain(w);
				pthread_mutex_unlock(&w->lock);
			}
		}
	}
}

int ipcns_sigwatch_drain_thread(void)
{
	if (ipcns_sigwatch_start() < 0 || W.epfd < 0)
		return -ENOTSUP;
	pthread_mutex_lock(&W.drainer_lock);
	if (W.drainer_state == 1 && W.stop_fd < 0) {
		W.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		if (W.stop_fd < 0 || epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.stop_fd, &ev) < 0)
			W.drainer_state = -errno;
	}
	if (W.drainer_state == 1) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		W.drainer_state = -pthread_create(&W.drainer, NULL, drainer, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	int ret = W.drainer_state;
	pthread_mutex_unlock(&W.drainer_lock);
	return ret;
}

void ipcns_sigwatch_drain_stop(void)
{
	pthread_mutex_lock(&W.drainer_lock);
	uint64_t one = 1;
	if (W.drainer_state == 0 && write(W.stop_fd, &one, sizeof(one)) == sizeof(one)) {
		pthread_join(W.drainer, NULL);
		close(W.stop_fd); /* out of epfd with it */
		W.stop_fd = -1;
		W.drainer_state = 1;
	}
	pthread_mutex_unlock(&W.drainer_lock);
}

/* ---- A caller's watch, charged to its namespace.  */

struct ipcns_sigwatch *ipcns_sigwatch_for(struct ipcns_ns *ns, const void *scope, pid_t tid, char *why,
					  size_t size, bool *trouble)
{
	char path[4096];
	uint64_t cgid = 0;
	why[0] = '\0';
	*trouble = true;
	int cgfd = ipcns_proc_cgroup_open(tid, path, sizeof(path), &cgid);
	if (cgfd == -EISDIR) {
		*trouble = false;
		return ipcns_sigwatch_host();
	}
	if (cgfd < 0) {
		snprintf(why, size,
			 "no cgroup v2 directory for pid %d (%s): its signal watch is the host's, which signal storms "
			 "anywhere on the host can overflow",
			 (int)tid, strerror(-cgfd));
		return ipcns_sigwatch_host();
	}
	struct ipcns_sigwatch *w = ipcns_sigwatch_find(cgid, scope);
	if (w) {
		close(cgfd);
		*trouble = false;
		return w;
	}
	int nfds = ipcns_sigwatch_nfds();
	uint64_t bytes = ipcns_sigwatch_cgroup_bytes();
	int ret = ipcns_ns_fd_charge(ns, (unsigned)nfds, false);
	if (ret == 0 && (ret = ipcns_ns_mem_charge(ns, bytes)) < 0)
		ipcns_ns_fd_uncharge(ns, (unsigned)nfds);
	if (ret < 0) {
		close(cgfd);
		snprintf(why, size,
			 "no signal watch (its %d fds and %llu bytes are past the namespace's budget): a msgsnd or "
			 "msgrcv restarted after a signal handler waits again",
			 nfds, (unsigned long long)bytes);
		return NULL;
	}
	ret = ipcns_sigwatch_cgroup(cgfd, cgid, scope, &w);
	close(cgfd);
	if (ret < 0) {
		ipcns_ns_fd_uncharge(ns, (unsigned)nfds);
		ipcns_ns_mem_uncharge(ns, bytes);
		snprintf(why, size,
			 "no perf events for cgroup %s (%s): its signal watch is the host's, which signal storms "
			 "anywhere on the host can overflow",
			 path, strerror(-ret));
		return ipcns_sigwatch_host();
	}
	snprintf(why, size, "signal watch on cgroup %s (%d fds)", path, nfds);
	*trouble = false;
	return w;
}

void ipcns_sigwatch_drop(struct ipcns_ns *ns, struct ipcns_sigwatch *w)
{
	int closed = ipcns_sigwatch_put(w);
	if (closed > 0) {
		ipcns_ns_fd_uncharge(ns, (unsigned)closed);
		ipcns_ns_mem_uncharge(ns, ipcns_sigwatch_cgroup_bytes());
	}
}
