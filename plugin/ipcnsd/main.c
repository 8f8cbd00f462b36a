/* SPDX-License-Identifier: MIT */
/* ipcnsd: the supervisor.  Accepts the seccomp notify fds runc and crun
 * send to linux.seccomp.listenerPath, maps each container to a virtual IPC
 * namespace, and answers its System V IPC calls from the namespace core.
 *
 * Threads: this main thread accepts connections (runtimes and operators)
 * and reads signals; each namespace has a worker thread (worker.c) that
 * answers its containers' calls, and the tracker thread reads the proc
 * connector.  A container that keeps its worker busy slows only its own
 * namespace, and namespaces run on as many CPUs as there are.  Calls go
 * one way: main.c -> control.c -> worker.c -> log.c, but for the
 * operator's requests about one container, which control.c queues to its
 * namespace's worker and the worker answers (control_ops_serve); workers
 * reach the main thread only through its wake-up eventfd.  */
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
#include "settings.h"
#include "view.h"

#define DEFAULT_SOCKET "/run/ipcns/ipcnsd.sock"
#define MAX_MSG (256 * 1024)
/* The main thread's tick: listening again after a shortage of fds.  */
#define MAIN_TICK_SECONDS 1

struct daemon D = {
	.reg_lock = PTHREAD_MUTEX_INITIALIZER,
	.workers_lock = PTHREAD_MUTEX_INITIALIZER,
	.workers_cond = PTHREAD_COND_INITIALIZER,
};


/* ---- Registration: what runc/crun send to listenerPath, in three
 * steps: parse the message, find or create the container and its
 * namespace, attach the notify fd (handed to the namespace's worker).
 * None of them takes a namespace's lock: a worker stuck in a frozen
 * container's call cannot stall the main thread.  */

struct reg_request {
	const char *id;
	const char *bundle;
	const char *name; /* org.ipcns.namespace, or NULL */
	json_t *state;
	pid_t pid;        /* 0: none given (crun's exec) */
	ino_t ino;        /* pid's kernel IPC namespace, 0 without pid */
	int nsfd;         /* an fd on it, or -1; see nsent_pin */
};

static struct container *container_find(const char *id)
{
	for (struct container *c = D.containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static int reg_parse(json_t *msg, struct reg_request *r, bool adopt, char *err, size_t errlen)
{
	json_t *state = json_object_get(msg, "state");
	json_t *fds = json_object_get(msg, "fds");
	size_t i;
	json_t *v;
	bool has_seccomp = false;

	memset(r, 0, sizeof(*r));
	r->nsfd = -1;
	r->state = state;
	r->id = json_string_value(json_object_get(state, "id"));
	r->bundle = json_string_value(json_object_get(state, "bundle"));
	if (!json_is_object(state) || !r->id || !*r->id) {
		return ipcns_error(err, errlen, -EINVAL, "state.id missing");
	}
	json_array_foreach(fds, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), "seccompFd"))
		has_seccomp = true;
	if (!has_seccomp) {
		return ipcns_error(err, errlen, -EINVAL, "container %s: no seccompFd in fds", r->id);
	}
	json_int_t pid = json_integer_value(json_object_get(msg, "pid"));
	if (pid <= 0)
		pid = json_integer_value(json_object_get(state, "pid"));
	if (pid > INT32_MAX) {
		return ipcns_error(err, errlen, -EINVAL, "container %s: pid %lld out of range", r->id, (long long)pid);
	}
	r->pid = pid > 0 ? (pid_t)pid : 0;
	if (r->pid) {
		/* The inode is read from the fd kept: the number is the
		 * namespace's for as long as the fd is open.  */
		char path[64];
		struct stat st;
		int ret = 0;
		snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)r->pid);
		r->nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->nsfd < 0 || fstat(r->nsfd, &st) < 0)
			ret = -errno;
		else
			r->ino = st.st_ino;
		/* Taken over: the process that registered may be gone while
		 * others of its container remain; its namespace is known.  */
		if (ret < 0 && adopt)
			r->ino = 0;
		else if (ret < 0) {
			return ipcns_error(err, errlen, ret, "container %s: pid %d: cannot read its IPC namespace: %s",
					   r->id, (int)r->pid, strerror(-ret));
		}
	}
	const char *name = json_string_value(
		json_object_get(json_object_get(state, "annotations"), "org.ipcns.namespace"));
	r->name = name && *name ? name : NULL;
	return 0;
}

/* The container and its namespace, made if new; D.reg_lock held.  A known
 * container id joins its namespace only from a kernel IPC namespace that
 * namespace already serves: an id is a name anyone starting a container
 * chooses, not a key to another container's objects.  */
static int reg_find_or_create(struct reg_request *r, const struct adopt *adopt, struct container **cp,
			      struct nsent **ep, char *err, size_t errlen)
{
	struct container *c = container_find(r->id);
	*cp = c;
	if (c) {
		/* crun 1.8 sends pid 0 for a process exec'd into a running
		 * container: the first notification is checked instead.  */
		if (r->ino && !nsent_serves(c->nse, r->ino)) {
			return ipcns_error(
			    err, errlen, -EPERM,
			    "container %s: pid %d is in kernel IPC namespace %llu, which namespace %s does not "
			    "serve: refused (another container with the same id?)",
			    r->id, (int)r->pid, (unsigned long long)r->ino, c->nse->key);
		}
		*ep = c->nse;
		return 0;
	}
	if (!r->pid && !adopt) {
		return ipcns_error(err, errlen, -EINVAL, "container %s: no pid", r->id);
	}
	char key[300];
	if (adopt)
		snprintf(key, sizeof(key), "%s", adopt->key);
	else
		policy_ns_key(r->name, r->ino, key, sizeof(key));
	struct nsent *e = nsent_find(key);
	if (e) {
		if (r->ino && nsent_add_inode(e, r->ino) < 0) {
			return ipcns_error(err, errlen, -ENOMEM, "container %s: out of memory", r->id);
		}
		view_ns_inode(e, r->ino);
	} else {
		struct ipcns_limits limits;
		int ret = policy_limits(r->state, &limits, err, errlen);
		if (ret < 0)
			return ret;
		/* A linux.sysctl value is a write of the sysctl: the
		 * operator's ceiling binds it the same way.  */
		char what[256];
		ret = ipcns_limits_apply_ceiling(&limits, &P.sysctl, what, sizeof(what));
		if (ret < 0) {
			return ipcns_error(err, errlen, ret, "container %s: linux.sysctl %s", r->id, what);
		}
		e = nsent_new(key, &limits, r->ino);
		if (!e) {
			return ipcns_error(err, errlen, -ENOMEM, "container %s: out of memory", r->id);
		}
	}
	if (r->ino && r->nsfd >= 0) {
		nsent_pin(e, r->ino, r->nsfd);
		r->nsfd = -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->id = strdup(r->id))) {
		free(c);
		if (!e->refs)
			nsent_wake(e); /* a new namespace without a notify fd */
		return ipcns_error(err, errlen, -ENOMEM, "container %s: out of memory", r->id);
	}
	c->pid = r->pid;
	c->bundle = r->bundle ? strdup(r->bundle) : NULL;
	c->nse = e;
	c->created = adopt && adopt->created ? adopt->created : (int64_t)time(NULL);
	c->next = D.containers;
	D.containers = c;
	e->containers++;
	nsent_names(e);
	*cp = c;
	*ep = e;
	return 0;
}

/* The notify fd into the registry and to the namespace's worker;
 * D.reg_lock held.  */
static int reg_attach(const struct reg_request *r, struct container *c, int notify_fd)
{
	struct nfd_ent *ne = calloc(1, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	struct nsent *e = c->nse;
	c->nfds++;
	e->refs++;
	ne->ev.kind = EV_NFD;
	ne->ev.fd = notify_fd;
	ne->ct = c;
	ne->ipc_ino = r->ino;
	if (D.sync_wakeup && ipcns_seccomp_sync_wakeup(notify_fd) < 0)
		D.sync_wakeup = false;
	ne->next = D.nfds;
	D.nfds = ne;
	nsent_post_nfd(e, ne);
	return 0;
}

/* The keeper keeps a copy of the notify fd, with what it takes to
 * register it again after a restart; D.reg_lock held.  */
static void reg_deposit(json_t *msg, struct nfd_ent *ne, const char *id)
{
	if (!custody_attached())
		return;
	json_t *meta = json_pack("{s:s, s:O, s:I}", "key", ne->ct->nse->key, "msg", msg, "created",
				 (json_int_t)ne->ct->created);
	char *m = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	ne->slot = custody_new_slot();
	if (!m || custody_put(ne->slot, KSLOT_NFD, ne->ct->nse->key, m, strlen(m), ne->ev.fd) < 0) {
		dlog("container %s: its registration (%zu bytes) cannot be kept by the keeper: a restart of ipcnsd "
		     "ends its System V IPC",
		     id, m ? strlen(m) : 0);
		ne->slot = 0;
	}
	free(m);
	json_decref(meta);
}

/* D.reg_lock held.  */
int register_container(json_t *msg, int notify_fd, const struct adopt *adopt, char *err, size_t errlen)
{
	struct reg_request r;
	struct container *c = NULL;
	struct nsent *e = NULL;
	int ret = reg_parse(msg, &r, adopt != NULL, err, errlen);
	/* r.nsfd unless a namespace entry took it.  */
	cleanup_close int nsfd_left = r.nsfd;
	if (ret < 0)
		return ret;
	bool known = container_find(r.id) != NULL;
	ret = reg_find_or_create(&r, adopt, &c, &e, err, errlen);
	nsfd_left = r.nsfd;
	if (ret < 0)
		return ret;
	ret = reg_attach(&r, c, notify_fd);
	if (ret < 0) {
		if (!known) {
			c->nfds = 1;
			container_put(c);
		}
		if (!e->refs)
			nsent_wake(e); /* its worker frees it */
		return ipcns_error(err, errlen, ret, "container %s: out of memory", r.id);
	}
	if (adopt)
		D.nfds->slot = adopt->slot;
	else
		reg_deposit(msg, D.nfds, r.id);
	dlog("container %s: %s pid %d, namespace %s", r.id,
	     adopt ? "taken over," : known ? "exec'd process," : "registered,", (int)r.pid, e->key);
	return 0;
}

/* The peer is the host's: root, in the daemon's user and pid namespaces.
 * A runtime runs there; a process of a container that got hold of the
 * socket does not, whatever its uid inside.  */
static bool peer_is_host(const struct ucred *cred)
{
	static const char *const kinds[] = { "user", "pid" };
	if (cred->uid != 0 || cred->pid <= 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		char path[64];
		struct stat ours, theirs;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)cred->pid, kinds[i]);
		if (stat(path, &theirs) < 0)
			return false;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		if (stat(path, &ours) < 0 || ours.st_ino != theirs.st_ino || ours.st_dev != theirs.st_dev)
			return false;
	}
	return true;
}

/* One connection: a runtime's state message with the notify fd, or an
 * operator's control request.  True when cfd was kept (a request queued
 * to a namespace's worker, which answers it).  */
static bool handle_connection(int cfd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || !peer_is_host(&cred)) {
		dlog("refused a connection from uid %d pid %d: only root of the host may use ipcnsd", (int)cred.uid,
		     (int)cred.pid);
		return false;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	cleanup_free char *buf = malloc(MAX_MSG + 1);
	bool kept = false;
	if (!buf)
		return false;
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
		json_t *reply = ipcnsd_control(msg, cfd);
		pthread_mutex_unlock(&D.reg_lock);
		kept = reply == NULL;
		char *out = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
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
		int ret = register_container(msg, fds[0], NULL, err, sizeof(err));
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
	return kept;
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
static void listen_resume(void);

static void main_tick(void)
{
	uint64_t n;
	if (read(D.tick_ev.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	listen_resume();
	budget_fd_ceiling();
	control_ops_reap(false);
}

static void listen_pause(void)
{
	if (D.listen_paused)
		return;
	ipcns_ep_del(D.epfd, D.listen_ev.fd);
	__atomic_store_n(&D.listen_paused, true, __ATOMIC_RELEASE);
	dlog("out of file descriptors: not accepting connections until some are freed");
}

static void listen_resume(void)
{
	if (!__atomic_exchange_n(&D.listen_paused, false, __ATOMIC_ACQ_REL))
		return;
	if (ipcns_ep_add(D.epfd, D.listen_ev.fd, &D.listen_ev) < 0 && errno != EEXIST)
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
			if (!handle_connection(cfd))
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
	case EV_TICK:
		main_tick();
		break;
	case EV_WAKE: {
		/* A worker freed fds.  */
		uint64_t v;
		if (read(D.wake_ev.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			dlog("eventfd: %s", strerror(errno));
		listen_resume();
		control_ops_reap(false);
		break;
	}
	case EV_SIGNAL: {
		struct signalfd_siginfo si;
		if (read(D.sig_ev.fd, &si, sizeof(si)) == sizeof(si)) {
			dlog("signal %d from pid %u: exiting", (int)si.ssi_signo, si.ssi_pid);
			__atomic_store_n(&D.stop, true, __ATOMIC_RELEASE);
		}
		break;
	}
	default:
		break;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ipcnsd [--socket PATH] [--no-sync-wakeup] [--view DIR | --no-view]\n"
		   "              [--ceiling kernel.NAME=VALUE]... [--config FILE] [BUDGETS]\n"
		   "              [--keeper BIN | --keeper-wait S | --no-keeper]\n"
		   "Serve System V IPC to containers whose seccomp listenerPath is PATH\n"
		   "(default " DEFAULT_SOCKET ").  Runs in the foreground; logs to stderr.\n"
		   "  --view DIR      where to mount the containers' /proc/sysvipc and IPC sysctls\n"
		   "                  (default: PATH with .sock replaced by .view); --no-view: none,\n"
		   "                  /proc/sysvipc is masked in containers\n"
		   "  --view-fd N     take over the view's FUSE session from a previous ipcnsd:\n"
		   "                  N is its /dev/fuse fd, inherited (the mount stays)\n"
		   "  --ceiling K=V   the largest value containers may give the IPC sysctl K\n"
		   "                  (linux.sysctl or a write), e.g. kernel.msgmnb=1048576\n"
		   "  --config FILE   the operator's policy for org.ipcns.* annotations: the \"ipcnsd\"\n"
		   "                  object of FILE (default " POLICY_PATH ", or IPCNS_CONFIG;\n"
		   "                  a missing file means the safe defaults, spec/security.md)\n"
		   "  --keeper BIN    the keeper to start when none runs (default: ipcns-keeper\n"
		   "                  next to ipcnsd); it holds the containers while ipcnsd restarts:\n"
		   "                  SIGTERM stops ipcnsd for the next one to take over, `ipcnsctl\n"
		   "                  shutdown' stops both for good (spec/lifecycle.md)\n"
		   "  --keeper-wait S wait up to S seconds for a keeper a service manager runs\n"
		   "                  (ipcns-keeper --stay) instead of starting one\n"
		   "  --no-keeper     none: when ipcnsd exits, its containers' calls fail (ENOSYS)\n"
		   "Budgets (sizes take K, M, G, T; 0 = none; spec/ipcnsd.md):\n"
		   "  --ns-mem-bytes N      daemon memory per namespace (default 128M)\n"
		   "  --ns-mem-bytes-max N  most an org.ipcns.mem-bytes annotation may ask (default: --ns-mem-bytes)\n"
		   "  --ns-fds N            daemon fds per namespace (default 16384)\n"
		   "  --ns-fds-max N        most an org.ipcns.fds annotation may ask (default: --ns-fds)\n"
		   "  --mem-bytes N         daemon memory for all namespaces (default: a quarter of RAM)\n"
		   "Signal watch (spec/security.md, \"Signal watches\"):\n"
		   "  --sigwatch-ring-pages N  pages of each per-CPU ring (a power of two, default 128)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "no-sync-wakeup", no_argument, NULL, 'n' },
		{ "view", required_argument, NULL, 'v' },
		{ "no-view", no_argument, NULL, 'N' },
		{ "view-fd", required_argument, NULL, 'F' },
		{ "ceiling", required_argument, NULL, 'c' },
		{ "ns-mem-bytes", required_argument, NULL, 'B' },
		{ "ns-mem-bytes-max", required_argument, NULL, 'B' },
		{ "ns-fds", required_argument, NULL, 'B' },
		{ "ns-fds-max", required_argument, NULL, 'B' },
		{ "mem-bytes", required_argument, NULL, 'B' },
		{ "config", required_argument, NULL, 'C' },
		{ "keeper", required_argument, NULL, 'k' },
		{ "no-keeper", no_argument, NULL, 'K' },
		{ "keeper-wait", required_argument, NULL, 'W' },
		{ "sigwatch-ring-pages", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("IPCNS_SOCKET");
	bool sync_wakeup = true;
	const char *view_dir = NULL;
	const char *config = getenv("IPCNS_CONFIG");
	bool view = true;
	int view_adopt = -1;
	bool use_keeper = true;
	int keeper_wait = 0;
	const char *keeper_bin = NULL;
	int c, oi = 0;
	ipcns_policy_init(&P);
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "s:h", opts, &oi)) != -1) {
		switch (c) {
		case 'B':
			if (budget_option(opts[oi].name, optarg) < 0)
				return 2;
			break;
		case 's':
			path = optarg;
			break;
		case 'n':
			sync_wakeup = false;
			break;
		case 'v':
			view_dir = optarg;
			break;
		case 'N':
			view = false;
			break;
		case 'C':
			config = optarg;
			break;
		case 'F': {
			/* The /dev/fuse fd of the view's mount, served by a
			 * previous ipcnsd, inherited.  */
			char *end;
			long fd = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || fd < 3 || fd > INT32_MAX || fcntl((int)fd, F_GETFD) < 0) {
				fprintf(stderr, "ipcnsd: --view-fd %s: not an open file descriptor above 2\n", optarg);
				return 2;
			}
			view_adopt = (int)fd;
			fcntl(view_adopt, F_SETFD, FD_CLOEXEC);
			break;
		}
		case 'c': {
			/* --ceiling kernel.msgmnb=1048576: the largest value a
			 * container may set, through linux.sysctl or a write.  */
			char key[64] = "";
			const char *eq = strchr(optarg, '=');
			int ret = -EINVAL;
			if (eq && (size_t)(eq - optarg) < sizeof(key)) {
				snprintf(key, sizeof(key), "%.*s", (int)(eq - optarg), optarg);
				ret = ipcns_limits_apply_sysctl(&P.sysctl, key, eq + 1);
			}
			if (ret <= 0 || !strcmp(key, "kernel.shm_rmid_forced")) {
				fprintf(stderr,
					"ipcnsd: --ceiling %s: expected kernel.NAME=VALUE with NAME one of shmmax, shmall, "
					"shmmni, sem, msgmax, msgmnb, msgmni, and a value in its range\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'k':
			keeper_bin = optarg;
			break;
		case 'K':
			use_keeper = false;
			break;
		case 'W':
			keeper_wait = atoi(optarg);
			if (keeper_wait <= 0) {
				fprintf(stderr, "ipcnsd: --keeper-wait %s: expected a number of seconds\n", optarg);
				return 2;
			}
			break;
		case 'R': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || v > 65536 || ipcns_sigwatch_ring_pages((unsigned)v) < 0) {
				fprintf(stderr, "ipcnsd: --sigwatch-ring-pages %s: expected a power of two from 1 to 65536\n",
					optarg);
				return 2;
			}
			break;
		}
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
	char perr[512];
	if (!config || !*config)
		config = POLICY_PATH;
	if (policy_load(config, perr, sizeof(perr)) < 0) {
		fprintf(stderr, "ipcnsd: %s\n", perr);
		return 2;
	}
	static const char *const ns_modes[] = { "ignore", "scoped", "global" };
	struct ipcns_limits none;
	ipcns_limits_no_ceiling(&none);
	if (memcmp(&none, &P.sysctl, sizeof(none)))
		dlog("ceilings of the kernel limits: shmmax %llu shmall %llu shmmni %u sem %d %d %d %d msgmax %u msgmnb %u "
		     "msgmni %u",
		     (unsigned long long)P.sysctl.shmmax, (unsigned long long)P.sysctl.shmall, P.sysctl.shmmni,
		     P.sysctl.semmsl, P.sysctl.semmns, P.sysctl.semopm, P.sysctl.semmni, P.sysctl.msgmax, P.sysctl.msgmnb,
		     P.sysctl.msgmni);
	dlog("annotation policy (%s): org.ipcns.namespace %s; shm-bytes %s, ceiling %llu; msg-bytes %s, ceiling %llu; "
	     "objects-per-uid %s, ceiling %llu (0: none)",
	     config, ns_modes[P.ns_name], P.honour[0] ? "honoured" : "ignored", (unsigned long long)P.ceiling[0],
	     P.honour[1] ? "honoured" : "ignored", (unsigned long long)P.ceiling[1],
	     P.honour[2] ? "honoured" : "ignored", (unsigned long long)P.ceiling[2]);
	if (geteuid() != 0) {
		fprintf(stderr, "ipcnsd: must run as root (it answers other processes' system calls)\n");
		return 1;
	}
	if (budget_init() < 0)
		return 2;
	dlog("budgets (0: none): a namespace's memory %llu bytes (annotations %s, ceiling %llu), fds %u (%s, "
	     "ceiling %u); all namespaces' memory %llu bytes, fds %llu",
	     (unsigned long long)B.mem_default, P.honour[POLICY_MEM] ? "honoured" : "ignored",
	     (unsigned long long)B.mem_max, B.fds_default, P.honour[POLICY_FDS] ? "honoured" : "ignored",
	     B.fds_max, (unsigned long long)D.pool.mem_limit, (unsigned long long)D.pool.fd_limit);
	signal(SIGPIPE, SIG_IGN);
	/* One malloc arena for every thread: what a namespace costs is
	 * bounded and measured (mallinfo2 in `ipcnsctl ps') in one place,
	 * and a worker's allocations are not stranded in an arena of its
	 * own.  */
	mallopt(M_ARENA_MAX, 1);
	D.socket_path = path;
	D.started = ipcns_mono_ns();
	D.sync_wakeup = sync_wakeup;
	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	/* The keeper first: it may hold the listening socket, the containers
	 * and the states of a previous ipcnsd (spec/lifecycle.md).  */
	if (use_keeper) {
		char err[512];
		if (custody_open(path, keeper_bin, keeper_wait, takeover_item, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "ipcnsd: %s\n", err);
			return 1;
		}
		persist_sigwatch_keep();
	}
	/* The guard of hugetlb segment files before any segment is loaded
	 * (each is marked as it is): the previous ipcnsd's group if the
	 * keeper held it, with its marks, so that no open slipped through
	 * while no daemon ran; else a new one, left with the keeper.  */
	uint32_t gslot = 0;
	int gret = ipcns_shm_guard_start(use_keeper ? takeover_guard_fd(&gslot) : -1);
	if (gret < 0)
		dlog("no guard of SHM_HUGETLB segment files (fanotify: %s; CAP_SYS_ADMIN?): a container whose root "
		     "has CAP_DAC_OVERRIDE can reopen a hugetlb segment it attaches read-only for writing "
		     "(spec/security.md)",
		     strerror(-gret));
	if (gret < 0 && gslot)
		custody_drop(gslot);
	else if (gret == 0 && !gslot && custody_attached())
		custody_put(custody_new_slot(), KSLOT_OTHER, "shm-guard", NULL, 0, ipcns_shm_guard_fd());
	bool fatal = false;
	int lfd = use_keeper ? takeover_finish(&fatal) : -1;
	if (fatal) {
		/* Half-built namespaces are left to the exit: nothing of them
		 * reached the keeper.  */
		fflush(stderr);
		_exit(1);
	}
	if (lfd < 0) {
		lfd = open_socket(path);
		if (lfd >= 0 && use_keeper)
			custody_put(custody_new_slot(), KSLOT_LISTEN, "", NULL, 0, lfd);
	}
	if (lfd < 0 || D.epfd < 0)
		return 1;
	D.handover = use_keeper;
	D.listen_ev = (struct ev){ EV_LISTEN, lfd };
	D.tick_ev = (struct ev){ EV_TICK, timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	D.sig_ev = (struct ev){ EV_SIGNAL, signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK) };
	D.wake_ev = (struct ev){ EV_WAKE, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	struct itimerspec its = { .it_interval = { MAIN_TICK_SECONDS, 0 }, .it_value = { MAIN_TICK_SECONDS, 0 } };
	timerfd_settime(D.tick_ev.fd, 0, &its, NULL);
	if (D.tick_ev.fd < 0 || D.sig_ev.fd < 0 || ipcns_ep_add(D.epfd, lfd, &D.listen_ev) < 0 ||
	    ipcns_ep_add(D.epfd, D.tick_ev.fd, &D.tick_ev) < 0 || ipcns_ep_add(D.epfd, D.sig_ev.fd, &D.sig_ev) < 0 ||
	    D.wake_ev.fd < 0 || ipcns_ep_add(D.epfd, D.wake_ev.fd, &D.wake_ev) < 0) {
		fprintf(stderr, "ipcnsd: setting up the event loop: %s\n", strerror(errno));
		return 1;
	}
	int pret = tracker_start();
	if (pret < 0)
		dlog("proc connector unavailable (%s): fork and exec are seen when the maps are read", strerror(-pret));
	/* The signal watch (one perf event per CPU) is the daemon's from the
	 * start rather than something the first container seems to hold.  */
	int wret = ipcns_sigwatch_start();
	if (wret < 0)
		dlog("no signal:signal_deliver watch (%s): a msgsnd or msgrcv restarted after a signal handler with "
		     "SA_RESTART waits again instead of failing with EINTR",
		     strerror(-wret));
	else if ((wret = ipcns_sigwatch_drain_thread()) < 0)
		dlog("no thread to empty the signal watch's rings (%s): they are emptied when calls park, and a "
		     "host busy with signal handlers can overflow them",
		     strerror(-wret));
	int iret = ipcns_shm_immutable_check();
	if (iret < 0)
		dlog("segment files cannot be made immutable (%s; CAP_LINUX_IMMUTABLE?): a container whose root has "
		     "CAP_DAC_OVERRIDE can reopen a segment it attaches read-only for writing (spec/security.md)",
		     strerror(-iret));
	dlog("listening on %s (pid %d)", path, (int)getpid());
	if (view) {
		char dir[4096];
		if (view_dir)
			snprintf(dir, sizeof(dir), "%s", view_dir);
		else
			ipcns_view_dir(path, dir, sizeof(dir));
		uint32_t vslot = 0, islot = 0;
		if (view_adopt < 0)
			view_adopt = takeover_view_fd(&vslot);
		view_start(dir, &P.sysctl, view_adopt, takeover_view_inflight_fd(&islot));
		/* Its session for the next ipcnsd, and the record of its
		 * requests in flight (those taken over are there already,
		 * unless they were unusable and replaced).  */
		char vmeta[4200];
		int vlen = view_mount_meta(vmeta, sizeof(vmeta));
		if (!vslot && view_fd() >= 0 && custody_attached())
			custody_put(custody_new_slot(), vlen > 0 ? KSLOT_MOUNT : KSLOT_OTHER, "view", vmeta,
				    vlen > 0 ? (size_t)vlen : 0, view_fd());
		bool kept = false;
		int ifd = view_inflight_fd(&kept);
		if (islot && !kept)
			custody_drop(islot);
		if (ifd >= 0 && !kept && custody_attached())
			custody_put(custody_new_slot(), KSLOT_OTHER, "view-inflight", NULL, 0, ifd);
	}

	while (!daemon_stopping()) {
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
	/* Each namespace's journal, committed once more, stays with the
	 * keeper for the next ipcnsd.  */
	bool handover = D.handover && custody_attached();
	if (handover) {
		for (struct nsent *e = D.namespaces; e; e = e->next)
			persist_detach(e);
		/* No attach is served any more: the guard's thread goes before
		 * the namespaces, which would take its marks off the segments
		 * they let go of, and before the next ipcnsd answers in its
		 * stead (the keeper's copy of the group keeps the marks; a
		 * thread of ours still reading it would refuse the next
		 * ipcnsd's own opens).  */
		ipcns_shm_guard_stop();
	}
	while (D.nfds) {
		struct nsent *e = D.nfds->ct->nse;
		if (nfd_close(D.nfds))
			nsent_destroy(e);
	}
	/* Operators' requests no worker answered.  */
	control_ops_reap(true);
	/* The view's /dev/fuse fd is with the keeper on a handover: the
	 * mount stays for the next ipcnsd.  */
	view_stop(handover);
	ipcns_shm_guard_stop();
	if (handover) {
		/* The keeper keeps the socket listening: runtimes' connections
		 * wait in its backlog for the next ipcnsd.  */
		custody_bye(false);
		dlog("stopped; the keeper holds the containers for the next ipcnsd");
		return 0;
	}
	if (use_keeper)
		custody_bye(true);
	unlink(path);
	dlog("stopped");
	return 0;
}
