/* SPDX-License-Identifier: MIT */
/* Permissions: ipcperms() (owner class when the euid is the uid or the
 * creator's uid, else group class when the fsgid or a supplementary group
 * is the gid or the creator's gid, else other; CAP_IPC_OWNER overrides)
 * for shmget, shmat (read, write, SHM_RDONLY, SHM_EXEC), IPC_STAT and
 * SHM_STAT, none for SHM_STAT_ANY; and the owner check (uid, creator uid,
 * or CAP_SYS_ADMIN) for IPC_SET and IPC_RMID.  Children take other
 * credentials: setuid() to an unprivileged uid (which clears the
 * capabilities), or uid 0 with a chosen capability set.
 *
 * The segments are created by uid 3000 gid 3000 and given to uid 1000 gid
 * 1000 by IPC_SET, so creator and owner differ.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

#define CAP(n) (1ULL << (n))

enum who { OWNER, CREATOR, GROUP, CGROUP, SUPP, OTHER, ROOT_NOCAP, ROOT_IPC_OWNER, ROOT_SYS_ADMIN, NWHO };

static const struct conf_who whos[NWHO] = {
	[OWNER] = { "owner uid 1000", 1000, 2000, 0, { 0 }, false, 0, RLIM_INFINITY },
	[CREATOR] = { "creator uid 3000", 3000, 2000, 0, { 0 }, false, 0, RLIM_INFINITY },
	[GROUP] = { "group gid 1000", 1001, 1000, 0, { 0 }, false, 0, RLIM_INFINITY },
	[CGROUP] = { "creator's group gid 3000", 1001, 3000, 0, { 0 }, false, 0, RLIM_INFINITY },
	[SUPP] = { "supplementary group 1000", 1001, 2001, 2, { 2002, 1000 }, false, 0, RLIM_INFINITY },
	[OTHER] = { "other uid 1002", 1002, 2002, 0, { 0 }, false, 0, RLIM_INFINITY },
	[ROOT_NOCAP] = { "uid 0 without capabilities", 0, 0, 0, { 0 }, true, 0, RLIM_INFINITY },
	[ROOT_IPC_OWNER] = { "uid 0 with CAP_IPC_OWNER", 0, 0, 0, { 0 }, true, CAP(CAP_IPC_OWNER),
			     RLIM_INFINITY },
	[ROOT_SYS_ADMIN] = { "uid 0 with CAP_SYS_ADMIN", 0, 0, 0, { 0 }, true, CAP(CAP_SYS_ADMIN),
			     RLIM_INFINITY },
};

enum op {
	GET_0,    /* shmget(key, 0, 0) */
	GET_R,    /* shmget(key, 0, 0400) */
	GET_W,    /* shmget(key, 0, 0200) */
	GET_RW,   /* shmget(key, 0, IPC_CREAT | 0600) */
	GET_X,    /* shmget(key, 0, 0001): the x bit counts too */
	GET_BIG,  /* shmget(key, size + 1, 0600): EINVAL before EACCES */
	GET_EXCL, /* shmget(key, 0, IPC_CREAT | IPC_EXCL | 0600): EEXIST first */
	AT,       /* shmat(id, NULL, 0): read and write */
	AT_RO,    /* SHM_RDONLY: read */
	AT_X,     /* SHM_EXEC: read, write, execute */
	AT_ROX,   /* SHM_RDONLY | SHM_EXEC */
	STAT,     /* IPC_STAT: read */
	SSTAT,    /* SHM_STAT: read */
	SSTAT_ANY, /* SHM_STAT_ANY: no check */
	SET,      /* IPC_SET with the current values: owner */
};

static const char *const op_names[] = { "shmget 0",  "shmget 0400",   "shmget 0200", "shmget 0600",
					"shmget 0001", "shmget bigger", "shmget excl", "shmat",
					"shmat RDONLY", "shmat EXEC",  "shmat RDONLY|EXEC", "IPC_STAT",
					"SHM_STAT",  "SHM_STAT_ANY", "IPC_SET" };

#define SEG_SIZE 8192
#define MODE_KEY(m) (0x5e6d3000 + (m))

static const unsigned int modes[] = { 0600, 0060, 0006, 0444, 0222, 0755, 0000, 0640, 0604, 0666 };
#define NMODES (sizeof(modes) / sizeof(modes[0]))
static int seg[NMODES];

static const struct perm_case {
	enum who who;
	unsigned int mode;
	enum op op;
	int err;
} cases[] = {
	{ OWNER, 0600, GET_RW, 0 },
	{ OWNER, 0600, AT, 0 },
	{ OWNER, 0600, AT_X, EACCES },
	{ OWNER, 0600, STAT, 0 },
	{ OWNER, 0600, SET, 0 },
	{ CREATOR, 0600, AT, 0 },
	{ CREATOR, 0600, GET_RW, 0 },
	{ CREATOR, 0600, SET, 0 },
	{ GROUP, 0600, GET_0, 0 },
	{ GROUP, 0600, GET_R, EACCES },
	{ GROUP, 0600, GET_X, EACCES },
	{ GROUP, 0600, GET_BIG, EINVAL },
	{ GROUP, 0600, GET_EXCL, EEXIST },
	{ GROUP, 0600, AT, EACCES },
	{ GROUP, 0600, AT_RO, EACCES },
	{ GROUP, 0600, STAT, EACCES },
	{ GROUP, 0600, SSTAT, EACCES },
	{ GROUP, 0600, SSTAT_ANY, 0 },
	{ GROUP, 0600, SET, EPERM },
	{ OTHER, 0600, GET_0, 0 },
	{ OTHER, 0600, GET_R, EACCES },
	{ OTHER, 0600, AT, EACCES },
	{ OTHER, 0600, SSTAT_ANY, 0 },
	{ ROOT_NOCAP, 0600, AT, EACCES },
	{ ROOT_NOCAP, 0600, STAT, EACCES },
	{ ROOT_NOCAP, 0600, SET, EPERM },
	{ ROOT_IPC_OWNER, 0600, AT, 0 },
	{ ROOT_IPC_OWNER, 0600, AT_X, 0 },
	{ ROOT_IPC_OWNER, 0600, STAT, 0 },
	{ ROOT_IPC_OWNER, 0600, GET_RW, 0 },
	{ ROOT_IPC_OWNER, 0600, SET, EPERM },
	{ ROOT_SYS_ADMIN, 0600, AT, EACCES },
	{ ROOT_SYS_ADMIN, 0600, SET, 0 },
	/* Group bits only: the owner class does not fall through to them.  */
	{ OWNER, 0060, AT, EACCES },
	{ OWNER, 0060, GET_R, EACCES },
	{ CREATOR, 0060, AT, EACCES },
	{ GROUP, 0060, AT, 0 },
	{ GROUP, 0060, GET_RW, 0 },
	{ GROUP, 0060, AT_X, EACCES },
	{ CGROUP, 0060, AT, 0 },
	{ CGROUP, 0060, STAT, 0 },
	{ SUPP, 0060, AT, 0 },
	{ SUPP, 0060, STAT, 0 },
	{ OTHER, 0060, AT, EACCES },
	{ OTHER, 0060, STAT, EACCES },
	{ ROOT_NOCAP, 0060, AT, EACCES },
	/* Other bits only.  */
	{ OWNER, 0006, AT, EACCES },
	{ GROUP, 0006, AT, EACCES },
	{ SUPP, 0006, AT, EACCES },
	{ CGROUP, 0006, AT_RO, EACCES },
	{ OTHER, 0006, AT, 0 },
	{ OTHER, 0006, GET_RW, 0 },
	{ OTHER, 0006, STAT, 0 },
	{ OTHER, 0006, AT_X, EACCES },
	{ ROOT_NOCAP, 0006, AT, 0 },
	{ ROOT_SYS_ADMIN, 0006, AT, 0 },
	/* Read for all.  */
	{ OTHER, 0444, AT, EACCES },
	{ OTHER, 0444, AT_RO, 0 },
	{ OTHER, 0444, GET_R, 0 },
	{ OTHER, 0444, GET_W, EACCES },
	{ OTHER, 0444, GET_RW, EACCES },
	{ OTHER, 0444, STAT, 0 },
	{ OTHER, 0444, SSTAT, 0 },
	{ OTHER, 0444, SET, EPERM },
	{ OWNER, 0444, AT, EACCES },
	{ OWNER, 0444, AT_RO, 0 },
	{ ROOT_NOCAP, 0444, AT_RO, 0 },
	{ ROOT_NOCAP, 0444, AT, EACCES },
	/* Write only.  */
	{ OTHER, 0222, AT, EACCES },
	{ OTHER, 0222, AT_RO, EACCES },
	{ OTHER, 0222, GET_W, 0 },
	{ OTHER, 0222, GET_R, EACCES },
	{ OTHER, 0222, STAT, EACCES },
	{ OTHER, 0222, SSTAT, EACCES },
	{ OTHER, 0222, SSTAT_ANY, 0 },
	/* Execute.  */
	{ OTHER, 0755, AT_ROX, 0 },
	{ OTHER, 0755, AT_X, EACCES },
	{ OTHER, 0755, AT, EACCES },
	{ OTHER, 0755, GET_X, 0 },
	{ GROUP, 0755, AT_ROX, 0 },
	{ OWNER, 0755, AT_X, 0 },
	{ CREATOR, 0755, AT_X, 0 },
	/* Nothing for anyone.  */
	{ OWNER, 0000, GET_0, 0 },
	{ OWNER, 0000, GET_R, EACCES },
	{ OWNER, 0000, AT, EACCES },
	{ OWNER, 0000, AT_RO, EACCES },
	{ OWNER, 0000, STAT, EACCES },
	{ OWNER, 0000, SSTAT_ANY, 0 },
	{ OWNER, 0000, SET, 0 },
	{ CREATOR, 0000, SET, 0 },
	{ OTHER, 0000, SET, EPERM },
	{ ROOT_IPC_OWNER, 0000, AT, 0 },
	{ ROOT_IPC_OWNER, 0000, AT_ROX, 0 },
	{ ROOT_IPC_OWNER, 0000, STAT, 0 },
	{ ROOT_IPC_OWNER, 0000, SSTAT, 0 },
	{ ROOT_IPC_OWNER, 0000, GET_RW, 0 },
	{ ROOT_SYS_ADMIN, 0000, AT, EACCES },
	{ ROOT_SYS_ADMIN, 0000, STAT, EACCES },
	{ ROOT_SYS_ADMIN, 0000, SET, 0 },
	/* Mixed classes.  */
	{ GROUP, 0640, AT, EACCES },
	{ GROUP, 0640, AT_RO, 0 },
	{ SUPP, 0640, AT_RO, 0 },
	{ OTHER, 0640, AT_RO, EACCES },
	{ OWNER, 0640, AT, 0 },
	{ GROUP, 0604, AT_RO, EACCES },
	{ CGROUP, 0604, AT_RO, EACCES },
	{ OTHER, 0604, AT_RO, 0 },
	{ OTHER, 0604, AT, EACCES },
	/* Every class grants: anyone.  */
	{ OTHER, 0666, AT, 0 },
	{ OTHER, 0666, GET_RW, 0 },
	{ ROOT_NOCAP, 0666, AT, 0 },
	{ OTHER, 0666, AT_X, EACCES },
	{ OTHER, 0666, SET, EPERM },
};

static int mode_index(unsigned int mode)
{
	for (size_t i = 0; i < NMODES; i++)
		if (modes[i] == mode)
			return (int)i;
	return -1;
}

static long do_op(enum op op, unsigned int mode, int id)
{
	struct shmid_ds ds;
	long r;
	switch (op) {
	case GET_0:
	case GET_R:
	case GET_W:
	case GET_RW:
	case GET_X:
	case GET_EXCL:
	case GET_BIG: {
		static const int flg[] = { [GET_0] = 0,
					   [GET_R] = 0400,
					   [GET_W] = 0200,
					   [GET_RW] = IPC_CREAT | 0600,
					   [GET_X] = 0001,
					   [GET_BIG] = 0600,
					   [GET_EXCL] = IPC_CREAT | IPC_EXCL | 0600 };
		r = shm_get(MODE_KEY(mode), op == GET_BIG ? SEG_SIZE + 1 : 0, flg[op]);
		if (r >= 0 && r != id) {
			CONF_FAIL("shmget of key %#x = %ld, want %d", MODE_KEY(mode), r, id);
			errno = EBADSLT;
			return -1;
		}
		return r;
	}
	case AT:
	case AT_RO:
	case AT_X:
	case AT_ROX: {
		static const int flg[] = { [AT] = 0, [AT_RO] = SHM_RDONLY, [AT_X] = SHM_EXEC,
					   [AT_ROX] = SHM_RDONLY | SHM_EXEC };
		r = shm_at(id, NULL, flg[op]);
		if (r != -1) {
			/* The mapping works as asked.  */
			volatile char *p = (char *)r;
			(void)p[0];
			if (op == AT || op == AT_X)
				p[1] = 1;
			shm_dt((void *)r);
			r = 0;
		}
		return r;
	}
	case STAT:
		return shm_ctl(id, IPC_STAT, &ds);
	case SSTAT:
	case SSTAT_ANY:
		r = shm_ctl(id % SEQ_MULT, op == SSTAT ? SHM_STAT : SHM_STAT_ANY, &ds);
		if (r >= 0 && r != id) {
			CONF_FAIL("SHM_STAT of %d = %ld, want %d", id % SEQ_MULT, r, id);
			return 0;
		}
		return r < 0 ? r : 0;
	case SET:
		memset(&ds, 0, sizeof(ds));
		ds.shm_perm.uid = 1000;
		ds.shm_perm.gid = 1000;
		ds.shm_perm.mode = (unsigned short)mode;
		return shm_ctl(id, IPC_SET, &ds);
	}
	return -1;
}

static void run_cases(void *arg)
{
	enum who w = (enum who)(intptr_t)arg;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct perm_case *c = &cases[i];
		if (c->who != w)
			continue;
		int id = seg[mode_index(c->mode)];
		errno = 0;
		long r = do_op(c->op, c->mode, id);
		int e = r < 0 ? errno : 0;
		conf_checks++;
		if (e != c->err)
			CONF_FAIL("case %zu: %s, mode %04o, %s: errno %d (%s), want %d (%s)", i, whos[w].name,
				  c->mode, op_names[c->op], e, strerror(e), c->err, strerror(c->err));
	}
}

/* Creates the segments as uid 3000 gid 3000.  */
static void create_segments(void *arg)
{
	int *out = arg;
	for (size_t i = 0; i < NMODES; i++)
		conf_sh->val[i] = CHECK_OK(shm_get(MODE_KEY(modes[i]), SEG_SIZE, IPC_CREAT | IPC_EXCL | 0600));
	(void)out;
}

static const struct conf_who creator = { "creator uid 3000", 3000, 3000, 0, { 0 }, false, 0, RLIM_INFINITY };

static void give_away(int id, unsigned int mode)
{
	struct shmid_ds ds;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = 1000;
	ds.shm_perm.gid = 1000;
	ds.shm_perm.mode = (unsigned short)mode;
	CHECK_OK(shm_ctl(id, IPC_SET, &ds));
}

static void test_table(void)
{
	struct shmid_ds ds;
	conf_shared();
	conf_run_as(&creator, create_segments, NULL);
	for (size_t i = 0; i < NMODES; i++) {
		seg[i] = (int)conf_sh->val[i];
		give_away(seg[i], modes[i]);
		STAT(seg[i], &ds);
		CHECK_EQ(ds.shm_perm.cuid, 3000);
		CHECK_EQ(ds.shm_perm.cgid, 3000);
		CHECK_EQ(ds.shm_perm.uid, 1000);
		CHECK_EQ(ds.shm_perm.gid, 1000);
		CHECK_EQ(ds.shm_perm.mode, modes[i]);
	}
	for (int w = 0; w < NWHO; w++)
		conf_run_as(&whos[w], run_cases, (void *)(intptr_t)w);
	/* Root with every capability passes every check.  */
	for (size_t i = 0; i < NMODES; i++) {
		char *p = ATTACH(seg[i], NULL, SHM_EXEC);
		if (p)
			CHECK_OK(shm_dt(p));
		STAT(seg[i], &ds);
		CHECK_EQ(ds.shm_perm.mode, modes[i]);
		CHECK_EQ(ds.shm_nattch, 0);
		CHECK_OK(shm_ctl(seg[i], IPC_RMID, NULL));
	}
}

/* IPC_RMID: owner, creator or CAP_SYS_ADMIN.  */
static const struct {
	enum who who;
	int err;
} rmid_cases[] = {
	{ OWNER, 0 },      { CREATOR, 0 },        { GROUP, EPERM },          { SUPP, EPERM },
	{ OTHER, EPERM },  { ROOT_NOCAP, EPERM }, { ROOT_IPC_OWNER, EPERM }, { ROOT_SYS_ADMIN, 0 },
};

static void try_rmid(void *arg)
{
	int *c = arg;
	errno = 0;
	long r = shm_ctl(c[0], IPC_RMID, NULL);
	int e = r < 0 ? errno : 0;
	conf_checks++;
	if (e != c[1])
		CONF_FAIL("IPC_RMID as %s: errno %d (%s), want %d", whos[c[2]].name, e, strerror(e), c[1]);
}

static void create_one(void *arg)
{
	conf_sh->val[0] = CHECK_OK(shm_get(IPC_PRIVATE, SEG_SIZE, 0666));
	(void)arg;
}

static void test_rmid(void)
{
	struct shmid_ds ds;
	for (size_t i = 0; i < sizeof(rmid_cases) / sizeof(rmid_cases[0]); i++) {
		conf_run_as(&creator, create_one, NULL);
		int id = (int)conf_sh->val[0];
		give_away(id, 0666);
		int arg[3] = { id, rmid_cases[i].err, (int)rmid_cases[i].who };
		conf_run_as(&whos[rmid_cases[i].who], try_rmid, arg);
		if (rmid_cases[i].err == 0) {
			CHECK_ERR(shm_ctl(id, IPC_STAT, &ds), EINVAL);
		} else {
			STAT(id, &ds);
			CHECK_EQ(ds.shm_perm.mode & SHM_DEST, 0);
			CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
		}
	}
}

/* The owner gives the segment to another uid: the old owner loses the
 * owner's rights, the creator keeps them, the new owner has them.  */
static void set_uid_to(void *arg)
{
	int *a = arg;
	struct shmid_ds ds;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = (uid_t)a[1];
	ds.shm_perm.gid = 1000;
	ds.shm_perm.mode = 0600;
	errno = 0;
	long r = shm_ctl(a[0], IPC_SET, &ds);
	int e = r < 0 ? errno : 0;
	conf_checks++;
	if (e != a[2])
		CONF_FAIL("IPC_SET uid %d: errno %d (%s), want %d", a[1], e, strerror(e), a[2]);
	/* Reading needs the read bit of the class the caller is in now.  */
	errno = 0;
	r = shm_ctl(a[0], IPC_STAT, &ds);
	e = r < 0 ? errno : 0;
	conf_checks++;
	if (e != a[3])
		CONF_FAIL("IPC_STAT after IPC_SET: errno %d (%s), want %d", e, strerror(e), a[3]);
}

static void test_give_away(void)
{
	struct shmid_ds ds;
	conf_run_as(&creator, create_one, NULL);
	int id = (int)conf_sh->val[0];
	give_away(id, 0600);
	/* Owner 1000 gives it to 1002: now owner 1000 is "other".  */
	int a1[4] = { id, 1002, 0, EACCES };
	conf_run_as(&whos[OWNER], set_uid_to, a1);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.uid, 1002);
	int a2[4] = { id, 1000, EPERM, EACCES };
	conf_run_as(&whos[OWNER], set_uid_to, a2);
	/* 1002 is the owner now.  */
	int a3[4] = { id, 1002, 0, 0 };
	conf_run_as(&whos[OTHER], set_uid_to, a3);
	/* The creator always is.  */
	int a4[4] = { id, 1000, 0, 0 };
	conf_run_as(&whos[CREATOR], set_uid_to, a4);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.uid, 1000);
	CHECK_EQ(ds.shm_perm.cuid, 3000);
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

int main(void)
{
	conf_start();
	test_table();
	test_rmid();
	test_give_away();
	return conf_done("shm_perm");
}
