/* SPDX-License-Identifier: MIT */
/* Attachments across fork, exit, exec, vfork and threads.  shm_nattch
 * counts mappings: fork copies them (shm_open runs in the parent: shm_atime
 * and shm_lpid = the parent), exit and exec drop them (shm_close runs in
 * the child: shm_dtime, shm_lpid = the child); a vfork child or a thread
 * shares the mappings and changes nothing.  A segment removed while only
 * a child holds it goes when the child exits.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  The program re-executes
 * itself (/proc/self/exe) for the exec cases.  */
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>

#include "shm_common.h"

extern char **environ;

/* A child that holds until told to go.  */
struct held {
	pid_t pid;
	int go; /* write end: closing it lets the child run on */
};

static struct held hold_child(void (*fn)(void *), void *arg)
{
	struct held h = { -1, -1 };
	int p[2];
	if (pipe(p) < 0) {
		CONF_FAIL("pipe: %s", strerror(errno));
		return h;
	}
	fflush(stdout);
	fflush(stderr);
	h.pid = fork();
	if (h.pid == 0) {
		close(p[1]);
		char c;
		if (fn)
			fn(arg);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	h.go = p[1];
	return h;
}

/* Let it exit and reap it.  */
static int release(struct held *h)
{
	int st = 0;
	close(h->go);
	while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static void test_fork_exit(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	sleep(1); /* so that the fork's shm_atime differs from the attach's */
	STAT(id, &ds);
	time_t at0 = ds.shm_atime;
	time_t t0 = time(NULL);
	struct held h = hold_child(NULL, NULL);
	/* The upper bound is read after the IPC_STAT: under ipcnsd a fork's
	 * and an exit's stamps are taken when the daemon applies the event,
	 * which is before any later call of the namespace is answered but
	 * may be after the fork or waitpid returned (spec/compatibility.md).  */
	STAT(id, &ds);
	time_t t1 = time(NULL);
	CHECK_EQ(ds.shm_nattch, 2);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_TIME(ds.shm_atime, t0, t1);
	CHECK_TRUE(ds.shm_atime > at0);
	CHECK_EQ(ds.shm_dtime, 0);
	t0 = time(NULL);
	CHECK_EQ(release(&h), 0);
	STAT(id, &ds);
	t1 = time(NULL);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, h.pid);
	CHECK_TIME(ds.shm_dtime, t0, t1);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* A child killed by a signal drops its attachments as one that exits.  */
static void test_killed(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	struct held h = hold_child(NULL, NULL);
	CHECK_EQ(nattch_of(id), 2);
	kill(h.pid, SIGKILL);
	int st = release(&h);
	CHECK_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, h.pid);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void child_detach(void *arg)
{
	char **p = arg;
	if (shm_dt(*p) < 0)
		_exit(3);
}

/* The child detaches its inherited attach itself: its exit then changes
 * nothing.  */
static void test_child_detaches(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	struct held h = hold_child(child_detach, &a);
	/* Wait until the child detached: its count goes to 1.  */
	for (int i = 0; i < 500 && nattch_of(id) != 1; i++)
		usleep(2000);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, h.pid);
	time_t dt = ds.shm_dtime;
	CHECK_TRUE(dt != 0);
	sleep(1);
	CHECK_EQ(release(&h), 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, h.pid);
	CHECK_EQ(ds.shm_dtime, dt);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(ds.shm_cpid, getpid());
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void child_attaches(void *arg)
{
	int *id = arg;
	char *p = (char *)shm_at(*id, NULL, 0);
	if (p == (char *)-1)
		_exit(3);
	/* Split it too: two mappings.  */
	if (mprotect(p, (size_t)pg, PROT_READ) < 0)
		_exit(4);
	p[pg] = 'c';
}

/* A child's own attaches (two mappings after a split) go at its exit.  */
static void test_child_attaches(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
	struct held h = hold_child(child_attaches, &id);
	for (int i = 0; i < 500 && nattch_of(id) != 2; i++)
		usleep(2000);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 2);
	CHECK_EQ(ds.shm_lpid, h.pid);
	CHECK_EQ(release(&h), 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 0);
	CHECK_EQ(ds.shm_lpid, h.pid);
	char *a = ATTACH(id, NULL, SHM_RDONLY);
	if (a)
		CHECK_EQ(a[pg], 'c');
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void grandchild(void *arg)
{
	struct held *g = arg;
	*g = hold_child(NULL, NULL);
	conf_sh->val[0] = g->pid;
	conf_sh->val[1] = 1;
}

/* Fork copies every mapping: split attaches count per piece, and a
 * grandchild inherits them again.  */
static void test_fork_split(void)
{
	struct shmid_ds ds;
	conf_shared();
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 3 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	CHECK_OK(munmap(a + pg, pg));
	CHECK_EQ(nattch_of(id), 2);
	struct held g;
	conf_sh->val[1] = 0;
	struct held h = hold_child(grandchild, &g);
	for (int i = 0; i < 500 && !conf_sh->val[1]; i++)
		usleep(2000);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 6);
	/* The grandchild was forked by the child.  */
	CHECK_EQ(ds.shm_lpid, h.pid);
	/* The child waits for its own child: let both go by closing the
	 * child's pipe; the grandchild's write end is held by the child
	 * only, so it goes when the child exits.  */
	CHECK_EQ(release(&h), 0);
	/* The grandchild, reparented, sees its pipe close and exits.  */
	for (int i = 0; i < 1000 && nattch_of(id) != 2; i++)
		usleep(2000);
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* Removed while attached, then the parent detaches: the child's inherited
 * attach keeps it alive until the child exits.  */
static void test_rmid_child_holds(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(0x5e6d4001, pg, IPC_CREAT | 0600));
	char *a = ATTACH(id, NULL, 0);
	struct held h = hold_child(NULL, NULL);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	CHECK_OK(shm_dt(a));
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_perm.mode, 0600 | SHM_DEST);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(release(&h), 0);
	CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
	struct shm_info si;
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.used_ids, 0);
}

/* ---- exec.  The child re-executes this program, which checks the
 * segment from the new image and waits for the parent.  */

static int after_exec(char **argv)
{
	/* argv: prog --after-exec ID NATTCH T0 FD */
	int id = atoi(argv[2]);
	unsigned long want = strtoul(argv[3], NULL, 10);
	time_t t0 = (time_t)atol(argv[4]);
	int fd = atoi(argv[5]);
	struct shmid_ds ds;
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, want);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_TIME(ds.shm_dtime, t0, time(NULL));
	/* Tell the parent, then wait for it.  */
	char c = 'x';
	if (write(fd, &c, 1) != 1)
		return 2;
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	return conf_failed ? 1 : 0;
}

static void test_exec(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		CONF_FAIL("socketpair: %s", strerror(errno));
		return;
	}
	time_t t0 = time(NULL);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		/* One more attach of its own, then exec.  */
		if (shm_at(id, NULL, SHM_RDONLY) == -1)
			_exit(3);
		char ids[16], fds[16], ts[32];
		snprintf(ids, sizeof(ids), "%d", id);
		snprintf(fds, sizeof(fds), "%d", sv[1]);
		snprintf(ts, sizeof(ts), "%ld", (long)t0);
		char *args[] = { "shm_fork", "--after-exec", ids, "1", ts, fds, NULL };
		execve("/proc/self/exe", args, environ);
		_exit(4);
	}
	close(sv[1]);
	char c;
	conf_checks++;
	if (read(sv[0], &c, 1) != 1)
		CONF_FAIL("the exec'd child did not report");
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, pid);
	close(sv[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Its exit after exec changes nothing more.  */
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, pid);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* ---- Sharing the mappings: vfork, posix_spawn and threads.  */

static void test_vfork(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	STAT(id, &ds);
	time_t at = ds.shm_atime;
	sleep(1);
	pid_t pid = vfork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	/* posix_spawn uses CLONE_VM | CLONE_VFORK, then execs.  */
	pid_t sp;
	char *args[] = { "true", NULL };
	CHECK_EQ(posix_spawnp(&sp, "true", NULL, NULL, args, environ), 0);
	waitpid(sp, NULL, 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(ds.shm_atime, at);
	CHECK_EQ(ds.shm_dtime, 0);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* An attach marked MADV_DONTFORK is not copied: the fork changes nothing.  */
static void test_dontfork(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	CHECK_OK(madvise(a, (size_t)pg, MADV_DONTFORK));
	STAT(id, &ds);
	time_t at = ds.shm_atime;
	sleep(1);
	struct held h = hold_child(NULL, NULL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_atime, at);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(release(&h), 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(ds.shm_dtime, 0);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

struct thr {
	int id;
	char *p;
};

static void *thread_attach(void *arg)
{
	struct thr *t = arg;
	t->p = (char *)shm_at(t->id, NULL, 0);
	return NULL;
}

static void test_threads(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	struct thr t = { id, NULL };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_attach, &t), 0);
	pthread_join(th, NULL);
	CHECK_TRUE(t.p != (char *)-1);
	/* The attach belongs to the process: it outlives the thread, and
	 * shm_lpid is the process id.  */
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(ds.shm_dtime, 0);
	if (t.p != (char *)-1)
		CHECK_OK(shm_dt(t.p));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--after-exec") == 0)
		return after_exec(argv);
	conf_start();
	test_fork_exit();
	test_killed();
	test_child_detaches();
	test_child_attaches();
	test_fork_split();
	test_rmid_child_holds();
	test_exec();
	test_vfork();
	test_dontfork();
	test_threads();
	return conf_done("shm_fork");
}
