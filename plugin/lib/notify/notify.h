/* SPDX-License-Identifier: MIT */
/* The notification layer: turns seccomp user notifications into calls of
 * the IPC namespace core and answers them.  Shared by ipcnsd and the crun
 * plugin.  */
#ifndef IPCNS_NOTIFY_H
#define IPCNS_NOTIFY_H

#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"
#include "util.h"

/* ---- Raw seccomp ioctls (libseccomp folds every failure into
 * -ECANCELED; we need ENOENT, EINTR and the rest apart).  */
int ipcns_seccomp_recv(int fd, struct seccomp_notif *req);
/* 0, or -ENOENT when the notification is no longer valid.  */
int ipcns_seccomp_send(int fd, uint64_t id, int64_t val, int error);
int ipcns_seccomp_continue(int fd, uint64_t id);
int ipcns_seccomp_id_valid(int fd, uint64_t id);
/* Install `srcfd' in the target; the fd number there, or -errno.  */
int ipcns_seccomp_addfd(int fd, uint64_t id, int srcfd, bool cloexec);
/* SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP when the kernel has it: 0 or -errno.  */
int ipcns_seccomp_sync_wakeup(int fd);

/* One of the twelve System V IPC system calls of this architecture.  */
bool ipcns_is_ipc_nr(long nr);

/* ---- System V IPC calls of a 32-bit (i386) caller (compat.c).  The core
 * sees them in the native ABI: the *ctl structures it reads or writes are
 * a native copy in the call's scratch buffer, at this address (never one
 * of the caller's); a msgbuf is named by a tagged address (bit 63).  */
#define IPCNS_COMPAT_SCRATCH (1ULL << 60)
struct ipcns_compat_scratch {
	unsigned char buf[256];
	size_t len; /* bytes the core may read or write */
};
/* Serve one call of arch AUDIT_ARCH_I386 as Linux's compat layer does:
 * its result, as the core's entry points return theirs (-ENOSYS for a
 * number that is not a System V IPC call).  */
long ipcns_compat_call(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s,
		       const struct seccomp_data *d);
/* The caller's memory as the core sees it (the caller's op_read and
 * op_write for a compat call): the scratch buffer (s may be NULL: none),
 * a tagged msgbuf, or else `raw' at the address itself.  0 or -errno.  */
int ipcns_compat_rw(struct ipcns_compat_scratch *s, uint64_t addr, void *buf, size_t len, bool write,
		    int (*raw)(void *arg, uint64_t addr, void *buf, size_t len, bool write), void *arg);
/* The arguments that make two compat calls the same call restarted, 0
 * for a call that is never parked, -1 for another architecture; *sem
 * for a semop (Linux ends those with EINTR after a stop too).  */
int ipcns_compat_nargs(const struct seccomp_data *d, bool *sem);
/* A call ipcns_compat_call() serves (on x86_64).  */
bool ipcns_compat_is_call(const struct seccomp_data *d);
/* An i386 System V IPC call that can block (a number /proc/TID/syscall
 * shows for a 32-bit thread), on x86_64.  */
bool ipcns_compat_is_ipc_nr(long nr);

/* ---- One seccomp notify fd (a container, or one `runc exec').  */
struct ipcns_nfd;
struct ipcns_pwaiter;

/* What the front end provides.  */
struct ipcns_nfd_ops {
	/* Tell ipcns_ns_process_exit(ns, tgid) when host process tgid exits.  */
	int (*watch_exit)(struct ipcns_nfd *nf, pid_t tgid);
	/* A call was parked with a deadline (CLOCK_MONOTONIC ns): call
	 * ipcns_waiter_expire() when it passes.  */
	void (*arm_timer)(struct ipcns_nfd *nf, struct ipcns_waiter *w);
	/* The waiter is going away: forget its timer.  */
	void (*disarm_timer)(struct ipcns_nfd *nf, struct ipcns_waiter *w);
	/* A line for the log.  */
	void (*log)(struct ipcns_nfd *nf, const char *msg);
	/* Called right before an answer leaves (NOTIF_SEND of notification
	 * `id' from thread `tid' with `ret'; answer false: the answer that
	 * starts a shmat/shmdt injection, whose value is not the call's):
	 * make the call's effect survive the front end's death.  May be
	 * NULL.  */
	void (*commit)(struct ipcns_nfd *nf, uint64_t id, pid_t tid, int64_t ret, bool answer);
	/* The signal watch that sees this fd's callers (its first caller,
	 * thread `tid', is one), with a reference the front end drops when
	 * the fd goes; NULL: none.  May be NULL: the host's watch.  */
	struct ipcns_sigwatch *(*sigwatch)(struct ipcns_nfd *nf, pid_t tid);
};

struct ipcns_nfd {
	int fd;
	struct ipcns_ns *ns;
	const struct ipcns_nfd_ops *ops;
	void *owner;          /* front end */
	bool dead;            /* hung up: parked calls can no longer be answered */
	int nwaiters;         /* parked calls still referencing this nfd */
	uint32_t arch;        /* AUDIT_ARCH_* accepted */
	uint64_t handled, errors;
	/* Parked calls by thread, and the calls that ended without our
	 * answer (a signal), until their thread calls again.  */
	struct ipcns_park_rec **parks;
	uint32_t parks_cap, nparks, nghosts;
	int64_t recv_ns;      /* CLOCK_MONOTONIC before the current RECV, or 0 */
	uint64_t restored_waiters, restored_recs; /* not charged yet */
	uint64_t eintr;       /* restarted calls answered EINTR */
	uint64_t unknown_restarts;
	/* Its signal watch (ops->sigwatch), chosen at its first call.  */
	struct ipcns_sigwatch *sigwatch;
	bool sigwatch_chosen;
	/* The user namespace that owns the callers' kernel IPC namespace,
	 * and its ancestors up to the initial one, with their creators'
	 * uids: what ns_capable(ipc_ns->user_ns, cap) walks.  */
	int nusers;           /* 0: not read yet; -1: could not be */
	ino_t user_ino[33];
	uid_t user_owner[33];
	/* The id maps of user_ino[0] when it is not the daemon's user
	 * namespace, once read and when they have at most 8 extents each:
	 * a namespace's maps are written once.  user_ino[0] cannot go to
	 * another namespace meanwhile: it owns a kernel IPC namespace the
	 * front end serves.  */
	bool idmaps_cached;
	uint32_t idmap_n[2];
	uint32_t idmap_e[2][8][3];
};

void ipcns_nfd_init(struct ipcns_nfd *nf, int fd, struct ipcns_ns *ns, const struct ipcns_nfd_ops *ops,
		    void *owner);
/* Decode, run and answer one notification.  Returns 0, or -errno when the
 * answer could not be sent for a reason other than the caller going away.  */
int ipcns_nfd_handle(struct ipcns_nfd *nf, struct seccomp_notif *req);
/* Receive one notification and handle it: 0, -EAGAIN when none is
 * pending, -ENOTCONN when the fd is dead.  */
int ipcns_nfd_handle_one(struct ipcns_nfd *nf);
/* The fd hung up: drop its parked calls.  */
void ipcns_nfd_hangup(struct ipcns_nfd *nf);

/* For the front end's deadlines (events.h): an index slot it may use
 * (the heap position), -1 when unused, and the notify fd of a parked
 * call.  */
int *ipcns_waiter_timer_slot(struct ipcns_waiter *w);
struct ipcns_nfd *ipcns_waiter_nfd(struct ipcns_waiter *w);
/* A parked call's notification id and thread, for a state image.  */
void ipcns_waiter_ident(struct ipcns_waiter *w, uint64_t *id, pid_t *tid);
/* What decides a parked call's restart (a signal interrupted it): when
 * it was received, and the call.  */
struct ipcns_park_info {
	int64_t t0;
	struct seccomp_data data;
};
/* The parked call's, for a state image: false when it has none.  */
bool ipcns_waiter_park_info(struct ipcns_waiter *w, struct ipcns_park_info *info);
/* A parked call of `nf' again (after a restart), from its notification
 * id and thread: NULL when the notification is no longer valid; with
 * `info' (may be NULL), such a call is remembered until its thread calls
 * again, to decide whether that call is its restart.  */
struct ipcns_waiter *ipcns_nfd_waiter_restore(struct ipcns_nfd *nf, uint64_t id, pid_t tid,
					      const struct ipcns_park_info *info);
/* After a load restored parked calls into `nf' (nf->ns now set): what
 * they hold, charged to the namespace.  */
void ipcns_nfd_restored(struct ipcns_nfd *nf);

/* ---- Signal handlers run by threads (sigwatch.c): watches on the
 * signal:signal_deliver tracepoint, each a sampling perf event per CPU
 * that sees the host, or one cgroup and its descendants
 * (spec/security.md, "Signal watches").  */
struct ipcns_sigwatch;
/* Check that watching is possible here (once): 0, or -errno.  */
int ipcns_sigwatch_start(void);
/* The size of each ring of the host's watch, in pages (a power of two,
 * default 128; a cgroup's rings have at most 64), before any watch
 * opens: 0 or -EINVAL.  */
int ipcns_sigwatch_ring_pages(unsigned pages);
/* The fds a watch holds (one per CPU), and the memory (kernel rings and
 * our table) a cgroup's watch costs.  */
int ipcns_sigwatch_nfds(void);
uint64_t ipcns_sigwatch_cgroup_bytes(void);
/* The host's watch, opened at its first use and kept: NULL when it
 * cannot be.  */
struct ipcns_sigwatch *ipcns_sigwatch_host(void);
/* The watch of cgroup `cgroup' (its id) held for `scope', with one more
 * reference, or NULL when there is none yet.  */
struct ipcns_sigwatch *ipcns_sigwatch_find(uint64_t cgroup, const void *scope);
/* A new watch of the cgroup whose directory is open as `cgfd', for
 * `scope': 0 and *out, or -errno (the kernel has no cgroup perf events,
 * ...).  Its fds are ipcns_sigwatch_nfds().  */
int ipcns_sigwatch_cgroup(int cgfd, uint64_t cgroup, const void *scope, struct ipcns_sigwatch **out);
/* Drop a reference; the number of fds closed (the last one of a
 * cgroup's watch), else 0.  The host's watch stays.  */
int ipcns_sigwatch_put(struct ipcns_sigwatch *w);
/* Watches that outlive the process (a daemon's restart): a front end
 * with a keeper (a process that outlives it) is told of each watch it
 * opens, to give the keeper the table's memfd `tfd' and the `n' rings
 * (`fds', of CPUs `cpus'), each to be kept mapped for `ringlen' bytes
 * so that the kernel goes on recording into it; all named by `name',
 * unique.  `scope' and `cgroup' are the watch's (NULL and 0: the
 * host's).  closed(): the watch is closed, its fds are not needed.
 * Both run with no lock of sigwatch.c held.  */
struct ipcns_sigwatch_keeper {
	void *arg;
	void (*opened)(void *arg, const char *name, uint64_t cgroup, const void *scope, int tfd, const int *fds,
		       const int *cpus, int n, size_t ringlen);
	void (*closed)(void *arg, const char *name);
};
void ipcns_sigwatch_set_keeper(const struct ipcns_sigwatch_keeper *k);
/* A watch a previous process kept (its table's memfd and rings, dup'ed
 * here): it goes on where that one stopped, for `scope' (NULL: as the
 * host's watch), with no reference until ipcns_sigwatch_find gives one.
 * 0, or -EBADMSG (not a table this code wrote) or another -errno.  */
int ipcns_sigwatch_adopt(int tfd, const int *ringfds, const int *cpus, int nrings, const void *scope,
			 struct ipcns_sigwatch **out);
/* Close the watches of `scope' that nobody took a reference on since
 * they were adopted: the fds closed.  */
int ipcns_sigwatch_drop_scope(const void *scope);
/* CLOCK_MONOTONIC ns since which the watch sees deliveries.  */
int64_t ipcns_sigwatch_since(const struct ipcns_sigwatch *w);
#define IPCNS_SIG_NONE 0      /* no handler ran */
#define IPCNS_SIG_RESTART 1   /* the first handler had SA_RESTART */
#define IPCNS_SIG_NORESTART 2 /* the first handler had no SA_RESTART */
/* The first handler that ran in thread tid after `since' (CLOCK_MONOTONIC
 * ns): IPCNS_SIG_*, or why it cannot be known: -ENOTSUP no watch, -EIO
 * a ring of the watch overflowed since, -ESTALE the thread's history may
 * have been evicted by other threads' deliveries, -EAGAIN the watch
 * opened after `since'.  */
int ipcns_sigwatch_first(struct ipcns_sigwatch *w, pid_t tid, int64_t since);
/* Did a handler with SA_RESTART, in the last `window' ns before `now',
 * or a stop, in the last `stop_window' ns (0: stops do not count), end a
 * wait of thread tid in a system call (-ERESTARTSYS) at instruction
 * pointer pc, that no earlier question used?  Such a delivery is then
 * used.  A stop is seen only in the thread that took the stop signal
 * (spec/compatibility.md, "Signals").  */
bool ipcns_sigwatch_restarted(struct ipcns_sigwatch *w, pid_t tid, uint64_t pc, int64_t now, int64_t window,
			      int64_t stop_window);
/* Empty the watch's rings if nobody else is at it (cheap when they are
 * empty): called at every park, so they do not overflow between
 * questions.  */
void ipcns_sigwatch_poll(struct ipcns_sigwatch *w);
/* A thread (started once) that empties a watch's rings whenever one is a
 * quarter full, so that deliveries between two parks do not overflow a
 * ring: 0 or -errno.  */
int ipcns_sigwatch_drain_thread(void);
/* Stop and join that thread (the crun plugin's code is unloaded after
 * its stop); a later ipcns_sigwatch_drain_thread starts it again.  */
void ipcns_sigwatch_drain_stop(void);
/* The signal watch of caller tid (spec/security.md, "Signal watches"):
 * its cgroup's watch held for `scope' (one more reference), opened if
 * need be with its fds and memory charged to ns; the host's for a caller
 * in the root cgroup, or when cgroup v2 or its perf events are missing;
 * NULL when ns's budgets cannot take a new one.  `why' gets a line to log
 * ("" when there is nothing to say); *trouble: it says why the caller is
 * less well served (no watch, or the host's where its cgroup's was due).  */
struct ipcns_sigwatch *ipcns_sigwatch_for(struct ipcns_ns *ns, const void *scope, pid_t tid, char *why,
					  size_t size, bool *trouble);
/* Drop a reference ipcns_sigwatch_for gave, uncharging ns when that
 * closes the watch.  */
void ipcns_sigwatch_drop(struct ipcns_ns *ns, struct ipcns_sigwatch *w);

/* ---- Thread ids to process ids, cached.  A thread's tgid and its pid
 * in its own namespace do not change while it lives; the cache is only
 * enabled by a front end that forgets a tid when the thread exits or its
 * process execs (ipcnsd, from the proc connector), so it stays exact.  */
void ipcns_tidcache_enable(bool on);
void ipcns_tidcache_forget_thread(pid_t tid);
void ipcns_tidcache_forget_ids(pid_t tid);
void ipcns_tidcache_forget_process(pid_t tgid);
void ipcns_tidcache_flush(void);

/* ---- Host services for a namespace: find the processes that can map
 * its segments (those in the kernel IPC namespaces it serves) and read
 * their maps.  */
struct ipcns_host {
	ino_t *ipc_inodes; /* kernel IPC namespace inodes served */
	size_t n_inodes, cap_inodes;
	int (*watch_exit)(struct ipcns_host *h, pid_t tgid);
	void (*limit_hit)(struct ipcns_host *h, const char *what);
	/* Fork, exec and exit are all reported (ipcnsd's proc connector).  */
	const bool *tracks_processes;
	void *owner;
};
extern const struct ipcns_host_ops ipcns_host_proc_ops;
int ipcns_host_add_inode(struct ipcns_host *h, ino_t ino);
void ipcns_host_free(struct ipcns_host *h);

/* ---- /proc helpers.  */
/* The kernel IPC namespace inode of a process.  */
int ipcns_proc_ipc_inode(pid_t pid, ino_t *ino);
/* Parse /proc/PID/maps (file VMAs only), calling cb.  */
int ipcns_proc_maps(pid_t pid, ipcns_vma_cb cb, void *arg);
/* Tgid, NSpid (innermost), PPid's innermost pid, credentials.  */
struct ipcns_proc_status {
	pid_t tgid, ns_tgid, ppid, ns_ppid;
	pid_t ns_tid; /* the thread's own id in its pid namespace (NSpid) */
	struct ipcns_cred cred;
	/* Entries of NStgid: the task's depth below the daemon's pid
	 * namespace plus one.  With 1 or 2, its numbers are tgid and ns_tgid
	 * (tid and ns_tid); deeper ones are in struct ipcns_proc_pids.  */
	uint32_t nlev;
};
int ipcns_proc_status(pid_t tid, struct ipcns_proc_status *st);
/* tid's ignored signals (bit s - 1 for signal s): 0 or -errno.  */
int ipcns_proc_sigign(pid_t tid, uint64_t *ign);
/* NStgid and NSpid whole, from the daemon's pid namespace down.  */
struct ipcns_proc_pids {
	pid_t nstgid[IPCNS_PID_LEVELS], nspid[IPCNS_PID_LEVELS];
};
/* The same, and the numbers (pids may be NULL).  */
int ipcns_proc_status_pids(pid_t tid, struct ipcns_proc_status *st, struct ipcns_proc_pids *pids);
/* tid's pid namespace's identity: its id (NS_GET_ID, Linux 6.18: never
 * given to another namespace until the machine boots again), or on a
 * kernel without it the inode of /proc/TID/ns/pid (which a namespace
 * made after this one is gone may get again).  */
int ipcns_proc_pidns_id(pid_t tid, uint64_t *id);
/* The identities of tid's pid namespaces from the daemon's (ns[0]) down
 * to its own (ns[n - 1], which is `id', read before by the caller): 0,
 * -EIO when tid is not n - 1 levels below the daemon's namespace, or
 * -errno (-ESRCH: tid is gone, or is another task now).  Chains are
 * cached by their innermost namespace's identity (64 entries; no fd is
 * held).  */
int ipcns_pidns_chain(pid_t tid, uint64_t id, uint32_t n, uint64_t *ns);
/* tid as the reader of a pid: its pid namespace's level below the
 * daemon's and identity.  */
int ipcns_proc_pidns(pid_t tid, struct ipcns_pidns *out);
/* Is gid one of tid's supplementary groups (the whole list is read):
 * 1, 0 or -errno.  */
int ipcns_proc_in_group(pid_t tid, gid_t gid);
/* tid's /proc/PID/uid_map or gid_map (which), read whole: 0 or -errno
 * (-ENOENT: no such thread).  */
int ipcns_proc_idmap(pid_t tid, const char *which, struct ipcns_idmap *m);
/* tid's cgroup v2 directory (from /proc/TID/cgroup, under the last
 * reachable cgroup2 mount of the root), opened read-only: the fd, its path in
 * `path' and its id (inode) in *id; -EISDIR for the root cgroup, -ENOENT
 * when tid has none we can reach (outside our cgroup namespace, no
 * cgroup2 mounted), or -errno.  */
int ipcns_proc_cgroup_open(pid_t tid, char *path, size_t size, uint64_t *id);
/* tid's cgroup v2 directory: its path in the hierarchy in `path' ("/"
 * for the root) and where it is here in `full' (under that cgroup2
 * mount): 0, or -errno as ipcns_proc_cgroup_open (never -EISDIR).  */
int ipcns_proc_cgroup_dir(pid_t tid, char *path, size_t size, char *full, size_t fsize);
/* When process pid started, in clock ticks since boot (field 22 of
 * /proc/PID/stat): 0, or -errno.  With the pid, it names a process that
 * a reused pid cannot be taken for.  */
int ipcns_proc_start_ticks(pid_t pid, unsigned long long *ticks);

/* ---- Remote syscalls in a thread blocked in a notification.  */
struct ipcns_remote {
	bool seized;      /* PTRACE_SEIZEd, notification proven to be its */
	bool active;      /* and answered, thread stopped */
	bool gone;        /* the thread died while we held it */
	pid_t tid;
	int notify_fd;
	uint64_t id;
	unsigned char saved[512]; /* saved registers (arch specific) */
	uint64_t sigmask;         /* the thread's blocked signals when stopped */
	bool have_sigmask;
	bool trap_ign;            /* SIGTRAP was ignored when it stopped */
	bool at_signal_stop;      /* stopped in a signal-delivery-stop */
	bool injecting;           /* a syscall of ours is being stepped */
	bool trapped;             /* the container's filter trapped it (SIGSYS) */
	uint64_t injected_pc;     /* its address, as SIGSYS reports it */
	/* A 32-bit (i386) thread: the calls are i386 ones, run by an
	 * `int $0x80' at site (found when it stops).  */
	bool compat;
	uint64_t site;
};
/* Seize the calling thread and check the notification is still its: 0,
 * -EPERM when it is already traced, -ENOENT when the call went away.  */
int ipcns_remote_seize(struct ipcns_remote *r, int notify_fd, uint64_t id, pid_t tid);
/* Interrupt it and answer the notification; after success the thread is
 * stopped, ready for ipcns_remote_syscall().  */
int ipcns_remote_answer(struct ipcns_remote *r);
/* Let a seized thread go: only once its notification is answered (or no
 * longer valid).  */
void ipcns_remote_release(struct ipcns_remote *r);
/* Run syscall nr(args) in the thread: its return value (or -errno as the
 * kernel returns it).  */
long ipcns_remote_syscall(struct ipcns_remote *r, long nr, const long args[6]);
/* Put `ret' in the thread's return register, restore everything else and
 * let it go.  */
int ipcns_remote_end(struct ipcns_remote *r, long ret);

/* ---- Strings a container controls, for a log line or a terminal: every
 * byte outside printable ASCII written as \xHH and the backslash as
 * \\, so that none can end the line, forge another or drive a
 * terminal.  Writes at most outlen - 1 characters and the NUL (a
 * truncated escape is left out whole); the length written.  */
size_t ipcns_escape(const char *in, size_t inlen, char *out, size_t outlen);
/* The same for a C string (NULL gives "(none)"): buf, for printf.  */
const char *ipcns_esc(const char *in, char *buf, size_t len);

/* ---- What one namespace may make its front end log (escape.c):
 * IPCNS_LOG_BURST lines per IPCNS_LOG_WINDOW_S seconds, then one line
 * (IPCNS_LOG_SUPPRESSED, with the count, the seconds and the two limits)
 * saying how many were left out, so that a container failing calls in a
 * loop can neither flood the log nor make journald drop other containers'
 * lines.  ipcnsd and the crun plugin count alike; the caller locks.  */
#define IPCNS_LOG_BURST 20
#define IPCNS_LOG_WINDOW_S 10
#define IPCNS_LOG_SUPPRESSED "%lu log lines suppressed in the last %lld s (at most %d lines per %d s per namespace)"
struct ipcns_ratelimit {
	int64_t window; /* CLOCK_MONOTONIC second the window opened */
	unsigned int lines;
	unsigned long suppressed;
};
/* CLOCK_MONOTONIC seconds, the clock of the windows.  */
int64_t ipcns_ratelimit_now(void);
void ipcns_ratelimit_init(struct ipcns_ratelimit *rl);
/* Count one line: true to say it.  *ended is the number of lines the
 * window that has just ended suppressed (0: none), *secs its length: to be
 * said first.  */
bool ipcns_ratelimit_take(struct ipcns_ratelimit *rl, unsigned long *ended, int64_t *secs);
/* End the window if it is over, or now when final: the lines it
 * suppressed (to be said), with its length in *secs.  */
unsigned long ipcns_ratelimit_flush(struct ipcns_ratelimit *rl, bool final, int64_t *secs);
/* ---- After a supervisor restart (reissue.c).  */
/* Make a thread blocked in a trapped call issue it again (a new
 * notification): 0, or -errno (-EPERM: traced by someone else;
 * -ETIMEDOUT: its wait cannot be interrupted).  */
int ipcns_reissue_thread(pid_t tid);
/* Every thread of the processes in those kernel IPC namespaces that is
 * blocked in a System V IPC call, except those `skip' names: re-issued.
 * How many were, or -errno.  */
int ipcns_reissue_blocked(const ino_t *inodes, size_t ninodes, bool (*skip)(void *arg, pid_t tid), void *arg);
/* The number of the system call thread tid (of process tgid; tid itself
 * does for any thread) is in, as /proc/TID/syscall shows it, or -1.  */
long ipcns_thread_syscall(pid_t tgid, pid_t tid);

#endif
