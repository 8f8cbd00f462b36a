/* SPDX-License-Identifier: MIT */
/* Helpers shared by the shm_*.c conformance programs.
 *
 * Runner contract (every shm_*.c program):
 *  - run as root (uid 0 with the full capability set), in a fresh IPC
 *    namespace: natively `unshare -i PROG', under ipcnsd
 *    `ipcns-run --socket S -- PROG' (a fresh kernel IPC namespace, hence a
 *    fresh virtual namespace in ipcnsd).  A namespace that already holds a
 *    segment is reported as a skip, since the ids the programs expect are
 *    those of a fresh namespace;
 *  - exit status 0 = passed, 1 = a check failed, 77 = skipped;
 *  - parts that need other limits than Linux's defaults (kernel.shmmni,
 *    shmall, shmmax, shm_rmid_forced) set them through /proc/sys/kernel of
 *    the program's own kernel IPC namespace.  They run only when the
 *    calls obey those sysctls, which is probed: kernel.shmmni is changed
 *    and read back with IPC_INFO, then restored.  Under ipcnsd
 *    (IPCNS_UNDER=1, set by the runners) the sysctls are the namespace's
 *    only where ipcnsd's view is bound over /proc/sys/kernel (a
 *    container's hook, ipcns-run --view; conf_view_ours in conf.h):
 *    elsewhere those parts are skipped without probing, and so they are
 *    where /proc/sys is read-only.
 *
 * The system calls are made with syscall(2) so that no C library
 * translation of the arguments stands between the test and the kernel (or
 * ipcnsd).  */
#ifndef IPCNS_SHM_COMMON_H
#define IPCNS_SHM_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#define SHM_HUGE_SHIFT_ 26
#define IPC_64_ 0x0100
#define SEQ_MULT 32768

/* Linux's defaults for a new IPC namespace (include/uapi/linux/shm.h).  */
#define DEF_SHMMNI 4096UL
#define DEF_SHMMAX (~0UL - (1UL << 24))
#define DEF_SHMALL (~0UL - (1UL << 24))

static long pg;

static inline long shm_get(key_t key, size_t size, int flg)
{
	return syscall(SYS_shmget, key, size, flg);
}
static inline long shm_at(int id, const void *addr, int flg)
{
	return syscall(SYS_shmat, id, addr, flg);
}
static inline long shm_dt(const void *addr)
{
	return syscall(SYS_shmdt, addr);
}
static inline long shm_ctl(int id, int cmd, void *buf)
{
	return syscall(SYS_shmctl, id, cmd, buf);
}

/* shmat's result as a pointer, NULL on failure (which is checked).  */
#define ATTACH(id, addr, flg) ((char *)conf_attach((int)(id), (addr), (flg), __LINE__))
static inline void *conf_attach(int id, const void *addr, int flg, int line)
{
	errno = 0;
	long r = shm_at(id, addr, flg);
	conf_checks++;
	if (r == -1) {
		conf_failed++;
		fprintf(stderr, "FAIL %s:%d: shmat(%d, %p, %#o): %s\n", __FILE__, line, id, addr, flg,
			strerror(errno));
		return NULL;
	}
	return (void *)r;
}

/* IPC_STAT into *ds; the check fails (and *ds is zeroed) when it fails.  */
#define STAT(id, ds) conf_stat((int)(id), (ds), __LINE__)
static inline int conf_stat(int id, struct shmid_ds *ds, int line)
{
	memset(ds, 0, sizeof(*ds));
	conf_checks++;
	if (shm_ctl(id, IPC_STAT, ds) < 0) {
		conf_failed++;
		fprintf(stderr, "FAIL %s:%d: IPC_STAT of %d: %s\n", __FILE__, line, id, strerror(errno));
		memset(ds, 0, sizeof(*ds));
		return -1;
	}
	return 0;
}

static inline unsigned long nattch_of(int id)
{
	struct shmid_ds ds;
	if (shm_ctl(id, IPC_STAT, &ds) < 0)
		return (unsigned long)-1;
	return ds.shm_nattch;
}

/* Is the attach at addr a memfd mapping, as ipcnsd makes them (natively
 * /proc/PID/maps names the shm file "/SYSV<key> (deleted)", ipcnsd's
 * "/memfd:SYSV<key> (deleted)")?  Used only to report the deviations
 * from Linux that ipcnsd documents, never to relax a check.  */
static inline bool attach_is_memfd(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool memfd = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s;
		if (sscanf(line, "%lx-", &s) == 1 && s == (unsigned long)addr) {
			memfd = strstr(line, "/memfd:SYSV") != NULL;
			break;
		}
	}
	fclose(f);
	return memfd;
}

#define DEVIATION(fmt, ...) printf("# known deviation under ipcnsd, not checked: " fmt "\n", ##__VA_ARGS__)

/* A time field must lie in [lo, hi].  */
#define CHECK_TIME(t, lo, hi)                                                                      \
	do {                                                                                       \
		long long _t = (long long)(t);                                                     \
		conf_checks++;                                                                     \
		if (_t < (long long)(lo) || _t > (long long)(hi))                                  \
			CONF_FAIL("%s = %lld, want in [%lld, %lld]", #t, _t, (long long)(lo),      \
				  (long long)(hi));                                                \
	} while (0)

/* ---- Sysctls of our own kernel IPC namespace.  */

static inline int sysctl_read(const char *name, char *buf, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static inline int sysctl_write(const char *name, const char *val)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	return conf_write_file(path, val);
}

/* Set a sysctl, failing the check when it cannot be set.  */
#define SYSCTL(name, val)                                                                          \
	do {                                                                                       \
		conf_checks++;                                                                     \
		int _r = sysctl_write(name, val);                                                  \
		if (_r < 0)                                                                        \
			CONF_FAIL("writing kernel.%s = %s: %s", name, val, strerror(-_r));          \
	} while (0)

/* The values found when the probe succeeded, put back at exit: a
 * program run in the host's namespace by mistake leaves it as it was.  */
static const char *const saved_names[] = { "shmmni", "shmall", "shmmax", "shm_rmid_forced" };
static char saved_vals[4][64];

static void sysctl_restore(void)
{
	for (int i = 0; i < 4; i++)
		if (saved_vals[i][0])
			sysctl_write(saved_names[i], saved_vals[i]);
}

/* Do the calls obey our kernel IPC namespace's sysctls?  See the runner
 * contract above.  */
static inline bool conf_kernel_limits(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	cached = 0;
	if (!conf_view_ours())
		return false;
	char old[64], val[64];
	if (sysctl_read("shmmni", old, sizeof(old)) < 0)
		return false;
	unsigned long v = strtoul(old, NULL, 10);
	snprintf(val, sizeof(val), "%lu", v > 1 ? v - 1 : v + 1);
	if (sysctl_write("shmmni", val) < 0)
		return false;
	struct shminfo si;
	memset(&si, 0, sizeof(si));
	if (shm_ctl(0, IPC_INFO, &si) >= 0 && si.shmmni == strtoul(val, NULL, 10))
		cached = 1;
	sysctl_write("shmmni", old);
	if (cached) {
		for (int i = 0; i < 4; i++)
			if (sysctl_read(saved_names[i], saved_vals[i], sizeof(saved_vals[i])) < 0)
				saved_vals[i][0] = '\0';
		atexit(sysctl_restore);
	}
	return cached;
}

/* Root, and a namespace without segments.  */
static inline void conf_start(void)
{
	struct shm_info si;
	setvbuf(stdout, NULL, _IOLBF, 0);
	pg = sysconf(_SC_PAGESIZE);
	if (geteuid() != 0)
		CONF_SKIP("must run as root");
	memset(&si, 0, sizeof(si));
	if (shm_ctl(0, SHM_INFO, &si) < 0)
		CONF_SKIP("System V shared memory is not available");
	if (si.used_ids != 0)
		CONF_SKIP("needs a fresh IPC namespace (unshare -i, or ipcns-run)");
}

/* ---- Children.  The checks a child makes are added to the parent's
 * counts through a shared page.  */

struct conf_shared {
	int checks, failed;
	long val[64]; /* results a child passes back */
};
static struct conf_shared *conf_sh;

static inline struct conf_shared *conf_shared(void)
{
	if (!conf_sh) {
		conf_sh = mmap(NULL, sizeof(*conf_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (conf_sh == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
	}
	return conf_sh;
}

static inline void conf_child_exit(void)
{
	conf_sh->checks += conf_checks;
	conf_sh->failed += conf_failed;
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}

/* Who a child becomes.  */
struct conf_who {
	const char *name;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[4];
	bool set_caps;      /* keep uid 0 and set the effective capabilities */
	uint64_t caps;      /* with set_caps: the capabilities kept */
	rlim_t memlock;     /* RLIMIT_MEMLOCK to set, RLIM_INFINITY = keep */
};

static inline int conf_become(const struct conf_who *w)
{
	if (w->memlock != RLIM_INFINITY) {
		struct rlimit rl = { w->memlock, w->memlock };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			return -errno;
	}
	if (setgroups((size_t)w->ngroups, w->groups) < 0 || setresgid(w->gid, w->gid, w->gid) < 0)
		return -errno;
	if (w->set_caps) {
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2];
		memset(d, 0, sizeof(d));
		d[0].effective = d[0].permitted = (uint32_t)w->caps;
		d[1].effective = d[1].permitted = (uint32_t)(w->caps >> 32);
		if (syscall(SYS_capset, &h, d) < 0)
			return -errno;
		return 0;
	}
	/* Leaving uid 0 clears the capability sets.  */
	if (setresuid(w->uid, w->uid, w->uid) < 0)
		return -errno;
	return 0;
}

/* Wait for child pid and add the checks it made (conf_child_exit) to
 * ours; one that did not exit 0 is a failure.  Its wait status.  */
static inline int conf_reap(pid_t pid, const char *what)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	conf_checks += conf_sh->checks;
	conf_failed += conf_sh->failed;
	conf_sh->checks = conf_sh->failed = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("child (%s) ended with status %#x", what, st);
	return st;
}

/* fork() for a child whose checks conf_reap adds to ours: it starts
 * with none.  */
static inline pid_t conf_fork(void)
{
	conf_shared();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		CONF_FAIL("fork: %s", strerror(errno));
	else if (pid == 0)
		conf_checks = conf_failed = 0;
	return pid;
}

/* Run fn(arg) in a child that became `w' (NULL: stays as it is).
 * Returns the child's wait status.  */
static inline int conf_run_as(const struct conf_who *w, void (*fn)(void *), void *arg)
{
	pid_t pid = conf_fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (w) {
			int r = conf_become(w);
			if (r < 0) {
				CONF_FAIL("becoming %s: %s", w->name, strerror(-r));
				conf_child_exit();
			}
		}
		fn(arg);
		conf_child_exit();
	}
	return conf_reap(pid, w ? w->name : "same credentials");
}

/* Write text to /proc/PID/NAME: true when it took all of it.  */
static inline bool conf_write_proc(pid_t pid, const char *name, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Run fn(arg) in a child that unshared a user namespace (and nothing
 * else) whose uid_map and gid_map the parent wrote first (setgroups
 * "deny" before them when deny_setgroups).  The child keeps its host
 * ids until it sets them.  false when no user namespace could be made or
 * mapped here: fn did not run.  */
static inline bool conf_run_in_userns(void (*fn)(void *), void *arg, const char *uid_map, const char *gid_map,
				      bool deny_setgroups)
{
	int up[2], down[2];
	if (pipe(up) < 0 || pipe(down) < 0) {
		CONF_FAIL("pipe: %s", strerror(errno));
		return false;
	}
	pid_t pid = conf_fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		char c = 0;
		if (unshare(CLONE_NEWUSER) < 0) {
			printf("# unshare(CLONE_NEWUSER): %s\n", strerror(errno));
			c = 2;
		}
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1 || c != 1)
			conf_child_exit();
		fn(arg);
		conf_child_exit();
	}
	close(up[1]);
	close(down[0]);
	char c;
	if (read(up[0], &c, 1) != 1)
		c = 2;
	bool mapped = c == 0 && (!deny_setgroups || conf_write_proc(pid, "setgroups", "deny")) &&
		      conf_write_proc(pid, "uid_map", uid_map) && conf_write_proc(pid, "gid_map", gid_map);
	c = mapped ? 1 : 0;
	if (write(down[1], &c, 1) != 1)
		CONF_FAIL("pipe write: %s", strerror(errno));
	close(up[0]);
	close(down[1]);
	conf_reap(pid, "in a user namespace");
	return mapped;
}

/* Run fn(arg) in a child and return the signal that killed it, 0 if it
 * exited.  */
static inline int conf_child_signal(void (*fn)(void *), void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		fn(arg);
		_exit(0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

#endif
