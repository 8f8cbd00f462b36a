/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The edit of an OCI runtime config (config.json) that routes the System V
 * IPC system calls of a container to ipcnsd.  Pure: it works on a parsed
 * json_t and touches no file, so ipcns-runtime (a bundle's config.json) and
 * ipcns-hook (a config on stdin) share it.  See spec/runtime.md.  */
#ifndef IPCNS_RUNTIME_HOOK_CONFIG_EDIT_H
#define IPCNS_RUNTIME_HOOK_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The names of the notify rule, in its order (runtime-hook/seccomp-ipcns.json).  */
#define IPCNS_N_IPC_SYSCALLS 15
extern const char *const ipcns_ipc_syscalls[IPCNS_N_IPC_SYSCALLS];

#define IPCNS_MASKED_SYSVIPC "/proc/sysvipc"

struct ipcns_edit {
	/* linux.seccomp.listenerPath: ipcnsd's socket, an absolute path.  */
	const char *socket;
	/* linux.seccomp.listenerMetadata when the config has none, or NULL.  */
	const char *listener_metadata;
	/* ipcnsd serves the view from inside (spec/view.md) at view_dir:
	 * a createContainer hook `view_hook mount --view VIEW_DIR' binds it
	 * over the container's /proc/sysvipc and IPC sysctls, and
	 * /proc/sysvipc is not masked (runc masks after the hooks).  NULL:
	 * /proc/sysvipc is masked.  */
	const char *view_hook;
	const char *view_dir;
};

bool ipcns_is_ipc_syscall(const char *name);

/* A new reference to {"names": [the IPC syscalls], "action":
 * "SCMP_ACT_NOTIFY"}, or NULL when out of memory.  */
json_t *ipcns_notify_rule_new(void);

/* Edit CONFIG, a whole config.json, in place.  Returns 0, or -EINVAL when
 * the config has the wrong shape (the message names the key), -EEXIST when
 * it already has another seccomp listener, -ENOMEM.  On failure CONFIG is
 * left unchanged.  Applying the edit to its own result changes nothing.  */
int ipcns_config_edit(json_t *config, const struct ipcns_edit *edit, char *err, size_t errlen);

#endif
