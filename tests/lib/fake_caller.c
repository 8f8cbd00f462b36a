/* SPDX-License-Identifier: MIT */
/* The fake front end of the unit tests and the fuzzer: see fake_caller.h.  */
#include "fake_caller.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Internal to the core (plugin/lib/ipc/core.h).  */
uint64_t ipcns_msg_quota_held(const struct ipcns_ns *ns);

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct fake_faults fake_faults;
bool fake_free_on_release;

static int take_fault(int *f)
{
	int e = *f;
	*f = 0;
	return -e;
}

/* memfd_create, wrapped: the core's segments and journals get their
 * memfds here.  */
int memfd_create(const char *name, unsigned int flags)
{
	if (fake_faults.memfd) {
		errno = -take_fault(&fake_faults.memfd);
		return -1;
	}
	return (int)syscall(SYS_memfd_create, name, flags);
}

bool fake_errno_ok(long r)
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

/* ---- Calls.  */

/* Counts one op of the call: false while it lives.  */
static bool call_dead(struct fake_call *fc)
{
	if (fc->self)
		return !fc->self->alive;
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

static struct fake_proc *call_proc(struct fake_call *fc)
{
	struct fake_proc *p = fc->proc;
	fake_assert(p->exists && p->host_tgid == fc->tgid, "a live call of process %d, which is gone", fc->tgid);
	return p;
}

static struct fake_call *call_of(struct ipcns_caller *c)
{
	return (struct fake_call *)c;
}

/* The process of a call that is still alive (counting one op), or NULL.  */
static struct fake_proc *live(struct ipcns_caller *c)
{
	struct fake_call *fc = call_of(c);
	return call_dead(fc) ? NULL : call_proc(fc);
}

/* live(), for what the front end reads from /proc (fake_faults.info).  */
static int live_info(struct ipcns_caller *c, struct fake_proc **p)
{
	*p = live(c);
	if (!*p)
		return -ENOENT;
	return fake_faults.info ? take_fault(&fake_faults.info) : 0;
}

static int fake_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct fake_proc *p;
	int r = live_info(c, &p);
	if (r == 0)
		*out = p->cred;
	return r;
}

static int fake_pids(struct ipcns_caller *c, pid_t *h, pid_t *n)
{
	struct fake_proc *p;
	int r = live_info(c, &p);
	if (r == 0) {
		*h = p->host_tgid;
		*n = p->ns_tgid;
	}
	return r;
}

static void proc_chain(const struct fake_proc *p, struct ipcns_pidchain *out)
{
	if (p->chain.n) {
		*out = p->chain;
		return;
	}
	out->n = 1;
	out->lv[0].nr = p->ns_tgid;
	out->lv[0].ns = 0;
}

static int fake_pid_chain(struct ipcns_caller *c, bool thread, struct ipcns_pidchain *out)
{
	struct fake_proc *p;
	int r = live_info(c, &p);
	if (r == 0)
		proc_chain(p, out);
	return r;
}

static int fake_caps(struct ipcns_caller *c, uint64_t *eff, bool *userns)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	*eff = p->cred.cap_effective;
	*userns = p->cred.userns;
	return 0;
}

static bool self_bad(uint64_t addr, size_t len)
{
	return addr < 65536 || addr + len < addr;
}

static bool in_range(uint64_t addr, size_t len, uint64_t base, size_t size)
{
	return addr >= base && addr - base <= size && len <= size - (addr - base);
}

static int fake_read(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	if (!p->mem) {
		if (self_bad(addr, len))
			return -EFAULT;
		memcpy(buf, (const void *)(uintptr_t)addr, len);
		return 0;
	}
	if (len == 0)
		return 0;
	if (in_range(addr, len, FAKE_MEM_BASE, p->mem_size)) {
		memcpy(buf, p->mem + (addr - FAKE_MEM_BASE), len);
		return 0;
	}
	if (in_range(addr, len, FAKE_RO_BASE, FAKE_RO_SIZE)) {
		memset(buf, 0x11, len);
		return 0;
	}
	return -EFAULT;
}

static int fake_write(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	if (!p->mem) {
		if (self_bad(addr, len))
			return -EFAULT;
		memcpy((void *)(uintptr_t)addr, buf, len);
		return 0;
	}
	if (len == 0)
		return 0;
	if (in_range(addr, len, FAKE_MEM_BASE, p->mem_size)) {
		memcpy(p->mem + (addr - FAKE_MEM_BASE), buf, len);
		return 0;
	}
	return -EFAULT;
}

/* ---- Maps.  */

static int vma_cmp(const void *a, const void *b)
{
	const struct fake_vma *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int fake_vma_punch(struct fake_proc *p, uint64_t start, uint64_t end)
{
	struct fake_vma out[FAKE_MAXVMA];
	int n = 0;
	for (int i = 0; i < p->nvma; i++) {
		struct fake_vma v = p->vma[i];
		if (v.end <= start || v.start >= end) {
			if (n == FAKE_MAXVMA)
				return -1;
			out[n++] = v;
			continue;
		}
		if (v.start < start) {
			if (n == FAKE_MAXVMA)
				return -1;
			out[n] = v;
			out[n].end = start;
			n++;
		}
		if (v.end > end) {
			if (n == FAKE_MAXVMA)
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

static int record_map(struct fake_proc *p, int fd, uint64_t addr, uint64_t len, int prot, int flags,
		      uint64_t *mapped)
{
	int fl = fcntl(fd, F_GETFL);
	fake_assert(fl >= 0, "shm_map given fd %d, which is not open", fd);
	if ((prot & PROT_WRITE) && (fl & O_ACCMODE) != O_RDWR)
		return -EACCES; /* mmap of a read-only fd for writing */
	struct stat st;
	fake_assert(fstat(fd, &st) == 0, "fstat of the segment fd");
	if (len == 0)
		return -EINVAL;
	uint64_t rlen = (len + FAKE_PAGE - 1) & ~(FAKE_PAGE - 1);
	if (rlen < len)
		return -ENOMEM;
	if (addr & (FAKE_PAGE - 1))
		return -EINVAL;
	if (!addr) {
		addr = p->next_addr;
		if (addr + rlen < addr || addr + rlen > FAKE_TASK_END)
			return -ENOMEM;
		p->next_addr = addr + rlen + FAKE_PAGE;
	} else {
		if (addr + rlen < addr || addr + rlen > FAKE_TASK_END)
			return -ENOMEM;
		for (int i = 0; i < p->nvma; i++) {
			if (p->vma[i].end > addr && p->vma[i].start < addr + rlen) {
				if (flags & MAP_FIXED_NOREPLACE)
					return -EEXIST;
			}
		}
		if ((flags & MAP_FIXED) && fake_vma_punch(p, addr, addr + rlen) < 0)
			return -ENOMEM;
	}
	if (p->nvma == FAKE_MAXVMA)
		return -ENOMEM;
	p->vma[p->nvma++] = (struct fake_vma){ addr, addr + rlen, 0, st.st_dev, st.st_ino, prot };
	qsort(p->vma, (size_t)p->nvma, sizeof(p->vma[0]), vma_cmp);
	*mapped = addr;
	return 0;
}

static int fake_shm_map(struct ipcns_caller *c, int fd, uint64_t addr, uint64_t len, int prot, int flags,
			uint64_t *mapped)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	if (fake_faults.map)
		return take_fault(&fake_faults.map);
	if (p->record_maps)
		return record_map(p, fd, addr, len, prot, flags, mapped);
	void *m = mmap((void *)(uintptr_t)addr, len, prot, flags, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*mapped = (uint64_t)(uintptr_t)m;
	return 0;
}

static int fake_shm_unmap(struct ipcns_caller *c, uint64_t addr, uint64_t len)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	if (!p->record_maps)
		return munmap((void *)(uintptr_t)addr, len) < 0 ? -errno : 0;
	if ((addr & (FAKE_PAGE - 1)) || len == 0)
		return -EINVAL;
	uint64_t rlen = (len + FAKE_PAGE - 1) & ~(FAKE_PAGE - 1);
	if (addr + rlen < addr)
		return -EINVAL;
	return fake_vma_punch(p, addr, addr + rlen) < 0 ? -ENOMEM : 0;
}

int fake_scan_self(ipcns_vma_cb cb, void *arg)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[512];
	int ret = 0;
	while (ret == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off, ino;
		unsigned int ma, mi;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &s, &e, perms, &off, &ma, &mi, &ino) != 7 ||
		    ino == 0)
			continue;
		struct ipcns_vma v = { .start = s, .end = e, .offset = off, .dev = makedev(ma, mi), .ino = ino,
					.pid = getpid() };
		v.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			 (perms[2] == 'x' ? PROT_EXEC : 0);
		ret = cb(arg, &v);
	}
	fclose(f);
	return ret;
}

int fake_proc_maps(struct fake_proc *p, ipcns_vma_cb cb, void *arg)
{
	if (!p->record_maps)
		return fake_scan_self(cb, arg);
	/* A copy: the callback may not change the map, but be safe.  */
	struct fake_vma v[FAKE_MAXVMA];
	int n = p->nvma;
	memcpy(v, p->vma, sizeof(v[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		struct ipcns_vma iv = { v[i].start, v[i].end, v[i].off, v[i].dev, v[i].ino, v[i].prot, p->host_tgid };
		int r = cb(arg, &iv);
		if (r)
			return r;
	}
	return 0;
}

static int fake_maps(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	return fake_proc_maps(p, cb, arg);
}

struct exact {
	uint64_t start, end;
	dev_t dev;
	ino_t ino;
};
static int exact_cb(void *arg, const struct ipcns_vma *v)
{
	struct exact *x = arg;
	if (v->start != x->start || v->end != x->end)
		return 0;
	x->dev = v->dev;
	x->ino = v->ino;
	return 1;
}
/* The mapping of exactly [start, end): -ENOENT when there is none.  */
static int vma_exact(struct fake_proc *p, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct exact x = { .start = start, .end = end };
	int r = fake_proc_maps(p, exact_cb, &x);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*dev = x.dev;
	*ino = x.ino;
	return 0;
}

static int fake_vma_at(struct ipcns_caller *c, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	return vma_exact(p, start, end, dev, ino);
}

static int fake_memlock(struct ipcns_caller *c, uint64_t *limit)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	*limit = p->memlock;
	return 0;
}

static int fake_watch_exit(struct ipcns_caller *c)
{
	struct fake_proc *p = live(c);
	if (!p)
		return -ENOENT;
	if (fake_faults.watch)
		return take_fault(&fake_faults.watch);
	p->watched = true;
	return 0;
}

/* ---- Parked calls.  */

struct ipcns_waiter *fake_park(struct ipcns_caller *c)
{
	struct fake_call *fc = call_of(c);
	fake_assert(!fc->self, "park() on a parked call's caller");
	fc->npark++;
	struct fake_waiter *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	fw->call = *fc;
	fw->call.self = fw;
	fw->call.parked = NULL;
	fw->w.ops = &fake_waiter_ops;
	fw->w.caller = &fw->call.c;
	fw->w.deadline = -1;
	fw->proc = fc->proc;
	/* A call that died before it parked stays dead.  */
	fw->alive = !fc->dead;
	fw->deliverable = true;
	fw->all = fc->proc->all;
	if (fw->all) {
		fw->next = *fw->all;
		if (fw->next)
			fw->next->prev = fw;
		*fw->all = fw;
	}
	fc->parked = fw;
	fc->proc->last_parked = fw;
	return &fw->w;
}

static int fake_answer(struct ipcns_caller *c, long ret)
{
	struct fake_call *fc = call_of(c);
	fake_assert(!fc->self, "answer() on a parked call's caller");
	fc->nanswer++;
	fake_assert(ret >= 0 || fake_errno_ok(ret), "answer(%ld)", ret);
	fc->answer_val = ret;
	if (fc->dead || fc->interrupt_answer) {
		fc->dead = true;
		return -ENOENT;
	}
	fc->dead = true; /* answered: the notification is gone */
	fc->answer_ok = true;
	return 0;
}

bool fake_w_alive(struct ipcns_waiter *w)
{
	return ((struct fake_waiter *)w)->alive;
}

int fake_w_deliver(struct ipcns_waiter *w, long ret)
{
	static unsigned long seq;
	struct fake_waiter *fw = (struct fake_waiter *)w;
	fake_assert(ret >= 0 || fake_errno_ok(ret), "deliver(%ld)", ret);
	fake_assert(ret != IPCNS_PARKED && ret != IPCNS_ANSWERED, "deliver of a pseudo result");
	if (!fw->alive)
		return -ENOENT;
	if (!fw->deliverable) {
		fw->alive = false;
		return -ENOENT;
	}
	fake_assert(!fw->answered, "a parked call answered twice");
	fw->answered = true;
	fw->answer = ret;
	fw->answered_seq = ++seq;
	fw->alive = false; /* answered: the notification is gone */
	return 0;
}

void fake_w_release(struct ipcns_waiter *w)
{
	struct fake_waiter *fw = (struct fake_waiter *)w;
	fake_assert(!fw->released, "a parked call released twice");
	fw->released = true;
	if (!fake_free_on_release)
		return;
	if (fw->all) {
		if (fw->prev)
			fw->prev->next = fw->next;
		else
			*fw->all = fw->next;
		if (fw->next)
			fw->next->prev = fw->prev;
	}
	free(fw);
}

const struct ipcns_waiter_ops fake_waiter_ops = {
	.alive = fake_w_alive,
	.deliver = fake_w_deliver,
	.release = fake_w_release,
};

const struct ipcns_caller_ops fake_caller_ops = {
	.cred = fake_cred,
	.pids = fake_pids,
	.pid_chain = fake_pid_chain,
	.read = fake_read,
	.write = fake_write,
	.shm_map = fake_shm_map,
	.shm_unmap = fake_shm_unmap,
	.maps = fake_maps,
	.memlock_limit = fake_memlock,
	.park = fake_park,
	.watch_exit = fake_watch_exit,
};

const struct ipcns_caller_ops fake_caller_answer_ops = {
	.cred = fake_cred,
	.ids = fake_cred,
	.caps = fake_caps,
	.pids = fake_pids,
	.pid_chain = fake_pid_chain,
	.read = fake_read,
	.write = fake_write,
	.shm_map = fake_shm_map,
	.shm_unmap = fake_shm_unmap,
	.maps = fake_maps,
	.vma_at = fake_vma_at,
	.memlock_limit = fake_memlock,
	.park = fake_park,
	.watch_exit = fake_watch_exit,
	.answer = fake_answer,
};

struct ipcns_caller *fake_call(struct fake_proc *p)
{
	struct fake_call *fc = &p->call;
	fc->c.have_cred = false;
	fc->c.have_pids = false;
	fc->c.have_ids = false;
	fc->c.have_caps = false;
	fc->c.have_pidns = false;
	fc->proc = p;
	fc->tgid = p->host_tgid;
	fc->ops_left = -1;
	fc->dead = false;
	fc->interrupt_answer = false;
	fc->nanswer = 0;
	fc->npark = 0;
	fc->answer_val = 0;
	fc->answer_ok = false;
	fc->parked = NULL;
	fc->self = NULL;
	return &fc->c;
}

void fake_proc_init(struct fake_proc *p, uid_t uid, uint64_t caps, pid_t pid, struct fake_waiter **all)
{
	memset(p, 0, sizeof(*p));
	p->c.ops = &fake_caller_ops;
	p->cred.euid = uid;
	p->cred.egid = uid;
	p->cred.fsgid = uid;
	p->cred.cap_effective = caps;
	p->host_tgid = pid;
	p->ns_tgid = pid;
	p->memlock = 8 << 20;
	p->exists = true;
	p->all = all;
	fake_call(p);
}

void fake_call_done(struct fake_proc *p, long r, const char *what)
{
	const struct fake_call *fc = &p->call;
	if (r == IPCNS_PARKED) {
		fake_assert(fc->npark == 1 && fc->parked && fc->nanswer == 0, "%s: IPCNS_PARKED, %d park(), %d answer()",
			    what, fc->npark, fc->nanswer);
		return;
	}
	fake_assert(fc->npark == 0, "%s: park() but returned %ld", what, r);
	if (r == IPCNS_ANSWERED) {
		fake_assert(fc->nanswer == 1, "%s: IPCNS_ANSWERED with %d answer()", what, fc->nanswer);
		return;
	}
	fake_assert(fc->nanswer == 0, "%s: answer() but returned %ld", what, r);
	if (r == -ENOENT && fc->dead)
		return;
	fake_assert(r >= 0 || fake_errno_ok(r), "%s returned %ld", what, r);
}

long fake_call_result(const struct fake_proc *p, long r)
{
	if (r != IPCNS_ANSWERED)
		return r;
	return p->call.answer_ok ? p->call.answer_val : -ENOENT;
}

/* ---- Hosts.  */

int fake_host_scan(void *host, ipcns_vma_cb cb, void *arg)
{
	return fake_scan_self(cb, arg);
}

const struct ipcns_host_ops fake_host_ops = {
	.scan_vmas = fake_host_scan,
};

static struct fake_proc *world_proc(struct fake_world *w, pid_t tgid)
{
	for (int i = 0; i < w->nproc; i++)
		if (w->procs[i].exists && w->procs[i].host_tgid == tgid)
			return &w->procs[i];
	return NULL;
}

static int world_scan(void *host, ipcns_vma_cb cb, void *arg)
{
	struct fake_world *w = host;
	for (int i = 0; i < w->nproc; i++) {
		if (!w->procs[i].exists)
			continue;
		int r = fake_proc_maps(&w->procs[i], cb, arg);
		if (r)
			return r;
	}
	return 0;
}

static int64_t world_now(void *host)
{
	return ((struct fake_world *)host)->now;
}

/* The same fake clock for deadlines, so that a run does not depend on
 * how fast it goes; the machine's memory numbers stay unknown (no
 * overcommit refusal), so that it does not depend on the machine.  */
static int64_t world_mono(void *host)
{
	return ((struct fake_world *)host)->now * 1000000000;
}

static void world_limit_hit(void *host, const char *what)
{
}

static int world_proc_info(void *host, pid_t tgid, pid_t *ns_tgid, pid_t *ns_ppid)
{
	struct fake_proc *p = world_proc(host, tgid);
	if (!p)
		return -ESRCH;
	*ns_tgid = p->ns_tgid;
	*ns_ppid = p->ns_ppid;
	return 0;
}

static int world_proc_chain(void *host, pid_t tgid, bool parent, struct ipcns_pidchain *out)
{
	struct fake_proc *p = world_proc(host, tgid);
	if (p && parent)
		p = p->parent ? world_proc(host, p->parent) : NULL;
	if (!p)
		return -ESRCH;
	proc_chain(p, out);
	return 0;
}

static int world_watch_exit(void *host, pid_t tgid)
{
	return 0;
}

static int world_proc_maps(void *host, pid_t tgid, ipcns_vma_cb cb, void *arg)
{
	struct fake_proc *p = world_proc(host, tgid);
	return p ? fake_proc_maps(p, cb, arg) : -ESRCH;
}

static int world_vma_at(void *host, pid_t tgid, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct fake_proc *p = world_proc(host, tgid);
	return p ? vma_exact(p, start, end, dev, ino) : -ENOENT;
}

/* With tracking on, the world keeps the contract: fork, exec and exit are
 * reported before any later call (exit events are not delayed).  */
static bool world_tracks(void *host)
{
	return ((struct fake_world *)host)->tracks;
}

const struct ipcns_host_ops fake_world_host_ops = {
	.scan_vmas = world_scan,
	.now = world_now,
	.mono_ns = world_mono,
	.limit_hit = world_limit_hit,
	.proc_info = world_proc_info,
	.proc_chain = world_proc_chain,
	.watch_exit = world_watch_exit,
	.proc_maps = world_proc_maps,
	.vma_at = world_vma_at,
	.tracks_processes = world_tracks,
};

/* ---- The namespace.  */

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

int fake_waiters_unreleased(struct fake_waiter *const *all)
{
	int n = 0;
	for (const struct fake_waiter *w = *all; w; w = w->next)
		n += !w->released;
	return n;
}

void fake_ns_check(struct ipcns_ns *ns, struct fake_waiter *const *all)
{
	struct ipcns_usage u;
	struct sums s = { 0 };
	int parked = fake_waiters_unreleased(all);
	ipcns_ns_usage(ns, &u);
	fake_assert((int)u.parked == parked, "usage says %u parked, %d waiters unreleased", u.parked, parked);
	ipcns_ns_foreach(ns, IPCNS_SEM, sum_cb, &s);
	ipcns_ns_foreach(ns, IPCNS_MSG, sum_cb, &s);
	fake_assert(s.msg_bytes == u.msg_bytes && s.msg_count == u.msg_count,
		    "queues hold %llu bytes in %llu messages, usage says %llu in %llu",
		    (unsigned long long)s.msg_bytes, (unsigned long long)s.msg_count,
		    (unsigned long long)u.msg_bytes, (unsigned long long)u.msg_count);
	fake_assert(s.sems == u.sem_total, "sets hold %llu semaphores, usage says %llu", (unsigned long long)s.sems,
		    (unsigned long long)u.sem_total);
	fake_assert((uint32_t)s.nobj[IPCNS_SEM] == u.sem_ids && (uint32_t)s.nobj[IPCNS_MSG] == u.msg_ids,
		    "object counts");
	if (u.parked == 0 && u.msg_count == 0)
		fake_assert(ipcns_msg_quota_held(ns) == 0, "quota holds %llu bytes with nothing queued or parked",
			    (unsigned long long)ipcns_msg_quota_held(ns));
}

void fake_waiters_free(struct fake_waiter **all)
{
	while (*all) {
		struct fake_waiter *n = (*all)->next;
		free(*all);
		*all = n;
	}
}

int fake_ns_free(struct ipcns_ns *ns, struct fake_waiter **all)
{
	if (ns)
		fake_ns_check(ns, all);
	ipcns_ns_free(ns);
	int unreleased = fake_waiters_unreleased(all);
	fake_waiters_free(all);
	return unreleased;
}
