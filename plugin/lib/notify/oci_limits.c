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
