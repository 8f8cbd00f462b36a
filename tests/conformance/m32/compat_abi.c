/* SPDX-License-Identifier: MIT */
/* The System V IPC ABI of a 32-bit (i386) process on a 64-bit kernel, at
 * the system call level, where glibc does not go: the ipc(2) multiplexer
 * (number 117) and the direct calls (393-402, semtimedop_time64 420),
 * the old structures (no IPC_64: 16-bit ids) and the IPC_64 ones, how
 * many bytes each writes (a buffer ending at an inaccessible page), the
 * 4-byte mtype of a msgbuf, ipc_kludge, SHMAT's address written to
 * *third, the timespecs of semtimedop, and what the direct semctl and
 * msgctl do with IPC_64 left in cmd.  Built only with -m32 (the Makefile's
 * CONF32); must pass natively and under ipcnsd.  */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conf.h"

#if !defined(__i386__)
#error "compat_abi is an i386 program (make builds it with -m32)"
#endif

enum {
	SEMOP = 1,
	SEMGET = 2,
	SEMCTL = 3,
	SEMTIMEDOP = 4,
	MSGSND = 11,
	MSGRCV = 12,
	MSGGET = 13,
	MSGCTL = 14,
	SHMAT = 21,
	SHMDT = 22,
	SHMGET = 23,
	SHMCTL = 24
};
#define V64		     0x100
#define NR_SEMTIMEDOP_TIME64 420

/* glibc's syscall() enters through the vDSO (sysenter); this one by
 * `int $0x80' from the program's own text.  */
static long int80(long nr, long a, long b, long c, long d, long e)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static long ipc(long call, long first, long second, long third, void *ptr, long fifth)
{
	return syscall(SYS_ipc, call, first, second, third, ptr, fifth);
}

/* A buffer of `len' bytes that ends where an inaccessible page starts.  */
static unsigned char *guard;
static void *at_end(size_t len)
{
	return guard + 4096 - len;
}

/* The old structures (compat_ipc_perm: 16-bit ids).  */
struct perm16 {
	int32_t key;
	uint16_t uid, gid, cuid, cgid, mode, seq;
};
struct shmid16 {
	struct perm16 perm;
	int32_t segsz, atime, dtime, ctime;
	uint16_t cpid, lpid, nattch, unused;
	uint32_t unused2, unused3;
};
struct msqid16 {
	struct perm16 perm;
	uint32_t first, last;
	int32_t stime, rtime, ctime;
	uint32_t lcbytes, lqbytes;
	uint16_t cbytes, qnum, qbytes, lspid, lrpid;
};
struct semid16 {
	struct perm16 perm;
	int32_t otime, ctime;
	uint32_t base, pending, pending_last, undo;
	uint16_t nsems;
};

static void shm_checks(void)
{
	pid_t me = getpid();
	int id = (int)CHECK_OK(ipc(SHMGET, IPC_PRIVATE, 8192, 0600, NULL, 0));
	int id2 = (int)CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, 4096, 0600));

	/* IPC_64 (glibc's struct shmid_ds here): 84 bytes, direct or
	 * through ipc().  */
	struct shmid_ds *ds = at_end(sizeof(*ds));
	CHECK_EQ(sizeof(*ds), 84);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_STAT, ds));
	CHECK_EQ(ds->shm_segsz, 8192);
	CHECK_EQ(ds->shm_cpid, me);
	CHECK_EQ(ds->shm_perm.mode, 0600);
	CHECK_EQ(ds->shm_perm.uid, geteuid());
	memset(ds, 0, sizeof(*ds));
	CHECK_OK(ipc(SHMCTL, id, IPC_STAT | V64, 0, ds, 0));
	CHECK_EQ(ds->shm_segsz, 8192);
	CHECK_EQ(ds->shm_cpid, me);
	CHECK_ERR(syscall(SYS_shmctl, id, IPC_STAT, at_end(sizeof(*ds) - 1)), EFAULT);
	/* The direct call does not take IPC_64 in cmd.  */
	CHECK_ERR(syscall(SYS_shmctl, id, IPC_STAT | V64, ds), EINVAL);
	CHECK_ERR(syscall(SYS_shmctl, id, IPC_RMID | V64, NULL), EINVAL);

	/* The old layout: 48 bytes.  */
	struct shmid16 *o = at_end(48);
	CHECK_OK(ipc(SHMCTL, id, IPC_STAT, 0, o, 0));
	CHECK_EQ(o->segsz, 8192);
	CHECK_EQ(o->cpid, (uint16_t)me);
	CHECK_EQ(o->perm.mode, 0600);
	CHECK_EQ(o->perm.uid, geteuid());
	CHECK_EQ(o->nattch, 0);
	CHECK_ERR(ipc(SHMCTL, id, IPC_STAT, 0, at_end(47), 0), EFAULT);
	/* IPC_SET with the old layout.  */
	o->perm.mode = 0640;
	CHECK_OK(ipc(SHMCTL, id, IPC_SET, 0, o, 0));
	CHECK_OK(syscall(SYS_shmctl, id, IPC_STAT, ds));
	CHECK_EQ(ds->shm_perm.mode, 0640);
	CHECK_ERR(ipc(SHMCTL, id, IPC_SET, 0, at_end(15), 0), EFAULT);
	/* SHM_STAT of an index returns the id.  */
	CHECK_EQ(ipc(SHMCTL, id % 32768, SHM_STAT, 0, o, 0), id);

	/* IPC_INFO: compat_shminfo64 (36 bytes) or the old shminfo (five
	 * ints, 20), shmmax cut to INT_MAX.  */
	uint32_t *info = at_end(36);
	CHECK_TRUE(syscall(SYS_shmctl, 0, IPC_INFO, info) >= 0);
	CHECK_EQ(info[0], 0x7fffffff);
	CHECK_EQ(info[1], 1);
	CHECK_EQ(info[2], 4096);
	CHECK_ERR(syscall(SYS_shmctl, 0, IPC_INFO, at_end(35)), EFAULT);
	int32_t *oinfo = at_end(20);
	CHECK_TRUE(ipc(SHMCTL, 0, IPC_INFO, 0, oinfo, 0) >= 0);
	CHECK_EQ(oinfo[0], 0x7fffffff);
	CHECK_EQ(oinfo[2], 4096);
	CHECK_ERR(ipc(SHMCTL, 0, IPC_INFO, 0, at_end(19), 0), EFAULT);
	/* SHM_INFO: 24 bytes.  */
	int32_t *si = at_end(24);
	CHECK_TRUE(syscall(SYS_shmctl, 0, SHM_INFO, si) >= 0);
	CHECK_EQ(si[0], 2);
	CHECK_EQ(si[1], 3); /* shm_tot in pages */
	CHECK_ERR(syscall(SYS_shmctl, 0, SHM_INFO, at_end(23)), EFAULT);

	/* shmat: direct (the address returned), below 4 GiB and usable.  */
	/* (An address above 2 GiB is a negative long: CHECK_OK does not
	 * fit.)  */
	char *p = (char *)syscall(SYS_shmat, id, NULL, 0);
	CHECK_TRUE(p != (char *)-1 && ((uintptr_t)p & 4095) == 0);
	if (p == (char *)-1)
		return;
	strcpy(p, "compat");
	/* ipc(SHMAT): the address goes to *third (4 bytes), 0 returned.  */
	uint32_t raddr[2] = {0, 0xdeadbeef};
	CHECK_EQ(ipc(SHMAT, id, SHM_RDONLY, (long)raddr, NULL, 0), 0);
	CHECK_TRUE(raddr[0] != 0 && raddr[0] != (uint32_t)(uintptr_t)p);
	CHECK_EQ(raddr[1], 0xdeadbeef);
	CHECK_EQ(strcmp((char *)(uintptr_t)raddr[0], "compat"), 0);
	/* By `int $0x80' from our own code.  */
	char *q = (char *)int80(SYS_shmat, id2, 0, 0, 0, 0);
	CHECK_TRUE(q != (char *)-1);
	if (q != (char *)-1) {
		q[0] = 'x';
		CHECK_OK(int80(SYS_shmdt, (long)q, 0, 0, 0, 0));
	}
	/* Version 1 (iBCS2) is refused.  */
	CHECK_ERR(ipc(SHMAT | (1 << 16), id, 0, (long)raddr, NULL, 0), EINVAL);
	/* *third not writable: EFAULT, and the segment stays attached.  */
	CHECK_OK(syscall(SYS_shmctl, id, IPC_STAT, ds));
	CHECK_EQ(ds->shm_nattch, 2);
	CHECK_ERR(ipc(SHMAT, id, 0, (long)(guard + 4096), NULL, 0), EFAULT);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_STAT, ds));
	CHECK_EQ(ds->shm_nattch, 3);
	/* A given address, rounded (SHM_RND), and its detach by ipc().  */
	char *want = (char *)((((uintptr_t)p - (64u << 20)) & ~(uintptr_t)0xfffff) + 123);
	char *r = (char *)syscall(SYS_shmat, id, want, SHM_RND);
	CHECK_EQ((uintptr_t)r, (uintptr_t)want & ~(uintptr_t)4095);
	CHECK_ERR(syscall(SYS_shmat, id, want, 0), EINVAL);
	CHECK_OK(ipc(SHMDT, 0, 0, 0, r, 0));
	CHECK_OK(ipc(SHMDT, 0, 0, 0, (void *)(uintptr_t)raddr[0], 0));
	CHECK_OK(syscall(SYS_shmdt, p));
	CHECK_ERR(syscall(SYS_shmdt, p), EINVAL);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	CHECK_OK(syscall(SYS_shmctl, id2, IPC_RMID, NULL));
}

static void sem_checks(void)
{
	int id = (int)CHECK_OK(ipc(SEMGET, IPC_PRIVATE, 2, 0600, NULL, 0));
	int id2 = (int)CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, 1, 0600));
	/* ipc(SEMCTL): the argument is a pointer to the 32-bit union.  */
	uint32_t arg = 5;
	CHECK_OK(ipc(SEMCTL, id, 0, SETVAL, &arg, 0));
	CHECK_EQ(ipc(SEMCTL, id, 0, GETVAL, &arg, 0), 5);
	CHECK_ERR(ipc(SEMCTL, id, 0, GETVAL, NULL, 0), EINVAL);
	CHECK_ERR(ipc(SEMCTL, id, 0, GETVAL, guard + 4096, 0), EFAULT);
	/* Direct: the argument itself; IPC_64 left in cmd.  */
	CHECK_OK(syscall(SYS_semctl, id, 1, SETVAL, 7));
	CHECK_EQ(syscall(SYS_semctl, id, 1, GETVAL, 0), 7);
	CHECK_ERR(syscall(SYS_semctl, id, 1, GETVAL | V64, 0), EINVAL);
	CHECK_ERR(syscall(SYS_semctl, id, 9, GETVAL | V64, 0), EINVAL);
	CHECK_ERR(syscall(SYS_semctl, id + 1, 1, GETVAL | V64, 0), EINVAL);
	CHECK_OK(syscall(SYS_semctl, id, 1, SETVAL | V64, 8));
	CHECK_EQ(syscall(SYS_semctl, id, 1, GETVAL, 0), 8);
	CHECK_ERR(syscall(SYS_semctl, id, 0, IPC_RMID | V64, 0), EINVAL);
	/* IPC_STAT, IPC_64: 64 bytes; SEM_STAT with IPC_64 left in cmd
	 * acts as IPC_STAT (an id, 0 returned).  */
	struct semid_ds *ds = at_end(sizeof(*ds));
	CHECK_EQ(sizeof(*ds), 64);
	CHECK_EQ(syscall(SYS_semctl, id, 0, IPC_STAT, ds), 0);
	CHECK_EQ(ds->sem_nsems, 2);
	CHECK_EQ(syscall(SYS_semctl, id, 0, SEM_STAT | V64, ds), 0);
	CHECK_EQ(syscall(SYS_semctl, id % 32768, 0, SEM_STAT, ds), id);
	CHECK_ERR(syscall(SYS_semctl, id, 0, IPC_STAT, at_end(63)), EFAULT);
	/* The old layout: 44 bytes.  */
	struct semid16 *o = at_end(44);
	uint32_t po = (uint32_t)(uintptr_t)o;
	CHECK_EQ(ipc(SEMCTL, id, 0, IPC_STAT, &po, 0), 0);
	CHECK_EQ(o->nsems, 2);
	CHECK_EQ(o->perm.mode, 0600);
	po = (uint32_t)(uintptr_t)at_end(43);
	CHECK_ERR(ipc(SEMCTL, id, 0, IPC_STAT, &po, 0), EFAULT);
	po = (uint32_t)(uintptr_t)o;
	o->perm.mode = 0604;
	CHECK_OK(ipc(SEMCTL, id, 0, IPC_SET, &po, 0));
	CHECK_OK(syscall(SYS_semctl, id, 0, IPC_STAT, ds));
	CHECK_EQ(ds->sem_perm.mode, 0604);

	/* semop and semtimedop through ipc().  */
	struct sembuf sb = {0, -5, IPC_NOWAIT};
	CHECK_OK(ipc(SEMOP, id, 1, 0, &sb, 0));
	CHECK_ERR(ipc(SEMOP, id, 1, 0, &sb, 0), EAGAIN);
	sb.sem_flg = 0;
	int32_t ts32[2] = {0, 20 * 1000 * 1000};
	CHECK_ERR(ipc(SEMTIMEDOP, id, 1, 0, &sb, (long)ts32), EAGAIN);
	ts32[1] = 1000 * 1000 * 1000;
	CHECK_ERR(ipc(SEMTIMEDOP, id, 1, 0, &sb, (long)ts32), EINVAL);
	CHECK_ERR(ipc(SEMTIMEDOP, id, 1, 0, &sb, (long)(guard + 4096 - 4)), EFAULT);
	/* semtimedop_time64: a 64-bit timespec whose tv_nsec counts by its
	 * low half only in a 32-bit call.  */
	int64_t ts64[2] = {0, (int64_t)0x700000000LL + 20 * 1000 * 1000};
	CHECK_ERR(syscall(NR_SEMTIMEDOP_TIME64, id, &sb, 1, ts64), EAGAIN);
	ts64[1] = (int64_t)0x100000000LL + 1000 * 1000 * 1000;
	CHECK_ERR(syscall(NR_SEMTIMEDOP_TIME64, id, &sb, 1, ts64), EINVAL);
	sb.sem_op = 1;
	CHECK_OK(syscall(NR_SEMTIMEDOP_TIME64, id, &sb, 1, NULL));
	CHECK_EQ(syscall(SYS_semctl, id, 0, GETVAL, 0), 1);
	CHECK_OK(syscall(SYS_semctl, id, 0, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_semctl, id2, 0, IPC_RMID, 0));
}

static void msg_checks(void)
{
	pid_t me = getpid();
	int id = (int)CHECK_OK(ipc(MSGGET, IPC_PRIVATE, 0600, 0, NULL, 0));
	CHECK_TRUE(syscall(SYS_msgget, IPC_PRIVATE, 0600) >= 0);
	/* A msgbuf's mtype is 4 bytes: one that ends at the inaccessible
	 * page, sent with no text.  */
	int32_t *m0 = at_end(4);
	*m0 = 3;
	CHECK_OK(syscall(SYS_msgsnd, id, m0, 0, 0));
	struct {
		int32_t mtype;
		char text[12];
	} mb = {7, "hello"};
	CHECK_OK(syscall(SYS_msgsnd, id, &mb, 5, 0));
	CHECK_OK(ipc(MSGSND, id, 6, 0, &mb, 0));
	mb.mtype = -1;
	CHECK_ERR(syscall(SYS_msgsnd, id, &mb, 5, 0), EINVAL);
	CHECK_ERR(syscall(SYS_msgsnd, id, guard + 4096 - 2, 0, 0), EFAULT);

	/* msgrcv, direct: mtype at 0, the text at 4.  */
	unsigned char rb[16];
	memset(rb, 0xee, sizeof(rb));
	CHECK_EQ(syscall(SYS_msgrcv, id, rb, 8, 7, 0), 5);
	CHECK_EQ(*(int32_t *)rb, 7);
	CHECK_EQ(memcmp(rb + 4, "hello", 5), 0);
	CHECK_EQ(rb[9], 0xee);
	/* ipc() version 0: struct ipc_kludge { msgp; msgtyp; }.  */
	struct {
		uint32_t msgp;
		int32_t msgtyp;
	} k = {(uint32_t)(uintptr_t)rb, -5};
	memset(rb, 0xee, sizeof(rb));
	CHECK_EQ(ipc(MSGRCV, id, 8, IPC_NOWAIT, &k, 0), 0);
	CHECK_EQ(*(int32_t *)rb, 3);
	CHECK_ERR(ipc(MSGRCV, id, 8, IPC_NOWAIT, NULL, 0), EINVAL);
	CHECK_ERR(ipc(MSGRCV, -1, 8, IPC_NOWAIT, &k, 0), EINVAL);
	CHECK_ERR(ipc(MSGRCV, id, -1, IPC_NOWAIT, &k, 0), EINVAL);
	CHECK_ERR(ipc(MSGRCV, id, 8, IPC_NOWAIT, guard + 4096 - 4, 0), EFAULT);
	/* Other versions: msgp and msgtyp in the arguments.  */
	memset(rb, 0xee, sizeof(rb));
	CHECK_EQ(ipc(MSGRCV | (1 << 16), id, 16, IPC_NOWAIT, rb, 7), 6);
	CHECK_EQ(*(int32_t *)rb, 7);
	CHECK_EQ(rb[10], 0xee);
	CHECK_ERR(ipc(MSGRCV | (1 << 16), id, 16, IPC_NOWAIT, rb, 0), ENOMSG);

	/* msgctl: IPC_64 (88 bytes), the old layout (56), MSG_STAT with
	 * IPC_64 left in cmd acting as IPC_STAT.  */
	struct msqid_ds *ds = at_end(sizeof(*ds));
	CHECK_EQ(sizeof(*ds), 88);
	mb.mtype = 9;
	CHECK_OK(syscall(SYS_msgsnd, id, &mb, 5, 0));
	CHECK_EQ(syscall(SYS_msgctl, id, IPC_STAT, ds), 0);
	CHECK_EQ(ds->msg_qnum, 1);
	CHECK_EQ(ds->__msg_cbytes, 5);
	CHECK_EQ(ds->msg_lspid, me);
	CHECK_EQ(syscall(SYS_msgctl, id, MSG_STAT | V64, ds), 0);
	CHECK_EQ(syscall(SYS_msgctl, id % 32768, MSG_STAT, ds), id);
	CHECK_ERR(syscall(SYS_msgctl, id, IPC_STAT, at_end(87)), EFAULT);
	struct msqid16 *o = at_end(56);
	CHECK_EQ(ipc(MSGCTL, id, IPC_STAT, 0, o, 0), 0);
	CHECK_EQ(o->qnum, 1);
	CHECK_EQ(o->cbytes, 5);
	CHECK_EQ(o->lspid, (uint16_t)me);
	CHECK_EQ(o->perm.mode, 0600);
	CHECK_ERR(ipc(MSGCTL, id, IPC_STAT, 0, at_end(55), 0), EFAULT);
	o->qbytes = 1000;
	CHECK_OK(ipc(MSGCTL, id, IPC_SET, 0, o, 0));
	CHECK_OK(syscall(SYS_msgctl, id, IPC_STAT, ds));
	CHECK_EQ(ds->msg_qbytes, 1000);
	CHECK_ERR(syscall(SYS_msgctl, id, IPC_SET | V64, ds), EINVAL);
	CHECK_ERR(syscall(SYS_msgctl, id, IPC_RMID | V64, NULL), EINVAL);
	/* msginfo has one layout.  */
	struct msginfo *mi = at_end(sizeof(*mi));
	CHECK_TRUE(syscall(SYS_msgctl, 0, MSG_INFO, mi) >= 0);
	CHECK_EQ(mi->msgpool, 2); /* queues in use */
	CHECK_OK(syscall(SYS_msgctl, id, IPC_RMID, NULL));
	CHECK_ERR(syscall(SYS_msgctl, id, IPC_STAT, ds), EINVAL);

	/* An ipc(2) call that does not exist.  */
	CHECK_ERR(ipc(99, 0, 0, 0, NULL, 0), ENOSYS);
}

int main(void)
{
	guard = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || mprotect(guard + 4096, 4096, PROT_NONE) < 0) {
		perror("mmap");
		return 1;
	}
	shm_checks();
	sem_checks();
	msg_checks();
	return conf_done("compat_abi");
}
