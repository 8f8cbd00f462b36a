/* SPDX-License-Identifier: MIT */
/* Unit tests of the id tables (plugin/lib/ipc/idr.c, Linux's ipc_ids): ids
 * built as seq * 32768 + index, the cyclic window, the sequence advancing
 * when an index is handed out again and wrapping at 65535, the key hash,
 * private keys, the highest index, and the limit.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"

#define NPERM 40000

struct fx {
	struct ipcns_ids ids;
	struct ipcns_cred cred;
	struct ipcns_perm *p; /* NPERM of them */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->p = calloc(NPERM, sizeof(*f->p));
	if (!f->p)
		return -1;
	ipcns_ids_init(&f->ids);
	f->cred.euid = 1000;
	f->cred.egid = 2000;
	f->cred.fsgid = 2000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipcns_ids_destroy(&f->ids);
	free(f->p);
	free(f);
	return 0;
}

static int add(struct fx *f, int i, int32_t key, int limit)
{
	f->p[i].key = key;
	return ipcns_ids_add(&f->ids, &f->p[i], limit, &f->cred);
}

static void test_first_ids(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipcns_ids_maxidx(&f->ids), -1);
	assert_int_equal(add(f, 0, 0, 100), 0);
	assert_int_equal(add(f, 1, 0, 100), 1);
	/* Owner and creator from the credentials.  */
	assert_int_equal(f->p[1].uid, 1000);
	assert_int_equal(f->p[1].cuid, 1000);
	assert_int_equal(f->p[1].gid, 2000);
	assert_int_equal(f->p[1].cgid, 2000);
	assert_false(f->p[1].deleted);
	assert_int_equal(f->ids.in_use, 2);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 1);
	struct ipcns_perm *p;
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, 1, &p), 0);
	assert_ptr_equal(p, &f->p[1]);
	assert_ptr_equal(ipcns_ids_obtain_idx(&f->ids, 1), &f->p[1]);
	/* The index part alone finds it; the sequence must match.  */
	assert_ptr_equal(ipcns_ids_obtain_idx(&f->ids, 5 * 32768 + 1), &f->p[1]);
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, 32768 + 1, &p), -EINVAL);
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, 2, &p), -EINVAL);
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, -1, &p), -EINVAL);
	assert_null(ipcns_ids_obtain_idx(&f->ids, -1));
	assert_null(ipcns_ids_obtain_idx(&f->ids, (int)0x80000000));
}

/* The cyclic window of Linux 5.1+: [0, max(in_use * 3 / 2, 64)).  */
static void test_cyclic_seq(void **state)
{
	struct fx *f = *state;
	add(f, 0, 0, 100);
	add(f, 1, 0, 100);
	ipcns_ids_remove(&f->ids, &f->p[0]);
	assert_true(f->p[0].deleted);
	assert_int_equal(add(f, 2, 0, 100), 2);
	ipcns_ids_remove(&f->ids, &f->p[2]);
	ipcns_ids_remove(&f->ids, &f->p[1]);
	for (int i = 3; i < 64; i++) {
		assert_int_equal(add(f, i, 0, 100), i);
		ipcns_ids_remove(&f->ids, &f->p[i]);
	}
	/* Wrapped: the sequence advances.  */
	assert_int_equal(add(f, 64, 0, 100), 32768);
	assert_int_equal(f->p[64].seq, 1);
	assert_int_equal(add(f, 65, 0, 100), 32769);
	/* With 100 in use the window is 150 wide.  */
	for (int i = 0; i < 98; i++)
		assert_int_equal(add(f, 100 + i, 0, 1000), 32768 + 2 + i);
	assert_int_equal(f->ids.in_use, 100);
	assert_int_equal(add(f, 300, 0, 1000), 32768 + 100);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 100);
}

/* The end of the window inside a leaf of the tree: the free index past
 * it is not taken (Linux wraps).  */
static void test_window_edge(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 98; i++)
		assert_int_equal(add(f, i, 0, 1000), i);
	for (int i = 0; i < 34; i++)
		ipcns_ids_remove(&f->ids, &f->p[i]);
	/* 64 in use: window [0, 96); resuming at 98: wraps to 0.  */
	assert_int_equal(add(f, 100, 0, 1000), 32768);
	ipcns_ids_remove(&f->ids, &f->p[100]);
	for (int i = 1; i < 34; i++) {
		assert_int_equal(add(f, 100 + i, 0, 1000), 32768 + i);
		ipcns_ids_remove(&f->ids, &f->p[100 + i]);
	}
	/* Resuming at 34, all used up to 97, 98 free but outside.  */
	assert_int_equal(add(f, 200, 0, 1000), 2 * 32768);
}

/* Linux resets the sequence when it reaches ipcid_seq_max() = 65535.  */
static void test_seq_wrap(void **state)
{
	struct fx *f = *state;
	add(f, 0, 0, 100);
	ipcns_ids_remove(&f->ids, &f->p[0]);
	f->ids.seq = IPCNS_SEQ_MAX - 2;
	/* Handing out index 0 again (at or below the last) advances it.  */
	f->ids.idr.next = 0;
	assert_int_equal(add(f, 1, 0, 100), (IPCNS_SEQ_MAX - 1) * 32768);
	assert_int_equal(f->p[1].seq, IPCNS_SEQ_MAX - 1);
	assert_true(f->p[1].id > 0);
	ipcns_ids_remove(&f->ids, &f->p[1]);
	f->ids.idr.next = 0;
	assert_int_equal(add(f, 2, 0, 100), 0);
	assert_int_equal(f->p[2].seq, 0);
	/* The largest id Linux can hand out.  */
	struct ipcns_perm *p;
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, (IPCNS_SEQ_MAX - 1) * 32768, &p), -EINVAL);
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, 0, &p), 0);
}

static void test_keys(void **state)
{
	struct fx *f = *state;
	/* Many keys: the hash grows; every one is found.  */
	for (int i = 0; i < 1000; i++)
		assert_true(add(f, i, 0x1000 + i * 7, 4096) >= 0);
	assert_int_equal(f->ids.hash_count, 1000);
	assert_true(f->ids.hash_size >= 1000);
	for (int i = 0; i < 1000; i++)
		assert_ptr_equal(ipcns_ids_find_key(&f->ids, 0x1000 + i * 7), &f->p[i]);
	assert_null(ipcns_ids_find_key(&f->ids, 0x1001));
	/* Negative keys are keys too.  */
	assert_true(add(f, 1000, -1, 4096) >= 0);
	assert_ptr_equal(ipcns_ids_find_key(&f->ids, -1), &f->p[1000]);
	/* Private objects are never in the hash.  */
	assert_true(add(f, 1001, 0, 4096) >= 0);
	assert_int_equal(f->ids.hash_count, 1001);
	assert_null(ipcns_ids_find_key(&f->ids, 0));
	/* Removal takes the key out.  */
	for (int i = 0; i < 1000; i += 2)
		ipcns_ids_remove(&f->ids, &f->p[i]);
	for (int i = 0; i < 1000; i++)
		assert_ptr_equal(ipcns_ids_find_key(&f->ids, 0x1000 + i * 7), i % 2 ? &f->p[i] : NULL);
	assert_int_equal(f->ids.hash_count, 501);
	/* A removed object's key can be used again.  */
	assert_true(add(f, 2000, 0x1000, 4096) >= 0);
	assert_ptr_equal(ipcns_ids_find_key(&f->ids, 0x1000), &f->p[2000]);
}

/* shm IPC_RMID while attached: the key goes, the id stays.  */
static void test_key_private(void **state)
{
	struct fx *f = *state;
	int id = add(f, 0, 1234, 100);
	add(f, 1, 1235, 100);
	ipcns_ids_set_key_private(&f->ids, &f->p[0]);
	assert_int_equal(f->p[0].key, 0);
	assert_null(ipcns_ids_find_key(&f->ids, 1234));
	assert_ptr_equal(ipcns_ids_find_key(&f->ids, 1235), &f->p[1]);
	struct ipcns_perm *p;
	assert_int_equal(ipcns_ids_obtain_check(&f->ids, id, &p), 0);
	/* A new object may take the key.  */
	add(f, 2, 1234, 100);
	assert_ptr_equal(ipcns_ids_find_key(&f->ids, 1234), &f->p[2]);
	/* Twice is harmless; removing it later leaves the new key.  */
	ipcns_ids_set_key_private(&f->ids, &f->p[0]);
	ipcns_ids_remove(&f->ids, &f->p[0]);
	assert_ptr_equal(ipcns_ids_find_key(&f->ids, 1234), &f->p[2]);
	assert_int_equal(f->ids.hash_count, 2);
	assert_int_equal(f->ids.in_use, 2);
}

static void test_maxidx(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 10; i++)
		add(f, i, 0, 100);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 9);
	ipcns_ids_remove(&f->ids, &f->p[5]);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 9);
	ipcns_ids_remove(&f->ids, &f->p[9]);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 8);
	ipcns_ids_remove(&f->ids, &f->p[8]);
	ipcns_ids_remove(&f->ids, &f->p[7]);
	ipcns_ids_remove(&f->ids, &f->p[6]);
	/* Skips the hole at 5.  */
	assert_int_equal(ipcns_ids_maxidx(&f->ids), 4);
	for (int i = 0; i < 5; i++)
		ipcns_ids_remove(&f->ids, &f->p[i]);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), -1);
	assert_int_equal(f->ids.max_idx, -1);
}

/* Full: IPC_INFO reports 32767 whatever max_idx says.  */
static void test_full(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < IPCNS_IPCMNI; i++)
		assert_int_equal(add(f, i, 0, 1 << 20), i);
	assert_int_equal(add(f, IPCNS_IPCMNI, 0, 1 << 20), -ENOSPC);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), IPCNS_IPCMNI - 1);
	ipcns_ids_remove(&f->ids, &f->p[IPCNS_IPCMNI - 1]);
	assert_int_equal(ipcns_ids_maxidx(&f->ids), IPCNS_IPCMNI - 2);
	assert_int_equal(add(f, IPCNS_IPCMNI, 0, 1 << 20), 32768 + IPCNS_IPCMNI - 1);
}

static void test_limit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(add(f, 0, 11, 2), 0);
	assert_int_equal(add(f, 1, 12, 2), 1);
	assert_int_equal(add(f, 2, 13, 2), -ENOSPC);
	/* Nothing of the refused one stays: no key, no count.  */
	assert_null(ipcns_ids_find_key(&f->ids, 13));
	assert_int_equal(f->ids.in_use, 2);
	assert_int_equal(f->ids.hash_count, 2);
	/* The limit is on the number in use, not on the index.  */
	ipcns_ids_remove(&f->ids, &f->p[0]);
	assert_int_equal(add(f, 2, 13, 2), 2);
	assert_int_equal(add(f, 3, 0, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cyclic_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maxidx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
