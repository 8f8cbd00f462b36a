/* SPDX-License-Identifier: MIT */
/* Hostile attachers: a sibling thread races shmat for the file behind
 * the segment.
 *
 * Under ipcnsd a segment is a memfd, installed in the caller's fd table
 * for the moment of the mapping.  A thread of the same process can reach
 * it there: reopen /proc/self/fd/N (a new open file, checked against the
 * memfd inode's owner and mode), or dup it (the same open file).
 * Natively there is no such file at all.  Whatever the race gives, no
 * process may get more than its attach grants:
 *
 *  1. uid 65534, which may only attach read-only a 0644 segment of uid
 *     1234, must never get a writable file or mapping of it, however
 *     many SHM_RDONLY attaches its sibling thread races (reopen
 *     O_RDWR, then mmap PROT_WRITE).
 *  2. A file it kept (dup) must not show the segment's contents once the
 *     segment is removed and detached everywhere: Linux has destroyed it.
 *  3. A kept file of a SHM_HUGETLB segment must not shrink or grow it
 *     (every attacher would get SIGBUS past the new end).
 *  4. Root with CAP_DAC_OVERRIDE but neither CAP_SETUID nor CAP_IPC_OWNER
 *     (a root container with a reduced capability set, no user
 *     namespace) may also only attach that segment read-only: the file
 *     mode does not stop CAP_DAC_OVERRIDE, so its racing reopen O_RDWR
 *     must fail for another reason, and it must never write.
 *  5. A caller killed in the middle of its read-only attaches, whose fd
 *     table another process shares (clone CLONE_FILES without
 *     CLONE_THREAD): the table outlives it, with whatever the attach had
 *     installed there.  What that process finds is at most a read-only
 *     file, which cannot be reopened for writing and, like the kept file
 *     of 2, shows nothing once the segment is destroyed.
 *  6. The race of 4 on a SHM_HUGETLB segment (SHM_NORESERVE: no huge
 *     page is needed, none is touched): hugetlbfs files have no
 *     immutable flag, so what refuses that reopen must be something
 *     else, and it must refuse it whatever the opener's capabilities.
 *
 * Natively the thread never finds a file and every check passes
 * trivially; the program runs the same races there.
 *
 * Runner contract: see shm_common.h.  */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "conf_wait.h"
#include "shm_common.h"

#define SEG_SIZE 65536
#define SECRET 0x5a
#define TRIES 3000
#define HUGE_SEG (2 << 20) /* one huge page of the default size here */

struct thief {
	int fd_no;              /* the fd number shmat's file gets */
	int mode;               /* 0: reopen O_RDWR; 1: dup */
	volatile int stop;
	volatile int got;       /* an fd on the segment's file, or -1 */
	volatile int writable;  /* it was opened for writing */
};

/* Is fd a segment's file (a memfd named SYSV...)?  */
static bool is_segment_file(int fd)
{
	char path[64], link[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strstr(link, "SYSV") != NULL;
}

static void *thief_run(void *arg)
{
	struct thief *t = arg;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd_no);
	while (!t->stop) {
		int fd;
		if (t->mode == 0)
			fd = open(path, O_RDWR | O_CLOEXEC);
		else
			fd = fcntl(t->fd_no, F_DUPFD_CLOEXEC, 100);
		if (fd < 0)
			continue;
		if (!is_segment_file(fd)) {
			close(fd);
			continue;
		}
		t->writable = (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY;
		t->got = fd;
		break;
	}
	return NULL;
}

/* The lowest free fd: where shmat's file lands.  */
static int lowest_free_fd(void)
{
	int fd = dup(0);
	if (fd >= 0)
		close(fd);
	return fd;
}

/* Attach (flg) and detach until the thief has a file or TRIES runs.  */
static int race(int id, int flg, int mode, bool *writable)
{
	struct thief t = { .fd_no = lowest_free_fd(), .mode = mode, .got = -1 };
	pthread_t th;
	if (pthread_create(&th, NULL, thief_run, &t) != 0) {
		CONF_FAIL("pthread_create");
		return -1;
	}
	for (int i = 0; i < TRIES && t.got < 0; i++) {
		void *p = (void *)shm_at(id, NULL, flg);
		if (p == (void *)-1) {
			CONF_FAIL("shmat: %s", strerror(errno));
			break;
		}
		shm_dt(p);
	}
	t.stop = 1;
	pthread_join(th, NULL);
	*writable = t.writable;
	return t.got;
}

static int seg_ro, seg_huge;

/* 1: no write access through the race (to the segment arg, or seg_ro).  */
static void reopen_child(void *arg)
{
	int id = arg ? *(int *)arg : seg_ro;
	bool huge = arg != NULL;
	CHECK_ERR(shm_at(id, NULL, 0), EACCES);
	bool writable = false;
	int fd = race(id, SHM_RDONLY, 0, &writable);
	conf_checks++;
	if (fd >= 0) {
		CONF_FAIL("uid %u reopened the file of a %ssegment it may only read (%s)", (unsigned int)geteuid(),
			  huge ? "SHM_HUGETLB " : "", writable ? "read-write" : "read-only");
		size_t len = huge ? HUGE_SEG : SEG_SIZE;
		unsigned char *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
		if (w != MAP_FAILED) {
			/* A hugetlb page may not be there to touch: the
			 * writable mapping is the failure.  */
			if (!huge)
				w[1] = 0x77;
			CONF_FAIL("and %s", huge ? "mapped it writable" : "wrote into it");
			munmap(w, len);
		}
		close(fd);
	}
}

/* 4 (and 6 with arg): the same race by root with CAP_DAC_OVERRIDE alone.  */
static void dac_child(void *arg)
{
	reopen_child(arg);
	/* The attempts must have been made with the capability.  */
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	conf_checks++;
	if (syscall(SYS_capget, &h, d) < 0 || geteuid() != 0 || d[0].effective != 1u << CAP_DAC_OVERRIDE ||
	    d[1].effective != 0)
		CONF_FAIL("the racing process is not root with CAP_DAC_OVERRIDE alone");
}

/* 2: a kept file shows nothing of a destroyed segment.  */
static void keep_child(void *arg)
{
	int *kept = arg;
	bool writable = false;
	*kept = race(seg_ro, SHM_RDONLY, 1, &writable);
	conf_checks++;
	if (*kept >= 0 && writable)
		CONF_FAIL("a read-only attach handed out a writable file");
}

#define KILLS 200

static int attach_forever(void *arg)
{
	(void)arg;
	for (;;) {
		void *p = (void *)shm_at(seg_ro, NULL, SHM_RDONLY);
		if (p != (void *)-1)
			shm_dt(p);
	}
	return 0;
}

/* 5: the first segment file that appears in our fd table after the
 * process sharing it was SIGKILLed in its attaches, or -1.  */
static int kill_race(int *kills)
{
	static char stack[65536] __attribute__((aligned(16)));
	for (*kills = 0; *kills < KILLS; (*kills)++) {
		pid_t pid = clone(attach_forever, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
		if (pid < 0) {
			CONF_FAIL("clone(CLONE_FILES): %s", strerror(errno));
			return -1;
		}
		/* Let it make a few attaches, then kill it at a moment of
		 * its loop.  */
		conf_msleep(1 + *kills % 3);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		for (int fd = 3; fd < 64; fd++) {
			if (is_segment_file(fd)) {
				(*kills)++;
				return fd;
			}
		}
	}
	return -1;
}

static void shared_table_child(int *kept)
{
	int kills;
	*kept = kill_race(&kills);
	printf("# a caller killed in its attaches %d times left a file in the table it shared: %s\n", kills,
	       *kept >= 0 ? "yes" : "no");
	if (*kept < 0)
		return;
	conf_checks++;
	if ((fcntl(*kept, F_GETFL) & O_ACCMODE) != O_RDONLY)
		CONF_FAIL("a killed read-only attacher left a writable file");
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", *kept);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	conf_checks++;
	if (fd >= 0) {
		CONF_FAIL("the file a killed read-only attacher left could be reopened read-write");
		close(fd);
	}
}

/* 3: the kept file of a hugetlb segment cannot resize it.  */
static void huge_child(void *arg)
{
	(void)arg;
	bool writable = false;
	int fd = race(seg_huge, 0, 1, &writable);
	if (fd < 0)
		return;
	struct stat before, after;
	CHECK_OK(fstat(fd, &before));
	CHECK_ERR(ftruncate(fd, 0), EPERM);
	CHECK_ERR(ftruncate(fd, before.st_size * 2), EPERM);
	CHECK_OK(fstat(fd, &after));
	CHECK_EQ(after.st_size, before.st_size);
	close(fd);
}

static void make_seg(void *arg)
{
	(void)arg;
	long id = CHECK_OK(shm_get(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0644));
	conf_sh->val[0] = id;
	unsigned char *p = (unsigned char *)shm_at((int)id, NULL, 0);
	if (p == (void *)-1) {
		CONF_FAIL("shmat: %s", strerror(errno));
		return;
	}
	memset(p, SECRET, SEG_SIZE);
	shm_dt(p);
}

/* As uid 1234 keeping CAP_IPC_LOCK alone (conf_become keeps
 * capabilities only for uid 0), make the segment of 6.  */
static void make_huge_seg(void *arg)
{
	(void)arg;
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = 1u << CAP_IPC_LOCK;
	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setresgid(1234, 1234, 1234) < 0 || setresuid(1234, 1234, 1234) < 0 ||
	    syscall(SYS_capset, &h, d) < 0) {
		CONF_FAIL("becoming uid 1234 with CAP_IPC_LOCK: %s", strerror(errno));
		return;
	}
	long id = shm_get(IPC_PRIVATE, HUGE_SEG, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0644);
	if (id < 0)
		printf("# no SHM_HUGETLB here (%s): part 6 not run\n", strerror(errno));
	conf_sh->val[0] = id;
}

int main(void)
{
	conf_start();
	static const struct conf_who owner = { "uid 1234", 1234, 1234, 0, { 0 }, false, 0, RLIM_INFINITY };
	static const struct conf_who nobody = { "uid 65534", 65534, 65534, 0, { 0 }, false, 0, RLIM_INFINITY };

	conf_run_as(&owner, make_seg, NULL);
	seg_ro = (int)conf_sh->val[0];
	if (seg_ro < 0)
		return conf_done("hostile_memfd");
	conf_run_as(&nobody, reopen_child, NULL);
	static const struct conf_who dac = { "root with CAP_DAC_OVERRIDE only", 0, 0, 0, { 0 }, true,
					     1ULL << CAP_DAC_OVERRIDE, RLIM_INFINITY };
	conf_run_as(&dac, dac_child, NULL);

	/* 2, in one process that keeps its file across the removal.  */
	int pfd[2];
	if (pipe(pfd) < 0) {
		CONF_FAIL("pipe");
		return conf_done("hostile_memfd");
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		conf_checks = conf_failed = 0;
		conf_become(&nobody);
		int kept = -1, kept5 = -1;
		keep_child(&kept);
		shared_table_child(&kept5);
		/* Tell the parent to remove the segment, wait for it.  */
		char c = 1;
		if (write(pfd[1], &c, 1) != 1)
			CONF_FAIL("pipe write");
		while (conf_sh->val[1] == 0)
			conf_msleep(1);
		int kfds[2] = { kept, kept5 };
		for (int k = 0; k < 2; k++) {
			if (kfds[k] < 0)
				continue;
			unsigned char *r = mmap(NULL, SEG_SIZE, PROT_READ, MAP_SHARED, kfds[k], 0);
			conf_checks++;
			if (r != MAP_FAILED) {
				/* The pages of a destroyed segment are gone: a
				 * kept file reads zeros, never the contents.  */
				for (int i = 0; i < SEG_SIZE; i += 4096)
					if (r[i] == SECRET) {
						CONF_FAIL("a file %s past IPC_RMID still reads the segment",
							  k ? "a killed attacher left" : "kept");
						break;
					}
				munmap(r, SEG_SIZE);
			}
		}
		if (kept >= 0)
			printf("# kept a file of the segment: yes\n");
		conf_child_exit();
	}
	close(pfd[1]);
	char c;
	if (read(pfd[0], &c, 1) != 1)
		CONF_FAIL("pipe read");
	CHECK_OK(shm_ctl(seg_ro, IPC_RMID, NULL));
	/* Destroyed: nobody maps it any more (IPC_STAT on its id fails).  */
	struct shmid_ds ds;
	CHECK_ERR(shm_ctl(seg_ro, IPC_STAT, &ds), EINVAL);
	conf_sh->val[1] = 1;
	conf_reap(pid, "keeper");

	/* 3: a hugetlb segment without reservation (no pool needed).  */
	seg_huge = (int)shm_get(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0666);
	if (seg_huge < 0) {
		printf("# no SHM_HUGETLB here (%s): part 3 not run\n", strerror(errno));
	} else {
		conf_run_as(&nobody, huge_child, NULL);
		CHECK_OK(shm_ctl(seg_huge, IPC_RMID, NULL));
	}

	/* 6: a hugetlb segment of uid 1234 (which needs CAP_IPC_LOCK to
	 * make it), 0644, raced by root with CAP_DAC_OVERRIDE alone.  */
	conf_sh->val[0] = -1;
	conf_run_as(NULL, make_huge_seg, NULL);
	int seg_huge_ro = (int)conf_sh->val[0];
	if (seg_huge_ro >= 0) {
		conf_run_as(&dac, dac_child, &seg_huge_ro);
		CHECK_OK(shm_ctl(seg_huge_ro, IPC_RMID, NULL));
	}
	return conf_done("hostile_memfd");
}
