/* SPDX-License-Identifier: MIT */
/* Conformance: SEM_UNDO.  Adjustments applied at process exit (clamped to
 * [0, SEMVMX]), kept across execve, not inherited by fork, shared by the
 * threads of a process, voided by SETVAL/SETALL/IPC_RMID; a lock holder
 * killed by SIGKILL releases its lock; N processes x M iterations of a
 * SEM_UNDO critical section end with the exact count; an interrupted
 * sleeper leaves no adjustment.  By the time waitpid() reports a child's
 * death, its adjustments have been applied (exit_sem runs before the
 * parent is notified).  */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_wait.h"

static void on_signal(int sig)
{
	(void)sig;
}

static int op(int id, unsigned short num, short val, short flg)
{
	struct sembuf s = { num, val, flg };
	return semop(id, &s, 1);
}

static pid_t xfork(void)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	return pid;
}

/* Wait for `pid'; its exit code must be `code'.  */
static void reap(pid_t pid, int code)
{
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != code)
		CONF_FAIL("child %d: status 0x%x, want exit %d", pid, st, code);
}

static void reap_killed(pid_t pid)
{
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void test_exit(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 3, 0600));

	CHECK_OK(semctl(id, 2, SETVAL, 10));
	pid_t pid = xfork();
	if (pid == 0) {
		struct sembuf s[3] = { { 0, 2, SEM_UNDO }, { 1, 1, 0 }, { 2, -3, SEM_UNDO } };
		if (semop(id, s, 3) < 0)
			_exit(1);
		/* A zero op with SEM_UNDO makes no adjustment.  */
		if (op(id, 1, 0, SEM_UNDO | IPC_NOWAIT) == 0 || errno != EAGAIN)
			_exit(2);
		if (op(id, 0, -1, SEM_UNDO) < 0)
			_exit(3);
		_exit(semctl(id, 0, GETVAL) == 1 ? 0 : 4);
	}
	reap(pid, 0);
	/* sem 0: 1 - 1; sem 1 had no SEM_UNDO; sem 2: 7 + 3.  */
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_EQ(semctl(id, 1, GETVAL), 1);
	CHECK_EQ(semctl(id, 2, GETVAL), 10);
	/* The exiting process is sempid of what its exit changed.  */
	CHECK_EQ(semctl(id, 0, GETPID), pid);
	CHECK_EQ(semctl(id, 2, GETPID), pid);
	CHECK_OK(semctl(id, 1, SETVAL, 0));
	CHECK_EQ(semctl(id, 1, GETPID), getpid());

	/* Clamped at SEMVMX and at 0.  */
	CHECK_OK(semctl(id, 0, SETVAL, 5));
	int rfd[2];
	CHECK_OK(pipe(rfd));
	pid = xfork();
	if (pid == 0) {
		char c;
		close(rfd[1]);
		if (op(id, 0, -3, SEM_UNDO) < 0 || op(id, 1, 3, SEM_UNDO) < 0)
			_exit(1);
		if (read(rfd[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(rfd[0]);
	for (int i = 0; i < 3000 && semctl(id, 1, GETVAL) != 3; i++)
		usleep(1000);
	CHECK_EQ(semctl(id, 1, GETVAL), 3);
	CHECK_EQ(semctl(id, 0, GETVAL), 2);
	CHECK_OK(op(id, 0, 32765, 0));
	CHECK_OK(op(id, 1, -3, 0));
	close(rfd[1]);
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 32767);
	CHECK_EQ(semctl(id, 1, GETVAL), 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

/* exit_sem sets sem_otime of every set the process has an undo structure
 * for, and one exists after any SEM_UNDO semop that found the set, even
 * one that failed on sem_num (EFBIG).  */
static void test_exit_otime(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	struct semid_ds ds;

	pid_t pid = xfork();
	if (pid == 0)
		_exit(op(id, 1, 1, SEM_UNDO) < 0 && errno == EFBIG ? 0 : 1);
	reap(pid, 0);
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_TRUE(ds.sem_otime != 0);
	CHECK_EQ(semctl(id, 0, GETPID), 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));

	/* Without SEM_UNDO, no undo structure, no sem_otime.  */
	id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	pid = xfork();
	if (pid == 0)
		_exit(op(id, 1, 1, 0) < 0 && errno == EFBIG ? 0 : 1);
	reap(pid, 0);
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_EQ(ds.sem_otime, 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_exec(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	int p[2];

	CHECK_OK(pipe(p));
	pid_t pid = xfork();
	if (pid == 0) {
		close(p[1]);
		if (dup2(p[0], 0) < 0 || op(id, 0, 2, SEM_UNDO) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", "read x; exit 0", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* Wait until the child runs the shell.  */
	char path[64], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		if (strncmp(comm, "sh", 2) == 0)
			break;
		usleep(1000);
	}
	CHECK_TRUE(strncmp(comm, "sh", 2) == 0);
	/* execve keeps the adjustments: applied only when the shell exits. */
	CHECK_EQ(semctl(id, 0, GETVAL), 2);
	close(p[1]);
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_fork(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));

	pid_t pid = xfork();
	if (pid == 0) {
		if (op(id, 0, 1, SEM_UNDO) < 0)
			_exit(1);
		pid_t g = fork();
		if (g == 0)
			_exit(0);
		int st;
		if (waitpid(g, &st, 0) != g)
			_exit(2);
		/* The grandchild did not inherit the adjustment.  */
		_exit(semctl(id, 0, GETVAL) == 1 ? 0 : 3);
	}
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static int thread_id;

static void *thread_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)op(thread_id, 0, 1, SEM_UNDO);
}

static void test_threads(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));

	thread_id = id;
	pid_t pid = xfork();
	if (pid == 0) {
		pthread_t t;
		void *ret;
		if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, &ret) != 0 || ret)
			_exit(1);
		/* The thread is gone, the adjustment belongs to the process. */
		if (semctl(id, 0, GETVAL) != 1)
			_exit(2);
		/* And the main thread's own adjustment is the same one.  */
		if (op(id, 0, 1, SEM_UNDO) < 0)
			_exit(3);
		_exit(0);
	}
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

/* A child that does `sops', tells the parent, and waits for the pipe to
 * close before exiting.  */
static pid_t hold(int id, struct sembuf *sops, int n, int *release_fd)
{
	int ready[2], rel[2];
	if (pipe(ready) < 0 || pipe(rel) < 0)
		exit(1);
	pid_t pid = xfork();
	if (pid == 0) {
		char c = 0;
		close(ready[0]);
		close(rel[1]);
		if (semop(id, sops, (size_t)n) < 0)
			_exit(1);
		if (write(ready[1], &c, 1) != 1 || read(rel[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(ready[1]);
	close(rel[0]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		CONF_FAIL("holder did not start");
	close(ready[0]);
	*release_fd = rel[1];
	return pid;
}

static void test_cleared(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 3, 0600));
	int rel;

	/* SETVAL voids the adjustments of that semaphore only.  */
	struct sembuf s[3] = { { 0, 1, SEM_UNDO }, { 1, 1, SEM_UNDO }, { 2, 2, SEM_UNDO } };
	pid_t pid = hold(id, s, 3, &rel);
	CHECK_OK(semctl(id, 0, SETVAL, 5));
	close(rel);
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 5);
	CHECK_EQ(semctl(id, 1, GETVAL), 0);
	CHECK_EQ(semctl(id, 2, GETVAL), 0);

	/* SETALL voids all of them.  */
	pid = hold(id, s, 3, &rel);
	unsigned short v[3] = { 4, 4, 4 }, g[3];
	CHECK_OK(semctl(id, 0, SETALL, v));
	close(rel);
	reap(pid, 0);
	CHECK_OK(semctl(id, 0, GETALL, g));
	CHECK_TRUE(memcmp(v, g, sizeof(v)) == 0);

	/* IPC_RMID drops them: nothing happens to a new set at exit.  */
	pid = hold(id, s, 3, &rel);
	CHECK_OK(semctl(id, 0, IPC_RMID));
	int id2 = CHECK_OK(semget(IPC_PRIVATE, 3, 0600));
	CHECK_OK(semctl(id2, 0, SETALL, v));
	close(rel);
	reap(pid, 0);
	CHECK_OK(semctl(id2, 0, GETALL, g));
	CHECK_TRUE(memcmp(v, g, sizeof(v)) == 0);
	CHECK_OK(semctl(id2, 0, IPC_RMID));
}

static void test_killed_holder(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	int rel, p[2];

	CHECK_OK(semctl(id, 0, SETVAL, 1));
	struct sembuf lock = { 0, -1, SEM_UNDO };
	pid_t holder = hold(id, &lock, 1, &rel);
	CHECK_EQ(semctl(id, 0, GETVAL), 0);
	CHECK_OK(pipe(p));
	pid_t waiter = xfork();
	if (waiter == 0) {
		char c = 1;
		close(p[0]);
		if (op(id, 0, -1, SEM_UNDO) < 0)
			_exit(1);
		if (write(p[1], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(holder, SIGKILL));
	reap_killed(holder);
	close(rel);
	char c = 0;
	CHECK_EQ(read(p[0], &c, 1), 1);
	close(p[0]);
	reap(waiter, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 1);
	CHECK_EQ(semctl(id, 0, GETPID), waiter);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_interrupted(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	int p[2];

	CHECK_OK(pipe(p));
	pid_t pid = xfork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal; /* no SA_RESTART */
		sigaction(SIGUSR1, &sa, NULL);
		close(p[0]);
		int r = op(id, 0, -1, SEM_UNDO);
		int e = r < 0 ? errno : 0;
		if (write(p[1], &e, sizeof(e)) != sizeof(e))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	conf_wait_semcnt(id, 0, GETNCNT, 1);
	CHECK_OK(kill(pid, SIGUSR1));
	int e = -1;
	CHECK_EQ(read(p[0], &e, sizeof(e)), sizeof(e));
	CHECK_EQ(e, EINTR);
	close(p[0]);
	reap(pid, 0);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_OK(op(id, 0, 1, 0));
	CHECK_EQ(semctl(id, 0, GETVAL), 1);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

struct shared {
	volatile int counter;
	int inside;
	int overlap;
};

/* N processes x M iterations of a SEM_UNDO critical section.  */
static void test_mutex(void)
{
	enum { N = 4, M = 2000 };
	int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[N];

	if (sh == MAP_FAILED)
		CONF_SKIP("mmap");
	memset(sh, 0, sizeof(*sh));
	CHECK_OK(semctl(id, 0, SETVAL, 1));
	for (int k = 0; k < N; k++) {
		kids[k] = xfork();
		if (kids[k] == 0) {
			for (int i = 0; i < M; i++) {
				if (op(id, 0, -1, SEM_UNDO) < 0)
					_exit(1);
				if (__atomic_fetch_add(&sh->inside, 1, __ATOMIC_SEQ_CST) != 0)
					__atomic_fetch_add(&sh->overlap, 1, __ATOMIC_SEQ_CST);
				int v = sh->counter;
				if ((i & 63) == 0)
					sched_yield();
				sh->counter = v + 1;
				__atomic_fetch_sub(&sh->inside, 1, __ATOMIC_SEQ_CST);
				if (op(id, 0, 1, SEM_UNDO) < 0)
					_exit(2);
			}
			/* Leave holding the lock: the exit releases it.  */
			if (k == 0 && op(id, 0, -1, SEM_UNDO) < 0)
				_exit(3);
			_exit(0);
		}
	}
	for (int k = 0; k < N; k++)
		reap(kids[k], 0);
	CHECK_EQ(sh->counter, N * M);
	CHECK_EQ(sh->overlap, 0);
	CHECK_EQ(semctl(id, 0, GETVAL), 1);
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	munmap(sh, sizeof(*sh));
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

int main(void)
{
	struct seminfo si;

	if (semctl(0, 0, IPC_INFO, &si) < 0)
		CONF_SKIP("System V semaphores not available");
	test_exit();
	test_exit_otime();
	test_exec();
	test_fork();
	test_threads();
	test_cleared();
	test_killed_holder();
	test_interrupted();
	test_mutex();
	return conf_done("sem_undo");
}
