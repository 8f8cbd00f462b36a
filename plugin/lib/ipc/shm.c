/* SPDX-License-Identifier: MIT */
/* System V shared memory, after Linux's ipc/shm.c.
 *
 * A segment is a sealed memfd named SYSV<key>.  shmat maps it into the
 * caller through caller->ops->shm_map (ADDFD plus a remote mmap in ipcnsd);
 * the daemon never touches a page, so memory is charged to the container.
 * Who maps which segment (shm_nattch) is shm_attach.c's.  */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

#include "shm.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26
#endif
#define SHM_HUGE_MASK 0x3f
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif

/* The kernel's shmid64_ds and shminfo64/shm_info on 64-bit architectures;
 * glibc's struct shmid_ds, shminfo and shm_info have the same layout.  */
struct ipcns_shmid64_ds {
	struct ipcns_ipc64_perm shm_perm;
	uint64_t shm_segsz;
	int64_t shm_atime, shm_dtime, shm_ctime;
	int32_t shm_cpid, shm_lpid;
	uint64_t shm_nattch;
	uint64_t unused4, unused5;
};
_Static_assert(sizeof(struct ipcns_shmid64_ds) == sizeof(struct shmid_ds), "shmid_ds layout");
_Static_assert(offsetof(struct ipcns_shmid64_ds, shm_nattch) == offsetof(struct shmid_ds, shm_nattch),
	       "shmid_ds layout");
struct ipcns_shminfo64 {
	uint64_t shmmax, shmmin, shmmni, shmseg, shmall, unused[4];
};
_Static_assert(sizeof(struct ipcns_shminfo64) == sizeof(struct shminfo), "shminfo layout");
struct ipcns_shm_info {
	int32_t used_ids;
	uint64_t shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes;
};
_Static_assert(sizeof(struct ipcns_shm_info) == sizeof(struct shm_info), "shm_info layout");

/* Make the segment's file immutable, or (on) let it be changed again.
 * An immutable inode refuses every open for writing with EPERM,
 * whatever the opener's capabilities (inode_permission's IS_IMMUTABLE
 * check comes before the DAC checks CAP_DAC_OVERRIDE overrides), while
 * the files already open for writing (ours, and the dups of it ADDFD
 * installs for read-write attaches) keep mapping it writable.  shmem has
 * the flag since Linux 6.0; hugetlbfs has none (ENOTTY), and a daemon
 * without CAP_LINUX_IMMUTABLE (the crun plugin, rootless) cannot set it
 * (EPERM): those files are guarded by their owner and mode 0 alone
 * (spec/security.md).  */
int shm_file_immutable(int fd, bool on)
{
	/* The request numbers say long, the kernel moves an int: a zeroed
	 * long-sized buffer keeps both (and valgrind, which reads the
	 * declared size) right.  */
	union {
		int i;
		long l;
	} flags = {.l = 0}, want = {.l = 0};
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	want.i = on ? flags.i | FS_IMMUTABLE_FL : flags.i & ~FS_IMMUTABLE_FL;
	if (want.i != flags.i && ioctl(fd, FS_IOC_SETFLAGS, &want) < 0)
		return -errno;
	return 0;
}

int ipcns_shm_immutable_check(void)
{
	cleanup_close int fd = memfd_create("SYSVprobe", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	return shm_file_immutable(fd, true);
}

/* The guard of hugetlb segment files, which have no immutable flag
 * (hugetlbfs has no inode flags) and, being memfds on the kernel's
 * internal hugetlbfs mount, no mount that could be made read-only: a
 * fanotify group of the daemon's marks each of them for FAN_OPEN_PERM,
 * and its thread refuses (EPERM) every open by another process,
 * whatever the opener's capabilities, before the file is opened.  The
 * daemon's own opens (shm_fd_for's read-only one) are allowed; nothing
 * else opens a segment file (natively there is no file to open), and
 * the files already open (ours, the dups ADDFD installs) work as before.
 * The group is the daemon's, one fd whatever the number of namespaces;
 * only a front end that asks for it (ipcns_shm_guard_start) has one,
 * since its thread must be alive to answer: a process that forked
 * without it would wait on its own reopen.  A front end that restarts
 * leaves the group with whoever holds its fds meanwhile: the marks stay,
 * an open tried in between waits for the next daemon's answer.  */
static int shm_guard_fd = -1;
static int shm_guard_err = -ENOTSUP;
static int shm_guard_stop_fd = -1;
static unsigned int shm_guard_users;
static pthread_t shm_guard_thread;
static pthread_mutex_t shm_guard_lock = PTHREAD_MUTEX_INITIALIZER;

static void *shm_guard_run(void *arg)
{
	(void)arg;
	/* Permission events are answered one by one, in order: a buffer
	 * holds a few, each with the fd fanotify opened for it.  */
	struct fanotify_event_metadata buf[16];
	pid_t self = getpid();
	int gfd = shm_guard_fd, sfd = shm_guard_stop_fd;
	for (;;) {
		struct pollfd pf[2] = { { .fd = gfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (pf[1].revents)
			return NULL;
		ssize_t n = read(gfd, buf, sizeof(buf));
		if (n < 0) {
			/* No fd for an event (EMFILE) drops it as denied;
			 * anything else ends the guard, and the openers
			 * waiting on it get their answer when the group
			 * closes.  */
			if (errno == EINTR || errno == EAGAIN || errno == EMFILE || errno == ENFILE)
				continue;
			return NULL;
		}
		struct fanotify_event_metadata *m = buf;
		for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->vers != FANOTIFY_METADATA_VERSION)
				return NULL;
			struct fanotify_response r = {
				.fd = m->fd,
				.response = m->pid == self ? FAN_ALLOW : FAN_DENY,
			};
			if (m->mask & FAN_OPEN_PERM) {
				ssize_t w = write(gfd, &r, sizeof(r));
				(void)w;
			}
			if (m->fd >= 0)
				close(m->fd);
		}
	}
}

int ipcns_shm_guard_start(int adopt)
{
	pthread_mutex_lock(&shm_guard_lock);
	int ret = 0;
	if (shm_guard_users) {
		/* One guard a process, whoever asks (crun plugins).  */
		shm_guard_users++;
		if (adopt >= 0)
			close(adopt);
		goto out;
	}
	int fd = adopt;
	if (fd < 0)
		fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	/* An adopted group may block: its reads wait on poll anyway.  */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	shm_guard_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (shm_guard_stop_fd < 0) {
		ret = -errno;
		close(fd);
		goto out;
	}
	shm_guard_fd = fd;
	pthread_attr_t a;
	pthread_attr_init(&a);
	/* The thread polls, reads and answers, nothing more.  */
	pthread_attr_setstacksize(&a, 64 * 1024);
	/* Signals are the front end's (ipcnsd takes SIGTERM by signalfd,
	 * blocked in every thread): the thread starts with all blocked.  */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&shm_guard_thread, &a, shm_guard_run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (err != 0) {
		close(fd);
		close(shm_guard_stop_fd);
		shm_guard_fd = shm_guard_stop_fd = -1;
		ret = -err;
		goto out;
	}
	shm_guard_users = 1;
out:
	shm_guard_err = shm_guard_users ? 0 : ret;
	pthread_mutex_unlock(&shm_guard_lock);
	return ret;
}

void ipcns_shm_guard_stop(void)
{
	pthread_mutex_lock(&shm_guard_lock);
	if (shm_guard_users && --shm_guard_users == 0) {
		uint64_t one = 1;
		if (write(shm_guard_stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(shm_guard_thread, NULL);
		else
			pthread_detach(shm_guard_thread);
		/* Closing the group lets go of its marks.  */
		close(shm_guard_fd);
		close(shm_guard_stop_fd);
		shm_guard_fd = shm_guard_stop_fd = -1;
		shm_guard_err = -ENOTSUP;
	}
	pthread_mutex_unlock(&shm_guard_lock);
}

int ipcns_shm_guard_drop(int fd)
{
	return shm_file_guard(fd, false);
}

int ipcns_shm_guard_fd(void)
{
	return shm_guard_fd;
}

int shm_file_guard(int fd, bool on)
{
	/* Rare (a hugetlb segment made, loaded or destroyed), and a crun
	 * plugin instance may start or stop the guard meanwhile.  */
	pthread_mutex_lock(&shm_guard_lock);
	int ret = shm_guard_err;
	if (shm_guard_fd >= 0)
		ret = fanotify_mark(shm_guard_fd, on ? FAN_MARK_ADD : FAN_MARK_REMOVE, FAN_OPEN_PERM, fd, NULL) < 0
			      ? -errno
			      : 0;
	pthread_mutex_unlock(&shm_guard_lock);
	return ret;
}

/* punch: the segment dies because nothing maps it (not because its
 * namespace is freed, when mappings may outlive the daemon's fd).  */
static void shm_free(struct ipcns_ns *ns, struct ipcns_shm *shp, bool punch)
{
	ipcns_jdel(ns, IPCNS_SHM, &shp->perm);
	ns->shm_tot -= shm_pages(shp);
	ns->shm_bytes_quota_used -= shm_pages(shp) * (uint64_t)page_size();
	ipcns_uid_quota_put(ns, shp->perm.cuid);
	ipcns_ids_remove(&ns->ids[IPCNS_SHM], &shp->perm);
	if (shp->fd >= 0) {
		/* Nothing maps it any more, as far as the maps tell; but a
		 * process may have kept a file of it (a sibling thread's dup
		 * while shmat had it installed).  Linux frees the pages now:
		 * so do we, so that such a file reads nothing of the segment
		 * and holds no memory past the quotas.  */
		if (punch) {
			/* An immutable inode refuses the punch (EPERM).  */
			shm_file_immutable(shp->fd, false);
			/* A hugetlb file may have grown: hugetlbfs lets a
			 * writable mapping past the end of a kept file set its
			 * size, F_SEAL_GROW or not.  */
			off_t len = (off_t)shm_file_size(shp);
			struct stat st;
			if (shp->hugetlb && fstat(shp->fd, &st) == 0 && st.st_size > len)
				len = st.st_size;
			fallocate(shp->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, len);
		}
		/* A mark holds the inode: let it go with our file.  */
		if (shp->hugetlb)
			shm_file_guard(shp->fd, false);
		close(shp->fd);
		ipcns_budget_fd_uncharge(&ns->budget, 1);
	}
	shm_attach_release(ns, shp);
	ipcns_mem_free(shp);
}

void shm_destroy(struct ipcns_ns *ns, struct ipcns_shm *shp)
{
	shm_free(ns, shp, true);
}

/* Linux's shm_may_destroy: removed and no longer attached, or orphaned
 * under shm_rmid_forced.  */
bool shm_may_destroy(struct ipcns_ns *ns, struct ipcns_shm *shp)
{
	if (shm_nattch(shp) != 0)
		return false;
	if (shp->perm.mode & SHM_DEST)
		return true;
	return ns->limits.shm_rmid_forced && (shp->creator_tgid == 0 || shp->detached_to_zero);
}

/* A segment that may have lost its last mapping without our seeing it
 * (munmap, or an exit or exec whose event is not in yet): removed while
 * attached (SHM_DEST), or any attached one under shm_rmid_forced.  Linux
 * destroyed it at that moment, so it must be looked at before it is used
 * or counted.  */
static bool shm_may_be_gone(struct ipcns_ns *ns, const struct ipcns_shm *shp)
{
	return (shp->perm.mode & SHM_DEST) || (ns->limits.shm_rmid_forced && shp->attached_once);
}

/* Look at the maps when *shpp may be gone: 0 and *shpp when it lives
 * on, -EINVAL when it is destroyed now.  */
static int shm_check_alive(struct ipcns_ns *ns, struct ipcns_shm **shpp)
{
	if (!shm_may_be_gone(ns, *shpp))
		return 0;
	int id = (*shpp)->perm.id;
	int ret = shm_scan(ns, NULL);
	if (ret < 0)
		return ret;
	struct ipcns_perm *p;
	if (ipcns_ids_obtain_check(&ns->ids[IPCNS_SHM], id, &p) < 0)
		return -EINVAL;
	*shpp = shm_of(p);
	return 0;
}

/* ipc_obtain_object_check, and the segment must still be alive.  */
static int shm_obtain_alive(struct ipcns_ns *ns, int shmid, struct ipcns_shm **out)
{
	struct ipcns_perm *p;
	int ret = ipcns_ids_obtain_check(&ns->ids[IPCNS_SHM], shmid, &p);
	if (ret < 0)
		return ret;
	*out = shm_of(p);
	ret = shm_check_alive(ns, out);
	if (ret == 0)
		ipcns_jdirty(ns, IPCNS_SHM, &(*out)->perm);
	return ret;
}

/* Before counting segments (SHM_INFO, IPC_INFO, the limits of shmget):
 * destroy those that are gone.  True if any was.  */
static bool shm_settle(struct ipcns_ns *ns)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	int before = ids->in_use;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		if (shm_may_be_gone(ns, shm_of(ipcns_idr_find(&ids->idr, idx)))) {
			shm_scan(ns, NULL);
			break;
		}
	}
	return ids->in_use < before;
}

/* ---- shmget.  */

struct shm_get_arg {
	uint64_t size;
};

/* Linux's shmem_acct_size(): a segment made without SHM_NORESERVE (and
 * any one when vm.overcommit_memory is 2) is charged to the overcommit
 * accounting, and __vm_enough_memory() may refuse it with ENOMEM.  A
 * memfd is never charged, so the check is made here, against the same
 * machine-wide numbers: heuristic mode, more pages than RAM plus swap;
 * mode 2, past CommitLimit, less the admin reserve without CAP_SYS_ADMIN
 * (the per-process user reserve is not known here).  The daemon does
 * not add the segment to Committed_AS as Linux would.  */
static int shm_enough_memory(struct ipcns_ns *ns, uint64_t pages, bool cap_sys_admin)
{
	uint64_t ps = (uint64_t)page_size();
	long long mode = ipcns_vm_read(ns, IPCNS_VM_OVERCOMMIT_MEMORY);
	if (mode == 1)
		return 0;
	if (mode == 2) {
		long long limit_kb = ipcns_vm_read(ns, IPCNS_VM_COMMIT_LIMIT_KB);
		long long committed_kb = ipcns_vm_read(ns, IPCNS_VM_COMMITTED_AS_KB);
		long long reserve_kb = ipcns_vm_read(ns, IPCNS_VM_ADMIN_RESERVE_KB);
		if (limit_kb < 0 || committed_kb < 0)
			return 0;
		uint64_t allowed = (uint64_t)limit_kb * 1024 / ps;
		if (!cap_sys_admin && reserve_kb > 0)
			allowed -= (uint64_t)reserve_kb * 1024 / ps < allowed ? (uint64_t)reserve_kb * 1024 / ps
									 : allowed;
		uint64_t committed = (uint64_t)committed_kb * 1024 / ps;
		return committed + pages < committed || committed + pages >= allowed ? -ENOMEM : 0;
	}
	long long total_kb = ipcns_vm_read(ns, IPCNS_VM_TOTAL_KB);
	if (total_kb < 0)
		return 0;
	return pages > (uint64_t)total_kb * 1024 / ps ? -ENOMEM : 0;
}

/* May the caller create SHM_HUGETLB segments: CAP_IPC_LOCK, or a member
 * of vm.hugetlb_shm_group (Linux's can_do_hugetlb_shm()).  Linux no
 * longer lets RLIMIT_MEMLOCK allow it.  */
static bool shm_can_hugetlb(struct ipcns_ns *ns, struct ipcns_caller *c, const struct ipcns_cred *cred)
{
	if (ipcns_cred_capable_init(cred, IPCNS_CAP_IPC_LOCK))
		return true;
	long long g = ipcns_vm_read(ns, IPCNS_VM_HUGETLB_SHM_GROUP);
	return g >= 0 && ipcns_caller_in_group(c, cred, (gid_t)g) > 0;
}

static int shm_reserve_hugetlb(int fd, uint64_t len)
{
	/* hugetlb_file_setup() reserves the huge pages when the segment is
	 * created; a memfd reserves them at its first shared mapping, which
	 * keeps the reservation with the file.  Map once without touching.  */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

static long shm_newseg(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int shmflg, void *arg)
{
	struct shm_get_arg *ga = arg;
	uint64_t size = ga->size;
	uint64_t ps = (uint64_t)page_size();
	uint64_t numpages = (size + ps - 1) / ps;
	const struct ipcns_cred *cred;
	pid_t host_tgid;
	char name[32];
	int ret;

	if (size < IPCNS_SHMMIN || size > ns->limits.shmmax)
		return -EINVAL;
	if (numpages * ps < size)
		return -ENOSPC;
	if (ns->shm_tot + numpages < ns->shm_tot || ns->shm_tot + numpages > ns->limits.shmall)
		return -ENOSPC;
	if (ns->limits.quota_shm_bytes &&
	    ns->shm_bytes_quota_used + numpages * ps > ns->limits.quota_shm_bytes) {
		ipcns_limit_hit(ns, "shared memory quota (%llu bytes) reached",
				(unsigned long long)ns->limits.quota_shm_bytes);
		return -ENOSPC;
	}
	ret = ipcns_caller_cred(c, &cred);
	if (ret < 0)
		return ret;
	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return ret;
	struct ipcns_pidref me;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return ret;

	/* newseg()'s kvmalloc: over the namespace's memory budget, ENOMEM.  */
	cleanup_mem struct ipcns_shm *shp = ipcns_mem_zalloc(&ns->budget, sizeof(*shp));
	if (!shp)
		return -ENOMEM;
	shp->budget = &ns->budget;
	ipcns_list_init(&shp->attaches);
	shp->fd = -1;
	shp->perm.key = key;
	shp->perm.mode = (unsigned int)shmflg & IPCNS_S_IRWXUGO;
	shp->segsz = size;

	snprintf(name, sizeof(name), "SYSV%08x", (uint32_t)key);
	unsigned int mfd_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	uint64_t filesize = size;
	if (shmflg & SHM_HUGETLB) {
		mfd_flags |= MFD_HUGETLB | ((((unsigned int)shmflg >> SHM_HUGE_SHIFT) & SHM_HUGE_MASK)
					    << MFD_HUGE_SHIFT);
	} else {
		/* shmem's own checks, in Linux's order: a size no file can
		 * have, then the overcommit accounting.  */
		if (size > (uint64_t)LLONG_MAX)
			return -EINVAL;
		if (!(shmflg & SHM_NORESERVE) ||
		    ipcns_vm_read(ns, IPCNS_VM_OVERCOMMIT_MEMORY) == 2) {
			ret = shm_enough_memory(ns, numpages, ipcns_cred_capable_init(cred, IPCNS_CAP_SYS_ADMIN));
			if (ret < 0)
				return ret;
		}
	}
	cleanup_close int fd = memfd_create(name, mfd_flags);
	if (fd < 0) {
		/* A huge page size the machine lacks: memfd says ENODEV,
		 * newseg()'s hstate_sizelog() check EINVAL.  */
		if ((shmflg & SHM_HUGETLB) && (errno == ENODEV || errno == EINVAL))
			return -EINVAL;
		/* The daemon's fd table is the node's, not the caller's: Linux's
		 * shmget says ENFILE when files run out, it has no EMFILE.  */
		if (errno == EMFILE)
			return -ENFILE;
		return -errno;
	}
	/* Nobody but the daemon may open the file again: while shmat has it
	 * installed in a caller, a thread or process of the container can
	 * reach it at /proc/PID/fd/N, and a reopen is checked against this
	 * inode only (owner the daemon, mode 0), not against the segment's
	 * ipc_perm (spec/security.md).  */
	if (fchmod(fd, 0) < 0)
		return -errno;
	/* Then hugetlb_file_setup(): the permission, then the reservation.  */
	if ((shmflg & SHM_HUGETLB) && !shm_can_hugetlb(ns, c, cred))
		return -EPERM;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (shmflg & SHM_HUGETLB) {
		uint64_t hs = (uint64_t)st.st_blksize;
		filesize = (size + hs - 1) / hs * hs;
		shp->hugetlb = true;
		shp->hugesize = hs;
		shp->noreserve = (shmflg & SHM_NORESERVE) != 0;
	}
	if (ftruncate(fd, (off_t)filesize) < 0)
		return -errno;
	/* SHM_NORESERVE: no huge pages set aside; a fault that finds none
	 * is SIGBUS, as in Linux.  */
	if (shp->hugetlb && !shp->noreserve) {
		ret = shm_reserve_hugetlb(fd, filesize);
		if (ret < 0)
			return ret;
	}
	/* A file a container kept (see above) must not resize the segment
	 * under its other attachers: hugetlb memfds take these seals too.  */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	/* Mode 0 does not stop a caller with CAP_DAC_OVERRIDE over our
	 * files (a root container without a user namespace) from reopening
	 * the file read-write while a read-only shmat has it installed:
	 * immutable stops every open for writing (shm_file_immutable), and
	 * hugetlb files, which cannot be immutable, are guarded
	 * (shm_file_guard).  */
	if (!shp->hugetlb)
		shm_file_immutable(fd, true);
	else
		shm_file_guard(fd, true);
	shp->dev = st.st_dev;
	shp->ino = st.st_ino;

	/* The memfd is held for the namespace: within its fd budget.  Linux's
	 * newseg() fails with ENFILE when the file table is full (its
	 * shmem file is counted against fs.file-max); the namespace's fd
	 * budget is its file table here.  */
	if (ipcns_budget_fd_charge(&ns->budget, 1, false) < 0) {
		/* Say which: this namespace's budget, or the front end's
		 * ceiling for all namespaces together (ipcnsd's RLIMIT_NOFILE
		 * less its reserve), which an operator reads differently.  */
		if (ns->budget.fd_limit && ns->budget.fds_used >= ns->budget.fd_limit)
			ipcns_limit_hit(ns, "fd budget (%u) reached: shmget ENFILE", ns->budget.fd_limit);
		else
			ipcns_limit_hit(ns, "the fds of all namespaces are at the daemon-wide ceiling: shmget ENFILE");
		return -ENFILE;
	}
	ret = ipcns_uid_quota_take(ns, cred->euid);
	if (ret < 0) {
		ipcns_budget_fd_uncharge(&ns->budget, 1);
		return ret;
	}
	ret = ipcns_ids_add(&ns->ids[IPCNS_SHM], &shp->perm, (int)ns->limits.shmmni, cred);
	if (ret < 0) {
		ipcns_uid_quota_put(ns, cred->euid);
		ipcns_budget_fd_uncharge(&ns->budget, 1);
		return ret;
	}
	shp->fd = move_fd(&fd);
	shp->cpid = me;
	shp->creator_tgid = host_tgid;
	shp->ctime = ipcns_now(ns);
	ns->shm_tot += numpages;
	ns->shm_bytes_quota_used += numpages * ps;
	ipcns_jnew(ns, IPCNS_SHM, &shp->perm);
	struct ipcns_shm *done = steal_pointer(&shp);
	/* Under shm_rmid_forced, Linux's exit_shm destroys the segments an
	 * exiting creator leaves unattached: hear of the creator's exit.  */
	if (ns->limits.shm_rmid_forced && c->ops->watch_exit)
		c->ops->watch_exit(c);
	/* The segment stands only if the caller gets its id: one interrupted
	 * meanwhile restarts the call (SA_RESTART), which must not find it
	 * (EEXIST with IPC_EXCL), or sees EINTR, as if it never ran.  */
	int ar = ipcns_caller_answer(c, done->perm.id);
	if (ar < 0) {
		shm_destroy(ns, done);
		return IPCNS_ANSWERED;
	}
	return ar == 0 ? IPCNS_ANSWERED : done->perm.id;
}

static int shm_more_checks(struct ipcns_perm *p, int flg, void *arg)
{
	struct shm_get_arg *ga = arg;
	return shm_of(p)->segsz < ga->size ? -EINVAL : 0;
}

static const struct ipcns_get_ops shm_get_ops = {
	.getnew = shm_newseg,
	.more = shm_more_checks,
};

long ipcns_shmget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, uint64_t size, int shmflg)
{
	struct shm_get_arg ga = { .size = size };
	long ret = ipcns_ipcget(ns, IPCNS_SHM, c, key, shmflg, &shm_get_ops, &ga);
	/* A segment Linux has destroyed already may still count.  */
	if (ret == -ENOSPC && shm_settle(ns))
		ret = ipcns_ipcget(ns, IPCNS_SHM, c, key, shmflg, &shm_get_ops, &ga);
	return ret;
}

/* ---- shmat / shmdt.  */

/* The fd to map: the segment's own, or for a read-only attach one opened
 * O_RDONLY for this attach alone (the caller closes it once it is
 * installed): a read-only attach must not be upgradable by mprotect, as
 * Linux maps a file opened O_RDONLY, and the daemon keeps no second fd
 * per segment.  */
static int shm_fd_for(struct ipcns_shm *shp, bool rdonly)
{
	if (!rdonly)
		return shp->fd;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", shp->fd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmod(shp->fd, 0400) == 0) {
		/* A daemon without CAP_DAC_OVERRIDE (crun's plugin, rootless)
		 * opens its own mode-0 file for the moment of the open.  */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		int err = errno;
		fchmod(shp->fd, 0);
		errno = err;
	}
	/* Out of fds in the daemon: shmat's errno for resources is ENOMEM
	 * (it has neither EMFILE nor ENFILE).  */
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE ? -ENOMEM : -errno;
	return fd;
}

/* do_shmat() counts the attach before it maps and uncounts it after, so a
 * shmat that fails once the segment was found and the permission granted
 * goes through shm_may_destroy(): under shm_rmid_forced an unattached
 * segment is destroyed by it.  Returns err.  */
static long shm_attach_failed(struct ipcns_ns *ns, struct ipcns_shm *shp, long err)
{
	if (ns->limits.shm_rmid_forced) {
		if (!shp->attached_once) {
			shm_destroy(ns, shp);
			return err;
		}
		if (shm_nattch(shp) == 0)
			shp->detached_to_zero = true;
		shm_scan(ns, NULL);
	}
	return err;
}

long ipcns_shmat(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, uint64_t addr, int shmflg)
{
	uint64_t shmlba = (uint64_t)page_size();
	int prot, acc_mode, flags = MAP_SHARED;
	struct ipcns_perm *p;
	pid_t host_tgid;
	int ret;

	if (shmid < 0)
		return -EINVAL;
	if (addr) {
		if (addr & (shmlba - 1)) {
			if (shmflg & SHM_RND) {
				addr &= ~(shmlba - 1);
				/* A rounded-down address of 0 cannot be
				 * remapped.  */
				if (!addr && (shmflg & SHM_REMAP))
					return -EINVAL;
			} else {
				return -EINVAL;
			}
		}
		/* Linux checks for overlaps only when the (rounded) address
		 * is not 0: SHM_RND down to 0 maps with MAP_FIXED, replacing
		 * what is there.  */
		flags |= (shmflg & SHM_REMAP) || !addr ? MAP_FIXED : MAP_FIXED_NOREPLACE;
	} else if (shmflg & SHM_REMAP) {
		return -EINVAL;
	}
	if (shmflg & SHM_RDONLY) {
		prot = PROT_READ;
		acc_mode = IPCNS_S_IRUGO;
	} else {
		prot = PROT_READ | PROT_WRITE;
		acc_mode = IPCNS_S_IRUGO | IPCNS_S_IWUGO;
	}
	if (shmflg & SHM_EXEC) {
		prot |= PROT_EXEC;
		acc_mode |= IPCNS_S_IXUGO;
	}
	struct ipcns_shm *shp;
	ret = shm_obtain_alive(ns, shmid, &shp);
	if (ret < 0)
		return ret;
	p = &shp->perm;
	ret = ipcns_ipcperms(c, p, acc_mode);
	if (ret < 0)
		return ret;
	uint64_t size = shp->segsz;
	if (shp->noreserve)
		flags |= MAP_NORESERVE;
	if (addr && !(shmflg & SHM_REMAP) && addr + size < addr)
		return shm_attach_failed(ns, shp, -EINVAL);
	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return shm_attach_failed(ns, shp, ret);
	struct ipcns_pidref me;
	ret = ipcns_actor_of_caller(ns, c, false, false, &me);
	if (ret < 0)
		return shm_attach_failed(ns, shp, ret);
	int fd = shm_fd_for(shp, shmflg & SHM_RDONLY);
	if (fd < 0)
		return shm_attach_failed(ns, shp, fd);
	uint64_t len = shp->hugetlb ? (size + shp->hugesize - 1) / shp->hugesize * shp->hugesize : size;
	uint64_t mapped = 0;
	ret = c->ops->shm_map(c, fd, addr, len, prot, flags, &mapped);
	if (fd != shp->fd)
		close(fd);
	if (ret < 0) {
		/* find_vma_intersection() says EINVAL where MAP_FIXED_NOREPLACE
		 * says EEXIST.  No fd left for the mapping (the caller's table
		 * is full for ADDFD, or the daemon's): ENOMEM, shmat has no
		 * EMFILE.  */
		if (ret == -EMFILE || ret == -ENFILE)
			ret = -ENOMEM;
		return shm_attach_failed(ns, shp, ret == -EEXIST ? -EINVAL : ret);
	}
	if (addr && (flags & MAP_FIXED_NOREPLACE) && mapped != addr) {
		/* A kernel without MAP_FIXED_NOREPLACE treats it as a hint.  */
		c->ops->shm_unmap(c, mapped, len);
		return shm_attach_failed(ns, shp, -EINVAL);
	}
	ipcns_jdirty(ns, IPCNS_SHM, &shp->perm);
	shp->atime = ipcns_now(ns);
	shp->lpid = me;
	shp->detached_to_zero = false;
	shp->attached_once = true;
	holder_adjust(shp, host_tgid, me, +1);
	uint64_t alen = (len + (uint64_t)page_size() - 1) & ~((uint64_t)page_size() - 1);
	attach_forget_range(ns, host_tgid, mapped, alen);
	attach_record(ns, shp, host_tgid, mapped, alen);
	if (c->ops->watch_exit)
		c->ops->watch_exit(c);
	return (long)mapped;
}

struct dt_ctx {
	struct ipcns_ns *ns;
	uint64_t addr;
	struct ipcns_vma *v;
	size_t n, cap;
	int err;
};

static int dt_collect(void *arg, const struct ipcns_vma *v)
{
	struct dt_ctx *dc = arg;
	if (v->end <= dc->addr)
		return 0;
	if (dc->n == dc->cap) {
		size_t ncap = dc->cap ? dc->cap * 2 : 16;
		struct ipcns_vma *nv = realloc(dc->v, ncap * sizeof(*nv));
		if (!nv) {
			dc->err = -ENOMEM;
			return -ENOMEM;
		}
		dc->v = nv;
		dc->cap = ncap;
	}
	dc->v[dc->n++] = *v;
	return 0;
}

static struct ipcns_shm *shm_by_file(struct ipcns_ns *ns, dev_t dev, ino_t ino)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		if (shp->ino == ino && shp->dev == dev)
			return shp;
	}
	return NULL;
}

long ipcns_shmdt(struct ipcns_ns *ns, struct ipcns_caller *c, uint64_t addr)
{
	uint64_t ps = (uint64_t)page_size();
	struct dt_ctx dc = { .ns = ns, .addr = addr };
	cleanup_free struct ipcns_vma *vmas = NULL;
	pid_t host_tgid;
	struct ipcns_shm *shp = NULL;
	int ret, unmapped = 0;
	size_t i;

	if (addr & (ps - 1))
		return -EINVAL;
	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return ret;
	struct ipcns_pidref me;
	ret = ipcns_actor_of_caller(ns, c, false, true, &me);
	if (ret < 0)
		return ret;

	/* The common case: addr is where this process attached a segment,
	 * and that mapping is still whole.  Then it is the only VMA of the
	 * segment within its size from addr, and Linux's search below would
	 * find just it.  */
	uint64_t len;
	shp = c->ops->vma_at ? attach_find(ns, host_tgid, addr, &len) : NULL;
	if (shp) {
		dev_t dev;
		ino_t ino;
		attach_forget(ns, shp, host_tgid, addr);
		if (c->ops->vma_at(c, addr, addr + len, &dev, &ino) == 0 && dev == shp->dev && ino == shp->ino) {
			ret = c->ops->shm_unmap(c, addr, len);
			if (ret < 0)
				return ret;
			unmapped = 1;
			goto detached;
		}
		shp = NULL;
	}

	ret = c->ops->maps(c, dt_collect, &dc);
	vmas = dc.v;
	if (ret < 0 || dc.err < 0)
		return ret < 0 ? ret : dc.err;

	/* As Linux's shmdt: the first segment VMA at or after addr whose
	 * file offset matches its distance from addr gives the segment and
	 * its size; then every fragment of that segment that started at
	 * addr, within that size, goes too.  */
	for (i = 0; i < dc.n; i++) {
		struct ipcns_vma *v = &vmas[i];
		if ((v->start - addr) / ps != v->offset / ps || v->start < addr)
			continue;
		shp = shm_by_file(ns, v->dev, v->ino);
		if (shp)
			break;
	}
	if (!shp)
		return -EINVAL;
	uint64_t size = shp->segsz;
	if (shp->hugetlb)
		size = (size + shp->hugesize - 1) / shp->hugesize * shp->hugesize;
	size = (size + ps - 1) & ~(ps - 1);
	ret = c->ops->shm_unmap(c, vmas[i].start, vmas[i].end - vmas[i].start);
	if (ret < 0)
		return ret;
	unmapped++;
	for (i++; i < dc.n && vmas[i].end - addr <= size; i++) {
		struct ipcns_vma *v = &vmas[i];
		if (v->ino != shp->ino || v->dev != shp->dev || v->start < addr ||
		    (v->start - addr) / ps != v->offset / ps)
			continue;
		if (c->ops->shm_unmap(c, v->start, v->end - v->start) == 0)
			unmapped++;
	}
	attach_forget(ns, shp, host_tgid, addr);
detached:
	ipcns_jdirty(ns, IPCNS_SHM, &shp->perm);
	shp->dtime = ipcns_now(ns);
	shp->lpid = me;
	holder_adjust(shp, host_tgid, me, -unmapped);
	if (shm_nattch(shp) == 0)
		shp->detached_to_zero = true;
	/* Only a look at every process tells whether this was the last
	 * attachment (a forked child may hold one we have not seen).  */
	if ((shp->perm.mode & SHM_DEST) || ns->limits.shm_rmid_forced)
		shm_scan(ns, NULL);
	return 0;
}

/* ---- remap_file_pages.  */

struct remap_ctx {
	uint64_t start, end, next;
	dev_t dev;
	ino_t ino;
	int prot;
	bool found, broken, partial;
	uint64_t count;
};

/* The caller's VMAs in [start, end), in address order: the first must
 * hold start, the others follow it without a hole and map the same file
 * with the same protection (mm/mmap.c's check of vm_file and vm_flags).
 * Otherwise the kernel fails alone, EINVAL with nothing changed.  */
static int remap_collect(void *arg, const struct ipcns_vma *v)
{
	struct remap_ctx *rc = arg;
	if (v->end <= rc->start || v->start >= rc->end || rc->broken)
		return 0;
	if (!rc->found) {
		if (v->start > rc->start) {
			rc->broken = true;
			return 0;
		}
		rc->found = true;
		rc->dev = v->dev;
		rc->ino = v->ino;
		rc->prot = v->prot;
	} else if (v->start != rc->next || v->dev != rc->dev || v->ino != rc->ino || v->prot != rc->prot) {
		rc->broken = true;
		return 0;
	}
	if (v->start < rc->start || v->end > rc->end)
		rc->partial = true;
	else
		rc->count++;
	rc->next = v->end;
	return 0;
}

/* Linux emulates remap_file_pages with do_mmap(MAP_FIXED) of the VMA's
 * file over the range (mm/mmap.c): the range is unmapped first (each
 * segment VMA going runs shm_close), then shm_mmap reopens the segment
 * by id (__shm_open), EINVAL if it is gone.  A segment's memfd stays
 * open, so the kernel running the call on it differs only when the
 * unmap destroys the segment: removed (SHM_DEST) and the range holds
 * every attach left.  That case is done here; everything else (bad
 * arguments, no segment, a segment that lives on) is the kernel's.  */
long ipcns_shm_remap(struct ipcns_ns *ns, struct ipcns_caller *c, uint64_t start, uint64_t size, uint64_t prot,
		     uint64_t pgoff)
{
	uint64_t ps = (uint64_t)page_size();
	pid_t host_tgid;

	/* The argument checks come before any lookup: the kernel makes
	 * them.  */
	start &= ~(ps - 1);
	size &= ~(ps - 1);
	if (prot || start + size <= start || pgoff + size / ps < pgoff || !c->ops->maps)
		return IPCNS_CONTINUE;
	struct remap_ctx rc = { .start = start, .end = start + size };
	int ret = c->ops->maps(c, remap_collect, &rc);
	if (ret < 0)
		return ret == -ENOENT ? IPCNS_CONTINUE : ret;
	if (!rc.found || rc.broken || rc.next < rc.end)
		return IPCNS_CONTINUE;
	struct ipcns_shm *shp = shm_by_file(ns, rc.dev, rc.ino);
	if (!shp)
		return IPCNS_CONTINUE;
	ret = ipcns_caller_pids(c, &host_tgid, NULL);
	if (ret < 0)
		return ret;
	struct ipcns_pidref me;
	ret = ipcns_actor_of_caller(ns, c, false, true, &me);
	if (ret < 0)
		return ret;
	/* Adjacent attaches of one segment: each is a file of its own in
	 * Linux, so the range crosses files, EINVAL with nothing changed;
	 * here they map one memfd, and the kernel would remap across.  */
	if (attach_crossed(ns, host_tgid, start, size))
		return -EINVAL;
	if (!(shp->perm.mode & SHM_DEST) || rc.partial)
		return IPCNS_CONTINUE;
	/* Count every attach as it is now (a fork or a munmap we have not
	 * seen); shp stays for the comparison.  */
	ret = shm_scan(ns, shp);
	if (ret < 0)
		return ret;
	if (shm_nattch(shp) != rc.count)
		return IPCNS_CONTINUE; /* other attaches keep it: shm_mmap reopens it */
	/* The same remote munmap as shmdt; from here the result travels in
	 * the caller's registers.  */
	ret = c->ops->shm_unmap(c, start, size);
	if (ret < 0)
		return ret;
	attach_forget_range(ns, host_tgid, start, size);
	shp->dtime = ipcns_now(ns);
	shp->lpid = me;
	holder_adjust(shp, host_tgid, me, -(int)rc.count);
	if (shm_nattch(shp) == 0)
		shp->detached_to_zero = true;
	ipcns_jdirty(ns, IPCNS_SHM, &shp->perm);
	if (shm_may_destroy(ns, shp))
		shm_destroy(ns, shp);
	return -EINVAL;
}

/* ---- shmctl.  */

static int shm_fill_ds(struct ipcns_ns *ns, struct ipcns_caller *c, struct ipcns_shm *shp,
		       struct ipcns_shmid64_ds *ds)
{
	memset(ds, 0, sizeof(*ds));
	int ret = ipcns_perm_to_user(ns, c, &shp->perm, &ds->shm_perm);
	if (ret < 0)
		return ret;
	ds->shm_segsz = shp->segsz;
	ds->shm_atime = shp->atime;
	ds->shm_dtime = shp->dtime;
	ds->shm_ctime = shp->ctime;
	const struct ipcns_pidns *reader;
	ret = ipcns_caller_pidns(c, &reader);
	if (ret < 0)
		return ret;
	ds->shm_cpid = ipcns_actor_nr(ns, shp->cpid, reader);
	ds->shm_lpid = ipcns_actor_nr(ns, shp->lpid, reader);
	ds->shm_nattch = shm_nattch(shp);
	return 0;
}

/* cachestat(2), Linux 6.5, for headers that predate it.  */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct shm_cachestat_range {
	uint64_t off, len;
};
struct shm_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* A segment's resident and swapped-out bytes, as shm_add_rss_swap()
 * counts them: the pages in the file's page cache, and the shmem inode's
 * swapped pages.  st_blocks counts both together, which is exact while
 * nothing can be swapped out (no swap on the host, or a hugetlb segment).
 * With swap, cachestat(2) tells them apart: for shmem it counts the pages
 * in the page cache as cached and every swap entry as evicted, at the
 * cost of a walk of the file's pages.  */
static void shm_rss_swap(const struct ipcns_shm *shp, uint64_t *rss, uint64_t *swap)
{
	struct stat st;
	struct sysinfo si;

	*rss = *swap = 0;
	if (!shp->hugetlb && sysinfo(&si) == 0 && si.totalswap > 0) {
		struct shm_cachestat_range range = { 0, 0 }; /* the whole file */
		struct shm_cachestat cs;
		if (syscall(__NR_cachestat, shp->fd, &range, &cs, 0) == 0) {
			*rss = cs.nr_cache * (uint64_t)page_size();
			*swap = cs.nr_evicted * (uint64_t)page_size();
			return;
		}
	}
	if (fstat(shp->fd, &st) == 0)
		*rss = (uint64_t)st.st_blocks * 512;
}

static long shmctl_stat(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, int cmd, uint64_t buf)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	struct ipcns_perm *p;
	int ret, id;

	if (cmd == SHM_STAT || cmd == SHM_STAT_ANY) {
		p = ipcns_ids_obtain_idx(ids, shmid);
		if (!p)
			return -EINVAL;
		id = p->id;
	} else {
		ret = ipcns_ids_obtain_check(ids, shmid, &p);
		if (ret < 0)
			return ret;
		id = 0;
	}
	/* shm_nattch needs a look at the maps; it may find the segment
	 * gone, destroyed by Linux already.  */
	struct ipcns_shm *shp = shm_of(p);
	ret = shm_scan(ns, shp);
	if (ret < 0)
		return ret;
	if (shm_may_destroy(ns, shp)) {
		shm_destroy(ns, shp);
		return -EINVAL;
	}
	if (cmd != SHM_STAT_ANY) {
		ret = ipcns_ipcperms(c, p, IPCNS_S_IRUGO);
		if (ret < 0)
			return ret;
	}
	struct ipcns_shmid64_ds ds;
	ret = shm_fill_ds(ns, c, shp, &ds);
	if (ret < 0)
		return ret;
	ret = c->ops->write(c, buf, &ds, sizeof(ds));
	if (ret < 0)
		return ret;
	return id;
}

static long shmctl_down(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, int cmd, uint64_t buf)
{
	struct ipcns_shmid64_ds ds;
	struct ipcns_perm *p;
	int ret;

	/* IPC_SET reads the buffer before the lookup: EFAULT wins.  */
	if (cmd == IPC_SET) {
		ret = c->ops->read(c, buf, &ds, sizeof(ds));
		if (ret < 0)
			return ret;
	}
	struct ipcns_shm *shp;
	ret = shm_obtain_alive(ns, shmid, &shp);
	if (ret < 0)
		return ret;
	p = &shp->perm;
	ret = ipcns_check_owner(c, p);
	if (ret < 0)
		return ret;
	if (cmd == IPC_SET) {
		uid_t uid;
		gid_t gid;
		unsigned int mode;
		ipcns_perm_from_user(&ds.shm_perm, &uid, &gid, &mode);
		ret = ipcns_update_perm(c, p, uid, gid, mode);
		if (ret < 0)
			return ret;
		shp->ctime = ipcns_now(ns);
		return 0;
	}
	/* IPC_RMID, once the caller has its 0: a restarted IPC_RMID would
	 * find no segment (EINVAL).  */
	ret = shm_scan(ns, shp);
	if (ret < 0)
		return ret;
	/* Either way the change is made (or journaled) before the answer
	 * leaves, so that a journal commit made then holds it, and undone if
	 * the answer does not arrive.  */
	if (shm_nattch(shp)) {
		int32_t key = p->key;
		p->mode |= SHM_DEST;
		ipcns_ids_set_key_private(&ns->ids[IPCNS_SHM], p);
		int ar = ipcns_caller_answer(c, 0);
		if (ar < 0) {
			/* The hash just lost this key: putting it back
			 * allocates nothing.  */
			p->mode &= ~(unsigned int)SHM_DEST;
			ipcns_ids_set_key(&ns->ids[IPCNS_SHM], p, key);
			return IPCNS_ANSWERED;
		}
		return ar == 0 ? IPCNS_ANSWERED : 0;
	}
	ipcns_jahead_del(ns, IPCNS_SHM, p);
	int ar = ipcns_caller_answer(c, 0);
	if (ar < 0) {
		ipcns_jsettle(ns, IPCNS_SHM, p, true);
		return IPCNS_ANSWERED;
	}
	shm_destroy(ns, shp);
	return ar == 0 ? IPCNS_ANSWERED : 0;
}

/* Pages SHM_LOCKed and charged to `uid'.  Linux keeps this count per
 * user (the ucounts of whoever locked, by real uid; here the effective
 * uid) across namespaces; here it is per namespace.  */
static uint64_t shm_locked_pages(struct ipcns_ns *ns, uid_t uid)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	uint64_t n = 0;
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		if (shp->lock_charged && shp->lock_uid == uid)
			n += shm_pages(shp);
	}
	return n;
}

static long shmctl_lock(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, int cmd)
{
	struct ipcns_perm *p;
	const struct ipcns_cred *cred;
	uint64_t lim = 0;
	struct ipcns_shm *shp;
	int ret = shm_obtain_alive(ns, shmid, &shp);
	if (ret < 0)
		return ret;
	p = &shp->perm;
	ret = ipcns_caller_cred(c, &cred);
	if (ret < 0)
		return ret;
	bool cap = ipcns_cred_capable(cred, IPCNS_CAP_IPC_LOCK);
	if (!cap) {
		if (cred->euid != p->uid && cred->euid != p->cuid)
			return -EPERM;
		if (cmd == SHM_LOCK &&
		    (!c->ops->memlock_limit || c->ops->memlock_limit(c, &lim) < 0 || lim == 0))
			return -EPERM;
	}
	if (shp->hugetlb)
		return 0;
	if (cmd == SHM_UNLOCK) {
		p->mode &= ~(unsigned int)SHM_LOCKED;
		shp->lock_charged = false;
		return 0;
	}
	if (p->mode & SHM_LOCKED)
		return 0;
	/* shmem_lock() -> user_shm_lock(): the segment's pages are added
	 * to what the user has locked; without CAP_IPC_LOCK in the initial
	 * user namespace (capable(), where the permission above is
	 * ns_capable()) the sum must stay within RLIMIT_MEMLOCK in whole
	 * pages.  */
	bool cap_init = ipcns_cred_capable_init(cred, IPCNS_CAP_IPC_LOCK);
	if (cap && !cap_init && (!c->ops->memlock_limit || c->ops->memlock_limit(c, &lim) < 0))
		lim = 0;
	if (!cap_init && lim != UINT64_MAX &&
	    shm_locked_pages(ns, cred->euid) + shm_pages(shp) > lim / (uint64_t)page_size())
		return -ENOMEM;
	p->mode |= SHM_LOCKED;
	shp->lock_charged = true;
	shp->lock_uid = cred->euid;
	return 0;
}

long ipcns_shmctl(struct ipcns_ns *ns, struct ipcns_caller *c, int shmid, int cmd, uint64_t buf)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	int ret;

	if (cmd < 0 || shmid < 0)
		return -EINVAL;
	if (cmd == IPC_INFO || cmd == SHM_INFO)
		shm_settle(ns);
	switch (cmd) {
	case IPC_INFO: {
		struct ipcns_shminfo64 si;
		memset(&si, 0, sizeof(si));
		si.shmmni = si.shmseg = ns->limits.shmmni;
		si.shmmax = ns->limits.shmmax;
		si.shmall = ns->limits.shmall;
		si.shmmin = IPCNS_SHMMIN;
		int maxidx = ipcns_ids_maxidx(ids);
		ret = c->ops->write(c, buf, &si, sizeof(si));
		if (ret < 0)
			return ret;
		return maxidx < 0 ? 0 : maxidx;
	}
	case SHM_INFO: {
		struct ipcns_shm_info si;
		memset(&si, 0, sizeof(si));
		si.used_ids = ids->in_use;
		si.shm_tot = ns->shm_tot;
		for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
			uint64_t rss, swap;
			shm_rss_swap(shm_of(ipcns_idr_find(&ids->idr, idx)), &rss, &swap);
			si.shm_rss += rss / (uint64_t)page_size();
			si.shm_swp += swap / (uint64_t)page_size();
		}
		int maxidx = ipcns_ids_maxidx(ids);
		ret = c->ops->write(c, buf, &si, sizeof(si));
		if (ret < 0)
			return ret;
		return maxidx < 0 ? 0 : maxidx;
	}
	case SHM_STAT:
	case SHM_STAT_ANY:
	case IPC_STAT:
		return shmctl_stat(ns, c, shmid, cmd, buf);
	case IPC_SET:
	case IPC_RMID:
		return shmctl_down(ns, c, shmid, cmd, buf);
	case SHM_LOCK:
	case SHM_UNLOCK:
		return shmctl_lock(ns, c, shmid, cmd);
	default:
		return -EINVAL;
	}
}

/* ---- Namespace hooks.  */

static void shm_kind_destroy(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	shm_free(ns, shm_of(p), false);
}

static int shm_kind_refresh(struct ipcns_ns *ns)
{
	return shm_scan(ns, NULL);
}

static void shm_kind_info(struct ipcns_ns *ns, struct ipcns_perm *p, const struct ipcns_pidns *reader,
			  struct ipcns_obj_info *oi)
{
	struct ipcns_shm *shp = shm_of(p);

	oi->bytes = shp->segsz;
	oi->count = shm_nattch(shp);
	oi->ctime = shp->ctime;
	oi->atime = shp->atime;
	oi->dtime = shp->dtime;
	oi->cpid = ipcns_actor_nr(ns, shp->cpid, reader);
	oi->lpid = ipcns_actor_nr(ns, shp->lpid, reader);
	shm_rss_swap(shp, &oi->rss, &oi->swap);
}

/* kernel.shm_rmid_forced was set: Linux's shm_destroy_orphaned destroys
 * every unattached segment whose creator has exited.  Creators were
 * watched only while shm_rmid_forced was on: ask the host to watch each
 * one now, which also tells whether it still lives.  */
void ipcns_shm_files(struct ipcns_ns *ns, void (*fn)(void *arg, ino_t ino), void *arg)
{
	const struct ipcns_idr *idr = &ns->ids[IPCNS_SHM].idr;
	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(idr, idx));
		if (shp->fd >= 0)
			fn(arg, shp->ino);
	}
}

void ipcns_shm_destroy_orphans(struct ipcns_ns *ns, bool was_forced)
{
	struct ipcns_ids *ids = &ns->ids[IPCNS_SHM];
	if (ids->in_use == 0)
		return;
	if (!was_forced) {
		/* Turned on now: the detaches until now, seen or not, were
		 * made with it off and destroyed nothing but removed
		 * segments (shm_close's shm_may_destroy), and a segment they
		 * left unattached whose creator lives stays (Linux skips it
		 * here and destroys it only at a later detach).  */
		ns->limits.shm_rmid_forced = 0;
		shm_scan(ns, NULL);
		ns->limits.shm_rmid_forced = 1;
		for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1))
			shm_of(ipcns_idr_find(&ids->idr, idx))->detached_to_zero = false;
	} else {
		shm_scan(ns, NULL);
	}
	for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
		struct ipcns_shm *shp = shm_of(ipcns_idr_find(&ids->idr, idx));
		if (shp->creator_tgid && ns->host && ns->host->watch_exit &&
		    ns->host->watch_exit(ns->host_data, shp->creator_tgid) == -ESRCH)
			shp->creator_tgid = 0;
		if (shm_nattch(shp) == 0 && shp->creator_tgid == 0)
			shm_destroy(ns, shp);
	}
}

/* IPC_RMID from the host: destroyed now, or when the last attachment
 * goes if the segment is still mapped.  */
static int shm_kind_rmid(struct ipcns_ns *ns, struct ipcns_perm *p)
{
	struct ipcns_shm *shp = shm_of(p);
	int ret = shm_scan(ns, shp);
	if (ret < 0)
		return ret;
	ipcns_jdirty(ns, IPCNS_SHM, p);
	if (shm_nattch(shp)) {
		p->mode |= SHM_DEST;
		ipcns_ids_set_key_private(&ns->ids[IPCNS_SHM], p);
	} else {
		shm_destroy(ns, shp);
	}
	return 0;
}

const struct ipcns_kind_ops ipcns_shm_kind = {
	.destroy = shm_kind_destroy,
	.fini = shm_attach_state_free,
	.refresh = shm_kind_refresh,
	.info = shm_kind_info,
	.rmid = shm_kind_rmid,
};
