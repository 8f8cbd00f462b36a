/* SPDX-License-Identifier: MIT */
/* ipcnsd's side of the keeper (custody.h): find or start ipcns-keeper,
 * take over what it holds, and deposit every fd that must outlive this
 * process.  Deposits are one-way messages: nothing waits for the keeper,
 * and an fd still in flight when ipcnsd dies is read by the keeper from
 * its socket queue, in order.  */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "custody.h"
#include "daemon.h"

static int kfd = -1;
static pthread_mutex_t klock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next_slot = 1;
static bool lost_logged;

uint32_t custody_new_slot(void)
{
	return __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED);
}

bool custody_attached(void)
{
	return __atomic_load_n(&kfd, __ATOMIC_RELAXED) >= 0;
}

/* keeper.c's send_msg writes the same message the other way: written twice
 * on purpose, as the keeper links nothing of ipcnsd's (it must never need
 * upgrading with it).  */
static int ksend(const struct kmsg *h, const char *group, const void *meta, int fd)
{
	struct iovec iov[3] = {
		{ (void *)h, sizeof(*h) },
		{ (void *)group, h->glen },
		{ (void *)meta, h->mlen },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	pthread_mutex_lock(&klock);
	int ret = 0;
	if (kfd < 0) {
		ret = -ENOTCONN;
	} else {
		ssize_t r;
		do
			r = sendmsg(kfd, &mh, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			ret = -errno;
			close(kfd);
			kfd = -1;
		}
	}
	pthread_mutex_unlock(&klock);
	if (ret < 0 && !__atomic_exchange_n(&lost_logged, true, __ATOMIC_RELAXED))
		dlog("the keeper is gone (%s): ipcnsd goes on serving, but a restart of ipcnsd from now on ends "
		     "its containers' System V IPC (ENOSYS)",
		     strerror(-ret));
	return ret;
}

int custody_put(uint32_t slot, enum kslot_kind kind, const char *group, const void *meta, size_t mlen, int fd)
{
	size_t glen = group ? strlen(group) : 0;
	if (glen > KEEPER_MAX_GROUP || mlen > KEEPER_MAX_META)
		return -E2BIG;
	struct kmsg h = { .op = KOP_PUT, .slot = slot, .kind = kind, .glen = (uint32_t)glen, .mlen = (uint32_t)mlen };
	return ksend(&h, group, meta, fd);
}

void custody_drop(uint32_t slot)
{
	struct kmsg h = { .op = KOP_DROP, .slot = slot };
	if (slot)
		ksend(&h, NULL, NULL, -1);
}

void custody_meta(uint32_t slot, const void *meta, size_t mlen)
{
	struct kmsg h = { .op = KOP_META, .slot = slot, .mlen = (uint32_t)mlen };
	if (mlen <= KEEPER_MAX_META)
		ksend(&h, NULL, meta, -1);
}

void custody_drop_group(const char *group)
{
	size_t glen = strlen(group);
	if (glen > KEEPER_MAX_GROUP)
		return;
	struct kmsg h = { .op = KOP_DROP_GROUP, .glen = (uint32_t)glen };
	ksend(&h, group, NULL, -1);
}

void custody_bye(bool release)
{
	struct kmsg h = { .op = release ? KOP_RELEASE : KOP_BYE };
	ksend(&h, NULL, NULL, -1);
	pthread_mutex_lock(&klock);
	if (kfd >= 0) {
		/* Wait until the keeper has read everything: its hang-up of
		 * our connection (shutdown) or a reply, at most 5 s.  */
		shutdown(kfd, SHUT_WR);
		struct pollfd p = { .fd = kfd, .events = POLLIN };
		char c;
		while (poll(&p, 1, 5000) == 1 && recv(kfd, &c, 1, MSG_DONTWAIT) > 0)
			;
		close(kfd);
		kfd = -1;
	}
	pthread_mutex_unlock(&klock);
}

/* One message from the keeper (blocking, 10 s at most).  */
static int krecv(struct kmsg *h, char *group, char *meta, int *fd)
{
	static char buf[KEEPER_MAX_MSG];
	union {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.cbuf, .msg_controllen = sizeof(u.cbuf) };
	*fd = -1;
	ssize_t r;
	do
		r = recvmsg(kfd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if ((size_t)r < sizeof(*h))
		return -EPROTO;
	memcpy(h, buf, sizeof(*h));
	if (h->glen > KEEPER_MAX_GROUP || h->mlen > KEEPER_MAX_META || sizeof(*h) + h->glen + h->mlen != (size_t)r)
		return -EPROTO;
	if (group) {
		memcpy(group, buf + sizeof(*h), h->glen);
		group[h->glen] = '\0';
	}
	if (meta) {
		memcpy(meta, buf + sizeof(*h) + h->glen, h->mlen);
		meta[h->mlen] = '\0';
	}
	return 0;
}

static int kconnect(const char *kpath)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, kpath);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

/* The keeper binary: --keeper, else next to our own executable, else
 * ipcns-keeper from PATH.  */
static void keeper_path(const char *given, char *out, size_t len)
{
	if (given) {
		snprintf(out, len, "%s", given);
		return;
	}
	char self[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, len, "%s/ipcns-keeper", self);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "ipcns-keeper");
}

/* Bind the keeper's socket here (so that our connect cannot race its
 * start) and run the keeper detached: its own session, not our child, so
 * that nothing that ends ipcnsd ends it.  */
static int keeper_spawn(const char *sock_path, const char *kpath, const char *bin)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, kpath);
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0); /* inherited by the keeper */
	if (l < 0)
		return -errno;
	unlink(kpath);
	mode_t old = umask(0077);
	int ret = bind(l, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(l, 8) < 0) {
		ret = -errno;
		close(l);
		return ret;
	}
	pid_t pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(l);
		return ret;
	}
	if (pid == 0) {
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			/* stdout too: only stderr is the log.  */
			dup2(devnull, 1);
		}
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", l);
		/* Nothing else of ours: close every other fd.  */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != l)
				close(fd);
		execlp(bin, bin, "--socket", sock_path, "--fd", fdarg, (char *)NULL);
		fprintf(stderr, "ipcnsd: cannot run the keeper %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(l);
	int st;
	waitpid(pid, &st, 0);
	return 0;
}

int custody_open(const char *sock_path, const char *keeper_bin, int wait_s, custody_item_cb cb, void *arg, char *err,
		 size_t errlen)
{
	char kpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (snprintf(kpath, sizeof(kpath), "%s" KEEPER_SUFFIX, sock_path) >= (int)sizeof(kpath)) {
		return ipcns_error(err, errlen, -ENAMETOOLONG, "socket path too long for the keeper's: %s", sock_path);
	}
	int s = kconnect(kpath);
	/* A keeper another service runs (a pod of its own): wait for it
	 * rather than start one that would die with us.  */
	for (int i = 0; i < wait_s * 10 && (s == -ENOENT || s == -ECONNREFUSED); i++) {
		usleep(100000);
		s = kconnect(kpath);
	}
	if (wait_s <= 0 && (s == -ENOENT || s == -ECONNREFUSED)) {
		char bin[PATH_MAX];
		keeper_path(keeper_bin, bin, sizeof(bin));
		int ret = keeper_spawn(sock_path, kpath, bin);
		if (ret < 0)
			return ipcns_error(err, errlen, ret, "cannot start the keeper (%s) on %s: %s", bin, kpath,
					   strerror(-ret));
		s = kconnect(kpath);
	}
	if (s < 0)
		return ipcns_error(err, errlen, s, "cannot reach the keeper on %s: %s", kpath, strerror(-s));
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	kfd = s;
	struct kmsg h;
	int fd, ret = 0;
	/* Another daemon attached: it may be exiting (a restart), wait for
	 * it up to 10 s.  */
	for (int tries = 0;; tries++) {
		struct kmsg hello = { .op = KOP_HELLO, .slot = (uint32_t)getpid(), .version = KEEPER_PROTO_VERSION };
		if (send(kfd, &hello, sizeof(hello), MSG_NOSIGNAL) < 0 || (ret = krecv(&h, NULL, NULL, &fd)) < 0) {
			ret = ipcns_error(err, errlen, ret, "the keeper on %s did not answer: %s", kpath, strerror(errno));
			goto fail;
		}
		if (fd >= 0)
			close(fd);
		if (h.op == KOP_WELCOME)
			break;
		if (h.op != KOP_BUSY || h.slot == 0 || tries >= 100) {
			if (h.op == KOP_BUSY && h.slot)
				ret = ipcns_error(err, errlen, -EBUSY, "another ipcnsd (pid %u) is attached to the keeper on %s",
						  h.slot, kpath);
			else
				ret = ipcns_error(err, errlen, -EBUSY, "the keeper on %s speaks protocol %u, this ipcnsd %u",
						  kpath, h.version, KEEPER_PROTO_VERSION);
			goto fail;
		}
		close(kfd);
		usleep(100000);
		if ((kfd = kconnect(kpath)) < 0) {
			ret = ipcns_error(err, errlen, kfd, "cannot reach the keeper on %s: %s", kpath, strerror(-kfd));
			goto fail;
		}
		setsockopt(kfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	next_slot = h.slot + 1;
	if (h.kind > 0) {
		struct kmsg list = { .op = KOP_LIST };
		if (send(kfd, &list, sizeof(list), MSG_NOSIGNAL) < 0) {
			ret = ipcns_error(err, errlen, -errno, "asking the keeper for its fds: %s", strerror(errno));
			goto fail;
		}
		static char group[KEEPER_MAX_GROUP + 1], meta[KEEPER_MAX_META + 1];
		for (;;) {
			ret = krecv(&h, group, meta, &fd);
			if (ret < 0) {
				ipcns_error(err, errlen, ret, "receiving the keeper's fds: %s", strerror(-ret));
				goto fail;
			}
			if (h.op == KOP_END)
				break;
			if (h.op != KOP_ITEM || fd < 0) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			cb(arg, h.slot, (enum kslot_kind)h.kind, group, meta, h.mlen, fd);
		}
	}
	tv.tv_sec = 0;
	setsockopt(kfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
fail:
	if (kfd >= 0)
		close(kfd);
	kfd = -1;
	return ret < 0 ? ret : -EPROTO;
}
