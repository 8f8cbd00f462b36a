/* SPDX-License-Identifier: MIT */
/* The operator's protocol, on ipcnsd's socket (root only): one JSON
 * request {"command": "health"|"ps"|"ipcs"|"rm"|"forget", ...} per connection, one
 * JSON reply.  Specified in spec/control.md.  */
#include <poll.h>
#include <dirent.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

static json_t *error_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *error_reply(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", buf);
}

/* JSON integers are signed 64-bit in jansson: a larger value (Linux's
 * default shmmax and shmall) is given as a decimal string.  */
static json_t *u64_json(uint64_t v)
{
	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return json_string(buf);
}

static json_t *limits_json(const struct ipcns_limits *l)
{
	return json_pack("{s:o, s:o, s:I, s:i, s:[i,i,i,i], s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:I}", "shmmax",
			 u64_json(l->shmmax),
			 "shmall", u64_json(l->shmall), "shmmni", (json_int_t)l->shmmni, "shm_rmid_forced",
			 l->shm_rmid_forced, "sem", l->semmsl, l->semmns, l->semopm, l->semmni, "msgmax",
			 (json_int_t)l->msgmax, "msgmnb", (json_int_t)l->msgmnb, "msgmni", (json_int_t)l->msgmni,
			 "quota_shm_bytes", u64_json(l->quota_shm_bytes), "quota_msg_bytes",
			 u64_json(l->quota_msg_bytes), "quota_objects_per_uid", (json_int_t)l->quota_objects_per_uid,
			 "quota_mem_bytes", u64_json(l->quota_mem_bytes), "quota_fds", (json_int_t)l->quota_fds);
}

/* The daemon's own footprint: heap in use (what a namespace and its
 * objects cost) and open fds.  */
static json_t *daemon_json(void)
{
	struct mallinfo2 mi = mallinfo2();
	int nfd = 0;
	DIR *dir = opendir("/proc/self/fd");
	if (dir) {
		while (readdir(dir))
			nfd++;
		closedir(dir);
		nfd -= 3; /* ".", ".." and the one opendir holds */
	}
	/* And what the namespaces hold together against the ceilings.  */
	return json_pack("{s:I, s:i, s:b, s:I, s:I, s:I, s:I, s:I}", "heap_bytes", (json_int_t)mi.uordblks, "fds",
			 nfd, "tracks_processes", tracker_running(), "connector_overruns",
			 (json_int_t)tracker_overruns(), "ns_mem_bytes",
			 (json_int_t)__atomic_load_n(&D.pool.mem_used, __ATOMIC_RELAXED), "mem_limit",
			 (json_int_t)D.pool.mem_limit, "ns_fds",
			 (json_int_t)__atomic_load_n(&D.pool.fds_used, __ATOMIC_RELAXED), "fd_limit",
			 (json_int_t)__atomic_load_n(&D.pool.fd_limit, __ATOMIC_RELAXED));
}

/* Every namespace as its worker last published it: ps never takes a
 * namespace's lock, so no namespace can make it wait.  */
static json_t *cmd_ps(void)
{
	json_t *nss = json_array();
	int64_t now = ipcns_mono_ns();
	for (struct nsent *e = D.namespaces; e; e = e->next) {
		struct nsent_info in;
		nsent_info_get(e, &in);
		const struct ipcns_usage *u = &in.usage;
		/* The limits are set when the namespace is made and never
		 * change: read without its lock.  */
		json_t *limits = limits_json(ipcns_ns_limits(e->ns));
		int64_t since = __atomic_load_n(&e->batch_since, __ATOMIC_ACQUIRE);
		bool busy = since && now - since > (int64_t)NSENT_BUSY_MS * 1000000;
		json_t *cts = json_array();
		for (struct container *c = D.containers; c; c = c->next)
			if (c->nse == e)
				json_array_append_new(cts, json_pack("{s:s, s:i, s:i, s:I}", "id", c->id, "pid",
								     (int)c->pid, "notify_fds", c->nfds,
								     "created", (json_int_t)c->created));
		json_array_append_new(
			nss, json_pack("{s:s, s:o, s:{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:i, s:I, s:I}, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
				       "namespace", e->key, "containers", cts, "usage", "shm_ids", (int)u->shm_ids,
				       "sem_ids", (int)u->sem_ids, "msg_ids", (int)u->msg_ids, "shm_pages",
				       (json_int_t)u->shm_pages, "sem_total", (json_int_t)u->sem_total, "msg_bytes",
				       (json_int_t)u->msg_bytes, "msg_count", (json_int_t)u->msg_count, "parked",
				       (int)u->parked, "mem_bytes", (json_int_t)u->mem_bytes, "fds", (json_int_t)u->fds,
				       "busy", busy, "usage_age_ms",
				       (json_int_t)(in.updated ? (now - in.updated) / 1000000 : -1), "calls",
				       (json_int_t)in.calls, "rescans", (json_int_t)in.rescans, "rescan_us",
				       (json_int_t)(in.rescan_ns / 1000), "window_checks", (json_int_t)in.window_checks,
				       "window_check_us", (json_int_t)(in.window_ns / 1000), "journal_bytes",
				       (json_int_t)in.journal_bytes, "tracking_bytes", (json_int_t)in.tracking_bytes,
				       "limits", limits));
	}
	return json_pack("{s:b, s:o, s:o}", "ok", 1, "namespaces", nss, "daemon", daemon_json());
}

/* The node's liveness probe: the main thread answers, nothing else is
 * looked at.  */
static json_t *cmd_health(void)
{
	int n = 0;
	for (struct nsent *e = D.namespaces; e; e = e->next)
		n++;
	return json_pack("{s:b, s:s, s:I, s:i}", "ok", 1, "status", "serving", "uptime_s",
			 (json_int_t)((ipcns_mono_ns() - D.started) / 1000000000), "namespaces", n);
}

static struct container *find_container(const char *id)
{
	if (!id)
		return NULL;
	for (struct container *c = D.containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static int add_obj(void *arg, const struct ipcns_obj_info *oi)
{
	json_t *arr = arg;
	static const char *kinds[] = { "shm", "sem", "msg" };
	json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I}", "kind",
					     kinds[oi->kind], "id", oi->id, "key", (int)oi->key, "uid",
					     (int)oi->uid, "gid", (int)oi->gid, "cuid", (int)oi->cuid, "cgid",
					     (int)oi->cgid, "mode", (int)oi->mode, "bytes", (json_int_t)oi->bytes,
					     "count", (json_int_t)oi->count, "ctime", (json_int_t)oi->ctime));
	return 0;
}

/* ---- Requests about one container: checked here by the main thread,
 * answered by its namespace's worker (control_ops_serve) on the
 * connection, so that the main thread, `ps' and `health' never wait on a
 * namespace.  */

static int send_reply(int fd, json_t *reply)
{
	char *out = json_dumps(reply, JSON_COMPACT);
	if (!out)
		return -ENOMEM;
	size_t ol = strlen(out), off = 0;
	/* The socket buffer takes the whole reply (ipcs of a namespace full
	 * of objects is megabytes), so that an operator who does not read
	 * holds up its worker a second at most, and only that one.  */
	int sz = ol > INT32_MAX / 4 ? INT32_MAX : (int)(2 * ol + 65536);
	if (ol > 65536 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	int64_t until = ipcns_mono_ns() + 1000000000;
	while (off < ol) {
		ssize_t w = send(fd, out + off, ol - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR) && ipcns_mono_ns() < until) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 100);
			continue;
		}
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(out);
	return off == ol ? 0 : -EIO;
}

static void op_unref(struct opreq *op)
{
	if (__atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	json_decref(op->req);
	free(op->container);
	free(op);
}

/* Send the reply and close the connection: by whoever took the request.  */
static void op_answer(struct opreq *op, json_t *reply, enum op_state final)
{
	send_reply(op->fd, reply);
	json_decref(reply);
	close(op->fd);
	op->fd = -1;
	__atomic_store_n(&op->state, final, __ATOMIC_RELEASE);
}

static json_t *op_queue(struct container *c, json_t *req, int fd)
{
	struct opreq *op = calloc(1, sizeof(*op));
	if (!op || !(op->container = strdup(c->id))) {
		free(op);
		return error_reply("%s", "ipcnsd is out of memory");
	}
	op->fd = fd;
	op->req = json_incref(req);
	op->deadline = ipcns_mono_ns() + (int64_t)NSENT_OPERATOR_WAIT_MS * 1000000;
	op->state = OP_QUEUED;
	op->refs = 2;
	op->mnext = D.ops;
	D.ops = op;
	nsent_post_op(c->nse, op);
	return NULL;
}

static bool rm_kind(const char *kind, enum ipcns_kind *k)
{
	if (kind && !strcmp(kind, "shm"))
		*k = IPCNS_SHM;
	else if (kind && !strcmp(kind, "sem"))
		*k = IPCNS_SEM;
	else if (kind && !strcmp(kind, "msg"))
		*k = IPCNS_MSG;
	else
		return false;
	return true;
}

static json_t *cmd_container(json_t *req, const char *cmd, int fd)
{
	const char *id = json_string_value(json_object_get(req, "container"));
	bool forget = !strcmp(cmd, "forget");
	if (forget && (!id || !*id))
		return error_reply("%s", "container must be a non-empty string");
	struct container *c = find_container(id);
	if (!c && forget)
		return json_pack("{s:b, s:s, s:b}", "ok", 1, "container", id, "registered", 0);
	if (!c)
		return error_reply("no container '%s' is registered with ipcnsd", id ? id : "");
	if (!strcmp(cmd, "rm")) {
		const char *kind = json_string_value(json_object_get(req, "kind"));
		enum ipcns_kind k;
		if (!rm_kind(kind, &k))
			return error_reply("kind must be shm, sem or msg, not '%s'", kind ? kind : "");
		if (!json_is_integer(json_object_get(req, "id")))
			return error_reply("%s", "id must be an integer");
	}
	return op_queue(c, req, fd);
}

static json_t *op_ipcs(struct nsent *e, struct opreq *op)
{
	json_t *objs = json_array();
	for (int k = IPCNS_SHM; k <= IPCNS_MSG; k++)
		ipcns_ns_foreach(e->ns, (enum ipcns_kind)k, add_obj, objs);
	return json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "container", op->container, "namespace", e->key, "objects",
			 objs);
}

static json_t *op_rm(struct nsent *e, struct opreq *op)
{
	const char *kind = json_string_value(json_object_get(op->req, "kind"));
	long long id = (long long)json_integer_value(json_object_get(op->req, "id"));
	enum ipcns_kind k = IPCNS_SHM;
	rm_kind(kind, &k);
	if (ipcns_ns_remove(e->ns, k, (int)id) < 0)
		return error_reply("no %s %lld in that container's namespace", kind, id);
	dlog("container %s: %s %lld removed by the operator", op->container, kind, id);
	return json_pack("{s:b}", "ok", 1);
}

/* The runtime says the container is gone (ipcns-hook poststop).  Its
 * notify fds normally hang up by themselves when its last process exits,
 * and the worker then drops their parked calls and releases its
 * namespace reference.  forget does now, for the fds that have hung up,
 * what needs no freeing: their parked calls are dropped.  It frees nothing
 * itself: only a notify fd's own hang-up event, already pending, frees it,
 * in the worker's next batch.  A fd that has not hung up belongs to
 * processes still alive (outside the container's pid namespace, for
 * instance): it is left alone and reported.  Idempotent: an unknown
 * container is not an error.  */
static json_t *op_forget(struct nsent *e, struct opreq *op)
{
	int total = 0, live = 0, dropped = 0;
	for (struct nfd_ent *ne = e->nfds; ne; ne = ne->nsnext) {
		if (strcmp(ne->ct->id, op->container))
			continue;
		total++;
		/* A seccomp notify fd polls POLLHUP once no task uses its
		 * filter any more.  */
		struct pollfd pfd = { .fd = ne->nf.fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLHUP | POLLERR))) {
			live++;
			continue;
		}
		if (!ne->nf.dead) {
			int before = ne->nf.nwaiters;
			ipcns_nfd_hangup(&ne->nf);
			dropped += before - ne->nf.nwaiters;
		}
	}
	if (live)
		dlog("container %s: forget: %d of its %d notify fds still live; kept", op->container, live, total);
	else
		dlog("container %s: forget: %d notify fds hung up, %d parked calls dropped", op->container, total,
		     dropped);
	return json_pack("{s:b, s:s, s:b, s:s, s:i, s:i, s:i}", "ok", 1, "container", op->container, "registered", 1,
			 "namespace", e->key, "notify_fds", total, "live_notify_fds", live, "parked_dropped",
			 dropped);
}

void control_ops_serve(struct nsent *e, struct opreq *ops, bool gone)
{
	while (ops) {
		struct opreq *op = ops;
		ops = op->next;
		int queued = OP_QUEUED;
		if (__atomic_compare_exchange_n(&op->state, &queued, OP_TAKEN, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			const char *cmd = json_string_value(json_object_get(op->req, "command"));
			json_t *reply = gone		       ? error_reply("container %s is gone", op->container)
					: !strcmp(cmd, "ipcs") ? op_ipcs(e, op)
					: !strcmp(cmd, "rm")   ? op_rm(e, op)
							       : op_forget(e, op);
			op_answer(op, reply, OP_DONE);
			main_wake();
		}
		op_unref(op);
	}
}

void control_ops_reap(bool stopping)
{
	int64_t now = ipcns_mono_ns();
	for (struct opreq **pp = &D.ops; *pp;) {
		struct opreq *op = *pp;
		int st = __atomic_load_n(&op->state, __ATOMIC_ACQUIRE);
		if (st == OP_QUEUED && (stopping || now >= op->deadline) &&
		    __atomic_compare_exchange_n(&op->state, &st, OP_EXPIRED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			op_answer(op,
				  stopping ? error_reply("%s", "ipcnsd is stopping")
					   : error_reply("the namespace of container %s is busy: a call of its has not "
							 "ended for %d ms (is the container paused or stopped?); try again",
							 op->container, NSENT_OPERATOR_WAIT_MS),
				  OP_EXPIRED);
			st = OP_EXPIRED;
		}
		if (st == OP_DONE || st == OP_EXPIRED || stopping) {
			/* A request a worker still holds at the stop (it
			 * exited without freeing its namespace) is left.  */
			*pp = op->mnext;
			op_unref(op);
			continue;
		}
		pp = &op->mnext;
	}
}

json_t *ipcnsd_control(json_t *req, int fd)
{
	const char *cmd = json_string_value(json_object_get(req, "command"));
	if (!cmd)
		return error_reply("%s", "command must be a string");
	if (!strcmp(cmd, "health"))
		return cmd_health();
	if (!strcmp(cmd, "ps"))
		return cmd_ps();
	if (!strcmp(cmd, "ipcs") || !strcmp(cmd, "rm") || !strcmp(cmd, "forget"))
		return cmd_container(req, cmd, fd);
	if (!strcmp(cmd, "restart") || !strcmp(cmd, "shutdown")) {
		/* The main loop ends after this reply.  */
		bool release = !strcmp(cmd, "shutdown");
		dlog("%s requested by the operator", cmd);
		D.handover = D.handover && !release;
		__atomic_store_n(&D.stop, true, __ATOMIC_RELEASE);
		return json_pack("{s:b, s:s}", "ok", 1, "stopping", release ? "for good" : "for a restart");
	}
	return error_reply("unknown command '%s' (health, ps, ipcs, rm, forget, restart, shutdown)", cmd);
}
