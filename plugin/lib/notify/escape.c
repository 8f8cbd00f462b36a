/* SPDX-License-Identifier: MIT */
/* Strings a container controls (container ids, namespace names from
 * annotations, bundle paths, values it put in its config) made safe for a
 * log line or a terminal, and how many lines a namespace may have said.  */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notify.h"

size_t ipcns_escape(const char *in, size_t inlen, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[4];
		size_t n;
		if (c == '\\') {
			esc[0] = '\\';
			esc[1] = '\\';
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Newlines would start a forged line; ESC, CSI (0x9b)
			 * and the other C0/C1 codes would drive the operator's
			 * terminal.  Bytes of UTF-8 are escaped too: a C1 code
			 * can hide in them.  */
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}

const char *ipcns_esc(const char *in, char *buf, size_t len)
{
	if (!in)
		return "(none)";
	ipcns_escape(in, strlen(in), buf, len);
	return buf;
}

int64_t ipcns_ratelimit_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

void ipcns_ratelimit_init(struct ipcns_ratelimit *rl)
{
	rl->window = ipcns_ratelimit_now();
	rl->lines = 0;
	rl->suppressed = 0;
}

static unsigned long roll(struct ipcns_ratelimit *rl, int64_t now, int64_t *secs)
{
	unsigned long n = rl->suppressed;
	*secs = now - rl->window;
	rl->window = now;
	rl->lines = 0;
	rl->suppressed = 0;
	return n;
}

bool ipcns_ratelimit_take(struct ipcns_ratelimit *rl, unsigned long *ended, int64_t *secs)
{
	int64_t now = ipcns_ratelimit_now();
	*ended = 0;
	*secs = 0;
	if (now - rl->window >= IPCNS_LOG_WINDOW_S)
		*ended = roll(rl, now, secs);
	if (rl->lines < IPCNS_LOG_BURST) {
		rl->lines++;
		return true;
	}
	rl->suppressed++;
	return false;
}

unsigned long ipcns_ratelimit_flush(struct ipcns_ratelimit *rl, bool final, int64_t *secs)
{
	int64_t now = ipcns_ratelimit_now();
	*secs = 0;
	if (rl->suppressed && (final || now - rl->window >= IPCNS_LOG_WINDOW_S))
		return roll(rl, now, secs);
	return 0;
}
