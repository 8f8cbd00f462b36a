/* SPDX-License-Identifier: MIT */
/* Unit tests of System V shared memory in the core (plugin/lib/ipc/shm.c)
 * with fake callers (tests/lib/fake_caller.h): shmget's errors and
 * limits, shmat mapping the real memfds into this process, shmdt, IPC_RMID
 * while attached (SHM_DEST, private key, destroyed at the last detach),
 * shm_nattch from a look at the maps, SHM_LOCK, the quotas, and the fork,
 * exec and exit hooks.
 *
 * The host the namespace sees is this process (its /proc/self/maps) plus
 * "virtual" processes the tests make: a virtual child forked from this
 * process holds a copy of its file mappings, as fork copies VMAs.  */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include <cmocka.h>

#include "core.h"
#include "fake_caller.h"

#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

#define ALL_CAPS (~0ULL)
#define CAP(n) (1ULL << (n))
#define MAXV 256
#define NVPROC 4

struct vproc {
	pid_t pid, ns_pid, ns_ppid;
	bool used;
	int nv;
	struct ipcns_vma v[MAXV];
};

struct fixture {
	struct ipcns_ns *ns;
	struct fake_waiter *all;
	struct fake_proc root, user, other;
	int64_t now;
	struct vproc vp[NVPROC];
	int hits;
	pid_t watched[16];
	int nwatched;
	/* The machine's memory numbers the host reports; all unknown (-1)
	 * unless vm_set.  */
	bool vm_set;
	long long vm[IPCNS_VM_OVERFLOW_GID + 1];
};

static long pgsz;

/* ---- The host.  */

static int fx_scan(void *host, ipcns_vma_cb cb, void *arg)
{
	struct fixture *f = host;
	int ret = fake_scan_self(cb, arg);
	for (int i = 0; i < NVPROC && ret == 0; i++)
		for (int j = 0; f->vp[i].used && j < f->vp[i].nv && ret == 0; j++)
			ret = cb(arg, &f->vp[i].v[j]);
	return ret;
}

static int64_t fx_now(void *host)
{
	return ((struct fixture *)host)->now;
}

static void fx_hit(void *host, const char *what)
{
	((struct fixture *)host)->hits++;
}

static int fx_proc_info(void *host, pid_t tgid, pid_t *ns_tgid, pid_t *ns_ppid)
{
	struct fixture *f = host;
	if (tgid == getpid()) {
		*ns_tgid = 1;
		*ns_ppid = 0;
		return 0;
	}
	for (int i = 0; i < NVPROC; i++)
		if (f->vp[i].used && f->vp[i].pid == tgid) {
			*ns_tgid = f->vp[i].ns_pid;
			*ns_ppid = f->vp[i].ns_ppid;
			return 0;
		}
	return -ESRCH;
}

static int fx_watch(void *host, pid_t tgid)
{
	struct fixture *f = host;
	if (f->nwatched < 16)
		f->watched[f->nwatched++] = tgid;
	return 0;
}

static long long fx_vm_read(void *host, enum ipcns_vm what)
{
	struct fixture *f = host;
	return f->vm_set ? f->vm[what] : -1;
}

static const struct ipcns_host_ops fx_host = {
	.scan_vmas = fx_scan,
	.now = fx_now,
	.vm_read = fx_vm_read,
	.limit_hit = fx_hit,
	.proc_info = fx_proc_info,
	.watch_exit = fx_watch,
};

static int copy_vma(void *arg, const struct ipcns_vma *v)
{
	struct vproc *vp = arg;
	if (vp->nv < MAXV) {
		vp->v[vp->nv] = *v;
		vp->v[vp->nv].pid = vp->pid;
		vp->nv++;
	}
	return 0;
}

/* A virtual child of this process (ns pid 1) with a copy of its file
 * mappings.  */
static struct vproc *vfork_child(struct fixture *f, pid_t pid, pid_t ns_pid)
{
	for (int i = 0; i < NVPROC; i++) {
		struct vproc *vp = &f->vp[i];
		if (vp->used)
			continue;
		memset(vp, 0, sizeof(*vp));
		vp->used = true;
		vp->pid = pid;
		vp->ns_pid = ns_pid;
		vp->ns_ppid = 1;
		fake_scan_self(copy_vma, vp);
		return vp;
	}
	fail_msg("no free virtual process");
	return NULL;
}

static void vgone(struct vproc *vp)
{
	vp->used = false;
	vp->nv = 0;
}

/* ---- Fixture.  */

static int setup_limits(void **state, const struct ipcns_limits *l)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	pgsz = sysconf(_SC_PAGESIZE);
	f->now = 1000;
	f->ns = ipcns_ns_new(l, &fx_host, f);
	if (!f->ns) {
		free(f);
		return -1;
	}
	/* All three are this process as far as mappings go.  */
	fake_proc_init(&f->root, 0, ALL_CAPS, getpid(), &f->all);
	fake_proc_init(&f->user, 1000, 0, getpid(), &f->all);
	fake_proc_init(&f->other, 2000, 0, getpid(), &f->all);
	f->root.ns_tgid = 1;
	f->user.ns_tgid = 1;
	f->other.ns_tgid = 1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_limits(state, NULL);
}

static int setup_small(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.shmmni = 3;
	l.shmall = 4;
	l.shmmax = 3 * 4096;
	return setup_limits(state, &l);
}

static int setup_quota(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.quota_shm_bytes = 3 * 4096;
	l.quota_objects_per_uid = 2;
	return setup_limits(state, &l);
}

static int setup_forced(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.shm_rmid_forced = 1;
	return setup_limits(state, &l);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(fake_ns_free(f->ns, &f->all), 0);
	free(f);
	return 0;
}

/* ---- Helpers.  */

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static long get(struct fixture *f, struct fake_proc *p, int32_t key, uint64_t size, int flg)
{
	return ipcns_shmget(f->ns, fake_call(p), key, size, flg);
}

static int mk(struct fixture *f, uint64_t size)
{
	long id = get(f, &f->root, IPC_PRIVATE, size, 0600);
	assert_true(id >= 0);
	return (int)id;
}

static long at(struct fixture *f, struct fake_proc *p, int id, const void *addr, int flg)
{
	return ipcns_shmat(f->ns, fake_call(p), id, A(addr), flg);
}

static char *att(struct fixture *f, int id, int flg)
{
	long r = at(f, &f->root, id, NULL, flg);
	assert_true(r > 0);
	return (char *)r;
}

static long dt(struct fixture *f, const void *addr)
{
	return ipcns_shmdt(f->ns, fake_call(&f->root), A(addr));
}

static long ctl(struct fixture *f, struct fake_proc *p, int id, int cmd, void *buf)
{
	return ipcns_shmctl(f->ns, fake_call(p), id, cmd, A(buf));
}

static struct shmid_ds st(struct fixture *f, int id)
{
	struct shmid_ds ds;
	memset(&ds, 0xa5, sizeof(ds));
	assert_int_equal(ctl(f, &f->root, id, IPC_STAT, &ds), 0);
	return ds;
}

static bool gone(struct fixture *f, int id)
{
	struct shmid_ds ds;
	return ctl(f, &f->root, id, IPC_STAT, &ds) == -EINVAL;
}

static struct shm_info info(struct fixture *f)
{
	struct shm_info si;
	ctl(f, &f->root, 0, SHM_INFO, &si);
	return si;
}

static void give(struct fixture *f, int id, uid_t uid)
{
	struct shmid_ds ds;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = uid;
	ds.shm_perm.mode = 0600;
	assert_int_equal(ctl(f, &f->root, id, IPC_SET, &ds), 0);
}

/* ---- shmget.  */

static void test_get(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 0, 0600), -EINVAL);
	assert_int_equal(get(f, &f->root, 77, 100, 0600), -ENOENT);
	long id = get(f, &f->root, 77, 100, IPC_CREAT | IPC_EXCL | 0640);
	assert_int_equal(id, 0);
	assert_int_equal(get(f, &f->root, 77, 0, 0), 0);
	assert_int_equal(get(f, &f->root, 77, 100, IPC_CREAT), 0);
	assert_int_equal(get(f, &f->root, 77, 101, 0), -EINVAL);
	assert_int_equal(get(f, &f->root, 77, 101, IPC_CREAT | IPC_EXCL), -EEXIST);
	/* The permission after the size.  */
	assert_int_equal(get(f, &f->other, 77, 101, 0600), -EINVAL);
	assert_int_equal(get(f, &f->other, 77, 100, 0600), -EACCES);
	assert_int_equal(get(f, &f->other, 77, 100, 0), 0);
	struct shmid_ds ds = st(f, 0);
	assert_int_equal(ds.shm_perm.__key, 77);
	assert_int_equal(ds.shm_perm.mode, 0640);
	assert_int_equal(ds.shm_segsz, 100);
	assert_int_equal(ds.shm_cpid, 1);
	assert_int_equal(ds.shm_lpid, 0);
	assert_int_equal(ds.shm_ctime, 1000);
	assert_int_equal(ds.shm_atime, 0);
	assert_int_equal(ds.shm_nattch, 0);
	/* Sizes above shmmax; above the largest file (shmem's EINVAL); a
	 * huge one with SHM_NORESERVE is not charged (test_overcommit).  */
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, IPCNS_SHMMAX + 1, 0600), -EINVAL);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, (1ULL << 63) + 4096, 0600 | SHM_NORESERVE), -EINVAL);
	long big = get(f, &f->root, IPC_PRIVATE, 1ULL << 50, 0600 | SHM_NORESERVE);
	assert_int_equal(big, 1);
	assert_int_equal(info(f).shm_tot, 1 + (1ULL << 50) / (uint64_t)pgsz);
	assert_int_equal(ctl(f, &f->root, 1, IPC_RMID, NULL), 0);
}

/* shmem_acct_size() and __vm_enough_memory() against the numbers the
 * host reports (1 GiB of RAM and swap; in mode 2 a CommitLimit of 1 GiB
 * with 8 KiB left and a 4 KiB admin reserve).  */
static void test_overcommit(void **state)
{
	struct fixture *f = *state;
	long id;
	uint64_t ps = (uint64_t)pgsz;

	/* Numbers unknown: nothing is refused.  */
	id = get(f, &f->root, IPC_PRIVATE, 1ULL << 50, 0600);
	assert_true(id >= 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);

	f->vm_set = true;
	f->vm[IPCNS_VM_TOTAL_KB] = 1 << 20;
	f->vm[IPCNS_VM_COMMIT_LIMIT_KB] = 1 << 20;
	f->vm[IPCNS_VM_COMMITTED_AS_KB] = (1 << 20) - 2 * (long long)ps / 1024;
	f->vm[IPCNS_VM_ADMIN_RESERVE_KB] = (long long)ps / 1024;
	f->vm[IPCNS_VM_HUGETLB_SHM_GROUP] = -1;

	/* Heuristic (0): more than RAM plus swap at once is refused, unless
	 * SHM_NORESERVE.  */
	f->vm[IPCNS_VM_OVERCOMMIT_MEMORY] = 0;
	assert_int_equal(get(f, &f->user, IPC_PRIVATE, (1ULL << 30) + ps, 0600), -ENOMEM);
	id = get(f, &f->user, IPC_PRIVATE, (1ULL << 30) + ps, 0600 | SHM_NORESERVE);
	assert_true(id >= 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);
	id = get(f, &f->user, IPC_PRIVATE, 1ULL << 30, 0600);
	assert_true(id >= 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);

	/* Always (1): never refused.  */
	f->vm[IPCNS_VM_OVERCOMMIT_MEMORY] = 1;
	id = get(f, &f->user, IPC_PRIVATE, 1ULL << 50, 0600);
	assert_true(id >= 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);

	/* Never (2): one page fits below CommitLimit for CAP_SYS_ADMIN only
	 * (the admin reserve is kept from the others), SHM_NORESERVE or
	 * not.  */
	f->vm[IPCNS_VM_OVERCOMMIT_MEMORY] = 2;
	assert_int_equal(get(f, &f->user, IPC_PRIVATE, ps, 0600), -ENOMEM);
	assert_int_equal(get(f, &f->user, IPC_PRIVATE, ps, 0600 | SHM_NORESERVE), -ENOMEM);
	id = get(f, &f->root, IPC_PRIVATE, ps, 0600);
	assert_true(id >= 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 2 * ps, 0600), -ENOMEM);
}

static void test_get_limits(void **state)
{
	struct fixture *f = *state;
	/* shmmax 3 pages, shmall 4 pages, shmmni 3.  */
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 3 * 4096 + 1, 0600), -EINVAL);
	int a = mk(f, 3 * 4096);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 4097, 0600), -ENOSPC);
	int b = mk(f, 1);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 1, 0600), -ENOSPC);
	assert_int_equal(info(f).shm_tot, 4);
	ctl(f, &f->root, a, IPC_RMID, NULL);
	int c = mk(f, 1), d = mk(f, 1);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 1, 0600), -ENOSPC); /* shmmni */
	assert_int_equal(info(f).used_ids, 3);
	/* One of them removed while attached, then unmapped: Linux has
	 * destroyed it, so there is room again.  */
	char *p = att(f, d, 0);
	ctl(f, &f->root, d, IPC_RMID, NULL);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 1, 0600), -ENOSPC);
	assert_int_equal(munmap(p, 4096), 0);
	d = mk(f, 1);
	ctl(f, &f->root, b, IPC_RMID, NULL);
	ctl(f, &f->root, c, IPC_RMID, NULL);
	ctl(f, &f->root, d, IPC_RMID, NULL);
	/* The page count overflows: ENOSPC.  */
	struct ipcns_limits l = *ipcns_ns_limits(f->ns);
	l.shmmax = UINT64_MAX;
	l.shmall = UINT64_MAX;
	assert_int_equal(ipcns_ns_set_limits(f->ns, &l), 0);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, UINT64_MAX, 0600 | SHM_NORESERVE), -ENOSPC);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, UINT64_MAX - 4094, 0600 | SHM_NORESERVE), -ENOSPC);
	assert_int_equal(info(f).used_ids, 0);
}

/* ---- shmat and shmdt.  */

static void test_attach(void **state)
{
	struct fixture *f = *state;
	int id = mk(f, 3 * 4096);
	f->now = 2000;
	char *p = att(f, id, 0), *q = att(f, id, 0);
	assert_ptr_not_equal(p, q);
	strcpy(p + 8192, "shared");
	assert_string_equal(q + 8192, "shared");
	struct shmid_ds ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 2);
	assert_int_equal(ds.shm_atime, 2000);
	assert_int_equal(ds.shm_lpid, 1);
	assert_true(f->root.watched);
	f->now = 3000;
	assert_int_equal(dt(f, q), 0);
	ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(ds.shm_dtime, 3000);
	/* Not an attach address.  */
	assert_int_equal(dt(f, q), -EINVAL);
	assert_int_equal(dt(f, p + 1), -EINVAL);
	assert_int_equal(dt(f, p + 4096), -EINVAL);
	/* Read-only: the mapping cannot be made writable.  */
	char *r = att(f, id, SHM_RDONLY);
	assert_string_equal(r + 8192, "shared");
	assert_int_equal(mprotect(r, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(dt(f, r), 0);
	/* A fragment left by munmap is found from the attach address.  */
	assert_int_equal(munmap(p, 4096), 0);
	assert_int_equal(st(f, id).shm_nattch, 1);
	assert_int_equal(dt(f, p), 0);
	assert_int_equal(st(f, id).shm_nattch, 0);
	/* A hole: two mappings, both detached.  */
	p = att(f, id, 0);
	assert_int_equal(munmap(p + 4096, 4096), 0);
	assert_int_equal(st(f, id).shm_nattch, 2);
	assert_int_equal(dt(f, p), 0);
	assert_int_equal(st(f, id).shm_nattch, 0);
}

static void test_attach_errors(void **state)
{
	struct fixture *f = *state;
	int id = mk(f, 2 * 4096);
	void *anon = mmap(NULL, 4 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	char *a = anon;
	assert_int_equal(at(f, &f->root, -1, NULL, 0), -EINVAL);
	assert_int_equal(at(f, &f->root, id + 32768, NULL, 0), -EINVAL);
	assert_int_equal(at(f, &f->root, id, a + 1, 0), -EINVAL);
	assert_int_equal(at(f, &f->root, id, NULL, SHM_REMAP), -EINVAL);
	assert_int_equal(at(f, &f->root, id, (void *)1, SHM_RND | SHM_REMAP), -EINVAL);
	/* Overlapping without SHM_REMAP.  */
	assert_int_equal(at(f, &f->root, id, a + 4096, 0), -EINVAL);
	/* Wrapping around.  */
	assert_int_equal(at(f, &f->root, id, (void *)(uintptr_t)(UINT64_MAX & ~4095ULL), 0), -EINVAL);
	/* The permission.  */
	assert_int_equal(at(f, &f->other, id, NULL, SHM_RDONLY), -EACCES);
	long x = at(f, &f->root, id, NULL, SHM_EXEC);
	assert_true(x > 0);
	/* SHM_REMAP replaces the anonymous pages; SHM_RND rounds.  */
	long r = at(f, &f->root, id, a + 4096 + 5, SHM_REMAP | SHM_RND);
	assert_int_equal(r, (long)(a + 4096));
	((char *)r)[0] = 'x';
	assert_int_equal(st(f, id).shm_nattch, 2);
	assert_int_equal(dt(f, a + 4096), 0);
	assert_int_equal(dt(f, (void *)x), 0);
	assert_int_equal(st(f, id).shm_nattch, 0);
	munmap(anon, 4 * 4096);
}

/* ---- IPC_RMID.  */

static void test_rmid(void **state)
{
	struct fixture *f = *state;
	long id = get(f, &f->root, 55, 4096, IPC_CREAT | 0600);
	char *p = att(f, (int)id, 0);
	strcpy(p, "still here");
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);
	struct shmid_ds ds = st(f, (int)id);
	assert_int_equal(ds.shm_perm.mode, 0600 | SHM_DEST);
	assert_int_equal(ds.shm_perm.__key, 0);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(get(f, &f->root, 55, 0, 0), -ENOENT);
	assert_int_equal(info(f).used_ids, 1);
	/* Attach after IPC_RMID works.  */
	char *q = att(f, (int)id, 0);
	assert_string_equal(q, "still here");
	assert_int_equal(dt(f, p), 0);
	assert_false(gone(f, (int)id));
	assert_int_equal(dt(f, q), 0);
	assert_true(gone(f, (int)id));
	assert_int_equal(info(f).used_ids, 0);
	assert_int_equal(info(f).shm_tot, 0);
	/* The last mapping goes by munmap: the next call on the id finds
	 * it gone, as Linux destroyed it then.  */
	id = get(f, &f->root, 56, 8192, IPC_CREAT | 0600);
	p = att(f, (int)id, 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);
	assert_int_equal(munmap(p, 8192), 0);
	assert_int_equal(at(f, &f->root, (int)id, NULL, 0), -EINVAL);
	assert_int_equal(info(f).used_ids, 0);
	id = get(f, &f->root, 56, 8192, IPC_CREAT | 0600);
	p = att(f, (int)id, 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), 0);
	assert_int_equal(munmap(p, 8192), 0);
	assert_int_equal(info(f).used_ids, 0);
	assert_int_equal(ctl(f, &f->root, (int)id, IPC_RMID, NULL), -EINVAL);
	/* Not attached: at once.  The owner check.  */
	id = mk(f, 1);
	assert_int_equal(ctl(f, &f->other, (int)id, IPC_RMID, NULL), -EPERM);
	give(f, (int)id, 2000);
	assert_int_equal(ctl(f, &f->other, (int)id, IPC_RMID, NULL), 0);
	assert_true(gone(f, (int)id));
}

/* ---- shmctl: the rest.  */

static void test_ctl(void **state)
{
	struct fixture *f = *state;
	struct shminfo si;
	struct shm_info sinfo;
	struct shmid_ds ds;
	assert_int_equal(ctl(f, &f->root, 0, IPC_INFO, &si), 0);
	assert_int_equal(si.shmmax, IPCNS_SHMMAX);
	assert_int_equal(si.shmmni, IPCNS_SHMMNI);
	assert_int_equal(si.shmseg, IPCNS_SHMMNI);
	assert_int_equal(si.shmall, IPCNS_SHMALL);
	assert_int_equal(si.shmmin, 1);
	int a = mk(f, 1), b = mk(f, 5000);
	assert_int_equal(ctl(f, &f->root, 0, IPC_INFO, &si), 1);
	assert_int_equal(ctl(f, &f->root, 0, SHM_INFO, &sinfo), 1);
	assert_int_equal(sinfo.used_ids, 2);
	assert_int_equal(sinfo.shm_tot, 3);
	assert_int_equal(sinfo.shm_rss, 0);
	char *p = att(f, b, 0);
	p[0] = 1;
	ctl(f, &f->root, 0, SHM_INFO, &sinfo);
	assert_int_equal(sinfo.shm_rss, 1);
	dt(f, p);
	/* SHM_STAT: read permission; SHM_STAT_ANY: none.  */
	assert_int_equal(ctl(f, &f->root, 1, SHM_STAT, &ds), b);
	assert_int_equal(ds.shm_segsz, 5000);
	assert_int_equal(ctl(f, &f->other, 1, SHM_STAT, &ds), -EACCES);
	assert_int_equal(ctl(f, &f->other, 1, SHM_STAT_ANY, &ds), b);
	assert_int_equal(ctl(f, &f->other, b, IPC_STAT, &ds), -EACCES);
	assert_int_equal(ctl(f, &f->root, 2, SHM_STAT, &ds), -EINVAL);
	/* Errors.  */
	assert_int_equal(ctl(f, &f->root, a, IPC_STAT, (void *)FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->root, 0, IPC_INFO, (void *)FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->root, a + 32768, IPC_SET, (void *)FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->root, a, IPC_STAT | 0x100, &ds), -EINVAL);
	assert_int_equal(ctl(f, &f->root, a, 99, &ds), -EINVAL);
	assert_int_equal(ctl(f, &f->root, -1, IPC_INFO, &si), -EINVAL);
	assert_int_equal(ctl(f, &f->root, a, -1, &si), -EINVAL);
	/* IPC_SET.  */
	f->now = 5000;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = 7;
	ds.shm_perm.gid = 8;
	ds.shm_perm.mode = 0xffff;
	assert_int_equal(ctl(f, &f->other, a, IPC_SET, &ds), -EPERM);
	assert_int_equal(ctl(f, &f->root, a, IPC_SET, &ds), 0);
	ds = st(f, a);
	assert_int_equal(ds.shm_perm.uid, 7);
	assert_int_equal(ds.shm_perm.gid, 8);
	assert_int_equal(ds.shm_perm.cuid, 0);
	assert_int_equal(ds.shm_perm.mode, 0777);
	assert_int_equal(ds.shm_ctime, 5000);
	ds.shm_perm.uid = (uid_t)-1;
	assert_int_equal(ctl(f, &f->root, a, IPC_SET, &ds), -EINVAL);
}

static void test_lock(void **state)
{
	struct fixture *f = *state;
	int a = mk(f, 600 * 1024), b = mk(f, 600 * 1024), c = mk(f, 8192);
	give(f, a, 1000);
	give(f, b, 1000);
	assert_int_equal(ctl(f, &f->root, c, SHM_LOCK, NULL), 0);
	assert_int_equal(st(f, c).shm_perm.mode, 0600 | SHM_LOCKED);
	assert_int_equal(ctl(f, &f->root, c, SHM_UNLOCK, NULL), 0);
	assert_int_equal(st(f, c).shm_perm.mode, 0600);
	/* Not the owner.  */
	assert_int_equal(ctl(f, &f->user, c, SHM_LOCK, NULL), -EPERM);
	assert_int_equal(ctl(f, &f->user, c, SHM_UNLOCK, NULL), -EPERM);
	/* No allowance: EPERM for SHM_LOCK only.  */
	f->user.memlock = 0;
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), -EPERM);
	assert_int_equal(ctl(f, &f->user, a, SHM_UNLOCK, NULL), 0);
	/* 1 MiB: the pages add up.  */
	f->user.memlock = 1 << 20;
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, b, SHM_LOCK, NULL), -ENOMEM);
	assert_int_equal(st(f, b).shm_perm.mode, 0600);
	/* Root's lock of a segment charges root, not the user.  */
	assert_int_equal(ctl(f, &f->root, a, SHM_UNLOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, b, SHM_LOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->root, a, SHM_LOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, b, SHM_UNLOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, b, SHM_LOCK, NULL), 0);
	/* Destroyed: uncharged.  */
	assert_int_equal(ctl(f, &f->root, b, IPC_RMID, NULL), 0);
	assert_int_equal(ctl(f, &f->root, a, SHM_UNLOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), 0);
	/* In whole pages: a limit one byte short of a page less.  */
	f->user.memlock = 600 * 1024 + 4095;
	assert_int_equal(ctl(f, &f->user, a, SHM_UNLOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), 0);
	f->user.memlock = 600 * 1024 - 1;
	assert_int_equal(ctl(f, &f->user, a, SHM_UNLOCK, NULL), 0);
	assert_int_equal(ctl(f, &f->user, a, SHM_LOCK, NULL), -ENOMEM);
	/* CAP_IPC_LOCK: no owner check, no limit.  */
	struct fake_proc locker;
	fake_proc_init(&locker, 3000, CAP(IPCNS_CAP_IPC_LOCK), getpid(), &f->all);
	locker.memlock = 0;
	assert_int_equal(ctl(f, &locker, a, SHM_LOCK, NULL), 0);
	assert_int_equal(st(f, a).shm_perm.mode, 0600 | SHM_LOCKED);
}

/* ---- Quotas.  */

static void test_quota_bytes(void **state)
{
	struct fixture *f = *state;
	/* 3 pages of quota, counted in whole pages.  */
	int a = mk(f, 4097);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 4097, 0600), -ENOSPC);
	assert_int_equal(f->hits, 1);
	int b = mk(f, 1);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 1, 0600), -ENOSPC);
	/* Removed while attached: still counted until destroyed.  */
	char *p = att(f, a, 0);
	ctl(f, &f->root, a, IPC_RMID, NULL);
	assert_int_equal(get(f, &f->root, IPC_PRIVATE, 1, 0600), -ENOSPC);
	dt(f, p);
	int c = mk(f, 8192);
	ctl(f, &f->root, b, IPC_RMID, NULL);
	ctl(f, &f->root, c, IPC_RMID, NULL);
	assert_int_equal(mk(f, 3 * 4096) >= 0, 1);
}

static void test_quota_objects(void **state)
{
	struct fixture *f = *state;
	assert_true(get(f, &f->user, IPC_PRIVATE, 1, 0600) >= 0);
	long b = get(f, &f->user, IPC_PRIVATE, 1, 0600);
	assert_true(b >= 0);
	assert_int_equal(get(f, &f->user, IPC_PRIVATE, 1, 0600), -ENOSPC);
	/* Another uid has its own.  */
	assert_true(get(f, &f->other, IPC_PRIVATE, 1, 0600) >= 0);
	/* An existing key is still found.  */
	ctl(f, &f->user, (int)b, IPC_RMID, NULL);
	assert_true(get(f, &f->user, 99, 1, IPC_CREAT | 0600) >= 0);
	assert_true(get(f, &f->user, 99, 1, IPC_CREAT | 0600) >= 0);
	assert_int_equal(get(f, &f->user, 98, 1, IPC_CREAT | 0600), -ENOSPC);
	/* The creator is charged, not the owner: giving the segment away
	 * frees nothing.  */
	give(f, (int)get(f, &f->user, 99, 0, 0), 5);
	assert_int_equal(get(f, &f->user, 98, 1, IPC_CREAT | 0600), -ENOSPC);
}

/* ---- Fork, exit, exec.  */

static void test_fork_exit(void **state)
{
	struct fixture *f = *state;
	int id = mk(f, 4096);
	f->now = 2000;
	char *p = att(f, id, 0);
	/* Fork: the child's copy counts; shm_lpid is the parent.  */
	f->now = 3000;
	struct vproc *c = vfork_child(f, 900001, 50);
	ipcns_ns_process_fork(f->ns, getpid(), 900001);
	struct shmid_ds ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 2);
	assert_int_equal(ds.shm_lpid, 1);
	assert_int_equal(ds.shm_atime, 3000);
	assert_int_equal(f->nwatched > 0 && f->watched[f->nwatched - 1] == 900001, 1);
	/* A second fork event for the same child changes nothing.  */
	ipcns_ns_process_fork(f->ns, getpid(), 900001);
	assert_int_equal(st(f, id).shm_nattch, 2);
	/* Exit: gone with shm_lpid = the child.  */
	f->now = 4000;
	vgone(c);
	ipcns_ns_process_exit(f->ns, 900001);
	ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(ds.shm_lpid, 50);
	assert_int_equal(ds.shm_dtime, 4000);
	/* Exec: the same.  */
	c = vfork_child(f, 900002, 51);
	ipcns_ns_process_fork(f->ns, getpid(), 900002);
	assert_int_equal(st(f, id).shm_nattch, 2);
	f->now = 5000;
	c->nv = 0;
	ipcns_ns_process_exec(f->ns, 900002);
	ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(ds.shm_lpid, 51);
	assert_int_equal(ds.shm_dtime, 5000);
	/* Its exit after exec changes nothing more.  */
	f->now = 6000;
	vgone(c);
	ipcns_ns_process_exit(f->ns, 900002);
	ds = st(f, id);
	assert_int_equal(ds.shm_lpid, 51);
	assert_int_equal(ds.shm_dtime, 5000);
	/* A fork the events missed is found by the look at the maps: an
	 * attach by fork, in the parent.  */
	f->now = 7000;
	c = vfork_child(f, 900003, 52);
	ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 2);
	assert_int_equal(ds.shm_lpid, 1);
	assert_int_equal(ds.shm_atime, 7000);
	/* And an exit the events missed: a detach by the child.  */
	f->now = 8000;
	vgone(c);
	ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(ds.shm_lpid, 52);
	assert_int_equal(ds.shm_dtime, 8000);
	dt(f, p);
	/* A fork of a process without attaches: nothing.  */
	c = vfork_child(f, 900004, 53);
	ipcns_ns_process_fork(f->ns, getpid(), 900004);
	assert_int_equal(st(f, id).shm_nattch, 0);
	vgone(c);
}

/* IPC_RMID, the parent detaches, the child holds it: destroyed when the
 * child exits, or at a reap when the exit went unseen.  */
static void test_rmid_child(void **state)
{
	struct fixture *f = *state;
	int id = mk(f, 4096);
	char *p = att(f, id, 0);
	struct vproc *c = vfork_child(f, 900001, 50);
	ipcns_ns_process_fork(f->ns, getpid(), 900001);
	ctl(f, &f->root, id, IPC_RMID, NULL);
	assert_int_equal(dt(f, p), 0);
	struct shmid_ds ds = st(f, id);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(ds.shm_perm.mode, 0600 | SHM_DEST);
	vgone(c);
	ipcns_ns_process_exit(f->ns, 900001);
	assert_true(gone(f, id));
	assert_int_equal(info(f).used_ids, 0);

	id = mk(f, 4096);
	p = att(f, id, 0);
	c = vfork_child(f, 900002, 51);
	ipcns_ns_process_fork(f->ns, getpid(), 900002);
	ctl(f, &f->root, id, IPC_RMID, NULL);
	assert_int_equal(dt(f, p), 0);
	struct ipcns_usage u;
	ipcns_ns_usage(f->ns, &u);
	assert_int_equal(u.shm_ids, 1);
	vgone(c);
	ipcns_ns_shm_reap(f->ns);
	ipcns_ns_usage(f->ns, &u);
	assert_int_equal(u.shm_ids, 0);
}

/* ---- shm_rmid_forced.  */

static void test_forced(void **state)
{
	struct fixture *f = *state;
	/* Detached to zero: destroyed, creator alive.  */
	int a = mk(f, 4096);
	char *p = att(f, a, 0);
	assert_false(gone(f, a));
	dt(f, p);
	assert_true(gone(f, a));
	/* Never attached, creator alive: stays; the creator exits: gone.  */
	struct fake_proc creator;
	fake_proc_init(&creator, 0, ALL_CAPS, 900005, &f->all);
	long b = get(f, &creator, IPC_PRIVATE, 4096, 0600);
	assert_true(b >= 0);
	ipcns_ns_process_exit(f->ns, getpid());
	assert_false(gone(f, (int)b));
	ipcns_ns_process_exit(f->ns, 900005);
	assert_true(gone(f, (int)b));
	/* A shmat failing after the lookup destroys an unattached one; one
	 * failing before does not.  */
	int c = mk(f, 2 * 4096);
	void *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_int_equal(at(f, &f->root, c, (char *)anon + 1, 0), -EINVAL);
	assert_false(gone(f, c));
	assert_int_equal(at(f, &f->other, c, NULL, 0), -EACCES);
	assert_false(gone(f, c));
	assert_int_equal(at(f, &f->root, c, anon, 0), -EINVAL);
	assert_true(gone(f, c));
	/* An attached one survives a failed shmat.  */
	int d = mk(f, 2 * 4096);
	p = att(f, d, 0);
	assert_int_equal(at(f, &f->root, d, anon, 0), -EINVAL);
	assert_false(gone(f, d));
	dt(f, p);
	assert_true(gone(f, d));
	munmap(anon, 4096);
}

/* ---- Host view and teardown.  */

static int count_obj(void *arg, const struct ipcns_obj_info *oi)
{
	int *n = arg;
	(*n)++;
	assert_int_equal(oi->kind, IPCNS_SHM);
	return 0;
}

static void test_host_view(void **state)
{
	struct fixture *f = *state;
	int a = mk(f, 4096);
	mk(f, 100);
	char *p = att(f, a, 0);
	int n = 0;
	assert_int_equal(ipcns_ns_foreach(f->ns, IPCNS_SHM, count_obj, &n), 0);
	assert_int_equal(n, 2);
	/* Removal from the host: no permission check, SHM_DEST if attached.  */
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_SHM, a), 0);
	assert_int_equal(st(f, a).shm_perm.mode, 0600 | SHM_DEST);
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_SHM, a + 32768), -EINVAL);
	/* Freeing the namespace closes its memfds; the mapping keeps the
	 * memory.  */
	strcpy(p, "kept");
	ipcns_ns_free(f->ns);
	f->ns = ipcns_ns_new(NULL, &fx_host, f);
	assert_string_equal(p, "kept");
	munmap(p, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overcommit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_limits, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_bytes, setup_quota, teardown),
		cmocka_unit_test_setup_teardown(test_quota_objects, setup_quota, teardown),
		cmocka_unit_test_setup_teardown(test_fork_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmid_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced, setup_forced, teardown),
		cmocka_unit_test_setup_teardown(test_host_view, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
