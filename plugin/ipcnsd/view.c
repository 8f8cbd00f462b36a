/* SPDX-License-Identifier: MIT */
/* The view from inside: /proc/sysvipc/{shm,sem,msg} and the IPC sysctls
 * (/proc/sys/kernel/shm*, sem, msg*, *_next_id) of each namespace, as its
 * containers' processes read and write them (spec/view.md).
 *
 * One FUSE file system, mounted at the view directory beside the socket:
 *   sysvipc/{shm,sem,msg}      0444
 *   sys/kernel/<sysctl>        0644 (*_next_id 0444)
 * ipcns-hook binds them over the container's /proc/sysvipc and
 * /proc/sys/kernel/<sysctl> (OCI createContainer hook).  Every request
 * carries the tid of the process that made it (FUSE gives it in the
 * server's pid namespace, the host's): its kernel IPC namespace inode
 * names the namespace, as registration does, and its credentials and
 * user namespace decide what it may do and how ids are shown.  The
 * namespace is taken when the file is opened, as Linux's seq_file and
 * sysctl files take the opener's.
 *
 * Threads: the FUSE thread receives requests and answers those that need
 * no namespace (lookup, getattr, readdir, open).  A read or write of a
 * namespace is queued to that namespace's worker and answered by it,
 * with the namespace's lock it already holds: one busy or frozen
 * namespace delays only its own readers.  view_lock guards the table of
 * namespaces (inode -> namespace) and their queues; it is a leaf, held
 * for list operations only.
 *
 * The tree, the requester's checks and the answers are the view's file
 * system (plugin/lib/notify/viewfs.c), which the crun plugin serves
 * too; here are the session, the open files, the namespaces' queues and
 * the requests in flight across a restart.  */
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "view.h"
#include "viewfs.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif


/* In flight: a request the kernel handed to ipcnsd (it is "sent") waits
 * for its answer on the connection, whoever reads /dev/fuse next; a
 * reader killed meanwhile waits uninterruptibly (state D) until it comes.
 * The kernel never hands it out again, so an ipcnsd that dies between
 * reading a request and answering it would leave its reader there for
 * good.  Each request read is recorded, its bytes as read, in a memfd the
 * keeper holds, and erased once answered; the next ipcnsd processes the
 * recorded ones again before anything else (the answer goes to the
 * request's unique number, which the kernel still waits on; one
 * answered already is refused with ENOENT and changes nothing).  A
 * request longer than a slot (a write of more than ~400 bytes) is
 * answered EINTR instead.  */
#define INFLIGHT_SLOTS 1024
#define INFLIGHT_SLOT_BYTES 512
#define INFLIGHT_MAGIC 0x31746867696c6676ULL /* "vflight1" */
struct inflight_slot {
	uint64_t unique; /* 0: free; written last */
	uint32_t len;    /* bytes of req recorded; 0: too long to keep */
	uint32_t size;   /* the request's size */
	unsigned char req[INFLIGHT_SLOT_BYTES - 16];
};
struct inflight {
	uint64_t magic;
	uint32_t nslots, slot_bytes;
	unsigned char pad[INFLIGHT_SLOT_BYTES - 16];
	struct inflight_slot s[INFLIGHT_SLOTS];
};

struct vns {
	struct vns *next;
	struct nsent *e;
	uint64_t id;
	ino_t *inodes;
	size_t ninodes;
	int handles;
	size_t text_bytes; /* /proc/sysvipc text kept between reads */
	struct vreq *queue, **tail;
};

/* An open file.  */
struct vfh {
	uint64_t nsid; /* 0: not known yet (under V.lock) */
	/* What it shows; its kept text is counted in its namespace's
	 * text_bytes.  */
	struct ipcns_view_file f;
	/* The opener was under a seccomp filter: its container's
	 * registration is on its way if its namespace is not known yet.  */
	bool filtered;
	/* The open handle's and each read or write's in flight: a release
	 * may come while a worker still answers from fh (its text); the
	 * last holder frees it.  */
	unsigned refs;
	/* Its number in the kernel (fi->fh), and the table's chain (under
	 * V.lock).  */
	uint64_t key;
	struct vfh *hnext;
};

/* A read or write for a namespace's worker.  */
struct vreq {
	struct vreq *next;
	fuse_req_t req;
	struct vfh *fh;
	bool write;
	size_t size;
	off_t off;
	bool may_write;
	int slot;         /* its record in the in-flight table, or -1 */
	int64_t deadline; /* waiting for its namespace's registration */
	char data[]; /* a write's bytes */
};

static struct {
	pthread_mutex_t lock;
	struct vns *list;
	uint64_t next_id;
	struct fuse_session *se;
	pthread_t thread;
	int stopfd;
	bool running;
	char dir[4096];
	const struct ipcns_limits *ceiling;
	/* Reads and writes whose namespace is registering.  */
	struct vreq *pending;
	/* The session's fd came from a previous ipcnsd (--view-fd): it is
	 * left mounted when we stop.  */
	bool adopted;
	/* Open files by their number in the kernel (fi->fh): a number is
	 * never a pointer, since files opened under a previous ipcnsd come
	 * with that daemon's numbers.  Ours have fh_tag in the high half.  */
	struct vfh *fh_table[256];
	uint64_t fh_tag, fh_count;
	/* The requests read from /dev/fuse and not answered yet, in a memfd
	 * the keeper holds (see "In flight" below).  */
	struct inflight *inflight;
	int inflight_fd;
	bool inflight_adopted; /* the previous ipcnsd's */
	uint64_t inflight_used[INFLIGHT_SLOTS / 64];
	bool inflight_full_logged;
	/* The view thread, inside fuse_session_process_buf: the slot of the
	 * request being processed, and whether a read or write took it
	 * over to answer it later.  */
	int cur_slot;
	bool cur_taken;
} V = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1, .stopfd = -1, .inflight_fd = -1, .cur_slot = -1 };

/* ---- The table of namespaces.  */

static struct vns *vns_of(struct nsent *e)
{
	for (struct vns *v = V.list; v; v = v->next)
		if (v->e == e)
			return v;
	return NULL;
}

void view_ns_inode(struct nsent *e, ino_t ino)
{
	pthread_mutex_lock(&V.lock);
	struct vns *v = vns_of(e);
	if (!v && (v = calloc(1, sizeof(*v)))) {
		v->e = e;
		v->id = V.next_id++;
		v->tail = &v->queue;
		v->next = V.list;
		V.list = v;
	}
	bool moved = false;
	if (v && ino) {
		bool known = false;
		for (size_t i = 0; i < v->ninodes; i++)
			known |= v->inodes[i] == ino;
		ino_t *n = known ? NULL : realloc(v->inodes, (v->ninodes + 1) * sizeof(*n));
		if (n) {
			n[v->ninodes++] = ino;
			v->inodes = n;
		}
		/* Reads and writes that waited for this registration.  */
		for (struct vreq **pp = &V.pending; *pp;) {
			struct vreq *r = *pp;
			if (r->fh->f.ipc_ino != ino) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			r->next = NULL;
			r->fh->nsid = v->id;
			v->handles++;
			*v->tail = r;
			v->tail = &r->next;
			moved = true;
		}
		if (moved)
			__atomic_store_n(&e->view_pending, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&V.lock);
	if (moved)
		nsent_wake(e);
}

static void vreq_free(struct vreq *r);

static void reply_gone(struct vreq *r)
{
	fuse_reply_err(r->req, EIO);
	vreq_free(r);
}

void view_ns_gone(struct nsent *e)
{
	pthread_mutex_lock(&V.lock);
	struct vns *v = NULL;
	for (struct vns **pp = &V.list; *pp; pp = &(*pp)->next) {
		if ((*pp)->e == e) {
			v = *pp;
			*pp = v->next;
			break;
		}
	}
	pthread_mutex_unlock(&V.lock);
	if (!v)
		return;
	/* Reads queued after its worker's last look: the namespace is
	 * gone with its last container.  */
	while (v->queue) {
		struct vreq *r = v->queue;
		v->queue = r->next;
		reply_gone(r);
	}
	free(v->inodes);
	free(v);
}

/* The namespace serving kernel IPC namespace ino: its id, 0 if none;
 * V.lock held.  */
static struct vns *vns_by_inode(ino_t ino)
{
	for (struct vns *v = V.list; v; v = v->next)
		for (size_t i = 0; i < v->ninodes; i++)
			if (v->inodes[i] == ino)
				return v;
	return NULL;
}

static struct vns *vns_by_id(uint64_t id)
{
	for (struct vns *v = V.list; v; v = v->next)
		if (v->id == id)
			return v;
	return NULL;
}

/* ---- The requester.  */

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

/* Count len more bytes of kept text for a file's namespace: 0 or
 * -ENOMEM.  */
static int text_charge(struct ipcns_view_file *f, size_t len)
{
	struct vfh *fh = container_of(f, struct vfh, f);
	int ret = 0;
	pthread_mutex_lock(&V.lock);
	struct vns *v = fh->nsid ? vns_by_id(fh->nsid) : NULL;
	if (v && v->text_bytes + len > IPCNS_VIEW_MAX_TEXT)
		ret = -ENOMEM;
	else if (v)
		v->text_bytes += len;
	pthread_mutex_unlock(&V.lock);
	return ret;
}

static void text_uncharge(struct ipcns_view_file *f, size_t len)
{
	struct vfh *fh = container_of(f, struct vfh, f);
	pthread_mutex_lock(&V.lock);
	struct vns *v = fh->nsid ? vns_by_id(fh->nsid) : NULL;
	if (v)
		v->text_bytes -= len;
	pthread_mutex_unlock(&V.lock);
}

static const struct ipcns_view_text_ops text_ops = { .charge = text_charge, .uncharge = text_uncharge };

static void vfh_free(struct vfh *fh)
{
	free(ipcns_view_text_take(&fh->f, &text_ops));
	ipcns_view_file_fini(&fh->f);
	free(fh);
}

static struct vfh *vfh_get(struct vfh *fh)
{
	__atomic_add_fetch(&fh->refs, 1, __ATOMIC_RELAXED);
	return fh;
}

static void vfh_put(struct vfh *fh)
{
	if (__atomic_sub_fetch(&fh->refs, 1, __ATOMIC_ACQ_REL) == 0)
		vfh_free(fh);
}

/* ---- In flight (see struct inflight).  */

static int inflight_map(int fd, bool fresh)
{
	struct stat sb;
	if (fresh && ftruncate(fd, sizeof(struct inflight)) < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if ((size_t)sb.st_size != sizeof(struct inflight))
		return -EINVAL;
	void *m = mmap(NULL, sizeof(struct inflight), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	struct inflight *t = m;
	if (fresh) {
		t->nslots = INFLIGHT_SLOTS;
		t->slot_bytes = INFLIGHT_SLOT_BYTES;
		t->magic = INFLIGHT_MAGIC;
	} else if (t->magic != INFLIGHT_MAGIC || t->nslots != INFLIGHT_SLOTS ||
		   t->slot_bytes != INFLIGHT_SLOT_BYTES) {
		munmap(m, sizeof(struct inflight));
		return -EINVAL;
	}
	V.inflight = t;
	V.inflight_fd = fd;
	return 0;
}

/* The table a previous ipcnsd left (fd >= 0), or a new one.  Without
 * one, requests are served untracked.  */
static void inflight_start(int fd)
{
	int ret = fd >= 0 ? inflight_map(fd, false) : -ENOENT;
	V.inflight_adopted = ret == 0;
	/* The previous ipcnsd's records keep their slots until replayed.  */
	for (int i = 0; ret == 0 && i < INFLIGHT_SLOTS; i++)
		if (__atomic_load_n(&V.inflight->s[i].unique, __ATOMIC_ACQUIRE))
			V.inflight_used[i / 64] |= 1ULL << (i % 64);
	if (ret < 0 && fd >= 0) {
		dlog("view: the previous ipcnsd's table of requests in flight is unusable (%s): its readers mid-request "
		     "wait until the view is unmounted",
		     strerror(-ret));
		close(fd);
	}
	if (ret == 0)
		return;
	fd = memfd_create("ipcns-view-inflight", MFD_CLOEXEC);
	ret = fd < 0 ? -errno : inflight_map(fd, true);
	if (ret < 0) {
		dlog("view: no table of requests in flight (%s): a reader whose request a killed ipcnsd had read "
		     "waits until the view is unmounted",
		     strerror(-ret));
		if (fd >= 0)
			close(fd);
	}
}

static void inflight_stop(void)
{
	if (!V.inflight)
		return;
	munmap(V.inflight, sizeof(*V.inflight));
	close(V.inflight_fd);
	V.inflight = NULL;
	V.inflight_fd = -1;
	V.inflight_adopted = false;
	memset(V.inflight_used, 0, sizeof(V.inflight_used));
}

/* Record a request just read: its slot, or -1.  */
static int inflight_add(const struct fuse_buf *buf)
{
	if (!V.inflight || (buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(struct fuse_in_header))
		return -1;
	int slot = -1;
	pthread_mutex_lock(&V.lock);
	for (size_t w = 0; slot < 0 && w < ARRAY_SIZE(V.inflight_used); w++) {
		if (V.inflight_used[w] == UINT64_MAX)
			continue;
		int bit = __builtin_ctzll(~V.inflight_used[w]);
		V.inflight_used[w] |= 1ULL << bit;
		slot = (int)(w * 64 + (size_t)bit);
	}
	pthread_mutex_unlock(&V.lock);
	if (slot < 0) {
		if (!V.inflight_full_logged)
			dlog("view: %d requests in flight: more are not recorded, and a reader whose request a killed "
			     "ipcnsd had read waits until the view is unmounted",
			     INFLIGHT_SLOTS);
		V.inflight_full_logged = true;
		return -1;
	}
	struct inflight_slot *s = &V.inflight->s[slot];
	const struct fuse_in_header *h = buf->mem;
	s->size = (uint32_t)buf->size;
	s->len = buf->size <= sizeof(s->req) ? (uint32_t)buf->size : 0;
	memcpy(s->req, buf->mem, s->len);
	__atomic_store_n(&s->unique, h->unique, __ATOMIC_RELEASE);
	return slot;
}

/* The request of slot was answered.  */
static void inflight_del(int slot)
{
	if (slot < 0)
		return;
	__atomic_store_n(&V.inflight->s[slot].unique, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&V.lock);
	V.inflight_used[slot / 64] &= ~(1ULL << (slot % 64));
	pthread_mutex_unlock(&V.lock);
}

/* Process a request read from /dev/fuse (or recorded by the previous
 * ipcnsd) with its record in slot: erased once answered, here or, for a
 * read or write taken by a worker, when the worker answers it.  */
static void process(struct fuse_buf *buf, int slot)
{
	V.cur_slot = slot;
	V.cur_taken = false;
	fuse_session_process_buf(V.se, buf);
	if (!V.cur_taken)
		inflight_del(slot);
	V.cur_slot = -1;
}

/* Taking over: the requests the previous ipcnsd read and did not answer,
 * before any new one.  */
static void inflight_replay(void)
{
	if (!V.inflight)
		return;
	int replayed = 0, refused = 0;
	for (int i = 0; i < INFLIGHT_SLOTS; i++) {
		struct inflight_slot *s = &V.inflight->s[i];
		uint64_t unique = __atomic_load_n(&s->unique, __ATOMIC_ACQUIRE);
		if (!unique)
			continue;
		if (s->len >= sizeof(struct fuse_in_header)) {
			/* Processed from a copy: libfuse may keep pointers into
			 * the buffer only for the call.  */
			void *copy = malloc(s->len);
			if (copy) {
				memcpy(copy, s->req, s->len);
				struct fuse_buf buf = { .mem = copy, .size = s->len };
				process(&buf, i);
				free(copy);
				replayed++;
				continue;
			}
		}
		/* Not kept whole: the reader gets EINTR.  */
		struct fuse_out_header oh = { .len = sizeof(oh), .error = -EINTR, .unique = unique };
		if (write(fuse_session_fd(V.se), &oh, sizeof(oh)) < 0 && errno != ENOENT)
			dlog("view: answering request %llu of the previous ipcnsd: %s", (unsigned long long)unique,
			     strerror(errno));
		inflight_del(i);
		refused++;
	}
	if (replayed || refused)
		dlog("view: %d requests the previous ipcnsd had read and not answered served again, %d answered EINTR",
		     replayed, refused);
}

int view_inflight_fd(bool *adopted)
{
	*adopted = V.inflight_adopted;
	return V.running && V.inflight ? V.inflight_fd : -1;
}

/* A read or write done with (answered, or dropped at stop).  */
static void vreq_free(struct vreq *r)
{
	inflight_del(r->slot);
	vfh_put(r->fh);
	free(r);
}

/* Is tid under a seccomp filter (Seccomp: 2)?  */
static bool under_seccomp(pid_t tid)
{
	char path[64], buf[65536];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *p = strstr(buf, "\nSeccomp:");
	return p && strtol(p + 9, NULL, 10) == 2;
}

/* ---- Open files.  */

static struct vfh **fh_bucket(uint64_t key)
{
	return &V.fh_table[(key ^ (key >> 32)) % ARRAY_SIZE(V.fh_table)];
}

/* V.lock held.  */
static struct vfh *fh_find(uint64_t key)
{
	for (struct vfh *fh = *fh_bucket(key); fh; fh = fh->hnext)
		if (fh->key == key)
			return fh;
	return NULL;
}

/* Take fh out of the table and its namespace's count; V.lock held.  */
static void fh_unlink(struct vfh *fh)
{
	for (struct vfh **pp = fh_bucket(fh->key); *pp; pp = &(*pp)->hnext) {
		if (*pp == fh) {
			*pp = fh->hnext;
			break;
		}
	}
	struct vns *v = fh->nsid ? vns_by_id(fh->nsid) : NULL;
	if (v)
		v->handles--;
}

/* A handle on file ino for the requester w, numbered key in the table:
 * its namespace (counted in its handles) and id maps.  */
static int fh_new(struct ipcns_view_who *w, fuse_ino_t ino, uint64_t key, struct vfh **out)
{
	struct vfh *fh = calloc(1, sizeof(*fh));
	if (!fh)
		return -ENOMEM;
	fh->refs = 1;
	int ret = ipcns_view_file_init(&fh->f, w, ino);
	if (ret < 0) {
		free(fh);
		return ret;
	}
	fh->filtered = under_seccomp(w->tid);
	pthread_mutex_lock(&V.lock);
	struct vns *v = vns_by_inode(w->ipc_ino);
	if (v && v->handles >= IPCNS_VIEW_MAX_FILES) {
		ret = -ENFILE;
	} else {
		if (v)
			v->handles++;
		fh->nsid = v ? v->id : 0;
		fh->key = key;
		fh->hnext = *fh_bucket(key);
		*fh_bucket(key) = fh;
	}
	pthread_mutex_unlock(&V.lock);
	if (ret < 0) {
		vfh_free(fh);
		return ret;
	}
	*out = fh;
	return 0;
}

/* The open file of a read or write, with a reference.  One opened under
 * a previous ipcnsd (its number is not ours) is taken as opened by the
 * requester, as the open would have: the namespace it sees and its id
 * maps; its release comes with the same number.  */
static int fh_get(fuse_req_t req, fuse_ino_t ino, uint64_t key, struct vfh **out)
{
	pthread_mutex_lock(&V.lock);
	struct vfh *fh = fh_find(key);
	if (fh)
		vfh_get(fh);
	pthread_mutex_unlock(&V.lock);
	if (fh) {
		*out = fh;
		return 0;
	}
	if (!ipcns_view_ino_valid(ino) || ino < IPCNS_VIEW_SHM)
		return -EBADF;
	struct ipcns_view_who w;
	int ret = ipcns_view_who_of(req, &w);
	if (ret == 0)
		ret = fh_new(&w, ino, key, &fh);
	if (ret < 0)
		return ret;
	*out = vfh_get(fh);
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ipcns_view_who w;
	int ret = ipcns_view_ino_valid(ino) && ino >= IPCNS_VIEW_SHM ? ipcns_view_who_of(req, &w) : 0;
	if (ret == 0)
		ret = ipcns_view_open_check(&w, ino, fi->flags);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	struct vfh *fh;
	uint64_t key = V.fh_tag | ++V.fh_count;
	ret = fh_new(&w, ino, key, &fh);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = key;
	/* Every read reaches us: the same inode shows each namespace its
	 * own content.  */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* Interrupted: no release will come.  */
		pthread_mutex_lock(&V.lock);
		fh_unlink(fh);
		pthread_mutex_unlock(&V.lock);
		vfh_put(fh);
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&V.lock);
	struct vfh *fh = fh_find(fi->fh);
	if (fh)
		fh_unlink(fh);
	pthread_mutex_unlock(&V.lock);
	/* Reads still queued or being answered keep fh.  A file opened
	 * under a previous ipcnsd and never read since is not known.  */
	if (fh)
		vfh_put(fh);
	fuse_reply_err(req, 0);
}

/* ---- Reads and writes, by the namespace's worker (or here, for a
 * namespace ipcnsd does not serve: Linux's defaults and no object).  */

static void serve(struct nsent *e, struct ipcns_ns *ns, struct vreq *r)
{
	/* The release may come, in the FUSE thread, as soon as the reply is
	 * written: r's reference keeps fh and its text until r is freed.  */
	struct vfh *fh = r->fh;
	struct ipcns_view_rw rw = {
		.write = r->write, .may_write = r->may_write, .size = r->size, .off = r->off, .data = r->data
	};
	char what[256];
	ipcns_view_serve(ns, &fh->f, r->req, &rw, V.ceiling, &text_ops, what, sizeof(what));
	if (what[0])
		dlog("namespace %s: a write of kernel.%s refused: %s", e ? e->key : "(not registered yet)",
		     ipcns_sysctl_name((int)(fh->f.ino - IPCNS_VIEW_SYSCTL0)), what);
}

static void serve_unregistered(struct vreq *r)
{
	/* A namespace ipcnsd does not serve: Linux's defaults and no
	 * object, in a namespace thrown away after the call.  runc writes
	 * linux.sysctl here before it loads the filter: the values are
	 * checked (ranges, ceiling) and are the config's, which the
	 * registration reads too.  */
	struct ipcns_ns *tmp = ipcns_ns_new(NULL, NULL, NULL);
	if (!tmp) {
		fuse_reply_err(r->req, ENOMEM);
	} else {
		serve(NULL, tmp, r);
		ipcns_ns_free(tmp);
	}
	vreq_free(r);
}

/* How long a read or write of a filtered process waits for its
 * container's registration (crun runs the container's process while it
 * sends the notify fd).  2 s was not enough for a program's first write
 * while a busy ipcnsd (ThreadSanitizer, twenty registrations at once)
 * had its notify fd in the socket's queue: the write changed a
 * throw-away namespace.  */
#define REGISTRATION_WAIT_NS (10 * 1000000000LL)

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Queue r for its namespace's worker; or let it wait for the namespace's
 * registration; or serve it here for a namespace ipcnsd does not serve.  */
static void dispatch(struct vreq *r)
{
	struct vfh *fh = r->fh;
	pthread_mutex_lock(&V.lock);
	struct vns *v = fh->nsid ? vns_by_id(fh->nsid) : vns_by_inode(fh->f.ipc_ino);
	if (v && !fh->nsid) {
		fh->nsid = v->id;
		v->handles++;
	}
	struct nsent *e = v ? v->e : NULL;
	bool gone = !v && fh->nsid;
	bool wait = !v && !fh->nsid && fh->filtered;
	if (v) {
		*v->tail = r;
		v->tail = &r->next;
		__atomic_store_n(&e->view_pending, true, __ATOMIC_RELEASE);
	} else if (wait) {
		r->deadline = mono_now() + REGISTRATION_WAIT_NS;
		r->next = V.pending;
		V.pending = r;
	}
	pthread_mutex_unlock(&V.lock);
	if (e)
		nsent_wake(e);
	else if (gone)
		reply_gone(r);
	else if (!wait)
		serve_unregistered(r);
}

/* The view thread: reads and writes whose registration did not come.  */
static bool expire_pending(void)
{
	int64_t now = mono_now();
	struct vreq *done = NULL;
	pthread_mutex_lock(&V.lock);
	for (struct vreq **pp = &V.pending; *pp;) {
		struct vreq *r = *pp;
		if (r->deadline > now) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = done;
		done = r;
	}
	bool more = V.pending != NULL;
	pthread_mutex_unlock(&V.lock);
	while (done) {
		struct vreq *next = done->next;
		/* A write that changes nothing: said in the log.  */
		if (done->write && done->fh->f.ino >= IPCNS_VIEW_SYSCTL0)
			dlog("view: a write of kernel.%s by a process under a seccomp filter whose kernel IPC namespace "
			     "(inode %lu) no container registered within %lld s changes no namespace",
			     ipcns_sysctl_name((int)(done->fh->f.ino - IPCNS_VIEW_SYSCTL0)), (unsigned long)done->fh->f.ipc_ino,
			     REGISTRATION_WAIT_NS / 1000000000LL);
		serve_unregistered(done);
		done = next;
	}
	return more;
}

void view_serve(struct nsent *e)
{
	pthread_mutex_lock(&V.lock);
	__atomic_store_n(&e->view_pending, false, __ATOMIC_RELAXED);
	struct vns *v = vns_of(e);
	struct vreq *q = v ? v->queue : NULL;
	if (v) {
		v->queue = NULL;
		v->tail = &v->queue;
	}
	pthread_mutex_unlock(&V.lock);
	while (q) {
		struct vreq *next = q->next;
		serve(e, e->ns, q);
		vreq_free(q);
		q = next;
	}
}

/* A read or write for a worker: its in-flight record goes with it.  */
static struct vreq *vreq_new(fuse_req_t req, struct vfh *fh, size_t extra)
{
	struct vreq *r = calloc(1, sizeof(*r) + extra);
	if (!r) {
		vfh_put(fh);
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	r->req = req;
	r->fh = fh;
	r->slot = V.cur_slot;
	V.cur_taken = true;
	return r;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct vfh *fh;
	int ret = fh_get(req, ino, fi->fh, &fh);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	struct vreq *r = vreq_new(req, fh, 0);
	if (!r)
		return;
	r->size = size;
	r->off = off;
	dispatch(r);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct vfh *fh;
	int ret = fh_get(req, ino, fi->fh, &fh);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fh->f.ino < IPCNS_VIEW_SYSCTL0) {
		vfh_put(fh);
		fuse_reply_err(req, EBADF);
		return;
	}
	/* Linux checks the writer again at each write (EPERM): a handle
	 * passed to, or kept by, a process that may not write.  */
	bool may = ipcns_view_may_write(req, fh->f.ino);
	struct vreq *r = vreq_new(req, fh, size + 1);
	if (!r)
		return;
	r->write = true;
	r->size = size;
	r->off = off;
	r->may_write = may;
	memcpy(r->data, buf, size);
	dispatch(r);
}

static const struct fuse_lowlevel_ops ops = {
	.init = ipcns_view_op_init,
	.lookup = ipcns_view_op_lookup,
	.getattr = ipcns_view_op_getattr,
	.setattr = ipcns_view_op_setattr,
	.readdir = ipcns_view_op_readdir,
	.open = op_open,
	.release = op_release,
	.read = op_read,
	.write = op_write,
};

/* ---- The session.  */

/* Adopting the /dev/fuse fd of a mount that a previous ipcnsd served: the
 * kernel made its FUSE_INIT with that daemon and sends none again, but
 * libfuse answers nothing before one.  Give it one as the kernel would;
 * its reply goes to a request the kernel does not have, which the kernel
 * refuses (ENOENT) and libfuse ignores.  The kernel keeps what it agreed
 * with the previous daemon, the same build or an older one.  */
static void adopt_init(void)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} msg;
	memset(&msg, 0, sizeof(msg));
	msg.h.len = sizeof(msg);
	msg.h.opcode = FUSE_INIT;
	msg.h.unique = UINT64_MAX - 1;
	msg.in.major = FUSE_KERNEL_VERSION;
	msg.in.minor = FUSE_KERNEL_MINOR_VERSION;
	msg.in.max_readahead = 128 * 1024;
	/* FUSE_MAX_PAGES: libfuse then reads with the buffer the kernel was
	 * told of (a smaller one is EINVAL).  */
	msg.in.flags = FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_MAX_PAGES;
	struct fuse_buf buf = { .mem = &msg, .size = sizeof(msg) };
	fuse_session_process_buf(V.se, &buf);
}

static void *view_thread(void *arg)
{
	struct fuse_buf buf = { .mem = NULL };
	int fd = fuse_session_fd(V.se);
	bool pending = false;
	if (V.adopted) {
		/* A mount made for us and never served has its INIT queued;
		 * one a previous ipcnsd served has had it.  */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int ret = poll(&pf, 1, 0) == 1 ? fuse_session_receive_buf(V.se, &buf) : 0;
		bool init = ret > 0 && buf.size >= sizeof(struct fuse_in_header) &&
			    ((struct fuse_in_header *)buf.mem)->opcode == FUSE_INIT;
		if (!init)
			adopt_init();
		if (ret > 0)
			process(&buf, init ? -1 : inflight_add(&buf));
		/* Then what the previous ipcnsd read and left unanswered.  */
		inflight_replay();
	}
	while (!fuse_session_exited(V.se)) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN }, { .fd = V.stopfd, .events = POLLIN } };
		/* Reads waiting for a registration are looked at every
		 * 100 ms.  */
		pending = expire_pending();
		int n = poll(pf, 2, pending ? 100 : -1);
		if (n == 0)
			continue;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		if (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			dlog("view: %s was unmounted; containers started from now on get /proc/sysvipc masked",
			     V.dir);
			break;
		}
		int ret = fuse_session_receive_buf(V.se, &buf);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret <= 0) {
			if (ret < 0 && ret != -ENODEV)
				dlog("view: reading /dev/fuse: %s", strerror(-ret));
			break;
		}
		process(&buf, inflight_add(&buf));
	}
	free(buf.mem);
	return NULL;
}

/* Something is mounted at dir (as this process sees the mounts): 1
 * with its device in *dev (may be NULL), else 0.  */
static bool mounted_at(const char *dir, unsigned int dev[2])
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], mp[4096];
	unsigned int d[2];
	bool found = false;
	if (!f)
		return false;
	/* The last one: a mount over another at the same place hides it.  */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &d[0], &d[1], mp) == 3 && !strcmp(mp, dir)) {
			found = true;
			if (dev)
				memcpy(dev, d, sizeof(d));
		}
	}
	fclose(f);
	return found;
}

int view_mount_meta(char *buf, size_t size)
{
	unsigned int dev[2];
	if (!V.running || !mounted_at(V.dir, dev))
		return -ENOENT;
	int n = snprintf(buf, size, "%u:%u %s", dev[0], dev[1], V.dir);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

int view_fd(void)
{
	return V.running ? fuse_session_fd(V.se) : -1;
}

static int session_start(const char *dir, const struct ipcns_limits *ceiling, int adopt_fd)
{
	uint32_t tag = 0;
	/* Numbers of open files unlike any a previous ipcnsd gave.  */
	if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag))
		tag = (uint32_t)mono_now() ^ (uint32_t)getpid();
	V.fh_tag = (uint64_t)(tag | 1) << 32;
	V.ceiling = ceiling;
	snprintf(V.dir, sizeof(V.dir), "%s", dir);
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		dlog("view: /dev/fuse: %s: containers get /proc/sysvipc masked and the kernel's IPC sysctls",
		     strerror(errno));
		return -errno;
	}
	/* A mount a previous ipcnsd left: gone (ENOTCONN), or still held by
	 * a process that does not serve it, where a statfs would wait for
	 * good.  Found in the mount table, which asks no FUSE server.  */
	if (adopt_fd < 0 && mounted_at(dir, NULL))
		umount2(dir, MNT_DETACH);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		dlog("view: cannot create %s: %s: containers get /proc/sysvipc masked", dir, strerror(errno));
		return -errno;
	}
	char *argv[] = { "ipcnsd", "-o", "allow_other,fsname=ipcns,subtype=ipcns-view", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	V.se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	if (!V.se) {
		dlog("view: cannot start a FUSE session: containers get /proc/sysvipc masked");
		return -EIO;
	}
	char fdpath[32];
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", adopt_fd);
	V.adopted = adopt_fd >= 0;
	if (fuse_session_mount(V.se, adopt_fd >= 0 ? fdpath : dir) != 0) {
		dlog("view: cannot %s FUSE at %s: containers get /proc/sysvipc masked",
		     adopt_fd >= 0 ? "take over the session of" : "mount", dir);
		fuse_session_destroy(V.se);
		V.se = NULL;
		return -EIO;
	}
	V.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int err = V.stopfd < 0 ? errno : pthread_create(&V.thread, NULL, view_thread, NULL);
	if (err) {
		dlog("view: cannot start its thread: %s", strerror(err));
		fuse_session_unmount(V.se);
		fuse_session_destroy(V.se);
		V.se = NULL;
		return -err;
	}
	V.running = true;
	dlog("view: /proc/sysvipc and the IPC sysctls served at %s%s", dir,
	     adopt_fd >= 0 ? " (session taken over)" : "");
	return 0;
}

int view_start(const char *dir, const struct ipcns_limits *ceiling, int adopt_fd, int inflight_fd)
{
	/* Requests in flight are the previous ipcnsd's only if its session
	 * is the one taken over.  */
	if (adopt_fd < 0 && inflight_fd >= 0) {
		close(inflight_fd);
		inflight_fd = -1;
	}
	inflight_start(inflight_fd);
	int ret = session_start(dir, ceiling, adopt_fd);
	if (ret < 0)
		inflight_stop();
	return ret;
}

void view_stop(bool handed)
{
	if (!V.running)
		return;
	uint64_t one = 1;
	if (write(V.stopfd, &one, sizeof(one)) < 0)
		dlog("view: stopping its thread: %s", strerror(errno));
	pthread_join(V.thread, NULL);
	/* Without a keeper to hand it to, the session ends with ipcnsd:
	 * lazily unmounted, so that the next ipcnsd mounts afresh.  Handed
	 * over, the mount stays, served by the next ipcnsd; requests wait in
	 * the kernel meanwhile.  */
	if (!handed && !V.adopted)
		fuse_session_unmount(V.se);
	else if (!handed)
		umount2(V.dir, MNT_DETACH);
	/* The empty directory it was mounted on goes too (the next ipcnsd
	 * makes it again).  */
	if (!handed)
		rmdir(V.dir);
	/* Handed over, the session is left as it is for the exit that
	 * follows: destroying a still-mounted session leaks the mountpoint
	 * libfuse keeps until its unmount.  */
	if (!handed) {
		fuse_session_destroy(V.se);
		V.se = NULL;
	}
	close(V.stopfd);
	V.running = false;
	/* Freed out of the lock: a request's handle, freed with it, takes
	 * the lock.  */
	pthread_mutex_lock(&V.lock);
	struct vreq *drop = V.pending;
	V.pending = NULL;
	while (V.list) {
		struct vns *v = V.list;
		V.list = v->next;
		while (v->queue) {
			struct vreq *r = v->queue;
			v->queue = r->next;
			r->next = drop;
			drop = r;
		}
		free(v->inodes);
		free(v);
	}
	pthread_mutex_unlock(&V.lock);
	while (drop) {
		struct vreq *r = drop;
		drop = r->next;
		/* Unanswered: recorded for the next ipcnsd when handed over.  */
		if (handed)
			r->slot = -1;
		vreq_free(r);
	}
	inflight_stop();
}
