/* SPDX-License-Identifier: MIT */
/* ipcnsd's view from inside (view.c): /proc/sysvipc and the IPC sysctls
 * of each namespace, served by FUSE.  */
#ifndef IPCNSD_VIEW_H
#define IPCNSD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"

struct nsent;

/* Mount the view at dir and serve it from a thread of its own; or, with
 * adopt_fd >= 0, serve the /dev/fuse fd of the mount at dir that a
 * previous ipcnsd served (handed over by the keeper, --view-fd), first
 * answering the requests it had read and not answered, recorded in the
 * memfd inflight_fd (-1: none; taken).  Writes above `ceiling' are
 * refused (kept, not copied).  0, or -errno after a log line: containers
 * then get today's masking.  */
int view_start(const char *dir, const struct ipcns_limits *ceiling, int adopt_fd, int inflight_fd);
/* The session's /dev/fuse fd, for the keeper to hold across a restart; -1
 * when the view is not served.  */
int view_fd(void);
/* "MAJOR:MINOR DIR" of the view's mount, for the keeper to unmount it
 * when it lets the session go (KSLOT_MOUNT): its length, or -errno.  */
int view_mount_meta(char *buf, size_t size);
/* The memfd of the requests in flight, for the keeper to hold with the
 * session; -1 when there is none.  *adopted: it is the one view_start
 * was given.  */
int view_inflight_fd(bool *adopted);
/* After every namespace is gone: stop serving.  handed: the keeper holds
 * the fd for the next ipcnsd, the mount stays; otherwise it is
 * unmounted.  */
void view_stop(bool handed);
/* Namespace e serves kernel IPC namespace ino (0: only make e known).
 * Any thread; takes only the view's leaf lock.  */
void view_ns_inode(struct nsent *e, ino_t ino);
/* e is being freed: its queued reads are answered EIO.  */
void view_ns_gone(struct nsent *e);
/* e's worker, with e's lock: answer its queued reads and writes.  */
void view_serve(struct nsent *e);

#endif
