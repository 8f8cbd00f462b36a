/* SPDX-License-Identifier: MIT */
/* Decode a seccomp notification, run it on the namespace core with a
 * caller backed by the notifying thread, and answer it.  */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "events.h"
#include "notify.h"

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

/* What a shmat or shmdt of a 32-bit (i386) caller injects in it
 * (syscall_32.tbl), and its task size (IA32_PAGE_OFFSET).  */
#define NR32_CLOSE 6
#define NR32_MUNMAP 91
#define NR32_MMAP2 192
#define NR32_CLOSE_RANGE 436
#define NR32_TASK_SIZE 0xFFFFE000ULL

/* One notification being handled.  */
struct ncall {
	struct ipcns_caller c; /* first: the core hands it back to us */
	struct ipcns_nfd *nf;
	uint64_t id;
	pid_t tid;
	bool have_status;
	bool have_userns;            /* user_ino is the thread's user namespace */
	ino_t user_ino;
	uint32_t tid_gen, tid_epoch; /* the tid cache slot when st was read */
	struct ipcns_proc_status st;
	uint64_t pidns;              /* its pid namespace's id, 0: not read */
	struct ipcns_remote remote;
	struct ipcns_pwaiter *parked;
	bool answered;
	const struct seccomp_data *data; /* the call, while it is handled */
	int64_t t0;                      /* received no earlier than this */
	/* A 32-bit (i386) caller: its memory is seen through compat.c, and
	 * the calls injected in it are i386 ones.  */
	bool compat;
	struct ipcns_compat_scratch *scratch; /* while it is handled */
};

/* A parked call as its thread's index knows it; after the call ended
 * without our answer (a signal interrupted the wait), a ghost (pw NULL)
 * until the thread calls again.  */
struct ipcns_park_rec {
	struct ipcns_park_rec *next;
	struct ipcns_pwaiter *pw; /* NULL: a ghost */
	pid_t tid;
	uint64_t id;
	int64_t t0;
	struct seccomp_data data;
};

struct ipcns_pwaiter {
	struct ipcns_waiter w;
	struct ncall call;
	int timer_slot;
	struct ipcns_park_rec *rec; /* NULL once withdrawn */
	bool delivered;
};

static struct ncall *ncall_of(struct ipcns_caller *c)
{
	return (struct ncall *)c;
}

/* Before every answer: the front end's journal.  */
static void commit(struct ipcns_nfd *nf, uint64_t id, pid_t tid, int64_t ret, bool answer)
{
	if (nf->ops && nf->ops->commit)
		nf->ops->commit(nf, id, tid, ret, answer);
}

static void nlog(struct ipcns_nfd *nf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nlog(struct ipcns_nfd *nf, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	if (!nf->ops || !nf->ops->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	nf->ops->log(nf, buf);
}

/* ---- tid cache: direct-mapped, a collision evicts.  Shared by the
 * threads that handle notifications and the one that reads the proc
 * connector, under tidcache_lock.  */
struct tid_ent {
	pid_t tid, tgid, ns_tgid;
	/* Its depth below the daemon's pid namespace plus one (NStgid's
	 * length, 0: unknown) and its pid namespace (0: not read yet).  */
	uint8_t nlev;
	uint64_t pidns;
	/* euid, egid, fsgid: exact until the proc connector reports a
	 * change of this thread's uids or gids.  */
	bool have_ids;
	uid_t euid;
	gid_t egid, fsgid;
	/* Bumped by every forget that lands on this slot: an entry read
	 * from /proc before a forget is not stored after it.  */
	uint32_t gen;
};
static struct tid_ent tidcache[4096];
static bool tidcache_on;
static uint32_t tidcache_epoch; /* bumped by flushes and process-wide forgets */
static pthread_mutex_t tidcache_lock = PTHREAD_MUTEX_INITIALIZER;

static struct tid_ent *tid_slot(pid_t tid)
{
	return &tidcache[(uint32_t)tid % ARRAY_SIZE(tidcache)];
}

void ipcns_tidcache_enable(bool on)
{
	pthread_mutex_lock(&tidcache_lock);
	tidcache_on = on;
	pthread_mutex_unlock(&tidcache_lock);
	ipcns_tidcache_flush();
}

void ipcns_tidcache_flush(void)
{
	pthread_mutex_lock(&tidcache_lock);
	for (size_t i = 0; i < ARRAY_SIZE(tidcache); i++)
		tidcache[i].tid = 0;
	tidcache_epoch++;
	pthread_mutex_unlock(&tidcache_lock);
}

void ipcns_tidcache_forget_thread(pid_t tid)
{
	pthread_mutex_lock(&tidcache_lock);
	struct tid_ent *e = tid_slot(tid);
	e->gen++;
	if (e->tid == tid)
		e->tid = 0;
	pthread_mutex_unlock(&tidcache_lock);
}

void ipcns_tidcache_forget_ids(pid_t tid)
{
	pthread_mutex_lock(&tidcache_lock);
	struct tid_ent *e = tid_slot(tid);
	e->gen++;
	if (e->tid == tid)
		e->have_ids = false;
	pthread_mutex_unlock(&tidcache_lock);
}

void ipcns_tidcache_forget_process(pid_t tgid)
{
	/* An exec by a thread other than the leader gives it the leader's
	 * pid without an exit event for its old tid: forget the process's
	 * threads.  */
	pthread_mutex_lock(&tidcache_lock);
	for (size_t i = 0; i < ARRAY_SIZE(tidcache); i++)
		if (tidcache[i].tgid == tgid)
			tidcache[i].tid = 0;
	tidcache_epoch++;
	pthread_mutex_unlock(&tidcache_lock);
}

/* A copy of tid's entry: true when there is one.  */
static bool tid_lookup(pid_t tid, struct tid_ent *out)
{
	bool hit = false;
	pthread_mutex_lock(&tidcache_lock);
	struct tid_ent *e = tid_slot(tid);
	if (tidcache_on && e->tid == tid) {
		*out = *e;
		hit = true;
	}
	pthread_mutex_unlock(&tidcache_lock);
	return hit;
}

/* Every piece of the caller we read must be checked to still belong to
 * the caller after we read it: a valid notification id proves the thread
 * is still blocked in the call, so the tid was not reused.  */
static int call_valid(struct ncall *n)
{
	if (n->nf->dead)
		return -ENOENT;
	return ipcns_seccomp_id_valid(n->nf->fd, n->id) < 0 ? -ENOENT : 0;
}

static int call_status(struct ncall *n)
{
	if (n->have_status)
		return 0;
	pthread_mutex_lock(&tidcache_lock);
	n->tid_gen = tid_slot(n->tid)->gen;
	n->tid_epoch = tidcache_epoch;
	pthread_mutex_unlock(&tidcache_lock);
	int ret = ipcns_proc_status(n->tid, &n->st);
	if (ret < 0)
		return ret == -ESRCH ? -ENOENT : ret;
	ret = call_valid(n);
	if (ret < 0)
		return ret;
	n->have_status = true;
	return 0;
}

static void tid_remember(struct ncall *n)
{
	pthread_mutex_lock(&tidcache_lock);
	struct tid_ent *e = tid_slot(n->tid);
	/* A forget since /proc was read (the thread exited and its tid
	 * may be someone else's now, or its ids changed): keep nothing.  */
	if (tidcache_on && e->gen == n->tid_gen && tidcache_epoch == n->tid_epoch)
		*e = (struct tid_ent){
			.tid = n->tid,
			.tgid = n->st.tgid,
			.ns_tgid = n->st.ns_tgid,
			.nlev = (uint8_t)n->st.nlev,
			.pidns = n->pidns,
			.have_ids = true,
			.euid = n->st.cred.euid,
			.egid = n->st.cred.egid,
			.fsgid = n->st.cred.fsgid,
			.gen = e->gen,
		};
	pthread_mutex_unlock(&tidcache_lock);
}

/* ---- Capabilities against user namespaces.  Linux checks some
 * capabilities with capable(), in the initial user namespace, and others
 * with ns_capable(ipc_ns->user_ns), in the user namespace that owns the
 * IPC namespace (the container's, when it has one).  /proc/PID/status
 * and capget(2) give the capabilities in the caller's own user
 * namespace: they count only as cap_capable() says.  */

/* PROC_USER_INIT_INO: the initial user namespace's inode, fixed.  */
#define USER_NS_INIT_INO 0xEFFFFFFDU

/* The owner of the callers' kernel IPC namespace and its ancestors.  */
static void read_user_chain(struct ipcns_nfd *nf, pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)tid);
	int ipc = open(path, O_RDONLY | O_CLOEXEC);
	int fd = ipc < 0 ? -1 : ioctl(ipc, NS_GET_USERNS);
	if (ipc >= 0)
		close(ipc);
	int n = 0;
	while (fd >= 0 && n < (int)ARRAY_SIZE(nf->user_ino)) {
		struct stat st;
		uid_t owner;
		if (fstat(fd, &st) < 0 || ioctl(fd, NS_GET_OWNER_UID, &owner) < 0)
			break;
		nf->user_ino[n] = st.st_ino;
		nf->user_owner[n] = owner;
		n++;
		int parent = ioctl(fd, NS_GET_PARENT);
		close(fd);
		fd = parent; /* -1 (EPERM) past the initial namespace */
	}
	if (fd >= 0)
		close(fd);
	/* The chain must end at the initial namespace.  */
	nf->nusers = n > 0 && nf->user_ino[n - 1] == USER_NS_INIT_INO ? n : -1;
}

/* The inode of the caller's user namespace, read once per call (the
 * thread is blocked in it: it cannot unshare or setns meanwhile), a cost
 * every call that asks pays (capabilities, IPC_STAT, IPC_SET), for no
 * event tells when a thread changes user namespace.  readlink of
 * /proc/TID/ns/user ("user:[INODE]") does not open the namespace's file
 * as stat does: half the cost (2-4 us against 4-9 us, measured on a busy
 * machine).  */
static int caller_user_ino(struct ncall *n, ino_t *ino)
{
	if (!n->have_userns) {
		char path[64], link[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)n->tid);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
		link[len] = '\0';
		char *end;
		if (strncmp(link, "user:[", 6) != 0)
			return -EIO;
		unsigned long long v = strtoull(link + 6, &end, 10);
		if (end == link + 6 || strcmp(end, "]") != 0)
			return -EIO;
		int ret = call_valid(n);
		if (ret < 0)
			return ret;
		n->user_ino = (ino_t)v;
		n->have_userns = true;
	}
	*ino = n->user_ino;
	return 0;
}

/* From the caller's effective capabilities in its own user namespace
 * (raw): those ns_capable(ipc_ns->user_ns) grants (*ns_caps), and
 * whether the caller is outside the initial user namespace, where
 * capable() grants nothing (*userns).  cap_capable(): the caller's own
 * namespace is the owner or an ancestor of it, or the caller created the
 * owner (or an ancestor) from that ancestor's parent.  */
static int caller_caps(struct ncall *n, uint64_t raw, uid_t euid, uint64_t *ns_caps, bool *userns)
{
	ino_t ino;
	int ret = caller_user_ino(n, &ino);
	if (ret < 0)
		return ret;
	*userns = ino != USER_NS_INIT_INO;
	if (!*userns) {
		*ns_caps = raw; /* the initial namespace is everyone's ancestor */
		return 0;
	}
	struct ipcns_nfd *nf = n->nf;
	if (nf->nusers == 0)
		read_user_chain(nf, n->tid);
	*ns_caps = 0;
	for (int i = 0; i < nf->nusers; i++) {
		if (nf->user_ino[i] == ino) {
			*ns_caps = raw;
			break;
		}
		if (i + 1 < nf->nusers && nf->user_ino[i + 1] == ino && nf->user_owner[i] == euid) {
			*ns_caps = ~0ULL;
			break;
		}
	}
	return 0;
}

static int op_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct ncall *n = ncall_of(c);
	int ret = call_status(n);
	if (ret < 0)
		return ret;
	tid_remember(n);
	*out = n->st.cred;
	ret = caller_caps(n, n->st.cred.cap_effective, n->st.cred.euid, &out->cap_effective, &out->userns);
	if (ret < 0)
		return ret;
	return call_valid(n);
}

static int op_ids(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct ncall *n = ncall_of(c);
	struct tid_ent e;
	if (tid_lookup(n->tid, &e) && e.have_ids) {
		out->euid = e.euid;
		out->egid = e.egid;
		out->fsgid = e.fsgid;
		return 0;
	}
	int ret = call_status(n);
	if (ret < 0)
		return ret;
	tid_remember(n);
	out->euid = n->st.cred.euid;
	out->egid = n->st.cred.egid;
	out->fsgid = n->st.cred.fsgid;
	return 0;
}

/* Capabilities change without a proc connector event (capset): read
 * them for every call that needs them, with capget(2) through libcap.  */
static int op_ids(struct ipcns_caller *c, struct ipcns_cred *out);

static int op_caps(struct ipcns_caller *c, uint64_t *eff, bool *userns)
{
	struct ncall *n = ncall_of(c);
	struct ipcns_cred ids;
	int ret = op_ids(c, &ids);
	if (ret < 0)
		return ret;
	cap_t caps = cap_get_pid(n->tid);
	if (!caps)
		return errno == ESRCH ? -ENOENT : -errno;
	uint64_t v = 0;
	for (int i = 0; i < 64 && cap_valid(i); i++) {
		cap_flag_value_t f;
		if (cap_get_flag(caps, i, CAP_EFFECTIVE, &f) == 0 && f == CAP_SET)
			v |= 1ULL << i;
	}
	cap_free(caps);
	ret = caller_caps(n, v, ids.euid, eff, userns);
	if (ret < 0)
		return ret;
	return call_valid(n);
}

/* ---- Ids in the caller's user namespace.  */

/* The inode of the daemon's own user namespace: ids read from /proc
 * (status, uid_map) are relative to it.  */
static ino_t own_user_ino(void)
{
	static ino_t ino;
	ino_t v = __atomic_load_n(&ino, __ATOMIC_RELAXED);
	struct stat st;
	if (v == 0 && stat("/proc/self/ns/user", &st) == 0) {
		v = st.st_ino;
		__atomic_store_n(&ino, v, __ATOMIC_RELAXED);
	}
	return v;
}

static int op_idmaps(struct ipcns_caller *c, struct ipcns_idmap *um, struct ipcns_idmap *gm)
{
	struct ncall *n = ncall_of(c);
	struct ipcns_nfd *nf = n->nf;
	struct ipcns_idmap *m[2] = { um, gm };
	ino_t ino;
	int ret = caller_user_ino(n, &ino);
	if (ret < 0)
		return ret;
	if (ino == own_user_ino())
		return 0;
	if (nf->nusers == 0)
		read_user_chain(nf, n->tid);
	bool owner = nf->nusers > 0 && ino == nf->user_ino[0];
	if (owner && nf->idmaps_cached) {
		for (int k = 0; k < 2; k++) {
			m[k]->n = nf->idmap_n[k];
			for (uint32_t i = 0; i < m[k]->n; i++) {
				m[k]->e[i].inside = nf->idmap_e[k][i][0];
				m[k]->e[i].outside = nf->idmap_e[k][i][1];
				m[k]->e[i].count = nf->idmap_e[k][i][2];
			}
		}
		return 1;
	}
	ret = ipcns_proc_idmap(n->tid, "uid_map", um);
	if (ret == 0)
		ret = ipcns_proc_idmap(n->tid, "gid_map", gm);
	if (ret == 0)
		ret = call_valid(n);
	if (ret < 0)
		return ret;
	/* A map not written yet (empty) may still be.  */
	if (owner && um->n && gm->n && um->n <= ARRAY_SIZE(nf->idmap_e[0]) && gm->n <= ARRAY_SIZE(nf->idmap_e[1])) {
		for (int k = 0; k < 2; k++) {
			nf->idmap_n[k] = m[k]->n;
			for (uint32_t i = 0; i < m[k]->n; i++) {
				nf->idmap_e[k][i][0] = m[k]->e[i].inside;
				nf->idmap_e[k][i][1] = m[k]->e[i].outside;
				nf->idmap_e[k][i][2] = m[k]->e[i].count;
			}
		}
		nf->idmaps_cached = true;
	}
	return 1;
}

static int op_in_group(struct ipcns_caller *c, gid_t gid)
{
	struct ncall *n = ncall_of(c);
	int ret = ipcns_proc_in_group(n->tid, gid);
	if (ret < 0)
		return ret == -ESRCH ? -ENOENT : ret;
	int valid = call_valid(n);
	return valid < 0 ? valid : ret;
}

static int op_pids(struct ipcns_caller *c, pid_t *host_tgid, pid_t *ns_tgid)
{
	struct ncall *n = ncall_of(c);
	struct tid_ent e;
	if (tid_lookup(n->tid, &e)) {
		*host_tgid = e.tgid;
		*ns_tgid = e.ns_tgid;
		return 0;
	}
	int ret = call_status(n);
	if (ret < 0)
		return ret;
	*host_tgid = n->st.tgid;
	*ns_tgid = n->st.ns_tgid;
	tid_remember(n);
	return 0;
}

/* Only a thread other than the main one costs a read of its status.  */
static int op_ns_tid(struct ipcns_caller *c, pid_t *ns_tid)
{
	struct ncall *n = ncall_of(c);
	pid_t host_tgid, ns_tgid;
	int ret = op_pids(c, &host_tgid, &ns_tgid);
	if (ret < 0)
		return ret;
	if (n->tid == host_tgid) {
		*ns_tid = ns_tgid;
		return 0;
	}
	ret = call_status(n);
	if (ret < 0)
		return ret;
	*ns_tid = n->st.ns_tid;
	return 0;
}

/* The pid namespace found for a thread the cache knows, unless the slot
 * was forgotten since it was looked up.  */
static void tid_note_pidns(pid_t tid, uint32_t gen, uint64_t ino)
{
	pthread_mutex_lock(&tidcache_lock);
	struct tid_ent *e = tid_slot(tid);
	if (e->tid == tid && e->gen == gen)
		e->pidns = ino;
	pthread_mutex_unlock(&tidcache_lock);
}

/* The caller in every pid namespace.  Usually free: the tid cache has
 * its depth and pid namespace, and a depth of at most 2 (the daemon's
 * namespace and the container's) needs no numbers but tgid and NStgid's
 * last; the chain of namespaces is cached by its innermost one
 * (procfs.c).  A cache miss costs the pid namespace's id (an open, an
 * ioctl and a close of /proc/TID/ns/pid) on top of the status read; a
 * deeper namespace a read of the whole NStgid.  */
static int op_pid_chain(struct ipcns_caller *c, bool thread, struct ipcns_pidchain *out)
{
	struct ncall *n = ncall_of(c);
	pid_t host_tgid, ns_tgid;
	uint32_t nlev = 0, gen = 0;
	uint64_t ino = n->pidns;
	bool cached = false, read_status = false, read_now;
	struct tid_ent e;
	int ret;

	if (!n->have_status && tid_lookup(n->tid, &e) && e.nlev) {
		host_tgid = e.tgid;
		ns_tgid = e.ns_tgid;
		nlev = e.nlev;
		gen = e.gen;
		cached = true;
		if (!ino)
			ino = e.pidns;
	}
	if (!cached || (thread && n->tid != host_tgid)) {
		read_status = !n->have_status;
		ret = call_status(n);
		if (ret < 0)
			return ret;
		host_tgid = n->st.tgid;
		ns_tgid = n->st.ns_tgid;
		nlev = n->st.nlev;
	}
	thread = thread && n->tid != host_tgid;
	if (nlev < 1 || nlev > IPCNS_PID_LEVELS)
		return -EIO;
	read_now = nlev > 2;
	out->n = nlev;
	if (nlev <= 2) {
		out->lv[0].nr = thread ? n->tid : host_tgid;
		out->lv[nlev - 1].nr = thread ? n->st.ns_tid : ns_tgid;
	} else {
		struct ipcns_proc_status st;
		struct ipcns_proc_pids pids;
		ret = ipcns_proc_status_pids(n->tid, &st, &pids);
		if (ret < 0)
			return ret == -ESRCH ? -ENOENT : ret;
		if (st.nlev != nlev)
			return -EIO;
		for (uint32_t i = 0; i < nlev; i++)
			out->lv[i].nr = thread ? pids.nspid[i] : pids.nstgid[i];
	}
	if (!ino) {
		ret = ipcns_proc_pidns_id(n->tid, &ino);
		if (ret < 0)
			return ret == -ESRCH ? -ENOENT : ret;
		read_now = true;
	}
	uint64_t ns[IPCNS_PID_LEVELS];
	ret = ipcns_pidns_chain(n->tid, ino, nlev, ns);
	if (ret < 0)
		return ret == -ESRCH ? -ENOENT : ret;
	/* What was read is the caller's only while its call is pending
	 * (call_status checked its own read).  */
	if (read_now) {
		ret = call_valid(n);
		if (ret < 0)
			return ret;
		if (cached && !n->pidns)
			tid_note_pidns(n->tid, gen, ino);
	}
	n->pidns = ino;
	if (read_status)
		tid_remember(n);
	for (uint32_t i = 0; i < nlev; i++)
		out->lv[i].ns = ns[i];
	return 0;
}

static int raw_read(struct ncall *n, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t r = process_vm_readv(n->tid, &local, 1, &remote, 1, 0);
	int err = r < 0 ? errno : 0;
	/* Read first, then check: data from a reused tid is never used.  */
	int ret = call_valid(n);
	if (ret < 0)
		return ret;
	if (r < 0 && err != EFAULT && err != ENOMEM)
		return err == ESRCH ? -ENOENT : -err;
	if (r != (ssize_t)len)
		return -EFAULT;
	return 0;
}

static int raw_write(struct ncall *n, uint64_t addr, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	/* Checked just before the write: the caller is blocked in the call
	 * and only a fatal signal can end it, after which the tid cannot be
	 * reused before the whole pid space has wrapped.  A thread we hold
	 * stopped (a 32-bit shmat's address written after its attach) is
	 * the caller still.  */
	int ret = n->remote.active ? 0 : call_valid(n);
	if (ret < 0)
		return ret;
	struct iovec local = { (void *)buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t r = process_vm_writev(n->tid, &local, 1, &remote, 1, 0);
	if (r < 0 && errno == ESRCH)
		return -ENOENT;
	if (r != (ssize_t)len)
		return -EFAULT;
	return 0;
}

static int raw_rw(void *arg, uint64_t addr, void *buf, size_t len, bool write)
{
	return write ? raw_write(arg, addr, buf, len) : raw_read(arg, addr, buf, len);
}

static int op_read(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len)
{
	struct ncall *n = ncall_of(c);
	if (n->compat)
		return ipcns_compat_rw(n->scratch, addr, buf, len, false, raw_rw, n);
	return raw_read(n, addr, buf, len);
}

static int op_write(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len)
{
	struct ncall *n = ncall_of(c);
	if (n->compat)
		return ipcns_compat_rw(n->scratch, addr, (void *)buf, len, true, raw_rw, n);
	return raw_write(n, addr, buf, len);
}

static int remote_start(struct ncall *n, int fd, int *remote_fd)
{
	int ret;
	if (n->remote.active)
		goto install;
	ret = ipcns_remote_seize(&n->remote, n->nf->fd, n->id, n->tid);
	if (ret == -EPERM) {
		/* A debugger holds the thread: we cannot run the mmap in it.  */
		nlog(n->nf, "pid %d is being traced by another process: cannot attach a segment, answering EPERM",
		     (int)n->tid);
		return -EPERM;
	}
	if (ret < 0)
		return ret;
	n->remote.compat = n->compat;
install:
	if (fd >= 0) {
		/* Only while the notification is unanswered can ADDFD reach
		 * the caller, so it comes before the answer.  */
		if (n->remote.active)
			return -EINVAL;
		ret = ipcns_seccomp_addfd(n->nf->fd, n->id, fd, true);
		if (ret < 0)
			return ret; /* released once the error is answered */
		*remote_fd = ret;
	}
	if (!n->remote.active) {
		commit(n->nf, n->id, n->tid, 0, false);
		ret = ipcns_remote_answer(&n->remote);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int op_vma_at(struct ipcns_caller *c, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino);

/* Close the segment's fd we installed in the caller.  The container's own
 * seccomp filter may refuse close (ERRNO, TRAP): then close_range.  */
static void remote_close(struct ncall *n, int rfd)
{
	long ca[6] = { rfd, 0, 0, 0, 0, 0 };
	if (ipcns_remote_syscall(&n->remote, n->compat ? NR32_CLOSE : SYS_close, ca) == 0)
		return;
	long cr[6] = { rfd, rfd, 0, 0, 0, 0 };
	if (n->remote.active &&
	    ipcns_remote_syscall(&n->remote, n->compat ? NR32_CLOSE_RANGE : SYS_close_range, cr) == 0)
		return;
	if (n->remote.active)
		nlog(n->nf, "pid %d: could not close the segment's fd %d it was lent for shmat (its seccomp filter "
			    "refuses close and close_range)",
		     (int)n->tid, rfd);
}

static int op_shm_map(struct ipcns_caller *c, int fd, uint64_t addr, uint64_t len, int prot, int flags,
		      uint64_t *mapped)
{
	struct ncall *n = ncall_of(c);
	int rfd = -1;
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	/* A 32-bit caller's mmap2 cannot be given more than its task size
	 * (the compat TASK_SIZE, 4 GiB less two pages): ENOMEM, as
	 * get_unmapped_area() answers.  */
	if (n->compat && (len > NR32_TASK_SIZE || ((len + ps - 1) & ~(ps - 1)) > NR32_TASK_SIZE))
		return -ENOMEM;
	int ret = remote_start(n, fd, &rfd);
	if (ret < 0)
		return ret;
	long a[6] = { (long)addr, (long)len, prot, flags, rfd, 0 };
	/* i386's mmap2 (its offset in pages, 0 here), entered in compat
	 * mode: the address is below 4 GiB as a 32-bit mmap places it.  */
	long r = ipcns_remote_syscall(&n->remote, n->compat ? NR32_MMAP2 : SYS_mmap, a);
	remote_close(n, rfd);
	if (!n->remote.active)
		return -ENOENT; /* the caller died */
	if (r == -ENOSYS && n->compat && !n->remote.site) {
		nlog(n->nf, "pid %d: no int $0x80 instruction to run the mmap of a 32-bit shmat with (none before "
			    "its call's return address, none in its vDSO): answering ENOMEM",
		     (int)n->tid);
		return -ENOMEM;
	}
	if (r == -ENOSYS) {
		nlog(n->nf, "pid %d: its seccomp filter trapped the mmap of shmat: answering ENOMEM", (int)n->tid);
		return -ENOMEM;
	}
	if (r < 0 && r > -4096)
		return (int)r;
	/* The result is the caller's register: a container's own filter
	 * (SECCOMP_RET_USER_NOTIF to its own supervisor, say) can make it
	 * anything.  Only a mapping of this segment's file that starts at
	 * it, page-aligned and whole, is an attach.  */
	uint64_t alen = (len + ps - 1) & ~(ps - 1);
	struct stat fst;
	dev_t dev;
	ino_t ino;
	if (((uint64_t)r & (ps - 1)) || (uint64_t)r + alen < (uint64_t)r || fstat(fd, &fst) < 0 ||
	    op_vma_at(c, (uint64_t)r, (uint64_t)r + alen, &dev, &ino) < 0 || dev != fst.st_dev ||
	    ino != fst.st_ino) {
		nlog(n->nf, "pid %d: the mmap of shmat returned %#lx, not a mapping of the segment (a seccomp filter "
			    "of the container?): answering ENOMEM",
		     (int)n->tid, (unsigned long)r);
		return -ENOMEM;
	}
	*mapped = (uint64_t)r;
	return 0;
}

static int op_shm_unmap(struct ipcns_caller *c, uint64_t addr, uint64_t len)
{
	struct ncall *n = ncall_of(c);
	int ret = remote_start(n, -1, NULL);
	if (ret < 0)
		return ret;
	long a[6] = { (long)addr, (long)len, 0, 0, 0, 0 };
	long r = ipcns_remote_syscall(&n->remote, n->compat ? NR32_MUNMAP : SYS_munmap, a);
	return r < 0 ? (int)r : 0;
}

static int op_maps(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg)
{
	struct ncall *n = ncall_of(c);
	pid_t tgid, ns_tgid;
	int ret = op_pids(c, &tgid, &ns_tgid);
	if (ret < 0)
		return ret;
	ret = ipcns_proc_maps(tgid, cb, arg);
	if (ret < 0)
		return ret == -ESRCH ? -ENOENT : ret;
	return call_valid(n);
}

/* One stat of /proc/PID/map_files/START-END instead of reading all of
 * /proc/PID/maps (4 us against 25 us and more).  */
static int op_vma_at(struct ipcns_caller *c, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	struct ncall *n = ncall_of(c);
	pid_t tgid, ns_tgid;
	char path[96];
	struct stat st;
	int ret = op_pids(c, &tgid, &ns_tgid);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)tgid, (unsigned long long)start,
		 (unsigned long long)end);
	if (stat(path, &st) < 0)
		return -ENOENT;
	/* A thread we hold stopped is the caller still; once its call is
	 * answered the notification id no longer proves it.  */
	ret = n->remote.active ? 0 : call_valid(n);
	if (ret < 0)
		return ret;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/* The caller's soft RLIMIT_MEMLOCK.  prlimit(2) on a process of another
 * uid needs CAP_SYS_RESOURCE; /proc/PID/limits does not.  */
static int op_memlock(struct ipcns_caller *c, uint64_t *limit)
{
	struct ncall *n = ncall_of(c);
	pid_t tgid, ns_tgid;
	char path[64], line[256];
	int ret = op_pids(c, &tgid, &ns_tgid);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)tgid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ENOENT : -errno;
	ret = -EIO;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Max locked memory", 17))
			continue;
		char soft[32];
		if (sscanf(line + 17, "%31s", soft) == 1) {
			*limit = strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : UINT64_MAX;
			ret = 0;
		}
		break;
	}
	fclose(f);
	if (ret == 0)
		ret = call_valid(n);
	return ret;
}

static int op_watch_exit(struct ipcns_caller *c)
{
	struct ncall *n = ncall_of(c);
	pid_t tgid, ns_tgid;
	int ret = op_pids(c, &tgid, &ns_tgid);
	if (ret < 0)
		return ret;
	if (!n->nf->ops || !n->nf->ops->watch_exit)
		return 0;
	return n->nf->ops->watch_exit(n->nf, tgid);
}

/* ---- Parked calls.  */

/* What malloc takes for one (its size word, 16-byte granules).  */
#define PWAITER_COST ((sizeof(struct ipcns_pwaiter) + sizeof(size_t) + 15) & ~(size_t)15)
#define REC_COST ((sizeof(struct ipcns_park_rec) + sizeof(size_t) + 15) & ~(size_t)15)

/* Ghosts kept per notify fd; beyond, those of exited threads are
 * dropped, then any (its thread's restart is then served as a new
 * call).  */
#define GHOSTS_MAX 1024

static struct ipcns_park_rec **park_bucket(struct ipcns_nfd *nf, pid_t tid)
{
	return &nf->parks[(uint32_t)tid & (nf->parks_cap - 1)];
}

static int park_add(struct ipcns_nfd *nf, struct ipcns_park_rec *rec)
{
	if (nf->nparks + 1 > nf->parks_cap / 2) {
		uint32_t ncap = nf->parks_cap ? nf->parks_cap * 2 : 64;
		struct ipcns_park_rec **nb = calloc(ncap, sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		for (uint32_t i = 0; i < nf->parks_cap; i++) {
			while (nf->parks[i]) {
				struct ipcns_park_rec *r = nf->parks[i];
				nf->parks[i] = r->next;
				r->next = nb[(uint32_t)r->tid & (ncap - 1)];
				nb[(uint32_t)r->tid & (ncap - 1)] = r;
			}
		}
		free(nf->parks);
		nf->parks = nb;
		nf->parks_cap = ncap;
	}
	struct ipcns_park_rec **b = park_bucket(nf, rec->tid);
	rec->next = *b;
	*b = rec;
	nf->nparks++;
	return 0;
}

static void park_unlink(struct ipcns_nfd *nf, struct ipcns_park_rec *rec)
{
	for (struct ipcns_park_rec **pp = park_bucket(nf, rec->tid); *pp; pp = &(*pp)->next) {
		if (*pp == rec) {
			*pp = rec->next;
			nf->nparks--;
			if (!rec->pw)
				nf->nghosts--;
			return;
		}
	}
}

/* Records are charged to the namespace's memory budget like the parked
 * calls they index; a ghost stays charged until its thread calls again.  */
static void rec_free(struct ipcns_nfd *nf, struct ipcns_park_rec *rec)
{
	ipcns_ns_mem_uncharge(nf->ns, REC_COST);
	free(rec);
}

static void park_forget(struct ipcns_nfd *nf, struct ipcns_park_rec *rec)
{
	park_unlink(nf, rec);
	rec_free(nf, rec);
	if (nf->dead && nf->nparks == 0) {
		free(nf->parks);
		nf->parks = NULL;
		nf->parks_cap = 0;
	}
}

static void park_prune(struct ipcns_nfd *nf, bool any)
{
	for (uint32_t i = 0; i < nf->parks_cap && nf->nghosts > GHOSTS_MAX / 2; i++) {
		struct ipcns_park_rec *r = nf->parks[i], *next;
		for (; r; r = next) {
			next = r->next;
			if (!r->pw && (any || (kill(r->tid, 0) < 0 && errno == ESRCH)))
				park_forget(nf, r);
		}
	}
}

static void park_ghost(struct ipcns_nfd *nf, struct ipcns_park_rec *rec)
{
	rec->pw = NULL;
	nf->nghosts++;
	if (nf->nghosts > GHOSTS_MAX) {
		park_prune(nf, false);
		park_prune(nf, true);
	}
}

/* The record of thread tid's earlier call, taken out of the index.  */
static struct ipcns_park_rec *park_take(struct ipcns_nfd *nf, pid_t tid)
{
	for (struct ipcns_park_rec **pp = park_bucket(nf, tid); *pp; pp = &(*pp)->next) {
		struct ipcns_park_rec *r = *pp;
		if (r->tid != tid)
			continue;
		*pp = r->next;
		nf->nparks--;
		if (!r->pw)
			nf->nghosts--;
		r->next = NULL;
		return r;
	}
	return NULL;
}

static bool w_alive(struct ipcns_waiter *w)
{
	struct ipcns_pwaiter *pw = (struct ipcns_pwaiter *)w;
	return call_valid(&pw->call) == 0;
}

static int w_deliver(struct ipcns_waiter *w, long ret)
{
	struct ipcns_pwaiter *pw = (struct ipcns_pwaiter *)w;
	struct ipcns_nfd *nf = pw->call.nf;
	if (nf->dead)
		return -ENOENT;
	commit(nf, pw->call.id, pw->call.tid, ret, true);
	int sret = ret < 0 ? ipcns_seccomp_send(nf->fd, pw->call.id, 0, (int)ret)
			   : ipcns_seccomp_send(nf->fd, pw->call.id, ret, 0);
	pw->delivered = sret == 0;
	return sret;
}

static void w_release(struct ipcns_waiter *w)
{
	struct ipcns_pwaiter *pw = (struct ipcns_pwaiter *)w;
	struct ipcns_nfd *nf = pw->call.nf;
	if (pw->timer_slot >= 0 && nf->ops && nf->ops->disarm_timer)
		nf->ops->disarm_timer(nf, w);
	nf->nwaiters--;
	ipcns_ns_mem_uncharge(nf->ns, PWAITER_COST);
	struct ipcns_park_rec *rec = pw->rec;
	if (rec) {
		/* Answered, or the fd is gone: forget the call.  Dropped
		 * unanswered: its thread was interrupted, and may come back
		 * with the same call (restarted by the kernel).  */
		if (pw->delivered || nf->dead)
			park_forget(nf, rec);
		else
			park_ghost(nf, rec);
	}
	free(pw);
}

static const struct ipcns_waiter_ops pwaiter_ops = {
	.alive = w_alive,
	.deliver = w_deliver,
	.release = w_release,
};

static int op_answer(struct ipcns_caller *c, long ret)
{
	struct ncall *n = ncall_of(c);
	if (n->answered || n->remote.seized || n->remote.active)
		return -EINVAL;
	n->answered = true;
	if (n->nf->dead)
		return -ENOENT;
	commit(n->nf, n->id, n->tid, ret, true);
	return ret < 0 ? ipcns_seccomp_send(n->nf->fd, n->id, 0, (int)ret) : ipcns_seccomp_send(n->nf->fd, n->id, ret, 0);
}

static const struct ipcns_caller_ops ncall_ops;

static struct ipcns_waiter *op_park(struct ipcns_caller *c)
{
	struct ncall *n = ncall_of(c);
	/* A parked call is held for the namespace: charged to its memory
	 * budget, over which the call gets ENOMEM (the core's answer when
	 * it cannot park).  */
	if (ipcns_ns_mem_charge(n->nf->ns, PWAITER_COST) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	struct ipcns_pwaiter *pw = calloc(1, sizeof(*pw));
	if (!pw) {
		ipcns_ns_mem_uncharge(n->nf->ns, PWAITER_COST);
		return NULL;
	}
	pw->call = *n;
	pw->call.c.ops = &ncall_ops;
	memset(&pw->call.remote, 0, sizeof(pw->call.remote));
	pw->call.parked = NULL;
	pw->call.data = NULL;
	pw->call.scratch = NULL;
	pw->w.ops = &pwaiter_ops;
	pw->w.caller = &pw->call.c;
	pw->w.deadline = -1;
	pw->timer_slot = -1;
	ipcns_sigwatch_poll(n->nf->sigwatch);
	/* Without its record (no memory) the call is served as before
	 * when its thread comes back restarted: it waits again.  */
	struct ipcns_park_rec *rec = NULL;
	if (n->data && ipcns_ns_mem_charge(n->nf->ns, REC_COST) == 0) {
		rec = malloc(sizeof(*rec));
		if (!rec)
			ipcns_ns_mem_uncharge(n->nf->ns, REC_COST);
	}
	if (rec) {
		*rec = (struct ipcns_park_rec){ .pw = pw, .tid = n->tid, .id = n->id, .t0 = n->t0, .data = *n->data };
		if (park_add(n->nf, rec) < 0)
			rec_free(n->nf, rec);
		else
			pw->rec = rec;
	}
	n->nf->nwaiters++;
	n->parked = pw;
	return &pw->w;
}

/* ---- Parked calls across a restart: what names one (its notification
 * and thread), and a live waiter again from that.  */
void ipcns_waiter_ident(struct ipcns_waiter *w, uint64_t *id, pid_t *tid)
{
	struct ipcns_pwaiter *pw = (struct ipcns_pwaiter *)w;
	*id = pw->call.id;
	*tid = pw->call.tid;
}

bool ipcns_waiter_park_info(struct ipcns_waiter *w, struct ipcns_park_info *info)
{
	struct ipcns_pwaiter *pw = (struct ipcns_pwaiter *)w;
	if (!pw->rec)
		return false;
	info->t0 = pw->rec->t0;
	info->data = pw->rec->data;
	return true;
}

struct ipcns_waiter *ipcns_nfd_waiter_restore(struct ipcns_nfd *nf, uint64_t id, pid_t tid,
					      const struct ipcns_park_info *info)
{
	/* Only a call still waiting for its answer: one interrupted or
	 * killed while no daemon ran is gone (its thread, if it restarted
	 * the call, sends a new notification).  With its record, it stays
	 * a ghost that decides that restart as if this daemon had parked
	 * it (restarted()): EINTR after a handler or, for a semop, a stop,
	 * seen by the signal watch kept across the restart.  Charged to
	 * the namespace once it exists (ipcns_nfd_restored).  */
	bool valid = !nf->dead && ipcns_seccomp_id_valid(nf->fd, id) == 0;
	struct ipcns_park_rec *rec = NULL;
	if (info && !nf->dead && (rec = malloc(sizeof(*rec)))) {
		*rec = (struct ipcns_park_rec){ .tid = tid, .id = id, .t0 = info->t0, .data = info->data };
		if (park_add(nf, rec) < 0) {
			free(rec);
			rec = NULL;
		}
	}
	struct ipcns_pwaiter *pw = valid ? calloc(1, sizeof(*pw)) : NULL;
	if (!pw) {
		if (rec) {
			nf->nghosts++;
			nf->restored_recs++;
		}
		return NULL;
	}
	pw->call = (struct ncall){ .c = { .ops = &ncall_ops }, .nf = nf, .id = id, .tid = tid };
	/* A 32-bit caller's waiting call (its msgbuf is a tagged address in
	 * the core's record): its record says so, or the thread, blocked in
	 * it, shows an i386 number, which no x86_64 System V IPC call has.  */
	pw->call.compat = nf->arch == AUDIT_ARCH_X86_64 &&
			  (info ? info->data.arch == AUDIT_ARCH_I386
				: ipcns_compat_is_ipc_nr(ipcns_thread_syscall(tid, tid)));
	pw->w.ops = &pwaiter_ops;
	pw->w.caller = &pw->call.c;
	pw->w.deadline = -1;
	pw->timer_slot = -1;
	if (rec) {
		rec->pw = pw;
		pw->rec = rec;
		nf->restored_recs++;
	}
	nf->nwaiters++;
	nf->restored_waiters++;
	return &pw->w;
}

void ipcns_nfd_restored(struct ipcns_nfd *nf)
{
	if (nf->ns)
		ipcns_ns_mem_force(nf->ns, nf->restored_waiters * PWAITER_COST + nf->restored_recs * REC_COST);
	nf->restored_waiters = nf->restored_recs = 0;
}

static const struct ipcns_caller_ops ncall_ops = {
	.cred = op_cred,
	.ids = op_ids,
	.caps = op_caps,
	.pids = op_pids,
	.ns_tid = op_ns_tid,
	.pid_chain = op_pid_chain,
	.in_group = op_in_group,
	.read = op_read,
	.write = op_write,
	.shm_map = op_shm_map,
	.shm_unmap = op_shm_unmap,
	.maps = op_maps,
	.vma_at = op_vma_at,
	.memlock_limit = op_memlock,
	.idmaps = op_idmaps,
	.park = op_park,
	.watch_exit = op_watch_exit,
	.answer = op_answer,
};

int *ipcns_waiter_timer_slot(struct ipcns_waiter *w)
{
	return &((struct ipcns_pwaiter *)w)->timer_slot;
}

struct ipcns_nfd *ipcns_waiter_nfd(struct ipcns_waiter *w)
{
	return ((struct ipcns_pwaiter *)w)->call.nf;
}

/* ---- Decoding.  */

void ipcns_nfd_init(struct ipcns_nfd *nf, int fd, struct ipcns_ns *ns, const struct ipcns_nfd_ops *ops, void *owner)
{
	memset(nf, 0, sizeof(*nf));
	nf->fd = fd;
	nf->ns = ns;
	nf->ops = ops;
	nf->owner = owner;
	nf->arch = NATIVE_ARCH;
	int ret = ipcns_sigwatch_start();
	/* Without the front end's choice (the crun plugin), the host's
	 * watch, open before the first call can park so that no handler
	 * goes unseen.  */
	if (ret == 0 && !(ops && ops->sigwatch)) {
		nf->sigwatch = ipcns_sigwatch_host();
		nf->sigwatch_chosen = true;
	}
	static bool told;
	if (ret < 0 && !__atomic_exchange_n(&told, true, __ATOMIC_RELAXED))
		nlog(nf, "no signal:signal_deliver watch (%s): a msgsnd or msgrcv restarted after a signal handler "
			 "with SA_RESTART waits again instead of failing with EINTR", strerror(-ret));
}

/* Arguments are truncated as the kernel's SYSCALL_DEFINE prototypes
 * truncate them: an int is the low 32 bits of the register.  */
static long dispatch(struct ipcns_ns *ns, struct ipcns_caller *c, int nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_shmget:
		return ipcns_shmget(ns, c, (int32_t)a[0], a[1], (int)a[2]);
	case SYS_shmat:
		return ipcns_shmat(ns, c, (int)a[0], a[1], (int)a[2]);
	case SYS_shmdt:
		return ipcns_shmdt(ns, c, a[0]);
	case SYS_shmctl:
		return ipcns_shmctl(ns, c, (int)a[0], (int)a[1], a[2]);
	case SYS_semget:
		return ipcns_semget(ns, c, (int32_t)a[0], (int)a[1], (int)a[2]);
	case SYS_semop:
		return ipcns_semtimedop(ns, c, (int)a[0], a[1], (uint32_t)a[2], 0);
	case SYS_semtimedop:
		return ipcns_semtimedop(ns, c, (int)a[0], a[1], (uint32_t)a[2], a[3]);
	case SYS_semctl:
		return ipcns_semctl(ns, c, (int)a[0], (int)a[1], (int)a[2], a[3]);
	case SYS_msgget:
		return ipcns_msgget(ns, c, (int32_t)a[0], (int)a[1]);
	case SYS_msgsnd:
		return ipcns_msgsnd(ns, c, (int)a[0], a[1], a[2], (int)a[3]);
	case SYS_msgrcv:
		return ipcns_msgrcv(ns, c, (int)a[0], a[1], a[2], (int64_t)a[3], (int)a[4]);
	case SYS_msgctl:
		return ipcns_msgctl(ns, c, (int)a[0], (int)a[1], a[2]);
	case SYS_remap_file_pages:
		return ipcns_shm_remap(ns, c, a[0], a[1], a[2], a[3]);
	default:
		return -ENOSYS;
	}
}

/* How long after its handler's delivery a restart of a call we never
 * received is recognised: the kernel restarts the call as soon as the
 * handler returns.  */
#define RESTART_WINDOW_NS (200 * 1000000LL)
/* And after a stop: the call is restarted at the continue, which may come
 * much later; a semop restarted after a stop fails with EINTR.  */
#define STOP_WINDOW_NS (3600 * 1000000000LL)

/* The number of arguments that make two calls the same; *sem for a
 * semop or semtimedop.  */
static int call_nargs(const struct seccomp_data *d, bool *sem)
{
	int n = ipcns_compat_nargs(d, sem);
	if (n >= 0)
		return n;
	*sem = d->nr == SYS_semop || d->nr == SYS_semtimedop;
	switch (d->nr) {
	case SYS_semop:
		return 3;
	case SYS_semtimedop:
	case SYS_msgsnd:
		return 4;
	case SYS_msgrcv:
		return 5;
	default:
		return 0;
	}
}

/* Thread rec->tid calls again while its earlier call was parked: that
 * call ended without our answer, so a signal interrupted the wait.
 * seccomp ends an interrupted wait with -ERESTARTSYS: the kernel restarts
 * the call after a stop (SIGSTOP, a freezer, a ptrace stop) and after a
 * handler with SA_RESTART; after a handler without it the caller got
 * EINTR and this is a new call.  Linux's semop and semtimedop end with
 * EINTR whenever a signal woke them (a stop included, signal(7)); msgsnd
 * and msgrcv return -ERESTARTNOHAND: restarted after a stop, EINTR after
 * any handler.  -EINTR when this call is such a restart that Linux would
 * have ended with EINTR, else 0.  */
/* Why ipcns_sigwatch_first could not say, for the log.  */
static const char *unknown_why(int err)
{
	switch (err) {
	case -EIO:
		return "a ring of its signal watch overflowed (deliveries in its cgroup faster than they were drained)";
	case -ESTALE:
		return "its history was evicted from its signal watch by other threads' deliveries";
	case -EAGAIN:
		return "its signal watch opened after the call";
	case -ENOTSUP:
		return "no signal watch";
	default:
		return strerror(-err);
	}
}

static int restart_verdict(struct ipcns_nfd *nf, const struct ipcns_park_rec *rec, const struct seccomp_data *d)
{
	bool sem;
	int nargs = call_nargs(d, &sem);
	if (!nargs || rec->data.nr != d->nr || rec->data.arch != d->arch ||
	    rec->data.instruction_pointer != d->instruction_pointer ||
	    memcmp(rec->data.args, d->args, (size_t)nargs * sizeof(d->args[0])))
		return 0;
	int first = ipcns_sigwatch_first(nf->sigwatch, rec->tid, rec->t0);
	switch (first) {
	case IPCNS_SIG_RESTART:
		return -EINTR;
	case IPCNS_SIG_NORESTART:
		return 0;
	case IPCNS_SIG_NONE:
		return sem ? -EINTR : 0;
	default:
		/* Unknown: a semop ends with EINTR either way unless the
		 * caller saw EINTR already; a msgsnd or msgrcv is served
		 * again.  */
		if (nf->unknown_restarts++ % 1000 == 0)
			nlog(nf, "pid %d: restarted syscall %d: whether a signal handler ran is unknown: %s (%llu times)",
			     (int)rec->tid, d->nr, unknown_why(first), (unsigned long long)nf->unknown_restarts);
		return sem ? -EINTR : 0;
	}
}

/* The fd's first call: its callers' signal watch, which may open now,
 * after the call was received at *t0.  No handler can have run in the
 * caller meanwhile if the call still waits after the watch opened (a
 * delivery ends the wait first, and the kernel then drops the
 * notification): deliveries are seen from *t0 moved to the opening.  */
static void choose_sigwatch(struct ipcns_nfd *nf, const struct seccomp_notif *req, int64_t *t0)
{
	nf->sigwatch_chosen = true;
	nf->sigwatch = nf->ops && nf->ops->sigwatch ? nf->ops->sigwatch(nf, (pid_t)req->pid) : ipcns_sigwatch_host();
	if (nf->sigwatch && ipcns_sigwatch_since(nf->sigwatch) > *t0 && ipcns_seccomp_id_valid(nf->fd, req->id) == 0)
		*t0 = ipcns_sigwatch_since(nf->sigwatch);
}

/* A new notification from a thread with a record: withdraw the earlier
 * call (its waiter, still queued in the core unless a sweep or a wake-up
 * dropped it already) and say whether this one is answered EINTR.  */
static int restarted(struct ipcns_nfd *nf, struct ipcns_park_rec *rec, const struct seccomp_data *d)
{
	if (rec->pw && ipcns_seccomp_id_valid(nf->fd, rec->id) == 0) {
		/* Still waiting: not this thread's earlier call after all
		 * (cannot happen; keep it).  */
		if (park_add(nf, rec) < 0) {
			rec->pw->rec = NULL;
			rec_free(nf, rec);
		}
		return 0;
	}
	int verdict = restart_verdict(nf, rec, d);
	if (rec->pw) {
		struct ipcns_pwaiter *pw = rec->pw;
		pw->rec = NULL;
		ipcns_waiter_expire(nf->ns, &pw->w); /* not alive: dropped, not answered */
	}
	rec_free(nf, rec);
	return verdict;
}

int ipcns_nfd_handle(struct ipcns_nfd *nf, struct seccomp_notif *req)
{
	struct ncall n = { .c = { .ops = &ncall_ops }, .nf = nf, .id = req->id, .tid = (pid_t)req->pid,
			   .data = &req->data };
	long ret;

	nf->handled++;
	n.t0 = nf->recv_ns ? nf->recv_ns : ipcns_mono_ns();
	nf->recv_ns = 0;
	if (!nf->sigwatch_chosen)
		choose_sigwatch(nf, req, &n.t0);
	struct ipcns_park_rec *rec = nf->nparks ? park_take(nf, n.tid) : NULL;
	int verdict = rec ? restarted(nf, rec, &req->data) : 0;
	/* A signal that ended the wait before we received the call left no
	 * record: a handler with SA_RESTART that interrupted a system call
	 * at this very instruction a moment ago marks this call as its
	 * restart, and so does, for a semop, a stop the thread took there.  */
	bool sem;
	if (!rec && call_nargs(&req->data, &sem) &&
	    ipcns_sigwatch_restarted(nf->sigwatch, n.tid, req->data.instruction_pointer, n.t0, RESTART_WINDOW_NS,
				     sem ? STOP_WINDOW_NS : 0))
		verdict = -EINTR;
	if (verdict == -EINTR) {
		nf->eintr++;
		int sret = ipcns_seccomp_send(nf->fd, req->id, 0, -EINTR);
		return sret == -ENOENT ? 0 : sret;
	}
	struct ipcns_compat_scratch scratch;
	if (req->data.arch == AUDIT_ARCH_I386 && nf->arch == AUDIT_ARCH_X86_64) {
		/* A 32-bit caller, served as Linux's compat layer serves it.  */
		n.compat = true;
		n.scratch = &scratch;
		ret = ipcns_compat_call(nf->ns, &n.c, &scratch, &req->data);
	} else if (req->data.arch == AUDIT_ARCH_ARM && req->data.nr == 253) {
		/* remap_file_pages of an arm caller on arm64: only a segment's
		 * memfd mapped by our shmat is ours to judge, and it has
		 * none.  */
		ret = IPCNS_CONTINUE;
	} else if (req->data.arch != nf->arch) {
		/* Another architecture's caller (arm on arm64): its structures
		 * differ and we do not decode them (spec/compatibility.md).  */
		nlog(nf, "pid %d: syscall %d from a non-native architecture 0x%x: ENOSYS", (int)req->pid,
		     req->data.nr, req->data.arch);
		ret = -ENOSYS;
	} else {
		ret = dispatch(nf->ns, &n.c, req->data.nr, (const uint64_t *)req->data.args);
	}
	if (ret == IPCNS_ANSWERED || n.answered)
		return 0;
	if (ret == IPCNS_CONTINUE && !n.remote.active) {
		/* remap_file_pages outside a removed segment's last attach:
		 * the kernel runs it, exactly as natively.  CONTINUE is safe
		 * here (seccomp_unotify(2)'s warning is about a supervisor
		 * that checks memory the caller can change after the check):
		 * all the call can do is map again a file the caller has
		 * mapped already, which it may do itself with mmap.  */
		int sret = ipcns_seccomp_continue(nf->fd, req->id);
		ipcns_remote_release(&n.remote);
		return sret == -ENOENT ? 0 : sret;
	}
	if (ret == IPCNS_PARKED) {
		if (n.parked && n.parked->w.deadline >= 0 && nf->ops && nf->ops->arm_timer)
			nf->ops->arm_timer(nf, &n.parked->w);
		return 0;
	}
	if (n.remote.active) {
		/* Already answered; the result goes in its registers.  */
		ipcns_remote_end(&n.remote, ret);
		return 0;
	}
	commit(nf, req->id, (pid_t)req->pid, ret, true);
	int sret = ret < 0 ? ipcns_seccomp_send(nf->fd, req->id, 0, (int)ret)
			   : ipcns_seccomp_send(nf->fd, req->id, ret, 0);
	/* A thread seized but never stopped (the call failed before its
	 * answer) is let go now that it has its answer.  */
	ipcns_remote_release(&n.remote);
	if (sret == -ENOENT)
		return 0; /* the caller went away meanwhile */
	if (sret < 0)
		nf->errors++;
	return sret;
}

int ipcns_nfd_handle_one(struct ipcns_nfd *nf)
{
	struct seccomp_notif req;
	/* A signal that interrupts the call after its receipt is delivered
	 * after this time (restart_verdict).  */
	nf->recv_ns = ipcns_mono_ns();
	int ret = ipcns_seccomp_recv(nf->fd, &req);
	if (ret == -ENOENT || ret == -EINTR || ret == -EAGAIN)
		return -EAGAIN;
	if (ret < 0)
		return -ENOTCONN;
	return ipcns_nfd_handle(nf, &req);
}

void ipcns_nfd_hangup(struct ipcns_nfd *nf)
{
	nf->dead = true;
	ipcns_ns_sweep(nf->ns);
	/* What is left are ghosts, and calls the core still holds (their
	 * release frees their records).  */
	for (uint32_t i = 0; i < nf->parks_cap; i++) {
		struct ipcns_park_rec *r = nf->parks[i], *next;
		for (; r; r = next) {
			next = r->next;
			if (!r->pw)
				park_forget(nf, r);
		}
	}
	if (nf->nparks == 0) {
		free(nf->parks);
		nf->parks = NULL;
		nf->parks_cap = 0;
	}
}
