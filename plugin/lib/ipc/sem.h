/* SPDX-License-Identifier: MIT */
/* System V semaphores: the structures of sem.c, shared with the state
 * image (image_*.c, journal.c).  Private to the core.  */
#ifndef IPCNS_SEM_H
#define IPCNS_SEM_H

#include <sys/sem.h>

#include "core.h"

struct sem {
	int semval;
	struct ipcns_pidref sempid; /* the last process that changed it */
	int64_t otime; /* Linux keeps sem_otime per semaphore; IPC_STAT reports the max */
	struct ipcns_list pending_alter; /* single-sop decrements */
	struct ipcns_list pending_const; /* single-sop wait-for-zero */
};

struct sem_array {
	struct ipcns_perm perm;
	int64_t ctime;
	struct ipcns_list pending_alter; /* complex operations that alter */
	struct ipcns_list pending_const; /* complex wait-for-zero operations */
	struct ipcns_list undos;         /* struct sem_undo.set_link */
	struct ipcns_list waiters;       /* struct sem_queue.set_link */
	int nsems;
	int complex_count;
	struct sem sems[];
};

/* Adjustments of one process on one set.  */
struct sem_undo {
	struct ipcns_list proc_link; /* in sem_undo_list.undos, most recent first */
	struct ipcns_list set_link;  /* in sem_array.undos */
	struct sem_undo_list *ulp;
	struct sem_array *sma;
	short semadj[];
};

/* All undo structures of one process (host tgid): the threads share it, as
 * Linux shares it between tasks cloned with CLONE_SYSVSEM (pthreads).  */
struct sem_undo_list {
	pid_t host_tgid;
	struct ipcns_pidref ns;
	struct ipcns_list undos;
	struct sem_undo_list *hnext;
};

/* A sleeping operation.  */
struct sem_queue {
	struct ipcns_list list;     /* in one of the pending lists */
	struct ipcns_list set_link; /* in sem_array.waiters */
	struct ipcns_list ns_link;  /* in ipcns_sem_state.waiters */
	struct ipcns_waiter *w;
	struct sem_array *sma;
	struct sem_undo *undo;
	pid_t host_tgid;
	struct ipcns_pidref ns;
	int nsops;
	int blocking; /* index of the sop it sleeps on (GETNCNT/GETZCNT) */
	bool alter;
	struct sembuf sops[];
};

struct ipcns_sem_state {
	struct ipcns_list waiters;
	struct sem_undo_list **ulp_hash;
	unsigned int ulp_hash_size, ulp_count;
};

static inline struct sem_array *sem_from_perm(struct ipcns_perm *p)
{
	return container_of(p, struct sem_array, perm);
}

/* SETVAL (semnum >= 0: val) or SETALL (semnum -1: vals), journaled
 * before its answer as the set will be after it.  */
struct sem_ahead {
	int semnum; /* SETVAL: its semaphore; SETALL: -1; a semop: -2 */
	int val;
	const uint16_t *vals;
	struct ipcns_pidref pid;
	int64_t ctime;
	/* A semop (values already applied): the semaphores of its sops get
	 * `pid' as sempid, the first one `otime' (unless -1).  */
	const struct sembuf *sops;
	int nsops;
	int64_t otime;
};
void ipcns_journal_ahead_sem(struct ipcns_ns *ns, struct sem_array *sma, const struct sem_ahead *a);
static inline void ipcns_jahead_sem(struct ipcns_ns *ns, struct sem_array *sma, const struct sem_ahead *a)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_ahead_sem(ns, sma, a);
}

/* The undo lists of the namespace's processes, by host tgid.  */
struct sem_undo_list *ulp_find(struct ipcns_sem_state *st, pid_t tgid);
int ulp_insert(struct ipcns_ns *ns, struct ipcns_sem_state *st, struct sem_undo_list *ulp);
/* Linux's unmerge_queues: back to their semaphores' lists when no complex
 * operation sleeps.  */
void unmerge_queues(struct sem_array *sma);

#endif
