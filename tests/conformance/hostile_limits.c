/* SPDX-License-Identifier: MIT */
/* Hostile input: every limit exhausted gives Linux's errno, and the
 * namespace keeps working at the limit and after it.
 *   shmmni  shmget of a new segment: ENOSPC; one removed, one more fits
 *   shmall  shmget beyond the total pages: ENOSPC
 *   semmni  semget of a new set: ENOSPC; one removed, one more fits
 *   semmns  semget beyond the total semaphores: ENOSPC; an exact fit works
 *   msgmni  msgget of a new queue: ENOSPC; one removed, one more fits
 *   msgmnb  msgsnd with IPC_NOWAIT to a full queue: EAGAIN, by bytes and
 *           by number of messages (a queue holds at most msg_qbytes
 *           messages, so 0-byte messages fill it too)
 * The limits are those IPC_INFO reports.  Natively the program lowers them
 * first through /proc/sys/kernel of its own IPC namespace, so each one is
 * reachable quickly; under ipcnsd (IPCNS_UNDER=1, or /proc/sys not
 * obeyed) they come from the container's config, Linux's defaults unless
 * it sets linux.sysctl, and a limit that cannot be reached in reasonable
 * time (semmns, shmall by default) is reported and not tested.
 * tests/integration/hostile.bats runs this program in a container with
 * small kernel.* sysctls, so every part runs under ipcnsd too.
 *
 * Objects are left for the namespace's end to free (the process exits):
 * removing 4096 segments one by one is a test of something else.  */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conf.h"

#define MAXOBJ 32768

static int ids[MAXOBJ];
static long pg;

static int sysctl_write(const char *name, const char *val)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	return conf_write_file(path, val);
}

/* Natively: small limits in our own kernel IPC namespace, if the calls
 * obey them (checked with IPC_INFO).  */
static bool lower_limits(void)
{
	if (!conf_view_ours())
		return false;
	if (sysctl_write("shmmni", "32") < 0 || sysctl_write("shmall", "48") < 0 ||
	    sysctl_write("sem", "250 600 32 40") < 0 || sysctl_write("msgmni", "24") < 0 ||
	    sysctl_write("msgmnb", "1024") < 0)
		return false;
	struct shminfo si;
	memset(&si, 0, sizeof(si));
	return syscall(SYS_shmctl, 0, IPC_INFO, &si) >= 0 && si.shmmni == 32;
}

static void test_shmall(unsigned long shmall, unsigned long shmmni)
{
	/* Segments of 8 pages until the total is reached.  */
	unsigned long fit = shmall / 8, n = 0;
	if (fit == 0 || fit >= shmmni || shmall > 65536) {
		printf("# shmall %lu pages: not reachable quickly here, not tested\n", shmall);
		return;
	}
	for (; n < fit + 1 && n < MAXOBJ; n++) {
		long id = syscall(SYS_shmget, IPC_PRIVATE, 8 * pg, IPC_CREAT | 0600);
		if (id < 0)
			break;
		ids[n] = (int)id;
	}
	CHECK_EQ(n, fit);
	CHECK_ERR(syscall(SYS_shmget, IPC_PRIVATE, 8 * pg, IPC_CREAT | 0600), ENOSPC);
	/* What is left fits exactly.  */
	unsigned long left = shmall - fit * 8;
	if (left) {
		long id = CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, left * pg, IPC_CREAT | 0600));
		CHECK_ERR(syscall(SYS_shmget, IPC_PRIVATE, 1, IPC_CREAT | 0600), ENOSPC);
		syscall(SYS_shmctl, id, IPC_RMID, 0);
	}
	for (unsigned long i = 0; i < n; i++)
		CHECK_OK(syscall(SYS_shmctl, ids[i], IPC_RMID, 0));
}

static void test_shmmni(unsigned long shmmni)
{
	unsigned long n = 0;
	for (; n < shmmni + 1 && n < MAXOBJ; n++) {
		long id = syscall(SYS_shmget, IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (id < 0) {
			CHECK_EQ(errno, ENOSPC);
			break;
		}
		ids[n] = (int)id;
	}
	CHECK_EQ(n, shmmni);
	CHECK_ERR(syscall(SYS_shmget, 0x7e5e1111, 1, IPC_CREAT | 0600), ENOSPC);
	/* An existing key is still found at the limit.  */
	struct shm_info info;
	CHECK_EQ(syscall(SYS_shmctl, 0, SHM_INFO, &info) >= 0 ? info.used_ids : -1, (long)shmmni);
	if (n == 0)
		return;
	/* One removed: one more fits, then ENOSPC again.  */
	CHECK_OK(syscall(SYS_shmctl, ids[n - 1], IPC_RMID, 0));
	long id = CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, 1, IPC_CREAT | 0600));
	CHECK_ERR(syscall(SYS_shmget, IPC_PRIVATE, 1, IPC_CREAT | 0600), ENOSPC);
	/* The segments work at the limit.  */
	char *p = (char *)syscall(SYS_shmat, id, 0, 0);
	CHECK_TRUE(p != (char *)-1);
	if (p != (char *)-1) {
		p[0] = 'x';
		CHECK_OK(syscall(SYS_shmdt, p));
	}
}

static void test_semmns(int semmsl, int semmns, int semmni)
{
	if ((long)semmns >= (long)semmsl * semmni || semmns / semmsl + 1 >= semmni) {
		printf("# semmns %d: not reachable before semmni, not tested\n", semmns);
		return;
	}
	int full = semmns / semmsl, n = 0;
	for (; n < full; n++)
		ids[n] = (int)CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, semmsl, IPC_CREAT | 0600));
	int left = semmns - full * semmsl;
	if (left < semmsl)
		CHECK_ERR(syscall(SYS_semget, IPC_PRIVATE, left + 1, IPC_CREAT | 0600), ENOSPC);
	if (left) {
		ids[n++] = (int)CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, left, IPC_CREAT | 0600));
	}
	CHECK_ERR(syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600), ENOSPC);
	struct seminfo si;
	CHECK_OK(syscall(SYS_semctl, 0, 0, SEM_INFO, &si));
	CHECK_EQ(si.semaem, semmns); /* SEM_INFO: semaem is the number of semaphores */
	for (int i = 0; i < n; i++)
		CHECK_OK(syscall(SYS_semctl, ids[i], 0, IPC_RMID, 0));
}

static void test_semmni(int semmni)
{
	int n = 0;
	for (; n < semmni + 1 && n < MAXOBJ; n++) {
		long id = syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (id < 0) {
			CHECK_EQ(errno, ENOSPC);
			break;
		}
		ids[n] = (int)id;
	}
	CHECK_EQ(n, semmni);
	CHECK_ERR(syscall(SYS_semget, 0x7e5e2222, 1, IPC_CREAT | 0600), ENOSPC);
	if (n == 0)
		return;
	CHECK_OK(syscall(SYS_semctl, ids[n - 1], 0, IPC_RMID, 0));
	long id = CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600));
	CHECK_ERR(syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600), ENOSPC);
	/* The sets work at the limit.  */
	struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
	CHECK_OK(syscall(SYS_semop, id, &up, 1));
	CHECK_OK(syscall(SYS_semop, id, &down, 1));
	CHECK_OK(syscall(SYS_semop, ids[0], &up, 1));
	CHECK_EQ(syscall(SYS_semctl, ids[0], 0, GETVAL, 0), 1);
}

static void test_msgmni(int msgmni)
{
	int n = 0;
	for (; n < msgmni + 1 && n < MAXOBJ; n++) {
		long id = syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600);
		if (id < 0) {
			CHECK_EQ(errno, ENOSPC);
			break;
		}
		ids[n] = (int)id;
	}
	CHECK_EQ(n, msgmni);
	CHECK_ERR(syscall(SYS_msgget, 0x7e5e3333, IPC_CREAT | 0600), ENOSPC);
	if (n == 0)
		return;
	CHECK_OK(syscall(SYS_msgctl, ids[n - 1], IPC_RMID, 0));
	CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	CHECK_ERR(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
}

struct big {
	long mtype;
	char mtext[8192];
};
static struct big m;

/* Needs a queue of its own: run before msgmni is exhausted.  */
static void test_msgmnb(int msgmnb, int msgmax)
{
	long q = CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	if (q < 0)
		return;
	int size = msgmax < 1024 ? msgmax : 1024;
	if (size < 1)
		size = 1;
	m.mtype = 1;
	memset(m.mtext, 'm', sizeof(m.mtext));
	long bytes = 0, sent = 0;
	while (bytes + size <= msgmnb && sent < 100000) {
		if (syscall(SYS_msgsnd, q, &m, size, IPC_NOWAIT) < 0) {
			CONF_FAIL("msgsnd %ld after %ld bytes (msgmnb %d): %s", sent, bytes, msgmnb, strerror(errno));
			break;
		}
		bytes += size;
		sent++;
	}
	/* Full by bytes: one more byte does not fit.  */
	if (bytes < msgmnb)
		CHECK_OK(syscall(SYS_msgsnd, q, &m, msgmnb - bytes, IPC_NOWAIT));
	CHECK_ERR(syscall(SYS_msgsnd, q, &m, 1, IPC_NOWAIT), EAGAIN);
	struct msqid_ds ds;
	CHECK_OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
	CHECK_EQ(ds.__msg_cbytes, (unsigned long)msgmnb);
	/* One received: room for it again.  */
	CHECK_OK(syscall(SYS_msgrcv, q, &m, sizeof(m.mtext), 0L, IPC_NOWAIT));
	CHECK_OK(syscall(SYS_msgsnd, q, &m, 1, IPC_NOWAIT));
	CHECK_OK(syscall(SYS_msgctl, q, IPC_RMID, 0));

	/* Full by number: a queue of 64 bytes holds 64 empty messages.  */
	q = CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	if (q < 0)
		return;
	CHECK_OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
	ds.msg_qbytes = 64;
	CHECK_OK(syscall(SYS_msgctl, q, IPC_SET, &ds));
	int k = 0;
	while (k < 1000 && syscall(SYS_msgsnd, q, &m, 0, IPC_NOWAIT) == 0)
		k++;
	CHECK_EQ(k, 64);
	CHECK_ERR(syscall(SYS_msgsnd, q, &m, 0, IPC_NOWAIT), EAGAIN);
	CHECK_OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 64);
	CHECK_OK(syscall(SYS_msgctl, q, IPC_RMID, 0));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pg = sysconf(_SC_PAGESIZE);
	bool lowered = lower_limits();
	printf("# limits %s\n", lowered ? "lowered through /proc/sys/kernel" : "as configured (not lowered)");

	struct shminfo shi;
	struct seminfo sei;
	struct msginfo msi;
	if (CHECK_OK(syscall(SYS_shmctl, 0, IPC_INFO, &shi)) < 0 ||
	    CHECK_OK(syscall(SYS_semctl, 0, 0, IPC_INFO, &sei)) < 0 ||
	    CHECK_OK(syscall(SYS_msgctl, 0, IPC_INFO, &msi)) < 0)
		return conf_done("hostile_limits");
	printf("# shmmni %lu shmall %lu semmsl %d semmns %d semmni %d msgmni %d msgmnb %d msgmax %d\n",
	       (unsigned long)shi.shmmni, (unsigned long)shi.shmall, sei.semmsl, sei.semmns, sei.semmni, msi.msgmni,
	       msi.msgmnb, msi.msgmax);
	if (shi.shmmni > MAXOBJ - 1 || sei.semmni > MAXOBJ - 1 || msi.msgmni > MAXOBJ - 1)
		CONF_SKIP("limits above 32767 objects");

	test_shmall(shi.shmall, shi.shmmni);
	test_shmmni(shi.shmmni);
	test_semmns(sei.semmsl, sei.semmns, sei.semmni);
	test_semmni(sei.semmni);
	test_msgmnb(msi.msgmnb, msi.msgmax);
	test_msgmni(msi.msgmni);
	return conf_done("hostile_limits");
}
