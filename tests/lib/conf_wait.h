/* SPDX-License-Identifier: MIT */
/* Waiting for children in conformance programs: a sleep that signals do
 * not cut short, and the two ways a program learns that a child sleeps in
 * a call (its /proc entries, or a semaphore's GETNCNT/GETZCNT).  They work
 * the same natively and under ipcnsd, where a caller waits in the seccomp
 * notification instead of the kernel's IPC code.  A wait that never ends
 * is a failed check.  */
#ifndef IPCNS_CONF_WAIT_H
#define IPCNS_CONF_WAIT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

static inline void conf_msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait (about 10 s at most) until `pid' sleeps inside system call `nr':
 * /proc/PID/syscall names the call and /proc/PID/stat says S or D.
 * 0, or -1 after a failed check.  */
static inline int conf_wait_blocked(pid_t pid, long nr)
{
	char path[64], buf[256];

	for (int i = 0; i < 10000; i++) {
		FILE *f;
		long cur = -2;
		char state = 0;

		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
		f = fopen(path, "re");
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				cur = strtol(buf, NULL, 10);
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "re");
		if (f) {
			if (fgets(buf, sizeof(buf), f)) {
				char *p = strrchr(buf, ')');
				if (p && p[1] == ' ')
					state = p[2];
			}
			fclose(f);
		}
#if defined(__i386__)
		/* glibc's i386 sem and msg wrappers go through ipc(2).  */
		if (cur == SYS_ipc)
			cur = nr;
#endif
		if (cur == nr && (state == 'S' || state == 'D'))
			return 0;
		conf_msleep(1);
	}
	CONF_FAIL("pid %d never blocked in syscall %ld", (int)pid, nr);
	return -1;
}

/* Poll until semctl(id, num, cmd) == want, cmd GETNCNT or GETZCNT: at
 * most ~3 s.  0, or -1 after a failed check.  */
static inline int conf_wait_semcnt(int id, int num, int cmd, int want)
{
	int n = -1;
	for (int i = 0; i < 3000; i++) {
		n = semctl(id, num, cmd);
		if (n == want)
			return 0;
		usleep(1000);
	}
	CONF_FAIL("semctl(%d, %s) = %d, want %d", num, cmd == GETNCNT ? "GETNCNT" : "GETZCNT", n, want);
	return -1;
}

#endif
