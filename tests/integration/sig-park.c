/* SPDX-License-Identifier: MIT */
/* sig-park: a caller parked in msgrcv or semop, for the signal tests of
 * signals.bats.
 *   sig-park daemon msgrcv|semop  signal(SIGTERM, h) sets a flag; wait in
 *                                 the call in a loop until it is set, then
 *                                 exit 42 (prints "READY" first, then how
 *                                 many calls it made and handlers ran)
 *   sig-park recv                 msgrcv on queue key 0x5167 (created); print
 *                                 the message and exit 0
 *   sig-park send TEXT            send TEXT to that queue
 *   sig-park window DAEMON_PID    (run under ipcns-run) stop the daemon, let
 *                                 a child trap msgrcv, interrupt it with an
 *                                 SA_RESTART handler before the daemon
 *                                 received the call, continue the daemon:
 *                                 the child's msgrcv must fail with EINTR;
 *                                 prints the child's result, exit 0 when
 *                                 EINTR
 *   sig-park stopwindow semop|msgrcv DAEMON_PID
 *                                 (run under ipcns-run) the same with a
 *                                 stop (SIGSTOP, then SIGCONT) of a child
 *                                 in semop or msgrcv, in that window:
 *                                 semop must fail with EINTR, msgrcv must
 *                                 wait on (a message then ends it); exit
 *                                 0 when so
 *   sig-park storm SECS NPROC     NPROC processes raise SIGUSR1 (a handler
 *                                 set with signal()) in a loop for SECS
 *                                 seconds: a signal storm (prints "READY"
 *                                 once they run, exit 0)  */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY 0x5167

struct mb {
	long mtype;
	char mtext[128];
};

static volatile sig_atomic_t stop, handled;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
	handled++;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static int in_syscall(pid_t pid, long nr)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	FILE *f = fopen(path, "re");
	int yes = 0;
	if (f) {
		yes = fgets(buf, sizeof(buf), f) && strtol(buf, NULL, 10) == nr;
		fclose(f);
	}
	return yes;
}

/* Every thread of pid in a stop: a thread that was running when the stop
 * was sent stops only on its way back from its current system call, which
 * may be the very receipt of the call the test means it not to see.  */
static int all_stopped(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int all = d != NULL;
	while (all && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(buf, sizeof(buf), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		FILE *f = fopen(buf, "re");
		char *p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		all = !p || p[2] == 'T' || p[2] == 't';
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return all;
}

static int stop_daemon(pid_t daemon)
{
	if (kill(daemon, SIGSTOP) < 0) {
		perror("stopping the daemon");
		return -1;
	}
	for (int i = 0; i < 5000 && !all_stopped(daemon); i++)
		usleep(1000);
	return 0;
}

static int window(pid_t daemon, int q)
{
	int *res = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	*res = -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (stop_daemon(daemon) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		struct mb b;
		long r = msgrcv(q, &b, sizeof(b.mtext), 0, 0);
		*res = r < 0 ? errno : 0;
		_exit(0);
	}
	for (int i = 0; i < 2000 && !in_syscall(c, 70); i++)
		usleep(1000);
	usleep(50000);
	kill(c, SIGUSR1);
	usleep(100000); /* the handler runs, the call traps again */
	kill(daemon, SIGCONT);
	for (int i = 0; i < 5000 && *res == -1; i++)
		usleep(1000);
	printf("child: %s\n", *res == -1 ? "still blocked" : *res ? strerror(*res) : "received");
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	return *res == EINTR ? 0 : 1;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	char st = '?';
	if (f) {
		if (fgets(buf, sizeof(buf), f) && strrchr(buf, ')'))
			st = strrchr(buf, ')')[2];
		fclose(f);
	}
	return st;
}

/* A child traps semop (or msgrcv) while the daemon is stopped; the child
 * is stopped and continued before the daemon received the call.  Linux's
 * semop fails with EINTR after a stop, msgrcv is restarted.  */
static int stopwindow(pid_t daemon, bool sem)
{
	int *res = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int set = semget(IPC_PRIVATE, 1, 0600), q = msgget(IPC_PRIVATE, 0600);
	if (res == MAP_FAILED || set < 0 || q < 0)
		return 1;
	*res = -1;
	if (stop_daemon(daemon) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		struct sembuf down = { 0, -1, 0 };
		struct mb b;
		long r = sem ? semop(set, &down, 1) : msgrcv(q, &b, sizeof(b.mtext), 0, 0);
		*res = r < 0 ? errno : 0;
		_exit(0);
	}
	for (int i = 0; i < 2000 && !(sem ? in_syscall(c, SYS_semop) || in_syscall(c, SYS_semtimedop)
					 : in_syscall(c, SYS_msgrcv)); i++)
		usleep(1000);
	usleep(50000);
	kill(c, SIGSTOP);
	for (int i = 0; i < 2000 && proc_state(c) != 'T'; i++)
		usleep(1000);
	kill(c, SIGCONT);
	usleep(100000); /* the call traps again */
	kill(daemon, SIGCONT);
	for (int i = 0; i < 2000 && *res == -1; i++)
		usleep(1000);
	printf("child after the stop: %s\n", *res == -1 ? "still blocked" : *res ? strerror(*res) : "done");
	int ok = sem ? *res == EINTR : *res == -1;
	if (!sem && *res == -1) {
		/* Still waiting, as natively: a message ends it.  */
		struct mb b = { .mtype = 1, .mtext = "x" };
		msgsnd(q, &b, 1, 0);
		for (int i = 0; i < 5000 && *res == -1; i++)
			usleep(1000);
		printf("child after a message: %s\n", *res == -1 ? "still blocked" : *res ? strerror(*res) : "done");
		ok = *res == 0;
	}
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	semctl(set, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
	return ok ? 0 : 1;
}

/* Every handler delivery here is a sample in the daemon's signal watch:
 * enough of them overflow the rings of a watch that sees them.  */
static int storm(int secs, int nproc)
{
	/* One call, so that a container running this is one ipcnsd serves. */
	int q = msgget(IPC_PRIVATE, 0600);
	if (q >= 0)
		msgctl(q, IPC_RMID, NULL);
	for (int i = 0; i < nproc; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0) {
			signal(SIGUSR1, on_usr1);
			time_t end = time(NULL) + secs;
			while (time(NULL) < end)
				for (int k = 0; k < 1000; k++)
					raise(SIGUSR1);
			_exit(0);
		}
	}
	printf("READY\n");
	fflush(stdout);
	while (wait(NULL) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	struct mb b = { .mtype = 1 };
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "storm") && argc == 4)
		return storm(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(argv[1], "stopwindow") && argc == 4)
		return stopwindow((pid_t)atoi(argv[3]), !strcmp(argv[2], "semop"));
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
			long r = !strcmp(argv[2], "semop") ? semop(sem, &down, 1)
							     : msgrcv(q, &b, sizeof(b.mtext), 99, 0);
			calls++;
			/* Only a signal ends the wait here: any other failure
			 * (ENOSYS once nobody serves the filter) would loop.  */
			if (r < 0 && errno != EINTR) {
				perror(argv[2]);
				return 1;
			}
		}
		printf("stopped after %ld calls, the handler run %d times\n", calls, (int)handled);
		semctl(sem, 0, IPC_RMID);
		return 42;
	}
	if (!strcmp(argv[1], "window") && argc == 3) {
		int pq = msgget(IPC_PRIVATE, 0600);
		int ret = window((pid_t)atoi(argv[2]), pq);
		msgctl(pq, IPC_RMID, NULL);
		msgctl(q, IPC_RMID, NULL);
		return ret;
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
