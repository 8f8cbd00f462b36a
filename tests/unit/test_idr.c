/* SPDX-License-Identifier: MIT */
/* Unit tests of the radix tree from index to pointer (plugin/lib/ipc/idr.c):
 * lowest-free allocation, Linux's idr_alloc_cyclic(), removal, the walk,
 * the full range of 32768 indices, and the freeing of emptied nodes.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core.h"

#define P(i) ((void *)(uintptr_t)(0x1000 + (i)))

static int setup(void **state)
{
	struct ipcns_idr *idr = calloc(1, sizeof(*idr));
	if (!idr)
		return -1;
	ipcns_idr_init(idr);
	*state = idr;
	return 0;
}

static int teardown(void **state)
{
	struct ipcns_idr *idr = *state;
	ipcns_idr_destroy(idr);
	free(idr);
	return 0;
}

static void test_empty(void **state)
{
	struct ipcns_idr *idr = *state;
	assert_null(ipcns_idr_find(idr, 0));
	assert_null(ipcns_idr_find(idr, 32767));
	assert_null(ipcns_idr_find(idr, -1));
	assert_null(ipcns_idr_find(idr, 32768));
	assert_int_equal(ipcns_idr_next(idr, 0), -1);
	assert_int_equal(ipcns_idr_next(idr, -5), -1);
	/* Removing what is not there, or out of range, does nothing.  */
	ipcns_idr_remove(idr, 7);
	ipcns_idr_remove(idr, -1);
	ipcns_idr_remove(idr, 40000);
	assert_int_equal(ipcns_idr_alloc(idr, P(0), 0), -ENOSPC);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(0), 0), -ENOSPC);
}

static void test_alloc_lowest(void **state)
{
	struct ipcns_idr *idr = *state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(ipcns_idr_alloc(idr, P(i), 100), i);
	assert_ptr_equal(ipcns_idr_find(idr, 3), P(3));
	ipcns_idr_remove(idr, 1);
	ipcns_idr_remove(idr, 3);
	assert_null(ipcns_idr_find(idr, 1));
	/* The lowest free index, not the next one.  */
	assert_int_equal(ipcns_idr_alloc(idr, P(11), 100), 1);
	assert_int_equal(ipcns_idr_alloc(idr, P(13), 100), 3);
	assert_int_equal(ipcns_idr_alloc(idr, P(15), 100), 5);
	assert_ptr_equal(ipcns_idr_find(idr, 1), P(11));
	/* The limit is exclusive.  */
	assert_int_equal(ipcns_idr_alloc(idr, P(6), 6), -ENOSPC);
	assert_int_equal(ipcns_idr_alloc(idr, P(6), 7), 6);
	/* A limit above the index space is clamped.  */
	assert_int_equal(ipcns_idr_alloc(idr, P(7), 1 << 30), 7);
}

/* Past a leaf (64) and a middle node (4096).  */
static void test_alloc_boundaries(void **state)
{
	struct ipcns_idr *idr = *state;
	for (int i = 0; i < 4200; i++)
		assert_int_equal(ipcns_idr_alloc(idr, P(i), 32768), i);
	for (int i = 0; i < 4200; i++)
		assert_ptr_equal(ipcns_idr_find(idr, i), P(i));
	ipcns_idr_remove(idr, 4095);
	ipcns_idr_remove(idr, 64);
	assert_int_equal(ipcns_idr_alloc(idr, P(0), 32768), 64);
	assert_int_equal(ipcns_idr_alloc(idr, P(0), 32768), 4095);
	assert_int_equal(ipcns_idr_alloc(idr, P(0), 32768), 4200);
}

static void test_cyclic(void **state)
{
	struct ipcns_idr *idr = *state;
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(0), 64), 0);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(1), 64), 1);
	ipcns_idr_remove(idr, 0);
	/* Goes on after the last one handed out.  */
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(2), 64), 2);
	ipcns_idr_remove(idr, 2);
	for (int i = 3; i < 64; i++) {
		assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(i), 64), i);
		ipcns_idr_remove(idr, i);
	}
	/* At the end: wraps to the lowest free.  */
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(0), 64), 0);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(2), 64), 2);
	/* A smaller end than where it stands: from 0.  */
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(3), 2), -ENOSPC);
	ipcns_idr_remove(idr, 1);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(1), 2), 1);
	/* Skips used indices after the resume point.  */
	assert_int_equal(ipcns_idr_alloc(idr, P(4), 64), 3);
	assert_int_equal(ipcns_idr_alloc(idr, P(4), 64), 4);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(5), 64), 5);
	assert_int_equal(idr->next, 6);
}

static void test_cyclic_full(void **state)
{
	struct ipcns_idr *idr = *state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(i), 10), i);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(10), 10), -ENOSPC);
	ipcns_idr_remove(idr, 4);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(4), 10), 4);
	assert_int_equal(idr->next, 5);
	ipcns_idr_remove(idr, 9);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(9), 10), 9);
	/* A wider end continues above.  */
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(10), 12), 10);
}

static void test_next(void **state)
{
	struct ipcns_idr *idr = *state;
	static const int used[] = { 0, 5, 63, 64, 4095, 4096, 20000, 32767 };
	for (int i = 0; i < IPCNS_IPCMNI; i++)
		assert_int_equal(ipcns_idr_alloc(idr, P(i), IPCNS_IPCMNI), i);
	for (int i = 0; i < IPCNS_IPCMNI; i++) {
		bool keep = false;
		for (size_t j = 0; j < sizeof(used) / sizeof(used[0]); j++)
			keep |= used[j] == i;
		if (!keep)
			ipcns_idr_remove(idr, i);
	}
	int n = 0;
	for (int i = ipcns_idr_next(idr, 0); i >= 0; i = ipcns_idr_next(idr, i + 1))
		assert_int_equal(i, used[n++]);
	assert_int_equal(n, 8);
	assert_int_equal(ipcns_idr_next(idr, 1), 5);
	assert_int_equal(ipcns_idr_next(idr, 6), 63);
	assert_int_equal(ipcns_idr_next(idr, 65), 4095);
	assert_int_equal(ipcns_idr_next(idr, 4097), 20000);
	assert_int_equal(ipcns_idr_next(idr, 20001), 32767);
	assert_int_equal(ipcns_idr_next(idr, 32768), -1);
	ipcns_idr_remove(idr, 32767);
	assert_int_equal(ipcns_idr_next(idr, 20001), -1);
}

static void test_full_range(void **state)
{
	struct ipcns_idr *idr = *state;
	for (int i = 0; i < IPCNS_IPCMNI; i++)
		assert_int_equal(ipcns_idr_alloc(idr, P(i), IPCNS_IPCMNI), i);
	assert_int_equal(idr->full, 0xff);
	assert_int_equal(ipcns_idr_alloc(idr, P(0), IPCNS_IPCMNI), -ENOSPC);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(0), IPCNS_IPCMNI), -ENOSPC);
	assert_ptr_equal(ipcns_idr_find(idr, 32767), P(32767));
	assert_int_equal(ipcns_idr_next(idr, 32767), 32767);
	/* One freed anywhere is found again, by both allocators.  */
	ipcns_idr_remove(idr, 20000);
	assert_int_equal(idr->full & (1u << (20000 >> 12)), 0);
	assert_int_equal(ipcns_idr_alloc(idr, P(1), IPCNS_IPCMNI), 20000);
	assert_int_equal(idr->full, 0xff);
	ipcns_idr_remove(idr, 7);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(2), IPCNS_IPCMNI), 7);
	ipcns_idr_remove(idr, 32767);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(3), IPCNS_IPCMNI), 32767);
	assert_int_equal(ipcns_idr_alloc_cyclic(idr, P(3), IPCNS_IPCMNI), -ENOSPC);
}

/* Emptied leaves and middle nodes are freed; the tree of an idle
 * namespace holds nothing.  */
static void test_free_empty(void **state)
{
	struct ipcns_idr *idr = *state;
	for (int i = 0; i < 130; i++)
		ipcns_idr_alloc(idr, P(i), 32768);
	assert_non_null(idr->mid[0]);
	assert_non_null(idr->mid[0]->leaf[0]);
	assert_non_null(idr->mid[0]->leaf[2]);
	assert_int_equal(idr->mid[0]->any, 7);
	for (int i = 64; i < 128; i++)
		ipcns_idr_remove(idr, i);
	assert_null(idr->mid[0]->leaf[1]);
	assert_int_equal(idr->mid[0]->any, 5);
	/* The lowest free is inside the freed leaf.  */
	assert_int_equal(ipcns_idr_alloc(idr, P(64), 32768), 64);
	assert_non_null(idr->mid[0]->leaf[1]);
	ipcns_idr_remove(idr, 64);
	for (int i = 0; i < 64; i++)
		ipcns_idr_remove(idr, i);
	assert_null(idr->mid[0]->leaf[0]);
	ipcns_idr_remove(idr, 128);
	assert_non_null(idr->mid[0]);
	ipcns_idr_remove(idr, 129);
	assert_null(idr->mid[0]);
	assert_int_equal(ipcns_idr_next(idr, 0), -1);
	/* A high index alone: one middle node, one leaf.  */
	int got;
	do
		got = ipcns_idr_alloc_cyclic(idr, P(0), 32768);
	while (got >= 0 && got < 30000);
	assert_int_equal(got, 30000);
	for (int i = 0; i < 30000; i++)
		ipcns_idr_remove(idr, i);
	for (int t = 0; t < 8; t++)
		if (t != 30000 >> 12)
			assert_null(idr->mid[t]);
	assert_int_equal(idr->mid[30000 >> 12]->any, 1ULL << ((30000 >> 6) & 63));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_lowest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cyclic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cyclic_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_empty, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
