/* SPDX-License-Identifier: MIT */
/* ipcnsd: the supervisor.  Accepts the seccomp notify fds runc and crun
 * send to linux.seccomp.listenerPath, maps each container to a virtual IPC
 * namespace, and answers its System V IPC calls from the namespace core.
 *
 * Threads: this main thread accepts connections (runtimes and operators),
 * reads signals and the proc connector; each namespace has a worker thread
 * (worker.c) that answers its containers' calls.  A container that keeps
 * its worker busy slows only its own namespace, and namespaces run on as
 * many CPUs as there are.  */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define DEFAULT_SOCKET "/run/ipcns/ipcnsd.sock"
#define MAX_MSG (256 * 1024)
/* The main thread's tick: listening again after a shortage of fds.  */
#define MAIN_TICK_SECONDS 1
/* How long a registration waits for a busy namespace.  */
#define REGISTER_WAIT_MS 5000

struct daemon D = {
	.reg_lock = PTHREAD_MUTEX_INITIALIZER,
	.watch_lock = PTHREAD_MUTEX_INITIALIZER,
	.cn_lock = PTHREAD_MUTEX_INITIALIZER,
	.workers_lock = PTHREAD_MUTEX_INITIALIZER,
	.workers_cond = PTHREAD_COND_INITIALIZER,
};


void dlog(const char *fmt, ...)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ ipcnsd: ", ts, now.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* ---- Registration: what runc/crun send to listenerPath.  */

static struct container *container_find(const char *id)
{
	for (struct container *c = D.containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

/* D.reg_lock held.  */
static int register_container(json_t *msg, int notify_fd, char *err, size_t errlen)
{
	json_t *state = json_object_get(msg, "state");
	json_t *fds = json_object_get(msg, "fds");
	const char *id = json_string_value(json_object_get(state, "id"));
	json_int_t pid = json_integer_value(json_object_get(msg, "pid"));
	const char *bundle = json_string_value(json_object_get(state, "bundle"));
	size_t i;
	json_t *v;
	bool has_seccomp = false;

	if (!json_is_object(state) || !id || !*id) {
		snprintf(err, errlen, "state.id missing");
		return -EINVAL;
	}
	json_array_foreach(fds, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), "seccompFd"))
		has_seccomp = true;
	if (!has_seccomp) {
		snprintf(err, errlen, "container %s: no seccompFd in fds", id);
		return -EINVAL;
	}
	if (pid <= 0)
		pid = json_integer_value(json_object_get(state, "pid"));
	struct container *c = container_find(id);
	/* crun 1.8 sends pid 0 for a process exec'd into a running container:
	 * the container we know tells the namespace.  */
	if (pid <= 0 && !c) {
		snprintf(err, errlen, "container %s: no pid", id);
		return -EINVAL;
	}

	char key[300];
	ino_t ino = 0;
	const char *name = json_string_value(
		json_object_get(json_object_get(state, "annotations"), "org.ipcns.namespace"));
	int ret = pid > 0 ? ipcns_proc_ipc_inode((pid_t)pid, &ino) : 0;
	if (ret < 0) {
		snprintf(err, errlen, "container %s: pid %lld: cannot read its IPC namespace: %s", id,
			 (long long)pid, strerror(-ret));
		return ret;
	}
	if (name && *name)
		snprintf(key, sizeof(key), "name:%.250s", name);
	else
		snprintf(key, sizeof(key), "ipc:%llu", (unsigned long long)ino);

	struct ipcns_limits limits;
	if (!c) {
		ret = ipcns_limits_from_state(state, &limits, err, errlen);
		if (ret < 0)
			return ret;
	}
	/* A namespace whose worker is inside a call that does not end (its
	 * container frozen in a shmat): refuse rather than stall the main
	 * thread, which serves every other container too.  */
	struct nsent *known = c ? c->nse : nsent_find(key);
	if (known) {
		if (!nsent_try_enter(known, REGISTER_WAIT_MS)) {
			snprintf(err, errlen,
				 "container %s: namespace %s is busy: a call of its containers has not ended for %d ms "
				 "(is a container of it paused?)",
				 id, known->key, REGISTER_WAIT_MS);
			return -EBUSY;
		}
		nsent_leave(known);
	}
	struct nsent *e = c ? c->nse : nsent_get(key, &limits, ino);
	if (!e) {
		snprintf(err, errlen, "container %s: out of memory", id);
		return -ENOMEM;
	}
	if (c && ino) {
		pthread_mutex_lock(&e->lock);
		ipcns_host_add_inode(&e->host, ino);
		pthread_mutex_unlock(&e->lock);
	}
	struct nfd_ent *ne = calloc(1, sizeof(*ne));
	if (!ne) {
		snprintf(err, errlen, "out of memory");
		if (!e->refs)
			nsent_wake(e); /* a new namespace without a notify fd */
		return -ENOMEM;
	}
	bool new_container = !c;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || !(c->id = strdup(id))) {
			free(c);
			free(ne);
			snprintf(err, errlen, "out of memory");
			if (!e->refs)
				nsent_wake(e);
			return -ENOMEM;
		}
		c->pid = (pid_t)pid;
		c->bundle = bundle ? strdup(bundle) : NULL;
		c->nse = e;
		c->created = (int64_t)time(NULL);
		c->next = D.containers;
		D.containers = c;
		e->containers++;
	}
	c->nfds++;
	e->refs++;
	ne->ev.kind = EV_NFD;
	ne->ev.fd = notify_fd;
	ne->ct = c;
	pthread_mutex_lock(&e->lock);
	ipcns_nfd_init(&ne->nf, notify_fd, e->ns, &nfd_ops, ne);
	if (new_container)
		nsent_names(e);
	pthread_mutex_unlock(&e->lock);
	if (D.sync_wakeup && ipcns_seccomp_sync_wakeup(notify_fd) < 0)
		D.sync_wakeup = false;
	ne->next = D.nfds;
	D.nfds = ne;
	/* Into its worker's poll set.  */
	pthread_mutex_lock(&e->lock);
	ret = 0;
	if (e->npnfds == e->cappnfds) {
		size_t ncap = e->cappnfds ? e->cappnfds * 2 : 4;
		struct nfd_ent **np = realloc(e->pnfds, ncap * sizeof(*np));
		if (np) {
			e->pnfds = np;
			e->cappnfds = ncap;
		} else {
			ret = -ENOMEM;
		}
	}
	if (ret == 0) {
		e->pnfds[e->npnfds++] = ne;
		__atomic_store_n(&e->nfd_gen, e->nfd_gen + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&e->lock);
	if (ret == 0)
		nsent_wake(e);
	if (ret < 0) {
		snprintf(err, errlen, "out of memory");
		D.nfds = ne->next;
		free(ne);
		container_put(c);
		if (nsent_unref(e))
			nsent_wake(e); /* its worker frees it */
		return ret;
	}
	dlog("container %s: %s pid %lld, namespace %s", id, new_container ? "registered," : "exec'd process,",
	     (long long)pid, e->key);
	return 0;
}

/* One connection: a runtime's state message with the notify fd, or an
 * operator's control request.  */
static void handle_connection(int cfd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != 0) {
		dlog("refused a connection from uid %d pid %d: only root may use ipcnsd", (int)cred.uid,
		     (int)cred.pid);
		return;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	cleanup_free char *buf = malloc(MAX_MSG + 1);
	if (!buf)
		return;
	size_t len = 0;
	int fds[8], nfds = 0;
	json_t *msg = NULL;
	json_error_t jerr;
	while (len < MAX_MSG) {
		union {
			char buf[CMSG_SPACE(sizeof(fds))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf + len, MAX_MSG - len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t r = recvmsg(cfd, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (mh.msg_flags & MSG_CTRUNC)
			dlog("a file descriptor sent by pid %d was lost: ipcnsd is out of file descriptors",
			     (int)cred.pid);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *p = (int *)CMSG_DATA(cm);
			for (int k = 0; k < n; k++) {
				if (nfds < (int)ARRAY_SIZE(fds))
					fds[nfds++] = p[k];
				else
					close(p[k]);
			}
		}
		len += (size_t)r;
		buf[len] = '\0';
		msg = json_loadb(buf, len, 0, &jerr);
		if (msg)
			break;
	}
	char err[512] = "";
	if (!msg && len == 0 && nfds == 0) {
		/* A probe (ipcns-runtime checks that ipcnsd listens).  */
	} else if (!msg) {
		dlog("malformed message from pid %d: %s", (int)cred.pid, len ? jerr.text : "empty");
	} else if (json_object_get(msg, "command")) {
		pthread_mutex_lock(&D.reg_lock);
		json_t *reply = ipcnsd_control(&D, msg);
		pthread_mutex_unlock(&D.reg_lock);
		char *out = json_dumps(reply, JSON_COMPACT);
		if (out) {
			size_t ol = strlen(out), off = 0;
			while (off < ol) {
				ssize_t w = send(cfd, out + off, ol - off, MSG_NOSIGNAL);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			free(out);
		}
		json_decref(reply);
	} else if (nfds != 1) {
		dlog("message from pid %d carried %d fds, expected the seccomp notify fd", (int)cred.pid, nfds);
	} else {
		pthread_mutex_lock(&D.reg_lock);
		int ret = register_container(msg, fds[0], err, sizeof(err));
		pthread_mutex_unlock(&D.reg_lock);
		if (ret == 0)
			fds[0] = -1; /* kept */
		else
			dlog("registration failed: %s", err);
	}
	for (int k = 0; k < nfds; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	json_decref(msg);
}

/* ---- Socket and main loop.  */

static int open_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ipcnsd: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* The directory: created 0755 if missing.  */
	char dir[sizeof(sa.sun_path)];
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) {
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0755);
				*p = '/';
			}
		}
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "ipcnsd: cannot create %s: %s\n", dir, strerror(errno));
			return -1;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "ipcnsd: another ipcnsd is already listening on %s\n", path);
		close(fd);
		return -1;
	}
	unlink(path);
	mode_t old = umask(0077);
	int ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "ipcnsd: cannot listen on %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The main thread's tick: listen again if fds were short.  */
static void main_tick(void)
{
	uint64_t n;
	if (read(D.tick_ev.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	listen_resume();
}

static void listen_pause(void)
{
	if (D.listen_paused)
		return;
	ep_del(D.epfd, D.listen_ev.fd);
	__atomic_store_n(&D.listen_paused, true, __ATOMIC_RELEASE);
	dlog("out of file descriptors: not accepting connections until some are freed");
}

/* Any thread, when an fd was freed.  */
void listen_resume(void)
{
	if (!__atomic_exchange_n(&D.listen_paused, false, __ATOMIC_ACQ_REL))
		return;
	if (ep_add(D.epfd, D.listen_ev.fd, &D.listen_ev, EPOLLIN) < 0 && errno != EEXIST)
		__atomic_store_n(&D.listen_paused, true, __ATOMIC_RELEASE);
}

static void handle_event(struct ev *ev)
{
	switch (ev->kind) {
	case EV_LISTEN: {
		/* Accept only with room for the connection and the notify fd
		 * it may carry: a notify fd dropped for want of a slot would
		 * leave its container unserved.  */
		int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int cfd = spare < 0 ? -1 : accept4(D.listen_ev.fd, NULL, NULL, SOCK_CLOEXEC);
		if (spare < 0 && errno != EMFILE && errno != ENFILE)
			dlog("opening /dev/null: %s", strerror(errno));
		int aerr = errno;
		if (spare >= 0)
			close(spare);
		errno = aerr;
		if (cfd >= 0) {
			handle_connection(cfd);
			close(cfd);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of fds: the connection stays readable and a level-
			 * triggered loop would spin.  Stop listening until an fd
			 * is freed or the next tick; the runtime waits in the
			 * backlog, nothing is lost.  */
			listen_pause();
		}
		break;
	}
	case EV_PROC:
		/* Events no call asked for yet: exits of threads, forks and
		 * execs of watched processes, into the inboxes.  */
		cn_drain();
		break;
	case EV_TICK:
		main_tick();
		break;
	case EV_SIGNAL: {
		struct signalfd_siginfo si;
		if (read(D.sig_ev.fd, &si, sizeof(si)) == sizeof(si)) {
			dlog("signal %d from pid %u: exiting", (int)si.ssi_signo, si.ssi_pid);
			D.stop = true;
		}
		break;
	}
	default:
		break;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ipcnsd [--socket PATH] [--no-sync-wakeup]\n"
		   "Serve System V IPC to containers whose seccomp listenerPath is PATH\n"
		   "(default " DEFAULT_SOCKET ").  Runs in the foreground; logs to stderr.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "no-sync-wakeup", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("IPCNS_SOCKET");
	bool sync_wakeup = true;
	int c;
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'n':
			sync_wakeup = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ipcnsd 0.1\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ipcnsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "ipcnsd: must run as root (it answers other processes' system calls)\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* One malloc arena for every thread: what a namespace costs is
	 * bounded and measured (mallinfo2 in `ipcnsctl ps') in one place,
	 * and a worker's allocations are not stranded in an arena of its
	 * own.  */
	mallopt(M_ARENA_MAX, 1);
	D.socket_path = path;
	D.sync_wakeup = sync_wakeup;
	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	int lfd = open_socket(path);
	if (lfd < 0 || D.epfd < 0)
		return 1;
	D.listen_ev = (struct ev){ EV_LISTEN, lfd };
	D.tick_ev = (struct ev){ EV_TICK, timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	D.sig_ev = (struct ev){ EV_SIGNAL, signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK) };
	struct itimerspec its = { .it_interval = { MAIN_TICK_SECONDS, 0 }, .it_value = { MAIN_TICK_SECONDS, 0 } };
	timerfd_settime(D.tick_ev.fd, 0, &its, NULL);
	if (D.tick_ev.fd < 0 || D.sig_ev.fd < 0 || ep_add(D.epfd, lfd, &D.listen_ev, EPOLLIN) < 0 ||
	    ep_add(D.epfd, D.tick_ev.fd, &D.tick_ev, EPOLLIN) < 0 || ep_add(D.epfd, D.sig_ev.fd, &D.sig_ev, EPOLLIN) < 0) {
		fprintf(stderr, "ipcnsd: setting up the event loop: %s\n", strerror(errno));
		return 1;
	}
	D.proc_ev.fd = -1;
	int pfd = open_proc_connector();
	if (pfd < 0) {
		dlog("proc connector unavailable (%s): fork and exec are seen when the maps are read", strerror(-pfd));
	} else {
		D.proc_ev = (struct ev){ EV_PROC, pfd };
		if (ep_add(D.epfd, pfd, &D.proc_ev, EPOLLIN) == 0) {
			ipcns_tidcache_enable(true);
			D.tracks_processes = true;
		}
	}
	dlog("listening on %s (pid %d)", path, (int)getpid());

	while (!D.stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(D.epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dlog("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			handle_event(evs[i].data.ptr);
	}
	/* Stop the workers, then free what they leave, alone.  */
	pthread_mutex_lock(&D.reg_lock);
	for (struct nsent *e = D.namespaces; e; e = e->next)
		nsent_wake(e);
	pthread_mutex_unlock(&D.reg_lock);
	pthread_mutex_lock(&D.workers_lock);
	while (D.nworkers > 0)
		pthread_cond_wait(&D.workers_cond, &D.workers_lock);
	pthread_mutex_unlock(&D.workers_lock);
	while (D.nfds) {
		struct nsent *e = D.nfds->ct->nse;
		if (nfd_close(D.nfds))
			nsent_destroy(e);
	}
	unlink(path);
	dlog("stopped");
	return 0;
}
