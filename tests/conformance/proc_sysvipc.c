/* SPDX-License-Identifier: MIT */
/* /proc/sysvipc/{shm,sem,msg} against the system calls, as programs use
 * them together:
 *  - SHM_INFO, SEM_INFO and MSG_INFO return the highest index in use,
 *    which *_STAT_ANY maps to an object; the indices up to it that
 *    *_STAT_ANY accepts are as many as the objects the *_INFO counts
 *    report; and the files list exactly those objects, whose columns add
 *    up to the *_INFO totals (shm: used_ids, shm_tot in pages of the
 *    rounded-up sizes, shm_rss and shm_swp in pages of rss and swap;
 *    sem: semusz sets, semaem semaphores; msg: msgpool queues, msgmap
 *    messages, msgtql bytes), each line's id, size or counts being those
 *    *_STAT_ANY gives for it.  Checked with the effective uid of nobody
 *    (which *_STAT_ANY and the files do not care about) and of root;
 *  - a program that counts the lines of /proc/sysvipc/X to learn how many
 *    objects exist, reads kernel.shmmni, kernel.msgmni and the fourth
 *    value of kernel.sem, and creates the rest, gets ENOSPC at the next
 *    one.  The limits are lowered first through /proc/sys/kernel, so the
 *    program owns every object it counts, then put back;
 *  - a segment's rss and swap columns: with swap on the host (view.bats
 *    turns it on for a run), two of its three touched pages paged out
 *    with MADV_PAGEOUT are counted as swap, the third as rss.
 * Runs natively (a fresh kernel IPC namespace) and under ipcnsd where its
 * view is bound over /proc (conf_need_view).  */
#include <errno.h>
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

#define NOBODY 65534
#define MAXLINES 4096
#define IDX 32768 /* ids are seq * 32768 + index */

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* The lines of a /proc/sysvipc file after its header, each parsed into
 * up to 16 numbers.  */
struct row {
	long long v[16];
	int n;
};

static int read_rows(const char *path, struct row *rows, int max)
{
	char line[512];
	int count = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		CONF_FAIL("open %s: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f)) {
		CONF_FAIL("%s has no header", path);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && count < max) {
		struct row *r = &rows[count++];
		char *p = line, *end;
		r->n = 0;
		while (r->n < 16) {
			long long x = strtoll(p, &end, 10);
			if (end == p)
				break;
			r->v[r->n++] = x;
			p = end;
		}
	}
	fclose(f);
	return count;
}

static int lines_of(const char *path)
{
	static struct row rows[MAXLINES];
	return read_rows(path, rows, MAXLINES);
}

static long sys_shmctl(long id, long cmd, void *buf)
{
	return syscall(SYS_shmctl, id, cmd, buf);
}

static long sys_semctl(long id, long num, long cmd, void *arg)
{
	return syscall(SYS_semctl, id, num, cmd, arg);
}

static long sys_msgctl(long id, long cmd, void *buf)
{
	return syscall(SYS_msgctl, id, cmd, buf);
}

static void check_shm(void)
{
	static struct row rows[MAXLINES];
	struct shm_info info;
	struct shmid_ds ds;
	long ps = sysconf(_SC_PAGESIZE);

	long max = CHECK_OK(sys_shmctl(0, SHM_INFO, &info));
	if (max < 0)
		return;
	CHECK_TRUE(sys_shmctl(max, SHM_STAT_ANY, &ds) >= 0);
	int used = 0;
	for (long i = 0; i <= max; i++)
		if (sys_shmctl(i, SHM_STAT_ANY, &ds) >= 0)
			used++;
	CHECK_EQ(used, info.used_ids);

	int n = read_rows("/proc/sysvipc/shm", rows, MAXLINES);
	unsigned long tot = 0, rss = 0, swp = 0;
	CHECK_EQ(n, info.used_ids);
	for (int i = 0; i < n; i++) {
		struct row *r = &rows[i];
		/* key shmid perms size cpid lpid nattch uid gid cuid cgid
		 * atime dtime ctime rss swap */
		CHECK_EQ(r->n, 16);
		if (r->n != 16)
			continue;
		tot += (unsigned long)((r->v[3] + ps - 1) / ps);
		rss += (unsigned long)(r->v[14] / ps);
		swp += (unsigned long)(r->v[15] / ps);
		long id = sys_shmctl(r->v[1] % IDX, SHM_STAT_ANY, &ds);
		CHECK_EQ(id, r->v[1]);
		if (id == r->v[1]) {
			CHECK_EQ(ds.shm_segsz, r->v[3]);
			CHECK_EQ(ds.shm_nattch, r->v[6]);
			CHECK_EQ(ds.shm_cpid, r->v[4]);
		}
	}
	CHECK_EQ(info.shm_tot, tot);
	CHECK_EQ(info.shm_rss, rss);
	CHECK_EQ(info.shm_swp, swp);
}

static void check_sem(int any_id)
{
	static struct row rows[MAXLINES];
	struct seminfo info;
	struct semid_ds ds;

	long max = CHECK_OK(sys_semctl(any_id, 0, SEM_INFO, &info));
	if (max < 0)
		return;
	CHECK_TRUE(sys_semctl(max, 0, SEM_STAT_ANY, &ds) >= 0);
	int used = 0;
	for (long i = 0; i <= max; i++)
		if (sys_semctl(i, 0, SEM_STAT_ANY, &ds) >= 0)
			used++;
	CHECK_EQ(used, info.semusz);

	int n = read_rows("/proc/sysvipc/sem", rows, MAXLINES);
	long sems = 0;
	CHECK_EQ(n, info.semusz);
	for (int i = 0; i < n; i++) {
		struct row *r = &rows[i];
		/* key semid perms nsems uid gid cuid cgid otime ctime */
		CHECK_EQ(r->n, 10);
		if (r->n != 10)
			continue;
		sems += r->v[3];
		if (sys_semctl(r->v[1] % IDX, 0, SEM_STAT_ANY, &ds) != r->v[1])
			CONF_FAIL("semid %lld of /proc/sysvipc/sem is not at its index", r->v[1]);
		else
			CHECK_EQ(ds.sem_nsems, r->v[3]);
	}
	CHECK_EQ(info.semaem, sems);
}

static void check_msg(void)
{
	static struct row rows[MAXLINES];
	struct msginfo info;
	struct msqid_ds ds;

	long max = CHECK_OK(sys_msgctl(0, MSG_INFO, &info));
	if (max < 0)
		return;
	CHECK_TRUE(sys_msgctl(max, MSG_STAT_ANY, &ds) >= 0);
	int used = 0;
	for (long i = 0; i <= max; i++)
		if (sys_msgctl(i, MSG_STAT_ANY, &ds) >= 0)
			used++;
	CHECK_EQ(used, info.msgpool);

	int n = read_rows("/proc/sysvipc/msg", rows, MAXLINES);
	long msgs = 0, bytes = 0;
	CHECK_EQ(n, info.msgpool);
	for (int i = 0; i < n; i++) {
		struct row *r = &rows[i];
		/* key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid
		 * stime rtime ctime */
		CHECK_EQ(r->n, 14);
		if (r->n != 14)
			continue;
		bytes += r->v[3];
		msgs += r->v[4];
		if (sys_msgctl(r->v[1] % IDX, MSG_STAT_ANY, &ds) != r->v[1]) {
			CONF_FAIL("msqid %lld of /proc/sysvipc/msg is not at its index", r->v[1]);
		} else {
			CHECK_EQ(ds.msg_cbytes, r->v[3]);
			CHECK_EQ(ds.msg_qnum, r->v[4]);
		}
	}
	CHECK_EQ(info.msgmap, msgs);
	CHECK_EQ(info.msgtql, bytes);
}

/* kernel.NAME's text, or "" when it cannot be read.  */
static void read_text(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	size_t n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Fill a kind up to its limit as a program that reads the files would:
 * the limit from /proc/sys/kernel, the objects in use from the lines of
 * /proc/sysvipc.  CREATE makes object number I (0 or an errno).  */
static void fill_to_limit(const char *what, const char *sysvipc, long limit, int (*create)(int i, int *id),
			  int (*destroy)(int id))
{
	int in_use = lines_of(sysvipc);
	int ids[64], made = 0, id = -1;
	if (in_use < 0 || limit - in_use < 0 || limit - in_use > 64) {
		CONF_FAIL("%s: %d in use for a limit of %ld", what, in_use, limit);
		return;
	}
	for (int i = 0; i < limit - in_use; i++) {
		int e = create(i, &id);
		if (e) {
			CONF_FAIL("%s: object %d of %ld: %s", what, i + 1, limit - in_use, strerror(e));
			break;
		}
		ids[made++] = id;
	}
	conf_checks++;
	int e = create(100, &id);
	if (e != ENOSPC) {
		CONF_FAIL("%s: one more past the limit: %s, want ENOSPC", what, e ? strerror(e) : "created");
		if (!e)
			destroy(id);
	}
	CHECK_EQ(lines_of(sysvipc), limit);
	for (int i = 0; i < made; i++)
		destroy(ids[i]);
}

static key_t key_base;

static int shm_create(int i, int *id)
{
	*id = (int)syscall(SYS_shmget, key_base + 1000 + i, 4096, IPC_CREAT | IPC_EXCL | 0600);
	return *id < 0 ? errno : 0;
}
static int shm_destroy(int id)
{
	return (int)sys_shmctl(id, IPC_RMID, NULL);
}
static int sem_create(int i, int *id)
{
	*id = (int)syscall(SYS_semget, key_base + 2000 + i, 1, IPC_CREAT | IPC_EXCL | 0600);
	return *id < 0 ? errno : 0;
}
static int sem_destroy(int id)
{
	return (int)sys_semctl(id, 0, IPC_RMID, NULL);
}
static int msg_create(int i, int *id)
{
	*id = (int)syscall(SYS_msgget, key_base + 3000 + i, IPC_CREAT | IPC_EXCL | 0600);
	return *id < 0 ? errno : 0;
}
static int msg_destroy(int id)
{
	return (int)sys_msgctl(id, IPC_RMID, NULL);
}

static void check_limits(void)
{
	char shmmni[64], msgmni[64], sem[128], text[128];
	int s1, s2, s3, s4;

	read_text("/proc/sys/kernel/shmmni", shmmni, sizeof(shmmni));
	read_text("/proc/sys/kernel/msgmni", msgmni, sizeof(msgmni));
	read_text("/proc/sys/kernel/sem", sem, sizeof(sem));
	if (sscanf(sem, "%d %d %d %d", &s1, &s2, &s3, &s4) != 4) {
		CONF_FAIL("/proc/sys/kernel/sem reads \"%s\"", sem);
		return;
	}
	int in_use = lines_of("/proc/sysvipc/shm");
	snprintf(text, sizeof(text), "%d", in_use + 5);
	CHECK_EQ(conf_write_file("/proc/sys/kernel/shmmni", text), 0);
	in_use = lines_of("/proc/sysvipc/msg");
	snprintf(text, sizeof(text), "%d", in_use + 6);
	CHECK_EQ(conf_write_file("/proc/sys/kernel/msgmni", text), 0);
	in_use = lines_of("/proc/sysvipc/sem");
	snprintf(text, sizeof(text), "%d %d %d %d", s1, s2, s3, in_use + 7);
	CHECK_EQ(conf_write_file("/proc/sys/kernel/sem", text), 0);

	fill_to_limit("shmmni", "/proc/sysvipc/shm", conf_read_long("/proc/sys/kernel/shmmni"), shm_create,
		      shm_destroy);
	fill_to_limit("msgmni", "/proc/sysvipc/msg", conf_read_long("/proc/sys/kernel/msgmni"), msg_create,
		      msg_destroy);
	read_text("/proc/sys/kernel/sem", text, sizeof(text));
	int semmni = -1;
	sscanf(text, "%*d %*d %*d %d", &semmni);
	fill_to_limit("semmni", "/proc/sysvipc/sem", semmni, sem_create, sem_destroy);

	CHECK_EQ(conf_write_file("/proc/sys/kernel/shmmni", shmmni), 0);
	CHECK_EQ(conf_write_file("/proc/sys/kernel/msgmni", msgmni), 0);
	CHECK_EQ(conf_write_file("/proc/sys/kernel/sem", sem), 0);
}

/* Swap is on (a line under /proc/swaps' header): pages can be swapped out.  */
static bool swap_on(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/swaps", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;
}

/* The rss and swap columns of segment ID: its three touched pages, of
 * which SWAPPED were paged out (MADV_PAGEOUT) and are in swap.  */
static void check_shm_pages(int id, int swapped)
{
	static struct row rows[MAXLINES];
	long ps = sysconf(_SC_PAGESIZE);
	int n = read_rows("/proc/sysvipc/shm", rows, MAXLINES), seen = 0;
	for (int i = 0; i < n; i++) {
		if (rows[i].n != 16 || rows[i].v[1] != id)
			continue;
		seen++;
		CHECK_EQ(rows[i].v[14], (3 - swapped) * ps);
		CHECK_EQ(rows[i].v[15], swapped * ps);
	}
	CHECK_EQ(seen, 1);
}

int main(void)
{
	struct shm_info si;
	conf_need_view();
	if (geteuid() != 0)
		CONF_SKIP("needs root");
	if (sys_shmctl(0, SHM_INFO, &si) < 0 || si.used_ids != 0 || lines_of("/proc/sysvipc/msg") != 0)
		CONF_SKIP("the IPC namespace is not fresh");
	key_base = 0x5e510000 + (getpid() & 0xff) * 0x10000;

	/* Two segments, one of them with three of its five pages touched;
	 * two sets of 2 and 5 semaphores; two queues, one holding two
	 * messages of 5 and 7 bytes.  */
	long ps = sysconf(_SC_PAGESIZE);
	int shm1 = CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, 5 * ps - 100, IPC_CREAT | 0600));
	int shm2 = CHECK_OK(syscall(SYS_shmget, key_base, 2048, IPC_CREAT | 0644));
	char *p = (char *)syscall(SYS_shmat, shm1, NULL, 0);
	CHECK_TRUE(p != (char *)-1);
	if (p != (char *)-1)
		for (int i = 0; i < 3; i++)
			p[i * ps] = 1;
	/* With swap on the host, two of the three pages go to swap: the
	 * files and SHM_INFO tell resident from swapped-out pages.  */
	int swapped = 0;
	if (p != (char *)-1 && swap_on() && madvise(p + ps, 2 * ps, MADV_PAGEOUT) == 0)
		swapped = 2;
	check_shm_pages(shm1, swapped);
	int sem1 = CHECK_OK(syscall(SYS_semget, IPC_PRIVATE, 2, IPC_CREAT | 0600));
	int sem2 = CHECK_OK(syscall(SYS_semget, key_base, 5, IPC_CREAT | 0644));
	int msq1 = CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	int msq2 = CHECK_OK(syscall(SYS_msgget, key_base, IPC_CREAT | 0644));
	struct {
		long mtype;
		char mtext[16];
	} m = { 1, "abcdefg" };
	CHECK_OK(syscall(SYS_msgsnd, msq1, &m, 5, IPC_NOWAIT));
	CHECK_OK(syscall(SYS_msgsnd, msq1, &m, 7, IPC_NOWAIT));

	/* As nobody (effective uid only, so that root comes back), then as
	 * root.  */
	for (int round = 0; round < 2; round++) {
		if (round == 0 && (setresgid(-1, NOBODY, -1) < 0 || setresuid(-1, NOBODY, -1) < 0)) {
			CONF_FAIL("seteuid(nobody): %s", strerror(errno));
			continue;
		}
		check_shm();
		check_sem(sem1);
		check_msg();
		if (round == 0 && (setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0)) {
			CONF_FAIL("seteuid(0): %s", strerror(errno));
			return conf_done("proc_sysvipc");
		}
	}

	check_limits();

	if (p != (char *)-1)
		syscall(SYS_shmdt, p);
	sys_shmctl(shm1, IPC_RMID, NULL);
	sys_shmctl(shm2, IPC_RMID, NULL);
	sys_semctl(sem1, 0, IPC_RMID, NULL);
	sys_semctl(sem2, 0, IPC_RMID, NULL);
	sys_msgctl(msq1, IPC_RMID, NULL);
	sys_msgctl(msq2, IPC_RMID, NULL);
	CHECK_EQ(lines_of("/proc/sysvipc/shm"), 0);
	CHECK_EQ(lines_of("/proc/sysvipc/sem"), 0);
	CHECK_EQ(lines_of("/proc/sysvipc/msg"), 0);
	return conf_done("proc_sysvipc");
}
