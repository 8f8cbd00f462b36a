/* SPDX-License-Identifier: MIT */
/* The fake front end of the core's unit tests and of its fuzzer
 * (tests/fuzz/fuzz_core.c): callers, parked calls and a host, no kernel, no
 * seccomp.  Built by the Makefile from tests/lib/fake_caller.c.
 *
 * A process's memory is one of two kinds:
 *   - this process's own (mem == NULL, the unit tests): addresses are
 *     pointers, those below 64 KiB are unmapped and give -EFAULT;
 *   - a buffer of its own (mem != NULL, the fuzzer): mem_size bytes at
 *     FAKE_MEM_BASE, read and write, and a read-only page at FAKE_RO_BASE
 *     (it reads 0x11); every other address gives -EFAULT.
 * Its shared memory mappings are one of two kinds too:
 *   - real (record_maps false): shm_map mmaps the segment's memfd in this
 *     process and the maps are read from /proc/self/maps;
 *   - recorded (record_maps true): shm_map checks the fd as mmap would
 *     (open, O_RDWR for PROT_WRITE), takes its device and inode, and
 *     records a VMA; MAP_FIXED_NOREPLACE fails with EEXIST over one,
 *     MAP_FIXED replaces what it overlaps, and an unmap splits VMAs as
 *     the kernel does.  The maps report these VMAs, sorted.
 *
 * A call is a process's `call' (fake_call(p) starts one); a parked call
 * keeps a copy of it as its own caller, as ipcnsd's parked notification
 * does.  A call can be made to die after N caller ops (ops_left): they then
 * fail with -ENOENT, as ipcnsd's do when the notification goes away; so do
 * the ops of a parked call that is no longer alive.  fake_faults makes the
 * next memfd_create (this library wraps it), watch_exit, shm_map or read
 * of credentials fail with an errno, as when the daemon runs out of fds.
 *
 * Checked beyond what ASan/UBSan/LSan catch (abort(), so that a fuzzer
 * keeps the input and a test fails):
 *   - answers (answer(), deliver()) are >= 0 or an errno the man pages
 *     list for System V IPC, never a stray value;
 *   - a parked call is answered at most once and released exactly once;
 *   - shm_map is only given open fds (recorded maps);
 *   - fake_call_done: IPCNS_PARKED iff exactly one park(), IPCNS_ANSWERED
 *     iff exactly one answer(), any other result >= 0 or such an errno;
 *   - fake_ns_check: the usage counters agree with the objects (parked
 *     calls, queued bytes and messages, semaphores) and the message quota
 *     holds nothing when nothing is queued or parked.  */
#ifndef IPCNS_FAKE_CALLER_H
#define IPCNS_FAKE_CALLER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"

#define FAKE_BAD_ADDR 0x1000ULL
/* A buffer process's memory, its read-only page.  */
#define FAKE_MEM_BASE 0x100000ULL
#define FAKE_RO_BASE 0x200000ULL
#define FAKE_RO_SIZE 4096
/* Recorded maps: at most this many VMAs (the kernel's max_map_count:
 * ENOMEM beyond), below this end of the address space.  */
#define FAKE_MAXVMA 64
#define FAKE_TASK_END 0x800000000000ULL
#define FAKE_PAGE 4096ULL

/* abort() when cond is false, saying where and why ("check failed:",
 * which tests/fuzz/run.sh looks for).  */
#define fake_assert(cond, ...)                                                                                     \
	do {                                                                                                       \
		if (!(cond)) {                                                                                     \
			fprintf(stderr, "check failed: %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
			fprintf(stderr, __VA_ARGS__);                                                              \
			fputc('\n', stderr);                                                                       \
			abort();                                                                                   \
		}                                                                                                  \
	} while (0)

struct fake_proc;
struct fake_waiter;

/* One call: what the core is given as its caller.  */
struct fake_call {
	struct ipcns_caller c; /* first */
	struct fake_proc *proc;
	pid_t tgid;            /* of the process that made it */
	int ops_left;          /* it dies when this reaches 0; < 0: never */
	bool dead;             /* answered, or died: every op fails -ENOENT */
	bool interrupt_answer; /* answer() fails: interrupted before it */
	int nanswer, npark;
	long answer_val;             /* what answer() was given */
	bool answer_ok;              /* and it reached the caller */
	struct fake_waiter *parked;  /* what this call's park() made */
	struct fake_waiter *self;    /* in a parked copy: its waiter */
};

struct fake_vma {
	uint64_t start, end, off;
	dev_t dev;
	ino_t ino;
	int prot;
};

struct fake_proc {
	union {
		struct ipcns_caller c; /* the call it is making (fake_call) */
		struct fake_call call;
	};
	struct ipcns_cred cred;
	pid_t host_tgid, ns_tgid;
	pid_t parent, ns_ppid; /* host_ops.proc_info of a fake_world */
	/* Its pids in every pid namespace (ops->pid_chain); n 0: one
	 * level, ns_tgid in namespace 0.  */
	struct ipcns_pidchain chain;
	uint64_t memlock;
	bool exists;
	bool watched;
	struct fake_waiter *last_parked;
	struct fake_waiter **all; /* list head of every waiter made */
	uint8_t *mem;             /* NULL: this process's memory */
	size_t mem_size;
	bool record_maps;
	struct fake_vma vma[FAKE_MAXVMA];
	int nvma;
	uint64_t next_addr; /* where a recorded shmat(NULL) goes */
};

struct fake_waiter {
	struct ipcns_waiter w;
	struct fake_proc *proc;
	struct fake_call call; /* w.caller */
	bool alive;            /* the test flips this to interrupt the caller */
	bool deliverable;      /* false: deliver() fails with -ENOENT */
	bool answered;
	long answer;
	unsigned long answered_seq; /* order of the answers across waiters */
	bool released;
	bool had_deadline;
	struct fake_waiter **all;
	struct fake_waiter *next, *prev; /* all waiters of a test */
};

/* Failures to inject: the errno of the next such op, 0 for none.  */
struct fake_faults {
	int memfd; /* memfd_create */
	int watch; /* the caller's watch_exit (no fd for a pidfd) */
	int map;   /* shm_map (ADDFD with no fd left) */
	int info;  /* cred, ids, pids (/proc unreadable) */
};
extern struct fake_faults fake_faults;
/* A released waiter is freed at once, off its list (any later use is a
 * use-after-free for ASan), instead of kept for the test to look at.  */
extern bool fake_free_on_release;

/* The caller without answer(): the core's results are returned.  */
extern const struct ipcns_caller_ops fake_caller_ops;
/* With answer(), ids(), caps() and vma_at(), as ipcnsd's callers.  */
extern const struct ipcns_caller_ops fake_caller_answer_ops;
extern const struct ipcns_waiter_ops fake_waiter_ops;
/* scan_vmas of this process's own maps.  */
extern const struct ipcns_host_ops fake_host_ops;

/* A world of buffer processes with recorded maps: the host ops over
 * procs[0, nproc) (those that exist), host_data a struct fake_world.  */
struct fake_world {
	struct fake_proc *procs;
	int nproc;
	int64_t now;
	bool tracks; /* the host reports every fork, exec and exit at once */
};
extern const struct ipcns_host_ops fake_world_host_ops;

/* A process with euid/egid `uid' and no capabilities unless `caps'.  */
void fake_proc_init(struct fake_proc *p, uid_t uid, uint64_t caps, pid_t pid, struct fake_waiter **all);
/* Start a call of p (the caller may have changed its creds since the last
 * one: the cached copy is dropped).  */
struct ipcns_caller *fake_call(struct fake_proc *p);
/* The checks of a call's result r (see the head of this file).  */
void fake_call_done(struct fake_proc *p, long r, const char *what);
/* The result the caller got: r, or what answer() gave it.  */
long fake_call_result(const struct fake_proc *p, long r);

bool fake_w_alive(struct ipcns_waiter *w);
int fake_w_deliver(struct ipcns_waiter *w, long ret);
void fake_w_release(struct ipcns_waiter *w);
struct ipcns_waiter *fake_park(struct ipcns_caller *c);

/* Recorded maps: remove [start, end), splitting as munmap does; -1 when
 * that needs more than FAKE_MAXVMA.  */
int fake_vma_punch(struct fake_proc *p, uint64_t start, uint64_t end);
/* A process's maps (either kind), to cb.  */
int fake_proc_maps(struct fake_proc *p, ipcns_vma_cb cb, void *arg);
/* /proc/self/maps, to cb.  */
int fake_scan_self(ipcns_vma_cb cb, void *arg);
int fake_host_scan(void *host, ipcns_vma_cb cb, void *arg);

bool fake_errno_ok(long r);
/* The namespace's invariants, `all' its waiters (see the head).  */
void fake_ns_check(struct ipcns_ns *ns, struct fake_waiter *const *all);
/* Unreleased waiters of a list, and their number.  */
int fake_waiters_unreleased(struct fake_waiter *const *all);
void fake_waiters_free(struct fake_waiter **all);
/* Check a test's namespace (fake_ns_check), free it, then every waiter
 * parked in it.  Returns how many of them the namespace had not released
 * by then (it must release each parked call, at the latest when it is
 * freed): 0 if all were.  */
int fake_ns_free(struct ipcns_ns *ns, struct fake_waiter **all);

#endif
