/* SPDX-License-Identifier: MIT */
/* The IPC sysctls of a namespace: /proc/sys/kernel/{shmmax, shmall,
 * shmmni, shm_rmid_forced, msgmax, msgmni, msgmnb, sem, *_next_id} as a
 * process inside it reads and writes them.
 *
 * Implementation notes (Linux's ipc/ipc_sysctl.c and kernel/sysctl.c):
 * - shmmax and shmall are proc_doulongvec_minmax without bounds: a
 *   negative number is EINVAL.  shmmni and msgmni are 0..IPCMNI, msgmax
 *   and msgmnb 0..INT_MAX, shm_rmid_forced 0..1 (proc_dointvec_minmax):
 *   EINVAL outside.  sem is proc_dointvec on four ints with no bounds,
 *   stored one by one as parsed (a failure after the second keeps the
 *   first two), then SEMMNI is checked against 0..IPCMNI and put back on
 *   failure with ERANGE.  The *_next_id files are 0..INT_MAX, read -1
 *   while unset.
 * - Numbers are parsed as strtoul with base 0 ("0x10" is 16, "010" is
 *   8), at most 21 characters each, separated by blanks, tabs or
 *   newlines; anything else after a number is EINVAL.  A write that
 *   holds no number at all is EINVAL.  A write at a file offset other
 *   than 0 changes nothing and consumes everything
 *   (sysctl_writes_strict=1, the default).
 * - Reads give the text at offset 0 only (a read past it gives 0 bytes),
 *   truncated to the reader's buffer.
 * - Permissions (ipc_permissions): the owner class of mode 0644 (0444
 *   for *_next_id) applies when the euid is uid 0 of the namespace's
 *   user namespace, the group class for its gid 0, and the result is
 *   the same for every class; the *_next_id files are 0666 to a holder
 *   of CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over that user
 *   namespace.  */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

#define TMPBUFLEN 22 /* kernel/sysctl.c: digits of a long, sign, NUL */
#define PAGE_MAX 4095 /* a write is parsed up to PAGE_SIZE - 1 bytes */

static const char *const names[IPCNS_SYSCTL_COUNT] = {
	[IPCNS_SYSCTL_SHMMAX] = "shmmax",
	[IPCNS_SYSCTL_SHMALL] = "shmall",
	[IPCNS_SYSCTL_SHMMNI] = "shmmni",
	[IPCNS_SYSCTL_SHM_RMID_FORCED] = "shm_rmid_forced",
	[IPCNS_SYSCTL_MSGMAX] = "msgmax",
	[IPCNS_SYSCTL_MSGMNI] = "msgmni",
	[IPCNS_SYSCTL_MSGMNB] = "msgmnb",
	[IPCNS_SYSCTL_SEM] = "sem",
	[IPCNS_SYSCTL_SEM_NEXT_ID] = "sem_next_id",
	[IPCNS_SYSCTL_MSG_NEXT_ID] = "msg_next_id",
	[IPCNS_SYSCTL_SHM_NEXT_ID] = "shm_next_id",
};

const char *ipcns_sysctl_name(int which)
{
	return which >= 0 && which < IPCNS_SYSCTL_COUNT ? names[which] : NULL;
}

int ipcns_sysctl_lookup(const char *name)
{
	for (int i = 0; i < IPCNS_SYSCTL_COUNT; i++)
		if (!strcmp(names[i], name))
			return i;
	return -ENOENT;
}

static bool is_next_id(int which)
{
	return which == IPCNS_SYSCTL_SEM_NEXT_ID || which == IPCNS_SYSCTL_MSG_NEXT_ID ||
	       which == IPCNS_SYSCTL_SHM_NEXT_ID;
}

static struct ipcns_ids *next_id_ids(struct ipcns_ns *ns, int which)
{
	switch (which) {
	case IPCNS_SYSCTL_SEM_NEXT_ID:
		return &ns->ids[IPCNS_SEM];
	case IPCNS_SYSCTL_MSG_NEXT_ID:
		return &ns->ids[IPCNS_MSG];
	default:
		return &ns->ids[IPCNS_SHM];
	}
}

unsigned int ipcns_sysctl_mode(int which)
{
	return is_next_id(which) ? 0444 : 0644;
}

int ipcns_sysctl_permission(int which, const struct ipcns_sysctl_who *who, int mask)
{
	unsigned int mode = ipcns_sysctl_mode(which);
	if (which < 0 || which >= IPCNS_SYSCTL_COUNT)
		return -ENOENT;
	if (is_next_id(which) && who->checkpoint_restore)
		mode = 0666;
	else if (who->euid_is_ns_root)
		mode >>= 6;
	else if (who->in_ns_root_group)
		mode >>= 3;
	mode &= 7;
	return ((unsigned int)mask & 7 & ~mode) ? -EACCES : 0;
}

void ipcns_limits_no_ceiling(struct ipcns_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->shmmax = UINT64_MAX;
	l->shmall = UINT64_MAX;
	l->shmmni = IPCNS_IPCMNI;
	l->shm_rmid_forced = 1;
	l->semmsl = l->semmns = l->semopm = INT_MAX;
	l->semmni = IPCNS_IPCMNI;
	l->msgmax = l->msgmnb = INT_MAX;
	l->msgmni = IPCNS_IPCMNI;
}

void ipcns_limits_min(struct ipcns_limits *l, const struct ipcns_limits *o)
{
#define MIN(f)                                                                                                     \
	if (o->f < l->f)                                                                                           \
		l->f = o->f;
	MIN(shmmax)
	MIN(shmall)
	MIN(shmmni)
	MIN(semmsl)
	MIN(semmns)
	MIN(semopm)
	MIN(semmni)
	MIN(msgmax)
	MIN(msgmnb)
	MIN(msgmni)
#undef MIN
}

int ipcns_limits_apply_ceiling(struct ipcns_limits *l, const struct ipcns_limits *c, char *what, size_t whatlen)
{
	struct ipcns_limits d;
	ipcns_limits_default(&d);
	/* A limit left at Linux's default starts at the ceiling when the
	 * default is above it; a value the container chose above it is
	 * refused, as its write would be.  */
#define CEIL(field, key)                                                                                           \
	if ((uint64_t)l->field > (uint64_t)c->field && (long long)l->field > (long long)c->field) {               \
		if (l->field != d.field) {                                                                         \
			if (what)                                                                                  \
				snprintf(what, whatlen, "%s = %llu is above the operator's ceiling %llu", key,   \
					 (unsigned long long)l->field, (unsigned long long)c->field);            \
			return -EINVAL;                                                                            \
		}                                                                                                  \
		l->field = c->field;                                                                               \
	}
	CEIL(shmmax, "kernel.shmmax")
	CEIL(shmall, "kernel.shmall")
	CEIL(shmmni, "kernel.shmmni")
	CEIL(semmsl, "kernel.sem (SEMMSL)")
	CEIL(semmns, "kernel.sem (SEMMNS)")
	CEIL(semopm, "kernel.sem (SEMOPM)")
	CEIL(semmni, "kernel.sem (SEMMNI)")
	CEIL(msgmax, "kernel.msgmax")
	CEIL(msgmnb, "kernel.msgmnb")
	CEIL(msgmni, "kernel.msgmni")
#undef CEIL
	return 0;
}

int ipcns_sysctl_format(struct ipcns_ns *ns, int which, char *buf, size_t size)
{
	const struct ipcns_limits *l = &ns->limits;
	switch (which) {
	case IPCNS_SYSCTL_SHMMAX:
		return snprintf(buf, size, "%llu\n", (unsigned long long)l->shmmax);
	case IPCNS_SYSCTL_SHMALL:
		return snprintf(buf, size, "%llu\n", (unsigned long long)l->shmall);
	case IPCNS_SYSCTL_SHMMNI:
		return snprintf(buf, size, "%d\n", (int)l->shmmni);
	case IPCNS_SYSCTL_SHM_RMID_FORCED:
		return snprintf(buf, size, "%d\n", l->shm_rmid_forced);
	case IPCNS_SYSCTL_MSGMAX:
		return snprintf(buf, size, "%d\n", (int)l->msgmax);
	case IPCNS_SYSCTL_MSGMNI:
		return snprintf(buf, size, "%d\n", (int)l->msgmni);
	case IPCNS_SYSCTL_MSGMNB:
		return snprintf(buf, size, "%d\n", (int)l->msgmnb);
	case IPCNS_SYSCTL_SEM:
		return snprintf(buf, size, "%d\t%d\t%d\t%d\n", l->semmsl, l->semmns, l->semopm, l->semmni);
	case IPCNS_SYSCTL_SEM_NEXT_ID:
	case IPCNS_SYSCTL_MSG_NEXT_ID:
	case IPCNS_SYSCTL_SHM_NEXT_ID:
		return snprintf(buf, size, "%d\n", next_id_ids(ns, which)->next_id);
	}
	return -ENOENT;
}

/* ---- Parsing, as kernel/sysctl.c's proc_get_long.  */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static void skip_spaces(const char **p, size_t *left)
{
	while (*left && is_space(**p)) {
		(*p)++;
		(*left)--;
	}
}

static int digit_of(char ch, unsigned int base)
{
	unsigned int d;
	if (ch >= '0' && ch <= '9')
		d = (unsigned int)(ch - '0');
	else if (ch >= 'a' && ch <= 'f')
		d = (unsigned int)(ch - 'a' + 10);
	else if (ch >= 'A' && ch <= 'F')
		d = (unsigned int)(ch - 'A' + 10);
	else
		return -1;
	return d < base ? (int)d : -1;
}

/* One number: 0 with *val, *neg and p, left moved past it, or -EINVAL.  */
static int get_long(const char **p, size_t *left, unsigned long long *val, bool *neg)
{
	char tmp[TMPBUFLEN];
	size_t len = *left;
	if (!len)
		return -EINVAL;
	if (len > TMPBUFLEN - 1)
		len = TMPBUFLEN - 1;
	memcpy(tmp, *p, len);
	tmp[len] = '\0';
	const char *q = tmp;
	*neg = false;
	if (*q == '-' && *left > 1) {
		*neg = true;
		q++;
	}
	if (*q < '0' || *q > '9')
		return -EINVAL;
	/* strtoul_lenient with base 0.  */
	unsigned int base = 10;
	if (q[0] == '0') {
		if ((q[1] == 'x' || q[1] == 'X') && digit_of(q[2], 16) >= 0) {
			base = 16;
			q += 2;
		} else {
			base = 8;
		}
	}
	unsigned long long v = 0;
	int d;
	while ((d = digit_of(*q, base)) >= 0) {
		if (v > (ULLONG_MAX - (unsigned int)d) / base)
			return -EINVAL; /* overflow: -ERANGE from the parser, EINVAL to the writer */
		v = v * base + (unsigned int)d;
		q++;
	}
	len = (size_t)(q - tmp);
	/* A number as long as the buffer may go on past it.  */
	if (len == TMPBUFLEN - 1)
		return -EINVAL;
	if (len < *left && *q != ' ' && *q != '\t' && *q != '\n')
		return -EINVAL;
	*val = v;
	*p += len;
	*left -= len;
	return 0;
}

/* proc_dointvec's conversion of one value, with optional bounds.  */
static int to_int(bool neg, unsigned long long v, long long min, long long max, int *out)
{
	long long x;
	if (neg) {
		if (v > (unsigned long long)INT_MAX + 1)
			return -EINVAL;
		x = -(long long)v;
	} else {
		if (v > INT_MAX)
			return -EINVAL;
		x = (long long)v;
	}
	if (x < min || x > max)
		return -EINVAL;
	*out = (int)x;
	return 0;
}

long ipcns_sysctl_write(struct ipcns_ns *ns, int which, const char *buf, size_t len, uint64_t pos,
			const struct ipcns_limits *ceiling, char *what, size_t whatlen)
{
	struct ipcns_limits *l = &ns->limits;
	struct ipcns_limits none;
	if (which < 0 || which >= IPCNS_SYSCTL_COUNT)
		return -ENOENT;
	if (what && whatlen)
		what[0] = '\0';
	if (!ceiling) {
		ipcns_limits_no_ceiling(&none);
		ceiling = &none;
	}
	if (len == 0)
		return 0;
	if (pos != 0)
		return (long)len;
	size_t left = len > PAGE_MAX ? PAGE_MAX : len;
	const char *p = buf;
	int nvals = which == IPCNS_SYSCTL_SEM ? 4 : 1;
	/* sem's values as stored, one by one.  */
	const int old_sem[4] = { l->semmsl, l->semmns, l->semopm, l->semmni };
	const bool was_forced = l->shm_rmid_forced;
	int sem[4] = { old_sem[0], old_sem[1], old_sem[2], old_sem[3] };
	int err = 0, parsed = 0;
	for (; left && parsed < nvals; parsed++) {
		unsigned long long v;
		bool neg;
		skip_spaces(&p, &left);
		if (!left)
			break;
		err = get_long(&p, &left, &v, &neg);
		if (err)
			break;
		int iv;
		switch (which) {
		case IPCNS_SYSCTL_SHMMAX:
		case IPCNS_SYSCTL_SHMALL:
			if (neg) {
				err = -EINVAL;
				break;
			}
			if (v > (which == IPCNS_SYSCTL_SHMMAX ? ceiling->shmmax : ceiling->shmall)) {
				err = -EINVAL;
				if (what)
					snprintf(what, whatlen, "kernel.%s = %llu is above the operator's ceiling %llu",
						 names[which], v,
						 (unsigned long long)(which == IPCNS_SYSCTL_SHMMAX ? ceiling->shmmax
												: ceiling->shmall));
				break;
			}
			if (which == IPCNS_SYSCTL_SHMMAX)
				l->shmmax = v;
			else
				l->shmall = v;
			break;
		case IPCNS_SYSCTL_SHMMNI:
		case IPCNS_SYSCTL_MSGMNI:
		case IPCNS_SYSCTL_MSGMAX:
		case IPCNS_SYSCTL_MSGMNB:
		case IPCNS_SYSCTL_SHM_RMID_FORCED: {
			long long max = which == IPCNS_SYSCTL_SHMMNI || which == IPCNS_SYSCTL_MSGMNI ? IPCNS_IPCMNI
					: which == IPCNS_SYSCTL_SHM_RMID_FORCED			     ? 1
												     : INT_MAX;
			err = to_int(neg, v, 0, max, &iv);
			if (err)
				break;
			uint32_t *field = which == IPCNS_SYSCTL_SHMMNI	 ? &l->shmmni
					  : which == IPCNS_SYSCTL_MSGMNI ? &l->msgmni
					  : which == IPCNS_SYSCTL_MSGMAX ? &l->msgmax
									 : &l->msgmnb;
			const uint32_t *cfield = which == IPCNS_SYSCTL_SHMMNI   ? &ceiling->shmmni
						 : which == IPCNS_SYSCTL_MSGMNI ? &ceiling->msgmni
						 : which == IPCNS_SYSCTL_MSGMAX ? &ceiling->msgmax
										: &ceiling->msgmnb;
			if (which == IPCNS_SYSCTL_SHM_RMID_FORCED) {
				l->shm_rmid_forced = iv;
				break;
			}
			if ((uint32_t)iv > *cfield) {
				err = -EINVAL;
				if (what)
					snprintf(what, whatlen, "kernel.%s = %d is above the operator's ceiling %u",
						 names[which], iv, *cfield);
				break;
			}
			*field = (uint32_t)iv;
			break;
		}
		case IPCNS_SYSCTL_SEM:
			err = to_int(neg, v, INT_MIN, INT_MAX, &iv);
			if (!err)
				sem[parsed] = iv;
			break;
		default: /* *_next_id */
			err = to_int(neg, v, 0, INT_MAX, &iv);
			if (!err)
				next_id_ids(ns, which)->next_id = iv;
			break;
		}
		if (err)
			break;
	}
	if (!err && left)
		skip_spaces(&p, &left);
	if (which == IPCNS_SYSCTL_SEM) {
		/* Stored as parsed, up to the error if any; then SEMMNI is
		 * checked, and put back on any failure.  */
		int *dst[4] = { &l->semmsl, &l->semmns, &l->semopm, &l->semmni };
		for (int i = 0; i < parsed; i++)
			*dst[i] = sem[i];
		if (!err && parsed && (l->semmni < 0 || l->semmni > IPCNS_IPCMNI))
			err = -ERANGE;
		/* The operator's ceiling binds the four: refused whole.  */
		if (!err && parsed &&
		    (l->semmsl > ceiling->semmsl || l->semmns > ceiling->semmns || l->semopm > ceiling->semopm ||
		     l->semmni > ceiling->semmni)) {
			if (what)
				snprintf(what, whatlen,
					 "kernel.sem = %d %d %d %d is above the operator's ceiling %d %d %d %d",
					 l->semmsl, l->semmns, l->semopm, l->semmni, ceiling->semmsl,
					 ceiling->semmns, ceiling->semopm, ceiling->semmni);
			for (int i = 0; i < 4; i++)
				*dst[i] = old_sem[i];
			err = -ERANGE;
		}
		if (err)
			l->semmni = old_sem[3];
	}
	if (parsed == 0 && !err)
		err = -EINVAL;
	if (err)
		return err;
	if (which == IPCNS_SYSCTL_SHM_RMID_FORCED && l->shm_rmid_forced)
		ipcns_shm_destroy_orphans(ns, was_forced);
	return (long)(len - left);
}
