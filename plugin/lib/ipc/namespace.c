/* SPDX-License-Identifier: MIT */
/* The namespace's lifecycle, as Linux's ipc/namespace.c: create and free
 * (one free_ipcs-style walk over every kind's objects), limits, and the
 * namespace-wide entry points the front ends call (sweep, process exit,
 * fork and exec, expiry, usage, the operator's listing and removal).
 * This file calls into shm.c, shm_attach.c, sem.c and msg.c through
 * their ipcns_kind_ops and hooks; they never call it.  */
#include <string.h>

#include "core.h"

static const struct ipcns_kind_ops *const kinds[] = {
	[IPCNS_SHM] = &ipcns_shm_kind,
	[IPCNS_SEM] = &ipcns_sem_kind,
	[IPCNS_MSG] = &ipcns_msg_kind,
};

typedef int (*obj_fn)(struct ipcns_ns *ns, const struct ipcns_kind_ops *ops, struct ipcns_perm *p, void *arg);

/* Linux's free_ipcs(): fn on every object of a kind in index order, until
 * it returns non-zero (which is returned); fn may remove the object it is
 * given.  */
static int for_each_obj(struct ipcns_ns *ns, enum ipcns_kind kind, obj_fn fn, void *arg)
{
	struct ipcns_idr *idr = &ns->ids[kind].idr;

	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1)) {
		int ret = fn(ns, kinds[kind], ipcns_idr_find(idr, idx), arg);
		if (ret)
			return ret;
	}
	return 0;
}

void ipcns_limits_default(struct ipcns_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->shmmax = IPCNS_SHMMAX;
	l->shmall = IPCNS_SHMALL;
	l->shmmni = IPCNS_SHMMNI;
	l->shm_rmid_forced = 0;
	l->semmsl = IPCNS_SEMMSL;
	l->semmns = IPCNS_SEMMNS;
	l->semopm = IPCNS_SEMOPM;
	l->semmni = IPCNS_SEMMNI;
	l->msgmax = IPCNS_MSGMAX;
	l->msgmnb = IPCNS_MSGMNB;
	l->msgmni = IPCNS_MSGMNI;
	l->quota_msg_bytes = IPCNS_DEFAULT_MSG_BYTES;
	l->quota_mem_bytes = IPCNS_DEFAULT_MEM_BYTES;
	l->quota_fds = IPCNS_DEFAULT_FDS;
}

static int destroy_obj(struct ipcns_ns *ns, const struct ipcns_kind_ops *ops, struct ipcns_perm *p, void *arg)
{
	ops->destroy(ns, p);
	return 0;
}

struct ipcns_ns *ipcns_ns_new(const struct ipcns_limits *limits, const struct ipcns_host_ops *host, void *host_data)
{
	struct ipcns_ns *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	if (limits)
		ns->limits = *limits;
	else
		ipcns_limits_default(&ns->limits);
	ns->host = host;
	ns->host_data = host_data;
	ns->budget.mem_limit = ns->limits.quota_mem_bytes;
	ns->budget.fd_limit = ns->limits.quota_fds;
	/* The namespace itself is charged too, whatever the budget.  */
	ns->budget.mem_used = sizeof(*ns);
	for (int i = 0; i < 3; i++) {
		ipcns_ids_init(&ns->ids[i]);
		ns->ids[i].idr.budget = &ns->budget;
	}
	for (int i = 0; i < 3; i++) {
		if (kinds[i]->init && kinds[i]->init(ns) < 0) {
			ipcns_ns_free(ns);
			return NULL;
		}
	}
	return ns;
}

/* Each kind in turn: its parked calls released unanswered, its objects
 * freed without waking anyone, then its own state.  */
void ipcns_ns_free(struct ipcns_ns *ns)
{
	if (!ns)
		return;
	/* The journal keeps the last committed state; tearing down is not a
	 * change to record.  */
	ipcns_journal_close(ns);
	for (int i = 0; i < 3; i++) {
		if (kinds[i]->release)
			kinds[i]->release(ns);
		for_each_obj(ns, (enum ipcns_kind)i, destroy_obj, NULL);
		kinds[i]->fini(ns);
	}
	for (int i = 0; i < 3; i++)
		ipcns_ids_destroy(&ns->ids[i]);
	ipcns_mem_free(ns->uid_counts);
	ipcns_actors_free(ns);
	ipcns_budget_release(&ns->budget);
	free(ns);
}

const struct ipcns_limits *ipcns_ns_limits(const struct ipcns_ns *ns)
{
	return &ns->limits;
}

int ipcns_ns_set_limits(struct ipcns_ns *ns, const struct ipcns_limits *limits)
{
	if (limits->semmsl < 0 || limits->semmns < 0 || limits->semopm < 0 || limits->semmni < 0)
		return -EINVAL;
	ns->limits = *limits;
	ns->budget.mem_limit = limits->quota_mem_bytes;
	ns->budget.fd_limit = limits->quota_fds;
	return 0;
}

int ipcns_ns_sweep(struct ipcns_ns *ns)
{
	return ipcns_sem_sweep(ns) + ipcns_msg_sweep(ns);
}

/* do_exit()'s order: exit_sem, then exit_shm.  */
void ipcns_ns_process_exit(struct ipcns_ns *ns, pid_t tgid)
{
	ipcns_sem_process_exit(ns, tgid);
	ipcns_shm_process_exit(ns, tgid);
}

void ipcns_ns_process_fork(struct ipcns_ns *ns, pid_t parent, pid_t child)
{
	ipcns_shm_process_fork(ns, parent, child);
}

void ipcns_ns_process_exec(struct ipcns_ns *ns, pid_t tgid)
{
	ipcns_shm_process_exec(ns, tgid);
}

void ipcns_waiter_expire(struct ipcns_ns *ns, struct ipcns_waiter *w)
{
	if (ipcns_sem_expire(ns, w))
		return;
	ipcns_msg_expire(ns, w);
}

void ipcns_ns_usage(const struct ipcns_ns *ns, struct ipcns_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->shm_ids = (uint32_t)ns->ids[IPCNS_SHM].in_use;
	u->sem_ids = (uint32_t)ns->ids[IPCNS_SEM].in_use;
	u->msg_ids = (uint32_t)ns->ids[IPCNS_MSG].in_use;
	u->shm_pages = ns->shm_tot;
	u->sem_total = (uint64_t)ns->used_sems;
	u->msg_bytes = ns->msg_bytes;
	u->msg_count = ns->msg_hdrs;
	u->parked = ns->parked;
	u->mem_bytes = ns->budget.mem_used;
	u->fds = ns->budget.fds_used;
}

struct list_ctx {
	enum ipcns_kind kind;
	const struct ipcns_pidns *reader;
	ipcns_obj_cb cb;
	void *arg;
};

static int list_obj(struct ipcns_ns *ns, const struct ipcns_kind_ops *ops, struct ipcns_perm *p, void *arg)
{
	struct list_ctx *ctx = arg;
	struct ipcns_obj_info oi = {
		.kind = ctx->kind,
		.id = p->id,
		.key = p->key,
		.uid = p->uid,
		.cuid = p->cuid,
		.gid = p->gid,
		.cgid = p->cgid,
		.mode = p->mode,
	};
	ops->info(ns, p, ctx->reader, &oi);
	return ctx->cb(ctx->arg, &oi);
}

int ipcns_ns_foreach(struct ipcns_ns *ns, enum ipcns_kind kind, ipcns_obj_cb cb, void *arg)
{
	return ipcns_ns_foreach_as(ns, kind, NULL, cb, arg);
}

int ipcns_ns_foreach_as(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_pidns *reader,
			ipcns_obj_cb cb, void *arg)
{
	struct list_ctx ctx = { .kind = kind, .reader = reader, .cb = cb, .arg = arg };

	if ((unsigned int)kind >= ARRAY_SIZE(kinds))
		return -EINVAL;
	if (kinds[kind]->refresh) {
		int ret = kinds[kind]->refresh(ns);
		if (ret < 0)
			return ret;
	}
	return for_each_obj(ns, kind, list_obj, &ctx);
}

int ipcns_ns_remove(struct ipcns_ns *ns, enum ipcns_kind kind, int id)
{
	struct ipcns_perm *p;

	if ((unsigned int)kind >= ARRAY_SIZE(kinds))
		return -EINVAL;
	int ret = ipcns_ids_obtain_check(&ns->ids[kind], id, &p);
	if (ret < 0)
		return ret;
	return kinds[kind]->rmid(ns, p);
}
