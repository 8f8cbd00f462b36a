/* SPDX-License-Identifier: MIT */
/* remap_file_pages(2) on attached segments.  Linux emulates it with an
 * mmap of the mapping's file over the range (mm/mmap.c): the old pages
 * of the range are unmapped first, then the segment is opened again
 * (ipc/shm.c shm_mmap).  So:
 *  - on a segment not removed it works, linear or not (a page of the
 *    file at another place), and a partial remap splits the attach in two
 *    (shm_nattch 2);
 *  - on a segment removed (IPC_RMID) while the caller's range holds its
 *    last attach, the unmap destroys it, the reopen fails: EINVAL, the
 *    range is no longer mapped, the id is gone.
 *  - a program that attaches a segment and remaps its attach in a loop
 *    while a sibling thread removes the segment and makes a new one under
 *    the same key sees each loop end with EINVAL (EIDRM where the old
 *    index holds another segment already), the old segment gone with its
 *    attach, nothing else failing and nothing piling up.
 * Under ipcnsd the segment is a memfd, which stays open: the daemon
 * traps remap_file_pages and does that last case itself, so the same
 * checks hold in both modes.
 * Runner contract: see shm_common.h.  */
#include <pthread.h>
#include <stdatomic.h>

#include "shm_common.h"

/* Lines of our maps that map a segment, and whether one is a memfd.  */
static int mapped(bool *memfd)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "SYSV"))
			continue;
		n++;
		if (memfd && strstr(line, "/memfd:SYSV"))
			*memfd = true;
	}
	fclose(f);
	return n;
}

static long nattch(int id)
{
	struct shmid_ds ds;
	if (syscall(SYS_shmctl, id, IPC_STAT, &ds) < 0)
		return -errno;
	return (long)ds.shm_nattch;
}

/* The sibling thread of the loop: at each round, remove the segment of
 * the key and make a new one.  */
#define RACE_KEY 0x5e3a9f0f
#define RACE_ROUNDS 200
static atomic_int race_round, race_done;
static atomic_int race_errors;

static void *race_remover(void *arg)
{
	(void)arg;
	for (int r = 1; r <= RACE_ROUNDS; r++) {
		while (atomic_load(&race_round) < r)
			sched_yield();
		int id = (int)shm_get(RACE_KEY, (size_t)pg, 0700);
		if (id < 0 || syscall(SYS_shmctl, id, IPC_RMID, NULL) < 0 ||
		    shm_get(RACE_KEY, (size_t)pg, IPC_CREAT | 0700) < 0)
			atomic_fetch_add(&race_errors, 1);
		atomic_store(&race_done, r);
	}
	return NULL;
}

static void remap_race(void)
{
	pthread_t t;
	int einval = 0, eidrm = 0, other = 0;
	long loops = 0;

	if (pthread_create(&t, NULL, race_remover, NULL) != 0) {
		CONF_FAIL("pthread_create");
		return;
	}
	for (int r = 1; r <= RACE_ROUNDS; r++) {
		int id = (int)shm_get(RACE_KEY, (size_t)pg, IPC_CREAT | 0700);
		char *p = (char *)shm_at(id, NULL, 0);
		if (id < 0 || p == (char *)-1) {
			CONF_FAIL("round %d: shmget/shmat: %s", r, strerror(errno));
			atomic_store(&race_round, RACE_ROUNDS);
			break;
		}
		atomic_store(&race_round, r);
		long ret;
		do {
			ret = remap_file_pages(p, (size_t)pg, 0, 0, 0);
			loops++;
		} while (ret == 0);
		if (errno == EINVAL)
			einval++;
		else if (errno == EIDRM)
			eidrm++;
		else
			other++;
		while (atomic_load(&race_done) < r)
			sched_yield();
	}
	pthread_join(t, NULL);
	printf("# remap race: %d rounds, %ld remaps, %d EINVAL, %d EIDRM\n", RACE_ROUNDS, loops, einval, eidrm);
	CHECK_EQ(other, 0);
	CHECK_EQ(einval + eidrm, RACE_ROUNDS);
	CHECK_EQ(atomic_load(&race_errors), 0);
	/* Every removed segment went with its attach: one is left, the
	 * thread's last, never attached.  */
	CHECK_EQ(mapped(NULL), 0);
	struct shm_info si;
	CHECK_OK(syscall(SYS_shmctl, 0, SHM_INFO, &si));
	CHECK_EQ(si.used_ids, 1);
	int last = (int)shm_get(RACE_KEY, (size_t)pg, 0700);
	CHECK_EQ(nattch(last), 0);
	syscall(SYS_shmctl, last, IPC_RMID, NULL);
}

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	size_t sz = 4 * (size_t)pg;
	bool under = false;

	/* Not removed: linear and non-linear remaps work.  */
	int id = (int)CHECK_OK(shm_get(IPC_PRIVATE, sz, 0600));
	char *p = (char *)shm_at(id, NULL, 0);
	CHECK_TRUE(p != (char *)-1);
	if (p == (char *)-1)
		return conf_done("shm_remap");
	for (int i = 0; i < 4; i++)
		p[i * pg] = (char)('a' + i);
	mapped(&under);
	printf("# segments are %s\n", under ? "memfds (ipcnsd)" : "kernel shm files");
	CHECK_OK(remap_file_pages(p, sz, 0, 0, 0));
	CHECK_EQ(p[0], 'a');
	CHECK_EQ(nattch(id), 1);
	/* Page 0 shows the file's page 2.  */
	CHECK_OK(remap_file_pages(p, (size_t)pg, 0, 2, 0));
	CHECK_EQ(p[0], 'c');
	CHECK_EQ(p[pg], 'b');
	CHECK_EQ(nattch(id), 2);
	CHECK_ERR(remap_file_pages(p, sz, PROT_READ, 0, 0), EINVAL);
	CHECK_OK(munmap(p, sz));
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));

	/* Removed while attached twice: the other attach keeps it.  */
	id = (int)CHECK_OK(shm_get(IPC_PRIVATE, sz, 0600));
	p = (char *)shm_at(id, NULL, 0);
	char *p2 = (char *)shm_at(id, NULL, 0);
	p[0] = 'x';
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	CHECK_OK(remap_file_pages(p, sz, 0, 0, 0));
	CHECK_EQ(p2[0], 'x');
	CHECK_EQ(nattch(id), 2);
	/* A partial remap splits the last attach: it survives.  */
	CHECK_OK(shm_dt(p2));
	CHECK_OK(remap_file_pages(p, (size_t)pg, 0, 1, 0));
	CHECK_EQ(nattch(id), 2);
	/* shmdt takes the part whose file offset matches its address (page
	 * 0 shows the file's page 1 now: not that one).  */
	CHECK_OK(shm_dt(p));
	CHECK_EQ(nattch(id), 1);
	CHECK_OK(munmap(p, sz));
	CHECK_EQ(nattch(id), -EINVAL);

	/* Removed, and the range holds the last attach.  */
	id = (int)CHECK_OK(shm_get(IPC_PRIVATE, sz, 0600));
	p = (char *)shm_at(id, NULL, 0);
	p[0] = 'y';
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	/* Bad arguments fail before anything is looked at or unmapped.  */
	CHECK_ERR(remap_file_pages(p, sz, PROT_READ, 0, 0), EINVAL);
	CHECK_ERR(remap_file_pages(p, 0, 0, 0, 0), EINVAL);
	CHECK_ERR(remap_file_pages(p, sz, 0, ~0UL, 0), EINVAL);
	CHECK_EQ(nattch(id), 1);
	CHECK_EQ(mapped(NULL), 1);
	CHECK_ERR(remap_file_pages(p, sz, 0, 0, 0), EINVAL);
	CHECK_EQ(mapped(NULL), 0);
	CHECK_EQ(nattch(id), -EINVAL);
	/* The loop of a program that waits for this failure ends.  */
	CHECK_ERR(remap_file_pages(p, sz, 0, 0, 0), EINVAL);

	/* The last attach in pieces (a partial remap split it), all in the
	 * range: one remap over the pieces, and the segment goes.  */
	id = (int)CHECK_OK(shm_get(IPC_PRIVATE, sz, 0600));
	p = (char *)shm_at(id, NULL, 0);
	CHECK_OK(remap_file_pages(p + pg, (size_t)pg, 0, 3, 0));
	CHECK_EQ(nattch(id), 3);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	/* Part of it only: the rest keeps the segment.  */
	CHECK_OK(remap_file_pages(p, (size_t)pg, 0, 0, 0));
	CHECK_EQ(nattch(id), 3);
	CHECK_ERR(remap_file_pages(p, sz, 0, 0, 0), EINVAL);
	CHECK_EQ(mapped(NULL), 0);
	CHECK_EQ(nattch(id), -EINVAL);

	/* Two attaches side by side: a range over both crosses from one
	 * attach's file to the other's, EINVAL and nothing changes, removed
	 * or not.  */
	id = (int)CHECK_OK(shm_get(IPC_PRIVATE, (size_t)pg, 0600));
	char *base = mmap(NULL, 2 * (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_TRUE(base != MAP_FAILED);
	CHECK_OK(munmap(base, 2 * (size_t)pg));
	p = (char *)shm_at(id, base, 0);
	p2 = (char *)shm_at(id, base + pg, 0);
	CHECK_TRUE(p == base && p2 == base + pg);
	CHECK_ERR(remap_file_pages(base, 2 * (size_t)pg, 0, 0, 0), EINVAL);
	CHECK_EQ(nattch(id), 2);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	CHECK_ERR(remap_file_pages(base, 2 * (size_t)pg, 0, 0, 0), EINVAL);
	CHECK_EQ(nattch(id), 2);
	CHECK_EQ(mapped(NULL), 2);
	CHECK_OK(shm_dt(p));
	CHECK_OK(shm_dt(p2));
	CHECK_EQ(nattch(id), -EINVAL);

	/* Removed, its last attach in a child: the parent's remap of its own
	 * attach (the last but one) works, the child's then fails.  */
	id = (int)CHECK_OK(shm_get(IPC_PRIVATE, sz, 0600));
	p = (char *)shm_at(id, NULL, 0);
	p[0] = 'z';
	int go[2];
	CHECK_OK(pipe(go));
	pid_t pid = fork();
	if (pid == 0) {
		char b;
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		long r = remap_file_pages(p, sz, 0, 0, 0);
		int e = errno;
		_exit(r == -1 && e == EINVAL && mapped(NULL) == 0 ? 0 : 1);
	}
	CHECK_TRUE(pid > 0);
	CHECK_EQ(nattch(id), 2);
	CHECK_OK(syscall(SYS_shmctl, id, IPC_RMID, NULL));
	CHECK_OK(remap_file_pages(p, sz, 0, 0, 0));
	CHECK_EQ(p[0], 'z');
	CHECK_EQ(nattch(id), 2);
	CHECK_OK(shm_dt(p));
	CHECK_EQ(nattch(id), 1);
	CHECK_EQ(write(go[1], "g", 1), 1);
	int st = 0;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(nattch(id), -EINVAL);

	remap_race();
	return conf_done("shm_remap");
}
