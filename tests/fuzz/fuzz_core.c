/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the IPC namespace core (plugin/lib/ipc/).
 *
 * One input is a program for a small world: a namespace with limits taken
 * from the input, NPROC fake processes, and a sequence of operations, each
 * chosen by one byte and parameterised by the following ones:
 *   - the twelve System V calls with decoded arguments, as
 *     plugin/lib/notify/dispatch.c passes them (ints truncated from registers,
 *     pointers as 64-bit addresses), pointers picked among valid, read-only,
 *     NULL, crossing the end of memory and arbitrary addresses;
 *   - writes of sembuf arrays, message buffers, timespecs and raw bytes
 *     into a process's memory, so that calls read meaningful data;
 *   - what happens to parked calls: the caller interrupted (alive() turns
 *     false), the answer failing to reach it (deliver() fails), the
 *     deadline passing (ipcns_waiter_expire), a sweep (ipcns_ns_sweep);
 *   - process life: fork (ipcns_ns_process_fork), exec, exit (the exit
 *     event delivered later, as a pidfd is read later, possibly after the
 *     pid was reused), a process unmapping part of a segment by itself;
 *     the host either tracks every fork, exec and exit (tracks_processes,
 *     exits then reported at once, as the host contract demands; the core
 *     looks at known holders only) or not (the core reads every maps);
 *   - the host side: ipcnsctl's object walk, host IPC_RMID, the reaper,
 *     new limits (possibly below what is in use);
 *   - the daemon or the caller running out of something: memfd_create,
 *     the caller's watch_exit (no fd for a pidfd), shm_map (ADDFD with no
 *     fd left) or the reading of its credentials and pids (/proc files)
 *     fail; the container must still see an errno Linux has for the call,
 *     never EMFILE.
 *
 * The processes, their calls, parked calls and the host are the fake
 * front end of the unit tests (tests/lib/fake_caller.h) in its fuzzing
 * form: each process has a memory buffer of its own and recorded maps
 * (shm attach is not a real mmap, which with arbitrary sizes would only
 * test the kernel), a call can die after N of its ops, released waiters
 * are freed at once, and every result and the namespace's counters are
 * checked after each operation (abort() so that the fuzzer keeps the
 * input).  Credentials come from the input (uid 0/1000/65534, capability
 * sets).  Beyond what the fake checks and ASan/UBSan/LSan catch: no parked
 * call is left unreleased and no file descriptor left open after
 * ipcns_ns_free().  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "fake_caller.h"
#include "ipcns/ipcns.h"

#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

#define NPROC 6
#define MEM_BASE FAKE_MEM_BASE
#define MEM_SIZE 8192
#define RO_BASE FAKE_RO_BASE
#define RO_SIZE FAKE_RO_SIZE
#define PAGE FAKE_PAGE
#define MAP_BASE 0x7f0000000000ULL
#define MAX_OPS 400

/* ---- Input.  */
struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}
/* Little-endian; every reader consumes its bytes in a defined order (no
 * two reads in one expression), so tests/fuzz/seeds.py can write inputs.  */
static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);
	uint16_t hi = u8(in);
	return (uint16_t)(lo | hi << 8);
}
static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);
	uint32_t hi = u16(in);
	return lo | hi << 16;
}
static uint64_t u64(struct in *in)
{
	uint64_t lo = u32(in);
	uint64_t hi = u32(in);
	return lo | hi << 32;
}

/* An "interesting" integer: boundaries, small values or raw bits.  */
static int64_t pick_int(struct in *in)
{
	static const int64_t special[] = { 0,         1,        -1,        2,         INT_MAX,   INT_MIN,
					   UINT_MAX,  LONG_MAX, LONG_MIN,  32767,     32768,     65535,
					   65536,     8192,     16384,     500,       4096,      INT_MAX - 1,
					   1LL << 32, 1LL << 31, -32768,   1LL << 40 };
	uint8_t k = u8(in);
	switch (k % 4) {
	case 0:
		return special[(k >> 2) % (sizeof(special) / sizeof(special[0]))];
	case 1:
		return (int8_t)u8(in);
	case 2:
		return (int32_t)u32(in);
	default:
		return (int64_t)u64(in);
	}
}

/* ---- The world.  */
static struct world {
	struct ipcns_ns *ns;
	struct fake_proc proc[NPROC];
	uint8_t mem[NPROC][MEM_SIZE];
	struct fake_world host;
	struct fake_waiter *waiters; /* not yet released */
	pid_t next_tgid;
	int ids[3][8];
	pid_t exits[16]; /* exit events not yet delivered */
	int nexits;
} W;

static bool trace; /* FUZZ_CORE_TRACE=1: print every call and its result */
static int fd_baseline[1024];
static int fd_baseline_n;

/* ---- Building the world from the input.  */
static void read_limits(struct in *in, struct ipcns_limits *l)
{
	ipcns_limits_default(l);
	uint8_t k = u8(in);
	l->shmmni = 1 + u8(in) % 8;
	l->semmni = 1 + u8(in) % 8;
	l->msgmni = 1 + u8(in) % 8;
	l->semmsl = 1 + u8(in) % 64;
	l->semmns = 1 + u16(in) % 256;
	l->semopm = (k & 1) ? 500 : 1 + u8(in) % 16;
	l->msgmax = (k & 2) ? 8192 : u16(in) % 1024;
	l->msgmnb = (k & 4) ? 16384 : u16(in) % 2048;
	l->quota_msg_bytes = (k & 8) ? IPCNS_DEFAULT_MSG_BYTES : u16(in) % 4096;
	l->quota_objects_per_uid = (k & 16) ? 0 : u8(in) % 6;
	l->shm_rmid_forced = (k >> 5) & 1;
	if (k & 64) {
		l->shmmax = 1 + u32(in) % (1 << 20);
		l->shmall = u16(in) % 512;
		l->quota_shm_bytes = u8(in) & 1 ? 0 : u32(in) % (1 << 21);
	}
}


/* A pid in the namespace: the host's, modulo 100000.  */
static void set_tgid(struct fake_proc *p, pid_t tgid)
{
	p->host_tgid = tgid;
	p->ns_tgid = tgid % 100000;
}

static void set_parent(struct fake_proc *p, pid_t parent)
{
	p->parent = parent;
	p->ns_ppid = parent % 100000;
}

static void read_cred(struct fake_proc *p, struct in *in)
{
	static const uid_t uids[] = { 0, 1000, 65534, 1001 };
	uint8_t k = u8(in);
	memset(&p->cred, 0, sizeof(p->cred));
	p->cred.euid = uids[k & 3];
	p->cred.egid = p->cred.fsgid = uids[(k >> 2) & 3];
	p->cred.ngroups = (k >> 4) & 1;
	p->cred.groups[0] = 1000;
	switch ((k >> 5) & 3) {
	case 0:
		p->cred.cap_effective = 0;
		break;
	case 1:
		p->cred.cap_effective = ~0ULL;
		break;
	default:
		p->cred.cap_effective = u64(in);
		break;
	}
	p->memlock = (k & 0x80) ? UINT64_MAX : (uint64_t)u16(in) * FAKE_PAGE;
}

static void proc_init(struct fake_proc *p, struct in *in, pid_t parent)
{
	int slot = (int)(p - W.proc);
	fake_proc_init(p, 0, 0, 0, &W.waiters);
	set_tgid(p, W.next_tgid++);
	set_parent(p, parent);
	p->mem = W.mem[slot];
	p->mem_size = MEM_SIZE;
	memset(p->mem, 0, MEM_SIZE);
	p->record_maps = true;
	p->next_addr = MAP_BASE + (uint64_t)slot * (1ULL << 36);
	read_cred(p, in);
}

/* A process slot that exists (the first one is always made to).  */
static int pick_slot(struct in *in)
{
	int s = u8(in) % NPROC;
	if (!W.proc[s].exists)
		s = 0;
	return s;
}

static uint64_t pick_ptr(struct in *in)
{
	uint8_t k = u8(in);
	switch (k % 8) {
	case 0:
	case 1:
	case 2:
		return MEM_BASE + u16(in) % MEM_SIZE;
	case 3:
		return MEM_BASE + (u16(in) % 64) * 64;
	case 4:
		return RO_BASE + u16(in) % RO_SIZE;
	case 5:
		return 0;
	case 6:
		return MEM_BASE + MEM_SIZE - u8(in) % 32;
	default:
		return u64(in);
	}
}

static int pick_id(struct in *in, int kind)
{
	uint8_t k = u8(in);
	if (k & 1)
		return W.ids[kind][(k >> 1) % 8];
	if (k & 2)
		return (int)pick_int(in);
	return (int)(W.ids[kind][(k >> 2) % 8] + 32768 * (int)(k >> 5));
}

static int32_t pick_key(struct in *in)
{
	uint8_t k = u8(in);
	if (k < 128)
		return 0; /* IPC_PRIVATE */
	if (k < 240)
		return k % 4;
	return (int32_t)u32(in);
}

static int pick_flags(struct in *in, int extra)
{
	uint8_t k = u8(in);
	if (k == 255)
		return (int)u32(in);
	int f = (k & 1) ? 0666 : (k & 2) ? 0600 : 0400;
	if (k & 4)
		f |= IPC_CREAT;
	if (k & 8)
		f |= IPC_EXCL;
	if (k & 16)
		f |= IPC_NOWAIT;
	if (k & 32)
		f |= extra;
	return f;
}

static void remember_id(int kind, long r)
{
	if (r < 0)
		return;
	memmove(&W.ids[kind][1], &W.ids[kind][0], sizeof(int) * 7);
	W.ids[kind][0] = (int)r;
}

/* ---- One call.  */
static struct ipcns_caller *call_init(struct fake_proc *p, struct in *in)
{
	uint8_t k = u8(in);
	struct ipcns_caller *c = fake_call(p);
	p->c.ops = (k & 1) ? &fake_caller_answer_ops : &fake_caller_ops;
	p->call.ops_left = (k & 0x0e) == 0x0e ? (int)(u8(in) % 8) : -1;
	p->call.interrupt_answer = (k & 0x30) == 0x30;
	return c;
}

static void do_call(struct in *in, uint8_t op)
{
	int slot = pick_slot(in);
	struct fake_proc *pr = &W.proc[slot];
	struct ipcns_caller *c = call_init(pr, in);
	struct ipcns_ns *ns = W.ns;
	long r;
	const char *what;
	int kind = -1; /* a *get: the kind whose id to remember */

	switch (op) {
	case 0: {
		what = "shmget";
		int32_t key = pick_key(in);
		uint64_t size = (uint64_t)pick_int(in);
		int extra = (u8(in) & 1) ? SHM_HUGETLB : SHM_NORESERVE;
		int flg = pick_flags(in, extra);
		r = ipcns_shmget(ns, c, key, size, flg);
		kind = IPCNS_SHM;
		break;
	}
	case 1: {
		what = "shmat";
		int id = pick_id(in, IPCNS_SHM);
		uint8_t k = u8(in);
		uint64_t addr = 0;
		if (k & 1)
			addr = MAP_BASE + (uint64_t)slot * (1ULL << 36) + (uint64_t)(u16(in) % 64) * PAGE +
			       ((k & 2) ? u8(in) : 0);
		else if (k & 2)
			addr = u64(in);
		int flg = ((k & 4) ? SHM_RDONLY : 0) | ((k & 8) ? SHM_RND : 0) | ((k & 16) ? SHM_REMAP : 0) |
			  ((k & 32) ? SHM_EXEC : 0);
		if (k == 255)
			flg = (int)u32(in);
		r = ipcns_shmat(ns, c, id, addr, flg);
		break;
	}
	case 2: {
		what = "shmdt";
		uint8_t k = u8(in);
		uint64_t addr;
		if (pr->nvma && (k & 1))
			addr = pr->vma[u8(in) % pr->nvma].start - ((k & 2) ? PAGE : 0);
		else
			addr = (k & 2) ? (uint64_t)u64(in) : MAP_BASE + (uint64_t)slot * (1ULL << 36);
		r = ipcns_shmdt(ns, c, addr);
		break;
	}
	case 3: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SHM_INFO, SHM_STAT, 15,
					    SHM_LOCK, SHM_UNLOCK, -1, 0x100 | IPC_STAT, 99 };
		what = "shmctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == SHM_STAT || cmd == 15) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_SHM);
		uint64_t buf = pick_ptr(in);
		r = ipcns_shmctl(ns, c, id, cmd, buf);
		break;
	}
	case 4: {
		what = "semget";
		int32_t key = pick_key(in);
		int nsems = (int)pick_int(in);
		int flg = pick_flags(in, 0);
		r = ipcns_semget(ns, c, key, nsems, flg);
		kind = IPCNS_SEM;
		break;
	}
	case 5: {
		what = "semtimedop";
		int id = pick_id(in, IPCNS_SEM);
		uint64_t sops = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t nsops = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)(k % 8);
		uint64_t timeout = (k & 0x40) ? pick_ptr(in) : 0;
		/* dispatch.c passes nsops as the low 32 bits.  */
		r = ipcns_semtimedop(ns, c, id, sops, (uint32_t)nsops, timeout);
		break;
	}
	case 6: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SEM_INFO, SEM_STAT, 20,
					    GETALL, SETALL, GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT, -1, 0x100 };
		what = "semctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == SEM_STAT || cmd == 20) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_SEM);
		int semnum = (int)pick_int(in);
		uint64_t arg = cmd == SETVAL ? (uint64_t)pick_int(in) : pick_ptr(in);
		r = ipcns_semctl(ns, c, id, semnum, cmd, arg);
		break;
	}
	case 7: {
		what = "msgget";
		int32_t key = pick_key(in);
		int flg = pick_flags(in, 0);
		r = ipcns_msgget(ns, c, key, flg);
		kind = IPCNS_MSG;
		break;
	}
	case 8: {
		what = "msgsnd";
		int id = pick_id(in, IPCNS_MSG);
		uint64_t p = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t sz = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)u16(in) % 600;
		int flg = pick_flags(in, 0);
		r = ipcns_msgsnd(ns, c, id, p, sz, flg);
		break;
	}
	case 9: {
		what = "msgrcv";
		int id = pick_id(in, IPCNS_MSG);
		uint64_t p = pick_ptr(in);
		uint8_t k = u8(in);
		uint64_t sz = (k & 0x80) ? (uint64_t)pick_int(in) : (uint64_t)u16(in) % 600;
		int64_t typ = (k & 0x40) ? pick_int(in) : (int8_t)u8(in) % 4;
		int flg = (k & 1 ? IPC_NOWAIT : 0) | (k & 2 ? MSG_NOERROR : 0) | (k & 4 ? MSG_EXCEPT : 0) |
			  (k & 8 ? MSG_COPY : 0);
		if ((k & 0x30) == 0x30)
			flg = (int)u32(in);
		r = ipcns_msgrcv(ns, c, id, p, sz, typ, flg);
		break;
	}
	default: {
		static const int cmds[] = { IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, MSG_INFO, MSG_STAT, 13, -1, 0x100 };
		what = "msgctl";
		uint8_t k = u8(in);
		int cmd = k == 255 ? (int)u32(in) : cmds[k % (sizeof(cmds) / sizeof(cmds[0]))];
		int id = (cmd == MSG_STAT || cmd == 13) && (k & 0x80) ? (int)(u8(in) % 8) : pick_id(in, IPCNS_MSG);
		uint64_t buf = pick_ptr(in);
		r = ipcns_msgctl(ns, c, id, cmd, buf);
		break;
	}
	}
	/* The result the caller got: returned, or given to answer().  */
	long res = fake_call_result(pr, r);
	if (kind >= 0)
		remember_id(kind, res);
	if (trace)
		fprintf(stderr, "trace: slot %d %s = %ld%s\n", slot, what, res, r == IPCNS_ANSWERED ? " (answered)" : "");
	fake_call_done(pr, r, what);
	if (r == IPCNS_PARKED)
		pr->call.parked->had_deadline = pr->call.parked->w.deadline >= 0;
}

/* ---- World operations.  */
static int walk_cb(void *arg, const struct ipcns_obj_info *oi)
{
	return 0;
}

static struct fake_waiter *pick_waiter(struct in *in)
{
	int n = fake_waiters_unreleased(&W.waiters);
	if (!n)
		return NULL;
	int k = u8(in) % n;
	struct fake_waiter *w = W.waiters;
	while (k-- > 0)
		w = w->next;
	return w;
}

static void proc_gone(struct fake_proc *p)
{
	/* Its calls die with it.  */
	for (struct fake_waiter *w = W.waiters; w; w = w->next)
		if (w->call.tgid == p->host_tgid)
			w->alive = false;
	p->nvma = 0;
}

static void deliver_exit(int k)
{
	pid_t tgid = W.exits[k];
	W.exits[k] = W.exits[--W.nexits];
	ipcns_ns_process_exit(W.ns, tgid);
}

static void world_op(struct in *in, uint8_t op)
{
	switch (op) {
	case 0: { /* sembuf array into memory */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % MEM_SIZE;
		int n = 1 + u8(in) % 6;
		for (int i = 0; i < n && off + 6 <= MEM_SIZE; i++, off += 6) {
			uint8_t k = u8(in);
			struct sembuf sb;
			sb.sem_num = (unsigned short)(k & 0x80 ? u16(in) : k % 4);
			sb.sem_op = (short)((int8_t)u8(in) % 4);
			sb.sem_flg = (short)((k & 0x10 ? IPC_NOWAIT : 0) | (k & 0x20 ? SEM_UNDO : 0));
			if ((k & 0x60) == 0x60)
				sb.sem_op = (short)u16(in);
			memcpy(p->mem + off, &sb, sizeof(sb));
		}
		break;
	}
	case 1: { /* message buffer: mtype and some text */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % (MEM_SIZE - 8);
		int64_t typ = (u8(in) & 1) ? pick_int(in) : 1 + u8(in) % 4;
		memcpy(p->mem + off, &typ, 8);
		break;
	}
	case 2: { /* timespec */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % (MEM_SIZE - 16);
		int64_t ts[2];
		ts[0] = (u8(in) & 1) ? pick_int(in) : 0;
		ts[1] = (u8(in) & 1) ? pick_int(in) : u8(in) * 1000;
		memcpy(p->mem + off, ts, sizeof(ts));
		break;
	}
	case 3: { /* raw bytes */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		size_t off = u16(in) % MEM_SIZE;
		size_t n = u8(in) % 32;
		for (size_t i = 0; i < n && off + i < MEM_SIZE; i++)
			p->mem[off + i] = u8(in);
		break;
	}
	case 4: { /* a parked caller interrupted or killed */
		struct fake_waiter *w = pick_waiter(in);
		if (w)
			w->alive = false;
		break;
	}
	case 5: { /* its answer will not reach it */
		struct fake_waiter *w = pick_waiter(in);
		if (w)
			w->deliverable = false;
		break;
	}
	case 6: { /* a deadline passes */
		struct fake_waiter *w = pick_waiter(in);
		if (w && w->had_deadline)
			ipcns_waiter_expire(W.ns, &w->w);
		break;
	}
	case 7:
		ipcns_ns_sweep(W.ns);
		break;
	case 8: { /* fork */
		int parent = pick_slot(in);
		int child = u8(in) % NPROC;
		if (W.proc[child].exists)
			break;
		struct fake_proc *pp = &W.proc[parent], *cp = &W.proc[child];
		*cp = *pp;
		cp->mem = W.mem[child];
		memcpy(cp->mem, pp->mem, MEM_SIZE);
		set_tgid(cp, W.next_tgid++);
		set_parent(cp, pp->host_tgid);
		ipcns_ns_process_fork(W.ns, pp->host_tgid, cp->host_tgid);
		break;
	}
	case 9: { /* exec */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		proc_gone(p);
		ipcns_ns_process_exec(W.ns, p->host_tgid);
		break;
	}
	case 10: { /* exit; the event comes later */
		int s = pick_slot(in);
		struct fake_proc *p = &W.proc[s];
		proc_gone(p);
		p->exists = false;
		if (W.nexits < 16 && !W.host.tracks)
			W.exits[W.nexits++] = p->host_tgid;
		else
			ipcns_ns_process_exit(W.ns, p->host_tgid);
		if (s == 0) /* slot 0 always has a process */
			proc_init(p, in, 1);
		break;
	}
	case 11: /* an exit event */
		if (W.nexits)
			deliver_exit(u8(in) % W.nexits);
		break;
	case 12: { /* a new process, sometimes with a pid whose exit is pending */
		int s = u8(in) % NPROC;
		if (W.proc[s].exists)
			break;
		proc_init(&W.proc[s], in, W.proc[0].host_tgid);
		if (W.nexits && (u8(in) & 1)) {
			pid_t reused = W.exits[u8(in) % W.nexits];
			bool taken = false;
			for (int i = 0; i < NPROC; i++)
				taken |= W.proc[i].exists && W.proc[i].host_tgid == reused;
			if (!taken)
				set_tgid(&W.proc[s], reused);
		}
		break;
	}
	case 13: { /* the process unmaps part of a mapping by itself */
		struct fake_proc *p = &W.proc[pick_slot(in)];
		if (!p->nvma)
			break;
		struct fake_vma *v = &p->vma[u8(in) % p->nvma];
		uint64_t pages = (v->end - v->start) / PAGE;
		uint64_t a = v->start + (u8(in) % pages) * PAGE;
		uint64_t len = (1 + u8(in) % pages) * PAGE;
		fake_vma_punch(p, a, a + len);
		break;
	}
	case 14: /* new credentials */
		read_cred(&W.proc[pick_slot(in)], in);
		break;
	case 15: /* the clock */
		W.host.now += u8(in);
		break;
	case 16: { /* host: ipcnsctl's walk, and rm */
		uint8_t k = u8(in);
		if (k & 1)
			ipcns_ns_foreach(W.ns, IPCNS_SHM, walk_cb, NULL);
		else
			ipcns_ns_remove(W.ns, (enum ipcns_kind)((k >> 1) % 3), pick_id(in, (k >> 1) % 3));
		break;
	}
	case 17:
		ipcns_ns_shm_reap(W.ns);
		break;
	case 18: { /* new limits */
		struct ipcns_limits l;
		read_limits(in, &l);
		ipcns_ns_set_limits(W.ns, &l);
		break;
	}
	case 19: { /* the daemon or the caller runs out of something */
		static const int errs[] = { ENFILE, ENOMEM, EMFILE };
		uint8_t k = u8(in);
		int e = errs[(k / 4) % 3];
		if (k % 4 == 0)
			fake_faults.memfd = e;
		else if (k % 4 == 1)
			fake_faults.watch = e;
		else if (k % 4 == 2)
			fake_faults.map = e;
		else
			fake_faults.info = e;
		break;
	}
	}
}

/* ---- Open fds, to find leaks.  */
static int open_fds(int *out, int max)
{
	int n = 0;
	for (int fd = 0; fd < 1024 && n < max; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			out[n++] = fd;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct ipcns_limits l;

	fd_baseline_n = open_fds(fd_baseline, 1024);
	trace = getenv("FUZZ_CORE_TRACE") != NULL;
	memset(&W, 0, sizeof(W));
	memset(&fake_faults, 0, sizeof(fake_faults));
	fake_free_on_release = true;
	W.next_tgid = 1000;
	W.host = (struct fake_world){ .procs = W.proc, .nproc = NPROC, .now = 1700000000 };
	read_limits(&in, &l);
	W.ns = ipcns_ns_new(&l, &fake_world_host_ops, &W.host);
	if (!W.ns)
		return 0;
	int nproc = 1 + u8(&in) % NPROC;
	for (int i = 0; i < nproc; i++)
		proc_init(&W.proc[i], &in, 1);
	W.host.tracks = u8(&in) & 1;

	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = u8(&in);
		if (op < 160)
			do_call(&in, op % 11);
		else
			world_op(&in, (uint8_t)((op - 160) % 20));
		fake_ns_check(W.ns, &W.waiters);
	}
	/* The end of a container: pending exits, then the namespace goes.  */
	while (W.nexits)
		deliver_exit(0);
	int left = fake_ns_free(W.ns, &W.waiters);
	fake_assert(left == 0, "%d parked calls never released", left);

	int now_fds[1024];
	int n = open_fds(now_fds, 1024);
	fake_assert(n == fd_baseline_n && !memcmp(now_fds, fd_baseline, sizeof(int) * (size_t)n),
		  "%d fds open after ipcns_ns_free, %d before (last: %d)", n, fd_baseline_n, n > 0 ? now_fds[n - 1] : -1);
	return 0;
}
