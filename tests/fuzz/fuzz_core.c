/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the IPC namespace core (plugin/lib/ipc/).
 *
 * One input is a program for a small world: a namespace with limits taken
 * from the input, NPROC fake processes, and a sequence of operations, each
 * chosen by one byte and parameterised by the following ones:
 *   - the twelve System V calls with decoded arguments, as
 *     plugin/lib/notify/dispatch.c passes them (ints truncated from registers,
 *     pointers as 64-bit addresses), pointers picked among valid, read-only,
 *     NULL, crossing the end of memory and arbitrary addresses;
 *   - writes of sembuf arrays, message buffers, timespecs and raw bytes
 *     into a process's memory, so that calls read meaningful data;
 *   - what happens to parked calls: the caller interrupted (alive() turns
 *     false), the answer failing to reach it (deliver() fails), the
 *     deadline passing (ipcns_waiter_expire), a sweep (ipcns_ns_sweep);
 *   - process life: fork (ipcns_ns_process_fork), exec, exit (the exit
 *     event delivered later, as a pidfd is read later, possibly after the
 *     pid was reused), a process unmapping part of a segment by itself;
 *     the host either tracks every fork, exec and exit (tracks_processes,
 *     exits then reported at once, as the host contract demands; the core
 *     looks at known holders only) or not (the core reads every maps);
 *   - the host side: ipcnsctl's object walk, host IPC_RMID, the reaper,
 *     new limits (possibly below what is in use).
 *
 * Caller memory is a byte buffer per process at MEM_BASE (read/write) and
 * a read-only page at RO_BASE; everything else is -EFAULT.  Credentials
 * come from the input (uid 0/1000/65534, capability sets).  A caller can
 * be made to "die" in the middle of a call: its ops fail with -ENOENT
 * after N of them, as ipcnsd's do when the notification goes away.
 *
 * shm attach: a recording fake, not a real mmap.  shm_map checks the fd
 * the core passes (open, and O_RDWR when PROT_WRITE is asked, as mmap
 * would), takes the memfd's real device and inode with fstat, and records
 * a VMA in the fake process's map; MAP_FIXED_NOREPLACE fails with EEXIST
 * over an existing VMA and MAP_FIXED replaces what it overlaps.
 * shm_unmap and a process's own munmap split VMAs as the kernel does.  The
 * maps and scan_vmas callbacks report these VMAs, sorted, so the core's
 * shm_nattch bookkeeping, shmdt's search and the destruction of removed
 * segments are exercised without touching this process's address space
 * (a real mmap of arbitrary sizes would only test the kernel).
 *
 * Checked beyond what ASan/UBSan/LSan catch (abort() so the fuzzer keeps
 * the input):
 *   - every result is >= 0 or an errno the man pages list for System V
 *     IPC (or -ENOENT from a caller that died), never a stray value;
 *   - IPCNS_PARKED iff exactly one park(); IPCNS_ANSWERED iff answer()
 *     was called; answer() and deliver() at most once per call;
 *   - a waiter is released exactly once (a second release or any use
 *     after release is a use-after-free ASan reports), and none is left
 *     after ipcns_ns_free();
 *   - the usage counters agree with the objects (parked calls, queued
 *     bytes and messages, semaphores), and the message quota holds
 *     nothing when nothing is queued or parked;
 *   - no file descriptor is left open after ipcns_ns_free();
 *   - shm_map is only given open fds, with an access mode that allows
 *     the protection asked.
 *
 * memfd_create is wrapped (this file defines it) so that an input can make
 * it fail (ENFILE, ENOMEM, EMFILE), as it does when the daemon runs out of
 * fds; so can the caller's watch_exit (no fd for a pidfd), shm_map (ADDFD
 * with no fd left) and the reading of its credentials and pids (/proc
 * files): the container must still see an errno Linux has for the call,
 * never EMFILE.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipcns/ipcns.h"

/* Internal to the core (plugin/lib/ipc/core.h), as the unit tests use it.  */
uint64_t ipcns_msg_quota_held(const struct ipcns_ns *ns);

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

#define NPROC 6
#define MEM_BASE 0x100000ULL
#define MEM_SIZE 8192
#define RO_BASE 0x200000ULL
#define RO_SIZE 4096
#define MAP_BASE 0x7f0000000000ULL
#define TASK_END 0x800000000000ULL
#define MAXVMA 64
#define PAGE 4096ULL
#define MAX_OPS 400

#define fz_assert(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_core: %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- Input.  */
struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}
/* Little-endian; every reader consumes its bytes in a defined order (no
 * two reads in one expression), so tests/fuzz/seeds.py can write inputs.  */
static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);
	uint16_t hi = u8(in);
	return (uint16_t)(lo | hi << 8);
}
static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);
	uint32_t hi = u16(in);
	return lo | hi << 16;
}
static uint64_t u64(struct in *in)
{
	uint64_t lo = u32(in);
	uint64_t hi = u32(in);
	return lo | hi << 32;
}

/* An "interesting" integer: boundaries, small values or raw bits.  */
static int64_t pick_int(struct in *in)
{
	static const int64_t special[] = { 0,         1,        -1,        2,         INT_MAX,   INT_MIN,
					   UINT_MAX,  LONG_MAX, LONG_MIN,  32767,     32768,     65535,
					   65536,     8192,     16384,     500,       4096,      INT_MAX - 1,
					   1LL << 32, 1LL << 31, -32768,   1LL << 40 };
	uint8_t k = u8(in);
	switch (k % 4) {
	case 0:
		return special[(k >> 2) % (sizeof(special) / sizeof(special[0]))];
	case 1:
		return (int8_t)u8(in);
	case 2:
		return (int32_t)u32(in);
	default:
		return (int64_t)u64(in);
	}
}

/* ---- The world.  */
struct fz_vma {
	uint64_t start, end, off;
	dev_t dev;
	ino_t ino;
	int prot;
};

struct fz_proc {
	bool exists;
	pid_t tgid;
	pid_t parent;
	struct ipcns_cred cred;
	uint64_t memlock;
	uint8_t mem[MEM_SIZE];
	struct fz_vma vma[MAXVMA];
	int nvma;
	uint64_t next_addr;
};

struct fz_waiter;

/* One call, or the copy a parked call keeps.  */
struct fz_call {
	struct ipcns_caller c; /* first */
	int slot;
	pid_t tgid;
	int ops_left;   /* the caller "dies" when this reaches 0; <0: never */
	bool dead;
	bool interrupt_answer; /* answer() fails: interrupted before it */
	int nanswer, npark;
	long answer_val;  /* what answer() was given */
	bool answer_ok;   /* and it reached the caller */
	struct fz_waiter *parked;
	struct fz_waiter *self; /* set in a parked copy */
};

struct fz_waiter {
	struct ipcns_waiter w;
	struct fz_call call;
	bool dead;
	bool fail_deliver;
	bool had_deadline;
	int ndeliver;
	struct fz_waiter *next, *prev;
};

static struct world {
	struct ipcns_ns *ns;
	struct fz_proc proc[NPROC];
	struct fz_waiter *waiters; /* not yet released */
	int nwaiters;
	int64_t now;
	pid_t next_tgid;
	int ids[3][8];
	pid_t exits[16]; /* exit events not yet delivered */
	int nexits;
	int memfd_fail; /* errno for the next memfd_create, 0 = none */
	int watch_fail; /* errno for the next caller watch_exit */
	int map_fail;   /* errno for the next shm_map (ADDFD out of fds) */
	int info_fail;  /* errno for the next cred/ids/pids (/proc unreadable) */
	bool tracks;    /* the host reports every fork, exec and exit at once */
} W;

static bool trace; /* FUZZ_CORE_TRACE=1: print every call and its result */
static int fd_baseline[1024];
static int fd_baseline_n;

/* ---- memfd_create, wrapped.  */
int memfd_create(const char *name, unsigned int flags)
{
	if (W.memfd_fail) {
		errno = W.memfd_fail;
		W.memfd_fail = 0;
		return -1;
	}
	return (int)syscall(SYS_memfd_create, name, flags);
}

/* ---- Results.  */
static bool errno_ok(long r)
{
	switch (-r) {
	case EINVAL:
	case EFAULT:
	case ENOENT:
	case EEXIST:
	case EACCES:
	case EPERM:
	case ENOSPC:
	case ENOMEM:
	case E2BIG:
	case EFBIG:
	case ERANGE:
	case EAGAIN:
	case EIDRM:
	case ENOMSG:
	case ENFILE:
		return true;
	}
	return false;
}

/* ---- Caller ops.  */
static int info_failure(void)
{
	int e = W.info_fail;
	W.info_fail = 0;
	return -e;
}

static bool call_dead(struct fz_call *fc)
{
	if (fc->self)
		return fc->self->dead;
	if (fc->dead)
		return true;
	if (fc->ops_left == 0) {
		fc->dead = true;
		return true;
	}
	if (fc->ops_left > 0)
		fc->ops_left--;
	return false;
}

static struct fz_proc *call_proc(struct fz_call *fc)
{
	struct fz_proc *p = &W.proc[fc->slot];
	fz_assert(p->exists && p->tgid == fc->tgid, "a live call of a process that is gone (slot %d)", fc->slot);
	return p;
}

static int op_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	if (W.info_fail)
		return info_failure();
	*out = call_proc(fc)->cred;
	return 0;
}

static int op_pids(struct ipcns_caller *c, pid_t *h, pid_t *n)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	if (W.info_fail)
		return info_failure();
	*h = call_proc(fc)->tgid;
	*n = *h % 100000;
	return 0;
}

static int op_caps(struct ipcns_caller *c, uint64_t *eff, bool *userns)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	*eff = call_proc(fc)->cred.cap_effective;
	*userns = call_proc(fc)->cred.userns;
	return 0;
}

static int op_read(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	struct fz_proc *p = call_proc(fc);
	if (len == 0)
		return 0;
	if (addr >= MEM_BASE && addr - MEM_BASE <= MEM_SIZE && len <= MEM_SIZE - (addr - MEM_BASE)) {
		memcpy(buf, p->mem + (addr - MEM_BASE), len);
		return 0;
	}
	if (addr >= RO_BASE && addr - RO_BASE <= RO_SIZE && len <= RO_SIZE - (addr - RO_BASE)) {
		memset(buf, 0x11, len);
		return 0;
	}
	return -EFAULT;
}

static int op_write(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	struct fz_proc *p = call_proc(fc);
	if (len == 0)
		return 0;
	if (addr >= MEM_BASE && addr - MEM_BASE <= MEM_SIZE && len <= MEM_SIZE - (addr - MEM_BASE)) {
		memcpy(p->mem + (addr - MEM_BASE), buf, len);
		return 0;
	}
	return -EFAULT;
}

static int vma_cmp(const void *a, const void *b)
{
	const struct fz_vma *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Remove [start, end) from the process's VMAs, splitting as munmap does.
 * -1 when a split would need more VMAs than we keep (the kernel's
 * max_map_count, ENOMEM).  */
static int vma_punch(struct fz_proc *p, uint64_t start, uint64_t end)
{
	struct fz_vma out[MAXVMA];
	int n = 0;
	for (int i = 0; i < p->nvma; i++) {
		struct fz_vma v = p->vma[i];
		if (v.end <= start || v.start >= end) {
			if (n == MAXVMA)
				return -1;
			out[n++] = v;
			continue;
		}
		if (v.start < start) {
			if (n == MAXVMA)
				return -1;
			out[n] = v;
			out[n].end = start;
			n++;
		}
		if (v.end > end) {
			if (n == MAXVMA)
				return -1;
			out[n] = v;
			out[n].off = v.off + (end - v.start);
			out[n].start = end;
			n++;
		}
	}
	memcpy(p->vma, out, sizeof(out[0]) * (size_t)n);
	p->nvma = n;
	return 0;
}

static int op_shm_map(struct ipcns_caller *c, int fd, uint64_t addr, uint64_t len, int prot, int flags,
		      uint64_t *mapped)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	struct fz_proc *p = call_proc(fc);
	if (W.map_fail) {
		int e = W.map_fail;
		W.map_fail = 0;
		return -e; /* ADDFD: no fd left in the caller or the daemon */
	}
	int fl = fcntl(fd, F_GETFL);
	fz_assert(fl >= 0, "shm_map given fd %d, which is not open", fd);
	if ((prot & PROT_WRITE) && (fl & O_ACCMODE) != O_RDWR)
		return -EACCES; /* mmap of a read-only fd for writing */
	struct stat st;
	fz_assert(fstat(fd, &st) == 0, "fstat of the segment fd");
	if (len == 0)
		return -EINVAL;
	uint64_t rlen = (len + PAGE - 1) & ~(PAGE - 1);
	if (rlen < len)
		return -ENOMEM;
	if (addr & (PAGE - 1))
		return -EINVAL;
	if (!addr) {
		addr = p->next_addr;
		if (addr + rlen < addr || addr + rlen > TASK_END)
			return -ENOMEM;
		p->next_addr = addr + rlen + PAGE;
	} else {
		if (addr + rlen < addr || addr + rlen > TASK_END)
			return -ENOMEM;
		for (int i = 0; i < p->nvma; i++) {
			if (p->vma[i].end > addr && p->vma[i].start < addr + rlen) {
				if (flags & MAP_FIXED_NOREPLACE)
					return -EEXIST;
			}
		}
		if ((flags & MAP_FIXED) && vma_punch(p, addr, addr + rlen) < 0)
			return -ENOMEM;
	}
	if (p->nvma == MAXVMA)
		return -ENOMEM;
	p->vma[p->nvma++] = (struct fz_vma){ addr, addr + rlen, 0, st.st_dev, st.st_ino, prot };
	qsort(p->vma, (size_t)p->nvma, sizeof(p->vma[0]), vma_cmp);
	*mapped = addr;
	return 0;
}

static int op_shm_unmap(struct ipcns_caller *c, uint64_t addr, uint64_t len)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	struct fz_proc *p = call_proc(fc);
	if ((addr & (PAGE - 1)) || len == 0)
		return -EINVAL;
	uint64_t rlen = (len + PAGE - 1) & ~(PAGE - 1);
	if (addr + rlen < addr)
		return -EINVAL;
	return vma_punch(p, addr, addr + rlen) < 0 ? -ENOMEM : 0;
}

static int proc_maps(struct fz_proc *p, ipcns_vma_cb cb, void *arg)
{
	/* A copy: the callback may not change our map, but be safe.  */
	struct fz_vma v[MAXVMA];
	int n = p->nvma;
	memcpy(v, p->vma, sizeof(v[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		struct ipcns_vma iv = { v[i].start, v[i].end, v[i].off, v[i].dev, v[i].ino, v[i].prot, p->tgid };
		int r = cb(arg, &iv);
		if (r)
			return r;
	}
	return 0;
}

static int op_maps(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	return proc_maps(call_proc(fc), cb, arg);
}

static int vma_exact(struct fz_proc *p, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	for (int i = 0; i < p->nvma; i++) {
		if (p->vma[i].start == start && p->vma[i].end == end) {
			*dev = p->vma[i].dev;
			*ino = p->vma[i].ino;
			return 0;
		}
	}
	return -ENOENT;
}

static int op_vma_at(struct ipcns_caller *c, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	return vma_exact(call_proc(fc), start, end, dev, ino);
}

static int op_memlock(struct ipcns_caller *c, uint64_t *limit)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	*limit = call_proc(fc)->memlock;
	return 0;
}

static int op_watch_exit(struct ipcns_caller *c)
{
	struct fz_call *fc = (struct fz_call *)c;
	if (call_dead(fc))
		return -ENOENT;
	if (W.watch_fail) {
		int e = W.watch_fail;
		W.watch_fail = 0;
		return -e; /* no fd for a pidfd */
	}
	return 0;
}

static const struct ipcns_waiter_ops waiter_ops;

static struct ipcns_waiter *op_park(struct ipcns_caller *c)
{
	struct fz_call *fc = (struct fz_call *)c;
	fz_assert(!fc->self, "park() on a parked call's caller");
	fc->npark++;
	fz_assert(fc->npark == 1, "park() twice in one call");
	fz_assert(fc->nanswer == 0, "park() after answer()");
	struct fz_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->call = *fc;
	w->call.self = w;
	w->call.parked = NULL;
	w->w.ops = &waiter_ops;
	w->w.caller = &w->call.c;
	w->w.deadline = -1;
	/* A call that died before it parked stays dead.  */
	w->dead = fc->dead;
	w->next = W.waiters;
	if (W.waiters)
		W.waiters->prev = w;
	W.waiters = w;
	W.nwaiters++;
	fc->parked = w;
	return &w->w;
}

static int op_answer(struct ipcns_caller *c, long ret)
{
	struct fz_call *fc = (struct fz_call *)c;
	fz_assert(!fc->self, "answer() on a parked call's caller");
	fc->nanswer++;
	fz_assert(fc->nanswer == 1, "answer() twice in one call");
	fz_assert(ret >= 0 || errno_ok(ret), "answer(%ld)", ret);
	fc->answer_val = ret;
	if (fc->dead || fc->interrupt_answer) {
		fc->dead = true;
		return -ENOENT;
	}
	fc->dead = true; /* answered: the notification is gone */
	fc->answer_ok = true;
	return 0;
}

static const struct ipcns_caller_ops ops_with_answer = {
	.cred = op_cred,
	.ids = op_cred,
	.caps = op_caps,
	.pids = op_pids,
	.read = op_read,
	.write = op_write,
	.shm_map = op_shm_map,
	.shm_unmap = op_shm_unmap,
	.maps = op_maps,
	.vma_at = op_vma_at,
	.memlock_limit = op_memlock,
	.park = op_park,
	.watch_exit = op_watch_exit,
	.answer = op_answer,
};

static const struct ipcns_caller_ops ops_plain = {
	.cred = op_cred,
	.pids = op_pids,
	.read = op_read,
	.write = op_write,
	.shm_map = op_shm_map,
	.shm_unmap = op_shm_unmap,
	.maps = op_maps,
	.memlock_limit = op_memlock,
	.park = op_park,
	.watch_exit = op_watch_exit,
};

/* ---- Waiter ops.  */
static bool w_alive(struct ipcns_waiter *w)
{
	return !((struct fz_waiter *)w)->dead;
}

static int w_deliver(struct ipcns_waiter *w, long ret)
{
	struct fz_waiter *fw = (struct fz_waiter *)w;
	fz_assert(ret >= 0 || errno_ok(ret), "deliver(%ld)", ret);
	fz_assert(ret != IPCNS_PARKED && ret != IPCNS_ANSWERED, "deliver of a pseudo result");
	if (fw->dead)
		return -ENOENT;
	if (fw->fail_deliver) {
		fw->dead = true;
		return -ENOENT;
	}
	fw->ndeliver++;
	fz_assert(fw->ndeliver == 1, "a parked call answered twice");
	fw->dead = true;
	return 0;
}

static void w_release(struct ipcns_waiter *w)
{
	struct fz_waiter *fw = (struct fz_waiter *)w;
	if (fw->prev)
		fw->prev->next = fw->next;
	else
		W.waiters = fw->next;
	if (fw->next)
		fw->next->prev = fw->prev;
	W.nwaiters--;
	/* Freed: any later use is a use-after-free for ASan.  */
	free(fw);
}

static const struct ipcns_waiter_ops waiter_ops = {
	.alive = w_alive,
	.deliver = w_deliver,
	.release = w_release,
};

/* ---- Host ops.  */
static int host_scan(void *host, ipcns_vma_cb cb, void *arg)
{
	for (int i = 0; i < NPROC; i++) {
		if (!W.proc[i].exists)
			continue;
		int r = proc_maps(&W.proc[i], cb, arg);
		if (r)
			return r;
	}
	return 0;
}

static int64_t host_now(void *host)
{
	return W.now;
}

/* The same fake clock for deadlines, so that a run does not depend on
 * how fast it goes; the machine's memory numbers stay unknown (no
 * overcommit refusal), so that it does not depend on the machine.  */
static int64_t host_mono(void *host)
{
	return W.now * 1000000000;
}

static void host_limit_hit(void *host, const char *what)
{
	(void)what;
}

static int host_proc_info(void *host, pid_t tgid, pid_t *ns_tgid, pid_t *ns_ppid)
{
	for (int i = 0; i < NPROC; i++) {
		if (W.proc[i].exists && W.proc[i].tgid == tgid) {
			*ns_tgid = tgid % 100000;
			*ns_ppid = W.proc[i].parent % 100000;
			return 0;
		}
	}
	return -ESRCH;
}

static int host_watch_exit(void *host, pid_t tgid)
{
	return 0;
}

static struct fz_proc *proc_by_tgid(pid_t tgid)
{
	for (int i = 0; i < NPROC; i++)
		if (W.proc[i].exists && W.proc[i].tgid == tgid)
			return &W.proc[i];
	return NULL;
}

static int host_proc_maps(void *host, pid_t tgid, ipcns_vma_cb cb, void *arg)
{
	struct fz_proc *p = proc_by_tgid(tgid);
	return p ? proc_maps(p, cb, arg) : -ESRCH;
}

static int host_vma_at(void *host, pid_t tgid, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct fz_proc *p = proc_by_tgid(tgid);
	return p ? vma_exact(p, start, end, dev, ino) : -ENOENT;
}

/* With tracking on, the world keeps the contract: fork, exec and exit are
 * reported before any later call (exit events are not delayed).  */
static bool host_tracks(void *host)
{
	return W.tracks;
}

static const struct ipcns_host_ops host_ops = {
	.scan_vmas = host_scan,
	.now = host_now,
	.mono_ns = host_mono,
	.limit_hit = host_limit_hit,
	.proc_info = host_proc_info,
	.watch_exit = host_watch_exit,
	.proc_maps = host_proc_maps,
	.vma_at = host_vma_at,
	.tracks_processes = host_tracks,
};

/* ---- Building the world from the input.  */
static void read_limits(struct in *in, struct ipcns_limits *l)
{
	ipcns_limits_default(l);
	uint8_t k = u8(in);
	l->shmmni = 1 + u8(in) % 8;
	l->semmni = 1 + u8(in) % 8;
	l->msgmni = 1 + u8(in) % 8;
	l->semmsl = 1 + u8(in) % 64;
	l->semmns = 1 + u16(in) % 256;
	l->semopm = (k & 1) ? 500 : 1 + u8(in) % 16;
	l->msgmax = (k & 2) ? 8192 : u16(in) % 1024;
	l->msgmnb = (k & 4) ? 16384 : u16(in) % 2048;
	l->quota_msg_bytes = (k & 8) ? IPCNS_DEFAULT_MSG_BYTES : u16(in) % 4096;
	l->quota_objects_per_uid = (k & 16) ? 0 : u8(in) % 6;
	l->shm_rmid_forced = (k >> 5) & 1;
	if (k & 64) {
		l->shmmax = 1 + u32(in) % (1 << 20);
		l->shmall = u16(in) % 512;
		l->quota_shm_bytes = u8(in) & 1 ? 0 : u32(in) % (1 << 21);
	}
}

static void proc_init(struct fz_proc *p, struct in *in, pid_t parent)
{
	static const uid_t uids[] = { 0, 1000, 65534, 1001 };
	uint8_t k = u8(in);
	memset(p, 0, sizeof(*p));
	p->exists = true;
	p->tgid = W.next_tgid++;
	p->parent = parent;
	p->cred.euid = uids[k & 3];
	p->cred.egid = p->cred.fsgid = uids[(k >> 2) & 3];
	p->cred.ngroups = (k >> 4) & 1;
	p->cred.groups[0] = 1000;
	switch ((k >> 5) & 3) {
	case 0:
		p->cred.cap_effective = 0;
		break;
	case 1:
		p->cred.cap_effective = ~0ULL;
		break;
	default:
		p->cred.cap_effective = u64(in);
		break;
	}
	p->memlock = (k & 0x80) ? UINT64_MAX : (uint64_t)u16(in) * PAGE;
	p->next_addr = MAP_BASE + (uint64_t)(p - W.proc) * (1ULL << 36);
}

/* A process slot that exists (the first one is always made to).  */
static int pick_slot(struct in *in)
{
	int s = u8(in) % NPROC;
	if (!W.proc[s].exists)
		s = 0;
	return s;
}

static uint64_t pick_ptr(struct in *in)
{
	uint8_t k = u8(in);
	switch (k % 8) {
	case 0:
	case 1:
	case 2:
		return MEM_BASE + u16(in) % MEM_SIZE;
	case 3:
		return MEM_BASE + (u16(in) % 64) * 64;
	case 4:
		return RO_BASE + u16(in) % RO_SIZE;
	case 5:
		return 0;
	case 6:
		return MEM_BASE + MEM_SIZE - u8(in) % 32;
	default:
		return u64(in);
	}
}

static int pick_id(struct in *in, int kind)
{
	uint8_t k = u8(in);
	if (k & 1)
		return W.ids[kind][(k >> 1) % 8];
	if (k & 2)
		return (int)pick_int(in);
	return (int)(W.ids[kind][(k >> 2) % 8] + 32768 * (int)(k >> 5));
}

static int32_t pick_key(struct in *in)
{
	uint8_t k = u8(in);
	if (k < 128)
		return 0; /* IPC_PRIVATE */
	if (k < 240)
		return k % 4;
	return (int32_t)u32(in);
}

static int pick_flags(struct in *in, int extra)
{
	uint8_t k = u8(in);
	if (k == 255)
		return (int)u32(in);
	int f = (k & 1) ? 0666 : (k & 2) ? 0600 : 0400;
	if (k & 4)
		f |= IPC_CREAT;
	if (k & 8)
		f |= IPC_EXCL;
	if (k & 16)
		f |= IPC_NOWAIT;
	if (k & 32)
		f |= extra;
	return f;
}

static void remember_id(int kind, long r)
{
	if (r < 0)
		return;
	memmove(&W.ids[kind][1], &W.ids[kind][0], sizeof(int) * 7);
	W.ids[kind][0] = (int)r;
}

/* ---- Invariants.  */
struct sums {
	uint64_t msg_bytes, msg_count, sems;
	int nobj[3];
};

static int sum_cb(void *arg, const struct ipcns_obj_info *oi)
{
	struct sums *s = arg;
	s->nobj[oi->kind]++;
	if (oi->kind == IPCNS_MSG) {
		s->msg_bytes += oi->bytes;
		s->msg_count += oi->count;
	} else if (oi->kind == IPCNS_SEM) {
		s->sems += oi->count;
	}
	return 0;
}

static void check_world(void)
{
	struct ipcns_usage u;
	struct sums s = { 0 };
	ipcns_ns_usage(W.ns, &u);
	fz_assert((int)u.parked == W.nwaiters, "usage says %u parked, %d waiters unreleased", u.parked, W.nwaiters);
	ipcns_ns_foreach(W.ns, IPCNS_SEM, sum_cb, &s);
	ipcns_ns_foreach(W.ns, IPCNS_MSG, sum_cb, &s);
	fz_assert(s.msg_bytes == u.msg_bytes && s.msg_count == u.msg_count,
		  "queues hold %llu bytes in %llu messages, usage says %llu in %llu",
		  (unsigned long long)s.msg_bytes, (unsigned long long)s.msg_count,
		  (unsigned long long)u.msg_bytes, (unsigned long long)u.msg_count);
	fz_assert(s.sems == u.sem_total, "sets hold %llu semaphores, usage says %llu", (unsigned long long)s.sems,
		  (unsigned long long)u.sem_total);
	fz_assert((uint32_t)s.nobj[IPCNS_SEM] == u.sem_ids && (uint32_t)s.nobj[IPCNS_MSG] == u.msg_ids,
		  "object counts");
	if (u.parked == 0 && u.msg_count == 0)
		fz_assert(ipcns_msg_quota_held(W.ns) == 0, "quota holds %llu bytes with nothing queued or parked",
			  (unsigned long long)ipcns_msg_quota_held(W.ns));
}

/* ---- One call.  */
static void call_init(struct fz_call *fc, struct in *in, int slot)
{
	uint8_t k = u8(in);
	memset(fc, 0, sizeof(*fc));
	fc->c.ops = (k & 1) ? &ops_with_answer : &ops_plain;
	fc->slot = slot;
	fc->tgid = W.proc[slot].tgid;
	fc->ops_left = (k & 0x0e) == 0x0e ? (int)(u8(in) % 8) : -1;
	fc->interrupt_answer = (k & 0x30) == 0x30;
}

static void call_done(struct fz_call *fc, long r, const char *what)
{
	if (r == IPCNS_PARKED) {
		fz_assert(fc->npark == 1 && fc->parked, "%s: IPCNS_PARKED without park()", what);
		return;
	}
	fz_assert(fc->npark == 0, "%s: park() but returned %ld", what, r);
	if (r == IPCNS_ANSWERED) {
		fz_assert(fc->nanswer == 1, "%s: IPCNS_ANSWERED without answer()", what);
		return;
	}
	fz_assert(fc->nanswer == 0, "%s: answer() but returned %ld", what, r);
	if (r < 0 && r == -ENOENT && fc->dead)
		return;
	fz_assert(r >= 0 || errno_ok(r), "%s returned %ld", what, r);
}

static void do_call(struct in *in, uint8_t op)
{
	int slot = pick_slot(in);
	struct fz_call fc;
	call_init(&fc, in, slot);
	struct ipcns_caller *c = &fc.c;
	struct ipcns_ns *ns = W.ns;
	long r;
	const char *what;
	int kind = -1; /* a *get: the kind whose id to remember */

	switch (op) {
	case 0: {
		what = "shmget";
		int32_t key = pick_key(in);
		uint64_t size = (uint64_t)pick_int(in);
		int extra = (u8(in) & 1) ? SHM_HUGETLB : SHM_NORESERVE;
		int flg = pick_flags(in, extra);
		r = ipcns_shmget(ns, c, key, size, flg);
		kind = IPCNS_SHM;
		break;
	}
	case 1: {
		what = "shmat";
		int id = pick_id(in, IPCNS_SHM);
		uint8_t k = u8(in);
		uint64_t addr = 0;
		if (k & 1)
			addr = MAP_BASE + (uint64_t)slot * (1ULL << 36) + (uint64_t)(u16(in) % 64) * PAGE +
			       ((k & 2) ? u8(in) : 0);
		else if (k & 2)
			addr = u64(in);
		int flg = ((k & 4) ? SHM_RDONLY : 0) | ((k & 8) ? SHM_RND : 0) | ((k & 16) ? SHM_REMAP : 0) |
			  ((k & 32) ? SHM_EXEC : 0);
		if (k == 255)
			flg = (int)u32(in);
		r = ipcns_shmat(ns, c, id, addr, flg);
		break;
	}
	case 2: {
		what = "shmdt";
		struct fz_proc *p = &W.proc[slot];
		uint8_t k = u8(in);
		uint64_t addr;
		if (p->nvma && (k & 1))
			addr = p->vma[u8(in) % p->nvma].start - ((k & 2) ? PAGE : 0);
		else
			addr = (k & 2) ? (uint64_t)u64(in) : MAP_BASE + (uint64_t)slot * (1ULL << 36);
		r = ipcns_shmdt(ns, c, addr);
		break;
	}
	case 3: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SHM_INFO, SHM_STAT, 15,
					    SHM_LOCK, SHM_UNLOCK, -1, 0x100 | IPC_STAT, 99 };
		what = "shmctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == SHM_STAT || cmd == 15) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_SHM);
		uint64_t buf = pick_ptr(in);
		r = ipcns_shmctl(ns, c, id, cmd, buf);
		break;
	}
	case 4: {
		what = "semget";
		int32_t key = pick_key(in);
		int nsems = (int)pick_int(in);
		int flg = pick_flags(in, 0);
		r = ipcns_semget(ns, c, key, nsems, flg);
		kind = IPCNS_SEM;
		break;
	}
	case 5: {
		what = "semtimedop";
		int id = pick_id(in, IPCNS_SEM);
		uint64_t sops = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t nsops = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)(k % 8);
		uint64_t timeout = (k & 0x40) ? pick_ptr(in) : 0;
		/* dispatch.c passes nsops as the low 32 bits.  */
		r = ipcns_semtimedop(ns, c, id, sops, (uint32_t)nsops, timeout);
		break;
	}
	case 6: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SEM_INFO, SEM_STAT, 20,
					    GETALL, SETALL, GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT, -1, 0x100 };
		what = "semctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == SEM_STAT || cmd == 20) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_SEM);
		int semnum = (int)pick_int(in);
		uint64_t arg = cmd == SETVAL ? (uint64_t)pick_int(in) : pick_ptr(in);
		r = ipcns_semctl(ns, c, id, semnum, cmd, arg);
		break;
	}
	case 7: {
		what = "msgget";
		int32_t key = pick_key(in);
		int flg = pick_flags(in, 0);
		r = ipcns_msgget(ns, c, key, flg);
		kind = IPCNS_MSG;
		break;
	}
	case 8: {
		what = "msgsnd";
		int id = pick_id(in, IPCNS_MSG);
		uint64_t p = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t sz = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)u16(in) % 600;
		int flg = pick_flags(in, 0);
		r = ipcns_msgsnd(ns, c, id, p, sz, flg);
		break;
	}
	case 9: {
		what = "msgrcv";
		int id = pick_id(in, IPCNS_MSG);
		uint64_t p = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t sz = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)u16(in) % 600;
		int64_t typ = (k & 0x40) ? pick_int(in) : (int8_t)u8(in) % 4;
		int flg = (k & 1 ? IPC_NOWAIT : 0) | (k & 2 ? MSG_NOERROR : 0) | (k & 4 ? MSG_EXCEPT : 0) |
			  (k & 8 ? MSG_COPY : 0);
		if ((k & 0x30) == 0x30)
			flg = (int)u32(in);
		r = ipcns_msgrcv(ns, c, id, p, sz, typ, flg);
		break;
	}
	default: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, MSG_INFO, MSG_STAT, 13, -1, 0x100 };
		what = "msgctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == MSG_STAT || cmd == 13) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_MSG);
		uint64_t buf = pick_ptr(in);
		r = ipcns_msgctl(ns, c, id, cmd, buf);
		break;
	}
	}
	/* The result the caller got: returned, or given to answer().  */
	long res = r == IPCNS_ANSWERED ? (fc.answer_ok ? fc.answer_val : -ENOENT) : r;
	if (kind >= 0)
		remember_id(kind, res);
	if (trace)
		fprintf(stderr, "trace: slot %d %s = %ld%s\n", slot, what, res, r == IPCNS_ANSWERED ? " (answered)" : "");
	call_done(&fc, r, what);
	if (r == IPCNS_PARKED)
		fc.parked->had_deadline = fc.parked->w.deadline >= 0;
}

/* ---- World operations.  */
static struct fz_waiter *pick_waiter(struct in *in)
{
	if (!W.nwaiters)
		return NULL;
	int k = u8(in) % W.nwaiters;
	struct fz_waiter *w = W.waiters;
	while (k-- > 0)
		w = w->next;
	return w;
}

static void proc_gone(struct fz_proc *p)
{
	/* Its calls die with it.  */
	for (struct fz_waiter *w = W.waiters; w; w = w->next)
		if (w->call.tgid == p->tgid)
			w->dead = true;
	p->nvma = 0;
}

static void deliver_exit(int k)
{
	pid_t tgid = W.exits[k];
	W.exits[k] = W.exits[--W.nexits];
	ipcns_ns_process_exit(W.ns, tgid);
}

static void world_op(struct in *in, uint8_t op)
{
	switch (op) {
	case 0: { /* sembuf array into memory */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % MEM_SIZE;
		int n = 1 + u8(in) % 6;
		for (int i = 0; i < n && off + 6 <= MEM_SIZE; i++, off += 6) {
			uint8_t k = u8(in);
			struct sembuf sb;
			sb.sem_num = (unsigned short)(k & 0x80 ? u16(in) : k % 4);
			sb.sem_op = (short)((int8_t)u8(in) % 4);
			sb.sem_flg = (short)((k & 0x10 ? IPC_NOWAIT : 0) | (k & 0x20 ? SEM_UNDO : 0));
			if ((k & 0x60) == 0x60)
				sb.sem_op = (short)u16(in);
			memcpy(p->mem + off, &sb, sizeof(sb));
		}
		break;
	}
	case 1: { /* message buffer: mtype and some text */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % (MEM_SIZE - 8);
		int64_t typ = (u8(in) & 1) ? pick_int(in) : 1 + u8(in) % 4;
		memcpy(p->mem + off, &typ, 8);
		break;
	}
	case 2: { /* timespec */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % (MEM_SIZE - 16);
		int64_t ts[2];
		ts[0] = (u8(in) & 1) ? pick_int(in) : 0;
		ts[1] = (u8(in) & 1) ? pick_int(in) : u8(in) * 1000;
		memcpy(p->mem + off, ts, sizeof(ts));
		break;
	}
	case 3: { /* raw bytes */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % MEM_SIZE;
		size_t n = u8(in) % 32;
		for (size_t i = 0; i < n && off + i < MEM_SIZE; i++)
			p->mem[off + i] = u8(in);
		break;
	}
	case 4: { /* a parked caller interrupted or killed */
		struct fz_waiter *w = pick_waiter(in);
		if (w)
			w->dead = true;
		break;
	}
	case 5: { /* its answer will not reach it */
		struct fz_waiter *w = pick_waiter(in);
		if (w)
			w->fail_deliver = true;
		break;
	}
	case 6: { /* a deadline passes */
		struct fz_waiter *w = pick_waiter(in);
		if (w && w->had_deadline)
			ipcns_waiter_expire(W.ns, &w->w);
		break;
	}
	case 7:
		ipcns_ns_sweep(W.ns);
		break;
	case 8: { /* fork */
		int parent = pick_slot(in);
		int child = u8(in) % NPROC;
		if (W.proc[child].exists)
			break;
		struct fz_proc *pp = &W.proc[parent], *cp = &W.proc[child];
		memcpy(cp, pp, sizeof(*cp));
		cp->tgid = W.next_tgid++;
		cp->parent = pp->tgid;
		ipcns_ns_process_fork(W.ns, pp->tgid, cp->tgid);
		break;
	}
	case 9: { /* exec */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		proc_gone(p);
		ipcns_ns_process_exec(W.ns, p->tgid);
		break;
	}
	case 10: { /* exit; the event comes later */
		int s = pick_slot(in);
		struct fz_proc *p = &W.proc[s];
		proc_gone(p);
		p->exists = false;
		if (W.nexits < 16 && !W.tracks)
			W.exits[W.nexits++] = p->tgid;
		else
			ipcns_ns_process_exit(W.ns, p->tgid);
		if (s == 0) /* slot 0 always has a process */
			proc_init(p, in, 1);
		break;
	}
	case 11: /* an exit event */
		if (W.nexits)
			deliver_exit(u8(in) % W.nexits);
		break;
	case 12: { /* a new process, sometimes with a pid whose exit is pending */
		int s = u8(in) % NPROC;
		if (W.proc[s].exists)
			break;
		proc_init(&W.proc[s], in, W.proc[0].tgid);
		if (W.nexits && (u8(in) & 1)) {
			pid_t reused = W.exits[u8(in) % W.nexits];
			bool taken = false;
			for (int i = 0; i < NPROC; i++)
				taken |= W.proc[i].exists && W.proc[i].tgid == reused;
			if (!taken)
				W.proc[s].tgid = reused;
		}
		break;
	}
	case 13: { /* the process unmaps part of a mapping by itself */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		if (!p->nvma)
			break;
		struct fz_vma *v = &p->vma[u8(in) % p->nvma];
		uint64_t pages = (v->end - v->start) / PAGE;
		uint64_t a = v->start + (u8(in) % pages) * PAGE;
		uint64_t len = (1 + u8(in) % pages) * PAGE;
		vma_punch(p, a, a + len);
		break;
	}
	case 14: { /* new credentials */
		struct fz_proc *p = &W.proc[pick_slot(in)];
		pid_t tgid = p->tgid, parent = p->parent;
		struct fz_vma vma[MAXVMA];
		int nvma = p->nvma;
		uint64_t next = p->next_addr;
		memcpy(vma, p->vma, sizeof(vma));
		uint8_t mem[MEM_SIZE];
		memcpy(mem, p->mem, MEM_SIZE);
		proc_init(p, in, parent);
		W.next_tgid--;
		p->tgid = tgid;
		memcpy(p->vma, vma, sizeof(vma));
		p->nvma = nvma;
		p->next_addr = next;
		memcpy(p->mem, mem, MEM_SIZE);
		break;
	}
	case 15: /* the clock */
		W.now += u8(in);
		break;
	case 16: { /* host: ipcnsctl's walk, and rm */
		uint8_t k = u8(in);
		struct sums s = { 0 };
		if (k & 1)
			ipcns_ns_foreach(W.ns, IPCNS_SHM, sum_cb, &s);
		else
			ipcns_ns_remove(W.ns, (enum ipcns_kind)((k >> 1) % 3), pick_id(in, (k >> 1) % 3));
		break;
	}
	case 17:
		ipcns_ns_shm_reap(W.ns);
		break;
	case 18: { /* new limits */
		struct ipcns_limits l;
		read_limits(in, &l);
		ipcns_ns_set_limits(W.ns, &l);
		break;
	}
	case 19: { /* the daemon or the caller runs out of something */
		static const int errs[] = { ENFILE, ENOMEM, EMFILE };
		uint8_t k = u8(in);
		int e = errs[(k / 4) % 3];
		if (k % 4 == 0)
			W.memfd_fail = e;
		else if (k % 4 == 1)
			W.watch_fail = e;
		else if (k % 4 == 2)
			W.map_fail = e;
		else
			W.info_fail = e;
		break;
	}
	}
}

/* ---- Open fds, to find leaks.  */
static int open_fds(int *out, int max)
{
	int n = 0;
	for (int fd = 0; fd < 1024 && n < max; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			out[n++] = fd;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct ipcns_limits l;

	fd_baseline_n = open_fds(fd_baseline, 1024);
	trace = getenv("FUZZ_CORE_TRACE") != NULL;
	memset(&W, 0, sizeof(W));
	W.next_tgid = 1000;
	W.now = 1700000000;
	read_limits(&in, &l);
	W.ns = ipcns_ns_new(&l, &host_ops, NULL);
	if (!W.ns)
		return 0;
	int nproc = 1 + u8(&in) % NPROC;
	for (int i = 0; i < nproc; i++)
		proc_init(&W.proc[i], &in, 1);
	W.tracks = u8(&in) & 1;

	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = u8(&in);
		if (op < 160)
			do_call(&in, op % 11);
		else
			world_op(&in, (uint8_t)((op - 160) % 20));
		check_world();
	}
	/* The end of a container: pending exits, then the namespace goes.  */
	while (W.nexits)
		deliver_exit(0);
	ipcns_ns_free(W.ns);
	fz_assert(W.nwaiters == 0, "%d parked calls never released", W.nwaiters);

	int now_fds[1024];
	int n = open_fds(now_fds, 1024);
	fz_assert(n == fd_baseline_n && !memcmp(now_fds, fd_baseline, sizeof(int) * (size_t)n),
		  "%d fds open after ipcns_ns_free, %d before (last: %d)", n, fd_baseline_n, n > 0 ? now_fds[n - 1] : -1);
	return 0;
}
