/* SPDX-License-Identifier: MIT */
/* The state image, read without trusting a byte of it: its records are
 * parsed into a model (every length checked against what is left of the
 * input before anything is allocated for it), and the model is checked as
 * a whole (ids unique, keys unique, counts and sizes that agree, parked
 * calls on lists where the core could have put them).  Only then does
 * image_load.c build a namespace from it.  The journal (journal.c) applies
 * its records to the same model between the two steps.  */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>

#include "image.h"

/* ---- Reading into a model.  */

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
	char *err;
	size_t errlen;
	const char *what; /* the record being read, for messages */
	struct img_model *m;
};

void state_verror(char *err, size_t errlen, const char *kind, const char *what, const char *fmt, va_list ap)
{
	if (!err || !errlen)
		return;
	int n = snprintf(err, errlen, "%s: %s%s", kind, what ? what : "", what ? ": " : "");
	if (n < 0 || (size_t)n >= errlen)
		return;
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	if (r->bad)
		return;
	r->bad = true;
	va_start(ap, fmt);
	state_verror(r->err, r->errlen, "state image", r->what, fmt, ap);
	va_end(ap);
}

/* n bytes, or NULL (and the read fails) when fewer are left.  */
static const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->bad)
		return NULL;
	if (n > r->len - r->off) {
		fail(r, "truncated (%zu bytes wanted at offset %zu of %zu)", n, r->off, r->len);
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

#define RD(type)                                                                                                   \
	static type rd_##type(struct rd *r)                                                                        \
	{                                                                                                          \
		type v = 0;                                                                                        \
		const uint8_t *p = rd_take(r, sizeof(v));                                                          \
		if (p)                                                                                             \
			memcpy(&v, p, sizeof(v));                                                                  \
		return v;                                                                                          \
	}
RD(uint8_t)
RD(uint16_t)
RD(uint32_t)
RD(uint64_t)
#define R8(r) rd_uint8_t(r)
#define R16(r) rd_uint16_t(r)
#define R32(r) rd_uint32_t(r)
#define RI32(r) ((int32_t)rd_uint32_t(r))
#define R64(r) rd_uint64_t(r)
#define RI64(r) ((int64_t)rd_uint64_t(r))

/* A count of items of at least `min_size' bytes each: no more than the
 * input can hold, so nothing is allocated beyond its size.  */
static uint32_t rd_count(struct rd *r, size_t min_size, const char *what)
{
	uint32_t n = R32(r);
	if (!r->bad && min_size && n > (r->len - r->off) / min_size) {
		fail(r, "%u %s cannot fit in the %zu bytes left", n, what, r->len - r->off);
		return 0;
	}
	return n;
}

static void *rd_alloc(struct rd *r, size_t n, size_t size)
{
	if (r->bad || n == 0)
		return NULL;
	void *p = calloc(n, size);
	if (!p)
		fail(r, "out of memory");
	return p;
}

/* A count (rd_count) into *n, and an array of that many items of `size'.  */
static void *rd_array(struct rd *r, uint32_t *n, size_t min_size, size_t size, const char *what)
{
	*n = rd_count(r, min_size, what);
	return rd_alloc(r, *n, size);
}


static void m_shm_free(struct m_shm *s)
{
	if (!s)
		return;
	free(s->holders);
	free(s->attaches);
	free(s);
}

static void m_sem_free(struct m_sem *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nundos; i++)
		free(s->undos[i].adj);
	for (uint32_t i = 0; i < s->nq; i++)
		free(s->q[i].sops);
	free(s->undos);
	free(s->q);
	free(s->sems);
	free(s);
}

static void m_msq_free(struct m_msq *q)
{
	if (!q)
		return;
	free(q->msgs);
	free(q->recv);
	free(q->send);
	free(q);
}

static void m_obj_free(int kind, void *o)
{
	if (kind == IPCNS_SHM)
		m_shm_free(o);
	else if (kind == IPCNS_SEM)
		m_sem_free(o);
	else
		m_msq_free(o);
}

void img_model_free(struct img_model *m)
{
	if (!m)
		return;
	for (int k = 0; k < 3; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		ipcns_idr_for_each (idr, idx)
			m_obj_free(k, ipcns_idr_find(idr, idx));
		ipcns_idr_destroy(idr);
	}
	free(m->uids);
	free(m->actors);
	free(m);
}

static bool actor_add(struct rd *r, const struct m_actor *a)
{
	struct img_model *m = r->m;
	if (m->nactors == m->cap_actors) {
		uint32_t cap = m->cap_actors ? m->cap_actors * 2 : 16;
		struct m_actor *v = cap > m->cap_actors ? realloc(m->actors, cap * sizeof(*v)) : NULL;
		if (!v) {
			fail(r, "out of memory");
			return false;
		}
		m->actors = v;
		m->cap_actors = cap;
	}
	m->actors[m->nactors] = *a;
	m->actors[m->nactors++].seq = m->actor_seq++;
	return true;
}

/* A pid field: a reference to the pid table (v3), or a number, which
 * becomes a legacy entry shown to every reader as it was.  */
static int32_t rd_pid(struct rd *r)
{
	int32_t v = RI32(r);
	if (r->bad || img_fmt_actors(r->m->version))
		return v;
	if (v <= 0)
		return 0;
	struct m_actor a = { .id = 0x80000000u | (uint32_t)v, .n = 1, .legacy = true, .nr = v };
	return actor_add(r, &a) ? (int32_t)a.id : 0;
}

static void parse_actor(struct rd *r)
{
	struct m_actor a = { 0 };
	a.id = R32(r);
	uint32_t f = R32(r);
	a.n = f & 0xff;
	a.legacy = f & 0x100;
	if (!r->bad && (!img_fmt_actors(r->m->version) || a.id == 0 || a.id > 0x7fffffffu || a.n == 0 ||
			a.n > IPCNS_PID_LEVELS || (f & ~0x1ffu) || (a.legacy && a.n != 1)))
		fail(r, "pid table entry %u of %u levels (flags 0x%x) in a version %d image", a.id, a.n, f,
		     r->m->version);
	a.lv = rd_take(r, (size_t)a.n * 12);
	for (uint32_t i = 0; a.lv && i < a.n && !r->bad; i++) {
		int32_t nr;
		memcpy(&nr, a.lv + 12 * i, 4);
		if (nr <= 0)
			fail(r, "pid table entry %u: number %d at level %u", a.id, nr, i);
	}
	if (!r->bad)
		actor_add(r, &a);
}

static void rd_perm(struct rd *r, struct m_perm *p)
{
	p->id = RI32(r);
	p->key = RI32(r);
	p->uid = R32(r);
	p->gid = R32(r);
	p->cuid = R32(r);
	p->cgid = R32(r);
	p->mode = R32(r);
}

static void rd_waiter(struct rd *r, struct m_waiter *w)
{
	w->deadline = RI64(r);
	w->fe_len = R32(r);
	if (!r->bad && w->fe_len > IPCNS_STATE_WAITER_MAX)
		fail(r, "a parked call's front-end record of %u bytes (at most %d)", w->fe_len,
		     IPCNS_STATE_WAITER_MAX);
	w->fe = rd_take(r, w->fe_len);
	if (!r->bad && w->deadline < -1)
		fail(r, "a parked call's deadline %lld", (long long)w->deadline);
}

static void parse_ns(struct rd *r, struct img_model *m)
{
	struct ipcns_limits *l = &m->limits;
	l->shmmax = R64(r);
	l->shmall = R64(r);
	l->shmmni = R32(r);
	l->shm_rmid_forced = RI32(r);
	l->semmsl = RI32(r);
	l->semmns = RI32(r);
	l->semopm = RI32(r);
	l->semmni = RI32(r);
	l->msgmax = R32(r);
	l->msgmnb = R32(r);
	l->msgmni = R32(r);
	l->quota_shm_bytes = R64(r);
	l->quota_msg_bytes = R64(r);
	l->quota_objects_per_uid = R32(r);
	if (img_fmt_budgets(m->version)) {
		l->quota_mem_bytes = R64(r);
		l->quota_fds = R32(r);
	} else {
		img_migrate_limits(l, m->version);
	}
	for (int k = 0; k < 3; k++) {
		m->ids[k].seq = R32(r);
		m->ids[k].last_idx = RI32(r);
		m->ids[k].next = RI32(r);
		m->ids[k].next_id = RI32(r);
	}
	uint32_t n;
	struct ipcns_uid_count_rec *u = rd_array(r, &n, 8, sizeof(*u), "uid counts");
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		u[i].uid = R32(r);
		u[i].count = R32(r);
	}
	if (r->bad) {
		free(u);
		return;
	}
	free(m->uids);
	m->uids = u;
	m->nuid = n;
	m->have_ns = true;
}

static struct m_shm *parse_shm(struct rd *r)
{
	struct m_shm *s = rd_alloc(r, 1, sizeof(*s));
	if (!s)
		return NULL;
	rd_perm(r, &s->perm);
	s->segsz = R64(r);
	s->atime = RI64(r);
	s->dtime = RI64(r);
	s->ctime = RI64(r);
	s->cpid = rd_pid(r);
	s->lpid = rd_pid(r);
	s->creator_tgid = RI32(r);
	s->slot = R32(r);
	uint8_t b[5];
	for (int i = 0; i < 5; i++) {
		b[i] = R8(r);
		if (b[i] > 1)
			fail(r, "a flag of value %u", b[i]);
	}
	s->hugetlb = b[0];
	s->noreserve = b[1];
	s->lock_charged = b[2];
	s->detached_to_zero = b[3];
	s->attached_once = b[4];
	s->hugesize = R64(r);
	s->lock_uid = R32(r);
	s->holders = rd_array(r, &s->nholders, 12, sizeof(*s->holders), "holders");
	for (uint32_t i = 0; i < s->nholders && !r->bad; i++) {
		s->holders[i].tgid = RI32(r);
		s->holders[i].ns.id = (uint32_t)rd_pid(r);
		s->holders[i].nvmas = R32(r);
	}
	s->attaches = rd_array(r, &s->nattaches, 20, sizeof(*s->attaches), "attach records");
	for (uint32_t i = 0; i < s->nattaches && !r->bad; i++) {
		s->attaches[i].tgid = RI32(r);
		s->attaches[i].addr = R64(r);
		s->attaches[i].len = R64(r);
	}
	if (r->bad) {
		m_shm_free(s);
		return NULL;
	}
	return s;
}

static struct m_sem *parse_sem(struct rd *r, int version)
{
	struct m_sem *s = rd_alloc(r, 1, sizeof(*s));
	if (!s)
		return NULL;
	rd_perm(r, &s->perm);
	s->ctime = RI64(r);
	bool each = img_fmt_sem_otime_each(version);
	int64_t set_otime = 0;
	s->nsems = rd_count(r, each ? 16 : 8, "semaphores");
	if (!each)
		set_otime = RI64(r);
	if (!r->bad && s->nsems == 0)
		fail(r, "a set of 0 semaphores");
	s->sems = rd_alloc(r, s->nsems, sizeof(*s->sems));
	for (uint32_t i = 0; i < s->nsems && !r->bad; i++) {
		s->sems[i].val = RI32(r);
		s->sems[i].pid = rd_pid(r);
		if (each)
			s->sems[i].otime = RI64(r);
	}
	img_migrate_sem(s, set_otime, version);

	s->undos = rd_array(r, &s->nundos, 8 + (size_t)s->nsems * 2, sizeof(*s->undos), "undo structures");
	for (uint32_t i = 0; i < s->nundos && !r->bad; i++) {
		s->undos[i].host_tgid = RI32(r);
		s->undos[i].ns_tgid = rd_pid(r);
		s->undos[i].adj = rd_alloc(r, s->nsems, sizeof(short));
		const uint8_t *p = rd_take(r, (size_t)s->nsems * sizeof(short));
		if (p && s->undos[i].adj)
			memcpy(s->undos[i].adj, p, (size_t)s->nsems * sizeof(short));
	}
	s->q = rd_array(r, &s->nq, 36, sizeof(*s->q), "sleeping operations");
	for (uint32_t i = 0; i < s->nq && !r->bad; i++) {
		struct m_semq *q = &s->q[i];
		q->list = R32(r);
		q->nsops = R32(r);
		q->blocking = R32(r);
		uint8_t alter = R8(r), has_undo = R8(r);
		if (alter > 1 || has_undo > 1)
			fail(r, "a flag of value %u", alter > 1 ? alter : has_undo);
		q->alter = alter;
		q->has_undo = has_undo;
		q->host_tgid = RI32(r);
		q->ns_tgid = rd_pid(r);
		rd_waiter(r, &q->w);
		if (!r->bad && (q->nsops == 0 || q->nsops > (r->len - r->off) / 6)) {
			fail(r, "a sleeping operation of %u sops", q->nsops);
			break;
		}
		q->sops = rd_alloc(r, q->nsops, sizeof(*q->sops));
		for (uint32_t j = 0; j < q->nsops && !r->bad; j++) {
			q->sops[j].sem_num = R16(r);
			q->sops[j].sem_op = (short)R16(r);
			q->sops[j].sem_flg = (short)R16(r);
		}
	}
	if (r->bad) {
		m_sem_free(s);
		return NULL;
	}
	return s;
}

static struct m_msq *parse_msq(struct rd *r, bool journal, uint32_t *flags_out)
{
	struct m_msq *q = rd_alloc(r, 1, sizeof(*q));
	if (!q)
		return NULL;
	rd_perm(r, &q->perm);
	uint32_t flags = R32(r);
	if (!r->bad && (flags & ~MSQ_NO_MESSAGES))
		fail(r, "unknown queue flags 0x%x", flags);
	if (!r->bad && (flags & MSQ_NO_MESSAGES) && !journal)
		fail(r, "a queue without its messages in a full image");
	*flags_out = flags;
	q->stime = RI64(r);
	q->rtime = RI64(r);
	q->ctime = RI64(r);
	q->qbytes = R64(r);
	q->lspid = rd_pid(r);
	q->lrpid = rd_pid(r);
	if (!(flags & MSQ_NO_MESSAGES)) {
		uint64_t n = R64(r);
		if (!r->bad && n > (r->len - r->off) / 16)
			fail(r, "%llu messages cannot fit in the %zu bytes left", (unsigned long long)n, r->len - r->off);
		q->nmsgs = q->cap_msgs = (uint32_t)n;
		q->msgs = rd_alloc(r, q->nmsgs, sizeof(*q->msgs));
		for (uint32_t i = 0; i < q->nmsgs && !r->bad; i++) {
			q->msgs[i].mtype = RI64(r);
			q->msgs[i].size = R64(r);
			if (q->msgs[i].size > r->len - r->off) {
				fail(r, "a message of %llu bytes cannot fit", (unsigned long long)q->msgs[i].size);
				break;
			}
			q->msgs[i].text = rd_take(r, q->msgs[i].size);
		}
	}
	q->recv = rd_array(r, &q->nrecv, 52, sizeof(*q->recv), "parked receivers");
	for (uint32_t i = 0; i < q->nrecv && !r->bad; i++) {
		struct m_recv *x = &q->recv[i];
		x->tgid = rd_pid(r);
		x->mode = RI32(r);
		x->msgtyp = RI64(r);
		x->maxsize = RI64(r);
		x->buf = R64(r);
		x->bufsz = R64(r);
		rd_waiter(r, &x->w);
	}
	q->send = rd_array(r, &q->nsend, 40, sizeof(*q->send), "parked senders");
	for (uint32_t i = 0; i < q->nsend && !r->bad; i++) {
		struct m_send *x = &q->send[i];
		x->tgid = rd_pid(r);
		x->msgp = R64(r);
		x->msgsz = R64(r);
		x->mtype = RI64(r);
		x->starve_rank = R32(r);
		rd_waiter(r, &x->w);
		if (x->starve_rank == UINT32_MAX) {
			if (!r->bad && x->msgsz > r->len - r->off) {
				fail(r, "a parked sender's copy of %llu bytes cannot fit", (unsigned long long)x->msgsz);
				break;
			}
			x->copy = rd_take(r, x->msgsz);
		}
	}
	if (r->bad) {
		m_msq_free(q);
		return NULL;
	}
	return q;
}

const char *const img_kind_name[3] = { "segment", "semaphore set", "message queue" };

/* Put an object in the model: a full image has each index once; the
 * journal replaces.  */
static void model_put(struct rd *r, struct img_model *m, int kind, int32_t id, void *o, bool replace)
{
	if (r->bad) {
		m_obj_free(kind, o);
		return;
	}
	if (id < 0) {
		fail(r, "%s id %d is negative", img_kind_name[kind], id);
		m_obj_free(kind, o);
		return;
	}
	int idx = id % IPCNS_SEQ_MULTIPLIER;
	void *old = ipcns_idr_find(&m->objs[kind], idx);
	if (old) {
		if (!replace) {
			fail(r, "two %ss at index %d (id %d)", img_kind_name[kind], idx, id);
			m_obj_free(kind, o);
			return;
		}
		ipcns_idr_remove(&m->objs[kind], idx);
		m_obj_free(kind, old);
	}
	int ret = ipcns_idr_insert(&m->objs[kind], idx, o);
	if (ret < 0) {
		fail(r, "out of memory");
		m_obj_free(kind, o);
	}
}

/* One record.  `journal': records of the journal, which replace objects
 * and may be of its own kinds.  */
static void parse_record(struct rd *r, struct img_model *m, uint32_t type, bool journal)
{
	uint32_t flags = 0;

	r->m = m;
	switch (type) {
	case REC_ACTOR:
		r->what = "pid table record";
		parse_actor(r);
		break;
	case REC_NS:
		r->what = "namespace record";
		parse_ns(r, m);
		break;
	case REC_SHM:
	case REC_SEM: {
		/* An object's model starts with its m_perm.  */
		struct m_perm *o;
		int kind = type == REC_SHM ? IPCNS_SHM : IPCNS_SEM;
		r->what = kind == IPCNS_SHM ? "segment record" : "semaphore set record";
		o = kind == IPCNS_SHM ? (struct m_perm *)parse_shm(r) : (struct m_perm *)parse_sem(r, m->version);
		if (o)
			model_put(r, m, kind, o->id, o, journal);
		break;
	}
	case REC_MSQ: {
		r->what = "message queue record";
		struct m_msq *q = parse_msq(r, journal, &flags);
		if (!q)
			break;
		if (flags & MSQ_NO_MESSAGES) {
			/* Keep the messages the model has.  */
			struct m_msq *old = ipcns_idr_find(&m->objs[IPCNS_MSG], q->perm.id % IPCNS_SEQ_MULTIPLIER);
			if (!old || old->perm.id != q->perm.id) {
				fail(r, "an update of queue id %d, which does not exist", q->perm.id);
				m_msq_free(q);
				break;
			}
			q->msgs = steal_pointer(&old->msgs);
			q->nmsgs = old->nmsgs;
			q->cap_msgs = old->cap_msgs;
			old->nmsgs = old->cap_msgs = 0;
		}
		model_put(r, m, IPCNS_MSG, q->perm.id, q, journal);
		break;
	}
	case REC_DEL: {
		r->what = "removal record";
		uint32_t kind = R32(r);
		int32_t id = RI32(r);
		if (r->bad)
			break;
		if (!journal || kind > 2 || id < 0) {
			fail(r, "kind %u id %d%s", kind, id, journal ? "" : " in a full image");
			break;
		}
		int idx = id % IPCNS_SEQ_MULTIPLIER;
		struct m_perm *p = ipcns_idr_find(&m->objs[kind], idx);
		if (!p || p->id != id) {
			fail(r, "%s id %d does not exist", img_kind_name[kind], id);
			break;
		}
		ipcns_idr_remove(&m->objs[kind], idx);
		m_obj_free((int)kind, p);
		break;
	}
	case REC_MSG: {
		r->what = "message record";
		int32_t id = RI32(r);
		uint32_t op = R32(r);
		if (r->bad)
			break;
		struct m_msq *q = id >= 0 ? ipcns_idr_find(&m->objs[IPCNS_MSG], id % IPCNS_SEQ_MULTIPLIER) : NULL;
		if (!journal || !q || q->perm.id != id) {
			fail(r, "queue id %d does not exist", id);
			break;
		}
		if (op == MSG_OP_REMOVE) {
			uint32_t at = R32(r);
			if (!r->bad && at >= q->nmsgs)
				fail(r, "message %u of a queue of %u taken", at, q->nmsgs);
			if (r->bad)
				break;
			memmove(&q->msgs[at], &q->msgs[at + 1], (q->nmsgs - at - 1) * sizeof(*q->msgs));
			q->nmsgs--;
		} else if (op == MSG_OP_APPEND) {
			struct m_msg msg;
			msg.mtype = RI64(r);
			msg.size = R64(r);
			if (!r->bad && msg.size > r->len - r->off)
				fail(r, "a message of %llu bytes cannot fit", (unsigned long long)msg.size);
			msg.text = rd_take(r, msg.size);
			if (r->bad)
				break;
			if (q->nmsgs == q->cap_msgs) {
				uint32_t ncap = q->cap_msgs ? q->cap_msgs * 2 : 8;
				struct m_msg *n = ncap > q->cap_msgs ? realloc(q->msgs, ncap * sizeof(*n)) : NULL;
				if (!n) {
					fail(r, "out of memory");
					break;
				}
				q->msgs = n;
				q->cap_msgs = ncap;
			}
			q->msgs[q->nmsgs++] = msg;
		} else {
			fail(r, "unknown operation %u", op);
		}
		break;
	}
	default:
		fail(r, "unknown record type %u", type);
		break;
	}
	if (!r->bad && r->off != r->len)
		fail(r, "%zu bytes left over", r->len - r->off);
	r->what = NULL;
}

int img_model_apply(struct img_model *m, uint32_t type, const void *payload, size_t len, char *err, size_t errlen)
{
	struct rd r = { .p = payload, .len = len, .err = err, .errlen = errlen };
	parse_record(&r, m, type, true);
	return r.bad ? -EBADMSG : 0;
}

static int header_check(struct rd *r, uint32_t *version)
{
	if (r->len < IMG_HDR_SIZE || memcmp(r->p, IMG_MAGIC, 8) != 0) {
		fail(r, "not an ipcns state image (no IPCNSIMG magic)");
		return -EBADMSG;
	}
	memcpy(version, r->p + 8, 4);
	if (*version > IPCNS_STATE_VERSION) {
		fail(r, "format version %u is newer than this ipcnsd knows (%d to %d): refused, left untouched",
		     *version, IPCNS_STATE_VERSION_MIN, IPCNS_STATE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (*version < IPCNS_STATE_VERSION_MIN) {
		fail(r, "format version %u is not one this ipcnsd reads (%d to %d)", *version,
		     IPCNS_STATE_VERSION_MIN, IPCNS_STATE_VERSION);
		return -EBADMSG;
	}
	return 0;
}

int img_model_parse(const void *buf, size_t len, struct img_model **out, char *err, size_t errlen)
{
	struct rd r = { .p = buf, .len = len, .err = err, .errlen = errlen };
	uint32_t version, hdr_size, crc, nrec, ps, fe_len;
	uint64_t total;

	if (err && errlen)
		err[0] = 0;
	if (!buf)
		r.len = 0;
	int ret = header_check(&r, &version);
	if (ret < 0)
		return ret;
	r.off = 12;
	hdr_size = R32(&r);
	total = R64(&r);
	crc = R32(&r);
	nrec = R32(&r);
	ps = R32(&r);
	fe_len = R32(&r);
	R64(&r);
	if (hdr_size != IMG_HDR_SIZE || total > len || total < IMG_HDR_SIZE) {
		fail(&r, "header of %u bytes, image of %llu bytes in %zu", hdr_size, (unsigned long long)total, len);
		return -EBADMSG;
	}
	r.len = (size_t)total;
	if (ipcns_crc32c(0, r.p + IMG_HDR_SIZE, r.len - IMG_HDR_SIZE) != crc) {
		fail(&r, "checksum mismatch: the image is corrupt");
		return -EBADMSG;
	}
	if (ps != (uint32_t)page_size()) {
		fail(&r, "written with %u-byte pages, this machine has %ld", ps, page_size());
		return -EBADMSG;
	}
	if (fe_len > IPCNS_STATE_FE_MAX) {
		fail(&r, "front-end record of %u bytes (at most %d)", fe_len, IPCNS_STATE_FE_MAX);
		return -EBADMSG;
	}
	struct img_model *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->version = (int)version;
	m->page_size = ps;
	m->fe_len = fe_len;
	m->fe = rd_take(&r, fe_len);
	r.off = (r.off + 7) & ~(size_t)7;
	if (r.off > r.len)
		fail(&r, "truncated");
	for (uint32_t i = 0; i < nrec && !r.bad; i++) {
		uint32_t type = R32(&r), rlen = R32(&r);
		if (r.bad)
			break;
		if (rlen > r.len - r.off) {
			fail(&r, "record %u of %u bytes runs past the end", i, rlen);
			break;
		}
		struct rd sub = { .p = r.p + r.off, .len = rlen, .err = err, .errlen = errlen };
		parse_record(&sub, m, type, false);
		if (sub.bad) {
			r.bad = true;
			break;
		}
		r.off += rlen;
		r.off = (r.off + 7) & ~(size_t)7;
		if (r.off > r.len)
			fail(&r, "record %u: padding runs past the end", i);
	}
	if (!r.bad && r.off != r.len)
		fail(&r, "%zu bytes after the last of %u records", r.len - r.off, nrec);
	if (!r.bad && !m->have_ns)
		fail(&r, "no namespace record");
	if (r.bad) {
		img_model_free(m);
		return -EBADMSG;
	}
	*out = m;
	return 0;
}

/* ---- Checking the model as a whole.  */

struct chk {
	char *err;
	size_t errlen;
	bool bad;
};

static void cfail(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfail(struct chk *c, const char *fmt, ...)
{
	va_list ap;
	if (c->bad)
		return;
	c->bad = true;
	va_start(ap, fmt);
	state_verror(c->err, c->errlen, "state image", NULL, fmt, ap);
	va_end(ap);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* Sorted copy has no two equal values (0 skipped: IPC_PRIVATE keys).  */
static bool unique_i32(int32_t *v, size_t n, bool skip_zero, int32_t *dup)
{
	if (n < 2)
		return true;
	qsort(v, n, sizeof(*v), cmp_i32);
	for (size_t i = 1; i < n; i++) {
		if (v[i] == v[i - 1] && !(skip_zero && v[i] == 0)) {
			*dup = v[i];
			return false;
		}
	}
	return true;
}

static void check_perm(struct chk *c, int kind, const struct m_perm *p, unsigned int extra_mode)
{
	if (p->id < 0 || (uint32_t)(p->id / IPCNS_SEQ_MULTIPLIER) >= IPCNS_SEQ_MAX)
		cfail(c, "%s id %d out of range", img_kind_name[kind], p->id);
	else if (p->mode & ~(IPCNS_S_IRWXUGO | extra_mode))
		cfail(c, "%s id %d: mode 0%o", img_kind_name[kind], p->id, p->mode);
	else if (p->uid == (uint32_t)-1 || p->gid == (uint32_t)-1 || p->cuid == (uint32_t)-1 ||
		 p->cgid == (uint32_t)-1)
		cfail(c, "%s id %d: an invalid owner (-1)", img_kind_name[kind], p->id);
}

static void check_shm(struct chk *c, const struct img_model *m, const struct m_shm *s, uint64_t *pages)
{
	check_perm(c, IPCNS_SHM, &s->perm, SHM_DEST | SHM_LOCKED);
	int id = s->perm.id;
	uint64_t ps = m->page_size;
	if (s->segsz < IPCNS_SHMMIN || s->segsz > UINT64_MAX - ps)
		cfail(c, "segment id %d: size %llu", id, (unsigned long long)s->segsz);
	if ((s->perm.mode & SHM_DEST) && s->perm.key != 0)
		cfail(c, "segment id %d: removed but still has key 0x%x", id, (unsigned int)s->perm.key);
	if (s->hugetlb && (s->hugesize < ps || (s->hugesize & (s->hugesize - 1))))
		cfail(c, "segment id %d: huge page size %llu", id, (unsigned long long)s->hugesize);
	if (!s->hugetlb && (s->hugesize || s->noreserve))
		cfail(c, "segment id %d: huge page settings on a normal segment", id);
	if (s->lock_charged && !(s->perm.mode & SHM_LOCKED))
		cfail(c, "segment id %d: memlock charged but not SHM_LOCKED", id);
	for (uint32_t i = 0; i < s->nholders && !c->bad; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (s->holders[j].tgid == s->holders[i].tgid)
				cfail(c, "segment id %d: process %d held twice", id, s->holders[i].tgid);
		if (s->holders[i].tgid <= 0)
			cfail(c, "segment id %d: holder pid %d", id, s->holders[i].tgid);
	}
	for (uint32_t i = 0; i < s->nattaches && !c->bad; i++) {
		const struct m_attach *a = &s->attaches[i];
		if (a->tgid <= 0 || a->len == 0 || a->addr + a->len < a->addr)
			cfail(c, "segment id %d: attach record pid %d at 0x%llx+%llu", id, a->tgid,
			      (unsigned long long)a->addr, (unsigned long long)a->len);
	}
	*pages += (s->segsz + ps - 1) / ps;
}

static void check_sem(struct chk *c, const struct m_sem *s, uint64_t *used)
{
	int id = s->perm.id;
	check_perm(c, IPCNS_SEM, &s->perm, 0);
	if (s->nsems == 0 || s->nsems > (uint32_t)INT_MAX / 64)
		cfail(c, "semaphore set id %d: %u semaphores", id, s->nsems);
	*used += s->nsems;
	for (uint32_t i = 0; i < s->nsems && !c->bad; i++)
		if (s->sems[i].val < 0 || s->sems[i].val > IPCNS_SEMVMX)
			cfail(c, "semaphore set id %d: value %d of semaphore %u outside 0..%d", id, s->sems[i].val, i,
			      IPCNS_SEMVMX);
	for (uint32_t i = 0; i < s->nundos && !c->bad; i++) {
		const struct m_undo *u = &s->undos[i];
		if (u->host_tgid <= 0)
			cfail(c, "semaphore set id %d: undo of pid %d", id, u->host_tgid);
		for (uint32_t j = 0; j < i; j++)
			if (s->undos[j].host_tgid == u->host_tgid)
				cfail(c, "semaphore set id %d: two undo structures of pid %d", id, u->host_tgid);
		/* Every short is a valid adjustment: [-SEMAEM - 1, SEMAEM].  */
	}
	uint32_t last_list = 0;
	for (uint32_t i = 0; i < s->nq && !c->bad; i++) {
		const struct m_semq *q = &s->q[i];
		bool alter = false, undo = false;
		for (uint32_t j = 0; j < q->nsops; j++) {
			if (q->sops[j].sem_num >= s->nsems)
				cfail(c, "semaphore set id %d: a sleeper's semaphore %u of %u", id, q->sops[j].sem_num,
				      s->nsems);
			alter |= q->sops[j].sem_op != 0;
			undo |= (q->sops[j].sem_flg & SEM_UNDO) != 0;
		}
		if (q->list < last_list || q->list >= 2 + 2 * s->nsems)
			cfail(c, "semaphore set id %d: sleeper list %u out of order", id, q->list);
		last_list = q->list;
		if (q->blocking >= q->nsops || alter != q->alter || undo != q->has_undo)
			cfail(c, "semaphore set id %d: a sleeper's flags disagree with its operations", id);
		if (q->list >= 2) {
			/* A semaphore's own list: one sop on that semaphore.  */
			uint32_t num = (q->list - 2) / 2;
			bool alter_list = (q->list & 1) == 0;
			if (q->nsops != 1 || q->sops[0].sem_num != num || alter_list != q->alter)
				cfail(c, "semaphore set id %d: a sleeper on semaphore %u's list that is not its", id, num);
		} else {
			/* A single decrement stays on the set's list until the
			 * end of the call that completed the last complex one
			 * (unmerge_queues, which the loader runs too): a commit
			 * made as that one's answer leaves sees it there.  */
			bool alter_list = q->list == 0;
			if (alter_list != q->alter || (q->nsops == 1 && !alter_list))
				cfail(c, "semaphore set id %d: a sleeper on the set's list that belongs elsewhere", id);
		}
		if (undo) {
			bool found = false;
			for (uint32_t j = 0; j < s->nundos; j++)
				found |= s->undos[j].host_tgid == q->host_tgid;
			if (!found)
				cfail(c, "semaphore set id %d: a SEM_UNDO sleeper of pid %d without its undo", id,
				      q->host_tgid);
		}
		if (q->host_tgid <= 0)
			cfail(c, "semaphore set id %d: a sleeper of pid %d", id, q->host_tgid);
	}
}

static void check_msq(struct chk *c, const struct m_msq *q, uint64_t *bytes, uint64_t *count)
{
	int id = q->perm.id;
	check_perm(c, IPCNS_MSG, &q->perm, 0);
	for (uint32_t i = 0; i < q->nmsgs && !c->bad; i++) {
		if (q->msgs[i].mtype < 1)
			cfail(c, "message queue id %d: message type %lld", id, (long long)q->msgs[i].mtype);
		*bytes += q->msgs[i].size;
	}
	*count += q->nmsgs;
	for (uint32_t i = 0; i < q->nrecv && !c->bad; i++) {
		const struct m_recv *x = &q->recv[i];
		if (x->mode < SEARCH_ANY || x->mode > SEARCH_LESSEQUAL || x->maxsize < 0)
			cfail(c, "message queue id %d: a receiver's search mode %d, size %lld", id, x->mode,
			      (long long)x->maxsize);
	}
	for (uint32_t i = 0; i < q->nsend && !c->bad; i++) {
		const struct m_send *x = &q->send[i];
		if (x->mtype < 1 || x->msgsz > (uint64_t)INT64_MAX)
			cfail(c, "message queue id %d: a parked sender's type %lld, size %llu", id, (long long)x->mtype,
			      (unsigned long long)x->msgsz);
	}
}

static int cmp_starved(const void *a, const void *b)
{
	const struct starved *x = a, *y = b;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

int img_collect_starved(const struct img_model *m, struct starved **out, size_t *nout)
{
	const struct ipcns_idr *idr = &m->objs[IPCNS_MSG];
	size_t n = 0, k = 0;
	*out = NULL;
	*nout = 0;
	ipcns_idr_for_each (idr, idx) {
		const struct m_msq *q = ipcns_idr_find(idr, idx);
		for (uint32_t i = 0; i < q->nsend; i++)
			n += q->send[i].starve_rank != UINT32_MAX;
	}
	if (!n)
		return 0;
	struct starved *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ipcns_idr_for_each (idr, idx) {
		const struct m_msq *q = ipcns_idr_find(idr, idx);
		for (uint32_t i = 0; i < q->nsend; i++)
			if (q->send[i].starve_rank != UINT32_MAX)
				v[k++] = (struct starved){ q->send[i].starve_rank, q->perm.id, i };
	}
	qsort(v, n, sizeof(*v), cmp_starved);
	*out = v;
	*nout = n;
	return 0;
}

static int cmp_actor(const void *a, const void *b)
{
	const struct m_actor *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

const struct m_actor *img_actor_find(const struct img_model *m, uint32_t id)
{
	size_t lo = 0, hi = m->nactors;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->actors[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nactors && m->actors[lo].id == id ? &m->actors[lo] : NULL;
}

/* The pid table sorted by id, the last record of each id kept (the
 * journal writes an entry again when its id is reused).  */
static void actors_settle(struct img_model *m)
{
	if (!m->nactors)
		return;
	qsort(m->actors, m->nactors, sizeof(*m->actors), cmp_actor);
	uint32_t k = 0;
	for (uint32_t i = 0; i < m->nactors; i++) {
		if (k && m->actors[k - 1].id == m->actors[i].id)
			k--;
		m->actors[k++] = m->actors[i];
	}
	m->nactors = k;
}

static void pid_ok(struct chk *c, const struct img_model *m, int kind, int32_t id, const char *what, int32_t ref)
{
	if (ref && !img_actor_find(m, (uint32_t)ref))
		cfail(c, "%s id %d: %s refers to pid table entry %u, which is not there", img_kind_name[kind], id, what,
		      (uint32_t)ref);
}

/* Every pid an object keeps names an entry of the table.  */
static void check_pids(struct chk *c, const struct img_model *m)
{
	const struct ipcns_idr *idr = &m->objs[IPCNS_SHM];
	ipcns_idr_for_each (idr, idx) {
		const struct m_shm *s = ipcns_idr_find(idr, idx);
		pid_ok(c, m, IPCNS_SHM, s->perm.id, "shm_cpid", s->cpid);
		pid_ok(c, m, IPCNS_SHM, s->perm.id, "shm_lpid", s->lpid);
		for (uint32_t i = 0; i < s->nholders; i++)
			pid_ok(c, m, IPCNS_SHM, s->perm.id, "a holder", (int32_t)s->holders[i].ns.id);
	}
	idr = &m->objs[IPCNS_SEM];
	ipcns_idr_for_each (idr, idx) {
		const struct m_sem *s = ipcns_idr_find(idr, idx);
		for (uint32_t i = 0; i < s->nsems; i++)
			pid_ok(c, m, IPCNS_SEM, s->perm.id, "sempid", s->sems[i].pid);
		for (uint32_t i = 0; i < s->nundos; i++)
			pid_ok(c, m, IPCNS_SEM, s->perm.id, "an undo structure", s->undos[i].ns_tgid);
		for (uint32_t i = 0; i < s->nq; i++)
			pid_ok(c, m, IPCNS_SEM, s->perm.id, "a sleeper", s->q[i].ns_tgid);
	}
	idr = &m->objs[IPCNS_MSG];
	ipcns_idr_for_each (idr, idx) {
		const struct m_msq *q = ipcns_idr_find(idr, idx);
		pid_ok(c, m, IPCNS_MSG, q->perm.id, "msg_lspid", q->lspid);
		pid_ok(c, m, IPCNS_MSG, q->perm.id, "msg_lrpid", q->lrpid);
		for (uint32_t i = 0; i < q->nrecv; i++)
			pid_ok(c, m, IPCNS_MSG, q->perm.id, "a parked receiver", q->recv[i].tgid);
		for (uint32_t i = 0; i < q->nsend; i++)
			pid_ok(c, m, IPCNS_MSG, q->perm.id, "a parked sender", q->send[i].tgid);
	}
}

int img_model_check(struct img_model *m, char *err, size_t errlen)
{
	struct chk c = { .err = err, .errlen = errlen };
	const struct ipcns_limits *l = &m->limits;

	actors_settle(m);
	check_pids(&c, m);

	if (l->semmsl < 0 || l->semmns < 0 || l->semopm < 0 || l->semmni < 0 || l->shm_rmid_forced < 0 ||
	    l->shm_rmid_forced > 1)
		cfail(&c, "limits: a negative semaphore limit or shm_rmid_forced %d", l->shm_rmid_forced);
	for (int k = 0; k < 3 && !c.bad; k++) {
		if (m->ids[k].seq >= IPCNS_SEQ_MAX || m->ids[k].last_idx < -1 ||
		    m->ids[k].last_idx >= IPCNS_IPCMNI || m->ids[k].next < 0 || m->ids[k].next > IPCNS_IPCMNI ||
		    m->ids[k].next_id < -1)
			cfail(&c, "%s table: sequence %u, last index %d, next %d, next_id %d", img_kind_name[k],
			      m->ids[k].seq, m->ids[k].last_idx, m->ids[k].next, m->ids[k].next_id);
	}
	for (uint32_t i = 0; i < m->nuid && !c.bad; i++) {
		if (m->uids[i].count == 0)
			cfail(&c, "uid %u counted 0 objects", m->uids[i].uid);
		for (uint32_t j = 0; j < i; j++)
			if (m->uids[j].uid == m->uids[i].uid)
				cfail(&c, "uid %u counted twice", m->uids[i].uid);
	}

	uint64_t pages = 0, sems = 0, bytes = 0, count = 0;
	for (int k = 0; k < 3 && !c.bad; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		size_t n = 0, i = 0;
		ipcns_idr_for_each (idr, idx)
			n++;
		int32_t *keys = n ? calloc(n, sizeof(*keys)) : NULL;
		if (n && !keys)
			return -ENOMEM;
		ipcns_idr_for_each (idr, idx) {
			if (c.bad)
				break;
			void *o = ipcns_idr_find(idr, idx);
			keys[i++] = ((struct m_perm *)o)->key;
			if (k == IPCNS_SHM)
				check_shm(&c, m, o, &pages);
			else if (k == IPCNS_SEM)
				check_sem(&c, o, &sems);
			else
				check_msq(&c, o, &bytes, &count);
		}
		int32_t dup;
		if (!c.bad && !unique_i32(keys, n, true, &dup))
			cfail(&c, "two %ss with key 0x%x", img_kind_name[k], (unsigned int)dup);
		free(keys);
	}
	if (!c.bad && sems > INT_MAX)
		cfail(&c, "%llu semaphores in all", (unsigned long long)sems);

	/* Undo structures of one process agree on its pid in its namespace.  */
	struct ipcns_idr *sidr = &m->objs[IPCNS_SEM];
	size_t nu = 0, k = 0;
	ipcns_idr_for_each (sidr, idx)
		nu += ((const struct m_sem *)ipcns_idr_find(sidr, idx))->nundos;
	if (!c.bad && nu) {
		int32_t(*pairs)[2] = calloc(nu, sizeof(*pairs));
		if (!pairs)
			return -ENOMEM;
		ipcns_idr_for_each (sidr, idx) {
			const struct m_sem *s = ipcns_idr_find(sidr, idx);
			for (uint32_t u = 0; u < s->nundos; u++) {
				pairs[k][0] = s->undos[u].host_tgid;
				pairs[k++][1] = s->undos[u].ns_tgid;
			}
		}
		/* Sorted by host pid (the first int of each pair).  */
		qsort(pairs, nu, sizeof(*pairs), cmp_i32);
		for (size_t i = 1; i < nu; i++)
			if (pairs[i][0] == pairs[i - 1][0] && pairs[i][1] != pairs[i - 1][1])
				cfail(&c, "pid %d has two namespace pids in its undo structures", pairs[i][0]);
		free(pairs);
	}

	struct starved *sv;
	size_t nsv;
	if (!c.bad) {
		if (img_collect_starved(m, &sv, &nsv) < 0)
			return -ENOMEM;
		for (size_t i = 1; i < nsv; i++)
			if (sv[i].rank == sv[i - 1].rank)
				cfail(&c, "two starved senders at place %u", sv[i].rank);
		free(sv);
	}
	return c.bad ? -EBADMSG : 0;
}
