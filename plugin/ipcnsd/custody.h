/* SPDX-License-Identifier: MIT */
/* The protocol between ipcnsd and ipcns-keeper, the process that holds
 * every fd ipcnsd must not lose when it exits (the listening socket,
 * containers' seccomp notify fds, segment memfds, state memfds, other
 * session fds) so that the next ipcnsd takes them over.  See
 * spec/lifecycle.md.
 *
 * One SOCK_SEQPACKET connection per daemon, on SOCKET.keeper (the daemon's
 * socket path plus ".keeper").  Every message is one datagram: a struct
 * kmsg, then `glen' bytes of group, then `mlen' bytes of metadata, and at
 * most one fd (SCM_RIGHTS).  The keeper never interprets group or
 * metadata: it stores them and gives them back.  */
#ifndef IPCNSD_CUSTODY_H
#define IPCNSD_CUSTODY_H

#include <stdint.h>

#define KEEPER_PROTO_VERSION 1
#define KEEPER_SUFFIX ".keeper"
#define KEEPER_MAX_GROUP 256
#define KEEPER_MAX_META (128 * 1024)
#define KEEPER_MAX_MSG (sizeof(struct kmsg) + KEEPER_MAX_GROUP + KEEPER_MAX_META)

/* What an fd is; the keeper treats them alike except that, while no
 * daemon is attached, it polls notify fds for their hang-up (a container
 * gone while the daemon is away) and stops once none is left.  */
enum kslot_kind {
	KSLOT_LISTEN = 1, /* the daemon's listening socket */
	KSLOT_NFD = 2,    /* a seccomp notify fd; meta: the registration */
	KSLOT_STATE = 3,  /* a namespace's state memfd */
	KSLOT_SHM = 4,    /* a segment memfd */
	KSLOT_OTHER = 5,  /* anything else a front end deposits */
	/* The /dev/fuse fd of a FUSE mount; meta: "MAJOR:MINOR PATH", the
	 * mount's device and place.  When the keeper lets everything go it
	 * unmounts PATH (lazily) if that mount is still there: the mount
	 * would outlive its last server otherwise.  */
	KSLOT_MOUNT = 6,
	/* A perf event's ring buffer; meta: "LENGTH ...", the bytes the
	 * keeper maps (shared) while it holds the fd: the kernel keeps a
	 * ring only while someone maps it, and a signal watch's rings must
	 * go on recording while no daemon runs (spec/lifecycle.md).  A
	 * keeper that knows no such kind holds the fd only.  */
	KSLOT_RING = 7,
};

enum kmsg_op {
	/* daemon -> keeper */
	KOP_HELLO = 1,      /* slot: daemon pid; reply KOP_WELCOME or KOP_BUSY */
	KOP_PUT = 2,        /* slot, kind, group, meta, fd: store (replaces) */
	KOP_DROP = 3,       /* slot: close and forget */
	KOP_DROP_GROUP = 4, /* group: every slot of the group */
	KOP_META = 5,       /* slot, meta: replace the metadata */
	KOP_LIST = 6,       /* reply: a KOP_ITEM per slot, then KOP_END */
	KOP_BYE = 7,        /* a planned stop: the next daemon takes over */
	KOP_RELEASE = 8,    /* close everything and exit (ipcnsctl shutdown) */
	KOP_STATS = 9,      /* reply KOP_END with slot = fds held, kind = max slot */
	/* keeper -> daemon */
	KOP_WELCOME = 64, /* slot: highest slot in use; kind: slots held */
	KOP_BUSY = 65,    /* slot: pid of the daemon already attached */
	KOP_ITEM = 66,    /* slot, kind, group, meta, fd */
	KOP_END = 67,
};

struct kmsg {
	uint32_t op;
	uint32_t slot;
	uint32_t kind;
	uint32_t glen;
	uint32_t mlen;
	uint32_t version; /* KEEPER_PROTO_VERSION in a HELLO and a WELCOME */
};

#endif
