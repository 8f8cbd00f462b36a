/* SPDX-License-Identifier: MIT */
/* SHM_HUGETLB: the huge page size from shmflg (SHM_HUGE_2MB, SHM_HUGE_1GB,
 * EINVAL for a size the machine does not have), EPERM without
 * CAP_IPC_LOCK outside vm.hugetlb_shm_group, the reservation made at
 * shmget (ENOMEM when the pool lacks free pages) that SHM_NORESERVE skips
 * (a fault then finds no page: SIGBUS), attaches of whole huge pages at
 * huge page aligned addresses, SHM_LOCK doing nothing.  What the pool
 * holds is read from /sys/kernel/mm/hugepages so the expectations hold on
 * any machine (on the reference machine vm.nr_hugepages is 0).
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

#define SHM_HUGE_2MB (21 << SHM_HUGE_SHIFT_)
#define SHM_HUGE_1GB (30 << SHM_HUGE_SHIFT_)
#define SHM_HUGE_4MB (22 << SHM_HUGE_SHIFT_) /* no such size on x86_64 */
#define CAP(n) (1ULL << (n))

struct pool {
	bool exists;
	unsigned long size; /* bytes */
	long free, resv, overcommit;
};

static struct pool pool_of(unsigned long kb)
{
	struct pool p = { false, kb * 1024, 0, 0, 0 };
	char path[128];
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages", kb);
	p.free = conf_read_long(path);
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/resv_hugepages", kb);
	p.resv = conf_read_long(path);
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_overcommit_hugepages", kb);
	p.overcommit = conf_read_long(path);
	p.exists = p.free >= 0 && p.resv >= 0 && p.overcommit >= 0;
	return p;
}

static unsigned long default_huge_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void touch(void *arg)
{
	*(volatile char *)arg = 1;
}

/* One huge page size: `flg' selects it (0 = the default size).  */
static void test_size(const struct pool *p, int sizeflg, const char *name)
{
	struct shmid_ds ds;
	struct shm_info si0, si1;
	unsigned long size = p->size / 2 + 1; /* rounded up to one huge page */
	bool fits = p->free - p->resv >= 1;
	if (!fits && p->overcommit > 0) {
		printf("# %s: the pool may grow (nr_overcommit_hugepages), reservation not checked\n", name);
	} else if (fits) {
		int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, size, IPC_CREAT | SHM_HUGETLB | sizeflg | 0600));
		CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	} else {
		CHECK_ERR(shm_get(IPC_PRIVATE, size, IPC_CREAT | SHM_HUGETLB | sizeflg | 0600), ENOMEM);
		CHECK_ERR(shm_get(0x5e6d7001, size, IPC_CREAT | SHM_HUGETLB | sizeflg | 0600), ENOMEM);
		CHECK_ERR(shm_get(0x5e6d7001, 0, 0), ENOENT);
	}

	/* SHM_NORESERVE: no reservation.  */
	shm_ctl(0, SHM_INFO, &si0);
	int id = (int)CHECK_OK(shm_get(0x5e6d7002, size, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | sizeflg | 0600));
	CHECK_EQ(shm_get(0x5e6d7002, size, 0), id);
	CHECK_ERR(shm_get(0x5e6d7002, size + 1, 0), EINVAL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_segsz, size);
	CHECK_EQ(ds.shm_perm.mode, 0600);
	shm_ctl(0, SHM_INFO, &si1);
	/* shm_tot counts small pages of the size asked for.  */
	CHECK_EQ(si1.shm_tot, si0.shm_tot + (size + (unsigned long)pg - 1) / (unsigned long)pg);
	CHECK_EQ(si1.used_ids, si0.used_ids + 1);

	char *a = ATTACH(id, NULL, 0);
	if (a) {
		/* Whole huge pages, aligned.  */
		CHECK_EQ((unsigned long)a % p->size, 0);
		CHECK_EQ(nattch_of(id), 1);
		if (!fits && p->overcommit == 0)
			CHECK_EQ(conf_child_signal(touch, a), SIGBUS);
		/* An address aligned to small pages only.  */
		CHECK_ERR(shm_at(id, a + pg, SHM_REMAP), EINVAL);
		CHECK_EQ(nattch_of(id), 1);
		CHECK_OK(shm_dt(a));
		CHECK_EQ(nattch_of(id), 0);
	}
	/* SHM_LOCK succeeds without marking the segment.  */
	CHECK_EQ(shm_ctl(id, SHM_LOCK, NULL), 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.mode, 0600);
	CHECK_EQ(shm_ctl(id, SHM_UNLOCK, NULL), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	shm_ctl(0, SHM_INFO, &si1);
	CHECK_EQ(si1.shm_tot, si0.shm_tot);
}

struct unpriv_arg {
	bool fits;
};

/* Without CAP_IPC_LOCK and outside hugetlb_shm_group: EPERM, whatever
 * RLIMIT_MEMLOCK says (Linux no longer lets the memlock limit allow it);
 * a size the machine lacks is EINVAL first.  */
static void unpriv_calls(void *arg)
{
	(void)arg;
	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | 0600), EPERM);
	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_NORESERVE | 0600), EPERM);
	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_HUGE_4MB | 0600), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, 0, SHM_HUGETLB | 0600), EINVAL);
	/* Not huge: fine.  */
	long id = CHECK_OK(shm_get(IPC_PRIVATE, 4096, 0600));
	CHECK_OK(shm_ctl((int)id, IPC_RMID, NULL));
}

/* In the group: allowed, as root.  */
static void group_calls(void *arg)
{
	struct unpriv_arg *ua = arg;
	long id = CHECK_OK(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_NORESERVE | 0600));
	CHECK_OK(shm_ctl((int)id, IPC_RMID, NULL));
	if (!ua->fits)
		CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | 0600), ENOMEM);
}

int main(void)
{
	conf_start();
	unsigned long kb = default_huge_kb();
	struct pool def = pool_of(kb);
	if (!kb || !def.exists)
		CONF_SKIP("no huge page support");

	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_HUGE_4MB | 0600), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_NORESERVE | SHM_HUGE_4MB | 0600), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | (63 << SHM_HUGE_SHIFT_) | 0600), EINVAL);
	CHECK_ERR(shm_get(IPC_PRIVATE, 0, SHM_HUGETLB | SHM_NORESERVE | 0600), EINVAL);

	test_size(&def, 0, "default size");
	struct pool p2m = pool_of(2048), p1g = pool_of(1048576);
	if (p2m.exists)
		test_size(&p2m, SHM_HUGE_2MB, "SHM_HUGE_2MB");
	else
		CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_NORESERVE | SHM_HUGE_2MB | 0600), EINVAL);
	if (p1g.exists)
		test_size(&p1g, SHM_HUGE_1GB, "SHM_HUGE_1GB");
	else
		CHECK_ERR(shm_get(IPC_PRIVATE, 4096, SHM_HUGETLB | SHM_NORESERVE | SHM_HUGE_1GB | 0600), EINVAL);

	long group = conf_read_long("/proc/sys/vm/hugetlb_shm_group");
	gid_t outsider = group == 2500 ? 2501 : 2500;
	const struct conf_who unpriv = { "uid 2500", 2500, outsider, 0, { 0 }, false, 0, RLIM_INFINITY };
	conf_run_as(&unpriv, unpriv_calls, NULL);
	const struct conf_who nocap = { "uid 0 without capabilities", 0, outsider, 0, { 0 }, true, 0,
					RLIM_INFINITY };
	conf_run_as(&nocap, unpriv_calls, NULL);
	if (group >= 0) {
		struct unpriv_arg ua = { def.free - def.resv >= 1 || def.overcommit > 0 };
		const struct conf_who member = { "uid 2500 in hugetlb_shm_group", 2500, outsider, 1,
						 { (gid_t)group }, false, 0, RLIM_INFINITY };
		conf_run_as(&member, group_calls, &ua);
		const struct conf_who egid = { "uid 2500 with gid hugetlb_shm_group", 2500, (gid_t)group, 0,
					       { 0 }, false, 0, RLIM_INFINITY };
		conf_run_as(&egid, group_calls, &ua);
	}
	return conf_done("shm_huge");
}
