/* SPDX-License-Identifier: MIT */
/* shmat(2): kernel-chosen and fixed addresses, SHM_RND, SHM_REMAP,
 * SHM_RDONLY, SHM_EXEC, the EINVAL and ENOMEM cases, attach after
 * IPC_RMID, data shared between attaches and across fork, and what an
 * attach does to shm_atime, shm_lpid and shm_nattch.  Permission errors
 * are in shm_perm.c.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include <signal.h>
#include "shm_common.h"

/* A free range of `len' bytes: mapped PROT_NONE then unmapped.  */
static char *free_range(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		CONF_FAIL("mmap: %s", strerror(errno));
		return NULL;
	}
	munmap(p, len);
	return p;
}

/* The permissions /proc/self/maps shows for the mapping at addr.  */
static int maps_perms(const void *addr, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int ret = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && s == (unsigned long)addr) {
			memcpy(out, perms, 4);
			out[4] = '\0';
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* The inode number /proc/self/maps shows for the mapping at addr.  */
static long maps_inode(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	long ino = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, inode;
		char perms[8], dev[16];
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &s, &e, perms, &off, dev, &inode) == 6 &&
		    s == (unsigned long)addr) {
			ino = (long)inode;
			break;
		}
	}
	fclose(f);
	return ino;
}

#define CHECK_PERMS(addr, want)                                                                    \
	do {                                                                                       \
		char _p[5] = "";                                                                   \
		conf_checks++;                                                                     \
		if (maps_perms(addr, _p) < 0 || strcmp(_p, want) != 0)                             \
			CONF_FAIL("mapping at %p has permissions '%s', want '%s'", (void *)(addr), _p, \
				  want);                                                           \
	} while (0)

static void test_basic(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 3 * pg, 0600));
	STAT(id, &ds);
	CHECK_EQ(ds.shm_atime, 0);
	CHECK_EQ(ds.shm_lpid, 0);
	CHECK_EQ(ds.shm_nattch, 0);

	time_t t0 = time(NULL);
	char *a = ATTACH(id, NULL, 0);
	time_t t1 = time(NULL);
	if (!a)
		return;
	CHECK_EQ((unsigned long)a % (unsigned long)pg, 0);
	CHECK_PERMS(a, "rw-s");
	/* Linux numbers the segment's inode with its id ("proc-ps tools
	 * use this", ipc/shm.c).  */
	if (attach_is_memfd(a))
		DEVIATION("/proc/PID/maps shows the memfd's inode number %ld, not the shmid %d", maps_inode(a), id);
	else
		CHECK_EQ(maps_inode(a), id);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 1);
	CHECK_EQ(ds.shm_lpid, getpid());
	CHECK_TIME(ds.shm_atime, t0, t1);
	CHECK_EQ(ds.shm_dtime, 0);

	/* A second attach is another mapping of the same memory.  */
	char *b = ATTACH(id, NULL, 0);
	if (!b)
		return;
	CHECK_TRUE(a != b);
	strcpy(a + 2 * pg + 10, "through a");
	CHECK_TRUE(strcmp(b + 2 * pg + 10, "through a") == 0);
	b[0] = 'B';
	CHECK_EQ(a[0], 'B');
	CHECK_EQ(nattch_of(id), 2);

	/* SHM_RND without an address: the kernel chooses.  */
	char *c = ATTACH(id, NULL, SHM_RND);
	CHECK_EQ(nattch_of(id), 3);
	CHECK_OK(shm_dt(c));
	CHECK_OK(shm_dt(b));
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void test_fixed(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
	char *r = free_range(8 * (size_t)pg);
	if (!r)
		return;
	/* Exactly there.  */
	char *a = ATTACH(id, r + pg, 0);
	CHECK_TRUE(a == r + pg);
	a[0] = 'x';
	/* SHM_RND rounds down to SHMLBA (the page size on x86_64).  */
	char *b = ATTACH(id, r + 4 * pg + 123, SHM_RND);
	CHECK_TRUE(b == r + 4 * pg);
	if (b)
		CHECK_EQ(b[0], 'x');
	/* An aligned address with SHM_RND stays.  */
	CHECK_OK(shm_dt(b));
	b = ATTACH(id, r + 4 * pg, SHM_RND);
	CHECK_TRUE(b == r + 4 * pg);
	/* Unaligned without SHM_RND.  */
	CHECK_ERR(shm_at(id, r + 6 * pg + 1, 0), EINVAL);
	CHECK_ERR(shm_at(id, r + 6 * pg + pg / 2, SHM_RDONLY), EINVAL);
	/* Overlapping an attach, or any mapping, without SHM_REMAP.  */
	CHECK_ERR(shm_at(id, r + pg, 0), EINVAL);
	CHECK_ERR(shm_at(id, r, 0), EINVAL);        /* second page overlaps a */
	CHECK_ERR(shm_at(id, r + 5 * pg, 0), EINVAL); /* first page overlaps b */
	CHECK_ERR(shm_at(id, r + 2 * pg + 7, SHM_RND), EINVAL);
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_dt(b));

	/* The size checked is the segment's size, not whole pages: a
	 * segment of one page and one byte overlaps a mapping that starts
	 * one page after the address.  */
	int odd = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg + 1, 0600));
	char *m = mmap(r + 2 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK_TRUE(m == r + 2 * pg);
	CHECK_ERR(shm_at(odd, r + pg, 0), EINVAL);
	/* A one-page segment fits.  */
	int one = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	a = ATTACH(one, r + pg, 0);
	CHECK_TRUE(a == r + pg);
	CHECK_OK(shm_dt(a));
	munmap(m, pg);
	CHECK_OK(shm_ctl(odd, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(one, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void test_remap(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
	char *anon = mmap(NULL, 4 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_TRUE(anon != MAP_FAILED);
	if (anon == MAP_FAILED)
		return;
	memset(anon, 'a', 4 * (size_t)pg);
	char *s = ATTACH(id, NULL, 0);
	if (!s)
		return;
	memset(s, 's', 2 * (size_t)pg);
	/* SHM_REMAP replaces what is there.  */
	char *a = ATTACH(id, anon + pg, SHM_REMAP);
	CHECK_TRUE(a == anon + pg);
	CHECK_EQ(anon[0], 'a');
	CHECK_EQ(anon[pg], 's');
	CHECK_EQ(anon[2 * pg + 5], 's');
	CHECK_EQ(anon[3 * pg], 'a');
	CHECK_EQ(nattch_of(id), 2);
	/* Over one of its own attaches: that attach is replaced, so the
	 * count stays.  */
	char *b = ATTACH(id, anon + pg, SHM_REMAP | SHM_RDONLY);
	CHECK_TRUE(b == anon + pg);
	CHECK_PERMS(b, "r--s");
	CHECK_EQ(nattch_of(id), 2);
	/* Unaligned with SHM_RND|SHM_REMAP: rounded.  */
	b = ATTACH(id, anon + pg + 99, SHM_REMAP | SHM_RND);
	CHECK_TRUE(b == anon + pg);
	CHECK_PERMS(b, "rw-s");
	/* SHM_REMAP needs an address.  */
	CHECK_ERR(shm_at(id, NULL, SHM_REMAP), EINVAL);
	CHECK_ERR(shm_at(id, NULL, SHM_REMAP | SHM_RND), EINVAL);
	/* Nor may SHM_RND round it down to 0.  */
	CHECK_ERR(shm_at(id, (void *)(uintptr_t)(pg - 1), SHM_REMAP | SHM_RND), EINVAL);
	CHECK_ERR(shm_at(id, (void *)1, SHM_REMAP | SHM_RND), EINVAL);
	/* Unaligned without SHM_RND.  */
	CHECK_ERR(shm_at(id, anon + 1, SHM_REMAP), EINVAL);
	CHECK_EQ(nattch_of(id), 2);
	CHECK_OK(shm_dt(b));
	CHECK_OK(shm_dt(s));
	CHECK_EQ(nattch_of(id), 0);
	munmap(anon, 4 * (size_t)pg);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* Addresses the kernel cannot map: beyond the user address space
 * (ENOMEM from mmap), or wrapping around (EINVAL, checked before).  */
static void test_bad_addr(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * pg, 0600));
#if defined(__i386__)
	/* A 32-bit caller: the kernel adds the address and size in 64 bits
	 * (no wrap), and the compat task size (4 GiB less two pages) refuses
	 * the mapping.  */
	CHECK_ERR(shm_at(id, (void *)(~0UL - (unsigned long)pg + 1), 0), ENOMEM);
	CHECK_ERR(shm_at(id, (void *)(~0UL - (unsigned long)pg + 1), SHM_REMAP), ENOMEM);
	CHECK_ERR(shm_at(id, (void *)(0xffffe000UL - (unsigned long)pg), SHM_REMAP | SHM_RDONLY), ENOMEM);
#else
	CHECK_ERR(shm_at(id, (void *)(~0UL - (unsigned long)pg + 1), 0), EINVAL);
	CHECK_ERR(shm_at(id, (void *)(~0UL - (unsigned long)pg + 1), SHM_REMAP), ENOMEM);
	CHECK_ERR(shm_at(id, (void *)0xffff800000000000UL, 0), ENOMEM);
	CHECK_ERR(shm_at(id, (void *)0xffff800000000000UL, SHM_RDONLY), ENOMEM);
#endif
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* SHM_RND rounding a nonzero address down to 0: Linux then maps at 0
 * with MAP_FIXED and skips its overlap check (it tests the rounded
 * address).  Root has CAP_SYS_RAWIO, so mmap_min_addr does not stop it.  */
static void test_rnd_to_zero(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 32 * pg, 0600));
	char *low = (char *)(16 * pg);
	char *m = mmap(low, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != low) {
		printf("# SHM_RND to 0: cannot map page %p (%s), not checked\n", (void *)low, strerror(errno));
		if (m != MAP_FAILED)
			munmap(m, pg);
		CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
		return;
	}
	m[0] = 'm';
	errno = 0;
	long r = shm_at(id, (void *)(uintptr_t)(pg - 1), SHM_RND);
	CHECK_EQ(r, 0);
	if (r == 0) {
		/* The private page at 16 pages was replaced.  */
		CHECK_EQ(((volatile char *)low)[0], 0);
		CHECK_EQ(nattch_of(id), 1);
		CHECK_OK(shm_dt((void *)0));
		CHECK_EQ(nattch_of(id), 0);
	} else {
		munmap(low, pg);
	}
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static void write_first(void *arg)
{
	*(volatile char *)arg = 1;
}

static void test_rdonly(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	char *w = ATTACH(id, NULL, 0);
	char *r = ATTACH(id, NULL, SHM_RDONLY);
	if (!w || !r)
		return;
	strcpy(w, "visible");
	CHECK_TRUE(strcmp(r, "visible") == 0);
	CHECK_PERMS(r, "r--s");
	CHECK_EQ(conf_child_signal(write_first, r), SIGSEGV);
	CHECK_EQ(conf_child_signal(write_first, w), 0);
	/* The attach was read-only: it cannot be made writable.  */
	CHECK_ERR(mprotect(r, pg, PROT_READ | PROT_WRITE), EACCES);
	CHECK_OK(mprotect(r, pg, PROT_NONE));
	CHECK_OK(mprotect(r, pg, PROT_READ));
	CHECK_PERMS(r, "r--s");
	/* A read-write attach can drop and regain write.  */
	CHECK_OK(mprotect(w, pg, PROT_READ));
	CHECK_OK(mprotect(w, pg, PROT_READ | PROT_WRITE));
	w[0] = 'V';
	CHECK_EQ(r[0], 'V');
	CHECK_OK(shm_dt(r));
	CHECK_OK(shm_dt(w));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

typedef int (*fn_t)(void);

static void test_exec(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0700));
	char *w = ATTACH(id, NULL, 0);
	char *x = ATTACH(id, NULL, SHM_EXEC);
	char *rx = ATTACH(id, NULL, SHM_EXEC | SHM_RDONLY);
	if (!w || !x || !rx)
		return;
	CHECK_PERMS(w, "rw-s");
	CHECK_PERMS(x, "rwxs");
	CHECK_PERMS(rx, "r-xs");
	/* mov $42, %eax; ret  */
	static const unsigned char code[] = { 0xb8, 42, 0, 0, 0, 0xc3 };
	memcpy(w, code, sizeof(code));
	__builtin___clear_cache(x, x + sizeof(code));
	CHECK_EQ(((fn_t)(uintptr_t)x)(), 42);
	CHECK_EQ(((fn_t)(uintptr_t)rx)(), 42);
	/* Executable later, by mprotect, as any shared file mapping.  */
	CHECK_OK(mprotect(w, pg, PROT_READ | PROT_EXEC));
	CHECK_EQ(((fn_t)(uintptr_t)w)(), 42);
	CHECK_EQ(nattch_of(id), 3);
	CHECK_OK(shm_dt(rx));
	CHECK_OK(shm_dt(x));
	CHECK_OK(shm_dt(w));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* The EINVAL cases, in Linux's order: a negative id first, then the
 * address checks, then the lookup.  */
static void test_einval(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	static const struct {
		int id; /* -2: the valid id, -3: valid index, next sequence */
		uintptr_t addr;
		int flg;
	} cases[] = {
		{ -1, 0, 0 },
		{ -1, 0, SHM_RDONLY },
		{ (int)0x80000000, 0, 0 },
		{ -2, 1, 0 },
		{ -2, 4095, SHM_RDONLY },
		{ -2, 0, SHM_REMAP },
		{ -2, 1, SHM_REMAP | SHM_RND },
		{ 12345, 0, 0 },
		{ 12345, 0, SHM_RDONLY | SHM_EXEC },
		{ -3, 0, 0 },
		{ 32767, 0, 0 },
		{ 0x7fffffff, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int cid = cases[i].id == -2 ? id : cases[i].id == -3 ? id + SEQ_MULT : cases[i].id;
		errno = 0;
		long r = shm_at(cid, (void *)cases[i].addr, cases[i].flg);
		conf_checks++;
		if (r != -1 || errno != EINVAL)
			CONF_FAIL("case %zu: shmat(%d, %#lx, %#o) = %#lx errno %d, want EINVAL", i, cid,
				  (unsigned long)cases[i].addr, cases[i].flg, r, errno);
	}
	CHECK_EQ(nattch_of(id), 0);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	/* Destroyed: gone for shmat too.  */
	CHECK_ERR(shm_at(id, NULL, 0), EINVAL);
}

/* After IPC_RMID while attached the id still attaches.  */
static void test_after_rmid(void)
{
	struct shmid_ds ds;
	int id = (int)CHECK_OK(shm_get(0x5e6d1001, pg, IPC_CREAT | 0600));
	char *a = ATTACH(id, NULL, 0);
	if (!a)
		return;
	strcpy(a, "kept");
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	char *b = ATTACH(id, NULL, SHM_RDONLY);
	if (!b)
		return;
	CHECK_TRUE(strcmp(b, "kept") == 0);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_nattch, 2);
	CHECK_EQ(ds.shm_perm.mode, 0600 | SHM_DEST);
	CHECK_EQ(ds.shm_perm.__key, 0);
	CHECK_OK(shm_dt(a));
	CHECK_EQ(nattch_of(id), 1);
	char *c = ATTACH(id, NULL, 0);
	CHECK_OK(shm_dt(b));
	CHECK_OK(shm_dt(c));
	CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
	CHECK_ERR(shm_at(id, NULL, 0), EINVAL);
}

struct fork_arg {
	int id;
	char *p;
};

static void child_writes(void *arg)
{
	struct fork_arg *fa = arg;
	/* The inherited attach and a new one see the same memory.  */
	CHECK_TRUE(strcmp(fa->p, "parent") == 0);
	strcpy(fa->p, "child");
	char *q = ATTACH(fa->id, NULL, 0);
	if (q) {
		CHECK_TRUE(strcmp(q, "child") == 0);
		strcpy(q + 100, "second");
		CHECK_OK(shm_dt(q));
	}
}

static void test_fork_data(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	struct fork_arg fa = { id, ATTACH(id, NULL, 0) };
	if (!fa.p)
		return;
	strcpy(fa.p, "parent");
	conf_run_as(NULL, child_writes, &fa);
	CHECK_TRUE(strcmp(fa.p, "child") == 0);
	CHECK_TRUE(strcmp(fa.p + 100, "second") == 0);
	CHECK_OK(shm_dt(fa.p));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

/* A segment of one byte is one page; of one page and one byte, two.  */
static void touch_last(void *arg)
{
	char *p = *(char **)arg;
	((volatile char *)p)[2 * pg - 1] = 1;
}

static void touch_beyond(void *arg)
{
	char *p = *(char **)arg;
	((volatile char *)p)[pg] = 1;
}

static void test_sizes(void)
{
	int one = (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
	int odd = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg + 1, 0600));
	char *r = free_range(4 * (size_t)pg);
	char *a = ATTACH(one, r, 0);
	char *b = ATTACH(odd, r + 2 * pg, 0);
	if (!a || !b)
		return;
	a[pg - 1] = 1;
	CHECK_EQ(conf_child_signal(touch_beyond, &a), SIGSEGV);
	CHECK_EQ(conf_child_signal(touch_last, &b), 0);
	CHECK_OK(shm_dt(a));
	CHECK_OK(shm_dt(b));
	CHECK_OK(shm_ctl(one, IPC_RMID, NULL));
	CHECK_OK(shm_ctl(odd, IPC_RMID, NULL));
}

/* shmat and shmdt leave the caller's signal state alone: a blocked
 * SIGTRAP stays blocked, an ignored one stays ignored with its flags and
 * mask, and a SIGTRAP raised afterwards is ignored.  (ipcnsd
 * single-steps its injected system calls, which the kernel reports with
 * a forced SIGTRAP: that unblocks a blocked SIGTRAP and resets an
 * ignored one to SIG_DFL; ipcnsd puts both back.)  */
static void check_trap_ignored(const struct sigaction *want)
{
	struct sigaction cur;
	CHECK_OK(sigaction(SIGTRAP, NULL, &cur));
	CHECK_EQ(cur.sa_handler == SIG_IGN, 1);
	CHECK_EQ(cur.sa_flags, want->sa_flags);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&want->sa_mask, s) != sigismember(&cur.sa_mask, s))
			CHECK_EQ(s, 0); /* the mask differs at signal s */
}

static void test_sigtrap(void)
{
	sigset_t trap, old, now;
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, pg, 0600));
	CHECK_OK(sigprocmask(SIG_BLOCK, &trap, &old));
	char *a = ATTACH(id, NULL, 0);
	if (a)
		CHECK_OK(shm_dt(a));
	CHECK_OK(sigprocmask(SIG_SETMASK, NULL, &now));
	CHECK_EQ(sigismember(&now, SIGTRAP), 1);
	CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));

	/* Flags an ignored action keeps (SA_SIGINFO and SA_RESTART among
	 * them), and a mask: each must come back exactly.  */
	struct sigaction ign, prev, want;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	ign.sa_flags = SA_RESTART | SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&ign.sa_mask);
	sigaddset(&ign.sa_mask, SIGUSR1);
	sigaddset(&ign.sa_mask, SIGWINCH);
	sigaddset(&ign.sa_mask, SIGRTMIN + 1);
	CHECK_OK(sigaction(SIGTRAP, &ign, &prev));
	CHECK_OK(sigaction(SIGTRAP, NULL, &want));
	CHECK_EQ(want.sa_handler == SIG_IGN, 1);
	a = ATTACH(id, NULL, 0);
	check_trap_ignored(&want);
	if (a)
		CHECK_OK(shm_dt(a));
	check_trap_ignored(&want);
	/* Ignored indeed: the program goes on.  */
	struct sigaction cur;
	CHECK_OK(sigaction(SIGTRAP, NULL, &cur));
	if (cur.sa_handler == SIG_IGN)
		CHECK_OK(raise(SIGTRAP));
	CHECK_OK(sigaction(SIGTRAP, &prev, NULL));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

int main(void)
{
	conf_start();
	test_basic();
	test_fixed();
	test_remap();
	test_bad_addr();
	test_rnd_to_zero();
	test_rdonly();
	test_exec();
	test_einval();
	test_after_rmid();
	test_fork_data();
	test_sizes();
	test_sigtrap();
	return conf_done("shm_at");
}
