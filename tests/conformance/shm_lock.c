/* SPDX-License-Identifier: MIT */
/* SHM_LOCK and SHM_UNLOCK: the SHM_LOCKED mode bit; without CAP_IPC_LOCK
 * only the owner or creator may (EPERM), SHM_LOCK needs a nonzero
 * RLIMIT_MEMLOCK (EPERM) and the pages the caller's user has locked with
 * SHM_LOCK, this segment included, must fit in it (ENOMEM); the charge
 * goes with the segment's unlock or destruction.  Children lower their
 * RLIMIT_MEMLOCK (lowering needs no privilege) and setuid().
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

#define KIB 1024UL
#define MIB (1024UL * 1024UL)
#define CAP(n) (1ULL << (n))

static unsigned int mode_of(int id)
{
	struct shmid_ds ds;
	if (shm_ctl(id, IPC_STAT, &ds) < 0)
		return 0xffffffff;
	return ds.shm_perm.mode;
}

static void give(int id, uid_t uid)
{
	struct shmid_ds ds;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = uid;
	ds.shm_perm.mode = 0600;
	CHECK_OK(shm_ctl(id, IPC_SET, &ds));
}

static void test_root(void)
{
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, 3 * pg, 0640));
	CHECK_EQ(shm_ctl(id, SHM_LOCK, NULL), 0);
	CHECK_EQ(mode_of(id), 0640 | SHM_LOCKED);
	/* Locking twice is fine; the buffer is not used.  */
	CHECK_EQ(shm_ctl(id, SHM_LOCK, (void *)8), 0);
	CHECK_EQ(mode_of(id), 0640 | SHM_LOCKED);
	/* IPC_SET keeps it.  */
	struct shmid_ds ds;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.mode = 0600;
	CHECK_OK(shm_ctl(id, IPC_SET, &ds));
	CHECK_EQ(mode_of(id), 0600 | SHM_LOCKED);
	/* Attached memory of a locked segment works as any.  */
	char *p = ATTACH(id, NULL, 0);
	if (p)
		p[2 * pg] = 1;
	CHECK_EQ(shm_ctl(id, SHM_UNLOCK, NULL), 0);
	CHECK_EQ(mode_of(id), 0600);
	CHECK_EQ(shm_ctl(id, SHM_UNLOCK, NULL), 0);
	CHECK_EQ(mode_of(id), 0600);
	/* Removed while attached and locked: both flags.  */
	CHECK_OK(shm_ctl(id, SHM_LOCK, NULL));
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
	CHECK_EQ(mode_of(id), 0600 | SHM_LOCKED | SHM_DEST);
	CHECK_OK(shm_ctl(id, SHM_UNLOCK, NULL));
	CHECK_EQ(mode_of(id), 0600 | SHM_DEST);
	CHECK_OK(shm_dt(p));
	CHECK_ERR(shm_ctl(id, SHM_LOCK, NULL), EINVAL);
	CHECK_ERR(shm_ctl(id, SHM_UNLOCK, NULL), EINVAL);
}

/* ---- Unprivileged callers.  */

static int segs[8];

struct lock_step {
	int seg;     /* index in segs */
	int cmd;
	int err;
};

struct lock_run {
	const struct lock_step *steps;
	size_t n;
};

static void run_steps(void *arg)
{
	const struct lock_run *lr = arg;
	for (size_t i = 0; i < lr->n; i++) {
		const struct lock_step *s = &lr->steps[i];
		errno = 0;
		long r = shm_ctl(segs[s->seg], s->cmd, NULL);
		int e = r < 0 ? errno : 0;
		conf_checks++;
		if (e != s->err)
			CONF_FAIL("step %zu: %s of segment %d: errno %d (%s), want %d (%s)", i,
				  s->cmd == SHM_LOCK ? "SHM_LOCK" : "SHM_UNLOCK", s->seg, e, strerror(e), s->err,
				  strerror(s->err));
	}
}

#define RUN(who, ...)                                                                              \
	do {                                                                                       \
		static const struct lock_step _s[] = { __VA_ARGS__ };                               \
		struct lock_run _lr = { _s, sizeof(_s) / sizeof(_s[0]) };                          \
		conf_run_as(who, run_steps, &_lr);                                                 \
	} while (0)

static void test_unprivileged(void)
{
	/* segs: 0 = 256 KiB, 1 = 1 MiB, 2 = 1 MiB + 1, 3 = 600 KiB, 4 =
	 * 600 KiB, 5 = 4 KiB owned by root, all others owned by uid 1000.  */
	static const unsigned long sizes[] = { 256 * KIB, MIB, MIB + 1, 600 * KIB, 600 * KIB, 4 * KIB };
	for (int i = 0; i < 6; i++) {
		segs[i] = (int)CHECK_OK(shm_get(IPC_PRIVATE, sizes[i], 0600));
		if (i != 5)
			give(segs[i], 1000);
	}
	const struct conf_who u0 = { "uid 1000, memlock 0", 1000, 1000, 0, { 0 }, false, 0, 0 };
	const struct conf_who u1m = { "uid 1000, memlock 1 MiB", 1000, 1000, 0, { 0 }, false, 0, MIB };
	const struct conf_who u1m_odd = { "uid 1000, memlock 1 MiB + 100", 1000, 1000, 0, { 0 }, false, 0,
					  MIB + 100 };
	const struct conf_who other = { "uid 1001, memlock 1 MiB", 1001, 1001, 0, { 0 }, false, 0, MIB };

	/* Not the owner: EPERM for both, whatever the limit.  */
	RUN(&other, { 0, SHM_LOCK, EPERM }, { 0, SHM_UNLOCK, EPERM }, { 5, SHM_LOCK, EPERM });
	/* No memlock allowance: SHM_LOCK is EPERM, SHM_UNLOCK works.  */
	RUN(&u0, { 0, SHM_LOCK, EPERM }, { 0, SHM_UNLOCK, 0 }, { 5, SHM_LOCK, EPERM });
	CHECK_EQ(mode_of(segs[0]), 0600);

	/* Within the limit; at the limit exactly (256 pages); one byte
	 * more is one page more.  */
	RUN(&u1m, { 0, SHM_LOCK, 0 }, { 0, SHM_UNLOCK, 0 }, { 1, SHM_LOCK, 0 }, { 1, SHM_UNLOCK, 0 },
	    { 2, SHM_LOCK, ENOMEM }, { 2, SHM_UNLOCK, 0 });
	CHECK_EQ(mode_of(segs[1]), 0600);
	CHECK_EQ(mode_of(segs[2]), 0600);
	/* The limit in pages is rounded down.  */
	RUN(&u1m_odd, { 1, SHM_LOCK, 0 }, { 1, SHM_UNLOCK, 0 }, { 2, SHM_LOCK, ENOMEM });

	/* The charge adds up over the user's locked segments; locking an
	 * already locked segment charges nothing more.  */
	RUN(&u1m, { 3, SHM_LOCK, 0 }, { 4, SHM_LOCK, ENOMEM }, { 3, SHM_LOCK, 0 }, { 0, SHM_LOCK, 0 },
	    { 0, SHM_LOCK, 0 });
	CHECK_EQ(mode_of(segs[3]), 0600 | SHM_LOCKED);
	CHECK_EQ(mode_of(segs[4]), 0600);
	CHECK_EQ(mode_of(segs[0]), 0600 | SHM_LOCKED);
	/* It stays charged between processes of the user.  */
	RUN(&u1m, { 4, SHM_LOCK, ENOMEM }, { 3, SHM_UNLOCK, 0 }, { 4, SHM_LOCK, 0 }, { 1, SHM_LOCK, ENOMEM });
	/* Unlocked by root: the charge goes with it.  */
	CHECK_OK(shm_ctl(segs[4], SHM_UNLOCK, NULL));
	RUN(&u1m, { 3, SHM_LOCK, 0 });
	/* Destroyed while locked: the charge goes too.  */
	CHECK_OK(shm_ctl(segs[3], IPC_RMID, NULL));
	CHECK_OK(shm_ctl(segs[0], IPC_RMID, NULL));
	RUN(&u1m, { 1, SHM_LOCK, 0 }, { 1, SHM_UNLOCK, 0 }, { 4, SHM_LOCK, 0 }, { 4, SHM_UNLOCK, 0 });

	CHECK_OK(shm_ctl(segs[1], IPC_RMID, NULL));
	CHECK_OK(shm_ctl(segs[2], IPC_RMID, NULL));
	CHECK_OK(shm_ctl(segs[4], IPC_RMID, NULL));
	CHECK_OK(shm_ctl(segs[5], IPC_RMID, NULL));
}

static void create_one(void *arg)
{
	conf_sh->val[0] = CHECK_OK(shm_get(IPC_PRIVATE, 2 * MIB, 0600));
	(void)arg;
}

/* Capabilities: CAP_IPC_LOCK needs neither ownership nor an allowance;
 * uid 0 without it is an ordinary owner (by creator uid).  */
static void test_caps(void)
{
	const struct conf_who maker = { "uid 3000", 3000, 3000, 0, { 0 }, false, 0, RLIM_INFINITY };
	const struct conf_who ipclock = { "uid 0 with CAP_IPC_LOCK, memlock 0", 0, 0, 0, { 0 }, true,
					  CAP(CAP_IPC_LOCK), 0 };
	const struct conf_who nocap = { "uid 0 without capabilities, memlock 1 MiB", 0, 0, 0, { 0 }, true, 0,
					MIB };
	conf_shared();
	conf_run_as(&maker, create_one, NULL);
	segs[0] = (int)conf_sh->val[0];                                  /* 2 MiB, creator 3000 */
	segs[1] = (int)CHECK_OK(shm_get(IPC_PRIVATE, 2 * MIB, 0600)); /* 2 MiB, creator 0 */
	segs[2] = (int)CHECK_OK(shm_get(IPC_PRIVATE, 64 * KIB, 0600)); /* creator 0 */
	RUN(&ipclock, { 0, SHM_LOCK, 0 }, { 0, SHM_UNLOCK, 0 }, { 1, SHM_LOCK, 0 }, { 1, SHM_UNLOCK, 0 });
	RUN(&nocap, { 0, SHM_LOCK, EPERM }, { 1, SHM_LOCK, ENOMEM }, { 2, SHM_LOCK, 0 }, { 2, SHM_UNLOCK, 0 });
	for (int i = 0; i < 3; i++)
		CHECK_OK(shm_ctl(segs[i], IPC_RMID, NULL));
}

int main(void)
{
	conf_start();
	test_root();
	test_unprivileged();
	test_caps();
	return conf_done("shm_lock");
}
