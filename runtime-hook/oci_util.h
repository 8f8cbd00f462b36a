/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Helpers of the OCI side (ipcns-runtime, ipcns-hook), on top of the shared
 * plugin/lib/ipc/util.h: a cleanup attribute for jansson values and the error
 * message convention.  Every function of runtime-hook/ returns 0 or a
 * positive value on success and -errno on failure; on failure it also writes
 * one line of text, without a trailing newline, into the caller's ERR buffer
 * of ERRLEN bytes.  */
#ifndef IPCNS_OCI_UTIL_H
#define IPCNS_OCI_UTIL_H

#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

/* Enough for a message that quotes two paths of PATH_MAX.  */
#define IPCNS_ERR_MAX 8192

static inline void cleanup_json_decrefp(json_t **json)
{
	json_decref(*json);
}
#define cleanup_json __attribute__((cleanup(cleanup_json_decrefp)))

#endif
