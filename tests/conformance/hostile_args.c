/* SPDX-License-Identifier: MIT */
/* Hostile input: huge, negative and malformed ids, keys, sizes, counts,
 * commands, flags and values for every System V IPC call, as an errno
 * table (call, six raw 64-bit arguments, expected errno; 0 = the call
 * succeeds).  Each row is one raw syscall(2), so the C library does not
 * filter or convert anything: the upper halves of registers that the
 * kernel takes as int are set too, and must be ignored (the kernel
 * truncates; ipcnsd's decoder must do the same).
 *
 * The arguments may name the fixture: a semaphore set, a segment and a
 * queue (all with key FIX_KEY), a scratch buffer, prepared sembufs,
 * messages and timespecs (placeholders P_*, resolved at run time; HI()
 * adds garbage in the upper 32 bits).  A row that succeeds is undone
 * (an object removed, a segment detached, the queue drained, semaphore 0
 * reset), so the rows are independent.
 *
 * Runs natively and under ipcnsd (tests/run-all.sh) and in containers.  A
 * row that depends on the machine (overcommit, CAP_SYS_RESOURCE) says so
 * and is chosen at run time.  */
#include <errno.h>
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
#include <sys/syscall.h>
#include <unistd.h>

#include "conf.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_EXCEPT
#define MSG_EXCEPT 020000
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

#define FIX_KEY 0x7e5e0001

/* Placeholders.  */
#define P(n) (0x7ead000000000000ULL | (n))
#define HI(v) ((v) | 0x100ULL) /* placeholder: garbage in the upper half */
#define PLUS(v, n) ((v) + ((uint64_t)(n) << 16)) /* placeholder plus n */
enum {
	SEMID = 1,
	SHMID,
	MSQID,
	BUF,        /* 64 KiB of zeroes, writable */
	SOP_INC,    /* {0, +1, 0} */
	SOP_BIGNUM, /* {65535, +1, 0} */
	SOP_MAX,    /* {0, +32767, 0} */
	SOP_MIN,    /* {0, -32768, IPC_NOWAIT} */
	SOP_ALLFL,  /* {0, -1, -1}: every flag bit */
	SOP_UNDO_MAX, /* {1, +32767, SEM_UNDO} then {1, -32767, SEM_UNDO}: adj back to 0 */
	MSG_T1,     /* mtype 1, 16 bytes of text */
	MSG_T0,     /* mtype 0 */
	MSG_TNEG,   /* mtype -1 */
	MSG_TMIN,   /* mtype LONG_MIN */
	TS_NEGNS,   /* {0, -1} */
	TS_1GNS,    /* {0, 1000000000} */
	TS_NEGSEC,  /* {-1, 0} */
	TS_HUGE,    /* {LONG_MAX, 999999999} */
	KEY,        /* FIX_KEY */
	SHMIDX,     /* the segment's index (for SHM_STAT) */
	DS_UIDM1,   /* an ipc64_perm with uid (uid_t)-1 */
	DS_QB0,     /* a msqid_ds with msg_qbytes 0 */
	DS_QBHUGE,  /* a msqid_ds with msg_qbytes LONG_MAX */
	DS_MODE,    /* an ipc64_perm with mode 0xffff */
	NPH
};

/* What to undo after a row that succeeded.  */
enum undo { U_NONE, U_RM_SHM, U_RM_SEM, U_RM_MSG, U_DT, U_DRAIN, U_SEMRESET, U_QBYTES, U_PERM };

/* When the row applies.  */
enum when { W_ALWAYS, W_OVERCOMMIT_HEURISTIC, W_CAP_RESOURCE, W_NO_CAP_RESOURCE };

struct row {
	int line;
	long nr;
	uint64_t a[6];
	int err;
	int undo; /* enum undo, U_NONE (0) when not given */
	int when; /* enum when, W_ALWAYS (0) when not given */
};

#define L LONG_MAX
#define LM ((uint64_t)LONG_MIN)
#define IM ((uint64_t)(uint32_t)INT_MIN)
#define IX ((uint64_t)INT_MAX)
#define M1 ((uint64_t)-1)
#define M1I ((uint64_t)(uint32_t)-1) /* -1 as a 32-bit register value */
#define U32 (1ULL << 32)
/* R(nr, a0..a4, errno[, undo[, when]]).  */
#define R(nr, a0, a1, a2, a3, a4, ...) ROW_(nr, a0, a1, a2, a3, a4, __VA_ARGS__, 0, 0)
#define ROW_(nr, a0, a1, a2, a3, a4, err, undo, when, ...) { __LINE__, nr, { a0, a1, a2, a3, a4, 0 }, err, undo, when }

static const struct row table[] = {
	/* ---- shmget(key, size, shmflg) */
	R(SYS_shmget, 0, 0, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_shmget, 0, M1, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_shmget, 0, 1ULL << 63, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_shmget, 0, L, IPC_CREAT | 0600, 0, 0, ENOMEM, U_NONE, W_OVERCOMMIT_HEURISTIC),
	R(SYS_shmget, 0, 1ULL << 50, IPC_CREAT | 0600, 0, 0, ENOMEM, U_NONE, W_OVERCOMMIT_HEURISTIC),
	R(SYS_shmget, IM, 4096, 0600, 0, 0, ENOENT),
	R(SYS_shmget, M1, 4096, 0600, 0, 0, ENOENT),
	R(SYS_shmget, IX, 4096, 0600, 0, 0, ENOENT),
	R(SYS_shmget, L, 4096, 0600, 0, 0, ENOENT),
	/* Every flag bit: IPC_CREAT|IPC_EXCL on the existing key.  */
	R(SYS_shmget, P(KEY), 4096, M1I, 0, 0, EEXIST),
	R(SYS_shmget, P(KEY), 4096, M1, 0, 0, EEXIST),
	/* A new key with every flag bit: SHM_HUGETLB with an impossible
	 * page size.  */
	R(SYS_shmget, 0x7e5e0077, 4096, M1I, 0, 0, EINVAL),
	R(SYS_shmget, 0, 4096, IM | IPC_CREAT | 0600, 0, 0, 0, U_RM_SHM),
	R(SYS_shmget, P(KEY), 1ULL << 32, 0, 0, 0, EINVAL),
	R(SYS_shmget, P(KEY), M1, 0, 0, 0, EINVAL),
	R(SYS_shmget, P(KEY), 0, 0, 0, 0, 0),
	/* The key is an int: upper garbage is ignored.  */
	R(SYS_shmget, HI(P(KEY)), 4096, 0, 0, 0, 0),

	/* ---- shmat(shmid, addr, shmflg) */
	R(SYS_shmat, IM, 0, 0, 0, 0, EINVAL),
	R(SYS_shmat, M1, 0, 0, 0, 0, EINVAL),
	R(SYS_shmat, M1I, 0, 0, 0, 0, EINVAL),
	R(SYS_shmat, IX, 0, 0, 0, 0, EINVAL),
	R(SYS_shmat, PLUS(P(SHMID), 32768), 0, 0, 0, 0, EINVAL),
	R(SYS_shmat, HI(P(SHMID)), 0, 0, 0, 0, 0, U_DT),
	R(SYS_shmat, P(SHMID), 0, M1I, 0, 0, EINVAL),
	R(SYS_shmat, P(SHMID), 0, IM, 0, 0, 0, U_DT),
	R(SYS_shmat, P(SHMID), 0, SHM_REMAP, 0, 0, EINVAL),
	R(SYS_shmat, P(SHMID), L, 0, 0, 0, EINVAL),
	R(SYS_shmat, P(SHMID), LM, 0, 0, 0, ENOMEM),
	R(SYS_shmat, P(SHMID), 1, SHM_RND | SHM_REMAP, 0, 0, EINVAL),

	/* ---- shmdt(addr) */
	R(SYS_shmdt, M1, 0, 0, 0, 0, EINVAL),
	R(SYS_shmdt, LM, 0, 0, 0, 0, EINVAL),
	R(SYS_shmdt, L, 0, 0, 0, 0, EINVAL),
	R(SYS_shmdt, 4096, 0, 0, 0, 0, EINVAL),

	/* ---- shmctl(shmid, cmd, buf) */
	R(SYS_shmctl, P(SHMID), IM, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), M1, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), IX, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), 16, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), 0x100 | IPC_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), 0x100 | IPC_RMID, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), U32 | IPC_STAT, P(BUF), 0, 0, 0),
	R(SYS_shmctl, HI(P(SHMID)), IPC_STAT, P(BUF), 0, 0, 0),
	R(SYS_shmctl, IM, IPC_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, M1, IPC_INFO, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, IX, IPC_INFO, P(BUF), 0, 0, 0),
	R(SYS_shmctl, IX, SHM_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, IX, SHM_STAT_ANY, P(BUF), 0, 0, EINVAL),
	R(SYS_shmctl, HI(P(SHMIDX)), SHM_STAT, P(BUF), 0, 0, 0),
	R(SYS_shmctl, PLUS(P(SHMID), 32768), IPC_RMID, 0, 0, 0, EINVAL),
	R(SYS_shmctl, PLUS(P(SHMID), 32768), SHM_LOCK, 0, 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), IPC_SET, P(DS_UIDM1), 0, 0, EINVAL),
	R(SYS_shmctl, P(SHMID), IPC_SET, P(DS_MODE), 0, 0, 0, U_PERM),

	/* ---- semget(key, nsems, semflg) */
	R(SYS_semget, 0, M1I, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_semget, 0, IM, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_semget, 0, IX, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_semget, 0, 32001, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_semget, 0, 0, IPC_CREAT | 0600, 0, 0, EINVAL),
	R(SYS_semget, 0, U32 | 2, IPC_CREAT | 0600, 0, 0, 0, U_RM_SEM),
	R(SYS_semget, 0, 2, M1I, 0, 0, 0, U_RM_SEM),
	R(SYS_semget, P(KEY), 0, 0, 0, 0, 0),
	R(SYS_semget, P(KEY), 3, 0, 0, 0, EINVAL),
	R(SYS_semget, P(KEY), 2, M1I, 0, 0, EEXIST),
	R(SYS_semget, IM, 1, 0600, 0, 0, ENOENT),
	R(SYS_semget, HI(P(KEY)), 2, 0, 0, 0, 0),

	/* ---- semop(semid, sops, nsops) and semtimedop(..., timeout) */
	R(SYS_semop, P(SEMID), P(SOP_INC), 0, 0, 0, EINVAL),
	R(SYS_semop, P(SEMID), P(SOP_INC), 501, 0, 0, E2BIG),
	R(SYS_semop, P(SEMID), P(SOP_INC), M1I, 0, 0, E2BIG),
	R(SYS_semop, P(SEMID), P(SOP_INC), IM, 0, 0, E2BIG),
	/* nsops is unsigned int: 1 << 32 is 0, (1 << 32) | 1 is 1.  */
	R(SYS_semop, P(SEMID), P(SOP_INC), U32, 0, 0, EINVAL),
	R(SYS_semop, P(SEMID), P(SOP_INC), U32 | 1, 0, 0, 0, U_SEMRESET),
	R(SYS_semop, M1, P(SOP_INC), 1, 0, 0, EINVAL),
	R(SYS_semop, IM, P(SOP_INC), 1, 0, 0, EINVAL),
	R(SYS_semop, IX, P(SOP_INC), 1, 0, 0, EINVAL),
	R(SYS_semop, PLUS(P(SEMID), 32768), P(SOP_INC), 1, 0, 0, EINVAL),
	R(SYS_semop, HI(P(SEMID)), P(SOP_INC), 1, 0, 0, 0, U_SEMRESET),
	R(SYS_semop, P(SEMID), P(SOP_BIGNUM), 1, 0, 0, EFBIG),
	R(SYS_semop, P(SEMID), P(SOP_MAX), 1, 0, 0, 0, U_SEMRESET),
	R(SYS_semop, P(SEMID), P(SOP_MAX), 2, 0, 0, ERANGE),
	R(SYS_semop, P(SEMID), P(SOP_MIN), 1, 0, 0, EAGAIN),
	R(SYS_semop, P(SEMID), P(SOP_ALLFL), 1, 0, 0, EAGAIN),
	R(SYS_semop, P(SEMID), P(SOP_UNDO_MAX), 2, 0, 0, 0),
	R(SYS_semtimedop, P(SEMID), P(SOP_INC), 1, P(TS_NEGNS), 0, EINVAL),
	R(SYS_semtimedop, P(SEMID), P(SOP_INC), 1, P(TS_1GNS), 0, EINVAL),
	R(SYS_semtimedop, P(SEMID), P(SOP_INC), 1, P(TS_NEGSEC), 0, EINVAL),
	R(SYS_semtimedop, M1, P(SOP_INC), 1, P(TS_NEGNS), 0, EINVAL),
	R(SYS_semtimedop, P(SEMID), P(SOP_INC), 0, P(TS_NEGNS), 0, EINVAL),
	R(SYS_semtimedop, P(SEMID), P(SOP_INC), 1, P(TS_HUGE), 0, 0, U_SEMRESET),
	R(SYS_semtimedop, P(SEMID), P(SOP_MIN), 1, P(TS_HUGE), 0, EAGAIN),

	/* ---- semctl(semid, semnum, cmd, arg) */
	R(SYS_semctl, P(SEMID), 0, IM, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), 0, M1I, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), 0, IX, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), 0, 0x100 | GETVAL, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), 0, U32 | GETVAL, 0, 0, 0),
	R(SYS_semctl, HI(P(SEMID)), 0, GETVAL, 0, 0, 0),
	R(SYS_semctl, M1, 0, GETVAL, 0, 0, EINVAL),
	R(SYS_semctl, IM, 0, IPC_INFO, P(BUF), 0, EINVAL),
	R(SYS_semctl, P(SEMID), M1I, GETVAL, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), IM, GETVAL, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), IX, GETVAL, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), 2, GETNCNT, 0, 0, EINVAL),
	R(SYS_semctl, P(SEMID), U32 | 1, GETZCNT, 0, 0, 0),
	R(SYS_semctl, P(SEMID), 0, SETVAL, M1I, 0, ERANGE),
	R(SYS_semctl, P(SEMID), 0, SETVAL, IM, 0, ERANGE),
	R(SYS_semctl, P(SEMID), 0, SETVAL, IX, 0, ERANGE),
	R(SYS_semctl, P(SEMID), 0, SETVAL, 32768, 0, ERANGE),
	R(SYS_semctl, P(SEMID), 0, SETVAL, 32767, 0, 0, U_SEMRESET),
	R(SYS_semctl, P(SEMID), M1I, SETVAL, 1, 0, EINVAL),
	R(SYS_semctl, IX, 0, SEM_STAT, P(BUF), 0, EINVAL),
	R(SYS_semctl, P(SEMID), 0, IPC_SET, P(DS_UIDM1), 0, EINVAL),

	/* ---- msgget(key, msgflg) */
	R(SYS_msgget, IM, 0600, 0, 0, 0, ENOENT),
	R(SYS_msgget, M1, 0600, 0, 0, 0, ENOENT),
	R(SYS_msgget, P(KEY), M1I, 0, 0, 0, EEXIST),
	R(SYS_msgget, 0, M1I, 0, 0, 0, 0, U_RM_MSG),
	R(SYS_msgget, HI(P(KEY)), 0, 0, 0, 0, 0),

	/* ---- msgsnd(msqid, msgp, msgsz, msgflg) */
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), M1, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), L, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), LM, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), 8193, IPC_NOWAIT, 0, EINVAL),
	/* msgsz is a size_t: not truncated.  */
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), U32 | 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_T0), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_TNEG), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, P(MSQID), P(MSG_TMIN), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, M1, P(MSG_T1), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, IM, P(MSG_T1), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, PLUS(P(MSQID), 32768), P(MSG_T1), 8, IPC_NOWAIT, 0, EINVAL),
	R(SYS_msgsnd, HI(P(MSQID)), P(MSG_T1), 8, IPC_NOWAIT, 0, 0, U_DRAIN),
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), 8, M1I, 0, 0, U_DRAIN),
	R(SYS_msgsnd, P(MSQID), P(MSG_T1), 0, IPC_NOWAIT, 0, 0, U_DRAIN),

	/* ---- msgrcv(msqid, msgp, msgsz, msgtyp, msgflg); the queue holds
	 * one message of type 1 (16 bytes) for these rows.  */
	R(SYS_msgrcv, P(MSQID), P(BUF), M1, 0, IPC_NOWAIT, EINVAL),
	R(SYS_msgrcv, P(MSQID), P(BUF), LM, 0, IPC_NOWAIT, EINVAL),
	R(SYS_msgrcv, P(MSQID), P(BUF), L, 0, IPC_NOWAIT, 0),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, LM, IPC_NOWAIT, 0),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, L, IPC_NOWAIT, ENOMSG),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, M1, IPC_NOWAIT, 0),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, 0, M1I, EINVAL),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, 0, IM | IPC_NOWAIT, 0),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, M1, IPC_NOWAIT | MSG_COPY, ENOMSG),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, L, IPC_NOWAIT | MSG_COPY, ENOMSG),
	R(SYS_msgrcv, P(MSQID), P(BUF), 64, 0, IPC_NOWAIT | MSG_COPY, 0),
	R(SYS_msgrcv, P(MSQID), P(BUF), 0, 0, IPC_NOWAIT, E2BIG),
	R(SYS_msgrcv, P(MSQID), P(BUF), 0, 0, IPC_NOWAIT | MSG_NOERROR, 0),
	R(SYS_msgrcv, M1, P(BUF), 64, 0, IPC_NOWAIT, EINVAL),
	R(SYS_msgrcv, HI(P(MSQID)), P(BUF), 64, 0, IPC_NOWAIT, 0),

	/* ---- msgctl(msqid, cmd, buf) */
	R(SYS_msgctl, P(MSQID), IM, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, P(MSQID), M1I, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, P(MSQID), IX, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, P(MSQID), 0x100 | IPC_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, P(MSQID), U32 | IPC_STAT, P(BUF), 0, 0, 0),
	R(SYS_msgctl, M1, IPC_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, IM, MSG_INFO, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, IX, MSG_STAT, P(BUF), 0, 0, EINVAL),
	R(SYS_msgctl, P(MSQID), IPC_SET, P(DS_UIDM1), 0, 0, EINVAL),
	/* msg_qbytes is taken as an int: LONG_MAX is -1, above msgmnb.  */
	R(SYS_msgctl, P(MSQID), IPC_SET, P(DS_QBHUGE), 0, 0, 0, U_QBYTES, W_CAP_RESOURCE),
	R(SYS_msgctl, P(MSQID), IPC_SET, P(DS_QBHUGE), 0, 0, EPERM, U_NONE, W_NO_CAP_RESOURCE),
	R(SYS_msgctl, P(MSQID), IPC_SET, P(DS_QB0), 0, 0, 0, U_QBYTES),
};

/* ---- The fixture.  */
static uint64_t ph[NPH];
static int semid, shmid, msqid;

struct msgb {
	long mtype;
	char mtext[16];
};

static uint64_t resolve(uint64_t v)
{
	if ((v & 0xffff000000000000ULL) != 0x7ead000000000000ULL)
		return v;
	uint64_t r = ph[v & 0xff];
	if (v & 0x100)
		r |= 1ULL << 32;
	/* PLUS(P(SHMID), 32768) and the like.  */
	r += (v & 0x0000ffffffff0000ULL);
	return r;
}

static void *alloc_zero(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void *put(const void *data, size_t n)
{
	void *p = alloc_zero(4096);
	memcpy(p, data, n);
	return p;
}

static void drain(void)
{
	struct msgb m;
	while (syscall(SYS_msgrcv, msqid, &m, sizeof(m.mtext), 0L, IPC_NOWAIT | MSG_NOERROR) >= 0)
		;
}

static void one_message(void)
{
	struct msgb m = { 1, "fifteen bytes.." };
	drain();
	if (syscall(SYS_msgsnd, msqid, &m, sizeof(m.mtext), IPC_NOWAIT) < 0)
		CONF_FAIL("msgsnd of the fixture: %s", strerror(errno));
}

static void setup(void)
{
	semid = (int)CHECK_OK(syscall(SYS_semget, FIX_KEY, 2, IPC_CREAT | IPC_EXCL | 0600));
	shmid = (int)CHECK_OK(syscall(SYS_shmget, FIX_KEY, 4096, IPC_CREAT | IPC_EXCL | 0600));
	msqid = (int)CHECK_OK(syscall(SYS_msgget, FIX_KEY, IPC_CREAT | IPC_EXCL | 0600));
	if (semid < 0 || shmid < 0 || msqid < 0)
		exit(conf_done("hostile_args"));
	ph[SEMID] = (uint64_t)semid;
	ph[SHMID] = (uint64_t)shmid;
	ph[MSQID] = (uint64_t)msqid;
	ph[SHMIDX] = (uint64_t)(shmid % 32768);
	ph[KEY] = FIX_KEY;
	ph[BUF] = (uint64_t)(uintptr_t)alloc_zero(65536);
	struct sembuf s;
	s = (struct sembuf){ 0, 1, 0 };
	ph[SOP_INC] = (uint64_t)(uintptr_t)put(&s, sizeof(s));
	s = (struct sembuf){ 65535, 1, 0 };
	ph[SOP_BIGNUM] = (uint64_t)(uintptr_t)put(&s, sizeof(s));
	struct sembuf two[2] = { { 0, 32767, 0 }, { 0, 32767, 0 } };
	ph[SOP_MAX] = (uint64_t)(uintptr_t)put(two, sizeof(two));
	s = (struct sembuf){ 0, -32768, IPC_NOWAIT };
	ph[SOP_MIN] = (uint64_t)(uintptr_t)put(&s, sizeof(s));
	s = (struct sembuf){ 0, -1, (short)-1 };
	ph[SOP_ALLFL] = (uint64_t)(uintptr_t)put(&s, sizeof(s));
	struct sembuf undo[2] = { { 1, 32767, SEM_UNDO }, { 1, -32767, SEM_UNDO } };
	ph[SOP_UNDO_MAX] = (uint64_t)(uintptr_t)put(undo, sizeof(undo));
	struct msgb m = { 1, "fifteen bytes.." };
	ph[MSG_T1] = (uint64_t)(uintptr_t)put(&m, sizeof(m));
	m.mtype = 0;
	ph[MSG_T0] = (uint64_t)(uintptr_t)put(&m, sizeof(m));
	m.mtype = -1;
	ph[MSG_TNEG] = (uint64_t)(uintptr_t)put(&m, sizeof(m));
	m.mtype = LONG_MIN;
	ph[MSG_TMIN] = (uint64_t)(uintptr_t)put(&m, sizeof(m));
	struct timespec ts;
	ts = (struct timespec){ 0, -1 };
	ph[TS_NEGNS] = (uint64_t)(uintptr_t)put(&ts, sizeof(ts));
	ts = (struct timespec){ 0, 1000000000 };
	ph[TS_1GNS] = (uint64_t)(uintptr_t)put(&ts, sizeof(ts));
	ts = (struct timespec){ -1, 0 };
	ph[TS_NEGSEC] = (uint64_t)(uintptr_t)put(&ts, sizeof(ts));
	ts = (struct timespec){ LONG_MAX, 999999999 };
	ph[TS_HUGE] = (uint64_t)(uintptr_t)put(&ts, sizeof(ts));

	/* IPC_SET buffers, from the objects' own state.  */
	struct msqid_ds md;
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &md));
	md.msg_perm.uid = (uid_t)-1;
	ph[DS_UIDM1] = (uint64_t)(uintptr_t)put(&md, sizeof(md));
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &md));
	md.msg_qbytes = 0;
	ph[DS_QB0] = (uint64_t)(uintptr_t)put(&md, sizeof(md));
	md.msg_qbytes = (msglen_t)LONG_MAX;
	ph[DS_QBHUGE] = (uint64_t)(uintptr_t)put(&md, sizeof(md));
	struct shmid_ds sd;
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_STAT, &sd));
	sd.shm_perm.mode = 0xffff;
	ph[DS_MODE] = (uint64_t)(uintptr_t)put(&sd, sizeof(sd));
}

static bool overcommit_heuristic(void)
{
	/* Mode 0 refuses a segment larger than RAM + swap (ENOMEM); with
	 * mode 1 the kernel accepts it.  */
	long mode = conf_read_long("/proc/sys/vm/overcommit_memory");
	return mode == 0 || mode == 2;
}

static bool cap_sys_resource(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> 24) & 1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	bool heur = overcommit_heuristic(), res = cap_sys_resource();
	int ran = 0, skipped = 0;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		if ((r->when == W_OVERCOMMIT_HEURISTIC && !heur) || (r->when == W_CAP_RESOURCE && !res) ||
		    (r->when == W_NO_CAP_RESOURCE && res)) {
			skipped++;
			continue;
		}
		uint64_t a[6];
		for (int k = 0; k < 6; k++)
			a[k] = resolve(r->a[k]);
		if (r->nr == SYS_msgrcv)
			one_message();
		errno = 0;
		long ret = syscall(r->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		int e = errno;
		conf_checks++;
		ran++;
		if (r->err == 0 ? ret < 0 : (ret != -1 || e != r->err))
			CONF_FAIL("line %d: syscall %ld (%#llx, %#llx, %#llx, %#llx, %#llx) = %ld errno %d (%s), want %s",
				  r->line, r->nr, (unsigned long long)a[0], (unsigned long long)a[1],
				  (unsigned long long)a[2], (unsigned long long)a[3], (unsigned long long)a[4], ret, e,
				  strerror(e), r->err ? strerror(r->err) : "success");
		if (ret >= 0) {
			switch (r->undo) {
			case U_RM_SHM:
				syscall(SYS_shmctl, ret, IPC_RMID, 0);
				break;
			case U_RM_SEM:
				syscall(SYS_semctl, ret, 0, IPC_RMID, 0);
				break;
			case U_RM_MSG:
				syscall(SYS_msgctl, ret, IPC_RMID, 0);
				break;
			case U_DT:
				syscall(SYS_shmdt, ret);
				break;
			case U_DRAIN:
				drain();
				break;
			case U_SEMRESET:
				syscall(SYS_semctl, semid, 0, SETVAL, 0);
				break;
			case U_QBYTES: {
				/* A queue of 0 bytes takes nothing, not even an
				 * empty message.  */
				struct msqid_ds md;
				CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &md));
				if (md.msg_qbytes == 0) {
					struct msgb m = { 1, "" };
					CHECK_ERR(syscall(SYS_msgsnd, msqid, &m, 0, IPC_NOWAIT), EAGAIN);
				}
				md.msg_qbytes = 16384;
				CHECK_OK(syscall(SYS_msgctl, msqid, IPC_SET, &md));
				break;
			}
			case U_PERM: {
				/* Only the permission bits are taken.  */
				struct shmid_ds sd;
				CHECK_OK(syscall(SYS_shmctl, shmid, IPC_STAT, &sd));
				CHECK_EQ(sd.shm_perm.mode & 0777, 0777);
				CHECK_EQ(sd.shm_perm.mode & ~0777 & 0xffff, 0);
				sd.shm_perm.mode = 0600;
				CHECK_OK(syscall(SYS_shmctl, shmid, IPC_SET, &sd));
				break;
			}
			case U_NONE:
				break;
			}
		}
		drain();
	}

	/* The fixture is as it was.  */
	CHECK_EQ(syscall(SYS_semctl, semid, 0, GETVAL, 0), 0);
	CHECK_EQ(syscall(SYS_semctl, semid, 1, GETVAL, 0), 0);
	struct shm_info si;
	CHECK_OK(syscall(SYS_shmctl, 0, SHM_INFO, &si));
	CHECK_EQ(si.used_ids, 1);
	CHECK_OK(syscall(SYS_semctl, semid, 0, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_RMID, 0));
	printf("# %d rows run, %d not applicable here\n", ran, skipped);
	return conf_done("hostile_args");
}
