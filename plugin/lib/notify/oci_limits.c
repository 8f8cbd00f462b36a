/* SPDX-License-Identifier: MIT */
/* A namespace's limits: Linux's defaults, then the OCI config's
 * linux.sysctl (kernel.shm*, kernel.sem, kernel.msg*), then ipcns's own
 * quotas from annotations (spec/annotations.md).  Pure: no namespace, no
 * seccomp; ipcnsd and the crun plugin share it.  */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_limits.h"
#include "util.h"

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '-')
		return -ERANGE;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (errno || *end || end == s)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int ipcns_limits_apply_sysctl(struct ipcns_limits *l, const char *key, const char *val)
{
	uint64_t v;
	int ret;
	if (!strcmp(key, "kernel.shmmax")) {
		ret = parse_u64(val, UINT64_MAX, &v);
		if (!ret)
			l->shmmax = v;
	} else if (!strcmp(key, "kernel.shmall")) {
		ret = parse_u64(val, UINT64_MAX, &v);
		if (!ret)
			l->shmall = v;
	} else if (!strcmp(key, "kernel.shmmni")) {
		ret = parse_u64(val, IPCNS_IPCMNI, &v);
		if (!ret)
			l->shmmni = (uint32_t)v;
	} else if (!strcmp(key, "kernel.shm_rmid_forced")) {
		ret = parse_u64(val, 1, &v);
		if (!ret)
			l->shm_rmid_forced = (int)v;
	} else if (!strcmp(key, "kernel.msgmax")) {
		ret = parse_u64(val, INT_MAX, &v);
		if (!ret)
			l->msgmax = (uint32_t)v;
	} else if (!strcmp(key, "kernel.msgmnb")) {
		ret = parse_u64(val, INT_MAX, &v);
		if (!ret)
			l->msgmnb = (uint32_t)v;
	} else if (!strcmp(key, "kernel.msgmni")) {
		ret = parse_u64(val, IPCNS_IPCMNI, &v);
		if (!ret)
			l->msgmni = (uint32_t)v;
	} else if (!strcmp(key, "kernel.sem")) {
		/* "SEMMSL SEMMNS SEMOPM SEMMNI", as /proc/sys/kernel/sem,
		 * which also takes fewer values and keeps the others.  */
		long long a[4] = { l->semmsl, l->semmns, l->semopm, l->semmni };
		char extra;
		int n = val ? sscanf(val, "%lld %lld %lld %lld %c", &a[0], &a[1], &a[2], &a[3], &extra) : 0;
		if (n < 1 || n > 4)
			return -EINVAL;
		for (int i = 0; i < 4; i++)
			if (a[i] < 0 || a[i] > INT_MAX)
				return -ERANGE;
		if (a[3] > IPCNS_IPCMNI)
			return -ERANGE;
		l->semmsl = (int)a[0];
		l->semmns = (int)a[1];
		l->semopm = (int)a[2];
		l->semmni = (int)a[3];
		return 1;
	} else {
		return 0;
	}
	return ret < 0 ? ret : 1;
}

static int apply_annotation(struct ipcns_limits *l, const char *key, const char *val)
{
	uint64_t v;
	int ret;
	if (!strcmp(key, "org.ipcns.shm-bytes")) {
		ret = parse_u64(val, UINT64_MAX, &v);
		if (!ret)
			l->quota_shm_bytes = v;
	} else if (!strcmp(key, "org.ipcns.msg-bytes")) {
		ret = parse_u64(val, UINT64_MAX, &v);
		if (!ret)
			l->quota_msg_bytes = v;
	} else if (!strcmp(key, "org.ipcns.objects-per-uid")) {
		ret = parse_u64(val, UINT32_MAX, &v);
		if (!ret)
			l->quota_objects_per_uid = (uint32_t)v;
	} else if (!strcmp(key, "org.ipcns.mem-bytes")) {
		ret = parse_u64(val, UINT64_MAX, &v);
		if (!ret)
			l->quota_mem_bytes = v;
	} else if (!strcmp(key, "org.ipcns.fds")) {
		ret = parse_u64(val, UINT32_MAX, &v);
		if (!ret)
			l->quota_fds = (uint32_t)v;
	} else {
		return 0;
	}
	return ret < 0 ? ret : 1;
}

int ipcns_limits_from_config(json_t *config, json_t *annotations, const char *origin, struct ipcns_limits *l,
			     char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int ret;

	ipcns_limits_default(l);
	json_object_foreach(json_object_get(json_object_get(config, "linux"), "sysctl"), key, v)
	{
		ret = ipcns_limits_apply_sysctl(l, key, json_string_value(v));
		if (ret < 0) {
			return ipcns_error(err, errlen, ret, "%s: linux.sysctl %s = \"%s\": %s", origin, key,
					   json_string_value(v) ? json_string_value(v) : "(not a string)",
					   ret == -ERANGE ? "out of range" : "not a valid value");
		}
	}
	json_object_foreach(annotations, key, v)
	{
		ret = apply_annotation(l, key, json_string_value(v));
		if (ret < 0) {
			return ipcns_error(err, errlen, ret, "annotation %s = \"%s\": %s", key,
					   json_string_value(v) ? json_string_value(v) : "(not a string)",
					   ret == -ERANGE ? "out of range" : "not a number");
		}
	}
	return 0;
}

int ipcns_limits_from_state(json_t *state, struct ipcns_limits *l, char *err, size_t errlen)
{
	const char *bundle = json_string_value(json_object_get(state, "bundle"));
	json_t *annotations = json_object_get(state, "annotations");
	json_t *cfg = NULL;
	char path[4096] = "";
	int ret;

	if (bundle && *bundle) {
		json_error_t jerr;
		snprintf(path, sizeof(path), "%s/config.json", bundle);
		cfg = json_load_file(path, 0, &jerr);
		if (!cfg) {
			return ipcns_error(err, errlen, -EINVAL, "cannot read %s: %s (line %d)", path, jerr.text,
					   jerr.line);
		}
	}
	ret = ipcns_limits_from_config(cfg, annotations, path, l, err, errlen);
	json_decref(cfg);
	return ret;
}

/* ---- The operator's policy (oci_limits.h).  */

static const char *const quota_keys[IPCNS_POLICY_NQUOTAS] = {
	"org.ipcns.shm-bytes",
	"org.ipcns.msg-bytes",
	"org.ipcns.objects-per-uid",
	"org.ipcns.mem-bytes",
	"org.ipcns.fds",
};

void ipcns_policy_init(struct ipcns_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->ns_name = IPCNS_POLICY_NS_SCOPED;
	for (int q = 0; q < IPCNS_POLICY_NQUOTAS; q++)
		p->honour[q] = true;
	/* The default message quota: an annotation may lower it, and "0"
	 * (no quota) means the ceiling.  Segment pages are charged to the
	 * container's memory cgroup and objects are bounded by the kernel
	 * limits: no ceiling by default.  The budgets' ceilings are the
	 * front end's (ipcnsd's --ns-mem-bytes-max) unless the file sets
	 * them.  */
	p->ceiling[1] = 64 << 20;
	ipcns_limits_no_ceiling(&p->sysctl);
}

static int quota_index(const char *key)
{
	for (int i = 0; i < IPCNS_POLICY_NQUOTAS; i++)
		if (!strcmp(key, quota_keys[i]))
			return i;
	return -1;
}

int ipcns_policy_load(struct ipcns_policy *p, const char *path, char *err, size_t errlen)
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
			p->ns_name = IPCNS_POLICY_NS_IGNORE;
		} else if (!strcmp(key, "org.ipcns.namespace") && m && !strcmp(m, "scoped")) {
			p->ns_name = IPCNS_POLICY_NS_SCOPED;
		} else if (!strcmp(key, "org.ipcns.namespace") && m && !strcmp(m, "global")) {
			p->ns_name = IPCNS_POLICY_NS_GLOBAL;
		} else if (!strcmp(key, "org.ipcns.namespace")) {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.annotations.%s must be \"ignore\", \"scoped\" or \"global\"",
					  path, key);
			goto out;
		} else if (q >= 0 && m && (!strcmp(m, "ignore") || !strcmp(m, "honour"))) {
			p->honour[q] = !strcmp(m, "honour");
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
			struct ipcns_limits c = p->sysctl;
			if (ipcns_limits_apply_sysctl(&c, key, json_string_value(v)) <= 0) {
				ret = ipcns_error(err, errlen, -EINVAL,
						  "%s: ipcnsd.ceilings.%s: not a kernel limit ipcns serves, or not a "
						  "value in its range",
						  path, key);
				goto out;
			}
			ipcns_limits_min(&p->sysctl, &c);
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
		const char *s = json_string_value(v);
		bool u32 = q == 2 || q == IPCNS_POLICY_FDS;
		if (!s || *s < '0' || *s > '9' || parse_u64(s, u32 ? UINT32_MAX : UINT64_MAX, &x) < 0) {
			ret = ipcns_error(err, errlen, -EINVAL,
					  "%s: ipcnsd.ceilings.%s must be a decimal string (\"0\": none)", path, key);
			goto out;
		}
		p->ceiling[q] = x;
		p->ceiling_set[q] = true;
	}
out:
	json_decref(root);
	return ret;
}

/* What quota q becomes: an ignored annotation leaves the default; a
 * ceiling caps the value, and "no quota" (0) under a ceiling is the
 * ceiling.  */
static uint64_t capped(const struct ipcns_policy *p, int q, uint64_t v, uint64_t dflt, bool annotated)
{
	if (!annotated || !p->honour[q])
		v = dflt;
	if (p->ceiling[q] && (v == 0 || v > p->ceiling[q]))
		v = p->ceiling[q];
	return v;
}

void ipcns_policy_apply(const struct ipcns_policy *p, json_t *annotations, uint64_t mem_default,
			uint32_t fds_default, struct ipcns_limits *l)
{
	struct ipcns_limits dflt;
	ipcns_limits_default(&dflt);
	bool has[IPCNS_POLICY_NQUOTAS];
	for (int q = 0; q < IPCNS_POLICY_NQUOTAS; q++)
		has[q] = json_object_get(annotations, quota_keys[q]) != NULL;
	l->quota_shm_bytes = capped(p, 0, l->quota_shm_bytes, dflt.quota_shm_bytes, has[0]);
	l->quota_msg_bytes = capped(p, 1, l->quota_msg_bytes, dflt.quota_msg_bytes, has[1]);
	l->quota_objects_per_uid = (uint32_t)capped(p, 2, l->quota_objects_per_uid, dflt.quota_objects_per_uid, has[2]);
	/* The budgets: "0" never means none for a container, ceiling or
	 * not.  */
	if (has[IPCNS_POLICY_MEM] && l->quota_mem_bytes == 0 && !p->ceiling[IPCNS_POLICY_MEM])
		has[IPCNS_POLICY_MEM] = false;
	if (has[IPCNS_POLICY_FDS] && l->quota_fds == 0 && !p->ceiling[IPCNS_POLICY_FDS])
		has[IPCNS_POLICY_FDS] = false;
	l->quota_mem_bytes = capped(p, IPCNS_POLICY_MEM, l->quota_mem_bytes, mem_default, has[IPCNS_POLICY_MEM]);
	l->quota_fds = (uint32_t)capped(p, IPCNS_POLICY_FDS, l->quota_fds, fds_default, has[IPCNS_POLICY_FDS]);
	if (l->quota_fds && l->quota_fds < IPCNS_POLICY_MIN_FDS)
		l->quota_fds = IPCNS_POLICY_MIN_FDS;
}

int ipcns_policy_ns_key(const struct ipcns_policy *p, const char *name, ino_t ino, char *key, size_t keylen)
{
	if (!name || !*name || p->ns_name == IPCNS_POLICY_NS_IGNORE)
		return snprintf(key, keylen, "ipc:%llu", (unsigned long long)ino);
	if (p->ns_name == IPCNS_POLICY_NS_SCOPED)
		return snprintf(key, keylen, "name:%llu/%.250s", (unsigned long long)ino, name);
	return snprintf(key, keylen, "name:%.250s", name);
}
