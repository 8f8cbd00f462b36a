/* SPDX-License-Identifier: MIT */
/* Hostile capabilities: root of a user namespace of its own, in an IPC
 * namespace that the initial user namespace owns.
 *
 * Its capabilities are full in its user namespace, and count for
 * nothing here: Linux checks CAP_IPC_OWNER and CAP_SYS_ADMIN with
 * ns_capable() in the user namespace that owns the IPC namespace, and
 * CAP_SYS_RESOURCE (msg_qbytes past msgmnb), CAP_IPC_LOCK (SHM_HUGETLB)
 * with capable(), in the initial one.  So, natively and under ipcnsd:
 *
 *  - shmat and IPC_RMID of a 0600 segment of (host) root: EACCES, EPERM;
 *  - msgctl(IPC_SET) raising msg_qbytes of its own queue to 1 GiB: EPERM;
 *  - shmget(SHM_HUGETLB): EPERM (where root outside may make one).
 *
 * Runner contract: see shm_common.h.  */
#include <sys/msg.h>

#include "shm_common.h"

static int seg;
static bool huge_ok;

static void in_userns(void *arg)
{
	(void)arg;
	/* Unsharing keeps the host ids: become the namespace's root, host
	 * uid 100000, which owns nothing here.  */
	CHECK_OK(setresgid(0, 0, 0));
	CHECK_OK(setresuid(0, 0, 0));
	CHECK_EQ(getuid(), 0);
	CHECK_ERR(shm_at(seg, NULL, 0), EACCES);
	CHECK_ERR(shm_at(seg, NULL, SHM_RDONLY), EACCES);
	CHECK_ERR(shm_ctl(seg, IPC_RMID, NULL), EPERM);

	int q = (int)CHECK_OK(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	struct msqid_ds ds;
	CHECK_OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
	ds.msg_qbytes = 1UL << 30;
	CHECK_ERR(syscall(SYS_msgctl, q, IPC_SET, &ds), EPERM);
	CHECK_OK(syscall(SYS_msgctl, q, IPC_RMID, NULL));

	if (huge_ok)
		CHECK_ERR(shm_get(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600), EPERM);
}

int main(void)
{
	conf_start();
	seg = (int)CHECK_OK(shm_get(IPC_PRIVATE, 8192, IPC_CREAT | 0600));
	long h = shm_get(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600);
	huge_ok = h >= 0;
	if (huge_ok)
		shm_ctl((int)h, IPC_RMID, NULL);
	long grp = conf_read_long("/proc/sys/vm/hugetlb_shm_group");
	if (grp == 100000)
		huge_ok = false;

	/* Root of the new namespace is host uid/gid 100000.  */
	bool mapped = conf_run_in_userns(in_userns, NULL, "0 100000 1", "0 100000 1", true);
	CHECK_OK(shm_ctl(seg, IPC_RMID, NULL));
	if (!mapped)
		CONF_SKIP("no user namespace could be made here");
	return conf_done("hostile_userns");
}
