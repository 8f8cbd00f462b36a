/* SPDX-License-Identifier: MIT */
/* A namespace's state across a restart or a crash of ipcnsd
 * (spec/lifecycle.md): its journal (include/ipcns/state.h) in a memfd the
 * keeper holds, committed before every answer; segment memfds named by
 * their keeper slots, parked calls by their notify fd's slot,
 * notification id and thread.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "ipcns/state.h"
#include "view.h"

/* The front end's record of a parked call.  Version 2 adds what decides
 * the call's restart should a signal interrupt it while no ipcnsd runs
 * (WREC_PARK in flags): when it was received and the call itself.  */
struct wrec {
	uint32_t version;
	uint32_t nfd_slot;
	uint64_t id;
	int32_t tid;
	uint32_t flags;
};
struct wrec2 {
	struct wrec r;
	int64_t t0;
	struct seccomp_data data;
};
#define WREC_VERSION 1
#define WREC_VERSION_PARK 2
#define WREC_PARK 1u

/* Threads whose parked calls were loaded, not to be re-issued.  */
static pid_t *restored;
static size_t nrestored, caprestored;
static void restored_add(pid_t tid);

static struct fdslot *fdslot_new(struct nsent *e)
{
	if (e->nfdslots == e->capfdslots) {
		size_t ncap = e->capfdslots ? e->capfdslots * 2 : 16;
		struct fdslot *n = realloc(e->fdslots, ncap * sizeof(*n));
		if (!n)
			return NULL;
		e->fdslots = n;
		e->capfdslots = ncap;
	}
	return &e->fdslots[e->nfdslots++];
}

static int fd_slot(void *arg, int fd)
{
	struct nsent *e = arg;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct fdslot *fs = NULL;
	for (size_t i = 0; i < e->nfdslots; i++)
		if (e->fdslots[i].fd == fd)
			fs = &e->fdslots[i];
	if (fs && fs->ino == st.st_ino)
		return (int)fs->slot;
	if (fs) {
		/* The fd number of a segment destroyed since: its memfd is
		 * not needed any more.  */
		custody_drop(fs->slot);
	} else if (!(fs = fdslot_new(e))) {
		return -ENOMEM;
	}
	*fs = (struct fdslot){ .fd = fd, .ino = st.st_ino, .slot = custody_new_slot() };
	int ret = custody_put(fs->slot, KSLOT_SHM, e->key, NULL, 0, fd);
	if (ret < 0) {
		*fs = e->fdslots[--e->nfdslots];
		return ret;
	}
	return (int)fs->slot;
}

static int slot_fd(void *arg, uint32_t slot)
{
	struct nsent *e = arg;
	int fd = takeover_slot_fd(slot);
	if (fd < 0)
		return fd;
	struct stat st;
	struct fdslot *fs;
	if (fstat(fd, &st) < 0 || !(fs = fdslot_new(e))) {
		close(fd);
		return -ENOMEM;
	}
	*fs = (struct fdslot){ .fd = fd, .ino = st.st_ino, .slot = slot };
	return fd;
}

static int waiter_save(void *arg, struct ipcns_waiter *w, void *buf, size_t cap)
{
	struct ipcns_nfd *nf = ipcns_waiter_nfd(w);
	struct nfd_ent *ne = nf->owner;
	struct wrec2 r = { .r = { .version = WREC_VERSION_PARK, .nfd_slot = ne->slot } };
	struct ipcns_park_info info;
	pid_t tid;
	if (cap < sizeof(r) || !ne->slot)
		return -ENOSPC;
	ipcns_waiter_ident(w, &r.r.id, &tid);
	r.r.tid = tid;
	if (ipcns_waiter_park_info(w, &info)) {
		r.r.flags = WREC_PARK;
		r.t0 = info.t0;
		r.data = info.data;
	}
	memcpy(buf, &r, sizeof(r));
	return sizeof(r);
}

static struct ipcns_waiter *waiter_load(void *arg, const void *rec, size_t len)
{
	struct nsent *e = arg;
	struct wrec2 r2 = { 0 };
	struct wrec r;
	if (len == sizeof(r2))
		memcpy(&r2, rec, sizeof(r2));
	else if (len == sizeof(r2.r))
		memcpy(&r2.r, rec, sizeof(r2.r));
	r = r2.r;
	if (!(len == sizeof(r) && r.version == WREC_VERSION) && !(len == sizeof(r2) && r.version == WREC_VERSION_PARK))
		return NULL;
	struct ipcns_park_info info = { .t0 = r2.t0, .data = r2.data };
	for (struct nfd_ent *ne = e->nfds; ne; ne = ne->nsnext) {
		if (ne->slot != r.nfd_slot)
			continue;
		struct ipcns_waiter *w = ipcns_nfd_waiter_restore(&ne->nf, r.id, r.tid, r.flags & WREC_PARK ? &info : NULL);
		if (w)
			restored_add(r.tid);
		return w;
	}
	return NULL;
}

static void state_ops_init(struct nsent *e)
{
	e->jops = (struct ipcns_state_ops){
		.arg = e,
		.fd_slot = fd_slot,
		.slot_fd = slot_fd,
		.waiter_save = waiter_save,
		.waiter_load = waiter_load,
	};
}

bool persist_restored_tid(void *arg, pid_t tid)
{
	for (size_t i = 0; i < nrestored; i++)
		if (restored[i] == tid)
			return true;
	return false;
}

static void restored_add(pid_t tid)
{
	if (nrestored == caprestored) {
		size_t ncap = caprestored ? caprestored * 2 : 16;
		pid_t *n = realloc(restored, ncap * sizeof(*n));
		if (!n)
			return;
		restored = n;
		caprestored = ncap;
	}
	restored[nrestored++] = tid;
}

void persist_forget_restored(void)
{
	free(restored);
	restored = NULL;
	nrestored = caprestored = 0;
}

/* The keeper's metadata of a namespace's state: the kernel IPC
 * namespaces it serves (its key is the slot's group).  */
static char *state_meta(struct nsent *e)
{
	json_t *inodes = json_array();
	for (size_t i = 0; i < e->ninodes; i++)
		json_array_append_new(inodes, json_integer((json_int_t)e->inodes[i]));
	json_t *m = json_pack("{s:o}", "inodes", inodes);
	char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	return s;
}

void persist_attach(struct nsent *e)
{
	state_ops_init(e);
	if (!custody_attached())
		return;
	int fd = memfd_create("ipcns-state", MFD_CLOEXEC);
	cleanup_free char *meta = state_meta(e);
	uint32_t slot = custody_new_slot();
	int ret = fd < 0 ? -errno : !meta ? -ENOMEM : custody_put(slot, KSLOT_STATE, e->key, meta, strlen(meta), fd);
	if (ret == 0)
		ret = ipcns_journal_attach(e->ns, fd, &e->jops, e->key, strlen(e->key));
	if (fd >= 0)
		close(fd);
	if (ret < 0) {
		dlog("namespace %s: no journal (%s): a restart or crash of ipcnsd loses its objects", e->key,
		     strerror(-ret));
		if (slot)
			custody_drop(slot);
		return;
	}
	e->state_slot = slot;
	e->journaled = true;
}

void persist_inodes_changed(struct nsent *e)
{
	if (!e->state_slot)
		return;
	cleanup_free char *meta = state_meta(e);
	if (meta)
		custody_meta(e->state_slot, meta, strlen(meta));
}

void persist_commit(struct nsent *e, struct nfd_ent *ne, uint64_t id, pid_t tid, int64_t ret, bool answer)
{
	if (!e->journaled)
		return;
	int r;
	if (answer && ne->slot) {
		struct wrec rec = { .version = WREC_VERSION, .nfd_slot = ne->slot, .id = id, .tid = tid };
		r = ipcns_journal_commit_answer(e->ns, &rec, sizeof(rec), ret);
	} else {
		r = ipcns_journal_commit(e->ns);
	}
	if (r < 0 && !e->journal_failed) {
		e->journal_failed = true;
		dlog("namespace %s: its journal cannot record a change (%s): a crash of ipcnsd now would lose it",
		     e->key, strerror(-r));
	} else if (r == 0) {
		e->journal_failed = false;
	}
}

/* Segment memfds the namespace closed (destroyed segments): out of the
 * keeper, after the commit that recorded their destruction.  The
 * namespace says which inodes it still has; the slot's fd number is not
 * looked at, since the core closed it and any thread may have it now.  */
struct live_inodes {
	ino_t *v;
	size_t n, cap;
	bool failed;
};

static void live_inode(void *arg, ino_t ino)
{
	struct live_inodes *li = arg;
	if (li->n == li->cap) {
		size_t ncap = li->cap ? li->cap * 2 : 64;
		ino_t *n = realloc(li->v, ncap * sizeof(*n));
		if (!n) {
			li->failed = true;
			return;
		}
		li->v = n;
		li->cap = ncap;
	}
	li->v[li->n++] = ino;
}

static int ino_cmp(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;
	return x < y ? -1 : x > y;
}

static void fdslots_gc(struct nsent *e)
{
	struct live_inodes li = { 0 };
	ipcns_shm_files(e->ns, live_inode, &li);
	if (li.failed) {
		free(li.v); /* out of memory: try again at the next look */
		return;
	}
	if (li.n)
		qsort(li.v, li.n, sizeof(*li.v), ino_cmp);
	for (size_t i = 0; i < e->nfdslots;) {
		if (li.n && bsearch(&e->fdslots[i].ino, li.v, li.n, sizeof(*li.v), ino_cmp)) {
			i++;
			continue;
		}
		custody_drop(e->fdslots[i].slot);
		e->fdslots[i] = e->fdslots[--e->nfdslots];
	}
	free(li.v);
}

void persist_batch_end(struct nsent *e)
{
	if (!e->journaled)
		return;
	persist_commit(e, NULL, 0, 0, 0, false);
	int64_t now = ipcns_mono_ns();
	if (now - e->fdslots_checked > 1000000000) {
		e->fdslots_checked = now;
		if (!e->journal_failed)
			fdslots_gc(e);
	}
}

void persist_detach(struct nsent *e)
{
	if (e->journaled)
		ipcns_journal_detach(e->ns);
	e->journaled = false;
}

int persist_inodes_from_meta(struct nsent *e, const char *meta)
{
	json_error_t jerr;
	json_t *j = json_loads(meta ? meta : "", 0, &jerr);
	size_t i;
	json_t *v;
	int ret = 0;
	json_array_foreach(json_object_get(j, "inodes"), i, v)
	{
		ino_t ino = (ino_t)json_integer_value(v);
		view_ns_inode(e, ino);
		if (ipcns_host_add_inode(&e->host, ino) < 0 || nsent_add_inode(e, ino) < 0)
			ret = -ENOMEM;
	}
	json_decref(j);
	return ret;
}

static int arm_timer(void *arg, struct ipcns_waiter *w)
{
	struct ipcns_nfd *nf = ipcns_waiter_nfd(w);
	if (w->deadline >= 0 && nf->ops && nf->ops->arm_timer)
		nf->ops->arm_timer(nf, w);
	return 0;
}

struct loadarg {
	int fd;
	char *err;
	size_t errlen;
	struct ipcns_journal_pending pending;
};

/* nsent_load's loader: e->lock held, its notify fds in e->nfds.  */
static int load_journal(struct nsent *e, void *arg, struct ipcns_ns **ns)
{
	struct loadarg *la = arg;
	state_ops_init(e);
	int ret = ipcns_journal_recover(la->fd, &ipcns_host_proc_ops, &e->host, &e->jops, e->key, strlen(e->key), ns,
					&la->pending, la->err, la->errlen);
	if (ret < 0)
		return ret;
	e->journaled = true;
	/* Parked calls with a deadline: their timers again.  */
	ipcns_state_foreach_waiter(*ns, arm_timer, NULL);
	return 0;
}

int persist_load(struct nsent *e, int fd, uint32_t slot, char *err, size_t errlen)
{
	struct loadarg la = { .fd = fd, .err = err, .errlen = errlen };
	int ret = nsent_load(e, load_journal, &la);
	if (ret < 0)
		return ret;
	e->state_slot = slot;
	/* The answer that was leaving when the previous ipcnsd died: its
	 * effect is in the journal, so it is sent, not re-issued.  */
	struct wrec r;
	if (la.pending.have && la.pending.len == sizeof(r)) {
		memcpy(&r, la.pending.rec, sizeof(r));
		for (struct nfd_ent *ne = e->nfds; ne; ne = ne->nsnext) {
			if (ne->slot != r.nfd_slot || r.version != WREC_VERSION)
				continue;
			int64_t v = la.pending.ret;
			int sret = v < 0 ? ipcns_seccomp_send(ne->nf.fd, r.id, 0, (int)v)
					 : ipcns_seccomp_send(ne->nf.fd, r.id, v, 0);
			if (sret == 0) {
				restored_add(r.tid);
				dlog("namespace %s: the answer the previous ipcnsd was sending (%lld to pid %d) sent",
				     e->key, (long long)v, (int)r.tid);
			}
		}
	}
	/* Then the parked calls the state lets proceed (the previous ipcnsd
	 * died between two steps of a call: a sender answered, its message
	 * not yet handed to the receiver waiting for it): by the
	 * namespace's worker, whose time it is.  */
	e->settle = true;
	return 0;
}

/* ---- Signal watches across a restart (spec/lifecycle.md): each watch's
 * table memfd and rings go to the keeper, in a group of their own (the
 * watch's name), the table's metadata naming its namespace.  The keeper
 * keeps the rings mapped, so the kernel records into them while no
 * ipcnsd runs, and the next one adopts the watch before any call.  */
static void sigwatch_opened(void *arg, const char *name, uint64_t cgroup, const void *scope, int tfd,
			    const int *fds, const int *cpus, int n, size_t ringlen)
{
	(void)arg;
	const struct nsent *e = scope;
	json_t *m = json_pack("{s:s?,s:I}", "ns", e ? e->key : NULL, "cgroup", (json_int_t)cgroup);
	cleanup_free char *meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!meta || custody_put(custody_new_slot(), KSLOT_OTHER, name, meta, strlen(meta), tfd) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char rm[64];
		int len = snprintf(rm, sizeof(rm), "%zu %d", ringlen, cpus[i]);
		custody_put(custody_new_slot(), KSLOT_RING, name, rm, (size_t)len, fds[i]);
	}
}

static void sigwatch_closed(void *arg, const char *name)
{
	(void)arg;
	if (!(daemon_stopping() && D.handover))
		custody_drop_group(name);
}

static const struct ipcns_sigwatch_keeper sigwatch_keeper = {
	.opened = sigwatch_opened,
	.closed = sigwatch_closed,
};

void persist_sigwatch_keep(void)
{
	ipcns_sigwatch_set_keeper(&sigwatch_keeper);
}

int persist_sigwatch_adopt(const char *name, const char *meta, int tfd, const int *rings, const int *cpus, int n)
{
	json_error_t jerr;
	json_t *j = json_loads(meta ? meta : "", 0, &jerr);
	const char *key = json_string_value(json_object_get(j, "ns"));
	struct nsent *e = key ? nsent_find(key) : NULL;
	int ret = 0;
	if (!j || (key && (!e || !e->ns))) {
		ret = -ENOENT; /* its namespace is gone */
		goto out;
	}
	int nfds = ipcns_sigwatch_nfds();
	uint64_t bytes = ipcns_sigwatch_cgroup_bytes();
	if (e) {
		ipcns_ns_fd_charge(e->ns, (unsigned)nfds, true);
		ipcns_ns_mem_force(e->ns, bytes);
	}
	struct ipcns_sigwatch *w;
	ret = ipcns_sigwatch_adopt(tfd, rings, cpus, n, e, &w);
	if (ret < 0 && e) {
		ipcns_ns_fd_uncharge(e->ns, (unsigned)nfds);
		ipcns_ns_mem_uncharge(e->ns, bytes);
	}
	if (ret < 0)
		dlog("the signal watch %s the previous ipcnsd kept cannot be taken over (%s): handlers that ran while "
		     "no ipcnsd did are not known",
		     name, strerror(-ret));
out:
	json_decref(j);
	return ret;
}
