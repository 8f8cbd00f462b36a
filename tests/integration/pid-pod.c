/* SPDX-License-Identifier: MIT */
/* pid-pod: the container side of pidns.bats, two containers sharing one
 * IPC namespace with pid namespaces of their own (a pod whose containers
 * do not share a pid namespace).
 *
 *   pid-pod make XCHG   make a semaphore set (key 0x51d0), a queue
 *                       (0x51d1) and a segment (0x51d2), all 0666; semop,
 *                       msgsnd, shmat + shmdt; print "self PID"; create
 *                       XCHG/made; wait for XCHG/go; print what it sees.
 *   pid-pod touch       msgrcv the message, shmat + shmdt the segment;
 *                       print "self PID" and what it sees.
 *
 * What it sees, as two lines:
 *   see SEMPID LSPID LRPID CPID LPID   (GETPID, msgctl and shmctl IPC_STAT)
 *   proc CPID LPID LSPID LRPID         (/proc/sysvipc/shm and msg)
 * Exits 1 on any failure.  */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#define KEY_SEM 0x51d0
#define KEY_MSQ 0x51d1
#define KEY_SHM 0x51d2

struct msgb {
	long mtype;
	char mtext[8];
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The two pid columns of object id's line: shm cpid lpid (fields 5 and
 * 6), msg lspid lrpid (fields 6 and 7).  */
static void proc_pids(const char *path, int id, long *a, long *b)
{
	char line[512];
	FILE *f = fopen(path, "re");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		long v[7];
		if (sscanf(line, "%ld %ld %lo %ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7 ||
		    v[1] != id)
			continue;
		bool shm = strstr(path, "shm") != NULL;
		*a = shm ? v[4] : v[5];
		*b = shm ? v[5] : v[6];
		fclose(f);
		return;
	}
	fprintf(stderr, "%s: no line for id %d\n", path, id);
	exit(1);
}

static void see(int sem, int msq, int shm)
{
	struct msqid_ds mds;
	struct shmid_ds sds;
	int sempid = semctl(sem, 0, GETPID);
	if (sempid < 0)
		die("semctl GETPID");
	if (msgctl(msq, IPC_STAT, &mds) < 0)
		die("msgctl IPC_STAT");
	if (shmctl(shm, IPC_STAT, &sds) < 0)
		die("shmctl IPC_STAT");
	printf("see %d %d %d %d %d\n", sempid, (int)mds.msg_lspid, (int)mds.msg_lrpid, (int)sds.shm_cpid,
	       (int)sds.shm_lpid);
	long c, l, s, r;
	proc_pids("/proc/sysvipc/shm", shm, &c, &l);
	proc_pids("/proc/sysvipc/msg", msq, &s, &r);
	printf("proc %ld %ld %ld %ld\n", c, l, s, r);
}

static void attach_detach(int shm)
{
	void *p = shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	if (shmdt(p) < 0)
		die("shmdt");
}

int main(int argc, char **argv)
{
	struct msgb m = { 1, "pod" };
	char path[4096];

	if (argc == 3 && !strcmp(argv[1], "make")) {
		struct sembuf up = { 0, 1, 0 };
		int sem = semget(KEY_SEM, 1, IPC_CREAT | 0666);
		int msq = msgget(KEY_MSQ, IPC_CREAT | 0666);
		int shm = shmget(KEY_SHM, 4096, IPC_CREAT | 0666);
		if (sem < 0 || msq < 0 || shm < 0)
			die("get");
		if (semop(sem, &up, 1) < 0)
			die("semop");
		if (msgsnd(msq, &m, sizeof(m.mtext), 0) < 0)
			die("msgsnd");
		attach_detach(shm);
		printf("self %d\n", (int)getpid());
		fflush(stdout);
		snprintf(path, sizeof(path), "%s/made", argv[2]);
		FILE *f = fopen(path, "we");
		if (!f)
			die(path);
		fclose(f);
		snprintf(path, sizeof(path), "%s/go", argv[2]);
		while (access(path, F_OK) < 0)
			usleep(50000);
		see(sem, msq, shm);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "touch")) {
		int sem = semget(KEY_SEM, 0, 0), msq = msgget(KEY_MSQ, 0), shm = shmget(KEY_SHM, 0, 0);
		if (sem < 0 || msq < 0 || shm < 0)
			die("get (another container's objects)");
		if (msgrcv(msq, &m, sizeof(m.mtext), 0, IPC_NOWAIT) < 0)
			die("msgrcv");
		attach_detach(shm);
		printf("self %d\n", (int)getpid());
		see(sem, msq, shm);
		return 0;
	}
	fprintf(stderr, "usage: pid-pod make XCHG | pid-pod touch\n");
	return 2;
}
