/* SPDX-License-Identifier: MIT */
/* Limits: kernel.shmmni (ENOSPC when that many segments exist, 4096 by
 * default, which is hit here with the defaults), kernel.shmall (ENOSPC
 * when the pages of all segments would exceed it), kernel.shmmax (EINVAL
 * for a larger new segment, an existing larger one is still found), the
 * page count overflow (ENOSPC), and IPC_INFO reporting them.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  The parts that set
 * sysctls run only when the calls obey our kernel namespace's sysctls.  */
#include "shm_common.h"

static int ids[4097];

/* The default shmmni, 4096 segments, reached with one-byte segments.
 * IPC_RMID while attached keeps a segment counted until its last
 * detach.  */
static void test_default_shmmni(void)
{
	struct shm_info si;
	int n = 0, bad = 0;
	for (; n < (int)DEF_SHMMNI; n++) {
		long r = shm_get(IPC_PRIVATE, 1, 0600);
		if (r < 0) {
			if (!bad++)
				CONF_FAIL("segment %d: shmget: %s", n, strerror(errno));
			break;
		}
		ids[n] = (int)r;
	}
	CHECK_EQ(n, DEF_SHMMNI);
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_ERR(shm_get(0x5e6d5001, 1, IPC_CREAT | 0600), ENOSPC);
	/* An existing key is still found when full.  */
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), DEF_SHMMNI - 1);
	CHECK_EQ(si.used_ids, DEF_SHMMNI);
	CHECK_EQ(si.shm_tot, DEF_SHMMNI);
	/* The ENOSPC did not consume an id.  */
	char *p = ATTACH(ids[0], NULL, 0);
	CHECK_OK(shm_ctl(ids[0], IPC_RMID, NULL));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_OK(shm_dt(p));
	int id = (int)CHECK_OK(shm_get(0x5e6d5001, 1, IPC_CREAT | 0600));
	/* The cyclic allocation goes on after the last index handed out:
	 * 4095 in use, the window is [0, 6142).  */
	CHECK_EQ(id, 4096);
	CHECK_EQ(shm_get(0x5e6d5001, 1, 0), id);
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	for (int i = 1; i < n; i++)
		if (shm_ctl(ids[i], IPC_RMID, NULL) < 0 && !bad++)
			CONF_FAIL("IPC_RMID of %d: %s", ids[i], strerror(errno));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
	CHECK_EQ(si.used_ids, 0);
}

/* SHMMAX by default: the size of a new segment is at most
 * ULONG_MAX - 2^24.  */
static void test_default_shmmax(void)
{
	CHECK_ERR(shm_get(IPC_PRIVATE, DEF_SHMMAX + 1, 0600 | SHM_NORESERVE), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, ~0UL, 0600 | SHM_NORESERVE), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, 0, 0600), EINVAL);
}

static void test_shmmni(void)
{
	struct shminfo info;
	SYSCTL("shmmni", "3");
	CHECK_OK(shm_ctl(0, IPC_INFO, &info));
	CHECK_EQ(info.shmmni, 3);
	CHECK_EQ(info.shmseg, 3);
	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int b = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int c = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	/* Lowered below what is in use: nothing is removed, nothing new.  */
	SYSCTL("shmmni", "1");
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_OK(shm_ctl(c, IPC_RMID, NULL));
	a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	SYSCTL("shmmni", "0");
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	SYSCTL("shmmni", "4096");
}

static void test_shmall(void)
{
	struct shminfo info;
	struct shm_info si;
	SYSCTL("shmall", "4");
	CHECK_OK(shm_ctl(0, IPC_INFO, &info));
	CHECK_EQ(info.shmall, 4);
	/* Pages: a segment of one byte takes one.  */
	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int b = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg + 1, 0600));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_ERR(shm_get(IPC_PRIVATE, 5 * pg, 0600), ENOSPC);
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.shm_tot, 4);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	int c = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	/* Removed while attached: its pages still count.  */
	char *p = ATTACH(b, NULL, 0);
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	CHECK_OK(shm_dt(p));
	a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 3 * pg, 0600));
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(c, IPC_RMID, NULL));
	/* Shmall 0: not even one page.  */
	SYSCTL("shmall", "0");
	CHECK_ERR(shm_get(IPC_PRIVATE, 1, 0600), ENOSPC);
	char buf[32];
	snprintf(buf, sizeof(buf), "%lu", DEF_SHMALL);
	SYSCTL("shmall", buf);
}

static void test_shmmax(void)
{
	struct shminfo info;
	int big = (int)CHECK_OK(shm_get(0x5e6d5002, 4 * pg, IPC_CREAT | 0600));
	SYSCTL("shmmax", "8192");
	CHECK_OK(shm_ctl(0, IPC_INFO, &info));
	CHECK_EQ(info.shmmax, 8192);
	CHECK_ERR(shm_get(IPC_PRIVATE, 8193, 0600), EINVAL);
	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 8192, 0600));
	/* An existing segment is found whatever its size.  */
	CHECK_EQ(shm_get(0x5e6d5002, 4 * pg, 0), big);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(big, IPC_RMID, NULL));
	/* With shmmax at ULONG_MAX, a size whose page count overflows is
	 * ENOSPC (numpages << PAGE_SHIFT < size).  */
	SYSCTL("shmmax", "18446744073709551615");
	CHECK_ERR(shm_get(IPC_PRIVATE, ~0UL, 0600 | SHM_NORESERVE), ENOSPC);
	CHECK_ERR(shm_get(IPC_PRIVATE, ~0UL - (unsigned long)pg + 2, 0600 | SHM_NORESERVE), ENOSPC);
	/* One whole page less: the page count fits, shmall too, and shmem
	 * refuses a file that large.  */
	CHECK_ERR(shm_get(IPC_PRIVATE, ~0UL - (unsigned long)pg + 1, 0600 | SHM_NORESERVE), EINVAL);
	char buf[32];
	snprintf(buf, sizeof(buf), "%lu", DEF_SHMMAX);
	SYSCTL("shmmax", buf);
}

int main(void)
{
	conf_start();
	test_default_shmmax();
	test_default_shmmni();
	if (conf_kernel_limits()) {
		test_shmmni();
		test_shmall();
		test_shmmax();
	} else {
		printf("# skipped: the parts that set kernel.shmmni, shmall and shmmax (the calls do not "
		       "obey this kernel IPC namespace's sysctls: under ipcnsd, or /proc/sys read-only)\n");
	}
	return conf_done("shm_limits");
}
