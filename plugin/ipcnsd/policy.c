/* SPDX-License-Identifier: MIT */
/* The operator's trust policy for annotations, as ipcnsd applies it: the
 * policy itself (which org.ipcns.* annotations are honoured, the ceilings
 * no annotation can raise, how a namespace name is scoped) is the shared
 * one of plugin/lib/notify/oci_limits.c, which the crun plugin applies
 * too; here it meets ipcnsd's own budgets (budget.c).  By default a name
 * reaches only containers of the same kernel IPC namespace (the same
 * pod), and a quota annotation can lower a quota, never lift it past its
 * ceiling (spec/security.md).  */
#include "daemon.h"

struct ipcns_policy P;

int policy_load(const char *path, char *err, size_t errlen)
{
	return ipcns_policy_load(&P, path, err, errlen);
}

int policy_limits(json_t *state, struct ipcns_limits *l, char *err, size_t errlen)
{
	int ret = ipcns_limits_from_state(state, l, err, errlen);
	if (ret < 0)
		return ret;
	ipcns_policy_apply(&P, json_object_get(state, "annotations"), B.mem_default, B.fds_default, l);
	return 0;
}

int policy_ns_key(const char *name, ino_t ino, char *key, size_t keylen)
{
	return ipcns_policy_ns_key(&P, name, ino, key, keylen);
}
