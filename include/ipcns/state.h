/* SPDX-License-Identifier: MIT */
/* ipcns - the state of a namespace, saved and loaded (a daemon that
 * restarts, is upgraded or crashes loses nothing).
 *
 * A full image holds every object of a namespace (ids with their sequence
 * numbers, segments' metadata, semaphore values and undo lists, queued
 * messages), its limits and quota usage, and its parked calls in the order
 * they are woken.  A journal keeps an image current in a memfd that outlives
 * the daemon: each change is committed as a small record before the call is
 * answered, and the records are folded into a new image from time to time.
 *
 * Nothing in an image is trusted: the loader checks every bound, count,
 * id and size before it builds anything, and refuses a bad image with
 * -EBADMSG and a message naming what is wrong, an image of a newer format
 * than it knows with -EPROTONOSUPPORT (leaving it untouched).  Images of
 * older formats are migrated.
 *
 * Error convention as in ipcns.h: 0 or positive, or -errno.  */
#ifndef IPCNS_STATE_H
#define IPCNS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The image format this library writes, and the oldest it reads.  */
#define IPCNS_STATE_VERSION 3
#define IPCNS_STATE_VERSION_MIN 1
/* The front end's record of one parked call, and of the namespace.  */
#define IPCNS_STATE_WAITER_MAX 256
#define IPCNS_STATE_FE_MAX 4096

/* What the front end provides to save and load.  Segment memfds are
 * named in an image by a slot of the keeper's fd set, never by an fd
 * number.  */
struct ipcns_state_ops {
	void *arg;
	/* Save: the slot that holds segment memfd `fd': >= 0, or -errno.  */
	int (*fd_slot)(void *arg, int fd);
	/* Load: an fd for `slot', which the namespace owns from then on (a
	 * dup).  -errno when there is none.  */
	int (*slot_fd)(void *arg, uint32_t slot);
	/* Save: the front end's record of parked call `w' into buf (at most
	 * cap = IPCNS_STATE_WAITER_MAX bytes): its length, or -errno.  */
	int (*waiter_save)(void *arg, struct ipcns_waiter *w, void *buf, size_t cap);
	/* Load: a live waiter (ops, caller) from such a record, or NULL when
	 * the call is gone: the parked call is then dropped as a sweep
	 * drops it (nothing applied, a sender's copy given back).  */
	struct ipcns_waiter *(*waiter_load)(void *arg, const void *rec, size_t len);
};

/* A full image of `ns' into buf[0, cap): its length, or -ENOSPC with
 * *need set to the size it needs (buf may be NULL with cap 0 to ask).
 * fe[0, fe_len) (<= IPCNS_STATE_FE_MAX) is stored with it unread.  */
ssize_t ipcns_state_save(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe, size_t fe_len,
			 void *buf, size_t cap, size_t *need);
/* Check an image completely without building anything: its format
 * version, or -EBADMSG / -EPROTONOSUPPORT with a message in err.  */
int ipcns_state_check(const void *buf, size_t len, char *err, size_t errlen);
/* The front-end record stored with a checked image (points into buf).  */
int ipcns_state_fe(const void *buf, size_t len, const void **fe, size_t *fe_len);
/* A new namespace from an image, checked first: nothing is built from a
 * bad image.  Processes with SEM_UNDO adjustments and segment creators
 * are given to host->watch_exit again.  */
int ipcns_state_load(const void *buf, size_t len, const struct ipcns_host_ops *host, void *host_data,
		     const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen);
/* Every parked call of a namespace (after a load: to arm the timers of
 * those with a deadline).  Stops at the first non-zero return of cb.  */
int ipcns_state_foreach_waiter(struct ipcns_ns *ns, int (*cb)(void *arg, struct ipcns_waiter *w), void *arg);

/* ---- The journal: one memfd per namespace, held by a process that
 * outlives the daemon.  */

/* Start journaling `ns' into `memfd' (dup'ed; grown with ftruncate as
 * needed): a full image is written first.  */
int ipcns_journal_attach(struct ipcns_ns *ns, int memfd, const struct ipcns_state_ops *ops, const void *fe,
			 size_t fe_len);
/* Make every change since the last commit survive a SIGKILL of the
 * daemon.  0, or -errno when the change could not be recorded.  */
int ipcns_journal_commit(struct ipcns_ns *ns);
/* The same, with a record that call `rec' (the front end's record of it,
 * at most IPCNS_STATE_WAITER_MAX bytes) is being answered `ret': the
 * front end calls it right before it sends an answer.  Should the daemon
 * die before the answer leaves, the next one finds the record
 * (ipcns_journal_recover) and sends it, so the call is answered once with
 * the effect the journal holds.  */
int ipcns_journal_commit_answer(struct ipcns_ns *ns, const void *rec, size_t len, int64_t ret);
/* Commit, then stop journaling (the memfd keeps the state).  */
void ipcns_journal_detach(struct ipcns_ns *ns);
/* The answer that was being sent when the daemon died.  */
struct ipcns_journal_pending {
	bool have;
	int64_t ret;
	size_t len;
	uint8_t rec[IPCNS_STATE_WAITER_MAX];
};
/* A namespace from a journal memfd: its image and every committed record
 * (a record not committed, torn by a kill, is ignored), then journaling
 * goes on into the same memfd (compacted: a fresh image).  *pending (may
 * be NULL) gets the answer that was being sent, to send again.  Errors as
 * ipcns_state_load; the memfd is not written unless the load succeeded.  */
int ipcns_journal_recover(int memfd, const struct ipcns_host_ops *host, void *host_data,
			  const struct ipcns_state_ops *ops, const void *fe, size_t fe_len, struct ipcns_ns **out,
			  struct ipcns_journal_pending *pending, char *err, size_t errlen);
/* Once a loaded or recovered namespace's calls can be answered (its
 * notify fds attached, the pending answer sent): complete the parked
 * calls its state lets proceed, which a daemon that died between two
 * steps of one call left waiting (a message queued while a receiver that
 * wants it waits, a sender whose message fits, a semop whose values are
 * there).  Their answers are journaled as any.  */
void ipcns_state_settle(struct ipcns_ns *ns);
/* For the front end: bytes of the memfd in use, records since the last
 * image, images written.  */
struct ipcns_journal_stats {
	uint64_t file_bytes, image_bytes, record_bytes, commits, compactions;
	/* The memfd's pages (what the journal holds in memory), counted in
	 * the namespace's pool: at most about its memory budget.  */
	uint64_t held_bytes;
};
int ipcns_journal_stats(const struct ipcns_ns *ns, struct ipcns_journal_stats *st);

#ifdef __cplusplus
}
#endif
#endif
