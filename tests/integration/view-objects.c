/* SPDX-License-Identifier: MIT */
/* view-objects: make the same System V IPC objects every time, in the same
 * order, then print /proc/sysvipc/{shm,sem,msg} as this process sees them,
 * for view.bats to compare the kernel's text (natively, in a fresh
 * `unshare -i -p -f') with ipcnsd's (in a container).  Run as the first
 * process of a pid namespace (pid 1) in both; the child's pid, printed
 * first, depends on what else ran in the namespace (the runtime's own).
 *
 * Objects: a 10000-byte segment (key 0x1234, 0640) attached, two pages
 * touched, detached; a private 4096-byte segment, attached and removed
 * while attached (SHM_DEST, key 0); a set of 3 semaphores (key 0x2345,
 * 0600) with one semop; a queue (key 0x3456, 0666) with two messages of
 * 10 and 20 bytes and one received.  Then a child attaches and detaches
 * the first segment, does a semop and sends a message: the pids it leaves
 * (shm_lpid, sempid, msg_lspid) are the child's in this pid namespace.
 * The pids IPC_STAT and GETPID give are printed before the files.  Exits
 * 1 on any failure.  */
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void cat(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	if (!f)
		die(path);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
}

int main(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	int a = shmget(0x1234, 10000, IPC_CREAT | IPC_EXCL | 0640);
	if (a < 0)
		die("shmget");
	char *p = shmat(a, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	p[0] = 1;
	p[ps] = 2;
	if (shmdt(p) < 0)
		die("shmdt");
	int b = shmget(IPC_PRIVATE, 4096, 0600);
	if (b < 0)
		die("shmget private");
	char *q = shmat(b, NULL, SHM_RDONLY);
	if (q == (void *)-1)
		die("shmat private");
	if (shmctl(b, IPC_RMID, NULL) < 0)
		die("shmctl IPC_RMID");
	int s = semget(0x2345, 3, IPC_CREAT | IPC_EXCL | 0600);
	if (s < 0)
		die("semget");
	struct sembuf op = { .sem_num = 1, .sem_op = 2, .sem_flg = 0 };
	if (semop(s, &op, 1) < 0)
		die("semop");
	int m = msgget(0x3456, IPC_CREAT | IPC_EXCL | 0666);
	if (m < 0)
		die("msgget");
	struct {
		long type;
		char text[32];
	} msg = { .type = 1 };
	if (msgsnd(m, &msg, 10, 0) < 0 || msgsnd(m, &msg, 20, 0) < 0)
		die("msgsnd");
	if (msgrcv(m, &msg, sizeof(msg.text), 0, 0) < 0)
		die("msgrcv");
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		char *c = shmat(a, NULL, 0);
		if (c == (void *)-1 || shmdt(c) < 0 || semop(s, &op, 1) < 0 || msgsnd(m, &msg, 5, 0) < 0)
			die("child");
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		die("child");
	struct shmid_ds sd;
	struct msqid_ds md;
	int sempid = semctl(s, 1, GETPID);
	if (shmctl(a, IPC_STAT, &sd) < 0 || msgctl(m, IPC_STAT, &md) < 0 || sempid < 0)
		die("IPC_STAT");
	printf("child %d\n", (int)child);
	printf("pids: shm_cpid %d shm_lpid %d sempid %d msg_lspid %d msg_lrpid %d\n", (int)sd.shm_cpid,
	       (int)sd.shm_lpid, sempid, (int)md.msg_lspid, (int)md.msg_lrpid);
	fflush(stdout);
	cat("/proc/sysvipc/shm");
	cat("/proc/sysvipc/sem");
	cat("/proc/sysvipc/msg");
	fflush(stdout);
	/* Leave nothing behind natively either.  */
	shmdt(q);
	shmctl(a, IPC_RMID, NULL);
	semctl(s, 0, IPC_RMID);
	msgctl(m, IPC_RMID, NULL);
	return 0;
}
