/* SPDX-License-Identifier: MIT */
/* Conformance: semget, semop and semctl without sleeping.  Errno tables
 * (raw system calls, so libc's own checks do not hide the kernel's), the
 * order of the checks, IPC_STAT/SEM_STAT/IPC_INFO/SEM_INFO contents,
 * atomicity of multi-op calls, sempid, permissions seen by an unprivileged
 * process.  */
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

/* Placeholders in the tables, replaced when the row runs.  */
#define PH(n) (0x5ea0000000L + (n))
enum {
	P_ID = 1,   /* the test set: 3 semaphores, 0600, key `key' */
	P_STALE,    /* id of a removed set */
	P_STALEIDX, /* index of a removed set (unused slot) */
	P_KEY,      /* key of the test set */
	P_NOKEY,    /* key with no set */
	P_SEMMSL1,  /* semmsl + 1 */
	P_SEMOPM1,  /* semopm + 1 */
	P_BAD,      /* unmapped address */
	P_BUF,      /* a large valid buffer */
	P_BADSEMALL,/* SETALL values with one above SEMVMX */
	P_SETBADUID,/* IPC_SET buffer with uid -1 */
	P_SOPS_UP,  /* {0, +1} */
	P_SOPS_DEC_NW, /* {1, -1, IPC_NOWAIT}: sem 1 is 0 */
	P_SOPS_FBIG,   /* {3, +1} */
	P_SOPS_RANGE,  /* {2, +1}: sem 2 is SEMVMX */
	P_SOPS_FBIG_NW,/* {1, -1, IPC_NOWAIT}, {7, 1} */
	P_SOPS_ZERO,   /* {1, 0} */
	P_SOPS_ZERO0,  /* {0, 0} */
	P_SOPS_DEC,    /* {1, -1}: blocks */
	P_SOPS_MANY,   /* semopm + 1 increments of sem 0 */
	P_TS_ZERO,     /* {0, 0} */
	P_TS_NSEC,     /* {0, 1000000000} */
	P_TS_NEG,      /* {-1, 0} */
	P_TS_NEGNSEC,  /* {0, -1} */
};

struct row {
	const char *what;
	long nr;
	long a[4];
	int err; /* 0: must succeed */
};

static int set_id, stale_id, semmsl, semopm;
static key_t key, nokey;
static char buf[4096];
static unsigned short badsemall[3] = { 1, 40000, 1 };
static struct semid_ds badset;
static struct sembuf sops_up[1] = { { 0, 1, 0 } };
static struct sembuf sops_dec_nw[1] = { { 1, -1, IPC_NOWAIT } };
static struct sembuf sops_fbig[1] = { { 3, 1, 0 } };
static struct sembuf sops_range[1] = { { 2, 1, 0 } };
static struct sembuf sops_fbig_nw[2] = { { 1, -1, IPC_NOWAIT }, { 7, 1, 0 } };
static struct sembuf sops_zero[1] = { { 1, 0, 0 } };
static struct sembuf sops_zero0[1] = { { 0, 0, 0 } };
static struct sembuf sops_dec[1] = { { 1, -1, 0 } };
static struct sembuf *sops_many;
static struct timespec ts_zero = { 0, 0 }, ts_nsec = { 0, 1000000000 }, ts_neg = { -1, 0 },
		       ts_negnsec = { 0, -1 };

static long arg(long v)
{
	switch (v - PH(0)) {
	case P_ID:
		return set_id;
	case P_STALE:
		return stale_id;
	case P_STALEIDX:
		return stale_id % 32768;
	case P_KEY:
		return key;
	case P_NOKEY:
		return nokey;
	case P_SEMMSL1:
		return semmsl + 1;
	case P_SEMOPM1:
		return semopm + 1;
	case P_BAD:
		return 1;
	case P_BUF:
		return (long)buf;
	case P_BADSEMALL:
		return (long)badsemall;
	case P_SETBADUID:
		return (long)&badset;
	case P_SOPS_UP:
		return (long)sops_up;
	case P_SOPS_DEC_NW:
		return (long)sops_dec_nw;
	case P_SOPS_FBIG:
		return (long)sops_fbig;
	case P_SOPS_RANGE:
		return (long)sops_range;
	case P_SOPS_FBIG_NW:
		return (long)sops_fbig_nw;
	case P_SOPS_ZERO:
		return (long)sops_zero;
	case P_SOPS_ZERO0:
		return (long)sops_zero0;
	case P_SOPS_DEC:
		return (long)sops_dec;
	case P_SOPS_MANY:
		return (long)sops_many;
	case P_TS_ZERO:
		return (long)&ts_zero;
	case P_TS_NSEC:
		return (long)&ts_nsec;
	case P_TS_NEG:
		return (long)&ts_neg;
	case P_TS_NEGNSEC:
		return (long)&ts_negnsec;
	}
	return v;
}

#define ID PH(P_ID)
#define STALE PH(P_STALE)
#define BAD PH(P_BAD)
#define BUF PH(P_BUF)

/* Every row runs against the same state: sem 0 = 0, sem 1 = 0,
 * sem 2 = SEMVMX.  Rows that succeed are chosen not to change it.  */
static const struct row rows[] = {
	/* semget: nsems range, then the key lookup, then more_checks.  */
	{ "semget nsems 0 private", SYS_semget, { IPC_PRIVATE, 0, 0600 }, EINVAL },
	{ "semget nsems -1", SYS_semget, { IPC_PRIVATE, -1, 0600 }, EINVAL },
	{ "semget nsems > semmsl", SYS_semget, { IPC_PRIVATE, PH(P_SEMMSL1), 0600 }, EINVAL },
	{ "semget nsems > semmsl existing", SYS_semget, { PH(P_KEY), PH(P_SEMMSL1), 0 }, EINVAL },
	{ "semget no key", SYS_semget, { PH(P_NOKEY), 1, 0 }, ENOENT },
	{ "semget no key nsems 0", SYS_semget, { PH(P_NOKEY), 0, 0 }, ENOENT },
	{ "semget create nsems 0", SYS_semget, { PH(P_NOKEY), 0, IPC_CREAT | 0600 }, EINVAL },
	{ "semget excl", SYS_semget, { PH(P_KEY), 1, IPC_CREAT | IPC_EXCL | 0600 }, EEXIST },
	{ "semget excl beats nsems", SYS_semget, { PH(P_KEY), 9, IPC_CREAT | IPC_EXCL | 0600 }, EEXIST },
	{ "semget more nsems", SYS_semget, { PH(P_KEY), 4, 0 }, EINVAL },
	{ "semget fewer nsems", SYS_semget, { PH(P_KEY), 2, 0 }, 0 },
	{ "semget nsems 0 existing", SYS_semget, { PH(P_KEY), 0, IPC_CREAT }, 0 },

	/* semop: E2BIG and nsops < 1 before the copy, EFAULT, then semid,
	 * lookup, EFBIG, then the operation itself.  */
	{ "semop nsops 0", SYS_semop, { ID, PH(P_SOPS_UP), 0 }, EINVAL },
	{ "semop nsops 0 bad semid", SYS_semop, { -1, BAD, 0 }, EINVAL },
	{ "semop nsops > semopm", SYS_semop, { ID, PH(P_SOPS_MANY), PH(P_SEMOPM1) }, E2BIG },
	{ "semop E2BIG before EFAULT", SYS_semop, { -1, BAD, PH(P_SEMOPM1) }, E2BIG },
	{ "semop bad sops", SYS_semop, { ID, BAD, 1 }, EFAULT },
	{ "semop EFAULT before semid", SYS_semop, { -1, BAD, 1 }, EFAULT },
	{ "semop semid -1", SYS_semop, { -1, PH(P_SOPS_UP), 1 }, EINVAL },
	{ "semop stale id", SYS_semop, { STALE, PH(P_SOPS_UP), 1 }, EINVAL },
	{ "semop no such index", SYS_semop, { PH(P_STALEIDX), PH(P_SOPS_UP), 1 }, EINVAL },
	{ "semop sem_num >= nsems", SYS_semop, { ID, PH(P_SOPS_FBIG), 1 }, EFBIG },
	{ "semop EFBIG before EAGAIN", SYS_semop, { ID, PH(P_SOPS_FBIG_NW), 2 }, EFBIG },
	{ "semop nowait", SYS_semop, { ID, PH(P_SOPS_DEC_NW), 1 }, EAGAIN },
	{ "semop above SEMVMX", SYS_semop, { ID, PH(P_SOPS_RANGE), 1 }, ERANGE },
	{ "semop wait-for-zero at 0", SYS_semop, { ID, PH(P_SOPS_ZERO), 1 }, 0 },
	/* nsops is an unsigned int: the upper half is ignored.  */
	{ "semop nsops upper bits", SYS_semop, { ID, PH(P_SOPS_ZERO), 0x100000001L }, 0 },

	/* semtimedop: the timeout is read first, its value checked after
	 * the sops are read.  */
	{ "semtimedop bad timeout", SYS_semtimedop, { ID, PH(P_SOPS_ZERO), 1, BAD }, EFAULT },
	{ "semtimedop bad timeout first", SYS_semtimedop, { -1, BAD, 0, BAD }, EFAULT },
	{ "semtimedop bad sops", SYS_semtimedop, { ID, BAD, 1, PH(P_TS_NSEC) }, EFAULT },
	{ "semtimedop nsec 1e9", SYS_semtimedop, { ID, PH(P_SOPS_ZERO), 1, PH(P_TS_NSEC) }, EINVAL },
	{ "semtimedop sec < 0", SYS_semtimedop, { ID, PH(P_SOPS_ZERO), 1, PH(P_TS_NEG) }, EINVAL },
	{ "semtimedop nsec < 0", SYS_semtimedop, { ID, PH(P_SOPS_ZERO), 1, PH(P_TS_NEGNSEC) }, EINVAL },
	{ "semtimedop EINVAL timeout before EFBIG", SYS_semtimedop, { ID, PH(P_SOPS_FBIG), 1, PH(P_TS_NSEC) },
	  EINVAL },
	{ "semtimedop EINVAL timeout before lookup", SYS_semtimedop,
	  { STALE, PH(P_SOPS_ZERO), 1, PH(P_TS_NSEC) }, EINVAL },
	{ "semtimedop zero timeout", SYS_semtimedop, { ID, PH(P_SOPS_ZERO0), 1, PH(P_TS_ZERO) }, 0 },
	{ "semtimedop zero timeout blocks", SYS_semtimedop, { ID, PH(P_SOPS_DEC), 1, PH(P_TS_ZERO) }, EAGAIN },
	{ "semtimedop null timeout", SYS_semtimedop, { ID, PH(P_SOPS_ZERO), 1, 0 }, 0 },

	/* semctl.  */
	{ "semctl semid -1 IPC_INFO", SYS_semctl, { -1, 0, IPC_INFO, BUF }, EINVAL },
	{ "semctl semid -1 GETVAL", SYS_semctl, { -1, 0, GETVAL, 0 }, EINVAL },
	{ "semctl IPC_64 flag", SYS_semctl, { ID, 0, IPC_STAT | 0x100, BUF }, EINVAL },
	{ "semctl IPC_64 IPC_RMID", SYS_semctl, { ID, 0, IPC_RMID | 0x100, 0 }, EINVAL },
	{ "semctl unknown cmd", SYS_semctl, { ID, 0, 1234, BUF }, EINVAL },
	{ "semctl cmd 21", SYS_semctl, { ID, 0, 21, BUF }, EINVAL },
	{ "semctl IPC_STAT bad buf", SYS_semctl, { ID, 0, IPC_STAT, BAD }, EFAULT },
	{ "semctl IPC_STAT stale", SYS_semctl, { STALE, 0, IPC_STAT, BUF }, EINVAL },
	{ "semctl IPC_STAT stale bad buf", SYS_semctl, { STALE, 0, IPC_STAT, BAD }, EINVAL },
	{ "semctl SEM_STAT unused index", SYS_semctl, { PH(P_STALEIDX), 0, SEM_STAT, BUF }, EINVAL },
	{ "semctl SEM_STAT_ANY unused index", SYS_semctl, { PH(P_STALEIDX), 0, SEM_STAT_ANY, BUF }, EINVAL },
	/* SEM_STAT masks its argument to an index: a full id works.  */
	{ "semctl SEM_STAT bad buf", SYS_semctl, { ID, 0, SEM_STAT, BAD }, EFAULT },
	{ "semctl SEM_STAT_ANY full id", SYS_semctl, { ID, 0, SEM_STAT_ANY, BUF }, 0 },
	{ "semctl IPC_INFO bad buf", SYS_semctl, { 0, 0, IPC_INFO, BAD }, EFAULT },
	{ "semctl SEM_INFO bad buf", SYS_semctl, { 0, 0, SEM_INFO, BAD }, EFAULT },
	{ "semctl SETVAL > SEMVMX", SYS_semctl, { ID, 0, SETVAL, 32768 }, ERANGE },
	{ "semctl SETVAL < 0", SYS_semctl, { ID, 0, SETVAL, -1 }, ERANGE },
	{ "semctl SETVAL range before lookup", SYS_semctl, { STALE, 0, SETVAL, 99999 }, ERANGE },
	{ "semctl SETVAL semid -1 first", SYS_semctl, { -1, 0, SETVAL, 99999 }, EINVAL },
	{ "semctl SETVAL semnum", SYS_semctl, { ID, 3, SETVAL, 0 }, EINVAL },
	{ "semctl SETVAL semnum -1", SYS_semctl, { ID, -1, SETVAL, 0 }, EINVAL },
	{ "semctl SETVAL stale", SYS_semctl, { STALE, 0, SETVAL, 0 }, EINVAL },
	{ "semctl GETVAL semnum", SYS_semctl, { ID, 3, GETVAL, 0 }, EINVAL },
	{ "semctl GETVAL semnum -1", SYS_semctl, { ID, -1, GETVAL, 0 }, EINVAL },
	{ "semctl GETPID semnum", SYS_semctl, { ID, 3, GETPID, 0 }, EINVAL },
	{ "semctl GETNCNT semnum", SYS_semctl, { ID, 3, GETNCNT, 0 }, EINVAL },
	{ "semctl GETZCNT semnum", SYS_semctl, { ID, 3, GETZCNT, 0 }, EINVAL },
	{ "semctl GETVAL stale", SYS_semctl, { STALE, 0, GETVAL, 0 }, EINVAL },
	{ "semctl GETALL bad buf", SYS_semctl, { ID, 0, GETALL, BAD }, EFAULT },
	{ "semctl GETALL stale", SYS_semctl, { STALE, 0, GETALL, BAD }, EINVAL },
	{ "semctl SETALL bad buf", SYS_semctl, { ID, 0, SETALL, BAD }, EFAULT },
	{ "semctl SETALL > SEMVMX", SYS_semctl, { ID, 0, SETALL, PH(P_BADSEMALL) }, ERANGE },
	{ "semctl SETALL stale", SYS_semctl, { STALE, 0, SETALL, BAD }, EINVAL },
	{ "semctl IPC_SET bad buf", SYS_semctl, { ID, 0, IPC_SET, BAD }, EFAULT },
	{ "semctl IPC_SET copy before lookup", SYS_semctl, { STALE, 0, IPC_SET, BAD }, EFAULT },
	{ "semctl IPC_SET uid -1", SYS_semctl, { ID, 0, IPC_SET, PH(P_SETBADUID) }, EINVAL },
	{ "semctl IPC_SET stale", SYS_semctl, { STALE, 0, IPC_SET, BUF }, EINVAL },
	{ "semctl IPC_RMID stale", SYS_semctl, { STALE, 0, IPC_RMID, 0 }, EINVAL },
};

static void run_rows(const struct row *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		long ret = syscall(r[i].nr, arg(r[i].a[0]), arg(r[i].a[1]), arg(r[i].a[2]), arg(r[i].a[3]));
		int e = errno;
		conf_checks++;
		if (r[i].err == 0 && ret < 0)
			CONF_FAIL("%s: %ld errno %d (%s), want success", r[i].what, ret, e, strerror(e));
		else if (r[i].err != 0 && (ret != -1 || e != r[i].err))
			CONF_FAIL("%s: %ld errno %d (%s), want errno %d (%s)", r[i].what, ret, e, strerror(e),
				  r[i].err, strerror(r[i].err));
	}
}

/* Rows for a process without privileges, against a 0600 root set (ID) and
 * the same set made 0644 (run twice, see main).  */
static const struct row unpriv_0600[] = {
	/* ipcperms() with no bit asked grants access.  */
	{ "semget no mode asked", SYS_semget, { PH(P_KEY), 3, 0 }, 0 },
	{ "semget read asked", SYS_semget, { PH(P_KEY), 3, 0400 }, EACCES },
	{ "semget more_checks before perms", SYS_semget, { PH(P_KEY), 4, 0 }, EINVAL },
	{ "semop read", SYS_semop, { ID, PH(P_SOPS_ZERO), 1 }, EACCES },
	{ "semop alter", SYS_semop, { ID, PH(P_SOPS_UP), 1 }, EACCES },
	{ "semop EFBIG before EACCES", SYS_semop, { ID, PH(P_SOPS_FBIG), 1 }, EFBIG },
	{ "semctl GETVAL", SYS_semctl, { ID, 0, GETVAL, 0 }, EACCES },
	{ "semctl GETVAL perms before semnum", SYS_semctl, { ID, 7, GETVAL, 0 }, EACCES },
	{ "semctl GETPID", SYS_semctl, { ID, 0, GETPID, 0 }, EACCES },
	{ "semctl GETNCNT", SYS_semctl, { ID, 0, GETNCNT, 0 }, EACCES },
	{ "semctl GETZCNT", SYS_semctl, { ID, 0, GETZCNT, 0 }, EACCES },
	{ "semctl GETALL", SYS_semctl, { ID, 0, GETALL, BUF }, EACCES },
	{ "semctl GETALL perms before EFAULT", SYS_semctl, { ID, 0, GETALL, BAD }, EACCES },
	{ "semctl SETALL", SYS_semctl, { ID, 0, SETALL, BAD }, EACCES },
	{ "semctl SETVAL", SYS_semctl, { ID, 0, SETVAL, 0 }, EACCES },
	{ "semctl SETVAL semnum before perms", SYS_semctl, { ID, 5, SETVAL, 0 }, EINVAL },
	{ "semctl IPC_STAT", SYS_semctl, { ID, 0, IPC_STAT, BUF }, EACCES },
	{ "semctl IPC_STAT perms before EFAULT", SYS_semctl, { ID, 0, IPC_STAT, BAD }, EACCES },
	{ "semctl IPC_SET", SYS_semctl, { ID, 0, IPC_SET, BUF }, EPERM },
	{ "semctl IPC_RMID", SYS_semctl, { ID, 0, IPC_RMID, 0 }, EPERM },
	{ "semctl IPC_INFO", SYS_semctl, { 0, 0, IPC_INFO, BUF }, 0 },
};
static const struct row unpriv_0644[] = {
	{ "semget read", SYS_semget, { PH(P_KEY), 3, 0400 }, 0 },
	{ "semget write asked", SYS_semget, { PH(P_KEY), 3, 0200 }, EACCES },
	{ "semop read", SYS_semop, { ID, PH(P_SOPS_ZERO), 1 }, 0 },
	{ "semop alter", SYS_semop, { ID, PH(P_SOPS_UP), 1 }, EACCES },
	{ "semctl GETVAL", SYS_semctl, { ID, 0, GETVAL, 0 }, 0 },
	{ "semctl GETALL", SYS_semctl, { ID, 0, GETALL, BUF }, 0 },
	{ "semctl IPC_STAT", SYS_semctl, { ID, 0, IPC_STAT, BUF }, 0 },
	{ "semctl SETVAL", SYS_semctl, { ID, 0, SETVAL, 0 }, EACCES },
	{ "semctl SETALL", SYS_semctl, { ID, 0, SETALL, BUF }, EACCES },
	{ "semctl IPC_RMID", SYS_semctl, { ID, 0, IPC_RMID, 0 }, EPERM },
};

/* Run `rows' in a child that dropped root (uid/gid 65534, no
 * capabilities).  Returns the child's failed-check count.  */
static void run_unprivileged(const struct row *r, size_t n)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		conf_failed = 0;
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(100);
		run_rows(r, n);
		_exit(conf_failed > 99 ? 99 : conf_failed);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	conf_checks += (int)n;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("unprivileged child: status 0x%x", st);
}

static int getval(int id, int num)
{
	return semctl(id, num, GETVAL);
}

static void test_stat_info(void)
{
	struct semid_ds ds;
	struct seminfo si;
	time_t before = time(NULL);
	int id = CHECK_OK(semget(IPC_PRIVATE, 5, 0640));

	memset(&ds, 0x5a, sizeof(ds));
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_EQ(ds.sem_perm.__key, IPC_PRIVATE);
	CHECK_EQ(ds.sem_perm.mode, 0640);
	CHECK_EQ(ds.sem_perm.uid, geteuid());
	CHECK_EQ(ds.sem_perm.cuid, geteuid());
	CHECK_EQ(ds.sem_perm.gid, getegid());
	CHECK_EQ(ds.sem_perm.cgid, getegid());
	CHECK_EQ(ds.sem_perm.__seq, id / 32768);
	CHECK_EQ(ds.sem_nsems, 5);
	CHECK_EQ(ds.sem_otime, 0);
	CHECK_TRUE(ds.sem_ctime >= before - 1 && ds.sem_ctime <= time(NULL) + 1);

	/* SEM_STAT takes an index and returns the full id.  */
	CHECK_EQ(semctl(id % 32768, 0, SEM_STAT, &ds), id);
	CHECK_EQ(semctl(id % 32768, 0, SEM_STAT_ANY, &ds), id);
	CHECK_EQ(ds.sem_nsems, 5);
	/* With IPC_STAT the index alone is not an id (unless seq is 0).  */
	if (id / 32768 != 0)
		CHECK_ERR(semctl(id % 32768, 0, IPC_STAT, &ds), EINVAL);

	/* The kernel's constants; the index returned is the highest in use.  */
	int maxidx = CHECK_OK(semctl(0, 0, IPC_INFO, &si));
	CHECK_TRUE(maxidx >= id % 32768);
	CHECK_EQ(si.semvmx, 32767);
	CHECK_EQ(si.semusz, 20);
	CHECK_EQ(si.semaem, 32767);
	CHECK_EQ(si.semmnu, si.semmap);
	CHECK_TRUE(si.semmsl > 0 && si.semopm > 0 && si.semmni > 0);
	CHECK_EQ(semctl(0, 0, SEM_INFO, &si), maxidx);
	CHECK_TRUE(si.semusz >= 1);
	CHECK_TRUE(si.semaem >= 5);
	CHECK_EQ(si.semvmx, 32767);

	/* semop sets sem_otime; a failed one does not.  */
	struct sembuf s = { 1, -1, IPC_NOWAIT };
	CHECK_ERR(semop(id, &s, 1), EAGAIN);
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_EQ(ds.sem_otime, 0);
	s.sem_op = 0;
	s.sem_flg = 0;
	CHECK_OK(semop(id, &s, 1));
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_TRUE(ds.sem_otime >= before && ds.sem_otime <= time(NULL) + 1);

	/* IPC_SET: uid, gid and the low 9 mode bits.  */
	ds.sem_perm.uid = 1234;
	ds.sem_perm.gid = 4321;
	ds.sem_perm.mode = 07604;
	ds.sem_nsems = 99;
	CHECK_OK(semctl(id, 0, IPC_SET, &ds));
	memset(&ds, 0, sizeof(ds));
	CHECK_OK(semctl(id, 0, IPC_STAT, &ds));
	CHECK_EQ(ds.sem_perm.uid, 1234);
	CHECK_EQ(ds.sem_perm.gid, 4321);
	CHECK_EQ(ds.sem_perm.cuid, geteuid());
	CHECK_EQ(ds.sem_perm.mode, 0604);
	CHECK_EQ(ds.sem_nsems, 5);
	CHECK_OK(semctl(id, 0, IPC_RMID));
	CHECK_ERR(semctl(id, 0, IPC_STAT, &ds), EINVAL);
}

static void test_values(void)
{
	int id = CHECK_OK(semget(IPC_PRIVATE, 4, 0600));
	unsigned short v[4] = { 1, 0, 5, 32767 }, g[4];

	CHECK_EQ(semctl(id, 0, GETPID), 0);
	CHECK_OK(semctl(id, 0, SETALL, v));
	CHECK_OK(semctl(id, 0, GETALL, g));
	CHECK_TRUE(memcmp(v, g, sizeof(v)) == 0);
	CHECK_EQ(semctl(id, 3, GETPID), getpid());
	CHECK_EQ(semctl(id, 0, GETNCNT), 0);
	CHECK_EQ(semctl(id, 1, GETZCNT), 0);

	/* All or nothing: a blocking sop, an out-of-range result.  */
	struct sembuf a1[3] = { { 0, -1, 0 }, { 2, 3, 0 }, { 1, -1, IPC_NOWAIT } };
	CHECK_ERR(semop(id, a1, 3), EAGAIN);
	struct sembuf a2[3] = { { 0, -1, SEM_UNDO }, { 2, 1, 0 }, { 3, 1, 0 } };
	CHECK_ERR(semop(id, a2, 3), ERANGE);
	struct sembuf a3[2] = { { 1, 1, 0 }, { 1, 0, IPC_NOWAIT } };
	CHECK_ERR(semop(id, a3, 2), EAGAIN);
	CHECK_OK(semctl(id, 0, GETALL, g));
	CHECK_TRUE(memcmp(v, g, sizeof(v)) == 0);

	/* Each sop sees the ones before it on the same semaphore.  */
	struct sembuf a4[4] = { { 1, 2, 0 }, { 1, -1, 0 }, { 1, -1, 0 }, { 1, 0, 0 } };
	CHECK_OK(semop(id, a4, 4));
	struct sembuf a5[3] = { { 2, 32762, 0 }, { 2, -32767, 0 }, { 0, -1, 0 } };
	CHECK_OK(semop(id, a5, 3));
	CHECK_EQ(getval(id, 0), 0);
	CHECK_EQ(getval(id, 1), 0);
	CHECK_EQ(getval(id, 2), 0);
	CHECK_EQ(getval(id, 3), 32767);

	/* sempid: every sop of a completed call, wait-for-zero included;
	 * SETVAL too.  */
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf z[2] = { { 1, 0, 0 }, { 2, 1, 0 } };
		_exit(semop(id, z, 2) == 0 ? 0 : 1);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(semctl(id, 1, GETPID), pid);
	CHECK_EQ(semctl(id, 2, GETPID), pid);
	CHECK_EQ(semctl(id, 0, GETPID), getpid());
	CHECK_OK(semctl(id, 1, SETVAL, 7));
	CHECK_EQ(semctl(id, 1, GETPID), getpid());
	CHECK_EQ(getval(id, 1), 7);
	/* SETVAL's argument is an int in a register: upper bits ignored.  */
	CHECK_OK(syscall(SYS_semctl, id, 1, SETVAL, 0x700000009L));
	CHECK_EQ(getval(id, 1), 9);
	CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_keys(void)
{
	key_t k = (key_t)(0x5e000000 | (getpid() & 0xffffff));
	int id = CHECK_OK(semget(k, 2, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_EQ(semget(k, 2, 0), id);
	CHECK_EQ(semget(k, 0, 0), id);
	CHECK_EQ(semget(k, 1, IPC_CREAT | 0600), id);
	CHECK_ERR(semget(k, 3, IPC_CREAT | 0600), EINVAL);
	/* Two private sets are different.  */
	int p1 = CHECK_OK(semget(IPC_PRIVATE, 1, 0600)), p2 = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	CHECK_TRUE(p1 != p2);
	CHECK_OK(semctl(p1, 0, IPC_RMID));
	CHECK_OK(semctl(p2, 0, IPC_RMID));
	CHECK_OK(semctl(id, 0, IPC_RMID));
	CHECK_ERR(semget(k, 2, 0), ENOENT);
}

int main(void)
{
	struct seminfo si;
	if (semctl(0, 0, IPC_INFO, &si) < 0)
		CONF_SKIP("System V semaphores not available");
	semmsl = si.semmsl;
	semopm = si.semopm;
	sops_many = calloc((size_t)semopm + 1, sizeof(*sops_many));
	for (int i = 0; i <= semopm; i++)
		sops_many[i] = (struct sembuf){ 0, 1, 0 };

	/* Keys derived from the pid, skipping any the host already uses.  */
	set_id = -1;
	for (int i = 0; i < 64 && set_id < 0; i++) {
		key = (key_t)(0x5e100000 | ((getpid() + i * 7919) & 0xfffff));
		nokey = key ^ 0x00080000;
		if (semget(nokey, 0, 0) >= 0)
			continue;
		set_id = (int)semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
	}
	if (set_id < 0)
		CONF_SKIP("no free key");
	stale_id = CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	CHECK_OK(semctl(stale_id, 0, IPC_RMID));
	CHECK_OK(semctl(set_id, 2, SETVAL, 32767));
	CHECK_OK(semctl(set_id, 0, IPC_STAT, &badset));
	badset.sem_perm.uid = (uid_t)-1;

	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
	CHECK_EQ(getval(set_id, 0), 0);
	CHECK_EQ(getval(set_id, 1), 0);
	CHECK_EQ(getval(set_id, 2), 32767);

	if (geteuid() == 0) {
		run_unprivileged(unpriv_0600, sizeof(unpriv_0600) / sizeof(unpriv_0600[0]));
		struct semid_ds ds;
		CHECK_OK(semctl(set_id, 0, IPC_STAT, &ds));
		ds.sem_perm.mode = 0644;
		CHECK_OK(semctl(set_id, 0, IPC_SET, &ds));
		run_unprivileged(unpriv_0644, sizeof(unpriv_0644) / sizeof(unpriv_0644[0]));
		/* An unprivileged owner may remove it.  */
		ds.sem_perm.uid = 65534;
		CHECK_OK(semctl(set_id, 0, IPC_SET, &ds));
		static const struct row owner[] = {
			{ "owner IPC_SET", SYS_semctl, { ID, 0, IPC_SET, BUF }, 0 },
			{ "owner GETVAL", SYS_semctl, { ID, 0, GETVAL, 0 }, 0 },
			{ "owner IPC_RMID", SYS_semctl, { ID, 0, IPC_RMID, 0 }, 0 },
		};
		memcpy(buf, &ds, sizeof(ds));
		run_unprivileged(owner, sizeof(owner) / sizeof(owner[0]));
		CHECK_ERR(semctl(set_id, 0, GETVAL), EINVAL);
	} else {
		printf("# not root: permission rows skipped\n");
		CHECK_OK(semctl(set_id, 0, IPC_RMID));
	}

	test_stat_info();
	test_values();
	test_keys();
	free(sops_many);
	return conf_done("sem_basic");
}
