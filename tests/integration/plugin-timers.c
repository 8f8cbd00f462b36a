/* SPDX-License-Identifier: MIT */
/* plugin-timers: the container side of crun-plugin.bats's helper-thread test:
 * a semtimedop deadline and a SEM_UNDO exit, each the only event the
 * namespace sees.  */
#include <errno.h>
#include <stdio.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

int main(void)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	struct sembuf take = { 0, -1, 0 }, up = { 0, 1, SEM_UNDO }, zero = { 0, 0, 0 };
	struct timespec t0, ts = { 0, 300000000 }, five = { 5, 0 };
	if (id < 0)
		return perror("semget"), 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = semtimedop(id, &take, 1, &ts);
	printf("timeout: ret %d errno %d after %ld ms\n", r, r < 0 ? errno : 0, ms_since(&t0));
	pid_t pid = fork();
	if (pid == 0)
		_exit(semop(id, &up, 1) < 0);
	int st;
	waitpid(pid, &st, 0);
	/* Zero again only once the child's exit undid its +1.  */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = semtimedop(id, &zero, 1, &five);
	printf("undo: child %d ret %d errno %d after %ld ms\n", WEXITSTATUS(st), r, r < 0 ? errno : 0,
	       ms_since(&t0));
	return 0;
}
