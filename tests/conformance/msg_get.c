/* SPDX-License-Identifier: MIT */
/* msgget(2): IPC_PRIVATE, IPC_CREAT, IPC_EXCL, permissions, and ENOSPC at
 * MSGMNI.  Runs as root; the permission checks fork a child that becomes
 * nobody.  */
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

static int *created;
static int ncreated;

static void cleanup(void)
{
	for (int i = 0; i < ncreated; i++)
		msgctl(created[i], IPC_RMID, NULL);
	ncreated = 0;
}

static int track(int id)
{
	if (id >= 0)
		created[ncreated++] = id;
	return id;
}

/* A key no queue uses now.  */
static key_t free_key(void)
{
	for (;;) {
		key_t k = (key_t)(0x4d000000 | (rand() & 0xffffff));
		if (msgget(k, 0) < 0 && errno == ENOENT)
			return k;
	}
}

static void drop_to_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(99);
}

/* Run `fn' in a child as nobody; its exit status.  */
static int as_nobody(int (*fn)(void *), void *arg)
{
	pid_t p = fork();
	if (p == 0) {
		drop_to_nobody();
		_exit(fn(arg));
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct perm_case {
	key_t key;
	int flg;
};

static int try_get(void *arg)
{
	struct perm_case *c = arg;
	return msgget(c->key, c->flg) >= 0 ? 0 : errno;
}

static void test_basic(void)
{
	key_t k = free_key();
	struct msqid_ds ds;

	CHECK_ERR(msgget(k, 0600), ENOENT);
	CHECK_ERR(msgget(k, IPC_EXCL | 0600), ENOENT);
	int id = track((int)CHECK_OK(msgget(k, IPC_CREAT | 0640)));
	CHECK_EQ(msgget(k, 0), id);
	CHECK_EQ(msgget(k, IPC_CREAT | 0600), id);
	CHECK_EQ(msgget(k, 0640), id);
	CHECK_ERR(msgget(k, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK_OK(msgctl(id, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_perm.__key, k);
	CHECK_EQ(ds.msg_perm.mode, 0640);
	CHECK_EQ(ds.msg_perm.uid, getuid());
	CHECK_EQ(ds.msg_perm.cuid, getuid());
	CHECK_EQ(ds.msg_qnum, 0);
	CHECK_EQ(ds.__msg_cbytes, 0);
	CHECK_EQ(ds.msg_lspid, 0);
	CHECK_EQ(ds.msg_lrpid, 0);
	CHECK_EQ(ds.msg_stime, 0);
	CHECK_EQ(ds.msg_rtime, 0);
	CHECK_TRUE(ds.msg_ctime > 0 && ds.msg_ctime <= time(NULL));

	/* IPC_PRIVATE creates every time, flags or not; only the low nine
	 * mode bits are kept.  */
	int p1 = track(msgget(IPC_PRIVATE, 0));
	int p2 = track(msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0777 | 01000));
	CHECK_TRUE(p1 >= 0 && p2 >= 0 && p1 != p2 && p1 != id);
	CHECK_OK(msgctl(p2, IPC_STAT, &ds));
	CHECK_EQ(ds.msg_perm.mode, 0777);
	CHECK_EQ(ds.msg_perm.__key, IPC_PRIVATE);

	/* After IPC_RMID the key is free again and the old id is dead.  */
	CHECK_OK(msgctl(id, IPC_RMID, NULL));
	CHECK_ERR(msgget(k, 0), ENOENT);
	CHECK_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
	int id2 = track((int)CHECK_OK(msgget(k, IPC_CREAT | 0600)));
	CHECK_TRUE(id2 != id);
}

static void test_perms(void)
{
	key_t k = free_key();
	int id = track((int)CHECK_OK(msgget(k, IPC_CREAT | 0640)));
	struct perm_case c = { k, 0 };

	/* Nobody is "other": no bits.  Asking for nothing passes.  */
	CHECK_EQ(as_nobody(try_get, &c), 0);
	c.flg = 0400;
	CHECK_EQ(as_nobody(try_get, &c), EACCES);
	c.flg = 0004;
	CHECK_EQ(as_nobody(try_get, &c), EACCES);
	c.flg = IPC_CREAT | 0600;
	CHECK_EQ(as_nobody(try_get, &c), EACCES);
	/* IPC_EXCL wins over the permission check.  */
	c.flg = IPC_CREAT | IPC_EXCL | 0600;
	CHECK_EQ(as_nobody(try_get, &c), EEXIST);

	struct msqid_ds ds;
	CHECK_OK(msgctl(id, IPC_STAT, &ds));
	ds.msg_perm.mode = 0604;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	c.flg = 0004;
	CHECK_EQ(as_nobody(try_get, &c), 0);
	c.flg = 0006;
	CHECK_EQ(as_nobody(try_get, &c), EACCES);
	/* The owner's bits apply to the owner.  */
	ds.msg_perm.uid = NOBODY;
	ds.msg_perm.mode = 0404;
	CHECK_OK(msgctl(id, IPC_SET, &ds));
	c.flg = 0200;
	CHECK_EQ(as_nobody(try_get, &c), EACCES);
	c.flg = 0400;
	CHECK_EQ(as_nobody(try_get, &c), 0);
}

static void test_enospc(void)
{
	struct msginfo info;
	key_t kept = free_key();
	int kept_id = track((int)CHECK_OK(msgget(kept, IPC_CREAT | 0600)));
	CHECK_OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&info));
	int in_use = info.msgpool;
	CHECK_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
	int mni = info.msgmni;
	if (mni <= 0 || mni > 32768) {
		CONF_FAIL("msgmni %d", mni);
		return;
	}
	int want = mni - in_use;
	int n = 0;
	for (;;) {
		int id = msgget(IPC_PRIVATE, 0600);
		if (id < 0) {
			CHECK_EQ(errno, ENOSPC);
			break;
		}
		track(id);
		if (++n > 32768)
			break;
	}
	CHECK_EQ(n, want);
	key_t k = free_key();
	CHECK_ERR(msgget(k, IPC_CREAT | 0600), ENOSPC);
	CHECK_ERR(msgget(IPC_PRIVATE, 0600), ENOSPC);
	/* An existing key is still found.  */
	CHECK_EQ(msgget(kept, IPC_CREAT | 0600), kept_id);
	CHECK_OK(msgctl(created[ncreated - 1], IPC_RMID, NULL));
	ncreated--;
	int id = track((int)CHECK_OK(msgget(k, IPC_CREAT | 0600)));
	CHECK_EQ(msgget(k, 0), id);
	CHECK_OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&info));
	CHECK_EQ(info.msgpool, mni);
}

int main(void)
{
	if (geteuid() != 0)
		CONF_SKIP("needs root");
	created = calloc(32768 + 16, sizeof(int));
	if (!created)
		return 1;
	srand((unsigned int)getpid() ^ (unsigned int)time(NULL));
	int probe = msgget(IPC_PRIVATE, 0600);
	if (probe < 0 && (errno == ENOSYS || errno == EPERM))
		CONF_SKIP("no System V message queues");
	if (probe >= 0)
		msgctl(probe, IPC_RMID, NULL);

	test_basic();
	cleanup();
	test_perms();
	cleanup();
	test_enospc();
	cleanup();
	return conf_done("msg_get");
}
