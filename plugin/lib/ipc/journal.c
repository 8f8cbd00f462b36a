/* SPDX-License-Identifier: MIT */
/* The journal: the state of a namespace kept current in a memfd that a
 * keeper process holds, so that a SIGKILLed daemon loses nothing it
 * committed.
 *
 * Layout of the memfd.  Page 0 holds the header: a magic, the format, two
 * regions (offset and capacity) and one 64-bit word `state' = the active
 * region (bit 63) and how many of its bytes are committed.  The active
 * region holds a full image (image_save.c) followed by records, each framed as
 * {u32 crc32c, u32 length} + {u32 type, u32 len, payload, padding}.
 *
 * Stores into a MAP_SHARED memfd mapping are in the page cache the moment
 * they are made: a SIGKILL cannot lose them.  A commit writes its records
 * past the committed end, then publishes them with one release store of
 * `state'; a kill before that store leaves them uncommitted, and the
 * loader ignores them (and any half-written one).  Compaction writes a new
 * full image into the other region and switches `state' to it in the same
 * single store.
 *
 * What is written.  The core marks each object a change touches (core.h,
 * ipcns_jdirty and friends); a commit writes each marked object's record
 * (a semaphore set whole, a queue without its messages, a segment), the
 * namespace's record when its limits or counters changed, and the
 * removals.  A queue's messages are journaled one by one as they come
 * and go (REC_MSG), so a msgsnd costs its message, not its queue.  The
 * records are the image's own, so the reader (image_check.c) applies them to
 * the model it parsed from the image before checking and building.  */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "state_int.h"

#define J_MAGIC "IPCNSJNL"
#define J_VERSION 1
#define J_HDR 4096
#define J_ACTIVE (1ULL << 63)
#define REC_ANSWER 7 /* a call being answered: {i64 ret, u32 len, rec} */
/* Records beyond this (plus 4 times the image) are folded into a new
 * image.  */
#define J_SLACK (64u << 10)
/* The pages the journal holds are counted again every this many bytes of
 * records (and at each compaction).  */
#define J_RECOUNT (64u << 10)

struct jhdr {
	char magic[8];
	uint32_t version, pad;
	uint64_t roff[2], rcap[2];
	uint64_t state;
};

/* What the namespace record holds, to see whether it changed.  */
struct jns_print {
	struct ipcns_limits limits;
	struct {
		unsigned int seq;
		int last_idx, next, next_id;
	} ids[3];
	size_t nuid;
	uint32_t uid_crc;
};

struct ipcns_journal {
	/* Its namespace's: the memfd's pages and the fd are ipcnsd's, held
	 * for the namespace, charged (never refused: they mirror state the
	 * namespace holds already).  */
	struct ipcns_budget *budget;
	/* The memfd's pages, as the kernel counts them (st_blocks), and the
	 * pool they are counted in (the namespace's daemon-wide ceiling):
	 * outside the namespace's memory budget, which they mirror, but
	 * bounded by it (journal_over_bound).  */
	uint64_t held;
	struct ipcns_pool *pool;
	int fd;
	uint8_t *map;
	size_t size;
	struct ipcns_state_ops ops;
	size_t fe_len;
	uint8_t fe[IPCNS_STATE_FE_MAX];
	int active;
	uint64_t wpos, image_len;
	bool need_compact, starved;
	int err;
	/* The one change journaled ahead of its answer, if any.  */
	struct ipcns_perm *ahead;
	const struct sem_ahead *ahead_sem;
	struct ipcns_perm *dirty[3];
	struct jns_print last_ns;
	struct ipcns_journal_stats st;
};

static struct jhdr *hdr(struct ipcns_journal *j)
{
	return (struct jhdr *)j->map;
}

static void ns_print(struct ipcns_ns *ns, struct jns_print *p)
{
	memset(p, 0, sizeof(*p));
	p->limits = ns->limits;
	for (int k = 0; k < 3; k++) {
		p->ids[k].seq = ns->ids[k].seq;
		p->ids[k].last_idx = ns->ids[k].last_idx;
		p->ids[k].next = ns->ids[k].idr.next;
		p->ids[k].next_id = ns->ids[k].next_id;
	}
	p->nuid = ns->uid_counts_len;
	if (ns->uid_counts_len)
		p->uid_crc = ipcns_crc32c(0, ns->uid_counts, ns->uid_counts_len * sizeof(*ns->uid_counts));
}

/* Make the file at least `size' bytes and map all of it.  */
static int j_grow(struct ipcns_journal *j, size_t size)
{
	size = (size + J_HDR - 1) & ~(size_t)(J_HDR - 1);
	if (size <= j->size)
		return 0;
	if (ftruncate(j->fd, (off_t)size) < 0)
		return -errno;
	/* A new mapping of the whole file, not mremap: ThreadSanitizer does
	 * not follow mremap, and took one namespace's journal moved where
	 * another's had been for a race between their workers.  */
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	if (j->map)
		munmap(j->map, j->size);
	/* Not charged to the namespace's memory budget: the journal is a
	 * copy of what the budget and the quotas already bound, and a charge
	 * would turn a full queue's EAGAIN into ENOMEM.  Its pages are
	 * counted in the pool (j_recount) and bounded on their own.  */
	j->map = m;
	j->size = size;
	return 0;
}

/* Count the memfd's pages again, in the pool of the namespace's budget
 * (forced: they hold what is committed already).  */
static void j_recount(struct ipcns_journal *j)
{
	struct stat st;
	struct ipcns_pool *pool = j->budget ? j->budget->pool : NULL;
	uint64_t held = j->held;
	if (fstat(j->fd, &st) == 0)
		held = (uint64_t)st.st_blocks * 512;
	if (pool != j->pool) {
		if (j->pool)
			__atomic_sub_fetch(&j->pool->mem_used, j->held, __ATOMIC_RELAXED);
		if (pool)
			__atomic_add_fetch(&pool->mem_used, held, __ATOMIC_RELAXED);
		j->pool = pool;
	} else if (pool && held != j->held) {
		__atomic_add_fetch(&pool->mem_used, held - j->held, __ATOMIC_RELAXED);
	}
	j->held = held;
	j->st.held_bytes = held;
}

/* The journal of a namespace holds at most as much memory as its memory
 * budget: past it, its records are folded into a new image (the old
 * region's pages are then given back), as long as they are more than a
 * fraction of the image, so that a state whose image alone nears the
 * budget is not compacted at every commit.  */
static bool journal_over_bound(const struct ipcns_journal *j)
{
	uint64_t bound = j->budget ? j->budget->mem_limit : 0;
	uint64_t records = j->wpos - j->image_len;
	return bound && j->held > bound && records > J_SLACK && records > j->image_len / 2;
}

/* Room for n more bytes in the active region: grown in place when it
 * ends the file, else false (the next commit compacts).  */
static bool j_room(struct ipcns_journal *j, size_t n)
{
	struct jhdr *h = hdr(j);
	int a = j->active;
	if (j->wpos + n <= h->rcap[a])
		return true;
	if (h->roff[a] + h->rcap[a] != j->size)
		return false;
	size_t want = h->roff[a] + j->wpos + n;
	if (j_grow(j, want > 2 * j->size ? want : 2 * j->size) < 0)
		return false;
	h = hdr(j);
	h->rcap[a] = j->size - h->roff[a];
	return true;
}

/* Write one record (made by put) behind the others, framed.  */
typedef void (*put_fn)(struct wbuf *w, void *a, void *b);
static int j_put(struct ipcns_journal *j, put_fn put, void *a, void *b)
{
	if (j->need_compact)
		return 0;
	for (int tries = 0; tries < 2; tries++) {
		struct jhdr *h = hdr(j);
		uint64_t room = h->rcap[j->active] > j->wpos + 8 ? h->rcap[j->active] - j->wpos - 8 : 0;
		struct wbuf w = { .p = j->map + h->roff[j->active] + j->wpos + 8, .cap = room };
		put(&w, a, b);
		if (w.err)
			return w.err;
		if (w.len <= w.cap) {
			uint32_t frame[2] = { ipcns_crc32c(0, w.p, w.len), (uint32_t)w.len };
			memcpy(w.p - 8, frame, 8);
			uint64_t before = j->wpos;
			j->wpos += 8 + w.len;
			j->st.record_bytes += 8 + w.len;
			if (before / J_RECOUNT != j->wpos / J_RECOUNT) {
				j_recount(j);
				if (journal_over_bound(j))
					j->need_compact = true;
			}
			return 0;
		}
		if (!j_room(j, 8 + w.len))
			break;
	}
	j->need_compact = true;
	return 0;
}

/* The publishing store: everything written before it is committed.  */
static void j_publish(struct ipcns_journal *j)
{
	__atomic_store_n(&hdr(j)->state, ((uint64_t)j->active << 63) | j->wpos, __ATOMIC_RELEASE);
}

/* ---- The records.  */

static void put_actor(struct wbuf *w, void *a, void *b)
{
	img_put_actor(w, a, (uint32_t)(uintptr_t)b);
}

/* The pid table's new entries, before the records that refer to them
 * (the loader resolves references once every record is read, so this
 * order is only for the reader of a dump).  */
static int put_new_actors(struct ipcns_ns *ns)
{
	struct ipcns_journal *j = ns->journal;
	struct ipcns_actors *t = &ns->actors;
	int ret = 0;
	if (t->jlost) {
		for (uint32_t id = 1; id < t->top && ret == 0; id++)
			ret = j_put(j, put_actor, ns, (void *)(uintptr_t)id);
	} else {
		for (uint32_t i = 0; i < t->njnew && ret == 0; i++)
			ret = j_put(j, put_actor, ns, (void *)(uintptr_t)t->jnew[i]);
	}
	if (ret == 0 && !j->need_compact) {
		t->njnew = 0;
		t->jlost = false;
	}
	return ret;
}

static void put_ns(struct wbuf *w, void *a, void *b)
{
	img_put_ns(w, a, IPCNS_STATE_VERSION);
}
static void put_shm(struct wbuf *w, void *a, void *b)
{
	struct ipcns_journal *j = a;
	img_put_shm(w, &j->ops, b);
}
static void put_sem(struct wbuf *w, void *a, void *b)
{
	struct ipcns_journal *j = a;
	img_put_sem(w, &j->ops, b, IPCNS_STATE_VERSION, NULL);
}
struct ahead_arg {
	struct ipcns_journal *j;
	const struct sem_ahead *a;
};
static void put_sem_ahead(struct wbuf *w, void *a, void *b)
{
	struct ahead_arg *x = a;
	img_put_sem(w, &x->j->ops, b, IPCNS_STATE_VERSION, x->a);
}
struct msq_arg {
	struct ipcns_ns *ns;
	uint32_t flags;
};
static void put_msq(struct wbuf *w, void *a, void *b)
{
	struct msq_arg *m = a;
	img_put_msq(w, &m->ns->journal->ops, m->ns, b, m->flags);
}
struct del_arg {
	uint32_t kind;
	int32_t id;
};
static void put_del(struct wbuf *w, void *a, void *b)
{
	struct del_arg *d = a;
	size_t at = wb_rec_begin(w, REC_DEL);
	wb_bytes(w, &d->kind, 4);
	wb_bytes(w, &d->id, 4);
	wb_rec_end(w, at);
}
struct msg_arg {
	int32_t id;
	uint32_t op, index;
	struct msgq_msg *m;
};
static void put_msg(struct wbuf *w, void *a, void *b)
{
	struct msg_arg *x = a;
	size_t at = wb_rec_begin(w, REC_MSG);
	wb_bytes(w, &x->id, 4);
	wb_bytes(w, &x->op, 4);
	if (x->op == MSG_OP_REMOVE) {
		wb_bytes(w, &x->index, 4);
	} else {
		wb_bytes(w, &x->m->mtype, 8);
		wb_bytes(w, &x->m->size, 8);
		wb_bytes(w, x->m->mtext, x->m->size);
	}
	wb_rec_end(w, at);
}
struct ans_arg {
	const void *rec;
	uint32_t len;
	int64_t ret;
};
static void put_answer(struct wbuf *w, void *a, void *b)
{
	struct ans_arg *x = a;
	size_t at = wb_rec_begin(w, REC_ANSWER);
	wb_bytes(w, &x->ret, 8);
	wb_bytes(w, &x->len, 4);
	wb_bytes(w, x->rec, x->len);
	wb_rec_end(w, at);
}

/* ---- Hooks the core calls (core.h).  */

void ipcns_journal_mark(struct ipcns_ns *ns, int kind, struct ipcns_perm *p, int state)
{
	struct ipcns_journal *j = ns->journal;
	if (p->jstate == IPCNS_J_CLEAN) {
		p->jnext = j->dirty[kind];
		j->dirty[kind] = p;
		p->jstate = (uint8_t)state;
	} else if (state > p->jstate) {
		p->jstate = (uint8_t)state;
	}
}

static void unlink_dirty(struct ipcns_journal *j, int kind, struct ipcns_perm *p)
{
	for (struct ipcns_perm **pp = &j->dirty[kind]; *pp; pp = &(*pp)->jnext) {
		if (*pp == p) {
			*pp = p->jnext;
			break;
		}
	}
	p->jnext = NULL;
}

void ipcns_journal_del(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	struct ipcns_journal *j = ns->journal;
	bool was_new = p->jstate == IPCNS_J_NEW;
	if (p->jstate == IPCNS_J_AHEAD) {
		/* Its removal is journaled already.  */
		p->jstate = IPCNS_J_CLEAN;
		j->ahead = NULL;
		return;
	}
	if (p->jstate != IPCNS_J_CLEAN)
		unlink_dirty(j, kind, p);
	p->jstate = IPCNS_J_CLEAN;
	/* An object never written needs no removal.  */
	if (!was_new) {
		struct del_arg d = { (uint32_t)kind, p->id };
		int ret = j_put(j, put_del, &d, NULL);
		if (ret < 0 && !j->err)
			j->err = ret;
	}
}

void ipcns_journal_ahead_del(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	ipcns_journal_del(ns, kind, p);
	p->jstate = IPCNS_J_AHEAD;
	ns->journal->ahead = p;
	ns->journal->ahead_sem = NULL;
}

void ipcns_journal_ahead_sem(struct ipcns_ns *ns, struct sem_array *sma, const struct sem_ahead *a)
{
	struct ipcns_journal *j = ns->journal;
	struct ipcns_perm *p = &sma->perm;
	if (p->jstate == IPCNS_J_NEW)
		return; /* written whole at the commit, as it is by then */
	if (p->jstate != IPCNS_J_CLEAN)
		unlink_dirty(j, IPCNS_SEM, p);
	struct ahead_arg x = { j, a };
	int ret = put_new_actors(ns);
	if (ret == 0)
		ret = j_put(j, put_sem_ahead, &x, sma);
	if (ret < 0 && !j->err)
		j->err = ret;
	p->jstate = IPCNS_J_AHEAD;
	j->ahead = p;
	j->ahead_sem = a;
}

/* For an image written while a change is journaled ahead of its answer:
 * NULL and *gone when the object is to be left out, else the SETVAL or
 * SETALL to write it with.  */
const struct sem_ahead *ipcns_journal_ahead_of(struct ipcns_ns *ns, struct ipcns_perm *p, bool *gone)
{
	struct ipcns_journal *j = ns->journal;
	*gone = false;
	if (!j || j->ahead != p)
		return NULL;
	*gone = !j->ahead_sem;
	return j->ahead_sem;
}

void ipcns_journal_settle(struct ipcns_ns *ns, int kind, struct ipcns_perm *p, bool failed)
{
	if (p->jstate != IPCNS_J_AHEAD)
		return;
	p->jstate = IPCNS_J_CLEAN;
	ns->journal->ahead = NULL;
	/* Done: the record written ahead is the object; what changes next
	 * marks it again.  */
	if (failed)
		ipcns_journal_mark(ns, kind, p, IPCNS_J_FULL);
}

void ipcns_journal_msg(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m, int op)
{
	struct ipcns_journal *j = ns->journal;
	/* A queue written whole at the next commit, or going away, needs
	 * no message records.  */
	if (q->perm.deleted || q->perm.jstate >= IPCNS_J_FULL || j->need_compact)
		return;
	struct msg_arg x = { .id = q->perm.id, .op = (uint32_t)op, .m = m };
	if (op == MSG_OP_REMOVE) {
		struct ipcns_list *pos;
		ipcns_list_for_each (pos, &q->messages) {
			if (pos == &m->link)
				break;
			x.index++;
		}
	}
	int ret = j_put(j, put_msg, &x, NULL);
	if (ret < 0 && !j->err)
		j->err = ret;
}

void ipcns_journal_starved(struct ipcns_ns *ns)
{
	ns->journal->starved = true;
}

/* ---- Compaction: a full image into the other region.  */

static void put_image(struct wbuf *w, void *a, void *b)
{
	struct ipcns_ns *ns = a;
	struct ipcns_journal *j = ns->journal;
	img_put_image(w, ns, &j->ops, j->fe, j->fe_len, IPCNS_STATE_VERSION);
}

static void clear_dirty(struct ipcns_ns *ns)
{
	struct ipcns_journal *j = ns->journal;
	for (int k = 0; k < 3; k++) {
		while (j->dirty[k]) {
			struct ipcns_perm *p = j->dirty[k];
			j->dirty[k] = p->jnext;
			p->jnext = NULL;
			p->jstate = IPCNS_J_CLEAN;
		}
	}
	ns->jshm = false;
	j->starved = false;
	ns->actors.njnew = 0;
	ns->actors.jlost = false;
	ns_print(ns, &j->last_ns);
}

static int compact(struct ipcns_ns *ns)
{
	struct ipcns_journal *j = ns->journal;
	int other = !j->active;

	struct wbuf w = { 0 };
	put_image(&w, ns, NULL);
	if (w.err)
		return w.err;
	size_t need = w.len, old_size = j->size;
	struct jhdr *h = hdr(j);
	uint64_t off = h->roff[other], cap = h->rcap[other];
	uint64_t aoff = h->roff[j->active], aend = aoff + h->rcap[j->active];
	/* The other region is reused only when it is big enough, inside the
	 * file and clear of the header and of the active region, which
	 * holds the committed state until the switch (a journal left by
	 * another daemon is not trusted for that).  */
	if (cap < need + J_SLACK / 4 || off < J_HDR || off > j->size || cap > j->size - off ||
	    (off < aend && aoff < off + cap)) {
		/* Too small: a new place at the end of the file, room for
		 * the records that will follow.  */
		off = (j->size + J_HDR - 1) & ~(uint64_t)(J_HDR - 1);
		cap = ((2 * need + J_SLACK) + J_HDR - 1) & ~(uint64_t)(J_HDR - 1);
		int ret = j_grow(j, off + cap);
		if (ret < 0)
			return ret;
		h = hdr(j);
	}
	w = (struct wbuf){ .p = j->map + off, .cap = cap };
	put_image(&w, ns, NULL);
	if (w.err || w.len != need)
		return w.err ? w.err : -EIO;
	/* The new region is described before it is made active.  */
	h->roff[other] = off;
	h->rcap[other] = cap;
	uint64_t old_off = h->roff[j->active], old_cap = h->rcap[j->active];
	j->active = other;
	j->wpos = j->image_len = need;
	j->need_compact = false;
	j_publish(j);
	/* A large old region's pages go back to the system; a small one is
	 * kept resident for the next compaction (faulting its pages in again
	 * costs more than the records).  */
	if ((old_cap > 4 * J_SLACK || (j->budget && j->budget->mem_limit && j->held > j->budget->mem_limit)) &&
	    old_off >= J_HDR && old_off + old_cap <= old_size)
		fallocate(j->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)old_off, (off_t)old_cap);
	j_recount(j);
	j->st.compactions++;
	j->st.image_bytes = need;
	j->st.record_bytes = 0;
	clear_dirty(ns);
	return 0;
}

/* ---- Commit.  */

static int commit(struct ipcns_ns *ns, const struct ans_arg *ans)
{
	struct ipcns_journal *j = ns->journal;
	int ret;

	if (!j)
		return 0;
	if (ns->jshm) {
		struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
		for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1))
			ipcns_journal_mark(ns, IPCNS_SHM, ipcns_idr_find(&ids->idr, idx), IPCNS_J_FULL);
	}
	if (j->starved) {
		/* Starved senders' order is by their place in the namespace's
		 * list: every queue that has one is written again.  */
		struct ipcns_list *pos;
		ipcns_list_for_each (pos, &ns->msg->starved) {
			struct msgq_waiter *s = ipcns_list_entry(pos, struct msgq_waiter, starvelink);
			if (s->q->perm.jstate == IPCNS_J_CLEAN)
				ipcns_journal_mark(ns, IPCNS_MSG, &s->q->perm, IPCNS_J_META);
		}
	}
	if (!j->need_compact && (j->wpos - j->image_len > 4 * j->image_len + J_SLACK || journal_over_bound(j)))
		j->need_compact = true;
	if (!j->need_compact) {
		ret = put_new_actors(ns);
		if (ret < 0)
			return ret;
	}
	if (!j->need_compact) {
		for (int k = 0; k < 3 && !j->need_compact; k++) {
			for (struct ipcns_perm *p = j->dirty[k]; p && !j->need_compact; p = p->jnext) {
				if (k == IPCNS_SHM) {
					ret = j_put(j, put_shm, j, shm_of(p));
				} else if (k == IPCNS_SEM) {
					ret = j_put(j, put_sem, j, container_of(p, struct sem_array, perm));
				} else {
					struct msq_arg m = { ns, p->jstate == IPCNS_J_META ? MSQ_NO_MESSAGES : 0 };
					ret = j_put(j, put_msq, &m, msgq_of(p));
				}
				if (ret < 0)
					return ret;
			}
		}
		struct jns_print now;
		ns_print(ns, &now);
		if (!j->need_compact && memcmp(&now, &j->last_ns, sizeof(now)) != 0) {
			ret = j_put(j, put_ns, ns, NULL);
			if (ret < 0)
				return ret;
		}
	}
	if (j->need_compact) {
		ret = compact(ns);
		if (ret < 0)
			return ret;
	} else {
		clear_dirty(ns);
	}
	if (ans) {
		ret = j_put(j, put_answer, (void *)ans, NULL);
		if (ret < 0)
			return ret;
		if (j->need_compact) {
			/* No room even for that: a new image, then it.  */
			ret = compact(ns);
			if (ret == 0)
				ret = j_put(j, put_answer, (void *)ans, NULL);
			if (ret < 0 || j->need_compact)
				return ret < 0 ? ret : -ENOSPC;
		}
	}
	j_publish(j);
	j->st.commits++;
	if (j->err) {
		/* A record could not be made (a callback failed): a full
		 * image makes up for it.  */
		ret = j->err;
		j->err = 0;
		j->need_compact = true;
		return ret;
	}
	return 0;
}

int ipcns_journal_commit(struct ipcns_ns *ns)
{
	return commit(ns, NULL);
}

int ipcns_journal_commit_answer(struct ipcns_ns *ns, const void *rec, size_t len, int64_t ret)
{
	if (len > IPCNS_STATE_WAITER_MAX)
		return -EINVAL;
	struct ans_arg a = { rec, (uint32_t)len, ret };
	return commit(ns, &a);
}

/* ---- Attach, detach.  */

static int journal_open(struct ipcns_ns *ns, int memfd, const struct ipcns_state_ops *ops, const void *fe,
			size_t fe_len, struct ipcns_journal **out)
{
	if (!ops || fe_len > IPCNS_STATE_FE_MAX || (fe_len && !fe))
		return -EINVAL;
	struct ipcns_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = fcntl(memfd, F_DUPFD_CLOEXEC, 3);
	if (j->fd < 0) {
		free(j);
		return -errno;
	}
	j->budget = &ns->budget;
	ipcns_budget_fd_charge(j->budget, 1, true);
	j->ops = *ops;
	j->fe_len = fe_len;
	if (fe_len)
		memcpy(j->fe, fe, fe_len);
	*out = j;
	return 0;
}

static void journal_free(struct ipcns_journal *j)
{
	if (j->map)
		munmap(j->map, j->size);
	if (j->pool)
		__atomic_sub_fetch(&j->pool->mem_used, j->held, __ATOMIC_RELAXED);
	ipcns_budget_fd_uncharge(j->budget, 1);
	close(j->fd);
	free(j);
}

/* Start (or go on) journaling into j's memfd: an empty memfd gets a
 * header; a journal's header is kept (its active region stays valid until
 * the new image is published).  */
static int journal_start(struct ipcns_ns *ns, struct ipcns_journal *j)
{
	struct stat st;
	if (fstat(j->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		int ret = j_grow(j, J_HDR);
		if (ret < 0)
			return ret;
		struct jhdr *h = hdr(j);
		memset(h, 0, sizeof(*h));
		memcpy(h->magic, J_MAGIC, 8);
		h->version = J_VERSION;
	} else {
		int ret = j_grow(j, (size_t)st.st_size);
		if (ret < 0)
			return ret;
		if (j->size < J_HDR || memcmp(hdr(j)->magic, J_MAGIC, 8) != 0 || hdr(j)->version != J_VERSION)
			return -EBADMSG;
		j->active = (int)(hdr(j)->state >> 63);
	}
	ns->journal = j;
	int ret = compact(ns);
	if (ret < 0)
		ns->journal = NULL;
	return ret;
}

int ipcns_journal_attach(struct ipcns_ns *ns, int memfd, const struct ipcns_state_ops *ops, const void *fe,
			 size_t fe_len)
{
	struct ipcns_journal *j;
	if (ns->journal)
		return -EBUSY;
	int ret = journal_open(ns, memfd, ops, fe, fe_len, &j);
	if (ret < 0)
		return ret;
	ret = journal_start(ns, j);
	if (ret < 0)
		journal_free(j);
	return ret;
}

void ipcns_journal_close(struct ipcns_ns *ns)
{
	struct ipcns_journal *j = ns->journal;
	if (!j)
		return;
	for (int k = 0; k < 3; k++) {
		while (j->dirty[k]) {
			struct ipcns_perm *p = j->dirty[k];
			j->dirty[k] = p->jnext;
			p->jnext = NULL;
			p->jstate = IPCNS_J_CLEAN;
		}
	}
	ns->journal = NULL;
	journal_free(j);
}

void ipcns_journal_detach(struct ipcns_ns *ns)
{
	ipcns_journal_commit(ns);
	ipcns_journal_close(ns);
}

int ipcns_journal_stats(const struct ipcns_ns *ns, struct ipcns_journal_stats *st)
{
	if (!ns->journal)
		return -ENOENT;
	*st = ns->journal->st;
	st->file_bytes = ns->journal->size;
	return 0;
}

/* ---- Recovery.  */

static int jfail(char *err, size_t errlen, int ret, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int jfail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	state_verror(err, errlen, "state journal", NULL, fmt, ap);
	va_end(ap);
	return ret;
}

/* Parse the committed part of a mapped journal into a model.  */
static int replay(const uint8_t *map, size_t size, struct img_model **out, int *active,
		  struct ipcns_journal_pending *pending, char *err, size_t errlen)
{
	struct jhdr h;
	if (size < J_HDR)
		return jfail(err, errlen, -EBADMSG, "%zu bytes: no header", size);
	memcpy(&h, map, sizeof(h));
	if (memcmp(h.magic, J_MAGIC, 8) != 0)
		return jfail(err, errlen, -EBADMSG, "not an ipcns journal (no IPCNSJNL magic)");
	if (h.version > J_VERSION)
		return jfail(err, errlen, -EPROTONOSUPPORT,
			     "journal format %u is newer than this ipcnsd knows (%d): refused, left untouched",
			     h.version, J_VERSION);
	if (h.version != J_VERSION)
		return jfail(err, errlen, -EBADMSG, "journal format %u", h.version);
	int a = (int)(h.state >> 63);
	uint64_t committed = h.state & ~J_ACTIVE;
	if (h.roff[a] < J_HDR || h.roff[a] > size || h.rcap[a] > size - h.roff[a] || committed > h.rcap[a])
		return jfail(err, errlen, -EBADMSG, "region %d at %llu+%llu (%llu committed) outside %zu bytes", a,
			     (unsigned long long)h.roff[a], (unsigned long long)h.rcap[a],
			     (unsigned long long)committed, size);
	const uint8_t *reg = map + h.roff[a];
	struct img_model *m;
	int ret = img_model_parse(reg, (size_t)committed, &m, err, errlen);
	if (ret < 0)
		return ret;
	uint64_t pos;
	memcpy(&pos, reg + 16, 8); /* the image's length (checked by the parse) */
	if (pending)
		pending->have = false;
	while (pos < committed) {
		uint32_t frame[2], type, len;
		if (committed - pos < 16) {
			ret = jfail(err, errlen, -EBADMSG, "a record cut at %llu", (unsigned long long)pos);
			break;
		}
		memcpy(frame, reg + pos, 8);
		if (frame[1] < 8 || frame[1] > committed - pos - 8 || (frame[1] & 7)) {
			ret = jfail(err, errlen, -EBADMSG, "a record of %u bytes at %llu", frame[1],
				    (unsigned long long)pos);
			break;
		}
		const uint8_t *rec = reg + pos + 8;
		if (ipcns_crc32c(0, rec, frame[1]) != frame[0]) {
			ret = jfail(err, errlen, -EBADMSG, "checksum mismatch in the record at %llu",
				    (unsigned long long)pos);
			break;
		}
		memcpy(&type, rec, 4);
		memcpy(&len, rec + 4, 4);
		if (len > frame[1] - 8) {
			ret = jfail(err, errlen, -EBADMSG, "record length %u in a frame of %u", len, frame[1]);
			break;
		}
		if (type == REC_ANSWER) {
			uint32_t rlen;
			if (len < 12 || (memcpy(&rlen, rec + 16, 4), rlen > IPCNS_STATE_WAITER_MAX || rlen != len - 12)) {
				ret = jfail(err, errlen, -EBADMSG, "an answer record of %u bytes", len);
				break;
			}
			if (pending) {
				pending->have = true;
				memcpy(&pending->ret, rec + 8, 8);
				pending->len = rlen;
				memcpy(pending->rec, rec + 20, rlen);
			}
		} else {
			ret = img_model_apply(m, type, rec + 8, len, err, errlen);
			if (ret < 0)
				break;
		}
		pos += 8 + frame[1];
	}
	if (ret < 0) {
		img_model_free(m);
		return ret;
	}
	*active = a;
	*out = m;
	return 0;
}

int ipcns_journal_recover(int memfd, const struct ipcns_host_ops *host, void *host_data,
			  const struct ipcns_state_ops *ops, const void *fe, size_t fe_len, struct ipcns_ns **out,
			  struct ipcns_journal_pending *pending, char *err, size_t errlen)
{
	struct stat st;
	struct img_model *m = NULL;
	int active = 0;

	if (err && errlen)
		err[0] = 0;
	if (fstat(memfd, &st) < 0)
		return -errno;
	if (st.st_size < J_HDR)
		return jfail(err, errlen, -EBADMSG, "%lld bytes: no header", (long long)st.st_size);
	/* Read-only until the state is known good: a refused journal is
	 * left as it was.  */
	size_t size = (size_t)st.st_size;
	const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED)
		return -errno;
	int ret = replay(map, size, &m, &active, pending, err, errlen);
	if (ret == 0) {
		ret = img_model_check(m, err, errlen);
		if (ret == 0)
			ret = img_model_build(m, host, host_data, ops, out, err, errlen);
		img_model_free(m);
	}
	munmap((void *)map, size);
	if (ret < 0)
		return ret;

	struct ipcns_journal *j;
	ret = journal_open(*out, memfd, ops, fe, fe_len, &j);
	if (ret == 0) {
		ret = journal_start(*out, j);
		if (ret < 0)
			journal_free(j);
	}
	if (ret < 0) {
		ipcns_ns_free(*out);
		*out = NULL;
		return jfail(err, errlen, ret, "loaded, but cannot go on journaling: %s", strerror(-ret));
	}
	return 0;
}
