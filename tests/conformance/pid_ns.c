/* SPDX-License-Identifier: MIT */
/* Pids as the reader's pid namespace sees them.  Linux keeps the acting
 * process's struct pid in shm_cprid, shm_lprid, sempid, q_lspid and
 * q_lrpid and prints its number in the reader's pid namespace: the
 * caller's for IPC_STAT, *_STAT and GETPID (pid_vnr), the opener's for
 * /proc/sysvipc (pid_nr_ns), and 0 where the process has no number.
 *
 * A process G in a child pid namespace (unshare CLONE_NEWPID + fork: G
 * is pid 1 there) creates a semaphore set, a queue and a segment and acts
 * on them; its parent's parent P, in the outer namespace, sees G's outer
 * number everywhere.  Then P receives G's message and attaches the
 * segment, and G sees its own number (1) for what it did and 0 for what
 * P did.  After G is gone, P still sees G's number (the struct pid
 * outlives the process).  Needs CAP_SYS_ADMIN (skipped without);
 * /proc/sysvipc is checked natively and under ipcnsd where its view is
 * bound (conf_view_ours).  */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"

struct ids {
	int sem, msq, shm;
};

struct msgb {
	long mtype;
	char mtext[8];
};

/* The pid columns of an object's line in /proc/sysvipc/shm (cpid,
 * lpid) or msg (lspid, lrpid): 0, or -1 when there is no such line.  */
static int proc_pids(const char *file, int id, long *a, long *b)
{
	char line[512];
	int ret = -1;
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	while (ret < 0 && fgets(line, sizeof(line), f)) {
		long key, lid, perms, x, y, p1, p2;
		if (sscanf(line, "%ld %ld %lo %ld %ld %ld %ld", &key, &lid, &perms, &x, &y, &p1, &p2) != 7 ||
		    lid != id)
			continue;
		/* shm: size cpid lpid; msg: cbytes qnum lspid lrpid.  */
		if (strstr(file, "shm")) {
			*a = y;
			*b = p1;
		} else {
			*a = p1;
			*b = p2;
		}
		ret = 0;
	}
	fclose(f);
	return ret;
}

/* Every pid the reader sees: sempid of semaphore 0, msg_lspid and
 * msg_lrpid, shm_cpid and shm_lpid, by IPC_STAT, *_STAT and
 * /proc/sysvipc.  */
static void expect(const struct ids *o, long sempid, long lspid, long lrpid, long cpid, long lpid)
{
	struct msqid_ds mds;
	struct shmid_ds sds;
	CHECK_EQ(semctl(o->sem, 0, GETPID), sempid);
	CHECK_OK(msgctl(o->msq, IPC_STAT, &mds));
	CHECK_EQ(mds.msg_lspid, lspid);
	CHECK_EQ(mds.msg_lrpid, lrpid);
	memset(&mds, 0, sizeof(mds));
	CHECK_OK(msgctl(o->msq % 32768, MSG_STAT_ANY, &mds));
	CHECK_EQ(mds.msg_lspid, lspid);
	CHECK_EQ(mds.msg_lrpid, lrpid);
	CHECK_OK(shmctl(o->shm, IPC_STAT, &sds));
	CHECK_EQ(sds.shm_cpid, cpid);
	CHECK_EQ(sds.shm_lpid, lpid);
	memset(&sds, 0, sizeof(sds));
	CHECK_OK(shmctl(o->shm % 32768, SHM_STAT, &sds));
	CHECK_EQ(sds.shm_cpid, cpid);
	CHECK_EQ(sds.shm_lpid, lpid);
	if (!conf_view_ours())
		return;
	long a = -1, b = -1;
	CHECK_OK(proc_pids("/proc/sysvipc/shm", o->shm, &a, &b));
	CHECK_EQ(a, cpid);
	CHECK_EQ(b, lpid);
	a = b = -1;
	CHECK_OK(proc_pids("/proc/sysvipc/msg", o->msq, &a, &b));
	CHECK_EQ(a, lspid);
	CHECK_EQ(b, lrpid);
}

static void attach_detach(int shm)
{
	void *p = shmat(shm, NULL, 0);
	CHECK_TRUE(p != (void *)-1);
	if (p != (void *)-1)
		CHECK_OK(shmdt(p));
}

/* G, pid 1 of the new namespace.  */
static int inner(int to_p, int from_p)
{
	struct ids o = { 0 };
	struct sembuf up = { 0, 1, 0 };
	struct msgb m = { 1, "hello" };
	char c;

	CHECK_EQ(getpid(), 1);
	o.sem = (int)CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	o.msq = (int)CHECK_OK(msgget(IPC_PRIVATE, 0600));
	o.shm = (int)CHECK_OK(shmget(IPC_PRIVATE, 4096, 0600));
	CHECK_OK(semop(o.sem, &up, 1));
	CHECK_OK(msgsnd(o.msq, &m, sizeof(m.mtext), 0));
	attach_detach(o.shm);
	/* Its own view: itself everywhere, no receiver yet.  */
	expect(&o, 1, 1, 0, 1, 1);
	if (write(to_p, &o, sizeof(o)) != sizeof(o) || read(from_p, &c, 1) != 1) {
		CONF_FAIL("the outer process went away");
		return 1;
	}
	/* P received the message and attached the segment: P has no number
	 * here.  */
	expect(&o, 1, 1, 0, 1, 0);
	return conf_failed ? 1 : 0;
}

int main(void)
{
	/* G to P (its objects), C to P (G's number), P to G (go on): one
	 * pipe each, since G and C write at the same time.  */
	int up[2], cup[2], down[2];
	struct ids o;
	struct msgb m;

	if (pipe(up) < 0 || pipe(cup) < 0 || pipe(down) < 0)
		CONF_SKIP("no pipes");
	pid_t c = fork();
	if (c < 0)
		CONF_SKIP("cannot fork");
	if (c == 0) {
		/* C: the children it makes go to a new pid namespace; the
		 * first is its pid 1.  */
		if (unshare(CLONE_NEWPID) < 0) {
			int e = errno;
			_exit(e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS ? 77 : 2);
		}
		pid_t g = fork();
		if (g < 0)
			_exit(2);
		if (g == 0)
			_exit(inner(up[1], down[0]));
		/* G as this namespace numbers it: P's number for it.  */
		if (write(cup[1], &g, sizeof(g)) != sizeof(g))
			_exit(2);
		int st;
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st))
			_exit(3);
		_exit(WEXITSTATUS(st));
	}
	close(up[1]);
	close(cup[1]);
	close(down[0]);
	pid_t g_outer;
	ssize_t n1 = read(cup[0], &g_outer, sizeof(g_outer));
	ssize_t n2 = n1 == sizeof(g_outer) ? read(up[0], &o, sizeof(o)) : 0;
	if (n1 != sizeof(g_outer) || n2 != sizeof(o)) {
		int st;
		waitpid(c, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
			CONF_SKIP("unshare(CLONE_NEWPID) not permitted here");
		CONF_FAIL("the inner process did not report (status 0x%x)", st);
		return conf_done("pid_ns");
	}
	CHECK_TRUE(g_outer > 1 && g_outer != getpid());

	/* The outer view: G's number in this namespace.  */
	expect(&o, g_outer, g_outer, 0, g_outer, g_outer);
	CHECK_EQ(msgrcv(o.msq, &m, sizeof(m.mtext), 0, 0), (long)sizeof(m.mtext));
	attach_detach(o.shm);
	expect(&o, g_outer, g_outer, getpid(), g_outer, getpid());
	char go = 1;
	CHECK_EQ(write(down[1], &go, 1), 1);

	int st;
	CHECK_EQ(waitpid(c, &st, 0), c);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("the inner process's checks failed (status 0x%x)", st);

	/* G is gone: its number stays (Linux keeps its struct pid).  */
	expect(&o, g_outer, g_outer, getpid(), g_outer, getpid());
	semctl(o.sem, 0, IPC_RMID);
	msgctl(o.msq, IPC_RMID, NULL);
	shmctl(o.shm, IPC_RMID, NULL);
	return conf_done("pid_ns");
}
