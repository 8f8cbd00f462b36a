/* SPDX-License-Identifier: MIT */
/* The state image, loaded: a namespace built from a model that
 * image_check.c parsed and checked, and the entry points of include/ipcns/state.h
 * that read an image.  */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

/* ---- Building the namespace.  */

struct bld {
	struct ipcns_ns *ns;
	const struct img_model *m;
	const struct ipcns_state_ops *ops;
	char *err;
	size_t errlen;
	int ret;
};

static void bfail(struct bld *b, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bfail(struct bld *b, int ret, const char *fmt, ...)
{
	va_list ap;
	if (b->ret)
		return;
	b->ret = ret;
	va_start(ap, fmt);
	state_verror(b->err, b->errlen, "state image", NULL, fmt, ap);
	va_end(ap);
}

/* A pid field of the model, as the namespace's reference (the model is
 * checked: every reference is in its table).  */
static struct ipcns_pidref bpid(const struct bld *b, int32_t ref)
{
	const struct m_actor *a = ref ? img_actor_find(b->m, (uint32_t)ref) : NULL;
	return a ? a->built : (struct ipcns_pidref){ 0 };
}

/* The model's pid table into the namespace's, nothing collected
 * before the objects that hold the entries are built.  */
static void build_actors(struct bld *b, struct img_model *m)
{
	b->ns->actors.gc_at = UINT32_MAX;
	for (uint32_t i = 0; i < m->nactors && !b->ret; i++) {
		struct m_actor *a = &m->actors[i];
		struct ipcns_pidchain ch = { .n = a->n };
		if (a->legacy && !a->lv) {
			ch.lv[0].nr = a->nr;
		} else {
			for (uint32_t k = 0; k < a->n; k++) {
				memcpy(&ch.lv[k].nr, a->lv + 12 * k, 4);
				memcpy(&ch.lv[k].ns, a->lv + 12 * k + 4, 8);
			}
		}
		int ret = ipcns_actor_intern(b->ns, &ch, a->legacy, true, &a->built);
		if (ret < 0)
			bfail(b, ret, "pid table entry %u: %s", a->id, strerror(-ret));
	}
}

static void set_perm(struct ipcns_perm *p, const struct m_perm *m)
{
	p->id = m->id;
	p->key = m->key;
	p->uid = m->uid;
	p->gid = m->gid;
	p->cuid = m->cuid;
	p->cgid = m->cgid;
	p->mode = m->mode;
}

static struct ipcns_waiter *load_waiter(struct bld *b, const struct m_waiter *mw)
{
	if (!b->ops || !b->ops->waiter_load)
		return NULL;
	struct ipcns_waiter *w = b->ops->waiter_load(b->ops->arg, mw->fe, mw->fe_len);
	if (w)
		w->deadline = mw->deadline;
	return w;
}

static void watch(struct bld *b, pid_t tgid)
{
	const struct ipcns_host_ops *h = b->ns->host;
	if (h && h->watch_exit && tgid > 0)
		h->watch_exit(b->ns->host_data, tgid);
}

static void build_shm(struct bld *b, const struct m_shm *ms)
{
	struct ipcns_ns *ns = b->ns;
	int id = ms->perm.id;
	struct stat st;

	int fd = b->ops && b->ops->slot_fd ? b->ops->slot_fd(b->ops->arg, ms->slot) : -EBADF;
	if (fd < 0) {
		bfail(b, fd, "segment id %d: no memfd in slot %u (%s)", id, ms->slot, strerror(-fd));
		return;
	}
	cleanup_close int cfd = fd;
	uint64_t want = ms->hugetlb ? (ms->segsz + ms->hugesize - 1) / ms->hugesize * ms->hugesize : ms->segsz;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < want) {
		bfail(b, -EBADMSG, "segment id %d: slot %u is not a file of %llu bytes", id, ms->slot,
		      (unsigned long long)want);
		return;
	}
	struct ipcns_shm *shp = ipcns_mem_zalloc(&ns->budget, sizeof(*shp));
	if (!shp) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	shp->budget = &ns->budget;
	ipcns_list_init(&shp->attaches);
	set_perm(&shp->perm, &ms->perm);
	shp->segsz = ms->segsz;
	shp->atime = ms->atime;
	shp->dtime = ms->dtime;
	shp->ctime = ms->ctime;
	shp->cpid = bpid(b, ms->cpid);
	shp->lpid = bpid(b, ms->lpid);
	shp->creator_tgid = ms->creator_tgid;
	shp->fd = move_fd(&cfd);
	shp->dev = st.st_dev;
	shp->ino = st.st_ino;
	shp->hugetlb = ms->hugetlb;
	shp->noreserve = ms->noreserve;
	shp->hugesize = ms->hugesize;
	shp->lock_charged = ms->lock_charged;
	shp->lock_uid = ms->lock_uid;
	/* A memfd made by a daemon that did not set it yet.  */
	if (!shp->hugetlb)
		shm_file_immutable(shp->fd, true);
	else
		shm_file_guard(shp->fd, true);
	shp->detached_to_zero = ms->detached_to_zero;
	shp->attached_once = ms->attached_once;
	if (ms->nholders) {
		shp->holders = ipcns_mem_realloc_force(&ns->budget, NULL, ms->nholders * sizeof(*shp->holders));
		if (!shp->holders) {
			close(shp->fd);
			ipcns_mem_free(shp);
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		memcpy(shp->holders, ms->holders, ms->nholders * sizeof(*shp->holders));
		for (uint32_t i = 0; i < ms->nholders; i++)
			shp->holders[i].ns = bpid(b, (int32_t)ms->holders[i].ns.id);
		shp->nholders = shp->cap_holders = ms->nholders;
	}
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_SHM], &shp->perm);
	if (ret < 0) {
		close(shp->fd);
		ipcns_mem_free(shp->holders);
		ipcns_mem_free(shp);
		bfail(b, ret, "segment id %d: %s", id, strerror(-ret));
		return;
	}
	ns->shm_tot += shm_pages(shp);
	ns->shm_bytes_quota_used += shm_pages(shp) * (uint64_t)page_size();
	ipcns_budget_fd_charge(&ns->budget, 1, true);
	/* attach_record drops what it cannot allocate: a hint only.  */
	for (uint32_t i = 0; i < ms->nattaches; i++)
		attach_record(ns, shp, ms->attaches[i].tgid, ms->attaches[i].addr, ms->attaches[i].len);
	for (uint32_t i = 0; i < ms->nholders; i++)
		watch(b, ms->holders[i].tgid);
	if (ns->limits.shm_rmid_forced)
		watch(b, ms->creator_tgid);
}

static struct ipcns_list *semq_list(struct sem_array *sma, uint32_t list)
{
	if (list == 0)
		return &sma->pending_alter;
	if (list == 1)
		return &sma->pending_const;
	struct sem *s = &sma->sems[(list - 2) / 2];
	return (list & 1) ? &s->pending_const : &s->pending_alter;
}

static void build_sem(struct bld *b, const struct m_sem *ms)
{
	struct ipcns_ns *ns = b->ns;
	struct ipcns_sem_state *st = ns->sem;
	int id = ms->perm.id;

	struct sem_array *sma = ipcns_mem_zalloc(&ns->budget, sizeof(*sma) + ms->nsems * sizeof(struct sem));
	if (!sma) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	set_perm(&sma->perm, &ms->perm);
	sma->ctime = ms->ctime;
	sma->nsems = (int)ms->nsems;
	ipcns_list_init(&sma->pending_alter);
	ipcns_list_init(&sma->pending_const);
	ipcns_list_init(&sma->undos);
	ipcns_list_init(&sma->waiters);
	for (uint32_t i = 0; i < ms->nsems; i++) {
		ipcns_list_init(&sma->sems[i].pending_alter);
		ipcns_list_init(&sma->sems[i].pending_const);
		sma->sems[i].semval = ms->sems[i].val;
		sma->sems[i].sempid = bpid(b, ms->sems[i].pid);
		sma->sems[i].otime = ms->sems[i].otime;
	}
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_SEM], &sma->perm);
	if (ret < 0) {
		ipcns_mem_free(sma);
		bfail(b, ret, "semaphore set id %d: %s", id, strerror(-ret));
		return;
	}
	ns->used_sems += sma->nsems;

	/* From here the set is in the namespace: what fails below leaves it
	 * consistent, and ipcns_ns_free frees it.  */
	for (uint32_t i = 0; i < ms->nundos; i++) {
		const struct m_undo *mu = &ms->undos[i];
		struct sem_undo_list *ulp = ulp_find(st, mu->host_tgid);
		if (!ulp) {
			ulp = ipcns_mem_zalloc(&ns->budget, sizeof(*ulp));
			if (ulp) {
				ulp->host_tgid = mu->host_tgid;
				ulp->ns = bpid(b, mu->ns_tgid);
				ipcns_list_init(&ulp->undos);
			}
			if (!ulp || ulp_insert(ns, st, ulp) < 0) {
				ipcns_mem_free(ulp);
				bfail(b, -ENOMEM, "out of memory");
				return;
			}
			watch(b, mu->host_tgid);
		}
		struct sem_undo *un = ipcns_mem_zalloc(&ns->budget, sizeof(*un) + ms->nsems * sizeof(short));
		if (!un) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		un->ulp = ulp;
		un->sma = sma;
		memcpy(un->semadj, mu->adj, ms->nsems * sizeof(short));
		ipcns_list_add_tail(&ulp->undos, &un->proc_link);
		ipcns_list_add_tail(&sma->undos, &un->set_link);
	}
	for (uint32_t i = 0; i < ms->nq; i++) {
		const struct m_semq *mq = &ms->q[i];
		struct sem_queue *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q) + mq->nsops * sizeof(struct sembuf));
		if (!q) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		struct ipcns_waiter *w = load_waiter(b, &mq->w);
		if (!w) {
			/* The call is gone: dropped, as a sweep would.  */
			ipcns_mem_free(q);
			continue;
		}
		memcpy(q->sops, mq->sops, mq->nsops * sizeof(struct sembuf));
		q->nsops = (int)mq->nsops;
		q->blocking = (int)mq->blocking;
		q->alter = mq->alter;
		q->host_tgid = mq->host_tgid;
		q->ns = bpid(b, mq->ns_tgid);
		q->sma = sma;
		q->w = w;
		if (mq->has_undo) {
			struct sem_undo_list *ulp = ulp_find(st, mq->host_tgid);
			struct ipcns_list *pos;
			ipcns_list_for_each (pos, &ulp->undos) {
				struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, proc_link);
				if (un->sma == sma)
					q->undo = un;
			}
		}
		ipcns_list_add_tail(semq_list(sma, mq->list), &q->list);
		if (q->nsops > 1)
			sma->complex_count++;
		ipcns_list_add_tail(&sma->waiters, &q->set_link);
		ipcns_list_add_tail(&st->waiters, &q->ns_link);
		w->core = q;
		ns->parked++;
	}
	/* Complex sleepers dropped above: single decrements go back to their
	 * semaphores, as after any operation.  */
	unmerge_queues(sma);
}

static struct msgq_msg *msg_new(struct ipcns_ns *ns, const uint8_t *text, uint64_t size, int64_t mtype)
{
	struct msgq_msg *m = ipcns_mem_alloc(&ns->budget, sizeof(*m) + size);
	if (!m)
		return NULL;
	ipcns_list_init(&m->link);
	m->size = size;
	m->mtype = mtype;
	if (size)
		memcpy(m->mtext, text, size);
	return m;
}

static struct msgq_waiter *msgw_new(struct bld *b, struct msgq *q, int32_t tgid, const struct m_waiter *mw,
				    struct ipcns_list *list)
{
	struct msgq_waiter *x = ipcns_mem_zalloc(&b->ns->budget, sizeof(*x));
	if (!x) {
		bfail(b, -ENOMEM, "out of memory");
		return NULL;
	}
	struct ipcns_waiter *w = load_waiter(b, mw);
	if (!w) {
		ipcns_mem_free(x);
		return NULL;
	}
	ipcns_list_init(&x->starvelink);
	x->q = q;
	x->pid = bpid(b, tgid);
	x->w = w;
	w->core = x;
	ipcns_list_add_tail(list, &x->qlink);
	ipcns_list_add_tail(&b->ns->msg->waiters, &x->nslink);
	b->ns->parked++;
	return x;
}

static void build_msq(struct bld *b, struct m_msq *mq)
{
	struct ipcns_ns *ns = b->ns;
	int id = mq->perm.id;

	struct msgq *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q));
	if (!q) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	set_perm(&q->perm, &mq->perm);
	q->stime = mq->stime;
	q->rtime = mq->rtime;
	q->ctime = mq->ctime;
	q->qbytes = mq->qbytes;
	q->lspid = bpid(b, mq->lspid);
	q->lrpid = bpid(b, mq->lrpid);
	ipcns_list_init(&q->messages);
	ipcns_list_init(&q->receivers);
	ipcns_list_init(&q->senders);
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_MSG], &q->perm);
	if (ret < 0) {
		ipcns_mem_free(q);
		bfail(b, ret, "message queue id %d: %s", id, strerror(-ret));
		return;
	}
	for (uint32_t i = 0; i < mq->nmsgs; i++) {
		struct msgq_msg *m = msg_new(ns, mq->msgs[i].text, mq->msgs[i].size, mq->msgs[i].mtype);
		if (!m) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		ipcns_list_add_tail(&q->messages, &m->link);
		q->cbytes += m->size;
		q->qnum++;
		ns->msg_bytes += m->size;
		ns->msg_hdrs++;
		ns->msg->held += msg_cost(m->size);
	}
	for (uint32_t i = 0; i < mq->nrecv; i++) {
		const struct m_recv *x = &mq->recv[i];
		struct msgq_waiter *r = msgw_new(b, q, x->tgid, &x->w, &q->receivers);
		if (!r)
			continue;
		r->mode = x->mode;
		r->msgtyp = x->msgtyp;
		r->maxsize = x->maxsize;
		r->buf = x->buf;
		r->bufsz = x->bufsz;
	}
	for (uint32_t i = 0; i < mq->nsend; i++) {
		struct m_send *x = &mq->send[i];
		struct msgq_msg *copy = NULL;
		if (x->starve_rank == UINT32_MAX) {
			copy = msg_new(ns, x->copy, x->msgsz, x->mtype);
			if (!copy) {
				bfail(b, -ENOMEM, "out of memory");
				return;
			}
		}
		struct msgq_waiter *s = msgw_new(b, q, x->tgid, &x->w, &q->senders);
		if (!s) {
			ipcns_mem_free(copy);
			continue;
		}
		s->msgp = x->msgp;
		s->msgsz = x->msgsz;
		s->mtype = x->mtype;
		s->msg = copy;
		x->built = s;
		if (copy)
			ns->msg->held += msg_cost(copy->size);
	}
}

/* The starved senders, in their order, once every queue is built.  */
static void build_starved(struct bld *b, const struct img_model *m)
{
	struct starved *sv;
	size_t n;
	if (img_collect_starved(m, &sv, &n) < 0) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct ipcns_perm *p;
		if (ipcns_ids_obtain_check(&b->ns->ids[IPCNS_MSG], sv[i].qid, &p) < 0)
			continue;
		const struct m_msq *mq = ipcns_idr_find(&m->objs[IPCNS_MSG], sv[i].qid % IPCNS_SEQ_MULTIPLIER);
		struct msgq_waiter *s = mq->send[sv[i].i].built;
		if (s)
			ipcns_list_add_tail(&b->ns->msg->starved, &s->starvelink);
	}
	free(sv);
}

int img_model_build(struct img_model *m, const struct ipcns_host_ops *host, void *host_data,
		    const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen)
{
	struct bld b = { .m = m, .ops = ops, .err = err, .errlen = errlen };

	b.ns = ipcns_ns_new(&m->limits, host, host_data);
	if (!b.ns)
		return -ENOMEM;
	for (int k = 0; k < 3; k++) {
		b.ns->ids[k].seq = m->ids[k].seq;
		b.ns->ids[k].last_idx = m->ids[k].last_idx;
		b.ns->ids[k].idr.next = m->ids[k].next;
		b.ns->ids[k].next_id = m->ids[k].next_id;
	}
	if (m->nuid) {
		b.ns->uid_counts = ipcns_mem_zalloc(&b.ns->budget, m->nuid * sizeof(*b.ns->uid_counts));
		if (!b.ns->uid_counts) {
			ipcns_ns_free(b.ns);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < m->nuid; i++) {
			b.ns->uid_counts[i].uid = m->uids[i].uid;
			b.ns->uid_counts[i].count = m->uids[i].count;
		}
		b.ns->uid_counts_len = b.ns->uid_counts_cap = m->nuid;
	}
	build_actors(&b, m);
	for (int k = 0; k < 3 && !b.ret; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		ipcns_idr_for_each (idr, idx) {
			if (b.ret)
				break;
			void *o = ipcns_idr_find(idr, idx);
			if (k == IPCNS_SHM)
				build_shm(&b, o);
			else if (k == IPCNS_SEM)
				build_sem(&b, o);
			else
				build_msq(&b, o);
		}
	}
	if (!b.ret)
		build_starved(&b, m);
	b.ns->actors.gc_at = 0;
	if (b.ret) {
		ipcns_ns_free(b.ns);
		return b.ret;
	}
	*out = b.ns;
	return 0;
}

/* ---- The entry points.  */

/* A model of the image, parsed and checked: 0, or -errno with *out NULL.  */
static int model_of(const void *buf, size_t len, struct img_model **out, char *err, size_t errlen)
{
	struct img_model *m;
	*out = NULL;
	int ret = img_model_parse(buf, len, &m, err, errlen);
	if (ret < 0)
		return ret;
	ret = img_model_check(m, err, errlen);
	if (ret < 0) {
		img_model_free(m);
		return ret;
	}
	*out = m;
	return 0;
}

int ipcns_state_check(const void *buf, size_t len, char *err, size_t errlen)
{
	struct img_model *m;
	int ret = model_of(buf, len, &m, err, errlen);
	if (ret == 0)
		ret = m->version;
	img_model_free(m);
	return ret;
}

int ipcns_state_fe(const void *buf, size_t len, const void **fe, size_t *fe_len)
{
	uint32_t n;
	if (!buf || len < IMG_HDR_SIZE || memcmp(buf, IMG_MAGIC, 8) != 0)
		return -EBADMSG;
	memcpy(&n, (const uint8_t *)buf + 36, 4);
	if (n > IPCNS_STATE_FE_MAX || n > len - IMG_HDR_SIZE)
		return -EBADMSG;
	*fe = (const uint8_t *)buf + IMG_HDR_SIZE;
	*fe_len = n;
	return 0;
}

int ipcns_state_load(const void *buf, size_t len, const struct ipcns_host_ops *host, void *host_data,
		     const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen)
{
	struct img_model *m;
	int ret = model_of(buf, len, &m, err, errlen);
	if (ret == 0)
		ret = img_model_build(m, host, host_data, ops, out, err, errlen);
	img_model_free(m);
	return ret;
}

int ipcns_state_foreach_waiter(struct ipcns_ns *ns, int (*cb)(void *arg, struct ipcns_waiter *w), void *arg)
{
	struct ipcns_list *pos;
	int ret;
	ipcns_list_for_each (pos, &ns->sem->waiters) {
		ret = cb(arg, ipcns_list_entry(pos, struct sem_queue, ns_link)->w);
		if (ret)
			return ret;
	}
	ipcns_list_for_each (pos, &ns->msg->waiters) {
		ret = cb(arg, ipcns_list_entry(pos, struct msgq_waiter, nslink)->w);
		if (ret)
			return ret;
	}
	return 0;
}

void ipcns_state_settle(struct ipcns_ns *ns)
{
	ipcns_sem_settle(ns);
	ipcns_msg_settle(ns);
}
