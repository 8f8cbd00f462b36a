/* SPDX-License-Identifier: MIT */
/* The front ends' event kit: what ipcnsd's namespace workers and the crun
 * plugin's helper thread both need beside the notify fds.  One monotonic
 * clock; the deadlines of parked calls (a min-heap on a timerfd); pidfds
 * for the exits the core asked to hear of; the periodic tick (sweep of
 * abandoned parked calls, reap of segments removed while attached).  Each
 * gives the front end an fd for its own epoll set; none takes a lock: the
 * caller holds whatever serialises its namespace.  */
#ifndef IPCNS_EVENTS_H
#define IPCNS_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"

/* CLOCK_MONOTONIC in ns: the clock of every deadline (semtimedop's
 * timeout is relative, so Linux measures it on a clock that does not
 * jump).  */
int64_t ipcns_mono_ns(void);

/* Add fd to epfd for EPOLLIN with `tag' as its data: 0 or -errno.  */
int ipcns_ep_add(int epfd, int fd, void *tag);
void ipcns_ep_del(int epfd, int fd);

/* ---- Deadlines of parked calls (semtimedop): a min-heap by deadline;
 * each waiter's timer slot (ipcns_waiter_timer_slot) is its index.  */
struct ipcns_deadlines {
	int fd; /* a timerfd, readable when the earliest deadline passed */
	struct ipcns_waiter **heap;
	size_t n, cap;
};
int ipcns_deadlines_init(struct ipcns_deadlines *d);
void ipcns_deadlines_fini(struct ipcns_deadlines *d);
/* The notification layer's arm_timer: when out of memory the call is
 * expired at once, as if its deadline had passed.  */
void ipcns_deadlines_add(struct ipcns_deadlines *d, struct ipcns_waiter *w);
/* And its disarm_timer; a waiter not in the heap is ignored.  */
void ipcns_deadlines_remove(struct ipcns_deadlines *d, struct ipcns_waiter *w);
/* The timerfd is readable: every passed deadline's call expired
 * (ipcns_waiter_expire), the timer set for the next.  0, or -errno of
 * the timerfd's read (for the log; the deadlines are handled anyway).  */
int ipcns_deadlines_fire(struct ipcns_deadlines *d);

/* ---- Exits: a pidfd of tgid, -errno when the process is gone (ESRCH)
 * or no fd is left.  A pidfd of a process that exited after the event
 * that named it is readable at once, so no exit is missed.  */
int ipcns_pidfd_open(pid_t tgid);

/* ---- The tick: every IPCNS_TICK_SECONDS, parked calls whose callers
 * were interrupted or killed are dropped when nothing else touched their
 * object; every IPCNS_REAP_TICKS ticks, segments removed while attached
 * are destroyed once no process maps them (children never seen
 * included).  */
#define IPCNS_TICK_SECONDS 1
#define IPCNS_REAP_TICKS 5
struct ipcns_tick {
	int fd; /* a periodic timerfd */
	unsigned int ticks;
};
int ipcns_tick_init(struct ipcns_tick *t);
void ipcns_tick_fini(struct ipcns_tick *t);
/* The timerfd is readable.  */
void ipcns_tick_fire(struct ipcns_tick *t, struct ipcns_ns *ns);

#endif
