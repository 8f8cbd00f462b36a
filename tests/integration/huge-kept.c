/* SPDX-License-Identifier: MIT */
/* huge-kept: keep the file of a SHM_HUGETLB segment past a read-only
 * attach (a sibling thread's dup while shmat has it installed), then,
 * once told (GO exists: the test stops ipcnsd meanwhile), reopen it
 * read-write through /proc/self/fd.  The reopen must be refused even
 * while no ipcnsd runs (spec/security.md, "Shared memory attach rights").
 * Run as root under ipcns-run; SHM_NORESERVE: no huge page is needed.
 * Usage: huge-kept KEPT GO   (KEPT is created once the file is kept)
 * Exit: 0 refused, 1 reopened, 2 error, 77 no file could be kept.  */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif

static volatile int stop, kept = -1, fd_no;

static void *thief(void *arg)
{
	(void)arg;
	while (!stop) {
		int fd = fcntl(fd_no, F_DUPFD_CLOEXEC, 100);
		if (fd < 0)
			continue;
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (strstr(link, "SYSV")) {
				kept = fd;
				break;
			}
		}
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: huge-kept KEPT GO\n");
		return 2;
	}
	int id = shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600);
	if (id < 0) {
		printf("no SHM_HUGETLB segment: %s\n", strerror(errno));
		return 77;
	}
	int lowest = dup(0);
	close(lowest);
	fd_no = lowest;
	pthread_t th;
	if (pthread_create(&th, NULL, thief, NULL) != 0)
		return 2;
	for (int i = 0; i < 3000 && kept < 0; i++) {
		void *p = shmat(id, NULL, SHM_RDONLY);
		if (p == (void *)-1) {
			printf("shmat: %s\n", strerror(errno));
			break;
		}
		shmdt(p);
	}
	stop = 1;
	pthread_join(th, NULL);
	if (kept < 0) {
		printf("no file kept in 3000 read-only attaches\n");
		shmctl(id, IPC_RMID, NULL);
		return 77;
	}
	int k = open(argv[1], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (k >= 0)
		close(k);
	while (access(argv[2], F_OK) != 0)
		usleep(20000);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", kept);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int err = errno;
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("reopen O_RDWR while no ipcnsd ran: %s (answered after %.2f s)\n", fd >= 0 ? "opened" : strerror(err),
	       s);
	shmctl(id, IPC_RMID, NULL);
	return fd >= 0 ? 1 : 0;
}
