/* SPDX-License-Identifier: MIT */
/* A producer and a consumer exchange N messages (argv[1], or
 * MSG_STREAM_COUNT, default 100000) of 13 types and 8..107 bytes through
 * one queue, so both block in turn on a full and an empty queue.  The
 * first half is received with msgtyp 0, the second half by the type each
 * message must have; either way every message must come in order, with
 * its contents intact.  Then the same in the other direction on a
 * second queue, whose consumer has been waiting all along.  */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"

#define NTYPES 13

struct mb {
	long mtype;
	char mtext[128];
};

static long type_of(long i)
{
	return 1 + i % NTYPES;
}

static size_t fill(struct mb *b, long i)
{
	size_t len = sizeof(i) + (size_t)(i % 100);
	b->mtype = type_of(i);
	memcpy(b->mtext, &i, sizeof(i));
	memset(b->mtext + sizeof(i), (int)(i & 0xff), len - sizeof(i));
	return len;
}

static int produce(int q, long n)
{
	struct mb b;
	for (long i = 0; i < n; i++) {
		size_t len = fill(&b, i);
		while (msgsnd(q, &b, len, 0) < 0) {
			if (errno != EINTR) {
				fprintf(stderr, "msgsnd %ld: %s\n", i, strerror(errno));
				return 1;
			}
		}
	}
	return 0;
}

/* 0 when all n came in order and intact.  */
static int consume(int q, long n)
{
	struct mb b, want;
	for (long i = 0; i < n; i++) {
		long type = i < n / 2 ? 0 : type_of(i);
		ssize_t r;
		while ((r = msgrcv(q, &b, sizeof(b.mtext), type, 0)) < 0 && errno == EINTR)
			;
		size_t len = fill(&want, i);
		if (r < 0) {
			fprintf(stderr, "msgrcv %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if ((size_t)r != len || b.mtype != want.mtype || memcmp(b.mtext, want.mtext, len) != 0) {
			long seq;
			memcpy(&seq, b.mtext, sizeof(seq));
			fprintf(stderr, "message %ld: got seq %ld type %ld len %zd\n", i, seq, b.mtype, r);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = 100000;
	const char *env = getenv("MSG_STREAM_COUNT");
	if (argc > 1)
		n = atol(argv[1]);
	else if (env)
		n = atol(env);
	if (n <= 0)
		n = 1;

	int q1 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (q1 < 0) {
		if (errno == ENOSYS || errno == EPERM)
			CONF_SKIP("no System V message queues");
		return 1;
	}
	int q2 = (int)CHECK_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	pid_t prod1 = fork();
	if (prod1 == 0)
		_exit(produce(q1, n));
	pid_t cons2 = fork();
	if (cons2 == 0)
		_exit(consume(q2, n));
	int r_cons1 = consume(q1, n);
	int r_prod2 = produce(q2, n);
	int st1, st2;
	CHECK_EQ(waitpid(prod1, &st1, 0), prod1);
	CHECK_EQ(waitpid(cons2, &st2, 0), cons2);
	CHECK_EQ(r_cons1, 0);
	CHECK_EQ(r_prod2, 0);
	CHECK_TRUE(WIFEXITED(st1) && WEXITSTATUS(st1) == 0);
	CHECK_TRUE(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);

	struct msqid_ds ds;
	CHECK_OK(msgctl(q1, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.__msg_cbytes, 0);
	CHECK_EQ(ds.msg_lspid, prod1);
	CHECK_EQ(ds.msg_lrpid, getpid());
	CHECK_OK(msgctl(q2, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.msg_lspid, getpid());
	CHECK_EQ(ds.msg_lrpid, cons2);
	CHECK_OK(msgctl(q1, IPC_RMID, NULL));
	CHECK_OK(msgctl(q2, IPC_RMID, NULL));
	printf("# %ld messages each way\n", n);
	return conf_done("msg_stream");
}
