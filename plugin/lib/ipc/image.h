/* SPDX-License-Identifier: MIT */
/* The state image's own files: the writer (image_save.c), the reader and
 * checker (image_check.c), the loader (image_load.c) and the format
 * versions (image_migrate.c).  What they share: the model an image is read
 * into and the questions of which version holds what.  Private to them;
 * the record format they share with the journal is in state_int.h.  */
#ifndef IPCNS_IMAGE_H
#define IPCNS_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "state_int.h"

#ifndef SHM_DEST
#define SHM_DEST 01000
#endif
#ifndef SHM_LOCKED
#define SHM_LOCKED 02000
#endif

/* ---- The model an image is parsed into (image_check.c), checked, and
 * built from (image_load.c).  */
struct m_perm {
	int32_t id, key;
	uint32_t uid, gid, cuid, cgid, mode;
};
struct m_waiter {
	int64_t deadline;
	uint32_t fe_len;
	const uint8_t *fe;
};
struct m_shm {
	struct m_perm perm;
	uint64_t segsz, hugesize;
	int64_t atime, dtime, ctime;
	int32_t cpid, lpid, creator_tgid;
	uint32_t slot, lock_uid;
	bool hugetlb, noreserve, lock_charged, detached_to_zero, attached_once;
	uint32_t nholders, nattaches;
	struct shm_holder *holders;
	struct m_attach {
		int32_t tgid;
		uint64_t addr, len;
	} *attaches;
};
struct m_semq {
	uint32_t list, nsops, blocking;
	bool alter, has_undo;
	int32_t host_tgid, ns_tgid;
	struct m_waiter w;
	struct sembuf *sops;
};
struct m_undo {
	int32_t host_tgid, ns_tgid;
	short *adj;
};
struct m_sem {
	struct m_perm perm;
	int64_t ctime;
	uint32_t nsems, nundos, nq;
	struct m_semval {
		int32_t val, pid;
		int64_t otime;
	} *sems;
	struct m_undo *undos;
	struct m_semq *q;
};
struct m_msg {
	int64_t mtype;
	uint64_t size;
	const uint8_t *text;
};
struct m_recv {
	int32_t tgid, mode;
	int64_t msgtyp, maxsize;
	uint64_t buf, bufsz;
	struct m_waiter w;
};
struct m_send {
	int32_t tgid;
	uint64_t msgp, msgsz;
	int64_t mtype;
	uint32_t starve_rank; /* UINT32_MAX: holds its copy */
	struct m_waiter w;
	const uint8_t *copy;
	struct msgq_waiter *built; /* while building: what was made of it */
};
struct m_msq {
	struct m_perm perm;
	int64_t stime, rtime, ctime;
	uint64_t qbytes;
	int32_t lspid, lrpid;
	uint32_t nmsgs, cap_msgs, nrecv, nsend;
	struct m_msg *msgs;
	struct m_recv *recv;
	struct m_send *send;
};

/* An entry of the pid table (REC_ACTOR), or a number of an older image
 * (legacy, id 0x80000000 | the number).  */
struct m_actor {
	uint32_t id, seq;
	uint32_t n;
	bool legacy;
	const uint8_t *lv; /* n x {u32 nr, u64 ns}, in the input */
	pid_t nr;          /* legacy: the number */
	struct ipcns_pidref built;
};

struct img_model {
	int version;
	struct m_actor *actors;
	uint32_t nactors, cap_actors, actor_seq;
	uint32_t page_size;
	const uint8_t *fe;
	uint32_t fe_len;
	bool have_ns;
	struct ipcns_limits limits;
	struct {
		uint32_t seq;
		int32_t last_idx, next, next_id;
	} ids[3];
	uint32_t nuid;
	struct ipcns_uid_count_rec {
		uint32_t uid, count;
	} *uids;
	/* Objects by index, per kind.  */
	struct ipcns_idr objs[3];
};

extern const char *const img_kind_name[3];

/* The pid table entry `id' of a checked model, or NULL.  */
const struct m_actor *img_actor_find(const struct img_model *m, uint32_t id);

/* A starved sender of the model: its place in the namespace's starved
 * list, its queue and its index among the queue's senders.  */
struct starved {
	uint32_t rank;
	int32_t qid;
	uint32_t i;
};
/* The starved senders of every queue, in their order (nothing allocated
 * when there are none).  */
int img_collect_starved(const struct img_model *m, struct starved **out, size_t *nout);

/* ---- Format versions (image_migrate.c).  */
/* Does an image of `version' keep the budgets, each semaphore's sem_otime?  */
bool img_fmt_budgets(int version);
bool img_fmt_sem_otime_each(int version);
/* v3: pids are references to the pid table (REC_ACTOR records).  */
bool img_fmt_actors(int version);
/* Write: a v1 set's sem_otime.  */
int64_t img_set_otime(const struct sem_array *sma);
/* Read: what an older version lacks.  */
void img_migrate_limits(struct ipcns_limits *l, int version);
void img_migrate_sem(struct m_sem *s, int64_t set_otime, int version);

#endif
