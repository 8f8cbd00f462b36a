/* SPDX-License-Identifier: MIT */
/* What every kind shares, as Linux's ipc/util.c: the caller's
 * credentials and pids, ipcperms and the owner checks, ipcget, the
 * ipc64_perm conversions, the per-uid object quota, and the host's clock
 * and limit log.  shm.c, sem.c and msg.c call into this file; it calls
 * none of them (the namespace's lifecycle is namespace.c).  */
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <time.h>

#include "core.h"

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

/* Linux's in_group_p(): the fsgid or a supplementary group.  The
 * credentials hold the first groups; a caller with more is asked for the
 * others (ops->in_group) rather than guessed about.  1, 0 or -errno.  */
int ipcns_caller_in_group(struct ipcns_caller *c, const struct ipcns_cred *cred, gid_t gid)
{
	if (ipcns_cred_in_group(cred, gid))
		return 1;
	if (cred->ngroups <= (int)ARRAY_SIZE(cred->groups))
		return 0;
	if (!c->ops->in_group)
		return -EIO;
	return resource_errno(c->ops->in_group(c, gid));
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
		if (c->ops->caps(c, &c->cred.cap_effective, &c->cred.userns) < 0)
			return false;
		c->have_caps = true;
	}
	return ipcns_cred_capable(&c->cred, cap);
}

bool ipcns_capable_init(struct ipcns_caller *c, int cap)
{
	return ipcns_capable(c, cap) && !c->cred.userns;
}

bool ipcns_cred_capable_init(const struct ipcns_cred *c, int cap)
{
	return !c->userns && ipcns_cred_capable(c, cap);
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
			ret = ipcns_caller_in_group(c, cred, p->cgid);
			if (ret == 0)
				ret = ipcns_caller_in_group(c, cred, p->gid);
			if (ret < 0)
				return ret;
			in_group = ret > 0;
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

int ipcns_ctl_check(struct ipcns_ns *ns, struct ipcns_caller *c, enum ipcns_kind kind, int id)
{
	struct ipcns_perm *p;
	return ipcns_ctl_obtain_check(&ns->ids[kind], c, id, &p);
}

/* Linux's map_id_down/map_id_up over one of the caller's maps (NULL: the
 * daemon's own namespace, every id but (uint32_t)-1 maps to itself).  */
static bool idmap_to_host(const struct ipcns_idmap *m, uint32_t id, uint32_t *out)
{
	if (id == UINT32_MAX)
		return false;
	if (!m) {
		*out = id;
		return true;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		if (id >= m->e[i].inside && id - m->e[i].inside < m->e[i].count) {
			*out = m->e[i].outside + (id - m->e[i].inside);
			return true;
		}
	}
	return false;
}

bool ipcns_idmap_from_host(const struct ipcns_idmap *m, uint32_t host, uint32_t *out)
{
	if (!m) {
		*out = host;
		return true;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		if (host >= m->e[i].outside && host - m->e[i].outside < m->e[i].count) {
			*out = m->e[i].inside + (host - m->e[i].outside);
			return true;
		}
	}
	return false;
}

uint32_t ipcns_overflow_id(struct ipcns_ns *ns, bool gid)
{
	long long v = ipcns_vm_read(ns, gid ? IPCNS_VM_OVERFLOW_GID : IPCNS_VM_OVERFLOW_UID);
	/* DEFAULT_OVERFLOWUID when the machine does not say.  */
	return v >= 0 && v <= UINT32_MAX ? (uint32_t)v : 65534;
}

/* The caller's maps, malloc'd into *maps (two: uid, gid), or *maps NULL
 * when its ids are the daemon's.  */
static int caller_idmaps(struct ipcns_caller *c, struct ipcns_idmap **maps)
{
	*maps = NULL;
	if (!c->ops->idmaps)
		return 0;
	struct ipcns_idmap *m = malloc(2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	int ret = c->ops->idmaps(c, &m[0], &m[1]);
	if (ret <= 0) {
		free(m);
		return resource_errno(ret);
	}
	*maps = m;
	return 0;
}

int ipcns_update_perm(struct ipcns_caller *c, struct ipcns_perm *p, uid_t uid, gid_t gid, unsigned int mode)
{
	/* make_kuid() in the caller's user namespace: INVALID_UID for an id
	 * it does not map, (uid_t)-1 included, and ipc_update_perm fails.  */
	struct ipcns_idmap *maps;
	uint32_t huid, hgid;
	if (uid == (uid_t)-1 || gid == (gid_t)-1)
		return -EINVAL;
	int ret = caller_idmaps(c, &maps);
	if (ret < 0)
		return ret;
	bool ok = idmap_to_host(maps ? &maps[0] : NULL, uid, &huid) &&
		  idmap_to_host(maps ? &maps[1] : NULL, gid, &hgid);
	free(maps);
	if (!ok)
		return -EINVAL;
	p->uid = huid;
	p->gid = hgid;
	p->mode = (p->mode & ~IPCNS_S_IRWXUGO) | (mode & IPCNS_S_IRWXUGO);
	return 0;
}

int ipcns_perm_to_user(struct ipcns_ns *ns, struct ipcns_caller *c, const struct ipcns_perm *p,
		       struct ipcns_ipc64_perm *out)
{
	struct ipcns_idmap *maps;
	int ret = caller_idmaps(c, &maps);
	if (ret < 0)
		return ret;
	memset(out, 0, sizeof(*out));
	out->key = p->key;
	out->uid = p->uid;
	out->gid = p->gid;
	out->cuid = p->cuid;
	out->cgid = p->cgid;
	if (maps) {
		/* from_kuid_munged(current_user_ns(), ...).  */
		uint32_t *ids[4] = { &out->uid, &out->cuid, &out->gid, &out->cgid };
		for (int i = 0; i < 4; i++)
			if (!ipcns_idmap_from_host(&maps[i / 2], *ids[i], ids[i]))
				*ids[i] = ipcns_overflow_id(ns, i >= 2);
		free(maps);
	}
	out->mode = (uint16_t)p->mode;
	out->seq = (uint16_t)p->seq;
	return 0;
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
		struct ipcns_uid_count *n = ipcns_mem_realloc(&ns->budget, ns->uid_counts, ncap * sizeof(*n));
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

int64_t ipcns_mono(struct ipcns_ns *ns)
{
	struct timespec ts;
	if (ns->host && ns->host->mono_ns)
		return ns->host->mono_ns(ns->host_data);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long long ipcns_vm_read(struct ipcns_ns *ns, enum ipcns_vm what)
{
	if (ns->host && ns->host->vm_read)
		return ns->host->vm_read(ns->host_data, what);
	return -1;
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
