/* SPDX-License-Identifier: MIT */
/* ipcnsd's log: one line per event on stderr (the journal under
 * systemd).  Every line is escaped as a whole (ipcns_escape), so that a
 * container id, a namespace name from an annotation or a path a
 * container chose cannot end a line, forge one or drive a terminal; and
 * what one namespace can make ipcnsd say is rate-limited, so that a
 * container failing calls in a loop neither floods the disk nor makes
 * journald drop other containers' lines (journald's own limit is per
 * service, not per container).  */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

static void log_line(const char *msg, size_t len, bool truncated)
{
	char ts[32], out[4 * 1024 + 16];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	ipcns_escape(msg, len, out, sizeof(out));
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ ipcnsd: %s%s\n", ts, now.tv_nsec / 1000000, out, truncated ? " [...]" : "");
	funlockfile(stderr);
}

static void vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	log_line(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, (size_t)n >= sizeof(buf));
}

void dlog(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void logrl_init(struct logrl *rl)
{
	pthread_mutex_init(&rl->lock, NULL);
	ipcns_ratelimit_init(&rl->r);
}

static void say_suppressed(const char *key, unsigned long n, int64_t secs)
{
	if (n)
		dlog("namespace %s: " IPCNS_LOG_SUPPRESSED, key, n, (long long)secs, IPCNS_LOG_BURST,
		     IPCNS_LOG_WINDOW_S);
}

void nslog(struct logrl *rl, const char *key, const char *fmt, ...)
{
	unsigned long ended;
	int64_t secs;
	pthread_mutex_lock(&rl->lock);
	bool say = ipcns_ratelimit_take(&rl->r, &ended, &secs);
	pthread_mutex_unlock(&rl->lock);
	say_suppressed(key, ended, secs);
	if (!say)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void logrl_flush(struct logrl *rl, const char *key, bool final)
{
	int64_t secs;
	pthread_mutex_lock(&rl->lock);
	unsigned long n = ipcns_ratelimit_flush(&rl->r, final, &secs);
	pthread_mutex_unlock(&rl->lock);
	say_suppressed(key, n, secs);
}

void logrl_destroy(struct logrl *rl, const char *key)
{
	logrl_flush(rl, key, true);
	pthread_mutex_destroy(&rl->lock);
}
