/* SPDX-License-Identifier: MIT */
/* What ipcnsd reads from /proc: a task's credentials and pids, the maps of
 * the processes that can map a namespace's segments.  Only paths built
 * from numbers the kernel gave us are opened, never a path a container
 * chose.  */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "events.h"
#include "notify.h"

/* Read a /proc file whole: into `buf' when it fits, else into a heap
 * buffer returned in *heap (the caller frees it).  A seq_file such as
 * /proc/PID/status is generated once, at the first read, and the later
 * reads of the same open file continue in that one snapshot.  The text,
 * NUL-terminated, is at *heap ? *heap : buf; its length is returned.  */
#define PROC_FILE_MAX (8U << 20)
static ssize_t read_file(const char *path, char *buf, size_t size, char **heap)
{
	*heap = NULL;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *at = buf;
	size_t n = 0;
	for (;;) {
		if (n + 1 == size) {
			if (size >= PROC_FILE_MAX) {
				free(*heap);
				*heap = NULL;
				return -EFBIG;
			}
			char *nb = realloc(*heap, size * 4);
			if (!nb) {
				free(*heap);
				*heap = NULL;
				return -ENOMEM;
			}
			if (!*heap)
				memcpy(nb, buf, n);
			*heap = at = nb;
			size *= 4;
		}
		ssize_t r = read(fd, at + n, size - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			free(*heap);
			*heap = NULL;
			return -err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	at[n] = '\0';
	return (ssize_t)n;
}

/* /proc/TID/status, whole (read_file): its text, or NULL with *err set
 * (-ESRCH for a thread that is gone, -EIO for a file past the bound).  */
static char *read_status(pid_t tid, char *buf, size_t size, char **heap, int *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	ssize_t n = read_file(path, buf, size, heap);
	if (n < 0) {
		*err = n == -ENOENT ? -ESRCH : n == -EFBIG ? -EIO : (int)n;
		return NULL;
	}
	return *heap ? *heap : buf;
}

/* The last number on a "Key:\t1\t2\t3" line.  */
static long last_num(const char *s)
{
	long v = 0;
	const char *end = s + strcspn(s, "\n");
	while (s < end) {
		char *e;
		long x = strtol(s, &e, 10);
		if (e == s)
			break;
		v = x;
		s = e;
	}
	return v;
}

/* Every number of a "Key:\t1\t2\t3" line, at most max: how many.  */
static uint32_t all_nums(const char *s, pid_t *out, uint32_t max)
{
	uint32_t n = 0;
	const char *end = s + strcspn(s, "\n");
	while (s < end && n < max) {
		char *e;
		long x = strtol(s, &e, 10);
		if (e == s)
			break;
		out[n++] = (pid_t)x;
		s = e;
	}
	return n;
}

/* `n' decimal numbers separated by blanks, then the end of the line:
 * anything else (a cut line, a field the kernel does not write) is an
 * error, never a guess.  */
static int parse_nums(const char *s, unsigned long *out, int n)
{
	for (int i = 0; i < n; i++) {
		char *e;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s < '0' || *s > '9')
			return -EIO;
		errno = 0;
		out[i] = strtoul(s, &e, 10);
		if (errno)
			return -EIO;
		s = e;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\n' ? 0 : -EIO;
}

/* A capability set: the kernel prints exactly 16 hex digits.  */
static int parse_caps(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	for (int i = 0; i < 16; i++, s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			return -EIO;
		v = v << 4 | (uint64_t)d;
	}
	if (*s != '\n')
		return -EIO;
	*out = v;
	return 0;
}

/* Call cb for each gid of a "Groups:" line; -EIO for a malformed one.  */
static int parse_groups(const char *s, int (*cb)(void *arg, gid_t g), void *arg)
{
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\n')
			return 0;
		if (*s < '0' || *s > '9')
			return -EIO;
		char *e;
		errno = 0;
		unsigned long g = strtoul(s, &e, 10);
		if (errno || g > UINT32_MAX)
			return -EIO;
		int ret = cb(arg, (gid_t)g);
		if (ret)
			return ret;
		s = e;
	}
}

static int store_group(void *arg, gid_t g)
{
	struct ipcns_cred *c = arg;
	if (c->ngroups < (int)ARRAY_SIZE(c->groups))
		c->groups[c->ngroups] = g;
	c->ngroups++;
	return 0;
}

/* From /proc/TID/stat, cheaper to make than status (which has the same
 * set as SigIgn): field 33, sigignore, a decimal.  The command name
 * (field 2) may hold anything but ends at the last ')'.  */
int ipcns_proc_sigign(pid_t tid, uint64_t *ign)
{
	char path[64], buf[1024];
	cleanup_free char *heap = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	ssize_t n = read_file(path, buf, sizeof(buf), &heap);
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *s = strrchr(heap ? heap : buf, ')');
	for (int field = 2; s && field < 33; field++)
		s = strchr(s + 1, ' ');
	if (!s || s[1] < '0' || s[1] > '9')
		return -EIO;
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s + 1, &e, 10);
	if (errno || *e != ' ')
		return -EIO;
	*ign = v;
	return 0;
}

int ipcns_proc_status(pid_t tid, struct ipcns_proc_status *st)
{
	return ipcns_proc_status_pids(tid, st, NULL);
}

int ipcns_proc_status_pids(pid_t tid, struct ipcns_proc_status *st, struct ipcns_proc_pids *pids)
{
	struct ipcns_proc_pids scratch;
	if (!pids)
		pids = &scratch;
	char sbuf[4096];
	cleanup_free char *heap = NULL;
	int err;
	char *buf = read_status(tid, sbuf, sizeof(sbuf), &heap, &err);
	if (!buf)
		return err;
	memset(st, 0, sizeof(*st));
	int seen = 0, ret = 0;
	/* Every line ends with '\n' (the file was read to its end): a line
	 * without one is a cut, refused by the parsers.  */
	for (char *line = buf; ret == 0 && line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long v[4];
		if (!strncmp(line, "Tgid:", 5)) {
			ret = parse_nums(line + 5, v, 1);
			st->tgid = (pid_t)v[0];
			seen |= 1;
		} else if (!strncmp(line, "PPid:", 5)) {
			ret = parse_nums(line + 5, v, 1);
			st->ppid = (pid_t)v[0];
		} else if (!strncmp(line, "NStgid:", 7)) {
			st->ns_tgid = (pid_t)last_num(line + 7);
			st->nlev = all_nums(line + 7, pids->nstgid, IPCNS_PID_LEVELS);
		} else if (!strncmp(line, "NSpid:", 6)) {
			st->ns_tid = (pid_t)last_num(line + 6);
			all_nums(line + 6, pids->nspid, IPCNS_PID_LEVELS);
		} else if (!strncmp(line, "Uid:", 4)) {
			ret = parse_nums(line + 4, v, 4);
			st->cred.euid = (uid_t)v[1];
			seen |= 2;
		} else if (!strncmp(line, "Gid:", 4)) {
			ret = parse_nums(line + 4, v, 4);
			st->cred.egid = (gid_t)v[1];
			st->cred.fsgid = (gid_t)v[3];
			seen |= 4;
		} else if (!strncmp(line, "Groups:", 7)) {
			ret = parse_groups(line + 7, store_group, &st->cred);
			seen |= 16;
		} else if (!strncmp(line, "CapEff:", 7)) {
			ret = parse_caps(line + 7, &st->cred.cap_effective);
			seen |= 8;
		}
	}
	if (ret < 0 || seen != 31)
		return -EIO;
	if (st->ns_tgid == 0)
		st->ns_tgid = st->tgid;
	if (st->nlev == 0) {
		/* A kernel without NStgid (before 4.1): one level.  */
		st->nlev = 1;
		pids->nstgid[0] = st->tgid;
		pids->nspid[0] = st->ns_tid ? st->ns_tid : (pid_t)tid;
	}
	/* The parent's pid as the child's pid namespace sees it: the
	 * parent's innermost NSpid when both live in the same namespace.  */
	st->ns_ppid = st->ppid;
	if (st->ppid > 0 && st->ns_tgid != st->tgid) {
		cleanup_free char *pheap = NULL;
		char *ptext = read_status(st->ppid, sbuf, sizeof(sbuf), &pheap, &err);
		if (ptext && *ptext) {
			char *l = strstr(ptext, "\nNSpid:");
			st->ns_ppid = l ? (pid_t)last_num(l + 7) : 0;
		}
	}
	return 0;
}

struct find_group {
	gid_t gid;
};

static int match_group(void *arg, gid_t g)
{
	return ((struct find_group *)arg)->gid == g;
}

int ipcns_proc_in_group(pid_t tid, gid_t gid)
{
	char sbuf[4096];
	cleanup_free char *heap = NULL;
	int err;
	char *text = read_status(tid, sbuf, sizeof(sbuf), &heap, &err);
	if (!text)
		return err;
	char *l = strstr(text, "\nGroups:");
	if (!l)
		return -EIO;
	struct find_group fg = { gid };
	return parse_groups(l + 8, match_group, &fg);
}

/* NS_GET_ID (Linux 6.18's linux/nsfs.h): a namespace's 64-bit id.  */
#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, uint64_t)
#endif

/* An nsfs fd's identity: its id, or on a kernel without NS_GET_ID its
 * inode (decided once: every identity of a run is of one kind).  */
static int ns_ident(int fd, uint64_t *id)
{
	static int have_id; /* 0: unknown, 1: NS_GET_ID, -1: inodes */
	int h = __atomic_load_n(&have_id, __ATOMIC_RELAXED);
	if (h >= 0) {
		if (ioctl(fd, NS_GET_ID, id) == 0) {
			if (!h)
				__atomic_store_n(&have_id, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (h || (errno != ENOTTY && errno != EINVAL))
			return -errno;
		__atomic_store_n(&have_id, -1, __ATOMIC_RELAXED);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*id = st.st_ino;
	return 0;
}

static int open_pidns(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? (errno == ENOENT ? -ESRCH : -errno) : fd;
}

int ipcns_proc_pidns_id(pid_t tid, uint64_t *id)
{
	int fd = open_pidns(tid);
	if (fd < 0)
		return fd;
	int ret = ns_ident(fd, id);
	close(fd);
	return ret;
}

/* ---- Chains of pid namespaces.  A pid namespace's ancestors never
 * change: one walk up (NS_GET_PARENT, which stops with EPERM at the
 * daemon's own namespace) per namespace, kept by its identity.  */
struct pidns_ent {
	uint64_t id; /* 0: a free entry */
	uint32_t n;
	uint64_t ns[IPCNS_PID_LEVELS];
};
static struct pidns_ent pidns_cache[64];
static unsigned int pidns_next;
static unsigned int pidns_last; /* the entry hit last: looked at first */
static pthread_mutex_t pidns_lock = PTHREAD_MUTEX_INITIALIZER;

static bool pidns_cached(uint64_t id, uint32_t n, uint64_t *ns)
{
	bool hit = false;
	pthread_mutex_lock(&pidns_lock);
	for (size_t k = 0; k < ARRAY_SIZE(pidns_cache) && !hit; k++) {
		size_t i = (pidns_last + k) % ARRAY_SIZE(pidns_cache);
		struct pidns_ent *e = &pidns_cache[i];
		if (e->id && e->id == id && e->n == n) {
			memcpy(ns, e->ns, n * sizeof(*ns));
			pidns_last = (unsigned int)i;
			hit = true;
		}
	}
	pthread_mutex_unlock(&pidns_lock);
	return hit;
}

int ipcns_pidns_chain(pid_t tid, uint64_t id, uint32_t n, uint64_t *ns)
{
	if (n < 1 || n > IPCNS_PID_LEVELS)
		return -EIO;
	if (pidns_cached(id, n, ns))
		return 0;
	int fd = open_pidns(tid);
	if (fd < 0)
		return fd;
	uint64_t up[IPCNS_PID_LEVELS], got;
	uint32_t k = 0;
	int cur = fd, ret = ns_ident(fd, &got);
	if (ret == 0 && got != id)
		ret = -ESRCH;
	up[k++] = id;
	while (ret == 0) {
		int parent = ioctl(cur, NS_GET_PARENT), e = errno;
		if (cur != fd)
			close(cur);
		cur = fd;
		if (parent < 0) {
			/* EPERM: the parent is outside the daemon's namespace
			 * (or this is the initial one): the top.  */
			if (e != EPERM)
				ret = -e;
			break;
		}
		if (k == n || ns_ident(parent, &got) < 0) {
			close(parent);
			ret = -EIO;
			break;
		}
		up[k++] = got;
		cur = parent;
	}
	close(fd);
	if (ret == 0 && k != n)
		ret = -EIO;
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < n; i++)
		ns[i] = up[n - 1 - i];
	pthread_mutex_lock(&pidns_lock);
	struct pidns_ent *e = &pidns_cache[pidns_next++ % ARRAY_SIZE(pidns_cache)];
	e->id = id;
	e->n = n;
	memcpy(e->ns, ns, n * sizeof(*ns));
	pthread_mutex_unlock(&pidns_lock);
	return 0;
}

int ipcns_proc_pidns(pid_t tid, struct ipcns_pidns *out)
{
	struct ipcns_proc_status st;
	uint64_t ino;
	int ret = ipcns_proc_pidns_id(tid, &ino);
	if (ret == 0)
		ret = ipcns_proc_status(tid, &st);
	if (ret < 0)
		return ret;
	out->level = st.nlev - 1;
	out->ns = ino;
	return 0;
}

int ipcns_proc_ipc_inode(pid_t pid, ino_t *ino)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)pid);
	if (stat(path, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	return 0;
}

/* PROCMAP_QUERY (Linux 6.11, uapi linux/fs.h; defined here for older
 * headers): an ioctl on /proc/PID/maps that answers "the first VMA at or
 * after this address" with filters, without formatting any text.  */
struct ipcns_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start, vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define IPCNS_PROCMAP_QUERY _IOWR('f', 17, struct ipcns_procmap_query)
#define IPCNS_PROCMAP_VMA_READABLE 0x01
#define IPCNS_PROCMAP_VMA_WRITABLE 0x02
#define IPCNS_PROCMAP_VMA_EXECUTABLE 0x04
#define IPCNS_PROCMAP_COVERING_OR_NEXT_VMA 0x10
#define IPCNS_PROCMAP_FILE_BACKED_VMA 0x20

/* The kernel has no PROCMAP_QUERY: read the text.  Atomic.  */
static bool procmap_missing;

/* The file-backed VMAs of the process, one ioctl each: the kernel skips
 * anonymous ones itself, so a process's own thousands of anonymous VMAs
 * cost a tree walk, not a line of text each (60,000 VMAs: 6 ms against
 * 100 ms and more).  -ENOTTY: no PROCMAP_QUERY here.  */
static int proc_maps_query(int fd, pid_t pid, uint64_t start, uint64_t end, ipcns_vma_cb cb, void *arg)
{
	uint64_t addr = start;
	while (addr < end) {
		struct ipcns_procmap_query q = {
			.size = sizeof(q),
			.query_flags = IPCNS_PROCMAP_COVERING_OR_NEXT_VMA | IPCNS_PROCMAP_FILE_BACKED_VMA,
			.query_addr = addr,
		};
		if (ioctl(fd, IPCNS_PROCMAP_QUERY, &q) < 0) {
			if (errno == ENOENT)
				return 0; /* no VMA after addr */
			if (errno == EINTR)
				continue;
			return errno == EINVAL && addr == start ? -ENOTTY : -errno;
		}
		if (q.vma_end <= addr)
			return -EIO;
		addr = q.vma_end;
		if (q.inode == 0 || q.vma_start >= end)
			continue;
		struct ipcns_vma v = {
			.start = q.vma_start,
			.end = q.vma_end,
			.offset = q.vma_offset,
			.dev = makedev(q.dev_major, q.dev_minor),
			.ino = (ino_t)q.inode,
			.prot = (q.vma_flags & IPCNS_PROCMAP_VMA_READABLE ? PROT_READ : 0) |
				(q.vma_flags & IPCNS_PROCMAP_VMA_WRITABLE ? PROT_WRITE : 0) |
				(q.vma_flags & IPCNS_PROCMAP_VMA_EXECUTABLE ? PROT_EXEC : 0),
			.pid = pid,
		};
		int ret = cb(arg, &v);
		if (ret)
			return ret;
	}
	return 0;
}

static int proc_maps_text(int fd, pid_t pid, ipcns_vma_cb cb, void *arg)
{
	char line[1024];
	FILE *f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return -errno;
	}
	int ret = 0;
	while (ret == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off, ino;
		unsigned int ma, mi;
		char perms[8];
		size_t len = strlen(line);
		/* A long path: skip the rest of the line.  */
		while (len && line[len - 1] != '\n') {
			char rest[256];
			if (!fgets(rest, sizeof(rest), f))
				break;
			len = strlen(rest);
			if (len && rest[len - 1] == '\n')
				break;
		}
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &s, &e, perms, &off, &ma, &mi, &ino) != 7 ||
		    ino == 0)
			continue;
		struct ipcns_vma v = {
			.start = s,
			.end = e,
			.offset = off,
			.dev = makedev(ma, mi),
			.ino = (ino_t)ino,
			.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
				(perms[2] == 'x' ? PROT_EXEC : 0),
			.pid = pid,
		};
		ret = cb(arg, &v);
	}
	fclose(f);
	return ret;
}

int ipcns_proc_maps(pid_t pid, ipcns_vma_cb cb, void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (!__atomic_load_n(&procmap_missing, __ATOMIC_RELAXED)) {
		int ret = proc_maps_query(fd, pid, 0, UINT64_MAX, cb, arg);
		if (ret != -ENOTTY) {
			close(fd);
			return ret;
		}
		__atomic_store_n(&procmap_missing, true, __ATOMIC_RELAXED);
	}
	return proc_maps_text(fd, pid, cb, arg);
}

/* ---- Host services.  */

int ipcns_host_add_inode(struct ipcns_host *h, ino_t ino)
{
	for (size_t i = 0; i < h->n_inodes; i++)
		if (h->ipc_inodes[i] == ino)
			return 0;
	if (h->n_inodes == h->cap_inodes) {
		size_t ncap = h->cap_inodes ? h->cap_inodes * 2 : 2;
		ino_t *n = realloc(h->ipc_inodes, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		h->ipc_inodes = n;
		h->cap_inodes = ncap;
	}
	h->ipc_inodes[h->n_inodes++] = ino;
	return 0;
}

void ipcns_host_free(struct ipcns_host *h)
{
	free(h->ipc_inodes);
	h->ipc_inodes = NULL;
	h->n_inodes = h->cap_inodes = 0;
}

/* Every process in one of the namespace's kernel IPC namespaces: those
 * are the processes of its containers, the only ones that can hold a
 * mapping of its memfds (the daemon closes its copy in the caller right
 * after mapping).  One stat per process to filter.  */
static int host_scan_vmas(void *data, ipcns_vma_cb cb, void *arg)
{
	struct ipcns_host *h = data;
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		ino_t ino;
		if (ipcns_proc_ipc_inode(pid, &ino) < 0)
			continue;
		bool ours = false;
		for (size_t i = 0; i < h->n_inodes && !ours; i++)
			ours = h->ipc_inodes[i] == ino;
		if (!ours)
			continue;
		int r = ipcns_proc_maps(pid, cb, arg);
		if (r < 0 && r != -ESRCH && r != -EACCES)
			ret = r;
	}
	closedir(d);
	return ret;
}

static int host_proc_info(void *data, pid_t tgid, pid_t *ns_tgid, pid_t *ns_ppid)
{
	struct ipcns_proc_status st;
	int ret = ipcns_proc_status(tgid, &st);
	if (ret < 0)
		return ret;
	*ns_tgid = st.ns_tgid;
	*ns_ppid = st.ns_ppid;
	return 0;
}

/* The process (or its parent) in every pid namespace: NStgid and the
 * chain of its namespaces.  */
static int host_proc_chain(void *data, pid_t tgid, bool parent, struct ipcns_pidchain *out)
{
	struct ipcns_proc_status st;
	struct ipcns_proc_pids pids;
	int ret = ipcns_proc_status_pids(tgid, &st, &pids);
	if (ret < 0)
		return ret;
	if (parent) {
		if (st.ppid <= 0)
			return -ESRCH;
		tgid = st.ppid;
		ret = ipcns_proc_status_pids(tgid, &st, &pids);
		if (ret < 0)
			return ret;
	}
	uint64_t ino;
	uint64_t ns[IPCNS_PID_LEVELS];
	ret = ipcns_proc_pidns_id(tgid, &ino);
	if (ret == 0)
		ret = ipcns_pidns_chain(tgid, ino, st.nlev, ns);
	if (ret < 0)
		return ret;
	out->n = st.nlev;
	for (uint32_t i = 0; i < st.nlev; i++)
		out->lv[i] = (struct ipcns_pidlevel){ pids.nstgid[i], ns[i] };
	return 0;
}

static int host_watch_exit(void *data, pid_t tgid)
{
	struct ipcns_host *h = data;
	return h->watch_exit ? h->watch_exit(h, tgid) : 0;
}

static void host_limit_hit(void *data, const char *what)
{
	struct ipcns_host *h = data;
	if (h->limit_hit)
		h->limit_hit(h, what);
}

static int host_proc_maps(void *data, pid_t tgid, ipcns_vma_cb cb, void *arg)
{
	return ipcns_proc_maps(tgid, cb, arg);
}

static int host_vmas_in(void *data, pid_t tgid, uint64_t start, uint64_t end, ipcns_vma_cb cb, void *arg)
{
	(void)data;
	if (__atomic_load_n(&procmap_missing, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tgid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	int ret = proc_maps_query(fd, tgid, start, end, cb, arg);
	if (ret == -ENOTTY) {
		__atomic_store_n(&procmap_missing, true, __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}
	return ret;
}

static int host_vma_at(void *data, pid_t tgid, uint64_t start, uint64_t end, dev_t *dev, ino_t *ino)
{
	char path[96];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)tgid, (unsigned long long)start,
		 (unsigned long long)end);
	if (stat(path, &st) < 0)
		return -ENOENT;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int ipcns_proc_idmap(pid_t tid, const char *which, struct ipcns_idmap *m)
{
	/* At most 340 lines of three numbers of up to 10 digits.  */
	size_t cap = 340 * 36 + 1, len = 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, which);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	cleanup_free char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0)
			return errno == ESRCH ? -ENOENT : -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			return -EIO;
	}
	buf[len] = '\0';
	return ipcns_idmap_parse(m, buf) < 0 ? -EIO : 0;
}

/* The first number in a small /proc file (after `key' when not NULL), or
 * -1.  */
static long long proc_num(const char *path, const char *key)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *at = buf;
	if (key) {
		at = strstr(buf, key);
		if (!at)
			return -1;
		at += strlen(key);
	}
	char *end;
	long long v = strtoll(at, &end, 10);
	return end == at ? -1 : v;
}

static long long host_vm_read(void *data, enum ipcns_vm what)
{
	struct sysinfo si;
	switch (what) {
	case IPCNS_VM_OVERCOMMIT_MEMORY:
		return proc_num("/proc/sys/vm/overcommit_memory", NULL);
	case IPCNS_VM_ADMIN_RESERVE_KB:
		return proc_num("/proc/sys/vm/admin_reserve_kbytes", NULL);
	case IPCNS_VM_HUGETLB_SHM_GROUP:
		return proc_num("/proc/sys/vm/hugetlb_shm_group", NULL);
	case IPCNS_VM_COMMIT_LIMIT_KB:
		return proc_num("/proc/meminfo", "CommitLimit:");
	case IPCNS_VM_COMMITTED_AS_KB:
		return proc_num("/proc/meminfo", "Committed_AS:");
	case IPCNS_VM_TOTAL_KB:
		if (sysinfo(&si) < 0)
			return -1;
		return (long long)(((uint64_t)si.totalram + si.totalswap) * si.mem_unit / 1024);
	case IPCNS_VM_OVERFLOW_UID:
		return proc_num("/proc/sys/kernel/overflowuid", NULL);
	case IPCNS_VM_OVERFLOW_GID:
		return proc_num("/proc/sys/kernel/overflowgid", NULL);
	}
	return -1;
}

static int64_t host_mono_ns(void *data)
{
	return ipcns_mono_ns();
}

static bool host_tracks_processes(void *data)
{
	struct ipcns_host *h = data;
	return h->tracks_processes && *h->tracks_processes;
}

const struct ipcns_host_ops ipcns_host_proc_ops = {
	.scan_vmas = host_scan_vmas,
	.now = NULL,
	.mono_ns = host_mono_ns,
	.vm_read = host_vm_read,
	.limit_hit = host_limit_hit,
	.proc_info = host_proc_info,
	.proc_chain = host_proc_chain,
	.watch_exit = host_watch_exit,
	.proc_maps = host_proc_maps,
	.vma_at = host_vma_at,
	.vmas_in = host_vmas_in,
	.tracks_processes = host_tracks_processes,
};

/* Where cgroup v2 is mounted here (its root, not a bind of a subtree):
 * the first such line of mountinfo.  */
static int cgroup2_mount(char *out, size_t size)
{
	char buf[8192], *heap;
	ssize_t n = read_file("/proc/self/mountinfo", buf, sizeof(buf), &heap);
	if (n < 0)
		return (int)n;
	char *text = heap ? heap : buf, *save = NULL;
	int ret = -ENOENT;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPER */
		char root[256], mnt[512], type[32];
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %255s %511s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%31s", type) != 1)
			continue;
		/* The last one reachable: a cgroup2 mounted over an earlier
		 * one's parent (crun's private /sys/fs/cgroup on a hybrid
		 * host, whose unified mount it hides) is the one paths reach.  */
		struct statfs sf;
		if (!strcmp(type, "cgroup2") && !strcmp(root, "/") && !strchr(mnt, '\\') && statfs(mnt, &sf) == 0 &&
		    sf.f_type == CGROUP2_SUPER_MAGIC) {
			snprintf(out, size, "%s", mnt);
			ret = 0;
		}
	}
	free(heap);
	return ret;
}

static struct {
	pthread_once_t once;
	int ret;
	char mnt[512];
} cg2 = { .once = PTHREAD_ONCE_INIT };

static void cgroup2_find(void)
{
	cg2.ret = cgroup2_mount(cg2.mnt, sizeof(cg2.mnt));
}

int ipcns_proc_start_ticks(pid_t pid, unsigned long long *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* Fields 3 (state) to 21 skipped, then starttime.  */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 ticks) != 1)
		return -EIO;
	return 0;
}

int ipcns_proc_cgroup_dir(pid_t tid, char *path, size_t size, char *full, size_t fsize)
{
	char file[64], buf[4096], *heap;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)tid);
	ssize_t n = read_file(file, buf, sizeof(buf), &heap);
	if (n < 0)
		return (int)n;
	char *text = heap ? heap : buf, *save = NULL;
	int ret = -ENOENT;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3))
			continue;
		/* Outside our cgroup namespace ("/.."), or removed: none.  */
		if (line[3] != '/' || strstr(line + 3, "/..") || strstr(line, " (deleted)")) {
			ret = -ENOENT;
			break;
		}
		snprintf(path, size, "%s", line + 3);
		ret = 0;
		break;
	}
	free(heap);
	if (ret < 0)
		return ret;
	pthread_once(&cg2.once, cgroup2_find);
	if (cg2.ret < 0)
		return cg2.ret;
	if ((size_t)snprintf(full, fsize, "%s%s", cg2.mnt, strcmp(path, "/") ? path : "") >= fsize)
		return -ENAMETOOLONG;
	return 0;
}

int ipcns_proc_cgroup_open(pid_t tid, char *path, size_t size, uint64_t *id)
{
	char full[4096 + 512];
	path[0] = '\0';
	int ret = ipcns_proc_cgroup_dir(tid, path, size, full, sizeof(full));
	if (!strcmp(path, "/"))
		return -EISDIR;
	if (ret < 0)
		return ret;
	int fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*id = (uint64_t)st.st_ino;
	return fd;
}
