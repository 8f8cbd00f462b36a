/* SPDX-License-Identifier: MIT */
/* Hostile filters: a process whose own seccomp filter refuses the calls
 * ipcnsd runs inside it to complete shmat (mmap, then close of the
 * segment's fd it lent).
 *
 * Natively shmat makes no mmap or close system call: every attach works.
 * Under ipcnsd the attach is an injected mmap of a memfd installed in the
 * caller's fd table, then an injected close.  Whatever the process's
 * filter does to them, shmat must return a real attach or fail with an
 * errno shmat has (ENOMEM), never a made-up address; no SIGSYS of an
 * injected call may reach the program; and the lent fd must not stay in
 * the caller's table.
 *
 *  1. SECCOMP_RET_TRAP on mmap (the kernel skips the call and puts the
 *     syscall number in the return register): natively an attach;
 *     under ipcnsd -1/ENOMEM.  No SIGSYS, no fd left.
 *  2. SECCOMP_RET_ERRNO(EPERM) on close: an attach in both cases, and no
 *     fd left.
 *
 * Runner contract: see shm_common.h.  */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "shm_common.h"

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#endif

static bool under_ipcnsd;
static int shmid;
static volatile int sigsys_seen;

static void on_sigsys(int sig)
{
	(void)sig;
	sigsys_seen++;
}

static int filter_one(long nr, uint32_t action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}

/* The lowest free fd: where the lent fd lands.  */
static int lowest_free_fd(void)
{
	int fd = dup(0);
	if (fd >= 0)
		close(fd);
	return fd;
}

static void attach_under(long nr, uint32_t action, bool may_fail)
{
	signal(SIGSYS, on_sigsys);
	int lowfd = lowest_free_fd();
	if (filter_one(nr, action) < 0) {
		CONF_FAIL("seccomp filter: %s", strerror(errno));
		return;
	}
	errno = 0;
	long r = syscall(SYS_shmat, shmid, 0, 0);
	int err = errno;
	if (r == -1) {
		conf_checks++;
		if (!may_fail || err != ENOMEM)
			CONF_FAIL("shmat = -1 errno %d (%s)", err, strerror(err));
	} else {
		CHECK_EQ(r & (pg - 1), 0);
		/* A real attach: it holds the segment's bytes.  */
		CHECK_EQ(((volatile char *)r)[0], 'S');
		CHECK_OK(syscall(SYS_shmdt, r));
	}
	CHECK_EQ(sigsys_seen, 0);
	/* The lent fd is gone.  */
	CHECK_ERR(fcntl(lowfd, F_GETFD), EBADF);
}

static void trap_mmap(void *arg)
{
	(void)arg;
#if defined(__i386__)
	/* A 32-bit attach is an injected mmap2.  */
	attach_under(SYS_mmap2, SECCOMP_RET_TRAP, under_ipcnsd);
#else
	attach_under(SYS_mmap, SECCOMP_RET_TRAP, under_ipcnsd);
#endif
}

static void refuse_close(void *arg)
{
	(void)arg;
	attach_under(SYS_close, SECCOMP_RET_ERRNO | EPERM, false);
}

int main(void)
{
	conf_start();
	const char *u = getenv("IPCNS_UNDER");
	under_ipcnsd = u && !strcmp(u, "1");
	shmid = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, IPC_CREAT | 0600));
	char *p = conf_attach(shmid, NULL, 0, __LINE__);
	if (p) {
		p[0] = 'S';
		shm_dt(p);
	}
	conf_run_as(NULL, trap_mmap, NULL);
	conf_run_as(NULL, refuse_close, NULL);
	CHECK_OK(shm_ctl(shmid, IPC_RMID, NULL));
	return conf_done("hostile_filter");
}
