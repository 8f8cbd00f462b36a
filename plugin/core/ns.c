/* SPDX-License-Identifier: MIT */
/* The namespace: limits, credentials and permission checks, the common
 * *get logic, and the namespace-wide entry points.  */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <time.h>

#include "core.h"

struct ipcns_uid_count {
	uid_t uid;
	uint32_t count;
};

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
}

bool ipcns_cred_capable(const struct ipcns_cred *c, int cap)
{
	return cap >= 0 && cap < 64 && (c->cap_effective >> cap) & 1;
}

bool ipcns_cred_in_group(const struct ipcns_cred *c, gid_t gid)
{
	if (c->fsgid == gid)
		return true;
	for (int i = 0; i < c->ngroups && i < (int)ARRAY_SIZE(c->groups); i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/* Reading about the caller can fail because the host ran out of file
 * descriptors (ipcnsd opens /proc files): a resource failure of the
 * call, ENOMEM, which every System V call has; EMFILE and ENFILE are not
 * theirs.  */
static int resource_errno(int ret)
{
	return ret == -EMFILE || ret == -ENFILE ? -ENOMEM : ret;
}

int ipcns_caller_cred(struct ipcns_caller *c, const struct ipcns_cred **out)
{
	if (!c->have_cred) {
		int ret = c->ops->cred(c, &c->cred);
		if (ret < 0)
			return resource_errno(ret);
		c->have_cred = c->have_ids = c->have_caps = true;
	}
	*out = &c->cred;
	return 0;
}

/* euid, egid and fsgid only: what ipcperms needs for most callers.  */
static int caller_ids(struct ipcns_caller *c, const struct ipcns_cred **out)
{
	if (!c->have_ids && !c->have_cred) {
		if (!c->ops->ids)
			return ipcns_caller_cred(c, out);
		int ret = c->ops->ids(c, &c->cred);
		if (ret < 0)
			return resource_errno(ret);
		c->have_ids = true;
	}
	*out = &c->cred;
	return 0;
}

int ipcns_caller_pids(struct ipcns_caller *c, pid_t *host_tgid, pid_t *ns_tgid)
{
	if (!c->have_pids) {
		int ret = c->ops->pids(c, &c->host_tgid, &c->ns_tgid);
		if (ret < 0)
			return resource_errno(ret);
		c->have_pids = true;
	}
	if (host_tgid)
		*host_tgid = c->host_tgid;
	if (ns_tgid)
		*ns_tgid = c->ns_tgid;
	return 0;
}

int ipcns_caller_answer(struct ipcns_caller *c, long ret)
{
	if (!c->ops->answer)
		return 1;
	return c->ops->answer(c, ret);
}

bool ipcns_capable(struct ipcns_caller *c, int cap)
{
	if (!c->have_caps && !c->have_cred) {
		const struct ipcns_cred *cred;
		if (!c->ops->caps)
			return ipcns_caller_cred(c, &cred) == 0 && ipcns_cred_capable(cred, cap);
		if (c->ops->caps(c, &c->cred.cap_effective) < 0)
			return false;
		c->have_caps = true;
	}
	return ipcns_cred_capable(&c->cred, cap);
}

int ipcns_ipcperms(struct ipcns_caller *c, const struct ipcns_perm *p, int flag)
{
	short sflag = (short)flag;
	int requested = ((sflag >> 6) | (sflag >> 3) | sflag) & 7;
	int granted = (int)p->mode;
	const struct ipcns_cred *cred;

	/* When every class (owner, group, other) grants what is asked, who
	 * asks does not matter: skip reading the credentials.  */
	if ((requested & ~(granted & (granted >> 3) & (granted >> 6))) == 0)
		return 0;
	int ret = caller_ids(c, &cred);
	if (ret < 0)
		return ret;
	if (cred->euid == p->cuid || cred->euid == p->uid) {
		granted >>= 6;
	} else {
		bool in_group = cred->fsgid == p->cgid || cred->fsgid == p->gid;
		/* The supplementary groups matter only when the group class
		 * grants something the other class does not.  */
		if (!in_group && ((granted >> 3) & 7) != (granted & 7)) {
			ret = ipcns_caller_cred(c, &cred);
			if (ret < 0)
				return ret;
			in_group = ipcns_cred_in_group(cred, p->cgid) || ipcns_cred_in_group(cred, p->gid);
		}
		if (in_group)
			granted >>= 3;
	}
	if ((requested & ~granted & 7) && !ipcns_capable(c, IPCNS_CAP_IPC_OWNER))
		return -EACCES;
	return 0;
}

int ipcns_check_owner(struct ipcns_caller *c, const struct ipcns_perm *p)
{
	const struct ipcns_cred *cred;
	int ret = caller_ids(c, &cred);
	if (ret < 0)
		return ret;
	if (cred->euid == p->cuid || cred->euid == p->uid || ipcns_capable(c, IPCNS_CAP_SYS_ADMIN))
		return 0;
	return -EPERM;
}

int ipcns_ctl_obtain_check(struct ipcns_ids *ids, struct ipcns_caller *c, int id, struct ipcns_perm **out)
{
	struct ipcns_perm *p;
	int ret = ipcns_ids_obtain_check(ids, id, &p);
	if (ret < 0)
		return ret;
	ret = ipcns_check_owner(c, p);
	if (ret < 0)
		return ret;
	*out = p;
	return 0;
}

int ipcns_update_perm(struct ipcns_perm *p, uid_t uid, gid_t gid, unsigned int mode)
{
	/* make_kuid() of (uid_t)-1 is INVALID_UID: ipc_update_perm fails.  */
	if (uid == (uid_t)-1 || gid == (gid_t)-1)
		return -EINVAL;
	p->uid = uid;
	p->gid = gid;
	p->mode = (p->mode & ~IPCNS_S_IRWXUGO) | (mode & IPCNS_S_IRWXUGO);
	return 0;
}

void ipcns_perm_to_user(const struct ipcns_perm *p, struct ipcns_ipc64_perm *out)
{
	memset(out, 0, sizeof(*out));
	out->key = p->key;
	out->uid = p->uid;
	out->gid = p->gid;
	out->cuid = p->cuid;
	out->cgid = p->cgid;
	out->mode = (uint16_t)p->mode;
	out->seq = (uint16_t)p->seq;
}

void ipcns_perm_from_user(const struct ipcns_ipc64_perm *in, uid_t *uid, gid_t *gid, unsigned int *mode)
{
	*uid = in->uid;
	*gid = in->gid;
	*mode = in->mode;
}

long ipcns_ipcget(struct ipcns_ns *ns, enum ipcns_kind kind, struct ipcns_caller *c, int32_t key, int flg,
		  const struct ipcns_get_ops *ops, void *arg)
{
	if (key == IPC_PRIVATE)
		return ops->getnew(ns, c, key, flg, arg);

	struct ipcns_perm *p = ipcns_ids_find_key(&ns->ids[kind], key);
	if (!p) {
		if (!(flg & IPC_CREAT))
			return -ENOENT;
		return ops->getnew(ns, c, key, flg, arg);
	}
	if ((flg & IPC_CREAT) && (flg & IPC_EXCL))
		return -EEXIST;
	if (ops->more) {
		int ret = ops->more(p, flg, arg);
		if (ret < 0)
			return ret;
	}
	int ret = ipcns_ipcperms(c, p, flg);
	if (ret < 0)
		return ret;
	return p->id;
}

int ipcns_uid_quota_take(struct ipcns_ns *ns, uid_t uid)
{
	uint32_t q = ns->limits.quota_objects_per_uid;
	if (q == 0)
		return 0;
	for (size_t i = 0; i < ns->uid_counts_len; i++) {
		if (ns->uid_counts[i].uid == uid) {
			if (ns->uid_counts[i].count >= q) {
				ipcns_limit_hit(ns, "objects per uid quota (%u) reached for uid %u", q,
						(unsigned int)uid);
				return -ENOSPC;
			}
			ns->uid_counts[i].count++;
			return 0;
		}
	}
	if (ns->uid_counts_len == ns->uid_counts_cap) {
		size_t ncap = ns->uid_counts_cap ? ns->uid_counts_cap * 2 : 4;
		struct ipcns_uid_count *n = realloc(ns->uid_counts, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ns->uid_counts = n;
		ns->uid_counts_cap = ncap;
	}
	ns->uid_counts[ns->uid_counts_len].uid = uid;
	ns->uid_counts[ns->uid_counts_len].count = 1;
	ns->uid_counts_len++;
	return 0;
}

void ipcns_uid_quota_put(struct ipcns_ns *ns, uid_t uid)
{
	if (ns->limits.quota_objects_per_uid == 0)
		return;
	for (size_t i = 0; i < ns->uid_counts_len; i++) {
		if (ns->uid_counts[i].uid == uid) {
			if (--ns->uid_counts[i].count == 0)
				ns->uid_counts[i] = ns->uid_counts[--ns->uid_counts_len];
			return;
		}
	}
}

int64_t ipcns_now(struct ipcns_ns *ns)
{
	if (ns->host && ns->host->now)
		return ns->host->now(ns->host_data);
	return (int64_t)time(NULL);
}

void ipcns_limit_hit(struct ipcns_ns *ns, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	if (!ns->host || !ns->host->limit_hit)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ns->host->limit_hit(ns->host_data, buf);
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
	for (int i = 0; i < 3; i++)
		ipcns_ids_init(&ns->ids[i]);
	if (ipcns_sem_ns_init(ns) < 0 || ipcns_msg_ns_init(ns) < 0) {
		ipcns_ns_free(ns);
		return NULL;
	}
	return ns;
}

void ipcns_ns_free(struct ipcns_ns *ns)
{
	if (!ns)
		return;
	ipcns_shm_ns_free(ns);
	ipcns_sem_ns_free(ns);
	ipcns_msg_ns_free(ns);
	for (int i = 0; i < 3; i++)
		ipcns_ids_destroy(&ns->ids[i]);
	free(ns->uid_counts);
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
	return 0;
}

int ipcns_ns_sweep(struct ipcns_ns *ns)
{
	return ipcns_sem_sweep(ns) + ipcns_msg_sweep(ns);
}

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
}

int ipcns_ns_foreach(struct ipcns_ns *ns, enum ipcns_kind kind, ipcns_obj_cb cb, void *arg)
{
	switch (kind) {
	case IPCNS_SHM:
		return ipcns_shm_foreach(ns, cb, arg);
	case IPCNS_SEM:
		return ipcns_sem_foreach(ns, cb, arg);
	case IPCNS_MSG:
		return ipcns_msg_foreach(ns, cb, arg);
	}
	return -EINVAL;
}

int ipcns_ns_remove(struct ipcns_ns *ns, enum ipcns_kind kind, int id)
{
	switch (kind) {
	case IPCNS_SHM:
		return ipcns_shm_remove(ns, id);
	case IPCNS_SEM:
		return ipcns_sem_remove(ns, id);
	case IPCNS_MSG:
		return ipcns_msg_remove(ns, id);
	}
	return -EINVAL;
}
