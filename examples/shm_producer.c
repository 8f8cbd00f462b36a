/* shm_producer: the writing half of the classic System V shared memory
 * demo.  Creates (or reuses) the segment with a key, lays out the ring of
 * shm_buffer.h in it, and writes each message given on the command line for
 * shm_consumer to read.  */
#include <getopt.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shm_buffer.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: shm_producer [-k KEY] [-t SECONDS] [-w] MESSAGE...\n"
		   "Create (or reuse) the System V shared memory segment with KEY and write\n"
		   "each MESSAGE into it for shm_consumer.\n"
		   "  -k KEY      segment key, hex (0x1234) or decimal; default 0x%x\n"
		   "  -t SECONDS  how long to wait for the consumer to free a slot; default 30\n"
		   "  -w          before exiting, wait until the consumer has read every message\n"
		   "Exit status: 0 written, 1 error, 3 timed out waiting for the consumer.\n",
		SHM_DEMO_KEY);
}

/* Wait until the consumer has read everything, at most `seconds`.  */
static int wait_drained(const struct shm_buffer *b, int seconds)
{
	for (long waited = 0; shm_buffer_unread(b) > 0; waited += SHM_POLL_MS) {
		if (waited >= seconds * 1000L)
			return -1;
		shm_sleep_poll();
	}
	return 0;
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
	struct shm_buffer *b = shmat(id, NULL, 0);
	if (b == (void *)-1) {
		fprintf(stderr, "shm_producer: shmat(id %d): %s\n", id, strerror(errno));
		return 1;
	}
	if (__atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) != SHM_MAGIC) {
		/* A new segment is all zeroes; the magic, stored last, tells
		 * the consumer the ring is ready.  */
		memset(b, 0, sizeof(*b));
		__atomic_store_n(&b->magic, SHM_MAGIC, __ATOMIC_RELEASE);
		printf("producer: created segment key 0x%08x id %d (%zu bytes)\n", (unsigned)key, id, sizeof(*b));
	} else {
		printf("producer: appending to segment key 0x%08x id %d\n", (unsigned)key, id);
	}
	__atomic_store_n(&b->done, 0, __ATOMIC_RELEASE);

	for (int i = optind; i < argc; i++) {
		if (strlen(argv[i]) >= SHM_SLOT_LEN)
			fprintf(stderr, "shm_producer: message %d truncated to %d bytes\n", i - optind + 1,
				SHM_SLOT_LEN - 1);
		/* P(empty) of the semaphore version.  */
		if (shm_buffer_wait_put(b, timeout) < 0) {
			fprintf(stderr, "shm_producer: no free slot after %d s: is shm_consumer reading?\n",
				timeout);
			status = 3;
			break;
		}
		uint32_t n = shm_buffer_put(b, argv[i]);
		/* V(full) of the semaphore version.  */
		printf("producer: message %u: %s\n", n, b->slot[(n - 1) % SHM_SLOTS]);
	}
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);

	if (status == 0 && wait_read) {
		printf("producer: waiting for the consumer\n");
		if (wait_drained(b, timeout) < 0) {
			fprintf(stderr, "shm_producer: %u messages still unread after %d s\n", shm_buffer_unread(b),
				timeout);
			status = 3;
		} else {
			printf("producer: all messages read\n");
		}
	}
	if (shmdt(b) < 0) {
		fprintf(stderr, "shm_producer: shmdt: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}
