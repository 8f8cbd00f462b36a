/* ipcnsd internals shared by its files.  */
#ifndef IPCNSD_DAEMON_H
#define IPCNSD_DAEMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcns/ipcns.h"
#include "notify.h"
#include "oci_limits.h"

enum ev_kind { EV_LISTEN, EV_NFD, EV_PIDFD, EV_TIMER, EV_TICK, EV_SIGNAL, EV_PROC };

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

struct nsent {
	struct nsent *next;
	char *key;           /* "ipc:INODE" or "name:NAME" */
	struct ipcns_ns *ns;
	struct ipcns_host host;
	int refs;            /* notify fds using it */
	int containers;
	struct watch *watches;
	size_t nwatches;
};

struct daemon {
	int epfd;
	struct ev listen_ev, timer_ev, tick_ev, sig_ev, proc_ev;
	/* Watched processes by tgid, over all namespaces.  */
	struct watch *whash[1024];
	const char *socket_path;
	struct container *containers;
	struct nsent *namespaces;
	struct nfd_ent *nfds;
	/* Min-heap of parked calls with a deadline.  */
	struct ipcns_waiter **heap;
	size_t nheap, capheap;
	bool sync_wakeup;
	bool tracks_processes; /* the proc connector works and lost nothing */
	bool listen_paused;    /* out of fds: the socket is out of the loop */
	bool stop;
};

void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* control.c: the operator's protocol on the same socket.  */
json_t *ipcnsd_control(struct daemon *d, json_t *req);

#endif
