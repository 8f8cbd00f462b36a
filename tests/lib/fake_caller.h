/* SPDX-License-Identifier: MIT */
/* A caller for unit tests of the core: no kernel, no seccomp.  The caller's
 * memory is this process's memory (addresses are pointers); addresses
 * below 64 KiB are "unmapped" and give -EFAULT.  Parked calls become
 * fake_waiter objects that record the answer they were given.  */
#ifndef IPCNS_FAKE_CALLER_H
#define IPCNS_FAKE_CALLER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ipcns/ipcns.h"

#define FAKE_BAD_ADDR 0x1000ULL

struct fake_waiter {
	struct ipcns_waiter w;
	struct fake_proc *proc;
	bool alive;         /* the test flips this to simulate an interrupted caller */
	bool deliverable;   /* false: deliver() fails with -ENOENT */
	bool answered;
	long answer;
	unsigned long answered_seq; /* order of the answers across waiters */
	bool released;
	struct fake_waiter *next; /* all waiters of a test, for cleanup */
};

struct fake_proc {
	struct ipcns_caller c;
	struct ipcns_cred cred;
	pid_t host_tgid, ns_tgid;
	uint64_t memlock;
	bool watched;
	struct fake_waiter *last_parked;
	struct fake_waiter **all; /* list head of every waiter created */
};

static bool fake_bad(uint64_t addr, size_t len)
{
	return addr < 65536 || addr + len < addr;
}

static int fake_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	struct fake_proc *p = (struct fake_proc *)c;
	*out = p->cred;
	return 0;
}
static int fake_pids(struct ipcns_caller *c, pid_t *h, pid_t *n)
{
	struct fake_proc *p = (struct fake_proc *)c;
	*h = p->host_tgid;
	*n = p->ns_tgid;
	return 0;
}
static int fake_read(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len)
{
	if (fake_bad(addr, len))
		return -EFAULT;
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}
static int fake_write(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len)
{
	if (fake_bad(addr, len))
		return -EFAULT;
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}
static int fake_shm_map(struct ipcns_caller *c, int fd, uint64_t addr, uint64_t len, int prot, int flags,
			uint64_t *mapped)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*mapped = (uint64_t)(uintptr_t)p;
	return 0;
}
static int fake_shm_unmap(struct ipcns_caller *c, uint64_t addr, uint64_t len)
{
	return munmap((void *)(uintptr_t)addr, len) < 0 ? -errno : 0;
}
static int fake_maps(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg);
static int fake_memlock(struct ipcns_caller *c, uint64_t *limit)
{
	*limit = ((struct fake_proc *)c)->memlock;
	return 0;
}

static bool fake_w_alive(struct ipcns_waiter *w)
{
	return ((struct fake_waiter *)w)->alive;
}
static int fake_w_deliver(struct ipcns_waiter *w, long ret)
{
	struct fake_waiter *fw = (struct fake_waiter *)w;
	if (!fw->alive || !fw->deliverable)
		return -ENOENT;
	static unsigned long seq;
	fw->answered = true;
	fw->answer = ret;
	fw->answered_seq = ++seq;
	return 0;
}
static void fake_w_release(struct ipcns_waiter *w)
{
	((struct fake_waiter *)w)->released = true;
}
static const struct ipcns_waiter_ops fake_waiter_ops = {
	.alive = fake_w_alive,
	.deliver = fake_w_deliver,
	.release = fake_w_release,
};

static struct ipcns_waiter *fake_park(struct ipcns_caller *c)
{
	struct fake_proc *p = (struct fake_proc *)c;
	struct fake_waiter *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	fw->w.ops = &fake_waiter_ops;
	fw->w.caller = c;
	fw->w.deadline = -1;
	fw->proc = p;
	fw->alive = true;
	fw->deliverable = true;
	if (p->all) {
		fw->next = *p->all;
		*p->all = fw;
	}
	p->last_parked = fw;
	return &fw->w;
}
static int fake_watch_exit(struct ipcns_caller *c)
{
	((struct fake_proc *)c)->watched = true;
	return 0;
}

static const struct ipcns_caller_ops fake_caller_ops = {
	.cred = fake_cred,
	.pids = fake_pids,
	.read = fake_read,
	.write = fake_write,
	.shm_map = fake_shm_map,
	.shm_unmap = fake_shm_unmap,
	.maps = fake_maps,
	.memlock_limit = fake_memlock,
	.park = fake_park,
	.watch_exit = fake_watch_exit,
};

/* A process with euid/egid `uid' and no capabilities unless `caps'.  */
static inline void fake_proc_init(struct fake_proc *p, uid_t uid, uint64_t caps, pid_t pid,
				  struct fake_waiter **all)
{
	memset(p, 0, sizeof(*p));
	p->c.ops = &fake_caller_ops;
	p->cred.euid = uid;
	p->cred.egid = uid;
	p->cred.fsgid = uid;
	p->cred.cap_effective = caps;
	p->host_tgid = pid;
	p->ns_tgid = pid;
	p->memlock = 8 << 20;
	p->all = all;
}

/* The caller may change creds between calls: drop the cached copy.  */
static inline struct ipcns_caller *fake_call(struct fake_proc *p)
{
	p->c.have_cred = false;
	p->c.have_pids = false;
	p->c.have_ids = false;
	p->c.have_caps = false;
	return &p->c;
}

static inline void fake_waiters_free(struct fake_waiter **all)
{
	while (*all) {
		struct fake_waiter *n = (*all)->next;
		free(*all);
		*all = n;
	}
}

/* Free a test's namespace, then every waiter parked in it.  Returns how
 * many of them the namespace had not released by then (it must release
 * each parked call, at the latest when it is freed): 0 if all were.  */
static inline int fake_ns_free(struct ipcns_ns *ns, struct fake_waiter **all)
{
	int unreleased = 0;

	ipcns_ns_free(ns);
	for (struct fake_waiter *w = *all; w; w = w->next)
		unreleased += !w->released;
	fake_waiters_free(all);
	return unreleased;
}

/* /proc/self/maps of this process, for the shm tests.  */
#include <stdio.h>
#include <sys/sysmacros.h>
static int fake_scan_self(ipcns_vma_cb cb, void *arg)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[512];
	int ret = 0;
	while (ret == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off, ino;
		unsigned int ma, mi;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &s, &e, perms, &off, &ma, &mi, &ino) != 7 ||
		    ino == 0)
			continue;
		struct ipcns_vma v = { .start = s, .end = e, .offset = off, .dev = makedev(ma, mi), .ino = ino,
					.pid = getpid() };
		v.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			 (perms[2] == 'x' ? PROT_EXEC : 0);
		ret = cb(arg, &v);
	}
	fclose(f);
	return ret;
}
static int fake_maps(struct ipcns_caller *c, ipcns_vma_cb cb, void *arg)
{
	return fake_scan_self(cb, arg);
}
static int fake_host_scan(void *host, ipcns_vma_cb cb, void *arg)
{
	return fake_scan_self(cb, arg);
}
static const struct ipcns_host_ops fake_host_ops = {
	.scan_vmas = fake_host_scan,
};

#endif
