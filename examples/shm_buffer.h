/* The buffer shared by shm_producer and shm_consumer: a ring of fixed-size
 * message slots in one System V shared memory segment, found by its key.
 *
 * One producer and one consumer at a time.  The producer advances `written`,
 * the consumer advances `read`; each counter has a single writer, so the
 * two processes need no lock, only the ordering the atomics below give (the
 * slot is filled before `written` moves past it, and read before `read`
 * does).  When the ring is full the producer polls, when it is empty the
 * consumer polls.
 *
 * The classic version of this demo replaces the polling with a semaphore
 * pair around the buffer calls: "empty" (initially SHM_SLOTS) counts free
 * slots, "full" (initially 0) counts written ones:
 *
 *     producer:  P(empty); shm_buffer_put(b, msg); V(full);
 *     consumer:  P(full);  shm_buffer_get(b, out); V(empty);
 *
 * shm_buffer_wait_put() and shm_buffer_wait_get() are where those P
 * operations go; the V operations follow shm_buffer_put() and
 * shm_buffer_get() in the callers.  */
#ifndef SHM_BUFFER_H
#define SHM_BUFFER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <time.h>

#define SHM_DEMO_KEY 0x1234
#define SHM_SLOTS 16
#define SHM_SLOT_LEN 128
#define SHM_MAGIC 0x73687062u /* "shpb" */
#define SHM_POLL_MS 10

struct shm_buffer {
	uint32_t magic;   /* SHM_MAGIC once the producer has initialised it */
	uint32_t written; /* messages written so far; the next goes to slot written % SHM_SLOTS */
	uint32_t read;    /* messages read so far */
	uint32_t done;    /* the producer has written its last message */
	char slot[SHM_SLOTS][SHM_SLOT_LEN];
};

/* "0x1234", "4660" or "-1": a key as ipcs prints it or as a number.  */
static inline int shm_parse_key(const char *s, key_t *key)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < INT32_MIN || v > UINT32_MAX)
		return -1;
	*key = (key_t)(int32_t)(uint32_t)v;
	return 0;
}

static inline int shm_parse_seconds(const char *s, int *seconds)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 86400)
		return -1;
	*seconds = (int)v;
	return 0;
}

static inline void shm_sleep_poll(void)
{
	struct timespec ts = { 0, SHM_POLL_MS * 1000000L };
	nanosleep(&ts, NULL);
}

static inline uint32_t shm_buffer_unread(const struct shm_buffer *b)
{
	return __atomic_load_n(&b->written, __ATOMIC_ACQUIRE) - __atomic_load_n(&b->read, __ATOMIC_ACQUIRE);
}

/* Wait for a free slot, at most `seconds`.  0, or -1 on timeout.  */
static inline int shm_buffer_wait_put(const struct shm_buffer *b, int seconds)
{
	for (long waited = 0; shm_buffer_unread(b) >= SHM_SLOTS; waited += SHM_POLL_MS) {
		if (waited >= seconds * 1000L)
			return -1;
		shm_sleep_poll();
	}
	return 0;
}

/* Wait for a written slot, at most `seconds`.  0, or -1 on timeout.  */
static inline int shm_buffer_wait_get(const struct shm_buffer *b, int seconds)
{
	for (long waited = 0; shm_buffer_unread(b) == 0; waited += SHM_POLL_MS) {
		if (waited >= seconds * 1000L)
			return -1;
		shm_sleep_poll();
	}
	return 0;
}

/* Copy `msg` into the next slot (truncated to SHM_SLOT_LEN - 1 bytes) and
 * publish it.  The caller has made sure there is a free slot.  Returns the
 * message's number, from 1.  */
static inline uint32_t shm_buffer_put(struct shm_buffer *b, const char *msg)
{
	uint32_t w = __atomic_load_n(&b->written, __ATOMIC_RELAXED);
	snprintf(b->slot[w % SHM_SLOTS], SHM_SLOT_LEN, "%s", msg);
	__atomic_store_n(&b->written, w + 1, __ATOMIC_RELEASE);
	return w + 1;
}

/* Copy the oldest unread message into `out` and free its slot.  The caller
 * has made sure there is one.  Returns the message's number, from 1.  */
static inline uint32_t shm_buffer_get(struct shm_buffer *b, char out[SHM_SLOT_LEN])
{
	uint32_t r = __atomic_load_n(&b->read, __ATOMIC_RELAXED);
	memcpy(out, b->slot[r % SHM_SLOTS], SHM_SLOT_LEN);
	out[SHM_SLOT_LEN - 1] = '\0';
	__atomic_store_n(&b->read, r + 1, __ATOMIC_RELEASE);
	return r + 1;
}

#endif
