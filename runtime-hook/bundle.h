/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Editing a bundle's config.json in place, safely against a crash or a
 * concurrent reader: write a temporary file in the same directory, fsync,
 * rename over the original.  */
#ifndef IPCNS_RUNTIME_HOOK_BUNDLE_H
#define IPCNS_RUNTIME_HOOK_BUNDLE_H

#include <stddef.h>

#include "config_edit.h"

/* Apply ipcns_config_edit() to the file PATH.  Returns 1 when the file was
 * rewritten, 0 when it already had the edit (it is not touched), or -errno:
 * -ELOOP for a symbolic link, -EINVAL for a file that is not a regular file
 * or not valid JSON (the message gives line and column) or that the edit
 * refuses; every message starts with PATH.  The rewritten file keeps the
 * original's mode and, where permitted, its owner.  */
int ipcns_config_file_edit(const char *path, const struct ipcns_edit *edit, char *err,
			   size_t errlen);

#endif
