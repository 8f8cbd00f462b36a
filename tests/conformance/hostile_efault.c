/* SPDX-License-Identifier: MIT */
/* Hostile input: every pointer argument of every System V IPC call and
 * command, given an address that cannot be read or written, fails with
 * EFAULT, as in Linux; a pointer to read-only memory (a PROT_READ page,
 * the program's own text, a string literal) fails with EFAULT where Linux
 * writes and works where Linux only reads.  A pointer whose first bytes
 * are readable and whose last are not is EFAULT too.
 *
 * The bad addresses: NULL, 1, an unmapped page, a PROT_NONE page, a
 * kernel address, the first non-canonical address, -1, 2 bytes before a
 * PROT_NONE page (every object straddles it), and for writes: a PROT_READ
 * page, the text of main() and a string literal.
 *
 * Every call is a raw syscall(2) (no C library in between).  The objects
 * are valid, so the pointer is the only thing wrong.  After a msgrcv that
 * failed with EFAULT the queue is drained: Linux has dequeued (and lost)
 * the message then, ipcnsd keeps it (spec/compatibility.md), and the
 * following cases must start from the same state either way.
 *
 * Runs natively and under ipcnsd (tests/run-all.sh) and in containers;
 * needs only a fresh IPC namespace.  */
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

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

enum bad { B_NULL, B_ONE, B_UNMAPPED, B_PROTNONE, B_KERNEL, B_NONCANON, B_MINUS1, B_STRADDLE, B_RO, B_TEXT, B_RODATA, NBAD };
static const char *const bad_name[NBAD] = { "NULL",   "1",       "unmapped", "PROT_NONE", "kernel", "non-canonical",
					     "-1",     "straddle", "PROT_READ", "text", "string literal" };
/* The first kinds are bad for reads and writes; the last three only for
 * writes.  */
#define NBAD_READ B_RO

int main(void);
static uintptr_t addr_of[NBAD];
static long pg;
static int semid, shmid, msqid;

/* The fixture's memory: a page with good data, made read-only, then a
 * PROT_NONE page, then a page that was unmapped.  */
static char *ro_page, *none_page;

static void setup_addresses(void)
{
	pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	ro_page = m;
	none_page = m + pg;
	mprotect(none_page, (size_t)pg, PROT_NONE);
	munmap(m + 2 * pg, (size_t)pg);
	addr_of[B_NULL] = 0;
	addr_of[B_ONE] = 1;
	addr_of[B_UNMAPPED] = (uintptr_t)(m + 2 * pg);
	addr_of[B_PROTNONE] = (uintptr_t)none_page;
	addr_of[B_KERNEL] = 0xffffffff81000000UL;
	addr_of[B_NONCANON] = 0x0000800000000000UL;
	addr_of[B_MINUS1] = (uintptr_t)-1;
	addr_of[B_STRADDLE] = (uintptr_t)(none_page - 2);
	addr_of[B_RO] = (uintptr_t)ro_page;
	addr_of[B_TEXT] = (uintptr_t)(void *)main;
	addr_of[B_RODATA] = (uintptr_t)"a string literal, read-only";
}

/* Fill the read-only page with `len' bytes of `data' (it is made writable
 * for the moment).  */
static void ro_fill(const void *data, size_t len)
{
	mprotect(ro_page, (size_t)pg, PROT_READ | PROT_WRITE);
	memset(ro_page, 0, (size_t)pg);
	memcpy(ro_page, data, len);
	mprotect(ro_page, (size_t)pg, PROT_READ);
}

#define EXPECT(what, b, call, want)                                                                \
	do {                                                                                       \
		errno = 0;                                                                         \
		long _r = (long)(call);                                                            \
		int _e = errno;                                                                    \
		conf_checks++;                                                                     \
		if ((want) == 0 ? _r < 0 : (_r != -1 || _e != (want)))                             \
			CONF_FAIL("%s with a %s pointer = %ld errno %d (%s), want %s", what,       \
				  bad_name[b], _r, _e, strerror(_e),                               \
				  (want) == 0 ? "success" : strerror(want));                      \
	} while (0)

static void drain_queue(void)
{
	struct {
		long mtype;
		char mtext[64];
	} m;
	while (syscall(SYS_msgrcv, msqid, &m, sizeof(m.mtext), 0L, IPC_NOWAIT | MSG_NOERROR) >= 0)
		;
}

static void one_message(void)
{
	struct {
		long mtype;
		char mtext[16];
	} m = { 1, "fifteen bytes.." };
	drain_queue();
	if (syscall(SYS_msgsnd, msqid, &m, sizeof(m.mtext), IPC_NOWAIT) < 0)
		CONF_FAIL("msgsnd of the fixture: %s", strerror(errno));
}

/* ---- Calls where the kernel reads through the pointer.  */
static void reads(enum bad b)
{
	uintptr_t a = addr_of[b];
	int want = b >= NBAD_READ ? 0 : EFAULT;
	struct sembuf up = { 0, 1, 0 };
	struct timespec ts = { 0, 1000 };

	/* semop/semtimedop: the sops.  From read-only memory: +1 on
	 * semaphore 0, taken back after.  */
	if (b >= NBAD_READ)
		ro_fill(&up, sizeof(up));
	EXPECT("semop sops", b, syscall(SYS_semop, semid, a, 1), want);
	EXPECT("semtimedop sops", b, syscall(SYS_semtimedop, semid, a, 1, &ts), want);
	if (want == 0) {
		struct sembuf two = { 0, -2, IPC_NOWAIT };
		CHECK_OK(syscall(SYS_semop, semid, &two, 1));
	}
	/* semtimedop: the timeout, read before anything else (NULL is no
	 * timeout).  */
	if (b >= NBAD_READ)
		ro_fill(&ts, sizeof(ts));
	struct sembuf nop = { 0, 0, IPC_NOWAIT };
	EXPECT("semtimedop timeout", b, syscall(SYS_semtimedop, semid, &nop, 1, a), b == B_NULL ? 0 : want);

	/* semctl IPC_SET and SETALL.  */
	struct semid_ds sds;
	CHECK_OK(syscall(SYS_semctl, semid, 0, IPC_STAT, &sds));
	if (b >= NBAD_READ)
		ro_fill(&sds, sizeof(sds));
	EXPECT("semctl IPC_SET", b, syscall(SYS_semctl, semid, 0, IPC_SET, a), want);
	unsigned short vals[2] = { 0, 0 };
	if (b >= NBAD_READ)
		ro_fill(vals, sizeof(vals));
	EXPECT("semctl SETALL", b, syscall(SYS_semctl, semid, 0, SETALL, a), want);

	/* shmctl IPC_SET.  */
	struct shmid_ds shds;
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_STAT, &shds));
	if (b >= NBAD_READ)
		ro_fill(&shds, sizeof(shds));
	EXPECT("shmctl IPC_SET", b, syscall(SYS_shmctl, shmid, IPC_SET, a), want);

	/* msgsnd: mtype, then mtext.  */
	struct {
		long mtype;
		char mtext[16];
	} m = { 1, "fifteen bytes.." };
	drain_queue();
	if (b >= NBAD_READ)
		ro_fill(&m, sizeof(m));
	EXPECT("msgsnd msgp", b, syscall(SYS_msgsnd, msqid, a, sizeof(m.mtext), IPC_NOWAIT), want);
	drain_queue();
	/* MSG_COPY reads the buffer first (prepare_copy).  */
	one_message();
	if (b < NBAD_READ)
		EXPECT("msgrcv MSG_COPY msgp", b,
		       syscall(SYS_msgrcv, msqid, a, 16, 0L, IPC_NOWAIT | MSG_COPY | MSG_NOERROR), EFAULT);
	drain_queue();

	/* msgctl IPC_SET.  */
	struct msqid_ds mds;
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &mds));
	if (b >= NBAD_READ)
		ro_fill(&mds, sizeof(mds));
	EXPECT("msgctl IPC_SET", b, syscall(SYS_msgctl, msqid, IPC_SET, a), want);
}

/* ---- Calls where the kernel writes through the pointer: every bad
 * address, read-only ones included, is EFAULT.  */
static void writes(enum bad b)
{
	uintptr_t a = addr_of[b];
	int semidx = semid % 32768, shmidx = shmid % 32768, msqidx = msqid % 32768;

	EXPECT("semctl IPC_STAT", b, syscall(SYS_semctl, semid, 0, IPC_STAT, a), EFAULT);
	EXPECT("semctl SEM_STAT", b, syscall(SYS_semctl, semidx, 0, SEM_STAT, a), EFAULT);
	EXPECT("semctl SEM_STAT_ANY", b, syscall(SYS_semctl, semidx, 0, SEM_STAT_ANY, a), EFAULT);
	EXPECT("semctl IPC_INFO", b, syscall(SYS_semctl, 0, 0, IPC_INFO, a), EFAULT);
	EXPECT("semctl SEM_INFO", b, syscall(SYS_semctl, 0, 0, SEM_INFO, a), EFAULT);
	EXPECT("semctl GETALL", b, syscall(SYS_semctl, semid, 0, GETALL, a), EFAULT);

	EXPECT("shmctl IPC_STAT", b, syscall(SYS_shmctl, shmid, IPC_STAT, a), EFAULT);
	EXPECT("shmctl SHM_STAT", b, syscall(SYS_shmctl, shmidx, SHM_STAT, a), EFAULT);
	EXPECT("shmctl SHM_STAT_ANY", b, syscall(SYS_shmctl, shmidx, SHM_STAT_ANY, a), EFAULT);
	EXPECT("shmctl IPC_INFO", b, syscall(SYS_shmctl, 0, IPC_INFO, a), EFAULT);
	EXPECT("shmctl SHM_INFO", b, syscall(SYS_shmctl, 0, SHM_INFO, a), EFAULT);

	EXPECT("msgctl IPC_STAT", b, syscall(SYS_msgctl, msqid, IPC_STAT, a), EFAULT);
	EXPECT("msgctl MSG_STAT", b, syscall(SYS_msgctl, msqidx, MSG_STAT, a), EFAULT);
	EXPECT("msgctl MSG_STAT_ANY", b, syscall(SYS_msgctl, msqidx, MSG_STAT_ANY, a), EFAULT);
	EXPECT("msgctl IPC_INFO", b, syscall(SYS_msgctl, 0, IPC_INFO, a), EFAULT);
	EXPECT("msgctl MSG_INFO", b, syscall(SYS_msgctl, 0, MSG_INFO, a), EFAULT);

	/* msgrcv of a message that is there; MSG_COPY from a readable but
	 * not writable buffer.  */
	one_message();
	EXPECT("msgrcv msgp", b, syscall(SYS_msgrcv, msqid, a, 16, 0L, IPC_NOWAIT), EFAULT);
	drain_queue();
	if (b >= NBAD_READ) {
		one_message();
		EXPECT("msgrcv MSG_COPY msgp", b, syscall(SYS_msgrcv, msqid, a, 16, 0L, IPC_NOWAIT | MSG_COPY),
		       EFAULT);
		drain_queue();
	}
}

/* ---- shmat and shmdt take an address, not memory: the kernel's answers
 * for addresses no mapping can have.  */
static void addresses(void)
{
	/* shmdt: nothing attached there.  */
	for (int b = 0; b < NBAD_READ; b++) {
		uintptr_t a = addr_of[b];
		EXPECT("shmdt", b, syscall(SYS_shmdt, a), EINVAL);
	}
	/* shmat at an address outside the user address space: aligned, so
	 * do_mmap refuses it (ENOMEM); unaligned, EINVAL.  */
	CHECK_ERR(syscall(SYS_shmat, shmid, 0xffffffff81000000UL, 0), ENOMEM);
	CHECK_ERR(syscall(SYS_shmat, shmid, 0x0000800000000000UL, 0), ENOMEM);
	CHECK_ERR(syscall(SYS_shmat, shmid, 1UL, 0), EINVAL);
	CHECK_ERR(syscall(SYS_shmat, shmid, (uintptr_t)-1, 0), EINVAL);
	/* The end of the address space with SHM_RND rounds down to a page
	 * that overflows with the segment's size: EINVAL.  */
	CHECK_ERR(syscall(SYS_shmat, shmid, (uintptr_t)-1, SHM_RND), EINVAL);
	/* SHM_REMAP over a kernel address.  */
	CHECK_ERR(syscall(SYS_shmat, shmid, 0xffffffff81000000UL, SHM_REMAP), ENOMEM);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_addresses();
	semid = (int)CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, 2, IPC_CREAT | 0600));
	shmid = (int)CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, (size_t)pg, IPC_CREAT | 0600));
	msqid = (int)CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	if (semid < 0 || shmid < 0 || msqid < 0)
		return conf_done("hostile_efault");

	/* Reads: every bad address, and a read-only page that holds good
	 * data (the text and string literal hold arbitrary bytes).  */
	for (int b = 0; b <= B_RO; b++)
		reads((enum bad)b);
	for (int b = 0; b < NBAD; b++)
		writes((enum bad)b);
	addresses();

	/* The objects are intact and still work.  */
	unsigned short vals[2];
	CHECK_OK(syscall(SYS_semctl, semid, 0, GETALL, vals));
	CHECK_EQ(vals[0], 0);
	struct sembuf up = { 1, 1, 0 };
	CHECK_OK(syscall(SYS_semop, semid, &up, 1));
	CHECK_EQ(syscall(SYS_semctl, semid, 1, GETVAL, 0), 1);
	char *p = (char *)syscall(SYS_shmat, shmid, 0, 0);
	CHECK_TRUE(p != (char *)-1);
	if (p != (char *)-1) {
		p[0] = 1;
		CHECK_OK(syscall(SYS_shmdt, p));
	}
	struct msqid_ds mds;
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &mds));
	CHECK_EQ(mds.msg_qnum, 0);

	CHECK_OK(syscall(SYS_semctl, semid, 0, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_RMID, 0));
	return conf_done("hostile_efault");
}
