/* SPDX-License-Identifier: MIT */
/* Blocking msgsnd and msgrcv: a sender blocked on a full queue (by bytes
 * and by count) completes after a receive or a larger msg_qbytes;
 * blocked receivers get messages directly, first come first served and
 * by type, E2BIG or a cut message as their size says; EIDRM when the
 * queue goes; EACCES when IPC_SET takes their permission away; EINTR from
 * a handler installed without SA_RESTART, with nothing taken or left
 * behind by the interrupted call; msg_lrpid of a message handed to a
 * waiting thread that is not the main one.
 *
 * A child is known to be blocked when /proc/PID/syscall names the call
 * and the child sleeps; a short settle follows.  Children report through
 * their exit status: 100 + mtype % 100 for a message, else the errno.  */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
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

#define NOBODY 65534

struct mb {
	long mtype;
	char mtext[256];
};

/* Wait until `pid' sleeps inside system call `nr', then let it settle.  */
static int wait_blocked(pid_t pid, long nr)
{
	if (conf_wait_blocked(pid, nr) < 0)
		return -1;
	conf_msleep(20);
	return 0;
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

static int wait_child(pid_t p)
{
	int st;
	if (waitpid(p, &st, 0) < 0)
		return -1;
	return status_of(st);
}

/* Has `p' exited?  Its status, or -1 if it still runs.  */
static int exited(pid_t p)
{
	int st;
	if (waitpid(p, &st, WNOHANG) != p)
		return -1;
	return status_of(st);
}

static void on_signal(int sig)
{
	(void)sig;
}

/* Receiver child: msgrcv(q, size, type, flg).  `want_len' >= 0 checks the
 * returned length.  `intr': SIGUSR1 interrupts it (no SA_RESTART).  */
static pid_t spawn_rcv(int q, size_t size, long type, int flg, long want_len, int intr, int nobody)
{
	pid_t p = fork();
	if (p != 0)
		return p;
	if (intr) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = 0;
		sigaction(SIGUSR1, &sa, NULL);
	}
	if (nobody && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		       setresuid(NOBODY, NOBODY, NOBODY) < 0))
		_exit(99);
	struct mb b;
	memset(&b, 0, sizeof(b));
	ssize_t n = msgrcv(q, &b, size, type, flg);
	if (n < 0)
		_exit(errno);
	if (want_len >= 0 && n != want_len)
		_exit(98);
	_exit(100 + (int)(b.mtype % 100));
}

static pid_t spawn_snd(int q, long type, size_t size, int intr)
{
	pid_t p = fork();
	if (p != 0)
		return p;
	if (intr) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGUSR1, &sa, NULL);
	}
	struct mb b;
	memset(&b, 'S', sizeof(b));
	b.mtype = type;
	if (msgsnd(q, &b, size, 0) < 0)
		_exit(errno);
	_exit(100 + (int)(type % 100));
}

static int newq(unsigned long qbytes, int mode)
{
	int q = (int)CHECK_OK(msgget(IPC_PRIVATE, IPC_CREAT | mode));
	if (qbytes) {
		struct msqid_ds ds;
		CHECK_OK(msgctl(q, IPC_STAT, &ds));
		ds.msg_qbytes = qbytes;
		CHECK_OK(msgctl(q, IPC_SET, &ds));
	}
	return q;
}

static struct msqid_ds stat_of(int q)
{
	struct msqid_ds ds;
	memset(&ds, 0, sizeof(ds));
	CHECK_OK(msgctl(q, IPC_STAT, &ds));
	return ds;
}

static void snd(int q, long type, size_t size)
{
	struct mb b;
	memset(&b, 'P', sizeof(b));
	b.mtype = type;
	CHECK_OK(msgsnd(q, &b, size, IPC_NOWAIT));
}

static long rcv_type(int q, long type)
{
	struct mb b;
	if (msgrcv(q, &b, sizeof(b.mtext), type, IPC_NOWAIT) < 0)
		return -errno;
	return b.mtype;
}

static void test_sender_blocks(void)
{
	int q = newq(100, 0600);

	snd(q, 1, 100);
	pid_t s = spawn_snd(q, 2, 50, 0);
	wait_blocked(s, SYS_msgsnd);
	CHECK_EQ(exited(s), -1);
	CHECK_EQ(stat_of(q).msg_qnum, 1);
	CHECK_EQ(rcv_type(q, 0), 1);
	CHECK_EQ(wait_child(s), 102);
	struct msqid_ds ds = stat_of(q);
	CHECK_EQ(ds.msg_qnum, 1);
	CHECK_EQ(ds.__msg_cbytes, 50);
	CHECK_EQ(ds.msg_lspid, s);
	CHECK_EQ(ds.msg_lrpid, getpid());
	CHECK_EQ(rcv_type(q, 0), 2);

	/* By count: with msg_qbytes 2, two empty messages fill the queue.  */
	ds.msg_qbytes = 2;
	CHECK_OK(msgctl(q, IPC_SET, &ds));
	snd(q, 1, 0);
	snd(q, 1, 0);
	s = spawn_snd(q, 3, 0, 0);
	wait_blocked(s, SYS_msgsnd);
	CHECK_EQ(rcv_type(q, 0), 1);
	CHECK_EQ(wait_child(s), 103);
	CHECK_EQ(stat_of(q).msg_qnum, 2);

	/* A larger msg_qbytes lets a blocked sender in.  */
	s = spawn_snd(q, 4, 10, 0);
	wait_blocked(s, SYS_msgsnd);
	ds = stat_of(q);
	ds.msg_qbytes = 20;
	CHECK_OK(msgctl(q, IPC_SET, &ds));
	CHECK_EQ(wait_child(s), 104);
	CHECK_EQ(stat_of(q).msg_qnum, 3);
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

static void test_receivers(void)
{
	int q = newq(0, 0600);

	/* First come, first served; handed over without being queued.  */
	pid_t r1 = spawn_rcv(q, 64, 0, 0, 10, 0, 0);
	wait_blocked(r1, SYS_msgrcv);
	pid_t r2 = spawn_rcv(q, 64, 0, 0, 10, 0, 0);
	wait_blocked(r2, SYS_msgrcv);
	snd(q, 5, 10);
	CHECK_EQ(wait_child(r1), 105);
	struct msqid_ds ds = stat_of(q);
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.msg_lrpid, r1);
	CHECK_EQ(ds.msg_lspid, getpid());
	CHECK_EQ(exited(r2), -1);
	snd(q, 6, 10);
	CHECK_EQ(wait_child(r2), 106);
	CHECK_EQ(stat_of(q).msg_lrpid, r2);

	/* By type: the one that wants it gets it, whoever waited longer.  */
	r1 = spawn_rcv(q, 64, 2, 0, 3, 0, 0);
	wait_blocked(r1, SYS_msgrcv);
	r2 = spawn_rcv(q, 64, 1, 0, 3, 0, 0);
	wait_blocked(r2, SYS_msgrcv);
	pid_t r3 = spawn_rcv(q, 64, -3, 0, 3, 0, 0);
	wait_blocked(r3, SYS_msgrcv);
	pid_t r4 = spawn_rcv(q, 64, 2, MSG_EXCEPT, 3, 0, 0);
	wait_blocked(r4, SYS_msgrcv);
	snd(q, 7, 3);
	CHECK_EQ(wait_child(r4), 107);
	snd(q, 1, 3);
	CHECK_EQ(wait_child(r2), 101);
	snd(q, 3, 3);
	CHECK_EQ(wait_child(r3), 103);
	CHECK_EQ(exited(r1), -1);
	snd(q, 2, 3);
	CHECK_EQ(wait_child(r1), 102);
	CHECK_EQ(stat_of(q).msg_qnum, 0);

	/* Too small: E2BIG for that receiver, the next one gets it cut with
	 * MSG_NOERROR; alone, the message is queued.  */
	r1 = spawn_rcv(q, 4, 0, 0, -1, 0, 0);
	wait_blocked(r1, SYS_msgrcv);
	r2 = spawn_rcv(q, 4, 0, MSG_NOERROR, 4, 0, 0);
	wait_blocked(r2, SYS_msgrcv);
	snd(q, 8, 10);
	CHECK_EQ(wait_child(r1), E2BIG);
	CHECK_EQ(wait_child(r2), 108);
	CHECK_EQ(stat_of(q).msg_qnum, 0);
	r1 = spawn_rcv(q, 4, 0, 0, -1, 0, 0);
	wait_blocked(r1, SYS_msgrcv);
	snd(q, 9, 10);
	CHECK_EQ(wait_child(r1), E2BIG);
	CHECK_EQ(stat_of(q).msg_qnum, 1);
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

static void test_eidrm(void)
{
	int q = newq(10, 0600);

	pid_t r = spawn_rcv(q, 64, 3, 0, -1, 0, 0);
	wait_blocked(r, SYS_msgrcv);
	snd(q, 1, 10);
	pid_t s = spawn_snd(q, 2, 5, 0);
	wait_blocked(s, SYS_msgsnd);
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
	CHECK_EQ(wait_child(r), EIDRM);
	CHECK_EQ(wait_child(s), EIDRM);
}

static void test_eacces_after_set(void)
{
	int q = newq(0, 0666);

	pid_t r = spawn_rcv(q, 64, 0, 0, -1, 0, 1);
	wait_blocked(r, SYS_msgrcv);
	pid_t r2 = spawn_rcv(q, 64, 0, 0, 1, 0, 0);
	wait_blocked(r2, SYS_msgrcv);
	struct msqid_ds ds = stat_of(q);
	ds.msg_perm.mode = 0600;
	CHECK_OK(msgctl(q, IPC_SET, &ds));
	CHECK_EQ(wait_child(r), EACCES);
	/* Root's receiver keeps waiting and gets the next message.  */
	CHECK_EQ(exited(r2), -1);
	snd(q, 4, 1);
	CHECK_EQ(wait_child(r2), 104);
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

static void test_eintr(void)
{
	int q = newq(10, 0600);

	/* An interrupted receiver takes nothing.  */
	pid_t r = spawn_rcv(q, 64, 0, 0, -1, 1, 0);
	wait_blocked(r, SYS_msgrcv);
	CHECK_OK(kill(r, SIGUSR1));
	CHECK_EQ(wait_child(r), EINTR);
	snd(q, 1, 4);
	struct msqid_ds ds = stat_of(q);
	CHECK_EQ(ds.msg_qnum, 1);
	CHECK_EQ(ds.msg_lrpid, 0);

	/* An interrupted sender leaves nothing behind.  */
	snd(q, 1, 6);
	pid_t s = spawn_snd(q, 2, 5, 1);
	wait_blocked(s, SYS_msgsnd);
	CHECK_OK(kill(s, SIGUSR1));
	CHECK_EQ(wait_child(s), EINTR);
	CHECK_EQ(rcv_type(q, 0), 1);
	CHECK_EQ(rcv_type(q, 0), 1);
	CHECK_EQ(rcv_type(q, 0), -ENOMSG);
	ds = stat_of(q);
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.msg_lspid, getpid());
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
}

/* msg_lrpid names the receiving thread when a send hands the message to a
 * thread waiting in msgrcv (pipelined_send records the sleeper's own
 * pid), and the process when a thread takes a queued message.  */
struct rcv_thread {
	int q;
	pid_t tid;
	long ret;
};

static void *rcv_thread(void *arg)
{
	struct rcv_thread *t = arg;
	struct {
		long mtype;
		char mtext[64];
	} b;
	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	t->ret = msgrcv(t->q, &b, sizeof(b.mtext), 0, 0);
	return NULL;
}

static void test_lrpid_thread(void)
{
	int q = newq(0, 0600);
	struct rcv_thread t = { .q = q };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, rcv_thread, &t), 0);
	while (!__atomic_load_n(&t.tid, __ATOMIC_SEQ_CST))
		sched_yield();
	wait_blocked(t.tid, SYS_msgrcv);
	snd(q, 1, 5);
	pthread_join(th, NULL);
	CHECK_EQ(t.ret, 5);
	CHECK_TRUE(t.tid != getpid());
	struct msqid_ds ds = stat_of(q);
	CHECK_EQ(ds.msg_lrpid, t.tid);
	CHECK_EQ(ds.msg_lspid, getpid());

	/* Queued first: the receive records the process.  */
	snd(q, 1, 5);
	t = (struct rcv_thread){ .q = q };
	CHECK_EQ(pthread_create(&th, NULL, rcv_thread, &t), 0);
	pthread_join(th, NULL);
	CHECK_EQ(t.ret, 5);
	ds = stat_of(q);
	CHECK_EQ(ds.msg_lrpid, getpid());
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
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
	test_sender_blocks();
	test_receivers();
	test_eidrm();
	test_eacces_after_set();
	test_eintr();
	test_lrpid_thread();
	return conf_done("msg_block");
}
