/* SPDX-License-Identifier: MIT */
/* The state image of a namespace, written: a header, the front end's
 * record, then one record per namespace and object (image.h).  The same
 * record writers serve the journal (journal.c).  Older format versions
 * can still be written, for the tests' fixtures (image_migrate.c says what
 * each holds).  */
#include <string.h>

#include "image.h"

void wb_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (n && w->p && n <= w->cap && w->len <= w->cap - n)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

#define WB(w, type, v)                                                                                             \
	do {                                                                                                       \
		type v_ = (type)(v);                                                                               \
		wb_bytes((w), &v_, sizeof(v_));                                                                    \
	} while (0)
#define W8(w, v) WB(w, uint8_t, v)
#define W16(w, v) WB(w, uint16_t, v)
#define W32(w, v) WB(w, uint32_t, v)
#define W64(w, v) WB(w, uint64_t, v)

static void wb_pad8(struct wbuf *w)
{
	static const uint8_t zero[8];
	if (w->len & 7)
		wb_bytes(w, zero, 8 - (w->len & 7));
}

static void wb_patch32(struct wbuf *w, size_t at, uint32_t v)
{
	if (w->p && at + 4 <= w->cap)
		memcpy(w->p + at, &v, 4);
}

size_t wb_rec_begin(struct wbuf *w, uint32_t type)
{
	size_t at = w->len;
	W32(w, type);
	W32(w, 0);
	return at;
}

void wb_rec_end(struct wbuf *w, size_t at)
{
	wb_patch32(w, at + 4, (uint32_t)(w->len - at - 8));
	wb_pad8(w);
}

/* A reference to the pid table (v3), or the number it stands for.  */
static void put_pid(struct wbuf *w, struct ipcns_pidref r)
{
	W32(w, w->pid_ns ? (uint32_t)ipcns_actor_nr(w->pid_ns, r, NULL) : r.id);
}

void img_put_actor(struct wbuf *w, const struct ipcns_ns *ns, uint32_t id)
{
	struct ipcns_pidchain ch;
	bool legacy;
	if (!ipcns_actor_get(ns, id, &ch, &legacy))
		return;
	size_t at = wb_rec_begin(w, REC_ACTOR);
	W32(w, id);
	W32(w, ch.n | (legacy ? 0x100u : 0));
	for (uint32_t i = 0; i < ch.n; i++) {
		W32(w, ch.lv[i].nr);
		W64(w, ch.lv[i].ns);
	}
	wb_rec_end(w, at);
}

void img_put_new_actors(struct wbuf *w, struct ipcns_ns *ns)
{
	struct ipcns_actors *t = &ns->actors;
	if (t->jlost) {
		for (uint32_t id = 1; id < t->top; id++)
			img_put_actor(w, ns, id);
		return;
	}
	for (uint32_t i = 0; i < t->njnew; i++)
		img_put_actor(w, ns, t->jnew[i]);
}

static void put_perm(struct wbuf *w, const struct ipcns_perm *p)
{
	W32(w, p->id);
	W32(w, p->key);
	W32(w, p->uid);
	W32(w, p->gid);
	W32(w, p->cuid);
	W32(w, p->cgid);
	W32(w, p->mode);
}

/* A parked call's deadline and the front end's record of it.  */
static void put_waiter(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_waiter *wt)
{
	uint8_t rec[IPCNS_STATE_WAITER_MAX];
	int n = ops && ops->waiter_save ? ops->waiter_save(ops->arg, wt, rec, sizeof(rec)) : -EINVAL;
	if (n < 0 || (size_t)n > sizeof(rec)) {
		if (!w->err)
			w->err = n < 0 ? n : -EOVERFLOW;
		n = 0;
	}
	W64(w, wt->deadline);
	W32(w, n);
	wb_bytes(w, rec, (size_t)n);
}

void img_put_ns(struct wbuf *w, struct ipcns_ns *ns, int version)
{
	const struct ipcns_limits *l = &ns->limits;
	size_t at = wb_rec_begin(w, REC_NS);
	W64(w, l->shmmax);
	W64(w, l->shmall);
	W32(w, l->shmmni);
	W32(w, l->shm_rmid_forced);
	W32(w, l->semmsl);
	W32(w, l->semmns);
	W32(w, l->semopm);
	W32(w, l->semmni);
	W32(w, l->msgmax);
	W32(w, l->msgmnb);
	W32(w, l->msgmni);
	W64(w, l->quota_shm_bytes);
	W64(w, l->quota_msg_bytes);
	W32(w, l->quota_objects_per_uid);
	if (img_fmt_budgets(version)) {
		W64(w, l->quota_mem_bytes);
		W32(w, l->quota_fds);
	}
	for (int k = 0; k < 3; k++) {
		W32(w, ns->ids[k].seq);
		W32(w, ns->ids[k].last_idx);
		W32(w, ns->ids[k].idr.next);
		W32(w, ns->ids[k].next_id);
	}
	W32(w, ns->uid_counts_len);
	for (size_t i = 0; i < ns->uid_counts_len; i++) {
		W32(w, ns->uid_counts[i].uid);
		W32(w, ns->uid_counts[i].count);
	}
	wb_rec_end(w, at);
}

void img_put_shm(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_shm *shp)
{
	struct ipcns_list *pos;
	int slot = ops && ops->fd_slot ? ops->fd_slot(ops->arg, shp->fd) : -EINVAL;
	if (slot < 0) {
		if (!w->err)
			w->err = slot;
		slot = 0;
	}
	size_t at = wb_rec_begin(w, REC_SHM);
	put_perm(w, &shp->perm);
	W64(w, shp->segsz);
	W64(w, shp->atime);
	W64(w, shp->dtime);
	W64(w, shp->ctime);
	put_pid(w, shp->cpid);
	put_pid(w, shp->lpid);
	W32(w, shp->creator_tgid);
	W32(w, slot);
	W8(w, shp->hugetlb);
	W8(w, shp->noreserve);
	W8(w, shp->lock_charged);
	W8(w, shp->detached_to_zero);
	W8(w, shp->attached_once);
	W64(w, shp->hugesize);
	W32(w, shp->lock_uid);
	W32(w, shp->nholders);
	for (uint32_t i = 0; i < shp->nholders; i++) {
		W32(w, shp->holders[i].tgid);
		put_pid(w, shp->holders[i].ns);
		W32(w, shp->holders[i].nvmas);
	}
	W32(w, ipcns_list_count(&shp->attaches));
	ipcns_list_for_each (pos, &shp->attaches) {
		struct shm_attach *a = ipcns_list_entry(pos, struct shm_attach, seg_link);
		W32(w, a->proc->tgid);
		W64(w, a->addr);
		W64(w, a->len);
	}
	wb_rec_end(w, at);
}

static void put_semq_list(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_list *head,
			  uint32_t list)
{
	struct ipcns_list *pos;
	ipcns_list_for_each (pos, head) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		W32(w, list);
		W32(w, q->nsops);
		W32(w, q->blocking);
		W8(w, q->alter);
		W8(w, q->undo != NULL);
		W32(w, q->host_tgid);
		put_pid(w, q->ns);
		put_waiter(w, ops, q->w);
		for (int i = 0; i < q->nsops; i++) {
			W16(w, q->sops[i].sem_num);
			W16(w, q->sops[i].sem_op);
			W16(w, q->sops[i].sem_flg);
		}
	}
}

/* List numbers of a sleeper: 0 the set's alter list, 1 its const list,
 * 2 + 2i semaphore i's alter list, 3 + 2i its const list.  */
/* `a' (may be NULL): a SETVAL or SETALL written as if done.  */
void img_put_sem(struct wbuf *w, const struct ipcns_state_ops *ops, struct sem_array *sma, int version,
		 const struct sem_ahead *a)
{
	struct ipcns_list *pos;
	size_t at = wb_rec_begin(w, REC_SEM);
	put_perm(w, &sma->perm);
	W64(w, a ? a->ctime : sma->ctime);
	W32(w, sma->nsems);
	if (!img_fmt_sem_otime_each(version))
		W64(w, img_set_otime(sma));
	for (int i = 0; i < sma->nsems; i++) {
		bool set = a && (a->semnum == -1 || a->semnum == i);
		W32(w, set ? (a->semnum < 0 ? a->vals[i] : a->val) : sma->sems[i].semval);
		put_pid(w, set ? a->pid : sma->sems[i].sempid);
		if (img_fmt_sem_otime_each(version))
			W64(w, sma->sems[i].otime);
	}
	if (a && a->sops && img_fmt_sem_otime_each(version)) {
		/* A semop's pids and time, into the values just written.  */
		size_t base = at + 8 + 7 * 4 + 8 + 4;
		for (int i = 0; i < a->nsops; i++)
			wb_patch32(w, base + 16 * (size_t)a->sops[i].sem_num + 4,
				   w->pid_ns ? (uint32_t)ipcns_actor_nr(w->pid_ns, a->pid, NULL) : a->pid.id);
		if (a->otime >= 0) {
			wb_patch32(w, base + 16 * (size_t)a->sops[0].sem_num + 8, (uint32_t)a->otime);
			wb_patch32(w, base + 16 * (size_t)a->sops[0].sem_num + 12, (uint32_t)((uint64_t)a->otime >> 32));
		}
	}
	W32(w, ipcns_list_count(&sma->undos));
	ipcns_list_for_each (pos, &sma->undos) {
		struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, set_link);
		W32(w, un->ulp->host_tgid);
		put_pid(w, un->ulp->ns);
		if (!a) {
			wb_bytes(w, un->semadj, (size_t)sma->nsems * sizeof(short));
			continue;
		}
		/* A value set by hand voids every adjustment of it.  */
		for (int i = 0; i < sma->nsems; i++) {
			short adj = a->semnum == -1 || a->semnum == i ? 0 : un->semadj[i];
			wb_bytes(w, &adj, sizeof(adj));
		}
	}
	/* The sleepers on the pending lists: one being answered (a commit
	 * made as its answer leaves) is off them, still on sma->waiters.  */
	uint32_t n = ipcns_list_count(&sma->pending_alter) + ipcns_list_count(&sma->pending_const);
	for (int i = 0; i < sma->nsems; i++)
		n += ipcns_list_count(&sma->sems[i].pending_alter) + ipcns_list_count(&sma->sems[i].pending_const);
	W32(w, n);
	put_semq_list(w, ops, &sma->pending_alter, 0);
	put_semq_list(w, ops, &sma->pending_const, 1);
	for (int i = 0; i < sma->nsems; i++) {
		put_semq_list(w, ops, &sma->sems[i].pending_alter, 2 + 2 * (uint32_t)i);
		put_semq_list(w, ops, &sma->sems[i].pending_const, 3 + 2 * (uint32_t)i);
	}
	wb_rec_end(w, at);
}

/* A starved sender's place in the namespace's starved list.  */
static uint32_t starve_rank(struct ipcns_ns *ns, const struct msgq_waiter *s)
{
	struct ipcns_list *pos;
	uint32_t r = 0;
	ipcns_list_for_each (pos, &ns->msg->starved) {
		if (ipcns_list_entry(pos, struct msgq_waiter, starvelink) == s)
			return r;
		r++;
	}
	return UINT32_MAX;
}

void img_put_msq(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_ns *ns, struct msgq *q,
		 uint32_t flags)
{
	struct ipcns_list *pos;
	size_t at = wb_rec_begin(w, REC_MSQ);
	put_perm(w, &q->perm);
	W32(w, flags);
	W64(w, q->stime);
	W64(w, q->rtime);
	W64(w, q->ctime);
	W64(w, q->qbytes);
	put_pid(w, q->lspid);
	put_pid(w, q->lrpid);
	if (!(flags & MSQ_NO_MESSAGES)) {
		W64(w, q->qnum);
		ipcns_list_for_each (pos, &q->messages) {
			struct msgq_msg *m = ipcns_list_entry(pos, struct msgq_msg, link);
			W64(w, m->mtype);
			W64(w, m->size);
			wb_bytes(w, m->mtext, m->size);
		}
	}
	W32(w, ipcns_list_count(&q->receivers));
	ipcns_list_for_each (pos, &q->receivers) {
		struct msgq_waiter *r = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		put_pid(w, r->pid);
		W32(w, r->mode);
		W64(w, r->msgtyp);
		W64(w, r->maxsize);
		W64(w, r->buf);
		W64(w, r->bufsz);
		put_waiter(w, ops, r->w);
	}
	W32(w, ipcns_list_count(&q->senders));
	ipcns_list_for_each (pos, &q->senders) {
		struct msgq_waiter *s = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		put_pid(w, s->pid);
		W64(w, s->msgp);
		W64(w, s->msgsz);
		W64(w, s->mtype);
		W32(w, s->msg ? UINT32_MAX : starve_rank(ns, s));
		put_waiter(w, ops, s->w);
		if (s->msg)
			wb_bytes(w, s->msg->mtext, s->msg->size);
	}
	wb_rec_end(w, at);
}

void img_put_image(struct wbuf *w, struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
		   size_t fe_len, int version)
{
	size_t start = w->len;
	uint32_t nrec = 1;

	wb_bytes(w, IMG_MAGIC, 8);
	W32(w, version);
	W32(w, IMG_HDR_SIZE);
	W64(w, 0); /* total length */
	W32(w, 0); /* crc */
	W32(w, 0); /* records */
	W32(w, page_size());
	W32(w, fe_len);
	W64(w, 0);
	wb_bytes(w, fe, fe_len);
	wb_pad8(w);
	img_put_ns(w, ns, version);
	const struct ipcns_ns *pid_ns = w->pid_ns;
	if (img_fmt_actors(version)) {
		for (uint32_t id = 1; id < ns->actors.top; id++) {
			size_t before = w->len;
			img_put_actor(w, ns, id);
			nrec += w->len != before;
		}
	} else {
		w->pid_ns = ns;
	}
	for (int k = 0; k < 3; k++) {
		struct ipcns_ids *ids = &ns->ids[k];
		ipcns_idr_for_each (&ids->idr, idx) {
			struct ipcns_perm *p = ipcns_idr_find(&ids->idr, idx);
			bool gone = false;
			const struct sem_ahead *a = NULL;
			/* A change journaled ahead of its answer: the image of
			 * the journal shows it done.  */
			if (p->jstate == IPCNS_J_AHEAD) {
				a = ipcns_journal_ahead_of(ns, p, &gone);
				if (gone)
					continue;
			}
			if (k == IPCNS_SHM)
				img_put_shm(w, ops, shm_of(p));
			else if (k == IPCNS_SEM)
				img_put_sem(w, ops, container_of(p, struct sem_array, perm), version, a);
			else
				img_put_msq(w, ops, ns, msgq_of(p), 0);
			nrec++;
		}
	}
	w->pid_ns = pid_ns;
	size_t total = w->len - start;
	if (w->p && w->len <= w->cap) {
		uint64_t t = total;
		memcpy(w->p + start + 16, &t, 8);
		memcpy(w->p + start + 28, &nrec, 4);
		uint32_t crc = ipcns_crc32c(0, w->p + start + IMG_HDR_SIZE, total - IMG_HDR_SIZE);
		memcpy(w->p + start + 24, &crc, 4);
	}
}

ssize_t ipcns_state_save_version(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
				 size_t fe_len, void *buf, size_t cap, size_t *need, int version)
{
	if (fe_len > IPCNS_STATE_FE_MAX || (fe_len && !fe) || version < IPCNS_STATE_VERSION_MIN ||
	    version > IPCNS_STATE_VERSION)
		return -EINVAL;
	struct wbuf w = { .p = buf, .cap = buf ? cap : 0 };
	img_put_image(&w, ns, ops, fe, fe_len, version);
	if (w.err)
		return w.err;
	if (need)
		*need = w.len;
	if (w.len > w.cap)
		return -ENOSPC;
	return (ssize_t)w.len;
}

ssize_t ipcns_state_save(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe, size_t fe_len,
			 void *buf, size_t cap, size_t *need)
{
	return ipcns_state_save_version(ns, ops, fe, fe_len, buf, cap, need, IPCNS_STATE_VERSION);
}
