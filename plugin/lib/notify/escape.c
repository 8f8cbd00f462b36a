/* SPDX-License-Identifier: MIT */
/* Strings a container controls (container ids, namespace names from
 * annotations, bundle paths, values it put in its config) made safe for a
 * log line or a terminal.  */
#include <stdio.h>
#include <string.h>

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
