/* SPDX-License-Identifier: MIT */
/* floor [N] [--no-sync] [--epoll|--poll]: the physical limit of a trapped system call on
 * this machine.  A child traps shmctl with a seccomp user-notify filter; a
 * trivial supervisor (the parent) answers each notification with EINVAL
 * at once.  Prints "floor NS ns/call".  With SYNC_WAKE_UP unless --no-sync.
 * The supervisor blocks in the RECV ioctl, or with --epoll in epoll_wait
 * (as one event loop for many fds would), or with --poll in poll(2).
 *
 * floor --listen PATH [--no-sync]: the same trivial supervisor as a runc
 * listener (seccomp listenerPath PATH): every notification of every
 * container that connects is answered with EINVAL at once, one container
 * at a time, until SIGTERM.  make bench runs its trivial case in a runc
 * container against it: the floor as a container pays it.  It waits in
 * poll(2) unless --epoll is given: in a container, only poll(2) keeps
 * SYNC_WAKE_UP's wake-up on the caller's CPU (18 us a call through
 * epoll against 6.4 us on an idle machine).  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

static int send_fd(int sock, int fd)
{
	char c = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

static int recv_fd(int sock)
{
	char c;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	if (recvmsg(sock, &mh, 0) <= 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Answer every notification on nfd with EINVAL until the filter hangs up.  */
static void serve(int nfd, int sync, int mode)
{
	if (sync)
		ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1UL);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN, .data.fd = nfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, nfd, &ee);
	for (;;) {
		struct seccomp_notif req;
		struct pollfd pfd = { .fd = nfd, .events = POLLIN };
		if (mode == 1) {
			if (epoll_wait(ep, &ee, 1, -1) != 1 || !(ee.events & EPOLLIN))
				break;
		} else if (poll(&pfd, 1, -1) < 0 || !(pfd.revents & POLLIN)) {
			/* The filter hangs up when the child is gone.  */
			break;
		}
		memset(&req, 0, sizeof(req));
		if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			break;
		}
		struct seccomp_notif_resp resp = { .id = req.id, .error = -EINVAL };
		ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
	close(ep);
}

/* A runc/crun listener: the runtime connects, sends its state as JSON and
 * the notify fd with SCM_RIGHTS; ipcns-runtime's probe connects and sends
 * nothing.  */
static int listen_at(const char *path, int sync, int mode)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (s < 0 || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "floor: bad socket path %s\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		fprintf(stderr, "floor: listening on %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		int nfd = -1;
		char buf[65536];
		for (;;) {
			union {
				char buf[CMSG_SPACE(sizeof(int) * 4)];
				struct cmsghdr align;
			} u;
			struct iovec iov = { buf, sizeof(buf) };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
					     .msg_controllen = sizeof(u.buf) };
			ssize_t r = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
			if (r <= 0)
				break;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && nfd < 0)
					memcpy(&nfd, CMSG_DATA(cm), sizeof(int));
			if (nfd >= 0)
				break;
		}
		close(c);
		if (nfd >= 0) {
			serve(nfd, sync, mode);
			close(nfd);
		}
	}
}

int main(int argc, char **argv)
{
	long n = 200000;
	int sync = 1, mode = 0;
	const char *listen_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen_path = argv[++i];
		else if (!strcmp(argv[i], "--no-sync"))
			sync = 0;
		else if (!strcmp(argv[i], "--epoll"))
			mode = 1;
		else if (!strcmp(argv[i], "--poll"))
			mode = 2;
		else
			n = atol(argv[i]);
	}
	if (listen_path)
		return listen_at(listen_path, sync, mode);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_shmctl, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int nfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		if (nfd < 0) {
			perror("seccomp");
			_exit(1);
		}
		send_fd(sp[0], nfd);
		close(nfd);
		char c;
		if (read(sp[0], &c, 1) != 1)
			_exit(1);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < n; i++)
			syscall(SYS_shmctl, -1, IPC_STAT, NULL);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
		printf("floor%s%s %.1f ns/call\n", sync ? "" : "_nosync", mode == 1 ? "_epoll" : mode == 2 ? "_poll" : "",
		       ns);
		fflush(stdout);
		_exit(0);
	}
	int nfd = recv_fd(sp[1]);
	if (nfd < 0)
		return 1;
	if (sync)
		ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1UL);
	if (write(sp[1], "g", 1) != 1)
		return 1;
	serve(nfd, sync, mode);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
