/* SPDX-License-Identifier: MIT */
/* view-takeover PID -- COMMAND...: take the /dev/fuse fd of ipcnsd PID
 * (pidfd_getfd, as a keeper holding it would), wait for PID to exit, then
 * run COMMAND with that fd as fd 3: `ipcnsd ... --view-fd 3' serves the
 * same mount, which containers of the old daemon still have bound.  For
 * view.bats (a stale mount after a restart is a bug).  */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: view-takeover PID -- COMMAND...\n");
		return 2;
	}
	int pid = atoi(argv[1]);
	char dir[64], path[400], target[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		return 1;
	}
	int fuse = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (!strcmp(target, "/dev/fuse"))
				fuse = atoi(de->d_name);
		}
	}
	closedir(d);
	if (fuse < 0) {
		fprintf(stderr, "view-takeover: process %d holds no /dev/fuse\n", pid);
		return 1;
	}
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int fd = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, fuse, 0);
	if (fd < 0) {
		perror("view-takeover: pidfd_getfd");
		return 1;
	}
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	while (poll(&p, 1, -1) < 0)
		;
	close(pfd);
	if (dup2(fd, 3) < 0) {
		perror("dup2");
		return 1;
	}
	if (fd != 3)
		close(fd);
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
