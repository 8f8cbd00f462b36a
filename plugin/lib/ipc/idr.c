/* SPDX-License-Identifier: MIT */
/* The id tables: a three-level radix tree from index to object (as Linux's
 * idr), Linux's id numbering (seq * 32768 + index, the sequence advancing
 * when an index at or below the last one is handed out again), and a key
 * hash.  */
#include <string.h>

#include "core.h"

#define LEAF_BITS 6
#define MID_BITS 6
#define TOP_SLOTS (IPCNS_IPCMNI >> (LEAF_BITS + MID_BITS)) /* 8 */
#define IPCNS_MIN_CYCLE 64 /* RADIX_TREE_MAP_SIZE */

void ipcns_idr_init(struct ipcns_idr *idr)
{
	memset(idr, 0, sizeof(*idr));
}

void ipcns_idr_destroy(struct ipcns_idr *idr)
{
	struct ipcns_budget *b = idr->budget;
	for (int t = 0; t < TOP_SLOTS; t++) {
		struct ipcns_idr_mid *m = idr->mid[t];
		if (!m)
			continue;
		for (int i = 0; i < 64; i++)
			ipcns_mem_free(m->leaf[i]);
		ipcns_mem_free(m);
	}
	memset(idr, 0, sizeof(*idr));
	idr->budget = b;
}

static inline int split(int idx, int *t, int *m, int *l)
{
	if (idx < 0 || idx >= IPCNS_IPCMNI)
		return -1;
	*t = idx >> (LEAF_BITS + MID_BITS);
	*m = (idx >> LEAF_BITS) & 63;
	*l = idx & 63;
	return 0;
}

void *ipcns_idr_find(const struct ipcns_idr *idr, int idx)
{
	int t, m, l;
	if (split(idx, &t, &m, &l) < 0 || !idr->mid[t] || !idr->mid[t]->leaf[m])
		return NULL;
	return idr->mid[t]->leaf[m]->slot[l];
}

/* Lowest free index in [from, limit), or -ENOSPC.  */
static int idr_find_free(const struct ipcns_idr *idr, int from, int limit)
{
	int idx = from;
	while (idx < limit) {
		int t = idx >> (LEAF_BITS + MID_BITS);
		int m = (idx >> LEAF_BITS) & 63;
		int l = idx & 63;
		if (idr->full & (1u << t)) {
			idx = (t + 1) << (LEAF_BITS + MID_BITS);
			continue;
		}
		const struct ipcns_idr_mid *mid = idr->mid[t];
		if (!mid || !mid->leaf[m])
			return idx;
		if (mid->full & (1ULL << m)) {
			idx = (idx | 63) + 1;
			continue;
		}
		uint64_t freebits = ~mid->leaf[m]->used & (~0ULL << l);
		if (freebits) {
			/* The free slot found may lie past the limit.  */
			idx = (idx & ~63) | __builtin_ctzll(freebits);
			return idx < limit ? idx : -ENOSPC;
		}
		idx = (idx | 63) + 1;
	}
	return -ENOSPC;
}

static int idr_store(struct ipcns_idr *idr, int idx, void *p)
{
	int t = idx >> (LEAF_BITS + MID_BITS);
	int m = (idx >> LEAF_BITS) & 63;
	int l = idx & 63;
	struct ipcns_idr_mid *mid = idr->mid[t];
	if (!mid) {
		mid = ipcns_mem_zalloc(idr->budget, sizeof(*mid));
		if (!mid)
			return -ENOMEM;
		idr->mid[t] = mid;
	}
	struct ipcns_idr_leaf *leaf = mid->leaf[m];
	if (!leaf) {
		leaf = ipcns_mem_zalloc(idr->budget, sizeof(*leaf));
		if (!leaf) {
			if (!mid->any) {
				ipcns_mem_free(mid);
				idr->mid[t] = NULL;
			}
			return -ENOMEM;
		}
		mid->leaf[m] = leaf;
	}
	leaf->used |= 1ULL << l;
	leaf->slot[l] = p;
	mid->any |= 1ULL << m;
	if (leaf->used == UINT64_MAX) {
		mid->full |= 1ULL << m;
		if (mid->full == UINT64_MAX)
			idr->full |= (uint8_t)(1u << t);
	}
	return idx;
}

int ipcns_idr_insert(struct ipcns_idr *idr, int idx, void *p)
{
	if (idx < 0 || idx >= IPCNS_IPCMNI)
		return -EINVAL;
	if (ipcns_idr_find(idr, idx))
		return -EEXIST;
	int ret = idr_store(idr, idx, p);
	return ret < 0 ? ret : 0;
}

int ipcns_idr_alloc(struct ipcns_idr *idr, void *p, int limit)
{
	if (limit > IPCNS_IPCMNI)
		limit = IPCNS_IPCMNI;
	int idx = idr_find_free(idr, 0, limit);
	return idx < 0 ? idx : idr_store(idr, idx, p);
}

int ipcns_idr_alloc_from(struct ipcns_idr *idr, void *p, int start)
{
	if (start < 0)
		start = 0;
	int idx = idr_find_free(idr, start, IPCNS_IPCMNI);
	return idx < 0 ? idx : idr_store(idr, idx, p);
}

int ipcns_idr_alloc_cyclic(struct ipcns_idr *idr, void *p, int end)
{
	if (end > IPCNS_IPCMNI)
		end = IPCNS_IPCMNI;
	int idx = idr_find_free(idr, idr->next < end ? idr->next : end, end);
	if (idx == -ENOSPC && idr->next > 0)
		idx = idr_find_free(idr, 0, end);
	if (idx < 0)
		return idx;
	idx = idr_store(idr, idx, p);
	if (idx >= 0)
		idr->next = idx + 1;
	return idx;
}

void ipcns_idr_remove(struct ipcns_idr *idr, int idx)
{
	int t, m, l;
	if (split(idx, &t, &m, &l) < 0)
		return;
	struct ipcns_idr_mid *mid = idr->mid[t];
	if (!mid || !mid->leaf[m])
		return;
	struct ipcns_idr_leaf *leaf = mid->leaf[m];
	leaf->used &= ~(1ULL << l);
	leaf->slot[l] = NULL;
	mid->full &= ~(1ULL << m);
	idr->full &= (uint8_t)~(1u << t);
	if (leaf->used == 0) {
		/* Free empty leaves so an idle namespace stays small.  */
		ipcns_mem_free(leaf);
		mid->leaf[m] = NULL;
		mid->any &= ~(1ULL << m);
		if (mid->any == 0) {
			ipcns_mem_free(mid);
			idr->mid[t] = NULL;
		}
	}
}

int ipcns_idr_next(const struct ipcns_idr *idr, int idx)
{
	if (idx < 0)
		idx = 0;
	while (idx < IPCNS_IPCMNI) {
		int t = idx >> (LEAF_BITS + MID_BITS);
		int m = (idx >> LEAF_BITS) & 63;
		int l = idx & 63;
		const struct ipcns_idr_mid *mid = idr->mid[t];
		if (!mid) {
			idx = (t + 1) << (LEAF_BITS + MID_BITS);
			continue;
		}
		const struct ipcns_idr_leaf *leaf = mid->leaf[m];
		if (leaf) {
			uint64_t bits = leaf->used & (~0ULL << l);
			if (bits)
				return (idx & ~63) | __builtin_ctzll(bits);
		}
		/* Next leaf that holds something in this mid.  */
		uint64_t rest = m == 63 ? 0 : mid->any & (~0ULL << (m + 1));
		if (rest)
			idx = (t << (LEAF_BITS + MID_BITS)) | (__builtin_ctzll(rest) << LEAF_BITS);
		else
			idx = (t + 1) << (LEAF_BITS + MID_BITS);
	}
	return -1;
}

/* ---- ipc_ids.  */

void ipcns_ids_init(struct ipcns_ids *ids)
{
	memset(ids, 0, sizeof(*ids));
	ipcns_idr_init(&ids->idr);
	ids->last_idx = -1;
	ids->max_idx = -1;
	ids->next_id = -1;
}

void ipcns_ids_destroy(struct ipcns_ids *ids)
{
	ipcns_idr_destroy(&ids->idr);
	ipcns_mem_free(ids->hash);
	ids->hash = NULL;
	ids->hash_size = ids->hash_count = 0;
}

static unsigned int key_hash(int32_t key, unsigned int size)
{
	uint32_t h = (uint32_t)key * 0x9e3779b1u;
	return (h >> 7) & (size - 1);
}

struct ipcns_perm *ipcns_ids_find_key(const struct ipcns_ids *ids, int32_t key)
{
	if (ids->hash_size == 0)
		return NULL;
	for (struct ipcns_perm *p = ids->hash[key_hash(key, ids->hash_size)]; p; p = p->hnext)
		if (p->key == key)
			return p;
	return NULL;
}

static int hash_grow(struct ipcns_ids *ids)
{
	unsigned int nsize = ids->hash_size ? ids->hash_size * 2 : 8;
	struct ipcns_perm **nh = ipcns_mem_zalloc(ids->idr.budget, nsize * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	for (unsigned int i = 0; i < ids->hash_size; i++) {
		struct ipcns_perm *p = ids->hash[i], *next;
		for (; p; p = next) {
			next = p->hnext;
			unsigned int b = key_hash(p->key, nsize);
			p->hnext = nh[b];
			nh[b] = p;
		}
	}
	ipcns_mem_free(ids->hash);
	ids->hash = nh;
	ids->hash_size = nsize;
	return 0;
}

static int hash_insert(struct ipcns_ids *ids, struct ipcns_perm *p)
{
	if (ids->hash_count >= ids->hash_size) {
		int ret = hash_grow(ids);
		if (ret < 0)
			return ret;
	}
	unsigned int b = key_hash(p->key, ids->hash_size);
	p->hnext = ids->hash[b];
	ids->hash[b] = p;
	ids->hash_count++;
	return 0;
}

static void hash_remove(struct ipcns_ids *ids, struct ipcns_perm *p)
{
	if (ids->hash_size == 0)
		return;
	struct ipcns_perm **pp = &ids->hash[key_hash(p->key, ids->hash_size)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			p->hnext = NULL;
			ids->hash_count--;
			return;
		}
	}
}

int ipcns_ids_add(struct ipcns_ids *ids, struct ipcns_perm *p, int limit,
		  const struct ipcns_cred *cred)
{
	if (limit > IPCNS_IPCMNI)
		limit = IPCNS_IPCMNI;
	if (ids->in_use >= limit)
		return -ENOSPC;
	if (p->key != 0) {
		int ret = hash_insert(ids, p);
		if (ret < 0)
			return ret;
	}
	/* Linux's ipc_idr_alloc: a next_id set through the sysctl is used
	 * once, whether or not the allocation succeeds; its index part is
	 * where the search for a free index starts and its sequence part
	 * is the new object's, and neither touches the cyclic state.  */
	int next_id = ids->next_id;
	ids->next_id = -1;
	int idx;
	if (next_id >= 0) {
		idx = ipcns_idr_alloc_from(&ids->idr, p, next_id % IPCNS_SEQ_MULTIPLIER);
		if (idx >= 0)
			p->seq = (unsigned int)(next_id / IPCNS_SEQ_MULTIPLIER);
	} else {
		/* Linux 5.1+: cyclic allocation over a window that grows
		 * with the number in use, at least 64 wide, so a freed index
		 * is not handed out again at once.  */
		int window = ids->in_use * 3 / 2;
		if (window < IPCNS_MIN_CYCLE)
			window = IPCNS_MIN_CYCLE;
		idx = ipcns_idr_alloc_cyclic(&ids->idr, p, window);
		if (idx >= 0) {
			if (idx <= ids->last_idx) {
				/* Linux: "if (ids->seq >= ipcid_seq_max()) ids->seq
				 * = 0", so the largest sequence number used is
				 * IPCNS_SEQ_MAX - 1.  */
				ids->seq++;
				if (ids->seq >= IPCNS_SEQ_MAX)
					ids->seq = 0;
			}
			ids->last_idx = idx;
			p->seq = ids->seq;
		}
	}
	if (idx < 0) {
		if (p->key != 0)
			hash_remove(ids, p);
		return idx;
	}
	p->id = (int)(p->seq * IPCNS_SEQ_MULTIPLIER) + idx;
	p->deleted = false;
	p->cuid = p->uid = cred->euid;
	p->cgid = p->gid = cred->egid;
	ids->in_use++;
	if (idx > ids->max_idx)
		ids->max_idx = idx;
	return p->id;
}

void ipcns_ids_set_key_private(struct ipcns_ids *ids, struct ipcns_perm *p)
{
	if (p->key != 0)
		hash_remove(ids, p);
	p->key = 0;
}

int ipcns_ids_set_key(struct ipcns_ids *ids, struct ipcns_perm *p, int32_t key)
{
	p->key = key;
	if (key == 0)
		return 0;
	int ret = hash_insert(ids, p);
	if (ret < 0)
		p->key = 0;
	return ret;
}

void ipcns_ids_remove(struct ipcns_ids *ids, struct ipcns_perm *p)
{
	int idx = p->id % IPCNS_SEQ_MULTIPLIER;
	ipcns_idr_remove(&ids->idr, idx);
	ipcns_ids_set_key_private(ids, p);
	ids->in_use--;
	p->deleted = true;
	if (idx == ids->max_idx) {
		do {
			idx--;
		} while (idx >= 0 && !ipcns_idr_find(&ids->idr, idx));
		ids->max_idx = idx;
	}
}

struct ipcns_perm *ipcns_ids_obtain_idx(const struct ipcns_ids *ids, int id)
{
	if (id < 0)
		return NULL;
	return ipcns_idr_find(&ids->idr, id % IPCNS_SEQ_MULTIPLIER);
}

int ipcns_ids_obtain_check(const struct ipcns_ids *ids, int id, struct ipcns_perm **out)
{
	struct ipcns_perm *p = ipcns_ids_obtain_idx(ids, id);
	if (!p || (unsigned int)(id / IPCNS_SEQ_MULTIPLIER) != p->seq)
		return -EINVAL;
	*out = p;
	return 0;
}

int ipcns_ids_maxidx(const struct ipcns_ids *ids)
{
	if (ids->in_use == 0)
		return -1;
	if (ids->in_use == IPCNS_IPCMNI)
		return IPCNS_IPCMNI - 1;
	return ids->max_idx;
}

/* Put back an object that was saved with its id (the state image): at the
 * index of p->id, its key hashed.  The table's seq, last_idx and cyclic
 * position are the caller's to restore.  -EEXIST when the index or the key
 * is taken, -EINVAL for an id out of range.  */
int ipcns_ids_restore(struct ipcns_ids *ids, struct ipcns_perm *p)
{
	int idx = p->id % IPCNS_SEQ_MULTIPLIER;

	if (p->id < 0)
		return -EINVAL;
	if (ipcns_idr_find(&ids->idr, idx) || (p->key != 0 && ipcns_ids_find_key(ids, p->key)))
		return -EEXIST;
	if (p->key != 0) {
		int ret = hash_insert(ids, p);
		if (ret < 0)
			return ret;
	}
	int ret = idr_store(&ids->idr, idx, p);
	if (ret < 0) {
		if (p->key != 0)
			hash_remove(ids, p);
		return ret;
	}
	p->seq = (unsigned int)(p->id / IPCNS_SEQ_MULTIPLIER);
	p->deleted = false;
	ids->in_use++;
	if (idx > ids->max_idx)
		ids->max_idx = idx;
	return 0;
}
