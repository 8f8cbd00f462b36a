/* SPDX-License-Identifier: MIT */
/* Hostile timing: threads race IPC_RMID against semop, msgrcv and shmat.
 * Nothing crashes, nothing hangs, and every call returns what Linux can
 * return at that moment:
 *   semop   0 (a unit it got before the removal), EIDRM (asleep when the
 *           set went), EINVAL (called after);
 *   msgrcv  a message, EIDRM, EINVAL;
 *   shmat   an address (also after IPC_RMID, while an attachment keeps
 *           the segment alive: Linux allows attaching a segment marked for
 *           destruction), EIDRM (found while being destroyed), EINVAL once
 *           it is destroyed; shmdt of an own attachment always 0;
 *   IPC_RMID raced by several threads: exactly one gets 0, the others
 *           EINVAL (EIDRM is allowed: Linux gives it to a remover that
 *           found the object already marked deleted); for a segment that
 *           is attached, more than one may get 0 (it stays findable, marked
 *           SHM_DEST, until the last detach).
 * Each round: an object, RACERS threads hammering it, a random pause, the
 * removal from REMOVERS threads at once; every thread must be back within
 * a few seconds (a watchdog fails the test otherwise).  At the end the
 * namespace holds nothing.  */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

#define RACERS 4
#define REMOVERS 3
#define ROUNDS 25
#define SHMAT_TRIES 100

enum kind { K_SEM, K_MSG, K_SHM };
static const char *const kind_name[] = { "semop", "msgrcv", "shmat" };

static int id;
static enum kind kind;
static atomic_int go;
static atomic_int bad; /* unexpected results */
static atomic_long ok_calls, eidrm, einval;
static pthread_barrier_t start;

static void note_bad(const char *what, long r, int e)
{
	atomic_fetch_add(&bad, 1);
	fprintf(stderr, "FAIL %s: %s returned %ld errno %d (%s)\n", kind_name[kind], what, r, e, strerror(e));
}

static void *racer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	pthread_barrier_wait(&start);
	for (int i = 0; i < SHMAT_TRIES; i++) {
		long r;
		int e;
		switch (kind) {
		case K_SEM: {
			/* Sleeps until the removal, or takes a unit posted by
			 * another racer.  */
			struct sembuf op = { 0, (short)(rand_r(&seed) % 4 == 0 ? 1 : -1), 0 };
			r = syscall(SYS_semop, id, &op, 1);
			e = errno;
			break;
		}
		case K_MSG: {
			struct {
				long mtype;
				char mtext[32];
			} m = { 1, "x" };
			if (rand_r(&seed) % 4 == 0) {
				r = syscall(SYS_msgsnd, id, &m, 8, IPC_NOWAIT);
				e = errno;
				if (r < 0 && e == EAGAIN)
					r = 0;
			} else {
				r = syscall(SYS_msgrcv, id, &m, sizeof(m.mtext), 0L, 0);
				e = errno;
			}
			break;
		}
		default: {
			r = syscall(SYS_shmat, id, 0, 0);
			e = errno;
			if (r != -1) {
				*(volatile char *)r = 1;
				long d = syscall(SYS_shmdt, r);
				if (d != 0)
					note_bad("shmdt of an own attachment", d, errno);
				r = 0;
			}
			break;
		}
		}
		if (r >= 0) {
			atomic_fetch_add(&ok_calls, 1);
			continue;
		}
		if (e == EINVAL) {
			atomic_fetch_add(&einval, 1);
			/* The id is gone for good: nothing more to race.  */
			if (atomic_load(&go))
				return NULL;
			note_bad("a call before the removal", r, e);
			return NULL;
		}
		/* shmat too: it may find the segment while IPC_RMID destroys
		 * it (do_shmat's ipc_valid_object check, shmat(2)).  */
		if (e == EIDRM) {
			atomic_fetch_add(&eidrm, 1);
			return NULL;
		}
		note_bad("a call", r, e);
		return NULL;
	}
	return NULL;
}

static atomic_int rmid_zero, rmid_einval;

static void *remover(void *arg)
{
	pthread_barrier_wait(&start);
	while (!atomic_load(&go))
		;
	long r;
	switch (kind) {
	case K_SEM:
		r = syscall(SYS_semctl, id, 0, IPC_RMID, 0);
		break;
	case K_MSG:
		r = syscall(SYS_msgctl, id, IPC_RMID, 0);
		break;
	default:
		r = syscall(SYS_shmctl, id, IPC_RMID, 0);
		break;
	}
	int e = errno;
	if (r == 0)
		atomic_fetch_add(&rmid_zero, 1);
	else if (e == EINVAL || e == EIDRM)
		atomic_fetch_add(&rmid_einval, 1);
	else
		note_bad("IPC_RMID", r, e);
	return NULL;
}

static void watchdog(int sig)
{
	static const char msg[] = "FAIL: a racing thread did not come back within 20 s\n";
	(void)sig;
	write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void round_of(enum kind k, unsigned int seed)
{
	kind = k;
	atomic_store(&go, 0);
	atomic_store(&rmid_zero, 0);
	atomic_store(&rmid_einval, 0);
	switch (k) {
	case K_SEM:
		id = (int)syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600);
		break;
	case K_MSG:
		id = (int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600);
		break;
	default:
		id = (int)syscall(SYS_shmget, IPC_PRIVATE, 8192, IPC_CREAT | 0600);
		break;
	}
	if (id < 0) {
		CONF_FAIL("creating the %s object: %s", kind_name[k], strerror(errno));
		return;
	}
	pthread_t t[RACERS + REMOVERS];
	pthread_barrier_init(&start, NULL, RACERS + REMOVERS + 1);
	for (int i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, (void *)(uintptr_t)(seed * 31 + (unsigned int)i));
	for (int i = 0; i < REMOVERS; i++)
		pthread_create(&t[RACERS + i], NULL, remover, NULL);
	pthread_barrier_wait(&start);
	struct timespec ts = { 0, (long)(seed % 2000) * 1000 };
	nanosleep(&ts, NULL);
	atomic_store(&go, 1);
	alarm(20);
	for (int i = 0; i < RACERS + REMOVERS; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	pthread_barrier_destroy(&start);
	conf_checks += 2;
	int zero = atomic_load(&rmid_zero), other = atomic_load(&rmid_einval);
	if (zero + other != REMOVERS || zero < 1 || (k != K_SHM && zero != 1))
		CONF_FAIL("%s round: %d IPC_RMID succeeded, %d failed with EINVAL/EIDRM (want 1 and %d)", kind_name[k],
			  atomic_load(&rmid_zero), atomic_load(&rmid_einval), REMOVERS - 1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, watchdog);
	unsigned int seed = (unsigned int)time(NULL);
	printf("# seed %u\n", seed);
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < 3; k++)
			round_of((enum kind)k, seed + (unsigned int)(r * 3 + k) * 7919);
	conf_checks++;
	if (atomic_load(&bad))
		CONF_FAIL("%d calls returned something Linux does not", atomic_load(&bad));
	printf("# %ld calls succeeded, %ld EIDRM, %ld EINVAL\n", atomic_load(&ok_calls), atomic_load(&eidrm),
	       atomic_load(&einval));

	/* Nothing is left.  */
	struct shm_info si;
	struct seminfo sei;
	struct msginfo mi;
	CHECK_OK(syscall(SYS_shmctl, 0, SHM_INFO, &si));
	CHECK_EQ(si.used_ids, 0);
	CHECK_OK(syscall(SYS_semctl, 0, 0, SEM_INFO, &sei));
	CHECK_EQ(sei.semusz, 0);
	CHECK_OK(syscall(SYS_msgctl, 0, MSG_INFO, &mi));
	CHECK_EQ(mi.msgpool, 0);
	return conf_done("hostile_race");
}
