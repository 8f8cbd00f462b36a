/* SPDX-License-Identifier: MIT */
/* A namespace's limits from an OCI container's config and annotations:
 * Linux's defaults, then linux.sysctl (kernel.shm*, kernel.sem,
 * kernel.msg*), then ipcns's own quotas (spec/annotations.md).  Shared by
 * ipcnsd (the state a runtime sends to the listener) and the crun plugin
 * (the config crun keeps in its state directory).  */
#ifndef IPCNS_OCI_LIMITS_H
#define IPCNS_OCI_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* ---- The operator's trust policy for annotations: which org.ipcns.*
 * annotations are honoured, the ceilings no annotation (and no
 * linux.sysctl) can raise, how a namespace name a container chooses is
 * scoped.  The "ipcnsd" object of /etc/ipcns/config.json
 * (spec/security.md, "Operator configuration"), applied alike by ipcnsd
 * and the crun plugin: annotations are written by whoever wrote the
 * container's config, on Kubernetes the pod's author.  */
#define IPCNS_POLICY_PATH "/etc/ipcns/config.json"
/* shm-bytes, msg-bytes, objects-per-uid, mem-bytes, fds */
#define IPCNS_POLICY_NQUOTAS 5
#define IPCNS_POLICY_MEM 3
#define IPCNS_POLICY_FDS 4
/* Fewest fds a namespace can live with: its own and a few notify fds.  */
#define IPCNS_POLICY_MIN_FDS 16
enum ipcns_policy_ns { IPCNS_POLICY_NS_IGNORE, IPCNS_POLICY_NS_SCOPED, IPCNS_POLICY_NS_GLOBAL };
struct ipcns_policy {
	enum ipcns_policy_ns ns_name; /* org.ipcns.namespace */
	bool honour[IPCNS_POLICY_NQUOTAS];
	uint64_t ceiling[IPCNS_POLICY_NQUOTAS]; /* 0: none */
	bool ceiling_set[IPCNS_POLICY_NQUOTAS]; /* by the file */
	/* The largest values of the kernel limits a container may set
	 * (linux.sysctl or a write of /proc/sys/kernel/...).  */
	struct ipcns_limits sysctl;
};
/* The defaults, as with no file: names scoped, every quota annotation
 * honoured, msg-bytes' ceiling 64 MiB, no other ceiling.  */
void ipcns_policy_init(struct ipcns_policy *p);
/* Read the "ipcnsd" object of PATH on top of p (no file: p unchanged):
 * 0, or -errno with a message naming the file and key.  */
int ipcns_policy_load(struct ipcns_policy *p, const char *path, char *err, size_t errlen);
/* A new namespace's quotas and budgets, l as the config and ANNOTATIONS
 * gave them, as the policy lets those annotations set them: an ignored
 * annotation gives the default (MEM_DEFAULT and FDS_DEFAULT for the
 * budgets), a ceiling caps, and "0" (none) is the ceiling (for the
 * budgets, the default where there is no ceiling: never unbounded).  */
void ipcns_policy_apply(const struct ipcns_policy *p, json_t *annotations, uint64_t mem_default,
			uint32_t fds_default, struct ipcns_limits *l);
/* The registry key of the namespace a container names (NULL: none) from
 * kernel IPC namespace ino.  */
int ipcns_policy_ns_key(const struct ipcns_policy *p, const char *name, ino_t ino, char *key, size_t keylen);

#endif
