/* SPDX-License-Identifier: MIT */
/* shmdt(2): EINVAL for addresses that are not an attach address, and
 * Linux's rules for attaches that munmap, mprotect or mremap changed:
 * shmdt(addr) unmaps the first segment mapping at or after addr whose file
 * offset equals its distance from addr, then every later mapping of that
 * segment at that distance within the segment's size.  Each mapping (VMA)
 * counts in shm_nattch, which shmdt decrements; shm_dtime and shm_lpid
 * move.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

static char *free_range(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p, len);
	return p;
}

static void test_einval(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	char *anon = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = memfd_create("not-shm", MFD_CLOEXEC);
	CHECK_OK(ftruncate(fd, pg));
	char *file = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, 0);
	if (!a || anon == MAP_FAILED || file == MAP_FAILED)
		return;
	static int on_stack;
	const void *bad[] = {
		a + 1,                      /* unaligned */
		a + pg - 1,
		a + pg,                     /* inside, not the start */
		a + 3 * pg,
		anon,                       /* another mapping */
		file,                       /* a shared file mapping, not shm */
		(void *)((uintptr_t)&on_stack & ~(uintptr_t)(pg - 1)),
		(void *)(uintptr_t)(~0UL & ~(unsigned long)(pg - 1)), /* kernel half */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		long r = shm_dt(bad[i]);
		conf_checks++;
		if (r != -1 || errno != EINVAL)
			CONF_FAIL("case %zu: shmdt(%p) = %ld errno %d, want EINVAL", i, bad[i], r, errno);
	}
	CHECK_EQ(nattch_of(id), 1);
	CHECK_OK(shm_dt(a));
	CHECK_ERR(shm_dt(a), EINVAL);
	CHECK_EQ(nattch_of(id), 0);
	/* An address below every attach does not reach one above it.  */
	char *r = free_range(8 * (size_t)pg);
	a = ATTACH(id, r + pg, 0);
	CHECK_ERR(shm_dt(r), EINVAL);
	CHECK_EQ(nattch_of(id), 1);
	CHECK_OK(shm_dt(a));
	munmap(anon, pg);
	munmap(file, pg);
	close(fd);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* dtime and lpid move; the other attaches stay.  */
static void test_counts(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(id, NULL, 0), *b = ATTACH(id, NULL, 0), *c = ATTACH(id, NULL, SHM_RDONLY);
	if (!a || !b || !c)
		return;
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 3);
	CHECK_EQ(ds.shm_dtime, 0);
	time_t t0 = time(NULL);
	CHECK_OK(shm_dt(b));
	time_t t1 = time(NULL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 2);
	CHECK_TIME(ds.shm_dtime, t0, t1);
	CHECK_EQ(ds.shm_lpid, getpid());
	a[0] = 'a';
	CHECK_EQ(c[0], 'a');
	CHECK_OK(shm_dt(c));
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* munmap of the first page: the rest starts one page after the attach
 * address, at file offset one page: shmdt(addr) finds it.  */
static void test_head_unmapped(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	CHECK_OK(munmap(a, pg));
	CHECK_EQ(nattch_of(id), 1);
	/* From the fragment's own address the distance is 0, its offset
	 * one page: not a match.  */
	CHECK_ERR(shm_dt(a + pg), EINVAL);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_ERR(shm_dt(a), EINVAL);
	/* Nothing left mapped there.  */
	unsigned char v;
	CHECK_ERR(mincore(a + pg, (size_t)pg, &v), ENOMEM);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* A hole in the middle: two mappings (nattch 2), both go.  */
static void test_hole(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	CHECK_OK(munmap(a + pg, pg));
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	unsigned char v;
	CHECK_ERR(mincore(a + 2 * pg, (size_t)pg, &v), ENOMEM);
	CHECK_ERR(mincore(a, (size_t)pg, &v), ENOMEM);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* mprotect splits: three mappings, nattch 3, all detached together.  */
static void test_mprotect_split(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	CHECK_OK(mprotect(a + pg, pg, PROT_READ));
	CHECK_EQ(nattch_of(id), 3);
	/* The middle piece's offset is one page, its distance from itself
	 * 0: EINVAL.  */
	CHECK_ERR(shm_dt(a + pg), EINVAL);
	/* Same protection again: shm mappings have a close operation, so
	 * the pieces are not merged back.  A memfd's are.  */
	CHECK_OK(mprotect(a + pg, pg, PROT_READ | PROT_WRITE));
	if (attach_is_memfd(a)) {
		DEVIATION("mappings split by mprotect merge again when their protections match again "
			  "(nattch %lu, Linux 3)", nattch_of(id));
		CHECK_OK(mprotect(a + 2 * pg, pg, PROT_NONE));
		CHECK_EQ(nattch_of(id), 3);
	} else {
		CHECK_EQ(nattch_of(id), 3);
		CHECK_OK(mprotect(a + 2 * pg, pg, PROT_NONE));
		CHECK_EQ(nattch_of(id), 4);
	}
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* Only the segment found first is detached: another segment's attach
 * within the range stays.  */
static void test_two_segments(void)
{
	int s1 = (int)CHECK_OK(shm_get(IPC_PRIVATE, 4 * pg, 0600));
	int s2 = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *a = ATTACH(s1, NULL, 0);
	if (!a)
		return;
	/* Replace page 2 of s1's attach with s2 (its offset is 0, at
	 * distance 2 pages: not a match either).  */
	char *b = ATTACH(s2, a + 2 * pg, SHM_REMAP);
	CHECK_TRUE(b == a + 2 * pg);
	CHECK_EQ(nattch_of(s1), 2);
	CHECK_EQ(nattch_of(s2), 1);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(s1), 0);
	CHECK_EQ(nattch_of(s2), 1);
	CHECK_OK(shm_dt(b));
	CHECK_EQ(nattch_of(s2), 0);
	CHECK_OK(shm_ctl(s1, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(s2, IPC_RMID, NULL));
}

/* mremap moves an attach: its new address detaches it, the old one does
 * not.  A fragment moved away is not found from the old address.  */
static void test_mremap(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	char *r = free_range(4 * (size_t)pg);
	if (!a || !r)
		return;
	a[0] = 'm';
	char *m = mremap(a, 2 * (size_t)pg, 2 * (size_t)pg, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	CHECK_TRUE(m == r);
	if (m != r)
		return;
	CHECK_EQ(m[0], 'm');
	CHECK_EQ(nattch_of(id), 1);
	CHECK_ERR(shm_dt(a), EINVAL);
	CHECK_OK(shm_dt(m));
	CHECK_EQ(nattch_of(id), 0);

	/* Move the second page of an attach away.  */
	a = ATTACH(id, NULL, 0);
	r = free_range(4 * (size_t)pg);
	m = mremap(a + pg, (size_t)pg, (size_t)pg, MREMAP_MAYMOVE | MREMAP_FIXED, r + 2 * pg);
	CHECK_TRUE(m == r + 2 * pg);
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 1);
	/* The moved page has offset 1 page: detached from one page below.  */
	CHECK_OK(shm_dt(m - pg));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* A detach after IPC_RMID: the last one destroys the segment.  */
static void test_last_detach(void)
{
	struct shm_info si;
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	CHECK_OK(munmap(a + pg, pg));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.used_ids, 1);
	CHECK_EQ(si.shm_tot, 2);
	CHECK_OK(shm_dt(a));
	CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
	shm_ctl(0, SHM_INFO, &si);
	CHECK_EQ(si.used_ids, 0);
	CHECK_EQ(si.shm_tot, 0);
}

/* The last mapping of a removed segment goes by munmap, not shmdt: the
 * segment is destroyed then, and every call on its id says EINVAL.  */
static void test_munmap_last(void)
{
	struct shmid_ds ds;
	struct shm_info si;
	int ops[] = { IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK, SHM_UNLOCK };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) + 2; i++) {
		int id = (int)CHECK_OK(shm_get(0x5e6d8001, 2 * pg, IPC_CREAT | IPC_EXCL | 0600));
		char *a = ATTACH(id, NULL, 0);
		if (!a)
			return;
		CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
		CHECK_OK(munmap(a, 2 * (size_t)pg));
		memset(&ds, 0, sizeof(ds));
		if (i < sizeof(ops) / sizeof(ops[0]))
			CHECK_ERR(shm_ctl(id, ops[i], &ds), EINVAL);
		else if (i == sizeof(ops) / sizeof(ops[0]))
			CHECK_ERR(shm_at(id, NULL, 0), EINVAL);
		else
			CHECK_ERR(shm_ctl(id % SEQ_MULT, SHM_STAT_ANY, &ds), EINVAL);
		CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
		CHECK_EQ(si.used_ids, 0);
		CHECK_EQ(si.shm_tot, 0);
	}
	/* The pieces of a split attach, unmapped one by one.  */
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 3 * pg, 0600));
	char *a = ATTACH(id, NULL, 0);
	CHECK_OK(mprotect(a + pg, pg, PROT_READ));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	CHECK_OK(munmap(a, pg));
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(munmap(a + pg, 2 * (size_t)pg));
	CHECK_ERR(shm_at(id, NULL, SHM_RDONLY), EINVAL);
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
	CHECK_EQ(si.used_ids, 0);
}

int main(void)
{
	conf_start();
	test_einval();
	test_counts();
	test_head_unmapped();
	test_hole();
	test_mprotect_split();
	test_two_segments();
	test_mremap();
	test_last_detach();
	test_munmap_last();
	return conf_done("shm_dt");
}
