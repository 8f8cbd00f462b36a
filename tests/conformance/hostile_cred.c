/* SPDX-License-Identifier: MIT */
/* Hostile credentials: a caller whose /proc/PID/status is long.
 *
 * A process with many supplementary groups has a long "Groups:" line, and
 * the capability lines come after it.  A supervisor that reads the file
 * into a fixed buffer cuts "CapEff:" mid-number: docker's default
 * capability set cut after 13 of its 16 hex digits is the set shifted
 * right by 12 bits, which has CAP_IPC_OWNER (from CAP_MKNOD).
 *
 * uid 0 with docker's default capabilities (no CAP_IPC_OWNER) and
 * about 400 groups of varying width, so that some of the lengths cut the
 * capabilities anywhere in the number, must get EACCES from shmat on a
 * 0640 segment of uid 1234 that is not in its groups, read-write and
 * read-only, natively and under ipcnsd; and with the segment's group as
 * its 300th group it may attach read-only (the group class applies, not a
 * guess from the first groups).
 *
 * Runner contract: see shm_common.h.  */
#include "shm_common.h"

#define CAP(n) (1ULL << (n))
/* Docker's default set.  */
#define DOCKER_CAPS                                                                                \
	(CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FOWNER) | CAP(CAP_FSETID) | CAP(CAP_KILL) | \
	 CAP(CAP_SETGID) | CAP(CAP_SETUID) | CAP(CAP_SETPCAP) | CAP(CAP_NET_BIND_SERVICE) |           \
	 CAP(CAP_NET_RAW) | CAP(CAP_SYS_CHROOT) | CAP(CAP_MKNOD) | CAP(CAP_AUDIT_WRITE) |             \
	 CAP(CAP_SETFCAP))

#define NGROUPS 600
#define SEG_GID 4321

static int shmid;

static int set_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

/* n groups; the first `wide' of them one digit wider; `member' puts
 * SEG_GID at index 300.  */
static void make_groups(gid_t *g, int n, int wide, bool member)
{
	for (int i = 0; i < n; i++)
		g[i] = (gid_t)(i < wide ? 10000000 + i : 1000000 + i);
	if (member)
		g[300] = SEG_GID;
}

static void child(void *arg)
{
	(void)arg;
	static gid_t g[NGROUPS];
	/* Lengths 396 to 432 groups (CapEff near the 4096th byte), and 0 to 7 wider groups: the
	 * line's length modulo 8 and modulo the 16 digits of CapEff take
	 * every value.  */
	int tries = 0;
	for (int n = 396; n <= 432; n++) {
		for (int wide = 0; wide < 8; wide++) {
			make_groups(g, n, wide, false);
			if (setgroups((size_t)n, g) < 0) {
				CONF_FAIL("setgroups(%d): %s", n, strerror(errno));
				return;
			}
			CHECK_ERR(shm_at(shmid, NULL, 0), EACCES);
			CHECK_ERR(shm_at(shmid, NULL, SHM_RDONLY), EACCES);
			tries++;
		}
	}
	/* The segment's group far down the list: read-only is allowed,
	 * read-write is not.  */
	make_groups(g, NGROUPS, 3, true);
	if (setgroups(NGROUPS, g) < 0) {
		CONF_FAIL("setgroups: %s", strerror(errno));
		return;
	}
	void *p = (void *)shm_at(shmid, NULL, SHM_RDONLY);
	CHECK_TRUE(p != (void *)-1);
	if (p != (void *)-1)
		CHECK_OK(shm_dt(p));
	CHECK_ERR(shm_at(shmid, NULL, 0), EACCES);
	printf("# %d group lists tried\n", tries);
}

static void make_seg(void *arg)
{
	(void)arg;
	conf_sh->val[0] = CHECK_OK(shm_get(IPC_PRIVATE, 8192, IPC_CREAT | 0640));
}

int main(void)
{
	conf_start();
	/* Created by uid 1234 gid SEG_GID: root is neither its creator nor
	 * its owner.  */
	static const struct conf_who creator = { "uid 1234", 1234, SEG_GID, 0, { 0 }, false, 0, RLIM_INFINITY };
	conf_run_as(&creator, make_seg, NULL);
	shmid = (int)conf_sh->val[0];
	if (shmid < 0)
		return conf_done("hostile_cred");

	/* Keep CAP_SETGID in the effective set for setgroups; the checks
	 * that matter do not involve it.  */
	conf_shared();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		conf_checks = conf_failed = 0;
		if (set_caps(DOCKER_CAPS) < 0)
			CONF_FAIL("capset: %s", strerror(errno));
		else
			child(NULL);
		conf_child_exit();
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	conf_checks += conf_sh->checks;
	conf_failed += conf_sh->failed;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("child ended with status %#x", st);
	CHECK_OK(shm_ctl(shmid, IPC_RMID, NULL));
	return conf_done("hostile_cred");
}
