/* SPDX-License-Identifier: MIT */
/* The host-wide ceiling of what crun plugins hold (spec/security.md, "The
 * crun plugin").  ipcnsd charges every namespace to one daemon-wide pool;
 * each plugin container is served by a `crun run' process of its own,
 * and no process can take back memory another one holds.  So a plugin
 * container reserves its namespace's whole memory budget, for its life,
 * in a ledger file shared by every `crun run' of the host, and is refused
 * (ENOMEM, what Linux gives when an allocation fails) when the budgets of
 * the live plugin containers would pass the operator's ceiling.
 *
 * The file is text, one reservation a line, "PID START BYTES": the crun
 * process, its start time (field 22 of /proc/PID/stat, so that a reused
 * pid is not taken for it) and the budget.  It is rewritten whole under
 * an exclusive flock(2); a reservation whose process is gone (a crun
 * killed before its plugin's stop) is dropped by the next writer.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "ledger.h"
#include "notify.h"

static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int ledger_conf(struct ledger *l, const char *cfg, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "%s", LEDGER_PATH);
	/* ipcnsd's --mem-bytes default: a quarter of the machine's memory.  */
	struct sysinfo si;
	if (sysinfo(&si) == 0)
		l->mem_limit = (uint64_t)si.totalram * si.mem_unit / 4;
	json_error_t jerr;
	json_auto_t *root = json_load_file(cfg, 0, &jerr);
	if (!root)
		return 0; /* a missing or bad file: the policy's reader said why */
	json_t *o = json_object_get(root, "crun-plugin");
	if (!o)
		return 0;
	if (!json_is_object(o))
		return ipcns_error(err, errlen, -EINVAL, "%s: \"crun-plugin\" is not a JSON object", cfg);
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		const char *s = json_string_value(v);
		if (!strcmp(key, "mem-bytes")) {
			if (parse_bytes(s, &l->mem_limit) < 0)
				return ipcns_error(err, errlen, -EINVAL,
						   "%s: crun-plugin.mem-bytes must be a decimal string of bytes "
						   "(\"0\": no host-wide ceiling)",
						   cfg);
		} else if (!strcmp(key, "ledger")) {
			if (!s || s[0] != '/' || strlen(s) >= sizeof(l->path))
				return ipcns_error(err, errlen, -EINVAL,
						   "%s: crun-plugin.ledger must be an absolute path (a string)", cfg);
			snprintf(l->path, sizeof(l->path), "%s", s);
		} else {
			return ipcns_error(err, errlen, -EINVAL, "%s: crun-plugin.%s: unknown key (mem-bytes, ledger)",
					   cfg, key);
		}
	}
	return 0;
}

/* The ledger, open and locked: an fd, or -errno with a message.  */
static int ledger_open(struct ledger *l, char *err, size_t errlen)
{
	char dir[sizeof(l->path)];
	snprintf(dir, sizeof(dir), "%s", l->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return ipcns_error(err, errlen, -errno, "cannot make %s for the ledger of the crun plugins: %s",
					   dir, strerror(errno));
	}
	int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ipcns_error(err, errlen, -errno,
				   "cannot open %s, the ledger of the crun plugins' host-wide memory ceiling: %s "
				   "(crun-plugin.mem-bytes \"0\" in the config file turns the ceiling off)",
				   l->path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int ret = ipcns_error(err, errlen, -errno, "cannot lock %s: %s", l->path, strerror(errno));
			close(fd);
			return ret;
		}
	}
	return fd;
}

/* Rewrite the ledger with its live reservations, less ours, plus `add'
 * bytes of ours (0: none): what the others hold in *others, their number
 * in *n.  Refused with -ENOMEM, the file kept as it was but for the dead,
 * when add would pass the ceiling.  */
static int ledger_update(struct ledger *l, int fd, uint64_t add, uint64_t *others, unsigned *n)
{
	char *text = NULL, *out = NULL;
	size_t tlen = 0, olen = 0;
	FILE *in = NULL, *o = open_memstream(&out, &olen);
	int dfd = dup(fd);
	if (dfd >= 0 && !(in = fdopen(dfd, "r")))
		close(dfd);
	int ret = o && in ? 0 : -ENOMEM;
	*others = 0;
	*n = 0;
	ssize_t len;
	while (ret == 0 && (len = getline(&text, &tlen, in)) > 0) {
		int pid;
		unsigned long long start, bytes, now;
		/* A line that does not parse is dropped: only root writes here.  */
		if (sscanf(text, "%d %llu %llu", &pid, &start, &bytes) != 3 || pid <= 0)
			continue;
		if (pid == l->pid && start == l->start)
			continue;
		if (ipcns_proc_start_ticks(pid, &now) < 0 || now != start)
			continue;
		*others += bytes;
		(*n)++;
		fprintf(o, "%d %llu %llu\n", pid, start, bytes);
	}
	free(text);
	if (in)
		fclose(in);
	if (ret == 0 && add && l->mem_limit && (add > l->mem_limit || *others > l->mem_limit - add))
		ret = -ENOMEM;
	if (ret == 0 && add)
		fprintf(o, "%d %llu %llu\n", (int)l->pid, l->start, (unsigned long long)add);
	if (o && fclose(o) != 0 && ret == 0)
		ret = -ENOMEM;
	/* Written whole at offset 0, then cut: the lock keeps readers out.  */
	if (out && (ret == 0 || ret == -ENOMEM)) {
		size_t done = 0;
		while (done < olen) {
			ssize_t w = pwrite(fd, out + done, olen - done, (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				ret = ret ? ret : -errno;
				break;
			}
			done += (size_t)w;
		}
		if (done == olen && ftruncate(fd, (off_t)olen) < 0 && ret == 0)
			ret = -errno;
	}
	free(out);
	return ret;
}

int ledger_reserve(struct ledger *l, uint64_t bytes, char *err, size_t errlen)
{
	if (!l->mem_limit)
		return 0;
	l->pid = getpid();
	int ret = ipcns_proc_start_ticks(l->pid, &l->start);
	if (ret < 0)
		return ipcns_error(err, errlen, ret, "cannot read this process's start time: %s", strerror(-ret));
	int fd = ledger_open(l, err, errlen);
	if (fd < 0)
		return fd;
	uint64_t others;
	unsigned n;
	/* A namespace without a budget takes the whole ceiling.  */
	ret = ledger_update(l, fd, bytes ? bytes : l->mem_limit, &others, &n);
	close(fd);
	if (ret == -ENOMEM)
		return ipcns_error(err, errlen, ret,
				   "its memory budget of %" PRIu64 " bytes does not fit under the crun plugins' host-wide "
				   "ceiling of %" PRIu64 " bytes: %u other plugin containers hold %" PRIu64
				   " (crun-plugin.mem-bytes of the config file; the ledger is %s)",
				   bytes ? bytes : l->mem_limit, l->mem_limit, n, others, l->path);
	if (ret < 0)
		return ipcns_error(err, errlen, ret, "cannot write %s: %s", l->path, strerror(-ret));
	l->held = true;
	return 0;
}

void ledger_release(struct ledger *l)
{
	char err[256];
	if (!l->held)
		return;
	int fd = ledger_open(l, err, sizeof(err));
	if (fd < 0)
		return; /* the next writer drops it: this process is going */
	uint64_t others;
	unsigned n;
	ledger_update(l, fd, 0, &others, &n);
	close(fd);
	l->held = false;
}
