/* SPDX-License-Identifier: MIT */
/* The errno of every argument error of msgget, msgsnd, msgrcv and msgctl,
 * as a table: call, queue, pointer, size, type, flags, expected errno
 * (0: the call must succeed).  The table runs in a child that is nobody,
 * on queues root prepared: one it may use, one it may not touch, one that
 * is full, one holding a single message, and ids that are dead.  */
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"

#define NOBODY 65534
#define MSGMAX_PLUS 1000000000UL
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum op { GET, SND, RCV, CTL };
enum q { Q_OPEN, Q_CLOSED, Q_FULL, Q_ONE, Q_FAULT, Q_DEAD, Q_NEG, Q_IDX_CLOSED, Q_IDX_FREE, Q_ZERO };
enum ptr { P_OK, P_BAD, P_NULL, P_HALF, P_MTYPE0, P_MTYPENEG };

struct row {
	int line;
	enum op op;
	enum q q;     /* GET: which queue's key, Q_DEAD = an unused key */
	enum ptr ptr;
	size_t size;  /* SND/RCV size; CTL: the command */
	long type;    /* RCV msgtyp */
	int flg;
	int err;
};

#define R(...) { __LINE__, __VA_ARGS__ }
static const struct row table[] = {
	/* msgget.  */
	R(GET, Q_DEAD, P_OK, 0, 0, 0600, ENOENT),
	R(GET, Q_OPEN, P_OK, 0, 0, IPC_CREAT | IPC_EXCL | 0600, EEXIST),
	R(GET, Q_OPEN, P_OK, 0, 0, 0666, 0),
	R(GET, Q_CLOSED, P_OK, 0, 0, 0400, EACCES),
	R(GET, Q_CLOSED, P_OK, 0, 0, 0, 0),

	/* msgsnd: mtype is read first, then the arguments are checked, then
	 * mtext is copied in, then the queue is looked up.  */
	R(SND, Q_NEG, P_OK, 8, 0, 0, EINVAL),
	R(SND, Q_OPEN, P_OK, MSGMAX_PLUS, 0, 0, EINVAL),
	R(SND, Q_OPEN, P_OK, (size_t)-1, 0, 0, EINVAL),
	R(SND, Q_OPEN, P_OK, (size_t)1 << 63, 0, 0, EINVAL),
	R(SND, Q_OPEN, P_MTYPE0, 8, 0, 0, EINVAL),
	R(SND, Q_OPEN, P_MTYPENEG, 8, 0, 0, EINVAL),
	R(SND, Q_NEG, P_BAD, MSGMAX_PLUS, 0, 0, EFAULT),
	R(SND, Q_OPEN, P_NULL, 8, 0, 0, EFAULT),
	R(SND, Q_OPEN, P_BAD, 8, 0, 0, EFAULT),
	R(SND, Q_DEAD, P_HALF, 16, 0, 0, EFAULT),
	R(SND, Q_OPEN, P_HALF, 16, 0, IPC_NOWAIT, EFAULT),
	R(SND, Q_DEAD, P_OK, 8, 0, 0, EINVAL),
	R(SND, Q_DEAD, P_MTYPE0, 8, 0, 0, EINVAL),
	R(SND, Q_CLOSED, P_OK, 8, 0, IPC_NOWAIT, EACCES),
	R(SND, Q_FULL, P_OK, 1, 0, IPC_NOWAIT, EAGAIN),
	R(SND, Q_FULL, P_OK, 8, 0, IPC_NOWAIT, EAGAIN),
	R(SND, Q_ZERO, P_OK, 0, 0, IPC_NOWAIT, EAGAIN),
	/* An empty mtext is never read.  */
	R(SND, Q_FAULT, P_HALF, 0, 0, IPC_NOWAIT, 0),

	/* msgrcv.  */
	R(RCV, Q_NEG, P_OK, 8, 0, IPC_NOWAIT, EINVAL),
	R(RCV, Q_OPEN, P_OK, (size_t)-1, 0, IPC_NOWAIT, EINVAL),
	R(RCV, Q_DEAD, P_OK, 8, 0, IPC_NOWAIT, EINVAL),
	R(RCV, Q_DEAD, P_BAD, 8, 0, IPC_NOWAIT, EINVAL),
	R(RCV, Q_CLOSED, P_OK, 8, 0, IPC_NOWAIT, EACCES),
	R(RCV, Q_OPEN, P_OK, 8, 0, IPC_NOWAIT, ENOMSG),
	R(RCV, Q_OPEN, P_OK, 8, -5, IPC_NOWAIT | MSG_EXCEPT, ENOMSG),
	R(RCV, Q_ONE, P_OK, 4, 0, IPC_NOWAIT, E2BIG),
	R(RCV, Q_ONE, P_OK, 4, 7, IPC_NOWAIT, E2BIG),
	R(RCV, Q_ONE, P_OK, 4, -7, IPC_NOWAIT, E2BIG),
	R(RCV, Q_ONE, P_OK, 64, 8, IPC_NOWAIT, ENOMSG),
	R(RCV, Q_ONE, P_OK, 64, -6, IPC_NOWAIT, ENOMSG),
	R(RCV, Q_ONE, P_OK, 64, 7, IPC_NOWAIT | MSG_EXCEPT, ENOMSG),
	/* MSG_COPY: IPC_NOWAIT needed, MSG_EXCEPT refused, the buffer is
	 * loaded before the queue is looked up, E2BIG before copy_msg's
	 * EINVAL.  */
	R(RCV, Q_ONE, P_OK, 64, 0, MSG_COPY, EINVAL),
	R(RCV, Q_ONE, P_OK, 64, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT, EINVAL),
	R(RCV, Q_DEAD, P_OK, 64, 0, MSG_COPY, EINVAL),
	R(RCV, Q_DEAD, P_BAD, 64, 0, MSG_COPY | IPC_NOWAIT, EFAULT),
	R(RCV, Q_DEAD, P_OK, 64, 0, MSG_COPY | IPC_NOWAIT, EINVAL),
	R(RCV, Q_ONE, P_OK, 64, 1, MSG_COPY | IPC_NOWAIT, ENOMSG),
	R(RCV, Q_ONE, P_OK, 64, -1, MSG_COPY | IPC_NOWAIT, ENOMSG),
	R(RCV, Q_ONE, P_OK, 4, 0, MSG_COPY | IPC_NOWAIT, E2BIG),
	R(RCV, Q_ONE, P_OK, 4, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR, EINVAL),
	R(RCV, Q_ONE, P_OK, 64, 0, MSG_COPY | IPC_NOWAIT, 0),
	R(RCV, Q_CLOSED, P_OK, 64, 0, MSG_COPY | IPC_NOWAIT, EACCES),
	/* A bad buffer for a message that is there (Linux loses it then;
	 * ipcnsd keeps it, so the queue is not looked at afterwards).  */
	R(RCV, Q_FAULT, P_BAD, 64, 0, IPC_NOWAIT, EFAULT),

	/* msgctl.  */
	R(CTL, Q_NEG, P_OK, IPC_STAT, 0, 0, EINVAL),
	R(CTL, Q_NEG, P_OK, IPC_INFO, 0, 0, EINVAL),
	R(CTL, Q_OPEN, P_OK, (size_t)-1, 0, 0, EINVAL),
	R(CTL, Q_OPEN, P_OK, 99, 0, 0, EINVAL),
	R(CTL, Q_OPEN, P_OK, IPC_STAT | 0x100, 0, 0, EINVAL),
	R(CTL, Q_OPEN, P_OK, IPC_SET | 0x100, 0, 0, EINVAL),
	R(CTL, Q_OPEN, P_OK, IPC_RMID | 0x100, 0, 0, EINVAL),
	R(CTL, Q_DEAD, P_OK, IPC_STAT, 0, 0, EINVAL),
	R(CTL, Q_DEAD, P_OK, IPC_RMID, 0, 0, EINVAL),
	R(CTL, Q_DEAD, P_OK, IPC_SET, 0, 0, EINVAL),
	R(CTL, Q_DEAD, P_BAD, IPC_SET, 0, 0, EFAULT),
	R(CTL, Q_DEAD, P_BAD, IPC_STAT, 0, 0, EINVAL),
	R(CTL, Q_CLOSED, P_OK, IPC_STAT, 0, 0, EACCES),
	R(CTL, Q_CLOSED, P_BAD, IPC_STAT, 0, 0, EACCES),
	R(CTL, Q_OPEN, P_BAD, IPC_STAT, 0, 0, EFAULT),
	R(CTL, Q_OPEN, P_NULL, IPC_STAT, 0, 0, EFAULT),
	R(CTL, Q_OPEN, P_OK, IPC_STAT, 0, 0, 0),
	R(CTL, Q_OPEN, P_OK, IPC_SET, 0, 0, EPERM),
	R(CTL, Q_OPEN, P_OK, IPC_RMID, 0, 0, EPERM),
	R(CTL, Q_OPEN, P_BAD, IPC_SET, 0, 0, EFAULT),
	R(CTL, Q_ZERO, P_OK, IPC_INFO, 0, 0, 0),
	R(CTL, Q_ZERO, P_BAD, IPC_INFO, 0, 0, EFAULT),
	R(CTL, Q_ZERO, P_BAD, MSG_INFO, 0, 0, EFAULT),
	R(CTL, Q_IDX_FREE, P_OK, MSG_STAT, 0, 0, EINVAL),
	R(CTL, Q_IDX_FREE, P_OK, MSG_STAT_ANY, 0, 0, EINVAL),
	R(CTL, Q_IDX_CLOSED, P_OK, MSG_STAT, 0, 0, EACCES),
	R(CTL, Q_IDX_CLOSED, P_OK, MSG_STAT_ANY, 0, 0, 0),
	R(CTL, Q_IDX_CLOSED, P_BAD, MSG_STAT_ANY, 0, 0, EFAULT),
};

struct fixture {
	int id[Q_ZERO + 1];
	key_t key[Q_ZERO + 1];
	char *bad, *half;
	/* Large enough for a struct msqid_ds.  */
	struct {
		long mtype;
		char mtext[256];
	} buf, mtype0, mtypeneg;
};

static struct fixture fx;

static key_t free_key(void)
{
	for (;;) {
		key_t k = (key_t)(0x4e000000 | (rand() & 0xffffff));
		if (msgget(k, 0) < 0 && errno == ENOENT)
			return k;
	}
}

static void *ptr(enum ptr p)
{
	switch (p) {
	case P_OK:
		return &fx.buf;
	case P_BAD:
		return fx.bad;
	case P_NULL:
		return NULL;
	case P_HALF:
		return fx.half;
	case P_MTYPE0:
		return &fx.mtype0;
	case P_MTYPENEG:
		return &fx.mtypeneg;
	}
	return NULL;
}

static long run(const struct row *r)
{
	void *p = ptr(r->ptr);
	int id = fx.id[r->q];

	switch (r->op) {
	case GET:
		return msgget(fx.key[r->q], r->flg);
	case SND:
		if (r->ptr == P_OK)
			fx.buf.mtype = 1;
		return msgsnd(id, p, r->size, r->flg);
	case RCV:
		return msgrcv(id, p, r->size, r->type, r->flg);
	case CTL:
		return msgctl(id, (int)r->size, p);
	}
	return 0;
}

static int run_table(void)
{
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		const struct row *r = &table[i];
		errno = 0;
		long ret = run(r);
		int e = ret < 0 ? errno : 0;
		conf_checks++;
		if (r->err == 0 && ret < 0)
			CONF_FAIL("row at line %d: failed with errno %d (%s)", r->line, e, strerror(e));
		else if (r->err != 0 && (ret != -1 || e != r->err))
			CONF_FAIL("row at line %d: = %ld errno %d (%s), want errno %d (%s)", r->line, ret, e,
				  strerror(e), r->err, strerror(r->err));
	}
	return conf_failed ? 1 : 0;
}

static int mkq(enum q q, int mode)
{
	fx.key[q] = free_key();
	fx.id[q] = msgget(fx.key[q], IPC_CREAT | IPC_EXCL | mode);
	if (fx.id[q] < 0) {
		if (errno == ENOSYS || errno == EPERM)
			CONF_SKIP("no System V message queues");
		CONF_FAIL("msgget: %s", strerror(errno));
		exit(1);
	}
	return fx.id[q];
}

static void cleanup(void)
{
	static const enum q owned[] = { Q_OPEN, Q_CLOSED, Q_FULL, Q_ONE, Q_FAULT, Q_ZERO };
	for (size_t i = 0; i < ARRAY_LEN(owned); i++)
		msgctl(fx.id[owned[i]], IPC_RMID, NULL);
}

int main(void)
{
	if (geteuid() != 0)
		CONF_SKIP("needs root");
	srand((unsigned int)getpid());

	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return 1;
	/* [rw page][PROT_NONE page][PROT_NONE page]: `half' has its mtype
	 * readable and its mtext not.  */
	mprotect(map + page, (size_t)page * 2, PROT_NONE);
	fx.bad = map + page + page;
	fx.half = map + page - sizeof(long);
	*(long *)fx.half = 1;
	fx.mtype0.mtype = 0;
	fx.mtypeneg.mtype = -1;

	mkq(Q_OPEN, 0666);
	mkq(Q_CLOSED, 0600);
	mkq(Q_FULL, 0666);
	mkq(Q_ONE, 0666);
	mkq(Q_FAULT, 0666);
	mkq(Q_ZERO, 0666);
	fx.key[Q_DEAD] = free_key();
	fx.id[Q_DEAD] = msgget(fx.key[Q_DEAD], IPC_CREAT | 0600);
	msgctl(fx.id[Q_DEAD], IPC_RMID, NULL);
	fx.id[Q_NEG] = -1;
	fx.id[Q_IDX_CLOSED] = fx.id[Q_CLOSED] % 32768;

	struct msginfo info;
	int maxidx = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
	fx.id[Q_IDX_FREE] = maxidx + 1;
	if (maxidx + 1 >= 32768)
		CONF_SKIP("no free index");

	/* Q_FULL: 16 bytes of room, full.  Q_ZERO: room for nothing.  */
	struct msqid_ds ds;
	msgctl(fx.id[Q_FULL], IPC_STAT, &ds);
	ds.msg_qbytes = 16;
	CHECK_OK(msgctl(fx.id[Q_FULL], IPC_SET, &ds));
	fx.buf.mtype = 3;
	CHECK_OK(msgsnd(fx.id[Q_FULL], &fx.buf, 16, 0));
	msgctl(fx.id[Q_ZERO], IPC_STAT, &ds);
	ds.msg_qbytes = 0;
	CHECK_OK(msgctl(fx.id[Q_ZERO], IPC_SET, &ds));
	fx.buf.mtype = 7;
	CHECK_OK(msgsnd(fx.id[Q_ONE], &fx.buf, 16, 0));
	CHECK_OK(msgsnd(fx.id[Q_FAULT], &fx.buf, 16, 0));

	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(99);
		_exit(run_table() ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	conf_checks += (int)ARRAY_LEN(table);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("the table failed (status 0x%x); see above", st);
	/* The table's one successful send went to Q_FAULT, nothing else.  */
	CHECK_OK(msgctl(fx.id[Q_OPEN], IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_OK(msgctl(fx.id[Q_ONE], IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 1);
	CHECK_OK(msgctl(fx.id[Q_FULL], IPC_STAT, &ds));
	CHECK_EQ(ds.msg_qnum, 1);
	cleanup();
	return conf_done("msg_errno");
}
