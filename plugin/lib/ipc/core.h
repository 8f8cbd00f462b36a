/* SPDX-License-Identifier: MIT */
/* Internal interfaces of the IPC namespace core: shared by util.c,
 * namespace.c, idr.c, shm.c, sem.c and msg.c, and by the unit tests.  Not
 * installed.  */
#ifndef IPCNS_CORE_H
#define IPCNS_CORE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ipcns/ipcns.h"
#include "util.h"

/* Permission bits as the kernel names them.  */
#define IPCNS_S_IRUGO 0444
#define IPCNS_S_IWUGO 0222
#define IPCNS_S_IXUGO 0111
#define IPCNS_S_IRWXUGO 0777

#define IPCNS_CAP_SYS_ADMIN 21
#define IPCNS_CAP_IPC_OWNER 15
#define IPCNS_CAP_IPC_LOCK 14
#define IPCNS_CAP_SYS_RESOURCE 24

/* Largest sequence number: INT_MAX >> 15, as Linux's ipcid_seq_max().  */
#define IPCNS_SEQ_MAX (INT32_MAX >> 15)

/* ---- Budgets (budget.c): every byte and fd the daemon holds for a
 * namespace is charged to it, so that no container can make the daemon
 * hold more than its namespace's limits say.  Charged is what malloc
 * takes (the request, a 16-byte header, malloc's size word, rounded to
 * its 16-byte granule): a counter add per allocation, no system call.  Temporaries freed before a call
 * returns are not charged; they are bounded by the kernel-style limits
 * (semopm, semmsl, the number of segments).  */
struct ipcns_budget {
	uint64_t mem_used, mem_limit; /* limit 0: none */
	uint32_t fds_used, fd_limit;
	struct ipcns_pool *pool;      /* daemon-wide, may be NULL */
};
/* malloc, calloc(1, size) and realloc charged to b (which may be NULL:
 * not charged): NULL with errno ENOMEM over the budget.  What they return
 * is freed by ipcns_mem_free (never free(3)), which uncharges the budget
 * it was charged to; realloc keeps it.  */
void *ipcns_mem_alloc(struct ipcns_budget *b, size_t size);
void *ipcns_mem_zalloc(struct ipcns_budget *b, size_t size);
void *ipcns_mem_realloc(struct ipcns_budget *b, void *p, size_t size);
/* Charged but never refused: for what mirrors state the kernel already
 * holds (who maps a segment), which a namespace at its budget must still
 * be able to look at, to remove what it no longer needs.  */
void *ipcns_mem_realloc_force(struct ipcns_budget *b, void *p, size_t size);
void ipcns_mem_free(void *p);
static inline void cleanup_memp(void *p)
{
	ipcns_mem_free(*(void **)p);
}
#define cleanup_mem __attribute__((cleanup(cleanup_memp)))
int ipcns_budget_mem_charge(struct ipcns_budget *b, uint64_t bytes);
/* Charged but never refused (memory the namespace's state already needs,
 * as its journal's pages).  */
void ipcns_budget_mem_force(struct ipcns_budget *b, uint64_t bytes);
void ipcns_budget_mem_uncharge(struct ipcns_budget *b, uint64_t bytes);
/* 0 or -EMFILE (the caller turns it into its call's errno).  */
int ipcns_budget_fd_charge(struct ipcns_budget *b, unsigned int n, bool force);
void ipcns_budget_fd_uncharge(struct ipcns_budget *b, unsigned int n);
/* Everything still charged goes back to the pool.  */
void ipcns_budget_release(struct ipcns_budget *b);

/* ---- The idr: a radix tree from index (0..IPCNS_IPCMNI-1) to pointer,
 * with a bitmap of full subtrees so the lowest free index is found in
 * O(depth), as Linux's idr_alloc().  Three levels: 8 x 64 x 64.  */
struct ipcns_idr_leaf {
	uint64_t used;
	void *slot[64];
};
struct ipcns_idr_mid {
	uint64_t full; /* leaf i has no free slot */
	uint64_t any;  /* leaf i exists and holds something */
	struct ipcns_idr_leaf *leaf[64];
};
struct ipcns_idr {
	struct ipcns_budget *budget; /* its nodes are charged here */
	int next;     /* where the cyclic allocation resumes */
	uint8_t full; /* mid i has no free slot */
	struct ipcns_idr_mid *mid[8];
};

void ipcns_idr_init(struct ipcns_idr *idr);
void ipcns_idr_destroy(struct ipcns_idr *idr);
/* Store p at the lowest free index in [0, limit): the index, -ENOSPC or
 * -ENOMEM.  */
int ipcns_idr_alloc(struct ipcns_idr *idr, void *p, int limit);
/* Store p at the lowest free index at or above start: the index,
 * -ENOSPC or -ENOMEM.  */
int ipcns_idr_alloc_from(struct ipcns_idr *idr, void *p, int start);
/* Linux's idr_alloc_cyclic(idr, p, 0, end): the lowest free index at or
 * after the last one handed out plus one, wrapping to 0.  */
int ipcns_idr_alloc_cyclic(struct ipcns_idr *idr, void *p, int end);
void *ipcns_idr_find(const struct ipcns_idr *idr, int idx);
/* Store p at index idx: 0, -EEXIST when it is taken, -EINVAL, -ENOMEM.  */
int ipcns_idr_insert(struct ipcns_idr *idr, int idx, void *p);
void ipcns_idr_remove(struct ipcns_idr *idr, int idx);
/* The first used index >= idx, or -1.  */
int ipcns_idr_next(const struct ipcns_idr *idr, int idx);
/* Every used index of idr, in order (idx is declared by the loop).  */
#define ipcns_idr_for_each(idr, idx) for (int idx = ipcns_idr_next((idr), 0); idx >= 0; idx = ipcns_idr_next((idr), idx + 1))

/* ---- Objects and id tables (Linux's kern_ipc_perm and ipc_ids).  */
struct ipcns_perm {
	int id;
	int32_t key;
	uid_t uid, cuid;
	gid_t gid, cgid;
	unsigned int mode; /* S_IRWXUGO plus per-kind flags (SHM_DEST...) */
	unsigned int seq;
	bool deleted;
	uint8_t jstate;           /* journal: enum ipcns_jstate */
	struct ipcns_perm *hnext; /* key hash chain */
	struct ipcns_perm *jnext; /* journal: the kind's dirty list */
};

struct ipcns_ids {
	struct ipcns_idr idr;
	int in_use;
	unsigned int seq;
	int last_idx; /* -1 before the first allocation */
	int max_idx;  /* -1 when empty */
	/* kernel.{shm,sem,msg}_next_id: the id the next object gets, -1
	 * for none (Linux's ids->next_id, checkpoint/restore).  */
	int next_id;
	/* Key lookup: chained hash of non-private keys, grows by doubling.  */
	struct ipcns_perm **hash;
	unsigned int hash_size; /* power of two, 0 before first use */
	unsigned int hash_count;
};

void ipcns_ids_init(struct ipcns_ids *ids);
void ipcns_ids_destroy(struct ipcns_ids *ids);
struct ipcns_perm *ipcns_ids_find_key(const struct ipcns_ids *ids, int32_t key);
/* Linux's ipc_addid: id assigned, key hashed (unless IPC_PRIVATE), owner
 * set from cred.  -ENOSPC when `limit' objects are in use.  */
int ipcns_ids_add(struct ipcns_ids *ids, struct ipcns_perm *p, int limit,
		  const struct ipcns_cred *cred);
/* Linux's ipc_rmid: removes the id and the key, marks deleted.  */
void ipcns_ids_remove(struct ipcns_ids *ids, struct ipcns_perm *p);
/* Make a key private (shm IPC_RMID while attached).  */
void ipcns_ids_set_key_private(struct ipcns_ids *ids, struct ipcns_perm *p);
/* And give it back (that IPC_RMID's answer failed): 0 or -ENOMEM.  */
int ipcns_ids_set_key(struct ipcns_ids *ids, struct ipcns_perm *p, int32_t key);
/* ipc_obtain_object_idr: by the index part of id; NULL if none.  */
struct ipcns_perm *ipcns_ids_obtain_idx(const struct ipcns_ids *ids, int id);
/* ipc_obtain_object_check: the index and the sequence must match.
 * -EINVAL otherwise.  */
int ipcns_ids_obtain_check(const struct ipcns_ids *ids, int id, struct ipcns_perm **out);
/* ipc_get_maxidx.  */
int ipcns_ids_maxidx(const struct ipcns_ids *ids);
/* Put back a saved object at the index of its id (state image).  */
int ipcns_ids_restore(struct ipcns_ids *ids, struct ipcns_perm *p);

/* ---- The namespace.  */
struct ipcns_uid_count {
	uid_t uid;
	uint32_t count;
};

struct ipcns_shm_state;
struct ipcns_sem_state;
struct ipcns_msg_state;

/* ---- Pids (actor.c).  What an object keeps of a process that acted on
 * it (shm_cpid, shm_lpid, sempid, msg_lspid, msg_lrpid, and the records
 * they are set from: holders, undo lists, sleepers, parked calls) is a
 * reference to an entry of the namespace's actor table, which holds the
 * process's numbers in each pid namespace (struct ipcns_pidchain), as
 * Linux keeps a struct pid; each output turns it into the reader's
 * number.  id 0: no process (pid 0).  Entries no object refers to are
 * collected (a mark and sweep over the objects when the table doubles),
 * so a reference is only valid while an object holds it, or until the
 * end of the call that obtained it (the last few references handed out
 * count as held).  */
struct ipcns_pidref {
	uint32_t id;
};
struct ipcns_actor;
struct ipcns_actors {
	struct ipcns_actor **v; /* by id; v[0] unused */
	uint32_t cap, top;      /* size of v; ids below top were handed out */
	uint32_t *free;         /* ids given back, a stack */
	uint32_t nfree;
	uint32_t *bucket;       /* by host pid: first id, chained by hnext */
	uint32_t nbucket;       /* a power of two, or 0 */
	uint32_t live, gc_at;
	uint32_t recent[8];     /* the last references handed out */
	uint32_t nrecent;
	/* Made since the journal last wrote them (journal.c).  */
	uint32_t *jnew;
	uint32_t njnew, capjnew;
	bool jlost;             /* jnew could not grow: write them all */
};

struct ipcns_ns {
	struct ipcns_limits limits;
	struct ipcns_budget budget;
	const struct ipcns_host_ops *host;
	void *host_data;
	struct ipcns_ids ids[3]; /* by enum ipcns_kind */
	/* shm */
	uint64_t shm_tot; /* pages */
	uint64_t shm_bytes_quota_used;
	/* sem */
	int used_sems;
	/* msg */
	uint64_t msg_bytes; /* bytes queued in all queues */
	uint64_t msg_hdrs;  /* messages queued in all queues */
	/* Per-kind private state (wait lists, undo lists...), owned by the
	 * kind's file.  */
	struct ipcns_shm_state *shm;
	struct ipcns_sem_state *sem;
	struct ipcns_msg_state *msg;
	uint32_t parked;
	/* Objects per creator uid, for the quota: small open list.  */
	struct ipcns_uid_count *uid_counts;
	size_t uid_counts_len, uid_counts_cap;
	/* The journal (journal.c), NULL when the state is not journaled.  */
	struct ipcns_journal *journal;
	bool jshm; /* some segment may have changed since the last commit */
	struct ipcns_actors actors;
};

/* The reference of a process whose numbers are `ch' (`legacy': a number
 * of an image older than the table, shown to every reader): 0 or
 * -ENOMEM over the namespace's budget (`force': never refused).  */
int ipcns_actor_intern(struct ipcns_ns *ns, const struct ipcns_pidchain *ch, bool legacy, bool force,
		       struct ipcns_pidref *out);
/* The caller's process (`thread': its thread): 0 or -errno (`force':
 * never refused by the budget, for what undoes or follows a change the
 * caller already made).  */
int ipcns_actor_of_caller(struct ipcns_ns *ns, struct ipcns_caller *c, bool thread, bool force,
			  struct ipcns_pidref *out);
/* Host process tgid (its parent when `parent'), from the host's ops;
 * never refused by the budget (events the kernel already made).  An
 * unknown process is pid 0.  */
struct ipcns_pidref ipcns_actor_of_host(struct ipcns_ns *ns, pid_t tgid, bool parent);
/* What `reader' sees of r (NULL: the number in the process's own pid
 * namespace, as the host's tools list it).  */
pid_t ipcns_actor_nr(const struct ipcns_ns *ns, struct ipcns_pidref r, const struct ipcns_pidns *reader);
/* The caller's pid namespace, as a reader: 0 or -errno.  */
int ipcns_caller_pidns(struct ipcns_caller *c, const struct ipcns_pidns **out);
/* The same process: as Linux compares struct pids.  */
static inline bool ipcns_pidref_eq(struct ipcns_pidref a, struct ipcns_pidref b)
{
	return a.id == b.id;
}
/* A reference an object keeps (for the collector's mark).  */
void ipcns_actor_mark(struct ipcns_ns *ns, struct ipcns_pidref r);
/* Every reference of the kind's objects, to ipcns_actor_mark.  */
void ipcns_shm_mark_pids(struct ipcns_ns *ns);
void ipcns_sem_mark_pids(struct ipcns_ns *ns);
void ipcns_msg_mark_pids(struct ipcns_ns *ns);
/* The table's entry id, for the state image: false when there is none.  */
bool ipcns_actor_get(const struct ipcns_ns *ns, uint32_t id, struct ipcns_pidchain *ch, bool *legacy);
void ipcns_actors_free(struct ipcns_ns *ns);

/* ---- Journal hooks: mark what a change touched, so the next commit
 * writes it.  A few instructions when nothing is journaled.  */
enum ipcns_jstate {
	IPCNS_J_CLEAN,
	IPCNS_J_META, /* changed; a queue's messages are journaled one by one */
	IPCNS_J_FULL, /* to be written whole */
	IPCNS_J_NEW,  /* created since the last commit */
	/* Journaled ahead of the answer that makes the change (removed, or
	 * written as it will be), and left alone until ipcns_jsettle.  */
	IPCNS_J_AHEAD,
};
void ipcns_journal_mark(struct ipcns_ns *ns, int kind, struct ipcns_perm *p, int state);
void ipcns_journal_del(struct ipcns_ns *ns, int kind, struct ipcns_perm *p);
struct msgq;
struct msgq_msg;
void ipcns_journal_msg(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m, int op);
void ipcns_journal_starved(struct ipcns_ns *ns);
void ipcns_journal_close(struct ipcns_ns *ns);
/* A removal answered before it is made: journaled as done now, so that a
 * commit made as the answer leaves holds it.  */
void ipcns_journal_ahead_del(struct ipcns_ns *ns, int kind, struct ipcns_perm *p);
/* The answer is out: the object is tracked again.  `failed': the answer
 * did not arrive and the change is undone: written whole at the next
 * commit.  */
void ipcns_journal_settle(struct ipcns_ns *ns, int kind, struct ipcns_perm *p, bool failed);
static inline void ipcns_jdirty(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	if (__builtin_expect(ns->journal != NULL, 0) && p->jstate == IPCNS_J_CLEAN)
		ipcns_journal_mark(ns, kind, p, IPCNS_J_META);
}
static inline void ipcns_jnew(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_mark(ns, kind, p, IPCNS_J_NEW);
}
static inline void ipcns_jfull(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_mark(ns, kind, p, IPCNS_J_FULL);
}
static inline void ipcns_jmsg(struct ipcns_ns *ns, struct msgq *q, struct msgq_msg *m, int op)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_msg(ns, q, m, op);
}
static inline void ipcns_jstarved(struct ipcns_ns *ns)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_starved(ns);
}
static inline void ipcns_jahead_del(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_ahead_del(ns, kind, p);
}
static inline void ipcns_jsettle(struct ipcns_ns *ns, int kind, struct ipcns_perm *p, bool failed)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_settle(ns, kind, p, failed);
}
static inline void ipcns_jdel(struct ipcns_ns *ns, int kind, struct ipcns_perm *p)
{
	if (__builtin_expect(ns->journal != NULL, 0))
		ipcns_journal_del(ns, kind, p);
}

/* The host's clocks (wall seconds, CLOCK_MONOTONIC ns) and memory
 * numbers (-1: unknown), ipcns_host_ops.  */
int64_t ipcns_now(struct ipcns_ns *ns);
int64_t ipcns_mono(struct ipcns_ns *ns);
long long ipcns_vm_read(struct ipcns_ns *ns, enum ipcns_vm what);
void ipcns_limit_hit(struct ipcns_ns *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Linux's ipcperms(): 0, or -EACCES; or -errno when the caller's
 * credentials cannot be read.  `flag' is requested S_IRUGO/S_IWUGO/...
 * bits or the flags of a *get call.  */
int ipcns_ipcperms(struct ipcns_caller *c, const struct ipcns_perm *p, int flag);
/* Owner or creator, or CAP_SYS_ADMIN: IPC_SET, IPC_RMID.  0 or -EPERM.  */
int ipcns_check_owner(struct ipcns_caller *c, const struct ipcns_perm *p);
/* ipcctl_obtain_check: lookup (-EINVAL) then owner check (-EPERM).  */
int ipcns_ctl_obtain_check(struct ipcns_ids *ids, struct ipcns_caller *c, int id,
			   struct ipcns_perm **out);
/* ipc_update_perm for IPC_SET: uid, gid (ids of the caller's user
 * namespace, stored as host ids), low 9 mode bits.  -EINVAL for an id
 * that namespace does not map ((uid_t)-1 never is); -errno when its
 * maps cannot be read.  */
int ipcns_update_perm(struct ipcns_caller *c, struct ipcns_perm *p, uid_t uid, gid_t gid, unsigned int mode);
/* Linux's ns_capable(ipc_ns->user_ns, cap).  */
bool ipcns_capable(struct ipcns_caller *c, int cap);
/* Linux's capable(cap): the initial user namespace.  */
bool ipcns_capable_init(struct ipcns_caller *c, int cap);
bool ipcns_cred_capable_init(const struct ipcns_cred *c, int cap);
/* Answer the caller now: 0 delivered, -errno not delivered, 1 when the
 * front end cannot answer early (the core then returns its result).  */
int ipcns_caller_answer(struct ipcns_caller *c, long ret);

/* Linux's ipcget(): key lookup, IPC_CREAT/IPC_EXCL, more_checks, perms.
 * `getnew' creates the object (and returns its id or -errno); `more'
 * (may be NULL) is the kind's extra check on an existing object.  */
struct ipcns_get_ops {
	long (*getnew)(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int flg, void *arg);
	int (*more)(struct ipcns_perm *p, int flg, void *arg);
};
long ipcns_ipcget(struct ipcns_ns *ns, enum ipcns_kind kind, struct ipcns_caller *c, int32_t key,
		  int flg, const struct ipcns_get_ops *ops, void *arg);

/* Quota of objects per creator uid: 0 or -ENOSPC.  */
int ipcns_uid_quota_take(struct ipcns_ns *ns, uid_t uid);
void ipcns_uid_quota_put(struct ipcns_ns *ns, uid_t uid);

/* The struct ipc64_perm the kernel copies out, with the kernel's layout
 * for 64-bit architectures (same as glibc's struct ipc_perm there).  */
struct ipcns_ipc64_perm {
	int32_t key;
	uint32_t uid, gid, cuid, cgid;
	uint16_t mode;
	uint16_t pad1;
	uint16_t seq;
	uint16_t pad2;
	uint64_t unused1, unused2;
};
/* The ids shown in the caller's user namespace (the overflow ids where
 * it maps none): 0, or -errno when its maps cannot be read.  */
int ipcns_perm_to_user(struct ipcns_ns *ns, struct ipcns_caller *c, const struct ipcns_perm *p,
		       struct ipcns_ipc64_perm *out);
/* A host id as a user namespace maps it (m NULL: the daemon's own):
 * true with *out, false when it maps none (from_kuid()).  */
bool ipcns_idmap_from_host(const struct ipcns_idmap *m, uint32_t host, uint32_t *out);
/* kernel.overflowuid (gid false) or kernel.overflowgid: what an unmapped
 * id shows as.  */
uint32_t ipcns_overflow_id(struct ipcns_ns *ns, bool gid);
/* And the one userspace passes to IPC_SET.  */
void ipcns_perm_from_user(const struct ipcns_ipc64_perm *in, uid_t *uid, gid_t *gid,
			  unsigned int *mode);

/* ---- What namespace.c needs of each kind: Linux's *_init_ns and
 * *_exit_ns, the free callback of free_ipcs(), and what the operator's
 * listing and removal read.  */
struct ipcns_kind_ops {
	/* The kind's state in a new namespace (NULL: none): 0 or -ENOMEM.  */
	int (*init)(struct ipcns_ns *ns);
	/* Teardown: release (may be NULL) before the objects, destroy on
	 * each object, fini after them (also after a failed init).  */
	void (*release)(struct ipcns_ns *ns);
	void (*destroy)(struct ipcns_ns *ns, struct ipcns_perm *p);
	void (*fini)(struct ipcns_ns *ns);
	/* Brings what info reads up to date (may be NULL): 0 or -errno.  */
	int (*refresh)(struct ipcns_ns *ns);
	/* The kind's part of a listing: bytes, count, ctime.  */
	void (*info)(struct ipcns_ns *ns, struct ipcns_perm *p, const struct ipcns_pidns *reader,
		     struct ipcns_obj_info *oi);
	/* IPC_RMID from the host, no permission check: 0 or -errno.  */
	int (*rmid)(struct ipcns_ns *ns, struct ipcns_perm *p);
};
extern const struct ipcns_kind_ops ipcns_shm_kind, ipcns_sem_kind, ipcns_msg_kind;

/* And the namespace-wide events each kind answers.  */
void ipcns_shm_process_exit(struct ipcns_ns *ns, pid_t tgid);
void ipcns_shm_process_fork(struct ipcns_ns *ns, pid_t parent, pid_t child);
void ipcns_shm_process_exec(struct ipcns_ns *ns, pid_t tgid);
void ipcns_shm_destroy_orphans(struct ipcns_ns *ns, bool was_forced);
int ipcns_sem_sweep(struct ipcns_ns *ns);
void ipcns_sem_settle(struct ipcns_ns *ns);
void ipcns_sem_process_exit(struct ipcns_ns *ns, pid_t tgid);
bool ipcns_sem_expire(struct ipcns_ns *ns, struct ipcns_waiter *w);
int ipcns_msg_sweep(struct ipcns_ns *ns);
void ipcns_msg_settle(struct ipcns_ns *ns);
bool ipcns_msg_expire(struct ipcns_ns *ns, struct ipcns_waiter *w);

/* ---- msg */
/* Bytes charged to limits.quota_msg_bytes: queued messages and the copies
 * parked senders hold, each with its header and malloc overhead.  */
uint64_t ipcns_msg_quota_held(const struct ipcns_ns *ns);
/* ---- end msg */

#endif
