/* SPDX-License-Identifier: MIT */
/* The pids an object keeps, as Linux keeps them.
 *
 * Linux's shm_cprid, shm_lprid, sempid, q_lspid and q_lrpid are struct
 * pid references: the acting process's number in every pid namespace it
 * belongs to, printed in the reader's at each output (pid_vnr for the
 * system calls, the opener's namespace for /proc/sysvipc: pid_nr_ns),
 * 0 where the process has no number.  The same numbers stay after the
 * process exits.  Here a namespace keeps one table of such processes
 * ("actors"), each entry the numbers from the daemon's pid namespace
 * (level 0) down to the process's own, with each level's namespace;
 * objects keep a 32-bit reference (struct ipcns_pidref).
 *
 * Entries are shared: one process gets one entry (found by its host
 * pid), whatever it touched.  Nothing counts references: when the table
 * has doubled since the last collection, the objects' references are
 * marked (each kind's ipcns_*_mark_pids) and the others freed, so a
 * reference is held by an object, or by the call that obtained it (the
 * last eight handed out are kept as if marked: a call obtains at most
 * three before it stores them).  The table is charged to the namespace's
 * memory budget.  */
#include <string.h>

#include "core.h"

struct ipcns_actor {
	uint32_t hnext; /* next id in its bucket, 0 = end */
	uint8_t n;
	bool legacy, mark;
	struct ipcns_pidlevel lv[];
};

#define ACTOR_GC_MIN 64u
/* References are 31-bit: the state image keeps 0x80000000 and above for
 * the numbers of images older than the table.  */
#define ACTOR_ID_MAX 0x7fffffffu

static uint32_t hash_pid(pid_t nr, uint32_t nbucket)
{
	return ((uint32_t)nr * 2654435761u) & (nbucket - 1);
}

static bool same(const struct ipcns_actor *a, const struct ipcns_pidchain *ch, bool legacy)
{
	if (a->n != ch->n || a->legacy != legacy)
		return false;
	for (uint32_t i = 0; i < ch->n; i++)
		if (a->lv[i].nr != ch->lv[i].nr || a->lv[i].ns != ch->lv[i].ns)
			return false;
	return true;
}

static void relink(struct ipcns_actors *t)
{
	if (!t->nbucket)
		return;
	memset(t->bucket, 0, t->nbucket * sizeof(*t->bucket));
	for (uint32_t id = 1; id < t->top; id++) {
		struct ipcns_actor *a = t->v[id];
		if (!a)
			continue;
		uint32_t h = hash_pid(a->lv[0].nr, t->nbucket);
		a->hnext = t->bucket[h];
		t->bucket[h] = id;
	}
}

void ipcns_actor_mark(struct ipcns_ns *ns, struct ipcns_pidref r)
{
	struct ipcns_actors *t = &ns->actors;
	if (r.id && r.id < t->top && t->v[r.id])
		t->v[r.id]->mark = true;
}

/* Free the entries no object refers to.  */
static void collect(struct ipcns_ns *ns)
{
	struct ipcns_actors *t = &ns->actors;
	for (uint32_t id = 1; id < t->top; id++)
		if (t->v[id])
			t->v[id]->mark = false;
	ipcns_shm_mark_pids(ns);
	ipcns_sem_mark_pids(ns);
	ipcns_msg_mark_pids(ns);
	for (uint32_t i = 0; i < t->nrecent && i < ARRAY_SIZE(t->recent); i++)
		ipcns_actor_mark(ns, (struct ipcns_pidref){ t->recent[i] });
	for (uint32_t id = 1; id < t->top; id++) {
		if (!t->v[id] || t->v[id]->mark)
			continue;
		ipcns_mem_free(t->v[id]);
		t->v[id] = NULL;
		t->free[t->nfree++] = id;
		t->live--;
	}
	relink(t);
	t->gc_at = t->live * 2 > ACTOR_GC_MIN ? t->live * 2 : ACTOR_GC_MIN;
}

/* Room for one more id: 0 or -ENOMEM.  */
static int grow(struct ipcns_ns *ns, bool force)
{
	struct ipcns_actors *t = &ns->actors;
	if (t->nfree || t->top < t->cap)
		return 0;
	if (t->cap > ACTOR_ID_MAX / 2)
		return -ENOMEM;
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	void *(*re)(struct ipcns_budget *, void *, size_t) = force ? ipcns_mem_realloc_force : ipcns_mem_realloc;
	struct ipcns_actor **v = re(&ns->budget, t->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	uint32_t *fr = re(&ns->budget, t->free, cap * sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	t->free = fr;
	uint32_t *b = re(&ns->budget, t->bucket, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	t->bucket = b;
	if (!t->top)
		t->top = 1;
	t->cap = cap;
	t->nbucket = cap;
	relink(t);
	return 0;
}

static void remember(struct ipcns_actors *t, uint32_t id)
{
	t->recent[t->nrecent++ % ARRAY_SIZE(t->recent)] = id;
	if (t->nrecent >= 2 * ARRAY_SIZE(t->recent))
		t->nrecent -= ARRAY_SIZE(t->recent);
}

/* The journal writes the entries made since its last commit.  */
static void note_new(struct ipcns_ns *ns, uint32_t id)
{
	struct ipcns_actors *t = &ns->actors;
	if (!ns->journal)
		return;
	if (t->njnew == t->capjnew) {
		uint32_t cap = t->capjnew ? t->capjnew * 2 : 16;
		uint32_t *v = ipcns_mem_realloc_force(&ns->budget, t->jnew, cap * sizeof(*v));
		if (!v) {
			t->jlost = true;
			return;
		}
		t->jnew = v;
		t->capjnew = cap;
	}
	t->jnew[t->njnew++] = id;
}

int ipcns_actor_intern(struct ipcns_ns *ns, const struct ipcns_pidchain *ch, bool legacy, bool force,
		       struct ipcns_pidref *out)
{
	struct ipcns_actors *t = &ns->actors;
	if (ch->n < 1 || ch->n > IPCNS_PID_LEVELS)
		return -EINVAL;
	if (t->nbucket) {
		for (uint32_t id = t->bucket[hash_pid(ch->lv[0].nr, t->nbucket)]; id; id = t->v[id]->hnext) {
			if (same(t->v[id], ch, legacy)) {
				remember(t, id);
				out->id = id;
				return 0;
			}
		}
	}
	if (t->live >= t->gc_at && t->live >= ACTOR_GC_MIN)
		collect(ns);
	int ret = grow(ns, force);
	if (ret < 0)
		return ret;
	size_t size = sizeof(struct ipcns_actor) + ch->n * sizeof(struct ipcns_pidlevel);
	struct ipcns_actor *a = force ? ipcns_mem_realloc_force(&ns->budget, NULL, size)
				      : ipcns_mem_alloc(&ns->budget, size);
	if (!a)
		return -ENOMEM;
	a->n = (uint8_t)ch->n;
	a->legacy = legacy;
	a->mark = false;
	memcpy(a->lv, ch->lv, ch->n * sizeof(a->lv[0]));
	uint32_t id = t->nfree ? t->free[--t->nfree] : t->top++;
	uint32_t h = hash_pid(a->lv[0].nr, t->nbucket);
	a->hnext = t->bucket[h];
	t->bucket[h] = id;
	t->v[id] = a;
	t->live++;
	if (!t->gc_at)
		t->gc_at = ACTOR_GC_MIN;
	note_new(ns, id);
	remember(t, id);
	out->id = id;
	return 0;
}

/* The front end out of fds reading /proc: ENOMEM, as the calls have no
 * EMFILE (util.c does the same).  */
static int resource_errno(int ret)
{
	return ret == -EMFILE || ret == -ENFILE ? -ENOMEM : ret;
}

static void chain_one(struct ipcns_pidchain *ch, pid_t nr)
{
	ch->n = 1;
	ch->lv[0].nr = nr;
	ch->lv[0].ns = 0;
}

int ipcns_actor_of_caller(struct ipcns_ns *ns, struct ipcns_caller *c, bool thread, bool force,
			  struct ipcns_pidref *out)
{
	struct ipcns_pidchain ch;
	int ret;
	if (c->ops->pid_chain) {
		ret = c->ops->pid_chain(c, thread, &ch);
		if (ret < 0)
			return resource_errno(ret);
	} else {
		pid_t nr;
		ret = ipcns_caller_pids(c, NULL, &nr);
		if (ret < 0)
			return ret;
		if (thread && c->ops->ns_tid) {
			pid_t tid;
			if (c->ops->ns_tid(c, &tid) == 0 && tid > 0)
				nr = tid;
		}
		chain_one(&ch, nr);
	}
	return ipcns_actor_intern(ns, &ch, false, force, out);
}

struct ipcns_pidref ipcns_actor_of_host(struct ipcns_ns *ns, pid_t tgid, bool parent)
{
	struct ipcns_pidchain ch;
	struct ipcns_pidref r = { 0 };
	const struct ipcns_host_ops *h = ns->host;
	if (h && h->proc_chain) {
		if (h->proc_chain(ns->host_data, tgid, parent, &ch) < 0)
			return r;
	} else {
		pid_t nr = tgid, ppid = 0;
		if (h && h->proc_info && h->proc_info(ns->host_data, tgid, &nr, &ppid) < 0)
			return r;
		if (parent && !(h && h->proc_info))
			return r;
		chain_one(&ch, parent ? ppid : nr);
		if (ch.lv[0].nr <= 0)
			return r;
	}
	if (ipcns_actor_intern(ns, &ch, false, true, &r) < 0)
		r.id = 0;
	return r;
}

pid_t ipcns_actor_nr(const struct ipcns_ns *ns, struct ipcns_pidref r, const struct ipcns_pidns *reader)
{
	const struct ipcns_actors *t = &ns->actors;
	if (!r.id || r.id >= t->top || !t->v[r.id])
		return 0;
	const struct ipcns_actor *a = t->v[r.id];
	if (!reader || a->legacy)
		return a->lv[a->n - 1].nr;
	if (reader->level < a->n && a->lv[reader->level].ns == reader->ns)
		return a->lv[reader->level].nr;
	return 0;
}

int ipcns_caller_pidns(struct ipcns_caller *c, const struct ipcns_pidns **out)
{
	if (!c->have_pidns) {
		struct ipcns_pidchain ch;
		if (c->ops->pid_chain) {
			int ret = c->ops->pid_chain(c, false, &ch);
			if (ret < 0)
				return resource_errno(ret);
			c->pidns.level = ch.n - 1;
			c->pidns.ns = ch.lv[ch.n - 1].ns;
		} else {
			c->pidns.level = 0;
			c->pidns.ns = 0;
		}
		c->have_pidns = true;
	}
	*out = &c->pidns;
	return 0;
}

bool ipcns_actor_get(const struct ipcns_ns *ns, uint32_t id, struct ipcns_pidchain *ch, bool *legacy)
{
	const struct ipcns_actors *t = &ns->actors;
	if (!id || id >= t->top || !t->v[id])
		return false;
	const struct ipcns_actor *a = t->v[id];
	ch->n = a->n;
	memcpy(ch->lv, a->lv, a->n * sizeof(a->lv[0]));
	*legacy = a->legacy;
	return true;
}

void ipcns_actors_free(struct ipcns_ns *ns)
{
	struct ipcns_actors *t = &ns->actors;
	for (uint32_t id = 1; id < t->top; id++)
		ipcns_mem_free(t->v[id]);
	ipcns_mem_free(t->v);
	ipcns_mem_free(t->free);
	ipcns_mem_free(t->bucket);
	ipcns_mem_free(t->jnew);
	memset(t, 0, sizeof(*t));
}
