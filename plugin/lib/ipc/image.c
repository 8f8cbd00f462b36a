/* SPDX-License-Identifier: MIT */
/* The state image of a namespace: writing it, and reading it back without
 * trusting a byte of it.
 *
 * Reading goes in three steps, so that nothing is built from a bad image:
 * the records are parsed into a model (every length checked against what
 * is left of the input before anything is allocated for it), the model is
 * checked as a whole (ids unique, keys unique, counts and sizes that agree,
 * parked calls on lists where the core could have put them), and only then
 * is a namespace built from it.  The journal (journal.c) applies its
 * records to the same model between the first two steps.
 *
 * Formats.  v1 kept one sem_otime per set; v2 keeps it per semaphore, as
 * Linux does (IPC_STAT reports the largest).  A v1 set is migrated by
 * giving its time to its first semaphore and 0 to the others, which
 * reports the same sem_otime now and after any later semop.  v2 also
 * keeps the namespace's budgets (quota_mem_bytes, quota_fds); a v1 image
 * gets the defaults.  */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "state_int.h"

#ifndef SHM_DEST
#define SHM_DEST 01000
#endif
#ifndef SHM_LOCKED
#define SHM_LOCKED 02000
#endif

static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* The CPU's CRC-32C instructions (SSE4.2, ARMv8 CRC) do 8 bytes in a few
 * cycles: a commit's records are checksummed on the daemon's hot path.  */
#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
static bool crc32c_have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		crc = __crc32cd(crc, v);
	}
	while (len--)
		crc = __crc32cb(crc, *p++);
	return crc;
}
static bool crc32c_have_hw(void)
{
	return true;
}
#else
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	return crc32c_sw(crc, p, len);
}
static bool crc32c_have_hw(void)
{
	return false;
}
#endif

uint32_t ipcns_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* 0 unknown, 1 table, 2 instructions; threads may race to set it
	 * (the same value either way).  */
	static int kind;
	int k = __atomic_load_n(&kind, __ATOMIC_RELAXED);
	if (!k) {
		k = crc32c_have_hw() ? 2 : 1;
		__atomic_store_n(&kind, k, __ATOMIC_RELAXED);
	}
	return ~(k == 2 ? crc32c_hw(~crc, buf, len) : crc32c_sw(~crc, buf, len));
}

/* ---- Writing.  */

void wb_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (n && w->p && n <= w->cap && w->len <= w->cap - n)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

#define WB(w, type, v)                                                                                             \
	do {                                                                                                       \
		type v_ = (type)(v);                                                                               \
		wb_bytes((w), &v_, sizeof(v_));                                                                    \
	} while (0)
#define W8(w, v) WB(w, uint8_t, v)
#define W16(w, v) WB(w, uint16_t, v)
#define W32(w, v) WB(w, uint32_t, v)
#define W64(w, v) WB(w, uint64_t, v)

static void wb_pad8(struct wbuf *w)
{
	static const uint8_t zero[8];
	if (w->len & 7)
		wb_bytes(w, zero, 8 - (w->len & 7));
}

static void wb_patch32(struct wbuf *w, size_t at, uint32_t v)
{
	if (w->p && at + 4 <= w->cap)
		memcpy(w->p + at, &v, 4);
}

size_t wb_rec_begin(struct wbuf *w, uint32_t type)
{
	size_t at = w->len;
	W32(w, type);
	W32(w, 0);
	return at;
}

void wb_rec_end(struct wbuf *w, size_t at)
{
	wb_patch32(w, at + 4, (uint32_t)(w->len - at - 8));
	wb_pad8(w);
}

static void put_perm(struct wbuf *w, const struct ipcns_perm *p)
{
	W32(w, p->id);
	W32(w, p->key);
	W32(w, p->uid);
	W32(w, p->gid);
	W32(w, p->cuid);
	W32(w, p->cgid);
	W32(w, p->mode);
}

/* A parked call's deadline and the front end's record of it.  */
static void put_waiter(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_waiter *wt)
{
	uint8_t rec[IPCNS_STATE_WAITER_MAX];
	int n = ops && ops->waiter_save ? ops->waiter_save(ops->arg, wt, rec, sizeof(rec)) : -EINVAL;
	if (n < 0 || (size_t)n > sizeof(rec)) {
		if (!w->err)
			w->err = n < 0 ? n : -EOVERFLOW;
		n = 0;
	}
	W64(w, wt->deadline);
	W32(w, n);
	wb_bytes(w, rec, (size_t)n);
}

void img_put_ns(struct wbuf *w, struct ipcns_ns *ns, int version)
{
	const struct ipcns_limits *l = &ns->limits;
	size_t at = wb_rec_begin(w, REC_NS);
	W64(w, l->shmmax);
	W64(w, l->shmall);
	W32(w, l->shmmni);
	W32(w, l->shm_rmid_forced);
	W32(w, l->semmsl);
	W32(w, l->semmns);
	W32(w, l->semopm);
	W32(w, l->semmni);
	W32(w, l->msgmax);
	W32(w, l->msgmnb);
	W32(w, l->msgmni);
	W64(w, l->quota_shm_bytes);
	W64(w, l->quota_msg_bytes);
	W32(w, l->quota_objects_per_uid);
	if (version >= 2) {
		W64(w, l->quota_mem_bytes);
		W32(w, l->quota_fds);
	}
	for (int k = 0; k < 3; k++) {
		W32(w, ns->ids[k].seq);
		W32(w, ns->ids[k].last_idx);
		W32(w, ns->ids[k].idr.next);
		W32(w, ns->ids[k].next_id);
	}
	W32(w, ns->uid_counts_len);
	for (size_t i = 0; i < ns->uid_counts_len; i++) {
		W32(w, ns->uid_counts[i].uid);
		W32(w, ns->uid_counts[i].count);
	}
	wb_rec_end(w, at);
}

void img_put_shm(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_shm *shp)
{
	struct ipcns_list *pos;
	int slot = ops && ops->fd_slot ? ops->fd_slot(ops->arg, shp->fd) : -EINVAL;
	if (slot < 0) {
		if (!w->err)
			w->err = slot;
		slot = 0;
	}
	size_t at = wb_rec_begin(w, REC_SHM);
	put_perm(w, &shp->perm);
	W64(w, shp->segsz);
	W64(w, shp->atime);
	W64(w, shp->dtime);
	W64(w, shp->ctime);
	W32(w, shp->cpid);
	W32(w, shp->lpid);
	W32(w, shp->creator_tgid);
	W32(w, slot);
	W8(w, shp->hugetlb);
	W8(w, shp->noreserve);
	W8(w, shp->lock_charged);
	W8(w, shp->detached_to_zero);
	W8(w, shp->attached_once);
	W64(w, shp->hugesize);
	W32(w, shp->lock_uid);
	W32(w, shp->nholders);
	for (uint32_t i = 0; i < shp->nholders; i++) {
		W32(w, shp->holders[i].tgid);
		W32(w, shp->holders[i].ns_tgid);
		W32(w, shp->holders[i].nvmas);
	}
	uint32_t n = 0;
	ipcns_list_for_each (pos, &shp->attaches)
		n++;
	W32(w, n);
	ipcns_list_for_each (pos, &shp->attaches) {
		struct shm_attach *a = ipcns_list_entry(pos, struct shm_attach, seg_link);
		W32(w, a->proc->tgid);
		W64(w, a->addr);
		W64(w, a->len);
	}
	wb_rec_end(w, at);
}

static int64_t set_otime(const struct sem_array *sma)
{
	int64_t res = sma->sems[0].otime;
	for (int i = 1; i < sma->nsems; i++)
		if (sma->sems[i].otime > res)
			res = sma->sems[i].otime;
	return res;
}

static void put_semq_list(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_list *head,
			  uint32_t list)
{
	struct ipcns_list *pos;
	ipcns_list_for_each (pos, head) {
		struct sem_queue *q = ipcns_list_entry(pos, struct sem_queue, list);
		W32(w, list);
		W32(w, q->nsops);
		W32(w, q->blocking);
		W8(w, q->alter);
		W8(w, q->undo != NULL);
		W32(w, q->host_tgid);
		W32(w, q->ns_tgid);
		put_waiter(w, ops, q->w);
		for (int i = 0; i < q->nsops; i++) {
			W16(w, q->sops[i].sem_num);
			W16(w, q->sops[i].sem_op);
			W16(w, q->sops[i].sem_flg);
		}
	}
}

/* List numbers of a sleeper: 0 the set's alter list, 1 its const list,
 * 2 + 2i semaphore i's alter list, 3 + 2i its const list.  */
/* `a' (may be NULL): a SETVAL or SETALL written as if done.  */
void img_put_sem(struct wbuf *w, const struct ipcns_state_ops *ops, struct sem_array *sma, int version,
		 const struct sem_ahead *a)
{
	struct ipcns_list *pos;
	size_t at = wb_rec_begin(w, REC_SEM);
	put_perm(w, &sma->perm);
	W64(w, a ? a->ctime : sma->ctime);
	W32(w, sma->nsems);
	if (version == 1)
		W64(w, set_otime(sma));
	for (int i = 0; i < sma->nsems; i++) {
		bool set = a && (a->semnum == -1 || a->semnum == i);
		W32(w, set ? (a->semnum < 0 ? a->vals[i] : a->val) : sma->sems[i].semval);
		W32(w, set ? a->pid : sma->sems[i].sempid);
		if (version >= 2)
			W64(w, sma->sems[i].otime);
	}
	if (a && a->sops && version >= 2) {
		/* A semop's pids and time, into the values just written.  */
		size_t base = at + 8 + 7 * 4 + 8 + 4;
		for (int i = 0; i < a->nsops; i++)
			wb_patch32(w, base + 16 * (size_t)a->sops[i].sem_num + 4, (uint32_t)a->pid);
		if (a->otime >= 0) {
			wb_patch32(w, base + 16 * (size_t)a->sops[0].sem_num + 8, (uint32_t)a->otime);
			wb_patch32(w, base + 16 * (size_t)a->sops[0].sem_num + 12, (uint32_t)((uint64_t)a->otime >> 32));
		}
	}
	uint32_t n = 0;
	ipcns_list_for_each (pos, &sma->undos)
		n++;
	W32(w, n);
	ipcns_list_for_each (pos, &sma->undos) {
		struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, set_link);
		W32(w, un->ulp->host_tgid);
		W32(w, un->ulp->ns_tgid);
		if (!a) {
			wb_bytes(w, un->semadj, (size_t)sma->nsems * sizeof(short));
			continue;
		}
		/* A value set by hand voids every adjustment of it.  */
		for (int i = 0; i < sma->nsems; i++) {
			short adj = a->semnum == -1 || a->semnum == i ? 0 : un->semadj[i];
			wb_bytes(w, &adj, sizeof(adj));
		}
	}
	/* The sleepers on the pending lists: one being answered (a commit
	 * made as its answer leaves) is off them, still on sma->waiters.  */
	n = 0;
	ipcns_list_for_each (pos, &sma->pending_alter)
		n++;
	ipcns_list_for_each (pos, &sma->pending_const)
		n++;
	for (int i = 0; i < sma->nsems; i++) {
		ipcns_list_for_each (pos, &sma->sems[i].pending_alter)
			n++;
		ipcns_list_for_each (pos, &sma->sems[i].pending_const)
			n++;
	}
	W32(w, n);
	put_semq_list(w, ops, &sma->pending_alter, 0);
	put_semq_list(w, ops, &sma->pending_const, 1);
	for (int i = 0; i < sma->nsems; i++) {
		put_semq_list(w, ops, &sma->sems[i].pending_alter, 2 + 2 * (uint32_t)i);
		put_semq_list(w, ops, &sma->sems[i].pending_const, 3 + 2 * (uint32_t)i);
	}
	wb_rec_end(w, at);
}

/* A starved sender's place in the namespace's starved list.  */
static uint32_t starve_rank(struct ipcns_ns *ns, const struct msgq_waiter *s)
{
	struct ipcns_list *pos;
	uint32_t r = 0;
	ipcns_list_for_each (pos, &ns->msg->starved) {
		if (ipcns_list_entry(pos, struct msgq_waiter, starvelink) == s)
			return r;
		r++;
	}
	return UINT32_MAX;
}

void img_put_msq(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_ns *ns, struct msgq *q,
		 uint32_t flags)
{
	struct ipcns_list *pos;
	size_t at = wb_rec_begin(w, REC_MSQ);
	put_perm(w, &q->perm);
	W32(w, flags);
	W64(w, q->stime);
	W64(w, q->rtime);
	W64(w, q->ctime);
	W64(w, q->qbytes);
	W32(w, q->lspid);
	W32(w, q->lrpid);
	if (!(flags & MSQ_NO_MESSAGES)) {
		W64(w, q->qnum);
		ipcns_list_for_each (pos, &q->messages) {
			struct msgq_msg *m = ipcns_list_entry(pos, struct msgq_msg, link);
			W64(w, m->mtype);
			W64(w, m->size);
			wb_bytes(w, m->mtext, m->size);
		}
	}
	uint32_t n = 0;
	ipcns_list_for_each (pos, &q->receivers)
		n++;
	W32(w, n);
	ipcns_list_for_each (pos, &q->receivers) {
		struct msgq_waiter *r = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		W32(w, r->tgid);
		W32(w, r->mode);
		W64(w, r->msgtyp);
		W64(w, r->maxsize);
		W64(w, r->buf);
		W64(w, r->bufsz);
		put_waiter(w, ops, r->w);
	}
	n = 0;
	ipcns_list_for_each (pos, &q->senders)
		n++;
	W32(w, n);
	ipcns_list_for_each (pos, &q->senders) {
		struct msgq_waiter *s = ipcns_list_entry(pos, struct msgq_waiter, qlink);
		W32(w, s->tgid);
		W64(w, s->msgp);
		W64(w, s->msgsz);
		W64(w, s->mtype);
		W32(w, s->msg ? UINT32_MAX : starve_rank(ns, s));
		put_waiter(w, ops, s->w);
		if (s->msg)
			wb_bytes(w, s->msg->mtext, s->msg->size);
	}
	wb_rec_end(w, at);
}

void img_put_image(struct wbuf *w, struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
		   size_t fe_len, int version)
{
	size_t start = w->len;
	uint32_t nrec = 1;

	wb_bytes(w, IMG_MAGIC, 8);
	W32(w, version);
	W32(w, IMG_HDR_SIZE);
	W64(w, 0); /* total length */
	W32(w, 0); /* crc */
	W32(w, 0); /* records */
	W32(w, page_size());
	W32(w, fe_len);
	W64(w, 0);
	wb_bytes(w, fe, fe_len);
	wb_pad8(w);
	img_put_ns(w, ns, version);
	for (int k = 0; k < 3; k++) {
		struct ipcns_ids *ids = &ns->ids[k];
		for (int idx = ipcns_idr_next(&ids->idr, 0); idx >= 0; idx = ipcns_idr_next(&ids->idr, idx + 1)) {
			struct ipcns_perm *p = ipcns_idr_find(&ids->idr, idx);
			bool gone = false;
			const struct sem_ahead *a = NULL;
			/* A change journaled ahead of its answer: the image of
			 * the journal shows it done.  */
			if (p->jstate == IPCNS_J_AHEAD) {
				a = ipcns_journal_ahead_of(ns, p, &gone);
				if (gone)
					continue;
			}
			if (k == IPCNS_SHM)
				img_put_shm(w, ops, shm_of(p));
			else if (k == IPCNS_SEM)
				img_put_sem(w, ops, container_of(p, struct sem_array, perm), version, a);
			else
				img_put_msq(w, ops, ns, msgq_of(p), 0);
			nrec++;
		}
	}
	size_t total = w->len - start;
	if (w->p && w->len <= w->cap) {
		uint64_t t = total;
		memcpy(w->p + start + 16, &t, 8);
		memcpy(w->p + start + 28, &nrec, 4);
		uint32_t crc = ipcns_crc32c(0, w->p + start + IMG_HDR_SIZE, total - IMG_HDR_SIZE);
		memcpy(w->p + start + 24, &crc, 4);
	}
}

ssize_t ipcns_state_save_version(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
				 size_t fe_len, void *buf, size_t cap, size_t *need, int version)
{
	if (fe_len > IPCNS_STATE_FE_MAX || (fe_len && !fe) || version < IPCNS_STATE_VERSION_MIN ||
	    version > IPCNS_STATE_VERSION)
		return -EINVAL;
	struct wbuf w = { .p = buf, .cap = buf ? cap : 0 };
	img_put_image(&w, ns, ops, fe, fe_len, version);
	if (w.err)
		return w.err;
	if (need)
		*need = w.len;
	if (w.len > w.cap)
		return -ENOSPC;
	return (ssize_t)w.len;
}

ssize_t ipcns_state_save(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe, size_t fe_len,
			 void *buf, size_t cap, size_t *need)
{
	return ipcns_state_save_version(ns, ops, fe, fe_len, buf, cap, need, IPCNS_STATE_VERSION);
}

/* ---- Reading into a model.  */

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
	char *err;
	size_t errlen;
	const char *what; /* the record being read, for messages */
};

static void fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	if (r->bad)
		return;
	r->bad = true;
	if (!r->err || !r->errlen)
		return;
	int n = snprintf(r->err, r->errlen, "state image: %s%s", r->what ? r->what : "", r->what ? ": " : "");
	if (n < 0 || (size_t)n >= r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* n bytes, or NULL (and the read fails) when fewer are left.  */
static const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->bad)
		return NULL;
	if (n > r->len - r->off) {
		fail(r, "truncated (%zu bytes wanted at offset %zu of %zu)", n, r->off, r->len);
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

#define RD(type)                                                                                                   \
	static type rd_##type(struct rd *r)                                                                        \
	{                                                                                                          \
		type v = 0;                                                                                        \
		const uint8_t *p = rd_take(r, sizeof(v));                                                          \
		if (p)                                                                                             \
			memcpy(&v, p, sizeof(v));                                                                  \
		return v;                                                                                          \
	}
RD(uint8_t)
RD(uint16_t)
RD(uint32_t)
RD(uint64_t)
#define R8(r) rd_uint8_t(r)
#define R16(r) rd_uint16_t(r)
#define R32(r) rd_uint32_t(r)
#define RI32(r) ((int32_t)rd_uint32_t(r))
#define R64(r) rd_uint64_t(r)
#define RI64(r) ((int64_t)rd_uint64_t(r))

/* A count of items of at least `min_size' bytes each: no more than the
 * input can hold, so nothing is allocated beyond its size.  */
static uint32_t rd_count(struct rd *r, size_t min_size, const char *what)
{
	uint32_t n = R32(r);
	if (!r->bad && min_size && n > (r->len - r->off) / min_size) {
		fail(r, "%u %s cannot fit in the %zu bytes left", n, what, r->len - r->off);
		return 0;
	}
	return n;
}

static void *rd_alloc(struct rd *r, size_t n, size_t size)
{
	if (r->bad || n == 0)
		return NULL;
	void *p = calloc(n, size);
	if (!p)
		fail(r, "out of memory");
	return p;
}

struct m_perm {
	int32_t id, key;
	uint32_t uid, gid, cuid, cgid, mode;
};
struct m_waiter {
	int64_t deadline;
	uint32_t fe_len;
	const uint8_t *fe;
};
struct m_shm {
	struct m_perm perm;
	uint64_t segsz, hugesize;
	int64_t atime, dtime, ctime;
	int32_t cpid, lpid, creator_tgid;
	uint32_t slot, lock_uid;
	bool hugetlb, noreserve, lock_charged, detached_to_zero, attached_once;
	uint32_t nholders, nattaches;
	struct shm_holder *holders;
	struct m_attach {
		int32_t tgid;
		uint64_t addr, len;
	} *attaches;
};
struct m_semq {
	uint32_t list, nsops, blocking;
	bool alter, has_undo;
	int32_t host_tgid, ns_tgid;
	struct m_waiter w;
	struct sembuf *sops;
};
struct m_undo {
	int32_t host_tgid, ns_tgid;
	short *adj;
};
struct m_sem {
	struct m_perm perm;
	int64_t ctime;
	uint32_t nsems, nundos, nq;
	struct m_semval {
		int32_t val, pid;
		int64_t otime;
	} *sems;
	struct m_undo *undos;
	struct m_semq *q;
};
struct m_msg {
	int64_t mtype;
	uint64_t size;
	const uint8_t *text;
};
struct m_recv {
	int32_t tgid, mode;
	int64_t msgtyp, maxsize;
	uint64_t buf, bufsz;
	struct m_waiter w;
};
struct m_send {
	int32_t tgid;
	uint64_t msgp, msgsz;
	int64_t mtype;
	uint32_t starve_rank; /* UINT32_MAX: holds its copy */
	struct m_waiter w;
	const uint8_t *copy;
	struct msgq_waiter *built; /* while building: what was made of it */
};
struct m_msq {
	struct m_perm perm;
	int64_t stime, rtime, ctime;
	uint64_t qbytes;
	int32_t lspid, lrpid;
	uint32_t nmsgs, cap_msgs, nrecv, nsend;
	struct m_msg *msgs;
	struct m_recv *recv;
	struct m_send *send;
};

struct img_model {
	int version;
	uint32_t page_size;
	const uint8_t *fe;
	uint32_t fe_len;
	bool have_ns;
	struct ipcns_limits limits;
	struct {
		uint32_t seq;
		int32_t last_idx, next, next_id;
	} ids[3];
	uint32_t nuid;
	struct ipcns_uid_count_rec {
		uint32_t uid, count;
	} *uids;
	/* Objects by index, per kind.  */
	struct ipcns_idr objs[3];
};

static void m_shm_free(struct m_shm *s)
{
	if (!s)
		return;
	free(s->holders);
	free(s->attaches);
	free(s);
}

static void m_sem_free(struct m_sem *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nundos; i++)
		free(s->undos[i].adj);
	for (uint32_t i = 0; i < s->nq; i++)
		free(s->q[i].sops);
	free(s->undos);
	free(s->q);
	free(s->sems);
	free(s);
}

static void m_msq_free(struct m_msq *q)
{
	if (!q)
		return;
	free(q->msgs);
	free(q->recv);
	free(q->send);
	free(q);
}

static void m_obj_free(int kind, void *o)
{
	if (kind == IPCNS_SHM)
		m_shm_free(o);
	else if (kind == IPCNS_SEM)
		m_sem_free(o);
	else
		m_msq_free(o);
}

void img_model_free(struct img_model *m)
{
	if (!m)
		return;
	for (int k = 0; k < 3; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1))
			m_obj_free(k, ipcns_idr_find(idr, idx));
		ipcns_idr_destroy(idr);
	}
	free(m->uids);
	free(m);
}

int img_model_version(const struct img_model *m)
{
	return m->version;
}

static void rd_perm(struct rd *r, struct m_perm *p)
{
	p->id = RI32(r);
	p->key = RI32(r);
	p->uid = R32(r);
	p->gid = R32(r);
	p->cuid = R32(r);
	p->cgid = R32(r);
	p->mode = R32(r);
}

static void rd_waiter(struct rd *r, struct m_waiter *w)
{
	w->deadline = RI64(r);
	w->fe_len = R32(r);
	if (!r->bad && w->fe_len > IPCNS_STATE_WAITER_MAX)
		fail(r, "a parked call's front-end record of %u bytes (at most %d)", w->fe_len,
		     IPCNS_STATE_WAITER_MAX);
	w->fe = rd_take(r, w->fe_len);
	if (!r->bad && w->deadline < -1)
		fail(r, "a parked call's deadline %lld", (long long)w->deadline);
}

static void parse_ns(struct rd *r, struct img_model *m)
{
	struct ipcns_limits *l = &m->limits;
	l->shmmax = R64(r);
	l->shmall = R64(r);
	l->shmmni = R32(r);
	l->shm_rmid_forced = RI32(r);
	l->semmsl = RI32(r);
	l->semmns = RI32(r);
	l->semopm = RI32(r);
	l->semmni = RI32(r);
	l->msgmax = R32(r);
	l->msgmnb = R32(r);
	l->msgmni = R32(r);
	l->quota_shm_bytes = R64(r);
	l->quota_msg_bytes = R64(r);
	l->quota_objects_per_uid = R32(r);
	if (m->version >= 2) {
		l->quota_mem_bytes = R64(r);
		l->quota_fds = R32(r);
	} else {
		/* Migration v1 -> v2: v1 had no budgets; the defaults, which
		 * the front end sets again from the operator's policy.  */
		l->quota_mem_bytes = IPCNS_DEFAULT_MEM_BYTES;
		l->quota_fds = IPCNS_DEFAULT_FDS;
	}
	for (int k = 0; k < 3; k++) {
		m->ids[k].seq = R32(r);
		m->ids[k].last_idx = RI32(r);
		m->ids[k].next = RI32(r);
		m->ids[k].next_id = RI32(r);
	}
	uint32_t n = rd_count(r, 8, "uid counts");
	struct ipcns_uid_count_rec *u = rd_alloc(r, n, sizeof(*u));
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		u[i].uid = R32(r);
		u[i].count = R32(r);
	}
	if (r->bad) {
		free(u);
		return;
	}
	free(m->uids);
	m->uids = u;
	m->nuid = n;
	m->have_ns = true;
}

static struct m_shm *parse_shm(struct rd *r)
{
	struct m_shm *s = rd_alloc(r, 1, sizeof(*s));
	if (!s)
		return NULL;
	rd_perm(r, &s->perm);
	s->segsz = R64(r);
	s->atime = RI64(r);
	s->dtime = RI64(r);
	s->ctime = RI64(r);
	s->cpid = RI32(r);
	s->lpid = RI32(r);
	s->creator_tgid = RI32(r);
	s->slot = R32(r);
	uint8_t b[5];
	for (int i = 0; i < 5; i++) {
		b[i] = R8(r);
		if (b[i] > 1)
			fail(r, "a flag of value %u", b[i]);
	}
	s->hugetlb = b[0];
	s->noreserve = b[1];
	s->lock_charged = b[2];
	s->detached_to_zero = b[3];
	s->attached_once = b[4];
	s->hugesize = R64(r);
	s->lock_uid = R32(r);
	s->nholders = rd_count(r, 12, "holders");
	s->holders = rd_alloc(r, s->nholders, sizeof(*s->holders));
	for (uint32_t i = 0; i < s->nholders && !r->bad; i++) {
		s->holders[i].tgid = RI32(r);
		s->holders[i].ns_tgid = RI32(r);
		s->holders[i].nvmas = R32(r);
	}
	s->nattaches = rd_count(r, 20, "attach records");
	s->attaches = rd_alloc(r, s->nattaches, sizeof(*s->attaches));
	for (uint32_t i = 0; i < s->nattaches && !r->bad; i++) {
		s->attaches[i].tgid = RI32(r);
		s->attaches[i].addr = R64(r);
		s->attaches[i].len = R64(r);
	}
	if (r->bad) {
		m_shm_free(s);
		return NULL;
	}
	return s;
}

static struct m_sem *parse_sem(struct rd *r, int version)
{
	struct m_sem *s = rd_alloc(r, 1, sizeof(*s));
	if (!s)
		return NULL;
	rd_perm(r, &s->perm);
	s->ctime = RI64(r);
	int64_t v1_otime = 0;
	s->nsems = rd_count(r, version == 1 ? 8 : 16, "semaphores");
	if (version == 1)
		v1_otime = RI64(r);
	if (!r->bad && s->nsems == 0)
		fail(r, "a set of 0 semaphores");
	s->sems = rd_alloc(r, s->nsems, sizeof(*s->sems));
	for (uint32_t i = 0; i < s->nsems && !r->bad; i++) {
		s->sems[i].val = RI32(r);
		s->sems[i].pid = RI32(r);
		if (version >= 2)
			s->sems[i].otime = RI64(r);
	}
	/* Migration v1 -> v2: the set's sem_otime becomes its first
	 * semaphore's; the largest, which IPC_STAT reports, is unchanged.  */
	if (version == 1 && s->sems)
		s->sems[0].otime = v1_otime;

	s->nundos = rd_count(r, 8 + (size_t)s->nsems * 2, "undo structures");
	s->undos = rd_alloc(r, s->nundos, sizeof(*s->undos));
	for (uint32_t i = 0; i < s->nundos && !r->bad; i++) {
		s->undos[i].host_tgid = RI32(r);
		s->undos[i].ns_tgid = RI32(r);
		s->undos[i].adj = rd_alloc(r, s->nsems, sizeof(short));
		const uint8_t *p = rd_take(r, (size_t)s->nsems * sizeof(short));
		if (p && s->undos[i].adj)
			memcpy(s->undos[i].adj, p, (size_t)s->nsems * sizeof(short));
	}
	s->nq = rd_count(r, 36, "sleeping operations");
	s->q = rd_alloc(r, s->nq, sizeof(*s->q));
	for (uint32_t i = 0; i < s->nq && !r->bad; i++) {
		struct m_semq *q = &s->q[i];
		q->list = R32(r);
		q->nsops = R32(r);
		q->blocking = R32(r);
		uint8_t alter = R8(r), has_undo = R8(r);
		if (alter > 1 || has_undo > 1)
			fail(r, "a flag of value %u", alter > 1 ? alter : has_undo);
		q->alter = alter;
		q->has_undo = has_undo;
		q->host_tgid = RI32(r);
		q->ns_tgid = RI32(r);
		rd_waiter(r, &q->w);
		if (!r->bad && (q->nsops == 0 || q->nsops > (r->len - r->off) / 6)) {
			fail(r, "a sleeping operation of %u sops", q->nsops);
			break;
		}
		q->sops = rd_alloc(r, q->nsops, sizeof(*q->sops));
		for (uint32_t j = 0; j < q->nsops && !r->bad; j++) {
			q->sops[j].sem_num = R16(r);
			q->sops[j].sem_op = (short)R16(r);
			q->sops[j].sem_flg = (short)R16(r);
		}
	}
	if (r->bad) {
		m_sem_free(s);
		return NULL;
	}
	return s;
}

static struct m_msq *parse_msq(struct rd *r, bool journal, uint32_t *flags_out)
{
	struct m_msq *q = rd_alloc(r, 1, sizeof(*q));
	if (!q)
		return NULL;
	rd_perm(r, &q->perm);
	uint32_t flags = R32(r);
	if (!r->bad && (flags & ~MSQ_NO_MESSAGES))
		fail(r, "unknown queue flags 0x%x", flags);
	if (!r->bad && (flags & MSQ_NO_MESSAGES) && !journal)
		fail(r, "a queue without its messages in a full image");
	*flags_out = flags;
	q->stime = RI64(r);
	q->rtime = RI64(r);
	q->ctime = RI64(r);
	q->qbytes = R64(r);
	q->lspid = RI32(r);
	q->lrpid = RI32(r);
	if (!(flags & MSQ_NO_MESSAGES)) {
		uint64_t n = R64(r);
		if (!r->bad && n > (r->len - r->off) / 16)
			fail(r, "%llu messages cannot fit in the %zu bytes left", (unsigned long long)n, r->len - r->off);
		q->nmsgs = q->cap_msgs = (uint32_t)n;
		q->msgs = rd_alloc(r, q->nmsgs, sizeof(*q->msgs));
		for (uint32_t i = 0; i < q->nmsgs && !r->bad; i++) {
			q->msgs[i].mtype = RI64(r);
			q->msgs[i].size = R64(r);
			if (q->msgs[i].size > r->len - r->off) {
				fail(r, "a message of %llu bytes cannot fit", (unsigned long long)q->msgs[i].size);
				break;
			}
			q->msgs[i].text = rd_take(r, q->msgs[i].size);
		}
	}
	q->nrecv = rd_count(r, 52, "parked receivers");
	q->recv = rd_alloc(r, q->nrecv, sizeof(*q->recv));
	for (uint32_t i = 0; i < q->nrecv && !r->bad; i++) {
		struct m_recv *x = &q->recv[i];
		x->tgid = RI32(r);
		x->mode = RI32(r);
		x->msgtyp = RI64(r);
		x->maxsize = RI64(r);
		x->buf = R64(r);
		x->bufsz = R64(r);
		rd_waiter(r, &x->w);
	}
	q->nsend = rd_count(r, 40, "parked senders");
	q->send = rd_alloc(r, q->nsend, sizeof(*q->send));
	for (uint32_t i = 0; i < q->nsend && !r->bad; i++) {
		struct m_send *x = &q->send[i];
		x->tgid = RI32(r);
		x->msgp = R64(r);
		x->msgsz = R64(r);
		x->mtype = RI64(r);
		x->starve_rank = R32(r);
		rd_waiter(r, &x->w);
		if (x->starve_rank == UINT32_MAX) {
			if (!r->bad && x->msgsz > r->len - r->off) {
				fail(r, "a parked sender's copy of %llu bytes cannot fit", (unsigned long long)x->msgsz);
				break;
			}
			x->copy = rd_take(r, x->msgsz);
		}
	}
	if (r->bad) {
		m_msq_free(q);
		return NULL;
	}
	return q;
}

static const char *const kind_name[3] = { "segment", "semaphore set", "message queue" };

/* Put an object in the model: a full image has each index once; the
 * journal replaces.  */
static void model_put(struct rd *r, struct img_model *m, int kind, int32_t id, void *o, bool replace)
{
	if (r->bad) {
		m_obj_free(kind, o);
		return;
	}
	if (id < 0) {
		fail(r, "%s id %d is negative", kind_name[kind], id);
		m_obj_free(kind, o);
		return;
	}
	int idx = id % IPCNS_SEQ_MULTIPLIER;
	void *old = ipcns_idr_find(&m->objs[kind], idx);
	if (old) {
		if (!replace) {
			fail(r, "two %ss at index %d (id %d)", kind_name[kind], idx, id);
			m_obj_free(kind, o);
			return;
		}
		ipcns_idr_remove(&m->objs[kind], idx);
		m_obj_free(kind, old);
	}
	int ret = ipcns_idr_insert(&m->objs[kind], idx, o);
	if (ret < 0) {
		fail(r, "out of memory");
		m_obj_free(kind, o);
	}
}

/* One record.  `journal': records of the journal, which replace objects
 * and may be of its own kinds.  */
static void parse_record(struct rd *r, struct img_model *m, uint32_t type, bool journal)
{
	uint32_t flags = 0;
	void *o;

	switch (type) {
	case REC_NS:
		r->what = "namespace record";
		parse_ns(r, m);
		break;
	case REC_SHM:
		r->what = "segment record";
		o = parse_shm(r);
		if (o)
			model_put(r, m, IPCNS_SHM, ((struct m_shm *)o)->perm.id, o, journal);
		break;
	case REC_SEM:
		r->what = "semaphore set record";
		o = parse_sem(r, m->version);
		if (o)
			model_put(r, m, IPCNS_SEM, ((struct m_sem *)o)->perm.id, o, journal);
		break;
	case REC_MSQ: {
		r->what = "message queue record";
		struct m_msq *q = parse_msq(r, journal, &flags);
		if (!q)
			break;
		if (flags & MSQ_NO_MESSAGES) {
			/* Keep the messages the model has.  */
			struct m_msq *old = ipcns_idr_find(&m->objs[IPCNS_MSG], q->perm.id % IPCNS_SEQ_MULTIPLIER);
			if (!old || old->perm.id != q->perm.id) {
				fail(r, "an update of queue id %d, which does not exist", q->perm.id);
				m_msq_free(q);
				break;
			}
			q->msgs = steal_pointer(&old->msgs);
			q->nmsgs = old->nmsgs;
			q->cap_msgs = old->cap_msgs;
			old->nmsgs = old->cap_msgs = 0;
		}
		model_put(r, m, IPCNS_MSG, q->perm.id, q, journal);
		break;
	}
	case REC_DEL: {
		r->what = "removal record";
		uint32_t kind = R32(r);
		int32_t id = RI32(r);
		if (r->bad)
			break;
		if (!journal || kind > 2 || id < 0) {
			fail(r, "kind %u id %d%s", kind, id, journal ? "" : " in a full image");
			break;
		}
		int idx = id % IPCNS_SEQ_MULTIPLIER;
		struct m_perm *p = ipcns_idr_find(&m->objs[kind], idx);
		if (!p || p->id != id) {
			fail(r, "%s id %d does not exist", kind_name[kind], id);
			break;
		}
		ipcns_idr_remove(&m->objs[kind], idx);
		m_obj_free((int)kind, p);
		break;
	}
	case REC_MSG: {
		r->what = "message record";
		int32_t id = RI32(r);
		uint32_t op = R32(r);
		if (r->bad)
			break;
		struct m_msq *q = id >= 0 ? ipcns_idr_find(&m->objs[IPCNS_MSG], id % IPCNS_SEQ_MULTIPLIER) : NULL;
		if (!journal || !q || q->perm.id != id) {
			fail(r, "queue id %d does not exist", id);
			break;
		}
		if (op == MSG_OP_REMOVE) {
			uint32_t at = R32(r);
			if (!r->bad && at >= q->nmsgs)
				fail(r, "message %u of a queue of %u taken", at, q->nmsgs);
			if (r->bad)
				break;
			memmove(&q->msgs[at], &q->msgs[at + 1], (q->nmsgs - at - 1) * sizeof(*q->msgs));
			q->nmsgs--;
		} else if (op == MSG_OP_APPEND) {
			struct m_msg msg;
			msg.mtype = RI64(r);
			msg.size = R64(r);
			if (!r->bad && msg.size > r->len - r->off)
				fail(r, "a message of %llu bytes cannot fit", (unsigned long long)msg.size);
			msg.text = rd_take(r, msg.size);
			if (r->bad)
				break;
			if (q->nmsgs == q->cap_msgs) {
				uint32_t ncap = q->cap_msgs ? q->cap_msgs * 2 : 8;
				struct m_msg *n = ncap > q->cap_msgs ? realloc(q->msgs, ncap * sizeof(*n)) : NULL;
				if (!n) {
					fail(r, "out of memory");
					break;
				}
				q->msgs = n;
				q->cap_msgs = ncap;
			}
			q->msgs[q->nmsgs++] = msg;
		} else {
			fail(r, "unknown operation %u", op);
		}
		break;
	}
	default:
		fail(r, "unknown record type %u", type);
		break;
	}
	if (!r->bad && r->off != r->len)
		fail(r, "%zu bytes left over", r->len - r->off);
	r->what = NULL;
}

int img_model_apply(struct img_model *m, uint32_t type, const void *payload, size_t len, char *err, size_t errlen)
{
	struct rd r = { .p = payload, .len = len, .err = err, .errlen = errlen };
	parse_record(&r, m, type, true);
	return r.bad ? -EBADMSG : 0;
}

static int header_check(struct rd *r, uint32_t *version)
{
	if (r->len < IMG_HDR_SIZE || memcmp(r->p, IMG_MAGIC, 8) != 0) {
		fail(r, "not an ipcns state image (no IPCNSIMG magic)");
		return -EBADMSG;
	}
	memcpy(version, r->p + 8, 4);
	if (*version > IPCNS_STATE_VERSION) {
		fail(r, "format version %u is newer than this ipcnsd knows (%d to %d): refused, left untouched",
		     *version, IPCNS_STATE_VERSION_MIN, IPCNS_STATE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (*version < IPCNS_STATE_VERSION_MIN) {
		fail(r, "format version %u is not one this ipcnsd reads (%d to %d)", *version,
		     IPCNS_STATE_VERSION_MIN, IPCNS_STATE_VERSION);
		return -EBADMSG;
	}
	return 0;
}

int img_model_parse(const void *buf, size_t len, struct img_model **out, char *err, size_t errlen)
{
	struct rd r = { .p = buf, .len = len, .err = err, .errlen = errlen };
	uint32_t version, hdr_size, crc, nrec, ps, fe_len;
	uint64_t total;

	if (err && errlen)
		err[0] = 0;
	if (!buf)
		r.len = 0;
	int ret = header_check(&r, &version);
	if (ret < 0)
		return ret;
	r.off = 12;
	hdr_size = R32(&r);
	total = R64(&r);
	crc = R32(&r);
	nrec = R32(&r);
	ps = R32(&r);
	fe_len = R32(&r);
	R64(&r);
	if (hdr_size != IMG_HDR_SIZE || total > len || total < IMG_HDR_SIZE) {
		fail(&r, "header of %u bytes, image of %llu bytes in %zu", hdr_size, (unsigned long long)total, len);
		return -EBADMSG;
	}
	r.len = (size_t)total;
	if (ipcns_crc32c(0, r.p + IMG_HDR_SIZE, r.len - IMG_HDR_SIZE) != crc) {
		fail(&r, "checksum mismatch: the image is corrupt");
		return -EBADMSG;
	}
	if (ps != (uint32_t)page_size()) {
		fail(&r, "written with %u-byte pages, this machine has %ld", ps, page_size());
		return -EBADMSG;
	}
	if (fe_len > IPCNS_STATE_FE_MAX) {
		fail(&r, "front-end record of %u bytes (at most %d)", fe_len, IPCNS_STATE_FE_MAX);
		return -EBADMSG;
	}
	struct img_model *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->version = (int)version;
	m->page_size = ps;
	m->fe_len = fe_len;
	m->fe = rd_take(&r, fe_len);
	r.off = (r.off + 7) & ~(size_t)7;
	if (r.off > r.len)
		fail(&r, "truncated");
	for (uint32_t i = 0; i < nrec && !r.bad; i++) {
		uint32_t type = R32(&r), rlen = R32(&r);
		if (r.bad)
			break;
		if (rlen > r.len - r.off) {
			fail(&r, "record %u of %u bytes runs past the end", i, rlen);
			break;
		}
		struct rd sub = { .p = r.p + r.off, .len = rlen, .err = err, .errlen = errlen };
		parse_record(&sub, m, type, false);
		if (sub.bad) {
			r.bad = true;
			break;
		}
		r.off += rlen;
		r.off = (r.off + 7) & ~(size_t)7;
		if (r.off > r.len)
			fail(&r, "record %u: padding runs past the end", i);
	}
	if (!r.bad && r.off != r.len)
		fail(&r, "%zu bytes after the last of %u records", r.len - r.off, nrec);
	if (!r.bad && !m->have_ns)
		fail(&r, "no namespace record");
	if (r.bad) {
		img_model_free(m);
		return -EBADMSG;
	}
	*out = m;
	return 0;
}

/* ---- Checking the model as a whole.  */

struct chk {
	char *err;
	size_t errlen;
	bool bad;
};

static void cfail(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfail(struct chk *c, const char *fmt, ...)
{
	va_list ap;
	if (c->bad)
		return;
	c->bad = true;
	if (!c->err || !c->errlen)
		return;
	int n = snprintf(c->err, c->errlen, "state image: ");
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* Sorted copy has no two equal values (0 skipped: IPC_PRIVATE keys).  */
static bool unique_i32(int32_t *v, size_t n, bool skip_zero, int32_t *dup)
{
	if (n < 2)
		return true;
	qsort(v, n, sizeof(*v), cmp_i32);
	for (size_t i = 1; i < n; i++) {
		if (v[i] == v[i - 1] && !(skip_zero && v[i] == 0)) {
			*dup = v[i];
			return false;
		}
	}
	return true;
}

static void check_perm(struct chk *c, int kind, const struct m_perm *p, unsigned int extra_mode)
{
	if (p->id < 0 || (uint32_t)(p->id / IPCNS_SEQ_MULTIPLIER) >= IPCNS_SEQ_MAX)
		cfail(c, "%s id %d out of range", kind_name[kind], p->id);
	else if (p->mode & ~(IPCNS_S_IRWXUGO | extra_mode))
		cfail(c, "%s id %d: mode 0%o", kind_name[kind], p->id, p->mode);
	else if (p->uid == (uint32_t)-1 || p->gid == (uint32_t)-1 || p->cuid == (uint32_t)-1 ||
		 p->cgid == (uint32_t)-1)
		cfail(c, "%s id %d: an invalid owner (-1)", kind_name[kind], p->id);
}

static void check_shm(struct chk *c, const struct img_model *m, const struct m_shm *s, uint64_t *pages)
{
	check_perm(c, IPCNS_SHM, &s->perm, SHM_DEST | SHM_LOCKED);
	int id = s->perm.id;
	uint64_t ps = m->page_size;
	if (s->segsz < IPCNS_SHMMIN || s->segsz > UINT64_MAX - ps)
		cfail(c, "segment id %d: size %llu", id, (unsigned long long)s->segsz);
	if ((s->perm.mode & SHM_DEST) && s->perm.key != 0)
		cfail(c, "segment id %d: removed but still has key 0x%x", id, (unsigned int)s->perm.key);
	if (s->hugetlb && (s->hugesize < ps || (s->hugesize & (s->hugesize - 1))))
		cfail(c, "segment id %d: huge page size %llu", id, (unsigned long long)s->hugesize);
	if (!s->hugetlb && (s->hugesize || s->noreserve))
		cfail(c, "segment id %d: huge page settings on a normal segment", id);
	if (s->lock_charged && !(s->perm.mode & SHM_LOCKED))
		cfail(c, "segment id %d: memlock charged but not SHM_LOCKED", id);
	for (uint32_t i = 0; i < s->nholders && !c->bad; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (s->holders[j].tgid == s->holders[i].tgid)
				cfail(c, "segment id %d: process %d held twice", id, s->holders[i].tgid);
		if (s->holders[i].tgid <= 0)
			cfail(c, "segment id %d: holder pid %d", id, s->holders[i].tgid);
	}
	for (uint32_t i = 0; i < s->nattaches && !c->bad; i++) {
		const struct m_attach *a = &s->attaches[i];
		if (a->tgid <= 0 || a->len == 0 || a->addr + a->len < a->addr)
			cfail(c, "segment id %d: attach record pid %d at 0x%llx+%llu", id, a->tgid,
			      (unsigned long long)a->addr, (unsigned long long)a->len);
	}
	*pages += (s->segsz + ps - 1) / ps;
}

static void check_sem(struct chk *c, const struct m_sem *s, uint64_t *used)
{
	int id = s->perm.id;
	check_perm(c, IPCNS_SEM, &s->perm, 0);
	if (s->nsems == 0 || s->nsems > (uint32_t)INT_MAX / 64)
		cfail(c, "semaphore set id %d: %u semaphores", id, s->nsems);
	*used += s->nsems;
	for (uint32_t i = 0; i < s->nsems && !c->bad; i++)
		if (s->sems[i].val < 0 || s->sems[i].val > IPCNS_SEMVMX)
			cfail(c, "semaphore set id %d: value %d of semaphore %u outside 0..%d", id, s->sems[i].val, i,
			      IPCNS_SEMVMX);
	for (uint32_t i = 0; i < s->nundos && !c->bad; i++) {
		const struct m_undo *u = &s->undos[i];
		if (u->host_tgid <= 0)
			cfail(c, "semaphore set id %d: undo of pid %d", id, u->host_tgid);
		for (uint32_t j = 0; j < i; j++)
			if (s->undos[j].host_tgid == u->host_tgid)
				cfail(c, "semaphore set id %d: two undo structures of pid %d", id, u->host_tgid);
		/* Every short is a valid adjustment: [-SEMAEM - 1, SEMAEM].  */
	}
	uint32_t last_list = 0;
	for (uint32_t i = 0; i < s->nq && !c->bad; i++) {
		const struct m_semq *q = &s->q[i];
		bool alter = false, undo = false;
		for (uint32_t j = 0; j < q->nsops; j++) {
			if (q->sops[j].sem_num >= s->nsems)
				cfail(c, "semaphore set id %d: a sleeper's semaphore %u of %u", id, q->sops[j].sem_num,
				      s->nsems);
			alter |= q->sops[j].sem_op != 0;
			undo |= (q->sops[j].sem_flg & SEM_UNDO) != 0;
		}
		if (q->list < last_list || q->list >= 2 + 2 * s->nsems)
			cfail(c, "semaphore set id %d: sleeper list %u out of order", id, q->list);
		last_list = q->list;
		if (q->blocking >= q->nsops || alter != q->alter || undo != q->has_undo)
			cfail(c, "semaphore set id %d: a sleeper's flags disagree with its operations", id);
		if (q->list >= 2) {
			/* A semaphore's own list: one sop on that semaphore.  */
			uint32_t num = (q->list - 2) / 2;
			bool alter_list = (q->list & 1) == 0;
			if (q->nsops != 1 || q->sops[0].sem_num != num || alter_list != q->alter)
				cfail(c, "semaphore set id %d: a sleeper on semaphore %u's list that is not its", id, num);
		} else {
			/* A single decrement stays on the set's list until the
			 * end of the call that completed the last complex one
			 * (unmerge_queues, which the loader runs too): a commit
			 * made as that one's answer leaves sees it there.  */
			bool alter_list = q->list == 0;
			if (alter_list != q->alter || (q->nsops == 1 && !alter_list))
				cfail(c, "semaphore set id %d: a sleeper on the set's list that belongs elsewhere", id);
		}
		if (undo) {
			bool found = false;
			for (uint32_t j = 0; j < s->nundos; j++)
				found |= s->undos[j].host_tgid == q->host_tgid;
			if (!found)
				cfail(c, "semaphore set id %d: a SEM_UNDO sleeper of pid %d without its undo", id,
				      q->host_tgid);
		}
		if (q->host_tgid <= 0)
			cfail(c, "semaphore set id %d: a sleeper of pid %d", id, q->host_tgid);
	}
}

static void check_msq(struct chk *c, const struct m_msq *q, uint64_t *bytes, uint64_t *count)
{
	int id = q->perm.id;
	check_perm(c, IPCNS_MSG, &q->perm, 0);
	for (uint32_t i = 0; i < q->nmsgs && !c->bad; i++) {
		if (q->msgs[i].mtype < 1)
			cfail(c, "message queue id %d: message type %lld", id, (long long)q->msgs[i].mtype);
		*bytes += q->msgs[i].size;
	}
	*count += q->nmsgs;
	for (uint32_t i = 0; i < q->nrecv && !c->bad; i++) {
		const struct m_recv *x = &q->recv[i];
		if (x->mode < SEARCH_ANY || x->mode > SEARCH_LESSEQUAL || x->maxsize < 0)
			cfail(c, "message queue id %d: a receiver's search mode %d, size %lld", id, x->mode,
			      (long long)x->maxsize);
	}
	for (uint32_t i = 0; i < q->nsend && !c->bad; i++) {
		const struct m_send *x = &q->send[i];
		if (x->mtype < 1 || x->msgsz > (uint64_t)INT64_MAX)
			cfail(c, "message queue id %d: a parked sender's type %lld, size %llu", id, (long long)x->mtype,
			      (unsigned long long)x->msgsz);
	}
}

struct starved {
	uint32_t rank;
	int32_t qid;
	uint32_t i;
};

static int cmp_starved(const void *a, const void *b)
{
	const struct starved *x = a, *y = b;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The starved senders of every queue, in their order (nothing allocated
 * when there are none).  */
static int collect_starved(const struct img_model *m, struct starved **out, size_t *nout)
{
	const struct ipcns_idr *idr = &m->objs[IPCNS_MSG];
	size_t n = 0, k = 0;
	*out = NULL;
	*nout = 0;
	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1)) {
		const struct m_msq *q = ipcns_idr_find(idr, idx);
		for (uint32_t i = 0; i < q->nsend; i++)
			n += q->send[i].starve_rank != UINT32_MAX;
	}
	if (!n)
		return 0;
	struct starved *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1)) {
		const struct m_msq *q = ipcns_idr_find(idr, idx);
		for (uint32_t i = 0; i < q->nsend; i++)
			if (q->send[i].starve_rank != UINT32_MAX)
				v[k++] = (struct starved){ q->send[i].starve_rank, q->perm.id, i };
	}
	qsort(v, n, sizeof(*v), cmp_starved);
	*out = v;
	*nout = n;
	return 0;
}

int img_model_check(struct img_model *m, char *err, size_t errlen)
{
	struct chk c = { .err = err, .errlen = errlen };
	const struct ipcns_limits *l = &m->limits;

	if (l->semmsl < 0 || l->semmns < 0 || l->semopm < 0 || l->semmni < 0 || l->shm_rmid_forced < 0 ||
	    l->shm_rmid_forced > 1)
		cfail(&c, "limits: a negative semaphore limit or shm_rmid_forced %d", l->shm_rmid_forced);
	for (int k = 0; k < 3 && !c.bad; k++) {
		if (m->ids[k].seq >= IPCNS_SEQ_MAX || m->ids[k].last_idx < -1 ||
		    m->ids[k].last_idx >= IPCNS_IPCMNI || m->ids[k].next < 0 || m->ids[k].next > IPCNS_IPCMNI ||
		    m->ids[k].next_id < -1)
			cfail(&c, "%s table: sequence %u, last index %d, next %d, next_id %d", kind_name[k],
			      m->ids[k].seq, m->ids[k].last_idx, m->ids[k].next, m->ids[k].next_id);
	}
	for (uint32_t i = 0; i < m->nuid && !c.bad; i++) {
		if (m->uids[i].count == 0)
			cfail(&c, "uid %u counted 0 objects", m->uids[i].uid);
		for (uint32_t j = 0; j < i; j++)
			if (m->uids[j].uid == m->uids[i].uid)
				cfail(&c, "uid %u counted twice", m->uids[i].uid);
	}

	uint64_t pages = 0, sems = 0, bytes = 0, count = 0;
	for (int k = 0; k < 3 && !c.bad; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		size_t n = 0, i = 0;
		for (int idx = ipcns_idr_next(idr, 0); idx >= 0; idx = ipcns_idr_next(idr, idx + 1))
			n++;
		int32_t *keys = n ? calloc(n, sizeof(*keys)) : NULL;
		if (n && !keys)
			return -ENOMEM;
		for (int idx = ipcns_idr_next(idr, 0); idx >= 0 && !c.bad; idx = ipcns_idr_next(idr, idx + 1)) {
			void *o = ipcns_idr_find(idr, idx);
			keys[i++] = ((struct m_perm *)o)->key;
			if (k == IPCNS_SHM)
				check_shm(&c, m, o, &pages);
			else if (k == IPCNS_SEM)
				check_sem(&c, o, &sems);
			else
				check_msq(&c, o, &bytes, &count);
		}
		int32_t dup;
		if (!c.bad && !unique_i32(keys, n, true, &dup))
			cfail(&c, "two %ss with key 0x%x", kind_name[k], (unsigned int)dup);
		free(keys);
	}
	if (!c.bad && sems > INT_MAX)
		cfail(&c, "%llu semaphores in all", (unsigned long long)sems);

	/* Undo structures of one process agree on its pid in its namespace.  */
	struct ipcns_idr *sidr = &m->objs[IPCNS_SEM];
	size_t nu = 0, k = 0;
	for (int idx = ipcns_idr_next(sidr, 0); idx >= 0; idx = ipcns_idr_next(sidr, idx + 1))
		nu += ((const struct m_sem *)ipcns_idr_find(sidr, idx))->nundos;
	if (!c.bad && nu) {
		int32_t(*pairs)[2] = calloc(nu, sizeof(*pairs));
		if (!pairs)
			return -ENOMEM;
		for (int idx = ipcns_idr_next(sidr, 0); idx >= 0; idx = ipcns_idr_next(sidr, idx + 1)) {
			const struct m_sem *s = ipcns_idr_find(sidr, idx);
			for (uint32_t u = 0; u < s->nundos; u++) {
				pairs[k][0] = s->undos[u].host_tgid;
				pairs[k++][1] = s->undos[u].ns_tgid;
			}
		}
		/* Sorted by host pid (the first int of each pair).  */
		qsort(pairs, nu, sizeof(*pairs), cmp_i32);
		for (size_t i = 1; i < nu; i++)
			if (pairs[i][0] == pairs[i - 1][0] && pairs[i][1] != pairs[i - 1][1])
				cfail(&c, "pid %d has two namespace pids in its undo structures", pairs[i][0]);
		free(pairs);
	}

	struct starved *sv;
	size_t nsv;
	if (!c.bad) {
		if (collect_starved(m, &sv, &nsv) < 0)
			return -ENOMEM;
		for (size_t i = 1; i < nsv; i++)
			if (sv[i].rank == sv[i - 1].rank)
				cfail(&c, "two starved senders at place %u", sv[i].rank);
		free(sv);
	}
	return c.bad ? -EBADMSG : 0;
}

/* ---- Building the namespace.  */

struct bld {
	struct ipcns_ns *ns;
	const struct ipcns_state_ops *ops;
	char *err;
	size_t errlen;
	int ret;
};

static void bfail(struct bld *b, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bfail(struct bld *b, int ret, const char *fmt, ...)
{
	va_list ap;
	if (b->ret)
		return;
	b->ret = ret;
	if (!b->err || !b->errlen)
		return;
	int n = snprintf(b->err, b->errlen, "state image: ");
	va_start(ap, fmt);
	vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void set_perm(struct ipcns_perm *p, const struct m_perm *m)
{
	p->id = m->id;
	p->key = m->key;
	p->uid = m->uid;
	p->gid = m->gid;
	p->cuid = m->cuid;
	p->cgid = m->cgid;
	p->mode = m->mode;
}

static struct ipcns_waiter *load_waiter(struct bld *b, const struct m_waiter *mw)
{
	if (!b->ops || !b->ops->waiter_load)
		return NULL;
	struct ipcns_waiter *w = b->ops->waiter_load(b->ops->arg, mw->fe, mw->fe_len);
	if (w)
		w->deadline = mw->deadline;
	return w;
}

static void watch(struct bld *b, pid_t tgid)
{
	const struct ipcns_host_ops *h = b->ns->host;
	if (h && h->watch_exit && tgid > 0)
		h->watch_exit(b->ns->host_data, tgid);
}

static void build_shm(struct bld *b, const struct m_shm *ms)
{
	struct ipcns_ns *ns = b->ns;
	int id = ms->perm.id;
	struct stat st;

	int fd = b->ops && b->ops->slot_fd ? b->ops->slot_fd(b->ops->arg, ms->slot) : -EBADF;
	if (fd < 0) {
		bfail(b, fd, "segment id %d: no memfd in slot %u (%s)", id, ms->slot, strerror(-fd));
		return;
	}
	cleanup_close int cfd = fd;
	uint64_t want = ms->hugetlb ? (ms->segsz + ms->hugesize - 1) / ms->hugesize * ms->hugesize : ms->segsz;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < want) {
		bfail(b, -EBADMSG, "segment id %d: slot %u is not a file of %llu bytes", id, ms->slot,
		      (unsigned long long)want);
		return;
	}
	struct ipcns_shm *shp = ipcns_mem_zalloc(&ns->budget, sizeof(*shp));
	if (!shp) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	shp->budget = &ns->budget;
	ipcns_list_init(&shp->attaches);
	set_perm(&shp->perm, &ms->perm);
	shp->segsz = ms->segsz;
	shp->atime = ms->atime;
	shp->dtime = ms->dtime;
	shp->ctime = ms->ctime;
	shp->cpid = ms->cpid;
	shp->lpid = ms->lpid;
	shp->creator_tgid = ms->creator_tgid;
	shp->fd = move_fd(&cfd);
	shp->dev = st.st_dev;
	shp->ino = st.st_ino;
	shp->hugetlb = ms->hugetlb;
	shp->noreserve = ms->noreserve;
	shp->hugesize = ms->hugesize;
	shp->lock_charged = ms->lock_charged;
	shp->lock_uid = ms->lock_uid;
	/* A memfd made by a daemon that did not set it yet.  */
	if (!shp->hugetlb)
		shm_file_immutable(shp->fd, true);
	shp->detached_to_zero = ms->detached_to_zero;
	shp->attached_once = ms->attached_once;
	if (ms->nholders) {
		shp->holders = ipcns_mem_realloc_force(&ns->budget, NULL, ms->nholders * sizeof(*shp->holders));
		if (!shp->holders) {
			close(shp->fd);
			ipcns_mem_free(shp);
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		memcpy(shp->holders, ms->holders, ms->nholders * sizeof(*shp->holders));
		shp->nholders = shp->cap_holders = ms->nholders;
	}
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_SHM], &shp->perm);
	if (ret < 0) {
		close(shp->fd);
		ipcns_mem_free(shp->holders);
		ipcns_mem_free(shp);
		bfail(b, ret, "segment id %d: %s", id, strerror(-ret));
		return;
	}
	ns->shm_tot += shm_pages(shp);
	ns->shm_bytes_quota_used += shm_pages(shp) * (uint64_t)page_size();
	ipcns_budget_fd_charge(&ns->budget, 1, true);
	/* attach_record drops what it cannot allocate: a hint only.  */
	for (uint32_t i = 0; i < ms->nattaches; i++)
		attach_record(ns, shp, ms->attaches[i].tgid, ms->attaches[i].addr, ms->attaches[i].len);
	for (uint32_t i = 0; i < ms->nholders; i++)
		watch(b, ms->holders[i].tgid);
	if (ns->limits.shm_rmid_forced)
		watch(b, ms->creator_tgid);
}

static struct ipcns_list *semq_list(struct sem_array *sma, uint32_t list)
{
	if (list == 0)
		return &sma->pending_alter;
	if (list == 1)
		return &sma->pending_const;
	struct sem *s = &sma->sems[(list - 2) / 2];
	return (list & 1) ? &s->pending_const : &s->pending_alter;
}

static void build_sem(struct bld *b, const struct m_sem *ms)
{
	struct ipcns_ns *ns = b->ns;
	struct ipcns_sem_state *st = ns->sem;
	int id = ms->perm.id;

	struct sem_array *sma = ipcns_mem_zalloc(&ns->budget, sizeof(*sma) + ms->nsems * sizeof(struct sem));
	if (!sma) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	set_perm(&sma->perm, &ms->perm);
	sma->ctime = ms->ctime;
	sma->nsems = (int)ms->nsems;
	ipcns_list_init(&sma->pending_alter);
	ipcns_list_init(&sma->pending_const);
	ipcns_list_init(&sma->undos);
	ipcns_list_init(&sma->waiters);
	for (uint32_t i = 0; i < ms->nsems; i++) {
		ipcns_list_init(&sma->sems[i].pending_alter);
		ipcns_list_init(&sma->sems[i].pending_const);
		sma->sems[i].semval = ms->sems[i].val;
		sma->sems[i].sempid = ms->sems[i].pid;
		sma->sems[i].otime = ms->sems[i].otime;
	}
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_SEM], &sma->perm);
	if (ret < 0) {
		ipcns_mem_free(sma);
		bfail(b, ret, "semaphore set id %d: %s", id, strerror(-ret));
		return;
	}
	ns->used_sems += sma->nsems;

	/* From here the set is in the namespace: what fails below leaves it
	 * consistent, and ipcns_ns_free frees it.  */
	for (uint32_t i = 0; i < ms->nundos; i++) {
		const struct m_undo *mu = &ms->undos[i];
		struct sem_undo_list *ulp = ulp_find(st, mu->host_tgid);
		if (!ulp) {
			ulp = ipcns_mem_zalloc(&ns->budget, sizeof(*ulp));
			if (ulp) {
				ulp->host_tgid = mu->host_tgid;
				ulp->ns_tgid = mu->ns_tgid;
				ipcns_list_init(&ulp->undos);
			}
			if (!ulp || ulp_insert(ns, st, ulp) < 0) {
				ipcns_mem_free(ulp);
				bfail(b, -ENOMEM, "out of memory");
				return;
			}
			watch(b, mu->host_tgid);
		}
		struct sem_undo *un = ipcns_mem_zalloc(&ns->budget, sizeof(*un) + ms->nsems * sizeof(short));
		if (!un) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		un->ulp = ulp;
		un->sma = sma;
		memcpy(un->semadj, mu->adj, ms->nsems * sizeof(short));
		ipcns_list_add_tail(&ulp->undos, &un->proc_link);
		ipcns_list_add_tail(&sma->undos, &un->set_link);
	}
	for (uint32_t i = 0; i < ms->nq; i++) {
		const struct m_semq *mq = &ms->q[i];
		struct sem_queue *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q) + mq->nsops * sizeof(struct sembuf));
		if (!q) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		struct ipcns_waiter *w = load_waiter(b, &mq->w);
		if (!w) {
			/* The call is gone: dropped, as a sweep would.  */
			ipcns_mem_free(q);
			continue;
		}
		memcpy(q->sops, mq->sops, mq->nsops * sizeof(struct sembuf));
		q->nsops = (int)mq->nsops;
		q->blocking = (int)mq->blocking;
		q->alter = mq->alter;
		q->host_tgid = mq->host_tgid;
		q->ns_tgid = mq->ns_tgid;
		q->sma = sma;
		q->w = w;
		if (mq->has_undo) {
			struct sem_undo_list *ulp = ulp_find(st, mq->host_tgid);
			struct ipcns_list *pos;
			ipcns_list_for_each (pos, &ulp->undos) {
				struct sem_undo *un = ipcns_list_entry(pos, struct sem_undo, proc_link);
				if (un->sma == sma)
					q->undo = un;
			}
		}
		ipcns_list_add_tail(semq_list(sma, mq->list), &q->list);
		if (q->nsops > 1)
			sma->complex_count++;
		ipcns_list_add_tail(&sma->waiters, &q->set_link);
		ipcns_list_add_tail(&st->waiters, &q->ns_link);
		w->core = q;
		ns->parked++;
	}
	/* Complex sleepers dropped above: single decrements go back to their
	 * semaphores, as after any operation.  */
	unmerge_queues(sma);
}

static struct msgq_msg *msg_new(struct ipcns_ns *ns, const uint8_t *text, uint64_t size, int64_t mtype)
{
	struct msgq_msg *m = ipcns_mem_alloc(&ns->budget, sizeof(*m) + size);
	if (!m)
		return NULL;
	ipcns_list_init(&m->link);
	m->size = size;
	m->mtype = mtype;
	if (size)
		memcpy(m->mtext, text, size);
	return m;
}

static struct msgq_waiter *msgw_new(struct bld *b, struct msgq *q, int32_t tgid, const struct m_waiter *mw,
				    struct ipcns_list *list)
{
	struct msgq_waiter *x = ipcns_mem_zalloc(&b->ns->budget, sizeof(*x));
	if (!x) {
		bfail(b, -ENOMEM, "out of memory");
		return NULL;
	}
	struct ipcns_waiter *w = load_waiter(b, mw);
	if (!w) {
		ipcns_mem_free(x);
		return NULL;
	}
	ipcns_list_init(&x->starvelink);
	x->q = q;
	x->tgid = tgid;
	x->w = w;
	w->core = x;
	ipcns_list_add_tail(list, &x->qlink);
	ipcns_list_add_tail(&b->ns->msg->waiters, &x->nslink);
	b->ns->parked++;
	return x;
}

static void build_msq(struct bld *b, struct m_msq *mq)
{
	struct ipcns_ns *ns = b->ns;
	int id = mq->perm.id;

	struct msgq *q = ipcns_mem_zalloc(&ns->budget, sizeof(*q));
	if (!q) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	set_perm(&q->perm, &mq->perm);
	q->stime = mq->stime;
	q->rtime = mq->rtime;
	q->ctime = mq->ctime;
	q->qbytes = mq->qbytes;
	q->lspid = mq->lspid;
	q->lrpid = mq->lrpid;
	ipcns_list_init(&q->messages);
	ipcns_list_init(&q->receivers);
	ipcns_list_init(&q->senders);
	int ret = ipcns_ids_restore(&ns->ids[IPCNS_MSG], &q->perm);
	if (ret < 0) {
		ipcns_mem_free(q);
		bfail(b, ret, "message queue id %d: %s", id, strerror(-ret));
		return;
	}
	for (uint32_t i = 0; i < mq->nmsgs; i++) {
		struct msgq_msg *m = msg_new(ns, mq->msgs[i].text, mq->msgs[i].size, mq->msgs[i].mtype);
		if (!m) {
			bfail(b, -ENOMEM, "out of memory");
			return;
		}
		ipcns_list_add_tail(&q->messages, &m->link);
		q->cbytes += m->size;
		q->qnum++;
		ns->msg_bytes += m->size;
		ns->msg_hdrs++;
		ns->msg->held += msg_cost(m->size);
	}
	for (uint32_t i = 0; i < mq->nrecv; i++) {
		const struct m_recv *x = &mq->recv[i];
		struct msgq_waiter *r = msgw_new(b, q, x->tgid, &x->w, &q->receivers);
		if (!r)
			continue;
		r->mode = x->mode;
		r->msgtyp = x->msgtyp;
		r->maxsize = x->maxsize;
		r->buf = x->buf;
		r->bufsz = x->bufsz;
	}
	for (uint32_t i = 0; i < mq->nsend; i++) {
		struct m_send *x = &mq->send[i];
		struct msgq_msg *copy = NULL;
		if (x->starve_rank == UINT32_MAX) {
			copy = msg_new(ns, x->copy, x->msgsz, x->mtype);
			if (!copy) {
				bfail(b, -ENOMEM, "out of memory");
				return;
			}
		}
		struct msgq_waiter *s = msgw_new(b, q, x->tgid, &x->w, &q->senders);
		if (!s) {
			ipcns_mem_free(copy);
			continue;
		}
		s->msgp = x->msgp;
		s->msgsz = x->msgsz;
		s->mtype = x->mtype;
		s->msg = copy;
		x->built = s;
		if (copy)
			ns->msg->held += msg_cost(copy->size);
	}
}

/* The starved senders, in their order, once every queue is built.  */
static void build_starved(struct bld *b, const struct img_model *m)
{
	struct starved *sv;
	size_t n;
	if (collect_starved(m, &sv, &n) < 0) {
		bfail(b, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct ipcns_perm *p;
		if (ipcns_ids_obtain_check(&b->ns->ids[IPCNS_MSG], sv[i].qid, &p) < 0)
			continue;
		const struct m_msq *mq = ipcns_idr_find(&m->objs[IPCNS_MSG], sv[i].qid % IPCNS_SEQ_MULTIPLIER);
		struct msgq_waiter *s = mq->send[sv[i].i].built;
		if (s)
			ipcns_list_add_tail(&b->ns->msg->starved, &s->starvelink);
	}
	free(sv);
}

int img_model_build(struct img_model *m, const struct ipcns_host_ops *host, void *host_data,
		    const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen)
{
	struct bld b = { .ops = ops, .err = err, .errlen = errlen };

	b.ns = ipcns_ns_new(&m->limits, host, host_data);
	if (!b.ns)
		return -ENOMEM;
	for (int k = 0; k < 3; k++) {
		b.ns->ids[k].seq = m->ids[k].seq;
		b.ns->ids[k].last_idx = m->ids[k].last_idx;
		b.ns->ids[k].idr.next = m->ids[k].next;
		b.ns->ids[k].next_id = m->ids[k].next_id;
	}
	if (m->nuid) {
		b.ns->uid_counts = ipcns_mem_zalloc(&b.ns->budget, m->nuid * sizeof(*b.ns->uid_counts));
		if (!b.ns->uid_counts) {
			ipcns_ns_free(b.ns);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < m->nuid; i++) {
			b.ns->uid_counts[i].uid = m->uids[i].uid;
			b.ns->uid_counts[i].count = m->uids[i].count;
		}
		b.ns->uid_counts_len = b.ns->uid_counts_cap = m->nuid;
	}
	for (int k = 0; k < 3 && !b.ret; k++) {
		struct ipcns_idr *idr = &m->objs[k];
		for (int idx = ipcns_idr_next(idr, 0); idx >= 0 && !b.ret; idx = ipcns_idr_next(idr, idx + 1)) {
			void *o = ipcns_idr_find(idr, idx);
			if (k == IPCNS_SHM)
				build_shm(&b, o);
			else if (k == IPCNS_SEM)
				build_sem(&b, o);
			else
				build_msq(&b, o);
		}
	}
	if (!b.ret)
		build_starved(&b, m);
	if (b.ret) {
		ipcns_ns_free(b.ns);
		return b.ret;
	}
	*out = b.ns;
	return 0;
}

/* ---- The entry points.  */

int ipcns_state_check(const void *buf, size_t len, char *err, size_t errlen)
{
	struct img_model *m;
	int ret = img_model_parse(buf, len, &m, err, errlen);
	if (ret < 0)
		return ret;
	ret = img_model_check(m, err, errlen);
	if (ret == 0)
		ret = m->version;
	img_model_free(m);
	return ret;
}

int ipcns_state_fe(const void *buf, size_t len, const void **fe, size_t *fe_len)
{
	uint32_t n;
	if (!buf || len < IMG_HDR_SIZE || memcmp(buf, IMG_MAGIC, 8) != 0)
		return -EBADMSG;
	memcpy(&n, (const uint8_t *)buf + 36, 4);
	if (n > IPCNS_STATE_FE_MAX || n > len - IMG_HDR_SIZE)
		return -EBADMSG;
	*fe = (const uint8_t *)buf + IMG_HDR_SIZE;
	*fe_len = n;
	return 0;
}

int ipcns_state_load(const void *buf, size_t len, const struct ipcns_host_ops *host, void *host_data,
		     const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen)
{
	struct img_model *m;
	int ret = img_model_parse(buf, len, &m, err, errlen);
	if (ret < 0)
		return ret;
	ret = img_model_check(m, err, errlen);
	if (ret == 0)
		ret = img_model_build(m, host, host_data, ops, out, err, errlen);
	img_model_free(m);
	return ret;
}

int ipcns_state_foreach_waiter(struct ipcns_ns *ns, int (*cb)(void *arg, struct ipcns_waiter *w), void *arg)
{
	struct ipcns_list *pos;
	int ret;
	ipcns_list_for_each (pos, &ns->sem->waiters) {
		ret = cb(arg, ipcns_list_entry(pos, struct sem_queue, ns_link)->w);
		if (ret)
			return ret;
	}
	ipcns_list_for_each (pos, &ns->msg->waiters) {
		ret = cb(arg, ipcns_list_entry(pos, struct msgq_waiter, nslink)->w);
		if (ret)
			return ret;
	}
	return 0;
}
