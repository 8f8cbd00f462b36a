/* SPDX-License-Identifier: MIT */
/* System V semaphores, as Linux's ipc/sem.c: semget, semop/semtimedop,
 * semctl, SEM_UNDO and the order in which sleeping operations are woken.
 *
 * The queues have Linux's shape, because the wake-up order is defined by
 * it: a single-sop operation that must sleep goes on its semaphore's
 * pending_alter (decrements) or pending_const (wait-for-zero) list; an
 * operation on several semaphores goes on the set's global lists, and while
 * one is queued (complex_count > 0) the single-sop decrements live on the
 * global list too, so FIFO order holds between the two kinds
 * (merge_queues/unmerge_queues).  Linux unmerges when the set's global lock
 * is dropped, which is the end of every operation on the set here.
 *
 * A sleeping operation is a parked call (struct ipcns_waiter).  When an
 * update makes it possible, the waker applies it and answers it; if the
 * answer cannot be delivered (the caller was interrupted after its last
 * check), the operation is rolled back exactly, so no unit is lost.  */
#include <limits.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include "sem.h"

/* The sembuf the kernel copies in: 6 bytes, glibc's layout.  */
_Static_assert(sizeof(struct sembuf) == 6, "struct sembuf layout");

/* The kernel's struct semid64_ds for 64-bit architectures: what IPC_STAT
 * and SEM_STAT copy out and IPC_SET reads.  x86 keeps two padding words
 * after the times (arch/x86/include/uapi/asm/sembuf.h); the others use
 * asm-generic/sembuf.h.  */
struct sem_semid64_ds {
	struct ipcns_ipc64_perm sem_perm;
	int64_t sem_otime;
#ifdef __x86_64__
	uint64_t unused1;
#endif
	int64_t sem_ctime;
#ifdef __x86_64__
	uint64_t unused2;
#endif
	uint64_t sem_nsems;
	uint64_t unused3;
	uint64_t unused4;
};
_Static_assert(sizeof(struct sem_semid64_ds) == sizeof(struct semid_ds), "semid64_ds layout");
_Static_assert(sizeof(struct ipcns_ipc64_perm) == sizeof(struct ipc_perm), "ipc64_perm layout");

/* include/uapi/linux/sem.h: struct seminfo, ten ints.  */
struct sem_seminfo {
	int32_t semmap, semmni, semmns, semmnu, semmsl, semopm, semume, semusz, semvmx, semaem;
};
_Static_assert(sizeof(struct sem_seminfo) == sizeof(struct seminfo), "seminfo layout");

/* sizeof the kernel's struct sem_undo, reported as semusz by IPC_INFO.  */
#define SEM_SEMUSZ 20

#define NSEC_PER_SEC 1000000000LL

static int sem_obtain_check(struct ipcns_ns *ns, int id, struct sem_array **out)
{
	struct ipcns_perm *p;
	int ret = ipcns_ids_obtain_check(&ns->ids[IPCNS_SEM], id, &p);
	if (ret < 0)
		return ret;
	ipcns_jdirty(ns, IPCNS_SEM, p);
	*out = sem_from_perm(p);
	return 0;
}

static void list_splice_head(struct ipcns_list *list, struct ipcns_list *head)
{
	if (ipcns_list_empty(list))
		return;
	struct ipcns_list *first = list->next, *last = list->prev, *at = head->next;
	first->prev = head;
	head->next = first;
	last->next = at;
	at->prev = last;
	ipcns_list_init(list);
}

/* ---- Applying operations.  */

static void sem_revert_one(struct sem_array *sma, const struct sembuf *sop, struct sem_undo *un)
{
	sma->sems[sop->sem_num].semval -= sop->sem_op;
	if (sop->sem_flg & SEM_UNDO)
		un->semadj[sop->sem_num] = (short)(un->semadj[sop->sem_num] + sop->sem_op);
}

/* Linux's perform_atomic_semop_slow(): the sops in order, each seeing the
 * effect of the previous ones, rolled back on failure.  Its fast variant,
 * used when no semaphore is altered twice, gives the same answers.  With
 * `commit' false the set is left as it was also on success (a dry run).
 * Returns 0 (possible), 1 (must sleep; *blocking is the sop that blocks),
 * -EAGAIN (the blocking sop has IPC_NOWAIT) or -ERANGE (a value above
 * SEMVMX, or an adjustment outside [-SEMAEM-1, SEMAEM]).  */
static int sem_try(struct sem_array *sma, const struct sembuf *sops, int nsops, struct sem_undo *un,
		   bool commit, int *blocking)
{
	int i, ret = 0;

	for (i = 0; i < nsops; i++) {
		const struct sembuf *sop = &sops[i];
		struct sem *curr = &sma->sems[sop->sem_num];
		int result = curr->semval;

		if ((sop->sem_op == 0 && result != 0) || result + sop->sem_op < 0) {
			*blocking = i;
			ret = (sop->sem_flg & IPC_NOWAIT) ? -EAGAIN : 1;
			break;
		}
		result += sop->sem_op;
		if (result > IPCNS_SEMVMX) {
			ret = -ERANGE;
			break;
		}
		if (sop->sem_flg & SEM_UNDO) {
			int adj = un->semadj[sop->sem_num] - sop->sem_op;
			if (adj < -IPCNS_SEMAEM - 1 || adj > IPCNS_SEMAEM) {
				ret = -ERANGE;
				break;
			}
			un->semadj[sop->sem_num] = (short)adj;
		}
		curr->semval = result;
	}
	if (ret == 0 && commit)
		return 0;
	while (i-- > 0)
		sem_revert_one(sma, &sops[i], un);
	return ret;
}

static void sem_revert(struct sem_array *sma, const struct sembuf *sops, int nsops, struct sem_undo *un)
{
	for (int i = nsops - 1; i >= 0; i--)
		sem_revert_one(sma, &sops[i], un);
}

/* Every sop of a completed semop, wait-for-zero included, records the
 * caller as sempid (perform_atomic_semop).  */
static void sem_set_pids(struct sem_array *sma, const struct sembuf *sops, int nsops, struct ipcns_pidref pid)
{
	for (int i = 0; i < nsops; i++)
		sma->sems[sops[i].sem_num].sempid = pid;
}

static void set_semotime(struct ipcns_ns *ns, struct sem_array *sma, const struct sembuf *sops)
{
	ipcns_jdirty(ns, IPCNS_SEM, &sma->perm);
	sma->sems[sops ? sops[0].sem_num : 0].otime = ipcns_now(ns);
}

static int64_t get_semotime(const struct sem_array *sma)
{
	int64_t res = sma->sems[0].otime;
	for (int i = 1; i < sma->nsems; i++)
		if (sma->sems[i].otime > res)
			res = sma->sems[i].otime;
	return res;
}

/* ---- Queues.  */

static void unlink_queue(struct sem_array *sma, struct sem_queue *q)
{
	ipcns_list_del(&q->list);
	if (q->nsops > 1)
		sma->complex_count--;
}

/* The core is done with q (already unlinked from its pending list).  */
static void queue_free(struct ipcns_ns *ns, struct sem_queue *q)
{
	struct ipcns_waiter *w = q->w;

	ipcns_jdirty(ns, IPCNS_SEM, &q->sma->perm);
	ipcns_list_del(&q->set_link);
	ipcns_list_del(&q->ns_link);
	w->core = NULL;
	w->ops->release(w);
	ns->parked--;
	ipcns_mem_free(q);
}

/* Linux moves the single-sop decrements back to their semaphores when no
 * complex operation sleeps any more (unmerge_queues, at sem_unlock).  */
void unmerge_queues(struct sem_array *sma)
{
	struct ipcns_list *pos, *tmp;

	if (sma->complex_count)
		return;
	ipcns_list_for_each_safe (pos, tmp, &sma->pending_alter) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		ipcns_list_del(&q->list);
		ipcns_list_add_tail(&sma->sems[q->sops[0].sem_num].pending_alter, &q->list);
	}
}

/* merge_queues: each semaphore's list is spliced at the head of the global
 * one, as list_splice_init() does, so the last semaphore's come first.  */
static void merge_queues(struct sem_array *sma)
{
	for (int i = 0; i < sma->nsems; i++)
		list_splice_head(&sma->sems[i].pending_alter, &sma->pending_alter);
}

/* q's dry run gave `error' (0: possible, or -errno): answer it.  A caller
 * that is gone consumes nothing.  Returns true when q succeeded and its
 * effect stands.  q is unlinked; the caller frees it.  */
static bool queue_complete(struct ipcns_ns *ns, struct sem_array *sma, struct sem_queue *q, int error)
{
	struct ipcns_waiter *w = q->w;
	int blocking;

	/* The journal has its sempids before the answer leaves; it holds a
	 * pointer to `ahead' until ipcns_jsettle below.  */
	struct sem_ahead ahead = { .semnum = -2, .sops = q->sops, .nsops = q->nsops, .pid = q->ns,
				   .ctime = sma->ctime, .otime = -1 };

	unlink_queue(sma, q);
	if (!w->ops->alive(w))
		return false;
	if (error == 0) {
		sem_try(sma, q->sops, q->nsops, q->undo, true, &blocking);
		ipcns_jahead_sem(ns, sma, &ahead);
	}
	int dr = w->ops->deliver(w, error);
	ipcns_jsettle(ns, IPCNS_SEM, &sma->perm, dr < 0);
	if (dr < 0) {
		/* Interrupted between the check and the answer: as if the
		 * operation had never run.  The set is back in the state the
		 * scan saw before q, so the scan goes on from q's successor.  */
		if (error == 0)
			sem_revert(sma, q->sops, q->nsops, q->undo);
		return false;
	}
	if (error)
		return false;
	sem_set_pids(sma, q->sops, q->nsops, q->ns);
	return true;
}

/* wake_const_ops: complete the wait-for-zero operations of semaphore
 * `semnum' (or the complex ones, -1) that can proceed.  */
static int wake_const_ops(struct ipcns_ns *ns, struct sem_array *sma, int semnum)
{
	struct ipcns_list *head = semnum < 0 ? &sma->pending_const : &sma->sems[semnum].pending_const;
	struct ipcns_list *pos, *tmp;
	int completed = 0;

	ipcns_list_for_each_safe (pos, tmp, head) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		int error = sem_try(sma, q->sops, q->nsops, q->undo, false, &q->blocking);
		if (error > 0)
			continue;
		if (queue_complete(ns, sma, q, error))
			completed = 1;
		queue_free(ns, q);
	}
	return completed;
}

/* do_smart_wakeup_zero: wait-for-zero operations on the semaphores sops
 * touched (all when sops is NULL) that are now 0, then the complex ones.  */
static int do_smart_wakeup_zero(struct ipcns_ns *ns, struct sem_array *sma, const struct sembuf *sops,
				int nsops)
{
	int completed = 0, got_zero = 0;

	if (sops) {
		for (int i = 0; i < nsops; i++) {
			int num = sops[i].sem_num;
			if (sma->sems[num].semval == 0) {
				got_zero = 1;
				completed |= wake_const_ops(ns, sma, num);
			}
		}
	} else {
		for (int i = 0; i < sma->nsems; i++) {
			if (sma->sems[i].semval == 0) {
				got_zero = 1;
				completed |= wake_const_ops(ns, sma, i);
			}
		}
	}
	if (got_zero)
		completed |= wake_const_ops(ns, sma, -1);
	return completed;
}

/* check_restart: after q (a sleeper that altered the set) completed, must
 * the scan start over?  Only with complex operations around: a completed
 * single decrement cannot enable an older single decrement.  */
static bool check_restart(struct sem_array *sma, const struct sem_queue *q)
{
	return !ipcns_list_empty(&sma->pending_alter) || q->nsops > 1;
}

/* update_queue: complete, in FIFO order, the altering operations of
 * semaphore `semnum' (or of the global list, -1) that can proceed.  */
static int update_queue(struct ipcns_ns *ns, struct sem_array *sma, int semnum)
{
	struct ipcns_list *head = semnum < 0 ? &sma->pending_alter : &sma->sems[semnum].pending_alter;
	struct ipcns_list *pos, *tmp;
	int completed = 0;

again:
	ipcns_list_for_each_safe (pos, tmp, head) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		bool restart = false;

		/* Increments on one semaphore never sleep and decrements
		 * cannot succeed at 0: nothing more to find on this list.  */
		if (semnum >= 0 && sma->sems[semnum].semval == 0)
			break;
		int error = sem_try(sma, q->sops, q->nsops, q->undo, false, &q->blocking);
		if (error > 0)
			continue;
		if (queue_complete(ns, sma, q, error)) {
			completed = 1;
			do_smart_wakeup_zero(ns, sma, q->sops, q->nsops);
			restart = check_restart(sma, q);
		}
		queue_free(ns, q);
		if (restart)
			goto again;
	}
	return completed;
}

/* do_smart_update: after the values changed (by sops, or by an unknown
 * set of semaphores when sops is NULL), complete what can proceed; set
 * sem_otime when `otime' or when a sleeper completed.  */
static void do_smart_update(struct ipcns_ns *ns, struct sem_array *sma, const struct sembuf *sops, int nsops,
			    int otime)
{
	otime |= do_smart_wakeup_zero(ns, sma, sops, nsops);

	if (!ipcns_list_empty(&sma->pending_alter)) {
		otime |= update_queue(ns, sma, -1);
	} else if (!sops) {
		for (int i = 0; i < sma->nsems; i++)
			otime |= update_queue(ns, sma, i);
	} else {
		/* Without complex sleepers every sleeping alter operation is
		 * a decrement: only the semaphores that went up can help.  */
		for (int i = 0; i < nsops; i++)
			if (sops[i].sem_op > 0)
				otime |= update_queue(ns, sma, sops[i].sem_num);
	}
	if (otime)
		set_semotime(ns, sma, sops);
}

/* count_semcnt: a sleeper counts only on the semaphore of the sop it
 * blocks on (SUS; Linux since 3.16).  */
static int count_semcnt(struct sem_array *sma, int semnum, bool count_zero)
{
	struct ipcns_list *pos;
	int cnt = 0;

	ipcns_list_for_each (pos, count_zero ? &sma->sems[semnum].pending_const : &sma->sems[semnum].pending_alter)
		cnt++;
	for (int pass = 0; pass < (count_zero ? 2 : 1); pass++) {
		ipcns_list_for_each (pos, pass ? &sma->pending_const : &sma->pending_alter) {
			struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
			const struct sembuf *sop = &q->sops[q->blocking];
			if (sop->sem_num != semnum)
				continue;
			if (count_zero ? sop->sem_op == 0 : sop->sem_op < 0)
				cnt++;
		}
	}
	return cnt;
}

/* Drop the set's sleepers whose caller went away, so the counts are exact.  */
static int sweep_set(struct ipcns_ns *ns, struct sem_array *sma)
{
	struct ipcns_list *pos, *tmp;
	int n = 0;

	ipcns_list_for_each_safe (pos, tmp, &sma->waiters) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, set_link);
		if (q->w->ops->alive(q->w))
			continue;
		unlink_queue(sma, q);
		queue_free(ns, q);
		n++;
	}
	unmerge_queues(sma);
	return n;
}

/* ---- Undo.  */

static unsigned int ulp_bucket(pid_t tgid, unsigned int size)
{
	return ((uint32_t)tgid * 0x9e3779b1u >> 8) & (size - 1);
}

struct sem_undo_list *ulp_find(struct ipcns_sem_state *st, pid_t tgid)
{
	if (!st->ulp_hash_size)
		return NULL;
	for (struct sem_undo_list *u = st->ulp_hash[ulp_bucket(tgid, st->ulp_hash_size)]; u; u = u->hnext)
		if (u->host_tgid == tgid)
			return u;
	return NULL;
}

int ulp_insert(struct ipcns_ns *ns, struct ipcns_sem_state *st, struct sem_undo_list *ulp)
{
	if (st->ulp_count >= st->ulp_hash_size) {
		unsigned int nsize = st->ulp_hash_size ? st->ulp_hash_size * 2 : 16;
		struct sem_undo_list **nh = ipcns_mem_zalloc(&ns->budget, nsize * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		for (unsigned int i = 0; i < st->ulp_hash_size; i++) {
			struct sem_undo_list *u = st->ulp_hash[i], *next;
			for (; u; u = next) {
				next = u->hnext;
				unsigned int b = ulp_bucket(u->host_tgid, nsize);
				u->hnext = nh[b];
				nh[b] = u;
			}
		}
		ipcns_mem_free(st->ulp_hash);
		st->ulp_hash = nh;
		st->ulp_hash_size = nsize;
	}
	unsigned int b = ulp_bucket(ulp->host_tgid, st->ulp_hash_size);
	ulp->hnext = st->ulp_hash[b];
	st->ulp_hash[b] = ulp;
	st->ulp_count++;
	return 0;
}

static struct sem_undo_list *ulp_unhash(struct ipcns_sem_state *st, pid_t tgid)
{
	if (!st->ulp_hash_size)
		return NULL;
	for (struct sem_undo_list **pp = &st->ulp_hash[ulp_bucket(tgid, st->ulp_hash_size)]; *pp;
	     pp = &(*pp)->hnext) {
		struct sem_undo_list *u = *pp;
		if (u->host_tgid == tgid) {
			*pp = u->hnext;
			st->ulp_count--;
			return u;
		}
	}
	return NULL;
}

static void undo_free(struct sem_undo *un)
{
	ipcns_list_del(&un->set_link);
	ipcns_list_del(&un->proc_link);
	ipcns_mem_free(un);
}

/* find_alloc_undo: the caller's adjustments for `sma', created (zeroed)
 * on first use.  Linux creates it before the sem_num and permission checks
 * of the semop, and its mere existence makes the process's exit set
 * sem_otime (exit_sem): so do we.  */
static int find_alloc_undo(struct ipcns_ns *ns, struct ipcns_caller *c, struct sem_array *sma,
			   struct sem_undo **out)
{
	struct ipcns_sem_state *st = ns->sem;
	struct ipcns_list *pos;
	pid_t host_tgid;
	int ret;

	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return ret;
	struct sem_undo_list *ulp = ulp_find(st, host_tgid);
	if (ulp) {
		ipcns_list_for_each (pos, &ulp->undos) {
			struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, proc_link);
			if (un->sma == sma) {
				/* Most recently used first, as lookup_undo().  */
				ipcns_list_del(&un->proc_link);
				ipcns_list_add(&ulp->undos, &un->proc_link);
				*out = un;
				return 0;
			}
		}
	}

	cleanup_mem struct sem_undo *un = ipcns_mem_zalloc(&ns->budget, sizeof(*un) + (size_t)sma->nsems * sizeof(short));
	if (!un)
		return -ENOMEM;
	if (!ulp) {
		cleanup_mem struct sem_undo_list *nulp = ipcns_mem_zalloc(&ns->budget, sizeof(*nulp));
		if (!nulp)
			return -ENOMEM;
		nulp->host_tgid = host_tgid;
		ret = ipcns_actor_of_caller(ns, c, false, false, &nulp->ns);
		if (ret < 0)
			return ret;
		ipcns_list_init(&nulp->undos);
		/* The adjustments must be applied when the process exits.  A
		 * watch the host cannot set up (ipcnsd out of fds for a pidfd)
		 * is a resource failure: ENOMEM, as semop has no EMFILE; a
		 * caller that went away keeps its -ENOENT.  */
		if (c->ops->watch_exit) {
			ret = c->ops->watch_exit(c);
			if (ret < 0)
				return ret == -ENOENT ? ret : -ENOMEM;
		}
		ret = ulp_insert(ns, st, nulp);
		if (ret < 0)
			return ret;
		ulp = steal_pointer(&nulp);
	}
	un->ulp = ulp;
	un->sma = sma;
	ipcns_list_add(&ulp->undos, &un->proc_link);
	ipcns_list_add(&sma->undos, &un->set_link);
	*out = steal_pointer(&un);
	return 0;
}

/* ---- Sets.  */

static void answer_list(struct ipcns_ns *ns, struct sem_array *sma, struct ipcns_list *head, bool answer)
{
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe (pos, tmp, head) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		unlink_queue(sma, q);
		if (answer)
			q->w->ops->deliver(q->w, -EIDRM);
		queue_free(ns, q);
	}
}

/* freeary: undo structures dropped, every sleeper answered -EIDRM (or just
 * released when the namespace goes away), the id removed.  */
static void freeary(struct ipcns_ns *ns, struct sem_array *sma, bool answer)
{
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe (pos, tmp, &sma->undos)
		undo_free(ipcns_list_entry(pos, struct sem_undo, set_link));

	/* Linux's order: complex const, complex alter, then per semaphore
	 * const and alter.  */
	answer_list(ns, sma, &sma->pending_const, answer);
	answer_list(ns, sma, &sma->pending_alter, answer);
	for (int i = 0; i < sma->nsems; i++) {
		answer_list(ns, sma, &sma->sems[i].pending_const, answer);
		answer_list(ns, sma, &sma->sems[i].pending_alter, answer);
	}

	ipcns_ids_remove(&ns->ids[IPCNS_SEM], &sma->perm);
	ipcns_uid_quota_put(ns, sma->perm.cuid);
	ns->used_sems -= sma->nsems;
	ipcns_jdel(ns, IPCNS_SEM, &sma->perm);
	ipcns_mem_free(sma);
}

static long sem_newary(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int flg, void *arg)
{
	int nsems = *(const int *)arg;
	const struct ipcns_cred *cred;
	int ret;

	if (!nsems)
		return -EINVAL;
	if ((int64_t)ns->used_sems + nsems > ns->limits.semmns) {
		ipcns_limit_hit(ns, "semmns (%d) reached", ns->limits.semmns);
		return -ENOSPC;
	}
	ret = ipcns_caller_cred(c, &cred);
	if (ret < 0)
		return ret;
	if ((size_t)nsems > (INT_MAX - sizeof(struct sem_array)) / sizeof(struct sem))
		return -ENOMEM;

	/* newary()'s kvzalloc: over the namespace's memory budget, ENOMEM.  */
	cleanup_mem struct sem_array *sma =
		ipcns_mem_zalloc(&ns->budget, sizeof(*sma) + (size_t)nsems * sizeof(struct sem));
	if (!sma)
		return -ENOMEM;
	sma->perm.key = key;
	sma->perm.mode = (unsigned int)flg & IPCNS_S_IRWXUGO;
	sma->nsems = nsems;
	sma->ctime = ipcns_now(ns);
	ipcns_list_init(&sma->pending_alter);
	ipcns_list_init(&sma->pending_const);
	ipcns_list_init(&sma->undos);
	ipcns_list_init(&sma->waiters);
	for (int i = 0; i < nsems; i++) {
		ipcns_list_init(&sma->sems[i].pending_alter);
		ipcns_list_init(&sma->sems[i].pending_const);
	}

	ret = ipcns_uid_quota_take(ns, cred->euid);
	if (ret < 0)
		return ret;
	ret = ipcns_ids_add(&ns->ids[IPCNS_SEM], &sma->perm, ns->limits.semmni, cred);
	if (ret < 0) {
		if (ret == -ENOSPC)
			ipcns_limit_hit(ns, "semmni (%d) reached", ns->limits.semmni);
		ipcns_uid_quota_put(ns, cred->euid);
		return ret;
	}
	ns->used_sems += nsems;
	ipcns_jnew(ns, IPCNS_SEM, &sma->perm);
	struct sem_array *made = steal_pointer(&sma);
	/* The set stands only if the caller gets its id: one interrupted
	 * meanwhile restarts the call (SA_RESTART), which must not find the
	 * set (EEXIST with IPC_EXCL), or sees EINTR, as if it never ran.  */
	int ar = ipcns_caller_answer(c, ret);
	if (ar < 0) {
		freeary(ns, made, false);
		return IPCNS_ANSWERED;
	}
	return ar == 0 ? IPCNS_ANSWERED : ret;
}

static int sem_more_checks(struct ipcns_perm *p, int flg, void *arg)
{
	if (*(const int *)arg > sem_from_perm(p)->nsems)
		return -EINVAL;
	return 0;
}

long ipcns_semget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int nsems, int semflg)
{
	static const struct ipcns_get_ops ops = {
		.getnew = sem_newary,
		.more = sem_more_checks,
	};

	if (nsems < 0 || nsems > ns->limits.semmsl)
		return -EINVAL;
	return ipcns_ipcget(ns, IPCNS_SEM, c, key, semflg, &ops, &nsems);
}

/* ---- semop.  */

long ipcns_semtimedop(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, uint64_t usops, uint64_t unsops,
		      uint64_t utimeout)
{
	/* The syscall takes nsops as unsigned int.  */
	unsigned int nsops = (unsigned int)unsops;
	struct {
		int64_t tv_sec, tv_nsec;
	} ts = { 0, 0 };
	int64_t deadline = -1;
	struct sem_array *sma;
	struct sem_undo *un = NULL;
	int ret;

	/* ksys_semtimedop reads the timeout before anything else; then
	 * do_semtimedop checks nsops and copies the sops.  */
	if (utimeout) {
		ret = c->ops->read(c, utimeout, &ts, sizeof(ts));
		if (ret < 0)
			return ret;
	}
	if (nsops > (unsigned int)ns->limits.semopm)
		return -E2BIG;
	if (nsops < 1)
		return -EINVAL;
	cleanup_free struct sembuf *sops = malloc(nsops * sizeof(*sops));
	if (!sops)
		return -ENOMEM;
	ret = c->ops->read(c, usops, sops, nsops * sizeof(*sops));
	if (ret < 0)
		return ret;
	if (semid < 0)
		return -EINVAL;
	if (utimeout) {
		if (ts.tv_sec < 0 || (uint64_t)ts.tv_nsec >= (uint64_t)NSEC_PER_SEC)
			return -EINVAL;
		/* ktime_add_safe(ktime_get(), timespec64_to_ktime()) saturates.  */
		int64_t now = ipcns_mono(ns);
		if (ts.tv_sec >= INT64_MAX / NSEC_PER_SEC ||
		    ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec > INT64_MAX - now)
			deadline = INT64_MAX;
		else
			deadline = now + ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	}

	int max = 0;
	bool undos = false, alter = false;
	for (unsigned int i = 0; i < nsops; i++) {
		if (sops[i].sem_num >= max)
			max = sops[i].sem_num;
		if (sops[i].sem_flg & SEM_UNDO)
			undos = true;
		if (sops[i].sem_op != 0)
			alter = true;
	}

	ret = sem_obtain_check(ns, semid, &sma);
	if (ret < 0)
		return ret;
	if (undos) {
		ret = find_alloc_undo(ns, c, sma, &un);
		if (ret < 0)
			return ret;
	}
	if (max >= sma->nsems)
		return -EFBIG;
	ret = ipcns_ipcperms(c, &sma->perm, alter ? IPCNS_S_IWUGO : IPCNS_S_IRUGO);
	if (ret < 0)
		return ret;
	pid_t host_tgid;
	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return ret;
	struct ipcns_pidref me;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return ret;

	int blocking = 0;
	ret = sem_try(sma, sops, (int)nsops, un, true, &blocking);
	if (ret == 0) {
		/* Applied; it stands only if the caller gets its 0.  A caller
		 * interrupted meanwhile sees EINTR (or restarts the call): as
		 * if it had never run.  The journal has the whole of it (the
		 * values, sempids, sem_otime) before the answer leaves.  */
		int64_t otime = ipcns_now(ns);
		struct sem_ahead ahead = { .semnum = -2, .sops = sops, .nsops = (int)nsops, .pid = me,
					   .ctime = sma->ctime, .otime = otime };
		ipcns_jahead_sem(ns, sma, &ahead);
		int ar = ipcns_caller_answer(c, 0);
		ipcns_jsettle(ns, IPCNS_SEM, &sma->perm, ar < 0);
		if (ar < 0) {
			sem_revert(sma, sops, (int)nsops, un);
			return IPCNS_ANSWERED;
		}
		sem_set_pids(sma, sops, (int)nsops, me);
		sma->sems[sops[0].sem_num].otime = otime;
		if (alter)
			do_smart_update(ns, sma, sops, (int)nsops, 0);
		unmerge_queues(sma);
		return ar == 0 ? IPCNS_ANSWERED : 0;
	}
	if (ret < 0)
		return ret;

	/* Must sleep.  A timeout already over ends the sleep at once with
	 * EAGAIN, as schedule_hrtimeout() on a past expiry does.  */
	if (deadline >= 0 && deadline <= ipcns_mono(ns))
		return -EAGAIN;
	cleanup_mem struct sem_queue *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q) + nsops * sizeof(*sops));
	if (!q)
		return -ENOMEM;
	struct ipcns_waiter *w = c->ops->park(c);
	if (!w)
		return -ENOMEM;
	memcpy(q->sops, sops, nsops * sizeof(*sops));
	q->nsops = (int)nsops;
	q->w = w;
	q->sma = sma;
	q->undo = un;
	q->host_tgid = host_tgid;
	q->ns = me;
	q->blocking = blocking;
	q->alter = alter;

	if (nsops == 1) {
		struct sem *curr = &sma->sems[sops[0].sem_num];
		if (!alter)
			ipcns_list_add_tail(&curr->pending_const, &q->list);
		else if (sma->complex_count)
			ipcns_list_add_tail(&sma->pending_alter, &q->list);
		else
			ipcns_list_add_tail(&curr->pending_alter, &q->list);
	} else {
		if (!sma->complex_count)
			merge_queues(sma);
		ipcns_list_add_tail(alter ? &sma->pending_alter : &sma->pending_const, &q->list);
		sma->complex_count++;
	}
	ipcns_list_add_tail(&sma->waiters, &q->set_link);
	ipcns_list_add_tail(&ns->sem->waiters, &q->ns_link);
	w->deadline = deadline;
	w->core = steal_pointer(&q);
	ns->parked++;
	return IPCNS_PARKED;
}

/* ---- semctl.  */

static int semctl_info(struct ipcns_ns *ns, struct ipcns_caller *c, int cmd, uint64_t arg)
{
	struct sem_seminfo si;
	const struct ipcns_ids *ids = &ns->ids[IPCNS_SEM];

	memset(&si, 0, sizeof(si));
	si.semmni = ns->limits.semmni;
	si.semmns = ns->limits.semmns;
	si.semmsl = ns->limits.semmsl;
	si.semopm = ns->limits.semopm;
	si.semvmx = IPCNS_SEMVMX;
	si.semmnu = IPCNS_SEMMNU;
	si.semmap = IPCNS_SEMMAP;
	si.semume = IPCNS_SEMUME;
	if (cmd == SEM_INFO) {
		si.semusz = ids->in_use;
		si.semaem = ns->used_sems;
	} else {
		si.semusz = SEM_SEMUSZ;
		si.semaem = IPCNS_SEMAEM;
	}
	int max_idx = ipcns_ids_maxidx(ids);
	int ret = c->ops->write(c, arg, &si, sizeof(si));
	if (ret < 0)
		return ret;
	return max_idx < 0 ? 0 : max_idx;
}

static int semctl_stat(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int cmd, uint64_t arg)
{
	struct sem_semid64_ds ds;
	struct sem_array *sma;
	int ret;

	if (cmd == IPC_STAT) {
		ret = sem_obtain_check(ns, semid, &sma);
		if (ret < 0)
			return ret;
	} else {
		/* SEM_STAT(_ANY): semid is an index.  */
		struct ipcns_perm *p = ipcns_ids_obtain_idx(&ns->ids[IPCNS_SEM], semid);
		if (!p)
			return -EINVAL;
		sma = sem_from_perm(p);
	}
	if (cmd != SEM_STAT_ANY) {
		ret = ipcns_ipcperms(c, &sma->perm, IPCNS_S_IRUGO);
		if (ret < 0)
			return ret;
	}
	memset(&ds, 0, sizeof(ds));
	ret = ipcns_perm_to_user(ns, c, &sma->perm, &ds.sem_perm);
	if (ret < 0)
		return ret;
	ds.sem_otime = get_semotime(sma);
	ds.sem_ctime = sma->ctime;
	ds.sem_nsems = (uint64_t)sma->nsems;
	ret = c->ops->write(c, arg, &ds, sizeof(ds));
	if (ret < 0)
		return ret;
	return cmd == IPC_STAT ? 0 : sma->perm.id;
}

static int semctl_setval(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int semnum, int val)
{
	struct sem_array *sma;
	struct ipcns_list *pos;
	struct ipcns_pidref me;
	int ret;

	if (val > IPCNS_SEMVMX || val < 0)
		return -ERANGE;
	ret = sem_obtain_check(ns, semid, &sma);
	if (ret < 0)
		return ret;
	if (semnum < 0 || semnum >= sma->nsems)
		return -EINVAL;
	ret = ipcns_ipcperms(c, &sma->perm, IPCNS_S_IWUGO);
	if (ret < 0)
		return ret;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return ret;
	/* Applied only once the caller has its 0: a restarted SETVAL must not
	 * set the value again after a sleeper it woke took from it.  The
	 * journal records it done before the answer leaves.  */
	struct sem_ahead ahead = { .semnum = semnum, .val = val, .pid = me, .ctime = ipcns_now(ns) };
	ipcns_jahead_sem(ns, sma, &ahead);
	int ar = ipcns_caller_answer(c, 0);
	ipcns_jsettle(ns, IPCNS_SEM, &sma->perm, ar < 0);
	if (ar < 0)
		return IPCNS_ANSWERED;

	/* A value set by hand voids every process's adjustment of it.  */
	ipcns_list_for_each (pos, &sma->undos)
		ipcns_list_entry(pos, struct sem_undo, set_link)->semadj[semnum] = 0;
	sma->sems[semnum].semval = val;
	sma->sems[semnum].sempid = me;
	sma->ctime = ahead.ctime;
	do_smart_update(ns, sma, NULL, 0, 0);
	unmerge_queues(sma);
	return ar == 0 ? IPCNS_ANSWERED : 0;
}

static int semctl_main(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int semnum, int cmd,
		       uint64_t arg)
{
	struct sem_array *sma;
	int ret;

	ret = sem_obtain_check(ns, semid, &sma);
	if (ret < 0)
		return ret;
	int nsems = sma->nsems;
	ret = ipcns_ipcperms(c, &sma->perm, cmd == SETALL ? IPCNS_S_IWUGO : IPCNS_S_IRUGO);
	if (ret < 0)
		return ret;

	if (cmd == GETALL || cmd == SETALL) {
		cleanup_free uint16_t *io = calloc((size_t)nsems, sizeof(uint16_t));
		if (!io)
			return -ENOMEM;
		if (cmd == GETALL) {
			for (int i = 0; i < nsems; i++)
				io[i] = (uint16_t)sma->sems[i].semval;
			return c->ops->write(c, arg, io, (size_t)nsems * sizeof(uint16_t));
		}
		ret = c->ops->read(c, arg, io, (size_t)nsems * sizeof(uint16_t));
		if (ret < 0)
			return ret;
		for (int i = 0; i < nsems; i++)
			if (io[i] > IPCNS_SEMVMX)
				return -ERANGE;
		struct ipcns_pidref me;
		ret = ipcns_actor_of_caller(ns, c, false, false, &me);
		if (ret < 0)
			return ret;
		/* As for SETVAL: applied once the caller has its 0.  */
		struct sem_ahead ahead = { .semnum = -1, .vals = io, .pid = me, .ctime = ipcns_now(ns) };
		ipcns_jahead_sem(ns, sma, &ahead);
		int ar = ipcns_caller_answer(c, 0);
		ipcns_jsettle(ns, IPCNS_SEM, &sma->perm, ar < 0);
		if (ar < 0)
			return IPCNS_ANSWERED;
		for (int i = 0; i < nsems; i++) {
			sma->sems[i].semval = io[i];
			sma->sems[i].sempid = me;
		}
		struct ipcns_list *pos;
		ipcns_list_for_each (pos, &sma->undos) {
			struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, set_link);
			memset(un->semadj, 0, (size_t)nsems * sizeof(short));
		}
		sma->ctime = ahead.ctime;
		do_smart_update(ns, sma, NULL, 0, 0);
		unmerge_queues(sma);
		return ar == 0 ? IPCNS_ANSWERED : 0;
	}

	if (semnum < 0 || semnum >= nsems)
		return -EINVAL;
	struct sem *curr = &sma->sems[semnum];
	switch (cmd) {
	case GETVAL:
		return curr->semval;
	case GETPID: {
		const struct ipcns_pidns *reader;
		ret = ipcns_caller_pidns(c, &reader);
		return ret < 0 ? ret : ipcns_actor_nr(ns, curr->sempid, reader);
	}
	case GETNCNT:
	case GETZCNT:
		/* Callers that went away are still queued until swept;
		 * Linux's queue holds only callers that still sleep.  */
		sweep_set(ns, sma);
		return count_semcnt(sma, semnum, cmd == GETZCNT);
	}
	return -EINVAL;
}

static int semctl_down(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int cmd,
		       const struct sem_semid64_ds *ds)
{
	struct ipcns_perm *p;
	int ret;

	ret = ipcns_ctl_obtain_check(&ns->ids[IPCNS_SEM], c, semid, &p);
	if (ret < 0)
		return ret;
	ipcns_jdirty(ns, IPCNS_SEM, p);
	struct sem_array *sma = sem_from_perm(p);
	if (cmd == IPC_RMID) {
		/* Removed once the caller has its 0: a restarted IPC_RMID
		 * would find no set (EINVAL).  Journaled as removed before
		 * the answer leaves.  */
		ipcns_jahead_del(ns, IPCNS_SEM, p);
		int ar = ipcns_caller_answer(c, 0);
		if (ar < 0) {
			ipcns_jsettle(ns, IPCNS_SEM, p, true);
			return IPCNS_ANSWERED;
		}
		freeary(ns, sma, true);
		return ar == 0 ? IPCNS_ANSWERED : 0;
	}
	uid_t uid;
	gid_t gid;
	unsigned int mode;
	ipcns_perm_from_user(&ds->sem_perm, &uid, &gid, &mode);
	ret = ipcns_update_perm(c, p, uid, gid, mode);
	if (ret < 0)
		return ret;
	sma->ctime = ipcns_now(ns);
	return 0;
}

long ipcns_semctl(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int semnum, int cmd, uint64_t arg)
{
	struct sem_semid64_ds ds;
	int ret;

	if (semid < 0)
		return -EINVAL;
	switch (cmd) {
	case IPC_INFO:
	case SEM_INFO:
		return semctl_info(ns, c, cmd, arg);
	case IPC_STAT:
	case SEM_STAT:
	case SEM_STAT_ANY:
		return semctl_stat(ns, c, semid, cmd, arg);
	case GETALL:
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT:
	case SETALL:
		return semctl_main(ns, c, semid, semnum, cmd, arg);
	case SETVAL:
		/* The int in the low half of the register (little-endian
		 * 64-bit; Linux takes the high half on big-endian).  */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		return semctl_setval(ns, c, semid, semnum, (int)(arg >> 32));
#else
		return semctl_setval(ns, c, semid, semnum, (int)(uint32_t)arg);
#endif
	case IPC_SET:
		ret = c->ops->read(c, arg, &ds, sizeof(ds));
		if (ret < 0)
			return ret;
		return semctl_down(ns, c, semid, cmd, &ds);
	case IPC_RMID:
		return semctl_down(ns, c, semid, cmd, NULL);
	}
	return -EINVAL;
}

/* ---- Namespace hooks.  */

static int sem_kind_init(struct ipcns_ns *ns)
{
	struct ipcns_sem_state *st = ipcns_mem_zalloc(&ns->budget, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ipcns_list_init(&st->waiters);
	ns->sem = st;
	return 0;
}

static void sem_kind_destroy(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	freeary(ns, sem_from_perm(p), false);
}

static void sem_kind_fini(struct ipcns_ns *ns)
{
	struct ipcns_sem_state *st = ns->sem;

	if (!st)
		return;
	for (unsigned int i = 0; i < st->ulp_hash_size; i++) {
		struct sem_undo_list *u = st->ulp_hash[i], *next;
		for (; u; u = next) {
			next = u->hnext;
			ipcns_mem_free(u);
		}
	}
	ipcns_mem_free(st->ulp_hash);
	ipcns_mem_free(st);
	ns->sem = NULL;
}

/* After a restore: the values of a state can let parked operations
 * proceed when the daemon died between changing them and waking the
 * sleepers (an exit's undo, a semop, a SETVAL: each commits at its
 * answer).  Linux would have woken them: every set's queue is run as
 * after a change of unknown semaphores.  */
void ipcns_sem_settle(struct ipcns_ns *ns)
{
	struct ipcns_idr *idr = &ns->ids[IPCNS_SEM].idr;

	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1))
		do_smart_update(ns, sem_from_perm(ipcns_idr_find(idr, idx)), NULL, 0, 0);
}

int ipcns_sem_sweep(struct ipcns_ns *ns)
{
	struct ipcns_list *pos, *tmp;
	int n = 0;

	ipcns_list_for_each_safe (pos, tmp, &ns->sem->waiters) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, ns_link);
		struct sem_array *sma = q->sma;
		if (q->w->ops->alive(q->w))
			continue;
		unlink_queue(sma, q);
		queue_free(ns, q);
		unmerge_queues(sma);
		n++;
	}
	return n;
}

/* exit_sem: apply the process's adjustments, set by set (most recently
 * used first), clamped to [0, SEMVMX]; the exiting process becomes sempid
 * of what it changed, and sem_otime is set even when nothing changed.  */
void ipcns_sem_process_exit(struct ipcns_ns *ns, pid_t tgid)
{
	struct ipcns_sem_state *st = ns->sem;
	struct ipcns_list *pos, *tmp;

	/* Calls of a process that is gone are dead; they hold pointers to
	 * the undo structures freed below.  */
	ipcns_list_for_each_safe (pos, tmp, &st->waiters) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, ns_link);
		struct sem_array *sma = q->sma;
		if (q->host_tgid != tgid)
			continue;
		unlink_queue(sma, q);
		queue_free(ns, q);
		unmerge_queues(sma);
	}

	struct sem_undo_list *ulp = ulp_unhash(st, tgid);
	if (!ulp)
		return;
	while (!ipcns_list_empty(&ulp->undos)) {
		struct sem_undo *un = ipcns_list_entry(ulp->undos.next, struct sem_undo, proc_link);
		struct sem_array *sma = un->sma;
		for (int i = 0; i < sma->nsems; i++) {
			struct sem *s = &sma->sems[i];
			if (!un->semadj[i])
				continue;
			s->semval += un->semadj[i];
			if (s->semval < 0)
				s->semval = 0;
			if (s->semval > IPCNS_SEMVMX)
				s->semval = IPCNS_SEMVMX;
			s->sempid = ulp->ns;
		}
		undo_free(un);
		do_smart_update(ns, sma, NULL, 0, 1);
		unmerge_queues(sma);
	}
	ipcns_mem_free(ulp);
}

bool ipcns_sem_expire(struct ipcns_ns *ns, struct ipcns_waiter *w)
{
	struct ipcns_list *pos;

	ipcns_list_for_each (pos, &ns->sem->waiters) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, ns_link);
		if (q->w != w)
			continue;
		struct sem_array *sma = q->sma;
		unlink_queue(sma, q);
		if (w->ops->alive(w))
			w->ops->deliver(w, -EAGAIN);
		queue_free(ns, q);
		unmerge_queues(sma);
		return true;
	}
	return false;
}

static void sem_kind_info(struct ipcns_ns *ns, struct ipcns_perm *p, const struct ipcns_pidns *reader,
			  struct ipcns_obj_info *oi)
{
	struct sem_array *sma = sem_from_perm(p);
	oi->bytes = 0;
	oi->count = (uint64_t)sma->nsems;
	oi->ctime = sma->ctime;
	oi->atime = get_semotime(sma);
}

static int sem_kind_rmid(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	freeary(ns, sem_from_perm(p), true);
	return 0;
}

const struct ipcns_kind_ops ipcns_sem_kind = {
	.init = sem_kind_init,
	.destroy = sem_kind_destroy,
	.fini = sem_kind_fini,
	.info = sem_kind_info,
	.rmid = sem_kind_rmid,
};

void ipcns_sem_mark_pids(struct ipcns_ns *ns)
{
	struct ipcns_sem_state *st = ns->sem;
	struct ipcns_ids *ids = &ns->ids[IPCNS_SEM];
	struct ipcns_list *pos;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct sem_array *sma = sem_from_perm(ipcns_idr_find(&ids->idr, idx));
		for (int i = 0; i < sma->nsems; i++)
			ipcns_actor_mark(ns, sma->sems[i].sempid);
	}
	if (!st)
		return;
	ipcns_list_for_each (pos, &st->waiters)
		ipcns_actor_mark(ns, ipcns_list_entry(pos, struct sem_queue, ns_link)->ns);
	for (unsigned int b = 0; b < st->ulp_hash_size; b++)
		for (struct sem_undo_list *u = st->ulp_hash[b]; u; u = u->hnext)
			ipcns_actor_mark(ns, u->ns);
}
