/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The IPC namespace core.  It knows nothing of seccomp, ptrace or sockets:
 * a front end (ipcnsd, the crun plugin, the unit tests, the fuzzer) decodes
 * a system call, builds an `ipcns_caller' that gives access to the calling
 * task, and calls one of the ipcns_<syscall>() entry points below.
 *
 * Error convention: every function returns 0 or a positive value on success
 * and -errno on failure.  The errno is the one Linux gives for that case; the
 * front end passes it to the container unchanged.  The one exception is
 * IPCNS_PARKED, which is not an errno: the call must wait and will be
 * answered later through the waiter the core obtained from the caller.
 *
 * Threading: a namespace is not locked by the core.  The front end runs all
 * calls on one namespace from one thread at a time.  */
#ifndef IPCNS_IPCNS_H
#define IPCNS_IPCNS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPCNS_PARKED (-1024)
/* Not an errno either: the core already answered the call through
 * caller->ops->answer (or the caller went away before it could be).  */
#define IPCNS_ANSWERED (-1025)
/* Not an errno: the kernel runs the call itself, as it would natively
 * (the front end lets it through: SECCOMP_USER_NOTIF_FLAG_CONTINUE).  */
#define IPCNS_CONTINUE (-1026)

/* Linux's id layout: id = seq * IPCNS_SEQ_MULTIPLIER + index.  */
#define IPCNS_SEQ_MULTIPLIER 32768
#define IPCNS_IPCMNI 32768

/* Linux's defaults (include/uapi/linux/{shm,sem,msg}.h).  */
#define IPCNS_SHMMIN 1ULL
#define IPCNS_SHMMNI 4096U
#define IPCNS_SHMMAX (ULONG_MAX - (1UL << 24))
#define IPCNS_SHMALL (ULONG_MAX - (1UL << 24))
#define IPCNS_SHMSEG IPCNS_SHMMNI
#define IPCNS_SEMMSL 32000
#define IPCNS_SEMMNS (IPCNS_SEMMNI * IPCNS_SEMMSL)
#define IPCNS_SEMOPM 500
#define IPCNS_SEMMNI 32000
#define IPCNS_SEMVMX 32767
#define IPCNS_SEMAEM IPCNS_SEMVMX
#define IPCNS_SEMUME IPCNS_SEMOPM
#define IPCNS_SEMMNU IPCNS_SEMMNS
#define IPCNS_SEMMAP IPCNS_SEMMNS
#define IPCNS_MSGMAX 8192U
#define IPCNS_MSGMNB 16384U
#define IPCNS_MSGMNI 32000U
#define IPCNS_MSGPOOL (IPCNS_MSGMNI * IPCNS_MSGMNB / 1024)
#define IPCNS_MSGTQL IPCNS_MSGMNB
#define IPCNS_MSGMAP IPCNS_MSGMNB
#define IPCNS_MSGSSZ 16

/* Default quotas that Linux does not have (see spec/annotations.md).  0
 * means unlimited.  */
#define IPCNS_DEFAULT_MSG_BYTES (64ULL << 20)
/* What the daemon may hold for one namespace (spec/annotations.md
 * explains the figures): memory, over which a call gets ENOMEM as when
 * Linux's allocation for it fails, and file descriptors.  */
#define IPCNS_DEFAULT_MEM_BYTES (128ULL << 20)
#define IPCNS_DEFAULT_FDS 16384U

/* The kernel-style limits of one namespace, and ipcns's own quotas.  */
struct ipcns_limits {
	uint64_t shmmax;          /* kernel.shmmax, bytes */
	uint64_t shmall;          /* kernel.shmall, pages */
	uint32_t shmmni;          /* kernel.shmmni */
	int shm_rmid_forced;      /* kernel.shm_rmid_forced */
	int semmsl, semmns, semopm, semmni; /* kernel.sem */
	uint32_t msgmax, msgmnb, msgmni;    /* kernel.msg* */
	/* Quotas, 0 = unlimited.  */
	uint64_t quota_shm_bytes; /* sum of shm_segsz rounded to pages */
	uint64_t quota_msg_bytes; /* message bytes held by the daemon */
	uint32_t quota_objects_per_uid; /* objects of the three kinds per creator uid */
	/* Budgets of what the daemon holds for the namespace, 0 =
	 * unlimited (only the operator can say so).  */
	uint64_t quota_mem_bytes; /* every byte of its objects and records */
	uint32_t quota_fds;       /* memfds, pidfds, notify fds, its own */
};

void ipcns_limits_default(struct ipcns_limits *l);

/* Credentials of a calling task, as Linux's ipcperms and the ownership
 * checks use them.  Host ids (the caller's ids seen from the daemon).  */
struct ipcns_cred {
	uid_t euid;
	gid_t egid;
	gid_t fsgid;
	int ngroups;      /* all of them, may be more than are kept here */
	gid_t groups[64]; /* the first supplementary groups; the caller's
			   * ops->in_group answers for the others */
	/* bit n = capability n, as Linux's ns_capable() in the user
	 * namespace owning the IPC namespace grants it */
	uint64_t cap_effective;
	/* The caller is outside the initial user namespace: capable() (the
	 * checks Linux makes there) grants it nothing.  */
	bool userns;
};

bool ipcns_cred_capable(const struct ipcns_cred *c, int cap);
bool ipcns_cred_in_group(const struct ipcns_cred *c, gid_t gid);

struct ipcns_ns;
struct ipcns_caller;
struct ipcns_waiter;
struct ipcns_idmap;

/* A process (or thread) as Linux's struct pid names it: its number in
 * each pid namespace from the daemon's own (level 0) down to its own
 * (level n - 1), as the NStgid/NSpid lines of /proc/PID/status list
 * them, and an identity of each level's namespace (the id of its
 * /proc/PID/ns/pid).  A namespace sees the process as the number at its
 * level when it is the namespace of that level, and as 0 otherwise
 * (Linux's pid_nr_ns).  MAX_PID_NS_LEVEL is 32 below the initial one.  */
#define IPCNS_PID_LEVELS 33
struct ipcns_pidlevel {
	pid_t nr;
	uint64_t ns;
};
struct ipcns_pidchain {
	uint32_t n; /* 1..IPCNS_PID_LEVELS */
	struct ipcns_pidlevel lv[IPCNS_PID_LEVELS];
};
/* Who reads a pid: its pid namespace's level and identity.  */
struct ipcns_pidns {
	uint32_t level;
	uint64_t ns;
};

/* One VMA of a process that maps a file: what /proc/PID/maps says.  */
struct ipcns_vma {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	dev_t dev;
	ino_t ino;
	int prot;            /* PROT_* */
	pid_t pid;           /* host tgid of the process that has it */
};

typedef int (*ipcns_vma_cb)(void *arg, const struct ipcns_vma *vma);

/* What the core needs from the calling task.  Implemented by the front end
 * (seccomp notifications in ipcnsd, fakes in the unit tests).  All return
 * 0 or a positive value, or -errno.  */
struct ipcns_caller_ops {
	/* The caller's credentials, all of them.  */
	int (*cred)(struct ipcns_caller *c, struct ipcns_cred *out);
	/* Only euid, egid and fsgid (cheaper).  May be NULL: cred is used.  */
	int (*ids)(struct ipcns_caller *c, struct ipcns_cred *out);
	/* Only the effective capabilities and the userns flag (see struct
	 * ipcns_cred).  May be NULL: cred is used.  */
	int (*caps)(struct ipcns_caller *c, uint64_t *cap_effective, bool *userns);
	/* The caller's process id: on the host (tgid) and in its own pid
	 * namespace (what shm_lpid, sempid, msg_lspid report).  */
	int (*pids)(struct ipcns_caller *c, pid_t *host_tgid, pid_t *ns_tgid);
	/* Is gid one of the caller's supplementary groups: 1, 0 or -errno.
	 * Asked only when it has more than struct ipcns_cred keeps.  May be
	 * NULL: such a caller's call fails with EIO.  */
	int (*in_group)(struct ipcns_caller *c, gid_t gid);
	/* Copy from/to the caller's memory; -EFAULT for a bad address.  */
	int (*read)(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len);
	int (*write)(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len);
	/* Map `fd' (a segment's memfd) into the caller: mmap(addr, len, prot,
	 * flags, fd, 0) run by the caller; 0 with the address in *mapped, or
	 * -errno.  A side effect is part of the contract: a front end that
	 * runs the mmap in the caller's own thread (ADDFD, then the seccomp
	 * notification answered and the thread held stopped under ptrace, as
	 * the notification layer does) has answered the call once it got
	 * that far, whatever the mmap gave.  From then on the call's result
	 * travels in the thread's registers, not in a seccomp answer: the
	 * front end writes what the core finally returns (the address, or an
	 * error of a later check) into the return register when it lets the
	 * thread go, and ipcns_caller_answer() fails.  So after shm_map the
	 * core still returns the call's one true result, and may undo the
	 * mapping with shm_unmap in the same stopped thread.  */
	int (*shm_map)(struct ipcns_caller *c, int fd, uint64_t addr, uint64_t len, int prot,
		       int flags, uint64_t *mapped);
	/* munmap(addr, len) run by the caller (the same stopped thread after
	 * shm_map; shmdt's own answer otherwise, as shm_map's).  */
	int (*shm_unmap)(struct ipcns_caller *c, uint64_t addr, uint64_t len);
	/* Enumerate the caller process's file-backed VMAs.  */
	int (*maps)(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg);
	/* The file mapped by the caller's VMA that spans exactly [start,
	 * end), if there is one: 0, or -ENOENT.  May be NULL.  */
	int (*vma_at)(struct ipcns_caller *c, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino);
	/* The id maps of the caller's user namespace (uid_map, gid_map), as
	 * /proc/PID/uid_map shows them to the daemon: the outside ids are
	 * host ids, what struct ipcns_perm keeps.  1 with *uid and *gid
	 * filled, 0 when the caller is in the daemon's own user namespace
	 * (its ids are host ids), or -errno.  IPC_SET and IPC_STAT translate
	 * through them, as Linux's make_kuid() and from_kuid_munged() do in
	 * the caller's user namespace.  May be NULL: always 0.  */
	int (*idmaps)(struct ipcns_caller *c, struct ipcns_idmap *uid, struct ipcns_idmap *gid);
	/* RLIMIT_MEMLOCK of the caller (soft), for SHM_LOCK.  */
	int (*memlock_limit)(struct ipcns_caller *c, uint64_t *limit);
	/* The core must answer this call later: return a waiter that stays
	 * valid after the call returns, until ops->release.  NULL with errno
	 * set when that is impossible (the core then fails with -ENOMEM).  */
	struct ipcns_waiter *(*park)(struct ipcns_caller *c);
	/* Ask to be told (ipcns_ns_process_exit) when the caller's process
	 * exits; used by SEM_UNDO.  Idempotent.  */
	int (*watch_exit)(struct ipcns_caller *c);
	/* The calling thread's id in its pid namespace (its process's pid
	 * when it is the main thread): msg_lrpid of a message handed to it
	 * while it waits in msgrcv.  0 or -errno.  May be NULL (the process's
	 * pid is used).  */
	int (*ns_tid)(struct ipcns_caller *c, pid_t *ns_tid);
	/* The caller's process (thread: the calling thread) in every pid
	 * namespace from the daemon's down to its own: what the pids an
	 * object keeps (shm_cpid, sempid, msg_lspid...) record, and whose
	 * innermost level is the namespace the caller reads them in
	 * (IPC_STAT, GETPID).  0 or -errno.  May be NULL: one level, the
	 * number from pids (ns_tid for a thread), namespace 0.  */
	int (*pid_chain)(struct ipcns_caller *c, bool thread, struct ipcns_pidchain *out);
	/* Answer the call now with `ret': 0 when the answer reached the
	 * caller, -errno when it did not (interrupted, or died).  Lets the
	 * core commit a change (a message taken, a semaphore decremented)
	 * only once the caller is known to have its result.  May be NULL.  */
	int (*answer)(struct ipcns_caller *c, long ret);
};

struct ipcns_caller {
	const struct ipcns_caller_ops *ops;
	void *priv;
	/* Filled lazily by ipcns_caller_cred()/ipcns_caller_pids() and the
	 * permission checks, so a call reads only what its checks need.  */
	bool have_cred, have_pids, have_ids, have_caps, have_pidns;
	struct ipcns_cred cred;
	pid_t host_tgid, ns_tgid;
	struct ipcns_pidns pidns; /* the caller's pid namespace, as a reader */
};

int ipcns_caller_cred(struct ipcns_caller *c, const struct ipcns_cred **out);
int ipcns_caller_in_group(struct ipcns_caller *c, const struct ipcns_cred *cred, gid_t gid);
int ipcns_caller_pids(struct ipcns_caller *c, pid_t *host_tgid, pid_t *ns_tgid);

/* A parked call.  The front end allocates it in caller->ops->park; the core
 * links it into an object's wait queue and later either delivers an answer
 * through ops->deliver or drops it; in every case it then calls
 * ops->release exactly once.  */
struct ipcns_waiter_ops {
	/* Is the parked call still waiting for its answer (the notification
	 * still valid)?  A false answer is final.  */
	bool (*alive)(struct ipcns_waiter *w);
	/* Answer the parked call with `ret' (>= 0 or -errno).  0 when the
	 * answer reached the caller, -errno when it did not (the caller was
	 * interrupted or died): the core then undoes what it applied.  */
	int (*deliver)(struct ipcns_waiter *w, long ret);
	/* The core is done with the waiter.  */
	void (*release)(struct ipcns_waiter *w);
};

struct ipcns_waiter {
	const struct ipcns_waiter_ops *ops;
	void *priv;                  /* front end */
	struct ipcns_caller *caller; /* valid until release */
	/* Absolute CLOCK_MONOTONIC deadline in ns, or -1.  Set by the core
	 * before it returns IPCNS_PARKED; the front end calls
	 * ipcns_waiter_expire() when it passes.  */
	int64_t deadline;
	void *core;                  /* core's private state */
};

/* The machine's memory numbers shmget checks (ipcns_host_ops.vm_read).  */
enum ipcns_vm {
	IPCNS_VM_OVERCOMMIT_MEMORY, /* vm.overcommit_memory */
	IPCNS_VM_ADMIN_RESERVE_KB,  /* vm.admin_reserve_kbytes */
	IPCNS_VM_HUGETLB_SHM_GROUP, /* vm.hugetlb_shm_group */
	IPCNS_VM_COMMIT_LIMIT_KB,   /* CommitLimit of /proc/meminfo */
	IPCNS_VM_COMMITTED_AS_KB,   /* Committed_AS of /proc/meminfo */
	IPCNS_VM_TOTAL_KB,          /* RAM plus swap (sysinfo) */
	IPCNS_VM_OVERFLOW_UID,      /* kernel.overflowuid: an unmapped uid */
	IPCNS_VM_OVERFLOW_GID,      /* kernel.overflowgid */
};

/* Host services a namespace needs.  The core reads nothing of the
 * machine itself: every number and clock comes through here.  */
struct ipcns_host_ops {
	/* Call cb for every file-backed VMA of every process that can hold a
	 * mapping of this namespace's segments (shm_nattch is the number of
	 * VMAs mapping a segment, as in Linux).  */
	int (*scan_vmas)(void *host, ipcns_vma_cb cb, void *arg);
	/* Wall-clock seconds for the *_time fields; NULL means time(2).  */
	int64_t (*now)(void *host);
	/* CLOCK_MONOTONIC ns, the clock of semtimedop's deadlines (struct
	 * ipcns_waiter.deadline); NULL means clock_gettime(2).  */
	int64_t (*mono_ns)(void *host);
	/* One of the machine's memory numbers, or -1 when it is unknown.  May
	 * be NULL: every number unknown, so no shmget is refused by the
	 * overcommit accounting and only CAP_IPC_LOCK allows SHM_HUGETLB.  */
	long long (*vm_read)(void *host, enum ipcns_vm what);
	/* A quota or limit was hit: for the log.  May be NULL.  */
	void (*limit_hit)(void *host, const char *what);
	/* The pid of host process `tgid' and of its parent, both in the
	 * process's own pid namespace (what shm_lpid reports).  May be NULL:
	 * the host tgid is used.  */
	int (*proc_info)(void *host, pid_t tgid, pid_t *ns_tgid, pid_t *ns_ppid);
	/* Host process `tgid' (its parent when `parent') in every pid
	 * namespace from the daemon's down to its own (struct
	 * ipcns_pidchain).  May be NULL: proc_info's number, one level,
	 * namespace 0.  */
	int (*proc_chain)(void *host, pid_t tgid, bool parent, struct ipcns_pidchain *out);
	/* Call ipcns_ns_process_exit(ns, tgid) when host process `tgid'
	 * exits.  Idempotent.  May be NULL.  */
	int (*watch_exit)(void *host, pid_t tgid);
	/* The file-backed VMAs of one process.  May be NULL.  */
	int (*proc_maps)(void *host, pid_t tgid, ipcns_vma_cb cb, void *arg);
	/* The file of process tgid's VMA spanning exactly [start, end): 0,
	 * or -ENOENT.  May be NULL.  */
	int (*vma_at)(void *host, pid_t tgid, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino);
	/* The file-backed VMAs of process tgid that overlap [start, end),
	 * found without looking at the process's other VMAs (Linux 6.11's
	 * PROCMAP_QUERY): its cost does not grow with the process's VMA
	 * count.  -EOPNOTSUPP when the host cannot; may be NULL.  */
	int (*vmas_in)(void *host, pid_t tgid, uint64_t start, uint64_t end, ipcns_vma_cb cb, void *arg);
	/* True when the host reports every fork, exec and exit of the
	 * namespace's processes (ipcns_ns_process_*) before the calls that
	 * follow them: then only the known holders of a segment need to be
	 * looked at.  May be NULL (false).  */
	bool (*tracks_processes)(void *host);
};

struct ipcns_ns *ipcns_ns_new(const struct ipcns_limits *limits, const struct ipcns_host_ops *host,
			      void *host_data);
/* Destroy the namespace: every object removed, every parked call dropped
 * (released without an answer), every memfd closed.  */
void ipcns_ns_free(struct ipcns_ns *ns);
const struct ipcns_limits *ipcns_ns_limits(const struct ipcns_ns *ns);
int ipcns_ns_set_limits(struct ipcns_ns *ns, const struct ipcns_limits *limits);

/* What the namespaces of one front end hold together, against the
 * operator's daemon-wide ceilings; shared by namespaces that different
 * threads serve, so updated atomically.  0 = no ceiling.  */
struct ipcns_pool {
	uint64_t mem_limit;
	uint64_t mem_used;
	uint64_t fd_limit;
	uint64_t fds_used;
};
/* Charge the namespace to `pool' from now on; what it holds already is
 * moved in.  ipcns_ns_free gives back whatever it still holds.  */
void ipcns_ns_set_pool(struct ipcns_ns *ns, struct ipcns_pool *pool);
/* What the front end holds for the namespace (parked calls, watches,
 * pidfds, notify fds), charged to its budgets and the pool: 0, or
 * -ENOMEM (memory) / -EMFILE (fds) over a budget or the pool's ceiling.
 * `force' charges fds past the budgets (what a namespace needs to
 * exist).  */
int ipcns_ns_mem_charge(struct ipcns_ns *ns, uint64_t bytes);
void ipcns_ns_mem_uncharge(struct ipcns_ns *ns, uint64_t bytes);
/* Charge what is held already, past the budgets if need be.  */
void ipcns_ns_mem_force(struct ipcns_ns *ns, uint64_t bytes);
int ipcns_ns_fd_charge(struct ipcns_ns *ns, unsigned int n, bool force);
void ipcns_ns_fd_uncharge(struct ipcns_ns *ns, unsigned int n);

/* Drop parked calls whose caller went away (alive() false).  Returns how
 * many were dropped.  */
int ipcns_ns_sweep(struct ipcns_ns *ns);
/* The process with host tgid `tgid' exited: apply its SEM_UNDO adjustments
 * and re-check segments marked for destruction.  */
void ipcns_ns_process_exit(struct ipcns_ns *ns, pid_t tgid);
/* Host process `parent' forked `child', a new process with a copy of its
 * memory (not a thread, not CLONE_VM): the child inherits the parent's
 * segment attachments, as fork copies the VMAs in Linux.  */
void ipcns_ns_process_fork(struct ipcns_ns *ns, pid_t parent, pid_t child);
/* Process `tgid' called execve: its segment attachments are gone.  */
void ipcns_ns_process_exec(struct ipcns_ns *ns, pid_t tgid);
/* A parked waiter's deadline passed: it is answered -EAGAIN.  */
void ipcns_waiter_expire(struct ipcns_ns *ns, struct ipcns_waiter *w);
/* Re-check segments marked for destruction (SHM_DEST) and destroy those no
 * process maps any more.  */
void ipcns_ns_shm_reap(struct ipcns_ns *ns);

/* Usage counters for the host-side view.  */
struct ipcns_usage {
	uint32_t shm_ids, sem_ids, msg_ids;
	uint64_t shm_pages;    /* sum of segment sizes in pages */
	uint64_t sem_total;    /* semaphores in all sets */
	uint64_t msg_bytes;    /* bytes in all queues */
	uint64_t msg_count;    /* messages in all queues */
	uint32_t parked;       /* parked calls */
	uint64_t mem_bytes;    /* daemon memory held for it (quota_mem_bytes) */
	uint32_t fds;          /* daemon fds held for it (quota_fds) */
};
void ipcns_ns_usage(const struct ipcns_ns *ns, struct ipcns_usage *u);

/* The System V IPC system calls.  Pointer arguments are addresses in the
 * caller's memory.  As on 64-bit Linux, which has no ipc_parse_version(), a
 * `cmd' carrying IPC_64 (0x100) is an unknown command: -EINVAL.  */
long ipcns_shmget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, uint64_t size, int shmflg);
long ipcns_shmat(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, uint64_t addr, int shmflg);
long ipcns_shmdt(struct ipcns_ns *ns, struct ipcns_caller *c, uint64_t addr);
/* remap_file_pages(2): IPCNS_CONTINUE unless the range holds the last
 * attach of a removed segment (then as Linux: unmapped, destroyed, EINVAL).  */
long ipcns_shm_remap(struct ipcns_ns *ns, struct ipcns_caller *c, uint64_t start, uint64_t size, uint64_t prot,
		     uint64_t pgoff);
long ipcns_shmctl(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, int cmd, uint64_t buf);
/* Can this process make segment files immutable (FS_IMMUTABLE_FL, which
 * needs CAP_LINUX_IMMUTABLE): 0, or -errno when it cannot, and segments
 * other than hugetlb ones are then guarded by their owner and mode 0
 * alone (spec/security.md).  For the front end's log.  */
int ipcns_shm_immutable_check(void);
/* Start the guard of hugetlb segment files (a fanotify group and its
 * thread, which refuse every other process's open of them; needs
 * CAP_SYS_ADMIN): 0, or -errno when there is none, and hugetlb segments
 * are then guarded by their owner and mode 0 alone (spec/security.md).
 * adopt: the group a previous daemon had (its marks kept, ours from
 * then on), or -1 for a new one.  Before any segment is made or loaded;
 * one guard a process, counted: each start is paired with a stop.  A
 * process that forks must not attach in the child.  */
int ipcns_shm_guard_start(int adopt);
/* The last stop ends the guard's thread and closes its group (its marks
 * go with it), once the segments it guarded are gone.  */
void ipcns_shm_guard_stop(void);
/* The guard's group, to keep across a restart, or -1.  */
int ipcns_shm_guard_fd(void);
/* Forget the guard's mark on a segment file no namespace has (a mark
 * holds the file): 0 or -errno.  */
int ipcns_shm_guard_drop(int fd);
/* fn(arg, ino) for the memfd of every segment ns still has: the front end
 * keeps copies of those files (the keeper's custody) and drops the others.
 * Asked of the namespace, not of fd numbers: a closed segment's number may
 * already be another thread's file.  */
void ipcns_shm_files(struct ipcns_ns *ns, void (*fn)(void *arg, ino_t ino), void *arg);

long ipcns_semget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int nsems, int semflg);
/* timeout: address of a struct timespec, 0 for none (semop).  */
long ipcns_semtimedop(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, uint64_t sops,
		      uint64_t nsops, uint64_t timeout);
/* arg: the fourth argument as passed in the register (union semun).  */
long ipcns_semctl(struct ipcns_ns *ns, struct ipcns_caller *c, int semid, int semnum, int cmd,
		  uint64_t arg);

long ipcns_msgget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int msgflg);
long ipcns_msgsnd(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp,
		  uint64_t msgsz, int msgflg);
long ipcns_msgrcv(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp,
		  uint64_t msgsz, int64_t msgtyp, int msgflg);
long ipcns_msgctl(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, int cmd, uint64_t buf);

/* Host-side view (ipcnsctl): iterate objects.  */
enum ipcns_kind { IPCNS_SHM = 0, IPCNS_SEM = 1, IPCNS_MSG = 2 };
/* Linux's ipcctl_obtain_check() alone: the object's lookup (-EINVAL), then
 * the owner check of IPC_SET and IPC_RMID (-EPERM): 0 when both pass.  A
 * 32-bit caller's direct semctl or msgctl with IPC_64 in cmd gets this
 * far, then EINVAL (front ends' compat layer).  */
int ipcns_ctl_check(struct ipcns_ns *ns, struct ipcns_caller *c, enum ipcns_kind kind, int id);
struct ipcns_obj_info {
	enum ipcns_kind kind;
	int id;
	int32_t key;
	uid_t uid, cuid;
	gid_t gid, cgid;
	unsigned int mode;    /* permission bits plus SHM_DEST/SHM_LOCKED */
	uint64_t bytes;       /* shm: segsz; msg: bytes queued */
	uint64_t count;       /* shm: nattch; sem: nsems; msg: messages */
	int64_t ctime;
	/* shm: shm_atime, shm_dtime; sem: sem_otime in atime; msg:
	 * msg_stime, msg_rtime.  */
	int64_t atime, dtime;
	/* shm: shm_cpid, shm_lpid; msg: msg_lspid, msg_lrpid; as the
	 * reader's pid namespace sees them (ipcns_ns_foreach_as), or in the
	 * pid namespace of the process that set them (ipcns_ns_foreach).  */
	pid_t cpid, lpid;
	uint64_t rss, swap; /* shm: bytes resident, swapped */
};
typedef int (*ipcns_obj_cb)(void *arg, const struct ipcns_obj_info *info);
int ipcns_ns_foreach(struct ipcns_ns *ns, enum ipcns_kind kind, ipcns_obj_cb cb, void *arg);
/* The same, with the pids as `reader' sees them (0 for a process not
 * visible in its pid namespace); NULL: as ipcns_ns_foreach.  */
int ipcns_ns_foreach_as(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_pidns *reader,
			ipcns_obj_cb cb, void *arg);
/* IPC_RMID from the host: no permission check.  */
int ipcns_ns_remove(struct ipcns_ns *ns, enum ipcns_kind kind, int id);

/* ---- The IPC sysctls of a namespace, as /proc/sys/kernel/NAME inside
 * it reads and writes them (Linux's ipc/ipc_sysctl.c over
 * proc_dointvec, proc_dointvec_minmax and proc_doulongvec_minmax).  */
enum ipcns_sysctl {
	IPCNS_SYSCTL_SHMMAX,
	IPCNS_SYSCTL_SHMALL,
	IPCNS_SYSCTL_SHMMNI,
	IPCNS_SYSCTL_SHM_RMID_FORCED,
	IPCNS_SYSCTL_MSGMAX,
	IPCNS_SYSCTL_MSGMNI,
	IPCNS_SYSCTL_MSGMNB,
	IPCNS_SYSCTL_SEM,
	IPCNS_SYSCTL_SEM_NEXT_ID,
	IPCNS_SYSCTL_MSG_NEXT_ID,
	IPCNS_SYSCTL_SHM_NEXT_ID,
	IPCNS_SYSCTL_COUNT
};
/* "shmmax"...; NULL for an unknown one.  */
const char *ipcns_sysctl_name(int which);
/* The enum value of a name ("shmmax"), or -ENOENT.  */
int ipcns_sysctl_lookup(const char *name);
/* The file's mode as Linux registers it: 0644, or 0444 for *_next_id.  */
unsigned int ipcns_sysctl_mode(int which);
/* The file's text ("33554432\n", "32000\t1024000000\t500\t32000\n")
 * into buf (NUL-terminated, truncated to size - 1): its full length.  */
int ipcns_sysctl_format(struct ipcns_ns *ns, int which, char *buf, size_t size);
/* A write of len bytes at file offset pos, parsed and checked as Linux
 * does (sysctl_writes_strict=1: a write past offset 0 is ignored).  The
 * values go into the namespace's limits (or ids' next_id); a value above
 * `ceiling' (NULL: none) is refused as out of range.  Returns the bytes
 * consumed, or -errno (-EINVAL, -ERANGE).  `what' (may be NULL, size
 * whatlen) says what was refused, for the log.  */
long ipcns_sysctl_write(struct ipcns_ns *ns, int which, const char *buf, size_t len, uint64_t pos,
			const struct ipcns_limits *ceiling, char *what, size_t whatlen);
/* Who accesses a sysctl file, for Linux's ipc_permissions().  */
struct ipcns_sysctl_who {
	bool euid_is_ns_root;  /* euid is uid 0 of the namespace's user namespace */
	bool in_ns_root_group; /* egid or a supplementary group is its gid 0 */
	/* CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the namespace's
	 * user namespace: the *_next_id files become writable.  */
	bool checkpoint_restore;
};
/* mask: 4 read, 2 write.  0 or -EACCES.  */
int ipcns_sysctl_permission(int which, const struct ipcns_sysctl_who *who, int mask);
/* No ceiling: every limit at the largest value Linux accepts.  */
void ipcns_limits_no_ceiling(struct ipcns_limits *l);
/* Each kernel limit of l lowered to o's where o's is lower.  */
void ipcns_limits_min(struct ipcns_limits *l, const struct ipcns_limits *o);
/* The operator's ceiling over the limits a container's config set: a
 * limit left at Linux's default is lowered to its ceiling, one the config
 * set above it is refused: 0, or -EINVAL with its name and both values in
 * what.  */
int ipcns_limits_apply_ceiling(struct ipcns_limits *l, const struct ipcns_limits *ceiling, char *what,
			       size_t whatlen);

/* ---- /proc/sysvipc/{shm,sem,msg} of a namespace, in Linux's format.
 * The reader's view: uids and gids mapped into its user namespace
 * (unmapped ones show as kernel.overflowuid/gid, 65534 by default).  */
struct ipcns_idmap {
	uint32_t n;
	struct {
		uint32_t inside, outside, count;
	} e[340];
};
/* Parse /proc/PID/uid_map or gid_map text: 0 or -EINVAL.  */
int ipcns_idmap_parse(struct ipcns_idmap *m, const char *text);
/* The file's whole text into a malloc'd *out (length *len); uidmap and
 * gidmap NULL for the identity.  0 or -ENOMEM.  */
int ipcns_ns_proc_text(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_idmap *uidmap,
		       const struct ipcns_idmap *gidmap, char **out, size_t *len);
/* The same with the pid columns as `reader' sees them (Linux prints
 * them in the opener's pid namespace); NULL: as ipcns_ns_proc_text.  */
int ipcns_ns_proc_text_as(struct ipcns_ns *ns, enum ipcns_kind kind, const struct ipcns_idmap *uidmap,
			  const struct ipcns_idmap *gidmap, const struct ipcns_pidns *reader, char **out,
			  size_t *len);

#ifdef __cplusplus
}
#endif
#endif
