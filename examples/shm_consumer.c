/* SPDX-License-Identifier: MIT */
/* shm_consumer: the reading half of the classic System V shared memory
 * demo.  Attaches to the segment and the semaphore set shm_producer made
 * with the same key and prints the messages in the segment, oldest first.
 * With -n it sleeps on the semaphores until the messages come, and may start
 * before the producer.  */
#include <getopt.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shm_buffer.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: shm_consumer [-k KEY] [-n COUNT] [-t SECONDS] [-r]\n"
		   "Attach to the System V shared memory segment and semaphore set with KEY\n"
		   "that shm_producer made and print the messages waiting in the segment.\n"
		   "  -k KEY      key, hex (0x1234) or decimal; default 0x%x\n"
		   "  -n COUNT    wait until COUNT messages have been read, creating the segment\n"
		   "              and the semaphore set if no producer has yet; default: print\n"
		   "              the unread messages and exit\n"
		   "  -t SECONDS  how long to wait for each message with -n; default 30\n"
		   "  -r          remove the segment and the semaphore set after reading\n"
		   "Exit status: 0 read, 1 error, 2 no segment with KEY in this IPC namespace,\n"
		   "3 timed out waiting for a message.\n",
		SHM_DEMO_KEY);
}

int main(int argc, char **argv)
{
	key_t key = SHM_DEMO_KEY;
	int timeout = 30, remove_it = 0, c, status = 0;
	long want = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "k:n:t:rh")) != -1) {
		switch (c) {
		case 'k':
			if (shm_parse_key(optarg, &key) < 0) {
				fprintf(stderr, "shm_consumer: bad key '%s'\n", optarg);
				return 1;
			}
			break;
		case 'n': {
			char *end;
			want = strtol(optarg, &end, 10);
			if (end == optarg || *end || want < 0) {
				fprintf(stderr, "shm_consumer: bad count '%s'\n", optarg);
				return 1;
			}
			break;
		}
		case 't':
			if (shm_parse_seconds(optarg, &timeout) < 0) {
				fprintf(stderr, "shm_consumer: bad number of seconds '%s'\n", optarg);
				return 1;
			}
			break;
		case 'r':
			remove_it = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	/* With -n, whoever comes first creates both objects.  */
	int create = want >= 0;
	int id = create ? shmget(key, sizeof(struct shm_buffer), IPC_CREAT | 0600) : shmget(key, 0, 0);
	if (id < 0) {
		if (errno == ENOENT) {
			fprintf(stderr, "shm_consumer: no shared memory segment with key 0x%08x in this IPC namespace\n",
				(unsigned)key);
			return 2;
		}
		fprintf(stderr, "shm_consumer: shmget(key 0x%08x): %s\n", (unsigned)key, strerror(errno));
		return 1;
	}
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		fprintf(stderr, "shm_consumer: shmctl(id %d, IPC_STAT): %s\n", id, strerror(errno));
		return 1;
	}
	if (ds.shm_segsz < sizeof(struct shm_buffer)) {
		fprintf(stderr, "shm_consumer: segment id %d has %zu bytes, too small for a shm_producer buffer\n",
			id, (size_t)ds.shm_segsz);
		return 1;
	}
	int semid = shm_sem_open(key, create);
	if (semid < 0) {
		fprintf(stderr, "shm_consumer: semget(key 0x%08x, %d semaphores): %s%s\n", (unsigned)key, SEM_COUNT,
			strerror(errno), errno == ENOENT ? " (the segment is not a shm_producer buffer)" : "");
		return 1;
	}
	struct shm_buffer *b = shmat(id, NULL, 0);
	if (b == (void *)-1) {
		fprintf(stderr, "shm_consumer: shmat(id %d): %s\n", id, strerror(errno));
		return 1;
	}
	printf("consumer: attached to segment key 0x%08x id %d, semaphore set id %d\n", (unsigned)key, id, semid);

	long count = 0;
	while (want < 0 || count < want) {
		char msg[SHM_SLOT_LEN];
		/* Without -n, do not wait for messages: stop at the last one.  */
		if (shm_buffer_wait_get(semid, want < 0 ? -1 : timeout) < 0) {
			if (errno == EAGAIN && want < 0)
				break;
			if (errno == EAGAIN) {
				fprintf(stderr, "shm_consumer: no message after %d s (%ld of %ld read)\n", timeout,
					count, want);
				status = 3;
			} else {
				fprintf(stderr, "shm_consumer: semop: %s\n",
					errno == EIDRM ? "the semaphore set was removed while waiting" : strerror(errno));
				status = 1;
			}
			break;
		}
		/* A producer lays out the ring before its first V(full).  */
		if (__atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) != SHM_MAGIC) {
			fprintf(stderr, "shm_consumer: segment id %d is not a shm_producer buffer\n", id);
			status = 1;
			break; /* SEM_UNDO gives the mutex back at exit.  */
		}
		uint32_t n = shm_buffer_get(b, msg);
		int err = shm_buffer_end_get(semid) < 0 ? errno : 0;
		printf("consumer: message %u: %s\n", n, msg);
		count++;
		if (err) {
			fprintf(stderr, "shm_consumer: semop: %s\n", strerror(err));
			status = 1;
			break;
		}
	}
	if (count == 0 && status == 0)
		printf("consumer: no unread messages\n");

	if (shmdt(b) < 0) {
		fprintf(stderr, "shm_consumer: shmdt: %s\n", strerror(errno));
		status = 1;
	}
	if (remove_it) {
		if (shmctl(id, IPC_RMID, NULL) < 0) {
			fprintf(stderr, "shm_consumer: shmctl(id %d, IPC_RMID): %s\n", id, strerror(errno));
			status = 1;
		} else if (semctl(semid, 0, IPC_RMID) < 0) {
			fprintf(stderr, "shm_consumer: semctl(id %d, IPC_RMID): %s\n", semid, strerror(errno));
			status = 1;
		} else {
			printf("consumer: removed segment id %d and semaphore set id %d\n", id, semid);
		}
	}
	return status;
}
