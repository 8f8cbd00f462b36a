/* SPDX-License-Identifier: MIT */
/* A 32-bit (i386) msgrcv parked across ipcnsd's restart (restart.bats):
 *
 *   park32 DIR
 *
 * A child blocks in msgrcv (glibc's i386 msgrcv: ipc(2) with ipc_kludge, a
 * msgbuf whose mtype is 4 bytes); once it waits, DIR/ready.  On DIR/go the
 * parent sends type 6, "parked"; the child writes "LEN TYPE TEXT" (or
 * "-1 ERRNO") to DIR/out; then DIR/done.  Built -m32 -static.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf_wait.h"

static const char *dir;

static void touch(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
}

static int exists(const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void nap(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct {
		long mtype; /* 4 bytes here */
		char text[16];
	} m;
	if (argc != 2)
		return 2;
	dir = argv[1];
	int q = msgget(IPC_PRIVATE, 0600);
	if (q < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		memset(&m, 0, sizeof(m));
		long n = msgrcv(q, &m, sizeof(m.text), 0, 0);
		char path[512];
		snprintf(path, sizeof(path), "%s/out", dir);
		FILE *f = fopen(path, "w");
		if (!f)
			_exit(1);
		if (n < 0)
			fprintf(f, "-1 %d\n", errno);
		else
			fprintf(f, "%ld %ld %s\n", n, m.mtype, m.text);
		fclose(f);
		_exit(0);
	}
	if (conf_wait_blocked(c, SYS_msgrcv) < 0)
		return 1;
	touch("ready");
	while (!exists("go"))
		nap();
	m.mtype = 6;
	memset(m.text, 0, sizeof(m.text));
	memcpy(m.text, "parked", 6);
	int rc = msgsnd(q, &m, 6, 0) < 0;
	int st;
	waitpid(c, &st, 0);
	msgctl(q, IPC_RMID, NULL);
	touch("done");
	return rc || !WIFEXITED(st) || WEXITSTATUS(st);
}
