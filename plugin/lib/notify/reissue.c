/* SPDX-License-Identifier: MIT */
/* After a restart of the supervisor: make the threads that were blocked
 * in a trapped System V IPC call, whose notification the previous
 * supervisor had received but never answered, issue their call again.
 *
 * A received notification is not queued again by the kernel.  But a
 * PTRACE_SEIZE, PTRACE_INTERRUPT and PTRACE_DETACH of the blocked thread
 * ends its wait with -ERESTARTSYS, and with no signal to deliver the
 * kernel restarts the system call, which reaches the filter again and
 * arrives as a new notification.  A thread whose notification was still
 * queued (never received) restarts the same way, harmlessly.  */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

bool ipcns_is_ipc_nr(long nr)
{
	switch (nr) {
	case SYS_shmget:
	case SYS_shmat:
	case SYS_shmdt:
	case SYS_shmctl:
	case SYS_semget:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_semctl:
	case SYS_msgget:
	case SYS_msgsnd:
	case SYS_msgrcv:
	case SYS_msgctl:
	case SYS_remap_file_pages:
		return true;
	default:
		return false;
	}
}

long ipcns_thread_syscall(pid_t tgid, pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)tgid, (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long nr = -1;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

int ipcns_reissue_thread(pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		int e = errno;
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return -e;
	}
	/* A filter loaded with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV makes
	 * a received call's wait killable only: the interrupt cannot end it.
	 * Wait a little for the stop, never for ever.  */
	for (int i = 0; i < 200; i++) {
		int st;
		pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
		if (r == tid && WIFSTOPPED(st)) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			return 0;
		}
		if (r == tid || (r < 0 && errno == ECHILD))
			return -ESRCH; /* it died */
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	/* Still in its wait: leave it seized with the interrupt pending; it
	 * stops when its wait ends, and is let go when we exit.  */
	return -ETIMEDOUT;
}

int ipcns_reissue_blocked(const ino_t *inodes, size_t ninodes, bool (*skip)(void *arg, pid_t tid), void *arg)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		ino_t ino;
		if (ipcns_proc_ipc_inode((pid_t)pid, &ino) < 0)
			continue;
		bool ours = false;
		for (size_t i = 0; i < ninodes; i++)
			ours |= inodes[i] == ino;
		if (!ours)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/task", pid);
		DIR *t = opendir(path);
		if (!t)
			continue;
		struct dirent *te;
		while ((te = readdir(t))) {
			long tid = strtol(te->d_name, &end, 10);
			if (*end || tid <= 0)
				continue;
			long nr = ipcns_thread_syscall((pid_t)pid, (pid_t)tid);
			/* A 32-bit thread shows its i386 number.  */
			if (!ipcns_is_ipc_nr(nr) && !ipcns_compat_is_ipc_nr(nr))
				continue;
			if (skip && skip(arg, (pid_t)tid))
				continue;
			if (ipcns_reissue_thread((pid_t)tid) == 0)
				count++;
		}
		closedir(t);
	}
	closedir(d);
	return count;
}
