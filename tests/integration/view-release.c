/* SPDX-License-Identifier: MIT */
/* view-release: readers that close /proc/sysvipc/shm right after a first,
 * partial read, from several threads at once, for view.bats.  A partial
 * read makes the view keep the text for the next read and answer from
 * it; the close sends the release at once, which must not free that
 * text under the worker still answering.
 *
 * Usage: view-release SEGMENTS THREADS ROUNDS.  Prints "done N" (the
 * reads made); exits 1 on any failure.  */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

static long rounds;
static long reads_done;

static void *reader(void *arg)
{
	(void)arg;
	char buf[64];
	for (long i = 0; i < rounds; i++) {
		int fd = open("/proc/sysvipc/shm", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror("open /proc/sysvipc/shm");
			exit(1);
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n != (ssize_t)sizeof(buf)) {
			fprintf(stderr, "read: %zd (%s)\n", n, n < 0 ? strerror(errno) : "short");
			exit(1);
		}
		close(fd);
		__atomic_add_fetch(&reads_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: view-release SEGMENTS THREADS ROUNDS\n");
		return 2;
	}
	int segs = atoi(argv[1]), nthreads = atoi(argv[2]);
	rounds = atol(argv[3]);
	if (segs < 1 || nthreads < 1 || nthreads > 64 || rounds < 1)
		return 2;
	for (int i = 0; i < segs; i++) {
		if (shmget(IPC_PRIVATE, 4096, 0600) < 0) {
			perror("shmget");
			return 1;
		}
	}
	pthread_t t[64];
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&t[i], NULL, reader, NULL) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	printf("done %ld\n", reads_done);
	return 0;
}
