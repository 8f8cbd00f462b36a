/* SPDX-License-Identifier: MIT */
/* msgrcv(2) message selection: msgtyp 0, > 0, < 0, MSG_EXCEPT, MSG_COPY by
 * position, MSG_NOERROR truncation and E2BIG, ENOMSG with IPC_NOWAIT, and
 * the queue's counters after each.  */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

struct mb {
	long mtype;
	char mtext[128];
};

static int q = -1;

static void fill(const long *types, int n)
{
	struct mb b;
	for (int i = 0; i < n; i++) {
		b.mtype = types[i];
		int len = snprintf(b.mtext, sizeof(b.mtext), "m%d", i);
		CHECK_OK(msgsnd(q, &b, (size_t)len, IPC_NOWAIT));
	}
}

/* Receive with (type, flags) and expect message `want' of type `wtype'. */
#define EXPECT(type, flg, wtype, want)                                                             \
	do {                                                                                       \
		struct mb _b;                                                                      \
		memset(&_b, 0, sizeof(_b));                                                        \
		long _n = CHECK_OK(msgrcv(q, &_b, sizeof(_b.mtext), (type), (flg) | IPC_NOWAIT));  \
		CHECK_EQ(_n, (long)strlen(want));                                                  \
		CHECK_EQ(_b.mtype, (wtype));                                                       \
		if (_n >= 0 && memcmp(_b.mtext, (want), (size_t)_n) != 0)                          \
			CONF_FAIL("got \"%.*s\", want \"%s\"", (int)_n, _b.mtext, (want));         \
	} while (0)

static long qnum(void)
{
	struct msqid_ds ds;
	if (msgctl(q, IPC_STAT, &ds) < 0)
		return -1;
	return (long)ds.msg_qnum;
}

static long cbytes(void)
{
	struct msqid_ds ds;
	if (msgctl(q, IPC_STAT, &ds) < 0)
		return -1;
	return (long)ds.__msg_cbytes;
}

static void test_types(void)
{
	static const long types[] = { 5, 3, 7, 3, 1, 9, 2, 1 };
	struct mb b;

	fill(types, 8);
	CHECK_EQ(qnum(), 8);
	CHECK_EQ(cbytes(), 16);
	/* > 0: the first of that type.  */
	EXPECT(3, 0, 3, "m1");
	EXPECT(3, 0, 3, "m3");
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 3, IPC_NOWAIT), ENOMSG);
	/* MSG_EXCEPT: the first of any other type.  */
	EXPECT(5, MSG_EXCEPT, 7, "m2");
	/* < 0: the first of the lowest type not above |msgtyp|.  */
	EXPECT(-9, 0, 1, "m4");
	EXPECT(-9, 0, 1, "m7");
	EXPECT(-9, 0, 2, "m6");
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), -4, IPC_NOWAIT), ENOMSG);
	/* MSG_EXCEPT changes nothing for 0 and negative types.  */
	EXPECT(-5, MSG_EXCEPT, 5, "m0");
	EXPECT(0, MSG_EXCEPT, 9, "m5");
	CHECK_EQ(qnum(), 0);
	CHECK_EQ(cbytes(), 0);

	/* LONG_MIN is read as LONG_MAX; LONG_MAX is a type like another.  */
	static const long big[] = { LONG_MAX, 4, LONG_MAX - 1 };
	fill(big, 3);
	EXPECT(LONG_MIN, 0, 4, "m1");
	EXPECT(LONG_MAX, 0, LONG_MAX, "m0");
	EXPECT(-LONG_MAX, 0, LONG_MAX - 1, "m2");

	/* 0: strict arrival order across types.  */
	static const long mixed[] = { 2, 1, 2, 3, 1 };
	fill(mixed, 5);
	for (int i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof(want), "m%d", i);
		EXPECT(0, 0, mixed[i], want);
	}
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 0, IPC_NOWAIT), ENOMSG);
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 1, IPC_NOWAIT | MSG_EXCEPT), ENOMSG);
}

static void test_copy(void)
{
	static const long types[] = { 4, 8, 6, 8 };
	struct msqid_ds before, after;
	struct mb b;

	fill(types, 4);
	CHECK_OK(msgctl(q, IPC_STAT, &before));
	/* By position from 0, whatever msgtyp means otherwise.  */
	EXPECT(2, MSG_COPY, 6, "m2");
	EXPECT(0, MSG_COPY, 4, "m0");
	EXPECT(3, MSG_COPY, 8, "m3");
	EXPECT(1, MSG_COPY, 8, "m1");
	EXPECT(1, MSG_COPY, 8, "m1");
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 4, MSG_COPY | IPC_NOWAIT), ENOMSG);
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), -1, MSG_COPY | IPC_NOWAIT), ENOMSG);
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 0, MSG_COPY), EINVAL);
	CHECK_ERR(msgrcv(q, &b, sizeof(b.mtext), 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT), EINVAL);
	CHECK_ERR(msgrcv(q, &b, 1, 0, MSG_COPY | IPC_NOWAIT), E2BIG);
	CHECK_ERR(msgrcv(q, &b, 1, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR), EINVAL);
	/* Nothing removed, nothing changed.  */
	CHECK_OK(msgctl(q, IPC_STAT, &after));
	CHECK_EQ(after.msg_qnum, 4);
	CHECK_EQ(after.__msg_cbytes, before.__msg_cbytes);
	CHECK_EQ(after.msg_rtime, before.msg_rtime);
	CHECK_EQ(after.msg_lrpid, before.msg_lrpid);
	for (int i = 0; i < 4; i++) {
		char want[8];
		snprintf(want, sizeof(want), "m%d", i);
		EXPECT(0, 0, types[i], want);
	}
}

static void test_sizes(void)
{
	struct mb b;

	b.mtype = 1;
	memcpy(b.mtext, "0123456789", 10);
	CHECK_OK(msgsnd(q, &b, 10, 0));
	/* Too small without MSG_NOERROR: E2BIG, the message stays.  */
	CHECK_ERR(msgrcv(q, &b, 9, 0, IPC_NOWAIT), E2BIG);
	CHECK_ERR(msgrcv(q, &b, 0, 0, IPC_NOWAIT), E2BIG);
	CHECK_EQ(qnum(), 1);
	/* MSG_NOERROR: cut to the buffer, the rest is gone.  */
	memset(b.mtext, 'x', sizeof(b.mtext));
	CHECK_EQ(msgrcv(q, &b, 4, 0, IPC_NOWAIT | MSG_NOERROR), 4);
	CHECK_TRUE(memcmp(b.mtext, "0123xxxx", 8) == 0);
	CHECK_EQ(qnum(), 0);
	CHECK_EQ(cbytes(), 0);

	/* Zero-length messages and a zero-length receive.  */
	b.mtype = 2;
	CHECK_OK(msgsnd(q, &b, 0, 0));
	CHECK_EQ(qnum(), 1);
	CHECK_EQ(msgrcv(q, &b, 0, 0, IPC_NOWAIT), 0);
	CHECK_EQ(b.mtype, 2);
	CHECK_EQ(qnum(), 0);

	/* MSGMAX itself is allowed, one more byte is not.  */
	struct msginfo info;
	CHECK_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
	size_t max = (size_t)info.msgmax;
	struct mb *big = calloc(1, sizeof(long) + max + 1);
	if (!big) {
		CONF_FAIL("calloc");
		return;
	}
	big->mtype = 3;
	memset(big->mtext, 'M', max);
	CHECK_OK(msgsnd(q, big, max, IPC_NOWAIT));
	CHECK_ERR(msgsnd(q, big, max + 1, IPC_NOWAIT), EINVAL);
	memset(big->mtext, 0, max);
	CHECK_EQ(msgrcv(q, big, max + 1, 3, IPC_NOWAIT), (long)max);
	CHECK_TRUE(big->mtext[0] == 'M' && big->mtext[max - 1] == 'M' && big->mtext[max] == 0);
	free(big);
}

int main(void)
{
	q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (q < 0) {
		if (errno == ENOSYS || errno == EPERM)
			CONF_SKIP("no System V message queues");
		CONF_FAIL("msgget: %s", strerror(errno));
		return 1;
	}
	test_types();
	test_copy();
	test_sizes();
	CHECK_OK(msgctl(q, IPC_RMID, NULL));
	return conf_done("msg_select");
}
