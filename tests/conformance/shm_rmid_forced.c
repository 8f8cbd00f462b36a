/* SPDX-License-Identifier: MIT */
/* kernel.shm_rmid_forced = 1: a segment is destroyed as soon as it has no
 * attachment left and either its last detach happens, or its creator has
 * exited (at the creator's exit, or when the sysctl is set for segments
 * orphaned before); a segment whose creator lives and that was never
 * attached stays.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace; exit 0
 * pass, 1 fail, 77 skip).  Runs only where the calls obey the
 * kernel.shm_rmid_forced the program writes: natively, and under ipcnsd
 * where its view serves /proc/sys/kernel (ipcns-run --view, containers);
 * elsewhere it reports a skip.  */
#include "shm_common.h"

static bool gone(int id)
{
	struct shmid_ds ds;
	return shm_ctl(id, IPC_STAT, &ds) < 0 && errno == EINVAL;
}

static void create_in_child(void *arg)
{
	int attach = *(int *)arg;
	long id = CHECK_OK(shm_get(IPC_PRIVATE, 4096, 0600));
	conf_sh->val[0] = id;
	if (attach && id >= 0)
		ATTACH(id, NULL, 0);
}

static void test_off(void)
{
	conf_shared();
	/* Off: orphans stay; a detach to zero destroys nothing.  */
	SYSCTL("shm_rmid_forced", "0");
	int zero = 0;
	conf_run_as(NULL, create_in_child, &zero);
	int orphan = (int)conf_sh->val[0];
	CHECK_TRUE(!gone(orphan));
	int mine = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4096, 0600));
	char *p = ATTACH(mine, NULL, 0);
	CHECK_OK(shm_dt(p));
	CHECK_TRUE(!gone(mine));

	/* Setting it destroys the orphan (creator gone, not attached), not
	 * ours (creator alive).  */
	SYSCTL("shm_rmid_forced", "1");
	CHECK_TRUE(gone(orphan));
	CHECK_TRUE(!gone(mine));
	CHECK_OK(shm_ctl(mine, IPC_RMID, NULL));
}

static void test_on(void)
{
	struct shm_info si;
	SYSCTL("shm_rmid_forced", "1");
	/* Our own segment, never attached: stays.  */
	int a = (int)CHECK_OK(shm_get(0x5e6d6001, 4096, IPC_CREAT | 0600));
	CHECK_TRUE(!gone(a));
	/* Attached then detached: destroyed at the detach, creator alive.  */
	char *p = ATTACH(a, NULL, 0);
	char *q = ATTACH(a, NULL, 0);
	CHECK_OK(shm_dt(p));
	CHECK_TRUE(!gone(a));
	CHECK_OK(shm_dt(q));
	CHECK_TRUE(gone(a));
	CHECK_ERR(shm_get(0x5e6d6001, 0, 0), ENOENT);

	/* A shmat that fails after the lookup (here: the address overlaps
	 * a mapping) counts as an attach and a detach: the segment, never
	 * attached, is destroyed.  One that fails before (EINVAL for an
	 * unaligned address) does not touch it.  */
	int f = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * 4096, 0600));
	char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_ERR(shm_at(f, m + 1, 0), EINVAL);
	CHECK_TRUE(!gone(f));
	CHECK_ERR(shm_at(f, m, 0), EINVAL);
	CHECK_TRUE(gone(f));
	munmap(m, 4096);

	/* Created by a child that exits without attaching: destroyed at
	 * its exit.  */
	int zero = 0, one = 1;
	conf_run_as(NULL, create_in_child, &zero);
	CHECK_TRUE(gone((int)conf_sh->val[0]));
	/* Created and attached by a child that exits: its exit detaches
	 * and destroys.  */
	conf_run_as(NULL, create_in_child, &one);
	CHECK_TRUE(gone((int)conf_sh->val[0]));
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.used_ids, 0);

	SYSCTL("shm_rmid_forced", "0");
}

static void attach_and_report(void *arg)
{
	int id = *(int *)arg;
	char *p = ATTACH(id, NULL, 0);
	(void)p;
}

/* A child creates a segment, we attach it, the child exits: the segment
 * is attached, so it stays; our detach then destroys it.  Another child
 * attaching ours and exiting only drops its own attach.  */
static void test_attached_orphan(void)
{
	int p2c[2], c2p[2];
	SYSCTL("shm_rmid_forced", "1");
	if (pipe(p2c) < 0 || pipe(c2p) < 0) {
		CONF_FAIL("pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p2c[1]);
		int cid = (int)shm_get(IPC_PRIVATE, 4096, 0600);
		char c;
		if (write(c2p[1], &cid, sizeof(cid)) != sizeof(cid))
			_exit(2);
		while (read(p2c[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	int cid = -1;
	CHECK_EQ(read(c2p[0], &cid, sizeof(cid)), sizeof(cid));
	char *q = ATTACH(cid, NULL, 0);
	close(p2c[1]);
	waitpid(pid, NULL, 0);
	CHECK_TRUE(!gone(cid));
	CHECK_EQ(nattch_of(cid), 1);
	CHECK_OK(shm_dt(q));
	CHECK_TRUE(gone(cid));
	close(p2c[0]);
	close(c2p[0]);
	close(c2p[1]);

	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4096, 0600));
	char *p = ATTACH(id, NULL, 0);
	conf_run_as(NULL, attach_and_report, &id);
	/* The child's exit dropped its attach, ours remains.  */
	CHECK_TRUE(!gone(id));
	CHECK_EQ(nattch_of(id), 1);
	CHECK_OK(shm_dt(p));
	CHECK_TRUE(gone(id));
	SYSCTL("shm_rmid_forced", "0");
}

int main(void)
{
	conf_start();
	if (!conf_kernel_limits())
		CONF_SKIP("kernel.shm_rmid_forced of this kernel IPC namespace is not what the calls obey "
			  "(under ipcnsd without its view, or /proc/sys is read-only)");
	test_off();
	test_on();
	test_attached_orphan();
	return conf_done("shm_rmid_forced");
}
