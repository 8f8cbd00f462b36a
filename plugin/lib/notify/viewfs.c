/* SPDX-License-Identifier: MIT */
/* The view's file system (viewfs.h, spec/view.md): the tree of
 *   sysvipc/{shm,sem,msg}      0444
 *   sys/kernel/<sysctl>        0644 (*_next_id 0444)
 * as FUSE files, who asks (FUSE gives the tid of the process that made a
 * request, in the server's pid namespace: its kernel IPC namespace names
 * the namespace, its credentials and user namespace decide what it may
 * do and how ids are shown), and the answers to reads and writes from a
 * namespace.  Files read in one piece: /proc/sysvipc text is built at a
 * read at offset 0 (or the first read of the file), kept with the file
 * for the reads that follow, like a seq_file read in chunks.  ipcnsd's
 * view.c and the crun plugin serve it, each with its own session and
 * open files.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notify.h"
#include "viewfs.h"

#define CAP_SYS_ADMIN_BIT 21
#define CAP_CHECKPOINT_RESTORE_BIT 40

/* ---- The requester.  */

static struct {
	pthread_once_t once;
	ino_t userns;
} own = { .once = PTHREAD_ONCE_INIT };

static void own_find(void)
{
	struct stat sb;
	if (stat("/proc/self/ns/user", &sb) == 0)
		own.userns = sb.st_ino;
}

/* Our own user namespace: the initial one on a host.  */
static ino_t own_userns(void)
{
	pthread_once(&own.once, own_find);
	return own.userns;
}

static int ns_inode(pid_t tid, const char *ns, ino_t *ino)
{
	char path[64];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)tid, ns);
	if (stat(path, &sb) < 0)
		return -errno;
	*ino = sb.st_ino;
	return 0;
}

/* The user namespace that owns tid's IPC namespace.  */
static int owner_userns(pid_t tid, ino_t *ino)
{
	char path[64];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ufd = ioctl(fd, NS_GET_USERNS);
	int err = errno;
	close(fd);
	/* EPERM: the owner is outside our own user namespace, which is the
	 * initial one on a host.  */
	if (ufd < 0)
		return -err;
	int ret = fstat(ufd, &sb) < 0 ? -errno : 0;
	close(ufd);
	if (ret == 0)
		*ino = sb.st_ino;
	return ret;
}

int ipcns_view_read_idmap(pid_t tid, const char *which, struct ipcns_idmap **out)
{
	*out = NULL;
	struct ipcns_idmap *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	int ret = ipcns_proc_idmap(tid, which, m);
	if (ret < 0) {
		free(m);
		return ret;
	}
	if (m->n == 1 && m->e[0].inside == 0 && m->e[0].outside == 0 && m->e[0].count == UINT32_MAX) {
		free(m);
		return 0;
	}
	*out = m;
	return 0;
}

/* The host id that is id 0 in tid's user namespace, or -1.  */
static int64_t root_of(const struct ipcns_idmap *m)
{
	if (!m)
		return 0;
	for (uint32_t i = 0; i < m->n; i++)
		if (m->e[i].inside == 0)
			return m->e[i].outside;
	return -1;
}

int ipcns_view_who_of(fuse_req_t req, struct ipcns_view_who *w)
{
	memset(w, 0, sizeof(*w));
	w->tid = fuse_req_ctx(req)->pid;
	if (w->tid <= 0)
		return -EACCES;
	int ret = ns_inode(w->tid, "ipc", &w->ipc_ino);
	if (ret < 0)
		return ret == -ENOENT ? -ESRCH : ret;
	return 0;
}

int ipcns_view_sysctl_who(struct ipcns_view_who *w, struct ipcns_sysctl_who *out)
{
	memset(out, 0, sizeof(*out));
	if (!w->have_status) {
		int ret = ipcns_proc_status(w->tid, &w->st);
		if (ret < 0)
			return ret;
		w->have_status = true;
		if (ns_inode(w->tid, "user", &w->userns_ino) < 0 || owner_userns(w->tid, &w->owner_userns_ino) < 0)
			w->owner_userns_ino = own_userns();
	}
	const struct ipcns_cred *c = &w->st.cred;
	int64_t root_uid = -1, root_gid = -1;
	if (w->owner_userns_ino == own_userns()) {
		root_uid = root_gid = 0;
	} else if (w->owner_userns_ino == w->userns_ino) {
		/* Uid and gid 0 of its own user namespace, in host ids.  */
		struct ipcns_idmap *um = NULL, *gm = NULL;
		if (ipcns_view_read_idmap(w->tid, "uid_map", &um) == 0 && ipcns_view_read_idmap(w->tid, "gid_map", &gm) == 0) {
			root_uid = root_of(um);
			root_gid = root_of(gm);
		}
		free(um);
		free(gm);
	}
	/* An owner neither ours nor the requester's own (a nested user
	 * namespace): its root is not known here, only the capability
	 * rule below can apply.  */
	out->euid_is_ns_root = root_uid >= 0 && (int64_t)c->euid == root_uid;
	out->in_ns_root_group = root_gid >= 0 && ((int64_t)c->egid == root_gid ||
						  ipcns_cred_in_group(c, (gid_t)root_gid));
	/* checkpoint_restore_ns_capable(): the capability in its user
	 * namespace, over the owner (its own, or any from the initial
	 * one).  */
	bool cap = ipcns_cred_capable(c, CAP_CHECKPOINT_RESTORE_BIT) || ipcns_cred_capable(c, CAP_SYS_ADMIN_BIT);
	out->checkpoint_restore =
		cap && (w->userns_ino == w->owner_userns_ino || w->userns_ino == own_userns());
	return 0;
}

/* ---- The tree.  */

static const char *sysvipc_names[3] = { "shm", "sem", "msg" };

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	if (ino == IPCNS_VIEW_ROOT || ino == IPCNS_VIEW_SYSVIPC || ino == IPCNS_VIEW_SYS || ino == IPCNS_VIEW_KERNEL) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else if (ino >= IPCNS_VIEW_SHM && ino <= IPCNS_VIEW_MSG) {
		st->st_mode = S_IFREG | 0444;
	} else {
		st->st_mode = S_IFREG | ipcns_sysctl_mode((int)(ino - IPCNS_VIEW_SYSCTL0));
	}
}

bool ipcns_view_ino_valid(fuse_ino_t ino)
{
	return ino >= IPCNS_VIEW_ROOT && ino < IPCNS_VIEW_END;
}

static fuse_ino_t child(fuse_ino_t parent, const char *name)
{
	switch (parent) {
	case IPCNS_VIEW_ROOT:
		return !strcmp(name, "sysvipc") ? IPCNS_VIEW_SYSVIPC : !strcmp(name, "sys") ? IPCNS_VIEW_SYS : 0;
	case IPCNS_VIEW_SYS:
		return !strcmp(name, "kernel") ? IPCNS_VIEW_KERNEL : 0;
	case IPCNS_VIEW_SYSVIPC:
		for (int i = 0; i < 3; i++)
			if (!strcmp(name, sysvipc_names[i]))
				return IPCNS_VIEW_SHM + (fuse_ino_t)i;
		return 0;
	case IPCNS_VIEW_KERNEL: {
		int s = ipcns_sysctl_lookup(name);
		return s < 0 ? 0 : IPCNS_VIEW_SYSCTL0 + (fuse_ino_t)s;
	}
	}
	return 0;
}

void ipcns_view_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = child(parent, name);
	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param e = { .ino = ino, .attr_timeout = 3600, .entry_timeout = 3600 };
	fill_attr(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

void ipcns_view_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	if (!ipcns_view_ino_valid(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

/* O_TRUNC of a sysctl file (echo > file): nothing to truncate.  */
void ipcns_view_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	ipcns_view_op_getattr(req, ino, fi);
}

void ipcns_view_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	const char *names[IPCNS_SYSCTL_COUNT + 2];
	fuse_ino_t inos[IPCNS_SYSCTL_COUNT + 2];
	size_t n = 0;
	names[n] = ".";
	inos[n++] = ino;
	names[n] = "..";
	inos[n++] = ino == IPCNS_VIEW_KERNEL ? IPCNS_VIEW_SYS : IPCNS_VIEW_ROOT;
	switch (ino) {
	case IPCNS_VIEW_ROOT:
		names[n] = "sys";
		inos[n++] = IPCNS_VIEW_SYS;
		names[n] = "sysvipc";
		inos[n++] = IPCNS_VIEW_SYSVIPC;
		break;
	case IPCNS_VIEW_SYS:
		names[n] = "kernel";
		inos[n++] = IPCNS_VIEW_KERNEL;
		break;
	case IPCNS_VIEW_SYSVIPC:
		for (int i = 0; i < 3; i++) {
			names[n] = sysvipc_names[i];
			inos[n++] = IPCNS_VIEW_SHM + (fuse_ino_t)i;
		}
		break;
	case IPCNS_VIEW_KERNEL:
		for (int i = 0; i < IPCNS_SYSCTL_COUNT; i++) {
			names[n] = ipcns_sysctl_name(i);
			inos[n++] = IPCNS_VIEW_SYSCTL0 + (fuse_ino_t)i;
		}
		break;
	default:
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	char buf[4096];
	size_t used = 0;
	for (size_t i = (size_t)off; i < n; i++) {
		struct stat st;
		fill_attr(inos[i], &st);
		size_t want = fuse_add_direntry(req, buf + used, sizeof(buf) - used, names[i], &st, (off_t)(i + 1));
		if (want > sizeof(buf) - used || used + want > size)
			break;
		used += want;
	}
	fuse_reply_buf(req, buf, used);
}

void ipcns_view_op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* echo > file opens with O_TRUNC: in the open, no setattr.  */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned int)FUSE_CAP_ASYNC_READ;
}


/* ---- Files.  */

int ipcns_view_open_check(struct ipcns_view_who *w, fuse_ino_t ino, int flags)
{
	if (!ipcns_view_ino_valid(ino) || ino < IPCNS_VIEW_SHM)
		return ipcns_view_ino_valid(ino) ? -EISDIR : -ENOENT;
	int acc = flags & O_ACCMODE;
	if (ino < IPCNS_VIEW_SYSCTL0)
		return acc == O_RDONLY ? 0 : -EACCES;
	/* proc_sys_permission at open: MAY_READ and/or MAY_WRITE.  */
	struct ipcns_sysctl_who sw;
	int mask = (acc != O_WRONLY ? 4 : 0) | (acc != O_RDONLY ? 2 : 0);
	int ret = ipcns_view_sysctl_who(w, &sw);
	return ret < 0 ? ret : ipcns_sysctl_permission((int)(ino - IPCNS_VIEW_SYSCTL0), &sw, mask);
}

int ipcns_view_file_init(struct ipcns_view_file *f, struct ipcns_view_who *w, fuse_ino_t ino)
{
	memset(f, 0, sizeof(*f));
	f->ino = ino;
	f->ipc_ino = w->ipc_ino;
	if (ino < IPCNS_VIEW_SYSCTL0 && (ipcns_view_read_idmap(w->tid, "uid_map", &f->uidmap) < 0 ||
					 ipcns_view_read_idmap(w->tid, "gid_map", &f->gidmap) < 0 ||
					 ipcns_proc_pidns(w->tid, &f->pidns) < 0)) {
		ipcns_view_file_fini(f);
		return -ESRCH;
	}
	return 0;
}

void ipcns_view_file_fini(struct ipcns_view_file *f)
{
	free(f->text);
	f->text = NULL;
	free(f->uidmap);
	free(f->gidmap);
	f->uidmap = f->gidmap = NULL;
}

bool ipcns_view_may_write(fuse_req_t req, fuse_ino_t ino)
{
	struct ipcns_view_who w;
	struct ipcns_sysctl_who sw;
	return ino >= IPCNS_VIEW_SYSCTL0 && ipcns_view_who_of(req, &w) == 0 && ipcns_view_sysctl_who(&w, &sw) == 0 &&
	       ipcns_sysctl_permission((int)(ino - IPCNS_VIEW_SYSCTL0), &sw, 2) == 0;
}

char *ipcns_view_text_take(struct ipcns_view_file *f, const struct ipcns_view_text_ops *tops)
{
	if (f->charged)
		tops->uncharge(f, f->charged);
	f->charged = 0;
	char *t = f->text;
	f->text = NULL;
	return t;
}

/* /proc/sysvipc.  The text is built at a read at offset 0, or when a read
 * needs text that is not kept (a pread after the end was reached).  */
static void serve_text(struct ipcns_ns *ns, struct ipcns_view_file *f, fuse_req_t req, const struct ipcns_view_rw *rw,
		       const struct ipcns_view_text_ops *tops)
{
	size_t off = (size_t)rw->off;
	char *local = NULL;
	if (off == 0 || (!f->text && (!f->have_text || off < f->len))) {
		char *t = NULL;
		size_t len = 0;
		int ret = ipcns_ns_proc_text_as(ns, (enum ipcns_kind)(f->ino - IPCNS_VIEW_SHM), f->uidmap, f->gidmap,
						&f->pidns, &t, &len);
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		free(ipcns_view_text_take(f, tops));
		f->len = len;
		f->have_text = true;
		/* Read in one piece (most readers): nothing kept.  */
		if (off + rw->size >= len) {
			local = t;
		} else if (tops->charge(f, len) == 0) {
			f->charged = len;
			f->text = t;
		} else {
			free(t);
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	size_t n = off >= f->len ? 0 : f->len - off;
	if (n > rw->size)
		n = rw->size;
	const char *src = local ? local : f->text;
	/* The reader reached the end: the kept text goes.  */
	if (!local && f->text && off + n >= f->len)
		local = ipcns_view_text_take(f, tops);
	fuse_reply_buf(req, n ? src + off : "", n);
	free(local);
}

void ipcns_view_serve(struct ipcns_ns *ns, struct ipcns_view_file *f, fuse_req_t req, const struct ipcns_view_rw *rw,
		      const struct ipcns_limits *ceiling, const struct ipcns_view_text_ops *tops, char *what,
		      size_t whatlen)
{
	what[0] = '\0';
	if (f->ino >= IPCNS_VIEW_SHM && f->ino <= IPCNS_VIEW_MSG) {
		serve_text(ns, f, req, rw, tops);
		return;
	}
	int which = (int)(f->ino - IPCNS_VIEW_SYSCTL0);
	if (!rw->write) {
		char buf[128];
		int n = ipcns_sysctl_format(ns, which, buf, sizeof(buf));
		if (n < 0) {
			fuse_reply_err(req, -n);
			return;
		}
		/* Only offset 0 reads: a sysctl file is read in one go.  */
		size_t len = rw->off == 0 ? (size_t)n : 0;
		fuse_reply_buf(req, buf, len < rw->size ? len : rw->size);
		return;
	}
	if (!rw->may_write) {
		fuse_reply_err(req, EPERM);
		return;
	}
	long ret = ipcns_sysctl_write(ns, which, rw->data, rw->size, (uint64_t)rw->off, ceiling, what, whatlen);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_write(req, (size_t)ret);
}
