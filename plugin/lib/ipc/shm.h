/* SPDX-License-Identifier: MIT */
/* System V shared memory: what shm.c (the calls) and shm_attach.c (who
 * maps which segment) share.  Private to the two.  */
#ifndef IPCNS_SHM_H
#define IPCNS_SHM_H

#include <unistd.h>

#include "core.h"

/* One process's VMAs of a segment at the last look.  */
struct shm_holder {
	pid_t tgid;    /* host */
	struct ipcns_pidref ns; /* for shm_lpid when it detaches */
	uint32_t nvmas;
};

struct ipcns_shm {
	struct ipcns_perm perm; /* first: ids hold &perm */
	struct ipcns_budget *budget; /* its namespace's: holders, records */
	uint64_t segsz;
	int64_t atime, dtime, ctime;
	struct ipcns_pidref cpid, lpid;
	pid_t creator_tgid;    /* host, for shm_rmid_forced */
	int fd;                /* O_RDWR memfd */
	dev_t dev;
	ino_t ino;
	bool hugetlb;
	bool noreserve;        /* hugetlb without a reservation: map so */
	uint64_t hugesize;
	/* SHM_LOCKed: its pages are charged to lock_uid's memlock.  */
	bool lock_charged;
	uid_t lock_uid;
	/* The last detach took it to no attachment: shm_rmid_forced then
	 * destroys it (Linux's __shm_close).  */
	bool detached_to_zero;
	/* Attached at least once.  A segment never attached is mapped
	 * nowhere (only shmat maps it), so the look skips it.  */
	bool attached_once;
	struct shm_holder *holders;
	uint32_t nholders, cap_holders;
	struct ipcns_list attaches; /* struct shm_attach, shm_attach.c */
	/* Scan scratch.  */
	struct shm_holder *scan;
	uint32_t nscan, cap_scan;
};

/* The page size, read once; namespaces' worker threads may race to
 * read it first (the same value either way).  */
static inline long page_size(void)
{
	static long ps;
	long v = __atomic_load_n(&ps, __ATOMIC_RELAXED);
	if (!v) {
		v = sysconf(_SC_PAGESIZE);
		__atomic_store_n(&ps, v, __ATOMIC_RELAXED);
	}
	return v;
}

static inline struct ipcns_shm *shm_of(struct ipcns_perm *p)
{
	return container_of(p, struct ipcns_shm, perm);
}

static inline uint64_t shm_pages(const struct ipcns_shm *shp)
{
	uint64_t ps = (uint64_t)page_size();
	return (shp->segsz + ps - 1) / ps;
}

/* The memfd's size: segsz, in whole huge pages for SHM_HUGETLB.  */
static inline uint64_t shm_file_size(const struct ipcns_shm *shp)
{
	if (!shp->hugetlb)
		return shp->segsz;
	return (shp->segsz + shp->hugesize - 1) / shp->hugesize * shp->hugesize;
}

static inline uint64_t shm_nattch(const struct ipcns_shm *shp)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < shp->nholders; i++)
		n += shp->holders[i].nvmas;
	return n;
}

/* Where a process attached a segment, so that shmdt can check that one
 * range instead of reading all of the process's maps.  A hint: a record
 * the process has since unmapped or moved is found stale and dropped.
 * On two lists: its segment's, and its process's, which shmat and shmdt
 * search without walking every segment of the namespace.  */
struct shm_attach {
	struct ipcns_list seg_link;  /* in ipcns_shm.attaches */
	struct ipcns_list proc_link; /* in shm_proc.attaches */
	struct ipcns_shm *shp;
	struct shm_proc *proc;
	uint64_t addr, len;
};

/* A process that has attach records, hashed by host tgid.  */
struct shm_proc {
	struct shm_proc *hnext;
	pid_t tgid;
	struct ipcns_list attaches;
};

/* shm.c  */
void shm_destroy(struct ipcns_ns *ns, struct ipcns_shm *shp);
/* FS_IMMUTABLE_FL on (or off) a segment's file: 0 or -errno.  */
int shm_file_immutable(int fd, bool on);
/* Refuse (on) other processes' opens of a hugetlb segment's file, or stop
 * refusing them: 0, or -errno (no guard: ipcns_shm_guard_start).  */
int shm_file_guard(int fd, bool on);
bool shm_may_destroy(struct ipcns_ns *ns, struct ipcns_shm *shp);

/* shm_attach.c: the holders (each process's VMA count of a segment),
 * the attach records, the look at the maps that verifies them, and
 * fork, exec and exit.  */
/* The caller's own attach or detach.  */
void holder_adjust(struct ipcns_shm *shp, pid_t tgid, struct ipcns_pidref ns, int delta);
void attach_record(struct ipcns_ns *ns, struct ipcns_shm *shp, pid_t tgid, uint64_t addr, uint64_t len);
void attach_forget(struct ipcns_ns *ns, struct ipcns_shm *shp, pid_t tgid, uint64_t addr);
void attach_forget_range(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t len);
bool attach_crossed(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t len);
struct ipcns_shm *attach_find(struct ipcns_ns *ns, pid_t tgid, uint64_t addr, uint64_t *len);
/* A segment going away: its records and holders.  */
void shm_attach_release(struct ipcns_ns *ns, struct ipcns_shm *shp);
/* The namespace going away, after its segments.  */
void shm_attach_state_free(struct ipcns_ns *ns);
/* Look at the maps of the processes that may map the namespace's
 * segments, then destroy those that may go (not `keep').  */
int shm_scan(struct ipcns_ns *ns, struct ipcns_shm *keep);

#endif
