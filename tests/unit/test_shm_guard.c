/* SPDX-License-Identifier: MIT */
/* The guard of hugetlb segment files (shm.c): a marked file refuses every
 * other process's open, root's included, and only while it is marked;
 * the daemon's own opens go through.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm.h"

/* The errno of another process's open(path, flags), 0 if it opened.  */
static int child_open(const char *path, int flags)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, flags | O_CLOEXEC);
		_exit(fd >= 0 ? 0 : errno);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_guard(void **state)
{
	(void)state;
	int ret = ipcns_shm_guard_start(-1);
	if (ret == -EPERM)
		skip(); /* no CAP_SYS_ADMIN */
	assert_int_equal(ret, 0);
	assert_true(ipcns_shm_guard_fd() >= 0);
	int fd = memfd_create("SYSVguard", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0) {
		ipcns_shm_guard_stop();
		skip(); /* no hugetlbfs */
	}
	assert_int_equal(fchmod(fd, 0), 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), fd);

	assert_int_equal(shm_file_guard(fd, true), 0);
	/* Another process, root with every capability: refused.  */
	assert_int_equal(child_open(path, O_RDWR), EPERM);
	assert_int_equal(child_open(path, O_RDONLY), EPERM);
	/* Ours: allowed (shm_fd_for's read-only open).  */
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	close(ro);

	/* Unmarked, the file is what mode 0 makes it: root opens it.  */
	assert_int_equal(shm_file_guard(fd, false), 0);
	assert_int_equal(child_open(path, O_RDWR), 0);
	assert_int_equal(ipcns_shm_guard_drop(fd), -ENOENT);

	/* Marked again, then the guard stops: its group and marks go.  */
	assert_int_equal(shm_file_guard(fd, true), 0);
	ipcns_shm_guard_stop();
	assert_int_equal(ipcns_shm_guard_fd(), -1);
	assert_int_equal(child_open(path, O_RDWR), 0);
	assert_int_equal(shm_file_guard(fd, true), -ENOTSUP);
	close(fd);
}

/* Starts are counted: the guard lasts until the last stop.  */
static void test_guard_count(void **state)
{
	(void)state;
	int ret = ipcns_shm_guard_start(-1);
	if (ret == -EPERM)
		skip();
	assert_int_equal(ret, 0);
	int g = ipcns_shm_guard_fd();
	assert_int_equal(ipcns_shm_guard_start(-1), 0);
	assert_int_equal(ipcns_shm_guard_fd(), g);
	ipcns_shm_guard_stop();
	assert_int_equal(ipcns_shm_guard_fd(), g);
	ipcns_shm_guard_stop();
	assert_int_equal(ipcns_shm_guard_fd(), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_guard_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
