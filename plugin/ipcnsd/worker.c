/* SPDX-License-Identifier: MIT */
/* ipcnsd's namespaces and their worker threads: each namespace has a
 * thread that waits in poll(2) on its notify fds and its epoll fd (the
 * pidfds of its processes, its deadline timer, its tick, a wake-up
 * eventfd) and answers its containers' calls.  The tracker thread reads
 * the proc connector; fork and exec events reach a worker through its
 * namespace's inbox, new notify fds through its mailbox.  The main thread
 * (main.c) registers containers into namespaces and answers operators; it
 * never waits for a worker to register one.  */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "ipcns/state.h"
#include "events.h"
#include "view.h"

/* A worker's stack: the deepest path (a /proc scan inside a call) uses a
 * few KiB; the default 8 MiB would only be address space.  */
#define WORKER_STACK (256 * 1024)

/* An fd was freed: the main thread may listen again.  */
void main_wake(void)
{
	uint64_t one = 1;
	if (write(D.wake_ev.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		dlog("waking the main thread: %s", strerror(errno));
}

void nsent_wake(struct nsent *e)
{
	uint64_t one = 1;
	if (write(e->wake_ev.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		dlog("namespace %s: waking its worker: %s", e->key, strerror(errno));
}

/* ---- Deadlines of parked calls: the event kit's heap and timerfd, one
 * per namespace, under its lock.  */

static struct nsent *nsent_of_nfd(struct ipcns_nfd *nf)
{
	struct nfd_ent *ne = nf->owner;
	return ne->ct->nse;
}

static void nfd_arm_timer(struct ipcns_nfd *nf, struct ipcns_waiter *w)
{
	ipcns_deadlines_add(&nsent_of_nfd(nf)->deadlines, w);
}

static void nfd_disarm_timer(struct ipcns_nfd *nf, struct ipcns_waiter *w)
{
	ipcns_deadlines_remove(&nsent_of_nfd(nf)->deadlines, w);
}

/* ---- The tracker: the proc connector, read by its own thread (and by
 * each worker before a batch, for the order of events), and the watched
 * processes by tgid over all namespaces.  It never takes a namespace's
 * lock or the registry's, so nothing a container does can keep it from
 * draining the connector.  */
static struct tracker {
	/* The hash, each namespace's watches, inbox and mailbox.  */
	pthread_mutex_t lock;
	struct watch *whash[1024];
	/* Reading the connector.  */
	pthread_mutex_t cn_lock;
	int fd;
	/* The thread runs: every fork, exec and exit is seen (hosts'
	 * tracks_processes point here; set before any namespace exists).  */
	bool running;
	/* Overruns so far (atomic), for ps.  */
	uint64_t overruns;
	/* Under cn_lock: CLOCK_BOOTTIME ns when the connector was last read
	 * empty with nothing lost (no event generated before it was lost),
	 * and, after an overrun until the connector is empty again, the
	 * start of the window in which events were lost.  */
	int64_t empty_at, loss_from;
	bool loss;
	/* Under lock: windows of lost events (attr_gen, atomic, counts
	 * them), each with its start: window_from[g % WINDOWS] for
	 * generation g.  A worker that last saw generation s checks its own
	 * processes for one started since the earliest start of the
	 * generations after s (window_check).  */
	uint64_t attr_gen;
	int64_t window_from[64];
} T = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cn_lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

static unsigned int whash_of(pid_t tgid)
{
	return ((uint32_t)tgid * 2654435761u) % ARRAY_SIZE(T.whash);
}

/* With T.lock held.  */
static void watch_unlink(struct watch *w)
{
	struct nsent *e = w->nse;
	for (struct watch **pp = &T.whash[whash_of(w->tgid)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == w) {
			*pp = w->hnext;
			break;
		}
	}
	for (struct watch **pp = &e->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	e->nwatches--;
}

/* What malloc takes for a record of size bytes (its size word, 16-byte
 * granules, 32 at least).  */
static uint64_t rec_cost(size_t size)
{
	uint64_t c = ((uint64_t)size + sizeof(size_t) + 15) & ~(uint64_t)15;
	return c < 32 ? 32 : c;
}

/* Per-process records (watches, fork and exec events) are the
 * namespace's: made by whichever thread drains the connector, they are
 * counted in e->track_bytes (atomic) and charged to its memory budget by
 * its worker (track_charge).  One that would take the namespace past its
 * budget is not made: a watch then fails the call that needs it
 * (ENOMEM), an event is lost and the namespace looks at its processes
 * again, as after a connector overrun.  */
static bool track_take(struct nsent *e, uint64_t bytes)
{
	uint64_t limit = e->ns ? ipcns_ns_limits(e->ns)->quota_mem_bytes : 0;
	uint64_t now = __atomic_add_fetch(&e->track_bytes, bytes, __ATOMIC_RELAXED);
	if (limit && now + __atomic_load_n(&e->mem_published, __ATOMIC_RELAXED) > limit) {
		__atomic_sub_fetch(&e->track_bytes, bytes, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void track_give(struct nsent *e, uint64_t bytes)
{
	__atomic_sub_fetch(&e->track_bytes, bytes, __ATOMIC_RELAXED);
}

static void watch_free(struct watch *w)
{
	track_give(w->nse, rec_cost(sizeof(*w)));
	free(w);
}

static void pevent_free(struct nsent *e, struct pevent *pe)
{
	track_give(e, rec_cost(sizeof(*pe)));
	free(pe);
}

/* The worker, its namespace's lock held: what the tracker made or freed
 * for it since, and the pins of its kernel IPC namespaces, into its
 * budgets.  Forced: the records and fds exist already.  */
static void track_charge(struct nsent *e)
{
	uint64_t now = __atomic_load_n(&e->track_bytes, __ATOMIC_RELAXED);
	if (now > e->track_charged)
		ipcns_ns_mem_force(e->ns, now - e->track_charged);
	else if (now < e->track_charged)
		ipcns_ns_mem_uncharge(e->ns, e->track_charged - now);
	e->track_charged = now;
	unsigned int pins = __atomic_load_n(&e->npins, __ATOMIC_RELAXED);
	if (pins > e->pins_charged) {
		ipcns_ns_fd_charge(e->ns, pins - e->pins_charged, true);
		e->pins_charged = pins;
	}
}

/* Link a watch of tgid into namespace e and the hash; T.lock held.  */
static struct watch *watch_new_locked(struct nsent *e, pid_t tgid)
{
	if (!track_take(e, rec_cost(sizeof(struct watch))))
		return NULL;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w) {
		track_give(e, rec_cost(sizeof(struct watch)));
		return NULL;
	}
	w->ev.kind = EV_PIDFD;
	w->ev.fd = -1;
	w->tgid = tgid;
	w->nse = e;
	w->next = e->watches;
	e->watches = w;
	e->nwatches++;
	w->hnext = T.whash[whash_of(tgid)];
	T.whash[whash_of(tgid)] = w;
	return w;
}

static struct watch *watch_find_locked(struct nsent *e, pid_t tgid)
{
	for (struct watch *w = e->watches; w; w = w->next)
		if (w->tgid == tgid)
			return w;
	return NULL;
}

/* Namespace e's lock holder: make sure tgid's exit is seen.  A watch
 * without a pidfd (a child whose fork is not applied yet) gets one.  */
static int host_watch_exit(struct ipcns_host *h, pid_t tgid)
{
	struct nsent *e = h->owner;
	if (!e->ns) {
		/* Its state being loaded: watched once the core is there.  */
		if (e->ndeferred == e->capdeferred) {
			size_t ncap = e->capdeferred ? e->capdeferred * 2 : 16;
			pid_t *n = realloc(e->deferred, ncap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			e->deferred = n;
			e->capdeferred = ncap;
		}
		e->deferred[e->ndeferred++] = tgid;
		return 0;
	}
	pthread_mutex_lock(&T.lock);
	struct watch *w = watch_find_locked(e, tgid);
	bool armed = w && w->ev.fd >= 0;
	pthread_mutex_unlock(&T.lock);
	if (armed)
		return 0;
	/* Only this namespace's lock holder arms its watches, and only it
	 * frees them: w stays valid.  The pidfd is the namespace's, within
	 * its fd budget (the core turns -EMFILE into its call's errno).  */
	int ret = ipcns_ns_fd_charge(e->ns, 1, false);
	if (ret < 0)
		return ret;
	int fd = ipcns_pidfd_open(tgid);
	if (fd < 0) {
		ipcns_ns_fd_uncharge(e->ns, 1);
		return fd;
	}
	pthread_mutex_lock(&T.lock);
	if (!w && !(w = watch_new_locked(e, tgid))) {
		pthread_mutex_unlock(&T.lock);
		close(fd);
		ipcns_ns_fd_uncharge(e->ns, 1);
		return -ENOMEM;
	}
	/* The process may have exited between the event that named it and
	 * pidfd_open: a pidfd to an exited process is readable at once.  */
	w->ev.fd = fd;
	ret = ipcns_ep_add(e->epfd, fd, &w->ev);
	if (ret < 0) {
		w->ev.fd = -1;
		watch_unlink(w);
		watch_free(w);
		close(fd);
		ipcns_ns_fd_uncharge(e->ns, 1);
	}
	pthread_mutex_unlock(&T.lock);
	return ret;
}

/* The worker, with the namespace's lock.  */
static void pidfd_fired(struct watch *w)
{
	struct nsent *e = w->nse;
	pthread_mutex_lock(&T.lock);
	watch_unlink(w);
	pthread_mutex_unlock(&T.lock);
	pid_t tgid = w->tgid;
	ipcns_ep_del(e->epfd, w->ev.fd);
	close(w->ev.fd);
	ipcns_ns_fd_uncharge(e->ns, 1);
	watch_free(w);
	ipcns_ns_process_exit(e->ns, tgid);
}

/* ---- Fork and exec of watched processes, from the proc connector.
 * Fork copies a process's segment attachments and exec drops them; the
 * kernel queues these events before the fork or exec returns.  Every
 * thread drains the connector before it handles a notification, and the
 * events for a namespace wait in its inbox until its lock holder applies
 * them, before the calls: Linux's order.  */

static int open_proc_connector(void)
{
	int s = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
	if (s < 0)
		return -errno;
	int sz = 8 << 20;
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0 };
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	/* Linux 6.6+ takes an event mask with the request (struct
	 * proc_input): only forks, execs, exits and id changes, so that
	 * ptrace events (two per shmat and shmdt: our own seize and
	 * detach), comm and sid changes never wake anyone.  An older kernel
	 * ignores a request of that size: it gets the plain one.  */
	struct utsname un;
	int major = 0, minor = 0;
	bool masked = uname(&un) == 0 && sscanf(un.release, "%d.%d", &major, &minor) == 2 &&
		      (major > 6 || (major == 6 && minor >= 6));
	struct {
		struct nlmsghdr nh;
		struct cn_msg cm;
		uint32_t op;
		uint32_t events; /* struct proc_input's event_type */
	} __attribute__((packed)) req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = masked ? sizeof(req) : sizeof(req) - sizeof(req.events);
	req.nh.nlmsg_type = NLMSG_DONE;
	req.cm.id.idx = CN_IDX_PROC;
	req.cm.id.val = CN_VAL_PROC;
	req.cm.len = masked ? 2 * sizeof(uint32_t) : sizeof(uint32_t);
	req.op = PROC_CN_MCAST_LISTEN;
	req.events = PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID | PROC_EVENT_GID | PROC_EVENT_EXIT;
	if (send(s, &req, req.nh.nlmsg_len, 0) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

/* The child as fork left it: alive, not a zombie, and not exec'd since
 * (PF_FORKNOEXEC, field 9 of /proc/PID/stat, is cleared by exec).  Only
 * then can kcmp tell a copied mm from a shared one.  */
static bool child_as_forked(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false;
	/* Fields after ')': state ppid pgrp session tty tpgid flags.  */
	unsigned long flags = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x40; /* PF_FORKNOEXEC */
}

/* Queue the event for every namespace watching tgid; T.lock held.
 * Only what costs no system call is done here, whichever thread drains
 * the connector: the checks of a fork are made by the namespace's own
 * worker when it applies the event.  A forked child is watched at once,
 * without a pidfd, so that its own children, forked before that, are
 * queued too.  */
static void pevent_post(bool fork, pid_t tgid, pid_t child)
{
	for (struct watch *w = T.whash[whash_of(tgid)]; w; w = w->hnext) {
		if (w->tgid != tgid)
			continue;
		struct nsent *e = w->nse;
		struct pevent *pe = track_take(e, rec_cost(sizeof(*pe))) ? malloc(sizeof(*pe)) : NULL;
		if (!pe || (fork && !watch_find_locked(e, child) && !watch_new_locked(e, child))) {
			if (pe)
				pevent_free(e, pe);
			/* Its worker looks at its processes again.  */
			__atomic_store_n(&e->events_lost, true, __ATOMIC_RELEASE);
			nslog(&e->logrl, e->key,
			      "namespace %s: at its memory budget: a %s event of process %d is lost; its processes will be "
			      "looked at again",
			      e->key, fork ? "fork" : "exec", (int)tgid);
			continue;
		}
		*pe = (struct pevent){ .fork = fork, .tgid = tgid, .child = child };
		*e->inbox_tail = pe;
		e->inbox_tail = &pe->next;
	}
}

static void proc_fork(pid_t parent, pid_t child)
{
	pthread_mutex_lock(&T.lock);
	pevent_post(true, parent, child);
	pthread_mutex_unlock(&T.lock);
}

static void proc_exec(pid_t tgid)
{
	pthread_mutex_lock(&T.lock);
	pevent_post(false, tgid, 0);
	pthread_mutex_unlock(&T.lock);
}

static int64_t boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read everything the proc connector has queued.  */
static void cn_drain(void)
{
	if (T.fd < 0)
		return;
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	pthread_mutex_lock(&T.cn_lock);
	for (;;) {
		ssize_t n = recv(T.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Events were lost, all of them generated since
				 * the connector was last read empty: cached tids
				 * may be stale, and a fork of a holder may have
				 * been missed.  Once the connector is empty again,
				 * the window is published, and each namespace's
				 * worker checks its own processes for one started
				 * in it (window_check).  */
				uint64_t k = __atomic_add_fetch(&T.overruns, 1, __ATOMIC_ACQ_REL);
				dlog("proc connector overrun (%llu so far): fork/exec events lost; the namespaces of "
				     "processes started meanwhile look at their processes once",
				     (unsigned long long)k);
				ipcns_tidcache_flush();
				if (!T.loss)
					T.loss_from = T.empty_at;
				T.loss = true;
				continue;
			}
			if (errno == EAGAIN) {
				T.empty_at = boottime_ns();
				if (T.loss) {
					T.loss = false;
					pthread_mutex_lock(&T.lock);
					uint64_t g = T.attr_gen + 1;
					T.window_from[g % ARRAY_SIZE(T.window_from)] = T.loss_from;
					__atomic_store_n(&T.attr_gen, g, __ATOMIC_RELEASE);
					pthread_mutex_unlock(&T.lock);
				}
			}
			break;
		}
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			struct cn_msg *cm = NLMSG_DATA(nh);
			if (cm->id.idx != CN_IDX_PROC || cm->len < sizeof(struct proc_event))
				continue;
			/* cn_msg's payload is only 4-byte aligned.  */
			struct proc_event pe;
			memcpy(&pe, cm->data, sizeof(pe));
			if (pe.what == PROC_EVENT_FORK && pe.event_data.fork.child_pid == pe.event_data.fork.child_tgid) {
				proc_fork(pe.event_data.fork.parent_tgid, pe.event_data.fork.child_tgid);
			} else if (pe.what == PROC_EVENT_EXEC) {
				ipcns_tidcache_forget_process(pe.event_data.exec.process_tgid);
				proc_exec(pe.event_data.exec.process_tgid);
			} else if (pe.what == PROC_EVENT_EXIT) {
				ipcns_tidcache_forget_thread(pe.event_data.exit.process_pid);
			} else if (pe.what == PROC_EVENT_UID || pe.what == PROC_EVENT_GID) {
				/* commit_creds() reports changes of the real,
				 * effective, saved and fs ids.  */
				ipcns_tidcache_forget_ids(pe.event_data.id.process_pid);
			}
		}
	}
	pthread_mutex_unlock(&T.cn_lock);
}

/* The worker, its namespace's lock held: were events lost since it last
 * asked (*seen)?  Then *from (CLOCK_BOOTTIME ns) is when the earliest of
 * those windows began.  */
static bool window_since(uint64_t *seen, int64_t *from)
{
	uint64_t g = __atomic_load_n(&T.attr_gen, __ATOMIC_ACQUIRE);
	if (g == *seen)
		return false;
	pthread_mutex_lock(&T.lock);
	g = T.attr_gen;
	if (g - *seen > ARRAY_SIZE(T.window_from)) {
		*from = 0; /* too far behind: any process may be young */
	} else {
		*from = INT64_MAX;
		for (uint64_t k = *seen + 1; k <= g; k++)
			if (T.window_from[k % ARRAY_SIZE(T.window_from)] < *from)
				*from = T.window_from[k % ARRAY_SIZE(T.window_from)];
	}
	pthread_mutex_unlock(&T.lock);
	*seen = g;
	return true;
}

struct wcheck {
	struct nsent *e;
	unsigned long long from_ticks;
	unsigned int looked, young, dirs;
	bool hit;
};

/* Process pid, one the namespace may own: started in the window, in one
 * of its kernel IPC namespaces?  */
static void wcheck_pid(struct wcheck *c, pid_t pid)
{
	unsigned long long st;
	ino_t ino;
	c->looked++;
	if (ipcns_proc_start_ticks(pid, &st) < 0 || st < c->from_ticks)
		return;
	c->young++;
	if (ipcns_proc_ipc_inode(pid, &ino) < 0)
		return;
	for (size_t k = 0; k < c->e->host.n_inodes && !c->hit; k++)
		c->hit = c->e->host.ipc_inodes[k] == ino;
}

/* The processes of cgroup directory `dir' and of its descendants.  */
static void wcheck_cgroup(struct wcheck *c, const char *dir, int depth)
{
	char path[4096];
	if (c->hit || depth > 32 || ++c->dirs > 4096 ||
	    (size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return;
	FILE *f = fopen(path, "re");
	int pid;
	while (f && !c->hit && fscanf(f, "%d", &pid) == 1)
		wcheck_pid(c, (pid_t)pid);
	if (f)
		fclose(f);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && !c->hit && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		wcheck_cgroup(c, path, depth + 1);
	}
	if (d)
		closedir(d);
}

/* Events were lost from `from' (CLOCK_BOOTTIME ns) until the connector was
 * empty again.  The namespace can only have missed a fork of one of its
 * holders, and such a child (or any process it forked since, unseen too)
 * started after `from' in one of its kernel IPC namespaces, and, unless
 * it moved itself out, in its containers' cgroups.  So the worker reads
 * the start time of the processes of those cgroups (no maps), its own
 * work, charged to it; only callers in the root cgroup (or of unknown
 * cgroups) make it look at every process of the host.  A process forked
 * in the window that has exited since held nothing that still counts.
 * True when one such process is found: the namespace then looks at its
 * processes' maps again.  */
static bool window_check(struct nsent *e, int64_t from)
{
	long hz = sysconf(_SC_CLK_TCK);
	struct wcheck c = { .e = e };
	c.from_ticks = hz > 0 ? (unsigned long long)(from / (1000000000 / hz)) : 0;
	int64_t t0 = ipcns_mono_ns();
	bool all = e->cg_all || e->ncgdirs == 0;
	if (all) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && !c.hit && (de = readdir(d)))
			if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
				wcheck_pid(&c, (pid_t)strtol(de->d_name, NULL, 10));
		if (!d)
			c.hit = true;
		else
			closedir(d);
	} else {
		for (size_t i = 0; i < e->ncgdirs && !c.hit; i++)
			wcheck_cgroup(&c, e->cgdirs[i], 0);
	}
	int64_t dt = ipcns_mono_ns() - t0;
	pthread_mutex_lock(&e->info_lock);
	e->info.window_checks++;
	e->info.window_ns += (uint64_t)dt;
	pthread_mutex_unlock(&e->info_lock);
	nslog(&e->logrl, e->key,
	      "namespace %s: proc connector overrun: looked at %u processes (%s), %u started in the window%s (%lld us)",
	      e->key, c.looked, all ? "every process of the host: a caller in the root cgroup or of no known cgroup"
				    : "of its containers' cgroups",
	      c.young, c.hit ? ", one of them its own: it looks at its processes' maps again" : "",
	      (long long)dt / 1000);
	return c.hit;
}

/* The cgroup v2 directory of a notify fd's first caller (thread tid), for
 * window_check; the namespace's lock held.  */
static void nsent_note_cgroup(struct nsent *e, pid_t tid)
{
	char path[4096], full[4096 + 512];
	if (e->cg_all)
		return;
	if (ipcns_proc_cgroup_dir(tid, path, sizeof(path), full, sizeof(full)) < 0 || !strcmp(path, "/") ||
	    e->ncgdirs == ARRAY_SIZE(e->cgdirs)) {
		e->cg_all = true;
		return;
	}
	for (size_t i = 0; i < e->ncgdirs; i++)
		if (!strcmp(e->cgdirs[i], full))
			return;
	char *dup = strdup(full);
	if (!dup)
		e->cg_all = true;
	else
		e->cgdirs[e->ncgdirs++] = dup;
}

/* A fork of a watched parent, by its namespace's lock holder.  */
static void fork_apply(struct nsent *e, pid_t parent, pid_t child)
{
	/* vfork and CLONE_VM children share the parent's mm: no VMA is
	 * copied.  A child already gone, a zombie or exec'd (posix_spawn)
	 * cannot tell any more: it is taken as never having held
	 * anything.  */
	if (child_as_forked(child) && syscall(SYS_kcmp, parent, child, KCMP_VM, 0, 0) != 0)
		ipcns_ns_process_fork(e->ns, parent, child);
	/* Still without a pidfd: the core did not need its exit.  */
	pthread_mutex_lock(&T.lock);
	struct watch *w = watch_find_locked(e, child);
	if (w && w->ev.fd < 0) {
		watch_unlink(w);
		watch_free(w);
	}
	pthread_mutex_unlock(&T.lock);
}

/* Apply the namespace's pending fork and exec events; its lock held.  */
static void inbox_apply(struct nsent *e)
{
	pthread_mutex_lock(&T.lock);
	struct pevent *pe = e->inbox;
	e->inbox = NULL;
	e->inbox_tail = &e->inbox;
	pthread_mutex_unlock(&T.lock);
	while (pe) {
		struct pevent *next = pe->next;
		if (pe->fork)
			fork_apply(e, pe->tgid, pe->child);
		else
			ipcns_ns_process_exec(e->ns, pe->tgid);
		pevent_free(e, pe);
		pe = next;
	}
}

static const struct ipcns_nfd_ops nfd_ops;

/* The new notify fds in the mailbox join the worker's set; the worker,
 * its namespace's lock held.  True when the set changed.  */
static bool mail_apply(struct nsent *e)
{
	pthread_mutex_lock(&T.lock);
	struct nfd_ent *ne = e->mail;
	e->mail = NULL;
	pthread_mutex_unlock(&T.lock);
	bool any = ne != NULL;
	while (ne) {
		struct nfd_ent *next = ne->nsnext;
		ipcns_nfd_init(&ne->nf, ne->ev.fd, e->ns, &nfd_ops, ne);
		/* The notify fd is held for the namespace, within its fd
		 * budget (its first one whatever the budget): one past it is
		 * dropped at its first event, and its processes' calls fail
		 * with ENOSYS as if no listener were there.  */
		if (ipcns_ns_fd_charge(e->ns, 1, e->nfds == NULL) < 0) {
			ne->over_budget = true;
			nslog(&e->logrl, e->key,
			      "container %s: namespace %s holds its budget of %u fds: its new notify fd is dropped",
			      ne->ct->id, e->key, ipcns_ns_limits(e->ns)->quota_fds);
		}
		/* Only a hint for the scans until its first call proves it;
		 * a failure (no memory) leaves the process to the checks of
		 * its first notification.  */
		if (ne->ipc_ino && ipcns_host_add_inode(&e->host, ne->ipc_ino) < 0)
			nslog(&e->logrl, e->key, "namespace %s: out of memory recording an IPC namespace", e->key);
		ne->nsnext = e->nfds;
		e->nfds = ne;
		ne = next;
	}
	return any;
}

/* The worker: take its namespace for a batch.  Fork and exec events
 * queued before these calls are applied first, so that a call made after
 * a child's fork or exec sees its effect, as in Linux: the connector
 * drained, the inbox applied; after an overrun of the connector, one look
 * at every process of the namespace.  True when the set of notify fds
 * changed.  */
static bool worker_enter(struct nsent *e, uint64_t *seen_attr)
{
	cn_drain();
	pthread_mutex_lock(&e->lock);
	__atomic_store_n(&e->batch_since, ipcns_mono_ns(), __ATOMIC_RELEASE);
	inbox_apply(e);
	bool grown = mail_apply(e);
	track_charge(e);
	bool lost = __atomic_exchange_n(&e->events_lost, false, __ATOMIC_ACQ_REL);
	int64_t from;
	bool window = window_since(seen_attr, &from);
	if (window && !lost) {
		/* Only an attached segment can miss a fork.  */
		struct ipcns_usage u;
		ipcns_ns_usage(e->ns, &u);
		window = u.shm_ids && window_check(e, from);
	}
	if (window || lost) {
		int64_t t0 = ipcns_mono_ns();
		ipcns_ns_shm_reap(e->ns);
		int64_t dt = ipcns_mono_ns() - t0;
		pthread_mutex_lock(&e->info_lock);
		e->info.rescans++;
		e->info.rescan_ns += (uint64_t)dt;
		pthread_mutex_unlock(&e->info_lock);
	}
	return grown;
}

/* Publish what the operator reads, and leave.  */
static void worker_leave(struct nsent *e, uint64_t calls)
{
	/* What the batch changed with no answer after it (exits with
	 * SEM_UNDO, sweeps, timers, effects after an answer).  */
	persist_batch_end(e);
	struct ipcns_usage u;
	struct ipcns_journal_stats js = { 0 };
	ipcns_ns_usage(e->ns, &u);
	ipcns_journal_stats(e->ns, &js);
	pthread_mutex_lock(&e->info_lock);
	e->info.usage = u;
	e->info.journal_bytes = js.held_bytes;
	e->info.tracking_bytes = e->track_charged;
	e->info.calls += calls;
	e->info.updated = ipcns_mono_ns();
	pthread_mutex_unlock(&e->info_lock);
	__atomic_store_n(&e->mem_published, u.mem_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&e->batch_since, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->lock);
}

void nsent_info_get(struct nsent *e, struct nsent_info *out)
{
	pthread_mutex_lock(&e->info_lock);
	*out = e->info;
	pthread_mutex_unlock(&e->info_lock);
}

/* Take a namespace from outside its worker (the takeover, before the
 * main loop runs), waiting at most ms.  */
bool nsent_try_enter(struct nsent *e, int ms)
{
	struct timespec ts;
	cn_drain();
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_mutex_timedlock(&e->lock, &ts) != 0)
		return false;
	inbox_apply(e);
	return true;
}

void nsent_leave(struct nsent *e)
{
	pthread_mutex_unlock(&e->lock);
}

/* ---- Namespaces.  */

struct nsent *nsent_find(const char *key)
{
	for (struct nsent *e = D.namespaces; e; e = e->next)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

static void host_limit_hit(struct ipcns_host *h, const char *what)
{
	struct nsent *e = h->owner;
	char names[sizeof(e->info.names)];
	pthread_mutex_lock(&e->info_lock);
	memcpy(names, e->info.names, sizeof(names));
	pthread_mutex_unlock(&e->info_lock);
	nslog(&e->logrl, e->key, "namespace %s (container %s): %s", e->key, names, what);
}

/* Its containers' names for the log; D.reg_lock held.  */
void nsent_names(struct nsent *e)
{
	char names[sizeof(e->info.names)];
	size_t off = 0;
	names[0] = '\0';
	for (struct container *c = D.containers; c; c = c->next)
		if (c->nse == e && off < sizeof(names) - 2)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", off ? "," : "", c->id);
	pthread_mutex_lock(&e->info_lock);
	memcpy(e->info.names, names, sizeof(names));
	pthread_mutex_unlock(&e->info_lock);
}

bool nsent_serves(const struct nsent *e, ino_t ino)
{
	for (size_t i = 0; i < e->ninodes; i++)
		if (e->inodes[i] == ino)
			return true;
	return false;
}

/* D.reg_lock held: the registry's list; the worker learns of it with the
 * notify fd that brings it.  */
int nsent_add_inode(struct nsent *e, ino_t ino)
{
	if (nsent_serves(e, ino))
		return 0;
	if (e->ninodes == e->capinodes) {
		size_t ncap = e->capinodes ? e->capinodes * 2 : 2;
		ino_t *n = realloc(e->inodes, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		e->inodes = n;
		int *p = realloc(e->pins, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		e->pins = p;
		e->capinodes = ncap;
	}
	e->pins[e->ninodes] = -1;
	e->inodes[e->ninodes++] = ino;
	persist_inodes_changed(e);
	return 0;
}

/* D.reg_lock held; takes nsfd, an fd on kernel IPC namespace ino (which
 * e serves).  The kernel gives a new IPC namespace the lowest free inode
 * number: once the last process of a namespace is gone, the next
 * container's may get its number before this entry's worker has seen
 * the notify fds hang up, and would be registered into the dead one's
 * objects.  An fd on the namespace keeps its number taken for as long as
 * the entry lives (closed in nsent_destroy).  */
void nsent_pin(struct nsent *e, ino_t ino, int nsfd)
{
	for (size_t i = 0; i < e->ninodes; i++) {
		if (e->inodes[i] == ino && e->pins[i] < 0) {
			e->pins[i] = nsfd;
			/* An fd held for the namespace: its worker charges it
			 * to its fd budget (track_charge).  */
			__atomic_add_fetch(&e->npins, 1, __ATOMIC_RELAXED);
			return;
		}
	}
	close(nsfd);
}

static void nsent_free_inodes(struct nsent *e)
{
	for (size_t i = 0; i < e->ninodes; i++)
		if (e->pins[i] >= 0)
			close(e->pins[i]);
	free(e->inodes);
	free(e->pins);
}

void nsent_post_op(struct nsent *e, struct opreq *op)
{
	pthread_mutex_lock(&T.lock);
	op->next = e->ops;
	__atomic_store_n(&e->ops, op, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&T.lock);
	nsent_wake(e);
}

/* The operators' requests queued to the namespace, oldest first.  */
static struct opreq *ops_take(struct nsent *e)
{
	pthread_mutex_lock(&T.lock);
	struct opreq *op = e->ops, *rev = NULL;
	__atomic_store_n(&e->ops, NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&T.lock);
	while (op) {
		struct opreq *next = op->next;
		op->next = rev;
		rev = op;
		op = next;
	}
	return rev;
}

void nsent_post_nfd(struct nsent *e, struct nfd_ent *ne)
{
	pthread_mutex_lock(&T.lock);
	ne->nsnext = e->mail;
	e->mail = ne;
	pthread_mutex_unlock(&T.lock);
	nsent_wake(e);
}

static void *worker(void *arg);

/* Free a namespace nobody can reach any more: out of D.namespaces, no
 * notify fd, its worker gone or the caller.  */
void nsent_destroy(struct nsent *e)
{
	struct ipcns_usage u;
	view_ns_gone(e);
	/* Signal watches adopted from a previous ipcnsd that no container
	 * of the namespace asked for again.  */
	ipcns_sigwatch_drop_scope(e);
	pthread_mutex_lock(&e->lock);
	control_ops_serve(e, ops_take(e), true);
	ipcns_ns_usage(e->ns, &u);
	ipcns_ns_free(e->ns);
	pthread_mutex_lock(&T.lock);
	while (e->watches) {
		struct watch *w = e->watches;
		watch_unlink(w);
		if (w->ev.fd >= 0)
			close(w->ev.fd);
		watch_free(w);
	}
	while (e->inbox) {
		struct pevent *pe = e->inbox;
		e->inbox = pe->next;
		pevent_free(e, pe);
	}
	pthread_mutex_unlock(&T.lock);
	pthread_mutex_unlock(&e->lock);
	logrl_destroy(&e->logrl, e->key);
	if (daemon_stopping() && D.handover) {
		dlog("namespace %s handed over (%u segments, %u semaphore sets, %u queues)", e->key, u.shm_ids,
		     u.sem_ids, u.msg_ids);
	} else {
		/* Its state and segments in the keeper too.  */
		custody_drop_group(e->key);
		dlog("namespace %s released (%u segments, %u semaphore sets, %u queues freed)", e->key, u.shm_ids,
		     u.sem_ids, u.msg_ids);
	}
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wake_ev.fd >= 0)
		close(e->wake_ev.fd);
	ipcns_deadlines_fini(&e->deadlines);
	ipcns_tick_fini(&e->tick);
	/* Last: its inode numbers may go to new namespaces from here on.  */
	nsent_free_inodes(e);
	free(e->fdslots);
	for (size_t i = 0; i < e->ncgdirs; i++)
		free(e->cgdirs[i]);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->info_lock);
	ipcns_host_free(&e->host);
	free(e->key);
	free(e);
}

static void nsent_free_shell(struct nsent *e)
{
	for (int *fd = (int[]){ e->epfd, e->wake_ev.fd, -2 }; *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
	ipcns_deadlines_fini(&e->deadlines);
	ipcns_tick_fini(&e->tick);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->info_lock);
	pthread_mutex_destroy(&e->logrl.lock);
	ipcns_host_free(&e->host);
	nsent_free_inodes(e);
	free(e->key);
	free(e);
}

/* Everything of a namespace but its core and its worker.  */
static struct nsent *nsent_alloc(const char *key, ino_t ipc_ino)
{
	struct nsent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->info_lock, NULL);
	logrl_init(&e->logrl);
	e->inbox_tail = &e->inbox;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wake_ev = (struct ev){ EV_WAKE, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	e->deadlines.fd = e->tick.fd = -1;
	ipcns_deadlines_init(&e->deadlines);
	ipcns_tick_init(&e->tick);
	e->timer_ev = (struct ev){ EV_TIMER, e->deadlines.fd };
	e->tick_ev = (struct ev){ EV_TICK, e->tick.fd };
	e->key = strdup(key);
	e->host.owner = e;
	e->host.watch_exit = host_watch_exit;
	e->host.limit_hit = host_limit_hit;
	e->host.tracks_processes = &T.running;
	if (!e->key || e->epfd < 0 || e->wake_ev.fd < 0 || e->deadlines.fd < 0 || e->tick.fd < 0 ||
	    (ipc_ino && (ipcns_host_add_inode(&e->host, ipc_ino) < 0 || nsent_add_inode(e, ipc_ino) < 0)) ||
	    ipcns_ep_add(e->epfd, e->wake_ev.fd, &e->wake_ev) < 0 ||
	    ipcns_ep_add(e->epfd, e->deadlines.fd, &e->timer_ev) < 0 ||
	    ipcns_ep_add(e->epfd, e->tick.fd, &e->tick_ev) < 0) {
		nsent_free_shell(e);
		return NULL;
	}
	return e;
}

/* Its memory and fds count for the daemon-wide ceilings; its own fds
 * are charged whatever the budget (it cannot be served without).  */
static void nsent_ns_setup(struct nsent *e)
{
	ipcns_ns_set_pool(e->ns, &D.pool);
	ipcns_ns_fd_charge(e->ns, NSENT_FDS, true);
}

static int nsent_thread(struct nsent *e)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&D.workers_lock);
	int err = pthread_create(&e->thread, &attr, worker, e);
	if (err == 0)
		D.nworkers++;
	pthread_mutex_unlock(&D.workers_lock);
	pthread_attr_destroy(&attr);
	if (err)
		dlog("namespace %s: cannot start its thread: %s", e->key, strerror(err));
	return -err;
}

/* A new namespace and its worker; D.reg_lock held.  */
struct nsent *nsent_new(const char *key, const struct ipcns_limits *limits, ino_t ipc_ino)
{
	struct nsent *e = nsent_alloc(key, ipc_ino);
	if (!e)
		return NULL;
	if ((e->ns = ipcns_ns_new(limits, &ipcns_host_proc_ops, &e->host))) {
		nsent_ns_setup(e);
		persist_attach(e);
	}
	if (!e->ns || nsent_thread(e) < 0) {
		if (e->ns)
			ipcns_ns_free(e->ns);
		custody_drop(e->state_slot);
		nsent_free_shell(e);
		return NULL;
	}
	e->next = D.namespaces;
	D.namespaces = e;
	view_ns_inode(e, ipc_ino);
	dlog("namespace %s created", key);
	return e;
}

/* D.reg_lock held.  */
struct nsent *nsent_shell(const char *key)
{
	struct nsent *e = nsent_alloc(key, 0);
	if (!e)
		return NULL;
	e->next = D.namespaces;
	D.namespaces = e;
	return e;
}

/* D.reg_lock held, no worker yet.  */
int nsent_load(struct nsent *e, int (*load)(struct nsent *e, void *arg, struct ipcns_ns **ns), void *arg)
{
	struct ipcns_ns *ns = NULL;
	pthread_mutex_lock(&e->lock);
	/* Its notify fds, for the parked calls the state names.  */
	pthread_mutex_lock(&T.lock);
	struct nfd_ent *ne = e->mail;
	e->mail = NULL;
	pthread_mutex_unlock(&T.lock);
	while (ne) {
		struct nfd_ent *next = ne->nsnext;
		ipcns_nfd_init(&ne->nf, ne->ev.fd, NULL, &nfd_ops, ne);
		if (ne->ipc_ino && ipcns_host_add_inode(&e->host, ne->ipc_ino) < 0)
			dlog("namespace %s: out of memory recording an IPC namespace", e->key);
		ne->nsnext = e->nfds;
		e->nfds = ne;
		ne = next;
	}
	int ret = load(e, arg, &ns);
	if (ret == 0) {
		e->ns = ns;
		nsent_ns_setup(e);
		for (ne = e->nfds; ne; ne = ne->nsnext) {
			ne->nf.ns = ns;
			ipcns_ns_fd_charge(ns, 1, true);
			ipcns_nfd_restored(&ne->nf);
		}
		for (size_t i = 0; i < e->ndeferred; i++)
			if (host_watch_exit(&e->host, e->deferred[i]) < 0)
				dlog("namespace %s: process %d's exit cannot be watched", e->key, (int)e->deferred[i]);
	}
	free(e->deferred);
	e->deferred = NULL;
	e->ndeferred = e->capdeferred = 0;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int nsent_start(struct nsent *e)
{
	return nsent_thread(e);
}

/* A notify fd of the namespace is gone; D.reg_lock held.  True when it
 * was the last: the namespace is out of the registry and its worker must
 * free it.  */
bool nsent_unref(struct nsent *e)
{
	if (--e->refs > 0)
		return false;
	for (struct nsent **pp = &D.namespaces; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->dying = true;
	return true;
}

/* ---- Notify fds.  */

static int nfd_watch_exit(struct ipcns_nfd *nf, pid_t tgid)
{
	return host_watch_exit(&nsent_of_nfd(nf)->host, tgid);
}

static void nfd_log(struct ipcns_nfd *nf, const char *msg)
{
	struct nfd_ent *ne = nf->owner;
	nslog(&ne->ct->nse->logrl, ne->ct->nse->key, "container %s: %s", ne->ct->id, msg);
}

static void nfd_commit(struct ipcns_nfd *nf, uint64_t id, pid_t tid, int64_t ret, bool answer)
{
	persist_commit(nsent_of_nfd(nf), nf->owner, id, tid, ret, answer);
}

/* The signal watch of the callers of a notify fd (spec/security.md,
 * "Signal watches"): one per cgroup and namespace, so that what
 * processes elsewhere do with signals changes nothing here.  Its fds
 * (one per CPU) and memory are the namespace's, within its budget.  The
 * host's watch for callers in the root cgroup, or when cgroup v2 or its
 * perf events are missing.  */
static struct ipcns_sigwatch *nfd_sigwatch(struct ipcns_nfd *nf, pid_t tid)
{
	struct nfd_ent *ne = nf->owner;
	struct nsent *e = ne->ct->nse;
	char why[4600];
	bool trouble;
	nsent_note_cgroup(e, tid);
	struct ipcns_sigwatch *w = ipcns_sigwatch_for(e->ns, e, tid, why, sizeof(why), &trouble);
	if (why[0])
		nslog(&e->logrl, e->key, "container %s of namespace %s: %s", ne->ct->id, e->key, why);
	return w;
}

/* The notify fd goes: its reference on its signal watch, and what the
 * watch held for the namespace when it was the last.  */
static void nfd_sigwatch_put(struct nsent *e, struct ipcns_nfd *nf)
{
	ipcns_sigwatch_drop(e->ns, nf->sigwatch);
	nf->sigwatch = NULL;
}

static const struct ipcns_nfd_ops nfd_ops = {
	.sigwatch = nfd_sigwatch,
	.commit = nfd_commit,
	.watch_exit = nfd_watch_exit,
	.arm_timer = nfd_arm_timer,
	.disarm_timer = nfd_disarm_timer,
	.log = nfd_log,
};

/* D.reg_lock held.  */
void container_put(struct container *c)
{
	if (--c->nfds > 0)
		return;
	for (struct container **pp = &D.containers; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	struct nsent *e = c->nse;
	e->containers--;
	dlog("container %s gone", c->id);
	free(c->id);
	free(c->bundle);
	free(c);
	nsent_names(e);
}

/* The worker (its namespace's lock not held) or the main thread at exit:
 * a notify fd hung up.  True when the namespace must be freed.  */
bool nfd_close(struct nfd_ent *ne)
{
	struct nsent *e = ne->ct->nse;
	pthread_mutex_lock(&D.reg_lock);
	pthread_mutex_lock(&e->lock);
	for (struct nfd_ent **pp = &e->nfds; *pp; pp = &(*pp)->nsnext) {
		if (*pp == ne) {
			*pp = ne->nsnext;
			break;
		}
	}
	pthread_mutex_lock(&T.lock);
	for (struct nfd_ent **pp = &e->mail; *pp; pp = &(*pp)->nsnext) {
		if (*pp == ne) {
			*pp = ne->nsnext;
			break;
		}
	}
	pthread_mutex_unlock(&T.lock);
	/* One still in the mailbox at the shutdown was never the worker's.  */
	if (ne->nf.ns) {
		ipcns_nfd_hangup(&ne->nf);
		nfd_sigwatch_put(e, &ne->nf);
		if (!ne->over_budget)
			ipcns_ns_fd_uncharge(e->ns, 1);
		if (ne->nf.nwaiters)
			nslog(&e->logrl, e->key, "container %s: %d parked calls outlived their notify fd", ne->ct->id,
			      ne->nf.nwaiters);
	}
	pthread_mutex_unlock(&e->lock);
	close(ne->ev.fd);
	/* Its container is gone: the keeper's copy too, unless ipcnsd is
	 * stopping for the next one to take it over.  */
	if (!(daemon_stopping() && D.handover))
		custody_drop(ne->slot);
	for (struct nfd_ent **pp = &D.nfds; *pp; pp = &(*pp)->next) {
		if (*pp == ne) {
			*pp = ne->next;
			break;
		}
	}
	container_put(ne->ct);
	free(ne);
	bool last = nsent_unref(e);
	pthread_mutex_unlock(&D.reg_lock);
	/* A namespace's last fd: listen again once its memfds are closed
	 * too (nsent_destroy), so that a waiting runtime finds room.  */
	if (!last)
		main_wake();
	return last;
}

/* ---- The worker of a namespace.  */

#define WORKER_BATCH 64

/* The first notification on a notify fd: its sender must be in the
 * kernel IPC namespace of the pid the runtime registered, or, when the
 * runtime gave none (crun's exec), in one the namespace serves.  A notify
 * fd whose processes are elsewhere was steered into this namespace (a
 * reused container id, a wrong pid): it is dropped, and its processes'
 * calls fail with ENOSYS as if no listener were there.  */
static bool nfd_first_call_ok(struct nsent *e, struct nfd_ent *ne, const struct seccomp_notif *req)
{
	ino_t ino;
	int ret = ipcns_proc_ipc_inode((pid_t)req->pid, &ino);
	/* The notification still pending proves the pid was its sender's
	 * when the inode was read.  */
	if (ret == 0 && ipcns_seccomp_id_valid(ne->ev.fd, req->id) < 0)
		return true; /* gone: nothing to check, nothing to answer */
	if (ret < 0) {
		nslog(&e->logrl, e->key, "container %s: cannot read the IPC namespace of pid %u: %s; its notify fd is dropped",
		      ne->ct->id, req->pid, strerror(-ret));
		return false;
	}
	bool ok = ne->ipc_ino ? ino == ne->ipc_ino : false;
	for (size_t i = 0; !ok && !ne->ipc_ino && i < e->host.n_inodes; i++)
		ok = e->host.ipc_inodes[i] == ino;
	if (!ok)
		nslog(&e->logrl, e->key,
		      "container %s: pid %u calls from kernel IPC namespace %llu, which namespace %s was not given "
		      "for it: its notify fd is dropped",
		      ne->ct->id, req->pid, (unsigned long long)ino, e->key);
	return ok;
}

/* Handle one notify fd's event; the namespace's lock held.  True when it
 * hung up or is dropped (the caller closes it after the batch).  */
static bool nfd_ready(struct nsent *e, struct nfd_ent *ne, bool in, bool hup, uint64_t *calls)
{
	if (ne->over_budget)
		return in || hup;
	if (!in)
		return hup;
	int ret;
	if (!ne->verified) {
		struct seccomp_notif req;
		ret = ipcns_seccomp_recv(ne->ev.fd, &req);
		if (ret == -ENOENT || ret == -EINTR || ret == -EAGAIN)
			return false;
		if (ret < 0)
			return true;
		if (!nfd_first_call_ok(e, ne, &req))
			return true;
		ne->verified = true;
		ret = ipcns_nfd_handle(&ne->nf, &req);
	} else {
		ret = ipcns_nfd_handle_one(&ne->nf);
		if (ret == -ENOTCONN)
			return true;
	}
	if (ret != -EAGAIN)
		(*calls)++;
	if (ret < 0 && ret != -EAGAIN)
		nslog(&e->logrl, e->key, "container %s: answering a call failed: %s", ne->ct->id, strerror(-ret));
	return false;
}

/* The worker waits in poll(2) on its notify fds themselves and on its
 * epoll fd (pidfds, timers, the wake-up eventfd).  A notification wakes
 * a poll(2) waiter with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP's
 * WF_CURRENT_CPU, on the caller's CPU; through epoll the hint is lost
 * (ep_poll_callback wakes its waiters as a plain sync wake-up) and, on an
 * otherwise idle machine, the worker wakes on the other CPU: a trapped
 * call in a runc container took 18.5 us against a supervisor in epoll,
 * 6.4 us against one in poll(2), 5.6 us outside containers.  */
static void *worker(void *arg)
{
	struct nsent *e = arg;
	bool free_it = false;
	struct pollfd *pf = NULL;
	struct nfd_ent **pne = NULL;
	size_t npf = 1, cappf = 0;
	uint64_t seen_attr = __atomic_load_n(&T.attr_gen, __ATOMIC_ACQUIRE);
	/* The set of notify fds changed: rebuild the poll set (the worker's
	 * own arrays, only it changes e->nfds).  */
	bool dirty = true;
	if (e->settle) {
		pthread_mutex_lock(&e->lock);
		e->settle = false;
		ipcns_state_settle(e->ns);
		pthread_mutex_unlock(&e->lock);
	}
	while (!daemon_stopping()) {
		if (dirty) {
			size_t n = 0;
			for (struct nfd_ent *ne = e->nfds; ne; ne = ne->nsnext)
				n++;
			if (n + 1 > cappf) {
				size_t ncap = n + 9;
				struct pollfd *npfa = realloc(pf, ncap * sizeof(*npfa));
				if (npfa)
					pf = npfa;
				struct nfd_ent **nne = realloc(pne, ncap * sizeof(*nne));
				if (nne)
					pne = nne;
				if (npfa && nne)
					cappf = ncap;
			}
			if (n + 1 > cappf) {
				/* Out of memory for the poll set: try again
				 * shortly rather than serve no fd.  */
				nslog(&e->logrl, e->key, "namespace %s: out of memory for its poll set", e->key);
				usleep(10000);
				continue;
			}
			pf[0] = (struct pollfd){ .fd = e->epfd, .events = POLLIN };
			npf = 1;
			for (struct nfd_ent *ne = e->nfds; ne; ne = ne->nsnext) {
				pne[npf - 1] = ne;
				pf[npf++] = (struct pollfd){ .fd = ne->ev.fd, .events = POLLIN };
			}
			dirty = false;
		}
		if (poll(pf, npf, -1) < 0) {
			if (errno == EINTR)
				continue;
			dlog("namespace %s: poll: %s", e->key, strerror(errno));
			break;
		}
		struct epoll_event evs[WORKER_BATCH];
		int n = 0;
		if (pf[0].revents & POLLIN) {
			n = epoll_wait(e->epfd, evs, WORKER_BATCH, 0);
			if (n < 0)
				n = 0;
		}
		size_t nhung = 0;
		bool woken = false;
		uint64_t calls = 0;
		/* Process events first, then the pidfds and timers, then the
		 * notifications.  */
		bool grown = worker_enter(e, &seen_attr);

		for (int i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;
			switch (ev->kind) {
			case EV_PIDFD:
				/* Frees only its own watch.  */
				pidfd_fired(container_of(ev, struct watch, ev));
				break;
			case EV_TIMER: {
				int ret = ipcns_deadlines_fire(&e->deadlines);
				if (ret < 0)
					dlog("namespace %s: timerfd read: %s", e->key, strerror(-ret));
				break;
			}
			case EV_TICK:
				ipcns_tick_fire(&e->tick, e->ns);
				logrl_flush(&e->logrl, e->key, false);
				break;
			case EV_WAKE: {
				uint64_t v;
				if (read(e->wake_ev.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					dlog("namespace %s: eventfd: %s", e->key, strerror(errno));
				woken = true;
				break;
			}
			default:
				break;
			}
		}
		/* Operators' requests (ipcs, rm, forget) are answered here, by
		 * the namespace's own worker.  */
		if (__atomic_load_n(&e->ops, __ATOMIC_ACQUIRE))
			control_ops_serve(e, ops_take(e), false);
		/* Reads and writes of the view, after the batch's events (a
		 * creator's exit under shm_rmid_forced has destroyed its
		 * segments before /proc/sysvipc shows them) and after the
		 * EV_WAKE that may have drained their wake-up.  */
		if (__atomic_load_n(&e->view_pending, __ATOMIC_ACQUIRE))
			view_serve(e);
		for (size_t i = 1; i < npf; i++) {
			short re = pf[i].revents;
			if (!re)
				continue;
			/* pne doubles as the list of the batch's hung fds: its
			 * slot i - 1 is read before slot nhung <= i - 1 is
			 * written.  */
			struct nfd_ent *ne = pne[i - 1];
			if (nfd_ready(e, ne, re & POLLIN, re & (POLLHUP | POLLERR | POLLNVAL), &calls))
				pne[nhung++] = ne;
		}
		worker_leave(e, calls);
		/* Only a notify fd's own hang-up frees its entry, and the poll
		 * set is rebuilt before the next poll.  */
		for (size_t i = 0; i < nhung; i++)
			if (nfd_close(pne[i]))
				free_it = true;
		if (nhung || grown)
			dirty = true;
		if (woken && !free_it) {
			/* A registration that failed may have left the
			 * namespace without a notify fd.  */
			pthread_mutex_lock(&D.reg_lock);
			if (e->refs == 0 && !e->dying) {
				e->refs = 1;
				free_it = nsent_unref(e);
			}
			pthread_mutex_unlock(&D.reg_lock);
		}
		if (free_it)
			break;
	}
	free(pf);
	free(pne);
	if (free_it) {
		nsent_destroy(e);
		main_wake();
	}
	pthread_mutex_lock(&D.workers_lock);
	D.nworkers--;
	pthread_cond_broadcast(&D.workers_cond);
	pthread_mutex_unlock(&D.workers_lock);
	return NULL;
}

/* ---- The tracker's thread.  */

static void *tracker(void *arg)
{
	(void)arg;
	struct pollfd pfd = { .fd = T.fd, .events = POLLIN };
	while (!daemon_stopping()) {
		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
			dlog("proc connector: poll: %s", strerror(errno));
			break;
		}
		if (pfd.revents & (POLLIN | POLLERR))
			cn_drain();
	}
	return NULL;
}

int tracker_start(void)
{
	int fd = open_proc_connector();
	if (fd < 0)
		return fd;
	T.fd = fd;
	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&th, &attr, tracker, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		close(fd);
		T.fd = -1;
		return -err;
	}
	/* Named, so that its reads can be told apart (hostile.bats, hole 8).  */
	pthread_setname_np(th, "ipcnsd-tracker");
	ipcns_tidcache_enable(true);
	T.running = true;
	return 0;
}

bool tracker_running(void)
{
	return T.running;
}

uint64_t tracker_overruns(void)
{
	return __atomic_load_n(&T.overruns, __ATOMIC_ACQUIRE);
}
