/* SPDX-License-Identifier: MIT */
/* Conformance: sleeping semop.  Wake-up order (FIFO per semaphore, complex
 * operations merged into one FIFO with single ones, no starvation
 * protection), wait-for-zero, EINTR (handler without SA_RESTART, and one
 * installed by signal(), which glibc gives SA_RESTART, for a decrement, a
 * wait-for-zero and a semtimedop; the other signal cases are in
 * sig_intr), EIDRM,
 * timeouts, GETNCNT/GETZCNT with real sleeping children, and that an
 * interrupted or killed sleeper consumes nothing.  A child's state is
 * learnt by polling GETNCNT/GETZCNT, never by sleeping a fixed time.  */
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_wait.h"

#define MAXKIDS 16

static int rfd = -1, wfd = -1;
static pid_t kids[MAXKIDS];
static int nkids;

struct msg {
	int tag;
	int err; /* 0 or errno of the semop */
};

static void on_signal(int sig)
{
	(void)sig;
}

/* Fork a child that runs semtimedop(id, sops, n, ts) and reports
 * {tag, errno} on the pipe.  */
static pid_t spawn(int id, const struct sembuf *sops, int n, const struct timespec *ts, int tag)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal; /* no SA_RESTART */
		sigaction(SIGUSR1, &sa, NULL);
		signal(SIGHUP, on_signal); /* SA_RESTART */
		struct sembuf s[8];
		memcpy(s, sops, (size_t)n * sizeof(*s));
		int r = semtimedop(id, s, (size_t)n, ts);
		struct msg m = { tag, r == 0 ? 0 : errno };
		if (write(wfd, &m, sizeof(m)) != sizeof(m))
			_exit(2);
		_exit(0);
	}
	kids[nkids++] = pid;
	return pid;
}

static pid_t spawn1(int id, unsigned short num, short op, int tag)
{
	struct sembuf s = { num, op, 0 };
	return spawn(id, &s, 1, NULL, tag);
}

static struct msg next_msg(void)
{
	struct msg m = { -1, -1 };
	if (read(rfd, &m, sizeof(m)) != sizeof(m))
		CONF_FAIL("no message from a child");
	return m;
}

static void expect_msg(int tag, int err)
{
	struct msg m = next_msg();
	CHECK_EQ(m.tag, tag);
	CHECK_EQ(m.err, err);
}

static void reap_all(void)
{
	for (int i = 0; i < nkids; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) != kids[i])
			CONF_FAIL("waitpid %d", kids[i]);
	}
	nkids = 0;
}

static int up(int id, unsigned short num, short n)
{
	struct sembuf s = { num, n, 0 };
	return semop(id, &s, 1);
}

static void test_fifo(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));

	for (int i = 0; i < 4; i++) {
		spawn1(id, 0, -1, i);
		conf_wait_semcnt(id, 0, GETNCNT, i + 1);
	}
	for (int i = 0; i < 4; i++) {
		CHECK_OK(up(id, 0, 1));
		expect_msg(i, 0);
	}
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	reap_all();

	/* No starvation protection: a later, smaller decrement passes. */
	spawn1(id, 0, -2, 10);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	spawn1(id, 0, -1, 11);
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	CHECK_OK(up(id, 0, 1));
	expect_msg(11, 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 1);
	CHECK_OK(up(id, 0, 2));
	expect_msg(10, 0);
	/* sempid is the last process whose operation completed.  */
	CHECK_EQ(semctl(id, 0, GETPID), kids[0]);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_complex_order(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));
	struct sembuf cx[2] = { { 0, -1, 0 }, { 1, 0, 0 } };

	/* single, complex, single on sem 0: one FIFO.  */
	spawn1(id, 0, -1, 1);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	spawn(id, cx, 2, NULL, 2);
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	spawn1(id, 0, -1, 3);
	conf_wait_semcnt(id, 0, GETNCNT, 3);
	for (int i = 1; i <= 3; i++) {
		CHECK_OK(up(id, 0, 1));
		expect_msg(i, 0);
	}
	reap_all();

	/* A complex sleeper blocked on sem 1 does not hold back a later
	 * single decrement of sem 0, and it is counted on the semaphore it
	 * blocks on.  */
	struct sembuf cy[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
	spawn(id, cy, 2, NULL, 4);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	spawn1(id, 0, -1, 5);
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	CHECK_OK(up(id, 0, 1));
	expect_msg(5, 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 1);
	CHECK_EQ(semctl(id, 1, GETNCNT), 0);
	CHECK_OK(up(id, 0, 1));
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_EQ(semctl(id, 1, GETNCNT), 1);
	CHECK_OK(up(id, 1, 1));
	expect_msg(4, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_EQ(semctl(id, 1, GETVAL), 0);
	CHECK_EQ(semctl(id, 1, GETPID), kids[0]);

	/* A sleeper whose new blocking sop has IPC_NOWAIT fails with
	 * EAGAIN when woken.  */
	CHECK_OK(semctl(id, 1, SETVAL, 1));
	struct sembuf nw[2] = { { 0, -1, 0 }, { 1, 0, IPC_NOWAIT } };
	spawn(id, nw, 2, NULL, 6);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(up(id, 0, 1));
	expect_msg(6, EAGAIN);
	CHECK_EQ(semctl(id, 0, GETVAL), 1);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_zero(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));
	struct sembuf cz[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
	int seen[3] = { 0, 0, 0 };

	CHECK_OK(semctl(id, 0, SETVAL, 2));
	CHECK_OK(semctl(id, 1, SETVAL, 1));
	spawn1(id, 0, 0, 0);
	spawn1(id, 0, 0, 1);
	conf_wait_semcnt(id, 0, GETZCNT, 2);
	spawn(id, cz, 2, NULL, 2);
	conf_wait_semcnt(id, 0, GETZCNT, 3);
	CHECK_EQ(semctl(id, 1, GETZCNT), 0);
	CHECK_OK(up(id, 0, -1));
	CHECK_EQ(semctl(id, 0, GETZCNT), 3);
	CHECK_OK(up(id, 0, -1));
	for (int i = 0; i < 2; i++) {
		struct msg m = next_msg();
		CHECK_TRUE(m.tag == 0 || m.tag == 1);
		CHECK_EQ(m.err, 0);
		if (m.tag >= 0 && m.tag < 3)
			seen[m.tag]++;
	}
	CHECK_TRUE(seen[0] == 1 && seen[1] == 1);
	/* The complex one now waits for sem 1.  */
	CHECK_EQ(semctl(id, 0, GETZCNT), 0);
	CHECK_EQ(semctl(id, 1, GETZCNT), 1);
	CHECK_OK(semctl(id, 1, SETVAL, 0));
	expect_msg(2, 0);
	CHECK_EQ(semctl(id, 1, GETPID), kids[2]);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_eintr(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));

	pid_t p = spawn1(id, 0, -1, 1);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(p, SIGUSR1));
	expect_msg(1, EINTR);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	/* The interrupted sleeper took nothing.  */
	CHECK_OK(up(id, 0, 1));
	CHECK_EQ(semctl(id, 0, GETVAL), 1);

	/* The same for wait-for-zero and for a complex operation, with a
	 * sleeper behind it that must get the unit.  */
	struct sembuf cx[2] = { { 0, -2, 0 }, { 1, 1, 0 } };
	p = spawn(id, cx, 2, NULL, 2);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	spawn1(id, 0, -2, 3);
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	pid_t z = spawn1(id, 0, 0, 4);
	conf_wait_semcnt(id, 0, GETZCNT, 1);
	CHECK_OK(kill(p, SIGUSR1));
	expect_msg(2, EINTR);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(z, SIGUSR1));
	expect_msg(4, EINTR);
	CHECK_EQ(semctl(id, 0, GETZCNT), 0);
	CHECK_OK(up(id, 0, 1));
	expect_msg(3, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_EQ(semctl(id, 1, GETVAL), 0);
	reap_all();

	/* A handler from signal() (SA_RESTART): EINTR all the same, for a
	 * decrement, a wait-for-zero and a semtimedop with a timeout.  */
	struct timespec ts = { 60, 0 };
	struct sembuf dec = { 0, -1, 0 };
	p = spawn1(id, 0, -1, 5);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(p, SIGHUP));
	expect_msg(5, EINTR);
	CHECK_OK(semctl(id, 1, SETVAL, 1));
	z = spawn1(id, 1, 0, 6);
	conf_wait_semcnt(id, 1, GETZCNT, 1);
	CHECK_OK(kill(z, SIGHUP));
	expect_msg(6, EINTR);
	p = spawn(id, &dec, 1, &ts, 7);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(p, SIGHUP));
	expect_msg(7, EINTR);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_EQ(semctl(id, 1, GETZCNT), 0);
	CHECK_EQ(semctl(id, 1, GETVAL), 1);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_killed(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));

	/* Three sleepers; the first is killed; the others still get the
	 * units in order and GETNCNT drops.  */
	pid_t p = spawn1(id, 0, -1, 1);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	spawn1(id, 0, -1, 2);
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	spawn1(id, 0, -1, 3);
	conf_wait_semcnt(id, 0, GETNCNT, 3);
	CHECK_OK(kill(p, SIGKILL));
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	CHECK_OK(up(id, 0, 1));
	expect_msg(2, 0);
	CHECK_OK(up(id, 0, 1));
	expect_msg(3, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_eidrm(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));
	struct sembuf cx[2] = { { 0, -1, 0 }, { 1, -1, 0 } }, cz[2] = { { 0, 0, 0 }, { 1, 0, 0 } };

	CHECK_OK(semctl(id, 1, SETVAL, 1));
	spawn1(id, 0, -1, 0);
	spawn1(id, 1, 0, 1);
	spawn(id, cx, 2, NULL, 2);
	spawn(id, cz, 2, NULL, 3);
	struct timespec ts = { 30, 0 };
	struct sembuf s = { 0, -1, SEM_UNDO };
	spawn(id, &s, 1, &ts, 4);
	conf_wait_semcnt(id, 0, GETNCNT, 3);
	conf_wait_semcnt(id, 1, GETZCNT, 2);
	CHECK_OK(semctl(id, 0, IPC_RMID));
	int seen = 0;
	for (int i = 0; i < 5; i++) {
		struct msg m = next_msg();
		CHECK_EQ(m.err, EIDRM);
		if (m.tag >= 0 && m.tag < 5)
			seen |= 1 << m.tag;
	}
	CHECK_EQ(seen, 0x1f);
	reap_all();
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void test_timeout(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));
	struct sembuf s = { 0, -1, 0 };
	struct timespec ts = { 0, 50 * 1000000 }, zero = { 0, 0 };

	int64_t t0 = mono_ms();
	CHECK_ERR(semtimedop(id, &s, 1, &ts), EAGAIN);
	/* Never early.  */
	CHECK_TRUE(mono_ms() - t0 >= 49);
	CHECK_ERR(semtimedop(id, &s, 1, &zero), EAGAIN);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);

	/* IPC_NOWAIT on a sop that does not block does not matter: the
	 * call sleeps until its timeout.  */
	struct sembuf nw[2] = { { 1, 1, IPC_NOWAIT }, { 0, -1, 0 } };
	t0 = mono_ms();
	CHECK_ERR(semtimedop(id, nw, 2, &ts), EAGAIN);
	CHECK_TRUE(mono_ms() - t0 >= 49);
	CHECK_EQ(semctl(id, 1, GETVAL), 0);

	/* A timed sleeper woken before its timeout succeeds; a timed-out
	 * one took nothing.  */
	struct timespec longt = { 20, 0 };
	spawn(id, &s, 1, &longt, 1);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(up(id, 0, 1));
	expect_msg(1, 0);
	struct timespec shortt = { 0, 20 * 1000000 };
	spawn(id, &s, 1, &shortt, 2);
	expect_msg(2, EAGAIN);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_OK(up(id, 0, 1));
	CHECK_EQ(semctl(id, 0, GETVAL), 1);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_counts(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 2, 0600));
	struct sembuf cz[2] = { { 1, 0, 0 }, { 0, -1, 0 } };

	CHECK_OK(semctl(id, 1, SETVAL, 1));
	pid_t d[3];
	/* One at a time: FIFO order is the order in which they slept.  */
	for (int i = 0; i < 3; i++) {
		d[i] = spawn1(id, 0, -1, i);
		conf_wait_semcnt(id, 0, GETNCNT, i + 1);
	}
	spawn1(id, 1, 0, 3);
	spawn1(id, 1, 0, 4);
	conf_wait_semcnt(id, 1, GETZCNT, 2);
	spawn(id, cz, 2, NULL, 5);
	conf_wait_semcnt(id, 1, GETZCNT, 3);
	CHECK_EQ(semctl(id, 0, GETZCNT), 0);
	CHECK_EQ(semctl(id, 1, GETNCNT), 0);
	CHECK_OK(kill(d[1], SIGKILL));
	conf_wait_semcnt(id, 0, GETNCNT, 2);
	/* Sem 1 reaches 0: the zero waiters go, the complex one now sleeps
	 * on sem 0.  */
	CHECK_OK(semctl(id, 1, SETVAL, 0));
	int seen = 0;
	for (int i = 0; i < 2; i++) {
		struct msg m = next_msg();
		CHECK_EQ(m.err, 0);
		if (m.tag >= 0 && m.tag < 8)
			seen |= 1 << m.tag;
	}
	CHECK_EQ(seen, (1 << 3) | (1 << 4));
	CHECK_EQ(semctl(id, 1, GETZCNT), 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 3);
	/* FIFO among the rest: d[0], d[2], then the complex one.  */
	CHECK_OK(up(id, 0, 1));
	expect_msg(0, 0);
	CHECK_OK(up(id, 0, 1));
	expect_msg(2, 0);
	CHECK_OK(up(id, 0, 1));
	expect_msg(5, 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	reap_all();
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

int main(void)
{
	struct seminfo si;
	int p[2];

	if (semctl(0, 0, IPC_INFO, &si) < 0)
		CONF_SKIP("System V semaphores not available");
	if (pipe(p) < 0)
		CONF_SKIP("pipe");
	rfd = p[0];
	wfd = p[1];
	test_fifo();
	test_complex_order();
	test_zero();
	test_eintr();
	test_killed();
	test_eidrm();
	test_timeout();
	test_counts();
	return conf_done("sem_wait");
}
