/* SPDX-License-Identifier: MIT */
/* The buffer shared by shm_producer and shm_consumer: a ring of fixed-size
 * message slots in one System V shared memory segment, and the classic
 * bounded-buffer semaphores around it in one System V semaphore set.  Both
 * objects have the same key (keys are per kind of object).
 *
 *     empty  free slots, initially SHM_SLOTS
 *     full   written slots, initially 0
 *     mutex  1 when nobody is inside shm_buffer_put() or shm_buffer_get()
 *
 *     producer:  P(empty) P(mutex)  shm_buffer_put(b, msg)  V(mutex) V(full)
 *     consumer:  P(full)  P(mutex)  shm_buffer_get(b, out)  V(mutex) V(empty)
 *
 * Each P pair is one semop(2): both units are taken at once or the caller
 * sleeps in the kernel (here: in ipcnsd) until they can be.  The consumer
 * does not poll: it sleeps until a producer's V(full).  Any number of
 * producers and consumers may use the buffer at a time.
 *
 * Only the mutex operations carry SEM_UNDO: the process that takes the mutex
 * gives it back, and if it dies in between, the kernel (ipcnsd) gives it back
 * for it.  empty and full move units from one process to the other; undoing
 * them when a process exits would take back the messages a producer wrote or
 * the slots a consumer freed.
 *
 * A new set is all zeroes until its creator sets the initial values
 * (SETALL).  Every user starts with a P, which sleeps on those zeroes until
 * SETALL wakes it, so nobody can use the set half made.  */
#ifndef SHM_BUFFER_H
#define SHM_BUFFER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#define SHM_DEMO_KEY 0x1234
#define SHM_SLOTS 16
#define SHM_SLOT_LEN 128
#define SHM_MAGIC 0x73687062u /* "shpb" */

/* The semaphores of the set.  */
enum { SEM_EMPTY, SEM_FULL, SEM_MUTEX, SEM_COUNT };

/* semctl's fourth argument, which the caller must define (semctl(2)).  */
union shm_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct shm_buffer {
	uint32_t magic;   /* SHM_MAGIC once a producer has initialised it */
	uint32_t written; /* messages written so far; the next goes to slot written % SHM_SLOTS */
	uint32_t read;    /* messages read so far */
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

/* The semaphore set with `key`; with `create`, made and initialised when
 * there is none.  Its id, or -1 with errno set.  */
static inline int shm_sem_open(key_t key, int create)
{
	if (!create)
		return semget(key, SEM_COUNT, 0);
	int id = semget(key, SEM_COUNT, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		return errno == EEXIST ? semget(key, SEM_COUNT, 0) : -1;
	unsigned short init[SEM_COUNT] = { [SEM_EMPTY] = SHM_SLOTS, [SEM_FULL] = 0, [SEM_MUTEX] = 1 };
	if (semctl(id, 0, SETALL, (union shm_semun){ .array = init }) < 0) {
		int err = errno;
		semctl(id, 0, IPC_RMID);
		errno = err;
		return -1;
	}
	return id;
}

/* semop() that gives up after `seconds` (EAGAIN).  */
static inline int shm_sem_wait(int semid, struct sembuf *ops, size_t nops, int seconds)
{
	struct timespec timeout = { seconds, 0 };
	return semtimedop(semid, ops, nops, &timeout);
}

/* P(empty) P(mutex): wait for a free slot and the buffer, at most
 * `seconds`.  0, or -1 with errno (EAGAIN: timed out; EIDRM: the set was
 * removed).  */
static inline int shm_buffer_wait_put(int semid, int seconds)
{
	struct sembuf p[] = { { SEM_EMPTY, -1, 0 }, { SEM_MUTEX, -1, SEM_UNDO } };
	return shm_sem_wait(semid, p, 2, seconds);
}

/* V(mutex) V(full), after shm_buffer_put().  */
static inline int shm_buffer_end_put(int semid)
{
	struct sembuf v[] = { { SEM_MUTEX, 1, SEM_UNDO }, { SEM_FULL, 1, 0 } };
	return semop(semid, v, 2);
}

/* P(full) P(mutex): wait for a message and the buffer, at most `seconds`.
 * With `seconds` < 0 fail at once with EAGAIN when there is no message (the
 * IPC_NOWAIT is on the full operation only: the mutex is still waited for).  */
static inline int shm_buffer_wait_get(int semid, int seconds)
{
	struct sembuf p[] = { { SEM_FULL, -1, seconds < 0 ? IPC_NOWAIT : 0 }, { SEM_MUTEX, -1, SEM_UNDO } };
	return seconds < 0 ? semop(semid, p, 2) : shm_sem_wait(semid, p, 2, seconds);
}

/* V(mutex) V(empty), after shm_buffer_get().  */
static inline int shm_buffer_end_get(int semid)
{
	struct sembuf v[] = { { SEM_MUTEX, 1, SEM_UNDO }, { SEM_EMPTY, 1, 0 } };
	return semop(semid, v, 2);
}

/* Wait until every slot is free, that is every message has been read, at
 * most `seconds`: take SHM_SLOTS units of empty and give them back in the
 * same semop, so that nobody else ever sees them taken.  */
static inline int shm_buffer_wait_drained(int semid, int seconds)
{
	struct sembuf ops[] = { { SEM_EMPTY, -SHM_SLOTS, 0 }, { SEM_EMPTY, SHM_SLOTS, 0 } };
	return shm_sem_wait(semid, ops, 2, seconds);
}

/* Messages written and not yet read (without the mutex: a snapshot).  */
static inline uint32_t shm_buffer_unread(const struct shm_buffer *b)
{
	return __atomic_load_n(&b->written, __ATOMIC_ACQUIRE) - __atomic_load_n(&b->read, __ATOMIC_ACQUIRE);
}

/* Copy `msg` into the next slot (truncated to SHM_SLOT_LEN - 1 bytes).  The
 * caller holds a unit of empty and the mutex.  Returns the message's number,
 * from 1.  */
static inline uint32_t shm_buffer_put(struct shm_buffer *b, const char *msg)
{
	uint32_t w = __atomic_load_n(&b->written, __ATOMIC_RELAXED);
	snprintf(b->slot[w % SHM_SLOTS], SHM_SLOT_LEN, "%s", msg);
	__atomic_store_n(&b->written, w + 1, __ATOMIC_RELEASE);
	return w + 1;
}

/* Copy the oldest unread message into `out` and free its slot.  The caller
 * holds a unit of full and the mutex.  Returns the message's number, from 1.  */
static inline uint32_t shm_buffer_get(struct shm_buffer *b, char out[SHM_SLOT_LEN])
{
	uint32_t r = __atomic_load_n(&b->read, __ATOMIC_RELAXED);
	memcpy(out, b->slot[r % SHM_SLOTS], SHM_SLOT_LEN);
	out[SHM_SLOT_LEN - 1] = '\0';
	__atomic_store_n(&b->read, r + 1, __ATOMIC_RELEASE);
	return r + 1;
}

#endif
