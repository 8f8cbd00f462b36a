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
 * Under ipcnsd remap_file_pages is not trapped: the segment is a memfd,
 * which stays open, so that last case succeeds and the segment goes at
 * the caller's detach (spec/compatibility.md); checked as such.
 * Runner contract: see shm_common.h.  */
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
	if (!under) {
		CHECK_ERR(remap_file_pages(p, sz, 0, 0, 0), EINVAL);
		CHECK_EQ(mapped(NULL), 0);
		CHECK_EQ(nattch(id), -EINVAL);
		/* The loop of a program that waits for this failure ends.  */
		CHECK_ERR(remap_file_pages(p, sz, 0, 0, 0), EINVAL);
	} else {
		CHECK_OK(remap_file_pages(p, sz, 0, 0, 0));
		CHECK_EQ(p[0], 'y');
		CHECK_EQ(mapped(NULL), 1);
		CHECK_EQ(nattch(id), 1);
		CHECK_OK(shm_dt(p));
		CHECK_EQ(nattch(id), -EINVAL);
	}
	return conf_done("shm_remap");
}
