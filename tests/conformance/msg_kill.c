/* SPDX-License-Identifier: MIT */
/* Blocked callers killed with SIGKILL leave the queue as it was: 40
 * receivers are killed, then messages are sent and every one of them is
 * still there to be received; 40 senders blocked on a full queue are
 * killed and none of their messages appears.  */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_wait.h"

#define NCHILD 40
#define NMSG 100

struct mb {
	long mtype;
	char mtext[64];
};

static void kill_all(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++) {
		int st;
		if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i])
			CHECK_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
}

static void test_receivers(void)
{
	int q = (int)CHECK_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	pid_t pids[NCHILD];

	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct mb b;
			/* Various kinds of receivers: any, a type, at most a
			 * type, all but a type.  */
			long type = i % 4 == 0 ? 0 : i % 4 == 1 ? 1 + i % 5 : i % 4 == 2 ? -3 : 2;
			int flg = i % 4 == 3 ? MSG_EXCEPT : 0;
			_exit(msgrcv(q, &b, sizeof(b.mtext), type, flg) < 0 ? 1 : 2);
		}
	}
	for (int i = 0; i < NCHILD; i++)
		conf_wait_blocked(pids[i], SYS_msgrcv);
	conf_msleep(20);
	kill_all(pids, NCHILD);

	struct mb b;
	for (int i = 0; i < NMSG; i++) {
		b.mtype = 1 + i % 7;
		memcpy(b.mtext, &i, sizeof(i));
		CHECK_OK(msgsnd(q, &b, sizeof(i), IPC_NOWAIT));
	}
	struct msqid_ds ds;
	CHECK_OK(msgctl(q, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, NMSG);
	CHECK_EQ(ds.__msg_cbytes, NMSG * sizeof(int));
	CHECK_EQ(ds.msg_lrpid, 0);
	int n = 0;
	for (;;) {
		ssize_t r = msgrcv(q, &b, sizeof(b.mtext), 0, IPC_NOWAIT);
		if (r < 0) {
			CHECK_EQ(errno, ENOMSG);
			break;
		}
		int seq;
		memcpy(&seq, b.mtext, sizeof(seq));
		CHECK_EQ(seq, n);
		CHECK_EQ(b.mtype, 1 + n % 7);
		n++;
	}
	CHECK_EQ(n, NMSG);
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

static void test_senders(void)
{
	int q = (int)CHECK_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	struct msqid_ds ds;
	pid_t pids[NCHILD];
	struct mb b;

	CHECK_OK(msgctl(q, IPC_STAT, &ds));
	ds.msg_qbytes = 64;
	CHECK_OK(msgctl(q, IPC_SET, &ds));
	b.mtype = 1;
	memset(b.mtext, 'f', sizeof(b.mtext));
	CHECK_OK(msgsnd(q, &b, 64, IPC_NOWAIT));
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			b.mtype = 2 + i;
			_exit(msgsnd(q, &b, 1 + (size_t)i % 64, 0) < 0 ? 1 : 2);
		}
	}
	for (int i = 0; i < NCHILD; i++)
		conf_wait_blocked(pids[i], SYS_msgsnd);
	conf_msleep(20);
	kill_all(pids, NCHILD);

	/* Room for everyone now: none of them may come in.  */
	CHECK_OK(msgctl(q, IPC_STAT, &ds));
	ds.msg_qbytes = 16384;
	CHECK_OK(msgctl(q, IPC_SET, &ds));
	CHECK_EQ(msgrcv(q, &b, sizeof(b.mtext), 0, IPC_NOWAIT), 64);
	CHECK_EQ(b.mtype, 1);
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 0, IPC_NOWAIT), ENOMSG);
	CHECK_OK(msgctl(q, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.msg_lspid, getpid());
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

int main(void)
{
	int probe = msgget(IPC_PRIVATE, 0600);
	if (probe < 0) {
		if (errno == ENOSYS || errno == EPERM)
			CONF_SKIP("no System V message queues");
		return 1;
	}
	msgctl(probe, IPC_RMID, NULL);
	test_receivers();
	test_senders();
	return conf_done("msg_kill");
}
