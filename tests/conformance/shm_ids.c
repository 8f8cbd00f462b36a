/* SPDX-License-Identifier: MIT */
/* Segment ids: id = seq * 32768 + index, indices handed out cyclically
 * (Linux 5.1+: idr_alloc_cyclic over [0, max(in_use * 3 / 2, 64))), the
 * sequence number advancing when an index at or below the last one is
 * handed out; SHM_STAT/SHM_STAT_ANY map an index to the id, IPC_INFO and
 * SHM_INFO return the highest index in use; an id with a stale sequence
 * number is EINVAL.
 *
 * Runner contract: see shm_common.h (root, fresh IPC namespace, natively
 * or under ipcnsd; exit 0 pass, 1 fail, 77 skip).  */
#include "shm_common.h"

static int mk(void)
{
	return (int)CHECK_OK(shm_get(IPC_PRIVATE, 1, 0600));
}

static void rm(int id)
{
	CHECK_OK(shm_ctl(id, IPC_RMID, NULL));
}

static long maxidx(void)
{
	struct shminfo si;
	return shm_ctl(0, IPC_INFO, &si);
}

/* A fresh namespace: ids 0, 1, then cyclic: a freed index is not handed
 * out again before the window wraps.  */
static void test_cyclic(void)
{
	struct shmid_ds ds;
	CHECK_EQ(maxidx(), 0);
	int a = mk(), b = mk();
	CHECK_EQ(a, 0);
	CHECK_EQ(b, 1);
	CHECK_EQ(maxidx(), 1);
	rm(a);
	CHECK_EQ(maxidx(), 1);
	int c = mk();
	CHECK_EQ(c, 2);
	CHECK_EQ(maxidx(), 2);
	rm(c);
	CHECK_EQ(maxidx(), 1);
	rm(b);
	CHECK_EQ(maxidx(), 0);
	/* In use 0: the window is 64 wide, indices 3..63 come next.  */
	for (int i = 3; i < 64; i++) {
		int id = mk();
		if (id != i) {
			CHECK_EQ(id, i);
			break;
		}
		rm(id);
	}
	/* Wrapped to index 0: the sequence number advances.  */
	int w = mk();
	CHECK_EQ(w, SEQ_MULT + 0);
	STAT(w, &ds);
	CHECK_EQ(ds.shm_perm.__seq, 1);
	/* The old id of index 0 is stale now.  */
	CHECK_ERR(shm_ctl(0, IPC_STAT, &ds), EINVAL);
	CHECK_ERR(shm_at(0, NULL, 0), EINVAL);
	CHECK_ERR(shm_ctl(0, IPC_RMID, NULL), EINVAL);
	CHECK_ERR(shm_ctl(2 * SEQ_MULT + 0, IPC_STAT, &ds), EINVAL);
	/* Index 1 is above the last one: same sequence.  */
	int x = mk();
	CHECK_EQ(x, SEQ_MULT + 1);
	rm(w);
	rm(x);
}

/* More in use widens the window: with 100 in use, indices run past 64.  */
static void test_window(void)
{
	int ids[100];
	/* State from test_cyclic: seq 1, last index 1.  */
	for (int i = 0; i < 100; i++)
		ids[i] = mk();
	int bad = 0;
	for (int i = 0; i < 100 && !bad; i++)
		if (ids[i] != SEQ_MULT + 2 + i) {
			CHECK_EQ(ids[i], SEQ_MULT + 2 + i);
			bad = 1;
		}
	CHECK_EQ(maxidx(), 101);
	/* Free index 50 (id ids[48]): the next one still goes forward.  */
	rm(ids[48]);
	int n = mk();
	CHECK_EQ(n, SEQ_MULT + 102);
	CHECK_EQ(maxidx(), 102);

	/* SHM_STAT maps an index to the id; SHM_INFO counts.  */
	struct shmid_ds ds;
	struct shm_info si;
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 102);
	CHECK_EQ(si.used_ids, 100);
	CHECK_EQ(shm_ctl(2, SHM_STAT, &ds), SEQ_MULT + 2);
	CHECK_EQ(shm_ctl(102, SHM_STAT_ANY, &ds), SEQ_MULT + 102);
	CHECK_ERR(shm_ctl(50, SHM_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(0, SHM_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(103, SHM_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(32767, SHM_STAT, &ds), EINVAL);
	/* The index is the low 15 bits: a full id works as well.  */
	CHECK_EQ(shm_ctl(SEQ_MULT + 2, SHM_STAT, &ds), SEQ_MULT + 2);
	CHECK_EQ(shm_ctl(7 * SEQ_MULT + 2, SHM_STAT_ANY, &ds), SEQ_MULT + 2);

	/* An ipcs-like walk finds exactly the ids in use.  */
	int found = 0, maxi = (int)shm_ctl(0, SHM_INFO, &si);
	for (int i = 0; i <= maxi; i++) {
		int id = (int)shm_ctl(i, SHM_STAT, &ds);
		if (id < 0)
			continue;
		found++;
		CHECK_EQ(id % SEQ_MULT, i);
	}
	CHECK_EQ(found, 100);

	/* Remove the highest: the maximum index falls to the next in use.  */
	rm(n);
	CHECK_EQ(maxidx(), 101);
	rm(ids[99]);
	rm(ids[98]);
	CHECK_EQ(maxidx(), 99);
	for (int i = 0; i < 98; i++)
		if (i != 48)
			rm(ids[i]);
	CHECK_EQ(maxidx(), 0);
	CHECK_EQ(shm_ctl(0, SHM_INFO, &si), 0);
	CHECK_EQ(si.used_ids, 0);

	/* Next: index 103 (after the last handed out, 102), window 64 in
	 * use 0 -> wraps to 0 at once with a new sequence.  */
	int z = mk();
	CHECK_EQ(z, 2 * SEQ_MULT + 0);
	rm(z);
}

/* Stale ids of every kind of call are EINVAL; a valid index with another
 * sequence number too.  */
static void test_stale(void)
{
	struct shmid_ds ds;
	int id = mk();
	CHECK_EQ(id, 2 * SEQ_MULT + 1);
	int other = id + SEQ_MULT;
	CHECK_ERR(shm_ctl(other, IPC_STAT, &ds), EINVAL);
	CHECK_ERR(shm_ctl(other, IPC_SET, &ds), EINVAL);
	CHECK_ERR(shm_ctl(other, SHM_LOCK, NULL), EINVAL);
	CHECK_ERR(shm_ctl(other, SHM_UNLOCK, NULL), EINVAL);
	CHECK_ERR(shm_at(other, NULL, 0), EINVAL);
	CHECK_ERR(shm_ctl(id - SEQ_MULT, IPC_RMID, NULL), EINVAL);
	CHECK_ERR(shm_ctl(id + 1, IPC_STAT, &ds), EINVAL);
	/* The largest id (seq 65535, index 32767): no segment.  */
	CHECK_ERR(shm_ctl(0x7fffffff, IPC_STAT, &ds), EINVAL);
	STAT(id, &ds);
	CHECK_EQ(ds.shm_perm.__seq, 2);
	rm(id);
}

/* The window's end falls inside a radix tree leaf: a free index just
 * past it is not in the window, the allocation wraps instead.  */
static void test_window_edge(void)
{
	int ids[96];
	/* State from test_stale: seq 2, last index 1, none in use.  */
	for (int i = 0; i < 96; i++) {
		ids[i] = mk();
		if (ids[i] != 2 * SEQ_MULT + 2 + i) {
			CHECK_EQ(ids[i], 2 * SEQ_MULT + 2 + i);
			return;
		}
	}
	/* Indices 34..97 stay: 64 in use, the window is [0, 96).  */
	for (int i = 0; i < 32; i++)
		rm(ids[i]);
	/* Resuming at 98, past the window: wraps to 0.  */
	int w = mk();
	CHECK_EQ(w, 3 * SEQ_MULT + 0);
	rm(w);
	for (int i = 1; i < 34; i++) {
		int id = mk();
		if (id != 3 * SEQ_MULT + i) {
			CHECK_EQ(id, 3 * SEQ_MULT + i);
			return;
		}
		rm(id);
	}
	/* Resuming at 34: 34..95 are in use, 96 and 97 too, 98 is free but
	 * outside the window: wraps to 0 again.  */
	w = mk();
	CHECK_EQ(w, 4 * SEQ_MULT + 0);
	rm(w);
	for (int i = 32; i < 96; i++)
		rm(ids[i]);
}

int main(void)
{
	conf_start();
	test_cyclic();
	test_window();
	test_stale();
	test_window_edge();
	return conf_done("shm_ids");
}
