/* SPDX-License-Identifier: MIT */
/* shm_producer: the writing half of the classic System V shared memory
 * demo.  Creates (or reuses) the segment and the semaphore set with a key,
 * lays out the ring of shm_buffer.h in the segment, and writes each message
 * given on the command line for shm_consumer to read, waiting on the
 * semaphores when the ring is full.  */
#include <getopt.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shm_buffer.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: shm_producer [-k KEY] [-t SECONDS] [-w] MESSAGE...\n"
		   "Create (or reuse) the System V shared memory segment and semaphore set\n"
		   "with KEY and write each MESSAGE into the segment for shm_consumer.\n"
		   "  -k KEY      key, hex (0x1234) or decimal; default 0x%x\n"
		   "  -t SECONDS  how long to wait for the consumer to free a slot; default 30\n"
		   "  -w          before exiting, wait until every message has been read\n"
		   "Exit status: 0 written, 1 error, 3 timed out waiting for the consumer.\n",
		SHM_DEMO_KEY);
}

/* Lay out the ring unless another producer already has: under the mutex,
 * so that two producers starting together do not both clear it.  */
static int init_ring(struct shm_buffer *b, int semid, int timeout, key_t key, int id)
{
	struct sembuf lock = { SEM_MUTEX, -1, SEM_UNDO }, unlock = { SEM_MUTEX, 1, SEM_UNDO };
	if (shm_sem_wait(semid, &lock, 1, timeout) < 0)
		return -1;
	if (b->magic != SHM_MAGIC) {
		memset(b, 0, sizeof(*b));
		b->magic = SHM_MAGIC;
		printf("producer: created segment key 0x%08x id %d (%zu bytes), semaphore set id %d\n", (unsigned)key,
		       id, sizeof(*b), semid);
	} else {
		printf("producer: appending to segment key 0x%08x id %d, semaphore set id %d\n", (unsigned)key, id,
		       semid);
	}
	return semop(semid, &unlock, 1);
}

/* Exit status for a failed wait on the semaphores.  */
static int wait_failed(const char *what, int timeout)
{
	if (errno == EAGAIN) {
		fprintf(stderr, "shm_producer: %s after %d s: is shm_consumer reading?\n", what, timeout);
		return 3;
	}
	if (errno == EIDRM)
		fprintf(stderr, "shm_producer: the semaphore set was removed while waiting\n");
	else
		fprintf(stderr, "shm_producer: semop: %s\n", strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	key_t key = SHM_DEMO_KEY;
	int timeout = 30, wait_read = 0, c, status = 0;

	/* Line by line, also into a file or a pipe: a watcher sees each
	 * message as it is written.  */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "k:t:wh")) != -1) {
		switch (c) {
		case 'k':
			if (shm_parse_key(optarg, &key) < 0) {
				fprintf(stderr, "shm_producer: bad key '%s'\n", optarg);
				return 1;
			}
			break;
		case 't':
			if (shm_parse_seconds(optarg, &timeout) < 0) {
				fprintf(stderr, "shm_producer: bad number of seconds '%s'\n", optarg);
				return 1;
			}
			break;
		case 'w':
			wait_read = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 1;
	}

	int id = shmget(key, sizeof(struct shm_buffer), IPC_CREAT | 0600);
	if (id < 0) {
		int err = errno;
		fprintf(stderr, "shm_producer: shmget(key 0x%08x, %zu bytes): %s%s\n", (unsigned)key,
			sizeof(struct shm_buffer), strerror(err),
			err == EINVAL ? " (a smaller segment with this key exists)" : "");
		return 1;
	}
	int semid = shm_sem_open(key, 1);
	if (semid < 0) {
		int err = errno;
		fprintf(stderr, "shm_producer: semget(key 0x%08x, %d semaphores): %s%s\n", (unsigned)key, SEM_COUNT,
			strerror(err), err == EINVAL ? " (a smaller set with this key exists)" : "");
		return 1;
	}
	struct shm_buffer *b = shmat(id, NULL, 0);
	if (b == (void *)-1) {
		fprintf(stderr, "shm_producer: shmat(id %d): %s\n", id, strerror(errno));
		return 1;
	}
	if (init_ring(b, semid, timeout, key, id) < 0)
		status = wait_failed("the buffer still locked", timeout);

	for (int i = optind; status == 0 && i < argc; i++) {
		if (strlen(argv[i]) >= SHM_SLOT_LEN)
			fprintf(stderr, "shm_producer: message %d truncated to %d bytes\n", i - optind + 1,
				SHM_SLOT_LEN - 1);
		if (shm_buffer_wait_put(semid, timeout) < 0) {
			status = wait_failed("no free slot", timeout);
			break;
		}
		uint32_t n = shm_buffer_put(b, argv[i]);
		printf("producer: message %u: %s\n", n, b->slot[(n - 1) % SHM_SLOTS]);
		if (shm_buffer_end_put(semid) < 0) {
			fprintf(stderr, "shm_producer: semop: %s\n", strerror(errno));
			status = 1;
		}
	}

	if (status == 0 && wait_read) {
		printf("producer: waiting for the consumer\n");
		if (shm_buffer_wait_drained(semid, timeout) == 0) {
			printf("producer: all messages read\n");
		} else if (errno == EAGAIN) {
			fprintf(stderr, "shm_producer: %u messages still unread after %d s\n", shm_buffer_unread(b),
				timeout);
			status = 3;
		} else {
			status = wait_failed(NULL, timeout);
		}
	}
	if (shmdt(b) < 0) {
		fprintf(stderr, "shm_producer: shmdt: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}
