/* SPDX-License-Identifier: MIT */
/* The view's file system (viewfs.c): /proc/sysvipc/{shm,sem,msg} and the
 * IPC sysctls of a namespace as FUSE files (spec/view.md), shared by the
 * front ends that serve it (ipcnsd's view.c, the crun plugin).  A front
 * end owns the session, the table of open files and which namespace a
 * file shows; this is the tree, who asks, and the answers.  */
#ifndef IPCNS_VIEWFS_H
#define IPCNS_VIEWFS_H

#define FUSE_USE_VERSION 34
#include <fuse3/fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"

/* Open files of one namespace's view, and the /proc/sysvipc text they
 * may keep between the reads of a reader that takes it in pieces: the
 * text of 32768 segments is 5.7 MiB, and a read past the limit gets
 * ENOMEM; an open past the count ENFILE.  */
#define IPCNS_VIEW_MAX_FILES 64
#define IPCNS_VIEW_MAX_TEXT (16u << 20)

/* Inodes.  */
enum {
	IPCNS_VIEW_ROOT = 1,
	IPCNS_VIEW_SYSVIPC,
	IPCNS_VIEW_SYS,
	IPCNS_VIEW_KERNEL,
	IPCNS_VIEW_SHM,
	IPCNS_VIEW_SEM,
	IPCNS_VIEW_MSG,
	IPCNS_VIEW_SYSCTL0, /* + enum ipcns_sysctl */
	IPCNS_VIEW_END = IPCNS_VIEW_SYSCTL0 + IPCNS_SYSCTL_COUNT,
};

/* The process that made a request (FUSE gives its tid in the server's
 * pid namespace), and what its checks read of it, lazily.  */
struct ipcns_view_who {
	pid_t tid;
	ino_t ipc_ino, userns_ino, owner_userns_ino;
	struct ipcns_proc_status st;
	bool have_status;
};
/* The requester of req, with its kernel IPC namespace: 0, or -errno
 * (-ESRCH: gone).  */
int ipcns_view_who_of(fuse_req_t req, struct ipcns_view_who *w);
/* ipc_permissions() for w: its credentials, and the user namespace that
 * owns its IPC namespace.  */
int ipcns_view_sysctl_who(struct ipcns_view_who *w, struct ipcns_sysctl_who *out);
/* tid's uid_map or gid_map; NULL (identity) in the initial user
 * namespace.  */
int ipcns_view_read_idmap(pid_t tid, const char *which, struct ipcns_idmap **out);

/* The tree: lookups, attributes, listings, and the session's INIT; the
 * same for every namespace.  */
bool ipcns_view_ino_valid(fuse_ino_t ino);
void ipcns_view_op_init(void *userdata, struct fuse_conn_info *conn);
void ipcns_view_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ipcns_view_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ipcns_view_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi);
void ipcns_view_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);

/* An open file of the view: what it shows the opener.  */
struct ipcns_view_file {
	fuse_ino_t ino;
	ino_t ipc_ino;                       /* the opener's kernel IPC namespace */
	struct ipcns_idmap *uidmap, *gidmap; /* the opener's, NULL for identity */
	/* The opener's pid namespace: Linux prints /proc/sysvipc's pids in
	 * it (the namespace at open, kept with the file), 0 for a process
	 * not visible there.  */
	struct ipcns_pidns pidns;
	char *text;                          /* /proc/sysvipc: the text read so far */
	size_t len;
	bool have_text;
	size_t charged; /* text bytes counted by the front end (charge) */
};
/* The checks of an open of ino with `flags' by w (a directory, the access
 * mode, the sysctl's permission): 0, or -errno to answer.  */
int ipcns_view_open_check(struct ipcns_view_who *w, fuse_ino_t ino, int flags);
/* f, a file ino opened by w (its namespace, id maps and pid namespace):
 * 0 or -errno.  */
int ipcns_view_file_init(struct ipcns_view_file *f, struct ipcns_view_who *w, fuse_ino_t ino);
/* What a file holds, freed (its kept text uncharged first).  */
void ipcns_view_file_fini(struct ipcns_view_file *f);
/* Linux checks a sysctl writer again at each write: may w write ino?  */
bool ipcns_view_may_write(fuse_req_t req, fuse_ino_t ino);

/* How a front end counts the /proc/sysvipc text files keep between the
 * reads of a reader that takes it in pieces: charge is 0 or -ENOMEM.  */
struct ipcns_view_text_ops {
	int (*charge)(struct ipcns_view_file *f, size_t len);
	void (*uncharge)(struct ipcns_view_file *f, size_t len);
};
/* f's kept text, uncharged, for the caller to free.  */
char *ipcns_view_text_take(struct ipcns_view_file *f, const struct ipcns_view_text_ops *tops);
/* A read or write of f (size bytes at off; a write's data), answered on
 * req from namespace ns.  A write above `ceiling' is refused; `what' then
 * says why, for the log ("" otherwise).  */
struct ipcns_view_rw {
	bool write, may_write;
	size_t size;
	off_t off;
	const char *data;
};
void ipcns_view_serve(struct ipcns_ns *ns, struct ipcns_view_file *f, fuse_req_t req, const struct ipcns_view_rw *rw,
		      const struct ipcns_limits *ceiling, const struct ipcns_view_text_ops *tops, char *what,
		      size_t whatlen);

#endif
