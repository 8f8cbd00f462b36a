/* SPDX-License-Identifier: MIT */
/* Unit tests of the permission checks (plugin/lib/ipc/util.c): Linux's
 * ipcperms() with owner, group (fsgid or supplementary groups, uid or
 * creator) and other classes and CAP_IPC_OWNER, the fast path that does
 * not read the caller's credentials when every class grants, the owner
 * check of IPC_SET/IPC_RMID with CAP_SYS_ADMIN, ipc_update_perm(),
 * ipcget()'s order of errors, and the per-uid object quota.  The caller
 * counts how often each of its credential operations is used.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <cmocka.h>

#include "core.h"

#define CAP(n) (1ULL << (n))

struct counting {
	struct ipcns_caller c; /* first */
	struct ipcns_cred cred;
	int n_cred, n_ids, n_caps;
	int fail; /* -errno every operation returns, 0 = none */
};

static int cnt_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct counting *k = (struct counting *)c;
	k->n_cred++;
	if (k->fail)
		return k->fail;
	*out = k->cred;
	return 0;
}

static int cnt_ids(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct counting *k = (struct counting *)c;
	k->n_ids++;
	if (k->fail)
		return k->fail;
	out->euid = k->cred.euid;
	out->egid = k->cred.egid;
	out->fsgid = k->cred.fsgid;
	return 0;
}

static int cnt_caps(struct ipcns_caller *c, uint64_t *caps, bool *userns)
{
	struct counting *k = (struct counting *)c;
	k->n_caps++;
	if (k->fail)
		return k->fail;
	*caps = k->cred.cap_effective;
	*userns = k->cred.userns;
	return 0;
}

static const struct ipcns_caller_ops cnt_ops = {
	.cred = cnt_cred,
	.ids = cnt_ids,
	.caps = cnt_caps,
};

/* A fresh call by a caller: nothing cached.  */
static struct ipcns_caller *call(struct counting *k)
{
	k->c.ops = &cnt_ops;
	k->c.have_cred = k->c.have_ids = k->c.have_caps = k->c.have_pids = false;
	memset(&k->c.cred, 0, sizeof(k->c.cred));
	k->n_cred = k->n_ids = k->n_caps = 0;
	return &k->c;
}

static struct counting who(uid_t uid, gid_t gid, uint64_t caps)
{
	struct counting k;
	memset(&k, 0, sizeof(k));
	k.cred.euid = uid;
	k.cred.egid = gid;
	k.cred.fsgid = gid;
	k.cred.cap_effective = caps;
	return k;
}

/* Owner 1000:1000, creator 3000:3000.  */
static struct ipcns_perm perm(unsigned int mode)
{
	struct ipcns_perm p;
	memset(&p, 0, sizeof(p));
	p.uid = 1000;
	p.gid = 1000;
	p.cuid = 3000;
	p.cgid = 3000;
	p.mode = mode;
	return p;
}

static void test_fast_path(void **state)
{
	struct counting k = who(5, 5, 0);
	struct ipcns_perm p = perm(0666);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0666), 0);
	assert_int_equal(k.n_cred + k.n_ids + k.n_caps, 0);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0), 0);
	assert_int_equal(k.n_cred + k.n_ids + k.n_caps, 0);
	p = perm(0444);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), 0);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0044), 0);
	assert_int_equal(k.n_cred + k.n_ids + k.n_caps, 0);
	/* Not every class grants: the ids are read.  */
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0200), -EACCES);
	assert_int_equal(k.n_ids, 1);
	/* Mode 0000 and nothing asked: granted without a look.  */
	p = perm(0);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0), 0);
	assert_int_equal(k.n_cred + k.n_ids + k.n_caps, 0);
	/* Flags of a *get call outside the permission bits ask for
	 * nothing (IPC_CREAT | IPC_EXCL | SHM_RDONLY).  */
	assert_int_equal(ipcns_ipcperms(call(&k), &p, IPC_CREAT | IPC_EXCL | SHM_RDONLY), 0);
	assert_int_equal(k.n_cred + k.n_ids + k.n_caps, 0);
}

struct perm_case {
	uid_t uid;
	gid_t fsgid;
	int ngroups;
	gid_t groups[3];
	uint64_t caps;
	unsigned int mode;
	int flag;
	int err;
};

static const struct perm_case perm_cases[] = {
	/* Owner by uid, by creator uid.  */
	{ 1000, 1, 0, { 0 }, 0, 0600, 0600, 0 },
	{ 3000, 1, 0, { 0 }, 0, 0600, 0600, 0 },
	{ 1000, 1, 0, { 0 }, 0, 0400, 0600, -EACCES },
	{ 1000, 1, 0, { 0 }, 0, 0600, 0100, -EACCES },
	/* The owner class does not fall through to group or other.  */
	{ 1000, 1000, 0, { 0 }, 0, 0077, 0400, -EACCES },
	{ 3000, 3000, 0, { 0 }, 0, 0077, 0004, -EACCES },
	/* Group by fsgid: gid or creator gid.  */
	{ 5, 1000, 0, { 0 }, 0, 0060, 0600, 0 },
	{ 5, 3000, 0, { 0 }, 0, 0060, 0600, 0 },
	{ 5, 1000, 0, { 0 }, 0, 0640, 0600, -EACCES },
	{ 5, 1000, 0, { 0 }, 0, 0604, 0400, -EACCES },
	/* Group by a supplementary group.  */
	{ 5, 7, 3, { 8, 9, 1000 }, 0, 0060, 0600, 0 },
	{ 5, 7, 1, { 3000 }, 0, 0040, 0400, 0 },
	{ 5, 7, 2, { 8, 9 }, 0, 0060, 0600, -EACCES },
	{ 5, 7, 1, { 1000 }, 0, 0604, 0004, -EACCES },
	/* Other.  */
	{ 5, 7, 0, { 0 }, 0, 0006, 0600, 0 },
	{ 5, 7, 0, { 0 }, 0, 0660, 0400, -EACCES },
	{ 0, 0, 0, { 0 }, 0, 0660, 0400, -EACCES },
	/* CAP_IPC_OWNER overrides every class.  */
	{ 5, 7, 0, { 0 }, CAP(IPCNS_CAP_IPC_OWNER), 0000, 0777, 0 },
	{ 1000, 7, 0, { 0 }, CAP(IPCNS_CAP_IPC_OWNER), 0000, 0600, 0 },
	{ 5, 7, 0, { 0 }, CAP(IPCNS_CAP_SYS_ADMIN), 0000, 0400, -EACCES },
	{ 5, 7, 0, { 0 }, ~CAP(IPCNS_CAP_IPC_OWNER), 0000, 0400, -EACCES },
};

static void test_classes(void **state)
{
	for (size_t i = 0; i < sizeof(perm_cases) / sizeof(perm_cases[0]); i++) {
		const struct perm_case *c = &perm_cases[i];
		struct counting k = who(c->uid, c->fsgid, c->caps);
		k.cred.egid = 424242; /* the egid does not count, the fsgid does */
		k.cred.ngroups = c->ngroups;
		memcpy(k.cred.groups, c->groups, sizeof(c->groups));
		struct ipcns_perm p = perm(c->mode);
		int r = ipcns_ipcperms(call(&k), &p, c->flag);
		if (r != c->err)
			fail_msg("case %zu: %d, want %d", i, r, c->err);
	}
}

/* What is read, and only when needed.  */
static void test_reads(void **state)
{
	struct ipcns_perm p = perm(0600);
	struct counting k = who(1000, 1, 0);
	/* The owner, granted: ids only.  */
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), 0);
	assert_int_equal(k.n_ids, 1);
	assert_int_equal(k.n_cred + k.n_caps, 0);
	/* Denied: the capabilities too, never the full credentials.  */
	k = who(5, 7, 0);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), -EACCES);
	assert_int_equal(k.n_ids, 1);
	assert_int_equal(k.n_caps, 1);
	assert_int_equal(k.n_cred, 0);
	/* Group and other grant the same: the groups do not matter.  */
	p = perm(0644);
	k = who(5, 7, 0);
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), 0);
	assert_int_equal(k.n_cred, 0);
	/* They differ and the fsgid is no match: the groups are read.  */
	p = perm(0640);
	k = who(5, 7, 0);
	k.cred.ngroups = 1;
	k.cred.groups[0] = 1000;
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), 0);
	assert_int_equal(k.n_cred, 1);
	/* A cached read is not repeated within one call.  */
	struct ipcns_caller *c = call(&k);
	assert_int_equal(ipcns_ipcperms(c, &p, 0400), 0);
	assert_int_equal(ipcns_ipcperms(c, &p, 0200), -EACCES);
	assert_int_equal(k.n_cred, 1);
	assert_int_equal(k.n_caps, 0);
	/* An error reading them is the answer.  */
	k = who(5, 7, 0);
	k.fail = -ENOENT;
	assert_int_equal(ipcns_ipcperms(call(&k), &p, 0400), -ENOENT);
	/* Without a cheap ids operation, the full credentials are read.  */
	static const struct ipcns_caller_ops cred_only = { .cred = cnt_cred };
	k = who(1000, 1, 0);
	c = call(&k);
	c->ops = &cred_only;
	assert_int_equal(ipcns_ipcperms(c, &p, 0400), 0);
	assert_int_equal(k.n_cred, 1);
}

static void test_owner(void **state)
{
	struct ipcns_perm p = perm(0);
	struct counting k = who(1000, 1, 0);
	assert_int_equal(ipcns_check_owner(call(&k), &p), 0);
	assert_int_equal(k.n_caps, 0);
	k = who(3000, 1, 0);
	assert_int_equal(ipcns_check_owner(call(&k), &p), 0);
	/* Group membership does not make an owner.  */
	k = who(5, 1000, 0);
	assert_int_equal(ipcns_check_owner(call(&k), &p), -EPERM);
	k = who(0, 0, ~CAP(IPCNS_CAP_SYS_ADMIN));
	assert_int_equal(ipcns_check_owner(call(&k), &p), -EPERM);
	k = who(5, 5, CAP(IPCNS_CAP_SYS_ADMIN));
	assert_int_equal(ipcns_check_owner(call(&k), &p), 0);
	/* CAP_IPC_OWNER is not enough for IPC_SET or IPC_RMID.  */
	k = who(5, 5, CAP(IPCNS_CAP_IPC_OWNER));
	assert_int_equal(ipcns_check_owner(call(&k), &p), -EPERM);
	k.fail = -ESRCH;
	assert_int_equal(ipcns_check_owner(call(&k), &p), -ESRCH);
}

static void test_ctl_obtain(void **state)
{
	struct ipcns_ids ids;
	struct ipcns_perm p, *out = NULL;
	struct ipcns_cred cred = { .euid = 1000, .egid = 1000, .fsgid = 1000 };
	ipcns_ids_init(&ids);
	memset(&p, 0, sizeof(p));
	int id = ipcns_ids_add(&ids, &p, 10, &cred);
	struct counting k = who(5, 5, 0);
	/* The lookup comes first: EINVAL, and no credential read.  */
	assert_int_equal(ipcns_ctl_obtain_check(&ids, call(&k), id + 1, &out), -EINVAL);
	assert_int_equal(ipcns_ctl_obtain_check(&ids, call(&k), id + 32768, &out), -EINVAL);
	assert_int_equal(k.n_ids + k.n_cred + k.n_caps, 0);
	assert_int_equal(ipcns_ctl_obtain_check(&ids, call(&k), id, &out), -EPERM);
	k = who(1000, 5, 0);
	assert_int_equal(ipcns_ctl_obtain_check(&ids, call(&k), id, &out), 0);
	assert_ptr_equal(out, &p);
	ipcns_ids_destroy(&ids);
}

static void test_update_perm(void **state)
{
	struct counting k = who(5, 5, 0);
	struct ipcns_caller *c = call(&k);
	struct ipcns_perm p = perm(0600 | SHM_DEST | SHM_LOCKED);
	assert_int_equal(ipcns_update_perm(c, &p, 7, 8, 0xffff), 0);
	assert_int_equal(p.uid, 7);
	assert_int_equal(p.gid, 8);
	assert_int_equal(p.mode, 0777 | SHM_DEST | SHM_LOCKED);
	assert_int_equal(p.cuid, 3000);
	assert_int_equal(ipcns_update_perm(c, &p, 9, 9, 0), 0);
	assert_int_equal(p.mode, SHM_DEST | SHM_LOCKED);
	/* (uid_t)-1 and (gid_t)-1 are not ids: nothing changes.  */
	assert_int_equal(ipcns_update_perm(c, &p, (uid_t)-1, 1, 0644), -EINVAL);
	assert_int_equal(ipcns_update_perm(c, &p, 1, (gid_t)-1, 0644), -EINVAL);
	assert_int_equal(p.uid, 9);
	assert_int_equal(p.gid, 9);
	assert_int_equal(p.mode, SHM_DEST | SHM_LOCKED);
	/* Other large ids are fine.  */
	assert_int_equal(ipcns_update_perm(c, &p, (uid_t)-2, (gid_t)-2, 0), 0);
	assert_int_equal(p.uid, (uid_t)-2);
}

static void test_user_layout(void **state)
{
	struct ipcns_perm p = perm(0640 | SHM_DEST);
	p.key = -5;
	p.seq = 77;
	struct ipcns_ipc64_perm u;
	struct counting k = who(5, 5, 0);
	memset(&u, 0xa5, sizeof(u));
	assert_int_equal(ipcns_perm_to_user(NULL, call(&k), &p, &u), 0);
	assert_int_equal(u.key, -5);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_int_equal(u.cuid, 3000);
	assert_int_equal(u.cgid, 3000);
	assert_int_equal(u.mode, 0640 | SHM_DEST);
	assert_int_equal(u.seq, 77);
	assert_int_equal(u.pad1, 0);
	assert_int_equal(u.pad2, 0);
	assert_int_equal(u.unused1, 0);
	assert_int_equal(u.unused2, 0);
	/* The kernel's struct ipc64_perm is glibc's struct ipc_perm.  */
	assert_int_equal(sizeof(u), sizeof(struct ipc_perm));
	uid_t uid;
	gid_t gid;
	unsigned int mode;
	u.uid = 11;
	u.gid = 12;
	u.mode = 0xffff;
	ipcns_perm_from_user(&u, &uid, &gid, &mode);
	assert_int_equal(uid, 11);
	assert_int_equal(gid, 12);
	assert_int_equal(mode, 0xffff);
}

/* A caller in a user namespace whose uids 0..999 are host 100000..,
 * gids 0..9 host 200000.., or whose maps are not written yet.  */
static int mapped_idmaps(struct ipcns_caller *c, struct ipcns_idmap *um, struct ipcns_idmap *gm)
{
	struct counting *k = (struct counting *)c;
	if (k->fail)
		return k->fail;
	memset(um, 0, sizeof(*um));
	memset(gm, 0, sizeof(*gm));
	if (k->cred.userns) {
		assert_int_equal(ipcns_idmap_parse(um, "         0     100000       1000\n"), 0);
		assert_int_equal(ipcns_idmap_parse(gm, "0 200000 10\n20 300000 1\n"), 0);
	}
	return 1;
}

static long long overflow_ids(void *host, enum ipcns_vm what)
{
	return what == IPCNS_VM_OVERFLOW_UID ? 65533 : what == IPCNS_VM_OVERFLOW_GID ? 65532 : -1;
}

static void test_userns_ids(void **state)
{
	static const struct ipcns_caller_ops ops = { .ids = cnt_ids, .idmaps = mapped_idmaps };
	static const struct ipcns_host_ops host = { .vm_read = overflow_ids };
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	struct ipcns_ns *ns = ipcns_ns_new(&l, &host, NULL);
	assert_non_null(ns);
	struct counting k = who(100000, 200000, 0);
	k.cred.userns = true;
	k.c.ops = &ops;
	struct ipcns_perm p = perm(0600);
	p.cuid = 100000;
	p.cgid = 200000;
	/* IPC_SET takes the caller's ids and keeps host ids.  */
	assert_int_equal(ipcns_update_perm(&k.c, &p, 5, 20, 0640), 0);
	assert_int_equal(p.uid, 100005);
	assert_int_equal(p.gid, 300000);
	assert_int_equal(p.mode, 0640);
	/* make_kuid() of an id the namespace does not map: EINVAL, and
	 * nothing changes.  */
	assert_int_equal(ipcns_update_perm(&k.c, &p, 1000, 0, 0600), -EINVAL);
	assert_int_equal(ipcns_update_perm(&k.c, &p, 0, 10, 0600), -EINVAL);
	assert_int_equal(ipcns_update_perm(&k.c, &p, 100005, 0, 0600), -EINVAL);
	assert_int_equal(p.uid, 100005);
	assert_int_equal(p.gid, 300000);
	assert_int_equal(p.mode, 0640);
	/* IPC_STAT shows them in the caller's namespace.  */
	struct ipcns_ipc64_perm u;
	assert_int_equal(ipcns_perm_to_user(ns, &k.c, &p, &u), 0);
	assert_int_equal(u.uid, 5);
	assert_int_equal(u.gid, 20);
	assert_int_equal(u.cuid, 0);
	assert_int_equal(u.cgid, 0);
	/* Host ids it does not map: the machine's overflow ids.  */
	p.uid = 0;
	p.cgid = 200010;
	assert_int_equal(ipcns_perm_to_user(ns, &k.c, &p, &u), 0);
	assert_int_equal(u.uid, 65533);
	assert_int_equal(u.gid, 20);
	assert_int_equal(u.cuid, 0);
	assert_int_equal(u.cgid, 65532);
	/* Maps not written yet: nothing is mapped.  */
	k.cred.userns = false;
	assert_int_equal(ipcns_update_perm(&k.c, &p, 0, 0, 0600), -EINVAL);
	assert_int_equal(ipcns_perm_to_user(ns, &k.c, &p, &u), 0);
	assert_int_equal(u.uid, 65533);
	assert_int_equal(u.cgid, 65532);
	/* The maps cannot be read (the caller died): the call fails.  */
	k.fail = -ENOENT;
	assert_int_equal(ipcns_perm_to_user(ns, &k.c, &p, &u), -ENOENT);
	assert_int_equal(ipcns_update_perm(&k.c, &p, 0, 0, 0600), -ENOENT);
	ipcns_ns_free(ns);
}

static void test_in_group(void **state)
{
	struct ipcns_cred c;
	memset(&c, 0, sizeof(c));
	c.egid = 1;
	c.fsgid = 2;
	assert_true(ipcns_cred_in_group(&c, 2));
	assert_false(ipcns_cred_in_group(&c, 1));
	c.ngroups = 64;
	for (int i = 0; i < 64; i++)
		c.groups[i] = (gid_t)(100 + i);
	assert_true(ipcns_cred_in_group(&c, 163));
	assert_false(ipcns_cred_in_group(&c, 164));
	/* More groups than are kept: only the kept ones are looked at.  */
	c.ngroups = 1000;
	assert_true(ipcns_cred_in_group(&c, 100));
	assert_false(ipcns_cred_in_group(&c, 164));
	assert_true(ipcns_cred_capable(&(struct ipcns_cred){ .cap_effective = CAP(63) }, 63));
	assert_false(ipcns_cred_capable(&(struct ipcns_cred){ .cap_effective = ~0ULL }, 64));
	assert_false(ipcns_cred_capable(&(struct ipcns_cred){ .cap_effective = ~0ULL }, -1));
}

/* ---- ipcget: Linux's order of errors.  */

static int getnew_calls;

static long fake_getnew(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int flg, void *arg)
{
	struct ipcns_perm *p = arg;
	const struct ipcns_cred *cred;
	getnew_calls++;
	int ret = ipcns_caller_cred(c, &cred);
	if (ret < 0)
		return ret;
	p->key = key;
	p->mode = (unsigned int)flg & 0777;
	return ipcns_ids_add(&ns->ids[IPCNS_SHM], p, 10, cred);
}

static int fake_more(struct ipcns_perm *p, int flg, void *arg)
{
	/* IPC_NOWAIT stands for "too large" here.  */
	return (flg & IPC_NOWAIT) ? -EINVAL : 0;
}

static void test_ipcget(void **state)
{
	struct ipcns_ns *ns = ipcns_ns_new(NULL, NULL, NULL);
	assert_non_null(ns);
	static const struct ipcns_get_ops ops = { .getnew = fake_getnew, .more = fake_more };
	struct ipcns_perm objs[4];
	memset(objs, 0, sizeof(objs));
	struct counting owner = who(1000, 1000, 0), other = who(5, 5, 0);
	getnew_calls = 0;
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&owner), 42, 0600, &ops, &objs[0]), -ENOENT);
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&owner), 42, IPC_EXCL | 0600, &ops, &objs[0]), -ENOENT);
	assert_int_equal(getnew_calls, 0);
	long id = ipcns_ipcget(ns, IPCNS_SHM, call(&owner), 42, IPC_CREAT | 0600, &ops, &objs[0]);
	assert_true(id >= 0);
	/* Existing: EEXIST first, then the kind's check, then the
	 * permission.  */
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&other), 42, IPC_CREAT | IPC_EXCL | IPC_NOWAIT | 0600, &ops,
				      &objs[1]),
			 -EEXIST);
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&other), 42, IPC_NOWAIT | 0600, &ops, &objs[1]), -EINVAL);
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&other), 42, 0600, &ops, &objs[1]), -EACCES);
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&other), 42, 0, &ops, &objs[1]), id);
	assert_int_equal(ipcns_ipcget(ns, IPCNS_SHM, call(&owner), 42, IPC_CREAT | 0400, &ops, &objs[1]), id);
	assert_int_equal(getnew_calls, 1);
	/* IPC_PRIVATE: always new, whatever the flags.  */
	long a = ipcns_ipcget(ns, IPCNS_SHM, call(&owner), IPC_PRIVATE, 0, &ops, &objs[2]);
	long b = ipcns_ipcget(ns, IPCNS_SHM, call(&owner), IPC_PRIVATE, IPC_CREAT | IPC_EXCL, &ops, &objs[3]);
	assert_true(a >= 0 && b >= 0 && a != b && a != id);
	assert_int_equal(getnew_calls, 3);
	for (int i = 0; i < 4; i++)
		if (i != 1)
			ipcns_ids_remove(&ns->ids[IPCNS_SHM], &objs[i]);
	ipcns_ns_free(ns);
}

/* ---- The objects-per-uid quota.  */

static int hits;

static void count_hit(void *host, const char *what)
{
	hits++;
}

static void test_uid_quota(void **state)
{
	static const struct ipcns_host_ops host = { .limit_hit = count_hit };
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.quota_objects_per_uid = 2;
	struct ipcns_ns *ns = ipcns_ns_new(&l, &host, NULL);
	assert_non_null(ns);
	hits = 0;
	assert_int_equal(ipcns_uid_quota_take(ns, 1), 0);
	assert_int_equal(ipcns_uid_quota_take(ns, 1), 0);
	assert_int_equal(ipcns_uid_quota_take(ns, 1), -ENOSPC);
	assert_int_equal(hits, 1);
	/* Per uid.  */
	for (uid_t u = 2; u < 20; u++)
		assert_int_equal(ipcns_uid_quota_take(ns, u), 0);
	ipcns_uid_quota_put(ns, 1);
	assert_int_equal(ipcns_uid_quota_take(ns, 1), 0);
	assert_int_equal(ipcns_uid_quota_take(ns, 1), -ENOSPC);
	ipcns_uid_quota_put(ns, 1);
	ipcns_uid_quota_put(ns, 1);
	assert_int_equal(ipcns_uid_quota_take(ns, 1), 0);
	/* Putting what was never taken does nothing.  */
	ipcns_uid_quota_put(ns, 999);
	ipcns_ns_free(ns);

	/* 0 = unlimited.  */
	ns = ipcns_ns_new(NULL, &host, NULL);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ipcns_uid_quota_take(ns, 1), 0);
	ipcns_ns_free(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_ctl_obtain),
		cmocka_unit_test(test_update_perm),
		cmocka_unit_test(test_user_layout),
		cmocka_unit_test(test_userns_ids),
		cmocka_unit_test(test_in_group),
		cmocka_unit_test(test_ipcget),
		cmocka_unit_test(test_uid_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
