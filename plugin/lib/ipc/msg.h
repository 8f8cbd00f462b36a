/* SPDX-License-Identifier: MIT */
/* System V message queues: the structures of msg.c, shared with the
 * state image (image_*.c, journal.c).  Private to the core.  */
#ifndef IPCNS_MSG_H
#define IPCNS_MSG_H

#include <assert.h>
#include <stddef.h>

#include "core.h"

/* Linux's find_msg/testmsg search modes.  */
enum {
	SEARCH_ANY = 1,
	SEARCH_EQUAL,
	SEARCH_NOTEQUAL,
	SEARCH_LESSEQUAL,
	SEARCH_NUMBER,
};

/* One message.  mtype is followed by mtext so that a receiver gets both
 * with one write, laid out as its struct msgbuf.  */
struct msgq_msg {
	struct ipcns_list link;
	uint64_t size; /* mtext bytes */
	int64_t mtype;
	char mtext[];
};
static_assert(offsetof(struct msgq_msg, mtext) == offsetof(struct msgq_msg, mtype) + sizeof(int64_t),
	      "mtext must follow mtype");

/* Linux's struct msg_queue.  */
struct msgq {
	struct ipcns_perm perm;
	int64_t stime, rtime, ctime;
	uint64_t cbytes, qnum, qbytes;
	struct ipcns_pidref lspid, lrpid;
	struct ipcns_list messages;
	struct ipcns_list receivers; /* struct msgq_waiter, FIFO */
	struct ipcns_list senders;   /* struct msgq_waiter */
};

/* A parked msgsnd or msgrcv; the waiter's `core' points here.  */
struct msgq_waiter {
	struct ipcns_list qlink;      /* q->receivers or q->senders */
	struct ipcns_list nslink;     /* state->waiters */
	struct ipcns_list starvelink; /* state->starved: a sender without its copy */
	struct ipcns_waiter *w;
	struct msgq *q;
	struct ipcns_pidref pid; /* the caller, for msg_lspid/msg_lrpid */
	/* msgrcv */
	int mode;
	int64_t msgtyp;
	int64_t maxsize;
	uint64_t buf, bufsz;
	/* msgsnd: the copy, charged to the quota, or NULL when the quota could
	 * not hold it (then mtext is read again from msgp).  */
	struct msgq_msg *msg;
	uint64_t msgp, msgsz;
	int64_t mtype;
};

struct ipcns_msg_state {
	struct ipcns_list waiters; /* every parked call of the namespace */
	struct ipcns_list starved; /* senders parked without their copy */
	uint64_t held;             /* bytes charged to quota_msg_bytes */
	bool freed;                /* some were released since the last retry */
};

static inline struct msgq *msgq_of(struct ipcns_perm *p)
{
	return container_of(p, struct msgq, perm);
}

/* What glibc's malloc takes for a message: the request plus its size
 * word, rounded up to 16, at least 32.  */
static inline uint64_t msg_cost(uint64_t size)
{
	uint64_t n = (sizeof(struct msgq_msg) + size + sizeof(size_t) + 15) & ~(uint64_t)15;
	return n < 32 ? 32 : n;
}

#endif
