/* SPDX-License-Identifier: MIT */
/* shmctl(2): IPC_STAT (every field), IPC_SET, IPC_RMID (segment kept while
 * attached, key made private, SHM_DEST, destroyed at the last detach),
 * IPC_INFO, SHM_INFO, SHM_STAT and SHM_STAT_ANY, and the errno table:
 * unknown commands, IPC_64, negative ids, EFAULT.  Permission errors
 * (EACCES, EPERM) are in shm_perm.c, SHM_LOCK in shm_lock.c.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

#define KEY 0x5e6d2001
#define BAD ((void *)8) /* an unmapped address */

static void test_stat(void)
{
	struct shmid_ds ds;
	time_t t0 = time(NULL);
	int id = (int)CHECK_OK(shm_get(KEY, 10000, IPC_CREAT | IPC_EXCL | 0640));
	time_t t1 = time(NULL);
	memset(&ds, 0xa5, sizeof(ds));
	CHECK_EQ(shm_ctl(id, IPC_STAT, &ds), 0);
	CHECK_EQ(ds.shm_perm.__key, KEY);
	CHECK_EQ(ds.shm_perm.uid, 0);
	CHECK_EQ(ds.shm_perm.gid, getegid());
	CHECK_EQ(ds.shm_perm.cuid, 0);
	CHECK_EQ(ds.shm_perm.cgid, getegid());
	CHECK_EQ(ds.shm_perm.mode, 0640);
	CHECK_EQ(ds.shm_perm.__seq, id / SEQ_MULT);
	CHECK_EQ(ds.shm_segsz, 10000);
	CHECK_EQ(ds.shm_atime, 0);
	CHECK_EQ(ds.shm_dtime, 0);
	CHECK_TIME(ds.shm_ctime, t0, t1);
	CHECK_EQ(ds.shm_cpid, getpid());
	CHECK_EQ(ds.shm_lpid, 0);
	CHECK_EQ(ds.shm_nattch, 0);
	/* Padding and unused fields are zeroed.  */
	CHECK_EQ(ds.__glibc_reserved5, 0);
	CHECK_EQ(ds.__glibc_reserved6, 0);
	CHECK_EQ(ds.shm_perm.__glibc_reserved1, 0);
	CHECK_EQ(ds.shm_perm.__glibc_reserved2, 0);

	t0 = time(NULL);
	char *a = ATTACH(id, NULL, 0);
	t1 = time(NULL);
	STAT(id, &ds);
	CHECK_TIME(ds.shm_atime, t0, t1);
	CHECK_EQ(ds.shm_dtime, 0);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_EQ(ds.shm_nattch, 1);
	t0 = time(NULL);
	CHECK_OK(shm_dt(a));
	t1 = time(NULL);
	STAT(id, &ds);
	CHECK_TIME(ds.shm_dtime, t0, t1);
	CHECK_EQ(ds.shm_nattch, 0);
	/* IPC_STAT returns 0, SHM_STAT the id.  */
	CHECK_EQ(shm_ctl(id, IPC_STAT, &ds), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void test_set(void)
{
	struct shmid_ds ds, in;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 100, 0600));
	char *a = ATTACH(id, NULL, 0);
	STAT(id, &ds);
	time_t c0 = ds.shm_ctime;
	sleep(1);

	memset(&in, 0, sizeof(in));
	in.shm_perm.uid = 1234;
	in.shm_perm.gid = 5678;
	/* Only the low 9 bits of the mode are taken: SHM_DEST, SHM_LOCKED
	 * and the rest are ignored.  */
	in.shm_perm.mode = 0xffff;
	/* Fields other than uid, gid and mode are ignored.  */
	in.shm_perm.cuid = 4321;
	in.shm_perm.__key = 77;
	in.shm_segsz = 1;
	in.shm_atime = 1;
	in.shm_nattch = 99;
	time_t t0 = time(NULL);
	CHECK_EQ(shm_ctl(id, IPC_SET, &in), 0);
	time_t t1 = time(NULL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.uid, 1234);
	CHECK_EQ(ds.shm_perm.gid, 5678);
	CHECK_EQ(ds.shm_perm.cuid, 0);
	CHECK_EQ(ds.shm_perm.cgid, getegid());
	CHECK_EQ(ds.shm_perm.mode, 0777);
	CHECK_EQ(ds.shm_perm.__key, IPC_PRIVATE);
	CHECK_EQ(ds.shm_segsz, 100);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_TIME(ds.shm_ctime, t0, t1);
	CHECK_TRUE(ds.shm_ctime > c0);

	/* (uid_t)-1 and (gid_t)-1 are invalid ids: EINVAL, nothing
	 * changes.  */
	in.shm_perm.uid = (uid_t)-1;
	in.shm_perm.gid = 1;
	in.shm_perm.mode = 0600;
	CHECK_ERR(shm_ctl(id, IPC_SET, &in), EINVAL);
	in.shm_perm.uid = 1;
	in.shm_perm.gid = (gid_t)-1;
	CHECK_ERR(shm_ctl(id, IPC_SET, &in), EINVAL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.uid, 1234);
	CHECK_EQ(ds.shm_perm.gid, 5678);
	CHECK_EQ(ds.shm_perm.mode, 0777);

	/* IPC_RMID's SHM_DEST survives an IPC_SET.  */
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	in.shm_perm.uid = 0;
	in.shm_perm.gid = 0;
	in.shm_perm.mode = 0400;
	CHECK_EQ(shm_ctl(id, IPC_SET, &in), 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.mode, 0400 | SHM_DEST);
	CHECK_OK(shm_dt(a));
}

static void test_rmid(void)
{
	struct shmid_ds ds;
	struct shm_info si;
	int id = (int)CHECK_OK(shm_get(KEY, 3 * pg, IPC_CREAT | IPC_EXCL | 0600));
	char *a = ATTACH(id, NULL, 0), *b = ATTACH(id, NULL, 0);
	if (!a || !b)
		return;
	a[0] = 'r';
	CHECK_EQ(shm_ctl(id, IPC_RMID, NULL), 0);
	/* Still usable while attached.  */
	CHECK_EQ(b[0], 'r');
	b[pg] = 's';
	CHECK_EQ(a[pg], 's');
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.__key, IPC_PRIVATE);
	CHECK_EQ(ds.shm_perm.mode, 0600 | SHM_DEST);
	CHECK_EQ(ds.shm_nattch, 2);
	CHECK_ERR(shm_get(KEY, 0, 0), ENOENT);
	/* Still counted.  */
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), id % SEQ_MULT);
	CHECK_EQ(si.used_ids, 1);
	CHECK_EQ(si.shm_tot, 3);
	/* A second IPC_RMID of a removed but attached segment works.  */
	CHECK_EQ(shm_ctl(id, IPC_RMID, NULL), 0);
	CHECK_OK(shm_dt(a));
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_OK(shm_dt(b));
	/* Gone with the last detach.  */
	CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(id, IPC_RMID, NULL), EINVAL);
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
	CHECK_EQ(si.used_ids, 0);
	CHECK_EQ(si.shm_tot, 0);

	/* Not attached: destroyed at once.  */
	id = (int)CHECK_OK(shm_get(KEY, pg, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_EQ(shm_ctl(id, IPC_RMID, NULL), 0);
	CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
	CHECK_ERR(shm_get(KEY, 0, 0), ENOENT);
	/* IPC_RMID ignores its buffer.  */
	id = (int)CHECK_OK(shm_get(KEY, pg, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_EQ(shm_ctl(id, IPC_RMID, BAD), 0);
}

static void test_info(void)
{
	struct shminfo info;
	struct shm_info si;
	memset(&info, 0xa5, sizeof(info));
	CHECK_EQ(shm_ctl(0, IPC_INFO, &info), 0);
#if defined(__i386__)
	/* A 32-bit caller's IPC_INFO cuts shmmax to INT_MAX (Linux's compat
	 * layer, copy_compat_shminfo_to_user).  */
	CHECK_EQ(info.shmmax, 0x7fffffff);
#else
	CHECK_EQ(info.shmmax, DEF_SHMMAX);
#endif
	CHECK_EQ(info.shmmin, 1);
	CHECK_EQ(info.shmmni, DEF_SHMMNI);
	CHECK_EQ(info.shmseg, DEF_SHMMNI);
	CHECK_EQ(info.shmall, DEF_SHMALL);
	CHECK_EQ(info.__glibc_reserved1, 0);
	CHECK_EQ(info.__glibc_reserved4, 0);
	/* The id argument is not looked at (but must not be negative).  */
	CHECK_EQ(shm_ctl(99999, IPC_INFO, &info), 0);

	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int b = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg + 1, 0600));
	int c = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	memset(&si, 0xa5, sizeof(si));
	int maxi = (int)shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(maxi, c % SEQ_MULT);
	CHECK_EQ(shm_ctl(0, IPC_INFO, &info), c % SEQ_MULT);
	CHECK_EQ(si.used_ids, 3);
	CHECK_EQ(si.shm_tot, 1 + 3 + 1);
	CHECK_EQ(si.shm_rss, 0);
	CHECK_EQ(si.shm_swp, 0);
	CHECK_EQ(si.swap_attempts, 0);
	CHECK_EQ(si.swap_successes, 0);
	/* Resident pages: those touched.  */
	char *p = ATTACH(b, NULL, 0);
	if (p) {
		p[0] = 1;
		p[2 * pg] = 1;
		CHECK_OK(shm_dt(p));
	}
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.shm_rss, 2);
	CHECK_OK(shm_ctl(c, IPC_RMID, NULL));
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), b % SEQ_MULT);
	CHECK_EQ(si.used_ids, 2);
	CHECK_EQ(si.shm_tot, 4);
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.shm_rss, 0);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
	CHECK_EQ(si.used_ids, 0);
	CHECK_EQ(shm_ctl(0, IPC_INFO, &info), 0);
}

static void test_shm_stat(void)
{
	struct shmid_ds ds, ds2;
	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int b = (int)CHECK_OK(shm_get(KEY, 5000, IPC_CREAT | 0444));
	int idx = b % SEQ_MULT;
	CHECK_EQ(shm_ctl(idx, SHM_STAT, &ds), b);
	STAT(b, &ds2);
	CHECK_EQ(ds.shm_perm.__key, KEY);
	CHECK_EQ(ds.shm_segsz, 5000);
	CHECK_EQ(ds.shm_perm.mode, 0444);
	CHECK_EQ(ds.shm_ctime, ds2.shm_ctime);
	CHECK_EQ(ds.shm_cpid, ds2.shm_cpid);
	CHECK_EQ(shm_ctl(idx, SHM_STAT_ANY, &ds), b);
	CHECK_EQ(ds.shm_segsz, 5000);
	/* Removed while attached: still listed, with SHM_DEST.  */
	char *p = ATTACH(b, NULL, SHM_RDONLY);
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	CHECK_EQ(shm_ctl(idx, SHM_STAT, &ds), b);
	CHECK_EQ(ds.shm_perm.mode, 0444 | SHM_DEST);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_OK(shm_dt(p));
	CHECK_ERR(shm_ctl(idx, SHM_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(idx, SHM_STAT_ANY, &ds), EINVAL);
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
}

/* The errno table.  Ids: V = a valid id, S = its index with the next
 * sequence number, N = a free index.  */
enum { ID_V = -100, ID_S, ID_N };

static const struct ctl_case {
	int id;
	int cmd;
	void *buf;
	int err;
} ctl_cases[] = {
	/* Unknown commands.  */
	{ ID_V, 4, NULL, EINVAL },
	{ ID_V, 10, NULL, EINVAL },
	{ ID_V, 16, NULL, EINVAL },
	{ ID_V, 99, NULL, EINVAL },
	{ ID_V, 0x7fffffff, NULL, EINVAL },
	/* Negative commands and ids, before anything else.  */
	{ ID_V, -1, NULL, EINVAL },
	{ ID_V, (int)0x80000000, NULL, EINVAL },
	{ -1, IPC_INFO, NULL, EINVAL },
	{ -1, SHM_INFO, NULL, EINVAL },
	{ -1, IPC_STAT, NULL, EINVAL },
	{ -1, IPC_SET, BAD, EINVAL },
	{ -1, IPC_RMID, NULL, EINVAL },
	{ (int)0x80000000, SHM_STAT, NULL, EINVAL },
	{ -1, SHM_LOCK, NULL, EINVAL },
	/* IPC_64 is not a flag on x86_64: no ipc_parse_version().  */
	{ ID_V, IPC_STAT | IPC_64_, NULL, EINVAL },
	{ ID_V, IPC_SET | IPC_64_, NULL, EINVAL },
	{ ID_V, IPC_RMID | IPC_64_, NULL, EINVAL },
	{ 0, IPC_INFO | IPC_64_, NULL, EINVAL },
	{ 0, SHM_INFO | IPC_64_, NULL, EINVAL },
	{ ID_V, SHM_LOCK | IPC_64_, NULL, EINVAL },
	/* Bad buffers.  */
	{ ID_V, IPC_STAT, BAD, EFAULT },
	{ ID_V, IPC_STAT, NULL, EFAULT },
	{ ID_V, IPC_SET, BAD, EFAULT },
	{ ID_V, IPC_SET, NULL, EFAULT },
	{ 0, IPC_INFO, BAD, EFAULT },
	{ 0, SHM_INFO, BAD, EFAULT },
	{ ID_V, SHM_STAT, BAD, EFAULT },
	{ ID_V, SHM_STAT_ANY, BAD, EFAULT },
	/* IPC_SET copies the buffer in before the lookup.  */
	{ ID_S, IPC_SET, BAD, EFAULT },
	{ ID_N, IPC_SET, BAD, EFAULT },
	/* The others look up first.  */
	{ ID_S, IPC_STAT, BAD, EINVAL },
	{ ID_N, SHM_STAT, BAD, EINVAL },
	/* Unknown ids.  */
	{ ID_S, IPC_STAT, NULL, EINVAL },
	{ ID_S, IPC_RMID, NULL, EINVAL },
	{ ID_S, SHM_LOCK, NULL, EINVAL },
	{ ID_S, SHM_UNLOCK, NULL, EINVAL },
	{ ID_N, IPC_STAT, NULL, EINVAL },
	{ ID_N, SHM_STAT_ANY, NULL, EINVAL },
	{ ID_N, IPC_RMID, NULL, EINVAL },
};

static void test_errno_table(void)
{
	struct shmid_ds ds;
	int v = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	for (size_t i = 0; i < sizeof(ctl_cases) / sizeof(ctl_cases[0]); i++) {
		const struct ctl_case *c = &ctl_cases[i];
		int id = c->id == ID_V ? (c->cmd == SHM_STAT || c->cmd == SHM_STAT_ANY ? v % SEQ_MULT : v)
			 : c->id == ID_S ? v + SEQ_MULT
			 : c->id == ID_N ? v % SEQ_MULT + 1
					 : c->id;
		errno = 0;
		long r = shm_ctl(id, c->cmd, c->buf);
		int e = errno;
		conf_checks++;
		if (r != -1 || e != c->err)
			CONF_FAIL("case %zu: shmctl(%d, %#x, %p) = %ld errno %d (%s), want errno %d (%s)", i, id,
				  (unsigned int)c->cmd, c->buf, r, e, strerror(e), c->err, strerror(c->err));
	}
	/* Nothing changed.  */
	STAT(v, &ds);
	CHECK_EQ(ds.shm_perm.mode, 0600);
	CHECK_EQ(ds.shm_perm.uid, 0);
	CHECK_OK(shm_ctl(v, IPC_RMID, NULL));
}

int main(void)
{
	conf_start();
	test_stat();
	test_set();
	test_rmid();
	test_info();
	test_shm_stat();
	test_errno_table();
	return conf_done("shm_ctl");
}
