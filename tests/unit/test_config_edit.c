/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Unit tests of ipcns-runtime's pieces: the config.json edit, the runc/crun
 * command line, the settings, the in-place file edit and the log line.
 * Links with runtime-hook/{config_edit,argv,settings,bundle,log}.c.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "argv.h"
#include "bundle.h"
#include "config_edit.h"
#include "log.h"
#include "settings.h"
#include "oci_util.h"

#define SOCK "/run/ipcns/ipcnsd.sock"
#define IPC_NAMES                                                                                  \
	"\"shmget\",\"shmat\",\"shmdt\",\"shmctl\",\"semget\",\"semop\","                          \
	"\"semtimedop\",\"semtimedop_time64\",\"semctl\",\"msgget\",\"msgsnd\",\"msgrcv\","         \
	"\"msgctl\",\"remap_file_pages\",\"ipc\""
#define NOTIFY_RULE "{\"names\":[" IPC_NAMES "],\"action\":\"SCMP_ACT_NOTIFY\"}"

static const struct ipcns_edit plain_edit = {.socket = SOCK};

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *json = json_loads(text, 0, &jerr);

	if (json == NULL)
		fail_msg("bad test JSON at %d:%d: %s\n%s", jerr.line, jerr.column, jerr.text, text);
	return json;
}

static void assert_json(json_t *got, const char *expected)
{
	cleanup_json json_t *want = parse(expected);

	if (!json_equal(got, want)) {
		cleanup_free char *g = json_dumps(got, JSON_COMPACT);

		fail_msg("got      %s\nexpected %s", g, expected);
	}
}

/* Edit INPUT, expect success and EXPECTED; edit the result again and expect
 * no change.  */
static void check_edit(const char *input, const struct ipcns_edit *edit, const char *expected)
{
	cleanup_json json_t *config = parse(input);
	cleanup_json json_t *once = NULL;
	char err[IPCNS_ERR_MAX] = "";
	int ret;

	ret = ipcns_config_edit(config, edit, err, sizeof(err));
	if (ret != 0)
		fail_msg("edit failed with %d: %s", ret, err);
	assert_json(config, expected);

	once = json_deep_copy(config);
	assert_int_equal(ipcns_config_edit(config, edit, err, sizeof(err)), 0);
	assert_true(json_equal(once, config));
}

/* The architectures a new filter lists (config_edit.c).  */
#if defined(__x86_64__)
#define ARCHES ",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]"
#elif defined(__aarch64__)
#define ARCHES ",\"architectures\":[\"SCMP_ARCH_AARCH64\",\"SCMP_ARCH_ARM\"]"
#elif defined(__s390x__)
#define ARCHES ",\"architectures\":[\"SCMP_ARCH_S390X\",\"SCMP_ARCH_S390\"]"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARCHES ",\"architectures\":[\"SCMP_ARCH_PPC64LE\"]"
#else
#define ARCHES ""
#endif

/* ipcnsd serves the view from inside: the createContainer hook that
 * mounts it, once, after the config's own hooks; /proc/sysvipc not
 * masked (runc would mask it after the hooks), the other masks kept.  */
static void test_view_hook(void **state)
{
	(void)state;
	const struct ipcns_edit served = { .socket = SOCK, .view_hook = "/usr/bin/ipcns-hook",
					   .view_dir = "/run/ipcns/ipcnsd.view" };
#define VIEW_HOOK "{\"path\":\"/usr/bin/ipcns-hook\",\"args\":[\"ipcns-hook\",\"mount\",\"--view\",\"/run/ipcns/ipcnsd.view\"]}"
	check_edit("{\"linux\":{\"maskedPaths\":[\"/proc/kcore\",\"/proc/sysvipc\"]},"
		   "\"hooks\":{\"prestart\":[{\"path\":\"/x\"}],\"createContainer\":[{\"path\":\"/y\"}]}}",
		   &served,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ",\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},\"maskedPaths\":[\"/proc/kcore\"]},"
		   "\"hooks\":{\"prestart\":[{\"path\":\"/x\"}],\"createContainer\":[{\"path\":\"/y\"}," VIEW_HOOK "]}}");
	check_edit("{}", &served,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ",\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},\"maskedPaths\":[]},"
		   "\"hooks\":{\"createContainer\":[" VIEW_HOOK "]}}");
#undef VIEW_HOOK
	cleanup_json json_t *bad = parse("{\"hooks\":{\"createContainer\":{}}}");
	char err[IPCNS_ERR_MAX] = "";
	assert_int_equal(ipcns_config_edit(bad, &served, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "hooks.createContainer is not an array"));
	char dir[256];
	ipcns_view_dir("/run/ipcns/ipcnsd.sock", dir, sizeof(dir));
	assert_string_equal(dir, "/run/ipcns/ipcnsd.view");
	ipcns_view_dir("/tmp/x", dir, sizeof(dir));
	assert_string_equal(dir, "/tmp/x.view");
}

static void test_no_seccomp(void **state)
{
	(void)state;
	check_edit("{\"ociVersion\":\"1.0.2\",\"linux\":{\"namespaces\":[]}}", &plain_edit,
		   "{\"ociVersion\":\"1.0.2\",\"linux\":{\"namespaces\":[],"
		   "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ","
		   "\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

static void test_no_linux(void **state)
{
	(void)state;
	check_edit("{}", &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ","
		   "\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

/* Go and crun read null as absent.  */
static void test_null_members(void **state)
{
	(void)state;
	check_edit("{\"linux\":{\"seccomp\":null,\"maskedPaths\":null}}", &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ","
		   "\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
	check_edit("{\"linux\":{\"seccomp\":{\"defaultAction\":null,"
		   "\"syscalls\":null,\"listenerPath\":null}}}",
		   &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ","
		   "\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

static void test_empty_seccomp(void **state)
{
	(void)state;
	check_edit("{\"linux\":{\"seccomp\":{},\"maskedPaths\":[]}}", &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"" ARCHES ","
		   "\"syscalls\":[" NOTIFY_RULE "],"
		   "\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

/* Docker-like profile: default ERRNO, IPC names among others.  */
static void test_errno_profile(void **state)
{
	(void)state;
	check_edit("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\","
		   "\"defaultErrnoRet\":1,"
		   "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
		   "\"syscalls\":["
		   "{\"names\":[\"read\",\"shmget\",\"write\",\"msgctl\"],"
		   "\"action\":\"SCMP_ACT_ALLOW\"},"
		   "{\"names\":[\"semop\",\"semtimedop\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		   "{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\","
		   "\"args\":[{\"index\":0,\"value\":2114060288,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
		   "{\"names\":[\"ipc\",\"socketcall\"],\"action\":\"SCMP_ACT_ALLOW\","
		   "\"includes\":{\"arches\":[\"x86\"]}}"
		   "]}}}",
		   &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\","
		   "\"defaultErrnoRet\":1,"
		   "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
		   "\"syscalls\":["
		   "{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		   "{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\","
		   "\"args\":[{\"index\":0,\"value\":2114060288,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
		   "{\"names\":[\"socketcall\"],\"action\":\"SCMP_ACT_ALLOW\","
		   "\"includes\":{\"arches\":[\"x86\"]}}," NOTIFY_RULE "],\"listenerPath\":\"" SOCK
		   "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

/* Conditions on an IPC call go with its name; the rule's other names keep
 * theirs.  */
static void test_conditioned_ipc_rules(void **state)
{
	(void)state;
	check_edit("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		   "\"syscalls\":["
		   "{\"names\":[\"shmget\"],\"action\":\"SCMP_ACT_ERRNO\","
		   "\"errnoRet\":28,"
		   "\"args\":[{\"index\":1,\"value\":1048576,\"op\":\"SCMP_CMP_GT\"}]},"
		   "{\"names\":[\"shmctl\",\"personality\"],\"action\":\"SCMP_ACT_ERRNO\","
		   "\"args\":[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
		   "{\"names\":[\"semget\"],\"action\":\"SCMP_ACT_NOTIFY\"}"
		   "],\"listenerPath\":\"" SOCK "\"}}}",
		   &plain_edit,
		   "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		   "\"syscalls\":["
		   "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\","
		   "\"args\":[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}," NOTIFY_RULE
		   "],\"listenerPath\":\"" SOCK "\"},"
		   "\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

/* A rule without names is not ours to judge; rules already empty stay.  */
static void test_rules_without_ipc_untouched(void **state)
{
	(void)state;
	check_edit(
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"syscalls\":[{\"action\":\"SCMP_ACT_LOG\"},"
		"{\"names\":[],\"action\":\"SCMP_ACT_KILL\"},"
		"{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}}}",
		&plain_edit,
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"syscalls\":[{\"action\":\"SCMP_ACT_LOG\"},"
		"{\"names\":[],\"action\":\"SCMP_ACT_KILL\"},"
		"{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}," NOTIFY_RULE
		"],\"listenerPath\":\"" SOCK "\"},"
		"\"maskedPaths\":[\"/proc/sysvipc\"]}}");
}

static void test_other_listener(void **state)
{
	const char *input =
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"listenerPath\":\"/run/other/agent.sock\","
		"\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}}}";
	cleanup_json json_t *config = parse(input);
	cleanup_json json_t *orig = json_deep_copy(config);
	char err[IPCNS_ERR_MAX] = "";

	(void)state;
	assert_int_equal(ipcns_config_edit(config, &plain_edit, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "config.json already sets linux.seccomp.listenerPath to "
				 "/run/other/agent.sock; ipcns needs its own listener");
	assert_true(json_equal(config, orig));
}

/* Edited once by hand or by ipcns-hook, possibly with the rule elsewhere.  */
static void test_same_listener_idempotent(void **state)
{
	const char *edited = "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			     "\"syscalls\":[" NOTIFY_RULE ","
			     "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\"}],"
			     "\"listenerPath\":\"" SOCK "\"},"
			     "\"maskedPaths\":[\"/proc/kcore\",\"/proc/sysvipc\"]}}";

	(void)state;
	check_edit(
		edited, &plain_edit,
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"syscalls\":[{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\"}," NOTIFY_RULE
		"],\"listenerPath\":\"" SOCK "\"},"
		"\"maskedPaths\":[\"/proc/kcore\",\"/proc/sysvipc\"]}}");
}

/* Edit twice equals edit once, over inputs of every shape.  */
static void test_twice_equals_once(void **state)
{
	static const char *const inputs[] = {
		"{}",
		"{\"linux\":{}}",
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\","
		"\"syscalls\":[{\"names\":[\"shmat\",\"read\"],\"action\":\"SCMP_ACT_ALLOW\"}]}}}",
		"{\"linux\":{\"maskedPaths\":[\"/proc/sysvipc\",\"/proc/sysvipc\"]}}",
		"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"listenerMetadata\":\"x\"}}}",
	};
	const struct ipcns_edit edit = {.socket = SOCK, .listener_metadata = "pod=a"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		cleanup_json json_t *config = parse(inputs[i]);
		cleanup_json json_t *once = NULL;
		char err[IPCNS_ERR_MAX];

		assert_int_equal(ipcns_config_edit(config, &edit, err, sizeof(err)), 0);
		once = json_deep_copy(config);
		assert_int_equal(ipcns_config_edit(config, &edit, err, sizeof(err)), 0);
		if (!json_equal(config, once))
			fail_msg("second edit changed input %zu", i);
	}
}

static void test_masked_paths(void **state)
{
	static const struct {
		const char *masked, *expected;
	} cases[] = {
		/* absent */
		{NULL, "[\"/proc/sysvipc\"]"},
		/* present, without ours */
		{"[\"/proc/kcore\",\"/proc/keys\"]",
		 "[\"/proc/kcore\",\"/proc/keys\",\"/proc/sysvipc\"]"},
		/* present, with ours: not added twice */
		{"[\"/proc/sysvipc\",\"/proc/kcore\"]", "[\"/proc/sysvipc\",\"/proc/kcore\"]"},
		/* duplicates of ours or others are the user's; left as they are */
		{"[\"/proc/kcore\",\"/proc/sysvipc\",\"/proc/kcore\",\"/proc/sysvipc\"]",
		 "[\"/proc/kcore\",\"/proc/sysvipc\",\"/proc/kcore\",\"/proc/sysvipc\"]"},
		{"[\"/proc/kcore\",\"/proc/kcore\"]",
		 "[\"/proc/kcore\",\"/proc/kcore\",\"/proc/sysvipc\"]"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *input = NULL;
		cleanup_json json_t *config = NULL;
		cleanup_json json_t *expected = NULL;
		char err[IPCNS_ERR_MAX];

		assert_true(asprintf(&input, "{\"linux\":{%s%s}}",
				     cases[i].masked ? "\"maskedPaths\":" : "",
				     cases[i].masked ? cases[i].masked : "") > 0);
		config = parse(input);
		expected = parse(cases[i].expected);
		assert_int_equal(ipcns_config_edit(config, &plain_edit, err, sizeof(err)), 0);
		if (!json_equal(json_object_get(json_object_get(config, "linux"), "maskedPaths"),
				expected))
			fail_msg("case %zu: maskedPaths differ from %s", i, cases[i].expected);
	}
}

static void test_listener_metadata(void **state)
{
	const struct ipcns_edit with = {.socket = SOCK, .listener_metadata = "ns=shared-1"};
	cleanup_json json_t *none = parse("{}");
	cleanup_json json_t *set = parse("{}");
	cleanup_json json_t *kept =
		parse("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		      "\"listenerMetadata\":\"user-set\"}}}");
	char err[IPCNS_ERR_MAX];
	json_t *seccomp;

	(void)state;
	assert_int_equal(ipcns_config_edit(none, &plain_edit, err, sizeof(err)), 0);
	seccomp = json_object_get(json_object_get(none, "linux"), "seccomp");
	assert_null(json_object_get(seccomp, "listenerMetadata"));

	assert_int_equal(ipcns_config_edit(set, &with, err, sizeof(err)), 0);
	seccomp = json_object_get(json_object_get(set, "linux"), "seccomp");
	assert_string_equal(json_string_value(json_object_get(seccomp, "listenerMetadata")),
			    "ns=shared-1");

	/* Only when not already set.  */
	assert_int_equal(ipcns_config_edit(kept, &with, err, sizeof(err)), 0);
	seccomp = json_object_get(json_object_get(kept, "linux"), "seccomp");
	assert_string_equal(json_string_value(json_object_get(seccomp, "listenerMetadata")),
			    "user-set");
}

/* Malformed input: the return value and the message, which names the key.
 * The config must be left exactly as it was.  */
static void test_malformed(void **state)
{
	static const struct {
		const char *input;
		int ret;
		const char *msg;
	} cases[] = {
		{"[]", -EINVAL, "the config is not a JSON object"},
		{"{\"linux\":[]}", -EINVAL, "linux is not an object"},
		{"{\"linux\":{\"seccomp\":\"SCMP_ACT_ALLOW\"}}", -EINVAL,
		 "linux.seccomp is not an object"},
		{"{\"linux\":{\"seccomp\":[]}}", -EINVAL, "linux.seccomp is not an object"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":{\"names\":[\"read\"]}}}}",
		 -EINVAL, "linux.seccomp.syscalls is not an array"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_LOG\"},7]}}}",
		 -EINVAL, "linux.seccomp.syscalls[1] is not an object"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":[{\"names\":\"shmget\",\"action\":\"SCMP_ACT_LOG\"}]}}}",
		 -EINVAL, "linux.seccomp.syscalls[0].names is not an array"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_LOG\"},"
		 "{\"names\":[\"shmget\",3],\"action\":\"SCMP_ACT_LOG\"}]}}}",
		 -EINVAL, "linux.seccomp.syscalls[1].names[1] is not a string"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":[{\"names\":[\"read\"],\"action\":1}]}}}",
		 -EINVAL, "linux.seccomp.syscalls[0].action is not a string"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":2}}}", -EINVAL,
		 "linux.seccomp.defaultAction is not a string"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"listenerPath\":5}}}",
		 -EINVAL, "linux.seccomp.listenerPath is not a string"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"listenerMetadata\":{}}}}",
		 -EINVAL, "linux.seccomp.listenerMetadata is not a string"},
		{"{\"linux\":{\"maskedPaths\":\"/proc/kcore\"}}", -EINVAL,
		 "linux.maskedPaths is not an array"},
		{"{\"linux\":{\"maskedPaths\":[\"/proc/kcore\",null]}}", -EINVAL,
		 "linux.maskedPaths[1] is not a string"},
		/* Every call without a rule would go to ipcnsd.  */
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\","
		 "\"listenerPath\":\"" SOCK "\"}}}",
		 -EINVAL,
		 "linux.seccomp.defaultAction is SCMP_ACT_NOTIFY; ipcnsd serves only the System V "
		 "IPC system calls, not every call without a rule"},
		{"{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		 "\"syscalls\":[{\"names\":[\"shmget\",\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}"
		 "}}",
		 -EINVAL,
		 "linux.seccomp.syscalls[0] sends mkdir to the seccomp listener; ipcnsd serves "
		 "only the System V IPC system calls"},
		{"{\"linux\":{\"seccomp\":{\"syscalls\":[{\"names\":[\"read\"],"
		 "\"action\":\"SCMP_ACT_ALLOW\"}]}}}",
		 -EINVAL, "linux.seccomp has syscalls but no defaultAction"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_json json_t *config = parse(cases[i].input);
		cleanup_json json_t *orig = json_deep_copy(config);
		char err[IPCNS_ERR_MAX] = "";
		int ret;

		ret = ipcns_config_edit(config, &plain_edit, err, sizeof(err));
		if (ret != cases[i].ret || strcmp(err, cases[i].msg) != 0)
			fail_msg("case %zu: got %d \"%s\", expected %d \"%s\"", i, ret, err,
				 cases[i].ret, cases[i].msg);
		assert_true(json_equal(config, orig));
	}
}

static void test_bad_socket(void **state)
{
	const struct ipcns_edit relative = {.socket = "ipcnsd.sock"};
	const struct ipcns_edit none = {.socket = NULL};
	cleanup_json json_t *config = parse("{}");
	char err[IPCNS_ERR_MAX];

	(void)state;
	assert_int_equal(ipcns_config_edit(config, &relative, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the listener socket must be an absolute path");
	assert_int_equal(ipcns_config_edit(config, &none, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the listener socket must be an absolute path");
	assert_int_equal(json_object_size(config), 0);
}

/* The rule the code adds is the one runtime-hook/seccomp-ipcns.json documents.  */
static void test_fragment_matches_spec(void **state)
{
	cleanup_json json_t *rule = ipcns_notify_rule_new();
	cleanup_json json_t *spec = NULL;
	json_error_t jerr;

	(void)state;
	spec = json_load_file("runtime-hook/seccomp-ipcns.json", 0, &jerr);
	if (spec == NULL)
		skip(); /* not run from the top of the tree */
	assert_non_null(rule);
	if (!json_equal(rule, spec))
		fail_msg("runtime-hook/seccomp-ipcns.json differs from ipcns_notify_rule_new()");
}

/* The command line, as a table.  */
struct argv_case {
	const char *args[16];
	int ret;
	int command;
	bool edit;
	const char *bundle, *config, *log, *log_format;
};

/* clang-format off */
static const struct argv_case argv_cases[] = {
	/* args                                                    ret  cmd  edit   bundle config log format */
	{ { "--root", "/x", "create", "--bundle", "/b", "id" },      0,   2, true,  "/b", NULL, NULL, NULL },
	{ { "create", "-b", "/b", "id" },                            0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "--log", "f", "--log-format", "json", "run", "--bundle=/b", "id" },
	                                                             0,   4, true,  "/b", NULL, "f", "json" },
	{ { "run", "id" },                                           0,   0, true,  NULL, NULL, NULL, NULL },
	{ { "delete", "id" },                                        0,   0, false, NULL, NULL, NULL, NULL },
	{ { "--version" },                                           0,  -1, false, NULL, NULL, NULL, NULL },
	{ { "-v" },                                                  0,  -1, false, NULL, NULL, NULL, NULL },
	{ { NULL },                                                  0,  -1, false, NULL, NULL, NULL, NULL },
	/* containerd (go-runc) */
	{ { "--root", "/run/containerd/runc/k8s.io", "--log", "/b/log.json", "--log-format", "json",
	    "--systemd-cgroup", "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "cid" },
	                                                             0,   7, true,  "/b", NULL, "/b/log.json", "json" },
	/* conmon (podman, CRI-O) */
	{ { "--systemd-cgroup", "--root=/run/runc", "create", "--bundle", "/b", "--pid-file", "/p",
	    "--no-pivot", "--console-socket", "/s", "cid" },
	                                                             0,   2, true,  "/b", NULL, NULL, NULL },
	{ { "--debug", "--rootless", "true", "--criu", "/c", "run", "-d", "id" },
	                                                             0,   5, true,  NULL, NULL, NULL, NULL },
	{ { "--cgroup-manager", "cgroupfs", "run", "id" },           0,   2, true,  NULL, NULL, NULL, NULL },
	/* Go's single-dash long options (runc) */
	{ { "-root", "/x", "-log-format=json", "create", "-bundle", "/b", "id" },
	                                                             0,   3, true,  "/b", NULL, NULL, "json" },
	{ { "create", "-b=/b", "id" },                               0,   0, true,  "/b", NULL, NULL, NULL },
	/* argp's forms (crun): attached, clustered, prefix, after the id */
	{ { "run", "-b/b", "id" },                                   0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "run", "-db", "/b", "id" },                              0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "create", "--bun", "/b", "id" },                         0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "create", "id", "--bundle", "/b" },                      0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "create", "-f", "other.json", "-b", "/b", "id" },        0,   0, true,  "/b", "other.json", NULL, NULL },
	{ { "run", "--config=/c.json", "id" },                       0,   0, true,  NULL, "/c.json", NULL, NULL },
	/* values that look like options are values */
	{ { "create", "--pid-file", "-b", "id" },                    0,   0, true,  NULL, NULL, NULL, NULL },
	{ { "--log", "create", "delete", "id" },                     0,   2, false, NULL, NULL, "create", NULL },
	/* the last --bundle wins, as in both parsers; empty means the current directory */
	{ { "create", "-b", "/a", "--bundle", "/b", "id" },          0,   0, true,  "/b", NULL, NULL, NULL },
	{ { "create", "--bundle=", "id" },                           0,   0, true,  NULL, NULL, NULL, NULL },
	/* help prints and exits: nothing to edit */
	{ { "create", "--help" },                                    0,   0, false, NULL, NULL, NULL, NULL },
	{ { "run", "-h" },                                           0,   0, false, NULL, NULL, NULL, NULL },
	{ { "--help", "create", "id" },                              0,  -1, false, NULL, NULL, NULL, NULL },
	{ { "--", "create", "id" },                                  0,   1, true,  NULL, NULL, NULL, NULL },
	{ { "create", "id", "--", "-b", "/b" },                      0,   0, true,  NULL, NULL, NULL, NULL },
	/* pass-through commands, bundle options or not */
	{ { "start", "id" },                                         0,   0, false, NULL, NULL, NULL, NULL },
	{ { "exec", "-d", "id", "sh" },                              0,   0, false, NULL, NULL, NULL, NULL },
	{ { "restore", "--bundle", "/b", "id" },                     0,   0, false, NULL, NULL, NULL, NULL },
	{ { "--log", "/l", "--log-format", "json", "kill", "id", "9" },
	                                                             0,   4, false, NULL, NULL, "/l", "json" },
	{ { "features" },                                            0,   0, false, NULL, NULL, NULL, NULL },
	/* missing values */
	{ { "create", "-b" },                                  -EINVAL,   0, false, NULL, NULL, NULL, NULL },
	{ { "--log", "/l", "--root" },                         -EINVAL,  -1, false, NULL, NULL, "/l", NULL },
};
/* clang-format on */

static void test_argv(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(argv_cases) / sizeof(argv_cases[0]); i++) {
		const struct argv_case *c = &argv_cases[i];
		char *argv[18] = {"ipcns-runtime"};
		struct ipcns_cmdline cl;
		char err[IPCNS_ERR_MAX] = "";
		int argc = 1, ret, command;

		while (c->args[argc - 1] != NULL)
			argv[argc] = (char *)c->args[argc - 1], argc++;
		ret = ipcns_cmdline_parse(argc, argv, &cl, err, sizeof(err));
		if (ret != c->ret)
			fail_msg("case %zu: returned %d (%s)", i, ret, err);
		if (ret < 0)
			assert_true(strstr(err, "needs a value") != NULL);
		/* Expected command indexes count from the first argument.  */
		command = c->command < 0 ? -1 : c->command + 1;
		if (ret == 0 && cl.command != command)
			fail_msg("case %zu: command at %d, expected %d", i, cl.command, command);
		if (cl.edit != c->edit)
			fail_msg("case %zu: edit %d", i, cl.edit);
#define CHECK_STR(field)                                                                           \
	if ((cl.field == NULL) != (c->field == NULL) ||                                            \
	    (cl.field != NULL && strcmp(cl.field, c->field) != 0))                                 \
		fail_msg("case %zu: " #field " is %s, expected %s", i,                             \
			 cl.field ? cl.field : "NULL", c->field ? c->field : "NULL");
		CHECK_STR(bundle);
		CHECK_STR(config);
		CHECK_STR(log);
		CHECK_STR(log_format);
#undef CHECK_STR
	}
}

static void test_argv_message(void **state)
{
	char *argv[] = {"ipcns-runtime", "create", "id", "--bundle"};
	struct ipcns_cmdline cl;
	char err[IPCNS_ERR_MAX] = "";

	(void)state;
	assert_int_equal(ipcns_cmdline_parse(4, argv, &cl, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option --bundle needs a value");
}

static void test_config_path(void **state)
{
	static const struct {
		const char *bundle, *config, *path;
	} cases[] = {
		{NULL, NULL, "config.json"},
		{"/b", NULL, "/b/config.json"},
		{"rel/b", NULL, "rel/b/config.json"},
		{"/b", "config.json", "/b/config.json"},
		{"/b", "/etc/c.json", "/etc/c.json"},
		/* crun 1.8: relative to the current directory */
		{"/b", "other.json", "other.json"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipcns_cmdline cl = {.bundle = cases[i].bundle, .config = cases[i].config};
		cleanup_free char *path = NULL;

		assert_int_equal(ipcns_cmdline_config_path(&cl, &path), 0);
		assert_string_equal(path, cases[i].path);
	}
}

/* A scratch directory per test.  */
static int make_tmpdir(void **state)
{
	char *dir = strdup("/tmp/ipcns-unit-XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	unsetenv("IPCNS_RUNTIME");
	unsetenv("IPCNS_SOCKET");
	unsetenv("IPCNS_LISTENER_METADATA");
	return 0;
}

static int remove_tmpdir(void **state)
{
	cleanup_free char *cmd = NULL;
	int ret;

	if (asprintf(&cmd, "rm -rf '%s'", (char *)*state) < 0)
		return -1;
	ret = system(cmd);
	free(*state);
	unsetenv("IPCNS_RUNTIME");
	unsetenv("IPCNS_SOCKET");
	unsetenv("IPCNS_LISTENER_METADATA");
	return ret == 0 ? 0 : -1;
}

static char *write_tmp(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static char *read_all(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(getdelim(&text, &len, '\0', f) >= 0);
	fclose(f);
	return text;
}

static void test_settings_defaults(void **state)
{
	cleanup_free char *path = NULL;
	struct ipcns_settings s;
	char err[IPCNS_ERR_MAX];

	assert_true(asprintf(&path, "%s/absent.json", (char *)*state) > 0);
	assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.runtime, "runc");
	assert_string_equal(s.socket, "/run/ipcns/ipcnsd.sock");
	assert_null(s.listener_metadata);
	ipcns_settings_clear(&s);

	/* Empty variables are unset.  */
	setenv("IPCNS_RUNTIME", "", 1);
	setenv("IPCNS_SOCKET", "", 1);
	assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.runtime, "runc");
	assert_string_equal(s.socket, "/run/ipcns/ipcnsd.sock");
	ipcns_settings_clear(&s);
}

static void test_settings_file_and_env(void **state)
{
	cleanup_free char *path = write_tmp(
		*state, "config.json",
		"{\"runtime\":\"crun\",\"socket\":\"/run/x/d.sock\",\"limits\":{}}", 0644);
	struct ipcns_settings s;
	char err[IPCNS_ERR_MAX];

	assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.runtime, "crun");
	assert_string_equal(s.socket, "/run/x/d.sock");
	ipcns_settings_clear(&s);

	setenv("IPCNS_RUNTIME", "/usr/local/bin/runc", 1);
	setenv("IPCNS_SOCKET", "/run/y.sock", 1);
	setenv("IPCNS_LISTENER_METADATA", "meta", 1);
	assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.runtime, "/usr/local/bin/runc");
	assert_string_equal(s.runtime_from, "IPCNS_RUNTIME");
	assert_string_equal(s.socket, "/run/y.sock");
	assert_string_equal(s.listener_metadata, "meta");
	ipcns_settings_clear(&s);
}

static void test_settings_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "PATH" */
	} cases[] = {
		{"{\n  \"runtime\": \"crun\",\n  \"socket\": }\n",
		 ":3:13: unexpected token near '}'"},
		{"[\"runc\"]", ": the top level is not a JSON object"},
		{"{\"runtime\": 1}", ": key \"runtime\" must be a non-empty string without NUL"},
		{"{\"runtime\": \"\"}", ": key \"runtime\" must be a non-empty string without NUL"},
		{"{\"socket\": [\"/x\"]}",
		 ": key \"socket\" must be a non-empty string without NUL"},
		{"{\"socket\": \"run/d.sock\"}",
		 ": key \"socket\": the socket run/d.sock is not an absolute path"},
		{"{\"socket\": \"/run/ipcns/0123456789012345678901234567890123456789"
		 "012345678901234567890123456789012345678901234567890123456789.sock\"}",
		 ": key \"socket\": the socket path "
		 "/run/ipcns/0123456789012345678901234567890123456789"
		 "012345678901234567890123456789012345678901234567890123456789.sock is longer than "
		 "107 bytes"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *path = write_tmp(*state, "config.json", cases[i].text, 0644);
		cleanup_free char *expected = NULL;
		struct ipcns_settings s;
		char err[IPCNS_ERR_MAX] = "";

		assert_true(asprintf(&expected, "%s%s", path, cases[i].msg) > 0);
		assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), -EINVAL);
		if (strcmp(err, expected) != 0)
			fail_msg("case %zu: got \"%s\"\nexpected \"%s\"", i, err, expected);
	}

	setenv("IPCNS_SOCKET", "ipcnsd.sock", 1);
	{
		cleanup_free char *path = write_tmp(*state, "config.json", "{}", 0644);
		struct ipcns_settings s;
		char err[IPCNS_ERR_MAX] = "";

		assert_int_equal(ipcns_settings_load(&s, path, err, sizeof(err)), -EINVAL);
		assert_string_equal(err,
				    "IPCNS_SOCKET: the socket ipcnsd.sock is not an absolute path");
	}
}

static void test_file_edit(void **state)
{
	const struct ipcns_edit edit = {.socket = SOCK};
	cleanup_free char *path =
		write_tmp(*state, "config.json",
			  "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},"
			  "\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,"
			  "\"size\":65536}]}}",
			  0640);
	cleanup_free char *first = NULL;
	cleanup_free char *second = NULL;
	cleanup_free char *ls = NULL;
	cleanup_json json_t *config = NULL;
	char err[IPCNS_ERR_MAX] = "";
	struct stat st1, st2;
	json_error_t jerr;

	assert_int_equal(ipcns_config_file_edit(path, &edit, err, sizeof(err)), 1);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0640);
	config = json_load_file(path, 0, &jerr);
	assert_non_null(config);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(config, "linux"), "seccomp"),
				    "listenerPath")),
			    SOCK);
	first = read_all(path);
	assert_true(first[strlen(first) - 1] == '\n');

	/* Already edited: not rewritten, same inode.  */
	assert_int_equal(ipcns_config_file_edit(path, &edit, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	second = read_all(path);
	assert_string_equal(first, second);

	/* No temporary file left behind.  */
	assert_true(asprintf(&ls, "test $(ls -A '%s' | wc -l) -eq 1", (char *)*state) > 0);
	assert_int_equal(system(ls), 0);
}

static void test_file_edit_refusals(void **state)
{
	const struct ipcns_edit edit = {.socket = SOCK};
	const char *other = "{\"linux\":{\"seccomp\":{\"defaultAction\":"
			    "\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/o.sock\"}}}";
	cleanup_free char *target = write_tmp(*state, "real.json", "{}", 0644);
	cleanup_free char *conflict = write_tmp(*state, "conflict.json", other, 0600);
	cleanup_free char *bad = write_tmp(*state, "bad.json", "{\"a\":\n[1,}", 0644);
	cleanup_free char *link = NULL;
	cleanup_free char *dir = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *expected = NULL;
	cleanup_free char *after = NULL;
	char err[IPCNS_ERR_MAX] = "";

	assert_true(asprintf(&link, "%s/link.json", (char *)*state) > 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(ipcns_config_file_edit(link, &edit, err, sizeof(err)), -ELOOP);
	assert_true(strncmp(err, link, strlen(link)) == 0);
	assert_non_null(strstr(err, "is a symbolic link"));

	assert_true(asprintf(&dir, "%s/dir.json", (char *)*state) > 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(ipcns_config_file_edit(dir, &edit, err, sizeof(err)), -EINVAL);
	assert_true(asprintf(&expected, "%s is not a regular file", dir) > 0);
	assert_string_equal(err, expected);
	free(steal_pointer(&expected));

	assert_true(asprintf(&missing, "%s/none/config.json", (char *)*state) > 0);
	assert_int_equal(ipcns_config_file_edit(missing, &edit, err, sizeof(err)), -ENOENT);
	assert_true(asprintf(&expected, "cannot open %s: %s", missing, strerror(ENOENT)) > 0);
	assert_string_equal(err, expected);
	free(steal_pointer(&expected));

	assert_int_equal(ipcns_config_file_edit(bad, &edit, err, sizeof(err)), -EINVAL);
	assert_true(asprintf(&expected, "%s:2:4: unexpected token near '}'", bad) > 0);
	assert_string_equal(err, expected);
	free(steal_pointer(&expected));

	assert_int_equal(ipcns_config_file_edit(conflict, &edit, err, sizeof(err)), -EEXIST);
	assert_true(asprintf(&expected,
			     "%s: config.json already sets linux.seccomp.listenerPath to /o.sock; "
			     "ipcns needs its own listener",
			     conflict) > 0);
	assert_string_equal(err, expected);
	after = read_all(conflict);
	assert_string_equal(after, other);
}

static void test_log_lines(void **state)
{
	cleanup_free char *line = NULL;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_true(ipcns_log_line("json", "ipcns-runtime: bad \"x\"", 0, &line) > 0);
	assert_string_equal(line, "{\"level\":\"error\",\"msg\":\"ipcns-runtime: bad "
				  "\\\"x\\\"\",\"time\":\"1970-01-01T00:00:00Z\"}\n");
	free(steal_pointer(&line));

	assert_true(ipcns_log_line(NULL, "a \"b\"\\\n", 86400, &line) > 0);
	assert_string_equal(
		line, "time=\"1970-01-02T00:00:00Z\" level=error msg=\"a \\\"b\\\"\\\\\\n\"\n");
	free(steal_pointer(&line));

	/* POSIX TZ: UTC-2 is two hours east.  */
	setenv("TZ", "UTC-2", 1);
	tzset();
	assert_true(ipcns_log_line("json", "m\xff", 0, &line) > 0);
	assert_string_equal(
		line,
		"{\"level\":\"error\",\"msg\":\"m?\",\"time\":\"1970-01-01T02:00:00+02:00\"}\n");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_log_append(void **state)
{
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;
	char *nl;

	assert_true(asprintf(&path, "%s/log.json", (char *)*state) > 0);
	assert_int_equal(ipcns_log_append(path, "json", "one"), 0);
	assert_int_equal(ipcns_log_append(path, "json", "two"), 0);
	text = read_all(path);
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_true(strncmp(text, "{\"level\":\"error\",\"msg\":\"one\"", 28) == 0);
	assert_true(strncmp(nl + 1, "{\"level\":\"error\",\"msg\":\"two\"", 28) == 0);
	assert_int_equal(ipcns_log_append("/nonexistent/dir/log", "json", "x"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_seccomp),
		cmocka_unit_test(test_no_linux),
		cmocka_unit_test(test_null_members),
		cmocka_unit_test(test_empty_seccomp),
		cmocka_unit_test(test_errno_profile),
		cmocka_unit_test(test_conditioned_ipc_rules),
		cmocka_unit_test(test_rules_without_ipc_untouched),
		cmocka_unit_test(test_other_listener),
		cmocka_unit_test(test_same_listener_idempotent),
		cmocka_unit_test(test_twice_equals_once),
		cmocka_unit_test(test_masked_paths),
		cmocka_unit_test(test_listener_metadata),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bad_socket),
		cmocka_unit_test(test_fragment_matches_spec),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_argv_message),
		cmocka_unit_test(test_config_path),
		cmocka_unit_test_setup_teardown(test_settings_defaults, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_settings_file_and_env, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_settings_errors, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_file_edit, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_file_edit_refusals, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_view_hook),
		cmocka_unit_test_setup_teardown(test_log_append, make_tmpdir, remove_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
