/* SPDX-License-Identifier: MIT */
/* Budgets of what the daemon holds for a namespace: memory and file
 * descriptors, per namespace (ipcns_limits.quota_mem_bytes, quota_fds)
 * and for every namespace of the front end together (struct ipcns_pool,
 * the operator's daemon-wide ceilings).
 *
 * A namespace's counters belong to whoever serves it (one thread at a
 * time, as the rest of the core); the pool is shared by all of them and
 * updated with atomic adds.  Over a budget an allocation fails as if
 * malloc had: the call gets ENOMEM, Linux's errno when its own
 * allocation for that call fails (newary, newque, load_msg,
 * find_alloc_undo, kvmalloc in semtimedop).  */
#include <stdint.h>
#include <string.h>

#include "core.h"

/* Charge without a check: what is taken already, or must be.  */
void ipcns_budget_mem_force(struct ipcns_budget *b, uint64_t bytes)
{
	if (!b)
		return;
	b->mem_used += bytes;
	if (b->pool)
		__atomic_add_fetch(&b->pool->mem_used, bytes, __ATOMIC_RELAXED);
}

int ipcns_budget_mem_charge(struct ipcns_budget *b, uint64_t bytes)
{
	if (!b)
		return 0;
	if (b->mem_limit && (bytes > b->mem_limit || b->mem_used > b->mem_limit - bytes))
		return -ENOMEM;
	struct ipcns_pool *pool = b->pool;
	if (pool) {
		uint64_t now = __atomic_add_fetch(&pool->mem_used, bytes, __ATOMIC_RELAXED);
		if (pool->mem_limit && now > pool->mem_limit) {
			__atomic_sub_fetch(&pool->mem_used, bytes, __ATOMIC_RELAXED);
			return -ENOMEM;
		}
	}
	b->mem_used += bytes;
	return 0;
}

void ipcns_budget_mem_uncharge(struct ipcns_budget *b, uint64_t bytes)
{
	if (!b)
		return;
	if (bytes > b->mem_used)
		bytes = b->mem_used;
	b->mem_used -= bytes;
	if (b->pool)
		__atomic_sub_fetch(&b->pool->mem_used, bytes, __ATOMIC_RELAXED);
}

/* Every charged allocation starts with this header: the budget it is
 * charged to and how much, so that freeing it needs neither (and a
 * cleanup attribute can free it).  16 bytes keep malloc's alignment.  */
struct mem_hdr {
	struct ipcns_budget *b;
	uint64_t bytes;
};
_Static_assert(sizeof(struct mem_hdr) == 16, "mem_hdr keeps 16-byte alignment");

/* What malloc takes for a request: the request, our header and malloc's
 * size word, in 16-byte granules (glibc's chunk, 32 bytes at least).  */
static uint64_t cost(size_t size)
{
	uint64_t c = ((uint64_t)size + sizeof(struct mem_hdr) + sizeof(size_t) + 15) & ~(uint64_t)15;
	return c < 32 ? 32 : c;
}

static void *charged(struct ipcns_budget *b, size_t size, bool zero, bool force)
{
	if (size > SIZE_MAX - 64) {
		errno = ENOMEM;
		return NULL;
	}
	if (force) {
		ipcns_budget_mem_force(b, cost(size));
	} else if (ipcns_budget_mem_charge(b, cost(size)) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	struct mem_hdr *h = zero ? calloc(1, sizeof(*h) + size) : malloc(sizeof(*h) + size);
	if (!h) {
		ipcns_budget_mem_uncharge(b, cost(size));
		return NULL;
	}
	h->b = b;
	h->bytes = b ? cost(size) : 0;
	return h + 1;
}

void *ipcns_mem_alloc(struct ipcns_budget *b, size_t size)
{
	return charged(b, size, false, false);
}

void *ipcns_mem_zalloc(struct ipcns_budget *b, size_t size)
{
	return charged(b, size, true, false);
}

static void *mem_realloc(struct ipcns_budget *b, void *p, size_t size, bool force)
{
	if (!p)
		return charged(b, size, false, force);
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	b = h->b;
	uint64_t old = h->bytes, want = b ? cost(size) : 0;
	/* Charge a growth before realloc moves anything: a refusal leaves p
	 * as it was.  */
	if (size > SIZE_MAX - 64) {
		errno = ENOMEM;
		return NULL;
	}
	if (want > old) {
		if (force)
			ipcns_budget_mem_force(b, want - old);
		else if (ipcns_budget_mem_charge(b, want - old) < 0) {
			errno = ENOMEM;
			return NULL;
		}
	}
	struct mem_hdr *n = realloc(h, sizeof(*h) + size);
	if (!n) {
		if (want > old)
			ipcns_budget_mem_uncharge(b, want - old);
		return NULL;
	}
	if (want < old)
		ipcns_budget_mem_uncharge(b, old - want);
	n->bytes = want;
	return n + 1;
}

void *ipcns_mem_realloc(struct ipcns_budget *b, void *p, size_t size)
{
	return mem_realloc(b, p, size, false);
}

void *ipcns_mem_realloc_force(struct ipcns_budget *b, void *p, size_t size)
{
	return mem_realloc(b, p, size, true);
}

void ipcns_mem_free(void *p)
{
	if (!p)
		return;
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	ipcns_budget_mem_uncharge(h->b, h->bytes);
	free(h);
}

int ipcns_budget_fd_charge(struct ipcns_budget *b, unsigned int n, bool force)
{
	if (!b)
		return 0;
	if (!force && b->fd_limit && (n > b->fd_limit || b->fds_used > b->fd_limit - n))
		return -EMFILE;
	struct ipcns_pool *pool = b->pool;
	if (pool) {
		uint64_t now = __atomic_add_fetch(&pool->fds_used, n, __ATOMIC_RELAXED);
		/* The front end may move its ceiling at any time (ipcnsd reads
		 * its RLIMIT_NOFILE again every second).  */
		uint64_t limit = __atomic_load_n(&pool->fd_limit, __ATOMIC_RELAXED);
		if (!force && limit && now > limit) {
			__atomic_sub_fetch(&pool->fds_used, n, __ATOMIC_RELAXED);
			return -EMFILE;
		}
	}
	b->fds_used += n;
	return 0;
}

void ipcns_budget_fd_uncharge(struct ipcns_budget *b, unsigned int n)
{
	if (!b)
		return;
	if (n > b->fds_used)
		n = b->fds_used;
	b->fds_used -= n;
	if (b->pool)
		__atomic_sub_fetch(&b->pool->fds_used, n, __ATOMIC_RELAXED);
}

void ipcns_budget_release(struct ipcns_budget *b)
{
	if (b->pool) {
		__atomic_sub_fetch(&b->pool->mem_used, b->mem_used, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&b->pool->fds_used, b->fds_used, __ATOMIC_RELAXED);
	}
	b->mem_used = 0;
	b->fds_used = 0;
	b->pool = NULL;
}

void ipcns_ns_set_pool(struct ipcns_ns *ns, struct ipcns_pool *pool)
{
	struct ipcns_budget *b = &ns->budget;
	if (b->pool) {
		__atomic_sub_fetch(&b->pool->mem_used, b->mem_used, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&b->pool->fds_used, b->fds_used, __ATOMIC_RELAXED);
	}
	b->pool = pool;
	if (pool) {
		__atomic_add_fetch(&pool->mem_used, b->mem_used, __ATOMIC_RELAXED);
		__atomic_add_fetch(&pool->fds_used, b->fds_used, __ATOMIC_RELAXED);
	}
}

int ipcns_ns_mem_charge(struct ipcns_ns *ns, uint64_t bytes)
{
	return ipcns_budget_mem_charge(&ns->budget, bytes);
}

void ipcns_ns_mem_force(struct ipcns_ns *ns, uint64_t bytes)
{
	ipcns_budget_mem_force(&ns->budget, bytes);
}

void ipcns_ns_mem_uncharge(struct ipcns_ns *ns, uint64_t bytes)
{
	ipcns_budget_mem_uncharge(&ns->budget, bytes);
}

int ipcns_ns_fd_charge(struct ipcns_ns *ns, unsigned int n, bool force)
{
	return ipcns_budget_fd_charge(&ns->budget, n, force);
}

void ipcns_ns_fd_uncharge(struct ipcns_ns *ns, unsigned int n)
{
	ipcns_budget_fd_uncharge(&ns->budget, n);
}
