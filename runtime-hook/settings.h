/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Where ipcns-runtime and ipcns-hook find the real runtime and ipcnsd's
 * socket: the environment, then /etc/ipcns/config.json, then defaults.  */
#ifndef IPCNS_RUNTIME_HOOK_SETTINGS_H
#define IPCNS_RUNTIME_HOOK_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#define IPCNS_SETTINGS_PATH "/etc/ipcns/config.json"
#define IPCNS_DEFAULT_RUNTIME "runc"
#define IPCNS_DEFAULT_SOCKET "/run/ipcns/ipcnsd.sock"

struct ipcns_settings {
	char *runtime;		 /* a name looked up in PATH, or a path */
	char *socket;		 /* absolute path of ipcnsd's socket */
	char *listener_metadata; /* IPCNS_LISTENER_METADATA, or NULL */
	/* Where runtime and socket came from, for error messages.  */
	const char *runtime_from;
	const char *socket_from;
};

/* Fill *S from IPCNS_RUNTIME, IPCNS_SOCKET, IPCNS_LISTENER_METADATA and the
 * file PATH (normally IPCNS_SETTINGS_PATH; a missing file means defaults).
 * Returns 0, or -EINVAL for a malformed file or value (the message names the
 * file, line and column, or the key or variable), -errno when the file cannot
 * be read, -ENOMEM.  */
int ipcns_settings_load(struct ipcns_settings *s, const char *path, char *err, size_t errlen);

void ipcns_settings_clear(struct ipcns_settings *s);

/* ---- The view from inside (spec/view.md).  */
#define IPCNS_FUSE_SUPER_MAGIC 0x65735546
/* ipcnsd's view directory for its socket: ".sock" replaced by ".view"
 * (or ".view" added).  */
void ipcns_view_dir(const char *socket, char *out, size_t size);
/* A FUSE file system is mounted at dir and answers within
 * IPCNS_VIEW_CHECK_MS: ipcnsd serves it.  */
#define IPCNS_VIEW_CHECK_MS 1000
bool ipcns_view_live(const char *dir);
/* fn(arg) in a child process, killed after timeout_ms: 0 when it returned
 * 0, -ETIMEDOUT, -EIO, -errno.  For file system calls that may wait on a
 * FUSE server.  */
int ipcns_run_bounded(int (*fn)(void *), void *arg, int timeout_ms);
/* ipcns-hook beside the running program: 0 and its path, or -errno.  */
int ipcns_view_hook_path(char *out, size_t size);

#endif
