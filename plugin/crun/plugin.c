/* SPDX-License-Identifier: MIT */
/* libipcns-crun.so: a crun seccomp-notify plugin that serves one
 * container's System V IPC from inside `crun run', with no daemon.
 *
 * crun (foreground `crun run' only) receives the container's seccomp
 * notify fd itself, polls it in its wait loop and calls handle_request for
 * each notification it has read.  The plugin answers every IPC call
 * through the fd with the notification layer (ipcns_nfd_handle) and tells
 * crun DELAYED_RESPONSE, so crun sends nothing.
 *
 * A blocking call (semop, msgsnd, msgrcv) is parked and answered later.
 * Most are woken by another call, which arrives as a notification; the
 * rest need events crun does not poll: a semtimedop deadline, the exit of
 * a process with SEM_UNDO adjustments, the periodic sweep of callers that
 * were interrupted.  One helper thread runs a small epoll loop for those
 * (the event kit's deadlines, pidfds and tick, as in ipcnsd's workers:
 * plugin/lib/notify/events.h) and takes the same mutex as
 * handle_request, since the namespace core is not locked.  Fork and exec
 * are not followed (no proc connector): shm_nattch is corrected whenever
 * the maps are read, as in ipcnsd without a connector.  sigwatch's
 * drainer thread empties the signal watch of the container's cgroup.
 *
 * Scope: one namespace per `crun run', for that container's processes;
 * `crun exec' processes get their own filter and notify fd, which this
 * `crun run' never sees.  Containers that must share a namespace use
 * ipcnsd.  */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crun_plugin.h"
#include "events.h"
#include "ledger.h"
#include "notify.h"
#include "oci_limits.h"
#include "viewfs.h"

#define EXPORT __attribute__((visibility("default")))

/* The fds of the helper's epoll set, by their epoll data.  */
enum src_kind { SRC_STOP, SRC_TIMER, SRC_TICK, SRC_EXITS, SRC_VIEW };

/* An open file of the view (fi->fh).  */
struct view_file {
	struct ipcns_view_file f;
	struct plugin *p;
	/* The opener's kernel IPC namespace is the container's: it shows
	 * the namespace, else an empty one of Linux's defaults, as ipcnsd
	 * shows a namespace it does not serve.  */
	bool ours;
	struct view_file *prev, *next;
};

struct exit_watch {
	int fd; /* a pidfd, in the exits epoll set */
	pid_t tgid;
	struct exit_watch *next;
};

struct plugin {
	/* Held by handle_request and by the helper for each event.  */
	pthread_mutex_t lock;
	char *id;
	struct ipcns_ns *ns;
	struct ipcns_host host;
	/* fd is crun's, -1 until the first notification; never closed here.  */
	struct ipcns_nfd nf;
	int epfd, stop_fd;
	/* exits_fd: an epoll set of the pidfds, itself in epfd.  Read only
	 * under the lock, by the helper and before every call handle_request
	 * runs, so that a call made after a process's exit sees its SEM_UNDO
	 * adjustments, as in Linux (ipcnsd orders its events the same way).  */
	int exits_fd;
	struct ipcns_deadlines deadlines;
	struct ipcns_tick tick;
	pthread_t helper;
	bool helper_running;
	/* sigwatch's drainer, which empties the signal watch's rings when
	 * they fill between two parks.  */
	bool drainer_running;
	bool guarded; /* holds a start of ipcns_shm_guard_start */
	struct exit_watch *watches;
	/* What the container may make us print on crun's stderr: as much
	 * as it may make ipcnsd log.  Any thread logs.  */
	pthread_mutex_t log_lock;
	struct ipcns_ratelimit log_rl;
	/* Its share of the plugins' host-wide memory ceiling.  */
	struct ledger ledger;
	/* The container's init (crun's status file), 0 if not known.  */
	pid_t init;
	/* The operator's ceilings of the kernel limits, for writes of the
	 * view's sysctl files.  */
	struct ipcns_limits ceiling;
	/* The view: its FUSE session, served by the helper thread, which
	 * alone touches the open files and their kept text.  */
	struct fuse_session *view;
	struct fuse_buf view_buf;
	struct view_file *view_files;
	int view_nfiles;
	size_t view_text;
};

static void say(struct plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct plugin *p, const char *fmt, ...)
{
	char buf[1024], line[1200], out[4 * sizeof(line)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* crun's own messages go to its stderr too.  Escaped: the id and
	 * what the message quotes may come from the container.  */
	int n = snprintf(line, sizeof(line), "container %s: %s", p && p->id ? p->id : "?", buf);
	ipcns_escape(line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, out, sizeof(out));
	fprintf(stderr, "ipcns-crun: %s\n", out);
}

static void say_suppressed(struct plugin *p, unsigned long n, int64_t secs)
{
	if (n)
		say(p, IPCNS_LOG_SUPPRESSED, n, (long long)secs, IPCNS_LOG_BURST, IPCNS_LOG_WINDOW_S);
}

/* Say how many lines the window that ended left out, now or when final.  */
static void plog_flush(struct plugin *p, bool final)
{
	int64_t secs;
	pthread_mutex_lock(&p->log_lock);
	unsigned long n = ipcns_ratelimit_flush(&p->log_rl, final, &secs);
	pthread_mutex_unlock(&p->log_lock);
	say_suppressed(p, n, secs);
}

/* A line about the container, rate-limited as ipcnsd's lines about a
 * namespace (one per failing call used to be printed: a container could
 * fill crun's log, or the journal, at will).  */
static void plog(struct plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plog(struct plugin *p, const char *fmt, ...)
{
	char buf[1024];
	unsigned long ended = 0;
	int64_t secs = 0;
	bool admit = true;
	va_list ap;
	if (p) {
		pthread_mutex_lock(&p->log_lock);
		admit = ipcns_ratelimit_take(&p->log_rl, &ended, &secs);
		pthread_mutex_unlock(&p->log_lock);
	}
	say_suppressed(p, ended, secs);
	if (!admit)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say(p, "%s", buf);
}

static int add_src(struct plugin *p, enum src_kind kind, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u32 = kind };
	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void nfd_arm_timer(struct ipcns_nfd *nf, struct ipcns_waiter *w)
{
	struct plugin *p = nf->owner;
	ipcns_deadlines_add(&p->deadlines, w);
}

static void nfd_disarm_timer(struct ipcns_nfd *nf, struct ipcns_waiter *w)
{
	struct plugin *p = nf->owner;
	ipcns_deadlines_remove(&p->deadlines, w);
}

/* ---- Process exits (SEM_UNDO).  */

/* What malloc takes for an exit watch (its size word, 16-byte granules),
 * charged to the namespace's memory budget as ipcnsd charges its
 * per-process records.  */
#define EXIT_WATCH_COST ((sizeof(struct exit_watch) + sizeof(size_t) + 15) & ~(size_t)15)

/* The pidfd is the namespace's, within its fd budget as in ipcnsd, and
 * its record within its memory budget (the core turns a failure into its
 * call's errno: ENOMEM for a SEM_UNDO semop); uncharged when the watch
 * goes, while the namespace lives.  */
static int watch_exit(struct plugin *p, pid_t tgid)
{
	for (struct exit_watch *w = p->watches; w; w = w->next)
		if (w->tgid == tgid)
			return 0;
	int ret = ipcns_ns_fd_charge(p->ns, 1, false);
	if (ret < 0)
		return ret;
	ret = ipcns_ns_mem_charge(p->ns, EXIT_WATCH_COST);
	if (ret < 0) {
		ipcns_ns_fd_uncharge(p->ns, 1);
		return ret;
	}
	cleanup_close int fd = ipcns_pidfd_open(tgid);
	struct exit_watch *w = fd < 0 ? NULL : calloc(1, sizeof(*w));
	ret = fd < 0 ? fd : !w ? -ENOMEM : ipcns_ep_add(p->exits_fd, fd, w);
	if (ret < 0) {
		free(w);
		ipcns_ns_fd_uncharge(p->ns, 1);
		ipcns_ns_mem_uncharge(p->ns, EXIT_WATCH_COST);
		return ret;
	}
	w->fd = move_fd(&fd);
	w->tgid = tgid;
	w->next = p->watches;
	p->watches = w;
	return 0;
}

static void exit_watch_free(struct plugin *p, struct exit_watch *w)
{
	ipcns_ep_del(p->exits_fd, w->fd);
	close(w->fd);
	if (p->ns) {
		ipcns_ns_fd_uncharge(p->ns, 1);
		ipcns_ns_mem_uncharge(p->ns, EXIT_WATCH_COST);
	}
	free(w);
}

static void exit_fired(struct plugin *p, struct exit_watch *w)
{
	for (struct exit_watch **pp = &p->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pid_t tgid = w->tgid;
	exit_watch_free(p, w);
	ipcns_ns_process_exit(p->ns, tgid);
}

/* Every exit that has happened, now.  Under the lock.  */
static void drain_exits(struct plugin *p)
{
	struct epoll_event evs[16];
	int n;
	do {
		n = epoll_wait(p->exits_fd, evs, (int)ARRAY_SIZE(evs), 0);
		/* Only its own event frees a watch.  */
		for (int i = 0; i < n; i++)
			exit_fired(p, evs[i].data.ptr);
	} while (n == (int)ARRAY_SIZE(evs));
}

static void view_serve(struct plugin *p);

static void *helper_main(void *arg)
{
	struct plugin *p = arg;
	int ret;
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(p->epfd, evs, (int)ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			plog(p, "epoll_wait: %s; deadlines and exits are no longer followed", strerror(errno));
			return NULL;
		}
		/* The view's requests first, out of the lock: a lookup needs
		 * no namespace, a read or write takes the lock itself.  */
		for (int i = 0; i < n; i++)
			if (evs[i].data.u32 == SRC_VIEW)
				view_serve(p);
		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < n; i++) {
			switch ((enum src_kind)evs[i].data.u32) {
			case SRC_VIEW:
				break;
			case SRC_STOP:
				pthread_mutex_unlock(&p->lock);
				return NULL;
			case SRC_TIMER:
				ret = ipcns_deadlines_fire(&p->deadlines);
				if (ret < 0)
					plog(p, "timerfd read: %s", strerror(-ret));
				break;
			case SRC_TICK:
				ipcns_tick_fire(&p->tick, p->ns);
				plog_flush(p, false);
				break;
			case SRC_EXITS:
				drain_exits(p);
				break;
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
}

/* ---- The view (spec/view.md): /proc/sysvipc and the IPC sysctls of the
 * namespace, the files of the view's file system (viewfs.h) served by
 * FUSE from the helper thread and mounted in the container by the
 * plugin's start.  crun 1.8.1 loads its plugins once the container runs
 * (after its mounts, masks, read-only /proc/sys, hooks and pivot_root),
 * so the mounts come last and stay: over the masked /proc/sysvipc, and
 * a mount of each sysctl file of its own, writable under the read-only
 * /proc/sys.  Before them the container sees its kernel IPC namespace's
 * files: an empty namespace, as this one is until the plugin answers its
 * first call (after the mounts).  */

static bool serves_inode(struct plugin *p, ino_t ino)
{
	for (size_t i = 0; i < p->host.n_inodes; i++)
		if (p->host.ipc_inodes[i] == ino)
			return true;
	return false;
}

static int view_charge(struct ipcns_view_file *f, size_t len)
{
	struct plugin *p = container_of(f, struct view_file, f)->p;
	if (p->view_text + len > IPCNS_VIEW_MAX_TEXT)
		return -ENOMEM;
	p->view_text += len;
	return 0;
}

static void view_uncharge(struct ipcns_view_file *f, size_t len)
{
	container_of(f, struct view_file, f)->p->view_text -= len;
}

static const struct ipcns_view_text_ops view_text_ops = { .charge = view_charge, .uncharge = view_uncharge };

static void view_file_free(struct view_file *vf)
{
	struct plugin *p = vf->p;
	if (vf->prev)
		vf->prev->next = vf->next;
	else
		p->view_files = vf->next;
	if (vf->next)
		vf->next->prev = vf->prev;
	p->view_nfiles--;
	free(ipcns_view_text_take(&vf->f, &view_text_ops));
	ipcns_view_file_fini(&vf->f);
	free(vf);
}

static void view_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct plugin *p = fuse_req_userdata(req);
	struct ipcns_view_who w;
	struct view_file *vf = NULL;
	int ret = ipcns_view_ino_valid(ino) && ino >= IPCNS_VIEW_SHM ? ipcns_view_who_of(req, &w) : 0;
	if (ret == 0)
		ret = ipcns_view_open_check(&w, ino, fi->flags);
	if (ret == 0 && p->view_nfiles >= IPCNS_VIEW_MAX_FILES)
		ret = -ENFILE;
	if (ret == 0 && !(vf = calloc(1, sizeof(*vf))))
		ret = -ENOMEM;
	if (ret == 0 && (ret = ipcns_view_file_init(&vf->f, &w, ino)) < 0) {
		free(vf);
		vf = NULL;
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	vf->p = p;
	pthread_mutex_lock(&p->lock);
	vf->ours = serves_inode(p, w.ipc_ino);
	pthread_mutex_unlock(&p->lock);
	vf->next = p->view_files;
	if (vf->next)
		vf->next->prev = vf;
	p->view_files = vf;
	p->view_nfiles++;
	fi->fh = (uint64_t)(uintptr_t)vf;
	/* Every read reaches us.  */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		view_file_free(vf); /* interrupted: no release will come */
}

static void view_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	view_file_free((struct view_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void view_rw(fuse_req_t req, struct view_file *vf, const struct ipcns_view_rw *rw)
{
	struct plugin *p = vf->p;
	char what[256];
	if (vf->ours) {
		pthread_mutex_lock(&p->lock);
		ipcns_view_serve(p->ns, &vf->f, req, rw, &p->ceiling, &view_text_ops, what, sizeof(what));
		pthread_mutex_unlock(&p->lock);
	} else {
		struct ipcns_ns *tmp = ipcns_ns_new(NULL, NULL, NULL);
		if (!tmp) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		ipcns_view_serve(tmp, &vf->f, req, rw, &p->ceiling, &view_text_ops, what, sizeof(what));
		ipcns_ns_free(tmp);
	}
	if (what[0])
		plog(p, "a write of kernel.%s refused: %s", ipcns_sysctl_name((int)(vf->f.ino - IPCNS_VIEW_SYSCTL0)),
		     what);
}

static void view_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct ipcns_view_rw rw = { .size = size, .off = off };
	view_rw(req, (struct view_file *)(uintptr_t)fi->fh, &rw);
}

static void view_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct view_file *vf = (struct view_file *)(uintptr_t)fi->fh;
	if (vf->f.ino < IPCNS_VIEW_SYSCTL0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	/* Linux checks the writer again at each write (EPERM).  */
	struct ipcns_view_rw rw = {
		.write = true, .may_write = ipcns_view_may_write(req, ino), .size = size, .off = off, .data = buf
	};
	view_rw(req, vf, &rw);
}

static const struct fuse_lowlevel_ops view_ops = {
	.init = ipcns_view_op_init,
	.lookup = ipcns_view_op_lookup,
	.getattr = ipcns_view_op_getattr,
	.setattr = ipcns_view_op_setattr,
	.readdir = ipcns_view_op_readdir,
	.open = view_open,
	.release = view_release,
	.read = view_read,
	.write = view_write,
};

/* One request, in the helper thread (its fd is non-blocking).  */
static void view_serve(struct plugin *p)
{
	int ret = fuse_session_receive_buf(p->view, &p->view_buf);
	if (ret > 0) {
		fuse_session_process_buf(p->view, &p->view_buf);
	} else if (ret != -EAGAIN && ret != -EINTR) {
		/* Unmounted everywhere (the container's mount namespace is
		 * gone), or the connection aborted.  */
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, fuse_session_fd(p->view), NULL);
	}
}

/* In a child of crun, alone in its process: the mounts, in the mount
 * namespace `mntns' (the container's).  And from its IPC namespace
 * `ipcns': /proc/sys/kernel's IPC files are one set per IPC namespace,
 * each with dentries of its own, which a process of another IPC
 * namespace does not find (a mount made from crun's was not seen in the
 * container).  0, or the step that failed.  */
static int view_mount_child(int mntns, int ipcns, int mfd)
{
	if (setns(ipcns, CLONE_NEWIPC) < 0 || setns(mntns, CLONE_NEWNS) < 0)
		return 1;
	/* The namespace's root is the container's root now.  */
	for (int i = -1; i < IPCNS_SYSCTL_COUNT; i++) {
		char src[64], dst[96];
		struct stat st;
		if (i < 0) {
			snprintf(src, sizeof(src), "sysvipc");
			snprintf(dst, sizeof(dst), "/proc/sysvipc");
		} else {
			snprintf(src, sizeof(src), "sys/kernel/%s", ipcns_sysctl_name(i));
			snprintf(dst, sizeof(dst), "/proc/sys/kernel/%s", ipcns_sysctl_name(i));
		}
		/* No /proc, or a kernel without that file: nothing to cover.  */
		if (stat(dst, &st) < 0)
			continue;
		int t = open_tree(mfd, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (t < 0 || move_mount(t, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return 2;
		close(t);
	}
	return 0;
}

/* Wait for the mounting child, at most 10 s (the helper answers its
 * lookups meanwhile).  */
static int view_mount_wait(pid_t child)
{
	int status = 0;
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(child, &status, WNOHANG | __WALL);
		if (r == child)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
		if (r < 0 && errno != EINTR)
			return 3;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(child, SIGKILL);
	waitpid(child, &status, __WALL);
	return 4;
}

/* A FUSE file system on a fresh /dev/fuse fd, as a detached mount: its
 * fd, and the /dev/fuse fd in *dev.  */
static int view_fsmount(int *dev)
{
	char fdopt[16];
	cleanup_close int d = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (d < 0)
		return -errno;
	cleanup_close int fs = fsopen("fuse", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	snprintf(fdopt, sizeof(fdopt), "%d", d);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "fd", fdopt, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "rootmode", "40000", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "user_id", "0", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "group_id", "0", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "allow_other", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "source", "ipcns", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "subtype", "ipcns-view", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (m < 0)
		return -errno;
	*dev = move_fd(&d);
	return m;
}

/* Serve the view and mount it in the container's mount namespace.  Not
 * served (a log line, and the container keeps its masked /proc/sysvipc
 * and the kernel's sysctls) without /dev/fuse or when a mount fails.  */
static void view_start(struct plugin *p)
{
	char path[64], fdpath[32];
	int dev = -1;
	if (p->init <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)p->init);
	cleanup_close int mntns = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)p->init);
	cleanup_close int ipcns = mntns < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (ipcns < 0) {
		plog(p, "no view (%s: %s): /proc/sysvipc and the IPC sysctls are the kernel's", path, strerror(errno));
		return;
	}
	cleanup_close int mfd = view_fsmount(&dev);
	if (mfd < 0) {
		plog(p, "no view (a FUSE mount: %s): /proc/sysvipc and the IPC sysctls are the kernel's",
		     strerror(-mfd));
		return;
	}
	char *argv[] = { "ipcns-crun", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	p->view = fuse_session_new(&args, &view_ops, sizeof(view_ops), p);
	fuse_opt_free_args(&args);
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", dev);
	/* libfuse takes the fd as it is, and closes it with the session.  */
	if (!p->view || fuse_session_mount(p->view, fdpath) != 0) {
		plog(p, "no view (libfuse would not take its /dev/fuse fd): /proc/sysvipc and the IPC sysctls are "
			"the kernel's");
		if (p->view)
			fuse_session_destroy(p->view);
		p->view = NULL;
		close(dev);
		return;
	}
	int ret = add_src(p, SRC_VIEW, dev);
	pid_t child = ret < 0 ? -1 : fork();
	if (child == 0)
		_exit(view_mount_child(mntns, ipcns, mfd));
	int step = child < 0 ? 5 : view_mount_wait(child);
	if (step)
		plog(p, "no view (%s): /proc/sysvipc and the IPC sysctls are the kernel's",
		     step == 1   ? "cannot enter the container's mount namespace"
		     : step == 2 ? "a mount in the container failed"
		     : step == 4 ? "its mounts took more than 10 s"
				 : "cannot mount in the container");
}

static void view_stop(struct plugin *p)
{
	if (!p->view)
		return;
	/* Files still open are the container's, which is gone.  */
	while (p->view_files)
		view_file_free(p->view_files);
	fuse_session_destroy(p->view);
	p->view = NULL;
	free(p->view_buf.mem);
	p->view_buf.mem = NULL;
}

/* ---- The notification layer's and the core's host callbacks.  */

static int nfd_watch_exit(struct ipcns_nfd *nf, pid_t tgid)
{
	return watch_exit(nf->owner, tgid);
}

static void nfd_log(struct ipcns_nfd *nf, const char *msg)
{
	plog(nf->owner, "%s", msg);
}

/* The signal watch of the container's callers (spec/security.md, "Signal
 * watches"): their cgroup's, as ipcnsd gives each container, charged to
 * the namespace's budgets, so that handlers run elsewhere on the host
 * cannot overflow it and make verdicts unknown.  crun is not in that
 * cgroup (its caller's); the watch names the caller's cgroup directory,
 * which needs no membership.  */
static struct ipcns_sigwatch *nfd_sigwatch(struct ipcns_nfd *nf, pid_t tid)
{
	struct plugin *p = nf->owner;
	char why[4600];
	bool trouble;
	struct ipcns_sigwatch *w = ipcns_sigwatch_for(p->ns, p, tid, why, sizeof(why), &trouble);
	/* crun's stderr is the container user's: only what is wrong.  */
	if (trouble)
		plog(p, "%s", why);
	return w;
}

static const struct ipcns_nfd_ops nfd_ops = {
	.sigwatch = nfd_sigwatch,
	.watch_exit = nfd_watch_exit,
	.arm_timer = nfd_arm_timer,
	.disarm_timer = nfd_disarm_timer,
	.log = nfd_log,
};

static int host_watch_exit(struct ipcns_host *h, pid_t tgid)
{
	return watch_exit(h->owner, tgid);
}

static void host_limit_hit(struct ipcns_host *h, const char *what)
{
	plog(h->owner, "%s", what);
}

/* ---- Set-up and tear-down.  */

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	if (p->helper_running) {
		uint64_t one = 1;
		if (write(p->stop_fd, &one, sizeof(one)) != sizeof(one))
			plog(p, "cannot stop the helper thread: %s", strerror(errno));
		else
			pthread_join(p->helper, NULL);
	}
	view_stop(p);
	if (p->ns) {
		/* The container is gone (crun stops plugins once its init
		 * was reaped): drop what is still parked, then everything.  */
		if (p->nf.fd >= 0)
			ipcns_nfd_hangup(&p->nf);
		ipcns_sigwatch_drop(p->ns, p->nf.sigwatch);
		p->nf.sigwatch = NULL;
		ipcns_ns_free(p->ns);
		p->ns = NULL;
	}
	if (p->guarded)
		ipcns_shm_guard_stop();
	while (p->watches) {
		struct exit_watch *w = p->watches;
		p->watches = w->next;
		exit_watch_free(p, w);
	}
	/* Before crun unloads this code.  */
	if (p->drainer_running)
		ipcns_sigwatch_drain_stop();
	ipcns_deadlines_fini(&p->deadlines);
	ipcns_tick_fini(&p->tick);
	for (int *fd = (int[]){ p->stop_fd, p->exits_fd, p->epfd, -2 }; *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
	ipcns_host_free(&p->host);
	ledger_release(&p->ledger);
	plog_flush(p, true);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->log_lock);
	free(p->id);
	free(p);
}

static inline void plugin_freep(struct plugin **p)
{
	plugin_free(*p);
}
#define cleanup_plugin __attribute__((cleanup(plugin_freep)))

/* The container's init, from crun's status file (written before crun
 * starts the plugins).  Its kernel IPC namespace is where the processes
 * that can map the namespace's segments are; when the file cannot be read,
 * the first caller's namespace is taken instead.  And it must be our
 * child: crun runs the plugins in `crun exec' too, where init belongs to
 * the `crun run' process and a namespace of ours would be a second, empty
 * one beside the container's.  */
static int check_init(struct plugin *p, const char *state_dir)
{
	struct ipcns_proc_status st;
	char path[4096];
	ino_t ino;
	if (!state_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/status", state_dir);
	json_auto_t *status = json_load_file(path, 0, NULL);
	json_int_t pid = json_integer_value(json_object_get(status, "pid"));
	if (pid <= 0 || ipcns_proc_status((pid_t)pid, &st) < 0)
		return 0;
	if (st.ppid != getpid()) {
		plog(p, "not loaded by the `crun run' of this container (its init, pid %lld, is not crun's child): "
			"`crun exec' processes cannot reach the namespace, which lives in the `crun run' process",
		     (long long)pid);
		return -ENOTSUP;
	}
	if (ipcns_proc_ipc_inode((pid_t)pid, &ino) == 0)
		ipcns_host_add_inode(&p->host, ino);
	p->init = (pid_t)pid;
	return 0;
}

/* The operator's policy, as ipcnsd applies it (spec/security.md): the
 * "ipcnsd" object of IPCNS_CONFIG or /etc/ipcns/config.json, read from
 * crun's environment, never the container's.  Annotations are the
 * config author's: they may lower a quota or a budget, never lift one past
 * the operator's ceiling (by default, for the budgets, the defaults: 128
 * MiB and 16384 fds), and "0" is the ceiling, never unbounded; a
 * linux.sysctl value past a kernel.* ceiling keeps the container from
 * starting, as ipcnsd refuses its registration.  There is no daemon-wide
 * pool here: each `crun run' holds one namespace, in its own process, and
 * reserves its memory budget under the plugins' host-wide ceiling
 * (ledger.c).  */
static const char *policy_path(void)
{
	const char *path = getenv("IPCNS_CONFIG");
	return path && *path ? path : IPCNS_POLICY_PATH;
}

static int apply_policy(struct plugin *p, json_t *annotations, struct ipcns_limits *limits)
{
	const char *path = policy_path();
	struct ipcns_policy pol;
	char err[1024], what[256];
	int ret;

	ipcns_policy_init(&pol);
	ret = ipcns_policy_load(&pol, path, err, sizeof(err));
	if (ret < 0) {
		plog(p, "%s", err);
		return ret;
	}
	if (!pol.ceiling_set[IPCNS_POLICY_MEM])
		pol.ceiling[IPCNS_POLICY_MEM] = IPCNS_DEFAULT_MEM_BYTES;
	if (!pol.ceiling_set[IPCNS_POLICY_FDS])
		pol.ceiling[IPCNS_POLICY_FDS] = IPCNS_DEFAULT_FDS;
	ipcns_policy_apply(&pol, annotations, IPCNS_DEFAULT_MEM_BYTES, IPCNS_DEFAULT_FDS, limits);
	ret = ipcns_limits_apply_ceiling(limits, &pol.sysctl, what, sizeof(what));
	if (ret < 0) {
		plog(p, "linux.sysctl %s", what);
		return ret;
	}
	p->ceiling = pol.sysctl;
	return 0;
}

/* IPCNS_SIGWATCH_RING_PAGES in crun's environment: ipcnsd's
 * --sigwatch-ring-pages, the pages of each ring of the signal watch.  */
static int ring_pages(struct plugin *p)
{
	const char *v = getenv("IPCNS_SIGWATCH_RING_PAGES");
	char *end;
	if (!v || !*v)
		return 0;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > 65536 || ipcns_sigwatch_ring_pages((unsigned)n) < 0) {
		plog(p, "IPCNS_SIGWATCH_RING_PAGES=%s: expected a power of two from 1 to 65536", v);
		return -EINVAL;
	}
	return 0;
}

static int start_helper(struct plugin *p)
{
	int ret;

	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->exits_fd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 || p->stop_fd < 0 || p->exits_fd < 0)
		return -errno;
	if ((ret = ipcns_deadlines_init(&p->deadlines)) < 0 || (ret = ipcns_tick_init(&p->tick)) < 0)
		return ret;
	if ((ret = add_src(p, SRC_STOP, p->stop_fd)) < 0 || (ret = add_src(p, SRC_TIMER, p->deadlines.fd)) < 0 ||
	    (ret = add_src(p, SRC_TICK, p->tick.fd)) < 0 || (ret = add_src(p, SRC_EXITS, p->exits_fd)) < 0)
		return ret;
	/* crun blocks every signal before it starts the plugins; the thread
	 * inherits that mask, so signals stay crun's.  */
	ret = pthread_create(&p->helper, NULL, helper_main, p);
	if (ret)
		return -ret;
	p->helper_running = true;
	/* The signal watch's own drainer, at real-time priority where crun
	 * may set it: the helper's loop waits on the namespace's lock, which
	 * a long call holds, while a cgroup's rings fill in milliseconds.  */
	if (ipcns_sigwatch_start() == 0) {
		ret = ipcns_sigwatch_drain_thread();
		if (ret < 0)
			plog(p, "no thread to empty the signal watch's rings (%s): a container busy with signal "
				"handlers can overflow them", strerror(-ret));
		else
			p->drainer_running = true;
	}
	return 0;
}

EXPORT int run_oci_seccomp_notify_version(void)
{
	return IPCNS_CRUN_PLUGIN_VERSION;
}

EXPORT int run_oci_seccomp_notify_start(void **opaque, struct ipcns_crun_conf *conf, size_t size_configuration)
{
	cleanup_plugin struct plugin *p = NULL;
	json_auto_t *config = NULL;
	char path[4096], err[1024];
	struct ipcns_limits limits;
	json_error_t jerr;
	int ret;

	*opaque = NULL;
	if (!conf)
		return -EINVAL;
	/* Every crun since 0.14 passes the four members.  */
	if (size_configuration < sizeof(*conf)) {
		plog(NULL, "crun passed a %zu-byte configuration, expected %zu: unsupported crun", size_configuration,
		     sizeof(*conf));
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->epfd = p->stop_fd = p->exits_fd = p->deadlines.fd = p->tick.fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->log_lock, NULL);
	ipcns_ratelimit_init(&p->log_rl);
	p->id = strdup(conf->name ? conf->name : "?");
	if (!p->id)
		return -ENOMEM;

	/* crun's copy of the config in its state directory; the bundle's when
	 * a crun does not give one.  */
	if (conf->oci_config_path)
		snprintf(path, sizeof(path), "%s", conf->oci_config_path);
	else if (conf->bundle_path)
		snprintf(path, sizeof(path), "%s/config.json", conf->bundle_path);
	else
		path[0] = '\0';
	if (path[0]) {
		config = json_load_file(path, 0, &jerr);
		if (!config) {
			plog(p, "cannot read %s: %s (line %d)", path, jerr.text, jerr.line);
			return -EINVAL;
		}
	}
	ret = ipcns_limits_from_config(config, json_object_get(config, "annotations"), path, &limits, err,
				       sizeof(err));
	if (ret < 0) {
		plog(p, "%s", err);
		return ret;
	}
	ret = apply_policy(p, json_object_get(config, "annotations"), &limits);
	if (ret < 0)
		return ret;
	ret = ring_pages(p);
	if (ret < 0)
		return ret;
	ret = ledger_conf(&p->ledger, policy_path(), err, sizeof(err));
	if (ret < 0) {
		plog(p, "%s", err);
		return ret;
	}

	p->host.owner = p;
	p->host.watch_exit = host_watch_exit;
	p->host.limit_hit = host_limit_hit;
	/* Hugetlb segment files refuse the container's opens as ipcnsd's do
	 * (spec/security.md); without the guard (no CAP_SYS_ADMIN) they are
	 * guarded by their owner and mode 0 alone.  */
	ret = ipcns_shm_guard_start(-1);
	if (ret < 0)
		plog(p, "no guard of SHM_HUGETLB segment files (fanotify: %s)", strerror(-ret));
	p->guarded = ret == 0;
	p->ns = ipcns_ns_new(&limits, &ipcns_host_proc_ops, &p->host);
	if (!p->ns)
		return -ENOMEM;
	ipcns_nfd_init(&p->nf, -1, p->ns, &nfd_ops, p);
	ret = check_init(p, conf->runtime_root_path);
	if (ret < 0)
		return ret;
	ret = ledger_reserve(&p->ledger, limits.quota_mem_bytes, err, sizeof(err));
	if (ret < 0) {
		plog(p, "%s", err);
		return ret;
	}
	ret = start_helper(p);
	if (ret < 0) {
		plog(p, "cannot start the helper thread: %s", strerror(-ret));
		return ret;
	}
	/* The namespace's own fds count against its fd budget, as ipcnsd's
	 * do: the helper's two epoll sets, its eventfd and two timerfds, and
	 * the view's /dev/fuse, and the guard's group and eventfd.  */
	ipcns_ns_fd_charge(p->ns, p->guarded ? 7 : 5, true);
	view_start(p);
	if (p->view)
		ipcns_ns_fd_charge(p->ns, 1, true);
	*opaque = steal_pointer(&p);
	return 0;
}

static bool is_ipc_call(const struct ipcns_nfd *nf, const struct seccomp_notif *req)
{
	if (req->data.arch != nf->arch)
		return ipcns_compat_is_call(&req->data); /* a 32-bit caller's */
	return ipcns_is_ipc_nr(req->data.nr);
}

/* The first notification: crun's fd becomes ours to answer on.  */
static void nfd_attach(struct plugin *p, int seccomp_fd, const struct seccomp_notif *req)
{
	ino_t ino;
	p->nf.fd = seccomp_fd;
	/* The same wake-up mode as ipcnsd (spec/architecture.md, "Facts measured").  */
	ipcns_seccomp_sync_wakeup(seccomp_fd);
	if (p->host.n_inodes == 0 && ipcns_proc_ipc_inode((pid_t)req->pid, &ino) == 0 &&
	    ipcns_seccomp_id_valid(seccomp_fd, req->id) == 0)
		ipcns_host_add_inode(&p->host, ino);
}

EXPORT int run_oci_seccomp_notify_handle_request(void *opaque, struct seccomp_notif_sizes *sizes,
						 struct seccomp_notif *sreq, struct seccomp_notif_resp *sresp,
						 int seccomp_fd, int *handled)
{
	struct plugin *p = opaque;
	int ret;

	*handled = IPCNS_CRUN_NOT_HANDLED;
	/* Another plugin's calls, and other architectures' calls but
	 * i386's: crun or the next plugin answers.  */
	if (!p || !is_ipc_call(&p->nf, sreq))
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->nf.fd < 0)
		nfd_attach(p, seccomp_fd, sreq);
	if (p->watches)
		drain_exits(p);
	/* Answered through the fd, now or, when parked, later.  */
	ret = ipcns_nfd_handle(&p->nf, sreq);
	pthread_mutex_unlock(&p->lock);
	if (ret < 0)
		plog(p, "answering syscall %d of pid %u failed: %s", sreq->data.nr, sreq->pid, strerror(-ret));
	/* Never an error for crun: it would end `crun run'.  */
	*handled = IPCNS_CRUN_DELAYED_RESPONSE;
	return 0;
}

EXPORT int run_oci_seccomp_notify_stop(void *opaque)
{
	plugin_free(opaque);
	return 0;
}
