/* SPDX-License-Identifier: MIT */
/* ipcnsd internals shared by its files.  */
#ifndef IPCNSD_DAEMON_H
#define IPCNSD_DAEMON_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"
#include "notify.h"
#include "oci_limits.h"

enum ev_kind { EV_LISTEN, EV_NFD, EV_PIDFD, EV_TIMER, EV_TICK, EV_SIGNAL, EV_PROC, EV_WAKE };

struct ev {
	enum ev_kind kind;
	int fd;
};

struct nsent;

struct container {
	struct container *next;
	char *id;
	pid_t pid;
	char *bundle;
	struct nsent *nse;
	int nfds; /* live notify fds */
	int64_t created;
};

struct nfd_ent {
	struct ev ev;
	struct ipcns_nfd nf;
	struct container *ct;
	struct nfd_ent *next;
};

struct watch {
	struct ev ev;
	pid_t tgid;
	struct nsent *nse;
	struct watch *next;  /* in nse->watches */
	struct watch *hnext; /* in the daemon's tgid hash */
};

/* A fork or exec of a watched process, read from the proc connector by
 * whichever thread drained it, for the namespace's worker to apply.  */
struct pevent {
	struct pevent *next;
	bool fork;
	pid_t tgid, child;
};

/* A namespace and the worker thread that serves it.  Everything reached
 * from `ns', the timer heap and the tick belong to whoever holds `lock':
 * the worker while it handles a batch of events, the main thread while it
 * answers an operator or registers a container.  Lock order: D.reg_lock,
 * then an nsent's lock, then D.watch_lock and D.cn_lock (leaves).  */
struct nsent {
	struct nsent *next;
	char *key;           /* "ipc:INODE" or "name:NAME" */
	struct ipcns_ns *ns;
	struct ipcns_host host;
	int refs;            /* notify fds using it; under D.reg_lock */
	int containers;      /* under D.reg_lock */
	bool dying;          /* out of D.namespaces, its worker frees it */
	pthread_mutex_t lock;
	pthread_t thread;
	int epfd;
	struct ev wake_ev, timer_ev, tick_ev;
	/* Min-heap of parked calls with a deadline.  */
	struct ipcns_waiter **heap;
	size_t nheap, capheap;
	unsigned int ticks;
	/* Its notify fds, polled by the worker itself (not through epoll);
	 * nfd_gen changes with the set.  Under lock.  */
	struct nfd_ent **pnfds;
	size_t npnfds, cappnfds;
	unsigned int nfd_gen;
	char names[256];     /* its containers, for the log; under lock */
	/* Under D.watch_lock.  */
	struct watch *watches;
	size_t nwatches;
	struct pevent *inbox, **inbox_tail;
};

struct daemon {
	int epfd; /* the main thread's: the socket, signals, the connector */
	struct ev listen_ev, tick_ev, sig_ev, proc_ev;
	/* The registry: containers, notify fds, namespaces.  */
	pthread_mutex_t reg_lock;
	/* Watched processes by tgid over all namespaces, each namespace's
	 * watches and inbox.  */
	pthread_mutex_t watch_lock;
	struct watch *whash[1024];
	/* Reading the proc connector.  */
	pthread_mutex_t cn_lock;
	const char *socket_path;
	struct container *containers;
	struct nsent *namespaces;
	struct nfd_ent *nfds;
	/* Workers alive, for the shutdown.  */
	pthread_mutex_t workers_lock;
	pthread_cond_t workers_cond;
	int nworkers;
	bool sync_wakeup;
	bool tracks_processes; /* the proc connector works and lost nothing */
	bool listen_paused;    /* out of fds: the socket is out of the loop */
	volatile bool stop;
};

extern struct daemon D;

void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* main.c: listen again after fds were freed (any thread).  */
void listen_resume(void);

/* worker.c: namespaces, their workers, the proc connector.  */
int ep_add(int epfd, int fd, struct ev *ev, uint32_t events);
void ep_del(int epfd, int fd);
int open_proc_connector(void);
/* Read everything the proc connector has queued into the inboxes.  */
void cn_drain(void);
/* Wake a namespace's worker (a new notify fd, the shutdown).  */
void nsent_wake(struct nsent *e);
/* The registry: D.reg_lock held.  */
struct nsent *nsent_find(const char *key);
struct nsent *nsent_get(const char *key, const struct ipcns_limits *limits, ino_t ipc_ino);
/* D.reg_lock and e->lock held.  */
void nsent_names(struct nsent *e);
/* A notify fd of the namespace is gone; true when it was the last.  */
bool nsent_unref(struct nsent *e);
/* Free a namespace nobody can reach any more.  */
void nsent_destroy(struct nsent *e);
void container_put(struct container *c);
/* A notify fd hung up (its namespace's lock not held); true when the
 * namespace must be freed.  */
bool nfd_close(struct nfd_ent *ne);
extern const struct ipcns_nfd_ops nfd_ops;

/* Take a namespace for the main thread (reg_lock held): its worker's
 * pending fork and exec events applied first.  */
void nsent_enter(struct nsent *e);
void nsent_leave(struct nsent *e);
/* The same for an operator's request: false when the namespace's worker
 * has held it for ms (a call stopped with its container: `runc pause'
 * while ipcnsd injects a shmat), so that one frozen container never
 * stalls the main thread.  */
#define NSENT_OPERATOR_WAIT_MS 1000
bool nsent_try_enter(struct nsent *e, int ms);

/* control.c: the operator's protocol on the same socket.  */
json_t *ipcnsd_control(struct daemon *d, json_t *req);

#endif
