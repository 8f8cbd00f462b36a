/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Unit tests of the message queues (plugin/lib/ipc/msg.c) against the core
 * with fake callers: no kernel, no seccomp.  Parked calls are fake
 * waiters whose liveness and delivery the tests control.  */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include <cmocka.h>

#include "core.h"
#include "fake_caller.h"

#define ALL_CAPS (~0ULL)

struct mbuf {
	long mtype;
	char mtext[256];
};

struct fixture {
	struct ipcns_ns *ns;
	struct fake_waiter *all;
	struct fake_proc root, user, other;
	int64_t now;
	int limit_hits;
	char last_hit[256];
};

static int64_t fx_now(void *host)
{
	return ((struct fixture *)host)->now;
}

static void fx_limit_hit(void *host, const char *what)
{
	struct fixture *f = host;
	f->limit_hits++;
	snprintf(f->last_hit, sizeof(f->last_hit), "%s", what);
}

static const struct ipcns_host_ops fx_host_ops = {
	.scan_vmas = fake_host_scan,
	.now = fx_now,
	.limit_hit = fx_limit_hit,
};

static int fx_setup_limits(void **state, const struct ipcns_limits *l)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->now = 1000;
	f->ns = ipcns_ns_new(l, &fx_host_ops, f);
	if (!f->ns) {
		free(f);
		return -1;
	}
	fake_proc_init(&f->root, 0, ALL_CAPS, 100, &f->all);
	fake_proc_init(&f->user, 1000, 0, 200, &f->all);
	fake_proc_init(&f->other, 2000, 0, 300, &f->all);
	f->user.ns_tgid = 20;
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_limits(state, NULL);
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(fake_ns_free(f->ns, &f->all), 0);
	free(f);
	return 0;
}

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static int mkq(struct fixture *f, struct fake_proc *p, int mode)
{
	long id = ipcns_msgget(f->ns, fake_call(p), IPC_PRIVATE, IPC_CREAT | mode);
	assert_true(id >= 0);
	return (int)id;
}

static long snd(struct fixture *f, struct fake_proc *p, int id, long type, const char *text, size_t len, int flg)
{
	struct mbuf b;
	memset(&b, 0, sizeof(b));
	b.mtype = type;
	if (text)
		memcpy(b.mtext, text, len);
	return ipcns_msgsnd(f->ns, fake_call(p), id, A(&b), len, flg);
}

static long rcv(struct fixture *f, struct fake_proc *p, int id, struct mbuf *b, size_t sz, long type, int flg)
{
	memset(b, 0, sizeof(*b));
	return ipcns_msgrcv(f->ns, fake_call(p), id, A(b), sz, type, flg);
}

static struct msqid_ds stat_q(struct fixture *f, int id)
{
	struct msqid_ds ds;
	memset(&ds, 0xa5, sizeof(ds));
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_STAT, A(&ds)), 0);
	return ds;
}

static struct ipcns_usage usage(struct fixture *f)
{
	struct ipcns_usage u;
	ipcns_ns_usage(f->ns, &u);
	return u;
}

/* ---- msgget.  */

static void test_get(void **state)
{
	struct fixture *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);

	assert_int_equal(ipcns_msgget(f->ns, c, 1234, 0600), -ENOENT);
	long id = ipcns_msgget(f->ns, c, 1234, IPC_CREAT | 0600);
	assert_true(id >= 0);
	assert_int_equal(ipcns_msgget(f->ns, c, 1234, 0), id);
	assert_int_equal(ipcns_msgget(f->ns, c, 1234, IPC_CREAT), id);
	assert_int_equal(ipcns_msgget(f->ns, c, 1234, IPC_CREAT | IPC_EXCL), -EEXIST);
	/* Private keys always create.  */
	long p1 = ipcns_msgget(f->ns, c, IPC_PRIVATE, 0);
	long p2 = ipcns_msgget(f->ns, c, IPC_PRIVATE, IPC_CREAT | IPC_EXCL);
	assert_true(p1 >= 0 && p2 >= 0 && p1 != p2 && p1 != id);

	/* Owner root, mode 0600: another uid may not open it; 0 asks for
	 * nothing.  */
	assert_int_equal(ipcns_msgget(f->ns, fake_call(&f->user), 1234, 0400), -EACCES);
	assert_int_equal(ipcns_msgget(f->ns, fake_call(&f->user), 1234, 0), id);

	struct msqid_ds ds = stat_q(f, (int)id);
	assert_int_equal(ds.msg_perm.__key, 1234);
	assert_int_equal(ds.msg_perm.mode, 0600);
	assert_int_equal(ds.msg_qbytes, IPCNS_MSGMNB);
	assert_int_equal(ds.msg_qnum, 0);
	assert_int_equal(ds.msg_stime, 0);
	assert_int_equal(ds.msg_rtime, 0);
	assert_int_equal(ds.msg_ctime, 1000);
	assert_int_equal(ds.msg_lspid, 0);
	assert_int_equal(ds.msg_lrpid, 0);
}

static int fx_setup_small(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.msgmni = 3;
	l.quota_objects_per_uid = 2;
	return fx_setup_limits(state, &l);
}

static void test_get_limits(void **state)
{
	struct fixture *f = *state;

	/* Two per uid.  */
	assert_true(ipcns_msgget(f->ns, fake_call(&f->user), IPC_PRIVATE, 0600) >= 0);
	long u2 = ipcns_msgget(f->ns, fake_call(&f->user), IPC_PRIVATE, 0600);
	assert_true(u2 >= 0);
	assert_int_equal(ipcns_msgget(f->ns, fake_call(&f->user), IPC_PRIVATE, 0600), -ENOSPC);
	assert_int_equal(f->limit_hits, 1);
	/* MSGMNI = 3.  */
	assert_true(ipcns_msgget(f->ns, fake_call(&f->root), IPC_PRIVATE, 0600) >= 0);
	assert_int_equal(ipcns_msgget(f->ns, fake_call(&f->root), 77, IPC_CREAT | 0600), -ENOSPC);
	/* Removing one gives its uid's share back.  */
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), (int)u2, IPC_RMID, 0), 0);
	assert_true(ipcns_msgget(f->ns, fake_call(&f->user), IPC_PRIVATE, 0600) >= 0);
}

/* ---- Selection.  */

static void fill_types(struct fixture *f, int id, const long *types, int n)
{
	for (int i = 0; i < n; i++) {
		char t[8];
		int len = snprintf(t, sizeof(t), "m%d", i);
		assert_int_equal(snd(f, &f->root, id, types[i], t, (size_t)len, IPC_NOWAIT), 0);
	}
}

static void expect(struct fixture *f, int id, long type, int flg, long want_type, const char *want_text)
{
	struct mbuf b;
	long n = rcv(f, &f->root, id, &b, sizeof(b.mtext), type, flg | IPC_NOWAIT);
	assert_int_equal(n, (long)strlen(want_text));
	assert_int_equal(b.mtype, want_type);
	assert_memory_equal(b.mtext, want_text, (size_t)n);
}

static void test_select(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	static const long types[] = { 5, 3, 7, 3, 1, 9, 2 };
	struct mbuf b;

	fill_types(f, id, types, 7);
	/* > 0: the first of that type.  */
	expect(f, id, 3, 0, 3, "m1");
	/* MSG_EXCEPT: the first not of that type.  */
	expect(f, id, 5, MSG_EXCEPT, 7, "m2");
	/* < 0: the first of the lowest type <= |msgtyp|.  */
	expect(f, id, -4, 0, 1, "m4");
	expect(f, id, -4, 0, 2, "m6");
	expect(f, id, -4, 0, 3, "m3");
	assert_int_equal(rcv(f, &f->root, id, &b, 64, -4, IPC_NOWAIT), -ENOMSG);
	/* 0: the first.  */
	expect(f, id, 0, 0, 5, "m0");
	/* MSG_EXCEPT with 0 is plain 0; LONG_MIN reads as LONG_MAX.  */
	expect(f, id, LONG_MIN, 0, 9, "m5");
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, IPC_NOWAIT | MSG_EXCEPT), -ENOMSG);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 3, IPC_NOWAIT), -ENOMSG);
	assert_int_equal(usage(f).msg_count, 0);
}

static void test_copy(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	static const long types[] = { 4, 8, 6 };
	struct mbuf b;

	fill_types(f, id, types, 3);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, MSG_COPY), -EINVAL);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT), -EINVAL);
	/* By position, from 0, whatever the types; nothing removed.  */
	expect(f, id, 2, MSG_COPY, 6, "m2");
	expect(f, id, 0, MSG_COPY, 4, "m0");
	expect(f, id, 1, MSG_COPY, 8, "m1");
	expect(f, id, 1, MSG_COPY, 8, "m1");
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 3, MSG_COPY | IPC_NOWAIT), -ENOMSG);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, -1, MSG_COPY | IPC_NOWAIT), -ENOMSG);
	/* Too small: E2BIG, and with MSG_NOERROR copy_msg's EINVAL.  */
	assert_int_equal(rcv(f, &f->root, id, &b, 1, 0, MSG_COPY | IPC_NOWAIT), -E2BIG);
	assert_int_equal(rcv(f, &f->root, id, &b, 1, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR), -EINVAL);
	/* A bad buffer is EFAULT before the queue is looked up.  */
	assert_int_equal(ipcns_msgrcv(f->ns, fake_call(&f->root), id + 1, FAKE_BAD_ADDR, 64, 0, MSG_COPY | IPC_NOWAIT),
			 -EFAULT);
	assert_int_equal(ipcns_msgrcv(f->ns, fake_call(&f->root), id + 1, A(&b), 64, 0, MSG_COPY | IPC_NOWAIT),
			 -EINVAL);
	struct msqid_ds ds = stat_q(f, id);
	assert_int_equal(ds.msg_qnum, 3);
	assert_int_equal(ds.msg_rtime, 0);
	assert_int_equal(ds.msg_lrpid, 0);
}

static void test_noerror_e2big(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct mbuf b;

	assert_int_equal(snd(f, &f->root, id, 1, "0123456789", 10, 0), 0);
	assert_int_equal(rcv(f, &f->root, id, &b, 4, 0, IPC_NOWAIT), -E2BIG);
	assert_int_equal(stat_q(f, id).msg_qnum, 1);
	memset(b.mtext, 'x', 8);
	assert_int_equal(ipcns_msgrcv(f->ns, fake_call(&f->root), id, A(&b), 4, 0, IPC_NOWAIT | MSG_NOERROR), 4);
	assert_memory_equal(b.mtext, "0123xxxx", 8);
	/* The rest is gone with it.  */
	assert_int_equal(stat_q(f, id).msg_qnum, 0);
	assert_int_equal(stat_q(f, id).__msg_cbytes, 0);
	assert_int_equal(usage(f).msg_bytes, 0);
}

/* ---- Arguments and errors.  */

static void test_errors(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct ipcns_caller *c = fake_call(&f->root);
	struct mbuf b = { .mtype = 1 };

	/* mtype is read first: EFAULT wins over every EINVAL.  */
	assert_int_equal(ipcns_msgsnd(f->ns, c, -1, FAKE_BAD_ADDR, 1u << 20, 0), -EFAULT);
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&b), IPCNS_MSGMAX + 1, 0), -EINVAL);
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&b), (uint64_t)-1, 0), -EINVAL);
	assert_int_equal(ipcns_msgsnd(f->ns, c, -1, A(&b), 1, 0), -EINVAL);
	b.mtype = 0;
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&b), 1, 0), -EINVAL);
	b.mtype = -3;
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&b), 1, 0), -EINVAL);
	b.mtype = 1;
	assert_int_equal(ipcns_msgsnd(f->ns, c, id + 1, A(&b), 16, 0), -EINVAL);
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&b), 0, 0), 0);

	assert_int_equal(ipcns_msgrcv(f->ns, c, -1, A(&b), 8, 0, 0), -EINVAL);
	assert_int_equal(ipcns_msgrcv(f->ns, c, id, A(&b), (uint64_t)-1, 0, 0), -EINVAL);
	assert_int_equal(ipcns_msgrcv(f->ns, c, id + 32768, A(&b), 8, 0, 0), -EINVAL);
	/* A bad buffer gets EFAULT; the message stays queued here.  */
	assert_int_equal(ipcns_msgrcv(f->ns, c, id, FAKE_BAD_ADDR, 8, 0, 0), -EFAULT);
	assert_int_equal(stat_q(f, id).msg_qnum, 1);

	/* Permissions.  */
	assert_int_equal(snd(f, &f->user, id, 1, "a", 1, IPC_NOWAIT), -EACCES);
	assert_int_equal(rcv(f, &f->user, id, &b, 8, 0, IPC_NOWAIT), -EACCES);
	struct msqid_ds ds;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_STAT, A(&ds)), -EACCES);
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_RMID, 0), -EPERM);
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_SET, A(&ds)), -EPERM);

	/* msgctl.  */
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_STAT | 0x100, A(&ds)), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, 99, A(&ds)), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, -1, A(&ds)), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, -1, IPC_INFO, A(&ds)), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_STAT, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ipcns_msgctl(f->ns, c, id + 1, IPC_SET, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ipcns_msgctl(f->ns, c, id + 1, IPC_STAT, FAKE_BAD_ADDR), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_INFO, FAKE_BAD_ADDR), -EFAULT);
	ds = stat_q(f, id);
	ds.msg_perm.uid = (uid_t)-1;
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_SET, A(&ds)), -EINVAL);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_RMID, 0), 0);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_RMID, 0), -EINVAL);
	assert_int_equal(usage(f).msg_count, 0);
}

static void test_ctl(void **state)
{
	struct fixture *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	int id = mkq(f, &f->user, 0640);
	struct msginfo mi;
	struct msqid_ds ds;
	struct mbuf b;

	f->now = 2000;
	assert_int_equal(snd(f, &f->user, id, 3, "hello", 5, 0), 0);
	f->now = 2001;
	assert_int_equal(snd(f, &f->root, id, 4, "hi", 2, 0), 0);
	ds = stat_q(f, id);
	assert_int_equal(ds.msg_qnum, 2);
	assert_int_equal(ds.__msg_cbytes, 7);
	assert_int_equal(ds.msg_stime, 2001);
	assert_int_equal(ds.msg_lspid, 100);
	assert_int_equal(ds.msg_perm.uid, 1000);
	assert_int_equal(ds.msg_perm.cuid, 1000);
	f->now = 2002;
	assert_int_equal(rcv(f, &f->user, id, &b, 64, 0, 0), 5);
	ds = stat_q(f, id);
	assert_int_equal(ds.msg_rtime, 2002);
	assert_int_equal(ds.msg_lrpid, 20); /* the pid in the caller's namespace */

	/* IPC_INFO, MSG_INFO.  */
	assert_int_equal(ipcns_msgctl(f->ns, c, 0, IPC_INFO, A(&mi)), id % 32768);
	assert_int_equal(mi.msgmax, IPCNS_MSGMAX);
	assert_int_equal(mi.msgmnb, IPCNS_MSGMNB);
	assert_int_equal(mi.msgmni, IPCNS_MSGMNI);
	assert_int_equal(mi.msgpool, IPCNS_MSGPOOL);
	assert_int_equal(mi.msgmap, IPCNS_MSGMAP);
	assert_int_equal(mi.msgtql, IPCNS_MSGTQL);
	assert_int_equal(mi.msgssz, 16);
	assert_int_equal(mi.msgseg, 0xffff);
	assert_int_equal(ipcns_msgctl(f->ns, c, 0, MSG_INFO, A(&mi)), id % 32768);
	assert_int_equal(mi.msgpool, 1);
	assert_int_equal(mi.msgmap, 1);
	assert_int_equal(mi.msgtql, 2);

	/* MSG_STAT by index, with permission; MSG_STAT_ANY without.  */
	assert_int_equal(ipcns_msgctl(f->ns, c, id % 32768, MSG_STAT, A(&ds)), id);
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->other), id % 32768, MSG_STAT, A(&ds)), -EACCES);
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->other), id % 32768, MSG_STAT_ANY, A(&ds)), id);
	assert_int_equal(ds.msg_qnum, 1);
	assert_int_equal(ipcns_msgctl(f->ns, c, id % 32768 + 1, MSG_STAT, A(&ds)), -EINVAL);

	/* IPC_SET: msg_qbytes above MSGMNB needs CAP_SYS_RESOURCE.  */
	ds = stat_q(f, id);
	ds.msg_qbytes = IPCNS_MSGMNB + 1;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_SET, A(&ds)), -EPERM);
	ds.msg_qbytes = 100;
	ds.msg_perm.mode = 0604;
	ds.msg_perm.gid = 55;
	f->now = 2003;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_SET, A(&ds)), 0);
	ds = stat_q(f, id);
	assert_int_equal(ds.msg_qbytes, 100);
	assert_int_equal(ds.msg_perm.mode, 0604);
	assert_int_equal(ds.msg_perm.gid, 55);
	assert_int_equal(ds.msg_ctime, 2003);
	ds.msg_qbytes = IPCNS_MSGMNB * 4;
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_SET, A(&ds)), 0);
	assert_int_equal(stat_q(f, id).msg_qbytes, IPCNS_MSGMNB * 4);
	/* msgctl_down takes an int: a negative one needs the capability and
	 * is kept sign-extended.  */
	ds.msg_qbytes = 0xffffffffUL;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->user), id, IPC_SET, A(&ds)), -EPERM);
	assert_int_equal(ipcns_msgctl(f->ns, c, id, IPC_SET, A(&ds)), 0);
	assert_int_equal(stat_q(f, id).msg_qbytes, (unsigned long)-1L);
}

/* ---- Accounting.  */

struct seen {
	int n;
	uint64_t bytes, count;
};

static int count_cb(void *arg, const struct ipcns_obj_info *info)
{
	struct seen *s = arg;
	assert_int_equal(info->kind, IPCNS_MSG);
	s->n++;
	s->bytes += info->bytes;
	s->count += info->count;
	return 0;
}

static void test_accounting(void **state)
{
	struct fixture *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	int id = mkq(f, &f->root, 0600);
	int id2 = mkq(f, &f->root, 0600);
	struct msqid_ds ds;
	struct mbuf b;

	/* Bytes: 16384 = 2 x 8192.  */
	struct {
		long mtype;
		char t[IPCNS_MSGMAX];
	} bb = { .mtype = 1 };
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&bb), sizeof(bb.t), IPC_NOWAIT), 0);
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&bb), sizeof(bb.t), IPC_NOWAIT), 0);
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&bb), 1, IPC_NOWAIT), -EAGAIN);
	/* An empty message still fits: 0 + 16384 <= 16384.  */
	assert_int_equal(ipcns_msgsnd(f->ns, c, id, A(&bb), 0, IPC_NOWAIT), 0);
	ds = stat_q(f, id);
	assert_int_equal(ds.__msg_cbytes, 2 * IPCNS_MSGMAX);
	assert_int_equal(ds.msg_qnum, 3);

	/* Count: qnum + 1 <= qbytes, so with qbytes 3 three empty messages.  */
	ds = stat_q(f, id2);
	ds.msg_qbytes = 3;
	assert_int_equal(ipcns_msgctl(f->ns, c, id2, IPC_SET, A(&ds)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(snd(f, &f->root, id2, 1, NULL, 0, IPC_NOWAIT), 0);
	assert_int_equal(snd(f, &f->root, id2, 1, NULL, 0, IPC_NOWAIT), -EAGAIN);
	ds.msg_qbytes = 0;
	assert_int_equal(ipcns_msgctl(f->ns, c, id2, IPC_SET, A(&ds)), 0);
	assert_int_equal(rcv(f, &f->root, id2, &b, 8, 0, IPC_NOWAIT), 0);
	assert_int_equal(snd(f, &f->root, id2, 1, NULL, 0, IPC_NOWAIT), -EAGAIN);

	struct ipcns_usage u = usage(f);
	assert_int_equal(u.msg_ids, 2);
	assert_int_equal(u.msg_count, 5);
	assert_int_equal(u.msg_bytes, 2 * IPCNS_MSGMAX);
	assert_int_equal(f->ns->msg_hdrs, 5);

	/* foreach sees both; host-side removal frees everything.  */
	struct seen seen = { 0 };
	assert_int_equal(ipcns_ns_foreach(f->ns, IPCNS_MSG, count_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.bytes, 2 * IPCNS_MSGMAX);
	assert_int_equal(seen.count, 5);
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_MSG, id), 0);
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_MSG, id), -EINVAL);
	u = usage(f);
	assert_int_equal(u.msg_ids, 1);
	assert_int_equal(u.msg_count, 2);
	assert_int_equal(u.msg_bytes, 0);
}

/* ---- Blocking.  */

static void test_send_blocks_until_receive(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0666);
	struct msqid_ds ds = stat_q(f, id);
	struct mbuf b;

	ds.msg_qbytes = 10;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "12345678", 8, 0), 0);
	assert_int_equal(snd(f, &f->user, id, 2, "abcd", 4, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(snd(f, &f->user, id, 2, "abcd", 4, 0), IPCNS_PARKED);
	struct fake_waiter *s1 = f->user.last_parked;
	assert_int_equal(s1->w.deadline, -1);
	/* A second one with a message that fits after the first.  */
	assert_int_equal(snd(f, &f->root, id, 3, "zzz", 3, 0), IPCNS_PARKED);
	struct fake_waiter *s2 = f->root.last_parked;
	assert_int_equal(usage(f).parked, 2);

	/* The sender's copy was taken at call time: its buffer is gone.  */
	f->now = 3000;
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, 0), 8);
	assert_true(s1->answered && s1->answer == 0 && s1->released);
	/* 4 bytes in, 3 more would make 7 <= 10.  */
	assert_true(s2->answered && s2->answer == 0 && s2->released);
	assert_int_equal(usage(f).parked, 0);
	ds = stat_q(f, id);
	assert_int_equal(ds.msg_qnum, 2);
	assert_int_equal(ds.__msg_cbytes, 7);
	assert_int_equal(ds.msg_lspid, 100);
	assert_int_equal(ds.msg_stime, 3000);
	expect(f, id, 0, 0, 2, "abcd");
	expect(f, id, 0, 0, 3, "zzz");
}

static void test_senders_wake_in_order(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct msqid_ds ds = stat_q(f, id);
	struct fake_waiter *s[3];
	struct mbuf b;

	ds.msg_qbytes = 10;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "123456789", 9, 0), 0);
	assert_int_equal(snd(f, &f->root, id, 2, "aaaaaaaaaa", 10, 0), IPCNS_PARKED);
	s[0] = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 3, "bb", 2, 0), IPCNS_PARKED);
	s[1] = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 4, "cc", 2, 0), IPCNS_PARKED);
	s[2] = f->root.last_parked;
	/* A larger queue through IPC_SET lets the two small ones in; the
	 * big one goes on waiting.  */
	ds.msg_qbytes = 13;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_false(s[0]->answered);
	assert_true(s[1]->answered && s[2]->answered);
	assert_int_equal(stat_q(f, id).msg_qnum, 3);
	/* Draining the queue lets the big one in.  */
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, 0), 9);
	assert_false(s[0]->answered);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, 0), 2);
	assert_true(s[0]->answered && s[0]->answer == 0);
	expect(f, id, 0, 0, 4, "cc");
	expect(f, id, 0, 0, 2, "aaaaaaaaaa");
}

static void test_receivers_fifo_and_pipelined(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0666);
	struct mbuf b1, b2, b3, b4;

	f->now = 4000;
	assert_int_equal(rcv(f, &f->user, id, &b1, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r1 = f->user.last_parked;
	assert_int_equal(rcv(f, &f->other, id, &b2, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r2 = f->other.last_parked;
	assert_int_equal(rcv(f, &f->root, id, &b3, 64, 7, 0), IPCNS_PARKED);
	struct fake_waiter *r3 = f->root.last_parked;
	assert_int_equal(rcv(f, &f->root, id, &b4, 64, -2, 0), IPCNS_PARKED);
	struct fake_waiter *r4 = f->root.last_parked;
	assert_int_equal(usage(f).parked, 4);

	assert_int_equal(snd(f, &f->root, id, 7, "seven", 5, 0), 0);
	assert_true(r1->answered && r1->answer == 5);
	assert_int_equal(b1.mtype, 7);
	assert_memory_equal(b1.mtext, "seven", 5);
	assert_false(r2->answered || r3->answered || r4->answered);
	struct msqid_ds ds = stat_q(f, id);
	/* Handed over, never queued.  */
	assert_int_equal(ds.msg_qnum, 0);
	assert_int_equal(ds.msg_lrpid, 20);
	assert_int_equal(ds.msg_rtime, 4000);
	assert_int_equal(ds.msg_lspid, 100);

	assert_int_equal(snd(f, &f->root, id, 7, "again", 5, 0), 0);
	assert_true(r2->answered && r2->answer == 5);
	assert_int_equal(stat_q(f, id).msg_lrpid, 300);
	/* Type 3 is for neither r3 (7) nor r4 (<= 2).  */
	assert_int_equal(snd(f, &f->root, id, 3, "three", 5, 0), 0);
	assert_false(r3->answered || r4->answered);
	assert_int_equal(snd(f, &f->root, id, 2, "two", 3, 0), 0);
	assert_true(r4->answered && r4->answer == 3 && b4.mtype == 2);
	assert_int_equal(snd(f, &f->root, id, 7, "7", 1, 0), 0);
	assert_true(r3->answered && r3->answer == 1);
	assert_int_equal(usage(f).parked, 0);
	expect(f, id, 0, 0, 3, "three");
}

static void test_pipelined_e2big_and_noerror(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct mbuf b1, b2;

	assert_int_equal(rcv(f, &f->root, id, &b1, 2, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r1 = f->root.last_parked;
	memset(&b2, 'x', sizeof(b2));
	assert_int_equal(ipcns_msgrcv(f->ns, fake_call(&f->root), id, A(&b2), 3, 0, MSG_NOERROR), IPCNS_PARKED);
	struct fake_waiter *r2 = f->root.last_parked;
	/* r1 is answered E2BIG, r2 gets the message cut to 3 bytes.  */
	assert_int_equal(snd(f, &f->root, id, 1, "abcdef", 6, 0), 0);
	assert_true(r1->answered && r1->answer == -E2BIG);
	assert_true(r2->answered && r2->answer == 3);
	assert_memory_equal(b2.mtext, "abcxxx", 6);
	assert_int_equal(stat_q(f, id).msg_qnum, 0);

	/* E2BIG alone: the message is queued.  */
	assert_int_equal(rcv(f, &f->root, id, &b1, 2, 0, 0), IPCNS_PARKED);
	r1 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 1, "abcdef", 6, 0), 0);
	assert_true(r1->answered && r1->answer == -E2BIG);
	assert_int_equal(stat_q(f, id).msg_qnum, 1);
}

/* ---- Nothing lost, nothing duplicated.  */

static void test_dead_receiver_takes_nothing(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct mbuf b1, b2;

	assert_int_equal(rcv(f, &f->root, id, &b1, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r1 = f->root.last_parked;
	assert_int_equal(rcv(f, &f->root, id, &b2, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r2 = f->root.last_parked;
	r1->alive = false;
	assert_int_equal(snd(f, &f->root, id, 1, "m", 1, 0), 0);
	assert_false(r1->answered);
	assert_true(r1->released);
	assert_int_equal(b1.mtype, 0);
	assert_true(r2->answered && r2->answer == 1);

	/* Nobody alive: the message is queued.  */
	assert_int_equal(rcv(f, &f->root, id, &b1, 64, 0, 0), IPCNS_PARKED);
	r1 = f->root.last_parked;
	r1->alive = false;
	assert_int_equal(snd(f, &f->root, id, 1, "n", 1, 0), 0);
	assert_true(r1->released && !r1->answered);
	assert_int_equal(stat_q(f, id).msg_qnum, 1);
	assert_int_equal(usage(f).parked, 0);
}

static void test_receiver_deliver_fails_leaves_message(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct mbuf b1, b2;

	assert_int_equal(rcv(f, &f->root, id, &b1, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r1 = f->root.last_parked;
	r1->deliverable = false;
	assert_int_equal(snd(f, &f->root, id, 1, "m", 1, 0), 0);
	assert_true(r1->released && !r1->answered);
	struct msqid_ds ds = stat_q(f, id);
	assert_int_equal(ds.msg_qnum, 1);
	assert_int_equal(ds.msg_lrpid, 0);

	/* With a second receiver behind it, that one gets it.  */
	assert_int_equal(rcv(f, &f->root, id, &b1, 64, 2, 0), IPCNS_PARKED);
	r1 = f->root.last_parked;
	r1->deliverable = false;
	assert_int_equal(rcv(f, &f->root, id, &b2, 64, 2, 0), IPCNS_PARKED);
	struct fake_waiter *r2 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 2, "two", 3, 0), 0);
	assert_true(r1->released && !r1->answered);
	assert_true(r2->answered && r2->answer == 3);
	assert_int_equal(stat_q(f, id).msg_qnum, 1);

	/* A receiver whose buffer went bad gets EFAULT; the message is kept
	 * (Linux would lose it).  */
	assert_int_equal(ipcns_msgrcv(f->ns, fake_call(&f->root), id, FAKE_BAD_ADDR, 64, 3, 0), IPCNS_PARKED);
	r1 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 3, "x", 1, 0), 0);
	assert_true(r1->answered && r1->answer == -EFAULT);
	assert_int_equal(stat_q(f, id).msg_qnum, 2);
}

static void test_dead_sender_never_enqueues(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct msqid_ds ds = stat_q(f, id);
	struct mbuf b;

	ds.msg_qbytes = 4;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "full", 4, 0), 0);
	assert_int_equal(snd(f, &f->root, id, 2, "s1", 2, 0), IPCNS_PARKED);
	struct fake_waiter *s1 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 3, "s2", 2, 0), IPCNS_PARKED);
	struct fake_waiter *s2 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 4, "s3", 2, 0), IPCNS_PARKED);
	struct fake_waiter *s3 = f->root.last_parked;
	s1->alive = false;
	s2->deliverable = false;
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, 0), 4);
	assert_true(s1->released && !s1->answered);
	assert_true(s2->released && !s2->answered);
	assert_true(s3->answered && s3->answer == 0);
	ds = stat_q(f, id);
	assert_int_equal(ds.msg_qnum, 1);
	expect(f, id, 0, 0, 4, "s3");
	assert_int_equal(ipcns_msg_quota_held(f->ns), 0);

	/* Sweep drops dead ones and says how many.  */
	assert_int_equal(snd(f, &f->root, id, 1, "full", 4, 0), 0);
	assert_int_equal(snd(f, &f->root, id, 2, "s1", 2, 0), IPCNS_PARKED);
	f->root.last_parked->alive = false;
	assert_int_equal(rcv(f, &f->user, id, &b, 64, 9, 0), -EACCES);
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 9, 0), IPCNS_PARKED);
	f->root.last_parked->alive = false;
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 9, 0), IPCNS_PARKED);
	assert_int_equal(ipcns_ns_sweep(f->ns), 2);
	assert_int_equal(usage(f).parked, 1);
	assert_int_equal(ipcns_ns_sweep(f->ns), 0);
}

static void test_rmid_wakes_with_eidrm(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct msqid_ds ds = stat_q(f, id);
	struct mbuf b;

	assert_int_equal(rcv(f, &f->root, id, &b, 64, 5, 0), IPCNS_PARKED);
	struct fake_waiter *r = f->root.last_parked;
	ds.msg_qbytes = 1;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_false(r->answered);
	assert_int_equal(snd(f, &f->root, id, 1, "x", 1, 0), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "y", 1, 0), IPCNS_PARKED);
	struct fake_waiter *s = f->root.last_parked;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_RMID, 0), 0);
	assert_true(r->answered && r->answer == -EIDRM && r->released);
	assert_true(s->answered && s->answer == -EIDRM && s->released);
	struct ipcns_usage u = usage(f);
	assert_int_equal(u.parked, 0);
	assert_int_equal(u.msg_ids, 0);
	assert_int_equal(u.msg_count, 0);
	assert_int_equal(ipcns_msg_quota_held(f->ns), 0);
}

static void test_set_revokes_receivers(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0666);
	struct mbuf b1, b2;

	assert_int_equal(rcv(f, &f->user, id, &b1, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *ru = f->user.last_parked;
	assert_int_equal(rcv(f, &f->root, id, &b2, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *rr = f->root.last_parked;
	struct msqid_ds ds = stat_q(f, id);
	ds.msg_perm.mode = 0600;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_true(ru->answered && ru->answer == -EACCES);
	assert_false(rr->answered);
	assert_int_equal(snd(f, &f->root, id, 1, "m", 1, 0), 0);
	assert_true(rr->answered && rr->answer == 1);
}

/* A woken sender checks its permission again, as Linux's retry loop does;
 * senders still too big for the queue are not woken at all.  */
static void test_set_revokes_woken_senders(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0666);
	struct msqid_ds ds = stat_q(f, id);

	ds.msg_qbytes = 4;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "full", 4, 0), 0);
	assert_int_equal(snd(f, &f->user, id, 2, "u", 1, 0), IPCNS_PARKED);
	struct fake_waiter *su = f->user.last_parked;
	assert_int_equal(snd(f, &f->other, id, 3, "0123456789", 10, 0), IPCNS_PARKED);
	struct fake_waiter *so = f->other.last_parked;
	assert_int_equal(snd(f, &f->root, id, 4, "r", 1, 0), IPCNS_PARKED);
	struct fake_waiter *sr = f->root.last_parked;
	/* Queued 48, held copies 48 + 64 + 48.  */
	assert_int_equal(ipcns_msg_quota_held(f->ns), 48 + 48 + 64 + 48);

	ds = stat_q(f, id);
	ds.msg_qbytes = 8;
	ds.msg_perm.mode = 0604;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_true(su->answered && su->answer == -EACCES);
	assert_false(so->answered);
	assert_true(sr->answered && sr->answer == 0);
	assert_int_equal(stat_q(f, id).msg_qnum, 2);
	/* The refused sender's copy is given back.  */
	assert_int_equal(ipcns_msg_quota_held(f->ns), 48 + 64 + 48);
	assert_int_equal(usage(f).parked, 1);
}

static void test_expire(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct fake_waiter foreign = { 0 };
	struct mbuf b;

	foreign.w.ops = &fake_waiter_ops;
	assert_false(ipcns_msg_expire(f->ns, &foreign.w));
	assert_int_equal(rcv(f, &f->root, id, &b, 64, 0, 0), IPCNS_PARKED);
	struct fake_waiter *r = f->root.last_parked;
	ipcns_waiter_expire(f->ns, &r->w);
	assert_true(r->answered && r->answer == -EAGAIN && r->released);
	assert_int_equal(usage(f).parked, 0);
}

/* ---- Quota.  */

static int fx_setup_quota(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	/* Three 100-byte messages: each costs 32 + 100 + 8 -> 144.  */
	l.quota_msg_bytes = 3 * 144;
	return fx_setup_limits(state, &l);
}

static void test_quota(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	int id2 = mkq(f, &f->root, 0600);
	char text[100];
	struct mbuf b;

	memset(text, 'q', sizeof(text));
	for (int i = 0; i < 3; i++)
		assert_int_equal(snd(f, &f->root, i == 2 ? id2 : id, 1, text, 100, IPC_NOWAIT), 0);
	assert_int_equal(ipcns_msg_quota_held(f->ns), 3 * 144);
	/* The queue has room, the quota has not: a full queue.  */
	assert_int_equal(snd(f, &f->root, id, 1, text, 100, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(f->limit_hits, 1);
	assert_non_null(strstr(f->last_hit, "quota_msg_bytes"));
	/* Even a zero-byte message costs its header (48 bytes).  */
	assert_int_equal(snd(f, &f->root, id, 1, NULL, 0, IPC_NOWAIT), -EAGAIN);

	/* A blocking sender parks without a copy...  */
	struct mbuf sb = { .mtype = 6 };
	memcpy(sb.mtext, "late", 4);
	assert_int_equal(ipcns_msgsnd(f->ns, fake_call(&f->root), id, A(&sb), 4, 0), IPCNS_PARKED);
	struct fake_waiter *s = f->root.last_parked;
	assert_int_equal(ipcns_msg_quota_held(f->ns), 3 * 144);
	/* ...and its message is read again when quota is given back, from
	 * another queue too.  */
	memcpy(sb.mtext, "LATE", 4);
	assert_int_equal(rcv(f, &f->root, id2, &b, 128, 0, 0), 100);
	assert_true(s->answered && s->answer == 0);
	assert_int_equal(ipcns_msg_quota_held(f->ns), 2 * 144 + 48);
	expect(f, id, 6, 0, 6, "LATE");

	/* A waiting receiver gets a message whatever the quota.  */
	assert_int_equal(snd(f, &f->root, id2, 1, text, 100, IPC_NOWAIT), 0);
	assert_int_equal(snd(f, &f->root, id2, 1, text, 100, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(rcv(f, &f->root, id2, &b, 128, 9, 0), IPCNS_PARKED);
	struct fake_waiter *r = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id2, 9, "nine", 4, IPC_NOWAIT), 0);
	assert_true(r->answered && r->answer == 4);

	/* A starved sender that went away sends nothing.  */
	assert_int_equal(snd(f, &f->root, id2, 1, text, 100, 0), IPCNS_PARKED);
	s = f->root.last_parked;
	s->alive = false;
	assert_int_equal(rcv(f, &f->root, id, &b, 128, 0, 0), 100);
	assert_true(s->released && !s->answered);
	assert_int_equal(stat_q(f, id2).msg_qnum, 1);

	/* Removing the queues gives everything back.  */
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_RMID, 0), 0);
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id2, IPC_RMID, 0), 0);
	assert_int_equal(ipcns_msg_quota_held(f->ns), 0);
}

static void test_quota_held_copy(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct msqid_ds ds = stat_q(f, id);
	char text[100];
	struct mbuf b;

	memset(text, 'q', sizeof(text));
	ds.msg_qbytes = 100;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, text, 100, 0), 0);
	/* Queue full, quota has room: the sender keeps a charged copy.  */
	assert_int_equal(snd(f, &f->root, id, 2, text, 100, 0), IPCNS_PARKED);
	struct fake_waiter *s1 = f->root.last_parked;
	assert_int_equal(snd(f, &f->root, id, 3, text, 100, 0), IPCNS_PARKED);
	struct fake_waiter *s2 = f->root.last_parked;
	assert_int_equal(ipcns_msg_quota_held(f->ns), 3 * 144);
	/* The quota is now taken by held copies: the next one holds none.  */
	assert_int_equal(snd(f, &f->root, id, 4, text, 100, 0), IPCNS_PARKED);
	struct fake_waiter *s3 = f->root.last_parked;
	assert_int_equal(ipcns_msg_quota_held(f->ns), 3 * 144);
	/* Each receive lets the next sender in, in order.  */
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(rcv(f, &f->root, id, &b, 128, 0, 0), 100);
		assert_int_equal(b.mtype, i);
	}
	assert_true(s1->answered && s2->answered && s3->answered);
	assert_int_equal(ipcns_msg_quota_held(f->ns), 0);
}

/* The free of a namespace with parked calls releases them unanswered.  */
static void test_ns_free_releases(void **state)
{
	struct fixture *f = *state;
	int id = mkq(f, &f->root, 0600);
	struct msqid_ds ds = stat_q(f, id);
	struct mbuf b;

	assert_int_equal(rcv(f, &f->root, id, &b, 64, 3, 0), IPCNS_PARKED);
	struct fake_waiter *r = f->root.last_parked;
	ds.msg_qbytes = 1;
	assert_int_equal(ipcns_msgctl(f->ns, fake_call(&f->root), id, IPC_SET, A(&ds)), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "a", 1, 0), 0);
	assert_int_equal(snd(f, &f->root, id, 1, "b", 1, 0), IPCNS_PARKED);
	struct fake_waiter *s = f->root.last_parked;
	ipcns_ns_free(f->ns);
	f->ns = ipcns_ns_new(NULL, &fx_host_ops, f);
	assert_true(r->released && !r->answered);
	assert_true(s->released && !s->answered);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_get_limits, fx_setup_small, fx_teardown),
		cmocka_unit_test_setup_teardown(test_select, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_noerror_e2big, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_errors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ctl, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_accounting, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_send_blocks_until_receive, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_senders_wake_in_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_receivers_fifo_and_pipelined, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_e2big_and_noerror, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dead_receiver_takes_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_deliver_fails_leaves_message, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dead_sender_never_enqueues, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rmid_wakes_with_eidrm, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_set_revokes_receivers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_set_revokes_woken_senders, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_expire, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_quota, fx_setup_quota, fx_teardown),
		cmocka_unit_test_setup_teardown(test_quota_held_copy, fx_setup_quota, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ns_free_releases, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
