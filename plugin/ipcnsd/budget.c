/* SPDX-License-Identifier: MIT */
/* What ipcnsd may hold, as the operator says (spec/ipcnsd.md): the budget
 * of each namespace (memory and fds; an annotation may ask for another
 * one up to the operator's ceiling) and one daemon-wide ceiling of memory;
 * the fds of all namespaces together stay below ipcnsd's RLIMIT_NOFILE
 * less a reserve, so that a registration or an operator's request always
 * finds an fd whatever the containers hold.  */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>

#include "daemon.h"

struct budget_policy B = {
	.mem_default = IPCNS_DEFAULT_MEM_BYTES,
	.fds_default = IPCNS_DEFAULT_FDS,
};

/* A count with an optional binary suffix: 0, or -EINVAL / -ERANGE.  */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	unsigned int shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	else if (*end == 'T')
		shift = 40;
	if (shift) {
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	v <<= shift;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int budget_option(const char *opt, const char *val)
{
	uint64_t v;
	bool fds = strstr(opt, "fds") != NULL;
	int ret = parse_size(val, fds ? UINT32_MAX : UINT64_MAX, &v);
	if (ret < 0) {
		fprintf(stderr, "ipcnsd: --%s '%s': %s\n", opt, val,
			ret == -ERANGE ? "out of range"
			: fds	       ? "not a count (a decimal number, optionally followed by K, M or G)"
				       : "not a number of bytes (a decimal number, optionally followed by K, M, G or T)");
		return -1;
	}
	if (!strcmp(opt, "ns-mem-bytes"))
		B.mem_default = v;
	else if (!strcmp(opt, "ns-mem-bytes-max"))
		B.mem_max = v, B.mem_max_set = true;
	else if (!strcmp(opt, "ns-fds"))
		B.fds_default = (uint32_t)v;
	else if (!strcmp(opt, "ns-fds-max"))
		B.fds_max = (uint32_t)v, B.fds_max_set = true;
	else if (!strcmp(opt, "mem-bytes"))
		D.pool.mem_limit = v, B.mem_total_set = true;
	return 0;
}

/* Fds ipcnsd keeps out of the namespaces' reach: its own (socket, epoll,
 * signals, connector), a connection with the notify fd it carries, an
 * operator's request.  */
static uint64_t fd_reserve(uint64_t nofile)
{
	return nofile / 4 < 256 ? nofile / 4 : 256;
}

void budget_fd_ceiling(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	uint64_t cur = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : rl.rlim_cur;
	__atomic_store_n(&D.pool.fd_limit, cur - fd_reserve(cur), __ATOMIC_RELAXED);
}

int budget_init(void)
{
	if (B.fds_default && B.fds_default < BUDGET_MIN_FDS) {
		fprintf(stderr, "ipcnsd: --ns-fds %" PRIu32 ": a namespace needs at least %d (0: no budget)\n",
			B.fds_default, BUDGET_MIN_FDS);
		return -1;
	}
	/* The ceilings an annotation may ask up to: the command line's, else
	 * the policy file's (policy.c), else the defaults.  */
	if (!B.mem_max_set)
		B.mem_max = P.ceiling_set[POLICY_MEM] ? P.ceiling[POLICY_MEM] : B.mem_default;
	if (!B.fds_max_set)
		B.fds_max = P.ceiling_set[POLICY_FDS] ? P.ceiling[POLICY_FDS] : B.fds_default;
	/* 0 is "no budget": a ceiling of 0 lets an annotation ask anything. */
	if (B.mem_max && (B.mem_default == 0 || B.mem_default > B.mem_max)) {
		fprintf(stderr,
			"ipcnsd: --ns-mem-bytes %" PRIu64 " (0: none) is not within its ceiling %" PRIu64
			" (--ns-mem-bytes-max, or ceilings.org.ipcns.mem-bytes of the policy file)\n",
			B.mem_default, B.mem_max);
		return -1;
	}
	if (B.fds_max && (B.fds_default == 0 || B.fds_default > B.fds_max)) {
		fprintf(stderr,
			"ipcnsd: --ns-fds %" PRIu32 " (0: none) is not within its ceiling %" PRIu32
			" (--ns-fds-max, or ceilings.org.ipcns.fds of the policy file)\n",
			B.fds_default, B.fds_max);
		return -1;
	}
	P.ceiling[POLICY_MEM] = B.mem_max;
	P.ceiling[POLICY_FDS] = B.fds_max;
	if (!B.mem_total_set) {
		/* A quarter of the machine's memory, for all namespaces. */
		struct sysinfo si;
		if (sysinfo(&si) == 0)
			D.pool.mem_limit = (uint64_t)si.totalram * si.mem_unit / 4;
	}
	/* Every fd the containers' namespaces may hold counts against ipcnsd's
	 * RLIMIT_NOFILE: take all the hard limit allows (systemd's default
	 * soft limit is 1024).  */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			fprintf(stderr, "ipcnsd: raising RLIMIT_NOFILE to %llu: %s\n", (unsigned long long)rl.rlim_max,
				strerror(errno));
	}
	budget_fd_ceiling();
	return 0;
}
