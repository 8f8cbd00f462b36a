/* SPDX-License-Identifier: MIT */
/* Unit tests of the state image (plugin/lib/ipc/image_*.c): a namespace built
 * through the core's calls is saved, loaded into a new namespace, and
 * every observable is compared (IPC_STAT / SEM_STAT / MSG_STAT / SHM_STAT
 * outputs, *_INFO, GETALL and the per-semaphore values, every message in
 * order, the parked calls and the order they are woken in).  Bad images
 * are refused with a message; an image of a newer format is refused
 * untouched; the committed v1 image is migrated.  */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "fake_caller.h"
#include "ipcns/ipcns.h"
#include "ipcns/state.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

/* plugin/lib/ipc/state_int.h: an image in an older format.  */
ssize_t ipcns_state_save_version(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
				 size_t fe_len, void *buf, size_t cap, size_t *need, int version);

#define V1_FIXTURE "tests/unit/data/state-v1.img"

/* ---- A namespace world: processes, a clock, and what the state ops
 * need (fd slots, waiter records).  */
#define NPROC 5
#define MAXW 4096
#define MAXSLOT 16

struct world {
	struct ipcns_ns *ns;
	struct fake_waiter *all;
	struct fake_proc p[NPROC];
	int64_t clock;
	/* Waiters in the order they were parked (their tag is the index).  */
	struct fake_waiter *w[MAXW];
	int nw;
	/* Called from the namespace's clock, in the middle of a call.  */
	void (*on_now)(struct world *w);
	void *test;
};

struct saver {
	struct world *from; /* save: tags of its waiters */
	struct world *to;   /* load: waiters are made for its processes */
	int slots[MAXSLOT];
	int nslots;
	int dropped_tag; /* load: the call with this tag is gone (-1 none) */
	const bool *alive; /* load: which tags still wait (NULL: all) */
};

static int64_t w_now(void *host)
{
	struct world *w = host;
	if (w->on_now)
		w->on_now(w);
	return w->clock;
}
static const struct ipcns_host_ops world_host_ops = {
	.scan_vmas = fake_host_scan,
	.now = w_now,
};

static int sv_fd_slot(void *arg, int fd)
{
	struct saver *s = arg;
	struct stat a, b;
	for (int i = 0; i < s->nslots; i++)
		if (fstat(fd, &a) == 0 && fstat(s->slots[i], &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return i;
	if (s->nslots == MAXSLOT)
		return -ENOSPC;
	s->slots[s->nslots] = dup(fd);
	return s->slots[s->nslots] < 0 ? -errno : s->nslots++;
}
static int sv_slot_fd(void *arg, uint32_t slot)
{
	struct saver *s = arg;
	if (slot >= (uint32_t)s->nslots)
		return -EBADF;
	int fd = dup(s->slots[slot]);
	return fd < 0 ? -errno : fd;
}
struct wrec {
	uint32_t proc, tag;
};
static int sv_waiter_save(void *arg, struct ipcns_waiter *w, void *buf, size_t cap)
{
	struct saver *s = arg;
	struct fake_waiter *fw = (struct fake_waiter *)w;
	/* A waiter of the saved world, or of the loaded one (which goes on
	 * journaling).  */
	struct world *wd = s->to && fw->proc >= s->to->p && fw->proc < s->to->p + NPROC ? s->to : s->from;
	struct wrec r = { .proc = (uint32_t)(fw->proc - wd->p) };
	for (r.tag = 0; r.tag < (uint32_t)wd->nw && wd->w[r.tag] != fw; r.tag++)
		;
	if (r.proc >= NPROC || r.tag == (uint32_t)wd->nw || cap < sizeof(r))
		return -EINVAL;
	memcpy(buf, &r, sizeof(r));
	return sizeof(r);
}
static struct ipcns_waiter *sv_waiter_load(void *arg, const void *rec, size_t len)
{
	struct saver *s = arg;
	struct wrec r;
	if (len != sizeof(r))
		return NULL;
	memcpy(&r, rec, sizeof(r));
	if (r.proc >= NPROC || r.tag >= MAXW || (int)r.tag == s->dropped_tag || (s->alive && !s->alive[r.tag]))
		return NULL;
	struct ipcns_waiter *w = fake_park(&s->to->p[r.proc].c);
	if (w) {
		s->to->w[r.tag] = (struct fake_waiter *)w;
		if ((int)r.tag >= s->to->nw)
			s->to->nw = (int)r.tag + 1;
	}
	return w;
}
static struct ipcns_state_ops saver_ops(struct saver *s)
{
	return (struct ipcns_state_ops){
		.arg = s,
		.fd_slot = sv_fd_slot,
		.slot_fd = sv_slot_fd,
		.waiter_save = sv_waiter_save,
		.waiter_load = sv_waiter_load,
	};
}
static void saver_close(struct saver *s)
{
	for (int i = 0; i < s->nslots; i++)
		close(s->slots[i]);
	s->nslots = 0;
}

static void world_procs(struct world *w)
{
	fake_proc_init(&w->p[0], 0, ~0ULL, 100, &w->all);
	fake_proc_init(&w->p[1], 1000, 0, 101, &w->all);
	fake_proc_init(&w->p[2], 0, ~0ULL, 200, &w->all);
	fake_proc_init(&w->p[3], 0, ~0ULL, 300, &w->all);
	fake_proc_init(&w->p[4], 2000, 0, 400, &w->all);
	for (int i = 0; i < NPROC; i++)
		w->p[i].ns_tgid = 10 + i;
	w->clock = 1700000000;
}

/* A world whose namespace a load will make.  */
static struct world *world_blank(void)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	world_procs(w);
	return w;
}

static struct world *world_new(const struct ipcns_limits *l)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	world_procs(w);
	w->ns = ipcns_ns_new(l, &world_host_ops, w);
	assert_non_null(w->ns);
	return w;
}

static void world_free(struct world *w)
{
	assert_int_equal(fake_ns_free(w->ns, &w->all), 0);
	free(w);
}

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static struct ipcns_caller *C(struct world *w, int i)
{
	w->clock++;
	return fake_call(&w->p[i]);
}

/* A call that must park: its waiter is remembered with the next tag.  */
#define parked(w, i, ret) parked_at(w, i, ret, __LINE__)
static void parked_at(struct world *w, int i, long ret, int line)
{
	if (ret != IPCNS_PARKED)
		fail_msg("line %d: %ld, not parked", line, ret);
	assert_true(w->nw < MAXW);
	w->w[w->nw++] = w->p[i].last_parked;
}

static long semop1(struct world *w, int i, int id, unsigned short num, short op, short flg)
{
	struct sembuf b = { num, op, flg };
	return ipcns_semtimedop(w->ns, C(w, i), id, ptr(&b), 1, 0);
}

struct msgbuf64 {
	int64_t mtype;
	char mtext[256];
};

static long snd(struct world *w, int i, int id, int64_t type, const char *text, int flg)
{
	struct msgbuf64 m = { .mtype = type };
	size_t n = strlen(text);
	memcpy(m.mtext, text, n);
	return ipcns_msgsnd(w->ns, C(w, i), id, ptr(&m), n, flg);
}

/* Receive buffers live as long as the test: parked receivers write here.  */
static struct msgbuf64 rcvbuf[8];

/* ---- Every observable of a namespace, as bytes.  */
struct snap {
	char *p;
	size_t len, cap;
};
static void sput(struct snap *s, const void *d, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->p = realloc(s->p, s->cap);
		assert_non_null(s->p);
	}
	memcpy(s->p + s->len, d, n);
	s->len += n;
}
static void sputl(struct snap *s, long v)
{
	sput(s, &v, sizeof(v));
}

static void snapshot(struct world *w, struct snap *s)
{
	struct ipcns_caller *c = fake_call(&w->p[0]);
	struct ipcns_usage u;
	union {
		struct shminfo si;
		struct shm_info sinfo;
		struct seminfo seminfo;
		struct msginfo mi;
		char raw[256];
	} info;

	memset(s, 0, sizeof(*s));
	ipcns_ns_usage(w->ns, &u);
	/* Memory held depends on how the namespace grew (the capacity of
	 * its tables and arrays), not on what a caller can observe.  */
	u.mem_bytes = 0;
	sput(s, &u, sizeof(u));
	/* The limits and the *_next_id, as the sysctl files show them.  */
	for (int i = 0; i < IPCNS_SYSCTL_COUNT; i++) {
		char text[128];
		int n = ipcns_sysctl_format(w->ns, i, text, sizeof(text));
		assert_true(n > 0 && n < (int)sizeof(text));
		sput(s, text, (size_t)n);
	}

	memset(&info, 0, sizeof(info));
	long max = ipcns_shmctl(w->ns, c, 0, SHM_INFO, ptr(&info));
	sputl(s, max);
	sput(s, &info, sizeof(info));
	for (long i = 0; i <= max; i++) {
		struct shmid_ds ds;
		memset(&ds, 0, sizeof(ds));
		long id = ipcns_shmctl(w->ns, c, (int)i, SHM_STAT_ANY, ptr(&ds));
		sputl(s, id);
		if (id >= 0)
			sput(s, &ds, sizeof(ds));
	}

	memset(&info, 0, sizeof(info));
	max = ipcns_semctl(w->ns, c, 0, 0, SEM_INFO, ptr(&info));
	sputl(s, max);
	sput(s, &info, sizeof(info));
	for (long i = 0; i <= max; i++) {
		struct semid_ds ds;
		memset(&ds, 0, sizeof(ds));
		long id = ipcns_semctl(w->ns, c, (int)i, 0, SEM_STAT_ANY, ptr(&ds));
		sputl(s, id);
		if (id < 0)
			continue;
		sput(s, &ds, sizeof(ds));
		unsigned short vals[64];
		assert_true(ds.sem_nsems <= 64);
		assert_int_equal(ipcns_semctl(w->ns, c, (int)id, 0, GETALL, ptr(vals)), 0);
		sput(s, vals, ds.sem_nsems * sizeof(vals[0]));
		for (unsigned long k = 0; k < ds.sem_nsems; k++) {
			sputl(s, ipcns_semctl(w->ns, c, (int)id, (int)k, GETPID, 0));
			sputl(s, ipcns_semctl(w->ns, c, (int)id, (int)k, GETNCNT, 0));
			sputl(s, ipcns_semctl(w->ns, c, (int)id, (int)k, GETZCNT, 0));
		}
	}

	memset(&info, 0, sizeof(info));
	max = ipcns_msgctl(w->ns, c, 0, MSG_INFO, ptr(&info));
	sputl(s, max);
	sput(s, &info, sizeof(info));
	for (long i = 0; i <= max; i++) {
		struct msqid_ds ds;
		memset(&ds, 0, sizeof(ds));
		long id = ipcns_msgctl(w->ns, c, (int)i, MSG_STAT_ANY, ptr(&ds));
		sputl(s, id);
		if (id < 0)
			continue;
		sput(s, &ds, sizeof(ds));
		for (long k = 0;; k++) {
			struct msgbuf64 m;
			memset(&m, 0, sizeof(m));
			long n = ipcns_msgrcv(w->ns, c, (int)id, ptr(&m), sizeof(m.mtext), k, MSG_COPY | IPC_NOWAIT);
			sputl(s, n);
			if (n < 0)
				break;
			sput(s, &m, sizeof(m.mtype) + (size_t)n);
		}
	}
}

static void assert_same_snapshot(struct world *a, struct world *b)
{
	struct snap x, y;
	snapshot(a, &x);
	snapshot(b, &y);
	assert_int_equal(x.len, y.len);
	for (size_t i = 0; i < x.len; i++)
		if (x.p[i] != y.p[i])
			fail_msg("snapshots differ at byte %zu of %zu", i, x.len);
	free(x.p);
	free(y.p);
}

/* ---- The namespace of the round trip: a bit of everything.  */
struct objs {
	int shm_key, shm_priv, shm_dead, sem, sem2, q, qfull, qrecv;
	void *attached;
};

static void build(struct world *w, struct objs *o)
{
	struct ipcns_ns *ns = w->ns;
	long ret;

	/* Advance the sequence numbers: objects created and removed.  */
	for (int i = 0; i < 3; i++) {
		ret = ipcns_msgget(ns, C(w, 0), IPC_PRIVATE, 0600);
		assert_true(ret >= 0);
		assert_int_equal(ipcns_msgctl(ns, C(w, 0), (int)ret, IPC_RMID, 0), 0);
		ret = ipcns_semget(ns, C(w, 0), IPC_PRIVATE, 1, 0600);
		assert_true(ret >= 0);
		assert_int_equal(ipcns_semctl(ns, C(w, 0), (int)ret, 0, IPC_RMID, 0), 0);
	}

	/* Shared memory: a keyed segment attached here, a private one, and
	 * one removed while attached.  */
	o->shm_key = (int)ipcns_shmget(ns, C(w, 0), 0x5e6, 3 * 4096 + 5, IPC_CREAT | 0640);
	assert_true(o->shm_key >= 0);
	o->shm_priv = (int)ipcns_shmget(ns, C(w, 1), IPC_PRIVATE, 8192, 0600);
	assert_true(o->shm_priv >= 0);
	o->shm_dead = (int)ipcns_shmget(ns, C(w, 0), 0x5e7, 4096, IPC_CREAT | 0600);
	assert_true(o->shm_dead >= 0);
	ret = ipcns_shmat(ns, C(w, 0), o->shm_dead, 0, 0);
	assert_true(ret > 0);
	o->attached = (void *)(uintptr_t)ret;
	memcpy(o->attached, "still here", 11);
	assert_int_equal(ipcns_shmctl(ns, C(w, 0), o->shm_dead, IPC_RMID, 0), 0);

	/* Semaphores: values, SEM_UNDO of two processes, sleepers of every
	 * kind (single decrement, wait-for-zero, complex).  */
	o->sem = (int)ipcns_semget(ns, C(w, 0), 0x5e0, 4, IPC_CREAT | 0666);
	assert_true(o->sem >= 0);
	unsigned short vals[4] = { 1, 3, 0, 7 };
	assert_int_equal(ipcns_semctl(ns, C(w, 0), o->sem, 0, SETALL, ptr(vals)), 0);
	assert_int_equal(semop1(w, 2, o->sem, 1, -1, SEM_UNDO), 0);
	assert_int_equal(semop1(w, 3, o->sem, 3, 2, SEM_UNDO), 0);
	parked(w, 2, semop1(w, 2, o->sem, 0, -2, SEM_UNDO)); /* sem0 = 1: waits */
	parked(w, 3, semop1(w, 3, o->sem, 3, 0, 0));         /* waits for zero */
	struct sembuf two[2] = { { 2, -1, 0 }, { 1, -1, 0 } };
	parked(w, 4, ipcns_semtimedop(ns, C(w, 4), o->sem, ptr(two), 2, 0)); /* 4 has no write: see below */
	parked(w, 3, semop1(w, 3, o->sem, 0, -2, 0));        /* after the complex one: on the set's list */
	o->sem2 = (int)ipcns_semget(ns, C(w, 1), IPC_PRIVATE, 2, 0600);
	assert_true(o->sem2 >= 0);
	assert_int_equal(semop1(w, 1, o->sem2, 1, 5, SEM_UNDO), 0);

	/* Message queues: messages of several types, a full queue with a
	 * parked sender, a queue with parked receivers.  */
	o->q = (int)ipcns_msgget(ns, C(w, 0), 0x3e0, IPC_CREAT | 0666);
	assert_true(o->q >= 0);
	assert_int_equal(snd(w, 0, o->q, 3, "three", 0), 0);
	assert_int_equal(snd(w, 1, o->q, 1, "one", 0), 0);
	assert_int_equal(snd(w, 2, o->q, 2, "", 0), 0);
	assert_int_equal(snd(w, 0, o->q, 1, "one again", 0), 0);
	o->qfull = (int)ipcns_msgget(ns, C(w, 0), IPC_PRIVATE, 0666);
	assert_true(o->qfull >= 0);
	struct msqid_ds ds;
	assert_int_equal(ipcns_msgctl(ns, C(w, 0), o->qfull, IPC_STAT, ptr(&ds)), 0);
	ds.msg_qbytes = 10;
	assert_int_equal(ipcns_msgctl(ns, C(w, 0), o->qfull, IPC_SET, ptr(&ds)), 0);
	assert_int_equal(snd(w, 0, o->qfull, 1, "0123456789", 0), 0);
	parked(w, 2, snd(w, 2, o->qfull, 7, "later", 0));
	parked(w, 3, snd(w, 3, o->qfull, 8, "later still", 0));
	o->qrecv = (int)ipcns_msgget(ns, C(w, 0), 0x3e1, IPC_CREAT | 0666);
	assert_true(o->qrecv >= 0);
	parked(w, 2, ipcns_msgrcv(ns, C(w, 2), o->qrecv, ptr(&rcvbuf[0]), 64, 5, 0));
	parked(w, 3, ipcns_msgrcv(ns, C(w, 3), o->qrecv, ptr(&rcvbuf[1]), 64, -3, 0));
	parked(w, 0, ipcns_msgrcv(ns, C(w, 0), o->qrecv, ptr(&rcvbuf[2]), 64, 0, 0));
	/* An id asked for through kernel.msg_next_id, not used yet.  */
	assert_int_equal(ipcns_sysctl_write(ns, IPCNS_SYSCTL_MSG_NEXT_ID, "98765", 5, 0, NULL, NULL, 0), 5);
}

/* The same wake-ups in both namespaces: each tag's answer and the order
 * of the answers must agree.  */
static void wake_all(struct world *w, const struct objs *o)
{
	/* Semaphores: sem0 += 3 wakes the decrement of 2 then the single
	 * one behind the complex; sem3 -> 0 wakes the wait-for-zero; sem2
	 * up lets the complex one through.  */
	assert_int_equal(semop1(w, 0, o->sem, 0, 3, 0), 0);
	assert_int_equal(semop1(w, 0, o->sem, 3, -7, 0), 0);
	assert_int_equal(semop1(w, 0, o->sem, 2, 1, 0), 0);
	/* Messages: take the full queue's message (its senders go in), send
	 * to the receivers.  */
	struct msgbuf64 m;
	assert_int_equal(ipcns_msgrcv(w->ns, C(w, 0), o->qfull, ptr(&m), 64, 0, 0), 10);
	assert_int_equal(snd(w, 1, o->qrecv, 9, "nine", 0), 0);
	assert_int_equal(snd(w, 1, o->qrecv, 2, "two", 0), 0);
	assert_int_equal(snd(w, 1, o->qrecv, 5, "five", 0), 0);
}

/* STATE_WRITE_SEEDS=DIR: the images and journals of these tests become
 * seeds of the state fuzzer (tests/fuzz/state-corpus).  */
static void write_seed(const char *name, const void *buf, size_t len)
{
	const char *dir = getenv("STATE_WRITE_SEEDS");
	char path[512];
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void round_trip(struct world *a, struct world **out, struct saver *sv)
{
	struct ipcns_state_ops ops = saver_ops(sv);
	size_t need = 0;
	char err[256];

	sv->from = a;
	assert_int_equal(ipcns_state_save(a->ns, &ops, "fe", 2, NULL, 0, &need), -ENOSPC);
	assert_true(need > 0);
	void *buf = malloc(need);
	assert_non_null(buf);
	assert_int_equal(ipcns_state_save(a->ns, &ops, "fe", 2, buf, need, NULL), (ssize_t)need);
	assert_int_equal(ipcns_state_check(buf, need, err, sizeof(err)), IPCNS_STATE_VERSION);
	write_seed("image-round-trip", buf, need);
	const void *fe;
	size_t fe_len;
	assert_int_equal(ipcns_state_fe(buf, need, &fe, &fe_len), 0);
	assert_int_equal(fe_len, 2);
	assert_memory_equal(fe, "fe", 2);

	struct world *b = world_blank();
	b->clock = a->clock;
	sv->to = b;
	int ret = ipcns_state_load(buf, need, &world_host_ops, b, &ops, &b->ns, err, sizeof(err));
	if (ret < 0)
		fail_msg("load: %d %s", ret, err);
	free(buf);
	*out = b;
}

static void test_round_trip(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1 };
	struct objs o;
	struct world *b;

	struct ipcns_limits l = *ipcns_ns_limits(a->ns);
	l.quota_mem_bytes = 77 << 20;
	l.quota_fds = 777;
	l.quota_objects_per_uid = 100;
	assert_int_equal(ipcns_ns_set_limits(a->ns, &l), 0);
	build(a, &o);
	round_trip(a, &b, &sv);
	assert_int_equal(b->nw, a->nw);
	assert_same_snapshot(a, b);
	/* Every limit, budgets and quotas included.  */
	assert_memory_equal(ipcns_ns_limits(a->ns), ipcns_ns_limits(b->ns), sizeof(struct ipcns_limits));

	/* The same wake-ups: the same answers in the same order, the same
	 * state after.  */
	struct msgbuf64 got[3];
	wake_all(a, &o);
	memcpy(got, rcvbuf, sizeof(got));
	memset(rcvbuf, 0, sizeof(rcvbuf));
	wake_all(b, &o);
	assert_memory_equal(got, rcvbuf, sizeof(got));
	for (int i = 0; i < a->nw; i++) {
		assert_int_equal(a->w[i]->answered, b->w[i]->answered);
		assert_int_equal(a->w[i]->answer, b->w[i]->answer);
		for (int j = 0; j < a->nw; j++)
			if (a->w[i]->answered && a->w[j]->answered)
				assert_int_equal(a->w[i]->answered_seq < a->w[j]->answered_seq,
						 b->w[i]->answered_seq < b->w[j]->answered_seq);
	}
	assert_same_snapshot(a, b);

	/* SEM_UNDO survived: the exits apply the same adjustments.  */
	for (int i = 1; i < NPROC; i++) {
		ipcns_ns_process_exit(a->ns, a->p[i].host_tgid);
		ipcns_ns_process_exit(b->ns, b->p[i].host_tgid);
	}
	assert_same_snapshot(a, b);
	/* The next ids continue the same way.  */
	assert_int_equal(ipcns_msgget(b->ns, C(b, 0), IPC_PRIVATE, 0600), 98765);
	assert_int_equal(ipcns_msgget(a->ns, C(a, 0), IPC_PRIVATE, 0600), 98765);
	assert_int_equal(ipcns_msgget(a->ns, C(a, 0), IPC_PRIVATE, 0600),
			 ipcns_msgget(b->ns, C(b, 0), IPC_PRIVATE, 0600));
	assert_int_equal(ipcns_semget(a->ns, C(a, 0), IPC_PRIVATE, 1, 0600),
			 ipcns_semget(b->ns, C(b, 0), IPC_PRIVATE, 1, 0600));

	/* The segment's memory is the same memory.  */
	long at = ipcns_shmat(b->ns, C(b, 0), o.shm_key, 0, 0);
	assert_true(at > 0);
	long at2 = ipcns_shmat(a->ns, C(a, 0), o.shm_key, 0, 0);
	assert_true(at2 > 0);
	memcpy((void *)(uintptr_t)at, "shared", 7);
	assert_memory_equal((void *)(uintptr_t)at2, "shared", 7);
	munmap((void *)(uintptr_t)at, 4096 * 4);
	munmap((void *)(uintptr_t)at2, 4096 * 4);
	munmap(o.attached, 4096);

	saver_close(&sv);
	world_free(a);
	world_free(b);
}

/* A parked call that did not survive (its thread died while the daemon
 * was away) is dropped: a sleeper's place goes to the next one, a
 * sender's message is never sent.  */
static void test_gone_waiter_dropped(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = 2 }; /* the complex semop */
	struct objs o;
	struct world *b;

	build(a, &o);
	round_trip(a, &b, &sv);
	assert_null(b->w[2]);
	/* Without the complex sleeper, the single decrement behind it went
	 * back to its semaphore's list: GETNCNT of sem 0 counts both
	 * decrements still.  */
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), o.sem, 0, GETNCNT, 0), 2);
	struct ipcns_usage u;
	ipcns_ns_usage(b->ns, &u);
	assert_int_equal(u.parked, (uint32_t)a->nw - 1);
	munmap(o.attached, 4096);
	saver_close(&sv);
	world_free(a);
	world_free(b);
}

/* ---- Refusing bad images.  */

static void *save_world(struct world *a, struct saver *sv, size_t *len)
{
	struct ipcns_state_ops ops = saver_ops(sv);
	sv->from = a;
	assert_int_equal(ipcns_state_save(a->ns, &ops, NULL, 0, NULL, 0, len), -ENOSPC);
	void *buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(ipcns_state_save(a->ns, &ops, NULL, 0, buf, *len, NULL), (ssize_t)*len);
	return buf;
}

/* The image's checksum made right again after a change.  */
static void fix_crc(uint8_t *buf, size_t len)
{
	uint64_t total;
	memcpy(&total, buf + 16, 8);
	if (total > len)
		total = len;
	/* Same CRC-32C as the image writer, computed here independently.  */
	uint32_t crc = ~0u;
	for (size_t i = 48; i < total; i++) {
		crc ^= buf[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	crc = ~crc;
	memcpy(buf + 24, &crc, 4);
}

static int load_into(struct world *b, struct saver *sv, const void *buf, size_t len, char *err, size_t errlen)
{
	struct ipcns_state_ops ops = saver_ops(sv);
	sv->to = b;
	b->ns = NULL;
	int ret = ipcns_state_load(buf, len, &world_host_ops, b, &ops, &b->ns, err, errlen);
	if (ret == 0) {
		ipcns_ns_free(b->ns);
		b->ns = NULL;
	}
	fake_waiters_free(&b->all);
	memset(b->w, 0, sizeof(b->w));
	b->nw = 0;
	return ret;
}

static void test_refuses_corrupt(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1 };
	struct objs o;
	size_t len;
	char err[256];

	build(a, &o);
	uint8_t *img = save_world(a, &sv, &len);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	struct world *b = world_blank();

	/* Every truncation is refused.  */
	for (size_t n = 0; n < len; n += (n < 128 ? 1 : 61))
		assert_int_equal(load_into(b, &sv, img, n, err, sizeof(err)), -EBADMSG);
	/* A flipped byte: the checksum.  */
	memcpy(buf, img, len);
	buf[len / 2] ^= 0x40;
	assert_int_equal(load_into(b, &sv, buf, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	/* Changed bytes with a good checksum: refused or loaded, never a
	 * crash, a leak or a waiter left behind (ASan, fake_ns_free).  */
	unsigned int seed = 12345;
	int refused = 0;
	for (int i = 0; i < 3000; i++) {
		memcpy(buf, img, len);
		int nchanges = 1 + (int)(rand_r(&seed) % 3);
		for (int k = 0; k < nchanges; k++) {
			size_t at = 48 + (size_t)rand_r(&seed) % (len - 48);
			if (rand_r(&seed) & 1)
				buf[at] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
			else
				buf[at] = (uint8_t)(rand_r(&seed) % 3 == 0 ? 0xff : rand_r(&seed));
		}
		fix_crc(buf, len);
		int ret = load_into(b, &sv, buf, len, err, sizeof(err));
		if (ret != 0 && ret != -EBADMSG && ret != -EBADF)
			fail_msg("mutation %d: %d %s", i, ret, err);
		if (ret < 0) {
			assert_true(strncmp(err, "state image: ", 13) == 0);
			refused++;
		}
	}
	assert_true(refused > 1000);

	free(img);
	free(buf);
	free(b);
	munmap(o.attached, 4096);
	saver_close(&sv);
	world_free(a);
}

/* An image that says a semaphore is above SEMVMX: the message names the
 * set and the semaphore.  */
static void test_names_what_is_wrong(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1 };
	size_t len;
	char err[256];

	int id = (int)ipcns_semget(a->ns, C(a, 0), IPC_PRIVATE, 3, 0600);
	assert_true(id >= 0);
	assert_int_equal(ipcns_semctl(a->ns, C(a, 0), id, 2, SETVAL, 12345), 0);
	uint8_t *img = save_world(a, &sv, &len);
	int32_t v = 12345, bad = 40000;
	uint8_t *p = memmem(img, len, &v, 4);
	assert_non_null(p);
	memcpy(p, &bad, 4);
	fix_crc(img, len);
	struct world *b = world_blank();
	assert_int_equal(load_into(b, &sv, img, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "value 40000 of semaphore 2"));
	/* A buffer too small for the message: cut, never overrun.  */
	char small[8];
	assert_int_equal(ipcns_state_check(img, len, small, sizeof(small)), -EBADMSG);
	assert_string_equal(small, "state i");
	/* So is a journal's (an empty memfd has no header).  */
	struct ipcns_state_ops ops = saver_ops(&sv);
	struct ipcns_ns *none = NULL;
	int jfd = memfd_create("journal", MFD_CLOEXEC);
	assert_true(jfd >= 0);
	assert_int_equal(ipcns_journal_recover(jfd, NULL, NULL, &ops, NULL, 0, &none, NULL, small, sizeof(small)),
			 -EBADMSG);
	assert_string_equal(small, "state j");
	assert_null(none);
	close(jfd);
	free(img);
	free(b);
	world_free(a);
}

/* A newer format: refused with a message, the image not written to.  */
static void test_refuses_newer_version(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1 };
	size_t len;
	char err[256];

	assert_true(ipcns_msgget(a->ns, C(a, 0), 0x77, IPC_CREAT | 0600) >= 0);
	uint8_t *img = save_world(a, &sv, &len);
	uint32_t v = IPCNS_STATE_VERSION + 1;
	memcpy(img + 8, &v, 4);
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, img, len);
	struct world *b = world_blank();
	assert_int_equal(ipcns_state_check(img, len, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(load_into(b, &sv, img, len, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "newer"));
	assert_memory_equal(img, copy, len);
	free(copy);
	free(img);
	free(b);
	world_free(a);
}

/* ---- Migration: the committed v1 image (written by the v1 writer from
 * the namespace `v1_world' builds, STATE_WRITE_V1=1 rewrites it) loads into
 * the namespace that same builder makes today.  */
static void v1_world(struct world *w)
{
	struct ipcns_ns *ns = w->ns;
	int sem = (int)ipcns_semget(ns, C(w, 0), 0x71, 3, IPC_CREAT | 0666);
	assert_true(sem >= 0);
	assert_int_equal(semop1(w, 2, sem, 1, 4, SEM_UNDO), 0);
	w->clock += 100;
	assert_int_equal(semop1(w, 3, sem, 2, 2, 0), 0);
	parked(w, 4, semop1(w, 4, sem, 0, -1, 0));
	int q = (int)ipcns_msgget(ns, C(w, 0), 0x72, IPC_CREAT | 0666);
	assert_true(q >= 0);
	assert_int_equal(snd(w, 0, q, 4, "from v1", 0), 0);
	parked(w, 1, ipcns_msgrcv(ns, C(w, 1), q, ptr(&rcvbuf[4]), 64, 9, 0));
}

static void test_v1_migration(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1 };
	char err[256];

	v1_world(a);
	if (getenv("STATE_WRITE_V1")) {
		/* Kept for the record: how the fixture was made.  */
		struct ipcns_state_ops ops = saver_ops(&sv);
		sv.from = a;
		static uint8_t out[65536];
		ssize_t n = ipcns_state_save_version(a->ns, &ops, "v1", 2, out, sizeof(out), NULL, 1);
		assert_true(n > 0);
		FILE *f = fopen(V1_FIXTURE, "we");
		assert_non_null(f);
		assert_int_equal(fwrite(out, 1, (size_t)n, f), (size_t)n);
		fclose(f);
	}
	FILE *f = fopen(V1_FIXTURE, "re");
	if (!f)
		fail_msg("%s: %s (run from the top of the repository)", V1_FIXTURE, strerror(errno));
	static uint8_t img[65536];
	size_t len = fread(img, 1, sizeof(img), f);
	fclose(f);
	uint32_t version;
	memcpy(&version, img + 8, 4);
	assert_int_equal(version, 1);
	assert_int_equal(ipcns_state_check(img, len, err, sizeof(err)), 1);

	struct world *b = world_blank();
	b->clock = a->clock;
	struct ipcns_state_ops ops = saver_ops(&sv);
	sv.from = a;
	sv.to = b;
	int ret = ipcns_state_load(img, len, &world_host_ops, b, &ops, &b->ns, err, sizeof(err));
	if (ret < 0)
		fail_msg("load v1: %d %s", ret, err);
	assert_same_snapshot(a, b);
	/* sem_otime after a semop on another semaphore than the first.  */
	long sem = ipcns_semget(a->ns, C(a, 0), 0x71, 0, 0);
	assert_true(sem >= 0);
	assert_int_equal(ipcns_semget(b->ns, C(b, 0), 0x71, 0, 0), sem);
	assert_int_equal(semop1(a, 0, (int)sem, 2, 1, 0), 0);
	assert_int_equal(semop1(b, 0, (int)sem, 2, 1, 0), 0);
	assert_same_snapshot(a, b);
	world_free(a);
	world_free(b);
}

/* ---- The journal: a randomized model test.  Random calls are made on a
 * journaled namespace, committed after each call as the daemon commits
 * before its answers; "crashes" copy the memfd as a SIGKILL leaves it, at
 * commit boundaries and in the middle of calls (with records written but
 * not committed, and garbage after them as a torn write leaves), and the
 * namespace recovered from each copy must show exactly what the live one
 * showed at its last commit.  */

struct jt {
	struct world *a;
	struct saver sv;
	struct ipcns_state_ops ops;
	int memfd;
	unsigned int seed;
	bool alive[MAXW]; /* per tag, at the last commit */
	struct snap expect; /* observables at the last commit */
	int crash_mid;      /* memfd copy taken in the middle of a call, -1 none */
	int recoveries, mid_recoveries, torn;
	int sems[4], queues[4], nsems, nqueues, shms[2], nshms;
};

static int memfd_copy(int from)
{
	struct stat st;
	assert_int_equal(fstat(from, &st), 0);
	int to = memfd_create("journal-copy", MFD_CLOEXEC);
	assert_true(to >= 0);
	assert_int_equal(ftruncate(to, st.st_size), 0);
	void *src = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, from, 0);
	void *dst = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, to, 0);
	assert_true(src != MAP_FAILED && dst != MAP_FAILED);
	memcpy(dst, src, (size_t)st.st_size);
	munmap(src, (size_t)st.st_size);
	munmap(dst, (size_t)st.st_size);
	return to;
}

/* A torn write: garbage after the committed end of the active region.  */
static void tear(int fd, unsigned int *seed)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	uint64_t roff[2], rcap[2], state;
	memcpy(roff, m + 16, 16);
	memcpy(rcap, m + 32, 16);
	memcpy(&state, m + 48, 8);
	int a = (int)(state >> 63);
	uint64_t end = state & ~(1ULL << 63);
	uint64_t room = rcap[a] - end;
	for (uint64_t i = 0; i < room && i < 64; i++)
		m[roff[a] + end + i] = (uint8_t)rand_r(seed);
	munmap(m, (size_t)st.st_size);
}

static void jt_recover_check(struct jt *t, int fd)
{
	char err[256];
	struct world *b = world_blank();
	b->clock = t->a->clock;
	t->sv.to = b;
	t->sv.alive = t->alive;
	struct ipcns_journal_pending pend;
	int ret = ipcns_journal_recover(fd, &world_host_ops, b, &t->ops, NULL, 0, &b->ns, &pend, err, sizeof(err));
	if (ret < 0)
		fail_msg("recover: %d %s", ret, err);
	struct snap got;
	snapshot(b, &got);
	if (got.len != t->expect.len || memcmp(got.p, t->expect.p, got.len) != 0) {
		size_t i = 0;
		while (i < got.len && i < t->expect.len && got.p[i] == t->expect.p[i])
			i++;
		fail_msg("recovered state differs at byte %zu (%zu vs %zu bytes)", i, got.len, t->expect.len);
	}
	free(got.p);
	world_free(b);
	t->sv.to = NULL;
	t->sv.alive = NULL;
}

static void jt_on_now(struct world *w)
{
	struct jt *t = w->test;
	if (t->crash_mid < 0 && rand_r(&t->seed) % 8 == 0)
		t->crash_mid = memfd_copy(t->memfd);
}

static void jt_commit(struct jt *t)
{
	struct world *a = t->a;
	ipcns_ns_sweep(a->ns);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	for (int i = 0; i < a->nw; i++)
		t->alive[i] = a->w[i] && a->w[i]->alive && !a->w[i]->released;
	free(t->expect.p);
	a->on_now = NULL;
	snapshot(a, &t->expect);
	a->on_now = jt_on_now;
}

static void maybe_park(struct world *w, int i, long ret)
{
	if (ret == IPCNS_PARKED)
		parked(w, i, ret);
}

static void jt_step(struct jt *t)
{
	struct world *a = t->a;
	struct ipcns_ns *ns = a->ns;
	unsigned int r = (unsigned int)rand_r(&t->seed);
	int who = (int)(r % NPROC);
	r /= NPROC;
	int op = (int)(r % 12);
	r /= 12;
	static struct msgbuf64 bufs[64];
	static unsigned int nbuf;

	switch (op) {
	case 0:
	case 1:
		if (t->nsems) {
			int id = t->sems[r % (unsigned int)t->nsems];
			short flg = (short)((r & 8 ? SEM_UNDO : 0) | (r & 16 ? IPC_NOWAIT : 0));
			maybe_park(a, who, semop1(a, who, id, (unsigned short)((r >> 5) % 3), (short)((int)((r >> 7) % 5) - 2), flg));
		}
		break;
	case 2:
		if (t->nsems) {
			int id = t->sems[r % (unsigned int)t->nsems];
			struct sembuf two[2] = { { (unsigned short)((r >> 3) % 3), (short)((int)((r >> 5) % 3) - 1), SEM_UNDO },
						 { (unsigned short)((r >> 7) % 3), (short)((int)((r >> 9) % 3) - 1), 0 } };
			maybe_park(a, who, ipcns_semtimedop(ns, C(a, who), id, ptr(two), 2, 0));
		}
		break;
	case 3:
		if (t->nsems)
			ipcns_semctl(ns, C(a, who), t->sems[r % (unsigned int)t->nsems], (int)((r >> 3) % 3), SETVAL,
				     (r >> 5) % 4);
		break;
	case 4:
	case 5:
		if (t->nqueues) {
			char text[48];
			size_t n = (r >> 3) % 40;
			for (size_t i = 0; i < n; i++)
				text[i] = (char)('a' + (r + i) % 26);
			text[n] = 0;
			maybe_park(a, who, snd(a, who, t->queues[r % (unsigned int)t->nqueues], 1 + (r >> 9) % 4, text,
					       (r >> 12) & 1 ? IPC_NOWAIT : 0));
		}
		break;
	case 6:
		if (t->nqueues) {
			struct msgbuf64 *b = &bufs[nbuf++ % 64];
			maybe_park(a, who, ipcns_msgrcv(ns, C(a, who), t->queues[r % (unsigned int)t->nqueues], ptr(b), 64,
						      (int64_t)((r >> 3) % 7) - 3, (r >> 6) & 1 ? IPC_NOWAIT : 0));
		}
		break;
	case 7: {
		/* Make or remove an object.  */
		int kind = (int)(r % 3);
		bool make = (r >> 2) & 1;
		if (kind == 0 && make && t->nsems < 4) {
			long id = ipcns_semget(ns, C(a, 0), IPC_PRIVATE, 3, 0666);
			assert_true(id >= 0);
			t->sems[t->nsems++] = (int)id;
		} else if (kind == 0 && !make && t->nsems) {
			int i = (int)((r >> 3) % (unsigned int)t->nsems);
			assert_int_equal(ipcns_semctl(ns, C(a, 0), t->sems[i], 0, IPC_RMID, 0), 0);
			t->sems[i] = t->sems[--t->nsems];
		} else if (kind == 1 && make && t->nqueues < 4) {
			long id = ipcns_msgget(ns, C(a, 0), (int32_t)(0x100 + t->nqueues + (r & 0xf0)), IPC_CREAT | 0666);
			assert_true(id >= 0);
			bool dup = false;
			for (int i = 0; i < t->nqueues; i++)
				dup |= t->queues[i] == id;
			if (!dup)
				t->queues[t->nqueues++] = (int)id;
		} else if (kind == 1 && !make && t->nqueues) {
			int i = (int)((r >> 3) % (unsigned int)t->nqueues);
			assert_int_equal(ipcns_msgctl(ns, C(a, 0), t->queues[i], IPC_RMID, 0), 0);
			t->queues[i] = t->queues[--t->nqueues];
		} else if (kind == 2 && make && t->nshms < 2) {
			long id = ipcns_shmget(ns, C(a, 0), IPC_PRIVATE, 4096 * (1 + (r >> 3) % 3), 0600);
			assert_true(id >= 0);
			t->shms[t->nshms++] = (int)id;
		} else if (kind == 2 && !make && t->nshms) {
			int i = (int)((r >> 3) % (unsigned int)t->nshms);
			assert_int_equal(ipcns_shmctl(ns, C(a, 0), t->shms[i], IPC_RMID, 0), 0);
			t->shms[i] = t->shms[--t->nshms];
		}
		break;
	}
	case 8:
		/* A parked caller interrupted.  */
		if (a->nw) {
			struct fake_waiter *fw = a->w[r % (unsigned int)a->nw];
			if (fw && !fw->released)
				fw->alive = false;
		}
		break;
	case 9:
		/* A process exits: its undo adjustments are applied.  */
		if (who != 0)
			ipcns_ns_process_exit(ns, a->p[who].host_tgid);
		break;
	case 10:
		/* A queue's size or mode changes.  */
		if (t->nqueues) {
			struct msqid_ds ds;
			int id = t->queues[r % (unsigned int)t->nqueues];
			assert_int_equal(ipcns_msgctl(ns, C(a, 0), id, IPC_STAT, ptr(&ds)), 0);
			ds.msg_qbytes = 20 + (r >> 3) % 200;
			ds.msg_perm.mode = (r >> 11) & 1 ? 0666 : 0644;
			assert_int_equal(ipcns_msgctl(ns, C(a, 0), id, IPC_SET, ptr(&ds)), 0);
		}
		break;
	case 11:
		/* An operator's sysctl: limits and next ids are journaled.  */
		if (r & 1)
			ipcns_sysctl_write(ns, IPCNS_SYSCTL_MSGMAX, "4096", 4, 0, NULL, NULL, 0);
		else
			ipcns_sysctl_write(ns, IPCNS_SYSCTL_SEM_NEXT_ID, "70000", 5, 0, NULL, NULL, 0);
		break;
	}
}

static void test_journal_crashes(void **state)
{
	struct jt *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->seed = 4242;
	t->crash_mid = -1;
	t->sv.dropped_tag = -1;
	t->a = world_new(NULL);
	t->a->test = t;
	t->ops = saver_ops(&t->sv);
	t->sv.from = t->a;
	t->memfd = memfd_create("journal", MFD_CLOEXEC);
	assert_true(t->memfd >= 0);
	assert_int_equal(ipcns_journal_attach(t->a->ns, t->memfd, &t->ops, "ns", 2), 0);
	jt_commit(t);

	for (int step = 0; step < 1500 && t->a->nw < MAXW - 8; step++) {
		jt_step(t);
		/* A copy taken in the middle of the call: what the last commit
		 * holds, whatever the call wrote after it.  */
		if (t->crash_mid >= 0) {
			if (rand_r(&t->seed) & 1) {
				tear(t->crash_mid, &t->seed);
				t->torn++;
			}
			jt_recover_check(t, t->crash_mid);
			close(t->crash_mid);
			t->crash_mid = -1;
			t->mid_recoveries++;
		}
		jt_commit(t);
		if (step == 60 && getenv("STATE_WRITE_SEEDS")) {
			struct stat st;
			assert_int_equal(fstat(t->memfd, &st), 0);
			void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, t->memfd, 0);
			assert_true(m != MAP_FAILED);
			write_seed("journal-random", m, (size_t)st.st_size);
			munmap(m, (size_t)st.st_size);
		}
		if (rand_r(&t->seed) % 10 == 0) {
			int fd = memfd_copy(t->memfd);
			if (rand_r(&t->seed) & 1) {
				tear(fd, &t->seed);
				t->torn++;
			}
			jt_recover_check(t, fd);
			close(fd);
			t->recoveries++;
		}
	}
	struct ipcns_journal_stats st;
	assert_int_equal(ipcns_journal_stats(t->a->ns, &st), 0);
	print_message("journal: %d recoveries at commits, %d in the middle of calls, %d torn; %llu commits, "
		      "%llu images, %llu bytes of file\n",
		      t->recoveries, t->mid_recoveries, t->torn, (unsigned long long)st.commits,
		      (unsigned long long)st.compactions, (unsigned long long)st.file_bytes);
	assert_true(t->recoveries > 50 && t->mid_recoveries > 50);
	t->a->on_now = NULL;
	free(t->expect.p);
	close(t->memfd);
	saver_close(&t->sv);
	world_free(t->a);
	free(t);
}

/* ---- Commit before answer: a front end commits (with the record of the
 * call) right before it sends each answer.  A SIGKILL just after that
 * commit must leave a journal that holds the call's effect, and the
 * answer to send again.  */
static struct {
	struct ipcns_ns *ns;
	int memfd, copy;
	int answers;
	bool fail; /* the answer does not reach the caller */
} ac;

static int answering(struct ipcns_caller *c, long ret)
{
	uint32_t rec = 0xca11 + (uint32_t)ac.answers++;
	assert_int_equal(ipcns_journal_commit_answer(ac.ns, &rec, sizeof(rec), ret), 0);
	if (ac.copy >= 0)
		close(ac.copy);
	/* The daemon dies here: the answer never left.  */
	ac.copy = memfd_copy(ac.memfd);
	return ac.fail ? -ENOENT : 0;
}

/* a journals into ac.memfd, and `answering' copies it as answers leave.  */
static void answering_start(struct world *a, const struct ipcns_state_ops *ops)
{
	ac.ns = a->ns;
	ac.copy = -1;
	ac.answers = 0;
	ac.fail = false;
	ac.memfd = memfd_create("journal", MFD_CLOEXEC);
	assert_true(ac.memfd >= 0);
	assert_int_equal(ipcns_journal_attach(a->ns, ac.memfd, ops, NULL, 0), 0);
}

/* A parked call's answer, committed as the front end commits it.  */
static int committing_deliver(struct ipcns_waiter *w, long ret)
{
	uint32_t rec = 0xdead;
	assert_int_equal(ipcns_journal_commit_answer(ac.ns, &rec, sizeof(rec), ret), 0);
	if (ac.copy >= 0)
		close(ac.copy);
	ac.copy = memfd_copy(ac.memfd);
	return fake_w_deliver(w, ret);
}
static const struct ipcns_waiter_ops committing_waiter_ops = {
	.alive = fake_w_alive,
	.deliver = committing_deliver,
	.release = fake_w_release,
};

static void recover_copy(struct world *b, struct saver *sv, struct ipcns_journal_pending *pend)
{
	char err[256];
	struct ipcns_state_ops ops = saver_ops(sv);
	sv->to = b;
	int ret = ipcns_journal_recover(ac.copy, &world_host_ops, b, &ops, NULL, 0, &b->ns, pend, err, sizeof(err));
	if (ret < 0)
		fail_msg("recover: %s", err);
}

/* ---- Pids in the reader's pid namespace (actor.c).  Pid namespaces:
 * H the daemon's, C a container's (child of H), N nested in C, D a
 * second container sharing the IPC namespace (a pod without a shared
 * pid namespace).  */
enum { NS_H = 1000, NS_C, NS_N, NS_D };

static void set_chain(struct fake_proc *p, pid_t host, pid_t c, pid_t n, uint64_t inner)
{
	p->host_tgid = host;
	p->chain.n = inner == NS_N ? 3 : 2;
	p->chain.lv[0] = (struct ipcns_pidlevel){ host, NS_H };
	p->chain.lv[1] = (struct ipcns_pidlevel){ inner == NS_D ? n : c, inner == NS_D ? NS_D : NS_C };
	p->chain.lv[2] = (struct ipcns_pidlevel){ n, NS_N };
	p->ns_tgid = p->chain.lv[p->chain.n - 1].nr;
}

static void pid_procs(struct world *w)
{
	set_chain(&w->p[0], 100, 10, 0, NS_C);  /* in C */
	set_chain(&w->p[1], 101, 11, 1, NS_N);  /* in N, C's child */
	set_chain(&w->p[2], 200, 0, 1, NS_D);   /* in D */
	set_chain(&w->p[3], 300, 30, 0, NS_C);
}

struct pid_ids {
	int sem, msq, shm;
};

static int sem_getpid(struct world *w, int i, int id)
{
	return (int)ipcns_semctl(w->ns, C(w, i), id, 0, GETPID, 0);
}

static int host_cpid(void *arg, const struct ipcns_obj_info *oi)
{
	*(pid_t *)arg = oi->cpid;
	return 0;
}

/* What each reader sees of objects p[1] (in N) made and p[2] (in D)
 * received from, and the last semop by p[3] (pid `last' in C).  */
static void pid_expect(struct world *w, const struct pid_ids *o, pid_t last)
{
	struct msqid_ds mds;
	struct shmid_ds sds;
	assert_int_equal(sem_getpid(w, 0, o->sem), last);
	assert_int_equal(sem_getpid(w, 1, o->sem), 0);
	assert_int_equal(sem_getpid(w, 2, o->sem), 0);
	const pid_t lspid[3] = { 11, 1, 0 }, lrpid[3] = { 0, 0, 1 }, cpid[3] = { 11, 1, 0 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ipcns_msgctl(w->ns, C(w, i), o->msq, IPC_STAT, ptr(&mds)), 0);
		assert_int_equal(mds.msg_lspid, lspid[i]);
		assert_int_equal(mds.msg_lrpid, lrpid[i]);
		assert_int_equal(ipcns_shmctl(w->ns, C(w, i), o->shm, IPC_STAT, ptr(&sds)), 0);
		assert_int_equal(sds.shm_cpid, cpid[i]);
	}
	/* /proc/sysvipc as C's reader sees it, and the host's listing.  */
	struct ipcns_pidns in_c = { 1, NS_C }, host = { 0, NS_H };
	char *t;
	size_t len;
	assert_int_equal(ipcns_ns_proc_text_as(w->ns, IPCNS_MSG, NULL, NULL, &in_c, &t, &len), 0);
	assert_non_null(strstr(t, "    11     0 "));
	free(t);
	pid_t c = -1;
	assert_int_equal(ipcns_ns_foreach_as(w->ns, IPCNS_SHM, &host, host_cpid, &c), 0);
	assert_int_equal(c, 101);
	assert_int_equal(ipcns_ns_foreach(w->ns, IPCNS_SHM, host_cpid, &c), 0);
	assert_int_equal(c, 1);
}

static void test_pid_namespaces(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1, .from = a };
	struct ipcns_state_ops ops = saver_ops(&sv);
	struct pid_ids o;
	struct world *b;
	char err[256];
	pid_procs(a);

	int jfd = memfd_create("journal", MFD_CLOEXEC);
	assert_true(jfd >= 0);
	assert_int_equal(ipcns_journal_attach(a->ns, jfd, &ops, NULL, 0), 0);
	o.sem = (int)ipcns_semget(a->ns, C(a, 1), IPC_PRIVATE, 1, 0666);
	o.msq = (int)ipcns_msgget(a->ns, C(a, 1), IPC_PRIVATE, 0666);
	o.shm = (int)ipcns_shmget(a->ns, C(a, 1), IPC_PRIVATE, 4096, 0666);
	assert_true(o.sem >= 0 && o.msq >= 0 && o.shm >= 0);
	assert_int_equal(snd(a, 1, o.msq, 1, "x", 0), 0);
	struct msgbuf64 m;
	assert_int_equal(ipcns_msgrcv(a->ns, C(a, 2), o.msq, ptr(&m), sizeof(m.mtext), 0, 0), 1);
	assert_int_equal(semop1(a, 1, o.sem, 0, 1, 0), 0);
	assert_int_equal(sem_getpid(a, 0, o.sem), 11);
	assert_int_equal(sem_getpid(a, 1, o.sem), 1);
	assert_int_equal(sem_getpid(a, 2, o.sem), 0);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);

	/* Processes come and go: one entry each, collected once no object
	 * names them; the table stays near what the objects hold.  */
	for (int i = 0; i < 1000; i++) {
		set_chain(&a->p[3], 5000 + i, 500 + i, 0, NS_C);
		assert_int_equal(semop1(a, 3, o.sem, 0, i % 2 ? 1 : -1, 0), 0);
		if (i % 100 == 0)
			assert_int_equal(ipcns_journal_commit(a->ns), 0);
	}
	assert_true(a->ns->actors.live < 200);
	pid_expect(a, &o, 500 + 999);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);

	/* The image keeps them.  */
	round_trip(a, &b, &sv);
	pid_procs(b);
	pid_expect(b, &o, 1499);
	world_free(b);

	/* So does the journal (entries written as they are made).  */
	b = world_blank();
	pid_procs(b);
	sv.to = b;
	int copy = memfd_copy(jfd);
	if (ipcns_journal_recover(copy, &world_host_ops, b, &ops, NULL, 0, &b->ns, NULL, err, sizeof(err)) < 0)
		fail_msg("recover: %s", err);
	pid_expect(b, &o, 1499);
	world_free(b);
	close(copy);
	saver_close(&sv);
	world_free(a);
	close(jfd);
}

static void test_answer_commits_effect(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1, .from = a };
	struct ipcns_state_ops ops = saver_ops(&sv);
	struct ipcns_caller_ops answering_ops = fake_caller_ops;
	struct ipcns_journal_pending pend;
	struct msqid_ds ds;
	answering_ops.answer = answering;
	answering_start(a, &ops);
	int q = (int)ipcns_msgget(a->ns, C(a, 0), IPC_PRIVATE, 0666);
	assert_true(q >= 0);
	assert_int_equal(snd(a, 0, q, 1, "first", 0), 0);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	a->p[2].c.ops = &answering_ops;

	/* msgsnd: the message is in the journal the moment its sender is
	 * answered.  */
	assert_int_equal(snd(a, 2, q, 2, "second", 0), IPCNS_ANSWERED);
	struct world *b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.msg_qnum, 2);
	assert_int_equal(ds.msg_lspid, a->p[2].ns_tgid);
	assert_true(pend.have);
	assert_int_equal(pend.ret, 0);
	world_free(b);

	/* msgrcv: the message is gone from the journal the moment its
	 * receiver is answered (else it would be received twice).  */
	struct msgbuf64 m;
	assert_int_equal(ipcns_msgrcv(a->ns, C(a, 2), q, ptr(&m), 64, 0, 0), IPCNS_ANSWERED);
	assert_memory_equal(m.mtext, "first", 5);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.msg_qnum, 1);
	assert_int_equal(ds.msg_lrpid, a->p[2].ns_tgid);
	assert_true(pend.have);
	assert_int_equal(pend.ret, 5);
	assert_int_equal(pend.len, 4);
	uint32_t rec;
	memcpy(&rec, pend.rec, 4);
	assert_int_equal(rec, 0xca11 + 1);
	world_free(b);

	/* semop: the decrement is there too.  */
	int s = (int)ipcns_semget(a->ns, C(a, 0), IPC_PRIVATE, 1, 0666);
	assert_int_equal(ipcns_semctl(a->ns, C(a, 0), s, 0, SETVAL, 3), 0);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	assert_int_equal(semop1(a, 2, s, 0, -1, SEM_UNDO), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 2);
	ipcns_ns_process_exit(b->ns, b->p[2].host_tgid);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 3);
	world_free(b);

	/* SETVAL and SETALL: the values, and the adjustments they void.  */
	assert_int_equal(ipcns_semctl(a->ns, C(a, 2), s, 0, SETVAL, 7), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 7);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETPID, 0), b->p[2].ns_tgid);
	ipcns_ns_process_exit(b->ns, b->p[2].host_tgid);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 7);
	world_free(b);
	unsigned short one = 4;
	assert_int_equal(ipcns_semctl(a->ns, C(a, 2), s, 0, SETALL, ptr(&one)), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 4);
	world_free(b);

	/* An answer that does not arrive: nothing was done, and the journal
	 * says so once the next commit is made.  */
	ac.fail = true;
	assert_int_equal(ipcns_semctl(a->ns, C(a, 2), s, 0, SETVAL, 9), IPCNS_ANSWERED);
	assert_int_equal(ipcns_semctl(a->ns, C(a, 0), s, 0, GETVAL, 0), 4);
	assert_int_equal(ipcns_semctl(a->ns, C(a, 2), s, 0, IPC_RMID, 0), IPCNS_ANSWERED);
	assert_int_equal(ipcns_msgctl(a->ns, C(a, 2), q, IPC_RMID, 0), IPCNS_ANSWERED);
	ac.fail = false;
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	close(ac.copy);
	ac.copy = memfd_copy(ac.memfd);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 4);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), 0);
	world_free(b);

	/* IPC_RMID of a set, a queue, a segment: gone as the answer leaves.  */
	int shm = (int)ipcns_shmget(a->ns, C(a, 0), IPC_PRIVATE, 4096, 0666);
	assert_true(shm >= 0);
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	assert_int_equal(ipcns_semctl(a->ns, C(a, 2), s, 0, IPC_RMID, 0), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), -EINVAL);
	world_free(b);
	assert_int_equal(ipcns_msgctl(a->ns, C(a, 2), q, IPC_RMID, 0), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), -EINVAL);
	world_free(b);
	assert_int_equal(ipcns_shmctl(a->ns, C(a, 2), shm, IPC_RMID, 0), IPCNS_ANSWERED);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	struct shmid_ds sds;
	assert_int_equal(ipcns_shmctl(b->ns, C(b, 0), shm, IPC_STAT, ptr(&sds)), -EINVAL);
	world_free(b);

	/* A woken semop: the journal copied as its answer leaves has its
	 * effect, and the single decrement queued behind it still on the
	 * set's list (the end of the call moves it back to its semaphore).  */
	int s2 = (int)ipcns_semget(a->ns, C(a, 0), IPC_PRIVATE, 2, 0666);
	assert_true(s2 >= 0);
	struct sembuf both[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
	parked(a, 3, ipcns_semtimedop(a->ns, C(a, 3), s2, ptr(both), 2, 0));
	a->w[a->nw - 1]->w.ops = &committing_waiter_ops;
	parked(a, 4, semop1(a, 4, s2, 0, -1, 0));
	assert_int_equal(ipcns_journal_commit(a->ns), 0);
	/* Records up to the brim, so that the commit made inside the woken
	 * semop's answer is a compaction (an image with that semop written
	 * ahead).  */
	struct ipcns_journal_stats js;
	for (;;) {
		assert_int_equal(ipcns_journal_stats(a->ns, &js), 0);
		if (js.record_bytes > 4 * js.image_bytes + (64u << 10))
			break;
		assert_int_equal(ipcns_semctl(a->ns, C(a, 0), s2, 1, GETVAL, 0), 0);
		assert_int_equal(ipcns_journal_commit(a->ns), 0);
	}
	uint64_t images = js.compactions;
	struct sembuf ups[2] = { { 0, 1, 0 }, { 1, 1, 0 } };
	assert_int_equal(ipcns_semtimedop(a->ns, C(a, 0), s2, ptr(ups), 2, 0), 0);
	assert_int_equal(a->w[a->nw - 2]->answer, 0);
	assert_int_equal(ipcns_journal_stats(a->ns, &js), 0);
	assert_int_equal(js.compactions, images + 1);
	b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s2, 0, GETVAL, 0), 0);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s2, 1, GETVAL, 0), 0);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s2, 0, GETPID, 0), b->p[3].ns_tgid);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s2, 0, GETNCNT, 0), 1);
	assert_true(pend.have);
	world_free(b);

	close(ac.copy);
	close(ac.memfd);
	saver_close(&sv);
	a->p[2].c.ops = &fake_caller_ops;
	world_free(a);
}

/* The daemon dies after a sender's answer and before its message goes to
 * the receiver parked for it: the recovered state has the message queued
 * and the receiver parked.  ipcns_state_settle hands it over (the
 * receiver that waited for it would have had it); without it the next
 * message sent would go to the receiver first and this one be skipped.
 * Likewise a semop whose values came back (an undo) but whose sleeper was
 * not woken.  */
static void test_settle_after_crash(void **state)
{
	struct world *a = world_new(NULL);
	struct saver sv = { .dropped_tag = -1, .from = a };
	struct ipcns_state_ops ops = saver_ops(&sv);
	struct ipcns_caller_ops answering_ops = fake_caller_ops;
	struct ipcns_journal_pending pend;
	struct msqid_ds ds;
	answering_ops.answer = answering;
	answering_start(a, &ops);
	int q = (int)ipcns_msgget(a->ns, C(a, 0), IPC_PRIVATE, 0666);
	assert_true(q >= 0);
	parked(a, 1, ipcns_msgrcv(a->ns, C(a, 1), q, ptr(&rcvbuf[1]), 64, 0, 0));
	int s = (int)ipcns_semget(a->ns, C(a, 0), IPC_PRIVATE, 1, 0666);
	assert_true(s >= 0);
	parked(a, 3, semop1(a, 3, s, 0, -1, 0));
	assert_int_equal(ipcns_journal_commit(a->ns), 0);

	/* The copy of the journal is taken as the sender's answer leaves,
	 * before the message is handed to the parked receiver.  */
	a->p[2].c.ops = &answering_ops;
	assert_int_equal(snd(a, 2, q, 1, "lost?", 0), IPCNS_ANSWERED);
	a->p[2].c.ops = &fake_caller_ops;
	assert_true(a->w[0]->answered);
	struct world *b = world_blank();
	recover_copy(b, &sv, &pend);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.msg_qnum, 1);
	assert_non_null(b->w[0]);
	assert_false(b->w[0]->answered);
	/* The semop's value is there (as an undo or a SETVAL the daemon
	 * died answering would leave it), its sleeper not woken.  */
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, SETVAL, 1), 0);
	assert_non_null(b->w[1]);
	ipcns_state_settle(b->ns);
	assert_true(b->w[0]->answered);
	assert_int_equal(b->w[0]->answer, 5);
	assert_memory_equal(rcvbuf[1].mtext, "lost?", 5);
	assert_int_equal(ipcns_msgctl(b->ns, C(b, 0), q, IPC_STAT, ptr(&ds)), 0);
	assert_int_equal(ds.msg_qnum, 0);
	assert_true(b->w[1]->answered);
	assert_int_equal(b->w[1]->answer, 0);
	assert_int_equal(ipcns_semctl(b->ns, C(b, 0), s, 0, GETVAL, 0), 0);
	world_free(b);

	close(ac.copy);
	close(ac.memfd);
	saver_close(&sv);
	world_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_gone_waiter_dropped),
		cmocka_unit_test(test_refuses_corrupt),
		cmocka_unit_test(test_names_what_is_wrong),
		cmocka_unit_test(test_refuses_newer_version),
		cmocka_unit_test(test_v1_migration),
		cmocka_unit_test(test_journal_crashes),
		cmocka_unit_test(test_answer_commits_effect),
		cmocka_unit_test(test_settle_after_crash),
		cmocka_unit_test(test_pid_namespaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
