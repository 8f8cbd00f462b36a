/* SPDX-License-Identifier: MIT */
/* Who maps which System V segment: shm_nattch, and the attach records
 * that let shmdt check one range.
 *
 * shm_nattch in Linux is the number of VMAs that map the segment: fork
 * copies them, exit and exec drop them, a split adds one.  We do not see
 * those events; we derive the count from the processes' maps when it is
 * asked for (IPC_STAT, SHM_STAT, ipcs, the destruction check), and keep per
 * segment the VMA count of each process from the last look, so that a
 * difference between two looks is an attach (fork, split) or a detach
 * (exit, exec, munmap) and shm_atime/shm_dtime/shm_lpid move as Linux
 * moves them.  */
#include <stdlib.h>
#include <string.h>

#include "shm.h"

struct ipcns_shm_state {
	struct shm_proc **proc_hash;
	unsigned int proc_hash_size, nprocs;
};

static struct shm_holder *holder_find(struct shm_holder *v, uint32_t n, pid_t tgid)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i].tgid == tgid)
			return &v[i];
	return NULL;
}

/* The arrays are charged to the namespace, never refused: they count
 * mappings the processes already have.  */
static int holder_push(struct ipcns_budget *b, struct shm_holder **v, uint32_t *n, uint32_t *cap, pid_t tgid,
		       struct ipcns_pidref ns, uint32_t nvmas)
{
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 4;
		struct shm_holder *nv = ipcns_mem_realloc_force(b, *v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = (struct shm_holder){ .tgid = tgid, .ns = ns, .nvmas = nvmas };
	(*n)++;
	return 0;
}

/* The caller's own attach or detach: keep the holders current so the
 * next look does not count it again.  */
void holder_adjust(struct ipcns_shm *shp, pid_t tgid, struct ipcns_pidref ns, int delta)
{
	struct shm_holder *h = holder_find(shp->holders, shp->nholders, tgid);
	if (!h) {
		if (delta <= 0 || holder_push(shp->budget, &shp->holders, &shp->nholders, &shp->cap_holders, tgid, ns, 0) < 0)
			return;
		h = &shp->holders[shp->nholders - 1];
	}
	if (delta < 0 && (uint32_t)-delta > h->nvmas)
		h->nvmas = 0;
	else
		h->nvmas = (uint32_t)((int64_t)h->nvmas + delta);
	if (h->nvmas == 0)
		*h = shp->holders[--shp->nholders];
}

/* ---- Attach records.  */

#define attach_of_seg(pos) ipcns_list_entry(pos, struct shm_attach, seg_link)
#define attach_of_proc(pos) ipcns_list_entry(pos, struct shm_attach, proc_link)

static unsigned int proc_bucket(pid_t tgid, unsigned int size)
{
	return ((uint32_t)tgid * 0x9e3779b1u >> 8) & (size - 1);
}

static struct shm_proc *proc_find(struct ipcns_ns *ns, pid_t tgid)
{
	struct ipcns_shm_state *st = ns->shm;
	if (!st || !st->proc_hash_size)
		return NULL;
	for (struct shm_proc *p = st->proc_hash[proc_bucket(tgid, st->proc_hash_size)]; p; p = p->hnext)
		if (p->tgid == tgid)
			return p;
	return NULL;
}

static struct shm_proc *proc_get(struct ipcns_ns *ns, pid_t tgid)
{
	struct shm_proc *p = proc_find(ns, tgid);
	if (p)
		return p;
	if (!ns->shm && !(ns->shm = ipcns_mem_zalloc(&ns->budget, sizeof(*ns->shm))))
		return NULL;
	struct ipcns_shm_state *st = ns->shm;
	if (st->nprocs >= st->proc_hash_size) {
		unsigned int nsize = st->proc_hash_size ? st->proc_hash_size * 2 : 16;
		struct shm_proc **nh = ipcns_mem_zalloc(&ns->budget, nsize * sizeof(*nh));
		if (!nh)
			return NULL;
		for (unsigned int i = 0; i < st->proc_hash_size; i++) {
			for (struct shm_proc *q = st->proc_hash[i], *next; q; q = next) {
				next = q->hnext;
				unsigned int b = proc_bucket(q->tgid, nsize);
				q->hnext = nh[b];
				nh[b] = q;
			}
		}
		ipcns_mem_free(st->proc_hash);
		st->proc_hash = nh;
		st->proc_hash_size = nsize;
	}
	p = ipcns_mem_zalloc(&ns->budget, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	ipcns_list_init(&p->attaches);
	unsigned int b = proc_bucket(tgid, st->proc_hash_size);
	p->hnext = st->proc_hash[b];
	st->proc_hash[b] = p;
	st->nprocs++;
	return p;
}

static void proc_put(struct ipcns_ns *ns, struct shm_proc *p)
{
	struct ipcns_shm_state *st = ns->shm;
	if (!ipcns_list_empty(&p->attaches))
		return;
	for (struct shm_proc **pp = &st->proc_hash[proc_bucket(p->tgid, st->proc_hash_size)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			st->nprocs--;
			break;
		}
	}
	ipcns_mem_free(p);
}

void attach_record(struct ipcns_ns *ns, struct ipcns_shm *shp, pid_t tgid, uint64_t addr, uint64_t len)
{
	struct shm_proc *p = proc_get(ns, tgid);
	struct shm_attach *a = p ? ipcns_mem_zalloc(&ns->budget, sizeof(*a)) : NULL;
	if (!a) {
		if (p)
			proc_put(ns, p);
		return; /* only a hint */
	}
	a->shp = shp;
	a->proc = p;
	a->addr = addr;
	a->len = len;
	ipcns_list_add_tail(&shp->attaches, &a->seg_link);
	ipcns_list_add_tail(&p->attaches, &a->proc_link);
}

/* Unlink and free a record; its process entry stays (proc_put).  */
static void attach_unlink(struct shm_attach *a)
{
	ipcns_list_del(&a->seg_link);
	ipcns_list_del(&a->proc_link);
	ipcns_mem_free(a);
}

static void attach_del(struct ipcns_ns *ns, struct shm_attach *a)
{
	struct shm_proc *p = a->proc;
	attach_unlink(a);
	proc_put(ns, p);
}

/* Forget tgid's records of shp at addr, or all of them when addr is 0;
 * all of tgid's when shp is NULL too (its exit or exec).  */
void attach_forget(struct ipcns_ns *ns, struct ipcns_shm *shp, pid_t tgid, uint64_t addr)
{
	struct shm_proc *p = proc_find(ns, tgid);
	struct ipcns_list *pos, *tmp;
	if (!p)
		return;
	ipcns_list_for_each_safe(pos, tmp, &p->attaches) {
		struct shm_attach *a = attach_of_proc(pos);
		if ((!shp || a->shp == shp) && (!addr || a->addr == addr))
			attach_unlink(a);
	}
	proc_put(ns, p);
}

/* A new mapping of tgid over [addr, addr + len) replaced whatever was
 * there (SHM_REMAP, or a fixed attach after the program's own munmap):
 * records overlapping it are stale.  The holder counts then disagree
 * with the records, and the next look reads the process's maps.  */
void attach_forget_range(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t len)
{
	struct shm_proc *p = proc_find(ns, tgid);
	struct ipcns_list *pos, *tmp;
	if (!p)
		return;
	ipcns_list_for_each_safe(pos, tmp, &p->attaches) {
		struct shm_attach *a = attach_of_proc(pos);
		if (a->addr < addr + len && addr < a->addr + a->len)
			attach_unlink(a);
	}
	proc_put(ns, p);
}

/* The record of tgid's attach at addr, in any segment.  */
struct ipcns_shm *attach_find(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t *len)
{
	struct shm_proc *p = proc_find(ns, tgid);
	struct ipcns_list *pos;
	if (!p)
		return NULL;
	ipcns_list_for_each(pos, &p->attaches) {
		struct shm_attach *a = attach_of_proc(pos);
		if (a->addr == addr) {
			*len = a->len;
			return a->shp;
		}
	}
	return NULL;
}

/* Do [addr, addr + len) and tgid's records meet more than one attach?
 * A process's records never overlap (a new attach forgets those it
 * covers).  */
bool attach_crossed(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t len)
{
	struct shm_proc *p = proc_find(ns, tgid);
	struct ipcns_list *pos;
	int n = 0;
	if (!p)
		return false;
	ipcns_list_for_each(pos, &p->attaches) {
		struct shm_attach *a = attach_of_proc(pos);
		if (a->addr < addr + len && addr < a->addr + a->len && ++n > 1)
			return true;
	}
	return false;
}

void shm_attach_release(struct ipcns_ns *ns, struct ipcns_shm *shp)
{
	struct ipcns_list *pos, *tmp;
	ipcns_list_for_each_safe(pos, tmp, &shp->attaches)
		attach_del(ns, attach_of_seg(pos));
	ipcns_mem_free(shp->holders);
	ipcns_mem_free(shp->scan);
}

void shm_attach_state_free(struct ipcns_ns *ns)
{
	if (ns->shm) {
		ipcns_mem_free(ns->shm->proc_hash);
		ipcns_mem_free(ns->shm);
		ns->shm = NULL;
	}
}

/* ---- The look at every process's maps.  */

struct scan_ctx {
	struct ipcns_ns *ns;
	struct ipcns_shm **byino; /* sorted by ino */
	size_t n;
	dev_t dev;
	int err;
};

static int cmp_ino(const void *a, const void *b)
{
	const struct ipcns_shm *x = *(struct ipcns_shm *const *)a, *y = *(struct ipcns_shm *const *)b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int scan_cb(void *arg, const struct ipcns_vma *v)
{
	struct scan_ctx *sc = arg;
	if (v->dev != sc->dev)
		return 0;
	size_t lo = 0, hi = sc->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sc->byino[mid]->ino < v->ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == sc->n || sc->byino[lo]->ino != v->ino)
		return 0;
	struct ipcns_shm *shp = sc->byino[lo];
	/* Processes come one after the other: the last entry is this one's.  */
	if (shp->nscan && shp->scan[shp->nscan - 1].tgid == v->pid) {
		shp->scan[shp->nscan - 1].nvmas++;
		return 0;
	}
	struct shm_holder *old = holder_find(shp->holders, shp->nholders, v->pid);
	if (holder_push(shp->budget, &shp->scan, &shp->nscan, &shp->cap_scan, v->pid,
			old ? old->ns : (struct ipcns_pidref){ 0 }, 1) < 0)
		sc->err = -ENOMEM;
	return 0;
}

static void watch_exit(struct ipcns_ns *ns, pid_t tgid)
{
	if (ns->host && ns->host->watch_exit)
		ns->host->watch_exit(ns->host_data, tgid);
}

/* Compare a segment's new look with the old one: attaches and detaches
 * that happened out of our sight.  */
static void shm_apply_scan(struct ipcns_ns *ns, struct ipcns_shm *shp, int64_t now)
{
	/* Holders and times may change: the segment is journaled again.  */
	ipcns_jdirty(ns, IPCNS_SHM, &shp->perm);
	uint64_t before_total = shm_nattch(shp);
	for (uint32_t i = 0; i < shp->nscan; i++) {
		struct shm_holder *nw = &shp->scan[i];
		struct shm_holder *old = holder_find(shp->holders, shp->nholders, nw->tgid);
		uint32_t before = old ? old->nvmas : 0;
		if (nw->nvmas > before) {
			nw->ns = ipcns_actor_of_host(ns, nw->tgid, false);
			/* A process we had not seen got it by fork: Linux's
			 * shm_open runs in the parent then.  A split runs in
			 * the process itself.  */
			struct ipcns_pidref parent = { 0 };
			if (before == 0)
				parent = ipcns_actor_of_host(ns, nw->tgid, true);
			shp->lpid = parent.id ? parent : nw->ns;
			shp->atime = now;
			if (!old)
				watch_exit(ns, nw->tgid);
		} else if (nw->nvmas < before) {
			shp->lpid = old->ns;
			shp->dtime = now;
		}
	}
	for (uint32_t i = 0; i < shp->nholders; i++) {
		if (!holder_find(shp->scan, shp->nscan, shp->holders[i].tgid)) {
			shp->lpid = shp->holders[i].ns;
			shp->dtime = now;
		}
	}
	/* The new look becomes the holders.  */
	struct shm_holder *tv = shp->holders;
	uint32_t tc = shp->cap_holders;
	shp->holders = shp->scan;
	shp->nholders = shp->nscan;
	shp->cap_holders = shp->cap_scan;
	shp->scan = tv;
	shp->cap_scan = tc;
	shp->nscan = 0;
	if (before_total && !shm_nattch(shp))
		shp->detached_to_zero = true;
	else if (shm_nattch(shp))
		shp->detached_to_zero = false;
}

/* Look at every process that can map the namespace's segments; then
 * destroy the segments that may go.  `keep' is not destroyed (the caller
 * still uses it).  */
/* Settle the segments after a look: the differences become attaches and
 * detaches; those that may go are destroyed (not `keep').  */
static void shm_look_end(struct ipcns_ns *ns, struct ipcns_shm **segs, size_t n, struct ipcns_shm *keep)
{
	int64_t now = ipcns_now(ns);
	for (size_t i = 0; i < n; i++)
		shm_apply_scan(ns, segs[i], now);
	for (size_t i = 0; i < n; i++)
		if (segs[i] != keep && shm_may_destroy(ns, segs[i]))
			shm_destroy(ns, segs[i]);
}

/* The segments ever attached, sorted by inode; scan lists emptied.  */
static int shm_look_begin(struct ipcns_ns *ns, struct ipcns_shm ***out, size_t *nout)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	*out = NULL;
	*nout = 0;
	if (ids->in_use == 0)
		return 0;
	struct ipcns_shm **byino = calloc((size_t)ids->in_use, sizeof(*byino));
	if (!byino)
		return -ENOMEM;
	size_t n = 0;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		shp->nscan = 0;
		if (shp->attached_once)
			byino[n++] = shp;
	}
	qsort(byino, n, sizeof(*byino), cmp_ino);
	*out = byino;
	*nout = n;
	return 0;
}

/* Look at every process of the namespace's kernel IPC namespaces.  */
static int shm_scan_full(struct ipcns_ns *ns, struct ipcns_shm *keep)
{
	cleanup_free struct ipcns_shm **byino = NULL;
	size_t n;
	if (!ns->host || !ns->host->scan_vmas)
		return 0;
	int ret = shm_look_begin(ns, &byino, &n);
	if (ret < 0 || n == 0)
		return ret;
	struct scan_ctx sc = { .ns = ns, .byino = byino, .n = n, .dev = byino[0]->dev };
	ret = ns->host->scan_vmas(ns->host_data, scan_cb, &sc);
	if (ret < 0 || sc.err < 0)
		return ret < 0 ? ret : sc.err;
	shm_look_end(ns, byino, n, keep);
	return 0;
}

/* Are tgid's attachments exactly its records, each still one whole VMA
 * of its segment?  Then its counts stand without reading its maps.  */
static bool holder_records_hold(struct ipcns_ns *ns, struct ipcns_shm **segs, size_t n, pid_t tgid)
{
	for (size_t i = 0; i < n; i++) {
		struct ipcns_shm *shp = segs[i];
		struct shm_holder *h = holder_find(shp->holders, shp->nholders, tgid);
		struct ipcns_list *pos;
		uint32_t nrec = 0;
		ipcns_list_for_each(pos, &shp->attaches) {
			struct shm_attach *a = attach_of_seg(pos);
			dev_t dev;
			ino_t ino;
			if (a->proc->tgid != tgid)
				continue;
			nrec++;
			if (ns->host->vma_at(ns->host_data, tgid, a->addr, a->addr + a->len, &dev, &ino) < 0 ||
			    dev != shp->dev || ino != shp->ino)
				return false;
		}
		if (nrec != (h ? h->nvmas : 0))
			return false;
	}
	return true;
}

/* The segment's VMAs found in one attach record's range.  `whole': they
 * tile the range exactly, each at the file offset of its distance from
 * the attach address, so they are the attach split in pieces (mprotect,
 * madvise) and no piece of it left the range (munmap, mremap).  */
struct range_count {
	const struct ipcns_shm *shp;
	uint64_t base, next;
	uint32_t n;
	bool whole;
};

static int range_count_cb(void *arg, const struct ipcns_vma *v)
{
	struct range_count *rc = arg;
	if (v->dev != rc->shp->dev || v->ino != rc->shp->ino) {
		rc->whole = false;
		return 0;
	}
	if (v->start != rc->next || v->offset != v->start - rc->base)
		rc->whole = false;
	rc->next = v->end;
	rc->n++;
	return 0;
}

/* Count shp's VMAs of tgid in [addr, addr + len): 0, or -errno.  */
static int range_count(struct ipcns_ns *ns, const struct ipcns_shm *shp, pid_t tgid, uint64_t addr, uint64_t len,
		       struct range_count *rc)
{
	*rc = (struct range_count){ .shp = shp, .base = addr, .next = addr, .whole = true };
	int ret = ns->host->vmas_in(ns->host_data, tgid, addr, addr + len, range_count_cb, rc);
	if (rc->next != addr + len)
		rc->whole = false;
	return ret;
}

/* tgid's VMAs of each segment within the ranges of its attach records,
 * asked of the kernel range by range: do they still add up to the counts
 * of the last look?  Then a split or partly unmapped attach (its record
 * no longer one whole VMA) is verified without reading every VMA of the
 * process, however many it holds.  1 when they do, 0 when not (or the
 * host cannot tell): the maps are read then.  */
static int holder_ranges_hold(struct ipcns_ns *ns, struct ipcns_shm **segs, size_t n, pid_t tgid)
{
	if (!ns->host->vmas_in)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct ipcns_shm *shp = segs[i];
		struct shm_holder *h = holder_find(shp->holders, shp->nholders, tgid);
		uint32_t total = 0;
		struct ipcns_list *pos;
		ipcns_list_for_each(pos, &shp->attaches) {
			struct shm_attach *a = attach_of_seg(pos);
			struct range_count rc;
			if (a->proc->tgid != tgid)
				continue;
			int ret = range_count(ns, shp, tgid, a->addr, a->len, &rc);
			if (ret < 0)
				return ret == -EOPNOTSUPP || ret == -ESRCH || ret == -ENOENT || ret == -EACCES ? 0 : ret;
			if (!rc.whole)
				return 0; /* moved, unmapped or stale: read the maps */
			total += rc.n;
		}
		if (total != (h ? h->nvmas : 0))
			return 0;
	}
	return 1;
}

/* Look at the known holders only: enough when the host reports every
 * fork, exec and exit, since a process can only come to map a segment by
 * shmat or by fork.  What a holder may have done unseen (munmap, mremap,
 * mprotect splits) shows in its records not holding: then its maps are
 * read.  */
static int shm_scan_holders(struct ipcns_ns *ns, struct ipcns_shm *keep)
{
	cleanup_free struct ipcns_shm **byino = NULL;
	cleanup_free pid_t *tgids = NULL;
	size_t n, nt = 0, cap = 0;
	int ret = shm_look_begin(ns, &byino, &n);
	if (ret < 0 || n == 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		for (uint32_t k = 0; k < byino[i]->nholders; k++) {
			pid_t t = byino[i]->holders[k].tgid;
			size_t j;
			for (j = 0; j < nt && tgids[j] != t; j++)
				;
			if (j < nt)
				continue;
			if (nt == cap) {
				cap = cap ? cap * 2 : 16;
				pid_t *nv = realloc(tgids, cap * sizeof(*nv));
				if (!nv)
					return -ENOMEM;
				tgids = nv;
			}
			tgids[nt++] = t;
		}
	}
	struct scan_ctx sc = { .ns = ns, .byino = byino, .n = n, .dev = byino[0]->dev };
	for (size_t j = 0; j < nt; j++) {
		pid_t t = tgids[j];
		int held = holder_records_hold(ns, byino, n, t);
		if (!held) {
			held = holder_ranges_hold(ns, byino, n, t);
			if (held < 0)
				return held;
		}
		if (held) {
			for (size_t i = 0; i < n; i++) {
				struct shm_holder *h = holder_find(byino[i]->holders, byino[i]->nholders, t);
				if (h && holder_push(byino[i]->budget, &byino[i]->scan, &byino[i]->nscan, &byino[i]->cap_scan, t,
						     h->ns, h->nvmas) < 0)
					return -ENOMEM;
			}
			continue;
		}
		ret = ns->host->proc_maps(ns->host_data, t, scan_cb, &sc);
		if (ret < 0 && ret != -ESRCH && ret != -ENOENT && ret != -EACCES)
			return ret;
		if (sc.err < 0)
			return sc.err;
		/* Records that no longer hold are dropped, so one munmap does
		 * not cost a read of the maps at every look.  A record whose
		 * range still holds VMAs of its segment (split by mprotect,
		 * partly unmapped) is kept where the host can count them
		 * range by range: the next look verifies it that way.  */
		for (size_t i = 0; i < n; i++) {
			struct ipcns_shm *shp = byino[i];
			struct ipcns_list *pos, *tmp;
			ipcns_list_for_each_safe(pos, tmp, &shp->attaches) {
				struct shm_attach *a = attach_of_seg(pos);
				dev_t dev;
				ino_t ino;
				if (a->proc->tgid != t)
					continue;
				if (ns->host->vma_at(ns->host_data, t, a->addr, a->addr + a->len, &dev, &ino) == 0 &&
				    dev == shp->dev && ino == shp->ino)
					continue;
				struct range_count rc;
				if (ns->host->vmas_in && range_count(ns, shp, t, a->addr, a->len, &rc) == 0 && rc.whole)
					continue;
				attach_del(ns, a);
			}
		}
	}
	shm_look_end(ns, byino, n, keep);
	return 0;
}

int shm_scan(struct ipcns_ns *ns, struct ipcns_shm *keep)
{
	if (ns->host && ns->host->tracks_processes && ns->host->vma_at && ns->host->proc_maps &&
	    ns->host->tracks_processes(ns->host_data))
		return shm_scan_holders(ns, keep);
	return shm_scan_full(ns, keep);
}

/* The process's VMAs of every segment went away at once (exit, exec):
 * Linux's shm_close runs for each, in that process.  */
static void shm_drop_holder(struct ipcns_ns *ns, pid_t tgid, bool creator_gone)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	int64_t now = ipcns_now(ns);
	attach_forget(ns, NULL, tgid, 0);
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		bool changed = false;
		if (creator_gone && shp->creator_tgid == tgid) {
			/* Linux's exit_shm orphans it: shm_rmid_forced may
			 * now destroy it.  */
			shp->creator_tgid = 0;
			changed = true;
		}
		struct shm_holder *h = holder_find(shp->holders, shp->nholders, tgid);
		if (h) {
			shp->lpid = h->ns;
			shp->dtime = now;
			*h = shp->holders[--shp->nholders];
			if (shm_nattch(shp) == 0)
				shp->detached_to_zero = true;
			changed = true;
		}
		if (changed && shm_may_destroy(ns, shp))
			shm_destroy(ns, shp);
	}
}

void ipcns_shm_process_exit(struct ipcns_ns *ns, pid_t tgid)
{
	ns->jshm = true;
	shm_drop_holder(ns, tgid, true);
}

void ipcns_shm_process_exec(struct ipcns_ns *ns, pid_t tgid)
{
	ns->jshm = true;
	shm_drop_holder(ns, tgid, false);
}

/* The child's VMAs of the parent's segments, counted in its maps.  */
struct fork_count {
	struct ipcns_shm **segs;
	uint32_t *n;
	size_t len;
};

static int fork_count_cb(void *arg, const struct ipcns_vma *v)
{
	struct fork_count *fc = arg;
	for (size_t i = 0; i < fc->len; i++)
		if (fc->segs[i]->ino == v->ino && fc->segs[i]->dev == v->dev)
			fc->n[i]++;
	return 0;
}

void ipcns_shm_process_fork(struct ipcns_ns *ns, pid_t parent, pid_t child)
{
	ns->jshm = true;
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	int64_t now = ipcns_now(ns);
	struct ipcns_pidref ns_child = { 0 };
	size_t len = 0;

	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		if (holder_find(shp->holders, shp->nholders, parent) &&
		    !holder_find(shp->holders, shp->nholders, child))
			len++;
	}
	if (len == 0)
		return;
	cleanup_free struct ipcns_shm **segs = calloc(len, sizeof(*segs));
	cleanup_free uint32_t *n = calloc(len, sizeof(*n));
	if (!segs || !n)
		return;
	len = 0;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		struct shm_holder *h = holder_find(shp->holders, shp->nholders, parent);
		if (h && !holder_find(shp->holders, shp->nholders, child)) {
			n[len] = h->nvmas;
			segs[len++] = shp;
		}
	}
	/* fork copies every VMA but those marked MADV_DONTFORK: the child's
	 * own maps say which it got.  Without them, all of the parent's.  */
	struct fork_count fc = { .segs = segs, .n = n, .len = len };
	if (ns->host && ns->host->proc_maps) {
		memset(n, 0, len * sizeof(*n));
		if (ns->host->proc_maps(ns->host_data, child, fork_count_cb, &fc) < 0)
			return; /* gone already: it held nothing we can know of */
	}
	bool any = false;
	for (size_t i = 0; i < len; i++) {
		if (n[i] == 0)
			continue;
		struct ipcns_shm *shp = segs[i];
		struct shm_holder *h = holder_find(shp->holders, shp->nholders, parent);
		if (!any) {
			ns_child = ipcns_actor_of_host(ns, child, false);
			any = true;
		}
		/* dup_mmap() opens each copied VMA in the parent's context:
		 * shm_lpid becomes the parent.  */
		shp->atime = now;
		shp->lpid = h->ns;
		holder_push(shp->budget, &shp->holders, &shp->nholders, &shp->cap_holders, child, ns_child, n[i]);
		shp->detached_to_zero = false;
		/* The child's mappings are at the parent's addresses.  */
		struct shm_proc *pp = proc_find(ns, parent);
		struct ipcns_list *pos;
		if (pp) {
			ipcns_list_for_each(pos, &pp->attaches) {
				struct shm_attach *a = attach_of_proc(pos);
				if (a->shp == shp)
					attach_record(ns, shp, child, a->addr, a->len);
			}
		}
	}
	if (any)
		watch_exit(ns, child);
}

void ipcns_ns_shm_reap(struct ipcns_ns *ns)
{
	ns->jshm = true;
	/* The safety net: every process, in case one escaped tracking.  */
	shm_scan_full(ns, NULL);
}


void ipcns_shm_mark_pids(struct ipcns_ns *ns)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		ipcns_actor_mark(ns, shp->cpid);
		ipcns_actor_mark(ns, shp->lpid);
		for (uint32_t i = 0; i < shp->nholders; i++)
			ipcns_actor_mark(ns, shp->holders[i].ns);
		for (uint32_t i = 0; i < shp->nscan; i++)
			ipcns_actor_mark(ns, shp->scan[i].ns);
	}
}
