/* SPDX-License-Identifier: MIT */
/* sig-park: a caller parked in msgrcv or semop, for the signal tests of
 * signals.bats.
 *   sig-park daemon msgrcv|semop  signal(SIGTERM, h) sets a flag; wait in
 *                                 the call in a loop until it is set, then
 *                                 exit 42 (prints "READY" first)
 *   sig-park recv                 msgrcv on queue key 0x5167 (created); print
 *                                 the message and exit 0
 *   sig-park send TEXT            send TEXT to that queue  */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <unistd.h>

#define KEY 0x5167

struct mb {
	long mtype;
	char mtext[128];
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct mb b = { .mtype = 1 };
	if (argc < 2)
		return 2;
	int q = msgget(KEY, IPC_CREAT | 0600);
	if (q < 0) {
		perror("msgget");
		return 1;
	}
	if (!strcmp(argv[1], "daemon") && argc == 3) {
		int sem = semget(IPC_PRIVATE, 1, 0600);
		struct sembuf down = { 0, -1, 0 };
		signal(SIGTERM, on_term);
		printf("READY\n");
		fflush(stdout);
		long calls = 0;
		while (!stop) {
			if (!strcmp(argv[2], "semop"))
				semop(sem, &down, 1);
			else
				msgrcv(q, &b, sizeof(b.mtext), 99, 0);
			calls++;
		}
		printf("stopped after %ld calls\n", calls);
		semctl(sem, 0, IPC_RMID);
		return 42;
	}
	if (!strcmp(argv[1], "recv")) {
		ssize_t n = msgrcv(q, &b, sizeof(b.mtext) - 1, 0, 0);
		if (n < 0) {
			perror("msgrcv");
			return 1;
		}
		b.mtext[n] = 0;
		printf("received %s\n", b.mtext);
		return 0;
	}
	if (!strcmp(argv[1], "send") && argc == 3) {
		size_t len = strlen(argv[2]);
		if (len > sizeof(b.mtext))
			len = sizeof(b.mtext);
		memcpy(b.mtext, argv[2], len);
		if (msgsnd(q, &b, len, 0) < 0) {
			perror("msgsnd");
			return 1;
		}
		return 0;
	}
	return 2;
}
