/* SPDX-License-Identifier: MIT */
/* Unit tests of the semaphore core (plugin/lib/ipc/sem.c) with fake callers:
 * no kernel.  */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_caller.h"
#include "ipcns/ipcns.h"

struct fx {
	struct ipcns_ns *ns;
	struct fake_waiter *all;
	struct fake_proc root, user, a, b, c;
};

static int setup_limits(void **state, const struct ipcns_limits *l)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->ns = ipcns_ns_new(l, &fake_host_ops, NULL);
	if (!f->ns)
		return -1;
	fake_proc_init(&f->root, 0, ~0ULL, 100, &f->all);
	fake_proc_init(&f->user, 1000, 0, 101, &f->all);
	fake_proc_init(&f->a, 0, ~0ULL, 200, &f->all);
	fake_proc_init(&f->b, 0, ~0ULL, 300, &f->all);
	fake_proc_init(&f->c, 0, ~0ULL, 400, &f->all);
	f->a.ns_tgid = 2;
	f->b.ns_tgid = 3;
	f->c.ns_tgid = 4;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_limits(state, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(fake_ns_free(f->ns, &f->all), 0);
	free(f);
	return 0;
}

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static long op(struct fx *f, struct fake_proc *p, int id, struct sembuf *s, unsigned int n)
{
	return ipcns_semtimedop(f->ns, fake_call(p), id, ptr(s), n, 0);
}

static long op1(struct fx *f, struct fake_proc *p, int id, unsigned short num, short val, short flg)
{
	struct sembuf s = { num, val, flg };
	return op(f, p, id, &s, 1);
}

static long ctl(struct fx *f, struct fake_proc *p, int id, int num, int cmd, uint64_t arg)
{
	return ipcns_semctl(f->ns, fake_call(p), id, num, cmd, arg);
}

static int getval(struct fx *f, int id, int num)
{
	return (int)ctl(f, &f->root, id, num, GETVAL, 0);
}

static int newset(struct fx *f, int nsems)
{
	long id = ipcns_semget(f->ns, fake_call(&f->root), IPC_PRIVATE, nsems, 0600);
	assert_true(id >= 0);
	return (int)id;
}

static uint32_t parked(struct fx *f)
{
	struct ipcns_usage u;
	ipcns_ns_usage(f->ns, &u);
	return u.parked;
}

/* Park a single-sop call and return its waiter.  */
static struct fake_waiter *park1(struct fx *f, struct fake_proc *p, int id, unsigned short num, short val,
				 short flg)
{
	p->last_parked = NULL;
	assert_int_equal(op1(f, p, id, num, val, flg), IPCNS_PARKED);
	assert_non_null(p->last_parked);
	return p->last_parked;
}

static struct fake_waiter *parkn(struct fx *f, struct fake_proc *p, int id, struct sembuf *s, unsigned int n)
{
	p->last_parked = NULL;
	assert_int_equal(op(f, p, id, s, n), IPCNS_PARKED);
	assert_non_null(p->last_parked);
	return p->last_parked;
}

static void assert_answered(struct fake_waiter *w, long ret)
{
	assert_true(w->answered);
	assert_int_equal(w->answer, ret);
	assert_true(w->released);
}

static void assert_waiting(struct fake_waiter *w)
{
	assert_false(w->answered);
	assert_false(w->released);
}

/* ---- semget and limits.  */

static void test_semget(void **state)
{
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	int32_t key = 0x5e31;

	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 0, 0600), -EINVAL);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, -1, 0600), -EINVAL);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, IPCNS_SEMMSL + 1, 0600), -EINVAL);
	assert_int_equal(ipcns_semget(f->ns, c, key, 2, 0600), -ENOENT);
	long id = ipcns_semget(f->ns, c, key, 3, IPC_CREAT | 0640);
	assert_true(id >= 0);
	assert_int_equal(ipcns_semget(f->ns, c, key, 3, IPC_CREAT | IPC_EXCL | 0600), -EEXIST);
	assert_int_equal(ipcns_semget(f->ns, c, key, 0, 0), id);
	assert_int_equal(ipcns_semget(f->ns, c, key, 2, 0), id);
	assert_int_equal(ipcns_semget(f->ns, c, key, 4, 0), -EINVAL);
	/* more_checks (EINVAL) comes before the permission check.  */
	assert_int_equal(ipcns_semget(f->ns, fake_call(&f->user), key, 4, 0), -EINVAL);
	assert_int_equal(ipcns_semget(f->ns, fake_call(&f->user), key, 3, 0400), -EACCES);

	struct ipcns_usage u;
	ipcns_ns_usage(f->ns, &u);
	assert_int_equal(u.sem_ids, 1);
	assert_int_equal(u.sem_total, 3);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_RMID, 0), 0);
	ipcns_ns_usage(f->ns, &u);
	assert_int_equal(u.sem_ids, 0);
	assert_int_equal(u.sem_total, 0);
	assert_int_equal(ipcns_semget(f->ns, c, key, 0, 0), -ENOENT);
}

static void test_limits(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.semmsl = 4;
	l.semmns = 6;
	l.semmni = 2;
	l.semopm = 3;
	assert_int_equal(setup_limits(state, &l), 0);
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);

	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 5, 0600), -EINVAL);   /* SEMMSL */
	long a = ipcns_semget(f->ns, c, IPC_PRIVATE, 4, 0600);
	assert_true(a >= 0);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 3, 0600), -ENOSPC);   /* SEMMNS */
	long b = ipcns_semget(f->ns, c, IPC_PRIVATE, 2, 0600);
	assert_true(b >= 0);
	assert_int_equal(ctl(f, &f->root, (int)a, 0, IPC_RMID, 0), 0);
	long d = ipcns_semget(f->ns, c, IPC_PRIVATE, 1, 0600);
	assert_true(d >= 0);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 1, 0600), -ENOSPC);   /* SEMMNI */

	struct sembuf s[4] = { { 0, 1, 0 }, { 0, 1, 0 }, { 0, 1, 0 }, { 0, 1, 0 } };
	assert_int_equal(op(f, &f->root, (int)b, s, 4), -E2BIG);                   /* SEMOPM */
	assert_int_equal(op(f, &f->root, (int)b, s, 3), 0);
	assert_int_equal(getval(f, (int)b, 0), 3);
	assert_int_equal(op(f, &f->root, (int)b, s, 0), -EINVAL);
	/* nsops is an unsigned int: the upper half of the register is
	 * ignored.  */
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), (int)b, ptr(s), (1ULL << 32) | 1, 0), 0);
	/* E2BIG is checked before the sops are read.  */
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), (int)b, FAKE_BAD_ADDR, 4, 0), -E2BIG);

	struct seminfo si;
	/* The return value is the highest index in use.  */
	long maxidx = b % IPCNS_SEQ_MULTIPLIER > d % IPCNS_SEQ_MULTIPLIER ? b : d;
	assert_int_equal(ctl(f, &f->root, 0, 0, IPC_INFO, ptr(&si)), maxidx % IPCNS_SEQ_MULTIPLIER);
	assert_int_equal(si.semmsl, 4);
	assert_int_equal(si.semmns, 6);
	assert_int_equal(si.semmni, 2);
	assert_int_equal(si.semopm, 3);
	assert_int_equal(si.semvmx, 32767);
	assert_int_equal(si.semusz, 20);
	assert_int_equal(si.semaem, 32767);
	ctl(f, &f->root, 0, 0, SEM_INFO, ptr(&si));
	assert_int_equal(si.semusz, 2);
	assert_int_equal(si.semaem, 3);
}

static void test_uid_quota(void **state)
{
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.quota_objects_per_uid = 1;
	assert_int_equal(setup_limits(state, &l), 0);
	struct fx *f = *state;

	long a = ipcns_semget(f->ns, fake_call(&f->user), IPC_PRIVATE, 1, 0600);
	assert_true(a >= 0);
	assert_int_equal(ipcns_semget(f->ns, fake_call(&f->user), IPC_PRIVATE, 1, 0600), -ENOSPC);
	assert_true(ipcns_semget(f->ns, fake_call(&f->root), IPC_PRIVATE, 1, 0600) >= 0);
	assert_int_equal(ctl(f, &f->user, (int)a, 0, IPC_RMID, 0), 0);
	assert_true(ipcns_semget(f->ns, fake_call(&f->user), IPC_PRIVATE, 1, 0600) >= 0);
}

/* ---- semop.  */

static void test_semop_errors(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);
	struct sembuf s = { 0, 1, 0 };
	struct timespec bad = { 0, 1000000000 }, neg = { -1, 0 };

	assert_int_equal(op1(f, &f->root, id, 2, 1, 0), -EFBIG);
	assert_int_equal(op(f, &f->root, id, (struct sembuf *)(uintptr_t)FAKE_BAD_ADDR, 1), -EFAULT);
	assert_int_equal(op(f, &f->root, -1, &s, 1), -EINVAL);
	assert_int_equal(op(f, &f->root, id + IPCNS_SEQ_MULTIPLIER, &s, 1), -EINVAL);
	/* The timeout is read first, then the sops; its value is checked
	 * after semid < 0.  */
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), -1, FAKE_BAD_ADDR, 1, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), -1, FAKE_BAD_ADDR, 1, ptr(&bad)), -EFAULT);
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), id, ptr(&s), 1, ptr(&bad)), -EINVAL);
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), id, ptr(&s), 1, ptr(&neg)), -EINVAL);
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->root), -1, ptr(&s), 1, ptr(&bad)), -EINVAL);
	/* EFBIG before EACCES; read ops need read, alter ops write.  */
	assert_int_equal(op1(f, &f->user, id, 5, 0, 0), -EFBIG);
	assert_int_equal(op1(f, &f->user, id, 0, 0, 0), -EACCES);
	assert_int_equal(ctl(f, &f->root, id, 0, SETVAL, 0), 0);
	struct semid_ds ds;
	assert_int_equal(ctl(f, &f->root, id, 0, IPC_STAT, ptr(&ds)), 0);
	ds.sem_perm.mode = 0644;
	assert_int_equal(ctl(f, &f->root, id, 0, IPC_SET, ptr(&ds)), 0);
	assert_int_equal(op1(f, &f->user, id, 0, 0, 0), 0);
	assert_int_equal(op1(f, &f->user, id, 0, 1, 0), -EACCES);
	/* ERANGE for a value above SEMVMX.  */
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 32767), 0);
	assert_int_equal(op1(f, &f->root, id, 1, 1, 0), -ERANGE);
	assert_int_equal(op1(f, &f->root, id, 0, 0, IPC_NOWAIT), 0);
	assert_int_equal(op1(f, &f->root, id, 1, 0, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(op1(f, &f->root, id, 0, -1, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(parked(f), 0);
}

static void test_undo_range(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	/* semadj must stay within [-SEMAEM-1, SEMAEM] (ERANGE otherwise).  */
	assert_int_equal(op1(f, &f->a, id, 0, 32767, SEM_UNDO), 0);    /* adj -32767 */
	assert_int_equal(op1(f, &f->root, id, 0, -32767, 0), 0);
	assert_int_equal(op1(f, &f->a, id, 0, 1, SEM_UNDO), 0);        /* adj -32768 */
	assert_int_equal(op1(f, &f->root, id, 0, -1, 0), 0);
	assert_int_equal(op1(f, &f->a, id, 0, 1, SEM_UNDO), -ERANGE);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(op1(f, &f->root, id, 1, 32767, 0), 0);
	assert_int_equal(op1(f, &f->a, id, 1, -32767, SEM_UNDO), 0);   /* adj 32767 */
	assert_int_equal(op1(f, &f->root, id, 1, 1, 0), 0);
	assert_int_equal(op1(f, &f->a, id, 1, -1, SEM_UNDO), -ERANGE);
	assert_int_equal(getval(f, id, 1), 1);
	/* At exit the results are clamped to [0, SEMVMX].  */
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 32767);
}

static void test_atomicity(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 3);
	unsigned short vals[3] = { 1, 0, 5 }, got[3];

	assert_int_equal(ctl(f, &f->root, id, 0, SETALL, ptr(vals)), 0);
	/* Second sop cannot proceed: nothing applied.  */
	struct sembuf s1[3] = { { 0, -1, 0 }, { 2, 3, 0 }, { 1, -1, IPC_NOWAIT } };
	assert_int_equal(op(f, &f->root, id, s1, 3), -EAGAIN);
	assert_int_equal(ctl(f, &f->root, id, 0, GETALL, ptr(got)), 0);
	assert_memory_equal(got, vals, sizeof(vals));
	/* ERANGE in the middle: nothing applied, semadj unchanged.  */
	struct sembuf s2[3] = { { 0, -1, SEM_UNDO }, { 2, 32767, 0 }, { 1, 1, 0 } };
	assert_int_equal(op(f, &f->a, id, s2, 3), -ERANGE);
	assert_int_equal(ctl(f, &f->root, id, 0, GETALL, ptr(got)), 0);
	assert_memory_equal(got, vals, sizeof(vals));
	/* The same semaphore twice: each sop sees the previous one.  */
	struct sembuf s3[3] = { { 1, 2, 0 }, { 1, -1, 0 }, { 1, -1, 0 } };
	assert_int_equal(op(f, &f->root, id, s3, 3), 0);
	assert_int_equal(getval(f, id, 1), 0);
	struct sembuf s4[2] = { { 1, 1, 0 }, { 1, 0, IPC_NOWAIT } };
	assert_int_equal(op(f, &f->root, id, s4, 2), -EAGAIN);
	assert_int_equal(getval(f, id, 1), 0);
	/* A sleeping multi-op changes nothing until it completes.  */
	struct sembuf s5[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
	struct fake_waiter *w = parkn(f, &f->a, id, s5, 2);
	assert_int_equal(getval(f, id, 0), 1);
	assert_int_equal(op1(f, &f->root, id, 1, 1, 0), 0);
	assert_answered(w, 0);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 0);
	/* sempid: every sop of the completed call, by its pid.  */
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->a.ns_tgid);
	assert_int_equal(ctl(f, &f->root, id, 1, GETPID, 0), f->a.ns_tgid);
	assert_int_equal(ctl(f, &f->root, id, 2, GETPID, 0), f->root.ns_tgid);
	assert_int_equal(parked(f), 0);
}

/* ---- Wake-up order.  */

static void test_wake_fifo(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	struct fake_waiter *wa = park1(f, &f->a, id, 0, -1, 0);
	struct fake_waiter *wb = park1(f, &f->b, id, 0, -1, 0);
	struct fake_waiter *wc = park1(f, &f->c, id, 0, -2, 0);
	assert_int_equal(parked(f), 3);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 3);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wa, 0);
	assert_waiting(wb);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wb, 0);
	assert_waiting(wc);
	assert_int_equal(op1(f, &f->root, id, 0, 2, 0), 0);
	assert_answered(wc, 0);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->c.ns_tgid);

	/* No starvation protection: a smaller later decrement passes a
	 * larger earlier one.  */
	wa = park1(f, &f->a, id, 0, -2, 0);
	wb = park1(f, &f->b, id, 0, -1, 0);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_waiting(wa);
	assert_answered(wb, 0);
	assert_int_equal(op1(f, &f->root, id, 0, 2, 0), 0);
	assert_answered(wa, 0);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(parked(f), 0);
}

static void test_wake_complex(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	/* A single decrement, then a complex one, then a single one: the
	 * complex sleeper merges the queues, the order stays FIFO.  */
	struct fake_waiter *wa = park1(f, &f->a, id, 0, -1, 0);
	struct sembuf cx[2] = { { 0, -1, 0 }, { 1, 0, 0 } };
	struct fake_waiter *wb = parkn(f, &f->b, id, cx, 2);
	struct fake_waiter *wc = park1(f, &f->c, id, 0, -1, 0);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wa, 0);
	assert_waiting(wb);
	assert_waiting(wc);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wb, 0);
	assert_waiting(wc);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wc, 0);

	/* A complex sleeper blocked on sem 1 does not stop a later single
	 * decrement of sem 0.  */
	struct sembuf cy[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
	wa = parkn(f, &f->a, id, cy, 2);
	wb = park1(f, &f->b, id, 0, -1, 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 2);
	assert_int_equal(ctl(f, &f->root, id, 1, GETNCNT, 0), 0);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_waiting(wa);
	assert_answered(wb, 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 1);
	/* Now it blocks on sem 1; GETNCNT counts it there only.  */
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_waiting(wa);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 0);
	assert_int_equal(ctl(f, &f->root, id, 1, GETNCNT, 0), 1);
	/* One multi-op increment frees it.  */
	struct sembuf up[2] = { { 1, 1, 0 }, { 1, 0, 0 } };
	assert_int_equal(op(f, &f->root, id, up, 1), 0);
	assert_answered(wa, 0);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 0);
	assert_int_equal(parked(f), 0);
}

static void test_wait_zero(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	assert_int_equal(ctl(f, &f->root, id, 0, SETVAL, 2), 0);
	struct fake_waiter *z1 = park1(f, &f->a, id, 0, 0, 0);
	struct fake_waiter *z2 = park1(f, &f->b, id, 0, 0, 0);
	struct sembuf cz[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 1), 0);
	struct fake_waiter *z3 = parkn(f, &f->c, id, cz, 2);
	assert_int_equal(ctl(f, &f->root, id, 0, GETZCNT, 0), 3);
	assert_int_equal(ctl(f, &f->root, id, 1, GETZCNT, 0), 0);
	assert_int_equal(op1(f, &f->root, id, 0, -1, 0), 0);
	assert_waiting(z1);
	assert_int_equal(op1(f, &f->root, id, 0, -1, 0), 0);
	assert_answered(z1, 0);
	assert_answered(z2, 0);
	/* The complex one now sleeps on sem 1.  */
	assert_waiting(z3);
	assert_int_equal(ctl(f, &f->root, id, 0, GETZCNT, 0), 0);
	assert_int_equal(ctl(f, &f->root, id, 1, GETZCNT, 0), 1);
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 0), 0);
	assert_answered(z3, 0);
	assert_int_equal(ctl(f, &f->root, id, 1, GETPID, 0), f->c.ns_tgid);

	/* A sleeper whose new blocking sop has IPC_NOWAIT fails with EAGAIN
	 * when woken.  */
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 1), 0);
	struct sembuf nw[2] = { { 0, -1, 0 }, { 1, 0, IPC_NOWAIT } };
	struct fake_waiter *wn = parkn(f, &f->a, id, nw, 2);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wn, -EAGAIN);
	assert_int_equal(getval(f, id, 0), 1);
	assert_int_equal(parked(f), 0);
}

/* ---- Parked calls whose caller went away.  */

static void test_dead_waiter(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 1);

	struct fake_waiter *wa = park1(f, &f->a, id, 0, -1, SEM_UNDO);
	struct fake_waiter *wb = park1(f, &f->b, id, 0, -1, 0);
	wa->alive = false;
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_false(wa->answered);
	assert_true(wa->released);
	assert_answered(wb, 0);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(parked(f), 0);
	/* a's undo structure has no adjustment: its exit changes nothing.  */
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_int_equal(getval(f, id, 0), 1);
}

static void test_deliver_fails(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	struct sembuf cx[2] = { { 0, -1, SEM_UNDO }, { 1, 1, SEM_UNDO } };
	struct fake_waiter *wa = parkn(f, &f->a, id, cx, 2);
	struct fake_waiter *wb = park1(f, &f->b, id, 0, -1, 0);
	struct fake_waiter *wz = park1(f, &f->c, id, 1, -1, 0);
	wa->deliverable = false;
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	/* a's operation was applied, its answer failed, it was rolled back
	 * and the unit went to b; sem 1 never became 1 for anyone.  */
	assert_false(wa->answered);
	assert_true(wa->released);
	assert_answered(wb, 0);
	assert_waiting(wz);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->b.ns_tgid);
	assert_int_equal(ctl(f, &f->root, id, 1, GETPID, 0), 0);
	/* a's adjustments were rolled back too.  */
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 0);
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 1), 0);
	assert_answered(wz, 0);
	assert_int_equal(getval(f, id, 1), 0);
	assert_int_equal(parked(f), 0);
}

static void test_sweep(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 1);

	struct fake_waiter *wa = park1(f, &f->a, id, 0, -1, 0);
	struct fake_waiter *wb = park1(f, &f->b, id, 0, -1, 0);
	struct sembuf cx[1] = { { 0, -1, 0 } };
	struct fake_waiter *wc = parkn(f, &f->c, id, cx, 1);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 3);
	wa->alive = false;
	/* GETNCNT counts only callers still waiting.  */
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 2);
	assert_true(wa->released);
	assert_false(wa->answered);
	wb->alive = false;
	assert_int_equal(ipcns_ns_sweep(f->ns), 1);
	assert_true(wb->released);
	assert_int_equal(ipcns_ns_sweep(f->ns), 0);
	assert_waiting(wc);
	assert_int_equal(parked(f), 1);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(wc, 0);
}

/* ---- Timeouts.  */

static void test_timeout(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 1);
	struct sembuf s = { 0, -1, SEM_UNDO };
	struct timespec zero = { 0, 0 }, one = { 1, 0 }, huge = { INT64_MAX, 999999999 }, now;

	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->a), id, ptr(&s), 1, ptr(&zero)), -EAGAIN);
	assert_int_equal(parked(f), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	f->a.last_parked = NULL;
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->a), id, ptr(&s), 1, ptr(&one)), IPCNS_PARKED);
	struct fake_waiter *w = f->a.last_parked;
	int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	assert_true(w->w.deadline >= t + 1000000000);
	assert_true(w->w.deadline < t + 2000000000);
	struct fake_waiter other = { 0 };
	ipcns_waiter_expire(f->ns, &other.w); /* not one of ours: ignored */
	assert_waiting(w);
	ipcns_waiter_expire(f->ns, &w->w);
	assert_answered(w, -EAGAIN);
	assert_int_equal(parked(f), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETNCNT, 0), 0);

	f->a.last_parked = NULL;
	assert_int_equal(ipcns_semtimedop(f->ns, fake_call(&f->a), id, ptr(&s), 1, ptr(&huge)), IPCNS_PARKED);
	w = f->a.last_parked;
	assert_int_equal(w->w.deadline, INT64_MAX);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), 0);
	assert_answered(w, 0);
	f->a.last_parked = NULL;
	assert_int_equal(op1(f, &f->a, id, 0, -1, 0), IPCNS_PARKED);
	assert_int_equal(f->a.last_parked->w.deadline, -1);
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_true(f->a.last_parked->released);
	/* The undone -1 of the completed call gave the unit back.  */
	assert_int_equal(getval(f, id, 0), 1);
	assert_int_equal(parked(f), 0);
}

/* ---- IPC_RMID.  */

static void test_rmid(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 1), 0);
	struct fake_waiter *w1 = park1(f, &f->a, id, 0, -1, SEM_UNDO);
	struct fake_waiter *w2 = park1(f, &f->b, id, 1, 0, 0);
	struct sembuf cx[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
	struct fake_waiter *w3 = parkn(f, &f->c, id, cx, 2);
	struct sembuf cz[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
	struct fake_waiter *w4 = parkn(f, &f->root, id, cz, 2);
	w2->alive = false;
	assert_int_equal(ctl(f, &f->user, id, 0, IPC_RMID, 0), -EPERM);
	assert_int_equal(ctl(f, &f->root, id, 0, IPC_RMID, 0), 0);
	assert_answered(w1, -EIDRM);
	assert_false(w2->answered);
	assert_true(w2->released);
	assert_answered(w3, -EIDRM);
	assert_answered(w4, -EIDRM);
	assert_int_equal(parked(f), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETVAL, 0), -EINVAL);
	assert_int_equal(op1(f, &f->root, id, 0, 1, 0), -EINVAL);
	/* Undo structures of the removed set are gone.  */
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);

	/* Host-side removal.  */
	id = newset(f, 1);
	w1 = park1(f, &f->a, id, 0, -1, 0);
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_SEM, id), 0);
	assert_answered(w1, -EIDRM);
	assert_int_equal(ipcns_ns_remove(f->ns, IPCNS_SEM, id), -EINVAL);
}

/* ---- SEM_UNDO.  */

static void test_undo_exit(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 2);

	assert_false(f->a.watched);
	assert_int_equal(op1(f, &f->a, id, 0, 3, SEM_UNDO), 0);
	assert_true(f->a.watched);
	assert_int_equal(op1(f, &f->a, id, 1, 2, 0), 0);
	assert_int_equal(op1(f, &f->b, id, 0, -1, 0), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->b.ns_tgid);
	/* a waiter on sem 1 reaching 0 is woken by the exit.  */
	struct fake_waiter *wz = park1(f, &f->c, id, 0, 0, 0);
	/* A thread of a (same host tgid) shares the adjustments.  */
	struct fake_proc thread;
	fake_proc_init(&thread, 0, ~0ULL, f->a.host_tgid, &f->all);
	thread.ns_tgid = f->a.ns_tgid;
	assert_int_equal(op1(f, &thread, id, 0, 1, SEM_UNDO), 0);
	assert_int_equal(getval(f, id, 0), 3);
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	/* 3 - 4 clamps at 0.  */
	assert_int_equal(getval(f, id, 0), 0);
	assert_int_equal(getval(f, id, 1), 2);
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->c.ns_tgid);
	assert_answered(wz, 0);
	/* Twice is harmless.  */
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_int_equal(getval(f, id, 0), 0);

	/* Clamp at SEMVMX; the exiting process becomes sempid.  */
	assert_int_equal(ctl(f, &f->root, id, 1, SETVAL, 10), 0);
	assert_int_equal(op1(f, &f->b, id, 1, -5, SEM_UNDO), 0);
	assert_int_equal(op1(f, &f->root, id, 1, 32762, 0), 0);
	assert_int_equal(getval(f, id, 1), 32767);
	ipcns_ns_process_exit(f->ns, f->b.host_tgid);
	assert_int_equal(getval(f, id, 1), 32767);
	assert_int_equal(ctl(f, &f->root, id, 1, GETPID, 0), f->b.ns_tgid);

	/* exit_sem sets sem_otime even without adjustments: an undo
	 * structure exists after any SEM_UNDO semop on the set, even one
	 * that failed with EFBIG.  */
	int id2 = newset(f, 1);
	struct semid_ds ds;
	assert_int_equal(ctl(f, &f->root, id2, 0, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.sem_otime, 0);
	assert_int_equal(op1(f, &f->c, id2, 1, 1, SEM_UNDO), -EFBIG);
	assert_int_equal(ctl(f, &f->root, id2, 0, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.sem_otime, 0);
	ipcns_ns_process_exit(f->ns, f->c.host_tgid);
	assert_int_equal(ctl(f, &f->root, id2, 0, IPC_STAT, ptr(&ds)), 0);
	assert_true(ds.sem_otime != 0);
}

static void test_undo_cleared(void **state)
{
	struct fx *f = *state;
	int id = newset(f, 3);

	assert_int_equal(op1(f, &f->a, id, 0, 2, SEM_UNDO), 0);
	assert_int_equal(op1(f, &f->a, id, 1, 2, SEM_UNDO), 0);
	assert_int_equal(op1(f, &f->a, id, 2, 2, SEM_UNDO), 0);
	assert_int_equal(op1(f, &f->b, id, 2, 1, SEM_UNDO), 0);
	/* SETVAL voids every process's adjustment of that semaphore.  */
	assert_int_equal(ctl(f, &f->root, id, 0, SETVAL, 5), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, GETPID, 0), f->root.ns_tgid);
	ipcns_ns_process_exit(f->ns, f->a.host_tgid);
	assert_int_equal(getval(f, id, 0), 5);
	assert_int_equal(getval(f, id, 1), 0);
	assert_int_equal(getval(f, id, 2), 1);
	/* SETALL voids all of them.  */
	unsigned short v[3] = { 7, 7, 7 };
	assert_int_equal(ctl(f, &f->root, id, 0, SETALL, ptr(v)), 0);
	ipcns_ns_process_exit(f->ns, f->b.host_tgid);
	assert_int_equal(getval(f, id, 2), 7);
	/* IPC_RMID drops them: a new set is untouched by c's exit.  */
	assert_int_equal(op1(f, &f->c, id, 0, 1, SEM_UNDO), 0);
	assert_int_equal(ctl(f, &f->root, id, 0, IPC_RMID, 0), 0);
	int id2 = newset(f, 3);
	assert_int_equal(ctl(f, &f->root, id2, 0, SETVAL, 3), 0);
	ipcns_ns_process_exit(f->ns, f->c.host_tgid);
	assert_int_equal(getval(f, id2, 0), 3);
}

/* ---- semctl.  */

static void test_semctl(void **state)
{
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	long id = ipcns_semget(f->ns, c, 0x777, 4, IPC_CREAT | 0640);
	assert_true(id >= 0);
	struct semid_ds ds;
	memset(&ds, 0xa5, sizeof(ds));

	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.sem_perm.__key, 0x777);
	assert_int_equal(ds.sem_perm.mode, 0640);
	assert_int_equal(ds.sem_perm.uid, 0);
	assert_int_equal(ds.sem_nsems, 4);
	assert_int_equal(ds.sem_otime, 0);
	assert_true(ds.sem_ctime > 0);
	assert_int_equal(ds.sem_perm.__seq, (int)(id / IPCNS_SEQ_MULTIPLIER));

	assert_int_equal(ctl(f, &f->root, (int)(id % IPCNS_SEQ_MULTIPLIER), 0, SEM_STAT, ptr(&ds)), id);
	assert_int_equal(ctl(f, &f->user, (int)(id % IPCNS_SEQ_MULTIPLIER), 0, SEM_STAT, ptr(&ds)), -EACCES);
	assert_int_equal(ctl(f, &f->user, (int)(id % IPCNS_SEQ_MULTIPLIER), 0, SEM_STAT_ANY, ptr(&ds)), id);
	assert_int_equal(ctl(f, &f->root, 77, 0, SEM_STAT, ptr(&ds)), -EINVAL);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_STAT, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_STAT, FAKE_BAD_ADDR), -EACCES);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_STAT | 0x100, ptr(&ds)), -EINVAL);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, 1234, 0), -EINVAL);
	assert_int_equal(ctl(f, &f->root, -1, 0, IPC_INFO, ptr(&ds)), -EINVAL);

	/* SETVAL / GETVAL and their errors.  */
	assert_int_equal(ctl(f, &f->root, (int)id, 2, SETVAL, 32768), -ERANGE);
	assert_int_equal(ctl(f, &f->root, (int)id, 2, SETVAL, (uint64_t)-1), -ERANGE);
	assert_int_equal(ctl(f, &f->root, (int)id, 4, SETVAL, 1), -EINVAL);
	assert_int_equal(ctl(f, &f->root, (int)id, -1, SETVAL, 1), -EINVAL);
	/* ERANGE before the lookup.  */
	assert_int_equal(ctl(f, &f->root, (int)id + 1, 2, SETVAL, 99999), -ERANGE);
	assert_int_equal(ctl(f, &f->user, (int)id, 2, SETVAL, 1), -EACCES);
	/* Only the low 32 bits of the register are the int.  */
	assert_int_equal(ctl(f, &f->root, (int)id, 2, SETVAL, (7ULL << 32) | 9), 0);
	assert_int_equal(getval(f, (int)id, 2), 9);
	assert_int_equal(ctl(f, &f->root, (int)id, 4, GETVAL, 0), -EINVAL);
	/* The permission check comes before the semnum check.  */
	assert_int_equal(ctl(f, &f->user, (int)id, 0, GETVAL, 0), -EACCES);
	assert_int_equal(ctl(f, &f->user, (int)id, 9, GETNCNT, 0), -EACCES);

	/* GETALL / SETALL.  */
	unsigned short v[4] = { 1, 2, 3, 4 }, g[4];
	assert_int_equal(ctl(f, &f->user, (int)id, 0, SETALL, ptr(v)), -EACCES);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, SETALL, FAKE_BAD_ADDR), -EFAULT);
	v[3] = 40000;
	assert_int_equal(ctl(f, &f->root, (int)id, 0, SETALL, ptr(v)), -ERANGE);
	v[3] = 4;
	assert_int_equal(ctl(f, &f->root, (int)id, 99, SETALL, ptr(v)), 0);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, GETALL, ptr(g)), 0);
	assert_memory_equal(g, v, sizeof(v));
	assert_int_equal(ctl(f, &f->root, (int)id, 0, GETALL, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->root, (int)id, 3, GETPID, 0), f->root.ns_tgid);

	/* semop sets sem_otime.  */
	assert_int_equal(op1(f, &f->a, (int)id, 1, 0, IPC_NOWAIT), -EAGAIN);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.sem_otime, 0);
	assert_int_equal(op1(f, &f->a, (int)id, 1, -1, 0), 0);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_STAT, ptr(&ds)), 0);
	assert_true(ds.sem_otime > 0);

	/* IPC_SET.  */
	ds.sem_perm.uid = 1000;
	ds.sem_perm.gid = 1000;
	ds.sem_perm.mode = 01600;
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_SET, ptr(&ds)), -EPERM);
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_SET, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->root, (int)id, 0, IPC_SET, ptr(&ds)), 0);
	memset(&ds, 0, sizeof(ds));
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.sem_perm.uid, 1000);
	assert_int_equal(ds.sem_perm.cuid, 0);
	assert_int_equal(ds.sem_perm.mode, 0600);
	ds.sem_perm.uid = (uid_t)-1;
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_SET, ptr(&ds)), -EINVAL);

	/* IPC_INFO/SEM_INFO return the highest index in use.  */
	struct seminfo si;
	long id2 = ipcns_semget(f->ns, c, IPC_PRIVATE, 2, 0600);
	assert_int_equal(ctl(f, &f->root, 0, 0, SEM_INFO, ptr(&si)), id2 % IPCNS_SEQ_MULTIPLIER);
	assert_int_equal(si.semusz, 2);
	assert_int_equal(si.semaem, 6);
	assert_int_equal(ctl(f, &f->root, 0, 0, SEM_INFO, FAKE_BAD_ADDR), -EFAULT);
	assert_int_equal(ctl(f, &f->user, (int)id, 0, IPC_RMID, 0), 0);
	assert_int_equal(ctl(f, &f->root, (int)id2, 0, IPC_RMID, 0), 0);
	assert_int_equal(ctl(f, &f->root, 0, 0, IPC_INFO, ptr(&si)), 0);
}

static int count_cb(void *arg, const struct ipcns_obj_info *info)
{
	int *n = arg;
	assert_int_equal(info->kind, IPCNS_SEM);
	assert_int_equal(info->count, 5);
	assert_int_equal(info->key, 0x99);
	(*n)++;
	return 0;
}

static void test_foreach_and_free(void **state)
{
	struct fx *f = *state;
	long id = ipcns_semget(f->ns, fake_call(&f->root), 0x99, 5, IPC_CREAT | 0600);
	assert_true(id >= 0);
	int n = 0;
	assert_int_equal(ipcns_ns_foreach(f->ns, IPCNS_SEM, count_cb, &n), 0);
	assert_int_equal(n, 1);
	/* Waiters and undo structures left at namespace teardown are
	 * released without an answer (checked in teardown).  */
	assert_int_equal(op1(f, &f->a, (int)id, 0, 1, SEM_UNDO), 0);
	struct fake_waiter *w = park1(f, &f->b, (int)id, 1, -1, SEM_UNDO);
	(void)park1(f, &f->c, (int)id, 0, 0, 0);
	ipcns_ns_free(f->ns);
	f->ns = NULL;
	assert_false(w->answered);
	assert_true(w->released);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_semget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, NULL, teardown),
		cmocka_unit_test_setup_teardown(test_uid_quota, NULL, teardown),
		cmocka_unit_test_setup_teardown(test_semop_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomicity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_complex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_semctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_and_free, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
