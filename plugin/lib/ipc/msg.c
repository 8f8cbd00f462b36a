/* SPDX-License-Identifier: MIT */
/* System V message queues, as Linux's ipc/msg.c and ipc/msgutil.c.
 *
 * The daemon holds the messages.  What Linux does by sleeping in the
 * kernel is done here with parked calls: a sender that finds its queue
 * full and a receiver that finds no message are linked into the queue's
 * sender or receiver list and answered later, in the order Linux wakes
 * them.  Two rules keep a message from being lost or duplicated when a
 * parked caller was interrupted or died (its waiter is no longer alive or
 * deliver() fails):
 *   - a receiver is handed a message only after the answer reached it;
 *     until then the message stays in the queue (or with its sender);
 *   - a parked sender's message becomes visible only after the sender was
 *     told it succeeded.  The core runs one namespace on one thread, so
 *     nobody can see the queue between the two steps.
 *
 * Memory.  Every message the daemon holds is charged to the namespace's
 * quota_msg_bytes (0 = unlimited): the bytes glibc's malloc takes for it,
 * that is mtext plus the header below plus malloc's chunk header, rounded
 * to malloc's 16-byte granule (msg_cost).  Charged are the messages in
 * the queues and the copies parked senders hold.  Linux has no such
 * limit; running into it looks like a full queue: IPC_NOWAIT gives
 * EAGAIN, otherwise the sender waits.  A sender waiting while the quota
 * cannot hold its copy does not keep one: it keeps the address of its
 * message and reads it again from its own memory when it can proceed
 * (it is blocked in the system call meanwhile).  Parked-call records are
 * not charged to this quota (there is one per blocked thread of the
 * container); they, the messages and everything else count against the
 * namespace's memory budget (budget.c), where msgsnd gets ENOMEM as when
 * Linux's load_msg() cannot allocate.  */
#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "msg.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

/* include/uapi/linux/msg.h: MSGSEG is capped to an unsigned short.  */
#define MSG_SEG_RAW ((uint64_t)IPCNS_MSGPOOL * 1024 / IPCNS_MSGSSZ)
#define MSG_SEG (MSG_SEG_RAW <= 0xffff ? (unsigned short)MSG_SEG_RAW : (unsigned short)0xffff)

/* The kernel's struct msqid64_ds for 64-bit architectures, which is
 * glibc's struct msqid_ds there.  */
struct msgq_ds64 {
	struct ipcns_ipc64_perm msg_perm;
	int64_t msg_stime, msg_rtime, msg_ctime;
	uint64_t msg_cbytes, msg_qnum, msg_qbytes;
	int32_t msg_lspid, msg_lrpid;
	uint64_t unused4, unused5;
};

/* include/uapi/linux/msg.h struct msginfo.  */
struct msgq_info {
	int32_t msgpool, msgmap, msgmax, msgmnb, msgmni, msgssz, msgtql;
	uint16_t msgseg;
};

#if __SIZEOF_LONG__ == 8
static_assert(sizeof(struct ipcns_ipc64_perm) == sizeof(struct ipc_perm), "ipc64_perm");
static_assert(sizeof(struct msgq_ds64) == sizeof(struct msqid_ds), "msqid64_ds size");
static_assert(offsetof(struct msgq_ds64, msg_stime) == offsetof(struct msqid_ds, msg_stime), "stime");
static_assert(offsetof(struct msgq_ds64, msg_ctime) == offsetof(struct msqid_ds, msg_ctime), "ctime");
static_assert(offsetof(struct msgq_ds64, msg_cbytes) == offsetof(struct msqid_ds, __msg_cbytes), "cbytes");
static_assert(offsetof(struct msgq_ds64, msg_qnum) == offsetof(struct msqid_ds, msg_qnum), "qnum");
static_assert(offsetof(struct msgq_ds64, msg_qbytes) == offsetof(struct msqid_ds, msg_qbytes), "qbytes");
static_assert(offsetof(struct msgq_ds64, msg_lspid) == offsetof(struct msqid_ds, msg_lspid), "lspid");
static_assert(offsetof(struct msgq_ds64, msg_lrpid) == offsetof(struct msqid_ds, msg_lrpid), "lrpid");
#endif
static_assert(sizeof(struct msgq_info) == sizeof(struct msginfo), "msginfo size");
static_assert(offsetof(struct msgq_info, msgtql) == offsetof(struct msginfo, msgtql), "msgtql");
static_assert(offsetof(struct msgq_info, msgseg) == offsetof(struct msginfo, msgseg), "msgseg");


static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool quota_charge(struct ipcns_ns *ns, uint64_t cost)
{
	struct ipcns_msg_state *st = ns->msg;
	uint64_t quota = ns->limits.quota_msg_bytes;

	/* The quota may have been lowered below what is held.  */
	if (quota != 0 && (st->held > quota || cost > quota - st->held))
		return false;
	st->held += cost;
	return true;
}

static void quota_uncharge(struct ipcns_ns *ns, uint64_t cost)
{
	ns->msg->held -= cost;
	ns->msg->freed = true;
}

static void quota_hit(struct ipcns_ns *ns)
{
	ipcns_limit_hit(ns, "message quota quota_msg_bytes (%llu bytes) reached",
			(unsigned long long)ns->limits.quota_msg_bytes);
}

/* Linux's load_msg: the message is copied in before anything else is
 * looked at.  */
static int msg_load(struct ipcns_ns *ns, struct ipcns_caller *c, uint64_t addr, uint64_t size, int64_t mtype,
		    struct msgq_msg **out)
{
	/* alloc_msg(): over the namespace's memory budget, ENOMEM.  */
	cleanup_mem struct msgq_msg *m = ipcns_mem_alloc(&ns->budget, sizeof(*m) + size);
	if (!m)
		return -ENOMEM;
	if (size > 0) {
		int ret = c->ops->read(c, addr, m->mtext, size);
		if (ret < 0)
			return ret;
	}
	ipcns_list_init(&m->link);
	m->size = size;
	m->mtype = mtype;
	*out = steal_pointer(&m);
	return 0;
}

static inline bool msg_fits_inqueue(const struct msgq *q, uint64_t msgsz)
{
	/* As Linux: the message count is bounded by msg_qbytes too.  */
	return msgsz + q->cbytes <= q->qbytes && 1 + q->qnum <= q->qbytes;
}

static void enqueue(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m)
{
	ipcns_list_add_tail(&q->messages, &m->link);
	ipcns_jmsg(ns, q, m, 1);
	q->cbytes += m->size;
	q->qnum++;
	ns->msg_bytes += m->size;
	ns->msg_hdrs++;
}

/* Out of the queue, still held (and charged).  */
static void unqueue(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m)
{
	ipcns_jmsg(ns, q, m, 2);
	ipcns_list_del(&m->link);
	q->cbytes -= m->size;
	q->qnum--;
	ns->msg_bytes -= m->size;
	ns->msg_hdrs--;
}

/* Back in the queue after `prev', where unqueue took it from.  */
static void requeue(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m, struct ipcns_list *prev)
{
	ipcns_list_add(prev, &m->link);
	q->cbytes += m->size;
	q->qnum++;
	ns->msg_bytes += m->size;
	ns->msg_hdrs++;
	ipcns_jfull(ns, IPCNS_MSG, &q->perm);
}

static void dequeue_free(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m)
{
	unqueue(ns, q, m);
	quota_uncharge(ns, msg_cost(m->size));
	ipcns_mem_free(m);
}

/* ---- Parked calls.  */

/* The core is done with a parked call: unlink it, give back a sender's
 * copy, release the waiter.  */
static void waiter_finish(struct ipcns_ns *ns, struct msgq_waiter *mw)
{
	ipcns_jdirty(ns, IPCNS_MSG, &mw->q->perm);
	ipcns_list_del(&mw->qlink);
	ipcns_list_del(&mw->nslink);
	ipcns_list_del(&mw->starvelink);
	if (mw->msg) {
		quota_uncharge(ns, msg_cost(mw->msg->size));
		ipcns_mem_free(mw->msg);
	}
	mw->w->core = NULL;
	mw->w->ops->release(mw->w);
	ns->parked--;
	ipcns_mem_free(mw);
}

/* Answer a parked call and finish it.  The result of deliver(): < 0 when
 * the answer did not reach the caller.  */
static int waiter_answer(struct ipcns_ns *ns, struct msgq_waiter *mw, long ret)
{
	int r = mw->w->ops->deliver(mw->w, ret);
	waiter_finish(ns, mw);
	return r;
}

static long waiter_park(struct ipcns_ns *ns, struct ipcns_caller *c, struct msgq_waiter *mw, struct ipcns_list *list)
{
	struct ipcns_waiter *w = c->ops->park(c);
	if (!w)
		return -ENOMEM;
	mw->w = w;
	w->core = mw;
	w->deadline = -1;
	ipcns_list_add_tail(list, &mw->qlink);
	ipcns_list_add_tail(&ns->msg->waiters, &mw->nslink);
	ns->parked++;
	return IPCNS_PARKED;
}

static struct msgq_waiter *waiter_new(struct ipcns_ns *ns, struct msgq *q, struct ipcns_pidref pid)
{
	struct msgq_waiter *mw = ipcns_mem_zalloc(&ns->budget, sizeof(*mw));
	if (!mw)
		return NULL;
	ipcns_list_init(&mw->qlink);
	ipcns_list_init(&mw->nslink);
	ipcns_list_init(&mw->starvelink);
	mw->q = q;
	mw->pid = pid;
	return mw;
}

/* ---- Finding messages.  */

static bool testmsg(const struct msgq_msg *m, int64_t type, int mode)
{
	switch (mode) {
	case SEARCH_ANY:
	case SEARCH_NUMBER:
		return true;
	case SEARCH_LESSEQUAL:
		return m->mtype <= type;
	case SEARCH_EQUAL:
		return m->mtype == type;
	case SEARCH_NOTEQUAL:
		return m->mtype != type;
	}
	return false;
}

static int convert_mode(int64_t *msgtyp, int msgflg)
{
	if (msgflg & MSG_COPY)
		return SEARCH_NUMBER;
	if (*msgtyp == 0)
		return SEARCH_ANY;
	if (*msgtyp < 0) {
		/* Linux: -LONG_MIN is undefined, LONG_MAX is used.  */
		*msgtyp = *msgtyp == INT64_MIN ? INT64_MAX : -*msgtyp;
		return SEARCH_LESSEQUAL;
	}
	if (msgflg & MSG_EXCEPT)
		return SEARCH_NOTEQUAL;
	return SEARCH_EQUAL;
}

/* Linux's find_msg: for SEARCH_LESSEQUAL the first message of the lowest
 * type, for SEARCH_NUMBER the one at position msgtyp.  */
static struct msgq_msg *find_msg(struct msgq *q, int64_t msgtyp, int mode)
{
	struct msgq_msg *found = NULL;
	struct ipcns_list *pos;
	int64_t count = 0;

	ipcns_list_for_each(pos, &q->messages) {
		struct msgq_msg *m = ipcns_list_entry(pos, struct msgq_msg, link);
		if (!testmsg(m, msgtyp, mode))
			continue;
		if (mode == SEARCH_LESSEQUAL && m->mtype != 1) {
			msgtyp = m->mtype - 1;
			found = m;
		} else if (mode == SEARCH_NUMBER) {
			if (msgtyp == count)
				return m;
		} else {
			return m;
		}
		count++;
	}
	return found;
}

/* Linux's pipelined_send: hand `m' to the first parked receiver that
 * wants it.  A receiver whose buffer is too small (and has no
 * MSG_NOERROR) is answered E2BIG and the search goes on, as in Linux.
 * True when a receiver took the message; the caller still owns `m'.
 *
 * A receiver takes the message only once its answer reached it.  When
 * writing to its buffer fails it is answered that error (-EFAULT) and the
 * message goes on to the next receiver or into the queue: Linux has
 * already dequeued the message at that point and loses it; here it is
 * kept.  A receiver interrupted after its buffer was written had that
 * buffer changed by a message it did not get; its call failed anyway.  */
static bool pipelined_send(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m)
{
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe(pos, tmp, &q->receivers) {
		struct msgq_waiter *r = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		struct ipcns_caller *rc = r->w->caller;

		if (!r->w->ops->alive(r->w)) {
			waiter_finish(ns, r);
			continue;
		}
		if (!testmsg(m, r->msgtyp, r->mode))
			continue;
		if ((uint64_t)r->maxsize < m->size) {
			waiter_answer(ns, r, -E2BIG);
			continue;
		}
		uint64_t n = min_u64(m->size, r->bufsz);
		int ret = rc->ops->write(rc, r->buf, &m->mtype, sizeof(m->mtype) + n);
		if (ret < 0) {
			waiter_answer(ns, r, ret);
			continue;
		}
		/* The receive is recorded before the answer (a journal
		 * commit made as it leaves holds it) and undone if the
		 * answer does not arrive.  */
		int64_t rtime = q->rtime;
		struct ipcns_pidref lrpid = q->lrpid, tid;
		/* Linux records the sleeping thread itself here (a receive
		 * from the queue records its process).  */
		q->lrpid = ipcns_actor_of_caller(ns, rc, true, true, &tid) == 0 ? tid : r->pid;
		q->rtime = ipcns_now(ns);
		if (waiter_answer(ns, r, (long)n) < 0) {
			q->lrpid = lrpid;
			q->rtime = rtime;
			continue;
		}
		return true;
	}
	return false;
}

/* Send a message that fits, its cost charged to the quota, and answer
 * its sender (the caller c, or the parked sender s) 0.  The sender learns
 * of its success before anyone can see its message; and the message is
 * in the queue when the answer leaves, so that a journal commit made as
 * it leaves holds it (state.h).  If the answer does not reach the sender,
 * the message goes away with it and the interrupted msgsnd sent nothing.
 * Then a waiting receiver that wants it takes it, as Linux's
 * pipelined_send() does before queuing: the receivers waiting want none
 * of the messages queued before, so handing them the newest is the same.
 * Takes `m'; the answer's result (< 0: nothing was sent).  */
static int msg_send(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m, struct ipcns_pidref pid,
		    struct ipcns_caller *c, struct msgq_waiter *s)
{
	int64_t stime = q->stime;
	struct ipcns_pidref lspid = q->lspid;

	q->lspid = pid;
	q->stime = ipcns_now(ns);
	enqueue(ns, q, m);
	int ar = s ? waiter_answer(ns, s, 0) : ipcns_caller_answer(c, 0);
	if (ar < 0) {
		unqueue(ns, q, m);
		q->lspid = lspid;
		q->stime = stime;
		quota_uncharge(ns, msg_cost(m->size));
		ipcns_mem_free(m);
		return ar;
	}
	if (!ipcns_list_empty(&q->receivers)) {
		unqueue(ns, q, m);
		if (pipelined_send(ns, q, m)) {
			quota_uncharge(ns, msg_cost(m->size));
			ipcns_mem_free(m);
		} else {
			enqueue(ns, q, m);
		}
	}
	return ar;
}

/* A parked sender whose message fits in its queue now retries, as
 * Linux's do_msgsnd loop does after its wake-up: permission check, then
 * the send.  False when it must go on waiting (the quota cannot hold its
 * copy); true when it is done (answered, or dropped).  */
static bool sender_wake(struct ipcns_ns *ns, struct msgq *q, struct msgq_waiter *s)
{
	struct ipcns_waiter *w = s->w;
	int ret;

	if (!w->ops->alive(w)) {
		waiter_finish(ns, s);
		return true;
	}
	ret = ipcns_ipcperms(w->caller, &q->perm, IPCNS_S_IWUGO);
	if (ret < 0) {
		waiter_answer(ns, s, ret);
		return true;
	}
	if (!s->msg) {
		struct msgq_msg *m;
		if (!quota_charge(ns, msg_cost(s->msgsz)))
			return false;
		ret = msg_load(ns, w->caller, s->msgp + sizeof(int64_t), s->msgsz, s->mtype, &m);
		if (ret < 0) {
			quota_uncharge(ns, msg_cost(s->msgsz));
			waiter_answer(ns, s, ret);
			return true;
		}
		s->msg = m;
		ipcns_list_del(&s->starvelink);
	}

	struct msgq_msg *m = steal_pointer(&s->msg);
	msg_send(ns, q, m, s->pid, NULL, s);
	return true;
}

/* Linux's ss_wakeup without kill: every sender whose message fits now is
 * woken; the others go to the tail, and the scan stops when it meets the
 * first of those again.  Woken senders proceed in list order here, each
 * seeing the queue as the previous one left it.  */
static void ss_wakeup(struct ipcns_ns *ns, struct msgq *q)
{
	struct msgq_waiter *stop = NULL;
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe(pos, tmp, &q->senders) {
		struct msgq_waiter *s = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		if (s == stop)
			break;
		if (!msg_fits_inqueue(q, s->msgsz)) {
			if (!stop)
				stop = s;
			ipcns_list_del(&s->qlink);
			ipcns_list_add_tail(&q->senders, &s->qlink);
			continue;
		}
		sender_wake(ns, q, s);
	}
}

/* Quota was given back: senders that waited only for it retry, oldest
 * first, until a pass frees nothing more.  */
static void retry_starved(struct ipcns_ns *ns)
{
	struct ipcns_msg_state *st = ns->msg;

	while (st->freed && !ipcns_list_empty(&st->starved)) {
		struct ipcns_list *pos, *tmp;
		st->freed = false;
		ipcns_list_for_each_safe(pos, tmp, &st->starved) {
			struct msgq_waiter *s = ipcns_list_entry(pos, struct msgq_waiter, starvelink);
			/* sender_wake unlinks nothing but `s' from this list.  */
			if (msg_fits_inqueue(s->q, s->msgsz))
				sender_wake(ns, s->q, s);
		}
	}
	st->freed = false;
}

/* Linux's freeque: receivers get EIDRM (expunge_all), senders find the
 * queue gone when they wake (EIDRM), the messages are freed.  */
static void freeque(struct ipcns_ns *ns, struct msgq *q)
{
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe(pos, tmp, &q->receivers)
		waiter_answer(ns, ipcns_list_entry(pos, struct msgq_waiter, qlink), -EIDRM);
	ipcns_list_for_each_safe(pos, tmp, &q->senders)
		waiter_answer(ns, ipcns_list_entry(pos, struct msgq_waiter, qlink), -EIDRM);
	ipcns_ids_remove(&ns->ids[IPCNS_MSG], &q->perm);
	ipcns_list_for_each_safe(pos, tmp, &q->messages)
		dequeue_free(ns, q, ipcns_list_entry(pos, struct msgq_msg, link));
	ipcns_uid_quota_put(ns, q->perm.cuid);
	ipcns_jdel(ns, IPCNS_MSG, &q->perm);
	ipcns_mem_free(q);
}

/* ---- msgget.  */

static long newque(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int msgflg, void *arg)
{
	const struct ipcns_cred *cred;
	int limit = ns->limits.msgmni > IPCNS_IPCMNI ? IPCNS_IPCMNI : (int)ns->limits.msgmni;
	int ret = ipcns_caller_cred(c, &cred);
	if (ret < 0)
		return ret;

	/* newque()'s kvmalloc: over the namespace's memory budget, ENOMEM.  */
	cleanup_mem struct msgq *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->perm.key = key;
	q->perm.mode = (unsigned int)msgflg & IPCNS_S_IRWXUGO;
	q->ctime = ipcns_now(ns);
	q->qbytes = ns->limits.msgmnb;
	ipcns_list_init(&q->messages);
	ipcns_list_init(&q->receivers);
	ipcns_list_init(&q->senders);

	ret = ipcns_uid_quota_take(ns, cred->euid);
	if (ret < 0)
		return ret;
	ret = ipcns_ids_add(&ns->ids[IPCNS_MSG], &q->perm, limit, cred);
	if (ret < 0) {
		ipcns_uid_quota_put(ns, cred->euid);
		return ret;
	}
	ipcns_jnew(ns, IPCNS_MSG, &q->perm);
	struct msgq *made = steal_pointer(&q);
	/* The queue stands only if the caller gets its id: one interrupted
	 * meanwhile restarts the call (SA_RESTART), which must not find the
	 * queue (EEXIST with IPC_EXCL), or sees EINTR, as if it never ran.  */
	int ar = ipcns_caller_answer(c, ret);
	if (ar < 0) {
		freeque(ns, made);
		return IPCNS_ANSWERED;
	}
	return ar == 0 ? IPCNS_ANSWERED : ret;
}

long ipcns_msgget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int msgflg)
{
	static const struct ipcns_get_ops ops = { .getnew = newque };
	return ipcns_ipcget(ns, IPCNS_MSG, c, key, msgflg, &ops, NULL);
}

/* ---- msgsnd.  */

long ipcns_msgsnd(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp, uint64_t msgsz, int msgflg)
{
	cleanup_mem struct msgq_msg *m = NULL;
	struct ipcns_perm *p;
	struct msgq_waiter *s;
	int64_t mtype;
	struct ipcns_pidref me;
	long ret;

	/* Linux's order: mtype is read first (EFAULT), then the arguments
	 * are checked, then mtext is copied in, then the queue is looked
	 * up.  */
	ret = c->ops->read(c, msgp, &mtype, sizeof(mtype));
	if (ret < 0)
		return ret;
	if (msgsz > ns->limits.msgmax || (int64_t)msgsz < 0 || msqid < 0)
		return -EINVAL;
	if (mtype < 1)
		return -EINVAL;
	ret = msg_load(ns, c, msgp + sizeof(mtype), msgsz, mtype, &m);
	if (ret < 0)
		return ret;

	ret = ipcns_ids_obtain_check(&ns->ids[IPCNS_MSG], msqid, &p);
	if (ret < 0)
		return ret;
	struct msgq *q = msgq_of(p);
	ipcns_jdirty(ns, IPCNS_MSG, p);
	ret = ipcns_ipcperms(c, p, IPCNS_S_IWUGO);
	if (ret < 0)
		return ret;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return ret;

	uint64_t cost = msg_cost(msgsz);
	bool quota_full = false;
	if (msg_fits_inqueue(q, msgsz)) {
		if (quota_charge(ns, cost)) {
			/* As for a woken sender: an interrupted msgsnd
			 * sends nothing.  */
			int ar = msg_send(ns, q, steal_pointer(&m), me, c, NULL);
			ret = ar <= 0 ? IPCNS_ANSWERED : 0;
			goto out;
		}
		/* A waiting receiver takes the message without it being held,
		 * so the quota does not stand in the way.  */
		if (pipelined_send(ns, q, m))
			goto sent;
		quota_full = true;
		quota_hit(ns);
	}
	if (msgflg & IPC_NOWAIT) {
		ret = -EAGAIN;
		goto out;
	}

	s = waiter_new(ns, q, me);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	s->msgp = msgp;
	s->msgsz = msgsz;
	s->mtype = mtype;
	ret = waiter_park(ns, c, s, &q->senders);
	if (ret != IPCNS_PARKED) {
		ipcns_mem_free(s);
		goto out;
	}
	if (!quota_full && quota_charge(ns, cost)) {
		s->msg = steal_pointer(&m);
	} else {
		if (!quota_full)
			quota_hit(ns);
		ipcns_list_add_tail(&ns->msg->starved, &s->starvelink);
		ipcns_jstarved(ns);
	}
	goto out;
sent:
	q->lspid = me;
	q->stime = ipcns_now(ns);
	ret = 0;
out:
	retry_starved(ns);
	return ret;
}

/* ---- msgrcv.  */

/* MSG_COPY: Linux's prepare_copy loads min(msgsz, msgmax) bytes from the
 * buffer before the queue is looked up; a bad buffer is EFAULT first.  */
static int probe_read(struct ipcns_caller *c, uint64_t addr, uint64_t len)
{
	char buf[4096];
	while (len > 0) {
		uint64_t n = min_u64(len, sizeof(buf));
		int ret = c->ops->read(c, addr, buf, n);
		if (ret < 0)
			return ret;
		addr += n;
		len -= n;
	}
	return 0;
}

long ipcns_msgrcv(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp, uint64_t msgsz,
		  int64_t msgtyp, int msgflg)
{
	struct ipcns_perm *p;
	struct msgq_msg *m;
	struct ipcns_pidref me;
	long ret;
	int mode;

	if (msqid < 0 || (int64_t)msgsz < 0)
		return -EINVAL;
	if (msgflg & MSG_COPY) {
		if ((msgflg & MSG_EXCEPT) || !(msgflg & IPC_NOWAIT))
			return -EINVAL;
		ret = probe_read(c, msgp, min_u64(msgsz, ns->limits.msgmax));
		if (ret < 0)
			return ret;
	}
	mode = convert_mode(&msgtyp, msgflg);

	ret = ipcns_ids_obtain_check(&ns->ids[IPCNS_MSG], msqid, &p);
	if (ret < 0)
		return ret;
	struct msgq *q = msgq_of(p);
	ipcns_jdirty(ns, IPCNS_MSG, p);
	ret = ipcns_ipcperms(c, p, IPCNS_S_IRUGO);
	if (ret < 0)
		return ret;

	m = find_msg(q, msgtyp, mode);
	if (m) {
		uint64_t n = min_u64(msgsz, m->size);
		if (msgsz < m->size && !(msgflg & MSG_NOERROR))
			return -E2BIG;
		if (msgflg & MSG_COPY) {
			/* copy_msg: the copy was sized min(msgsz, msgmax).  */
			if (m->size > min_u64(msgsz, ns->limits.msgmax))
				return -EINVAL;
			ret = c->ops->write(c, msgp, &m->mtype, sizeof(m->mtype) + n);
			return ret < 0 ? ret : (long)n;
		}
		ret = ipcns_actor_of_caller(ns, c, false, false, &me);
		if (ret < 0)
			return ret;
		/* Linux dequeues before it copies out, and a bad buffer loses
		 * the message; here the message stays queued and the caller
		 * gets EFAULT all the same.  */
		ret = c->ops->write(c, msgp, &m->mtype, sizeof(m->mtype) + n);
		if (ret < 0)
			return ret;
		/* The message is taken before the answer (a journal commit
		 * made as it leaves holds that) and put back where it was if
		 * the answer does not reach the caller: it leaves the queue
		 * only once the caller has it.  */
		struct ipcns_list *prev = m->link.prev;
		int64_t rtime = q->rtime;
		struct ipcns_pidref lrpid = q->lrpid;
		q->rtime = ipcns_now(ns);
		q->lrpid = me;
		unqueue(ns, q, m);
		int ar = ipcns_caller_answer(c, (long)n);
		if (ar < 0) {
			requeue(ns, q, m, prev);
			q->rtime = rtime;
			q->lrpid = lrpid;
			return IPCNS_ANSWERED;
		}
		quota_uncharge(ns, msg_cost(m->size));
		ipcns_mem_free(m);
		ss_wakeup(ns, q);
		retry_starved(ns);
		return ar == 0 ? IPCNS_ANSWERED : (long)n;
	}

	if (msgflg & IPC_NOWAIT)
		return -ENOMSG;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return ret;
	struct msgq_waiter *r = waiter_new(ns, q, me);
	if (!r)
		return -ENOMEM;
	r->mode = mode;
	r->msgtyp = msgtyp;
	r->maxsize = (msgflg & MSG_NOERROR) ? INT_MAX : (int64_t)msgsz;
	r->buf = msgp;
	r->bufsz = msgsz;
	ret = waiter_park(ns, c, r, &q->receivers);
	if (ret != IPCNS_PARKED)
		ipcns_mem_free(r);
	return ret;
}

/* ---- msgctl.  */

static long msgctl_info(struct ipcns_ns *ns, struct ipcns_caller *c, int cmd, uint64_t buf)
{
	struct msgq_info info;
	int max_idx = ipcns_ids_maxidx(&ns->ids[IPCNS_MSG]);

	memset(&info, 0, sizeof(info));
	info.msgmni = (int32_t)ns->limits.msgmni;
	info.msgmax = (int32_t)ns->limits.msgmax;
	info.msgmnb = (int32_t)ns->limits.msgmnb;
	info.msgssz = IPCNS_MSGSSZ;
	info.msgseg = MSG_SEG;
	if (cmd == MSG_INFO) {
		info.msgpool = ns->ids[IPCNS_MSG].in_use;
		info.msgmap = (int32_t)min_u64(ns->msg_hdrs, INT_MAX);
		info.msgtql = (int32_t)min_u64(ns->msg_bytes, INT_MAX);
	} else {
		info.msgmap = IPCNS_MSGMAP;
		info.msgpool = IPCNS_MSGPOOL;
		info.msgtql = IPCNS_MSGTQL;
	}
	int ret = c->ops->write(c, buf, &info, sizeof(info));
	if (ret < 0)
		return ret;
	return max_idx < 0 ? 0 : max_idx;
}

static long msgctl_stat(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, int cmd, uint64_t buf)
{
	struct ipcns_perm *p;
	struct msgq_ds64 ds;
	int ret;

	if (cmd == MSG_STAT || cmd == MSG_STAT_ANY) {
		/* msqid is an index.  */
		p = ipcns_ids_obtain_idx(&ns->ids[IPCNS_MSG], msqid);
		if (!p)
			return -EINVAL;
	} else {
		ret = ipcns_ids_obtain_check(&ns->ids[IPCNS_MSG], msqid, &p);
		if (ret < 0)
			return ret;
	}
	if (cmd != MSG_STAT_ANY) {
		ret = ipcns_ipcperms(c, p, IPCNS_S_IRUGO);
		if (ret < 0)
			return ret;
	}
	struct msgq *q = msgq_of(p);
	memset(&ds, 0, sizeof(ds));
	ret = ipcns_perm_to_user(ns, c, p, &ds.msg_perm);
	if (ret < 0)
		return ret;
	ds.msg_stime = q->stime;
	ds.msg_rtime = q->rtime;
	ds.msg_ctime = q->ctime;
	ds.msg_cbytes = q->cbytes;
	ds.msg_qnum = q->qnum;
	ds.msg_qbytes = q->qbytes;
	const struct ipcns_pidns *reader;
	ret = ipcns_caller_pidns(c, &reader);
	if (ret < 0)
		return ret;
	ds.msg_lspid = ipcns_actor_nr(ns, q->lspid, reader);
	ds.msg_lrpid = ipcns_actor_nr(ns, q->lrpid, reader);
	ret = c->ops->write(c, buf, &ds, sizeof(ds));
	if (ret < 0)
		return ret;
	return cmd == IPC_STAT ? 0 : p->id;
}

/* IPC_SET: Linux's msgctl_down.  */
static long msgctl_set(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t buf)
{
	struct ipcns_list *pos, *tmp;
	struct ipcns_perm *p;
	struct msgq_ds64 ds;
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	int ret;

	ret = c->ops->read(c, buf, &ds, sizeof(ds));
	if (ret < 0)
		return ret;
	ret = ipcns_ctl_obtain_check(&ns->ids[IPCNS_MSG], c, msqid, &p);
	if (ret < 0)
		return ret;
	struct msgq *q = msgq_of(p);
	ipcns_jdirty(ns, IPCNS_MSG, p);

	/* msgctl_down takes msg_qbytes as an int and compares it with the
	 * unsigned msgmnb: a negative value needs CAP_SYS_RESOURCE and is
	 * stored sign-extended.  */
	int qbytes = (int)ds.msg_qbytes;
	if ((unsigned int)qbytes > ns->limits.msgmnb && !ipcns_capable_init(c, IPCNS_CAP_SYS_RESOURCE))
		return -EPERM;
	ipcns_perm_from_user(&ds.msg_perm, &uid, &gid, &mode);
	ret = ipcns_update_perm(c, p, uid, gid, mode);
	if (ret < 0)
		return ret;
	q->qbytes = (uint64_t)(int64_t)qbytes;
	q->ctime = ipcns_now(ns);

	/* expunge_all(-EAGAIN): sleeping receivers run their loop again and
	 * may have lost the permission; the others wait on, in order.  */
	ipcns_list_for_each_safe(pos, tmp, &q->receivers) {
		struct msgq_waiter *r = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		if (!r->w->ops->alive(r->w)) {
			waiter_finish(ns, r);
			continue;
		}
		ret = ipcns_ipcperms(r->w->caller, p, IPCNS_S_IRUGO);
		if (ret < 0)
			waiter_answer(ns, r, ret);
	}
	/* A larger queue may let senders in.  */
	ss_wakeup(ns, q);
	retry_starved(ns);
	return 0;
}

long ipcns_msgctl(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, int cmd, uint64_t buf)
{
	struct ipcns_perm *p;
	int ret;

	if (msqid < 0 || cmd < 0)
		return -EINVAL;
	switch (cmd) {
	case IPC_INFO:
	case MSG_INFO:
		return msgctl_info(ns, c, cmd, buf);
	case IPC_STAT:
	case MSG_STAT:
	case MSG_STAT_ANY:
		return msgctl_stat(ns, c, msqid, cmd, buf);
	case IPC_SET:
		return msgctl_set(ns, c, msqid, buf);
	case IPC_RMID:
		ret = ipcns_ctl_obtain_check(&ns->ids[IPCNS_MSG], c, msqid, &p);
		if (ret < 0)
			return ret;
		/* Removed once the caller has its 0: a restarted IPC_RMID
		 * would find no queue (EINVAL).  Journaled as removed before
		 * the answer leaves.  */
		ipcns_jahead_del(ns, IPCNS_MSG, p);
		ret = ipcns_caller_answer(c, 0);
		if (ret < 0) {
			ipcns_jsettle(ns, IPCNS_MSG, p, true);
			return IPCNS_ANSWERED;
		}
		freeque(ns, msgq_of(p));
		retry_starved(ns);
		return ret == 0 ? IPCNS_ANSWERED : 0;
	default:
		/* Includes every command with IPC_64: 64-bit Linux has no
		 * ipc_parse_version().  */
		return -EINVAL;
	}
}

/* ---- Namespace hooks.  */

static int msg_kind_init(struct ipcns_ns *ns)
{
	struct ipcns_msg_state *st = ipcns_mem_zalloc(&ns->budget, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ipcns_list_init(&st->waiters);
	ipcns_list_init(&st->starved);
	ns->msg = st;
	return 0;
}

/* Parked calls are released unanswered.  */
static void msg_kind_release(struct ipcns_ns *ns)
{
	struct ipcns_list *pos, *tmp;

	if (!ns->msg)
		return;
	ipcns_list_for_each_safe(pos, tmp, &ns->msg->waiters)
		waiter_finish(ns, ipcns_list_entry(pos, struct msgq_waiter, nslink));
}

static void msg_kind_destroy(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	struct msgq *q = msgq_of(p);
	struct ipcns_list *pos, *tmp;

	ipcns_list_for_each_safe(pos, tmp, &q->messages)
		dequeue_free(ns, q, ipcns_list_entry(pos, struct msgq_msg, link));
	ipcns_idr_remove(&ns->ids[IPCNS_MSG].idr, p->id % IPCNS_SEQ_MULTIPLIER);
	ipcns_mem_free(q);
}

static void msg_kind_fini(struct ipcns_ns *ns)
{
	ipcns_mem_free(ns->msg);
	ns->msg = NULL;
}

int ipcns_msg_sweep(struct ipcns_ns *ns)
{
	struct ipcns_list *pos, *tmp;
	int n = 0;

	ipcns_list_for_each_safe(pos, tmp, &ns->msg->waiters) {
		struct msgq_waiter *mw = ipcns_list_entry(pos, struct msgq_waiter, nslink);
		if (!mw->w->ops->alive(mw->w)) {
			waiter_finish(ns, mw);
			n++;
		}
	}
	retry_starved(ns);
	return n;
}

/* After a restore: finish what a daemon that died between two steps of
 * one call left half done.  A sender is answered before its message goes
 * on to a waiting receiver (msg_send), and a receive before the senders
 * it makes room for are woken; a journal commit is made at each answer,
 * so a state can hold a message queued while a receiver that wants it is
 * parked, or a parked sender whose message fits.  Linux would have handed
 * the message over or woken the sender: each queued message, oldest
 * first, goes to the first parked receiver that wants it (as
 * pipelined_send would have when it was sent), then the senders that fit
 * are woken.  */
void ipcns_msg_settle(struct ipcns_ns *ns)
{
	struct ipcns_idr *idr = &ns->ids[IPCNS_MSG].idr;

	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1)) {
		struct msgq *q = msgq_of(ipcns_idr_find(idr, idx));
		struct ipcns_list *pos = q->messages.next;
		while (pos != &q->messages && !ipcns_list_empty(&q->receivers)) {
			struct msgq_msg *m = ipcns_list_entry(pos, struct msgq_msg, link);
			struct ipcns_list *prev = pos->prev;
			pos = pos->next;
			unqueue(ns, q, m);
			if (pipelined_send(ns, q, m)) {
				quota_uncharge(ns, msg_cost(m->size));
				ipcns_mem_free(m);
			} else {
				requeue(ns, q, m, prev);
			}
		}
		ss_wakeup(ns, q);
	}
	retry_starved(ns);
}

bool ipcns_msg_expire(struct ipcns_ns *ns, struct ipcns_waiter *w)
{
	struct ipcns_list *pos;

	/* Message queue calls have no timeout; only a waiter of ours that is
	 * expired anyway is answered, like a timed-out call, EAGAIN.  */
	ipcns_list_for_each(pos, &ns->msg->waiters) {
		struct msgq_waiter *mw = ipcns_list_entry(pos, struct msgq_waiter, nslink);
		if (mw->w == w) {
			waiter_answer(ns, mw, -EAGAIN);
			retry_starved(ns);
			return true;
		}
	}
	return false;
}

static void msg_kind_info(struct ipcns_ns *ns, struct ipcns_perm *p, const struct ipcns_pidns *reader,
			  struct ipcns_obj_info *oi)
{
	struct msgq *q = msgq_of(p);
	oi->bytes = q->cbytes;
	oi->count = q->qnum;
	oi->ctime = q->ctime;
	oi->atime = q->stime;
	oi->dtime = q->rtime;
	oi->cpid = ipcns_actor_nr(ns, q->lspid, reader);
	oi->lpid = ipcns_actor_nr(ns, q->lrpid, reader);
}

static int msg_kind_rmid(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	freeque(ns, msgq_of(p));
	retry_starved(ns);
	return 0;
}

const struct ipcns_kind_ops ipcns_msg_kind = {
	.init = msg_kind_init,
	.release = msg_kind_release,
	.destroy = msg_kind_destroy,
	.fini = msg_kind_fini,
	.info = msg_kind_info,
	.rmid = msg_kind_rmid,
};

uint64_t ipcns_msg_quota_held(const struct ipcns_ns *ns)
{
	return ns->msg ? ns->msg->held : 0;
}

void ipcns_msg_mark_pids(struct ipcns_ns *ns)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_MSG];
	struct ipcns_list *pos;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct msgq *q = msgq_of(ipcns_idr_find(&ids->idr, idx));
		ipcns_actor_mark(ns, q->lspid);
		ipcns_actor_mark(ns, q->lrpid);
	}
	if (!ns->msg)
		return;
	ipcns_list_for_each (pos, &ns->msg->waiters)
		ipcns_actor_mark(ns, ipcns_list_entry(pos, struct msgq_waiter, nslink)->pid);
}
