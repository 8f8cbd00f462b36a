/* SPDX-License-Identifier: MIT */
/* Unit tests of the operator's annotation policy and the log rate limit
 * that ipcnsd and the crun plugin share (plugin/lib/notify/oci_limits.c,
 * escape.c): annotations capped by the ceilings, "0" never unbounded,
 * ignored annotations, kernel.* ceilings, the file's errors, and lines
 * past the burst counted.  */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"
#include "oci_limits.h"

#define MIB (1024ULL * 1024)

/* The limits a container with ANNOTATIONS (JSON) gets under policy p,
 * with the defaults' budgets.  */
static struct ipcns_limits limits_of(const struct ipcns_policy *p, const char *annotations)
{
	struct ipcns_limits l;
	char err[256];
	json_t *ann = json_loads(annotations, 0, NULL);
	assert_non_null(ann);
	assert_int_equal(ipcns_limits_from_config(NULL, ann, "test", &l, err, sizeof(err)), 0);
	ipcns_policy_apply(p, ann, 128 * MIB, 16384, &l);
	json_decref(ann);
	return l;
}

/* A policy file with TEXT loaded on top of the defaults: its result.  */
static int load(struct ipcns_policy *p, const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/ipcns-test-policy-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ipcns_policy_init(p);
	int ret = ipcns_policy_load(p, path, err, errlen);
	unlink(path);
	return ret;
}

static void test_defaults(void **state)
{
	(void)state;
	struct ipcns_policy p;
	ipcns_policy_init(&p);
	/* The budgets' ceilings are the front end's: here the defaults.  */
	p.ceiling[IPCNS_POLICY_MEM] = 128 * MIB;
	p.ceiling[IPCNS_POLICY_FDS] = 16384;
	struct ipcns_limits l = limits_of(&p, "{}");
	assert_int_equal(l.quota_mem_bytes, 128 * MIB);
	assert_int_equal(l.quota_fds, 16384);
	assert_int_equal(l.quota_msg_bytes, 64 * MIB);
	/* Lower: honoured.  Higher, or none: the ceiling.  */
	l = limits_of(&p, "{\"org.ipcns.mem-bytes\": \"16777216\", \"org.ipcns.fds\": \"3\"}");
	assert_int_equal(l.quota_mem_bytes, 16 * MIB);
	assert_int_equal(l.quota_fds, IPCNS_POLICY_MIN_FDS);
	l = limits_of(&p, "{\"org.ipcns.mem-bytes\": \"1073741824\", \"org.ipcns.msg-bytes\": \"0\"}");
	assert_int_equal(l.quota_mem_bytes, 128 * MIB);
	assert_int_equal(l.quota_msg_bytes, 64 * MIB);
	l = limits_of(&p, "{\"org.ipcns.mem-bytes\": \"0\", \"org.ipcns.fds\": \"0\"}");
	assert_int_equal(l.quota_mem_bytes, 128 * MIB);
	assert_int_equal(l.quota_fds, 16384);
	/* Without a budget ceiling, "0" is still the default, not none.  */
	p.ceiling[IPCNS_POLICY_MEM] = 0;
	l = limits_of(&p, "{\"org.ipcns.mem-bytes\": \"0\"}");
	assert_int_equal(l.quota_mem_bytes, 128 * MIB);
}

static void test_file(void **state)
{
	(void)state;
	struct ipcns_policy p;
	char err[512];
	assert_int_equal(load(&p,
			      "{\"ipcnsd\": {\"annotations\": {\"org.ipcns.objects-per-uid\": \"ignore\"},"
			      " \"ceilings\": {\"org.ipcns.mem-bytes\": \"16777216\", \"kernel.shmmni\": \"32\"}}}",
			      err, sizeof(err)),
			 0);
	assert_true(p.ceiling_set[IPCNS_POLICY_MEM]);
	struct ipcns_limits l =
		limits_of(&p, "{\"org.ipcns.mem-bytes\": \"1073741824\", \"org.ipcns.objects-per-uid\": \"1\"}");
	assert_int_equal(l.quota_mem_bytes, 16 * MIB);
	assert_int_equal(l.quota_objects_per_uid, 0);
	/* linux.sysctl past a kernel.* ceiling is refused, a default above
	 * it lowered.  */
	char what[256];
	l = limits_of(&p, "{}");
	assert_int_equal(ipcns_limits_apply_ceiling(&l, &p.sysctl, what, sizeof(what)), 0);
	assert_int_equal(l.shmmni, 32);
	l.shmmni = 64;
	assert_int_equal(ipcns_limits_apply_ceiling(&l, &p.sysctl, what, sizeof(what)), -EINVAL);
	assert_string_equal(what, "kernel.shmmni = 64 is above the operator's ceiling 32");

	assert_int_equal(load(&p, "{\"ipcnsd\": {\"ceilings\": {\"org.ipcns.fds\": \"many\"}}}", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "ipcnsd.ceilings.org.ipcns.fds must be a decimal string"));
	assert_int_equal(load(&p, "{\"ipcnsd\": {\"annotations\": {\"org.ipcns.namespace\": \"sometimes\"}}}", err,
			      sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "must be \"ignore\", \"scoped\" or \"global\""));
	ipcns_policy_init(&p);
	assert_int_equal(ipcns_policy_load(&p, "/nonexistent/ipcns/config.json", err, sizeof(err)), 0);
	assert_int_equal(p.ns_name, IPCNS_POLICY_NS_SCOPED);
}

static void test_ratelimit(void **state)
{
	(void)state;
	struct ipcns_ratelimit rl;
	unsigned long ended;
	int64_t secs;
	int said = 0;
	ipcns_ratelimit_init(&rl);
	for (int i = 0; i < 1000; i++) {
		said += ipcns_ratelimit_take(&rl, &ended, &secs);
		assert_int_equal(ended, 0);
	}
	assert_int_equal(said, IPCNS_LOG_BURST);
	/* Not over yet: nothing to say unless final.  */
	assert_int_equal(ipcns_ratelimit_flush(&rl, false, &secs), 0);
	assert_int_equal(ipcns_ratelimit_flush(&rl, true, &secs), 1000 - IPCNS_LOG_BURST);
	assert_int_equal(ipcns_ratelimit_flush(&rl, true, &secs), 0);
	/* A window that ended is counted by the next line.  */
	for (int i = 0; i < IPCNS_LOG_BURST + 5; i++)
		ipcns_ratelimit_take(&rl, &ended, &secs);
	rl.window -= IPCNS_LOG_WINDOW_S;
	assert_true(ipcns_ratelimit_take(&rl, &ended, &secs));
	assert_int_equal(ended, 5);
	assert_true(secs >= IPCNS_LOG_WINDOW_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
