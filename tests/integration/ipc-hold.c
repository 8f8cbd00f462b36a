/* SPDX-License-Identifier: MIT */
/* ipc-hold: hold System V IPC objects of every kind until killed, for the
 * integration tests of teardown (ipcnsd must free everything when the
 * container dies).  Creates NSEG segments (attached and touched, the last
 * one also IPC_RMID'ed while attached), a semaphore set with one unit taken
 * with SEM_UNDO and a child parked in semop waiting for it, and a queue with
 * NMSG messages and a child parked in msgrcv for a type never sent.  Prints
 * "READY" when all of that is in place, then pauses.
 * Usage: ipc-hold [NSEG [NMSG]]  */
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
#include <unistd.h>

#define die(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "ipc-hold: " __VA_ARGS__);                                         \
		fprintf(stderr, ": %s\n", strerror(errno));                                        \
		exit(1);                                                                           \
	} while (0)

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct msgbuf_small {
	long mtype;
	char mtext[64];
};

/* A child that blocks in `semop` or `msgrcv` until it is killed with its
 * parent.  */
static pid_t park(int semid, int msqid)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (semid >= 0) {
		struct sembuf op = { .sem_num = 0, .sem_op = -1, .sem_flg = SEM_UNDO };
		semop(semid, &op, 1);
	} else {
		struct msgbuf_small m;
		msgrcv(msqid, &m, sizeof(m.mtext), 999, 0);
	}
	_exit(0);
}

/* The child has reached its blocking call when the kernel (here: ipcnsd)
 * counts it as a waiter.  */
static void wait_parked(int semid, int msqid)
{
	for (int i = 0; i < 500; i++) {
		if (semid >= 0 && semctl(semid, 0, GETNCNT) > 0)
			return;
		if (msqid >= 0) {
			/* No waiter count for queues: give the child time
			 * to reach msgrcv.  */
			usleep(100000);
			return;
		}
		usleep(10000);
	}
	fprintf(stderr, "ipc-hold: the semop child never blocked\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int nseg = argc > 1 ? atoi(argv[1]) : 2;
	int nmsg = argc > 2 ? atoi(argv[2]) : 5;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nseg; i++) {
		int id = shmget(i == 0 ? 0x4e1d : IPC_PRIVATE, 65536, IPC_CREAT | 0600);
		if (id < 0)
			die("shmget");
		char *p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			die("shmat");
		memset(p, 0x5a, 65536);
		if (i == nseg - 1 && i > 0 && shmctl(id, IPC_RMID, NULL) < 0)
			die("shmctl IPC_RMID");
	}
	int semid = semget(0x4e1e, 2, IPC_CREAT | 0600);
	if (semid < 0)
		die("semget");
	union semun arg = { .val = 1 };
	if (semctl(semid, 0, SETVAL, arg) < 0)
		die("semctl SETVAL");
	struct sembuf take = { .sem_num = 0, .sem_op = -1, .sem_flg = SEM_UNDO };
	if (semop(semid, &take, 1) < 0)
		die("semop");
	park(semid, -1);
	wait_parked(semid, -1);

	int msqid = msgget(0x4e1f, IPC_CREAT | 0600);
	if (msqid < 0)
		die("msgget");
	for (int i = 0; i < nmsg; i++) {
		struct msgbuf_small m = { .mtype = 1 + i % 3 };
		snprintf(m.mtext, sizeof(m.mtext), "message %d", i);
		if (msgsnd(msqid, &m, strlen(m.mtext) + 1, 0) < 0)
			die("msgsnd");
	}
	park(-1, msqid);
	wait_parked(-1, msqid);

	printf("READY %d segments, semaphore set %d, queue %d\n", nseg, semid, msqid);
	for (;;)
		pause();
}
