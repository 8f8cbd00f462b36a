/* SPDX-License-Identifier: MIT */
/* Unit tests of a namespace's IPC sysctls (plugin/lib/ipc/sysctl.c) and its
 * /proc/sysvipc text (plugin/lib/ipc/procview.c): Linux's formats, the
 * parsing of proc_dointvec/proc_doulongvec_minmax (base 0, separators,
 * signs, partial sem writes, SEMMNI put back with ERANGE), ranges and
 * errnos, the strict write position, ipc_permissions, the operator's
 * ceiling, and *_next_id choosing the next id once.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

#include <cmocka.h>

#include "core.h"
#include "fake_caller.h"

struct fx {
	struct ipcns_ns *ns;
	struct fake_proc root;
	struct fake_waiter *all;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->ns = ipcns_ns_new(NULL, &fake_host_ops, NULL);
	if (!f->ns)
		return -1;
	fake_proc_init(&f->root, 0, ~0ULL, 100, &f->all);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(fake_ns_free(f->ns, &f->all), 0);
	free(f);
	return 0;
}

static const char *rd(struct fx *f, int which)
{
	static char buf[128];
	int n = ipcns_sysctl_format(f->ns, which, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	return buf;
}

static long wr(struct fx *f, int which, const char *s)
{
	return ipcns_sysctl_write(f->ns, which, s, strlen(s), 0, NULL, NULL, 0);
}

/* Writes as data: each written to `which' gives `ret', then (unless NULL)
 * `which' reads `after'.  */
struct wcase {
	int which;
	const char *in;
	long ret;
	const char *after;
};

static void run_writes(struct fx *f, const struct wcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long r = wr(f, c[i].which, c[i].in);
		if (r != c[i].ret)
			fail_msg("write %zu (\"%s\"): %ld, expected %ld", i, c[i].in, r, c[i].ret);
		if (c[i].after && strcmp(rd(f, c[i].which), c[i].after) != 0)
			fail_msg("write %zu (\"%s\"): reads \"%s\", expected \"%s\"", i, c[i].in, rd(f, c[i].which),
				 c[i].after);
	}
}

static void test_defaults_read_as_linux(void **state)
{
	static const struct {
		int which;
		const char *text;
	} def[] = {
		{ IPCNS_SYSCTL_SHMMAX, "18446744073692774399\n" },
		{ IPCNS_SYSCTL_SHMALL, "18446744073692774399\n" },
		{ IPCNS_SYSCTL_SHMMNI, "4096\n" },
		{ IPCNS_SYSCTL_SHM_RMID_FORCED, "0\n" },
		{ IPCNS_SYSCTL_SEM, "32000\t1024000000\t500\t32000\n" },
		{ IPCNS_SYSCTL_MSGMAX, "8192\n" },
		{ IPCNS_SYSCTL_MSGMNB, "16384\n" },
		{ IPCNS_SYSCTL_MSGMNI, "32000\n" },
		{ IPCNS_SYSCTL_SHM_NEXT_ID, "-1\n" },
		{ IPCNS_SYSCTL_SEM_NEXT_ID, "-1\n" },
		{ IPCNS_SYSCTL_MSG_NEXT_ID, "-1\n" },
	};
	struct fx *f = *state;
	for (size_t i = 0; i < ARRAY_SIZE(def); i++)
		assert_string_equal(rd(f, def[i].which), def[i].text);
	assert_int_equal(ipcns_sysctl_lookup("shm_rmid_forced"), IPCNS_SYSCTL_SHM_RMID_FORCED);
	assert_int_equal(ipcns_sysctl_lookup("auto_msgmni"), -ENOENT);
}

static void test_parsing(void **state)
{
	static const struct wcase c[] = {
		{ IPCNS_SYSCTL_SHMMAX, "4096\n", 5, "4096\n" },
		/* Base 0, as strtoul: hexadecimal and octal.  */
		{ IPCNS_SYSCTL_SHMMNI, "0x10", 4, "16\n" },
		{ IPCNS_SYSCTL_SHMMNI, "010", 3, "8\n" },
		/* Leading and trailing white space.  */
		{ IPCNS_SYSCTL_MSGMAX, "  \t 100 \n\n", 10, "100\n" },
		/* Garbage: EINVAL, nothing changed.  */
		{ IPCNS_SYSCTL_MSGMAX, "12abc", -EINVAL, NULL },
		{ IPCNS_SYSCTL_MSGMAX, "+5", -EINVAL, NULL },
		{ IPCNS_SYSCTL_MSGMAX, "   \n", -EINVAL, NULL },
		{ IPCNS_SYSCTL_MSGMAX, "abc", -EINVAL, "100\n" },
		/* Negative unsigned long: EINVAL.  */
		{ IPCNS_SYSCTL_SHMALL, "-1", -EINVAL, NULL },
		/* A number as long as the parse buffer.  */
		{ IPCNS_SYSCTL_SHMMAX, "000000000000000000001", -EINVAL, NULL },
		{ IPCNS_SYSCTL_SHMMAX, "18446744073709551615", 20, NULL },
		{ IPCNS_SYSCTL_SHMMAX, "18446744073709551616", -EINVAL, NULL },
		/* One value, then something else: the value is taken, the rest
		 * is not consumed (the writer sees a short write).  */
		{ IPCNS_SYSCTL_MSGMNB, "200 300", 4, "200\n" },
	};
	struct fx *f = *state;
	run_writes(f, c, ARRAY_SIZE(c));
	/* Empty write: 0.  A write past offset 0 is ignored, consumed.  */
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_MSGMNB, "", 0, 0, NULL, NULL, 0), 0);
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_MSGMNB, "7", 1, 3, NULL, NULL, 0), 1);
	assert_string_equal(rd(f, IPCNS_SYSCTL_MSGMNB), "200\n");
}

static void test_ranges(void **state)
{
	static const struct wcase c[] = {
		{ IPCNS_SYSCTL_SHMMNI, "32768", 5, NULL },
		{ IPCNS_SYSCTL_SHMMNI, "32769", -EINVAL, NULL },
		{ IPCNS_SYSCTL_SHMMNI, "-1", -EINVAL, NULL },
		{ IPCNS_SYSCTL_MSGMNI, "32769", -EINVAL, NULL },
		{ IPCNS_SYSCTL_MSGMAX, "2147483647", 10, NULL },
		{ IPCNS_SYSCTL_MSGMAX, "2147483648", -EINVAL, NULL },
		{ IPCNS_SYSCTL_SHM_RMID_FORCED, "2", -EINVAL, NULL },
		{ IPCNS_SYSCTL_SHM_RMID_FORCED, "1", 1, "1\n" },
		{ IPCNS_SYSCTL_SHM_NEXT_ID, "-1", -EINVAL, NULL },
		{ IPCNS_SYSCTL_SHM_NEXT_ID, "2147483647", 10, NULL },
	};
	run_writes(*state, c, ARRAY_SIZE(c));
}

static void test_sem(void **state)
{
	static const struct wcase c[] = {
		/* Fewer values: the others stay.  */
		{ IPCNS_SYSCTL_SEM, "250", 3, "250\t1024000000\t500\t32000\n" },
		{ IPCNS_SYSCTL_SEM, "250 32000 32 128\n", 17, "250\t32000\t32\t128\n" },
		/* No bounds on the first three: negative values are stored.  */
		{ IPCNS_SYSCTL_SEM, "-1 2 3", 6, "-1\t2\t3\t128\n" },
		/* SEMMNI out of 0..32768: ERANGE, SEMMNI put back, the others
		 * kept as Linux stores them before the check.  */
		{ IPCNS_SYSCTL_SEM, "10 20 30 40000", -ERANGE, "10\t20\t30\t128\n" },
		/* A bad third value: the first two are kept, EINVAL.  */
		{ IPCNS_SYSCTL_SEM, "11 21 x 41", -EINVAL, "11\t21\t30\t128\n" },
		/* A fifth value is not consumed.  */
		{ IPCNS_SYSCTL_SEM, "1 2 3 4 5", 8, "1\t2\t3\t4\n" },
	};
	run_writes(*state, c, ARRAY_SIZE(c));
}

static void test_obeyed(void **state)
{
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	assert_int_equal(wr(f, IPCNS_SYSCTL_SHMMAX, "8192"), 4);
	assert_int_equal(ipcns_shmget(f->ns, c, IPC_PRIVATE, 8193, 0600), -EINVAL);
	long id = ipcns_shmget(f->ns, c, IPC_PRIVATE, 8192, 0600);
	assert_true(id >= 0);
	assert_int_equal(ipcns_shmctl(f->ns, c, (int)id, IPC_RMID, 0), 0);
	assert_int_equal(wr(f, IPCNS_SYSCTL_SEM, "2"), 1);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 3, 0600), -EINVAL);
	assert_int_equal(wr(f, IPCNS_SYSCTL_MSGMNI, "0"), 1);
	assert_int_equal(ipcns_msgget(f->ns, c, IPC_PRIVATE, 0600), -ENOSPC);
}

static void test_next_id(void **state)
{
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	/* The next object gets that id, once; the one after is allocated
	 * as if nothing had happened.  */
	assert_int_equal(wr(f, IPCNS_SYSCTL_MSG_NEXT_ID, "98317"), 5); /* seq 3, index 13 */
	assert_int_equal(ipcns_msgget(f->ns, c, IPC_PRIVATE, 0600), 98317);
	assert_string_equal(rd(f, IPCNS_SYSCTL_MSG_NEXT_ID), "-1\n");
	assert_int_equal(ipcns_msgget(f->ns, c, IPC_PRIVATE, 0600), 0);
	/* The index taken: the next free one above it, same sequence.  */
	assert_int_equal(wr(f, IPCNS_SYSCTL_MSG_NEXT_ID, "65549"), 5); /* seq 2, index 13 */
	assert_int_equal(ipcns_msgget(f->ns, c, IPC_PRIVATE, 0600), 65550);
	/* A failed creation before the allocation keeps it.  */
	assert_int_equal(wr(f, IPCNS_SYSCTL_SEM_NEXT_ID, "7"), 1);
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 100000, 0600), -EINVAL);
	assert_string_equal(rd(f, IPCNS_SYSCTL_SEM_NEXT_ID), "7\n");
	assert_int_equal(ipcns_semget(f->ns, c, IPC_PRIVATE, 1, 0600), 7);
	assert_int_equal(wr(f, IPCNS_SYSCTL_SHM_NEXT_ID, "32768"), 5);
	assert_int_equal(ipcns_shmget(f->ns, c, IPC_PRIVATE, 4096, 0600), 32768);
	assert_int_equal(ipcns_shmctl(f->ns, c, 32768, IPC_RMID, 0), 0);
}

static void test_permission(void **state)
{
	(void)state;
	struct ipcns_sysctl_who root = { .euid_is_ns_root = true };
	struct ipcns_sysctl_who group = { .in_ns_root_group = true };
	struct ipcns_sysctl_who other = { 0 };
	struct ipcns_sysctl_who cr = { .checkpoint_restore = true };
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &root, 6), 0);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &group, 4), 0);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &group, 2), -EACCES);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &other, 2), -EACCES);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &other, 4), 0);
	/* *_next_id: read-only even to root, writable with the capability,
	 * whoever holds it.  */
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHM_NEXT_ID, &root, 2), -EACCES);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHM_NEXT_ID, &cr, 2), 0);
	assert_int_equal(ipcns_sysctl_permission(IPCNS_SYSCTL_SHMMAX, &cr, 2), -EACCES);
	assert_int_equal(ipcns_sysctl_mode(IPCNS_SYSCTL_SEM), 0644);
	assert_int_equal(ipcns_sysctl_mode(IPCNS_SYSCTL_MSG_NEXT_ID), 0444);
}

static void test_ceiling(void **state)
{
	struct fx *f = *state;
	struct ipcns_limits ceil;
	char what[256];
	ipcns_limits_no_ceiling(&ceil);
	ceil.shmmax = 1 << 20;
	ceil.msgmnb = 65536;
	ceil.semmni = 100;
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_SHMMAX, "1048577", 7, 0, &ceil, what, sizeof(what)),
			 -EINVAL);
	assert_non_null(strstr(what, "kernel.shmmax = 1048577 is above the operator's ceiling 1048576"));
	assert_string_equal(rd(f, IPCNS_SYSCTL_SHMMAX), "18446744073692774399\n");
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_SHMMAX, "1048576", 7, 0, &ceil, what, sizeof(what)),
			 7);
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_MSGMNB, "65537", 5, 0, &ceil, what, sizeof(what)),
			 -EINVAL);
	assert_non_null(strstr(what, "msgmnb"));
	/* sem: refused whole, as out of range.  */
	assert_int_equal(ipcns_sysctl_write(f->ns, IPCNS_SYSCTL_SEM, "5 6 7 101", 9, 0, &ceil, what, sizeof(what)),
			 -ERANGE);
	assert_string_equal(rd(f, IPCNS_SYSCTL_SEM), "32000\t1024000000\t500\t32000\n");
	/* The limits a registration brings are checked the same way.  */
	struct ipcns_limits l;
	ipcns_limits_default(&l);
	ipcns_limits_no_ceiling(&ceil);
	assert_int_equal(ipcns_limits_apply_ceiling(&l, &ceil, what, sizeof(what)), 0);
	/* Left at the default: lowered to the ceiling.  */
	ceil.msgmni = 10;
	assert_int_equal(ipcns_limits_apply_ceiling(&l, &ceil, what, sizeof(what)), 0);
	assert_int_equal(l.msgmni, 10);
	/* Set above it: refused.  */
	l.msgmnb = 1 << 20;
	ceil.msgmnb = 65536;
	assert_int_equal(ipcns_limits_apply_ceiling(&l, &ceil, what, sizeof(what)), -EINVAL);
	assert_non_null(strstr(what, "kernel.msgmnb = 1048576 is above the operator's ceiling 65536"));
}

static void test_proc_text(void **state)
{
	struct fx *f = *state;
	struct ipcns_caller *c = fake_call(&f->root);
	char *t;
	size_t len;
	assert_int_equal(ipcns_ns_proc_text(f->ns, IPCNS_SEM, NULL, NULL, &t, &len), 0);
	assert_string_equal(t, "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n");
	free(t);
	long id = ipcns_semget(f->ns, c, 0x1234, 3, 0640 | IPC_CREAT);
	assert_int_equal(id, 0);
	assert_int_equal(ipcns_msgget(f->ns, c, IPC_PRIVATE, 0600), 0);
	assert_int_equal(ipcns_ns_proc_text(f->ns, IPCNS_SEM, NULL, NULL, &t, &len), 0);
	char want[256];
	const struct ipcns_obj_info *unused = NULL;
	(void)unused;
	snprintf(want, sizeof(want), "%10d %10d  %4o %10u %5u %5u %5u %5u %10llu %10llu\n", 0x1234, 0, 0640, 3, 0, 0, 0,
		 0, 0ULL, (unsigned long long)time(NULL));
	assert_non_null(strchr(t, '\n'));
	assert_int_equal(strlen(strchr(t, '\n') + 1), strlen(want));
	assert_memory_equal(strchr(t, '\n') + 1, want, strlen(want) - 12); /* up to ctime */
	free(t);
	/* Mapped ids: the container's root is host 100000.  */
	struct ipcns_idmap m;
	assert_int_equal(ipcns_idmap_parse(&m, "         0     100000      65536\n"), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(ipcns_ns_proc_text(f->ns, IPCNS_MSG, &m, &m, &t, &len), 0);
	assert_non_null(strstr(t, "   600           0          0     0     0 65534 65534 65534 65534"));
	free(t);
	assert_int_equal(ipcns_idmap_parse(&m, "0 1 2 x"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_read_as_linux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_obeyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ceiling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proc_text, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
