/* SPDX-License-Identifier: MIT */
/* The front ends' event kit (events.h).  */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "notify.h"

int64_t ipcns_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ipcns_ep_add(int epfd, int fd, void *tag)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

void ipcns_ep_del(int epfd, int fd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- Deadlines.  */

int ipcns_deadlines_init(struct ipcns_deadlines *d)
{
	*d = (struct ipcns_deadlines){ .fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	return d->fd < 0 ? -errno : 0;
}

void ipcns_deadlines_fini(struct ipcns_deadlines *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	free(d->heap);
	d->heap = NULL;
	d->n = d->cap = 0;
}

static void heap_swap(struct ipcns_deadlines *d, size_t a, size_t b)
{
	struct ipcns_waiter *t = d->heap[a];
	d->heap[a] = d->heap[b];
	d->heap[b] = t;
	*ipcns_waiter_timer_slot(d->heap[a]) = (int)a;
	*ipcns_waiter_timer_slot(d->heap[b]) = (int)b;
}

static void heap_up(struct ipcns_deadlines *d, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (d->heap[p]->deadline <= d->heap[i]->deadline)
			break;
		heap_swap(d, i, p);
		i = p;
	}
}

static void heap_down(struct ipcns_deadlines *d, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < d->n && d->heap[l]->deadline < d->heap[m]->deadline)
			m = l;
		if (r < d->n && d->heap[r]->deadline < d->heap[m]->deadline)
			m = r;
		if (m == i)
			break;
		heap_swap(d, i, m);
		i = m;
	}
}

static void rearm(struct ipcns_deadlines *d)
{
	struct itimerspec its = { 0 };
	if (d->n) {
		int64_t dl = d->heap[0]->deadline;
		/* 0 would disarm the timer.  */
		if (dl <= 0)
			dl = 1;
		its.it_value.tv_sec = dl / 1000000000;
		its.it_value.tv_nsec = dl % 1000000000;
	}
	timerfd_settime(d->fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static bool heap_remove(struct ipcns_deadlines *d, struct ipcns_waiter *w)
{
	int *slot = ipcns_waiter_timer_slot(w);
	size_t i = (size_t)*slot;
	if (*slot < 0 || i >= d->n || d->heap[i] != w)
		return false;
	*slot = -1;
	d->n--;
	if (i != d->n) {
		d->heap[i] = d->heap[d->n];
		*ipcns_waiter_timer_slot(d->heap[i]) = (int)i;
		heap_down(d, i);
		heap_up(d, i);
	}
	return true;
}

void ipcns_deadlines_add(struct ipcns_deadlines *d, struct ipcns_waiter *w)
{
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct ipcns_waiter **n = realloc(d->heap, ncap * sizeof(*n));
		if (!n) {
			/* Cannot keep the deadline: answer now, as if it had
			 * passed.  */
			ipcns_waiter_expire(ipcns_waiter_nfd(w)->ns, w);
			return;
		}
		d->heap = n;
		d->cap = ncap;
	}
	d->heap[d->n] = w;
	*ipcns_waiter_timer_slot(w) = (int)d->n;
	d->n++;
	heap_up(d, d->n - 1);
	rearm(d);
}

void ipcns_deadlines_remove(struct ipcns_deadlines *d, struct ipcns_waiter *w)
{
	if (heap_remove(d, w))
		rearm(d);
}

int ipcns_deadlines_fire(struct ipcns_deadlines *d)
{
	uint64_t n;
	int ret = 0;
	if (read(d->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		ret = -errno;
	int64_t now = ipcns_mono_ns();
	/* Out of the heap before it is expired: expiring one call may
	 * answer or release others, which leave the heap themselves.  */
	while (d->n && d->heap[0]->deadline <= now) {
		struct ipcns_waiter *w = d->heap[0];
		heap_remove(d, w);
		ipcns_waiter_expire(ipcns_waiter_nfd(w)->ns, w);
	}
	rearm(d);
	return ret;
}

/* ---- Exits.  */

int ipcns_pidfd_open(pid_t tgid)
{
	int fd = (int)syscall(SYS_pidfd_open, tgid, 0);
	return fd < 0 ? -errno : fd;
}

/* ---- The tick.  */

int ipcns_tick_init(struct ipcns_tick *t)
{
	struct itimerspec its = { .it_interval = { IPCNS_TICK_SECONDS, 0 }, .it_value = { IPCNS_TICK_SECONDS, 0 } };
	*t = (struct ipcns_tick){ .fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	if (t->fd < 0)
		return -errno;
	if (timerfd_settime(t->fd, 0, &its, NULL) < 0) {
		int err = -errno;
		ipcns_tick_fini(t);
		return err;
	}
	return 0;
}

void ipcns_tick_fini(struct ipcns_tick *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

void ipcns_tick_fire(struct ipcns_tick *t, struct ipcns_ns *ns)
{
	uint64_t n;
	struct ipcns_usage u;
	if (read(t->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	t->ticks++;
	ipcns_ns_usage(ns, &u);
	if (u.parked)
		ipcns_ns_sweep(ns);
	if (u.shm_ids && t->ticks % IPCNS_REAP_TICKS == 0)
		ipcns_ns_shm_reap(ns);
}
