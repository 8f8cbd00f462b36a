/* SPDX-License-Identifier: MIT */
/* ipcns-keeper: holds the fds ipcnsd must not lose when it exits, so that
 * the next ipcnsd takes them over (spec/lifecycle.md).
 *
 * It is deliberately small: it reads only what ipcnsd (root, on a socket
 * only root can reach) sends it, never anything a container controls; it
 * stores fds under the slot numbers ipcnsd chooses, with a group and
 * metadata it never interprets, and gives them back.  While no daemon is
 * attached it holds everything: the containers' calls wait in the kernel
 * and new runtimes' connections wait in the listening socket's backlog.
 * It exits when no daemon is attached and no container is left (every
 * notify fd hung up) for GRACE_SECONDS, or when told to (KOP_RELEASE,
 * SIGTERM, SIGINT): then containers see what they saw before the keeper
 * existed (ENOSYS).  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../ipcnsd/custody.h"

/* How long the keeper waits, with no daemon and no container, before it
 * exits: a restart of a daemon that serves nobody still finds its
 * listening socket (and the runtimes waiting in its backlog).  */
#define GRACE_SECONDS 30
#define STR_(x) #x
#define STR(x) STR_(x)

struct slot {
	uint32_t slot;
	uint32_t kind;
	int fd;
	char *group;
	void *meta;
	uint32_t mlen;
	void *map; /* KSLOT_RING: mapped, maplen bytes */
	size_t maplen;
};

static struct slot *slots;
static size_t nslots, capslots;
static uint32_t max_slot;
static int owner = -1;       /* the attached daemon's connection */
static pid_t owner_pid;
static bool planned;         /* the last daemon said BYE */
static const char *sock_path; /* the daemon's socket, for the log and the exit */
static time_t orphaned_since;

static void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void klog(const char *fmt, ...)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ ipcns-keeper: ", ts, now.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static struct slot *slot_find(uint32_t s)
{
	for (size_t i = 0; i < nslots; i++)
		if (slots[i].slot == s)
			return &slots[i];
	return NULL;
}

/* A ring the kernel fills only while it is mapped somewhere: mapped
 * for as long as it is held.  Its length is the number that starts the
 * metadata.  */
static void ring_map(struct slot *sl)
{
	char meta[32];
	unsigned long long len = 0;
	if (sl->kind != KSLOT_RING || !sl->mlen)
		return;
	size_t n = sl->mlen < sizeof(meta) - 1 ? sl->mlen : sizeof(meta) - 1;
	memcpy(meta, sl->meta, n);
	meta[n] = '\0';
	if (sscanf(meta, "%llu", &len) != 1 || len == 0 || len > (1ULL << 30)) {
		klog("slot %u: a ring without its length (%s): held, not mapped", sl->slot, meta);
		return;
	}
	void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, sl->fd, 0);
	if (m == MAP_FAILED) {
		klog("slot %u: mapping its ring: %s: held, not mapped", sl->slot, strerror(errno));
		return;
	}
	sl->map = m;
	sl->maplen = (size_t)len;
}

static void ring_unmap(struct slot *sl)
{
	if (sl->map)
		munmap(sl->map, sl->maplen);
	sl->map = NULL;
}

static void slot_free(size_t i)
{
	ring_unmap(&slots[i]);
	close(slots[i].fd);
	free(slots[i].group);
	free(slots[i].meta);
	slots[i] = slots[--nslots];
}

static int slot_put(uint32_t s, uint32_t kind, const char *group, uint32_t glen, const void *meta, uint32_t mlen,
		    int fd)
{
	char *g = malloc(glen + 1);
	void *m = mlen ? malloc(mlen) : NULL;
	if (!g || (mlen && !m)) {
		free(g);
		free(m);
		return -ENOMEM;
	}
	memcpy(g, group, glen);
	g[glen] = '\0';
	if (mlen)
		memcpy(m, meta, mlen);
	struct slot *sl = slot_find(s);
	if (sl) {
		ring_unmap(sl);
		close(sl->fd);
		free(sl->group);
		free(sl->meta);
	} else {
		if (nslots == capslots) {
			size_t ncap = capslots ? capslots * 2 : 64;
			struct slot *n = realloc(slots, ncap * sizeof(*n));
			if (!n) {
				free(g);
				free(m);
				return -ENOMEM;
			}
			slots = n;
			capslots = ncap;
		}
		sl = &slots[nslots++];
	}
	*sl = (struct slot){ .slot = s, .kind = kind, .fd = fd, .group = g, .meta = m, .mlen = mlen };
	ring_map(sl);
	if (s > max_slot)
		max_slot = s;
	return 0;
}

/* ipcnsd's custody.c (ksend) writes the same message the other way:
 * written twice on purpose, as the keeper links nothing of ipcnsd's.  */
static int send_msg(int c, const struct kmsg *h, const char *group, const void *meta, int fd)
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
	for (;;) {
		ssize_t r = sendmsg(c, &mh, MSG_NOSIGNAL);
		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static size_t count_kind(uint32_t kind)
{
	size_t n = 0;
	for (size_t i = 0; i < nslots; i++)
		n += slots[i].kind == kind;
	return n;
}

static void owner_gone(const char *how)
{
	klog("ipcnsd (pid %d) %s; holding %zu fds (%zu containers' notify fds) for the next ipcnsd", (int)owner_pid,
	     how, nslots, count_kind(KSLOT_NFD));
	close(owner);
	owner = -1;
	owner_pid = 0;
	orphaned_since = time(NULL);
}

/* A FUSE mount whose session the keeper lets go: nobody serves it any
 * more, so it goes (lazily) if the mount at its path is still the one
 * whose fd was deposited (the kernel's mount table, not ipcnsd's word,
 * says what is there now).  */
static void unmount_slot(const struct slot *sl)
{
	char meta[4200], line[8192], mp[4096];
	unsigned int maj, min, m1, m2;
	int off = 0;
	if (sl->kind != KSLOT_MOUNT || !sl->mlen || sl->mlen >= sizeof(meta))
		return;
	memcpy(meta, sl->meta, sl->mlen);
	meta[sl->mlen] = '\0';
	if (sscanf(meta, "%u:%u %n", &maj, &min, &off) != 2 || !off || meta[off] != '/')
		return;
	const char *path = meta + off;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %u:%u %*s %4095s", &m1, &m2, mp) == 3 && m1 == maj && m2 == min &&
			!strcmp(mp, path);
	if (f)
		fclose(f);
	if (!found)
		return;
	if (umount2(path, MNT_DETACH) == 0)
		klog("unmounted %s, which no ipcnsd serves any more", path);
	else
		klog("unmounting %s: %s", path, strerror(errno));
}

static void release_all(const char *why)
{
	klog("%s: releasing %zu fds and exiting", why, nslots);
	for (size_t i = 0; i < nslots; i++)
		unmount_slot(&slots[i]);
	while (nslots)
		slot_free(nslots - 1);
}

/* One message from the attached daemon: false when it must be dropped.  */
static bool owner_msg(bool *quit)
{
	static char buf[KEEPER_MAX_MSG];
	union {
		char cbuf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.cbuf, .msg_controllen = sizeof(u.cbuf) };
	ssize_t r = recvmsg(owner, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	int fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); r > 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *p = (int *)CMSG_DATA(cm);
		for (int k = 0; k < n; k++) {
			if (fd < 0)
				fd = p[k];
			else
				close(p[k]);
		}
	}
	if (r <= 0) {
		owner_gone(planned ? "stopped for a restart" : "went away without a word (crash or SIGKILL)");
		return false;
	}
	struct kmsg h;
	if ((size_t)r < sizeof(h) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		klog("malformed message from ipcnsd (pid %d): %zd bytes; dropping the connection", (int)owner_pid, r);
		goto bad;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.glen > KEEPER_MAX_GROUP || h.mlen > KEEPER_MAX_META || sizeof(h) + h.glen + h.mlen != (size_t)r) {
		klog("malformed message from ipcnsd (pid %d): op %u lengths %u+%u", (int)owner_pid, h.op, h.glen, h.mlen);
		goto bad;
	}
	const char *group = buf + sizeof(h);
	const char *meta = group + h.glen;
	switch (h.op) {
	case KOP_PUT: {
		if (fd < 0) {
			klog("ipcnsd put slot %u without an fd", h.slot);
			break;
		}
		int ret = slot_put(h.slot, h.kind, group, h.glen, meta, h.mlen, fd);
		if (ret < 0) {
			klog("out of memory: slot %u (kind %u) not kept", h.slot, h.kind);
			close(fd);
		}
		fd = -1;
		break;
	}
	case KOP_DROP: {
		struct slot *sl = slot_find(h.slot);
		if (sl)
			slot_free((size_t)(sl - slots));
		break;
	}
	case KOP_DROP_GROUP:
		for (size_t i = nslots; i-- > 0;)
			if (strlen(slots[i].group) == h.glen && !memcmp(slots[i].group, group, h.glen))
				slot_free(i);
		break;
	case KOP_META: {
		struct slot *sl = slot_find(h.slot);
		void *m = h.mlen ? malloc(h.mlen) : NULL;
		if (sl && (m || !h.mlen)) {
			if (h.mlen)
				memcpy(m, meta, h.mlen);
			free(sl->meta);
			sl->meta = m;
			sl->mlen = h.mlen;
		} else {
			free(m);
		}
		break;
	}
	case KOP_LIST: {
		for (size_t i = 0; i < nslots; i++) {
			struct kmsg it = { .op = KOP_ITEM, .slot = slots[i].slot, .kind = slots[i].kind,
					   .glen = (uint32_t)strlen(slots[i].group), .mlen = slots[i].mlen };
			if (send_msg(owner, &it, slots[i].group, slots[i].meta, slots[i].fd) < 0) {
				klog("sending the fds to ipcnsd (pid %d): %s", (int)owner_pid, strerror(errno));
				goto bad;
			}
		}
		struct kmsg end = { .op = KOP_END, .slot = (uint32_t)nslots, .kind = max_slot };
		if (send_msg(owner, &end, NULL, NULL, -1) < 0)
			goto bad;
		break;
	}
	case KOP_STATS: {
		struct kmsg end = { .op = KOP_END, .slot = (uint32_t)nslots, .kind = max_slot };
		if (send_msg(owner, &end, NULL, NULL, -1) < 0)
			goto bad;
		break;
	}
	case KOP_BYE:
		planned = true;
		break;
	case KOP_RELEASE:
		release_all("ipcnsd asked for a full stop");
		*quit = true;
		break;
	default:
		klog("unknown op %u from ipcnsd (pid %d)", h.op, (int)owner_pid);
		break;
	}
	if (fd >= 0)
		close(fd);
	return true;
bad:
	if (fd >= 0)
		close(fd);
	owner_gone("sent something the keeper does not understand");
	return false;
}

/* A new connection: a daemon's HELLO, within a second.  */
static void accept_daemon(int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != 0) {
		close(c);
		return;
	}
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct timeval stv = { .tv_sec = 10 };
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof(stv));
	struct kmsg h;
	ssize_t r = recv(c, &h, sizeof(h), 0);
	if (r != (ssize_t)sizeof(h) || h.op != KOP_HELLO) {
		close(c);
		return;
	}
	if (owner >= 0) {
		/* A daemon is attached.  Its connection may already be closed
		 * (SIGKILL) with the hang-up not read yet: look.  */
		struct pollfd p = { .fd = owner, .events = POLLIN };
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) {
			bool quit = false;
			while (owner >= 0 && owner_msg(&quit))
				;
		}
	}
	if (owner >= 0) {
		struct kmsg busy = { .op = KOP_BUSY, .slot = (uint32_t)owner_pid, .version = KEEPER_PROTO_VERSION };
		send_msg(c, &busy, NULL, NULL, -1);
		close(c);
		return;
	}
	if (h.version != KEEPER_PROTO_VERSION) {
		klog("ipcnsd (pid %u) speaks keeper protocol %u, this keeper %u: refused", h.slot, h.version,
		     KEEPER_PROTO_VERSION);
		struct kmsg no = { .op = KOP_BUSY, .slot = 0, .version = KEEPER_PROTO_VERSION };
		send_msg(c, &no, NULL, NULL, -1);
		close(c);
		return;
	}
	struct kmsg w = { .op = KOP_WELCOME, .slot = max_slot, .kind = (uint32_t)nslots,
			  .version = KEEPER_PROTO_VERSION };
	if (send_msg(c, &w, NULL, NULL, -1) < 0) {
		close(c);
		return;
	}
	tv.tv_sec = 0;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	owner = c;
	owner_pid = (pid_t)h.slot;
	planned = false;
	klog("ipcnsd (pid %d) attached; it takes over %zu fds", (int)owner_pid, nslots);
}

/* No daemon: drop the notify fds whose containers are gone.  */
static void reap_hung_nfds(void)
{
	for (size_t i = nslots; i-- > 0;) {
		if (slots[i].kind != KSLOT_NFD)
			continue;
		struct pollfd p = { .fd = slots[i].fd, .events = 0 };
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			slot_free(i);
	}
}

static void unlink_if_dead(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
		unlink(path);
	close(s);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ipcns-keeper --socket PATH [--fd N] [--stay]\n"
		   "Hold ipcnsd's fds across its restarts.  Listens on PATH" KEEPER_SUFFIX
		   " (or on the\nlistening socket N it inherits).  ipcnsd starts one when none runs; a service\n"
		   "manager may run it instead, with --stay: it then never exits on its own (without\n"
		   "--stay it exits when no ipcnsd and no container has needed it for " STR(GRACE_SECONDS)
		   " s).\nSee spec/lifecycle.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "stay", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int lfd = -1, c;
	bool stay = false;
	while ((c = getopt_long(argc, argv, "s:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'f':
			lfd = atoi(optarg);
			break;
		case 'S':
			stay = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!sock_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	char kpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (snprintf(kpath, sizeof(kpath), "%s" KEEPER_SUFFIX, sock_path) >= (int)sizeof(kpath)) {
		fprintf(stderr, "ipcns-keeper: socket path too long: %s\n", sock_path);
		return 2;
	}
	if (lfd < 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		strcpy(sa.sun_path, kpath);
		lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (lfd < 0 || connect(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fprintf(stderr, "ipcns-keeper: a keeper already listens on %s\n", kpath);
			return 1;
		}
		unlink(kpath);
		mode_t old = umask(0077);
		int ret = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
		if (ret < 0 || listen(lfd, 8) < 0) {
			fprintf(stderr, "ipcns-keeper: cannot listen on %s: %s\n", kpath, strerror(errno));
			return 1;
		}
	}
	fcntl(lfd, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	/* It holds as many fds as ipcnsd: the soft limit up to the hard.  */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* The one process whose death ends every container's System V IPC:
	 * the last the OOM killer may pick.  It holds fds, not memory.  */
	int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom >= 0) {
		if (write(oom, "-1000", 5) < 0)
			klog("cannot protect itself from the OOM killer: %s", strerror(errno));
		close(oom);
	}
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return 1;
	orphaned_since = time(NULL);
	klog("holding fds for ipcnsd on %s (pid %d)", sock_path, (int)getpid());
	bool quit = false;
	while (!quit) {
		struct pollfd p[3] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = owner, .events = POLLIN },
		};
		int n = poll(p, owner >= 0 ? 3 : 2, owner >= 0 ? -1 : 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP) {
				release_all("signal");
				break;
			}
		}
		if (owner >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			while (owner >= 0 && !quit && owner_msg(&quit)) {
				struct pollfd q = { .fd = owner, .events = POLLIN };
				if (poll(&q, 1, 0) != 1)
					break;
			}
		}
		if (!quit && (p[0].revents & POLLIN))
			accept_daemon(lfd);
		if (owner < 0 && !quit) {
			reap_hung_nfds();
			if (!stay && count_kind(KSLOT_NFD) == 0 && time(NULL) - orphaned_since >= GRACE_SECONDS) {
				release_all("no ipcnsd and no container");
				break;
			}
		}
	}
	/* Leave no socket behind that nobody answers: ours, and the daemon's
	 * (we held its listening socket; another daemon may own the path by
	 * now, then it answers).  */
	close(lfd);
	unlink_if_dead(kpath, SOCK_SEQPACKET);
	unlink_if_dead(sock_path, SOCK_STREAM);
	klog("exiting");
	return 0;
}
