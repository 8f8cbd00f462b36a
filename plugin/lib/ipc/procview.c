/* SPDX-License-Identifier: MIT */
/* /proc/sysvipc/{shm,sem,msg} of a namespace, byte for byte as Linux's
 * ipc/shm.c, ipc/sem.c and ipc/msg.c print them on a 64-bit kernel: a
 * header line, then one line per object in index order.
 *
 * Implementation notes: Linux prints uids and gids mapped into the user
 * namespace of the file's opener (from_kuid_munged: kernel.overflowuid
 * when unmapped; ipc_perm keeps host ids), pids in the opener's pid
 * namespace (0 for a process not visible there: actor.c), and times in seconds of the wall clock.  The mode shows SHM_DEST and
 * SHM_LOCKED.  rss and swap are bytes.  */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

int ipcns_idmap_parse(struct ipcns_idmap *m, const char *text)
{
	memset(m, 0, sizeof(*m));
	const char *p = text;
	while (*p) {
		unsigned long a, b, c;
		int used = 0;
		if (sscanf(p, " %lu %lu %lu%n", &a, &b, &c, &used) != 3)
			break;
		if (m->n == ARRAY_SIZE(m->e) || a > UINT32_MAX || b > UINT32_MAX || c > UINT32_MAX)
			return -EINVAL;
		m->e[m->n].inside = (uint32_t)a;
		m->e[m->n].outside = (uint32_t)b;
		m->e[m->n].count = (uint32_t)c;
		m->n++;
		p += used;
	}
	while (*p == ' ' || *p == '\n' || *p == '\t')
		p++;
	return *p ? -EINVAL : 0;
}

struct text {
	char *buf;
	size_t len, cap;
	int err;
	struct ipcns_ns *ns;
	const struct ipcns_idmap *uidmap, *gidmap;
};

/* from_kuid_munged(seq_user_ns(), ...).  */
static unsigned int map_id(const struct text *t, bool gid, uint32_t host)
{
	uint32_t id;
	if (ipcns_idmap_from_host(gid ? t->gidmap : t->uidmap, host, &id))
		return id;
	return ipcns_overflow_id(t->ns, gid);
}

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	if (t->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = t->cap * 2 + (size_t)n + 1;
		char *nb = realloc(t->buf, ncap);
		if (!nb) {
			t->err = -ENOMEM;
			return;
		}
		t->buf = nb;
		t->cap = ncap;
	}
}

static int show(void *arg, const struct ipcns_obj_info *oi)
{
	struct text *t = arg;
	unsigned int uid = map_id(t, false, oi->uid), gid = map_id(t, true, oi->gid);
	unsigned int cuid = map_id(t, false, oi->cuid), cgid = map_id(t, true, oi->cgid);
	switch (oi->kind) {
	case IPCNS_SHM:
		text_add(t,
			 "%10d %10d  %4o %21llu %5u %5u  %5llu %5u %5u %5u %5u %10llu %10llu %10llu %21llu %21llu\n",
			 oi->key, oi->id, oi->mode, (unsigned long long)oi->bytes, (unsigned int)oi->cpid,
			 (unsigned int)oi->lpid, (unsigned long long)oi->count, uid, gid, cuid, cgid,
			 (unsigned long long)oi->atime, (unsigned long long)oi->dtime,
			 (unsigned long long)oi->ctime, (unsigned long long)oi->rss, (unsigned long long)oi->swap);
		break;
	case IPCNS_SEM:
		text_add(t, "%10d %10d  %4o %10u %5u %5u %5u %5u %10llu %10llu\n", oi->key, oi->id, oi->mode,
			 (unsigned int)oi->count, uid, gid, cuid, cgid, (unsigned long long)oi->atime,
			 (unsigned long long)oi->ctime);
		break;
	case IPCNS_MSG:
		text_add(t, "%10d %10d  %4o  %10llu %10llu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\n", oi->key,
			 oi->id, oi->mode, (unsigned long long)oi->bytes, (unsigned long long)oi->count,
			 (unsigned int)oi->cpid, (unsigned int)oi->lpid, uid, gid, cuid, cgid,
			 (unsigned long long)oi->atime, (unsigned long long)oi->dtime,
			 (unsigned long long)oi->ctime);
		break;
	}
	return t->err;
}

static const char *const headers[3] = {
	[IPCNS_SHM] = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
		      "      atime      dtime      ctime                   rss                  swap\n",
	[IPCNS_SEM] = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
	[IPCNS_MSG] = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
		      "      stime      rtime      ctime\n",
};

int ipcns_ns_proc_text(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_idmap *uidmap,
		       const struct ipcns_idmap *gidmap, char **out, size_t *len)
{
	return ipcns_ns_proc_text_as(ns, kind, uidmap, gidmap, NULL, out, len);
}

int ipcns_ns_proc_text_as(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_idmap *uidmap,
			  const struct ipcns_idmap *gidmap, const struct ipcns_pidns *reader, char **out,
			  size_t *len)
{
	if ((unsigned int)kind > IPCNS_MSG)
		return -EINVAL;
	struct text t = { .cap = 4096, .ns = ns, .uidmap = uidmap, .gidmap = gidmap };
	t.buf = malloc(t.cap);
	if (!t.buf)
		return -ENOMEM;
	text_add(&t, "%s", headers[kind]);
	int ret = t.err ? t.err : ipcns_ns_foreach_as(ns, kind, reader, show, &t);
	if (ret < 0 || t.err) {
		free(t.buf);
		return ret < 0 ? ret : t.err;
	}
	*out = t.buf;
	*len = t.len;
	return 0;
}
