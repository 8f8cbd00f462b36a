/* SPDX-License-Identifier: MIT */
/* shmget(2): IPC_PRIVATE, IPC_CREAT, IPC_EXCL, sizes, key reuse, the mode
 * kept from shmflg, and the overcommit accounting that SHM_NORESERVE
 * skips.  Permission errors are in shm_perm.c, limits in shm_limits.c,
 * huge pages in shm_huge.c.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include <sys/sysinfo.h>

#include "shm_common.h"

#define KEY_A 0x5e6d0001
#define KEY_B 0x5e6d0002
#define KEY_C 0x5e6d0003
#define KEY_D 0x5e6d0004

enum key_sel { K_NEW, K_EXIST, K_PRIVATE, K_RMID_ATTACHED };

/* K_EXIST is a segment of EXIST_SIZE bytes.  */
#define EXIST_SIZE 8192
#define OK_SAME (-1) /* succeeds and returns the existing id */
#define OK_NEW (-2)  /* succeeds and creates a segment */

static const struct get_case {
	enum key_sel key;
	unsigned long size;
	int flg;
	int want; /* errno, OK_SAME or OK_NEW */
} get_cases[] = {
	{ K_NEW, 0, IPC_CREAT | 0600, EINVAL },
	{ K_NEW, 4096, 0600, ENOENT },
	{ K_NEW, 4096, IPC_EXCL | 0600, ENOENT },
	{ K_NEW, 0, 0, ENOENT },
	{ K_NEW, DEF_SHMMAX + 1, 0, ENOENT },
	{ K_NEW, DEF_SHMMAX + 1, IPC_CREAT | 0600, EINVAL },
	{ K_NEW, ~0UL, IPC_CREAT | 0600, EINVAL },
	/* Not above shmmax, but above the largest file size: shmem's
	 * EINVAL comes before any memory accounting.  */
	{ K_NEW, DEF_SHMMAX, IPC_CREAT | 0600, EINVAL },
	{ K_NEW, (1UL << 63) + 4096, IPC_CREAT | SHM_NORESERVE | 0600, EINVAL },
	{ K_EXIST, EXIST_SIZE + 1, 0, EINVAL },
	{ K_EXIST, EXIST_SIZE + 1, IPC_CREAT | 0600, EINVAL },
	{ K_EXIST, ~0UL, 0, EINVAL },
	{ K_EXIST, EXIST_SIZE + 1, IPC_CREAT | IPC_EXCL | 0600, EEXIST },
	{ K_EXIST, 0, IPC_CREAT | IPC_EXCL, EEXIST },
	{ K_EXIST, 0, 0, OK_SAME },
	{ K_EXIST, 1, 0, OK_SAME },
	{ K_EXIST, EXIST_SIZE, IPC_CREAT | 0600, OK_SAME },
	/* IPC_EXCL without IPC_CREAT is ignored.  */
	{ K_EXIST, EXIST_SIZE, IPC_EXCL, OK_SAME },
	/* Another mode in shmflg does not change the segment's.  */
	{ K_EXIST, 0, IPC_CREAT | 0777, OK_SAME },
	{ K_PRIVATE, 0, IPC_CREAT | 0600, EINVAL },
	{ K_PRIVATE, DEF_SHMMAX + 1, IPC_CREAT | 0600, EINVAL },
	{ K_PRIVATE, 1, 0, OK_NEW },
	{ K_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0600, OK_NEW },
	/* Huge page size bits mean nothing without SHM_HUGETLB.  */
	{ K_PRIVATE, 4096, (22 << SHM_HUGE_SHIFT_) | 0600, OK_NEW },
	{ K_RMID_ATTACHED, 0, 0, ENOENT },
	{ K_RMID_ATTACHED, 4096, IPC_EXCL, ENOENT },
};

static void test_table(void)
{
	struct shmid_ds ds;
	int exist = (int)CHECK_OK(shm_get(KEY_A, EXIST_SIZE, IPC_CREAT | IPC_EXCL | 0640));
	int gone = (int)CHECK_OK(shm_get(KEY_B, 4096, IPC_CREAT | 0600));
	char *p = ATTACH(gone, NULL, 0);
	CHECK_OK(shm_ctl(gone, IPC_RMID, NULL));

	for (size_t i = 0; i < sizeof(get_cases) / sizeof(get_cases[0]); i++) {
		const struct get_case *c = &get_cases[i];
		key_t key = c->key == K_NEW ? KEY_C : c->key == K_EXIST ? KEY_A : c->key == K_PRIVATE ? IPC_PRIVATE : KEY_B;
		struct shm_info before, after;
		shm_ctl(0, SHM_INFO, &before);
		errno = 0;
		long r = shm_get(key, c->size, c->flg);
		int e = errno;
		shm_ctl(0, SHM_INFO, &after);
		conf_checks++;
		if (c->want > 0) {
			if (r != -1 || e != c->want)
				CONF_FAIL("case %zu: shmget(%#x, %#lx, %#o) = %ld errno %d, want errno %d", i,
					  (unsigned int)key, c->size, c->flg, r, e, c->want);
			CHECK_EQ(after.used_ids, before.used_ids);
		} else if (c->want == OK_SAME) {
			if (r != exist)
				CONF_FAIL("case %zu: shmget(%#x, %#lx, %#o) = %ld errno %d, want %d", i,
					  (unsigned int)key, c->size, c->flg, r, e, exist);
		} else {
			if (r < 0 || r == exist)
				CONF_FAIL("case %zu: shmget(%#x, %#lx, %#o) = %ld errno %d, want a new id", i,
					  (unsigned int)key, c->size, c->flg, r, e);
			CHECK_EQ(after.used_ids, before.used_ids + 1);
			if (r >= 0)
				CHECK_OK(shm_ctl((int)r, IPC_RMID, NULL));
		}
	}
	/* The existing segment kept its size and mode.  */
	STAT(exist, &ds);
	CHECK_EQ(ds.shm_segsz, EXIST_SIZE);
	CHECK_EQ(ds.shm_perm.mode, 0640);
	CHECK_EQ(ds.shm_perm.__key, KEY_A);
	CHECK_OK(shm_ctl(exist, IPC_RMID, NULL));
	CHECK_OK(shm_dt(p));
}

/* A new segment: size kept exactly, mode = the low 9 bits of shmflg,
 * IPC_PRIVATE segments are always new.  */
static void test_create(void)
{
	struct shmid_ds ds;
	int a = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0640));
	int b = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0640));
	CHECK_TRUE(a != b);
	STAT(a, &ds);
	CHECK_EQ(ds.shm_perm.__key, IPC_PRIVATE);
	CHECK_EQ(ds.shm_segsz, 1);
	/* IPC_CREAT (01000) and IPC_EXCL (02000) share their values with
	 * SHM_DEST and SHM_LOCKED: they must not show in the mode.  */
	CHECK_EQ(ds.shm_perm.mode, 0640);

	int c = (int)CHECK_OK(shm_get(KEY_D, 3 * pg + 1, IPC_CREAT | 0777 | SHM_NORESERVE));
	STAT(c, &ds);
	CHECK_EQ(ds.shm_segsz, 3 * pg + 1);
	CHECK_EQ(ds.shm_perm.mode, 0777);
	CHECK_EQ(ds.shm_perm.__key, KEY_D);
	/* The key finds it; a key of -1 is an ordinary key.  */
	CHECK_EQ(shm_get(KEY_D, 0, 0), c);
	int m = (int)CHECK_OK(shm_get((key_t)-1, 10, IPC_CREAT | 0600));
	CHECK_EQ(shm_get((key_t)-1, 10, 0), m);
	STAT(m, &ds);
	CHECK_EQ(ds.shm_perm.__key, -1);
	CHECK_OK(shm_ctl(m, IPC_RMID, NULL));
	CHECK_ERR(shm_get((key_t)-1, 10, 0), ENOENT);

	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(c, IPC_RMID, NULL));
}

/* After IPC_RMID of an unattached segment the key is free at once; after
 * IPC_RMID of an attached one the key is private already, so the key can
 * name a new segment while the old one lives on.  */
static void test_key_reuse(void)
{
	struct shmid_ds ds;
	int a = (int)CHECK_OK(shm_get(KEY_A, 4096, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_OK(shm_ctl(a, IPC_RMID, NULL));
	CHECK_ERR(shm_get(KEY_A, 0, 0), ENOENT);
	int b = (int)CHECK_OK(shm_get(KEY_A, 4096, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_TRUE(b != a);
	CHECK_ERR(shm_ctl(a, IPC_STAT, &ds), EINVAL);

	char *p = ATTACH(b, NULL, 0);
	if (p)
		strcpy(p, "old");
	CHECK_OK(shm_ctl(b, IPC_RMID, NULL));
	CHECK_ERR(shm_get(KEY_A, 0, 0), ENOENT);
	int c = (int)CHECK_OK(shm_get(KEY_A, 2 * 4096, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_TRUE(c != b);
	CHECK_EQ(shm_get(KEY_A, 0, 0), c);
	STAT(b, &ds);
	CHECK_EQ(ds.shm_perm.__key, IPC_PRIVATE);
	CHECK_EQ(ds.shm_segsz, 4096);
	char *q = ATTACH(c, NULL, 0);
	if (p && q) {
		CHECK_TRUE(strcmp(p, "old") == 0);
		CHECK_TRUE(q[0] == 0);
	}
	CHECK_OK(shm_dt(p));
	CHECK_ERR(shm_ctl(b, IPC_STAT, &ds), EINVAL);
	CHECK_OK(shm_dt(q));
	CHECK_OK(shm_ctl(c, IPC_RMID, NULL));
	CHECK_ERR(shm_get(KEY_A, 0, 0), ENOENT);
}

/* Without SHM_NORESERVE, shmem charges the whole segment to the overcommit
 * accounting when it is created (__vm_enough_memory): in the heuristic
 * mode a segment larger than RAM plus swap is refused with ENOMEM; with
 * SHM_NORESERVE nothing is charged unless overcommit is "never".  */
static void test_overcommit(void)
{
	long mode = conf_read_long("/proc/sys/vm/overcommit_memory");
	struct sysinfo si;
	struct shm_info info0, info1;
	if (mode < 0 || sysinfo(&si) < 0) {
		printf("# overcommit: cannot read the overcommit mode, not checked\n");
		return;
	}
	unsigned long avail = (si.totalram + si.totalswap) * (unsigned long)si.mem_unit;
	unsigned long big = 1UL << 50;
	if (avail >= big) {
		printf("# overcommit: more than 1 PiB of memory, not checked\n");
		return;
	}
	if (mode == 1)
		CHECK_OK(shm_get(IPC_PRIVATE, big, 0600));
	else
		CHECK_ERR(shm_get(IPC_PRIVATE, big, 0600), ENOMEM);
	/* Just above RAM plus swap, in the heuristic mode.  */
	if (mode == 0)
		CHECK_ERR(shm_get(IPC_PRIVATE, avail + (unsigned long)pg, 0600), ENOMEM);
	shm_ctl(0, SHM_INFO, &info0);
	if (mode == 2) {
		CHECK_ERR(shm_get(IPC_PRIVATE, big, 0600 | SHM_NORESERVE), ENOMEM);
	} else {
		int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, big, 0600 | SHM_NORESERVE));
		struct shmid_ds ds;
		STAT(id, &ds);
		CHECK_EQ(ds.shm_segsz, big);
		shm_ctl(0, SHM_INFO, &info1);
		CHECK_EQ(info1.shm_tot, info0.shm_tot + big / (unsigned long)pg);
		CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	}
	/* Memory that fits is not refused.  */
	int small = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1UL << 20, 0600));
	CHECK_OK(shm_ctl(small, IPC_RMID, NULL));
}

int main(void)
{
	conf_start();
	test_create();
	test_table();
	test_key_reuse();
	test_overcommit();
	return conf_done("shm_get");
}
