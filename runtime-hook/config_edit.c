/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The config.json edit: one SCMP_ACT_NOTIFY rule for the System V IPC system
 * calls, those names taken out of every other rule, the listener socket, and
 * /proc/sysvipc masked, or, when ipcnsd serves it, the hook that mounts the
 * view from inside (spec/view.md).  spec/architecture.md "Data flow" step 1, spec/runtime.md.  */
#include <errno.h>
#include <string.h>

#include "config_edit.h"
#include "oci_util.h"

const char *const ipcns_ipc_syscalls[IPCNS_N_IPC_SYSCALLS] = {
	"shmget",
	"shmat",
	"shmdt",
	"shmctl",
	"semget",
	"semop",
	"semtimedop",
	/* i386's and arm's semtimedop with a 64-bit timespec (420); the
	 * 32-bit one is ipc(SEMTIMEDOP).  */
	"semtimedop_time64",
	"semctl",
	"msgget",
	"msgsnd",
	"msgrcv",
	"msgctl",
	/* Trapped so that one over a removed segment's last attach fails as
	 * natively; any other is let through (spec/ipcnsd.md).  */
	"remap_file_pages",
	/* The multiplexer of i386, s390x, ppc64 and others.  runc and crun
	 * skip a name the filter's architectures do not have, so one rule
	 * serves every architecture.  */
	"ipc",
};

/* The native architecture and those the kernel also runs beside it, as
 * OCI seccomp names them (Docker's default profile lists the same).  */
static const char *const IPCNS_COMPAT_ARCHES[] = {
#if defined(__x86_64__)
	"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
#elif defined(__aarch64__)
	"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
#elif defined(__s390x__)
	"SCMP_ARCH_S390X", "SCMP_ARCH_S390",
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	"SCMP_ARCH_PPC64LE",
#endif
	NULL,
};

bool ipcns_is_ipc_syscall(const char *name)
{
	size_t i;

	for (i = 0; i < IPCNS_N_IPC_SYSCALLS; i++)
		if (strcmp(name, ipcns_ipc_syscalls[i]) == 0)
			return true;
	return false;
}

json_t *ipcns_notify_rule_new(void)
{
	cleanup_json json_t *names = json_array();
	size_t i;

	if (names == NULL)
		return NULL;
	for (i = 0; i < IPCNS_N_IPC_SYSCALLS; i++)
		if (json_array_append_new(names, json_string(ipcns_ipc_syscalls[i])) < 0)
			return NULL;
	return json_pack("{s:o,s:s}", "names", steal_pointer(&names), "action", "SCMP_ACT_NOTIFY");
}

/* Go's encoding/json, which runc uses, decodes null as an absent member;
 * crun's parser does the same.  Treat them alike.  */
static json_t *member(json_t *object, const char *key)
{
	json_t *value = json_object_get(object, key);

	return json_is_null(value) ? NULL : value;
}

/* Strings may hold NUL bytes (the files are read with JSON_ALLOW_NUL).  */
static bool string_is(json_t *value, const char *s)
{
	size_t len = strlen(s);

	return json_is_string(value) && json_string_length(value) == len &&
	       memcmp(json_string_value(value), s, len) == 0;
}

static bool is_ipc_name(json_t *value)
{
	return json_is_string(value) &&
	       strlen(json_string_value(value)) == json_string_length(value) &&
	       ipcns_is_ipc_syscall(json_string_value(value));
}

static int check_rules(json_t *rules, char *err, size_t errlen)
{
	json_t *rule, *names, *action, *name;
	size_t i, j;
	bool notify;

	if (rules == NULL)
		return 0;
	if (!json_is_array(rules))
		return ipcns_error(err, errlen, -EINVAL, "linux.seccomp.syscalls is not an array");
	json_array_foreach (rules, i, rule) {
		if (!json_is_object(rule))
			return ipcns_error(err, errlen, -EINVAL,
					   "linux.seccomp.syscalls[%zu] is not an object", i);
		names = member(rule, "names");
		if (names != NULL && !json_is_array(names))
			return ipcns_error(err, errlen, -EINVAL,
					   "linux.seccomp.syscalls[%zu].names is not an array", i);
		action = member(rule, "action");
		if (action != NULL && !json_is_string(action))
			return ipcns_error(err, errlen, -EINVAL,
					   "linux.seccomp.syscalls[%zu].action is not a string", i);
		notify = string_is(action, "SCMP_ACT_NOTIFY");
		json_array_foreach (names, j, name) {
			if (!json_is_string(name))
				return ipcns_error(
					err, errlen, -EINVAL,
					"linux.seccomp.syscalls[%zu].names[%zu] is not a string", i,
					j);
			/* The one listener is ipcnsd; it would have to
			 * answer a call it knows nothing about.  */
			if (notify && !is_ipc_name(name))
				return ipcns_error(err, errlen, -EINVAL,
						   "linux.seccomp.syscalls[%zu] sends %s to the "
						   "seccomp listener; ipcnsd serves only the "
						   "System V IPC system calls",
						   i, json_string_value(name));
		}
	}
	return 0;
}

static int check_seccomp(json_t *seccomp, const struct ipcns_edit *edit, char *err, size_t errlen)
{
	json_t *value, *rules;
	int ret;

	if (seccomp == NULL)
		return 0;
	if (!json_is_object(seccomp))
		return ipcns_error(err, errlen, -EINVAL, "linux.seccomp is not an object");

	value = member(seccomp, "listenerPath");
	if (value != NULL && !json_is_string(value))
		return ipcns_error(err, errlen, -EINVAL,
				   "linux.seccomp.listenerPath is not a string");
	/* A filter has one listener; the runtime sends the notify fd to
	 * exactly one socket.  */
	if (value != NULL && !string_is(value, edit->socket))
		return ipcns_error(err, errlen, -EEXIST,
				   "config.json already sets linux.seccomp.listenerPath to %s; "
				   "ipcns needs its own listener",
				   json_string_value(value));

	value = member(seccomp, "listenerMetadata");
	if (value != NULL && !json_is_string(value))
		return ipcns_error(err, errlen, -EINVAL,
				   "linux.seccomp.listenerMetadata is not a string");

	value = member(seccomp, "defaultAction");
	if (value != NULL && !json_is_string(value))
		return ipcns_error(err, errlen, -EINVAL,
				   "linux.seccomp.defaultAction is not a string");
	if (string_is(value, "SCMP_ACT_NOTIFY"))
		return ipcns_error(
			err, errlen, -EINVAL,
			"linux.seccomp.defaultAction is SCMP_ACT_NOTIFY; ipcnsd serves only the "
			"System V IPC system calls, not every call without a rule");

	rules = member(seccomp, "syscalls");
	ret = check_rules(rules, err, errlen);
	if (ret < 0)
		return ret;

	/* runc reads a section with neither as "no seccomp" and gets a
	 * default action of ALLOW from us; with rules it would have failed
	 * anyway, so do not guess one.  */
	if (value == NULL && json_array_size(rules) > 0)
		return ipcns_error(err, errlen, -EINVAL,
				   "linux.seccomp has syscalls but no defaultAction");
	return 0;
}

static int check_masked_paths(json_t *masked, char *err, size_t errlen)
{
	json_t *path;
	size_t i;

	if (masked == NULL)
		return 0;
	if (!json_is_array(masked))
		return ipcns_error(err, errlen, -EINVAL, "linux.maskedPaths is not an array");
	json_array_foreach (masked, i, path)
		if (!json_is_string(path))
			return ipcns_error(err, errlen, -EINVAL,
					   "linux.maskedPaths[%zu] is not a string", i);
	return 0;
}

/* A copy of RULE without the IPC names, RULE itself when it has none, or
 * NULL in *OUT when it had only IPC names.  libseccomp refuses two actions
 * for one system call, and conditions (`args') on an IPC call cannot be
 * kept either: the notify rule takes every call, ipcnsd decides.  */
static int strip_rule(json_t *rule, json_t **out)
{
	cleanup_json json_t *kept = NULL;
	cleanup_json json_t *copy = NULL;
	json_t *names = member(rule, "names");
	json_t *name;
	size_t i, n_ipc = 0;

	*out = NULL;
	json_array_foreach (names, i, name)
		if (is_ipc_name(name))
			n_ipc++;
	if (n_ipc == 0) {
		*out = json_incref(rule);
		return 0;
	}
	if (n_ipc == json_array_size(names))
		return 0;

	kept = json_array();
	copy = json_copy(rule);
	if (kept == NULL || copy == NULL)
		return -ENOMEM;
	json_array_foreach (names, i, name)
		if (!is_ipc_name(name) && json_array_append(kept, name) < 0)
			return -ENOMEM;
	if (json_object_set(copy, "names", kept) < 0)
		return -ENOMEM;
	*out = steal_pointer(&copy);
	return 0;
}

static json_t *new_rules(json_t *old)
{
	cleanup_json json_t *rules = json_array();
	json_t *rule;
	size_t i;

	if (rules == NULL)
		return NULL;
	json_array_foreach (old, i, rule) {
		json_t *kept;

		if (strip_rule(rule, &kept) < 0)
			return NULL;
		if (kept != NULL && json_array_append_new(rules, kept) < 0)
			return NULL;
	}
	/* Last, so that an edited config ends with the same rule whether it
	 * was edited once or twice.  */
	if (json_array_append_new(rules, ipcns_notify_rule_new()) < 0)
		return NULL;
	return steal_pointer(&rules);
}

static json_t *new_masked_paths(json_t *old, bool served)
{
	cleanup_json json_t *masked = NULL;
	json_t *path;
	size_t i;

	if (served) {
		/* Served: not masked, or runc's mask (applied after the
		 * hooks) would hide it.  */
		masked = json_array();
		if (masked == NULL)
			return NULL;
		json_array_foreach (old, i, path)
			if (!string_is(path, IPCNS_MASKED_SYSVIPC) && json_array_append(masked, path) < 0)
				return NULL;
		return steal_pointer(&masked);
	}
	json_array_foreach (old, i, path)
		if (string_is(path, IPCNS_MASKED_SYSVIPC))
			return json_incref(old);

	masked = old != NULL ? json_copy(old) : json_array();
	if (masked == NULL || json_array_append_new(masked, json_string(IPCNS_MASKED_SYSVIPC)) < 0)
		return NULL;
	return steal_pointer(&masked);
}

/* hooks.createContainer with the view hook last (once).  */
static int add_view_hook(json_t *lnx_config, const struct ipcns_edit *edit, json_t **hooks_out, char *err,
			 size_t errlen)
{
	json_t *old_hooks = member(lnx_config, "hooks");
	cleanup_json json_t *hooks = NULL;
	cleanup_json json_t *list = NULL;
	cleanup_json json_t *hook = NULL;
	json_t *h;
	size_t i;

	*hooks_out = NULL;
	if (old_hooks != NULL && !json_is_object(old_hooks))
		return ipcns_error(err, errlen, -EINVAL, "hooks is not an object");
	json_t *old_list = member(old_hooks, "createContainer");
	if (old_list != NULL && !json_is_array(old_list))
		return ipcns_error(err, errlen, -EINVAL, "hooks.createContainer is not an array");
	hook = json_pack("{s:s,s:[s,s,s,s]}", "path", edit->view_hook, "args", "ipcns-hook", "mount", "--view",
			 edit->view_dir);
	if (hook == NULL)
		return ipcns_error(err, errlen, -EINVAL, "the view hook's path or directory is not valid UTF-8");
	json_array_foreach (old_list, i, h)
		if (json_equal(h, hook))
			return 0;
	hooks = old_hooks != NULL ? json_copy(old_hooks) : json_object();
	list = old_list != NULL ? json_copy(old_list) : json_array();
	if (hooks == NULL || list == NULL || json_array_append(list, hook) < 0 ||
	    json_object_set(hooks, "createContainer", list) < 0)
		return ipcns_error(err, errlen, -ENOMEM, "out of memory editing the config");
	*hooks_out = steal_pointer(&hooks);
	return 0;
}

int ipcns_config_edit(json_t *config, const struct ipcns_edit *edit, char *err, size_t errlen)
{
	cleanup_json json_t *hooks = NULL;
	cleanup_json json_t *socket = NULL;
	cleanup_json json_t *metadata = NULL;
	cleanup_json json_t *lnx = NULL;
	cleanup_json json_t *seccomp = NULL;
	json_t *old_linux, *old_seccomp, *old_masked;
	int ret;

	/* `linux' is a predefined macro in GNU C, hence `lnx'.  */
	if (edit->socket == NULL || edit->socket[0] != '/')
		return ipcns_error(err, errlen, -EINVAL,
				   "the listener socket must be an absolute path");
	socket = json_string(edit->socket);
	if (socket == NULL)
		return ipcns_error(err, errlen, -EINVAL,
				   "the listener socket %s is not valid UTF-8", edit->socket);
	if (edit->listener_metadata != NULL) {
		metadata = json_string(edit->listener_metadata);
		if (metadata == NULL)
			return ipcns_error(err, errlen, -EINVAL,
					   "the listener metadata is not valid UTF-8");
	}
	if (!json_is_object(config))
		return ipcns_error(err, errlen, -EINVAL, "the config is not a JSON object");
	old_linux = member(config, "linux");
	if (old_linux != NULL && !json_is_object(old_linux))
		return ipcns_error(err, errlen, -EINVAL, "linux is not an object");
	old_seccomp = member(old_linux, "seccomp");
	old_masked = member(old_linux, "maskedPaths");

	ret = check_seccomp(old_seccomp, edit, err, errlen);
	if (ret < 0)
		return ret;
	ret = check_masked_paths(old_masked, err, errlen);
	if (ret < 0)
		return ret;
	bool served = edit->view_hook != NULL && edit->view_dir != NULL;
	if (served) {
		ret = add_view_hook(config, edit, &hooks, err, errlen);
		if (ret < 0)
			return ret;
	}

	/* Build new `linux' and `linux.seccomp' objects (shallow copies) and
	 * swap them in with one call, so a failure leaves CONFIG as it was.  */
	lnx = old_linux != NULL ? json_copy(old_linux) : json_object();
	seccomp = old_seccomp != NULL ? json_copy(old_seccomp) : json_object();
	if (lnx == NULL || seccomp == NULL)
		goto nomem;

	if (member(seccomp, "defaultAction") == NULL) {
		if (json_object_set_new(seccomp, "defaultAction", json_string("SCMP_ACT_ALLOW")) < 0)
			goto nomem;
		/* A filter for the native architecture alone kills a process
		 * of another one (an i386 program on x86_64) at its first
		 * system call, where the container without our filter runs
		 * it: the architectures the kernel runs here are listed, so
		 * their System V IPC calls are trapped too (and refused:
		 * spec/compatibility.md) and everything else works.  */
		if (member(seccomp, "architectures") == NULL && IPCNS_COMPAT_ARCHES[0] != NULL) {
			json_t *arches = json_array();
			for (size_t i = 0; arches && IPCNS_COMPAT_ARCHES[i]; i++)
				json_array_append_new(arches, json_string(IPCNS_COMPAT_ARCHES[i]));
			if (json_object_set_new(seccomp, "architectures", arches) < 0)
				goto nomem;
		}
	}
	if (json_object_set_new(seccomp, "syscalls", new_rules(member(old_seccomp, "syscalls"))) <
	    0)
		goto nomem;
	if (json_object_set(seccomp, "listenerPath", socket) < 0)
		goto nomem;
	if (metadata != NULL && member(seccomp, "listenerMetadata") == NULL &&
	    json_object_set(seccomp, "listenerMetadata", metadata) < 0)
		goto nomem;

	if (json_object_set_new(lnx, "maskedPaths", new_masked_paths(old_masked, served)) < 0)
		goto nomem;
	if (json_object_set(lnx, "seccomp", seccomp) < 0)
		goto nomem;
	if (json_object_set(config, "linux", lnx) < 0)
		goto nomem;
	if (hooks != NULL && json_object_set(config, "hooks", hooks) < 0)
		goto nomem;
	return 0;

nomem:
	return ipcns_error(err, errlen, -ENOMEM, "out of memory editing the config");
}
