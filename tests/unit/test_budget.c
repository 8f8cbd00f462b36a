/* SPDX-License-Identifier: MIT */
/* Unit tests of the budgets (plugin/lib/ipc/budget.c): what the daemon holds
 * for a namespace is charged to it, refused past its budget or the pool's
 * ceiling with the errno Linux gives when its allocation fails, and given
 * back when freed.  */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "fake_caller.h"

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void test_alloc_refused_past_budget(void **state)
{
	struct ipcns_pool pool = { .mem_limit = 0 };
	struct ipcns_budget b = { .mem_limit = 4096, .pool = &pool };
	void *p = ipcns_mem_zalloc(&b, 1000);
	assert_non_null(p);
	uint64_t one = b.mem_used;
	assert_true(one >= 1000 + 16 && one <= 1000 + 16 + 32);
	assert_int_equal(pool.mem_used, one);
	errno = 0;
	assert_null(ipcns_mem_alloc(&b, 4000));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(b.mem_used, one);
	/* A refused growth leaves the block and its charge as they were.  */
	assert_null(ipcns_mem_realloc(&b, p, 8000));
	assert_int_equal(b.mem_used, one);
	void *q = ipcns_mem_realloc(&b, p, 2000);
	assert_non_null(q);
	assert_true(b.mem_used > one);
	q = ipcns_mem_realloc(&b, q, 100);
	assert_non_null(q);
	assert_true(b.mem_used < one);
	ipcns_mem_free(q);
	assert_int_equal(b.mem_used, 0);
	assert_int_equal(pool.mem_used, 0);
	/* Uncharged (no budget) works the same way.  */
	void *u = ipcns_mem_alloc(NULL, 10);
	assert_non_null(u);
	ipcns_mem_free(u);
}

static void test_pool_ceiling(void **state)
{
	struct ipcns_pool pool = { .mem_limit = 3000, .fd_limit = 3 };
	struct ipcns_budget a = { .pool = &pool }, b = { .pool = &pool };
	void *pa = ipcns_mem_alloc(&a, 2000);
	assert_non_null(pa);
	/* b has no budget of its own, but the pool is full.  */
	assert_null(ipcns_mem_alloc(&b, 2000));
	assert_int_equal(b.mem_used, 0);
	assert_int_equal(ipcns_budget_fd_charge(&a, 2, false), 0);
	assert_int_equal(ipcns_budget_fd_charge(&b, 2, false), -EMFILE);
	assert_int_equal(ipcns_budget_fd_charge(&b, 1, false), 0);
	/* What a namespace needs to exist is charged past any ceiling.  */
	assert_int_equal(ipcns_budget_fd_charge(&b, 4, true), 0);
	assert_int_equal(pool.fds_used, 7);
	ipcns_mem_free(pa);
	ipcns_budget_release(&a);
	ipcns_budget_release(&b);
	assert_int_equal(pool.mem_used, 0);
	assert_int_equal(pool.fds_used, 0);
}

struct fx {
	struct ipcns_ns *ns;
	struct fake_waiter *all;
	struct fake_proc root;
	struct ipcns_pool pool;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	l.quota_mem_bytes = 8 << 20;
	l.quota_fds = 16;
	f->ns = ipcns_ns_new(&l, &fake_host_ops, NULL);
	assert_non_null(f->ns);
	ipcns_ns_set_pool(f->ns, &f->pool);
	fake_proc_init(&f->root, 0, ~0ULL, 100, &f->all);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(fake_ns_free(f->ns, &f->all), 0);
	/* Everything the namespace held went back to the pool.  */
	assert_int_equal(f->pool.mem_used, 0);
	assert_int_equal(f->pool.fds_used, 0);
	free(f);
	return 0;
}

/* The reproducer in the core: sets of 32000 semaphores until the
 * namespace's 8 MiB budget says ENOMEM (newary()'s kvzalloc), then a
 * message that does not fit gets ENOMEM (load_msg()); removing sets gives
 * the memory back.  */
static void test_semget_msgsnd_enomem(void **state)
{
	struct fx *f = *state;
	struct ipcns_usage u;
	int ids[64], n = 0;
	long id;
	while ((id = ipcns_semget(f->ns, fake_call(&f->root), IPC_PRIVATE, 32000, IPC_CREAT | 0600)) >= 0)
		ids[n++] = (int)id;
	assert_int_equal(id, -ENOMEM);
	assert_true(n >= 4 && n <= 6);
	ipcns_ns_usage(f->ns, &u);
	assert_true(u.mem_bytes <= 8 << 20);
	assert_int_equal(u.mem_bytes, f->pool.mem_used);
	long q = ipcns_msgget(f->ns, fake_call(&f->root), IPC_PRIVATE, IPC_CREAT | 0600);
	assert_true(q >= 0);
	static struct {
		long mtype;
		char mtext[8192];
	} m = { .mtype = 1 };
	long r = 0;
	for (int i = 0; i < 200 && r == 0; i++)
		r = ipcns_msgsnd(f->ns, fake_call(&f->root), (int)q, ptr(&m), 8192, IPC_NOWAIT);
	assert_true(r == -ENOMEM || r == -EAGAIN);
	assert_int_equal(ipcns_semctl(f->ns, fake_call(&f->root), ids[0], 0, IPC_RMID, 0), 0);
	assert_true(ipcns_semget(f->ns, fake_call(&f->root), IPC_PRIVATE, 32000, IPC_CREAT | 0600) >= 0);
}

/* A segment's memfd is one of the namespace's fds: past the budget,
 * shmget gets ENFILE (newseg() with the file table full).  */
static void test_shmget_enfile(void **state)
{
	struct fx *f = *state;
	long id;
	int n = 0;
	while ((id = ipcns_shmget(f->ns, fake_call(&f->root), IPC_PRIVATE, 4096, IPC_CREAT | 0600)) >= 0)
		n++;
	assert_int_equal(id, -ENFILE);
	assert_int_equal(n, 16);
	assert_int_equal(f->pool.fds_used, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_refused_past_budget),
		cmocka_unit_test(test_pool_ceiling),
		cmocka_unit_test_setup_teardown(test_semget_msgsnd_enomem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shmget_enfile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
