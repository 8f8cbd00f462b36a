/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Errors in the runtime's --log file, in the format runc writes there, so that
 * containerd, CRI-O and conmon show them as they show runc's own.  */
#ifndef IPCNS_RUNTIME_HOOK_LOG_H
#define IPCNS_RUNTIME_HOOK_LOG_H

#include <stddef.h>
#include <time.h>

/* Format one error line, with its newline, into a new malloc'd string in
 * *LINE.  FORMAT is the --log-format value: "json" gives logrus's JSON
 * formatter ({"level":"error","msg":...,"time":...}), anything else its text
 * formatter (time="..." level=error msg="...").  The time is RFC 3339 in
 * local time, as logrus writes it.  Returns the length, or -ENOMEM.  */
int ipcns_log_line(const char *format, const char *msg, time_t when, char **line);

/* Append the error MSG to the log file PATH.  Returns 0 or -errno.  */
int ipcns_log_append(const char *path, const char *format, const char *msg);

#endif
