/* SPDX-License-Identifier: MIT */
/* A namespace's limits from an OCI container's config and annotations:
 * Linux's defaults, then linux.sysctl (kernel.shm*, kernel.sem,
 * kernel.msg*), then ipcns's own quotas (spec/annotations.md).  Shared by
 * ipcnsd (the state a runtime sends to the listener) and the crun plugin
 * (the config crun keeps in its state directory).  */
#ifndef IPCNS_OCI_LIMITS_H
#define IPCNS_OCI_LIMITS_H

#include <jansson.h>
#include <stddef.h>

#include "ipcns/ipcns.h"

/* Apply CONFIG's linux.sysctl, then ANNOTATIONS (an object of strings, or
 * NULL), on top of Linux's defaults.  ORIGIN names the config in messages.
 * 0, or -EINVAL/-ERANGE with a message naming the key.  */
int ipcns_limits_from_config(json_t *config, json_t *annotations, const char *origin, struct ipcns_limits *l,
			     char *err, size_t errlen);

/* Apply one sysctl ("kernel.shmmax", "4096") to l: 1 if it was an IPC
 * one, 0 if not ours, -EINVAL or -ERANGE.  */
int ipcns_limits_apply_sysctl(struct ipcns_limits *l, const char *key, const char *val);

/* The same for a runtime's state message: the config is read from
 * STATE.bundle/config.json (none when there is no bundle), the annotations
 * are STATE.annotations.  */
int ipcns_limits_from_state(json_t *state, struct ipcns_limits *l, char *err, size_t errlen);

#endif
