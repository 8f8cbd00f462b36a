/* SPDX-License-Identifier: MIT */
/* System V IPC calls of a 32-bit (i386) caller, served as Linux's compat
 * layer serves them on x86_64: the ipc(2) multiplexer (number 117, with
 * its version field) and the direct calls of syscall_32.tbl.
 *
 * The core speaks the native ABI.  A compat caller's arguments are
 * zero-extended 32-bit registers; what differs is memory:
 *  - the *ctl structures (shmid_ds, semid_ds, msqid_ds, shminfo,
 *    shm_info; in the IPC_64 layout or the old one with 16-bit ids) are
 *    converted here, the core reading or writing a native copy held in
 *    the call's scratch buffer at the address IPCNS_COMPAT_SCRATCH;
 *  - a msgbuf has a 4-byte mtype: the core is given a tagged address
 *    (bit 63, the 32-bit address above bit 31, COMPAT_MSGBUF) that
 *    names it, and ipcns_compat_rw() maps the native 8-byte mtype and the
 *    text after it onto the caller's buffer.  The tag travels with a
 *    parked msgsnd or msgrcv, so a call answered later is mapped the
 *    same way;
 *  - semtimedop's timeout is an old_timespec32 (ipc SEMTIMEDOP) or a
 *    64-bit timespec whose tv_nsec counts by its low half only
 *    (semtimedop_time64): converted into the scratch buffer.
 * sembuf, seminfo, msginfo and semctl's arrays have one layout for both.
 * Errors come in Linux's order: what the compat layer copies in fails
 * before the call, what it copies out after it.  */
#include <errno.h>
#include <linux/audit.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "notify.h"

/* i386 system call numbers (arch/x86/entry/syscalls/syscall_32.tbl).  */
enum {
	NR32_IPC = 117,
	NR32_REMAP_FILE_PAGES = 257,
	NR32_SEMGET = 393,
	NR32_SEMCTL = 394,
	NR32_SHMGET = 395,
	NR32_SHMCTL = 396,
	NR32_SHMAT = 397,
	NR32_SHMDT = 398,
	NR32_MSGGET = 399,
	NR32_MSGSND = 400,
	NR32_MSGRCV = 401,
	NR32_MSGCTL = 402,
	NR32_SEMTIMEDOP_TIME64 = 420,
};

/* The calls of ipc(2) (include/uapi/linux/ipc.h).  */
enum {
	IPCOP_SEMOP = 1,
	IPCOP_SEMGET = 2,
	IPCOP_SEMCTL = 3,
	IPCOP_SEMTIMEDOP = 4,
	IPCOP_MSGSND = 11,
	IPCOP_MSGRCV = 12,
	IPCOP_MSGGET = 13,
	IPCOP_MSGCTL = 14,
	IPCOP_SHMAT = 21,
	IPCOP_SHMDT = 22,
	IPCOP_SHMGET = 23,
	IPCOP_SHMCTL = 24,
};

#define VERSION_64 0x100 /* IPC_64 */

/* ---- The compat structures of x86 (packed: the offsets are the
 * kernel's).  */
struct c_perm64 { /* compat_ipc64_perm */
	int32_t key;
	uint32_t uid, gid, cuid, cgid;
	uint16_t mode, pad1;
	uint16_t seq, pad2;
	uint32_t unused1, unused2;
} __attribute__((packed));
_Static_assert(sizeof(struct c_perm64) == 36, "compat_ipc64_perm");

struct c_perm { /* compat_ipc_perm: 16-bit ids */
	int32_t key;
	uint16_t uid, gid, cuid, cgid, mode, seq;
} __attribute__((packed));
_Static_assert(sizeof(struct c_perm) == 16, "compat_ipc_perm");

struct c_shmid64 {
	struct c_perm64 perm;
	uint32_t segsz;
	uint32_t atime, atime_high, dtime, dtime_high, ctime, ctime_high;
	int32_t cpid, lpid;
	uint32_t nattch, unused4, unused5;
} __attribute__((packed));
_Static_assert(sizeof(struct c_shmid64) == 84, "compat_shmid64_ds");

struct c_shmid {
	struct c_perm perm;
	int32_t segsz;
	int32_t atime, dtime, ctime;
	uint16_t cpid, lpid, nattch, unused;
	uint32_t unused2, unused3;
} __attribute__((packed));
_Static_assert(sizeof(struct c_shmid) == 48, "compat_shmid_ds");

struct c_semid64 {
	struct c_perm64 perm;
	uint32_t otime, otime_high, ctime, ctime_high;
	uint32_t nsems, unused3, unused4;
} __attribute__((packed));
_Static_assert(sizeof(struct c_semid64) == 64, "compat_semid64_ds");

struct c_semid {
	struct c_perm perm;
	int32_t otime, ctime;
	uint32_t base, pending, pending_last, undo;
	uint16_t nsems, pad;
} __attribute__((packed));
_Static_assert(sizeof(struct c_semid) == 44, "compat_semid_ds");

struct c_msqid64 {
	struct c_perm64 perm;
	uint32_t stime, stime_high, rtime, rtime_high, ctime, ctime_high;
	uint32_t cbytes, qnum, qbytes;
	int32_t lspid, lrpid;
	uint32_t unused4, unused5;
} __attribute__((packed));
_Static_assert(sizeof(struct c_msqid64) == 88, "compat_msqid64_ds");

struct c_msqid {
	struct c_perm perm;
	uint32_t first, last;
	int32_t stime, rtime, ctime;
	uint32_t lcbytes, lqbytes;
	uint16_t cbytes, qnum, qbytes, lspid, lrpid, pad;
} __attribute__((packed));
_Static_assert(sizeof(struct c_msqid) == 56, "compat_msqid_ds");

struct c_shminfo64 {
	uint32_t shmmax, shmmin, shmmni, shmseg, shmall, unused[4];
};
struct c_shminfo { /* struct shminfo: five ints */
	int32_t shmmax, shmmin, shmmni, shmseg, shmall;
};
struct c_shm_info {
	int32_t used_ids;
	uint32_t shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes;
};
_Static_assert(sizeof(struct c_shm_info) == 24, "compat_shm_info");

/* The native layouts are glibc's structures here (the core checks they
 * are the kernel's).  */
_Static_assert(sizeof(struct shmid_ds) <= sizeof(((struct ipcns_compat_scratch *)0)->buf), "scratch");
_Static_assert(sizeof(struct msqid_ds) <= sizeof(((struct ipcns_compat_scratch *)0)->buf), "scratch");
_Static_assert(sizeof(struct semid_ds) <= sizeof(((struct ipcns_compat_scratch *)0)->buf), "scratch");

/* ---- Addresses the core is given.  */

#define MSGBUF_TAG	(1ULL << 63)
#define MSGBUF_OFF_MASK ((1ULL << 31) - 1)

/* A compat msgbuf at x: the core's msgp.  Offsets into it up to 2^31
 * (msgmax is an int) stay below the tag's address bits.  */
static uint64_t msgbuf_addr(uint32_t x)
{
	return MSGBUF_TAG | ((uint64_t)x << 31);
}

static uint64_t scratch_in(struct ipcns_compat_scratch *s, const void *v, size_t len)
{
	memcpy(s->buf, v, len);
	s->len = len;
	return IPCNS_COMPAT_SCRATCH;
}

static uint64_t scratch_out(struct ipcns_compat_scratch *s)
{
	memset(s->buf, 0, sizeof(s->buf));
	s->len = sizeof(s->buf);
	return IPCNS_COMPAT_SCRATCH;
}

int ipcns_compat_rw(struct ipcns_compat_scratch *s, uint64_t addr, void *buf, size_t len, bool write,
		    int (*raw)(void *arg, uint64_t addr, void *buf, size_t len, bool write), void *arg)
{
	if (addr >= IPCNS_COMPAT_SCRATCH && addr < IPCNS_COMPAT_SCRATCH + sizeof(s->buf) && s) {
		uint64_t off = addr - IPCNS_COMPAT_SCRATCH;
		if (off + len > s->len)
			return -EFAULT;
		if (write)
			memcpy(s->buf + off, buf, len);
		else
			memcpy(buf, s->buf + off, len);
		return 0;
	}
	if (!(addr & MSGBUF_TAG))
		return addr + len > (1ULL << 32) ? -EFAULT : raw(arg, addr, buf, len, write);
	uint32_t x = (uint32_t)(addr >> 31);
	uint64_t off = addr & MSGBUF_OFF_MASK;
	unsigned char *b = buf;
	if (off >= 8) /* the text: 4 bytes earlier in the compat msgbuf */
		return raw(arg, (uint64_t)x + 4 + (off - 8), b, len, write);
	if (off != 0)
		return -EFAULT; /* the core never splits the mtype */
	/* The 8-byte mtype is a 4-byte one: sign-extended in, truncated
	 * out (compat_long_t).  */
	size_t mlen = len < 8 ? len : 8;
	int ret;
	if (write) {
		unsigned char tmp[4 + 4096];
		size_t tl = len - mlen;
		if (tl <= sizeof(tmp) - 4) { /* one write, as Linux's msg fill */
			memcpy(tmp, b, 4);
			memcpy(tmp + 4, b + 8, tl);
			return raw(arg, x, tmp, 4 + tl, true);
		}
		ret = raw(arg, x, b, mlen < 4 ? mlen : 4, true);
	} else {
		int32_t v = 0;
		ret = raw(arg, x, &v, mlen < 4 ? mlen : 4, false);
		if (ret == 0) {
			int64_t w = v;
			memcpy(b, &w, mlen);
		}
	}
	if (ret < 0 || len <= 8)
		return ret;
	return raw(arg, (uint64_t)x + 4, b + 8, len - 8, write);
}

/* ---- Conversions.  */

/* high2lowuid(): an id that does not fit in 16 bits shows as
 * kernel.overflowuid (overflowgid).  */
static uint16_t low_id(uint32_t id, bool gid)
{
	if (!(id & ~0xFFFFU))
		return (uint16_t)id;
	unsigned v = 65534;
	FILE *f = fopen(gid ? "/proc/sys/kernel/overflowgid" : "/proc/sys/kernel/overflowuid", "re");
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 65534;
		fclose(f);
	}
	return (uint16_t)v;
}

static void perm64_out(struct c_perm64 *o, const struct ipc_perm *p)
{
	o->key = p->__key;
	o->uid = p->uid;
	o->gid = p->gid;
	o->cuid = p->cuid;
	o->cgid = p->cgid;
	o->mode = (uint16_t)p->mode;
	o->seq = (uint16_t)p->__seq;
}

static void perm_out(struct c_perm *o, const struct ipc_perm *p)
{
	o->key = p->__key;
	o->uid = low_id(p->uid, false);
	o->gid = low_id(p->gid, true);
	o->cuid = low_id(p->cuid, false);
	o->cgid = low_id(p->cgid, true);
	o->mode = (uint16_t)p->mode;
	o->seq = (uint16_t)p->__seq;
}

/* get_compat_ipc64_perm / get_compat_ipc_perm: the whole perm is read,
 * uid, gid and mode kept.  */
static int perm_in(struct ipcns_caller *c, uint64_t addr, int version, struct ipc_perm *p)
{
	int ret;
	if (version == VERSION_64) {
		struct c_perm64 v;
		ret = c->ops->read(c, addr, &v, sizeof(v));
		if (ret < 0)
			return ret;
		p->uid = v.uid;
		p->gid = v.gid;
		p->mode = v.mode;
	} else {
		struct c_perm v;
		ret = c->ops->read(c, addr, &v, sizeof(v));
		if (ret < 0)
			return ret;
		p->uid = v.uid;
		p->gid = v.gid;
		p->mode = v.mode;
	}
	return 0;
}

static int put(struct ipcns_caller *c, uint64_t addr, const void *v, size_t len)
{
	return c->ops->write(c, addr, v, len) < 0 ? -EFAULT : 0;
}

/* ---- shmctl: compat_ksys_shmctl.  */
static long shmctl32(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, int shmid, int cmd,
		     uint32_t uptr, int version)
{
	long ret;
	if (cmd < 0 || shmid < 0)
		return -EINVAL;
	switch (cmd) {
	case IPC_INFO: {
		ret = ipcns_shmctl(ns, c, shmid, cmd, scratch_out(s));
		if (ret < 0)
			return ret;
		struct shminfo in;
		memcpy(&in, s->buf, sizeof(in));
		if (in.shmmax > INT32_MAX)
			in.shmmax = INT32_MAX;
		if (version == VERSION_64) {
			struct c_shminfo64 v = {.shmmax = (uint32_t)in.shmmax,
						.shmmin = (uint32_t)in.shmmin,
						.shmmni = (uint32_t)in.shmmni,
						.shmseg = (uint32_t)in.shmseg,
						.shmall = (uint32_t)in.shmall};
			return put(c, uptr, &v, sizeof(v)) ?: ret;
		}
		struct c_shminfo v = {.shmmax = (int32_t)in.shmmax,
				      .shmmin = (int32_t)in.shmmin,
				      .shmmni = (int32_t)in.shmmni,
				      .shmseg = (int32_t)in.shmseg,
				      .shmall = (int32_t)in.shmall};
		return put(c, uptr, &v, sizeof(v)) ?: ret;
	}
	case SHM_INFO: {
		ret = ipcns_shmctl(ns, c, shmid, cmd, scratch_out(s));
		if (ret < 0)
			return ret;
		struct shm_info in;
		memcpy(&in, s->buf, sizeof(in));
		struct c_shm_info v = {.used_ids = in.used_ids,
				       .shm_tot = (uint32_t)in.shm_tot,
				       .shm_rss = (uint32_t)in.shm_rss,
				       .shm_swp = (uint32_t)in.shm_swp,
				       .swap_attempts = (uint32_t)in.swap_attempts,
				       .swap_successes = (uint32_t)in.swap_successes};
		return put(c, uptr, &v, sizeof(v)) ?: ret;
	}
	case IPC_STAT:
	case SHM_STAT:
	case SHM_STAT_ANY: {
		ret = ipcns_shmctl(ns, c, shmid, cmd, scratch_out(s));
		if (ret < 0)
			return ret;
		struct shmid_ds in;
		memcpy(&in, s->buf, sizeof(in));
		if (version == VERSION_64) {
			struct c_shmid64 v;
			memset(&v, 0, sizeof(v));
			perm64_out(&v.perm, &in.shm_perm);
			v.atime = (uint32_t)in.shm_atime;
			v.atime_high = (uint32_t)((uint64_t)in.shm_atime >> 32);
			v.dtime = (uint32_t)in.shm_dtime;
			v.dtime_high = (uint32_t)((uint64_t)in.shm_dtime >> 32);
			v.ctime = (uint32_t)in.shm_ctime;
			v.ctime_high = (uint32_t)((uint64_t)in.shm_ctime >> 32);
			v.segsz = (uint32_t)in.shm_segsz;
			v.nattch = (uint32_t)in.shm_nattch;
			v.cpid = in.shm_cpid;
			v.lpid = in.shm_lpid;
			return put(c, uptr, &v, sizeof(v)) ?: ret;
		}
		struct c_shmid v;
		memset(&v, 0, sizeof(v));
		perm_out(&v.perm, &in.shm_perm);
		v.atime = (int32_t)in.shm_atime;
		v.dtime = (int32_t)in.shm_dtime;
		v.ctime = (int32_t)in.shm_ctime;
		v.segsz = (int32_t)in.shm_segsz;
		v.nattch = (uint16_t)in.shm_nattch;
		v.cpid = (uint16_t)in.shm_cpid;
		v.lpid = (uint16_t)in.shm_lpid;
		return put(c, uptr, &v, sizeof(v)) ?: ret;
	}
	case IPC_SET: {
		struct shmid_ds ds;
		memset(&ds, 0, sizeof(ds));
		ret = perm_in(c, uptr, version, &ds.shm_perm);
		if (ret < 0)
			return ret;
		return ipcns_shmctl(ns, c, shmid, cmd, scratch_in(s, &ds, sizeof(ds)));
	}
	default:
		/* IPC_RMID, SHM_LOCK, SHM_UNLOCK take no buffer; anything
		 * else (IPC_64 included, which the direct call leaves in
		 * cmd) is EINVAL, as the core says.  */
		return ipcns_shmctl(ns, c, shmid, cmd, uptr);
	}
}

/* ---- semctl: compat_ksys_semctl.  The direct call (version IPC_64)
 * switches on cmd without IPC_64 but hands cmd on with it: the info
 * commands then answer as IPC_INFO, the stat ones as IPC_STAT, SETVAL
 * works, and the others pass their checks to fail with EINVAL.  */
static long semctl32(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, int semid, int semnum,
		     int cmd, uint32_t arg, int version)
{
	long ret;
	bool v64 = cmd & VERSION_64;
	if (semid < 0)
		return -EINVAL;
	switch (cmd & ~VERSION_64) {
	case IPC_INFO:
	case SEM_INFO:
		return ipcns_semctl(ns, c, semid, semnum, v64 ? IPC_INFO : cmd, arg);
	case IPC_STAT:
	case SEM_STAT:
	case SEM_STAT_ANY: {
		ret = ipcns_semctl(ns, c, semid, semnum, v64 ? IPC_STAT : cmd, scratch_out(s));
		if (ret < 0)
			return ret;
		struct semid_ds in;
		memcpy(&in, s->buf, sizeof(in));
		if (version == VERSION_64) {
			struct c_semid64 v;
			memset(&v, 0, sizeof(v));
			perm64_out(&v.perm, &in.sem_perm);
			v.otime = (uint32_t)in.sem_otime;
			v.otime_high = (uint32_t)((uint64_t)in.sem_otime >> 32);
			v.ctime = (uint32_t)in.sem_ctime;
			v.ctime_high = (uint32_t)((uint64_t)in.sem_ctime >> 32);
			v.nsems = (uint32_t)in.sem_nsems;
			return put(c, arg, &v, sizeof(v)) ?: ret;
		}
		struct c_semid v;
		memset(&v, 0, sizeof(v));
		perm_out(&v.perm, &in.sem_perm);
		v.otime = (int32_t)in.sem_otime;
		v.ctime = (int32_t)in.sem_ctime;
		v.nsems = (uint16_t)in.sem_nsems;
		return put(c, arg, &v, sizeof(v)) ?: ret;
	}
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT:
	case GETALL:
	case SETALL:
		if (!v64)
			return ipcns_semctl(ns, c, semid, semnum, cmd, arg);
		/* semctl_main(): the lookup and a read permission check, then
		 * no command matches.  */
		ret = ipcns_semctl(ns, c, semid, 0, GETVAL, 0);
		return ret < 0 ? ret : -EINVAL;
	case SETVAL:
		return ipcns_semctl(ns, c, semid, semnum, SETVAL, arg);
	case IPC_SET: {
		struct semid_ds ds;
		memset(&ds, 0, sizeof(ds));
		ret = perm_in(c, arg, version, &ds.sem_perm);
		if (ret < 0)
			return ret;
		if (v64)
			return ipcns_ctl_check(ns, c, IPCNS_SEM, semid) ?: -EINVAL;
		return ipcns_semctl(ns, c, semid, semnum, cmd, scratch_in(s, &ds, sizeof(ds)));
	}
	case IPC_RMID:
		if (v64)
			return ipcns_ctl_check(ns, c, IPCNS_SEM, semid) ?: -EINVAL;
		return ipcns_semctl(ns, c, semid, semnum, cmd, arg);
	default:
		return -EINVAL;
	}
}

/* ---- msgctl: compat_ksys_msgctl, with the direct call's IPC_64 as for
 * semctl.  */
static long msgctl32(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, int msqid, int cmd,
		     uint32_t uptr, int version)
{
	long ret;
	bool v64 = cmd & VERSION_64;
	if (msqid < 0 || cmd < 0)
		return -EINVAL;
	switch (cmd & ~VERSION_64) {
	case IPC_INFO:
	case MSG_INFO:
		return ipcns_msgctl(ns, c, msqid, v64 ? IPC_INFO : cmd, uptr);
	case IPC_STAT:
	case MSG_STAT:
	case MSG_STAT_ANY: {
		ret = ipcns_msgctl(ns, c, msqid, v64 ? IPC_STAT : cmd, scratch_out(s));
		if (ret < 0)
			return ret;
		struct msqid_ds in;
		memcpy(&in, s->buf, sizeof(in));
		if (version == VERSION_64) {
			struct c_msqid64 v;
			memset(&v, 0, sizeof(v));
			perm64_out(&v.perm, &in.msg_perm);
			v.stime = (uint32_t)in.msg_stime;
			v.stime_high = (uint32_t)((uint64_t)in.msg_stime >> 32);
			v.rtime = (uint32_t)in.msg_rtime;
			v.rtime_high = (uint32_t)((uint64_t)in.msg_rtime >> 32);
			v.ctime = (uint32_t)in.msg_ctime;
			v.ctime_high = (uint32_t)((uint64_t)in.msg_ctime >> 32);
			v.cbytes = (uint32_t)in.__msg_cbytes;
			v.qnum = (uint32_t)in.msg_qnum;
			v.qbytes = (uint32_t)in.msg_qbytes;
			v.lspid = in.msg_lspid;
			v.lrpid = in.msg_lrpid;
			return put(c, uptr, &v, sizeof(v)) ?: ret;
		}
		struct c_msqid v;
		memset(&v, 0, sizeof(v));
		perm_out(&v.perm, &in.msg_perm);
		v.stime = (int32_t)in.msg_stime;
		v.rtime = (int32_t)in.msg_rtime;
		v.ctime = (int32_t)in.msg_ctime;
		v.cbytes = (uint16_t)in.__msg_cbytes;
		v.qnum = (uint16_t)in.msg_qnum;
		v.qbytes = (uint16_t)in.msg_qbytes;
		v.lspid = (uint16_t)in.msg_lspid;
		v.lrpid = (uint16_t)in.msg_lrpid;
		return put(c, uptr, &v, sizeof(v)) ?: ret;
	}
	case IPC_SET: {
		struct msqid_ds ds;
		memset(&ds, 0, sizeof(ds));
		ret = perm_in(c, uptr, version, &ds.msg_perm);
		if (ret < 0)
			return ret;
		if (version == VERSION_64) {
			uint32_t q;
			ret = c->ops->read(c, uptr + offsetof(struct c_msqid64, qbytes), &q, sizeof(q));
			ds.msg_qbytes = q;
		} else {
			uint16_t q;
			ret = c->ops->read(c, uptr + offsetof(struct c_msqid, qbytes), &q, sizeof(q));
			ds.msg_qbytes = q;
		}
		if (ret < 0)
			return ret;
		if (v64)
			return ipcns_ctl_check(ns, c, IPCNS_MSG, msqid) ?: -EINVAL;
		return ipcns_msgctl(ns, c, msqid, cmd, scratch_in(s, &ds, sizeof(ds)));
	}
	case IPC_RMID:
		if (v64)
			return ipcns_ctl_check(ns, c, IPCNS_MSG, msqid) ?: -EINVAL;
		return ipcns_msgctl(ns, c, msqid, cmd, uptr);
	default:
		return -EINVAL;
	}
}

/* ---- msgrcv: compat_ksys_msgrcv.  MSG_COPY's buffer is loaded whole
 * (prepare_copy) before the queue is looked up: from the compat
 * buffer's start, as Linux loads it.  */
static long msgrcv32(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint32_t msgp, int32_t msgsz,
		     int32_t msgtyp, int msgflg)
{
	if (msqid < 0 || msgsz < 0)
		return -EINVAL;
	if (msgflg & MSG_COPY) {
		if ((msgflg & MSG_EXCEPT) || !(msgflg & IPC_NOWAIT))
			return -EINVAL;
		uint64_t len = (uint64_t)msgsz;
		if (len > ipcns_ns_limits(ns)->msgmax)
			len = ipcns_ns_limits(ns)->msgmax;
		char buf[4096];
		for (uint64_t off = 0; off < len; off += sizeof(buf)) {
			size_t n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
			int ret = c->ops->read(c, msgp + off, buf, n);
			if (ret < 0)
				return ret;
		}
	}
	return ipcns_msgrcv(ns, c, msqid, msgbuf_addr(msgp), (uint64_t)(int64_t)msgsz, msgtyp, msgflg);
}

/* compat_ksys_semtimedop: an old_timespec32, read first.  */
static long semtimedop32(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, int semid,
			 uint32_t sops, uint32_t nsops, uint32_t timeout)
{
	if (!timeout)
		return ipcns_semtimedop(ns, c, semid, sops, nsops, 0);
	int32_t t32[2];
	int ret = c->ops->read(c, timeout, t32, sizeof(t32));
	if (ret < 0)
		return ret;
	int64_t ts[2] = {t32[0], t32[1]};
	return ipcns_semtimedop(ns, c, semid, sops, nsops, scratch_in(s, ts, sizeof(ts)));
}

/* semtimedop_time64 of a compat caller: get_timespec64() keeps only the
 * low half of tv_nsec (in_compat_syscall()).  */
static long semtimedop64(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, int semid,
			 uint32_t sops, uint32_t nsops, uint32_t timeout)
{
	if (!timeout)
		return ipcns_semtimedop(ns, c, semid, sops, nsops, 0);
	int64_t ts[2];
	int ret = c->ops->read(c, timeout, ts, sizeof(ts));
	if (ret < 0)
		return ret;
	ts[1] = (int64_t)(uint32_t)ts[1];
	return ipcns_semtimedop(ns, c, semid, sops, nsops, scratch_in(s, ts, sizeof(ts)));
}

/* compat_ksys_ipc.  */
static long ipc32(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s, const uint32_t *a)
{
	int version = (int)(a[0] >> 16);
	int first = (int)a[1], second = (int)a[2];
	uint32_t third = a[3], ptr = a[4], fifth = a[5];
	long ret;

	switch (a[0] & 0xffff) {
	case IPCOP_SEMOP:
		return ipcns_semtimedop(ns, c, first, ptr, (uint32_t)second, 0);
	case IPCOP_SEMTIMEDOP:
		return semtimedop32(ns, c, s, first, ptr, (uint32_t)second, fifth);
	case IPCOP_SEMGET:
		return ipcns_semget(ns, c, first, second, (int)third);
	case IPCOP_SEMCTL: {
		uint32_t pad;
		if (!ptr)
			return -EINVAL;
		ret = c->ops->read(c, ptr, &pad, sizeof(pad));
		if (ret < 0)
			return ret;
		int cmd = (int)third;
		return semctl32(ns, c, s, first, second, cmd & ~VERSION_64, pad, cmd & VERSION_64);
	}
	case IPCOP_MSGSND:
		return ipcns_msgsnd(ns, c, first, msgbuf_addr(ptr), (uint64_t)(int64_t)second, (int)third);
	case IPCOP_MSGRCV:
		if (first < 0 || second < 0)
			return -EINVAL;
		if (!version) {
			/* struct compat_ipc_kludge { msgp; msgtyp; }  */
			struct {
				uint32_t msgp;
				int32_t msgtyp;
			} k;
			if (!ptr)
				return -EINVAL;
			ret = c->ops->read(c, ptr, &k, sizeof(k));
			if (ret < 0)
				return ret;
			return msgrcv32(ns, c, first, k.msgp, second, k.msgtyp, (int)third);
		}
		return msgrcv32(ns, c, first, ptr, second, (int32_t)fifth, (int)third);
	case IPCOP_MSGGET:
		return ipcns_msgget(ns, c, first, second);
	case IPCOP_MSGCTL:
		return msgctl32(ns, c, s, first, second & ~VERSION_64, ptr, second & VERSION_64);
	case IPCOP_SHMAT:
		if (version == 1)
			return -EINVAL; /* iBCS2's entry, long gone */
		ret = ipcns_shmat(ns, c, first, ptr, second);
		if (ret < 0)
			return ret;
		/* The address goes to *third; the attach stays if it
		 * cannot be written.  */
		uint32_t raddr = (uint32_t)ret;
		return c->ops->write(c, third, &raddr, sizeof(raddr)) < 0 ? -EFAULT : 0;
	case IPCOP_SHMDT:
		return ipcns_shmdt(ns, c, ptr);
	case IPCOP_SHMGET:
		return ipcns_shmget(ns, c, first, (uint32_t)second, (int)third);
	case IPCOP_SHMCTL:
		return shmctl32(ns, c, s, first, second & ~VERSION_64, ptr, second & VERSION_64);
	default:
		return -ENOSYS;
	}
}

long ipcns_compat_call(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_compat_scratch *s,
		       const struct seccomp_data *d)
{
	if (d->arch != AUDIT_ARCH_I386)
		return -ENOSYS;
	uint32_t a[6];
	for (int i = 0; i < 6; i++)
		a[i] = (uint32_t)d->args[i];
	switch (d->nr) {
	case NR32_IPC:
		return ipc32(ns, c, s, a);
	case NR32_SEMGET:
		return ipcns_semget(ns, c, (int32_t)a[0], (int)a[1], (int)a[2]);
	case NR32_SEMCTL:
		return semctl32(ns, c, s, (int)a[0], (int)a[1], (int)a[2], a[3], VERSION_64);
	case NR32_SHMGET:
		return ipcns_shmget(ns, c, (int32_t)a[0], a[1], (int)a[2]);
	case NR32_SHMCTL:
		return shmctl32(ns, c, s, (int)a[0], (int)a[1], a[2], VERSION_64);
	case NR32_SHMAT:
		return ipcns_shmat(ns, c, (int)a[0], a[1], (int)a[2]);
	case NR32_SHMDT:
		return ipcns_shmdt(ns, c, a[0]);
	case NR32_MSGGET:
		return ipcns_msgget(ns, c, (int32_t)a[0], (int)a[1]);
	case NR32_MSGSND:
		return ipcns_msgsnd(ns, c, (int)a[0], msgbuf_addr(a[1]), (uint64_t)(int64_t)(int32_t)a[2], (int)a[3]);
	case NR32_MSGRCV:
		return msgrcv32(ns, c, (int)a[0], a[1], (int32_t)a[2], (int32_t)a[3], (int)a[4]);
	case NR32_MSGCTL:
		return msgctl32(ns, c, s, (int)a[0], (int)a[1], a[2], VERSION_64);
	case NR32_SEMTIMEDOP_TIME64:
		return semtimedop64(ns, c, s, (int)a[0], a[1], a[2], a[3]);
	case NR32_REMAP_FILE_PAGES:
		return ipcns_shm_remap(ns, c, a[0], a[1], a[2], a[3]);
	default:
		return -ENOSYS;
	}
}

int ipcns_compat_nargs(const struct seccomp_data *d, bool *sem)
{
	*sem = false;
	if (d->arch != AUDIT_ARCH_I386)
		return -1;
	switch (d->nr) {
	case NR32_IPC:
		switch (d->args[0] & 0xffff) {
		case IPCOP_SEMOP:
		case IPCOP_SEMTIMEDOP:
			*sem = true;
			return 6;
		case IPCOP_MSGSND:
		case IPCOP_MSGRCV:
			return 6;
		default:
			return 0;
		}
	case NR32_SEMTIMEDOP_TIME64:
		*sem = true;
		return 4;
	case NR32_MSGSND:
		return 4;
	case NR32_MSGRCV:
		return 5;
	default:
		return 0;
	}
}

bool ipcns_compat_is_call(const struct seccomp_data *d)
{
	return d->arch == AUDIT_ARCH_I386 && (ipcns_compat_is_ipc_nr(d->nr) || d->nr == NR32_REMAP_FILE_PAGES);
}

bool ipcns_compat_is_ipc_nr(long nr)
{
#if defined(__x86_64__)
	/* 117 is x86_64's setresuid, and 393-402 and 420 are free there: a
	 * thread seen blocked in one of them is a 32-bit one in ipc(2).  */
	return nr == NR32_IPC || (nr >= NR32_SEMGET && nr <= NR32_MSGCTL) || nr == NR32_SEMTIMEDOP_TIME64;
#else
	(void)nr;
	return false;
#endif
}
