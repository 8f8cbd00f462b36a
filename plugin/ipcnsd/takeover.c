/* SPDX-License-Identifier: MIT */
/* Taking over from a previous ipcnsd: what the keeper held for it (the
 * listening socket, the containers' notify fds with their registrations)
 * becomes ours, and every thread that was waiting for an answer the
 * previous daemon never sent issues its call again.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "ipcns/state.h"

#include "daemon.h"

struct titem {
	uint32_t slot;
	enum kslot_kind kind;
	char *group;
	char *meta;
	int fd;
	bool claimed;       /* a segment memfd a loaded state names */
	struct nsent *nse;  /* a state's namespace, a shell until loaded */
};

static struct titem *items;
static size_t nitems, capitems;

/* The view's /dev/fuse fd a previous ipcnsd served.  */
static int view_fd_kept = -1;
static uint32_t view_slot;
/* And the record of the requests it had read and not answered.  */
static int inflight_fd_kept = -1;
static uint32_t inflight_slot;

/* The group guarding hugetlb segment files (ipcns_shm_guard_start).  */
static int guard_fd_kept = -1;
static uint32_t guard_slot;

int takeover_guard_fd(uint32_t *slot)
{
	*slot = guard_slot;
	int fd = guard_fd_kept;
	guard_fd_kept = -1;
	return fd;
}

int takeover_view_fd(uint32_t *slot)
{
	*slot = view_slot;
	int fd = view_fd_kept;
	view_fd_kept = -1;
	return fd;
}

int takeover_view_inflight_fd(uint32_t *slot)
{
	*slot = inflight_slot;
	int fd = inflight_fd_kept;
	inflight_fd_kept = -1;
	return fd;
}

void takeover_item(void *arg, uint32_t slot, enum kslot_kind kind, const char *group, const char *meta, size_t mlen,
		   int fd)
{
	if ((kind == KSLOT_MOUNT || kind == KSLOT_OTHER) && !strcmp(group, "view") && view_fd_kept < 0) {
		view_fd_kept = fd;
		view_slot = slot;
		return;
	}
	if (kind == KSLOT_OTHER && !strcmp(group, "view-inflight") && inflight_fd_kept < 0) {
		inflight_fd_kept = fd;
		inflight_slot = slot;
		return;
	}
	if (kind == KSLOT_OTHER && !strcmp(group, "shm-guard") && guard_fd_kept < 0) {
		guard_fd_kept = fd;
		guard_slot = slot;
		return;
	}
	if (nitems == capitems) {
		size_t ncap = capitems ? capitems * 2 : 64;
		struct titem *n = realloc(items, ncap * sizeof(*n));
		if (!n) {
			dlog("out of memory taking over slot %u from the keeper", slot);
			close(fd);
			return;
		}
		items = n;
		capitems = ncap;
	}
	items[nitems++] = (struct titem){ .slot = slot, .kind = kind, .group = strdup(group),
					  .meta = strndup(meta, mlen), .fd = fd };
}

static int by_slot(const void *a, const void *b)
{
	const struct titem *x = a, *y = b;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int adopt_nfd(struct titem *it)
{
	json_error_t jerr;
	json_t *meta = json_loads(it->meta ? it->meta : "", 0, &jerr);
	const char *key = json_string_value(json_object_get(meta, "key"));
	json_t *msg = json_object_get(meta, "msg");
	char err[512] = "";
	int ret;
	if (!key || !json_is_object(msg)) {
		ret = ipcns_error(err, sizeof(err), -EINVAL, "its registration kept by the keeper is unreadable");
	} else {
		struct adopt ad = { .key = key, .slot = it->slot,
				    .created = json_integer_value(json_object_get(meta, "created")) };
		ret = register_container(msg, it->fd, &ad, err, sizeof(err));
	}
	if (ret < 0)
		dlog("notify fd in keeper slot %u cannot be taken over: %s; its container's calls fail (ENOSYS)",
		     it->slot, err);
	json_decref(meta);
	return ret;
}

int takeover_slot_fd(uint32_t slot)
{
	for (size_t i = 0; i < nitems; i++) {
		if (items[i].slot == slot && items[i].kind == KSLOT_SHM && items[i].fd >= 0) {
			int fd = fcntl(items[i].fd, F_DUPFD_CLOEXEC, 3);
			if (fd >= 0)
				items[i].claimed = true;
			return fd < 0 ? -errno : fd;
		}
	}
	return -EBADF;
}

static void items_free(void)
{
	for (size_t i = 0; i < nitems; i++) {
		if (items[i].fd >= 0)
			close(items[i].fd);
		free(items[i].group);
		free(items[i].meta);
	}
	free(items);
	items = NULL;
	nitems = capitems = 0;
}

/* The signal watches the previous ipcnsd kept (persist.c): each a table
 * (KSLOT_OTHER) and its rings (KSLOT_RING) in a group of its own.
 * Adopted before any call is served, so that a call restarted while no
 * ipcnsd ran is decided with what the rings recorded meanwhile.  */
static void adopt_sigwatches(void)
{
	static const char prefix[] = "sigwatch.";
	for (size_t i = 0; i < nitems; i++) {
		struct titem *it = &items[i];
		if (it->kind != KSLOT_OTHER || strncmp(it->group, prefix, sizeof(prefix) - 1) || it->fd < 0)
			continue;
		int *fds = calloc(nitems * 2, sizeof(int));
		int n = 0;
		for (size_t j = 0; fds && j < nitems; j++) {
			int cpu;
			size_t len;
			if (items[j].kind == KSLOT_RING && !strcmp(items[j].group, it->group) && items[j].fd >= 0 &&
			    sscanf(items[j].meta ? items[j].meta : "", "%zu %d", &len, &cpu) == 2) {
				fds[n] = items[j].fd;
				fds[nitems + (size_t)n++] = cpu;
			}
		}
		if (!fds || persist_sigwatch_adopt(it->group, it->meta, it->fd, fds, fds + nitems, n) < 0)
			custody_drop_group(it->group);
		free(fds);
	}
}

int takeover_finish(bool *fatal)
{
	int lfd = -1;
	size_t nfds = 0, ok = 0, nstates = 0;
	char err[512];
	*fatal = false;
	if (nitems)
		qsort(items, nitems, sizeof(*items), by_slot);
	pthread_mutex_lock(&D.reg_lock);
	/* The namespaces the states describe, their containers registered
	 * into them, then their states loaded: nothing is sent to the keeper
	 * and no worker runs until every state is known good, so that one
	 * this ipcnsd cannot take over (a newer format, damage) leaves
	 * everything as it was, for the ipcnsd that wrote it.  */
	for (size_t i = 0; i < nitems; i++) {
		struct titem *it = &items[i];
		if (it->kind != KSLOT_STATE || !it->group[0] || nsent_find(it->group))
			continue;
		if (!(it->nse = nsent_shell(it->group)) || persist_inodes_from_meta(it->nse, it->meta) < 0) {
			fprintf(stderr, "ipcnsd: out of memory taking over namespace %s\n", it->group);
			goto fatal;
		}
	}
	for (size_t i = 0; i < nitems; i++) {
		struct titem *it = &items[i];
		switch (it->kind) {
		case KSLOT_LISTEN:
			if (lfd < 0) {
				lfd = it->fd;
				it->fd = -1;
			}
			break;
		case KSLOT_NFD:
			nfds++;
			if (adopt_nfd(it) == 0) {
				it->fd = -1;
				ok++;
			}
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < nitems; i++) {
		struct titem *it = &items[i];
		if (it->kind != KSLOT_STATE || !it->nse)
			continue;
		int ret = persist_load(it->nse, it->fd, it->slot, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr,
				"ipcnsd: the state of namespace %s left by the previous ipcnsd cannot be taken over: %s.\n"
				"ipcnsd: nothing was changed: the keeper still holds that state and the containers; start "
				"the ipcnsd that wrote it, or stop the keeper to start afresh (running containers' calls "
				"then fail with ENOSYS).\n",
				it->group, err);
			goto fatal;
		}
		nstates++;
	}
	/* Known good: from here on the keeper is told, workers run.  */
	adopt_sigwatches();
	/* The calls the previous daemon received and never answered (nor
	 * parked in the state): their threads still wait in the kernel,
	 * under notifications nobody will ever answer.  Before any worker
	 * runs: a call a worker had received and parked meanwhile would be
	 * interrupted too, and a semop restarted after a stop fails with
	 * EINTR (a semop made while no ipcnsd ran got EINTR that way).  */
	int reissued = 0;
	for (struct nsent *e = D.namespaces; e; e = e->next) {
		if (!nsent_try_enter(e, 5000)) {
			dlog("namespace %s: busy, its waiting calls are not re-issued", e->key);
			continue;
		}
		int n = ipcns_reissue_blocked(e->host.ipc_inodes, e->host.n_inodes, persist_restored_tid, NULL);
		nsent_leave(e);
		if (n > 0)
			reissued += n;
	}
	for (size_t i = 0; i < nitems; i++) {
		struct titem *it = &items[i];
		if (it->kind == KSLOT_NFD && it->fd >= 0)
			custody_drop(it->slot); /* not taken over */
		if (it->kind != KSLOT_STATE || !it->nse)
			continue;
		if (nsent_start(it->nse) < 0) {
			fprintf(stderr, "ipcnsd: cannot start the worker of namespace %s\n", it->group);
			goto fatal;
		}
		/* A namespace whose containers all went while no ipcnsd ran:
		 * its worker finds it without a notify fd and frees it.  */
		nsent_wake(it->nse);
	}
	persist_forget_restored();
	pthread_mutex_unlock(&D.reg_lock);
	/* Segment memfds no loaded state names: of segments destroyed before
	 * the last commit (or made after it, by a daemon that died: a guard
	 * mark it left would hold the file).  */
	for (size_t i = 0; i < nitems; i++)
		if (items[i].kind == KSLOT_SHM && !items[i].claimed) {
			ipcns_shm_guard_drop(items[i].fd);
			custody_drop(items[i].slot);
		}
	items_free();
	if (nfds || reissued || nstates)
		dlog("took over %zu of %zu containers' notify fds and %zu namespaces' states from the keeper; %d "
		     "waiting calls re-issued",
		     ok, nfds, nstates, reissued);
	return lfd;
fatal:
	*fatal = true;
	pthread_mutex_unlock(&D.reg_lock);
	items_free();
	return -1;
}
