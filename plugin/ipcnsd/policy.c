/* SPDX-License-Identifier: MIT */
/* The operator's trust policy for annotations: which org.ipcns.*
 * annotations ipcnsd honours, the ceilings no annotation can raise, and
 * how a namespace name chosen by a container is scoped.  Annotations are
 * written by whoever wrote the container's configuration (on Kubernetes,
 * the pod's author): by default a name reaches only containers of the
 * same kernel IPC namespace (the same pod), and a quota annotation can
 * lower a quota, never lift it past its ceiling.  Read from the "ipcnsd"
 * object of /etc/ipcns/config.json (spec/security.md).  */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"

struct policy P = {
	.ns_name = POLICY_NS_SCOPED,
	.honour = { true, true, true, true, true },
	/* The default message quota: an annotation may lower it, and "0"
	 * (no quota) means the ceiling.  Segment pages are charged to the
	 * container's memory cgroup and objects are bounded by the kernel
	 * limits: no ceiling by default.  The budgets' ceilings are ipcnsd's
	 * --ns-mem-bytes-max and --ns-fds-max unless this file sets them
	 * (budget.c).  */
	.ceiling = { 0, 64 << 20, 0, 0, 0 },
};

static const char *const quota_keys[POLICY_NQUOTAS] = {
	"org.ipcns.shm-bytes",
	"org.ipcns.msg-bytes",
	"org.ipcns.objects-per-uid",
	"org.ipcns.mem-bytes",
	"org.ipcns.fds",
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int quota_index(const char *key)
{
	for (int i = 0; i < POLICY_NQUOTAS; i++)
		if (!strcmp(key, quota_keys[i]))
			return i;
	return -1;
}

int policy_load(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* the defaults */
		return ipcns_error(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	}
	json_t *root = json_loadf(f, 0, &jerr);
	fclose(f);
	if (!root) {
		return ipcns_error(err, errlen, -EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	}
	int ret = 0;
	json_t *d = json_object_get(root, "ipcnsd");
	const char *key;
	json_t *v;
	if (!json_is_object(root) || (d && !json_is_object(d))) {
		ret = ipcns_error(err, errlen, -EINVAL, "%s: %s is not a JSON object", path,
				  d ? "\"ipcnsd\"" : "the top level");
		goto out;
	}
	json_object_foreach(d, key, v)
	{
		if (strcmp(key, "annotations") && strcmp(key, "ceilings")) {
			ret = ipcns_error(err, errlen, -EINVAL, "%s: ipcnsd.%s: unknown key (annotations, ceilings)",
					  path, key);
			goto out;
		}
	}
	json_object_foreach(json_object_get(d, "annotations"), key, v)
	{
		const char *m = json_string_value(v);
		int q = quota_index(key);
		if (!strcmp(key, "org.ipcns.namespace") && m && !strcmp(m, "ignore")) {
			P.ns_name = POLICY_NS_IGNORE;
		} else if (!strcmp(key, "org.ipcns.namespace") && m && !strcmp(m, "scoped")) {
			P.ns_name = POLICY_NS_SCOPED;
		} else if (!strcmp(key, "org.ipcns.namespace") && m && !strcmp(m, "global")) {
			P.ns_name = POLICY_NS_GLOBAL;
		} else if (!strcmp(key, "org.ipcns.namespace")) {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.annotations.%s must be \"ignore\", \"scoped\" or \"global\"",
					  path, key);
			goto out;
		} else if (q >= 0 && m && (!strcmp(m, "ignore") || !strcmp(m, "honour"))) {
			P.honour[q] = !strcmp(m, "honour");
		} else if (q >= 0) {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.annotations.%s must be \"ignore\" or \"honour\"", path, key);
			goto out;
		} else {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.annotations.%s: unknown annotation (org.ipcns.namespace, "
					  "org.ipcns.shm-bytes, org.ipcns.msg-bytes, org.ipcns.objects-per-uid, "
					  "org.ipcns.mem-bytes, org.ipcns.fds)",
					  path, key);
			goto out;
		}
	}
	json_object_foreach(json_object_get(d, "ceilings"), key, v)
	{
		int q = quota_index(key);
		uint64_t x;
		if (q < 0 && !strncmp(key, "kernel.", 7) && strcmp(key, "kernel.shm_rmid_forced")) {
			/* A kernel limit's ceiling (spec/view.md).  */
			struct ipcns_limits c = P.sysctl;
			if (ipcns_limits_apply_sysctl(&c, key, json_string_value(v)) <= 0) {
				ret = ipcns_error(err, errlen, -EINVAL,
						  "%s: ipcnsd.ceilings.%s: not a kernel limit ipcns serves, or not a "
						  "value in its range",
						  path, key);
				goto out;
			}
			ipcns_limits_min(&P.sysctl, &c);
			continue;
		}
		if (q < 0) {
			ret = ipcns_error(
			    err, errlen, -EINVAL,
			    "%s: ipcnsd.ceilings.%s: unknown quota (org.ipcns.shm-bytes, org.ipcns.msg-bytes, "
			    "org.ipcns.objects-per-uid, org.ipcns.mem-bytes, org.ipcns.fds, or a kernel limit: "
			    "kernel.shmmax, kernel.shmall, kernel.shmmni, kernel.sem, kernel.msgmax, kernel.msgmnb, "
			    "kernel.msgmni)",
			    path, key);
			goto out;
		}
		if (parse_u64(json_string_value(v), &x) < 0 || ((q == 2 || q == POLICY_FDS) && x > UINT32_MAX)) {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.ceilings.%s must be a decimal string (\"0\": none)", path, key);
			goto out;
		}
		P.ceiling[q] = x;
		P.ceiling_set[q] = true;
	}
out:
	json_decref(root);
	return ret;
}

/* What quota q becomes: an ignored annotation leaves the default; a
 * ceiling caps the value, and "no quota" (0) under a ceiling is the
 * ceiling.  */
static uint64_t capped(int q, uint64_t v, uint64_t dflt, bool annotated)
{
	if (!annotated || !P.honour[q])
		v = dflt;
	if (P.ceiling[q] && (v == 0 || v > P.ceiling[q]))
		v = P.ceiling[q];
	return v;
}

int policy_limits(json_t *state, struct ipcns_limits *l, char *err, size_t errlen)
{
	struct ipcns_limits dflt;
	int ret = ipcns_limits_from_state(state, l, err, errlen);
	if (ret < 0)
		return ret;
	ipcns_limits_default(&dflt);
	json_t *ann = json_object_get(state, "annotations");
	bool has[POLICY_NQUOTAS];
	for (int q = 0; q < POLICY_NQUOTAS; q++)
		has[q] = json_object_get(ann, quota_keys[q]) != NULL;
	l->quota_shm_bytes = capped(0, l->quota_shm_bytes, dflt.quota_shm_bytes, has[0]);
	l->quota_msg_bytes = capped(1, l->quota_msg_bytes, dflt.quota_msg_bytes, has[1]);
	l->quota_objects_per_uid =
		(uint32_t)capped(2, l->quota_objects_per_uid, dflt.quota_objects_per_uid, has[2]);
	/* The budgets: the operator's defaults (budget.c), and "0" never
	 * means none for a container, ceiling or not.  */
	if (has[POLICY_MEM] && l->quota_mem_bytes == 0 && !P.ceiling[POLICY_MEM])
		has[POLICY_MEM] = false;
	if (has[POLICY_FDS] && l->quota_fds == 0 && !P.ceiling[POLICY_FDS])
		has[POLICY_FDS] = false;
	l->quota_mem_bytes = capped(POLICY_MEM, l->quota_mem_bytes, B.mem_default, has[POLICY_MEM]);
	l->quota_fds = (uint32_t)capped(POLICY_FDS, l->quota_fds, B.fds_default, has[POLICY_FDS]);
	/* A namespace lives with no fewer fds than its own and a few notify
	 * fds.  */
	if (l->quota_fds && l->quota_fds < BUDGET_MIN_FDS)
		l->quota_fds = BUDGET_MIN_FDS;
	return 0;
}

int policy_ns_key(const char *name, ino_t ino, char *key, size_t keylen)
{
	if (!name || !*name || P.ns_name == POLICY_NS_IGNORE)
		return snprintf(key, keylen, "ipc:%llu", (unsigned long long)ino);
	if (P.ns_name == POLICY_NS_SCOPED)
		return snprintf(key, keylen, "name:%llu/%.250s", (unsigned long long)ino, name);
	return snprintf(key, keylen, "name:%.250s", name);
}
