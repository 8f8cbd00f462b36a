/* SPDX-License-Identifier: MIT */
/* ipcns-bench CASE [ITERATIONS]: one benchmark case, printed as
 * "CASE VALUE UNIT".  The same binary runs natively and under ipcnsd;
 * tests/bench/run.sh compares them in one run.  Only libc.  */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "ipcns-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A call the supervisor answers with the least work: EINVAL at once.  */
static double bench_trivial(long n)
{
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		syscall(SYS_shmctl, -1, IPC_STAT, NULL);
	return (now_ns() - t0) / (double)n;
}

/* A call no rule of the filter names: what the filter costs every other
 * call (the kernel's action cache allows it without running the BPF).
 * The best of 100 batches: the target (1.02x) is 4 ns a call here, far
 * less than what preemption adds to the mean of a whole run on a shared
 * machine; the fastest batch is one nothing interrupted.  */
static double bench_getppid(long n)
{
	long batch = n >= 100 ? n / 100 : 1;
	double best = 0;

	for (long done = 0; done < n; done += batch) {
		double t0 = now_ns();
		for (long i = 0; i < batch; i++)
			syscall(SYS_getppid);
		double t = (now_ns() - t0) / (double)batch;
		if (done == 0 || t < best)
			best = t;
	}
	return best;
}

static double bench_semop(long n)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	if (id < 0)
		die("semget");
	struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		semop(id, &up, 1);
		semop(id, &down, 1);
	}
	double t = (now_ns() - t0) / (double)(2 * n);
	semctl(id, 0, IPC_RMID);
	return t;
}

/* Two processes hand a token back and forth: one round trip per loop.  */
static double bench_sem_pingpong(long n)
{
	int id = semget(IPC_PRIVATE, 2, 0600);
	if (id < 0)
		die("semget");
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf wait0 = { 0, -1, 0 }, post1 = { 1, 1, 0 };
		for (long i = 0; i < n; i++) {
			if (semop(id, &wait0, 1) < 0 || semop(id, &post1, 1) < 0)
				_exit(1);
		}
		_exit(0);
	}
	struct sembuf post0 = { 0, 1, 0 }, wait1 = { 1, -1, 0 };
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		semop(id, &post0, 1);
		semop(id, &wait1, 1);
	}
	double t = (now_ns() - t0) / (double)n;
	waitpid(pid, NULL, 0);
	semctl(id, 0, IPC_RMID);
	return t;
}

struct msg {
	long mtype;
	char text[64];
};

static double bench_msg_pingpong(long n)
{
	int id = msgget(IPC_PRIVATE, 0600);
	if (id < 0)
		die("msgget");
	pid_t pid = fork();
	if (pid == 0) {
		struct msg m;
		for (long i = 0; i < n; i++) {
			if (msgrcv(id, &m, sizeof(m.text), 1, 0) < 0)
				_exit(1);
			m.mtype = 2;
			if (msgsnd(id, &m, sizeof(m.text), 0) < 0)
				_exit(1);
		}
		_exit(0);
	}
	struct msg m = { .mtype = 1 };
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		m.mtype = 1;
		msgsnd(id, &m, sizeof(m.text), 0);
		msgrcv(id, &m, sizeof(m.text), 2, 0);
	}
	double t = (now_ns() - t0) / (double)n;
	waitpid(pid, NULL, 0);
	msgctl(id, IPC_RMID, NULL);
	return t;
}

static double bench_shmatdt(long n)
{
	int id = shmget(IPC_PRIVATE, 1 << 20, 0600);
	if (id < 0)
		die("shmget");
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		void *p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			die("shmat");
		if (shmdt(p) < 0)
			die("shmdt");
	}
	double t = (now_ns() - t0) / (double)n;
	shmctl(id, IPC_RMID, NULL);
	return t;
}

/* IPC_STAT of an attached segment held by a few processes: shm_nattch
 * must be exact, which is what costs.  */
static double bench_ipc_stat(long n)
{
	int id = shmget(IPC_PRIVATE, 1 << 20, 0600);
	if (id < 0)
		die("shmget");
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	pid_t kids[4];
	int pfd[2];
	if (pipe(pfd) < 0)
		die("pipe");
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c;
			close(pfd[1]);
			while (read(pfd[0], &c, 1) > 0)
				;
			_exit(0);
		}
	}
	close(pfd[0]);
	struct shmid_ds ds;
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		shmctl(id, IPC_STAT, &ds);
	double t = (now_ns() - t0) / (double)n;
	close(pfd[1]);
	for (int i = 0; i < 4; i++)
		waitpid(kids[i], NULL, 0);
	if (ds.shm_nattch != 5)
		fprintf(stderr, "ipcns-bench: shm_nattch %lu, want 5\n", (unsigned long)ds.shm_nattch);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return t;
}

/* Calls that print pids (each turned into the caller's pid namespace's
 * number): semctl GETPID and IPC_STAT of a set a semop touched, msgctl
 * IPC_STAT of a queue a message went through.  */
static double bench_sem_stat(long n)
{
	int id = semget(IPC_PRIVATE, 4, 0600);
	struct sembuf op = { 0, 1, 0 };
	struct semid_ds ds;
	if (id < 0 || semop(id, &op, 1) < 0)
		die("semget/semop");
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		semctl(id, 0, IPC_STAT, &ds);
		if (semctl(id, 0, GETPID) != getpid())
			die("semctl GETPID");
	}
	double t = (now_ns() - t0) / (double)(2 * n);
	semctl(id, 0, IPC_RMID);
	return t;
}

static double bench_msg_stat(long n)
{
	int id = msgget(IPC_PRIVATE, 0600);
	struct {
		long mtype;
		char t[8];
	} m = { 1, "x" };
	struct msqid_ds ds;
	if (id < 0 || msgsnd(id, &m, sizeof(m.t), 0) < 0 || msgrcv(id, &m, sizeof(m.t), 0, 0) < 0)
		die("msgget/msgsnd/msgrcv");
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		msgctl(id, IPC_STAT, &ds);
	double t = (now_ns() - t0) / (double)n;
	if (ds.msg_lspid != getpid() || ds.msg_lrpid != getpid())
		fprintf(stderr, "ipcns-bench: msg_lspid %d msg_lrpid %d, want %d\n", (int)ds.msg_lspid,
			(int)ds.msg_lrpid, (int)getpid());
	msgctl(id, IPC_RMID, NULL);
	return t;
}

/* MB/s writing a 256 MiB attached segment, after one pass that faults
 * the pages in.  */
static double bench_bandwidth(long passes)
{
	size_t size = 256UL << 20;
	int id = shmget(IPC_PRIVATE, size, 0600);
	if (id < 0)
		die("shmget");
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	memset(p, 1, size);
	double t0 = now_ns();
	for (long i = 0; i < passes; i++)
		memset(p, (int)i, size);
	double t = now_ns() - t0;
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return (double)size * (double)passes / (1 << 20) / (t / 1e9);
}

/* semop_timed SECONDS [BARRIER]: waits for the file BARRIER to exist (so
 * that many containers start together), then counts semops for SECONDS.
 * Prints ops per second.  */
static int semop_timed(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 2;
	if (argc > 3)
		while (access(argv[3], F_OK) < 0)
			usleep(1000);
	int id = semget(IPC_PRIVATE, 1, 0600);
	if (id < 0)
		die("semget");
	struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
	long n = 0;
	double t0 = now_ns(), end = t0 + secs * 1e9, t;
	do {
		for (int i = 0; i < 50; i++) {
			semop(id, &up, 1);
			semop(id, &down, 1);
		}
		n += 100;
	} while ((t = now_ns()) < end);
	semctl(id, 0, IPC_RMID);
	printf("semop_timed %.0f ops/s\n", (double)n / ((t - t0) / 1e9));
	return 0;
}

/* hold KIND N: create N objects of KIND (shm, sem, msg), print "ready",
 * then wait for stdin to close and remove them.  */
static int hold(int argc, char **argv)
{
	const char *kind = argc > 2 ? argv[2] : "sem";
	long n = argc > 3 ? atol(argv[3]) : 1000;
	int *ids = calloc((size_t)n, sizeof(int));
	for (long i = 0; i < n; i++) {
		if (!strcmp(kind, "shm"))
			ids[i] = shmget(IPC_PRIVATE, 4096, 0600);
		else if (!strcmp(kind, "msg"))
			ids[i] = msgget(IPC_PRIVATE, 0600);
		else
			ids[i] = semget(IPC_PRIVATE, 1, 0600);
		if (ids[i] < 0)
			die(kind);
	}
	printf("ready\n");
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	for (long i = 0; i < n; i++) {
		if (!strcmp(kind, "shm"))
			shmctl(ids[i], IPC_RMID, NULL);
		else if (!strcmp(kind, "msg"))
			msgctl(ids[i], IPC_RMID, NULL);
		else
			semctl(ids[i], 0, IPC_RMID);
	}
	free(ids);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "semop_timed"))
		return semop_timed(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "hold"))
		return hold(argc, argv);
	static const struct {
		const char *name;
		double (*fn)(long);
		long n;
		const char *unit;
	} cases[] = {
		{ "trivial", bench_trivial, 200000, "ns/call" },
		{ "getppid", bench_getppid, 2000000, "ns/call" },
		{ "semop", bench_semop, 100000, "ns/call" },
		{ "sem_pingpong", bench_sem_pingpong, 20000, "ns/roundtrip" },
		{ "msg_pingpong", bench_msg_pingpong, 20000, "ns/roundtrip" },
		{ "shmat_shmdt", bench_shmatdt, 5000, "ns/pair" },
		{ "ipc_stat", bench_ipc_stat, 5000, "ns/call" },
		{ "sem_stat", bench_sem_stat, 50000, "ns/call" },
		{ "msg_stat", bench_msg_stat, 100000, "ns/call" },
		{ "bandwidth", bench_bandwidth, 8, "MB/s" },
	};
	if (argc < 2) {
		fprintf(stderr, "Usage: ipcns-bench CASE [N]\nCases:");
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			fprintf(stderr, " %s", cases[i].name);
		fputc('\n', stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		long n = argc > 2 ? atol(argv[2]) : cases[i].n;
		if (n <= 0)
			n = cases[i].n;
		double v = cases[i].fn(n);
		printf("%s %.1f %s\n", cases[i].name, v, cases[i].unit);
		return 0;
	}
	fprintf(stderr, "ipcns-bench: unknown case '%s'\n", argv[1]);
	return 2;
}
