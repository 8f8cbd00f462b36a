/* SPDX-License-Identifier: MIT */
/* Owners and creators seen from a user namespace, as Linux's ipc/ code
 * translates them: kernel64_to_ipc64_perm() shows every id of an object
 * mapped into the caller's user namespace (from_kuid_munged: the
 * overflow id, /proc/sys/kernel/overflowuid, when it has no mapping),
 * and ipc_update_perm() takes the ids IPC_SET gives in that namespace
 * (make_kuid: EINVAL when it has no mapping).
 *
 * The child unshares a user namespace whose ids 0..999 are the parent's
 * 10000..10999, becomes its root, and for a segment, a semaphore set
 * and a message queue:
 *
 *  - sees host root's object (0644, in the same IPC namespace) owned by
 *    the overflow uid and gid, with IPC_STAT and with *_STAT_ANY;
 *  - creates its own: IPC_STAT and *_STAT show uid, gid, cuid, cgid 0;
 *  - IPC_SET uid 5, gid 7: shown as 5 and 7, creator still 0;
 *  - IPC_SET of an unmapped uid (5000) or gid: EINVAL, nothing changed;
 *  - as its uid 5 (the parent's 10005), is the owner: attaches its 0600
 *    segment.
 * The parent then sees owner 10005, group 10007, creator 10000.  The
 * parent may itself be in a user namespace (a container's).
 *
 * Runner contract: see shm_common.h.  */
#include <sys/msg.h>
#include <sys/sem.h>

#include "shm_common.h"

#define BASE 10000
#define RANGE 1000


enum { SHM, SEM, MSG };
static const char *const kinds[] = { "shm", "sem", "msg" };
static long ouid, ogid;

/* IPC_STAT (or a *_STAT command) of one object into *perm.  */
static long stat_perm(int kind, int id, int cmd, struct ipc_perm *perm)
{
	struct shmid_ds sds;
	struct semid_ds mds;
	struct msqid_ds qds;
	long r;
	switch (kind) {
	case SHM:
		r = syscall(SYS_shmctl, id, cmd, &sds);
		*perm = sds.shm_perm;
		return r;
	case SEM:
		r = syscall(SYS_semctl, id, 0, cmd, &mds);
		*perm = mds.sem_perm;
		return r;
	default:
		r = syscall(SYS_msgctl, id, cmd, &qds);
		*perm = qds.msg_perm;
		return r;
	}
}

/* IPC_SET of uid, gid and mode on one object.  */
static long set_perm(int kind, int id, uid_t uid, gid_t gid, unsigned short mode)
{
	struct shmid_ds sds;
	struct semid_ds mds;
	struct msqid_ds qds;
	struct ipc_perm *p;
	switch (kind) {
	case SHM:
		CHECK_OK(syscall(SYS_shmctl, id, IPC_STAT, &sds));
		p = &sds.shm_perm;
		break;
	case SEM:
		CHECK_OK(syscall(SYS_semctl, id, 0, IPC_STAT, &mds));
		p = &mds.sem_perm;
		break;
	default:
		CHECK_OK(syscall(SYS_msgctl, id, IPC_STAT, &qds));
		p = &qds.msg_perm;
		break;
	}
	p->uid = uid;
	p->gid = gid;
	p->mode = mode;
	switch (kind) {
	case SHM:
		return syscall(SYS_shmctl, id, IPC_SET, &sds);
	case SEM:
		return syscall(SYS_semctl, id, 0, IPC_SET, &mds);
	default:
		return syscall(SYS_msgctl, id, IPC_SET, &qds);
	}
}

static long make(int kind, int mode)
{
	switch (kind) {
	case SHM:
		return shm_get(IPC_PRIVATE, 8192, IPC_CREAT | mode);
	case SEM:
		return syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | mode);
	default:
		return syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | mode);
	}
}

static void check_ids(const char *what, const struct ipc_perm *p, long uid, long gid, long cuid, long cgid)
{
	conf_checks++;
	if ((long)p->uid != uid || (long)p->gid != gid || (long)p->cuid != cuid || (long)p->cgid != cgid)
		CONF_FAIL("%s: uid %u gid %u cuid %u cgid %u, want %ld %ld %ld %ld", what, (unsigned int)p->uid,
			  (unsigned int)p->gid, (unsigned int)p->cuid, (unsigned int)p->cgid, uid, gid, cuid, cgid);
}

/* The index of id for the *_STAT commands: its low 15 bits.  */
static int idx_of(int id)
{
	return id & 0x7fff;
}

static int host_obj[3];

static void in_userns(void *arg)
{
	(void)arg;
	CHECK_OK(setresgid(0, 0, 0));
	CHECK_OK(setresuid(0, 0, 0));
	char what[96];
	for (int k = SHM; k <= MSG; k++) {
		struct ipc_perm p;
		/* Host root's object: nothing of it is mapped here.  */
		CHECK_OK(stat_perm(k, host_obj[k], IPC_STAT, &p));
		snprintf(what, sizeof(what), "%s IPC_STAT of host root's", kinds[k]);
		check_ids(what, &p, ouid, ogid, ouid, ogid);
		int any = k == SHM ? SHM_STAT_ANY : k == SEM ? SEM_STAT_ANY : MSG_STAT_ANY;
		CHECK_EQ(stat_perm(k, idx_of(host_obj[k]), any, &p), host_obj[k]);
		snprintf(what, sizeof(what), "%s *_STAT_ANY of host root's", kinds[k]);
		check_ids(what, &p, ouid, ogid, ouid, ogid);

		/* Its own object.  */
		int id = (int)CHECK_OK(make(k, 0600));
		conf_sh->val[k] = id;
		CHECK_OK(stat_perm(k, id, IPC_STAT, &p));
		snprintf(what, sizeof(what), "%s IPC_STAT of its own", kinds[k]);
		check_ids(what, &p, 0, 0, 0, 0);
		CHECK_OK(set_perm(k, id, 5, 7, 0600));
		CHECK_OK(stat_perm(k, id, IPC_STAT, &p));
		snprintf(what, sizeof(what), "%s IPC_STAT after IPC_SET uid 5 gid 7", kinds[k]);
		check_ids(what, &p, 5, 7, 0, 0);
		int st = k == SHM ? SHM_STAT : k == SEM ? SEM_STAT : MSG_STAT;
		CHECK_EQ(stat_perm(k, idx_of(id), st, &p), id);
		snprintf(what, sizeof(what), "%s *_STAT after IPC_SET", kinds[k]);
		check_ids(what, &p, 5, 7, 0, 0);

		/* Ids this namespace does not map.  */
		CHECK_ERR(set_perm(k, id, 5000, 7, 0644), EINVAL);
		CHECK_ERR(set_perm(k, id, 5, 5000, 0644), EINVAL);
		CHECK_ERR(set_perm(k, id, BASE + 5, 7, 0644), EINVAL);
		CHECK_OK(stat_perm(k, id, IPC_STAT, &p));
		snprintf(what, sizeof(what), "%s IPC_STAT after refused IPC_SETs", kinds[k]);
		check_ids(what, &p, 5, 7, 0, 0);
		CHECK_EQ(p.mode & 0777, 0600);
	}
	/* As uid 5 of this namespace, the owner of the 0600 segment.  */
	CHECK_OK(setresuid(5, 5, 5));
	void *a = (void *)shm_at((int)conf_sh->val[SHM], NULL, 0);
	conf_checks++;
	if (a == (void *)-1)
		CONF_FAIL("uid 5 attaching the 0600 segment it owns: %s", strerror(errno));
	else
		shm_dt(a);
}

int main(void)
{
	conf_start();
	conf_shared();
	ouid = conf_read_long("/proc/sys/kernel/overflowuid");
	ogid = conf_read_long("/proc/sys/kernel/overflowgid");
	if (ouid < 0 || ogid < 0)
		CONF_SKIP("no /proc/sys/kernel/overflowuid");
	for (int k = SHM; k <= MSG; k++)
		host_obj[k] = (int)CHECK_OK(make(k, 0644));

	for (int k = SHM; k <= MSG; k++)
		conf_sh->val[k] = -1;
	char map[32];
	snprintf(map, sizeof(map), "0 %d %d", BASE, RANGE);
	bool mapped = conf_run_in_userns(in_userns, NULL, map, map, false);
	/* From the initial user namespace: the host ids.  */
	char what[96];
	for (int k = SHM; k <= MSG; k++) {
		int id = (int)conf_sh->val[k];
		struct ipc_perm p;
		if (id >= 0) {
			CHECK_OK(stat_perm(k, id, IPC_STAT, &p));
			snprintf(what, sizeof(what), "%s IPC_STAT from the host", kinds[k]);
			check_ids(what, &p, BASE + 5, BASE + 7, BASE, BASE);
			/* IPC_SET from here takes host ids.  */
			CHECK_OK(set_perm(k, id, BASE + 9, 0, 0600));
			CHECK_OK(stat_perm(k, id, IPC_STAT, &p));
			snprintf(what, sizeof(what), "%s IPC_STAT after the host's IPC_SET", kinds[k]);
			check_ids(what, &p, BASE + 9, 0, BASE, BASE);
			if (k == SHM)
				CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
			else if (k == SEM)
				CHECK_OK(syscall(SYS_semctl, id, 0, IPC_RMID, NULL));
			else
				CHECK_OK(syscall(SYS_msgctl, id, IPC_RMID, NULL));
		}
	}
	CHECK_OK(shm_ctl(host_obj[SHM], IPC_RMID, NULL));
	CHECK_OK(syscall(SYS_semctl, host_obj[SEM], 0, IPC_RMID, NULL));
	CHECK_OK(syscall(SYS_msgctl, host_obj[MSG], IPC_RMID, NULL));
	if (!mapped)
		CONF_SKIP("no user namespace could be made here");
	return conf_done("ids_userns");
}
