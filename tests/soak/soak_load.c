/* SPDX-License-Identifier: MIT */
/* soak_load: a moderate, mixed System V IPC load for the soak test
 * (tests/soak/soak.sh), run inside a container under ipcnsd.
 *
 * Usage: soak_load SECONDS [SEED]
 *
 * Three processes share one namespace for SECONDS seconds:
 *  - the parent loops over rounds of: shmget + shmat + touch + shmdt +
 *    IPC_RMID (sometimes IPC_RMID while attached, then a fork that exits
 *    holding the attachment), semop with and without SEM_UNDO, semtimedop
 *    that times out, msgsnd of a few messages, IPC_STAT/SHM_INFO/ipcs-like
 *    walks;
 *  - a child receives the messages (blocking msgrcv, so it parks in the
 *    daemon) and posts a semaphore for each;
 *  - a second child blocks in semop on a semaphore the parent posts now
 *    and then, with SEM_UNDO.
 * Every round sleeps a little so 16 containers stay a moderate load on two
 * CPUs.  Any unexpected errno ends the program with status 1 and a line
 * "soak_load: FAIL ...", so the soak counts failed workloads.  Killed
 * (SIGKILL) by the soak at any moment is expected.  */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define fail(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "soak_load: FAIL " __VA_ARGS__);                                   \
		fprintf(stderr, ": %s\n", strerror(errno));                                        \
		exit(1);                                                                           \
	} while (0)

struct mb {
	long mtype;
	char mtext[256];
};

static unsigned int seed;

static unsigned int rnd(unsigned int n)
{
	return (unsigned int)rand_r(&seed) % n;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The receiver: takes every message, posts semaphore 1 per message; ends
 * on mtype 2 or when the queue goes.  */
static void receiver(int msqid, int semid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		struct mb m;
		ssize_t n = msgrcv(msqid, &m, sizeof(m.mtext), 0, 0);
		if (n < 0) {
			if (errno == EIDRM || errno == EINVAL)
				_exit(0);
			if (errno == EINTR)
				continue;
			fail("msgrcv");
		}
		if (m.mtype == 2)
			_exit(0);
		struct sembuf post = { 1, 1, 0 };
		if (semop(semid, &post, 1) < 0)
			fail("semop post");
	}
}

/* The sleeper: waits on semaphore 2 with SEM_UNDO, gives it back.  */
static void sleeper(int semid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		struct sembuf take = { 2, -1, SEM_UNDO };
		if (semop(semid, &take, 1) < 0) {
			if (errno == EIDRM || errno == EINVAL)
				_exit(0);
			if (errno == EINTR)
				continue;
			fail("semop take");
		}
		struct sembuf zero = { 3, 0, 0 };
		if (semop(semid, &zero, 1) < 0 && errno != EIDRM && errno != EINVAL)
			fail("semop zero");
	}
}

static void shm_round(void)
{
	size_t size = 4096 * (1 + rnd(16));
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0)
		fail("shmget");
	char *p = shmat(id, NULL, rnd(4) == 0 ? SHM_RDONLY : 0);
	if (p == (void *)-1)
		fail("shmat");
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0 || ds.shm_nattch != 1)
		fail("IPC_STAT nattch %lu", (unsigned long)ds.shm_nattch);
	if (rnd(3) == 0) {
		/* Removed while attached; a child inherits the attachment and
		 * exits with it.  */
		if (shmctl(id, IPC_RMID, NULL) < 0)
			fail("IPC_RMID attached");
		pid_t pid = fork();
		if (pid == 0)
			_exit(p[0] == 0 ? 0 : 1);
		if (pid < 0)
			fail("fork");
		waitpid(pid, NULL, 0);
		if (shmdt(p) < 0)
			fail("shmdt");
		return;
	}
	if (shmdt(p) < 0)
		fail("shmdt");
	if (shmctl(id, IPC_RMID, NULL) < 0)
		fail("IPC_RMID");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "Usage: soak_load SECONDS [SEED]\n");
		return 2;
	}
	double end = now() + atof(argv[1]);
	seed = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : (unsigned int)getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);

	int semid = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
	int msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (semid < 0 || msqid < 0)
		fail("semget/msgget");
	pid_t rpid = fork();
	if (rpid == 0)
		receiver(msqid, semid);
	pid_t spid = fork();
	if (spid == 0)
		sleeper(semid);
	if (rpid < 0 || spid < 0)
		fail("fork");
	printf("soak_load: running\n");

	unsigned long rounds = 0, sent = 0;
	while (now() < end) {
		rounds++;
		shm_round();

		/* Messages to the receiver, each acknowledged on semaphore 1.  */
		int n = 1 + (int)rnd(8);
		for (int i = 0; i < n; i++) {
			struct mb m = { .mtype = 1 };
			size_t len = 1 + rnd(sizeof(m.mtext));
			memset(m.mtext, 'a' + i, len);
			if (msgsnd(msqid, &m, len, 0) < 0)
				fail("msgsnd");
			sent++;
		}
		struct sembuf ack = { 1, (short)-n, 0 };
		if (semop(semid, &ack, 1) < 0)
			fail("semop ack");

		/* A unit for the sleeper now and then.  */
		if (rnd(2) == 0) {
			struct sembuf post = { 2, 1, 0 };
			if (semop(semid, &post, 1) < 0)
				fail("semop post 2");
		}
		/* A semtimedop that times out.  */
		if (rnd(8) == 0) {
			struct sembuf never = { 0, -1, 0 };
			struct timespec ts = { 0, 2000000 };
			if (semtimedop(semid, &never, 1, &ts) == 0 || errno != EAGAIN)
				fail("semtimedop timeout");
		}
		/* A look around, as ipcs does.  */
		if (rnd(4) == 0) {
			struct shm_info si;
			struct msqid_ds mq;
			if (shmctl(0, SHM_INFO, (struct shmid_ds *)&si) < 0 || msgctl(msqid, IPC_STAT, &mq) < 0 ||
			    semctl(semid, 0, GETNCNT) < 0)
				fail("info");
		}
		msleep(20 + rnd(40));
	}
	struct mb stop = { .mtype = 2 };
	if (msgsnd(msqid, &stop, 1, 0) < 0)
		fail("msgsnd stop");
	waitpid(rpid, NULL, 0);
	semctl(semid, 0, IPC_RMID);
	msgctl(msqid, IPC_RMID, NULL);
	waitpid(spid, NULL, 0);
	printf("soak_load: done, %lu rounds, %lu messages\n", rounds, sent);
	return 0;
}
