/* SPDX-License-Identifier: MIT */
/* ipcnsd internals shared by its files.  */
#ifndef IPCNSD_DAEMON_H
#define IPCNSD_DAEMON_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "events.h"
#include "ipcns/ipcns.h"
#include "ipcns/state.h"
#include "notify.h"
#include "oci_limits.h"

enum ev_kind { EV_LISTEN, EV_NFD, EV_PIDFD, EV_TIMER, EV_TICK, EV_SIGNAL, EV_PROC, EV_WAKE };

struct ev {
	enum ev_kind kind;
	int fd;
};

struct nsent;

/* What one namespace may make ipcnsd log (log.c): its rate limit
 * (IPCNS_LOG_BURST lines per IPCNS_LOG_WINDOW_S seconds, notify.h) with
 * its own lock: any thread logs.  */
struct logrl {
	pthread_mutex_t lock;
	struct ipcns_ratelimit r;
};

/* A segment memfd deposited with the keeper (persist.c).  */
struct fdslot {
	int fd;
	ino_t ino;
	uint32_t slot;
};

/* A container, in the registry (D.reg_lock).  */
struct container {
	struct container *next;
	char *id;
	pid_t pid;
	char *bundle;
	struct nsent *nse;
	int nfds; /* live notify fds */
	int64_t created;
};

/* A notify fd.  Made by the main thread and handed to its namespace's
 * worker through the namespace's mailbox; from then on `nf' is the
 * worker's.  */
struct nfd_ent {
	struct ev ev;
	struct ipcns_nfd nf;
	struct container *ct;
	struct nfd_ent *next;    /* in D.nfds, under D.reg_lock */
	struct nfd_ent *nsnext;  /* in its namespace's set or mailbox */
	/* The kernel IPC namespace of the pid the runtime registered, 0 when
	 * it gave none: the first notification's sender must be in it (or,
	 * for 0, in one the namespace serves).  */
	ino_t ipc_ino;
	bool verified;           /* its first notification was checked */
	bool over_budget;        /* past its namespace's fd budget: dropped */
	uint32_t slot;           /* its copy in the keeper; 0: none */
};

struct watch {
	struct ev ev;
	pid_t tgid;
	struct nsent *nse;
	struct watch *next;  /* in nse->watches */
	struct watch *hnext; /* in the tracker's tgid hash */
};

/* A fork or exec of a watched process, read from the proc connector, for
 * the namespace's worker to apply.  */
struct pevent {
	struct pevent *next;
	bool fork;
	pid_t tgid, child;
};

/* An operator's request about one container (ipcs, rm, forget), answered
 * by its namespace's worker on the connection it came on (spec/control.md):
 * the main thread never waits on a namespace.  Two references, the main
 * thread's (D.ops) and the worker's (the namespace's queue); `state'
 * (atomic) says who answers: the worker takes a QUEUED request, or the
 * main thread, past its deadline, expires it with a "busy" error.  */
enum op_state { OP_QUEUED, OP_TAKEN, OP_DONE, OP_EXPIRED };
struct opreq {
	struct opreq *next;  /* in its namespace's queue (the tracker's lock) */
	struct opreq *mnext; /* in D.ops (the main thread's) */
	int fd;              /* the operator's connection */
	json_t *req;
	char *container;
	int64_t deadline;    /* CLOCK_MONOTONIC ns */
	int state, refs;     /* atomic */
};

/* What the operator reads of a namespace without taking its lock: the
 * worker publishes it after each batch of events.  */
struct nsent_info {
	struct ipcns_usage usage;
	int64_t updated;         /* CLOCK_MONOTONIC ns of the last batch */
	uint64_t calls;          /* notifications answered */
	uint64_t rescans;        /* full looks after lost process events */
	uint64_t rescan_ns;      /* time they took */
	uint64_t window_checks;  /* checks for its processes started while events were lost */
	uint64_t window_ns;      /* time they took */
	uint64_t journal_bytes;  /* the pages of its journal's memfd */
	uint64_t tracking_bytes; /* its per-process records (in usage.mem_bytes) */
	char names[256];         /* its containers, for the log */
};

/* A namespace and the worker thread that serves it.  Everything reached
 * from `ns', the deadlines, the tick and the set of notify fds belong to
 * whoever holds `lock': its worker (or the takeover, before the main
 * loop).  The main thread never takes it: new notify fds go through the
 * mailbox, operators' requests through `ops'.  Lock order:
 * D.reg_lock, then an nsent's lock, then the tracker's and info_lock
 * (leaves).  */
struct nsent {
	struct nsent *next;
	char *key;           /* "ipc:INODE" or "name:NAME" */
	struct ipcns_ns *ns;
	struct ipcns_host host;
	int refs;            /* notify fds using it; under D.reg_lock */
	int containers;      /* under D.reg_lock */
	bool dying;          /* out of D.namespaces, its worker frees it */
	/* Kernel IPC namespaces it serves, under D.reg_lock (the worker's
	 * copy is host.ipc_inodes, fed through the mailbox).  */
	ino_t *inodes;
	size_t ninodes, capinodes;
	/* pins[i]: an fd on kernel namespace inodes[i], or -1 (nsent_pin);
	 * npins (atomic) of them, pins_charged of which its worker charged
	 * to its fd budget.  */
	int *pins;
	unsigned int npins, pins_charged;
	pthread_mutex_t lock;
	pthread_t thread;
	int epfd;
	/* timer_ev and tick_ev tag the fds of deadlines and tick.  */
	struct ev wake_ev, timer_ev, tick_ev;
	struct ipcns_deadlines deadlines;
	struct ipcns_tick tick;
	/* Its notify fds, polled by the worker itself (not through epoll).  */
	struct nfd_ent *nfds;
	/* Since when the worker has been in its current batch (CLOCK_MONOTONIC
	 * ns, 0 between batches); atomic.  */
	int64_t batch_since;
	pthread_mutex_t info_lock;
	struct nsent_info info;
	/* The tracker's lock: watches, the inbox of process events and the
	 * mailbox of new notify fds.  */
	struct watch *watches;
	size_t nwatches;
	struct pevent *inbox, **inbox_tail;
	struct nfd_ent *mail;
	struct opreq *ops;   /* operators' requests for its worker */
	/* Its per-process records (watches, events), atomic; what its
	 * worker charged of them to its memory budget; its memory use as
	 * last published (atomic), against which the tracker checks them;
	 * an event dropped at the budget (atomic).  */
	uint64_t track_bytes, track_charged, mem_published;
	bool events_lost;
	/* Reads and writes of its /proc files are queued (view.c).  */
	bool view_pending;
	struct logrl logrl;  /* its log lines */
	/* Its segment memfds deposited with the keeper, and its state's
	 * slot there (persist.c); under lock.  */
	struct fdslot *fdslots;
	size_t nfdslots, capfdslots;
	int64_t fdslots_checked;
	uint32_t state_slot;
	/* Its journal (in the memfd of state_slot).  */
	bool journaled, journal_failed;
	/* Recovered from a journal: its worker first completes the parked
	 * calls the state lets proceed (ipcns_state_settle).  */
	bool settle;
	/* Processes whose exits the core asked to hear of while its state
	 * was being loaded (no core to charge their pidfds to yet).  */
	pid_t *deferred;
	size_t ndeferred, capdeferred;
	struct ipcns_state_ops jops;
	/* The cgroup v2 directories of its notify fds' first callers, where
	 * its processes are (window_check); cg_all: a caller in the root
	 * cgroup or one whose cgroup was not found.  Its worker's.  */
	char *cgdirs[32];
	size_t ncgdirs;
	bool cg_all;
};

struct daemon {
	int epfd; /* the main thread's: the socket, signals, its wake-up */
	struct ev listen_ev, tick_ev, sig_ev, wake_ev;
	/* The registry: containers, notify fds, namespaces.  */
	pthread_mutex_t reg_lock;
	const char *socket_path;
	struct container *containers;
	struct nsent *namespaces;
	struct nfd_ent *nfds;
	/* Workers alive, for the shutdown.  */
	pthread_mutex_t workers_lock;
	pthread_cond_t workers_cond;
	int nworkers;
	bool sync_wakeup;
	bool listen_paused;    /* out of fds: the socket is out of the loop */
	/* What all namespaces hold together, against the operator's
	 * ceilings (budget.c).  */
	struct ipcns_pool pool;
	/* Operators' requests queued to workers (the main thread's).  */
	struct opreq *ops;
	/* Stopping for the next ipcnsd to take over: the keeper keeps every
	 * fd, nothing is released.  False for a full stop (ipcnsctl
	 * shutdown) or without a keeper.  */
	bool handover;
	/* Cross-thread flags are read and written with __atomic builtins,
	 * never through volatile.  */
	bool stop;
	int64_t started;       /* CLOCK_MONOTONIC ns */
};

extern struct daemon D;

static inline bool daemon_stopping(void)
{
	return __atomic_load_n(&D.stop, __ATOMIC_ACQUIRE);
}


/* log.c: a line on stderr, escaped whole (ipcns_escape).  */
void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line about a namespace (key names it), rate-limited by rl.  */
void nslog(struct logrl *rl, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void logrl_init(struct logrl *rl);
/* Say how many lines were suppressed once the window is over (the
 * worker's tick), or now when final.  */
void logrl_flush(struct logrl *rl, const char *key, bool final);
void logrl_destroy(struct logrl *rl, const char *key);

/* budget.c: the operator's budgets.  */
struct budget_policy {
	uint64_t mem_default, mem_max; /* a namespace's memory; 0 = none */
	uint32_t fds_default, fds_max; /* its fds */
	bool mem_max_set, fds_max_set, mem_total_set;
};
extern struct budget_policy B;
/* Fewest fds a namespace can live with: its own (NSENT_FDS) and a few
 * notify fds.  */
#define BUDGET_MIN_FDS IPCNS_POLICY_MIN_FDS
/* What a namespace costs in fds before its containers do anything: its
 * epoll, eventfd and two timerfds, and room for the /proc files and the
 * read-only fd one call opens at a time.  */
#define NSENT_FDS 8
/* --ns-mem-bytes and the others: 0, or -1 with a message.  */
int budget_option(const char *opt, const char *val);
/* After the options: check them, raise RLIMIT_NOFILE, set the pool.  */
int budget_init(void);
/* The fd ceiling from RLIMIT_NOFILE again (the main thread's tick).  */
void budget_fd_ceiling(void);

/* worker.c: namespaces, their workers, the proc connector.  */
/* Start the thread that reads the proc connector: 0, or -errno when
 * processes cannot be tracked (fork and exec are then seen when the maps
 * are read).  */
int tracker_start(void);
bool tracker_running(void);
uint64_t tracker_overruns(void);
/* Wake a namespace's worker (a new notify fd, the shutdown).  */
void nsent_wake(struct nsent *e);
/* The registry: D.reg_lock held.  */
struct nsent *nsent_find(const char *key);
struct nsent *nsent_new(const char *key, const struct ipcns_limits *limits, ino_t ipc_ino);
/* A namespace taken over from a previous ipcnsd: in the registry at once
 * (its containers register into it), without a core or a worker until
 * nsent_load() loads its state with `load' (its notify fds are then in
 * e->nfds, initialized, for the parked calls to find) and nsent_start()
 * starts its worker.  */
struct nsent *nsent_shell(const char *key);
int nsent_load(struct nsent *e, int (*load)(struct nsent *e, void *arg, struct ipcns_ns **ns), void *arg);
int nsent_start(struct nsent *e);
bool nsent_serves(const struct nsent *e, ino_t ino);
int nsent_add_inode(struct nsent *e, ino_t ino);
void nsent_pin(struct nsent *e, ino_t ino, int nsfd);
/* Hand a new notify fd to the namespace's worker.  */
void nsent_post_nfd(struct nsent *e, struct nfd_ent *ne);
/* Its containers' names, for the log; D.reg_lock held.  */
void nsent_names(struct nsent *e);
/* A notify fd of the namespace is gone; true when it was the last.  */
bool nsent_unref(struct nsent *e);
/* Free a namespace nobody can reach any more.  */
void nsent_destroy(struct nsent *e);
void nsent_info_get(struct nsent *e, struct nsent_info *out);
void container_put(struct container *c);
/* A notify fd hung up (its namespace's lock not held); true when the
 * namespace must be freed.  */
bool nfd_close(struct nfd_ent *ne);
/* The main thread's wake-up: an fd was freed (any thread).  */
void main_wake(void);

/* An operator's request queued to a namespace's worker is answered "busy"
 * by the main thread when the worker has not taken it within this (a call
 * stopped with its container: `runc pause' while ipcnsd injects a shmat).
 * Checked at the main thread's tick: the answer comes within this and one
 * more second.  */
#define NSENT_OPERATOR_WAIT_MS 1000
/* Queue op to the namespace's worker; D.reg_lock held.  */
void nsent_post_op(struct nsent *e, struct opreq *op);
/* Take a namespace from outside its worker, at most ms (the takeover,
 * before the main loop): false when its worker holds it.  */
bool nsent_try_enter(struct nsent *e, int ms);
void nsent_leave(struct nsent *e);
/* A namespace counts as busy in `ps' when its worker has been in one
 * batch of calls this long.  */
#define NSENT_BUSY_MS 1000

/* policy.c: the operator's trust policy for annotations (struct
 * ipcns_policy, oci_limits.h), initialized by main.  */
#define POLICY_PATH IPCNS_POLICY_PATH
#define POLICY_MEM IPCNS_POLICY_MEM
#define POLICY_FDS IPCNS_POLICY_FDS
extern struct ipcns_policy P;
/* Read the "ipcnsd" object of the file (missing: the defaults): 0, or
 * -errno with a message naming the file and key.  */
int policy_load(const char *path, char *err, size_t errlen);
/* A new namespace's limits from the registering container's state, as
 * the policy lets its annotations set them.  */
int policy_limits(json_t *state, struct ipcns_limits *l, char *err, size_t errlen);
/* The registry key of the namespace a container names (NULL: none) from
 * kernel IPC namespace ino.  */
int policy_ns_key(const char *name, ino_t ino, char *key, size_t keylen);
/* main.c: registration, D.reg_lock held.  `adopt': a notify fd the
 * previous ipcnsd registered, from the keeper, or NULL for a runtime's.  */
struct adopt {
	const char *key;
	uint32_t slot;
	int64_t created;
};
int register_container(json_t *msg, int notify_fd, const struct adopt *adopt, char *err, size_t errlen);

/* custody.c: the keeper (custody.h).  */
#include "custody.h"
typedef void (*custody_item_cb)(void *arg, uint32_t slot, enum kslot_kind kind, const char *group, const char *meta,
				size_t mlen, int fd);
/* Attach to the keeper of sock_path, starting one if there is none (or,
 * with wait_s > 0, waiting that long for one); cb gets every fd it holds
 * (ours from then on).  -errno with a message.  */
int custody_open(const char *sock_path, const char *keeper_bin, int wait_s, custody_item_cb cb, void *arg, char *err,
		 size_t errlen);
bool custody_attached(void);
uint32_t custody_new_slot(void);
int custody_put(uint32_t slot, enum kslot_kind kind, const char *group, const void *meta, size_t mlen, int fd);
void custody_drop(uint32_t slot);
void custody_meta(uint32_t slot, const void *meta, size_t mlen);
void custody_drop_group(const char *group);
/* Detach: a planned stop (the keeper keeps everything) or a release.  */
void custody_bye(bool release);

/* takeover.c: what a previous ipcnsd left with the keeper.  */
void takeover_item(void *arg, uint32_t slot, enum kslot_kind kind, const char *group, const char *meta, size_t mlen,
		   int fd);
/* After custody_open: rebuild containers and namespaces, load their
 * states, re-issue the calls the previous daemon had received and not
 * answered.  The listening socket it held, or -1; *fatal when ipcnsd
 * must not start (a state it cannot take over: message printed).  */
int takeover_finish(bool *fatal);
/* The group guarding hugetlb segment files the keeper held (and its
 * slot), or -1.  */
int takeover_guard_fd(uint32_t *slot);
/* The view's /dev/fuse fd the keeper held (and its slot), or -1.  */
int takeover_view_fd(uint32_t *slot);
/* The memfd of the view's requests in flight the keeper held, or -1.  */
int takeover_view_inflight_fd(uint32_t *slot);
/* The fd the keeper gave back for a segment's slot: a dup, or -EBADF.  */
int takeover_slot_fd(uint32_t slot);

/* persist.c: namespaces' state across a restart or a crash.  */
/* A new namespace's journal, in a memfd deposited with the keeper.  */
void persist_attach(struct nsent *e);
/* Its kernel IPC namespaces changed (the keeper's metadata).  */
void persist_inodes_changed(struct nsent *e);
/* Right before an answer leaves (answer false: not the call's answer, or
 * no call): the change committed.  e->lock held.  */
void persist_commit(struct nsent *e, struct nfd_ent *ne, uint64_t id, pid_t tid, int64_t ret, bool answer);
/* A worker's batch is over.  */
void persist_batch_end(struct nsent *e);
/* Stopping for a restart: the last commit, then no more.  */
void persist_detach(struct nsent *e);
/* A shell's kernel IPC namespaces from its state's keeper metadata.  */
int persist_inodes_from_meta(struct nsent *e, const char *meta);
/* Load shell e from its journal (not started): 0, or -errno with a
 * message; the memfd is untouched unless it succeeds.  */
int persist_load(struct nsent *e, int fd, uint32_t slot, char *err, size_t errlen);
/* Give every signal watch's fds to the keeper from now on.  */
void persist_sigwatch_keep(void);
/* Take over a signal watch the keeper held (its group `name', its
 * table's metadata and memfd, its rings): 0 or -errno (logged; then its
 * fds are not needed).  D.reg_lock held, its namespace loaded.  */
int persist_sigwatch_adopt(const char *name, const char *meta, int tfd, const int *rings, const int *cpus, int n);
/* A thread whose call was restored or answered (not to be re-issued).  */
bool persist_restored_tid(void *arg, pid_t tid);
void persist_forget_restored(void);

/* control.c: the operator's protocol on the same socket.  The reply, or
 * NULL when the request went to a namespace's worker with connection fd
 * (then no longer the caller's).  D.reg_lock held.  */
json_t *ipcnsd_control(json_t *req, int fd);
/* The main thread: answer requests whose worker is late ("busy"), free
 * the answered ones; with `stopping', answer every request left.  */
void control_ops_reap(bool stopping);
/* A worker, its namespace's lock held: answer its queued requests; with
 * `gone', the namespace is being freed and they are answered so.  */
void control_ops_serve(struct nsent *e, struct opreq *ops, bool gone);

#endif
