/* SPDX-License-Identifier: MIT */
/* msgctl(2): IPC_STAT fields (times, pids, counters), IPC_SET (owner,
 * mode, msg_qbytes and CAP_SYS_RESOURCE), IPC_RMID by owner or creator,
 * IPC_INFO, MSG_INFO, MSG_STAT and MSG_STAT_ANY, and the queue limits by
 * bytes and by message count.  Runs as root; the unprivileged cases run
 * in children that become nobody.  */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

#define NOBODY 65534

struct mb {
	long mtype;
	char mtext[64];
};

static void become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(99);
}

static int wait_child(pid_t p)
{
	int st;
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CAP_SYS_RESOURCE 24

static int has_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (int)((eff >> cap) & 1);
}

static struct msqid_ds stat_of(int id)
{
	struct msqid_ds ds;
	memset(&ds, 0, sizeof(ds));
	CHECK_OK(msgctl(id, IPC_STAT, &ds));
	return ds;
}

/* Times and pids: msgsnd sets msg_stime/msg_lspid, msgrcv msg_rtime/
 * msg_lrpid, IPC_SET msg_ctime.  The pids are the callers' process ids.  */
static void test_stat(void)
{
	int id = (int)CHECK_OK(msgget(IPC_PRIVATE, 0640));
	struct mb b = { .mtype = 1 };
	time_t t0 = time(NULL);

	struct msqid_ds ds = stat_of(id);
	CHECK_TRUE(ds.msg_ctime >= t0 - 1 && ds.msg_ctime <= time(NULL));
	CHECK_EQ(ds.msg_perm.mode, 0640);
	CHECK_EQ(ds.msg_perm.__seq, (unsigned)id / 32768 % 65536);

	pid_t sender = fork();
	if (sender == 0) {
		memcpy(b.mtext, "abcde", 5);
		_exit(msgsnd(id, &b, 5, 0) == 0 && msgsnd(id, &b, 3, 0) == 0 ? 0 : 1);
	}
	CHECK_EQ(wait_child(sender), 0);
	ds = stat_of(id);
	CHECK_EQ(ds.msg_qnum, 2);
	CHECK_EQ(ds.__msg_cbytes, 8);
	CHECK_EQ(ds.msg_lspid, sender);
	CHECK_EQ(ds.msg_lrpid, 0);
	CHECK_TRUE(ds.msg_stime >= t0 && ds.msg_stime <= time(NULL));
	CHECK_EQ(ds.msg_rtime, 0);

	pid_t receiver = fork();
	if (receiver == 0)
		_exit(msgrcv(id, &b, sizeof(b.mtext), 0, IPC_NOWAIT) == 5 ? 0 : 1);
	CHECK_EQ(wait_child(receiver), 0);
	ds = stat_of(id);
	CHECK_EQ(ds.msg_qnum, 1);
	CHECK_EQ(ds.__msg_cbytes, 3);
	CHECK_EQ(ds.msg_lspid, sender);
	CHECK_EQ(ds.msg_lrpid, receiver);
	CHECK_TRUE(ds.msg_rtime >= t0 && ds.msg_rtime <= time(NULL));

	/* A failed receive changes nothing.  */
	CHECK_ERR(msgrcv(id, &b, 1, 0, IPC_NOWAIT), E2BIG);
	CHECK_EQ(stat_of(id).msg_lrpid, receiver);
	CHECK_OK(msgsnd(id, &b, 1, 0));
	CHECK_EQ(stat_of(id).msg_lspid, getpid());
	CHECK_OK(msgctl(id, IPC_RMID, NULL));
}

struct set_case {
	int id;
	unsigned long qbytes;
	int cmd;
};

static int nobody_ctl(void *arg)
{
	struct set_case *c = arg;
	struct msqid_ds ds;
	if (msgctl(c->id, IPC_STAT, &ds) < 0)
		return 100 + errno;
	ds.msg_qbytes = c->qbytes;
	return msgctl(c->id, c->cmd, &ds) < 0 ? errno : 0;
}

static int as_nobody(int (*fn)(void *), void *arg)
{
	pid_t p = fork();
	if (p == 0) {
		become_nobody();
		_exit(fn(arg));
	}
	return wait_child(p);
}

static void test_set(void)
{
	struct msginfo info;
	CHECK_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
	unsigned long mnb = (unsigned long)info.msgmnb;
	int id = (int)CHECK_OK(msgget(IPC_PRIVATE, 0600));
	struct msqid_ds ds = stat_of(id);
	CHECK_EQ(ds.msg_qbytes, mnb);

	/* Not the owner: EPERM for IPC_SET and IPC_RMID.  */
	struct set_case c = { id, mnb, IPC_SET };
	CHECK_EQ(as_nobody(nobody_ctl, &c), 100 + EACCES);
	ds.msg_perm.mode = 0644;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	CHECK_EQ(as_nobody(nobody_ctl, &c), EPERM);
	c.cmd = IPC_RMID;
	CHECK_EQ(as_nobody(nobody_ctl, &c), EPERM);

	/* Owner by IPC_SET: nobody may set, lower and restore msg_qbytes up to
	 * msgmnb, but not raise it above without CAP_SYS_RESOURCE.  */
	ds = stat_of(id);
	time_t t0 = time(NULL);
	ds.msg_perm.uid = NOBODY;
	ds.msg_perm.gid = NOBODY;
	ds.msg_perm.mode = 01777; /* only the low nine bits are taken */
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	ds = stat_of(id);
	CHECK_EQ(ds.msg_perm.uid, NOBODY);
	CHECK_EQ(ds.msg_perm.gid, NOBODY);
	CHECK_EQ(ds.msg_perm.cuid, 0);
	CHECK_EQ(ds.msg_perm.cgid, 0);
	CHECK_EQ(ds.msg_perm.mode, 0777);
	CHECK_TRUE(ds.msg_ctime >= t0);
	c.cmd = IPC_SET;
	c.qbytes = mnb + 1;
	CHECK_EQ(as_nobody(nobody_ctl, &c), EPERM);
	/* An unsigned long that is negative as an int needs the capability
	 * too.  */
	c.qbytes = 0xffffffffUL;
	CHECK_EQ(as_nobody(nobody_ctl, &c), EPERM);
	c.qbytes = 100;
	CHECK_EQ(as_nobody(nobody_ctl, &c), 0);
	CHECK_EQ(stat_of(id).msg_qbytes, 100);
	c.qbytes = mnb;
	CHECK_EQ(as_nobody(nobody_ctl, &c), 0);
	CHECK_EQ(stat_of(id).msg_qbytes, mnb);
	/* Above msgmnb with CAP_SYS_RESOURCE, which root may lack here.  */
	unsigned long want = has_cap(CAP_SYS_RESOURCE) ? mnb * 2 : mnb;
	ds = stat_of(id);
	ds.msg_qbytes = mnb * 2;
	if (want == mnb)
		CHECK_ERR(msgctl(id, IPC_SET, &ds), EPERM);
	else
		CHECK_OK(msgctl(id, IPC_SET, &ds));
	CHECK_EQ(stat_of(id).msg_qbytes, want);
	/* Invalid ids.  */
	ds.msg_qbytes = 50;
	ds.msg_perm.uid = (uid_t)-1;
	CHECK_ERR(msgctl(id, IPC_SET, &ds), EINVAL);
	ds.msg_perm.uid = 0;
	ds.msg_perm.gid = (gid_t)-1;
	CHECK_ERR(msgctl(id, IPC_SET, &ds), EINVAL);
	/* The failed IPC_SET changed nothing, not even msg_qbytes.  */
	CHECK_EQ(stat_of(id).msg_qbytes, want);
	CHECK_EQ(stat_of(id).msg_perm.uid, NOBODY);
	/* The owner may remove it.  */
	c.cmd = IPC_RMID;
	CHECK_EQ(as_nobody(nobody_ctl, &c), 0);
	CHECK_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
}

/* The queue limit counts bytes and, as Linux does, messages: msg_qnum + 1
 * must not exceed msg_qbytes.  */
static void test_limits(void)
{
	int id = (int)CHECK_OK(msgget(IPC_PRIVATE, 0600));
	struct msqid_ds ds = stat_of(id);
	struct mb b = { .mtype = 1 };

	ds.msg_qbytes = 10;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	CHECK_OK(msgsnd(id, &b, 6, IPC_NOWAIT));
	CHECK_OK(msgsnd(id, &b, 4, IPC_NOWAIT));
	CHECK_ERR(msgsnd(id, &b, 1, IPC_NOWAIT), EAGAIN);
	/* Full by bytes, not by count: an empty message still goes in.  */
	CHECK_OK(msgsnd(id, &b, 0, IPC_NOWAIT));
	ds = stat_of(id);
	CHECK_EQ(ds.msg_qnum, 3);
	CHECK_EQ(ds.__msg_cbytes, 10);

	/* By count.  */
	ds.msg_qbytes = 4;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	CHECK_ERR(msgsnd(id, &b, 0, IPC_NOWAIT), EAGAIN);
	CHECK_OK(msgrcv(id, &b, sizeof(b.mtext), 0, IPC_NOWAIT));
	CHECK_OK(msgrcv(id, &b, sizeof(b.mtext), 0, IPC_NOWAIT));
	CHECK_EQ(stat_of(id).msg_qnum, 1);
	CHECK_OK(msgsnd(id, &b, 0, IPC_NOWAIT));
	CHECK_OK(msgsnd(id, &b, 0, IPC_NOWAIT));
	CHECK_OK(msgsnd(id, &b, 0, IPC_NOWAIT));
	CHECK_ERR(msgsnd(id, &b, 0, IPC_NOWAIT), EAGAIN);
	CHECK_EQ(stat_of(id).msg_qnum, 4);
	/* msg_qbytes 0: nothing fits.  */
	ds = stat_of(id);
	ds.msg_qbytes = 0;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	while (msgrcv(id, &b, sizeof(b.mtext), 0, IPC_NOWAIT) >= 0)
		;
	CHECK_ERR(msgsnd(id, &b, 0, IPC_NOWAIT), EAGAIN);
	CHECK_OK(msgctl(id, IPC_RMID, NULL));
}

static void test_info(void)
{
	struct msginfo info, before, after;
	memset(&info, 0x55, sizeof(info));
	long maxidx = CHECK_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
	/* Linux's compile-time constants.  */
	CHECK_EQ(info.msgssz, 16);
	CHECK_EQ(info.msgseg, 0xffff);
	CHECK_EQ(info.msgpool, 32000 * 16384 / 1024);
	CHECK_EQ(info.msgmap, 16384);
	CHECK_EQ(info.msgtql, 16384);
	CHECK_TRUE(info.msgmax > 0 && info.msgmnb > 0 && info.msgmni > 0);

	CHECK_OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&before));
	int id = (int)CHECK_OK(msgget(IPC_PRIVATE, 0600));
	int id2 = (int)CHECK_OK(msgget(IPC_PRIVATE, 0));
	struct mb b = { .mtype = 9 };
	CHECK_OK(msgsnd(id, &b, 10, 0));
	CHECK_OK(msgsnd(id, &b, 20, 0));
	CHECK_OK(msgsnd(id2, &b, 7, 0));
	maxidx = CHECK_OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&after));
	CHECK_TRUE(maxidx >= id % 32768 && maxidx >= id2 % 32768);
	CHECK_EQ(after.msgpool - before.msgpool, 2);
	CHECK_EQ(after.msgmap - before.msgmap, 3);
	CHECK_EQ(after.msgtql - before.msgtql, 37);
	CHECK_EQ(after.msgmax, info.msgmax);
	CHECK_EQ(after.msgmnb, info.msgmnb);
	CHECK_EQ(after.msgmni, info.msgmni);
	CHECK_EQ(after.msgssz, 16);
	/* The 2nd argument is ignored.  */
	CHECK_EQ(msgctl(12345, IPC_INFO, (struct msqid_ds *)&info), maxidx);

	/* MSG_STAT and MSG_STAT_ANY take an index and return the id.  */
	int found = 0;
	for (int i = 0; i <= maxidx; i++) {
		struct msqid_ds ds;
		int r = msgctl(i, MSG_STAT_ANY, &ds);
		if (r == id) {
			found |= 1;
			CHECK_EQ(i, id % 32768);
			CHECK_EQ(ds.msg_qnum, 2);
			CHECK_EQ(ds.__msg_cbytes, 30);
		} else if (r == id2) {
			found |= 2;
			CHECK_EQ(ds.msg_qnum, 1);
		}
	}
	CHECK_EQ(found, 3);
	struct msqid_ds ds;
	CHECK_EQ(msgctl(id % 32768, MSG_STAT, &ds), id);
	CHECK_EQ(ds.msg_perm.mode, 0600);
	/* id2 has mode 0: root reads it anyway (CAP_IPC_OWNER).  */
	CHECK_EQ(msgctl(id2 % 32768, MSG_STAT, &ds), id2);

	pid_t p = fork();
	if (p == 0) {
		become_nobody();
		int ok = msgctl(id2 % 32768, MSG_STAT, &ds) == -1 && errno == EACCES &&
			 msgctl(id2 % 32768, MSG_STAT_ANY, &ds) == id2 && ds.msg_qnum == 1 &&
			 msgctl(id2, IPC_STAT, &ds) == -1 && errno == EACCES &&
			 msgctl(0, MSG_INFO, (struct msqid_ds *)&info) >= 0;
		_exit(ok ? 0 : 1);
	}
	CHECK_EQ(wait_child(p), 0);

	CHECK_OK(msgctl(id, IPC_RMID, NULL));
	CHECK_OK(msgctl(id2, IPC_RMID, NULL));
	CHECK_OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&after));
	CHECK_EQ(after.msgpool, before.msgpool);
	CHECK_EQ(after.msgmap, before.msgmap);
	CHECK_EQ(after.msgtql, before.msgtql);
	CHECK_ERR(msgctl(id % 32768, MSG_STAT, &ds), EINVAL);
}

int main(void)
{
	if (geteuid() != 0)
		CONF_SKIP("needs root");
	int probe = msgget(IPC_PRIVATE, 0600);
	if (probe < 0 && (errno == ENOSYS || errno == EPERM))
		CONF_SKIP("no System V message queues");
	if (probe >= 0)
		msgctl(probe, IPC_RMID, NULL);
	test_stat();
	test_set();
	test_limits();
	test_info();
	return conf_done("msg_ctl");
}
