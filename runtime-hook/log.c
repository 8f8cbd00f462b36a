/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * runc logs through logrus; containerd (go-runc) passes `--log FILE
 * --log-format json' and, when runc fails, reads the last "error" line of FILE
 * into the error it reports.  Writing ours the same way makes the cause reach
 * `kubectl describe' and `ctr' instead of a bare "exit status 1".  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "oci_util.h"

/* Go's time.RFC3339: 2006-01-02T15:04:05Z07:00.  */
static void format_time(time_t when, char *buf, size_t len)
{
	struct tm tm;
	long off;
	size_t n;

	if (localtime_r(&when, &tm) == NULL) {
		snprintf(buf, len, "1970-01-01T00:00:00Z");
		return;
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff / 60;
	if (off == 0)
		snprintf(buf + n, len - n, "Z");
	else
		snprintf(buf + n, len - n, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60,
			 labs(off) % 60);
}

static int json_line(const char *msg, const char *stamp, char **line)
{
	cleanup_json json_t *obj = NULL;
	cleanup_free char *ascii = NULL;
	json_t *jmsg = json_string(msg);
	char *dump, *p;
	int ret;

	/* A path in the message need not be UTF-8; Go would write U+FFFD,
	 * a '?' serves as well.  */
	if (jmsg == NULL) {
		ascii = strdup(msg);
		if (ascii == NULL)
			return -ENOMEM;
		for (p = ascii; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		jmsg = json_string(ascii);
	}
	obj = json_pack("{s:s,s:o,s:s}", "level", "error", "msg", jmsg, "time", stamp);
	if (obj == NULL)
		return -ENOMEM;
	dump = json_dumps(obj, JSON_COMPACT);
	if (dump == NULL)
		return -ENOMEM;
	ret = asprintf(line, "%s\n", dump);
	free(dump);
	if (ret < 0) {
		*line = NULL;
		return -ENOMEM;
	}
	return ret;
}

/* Go's %q, which logrus's text formatter uses, for the bytes we produce.  */
static int text_line(const char *msg, const char *stamp, char **line)
{
	cleanup_free char *quoted = malloc(strlen(msg) * 4 + 3);
	const unsigned char *s;
	char *q;
	int ret;

	if (quoted == NULL)
		return -ENOMEM;
	q = quoted;
	*q++ = '"';
	for (s = (const unsigned char *)msg; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			*q++ = '\\';
			*q++ = (char)*s;
		} else if (*s == '\n') {
			q += sprintf(q, "\\n");
		} else if (*s == '\t') {
			q += sprintf(q, "\\t");
		} else if (*s < 0x20 || *s == 0x7f) {
			q += sprintf(q, "\\x%02x", *s);
		} else {
			*q++ = (char)*s;
		}
	}
	*q++ = '"';
	*q = '\0';

	ret = asprintf(line, "time=\"%s\" level=error msg=%s\n", stamp, quoted);
	if (ret < 0) {
		*line = NULL;
		return -ENOMEM;
	}
	return ret;
}

int ipcns_log_line(const char *format, const char *msg, time_t when, char **line)
{
	char stamp[64];

	format_time(when, stamp, sizeof(stamp));
	if (format != NULL && strcmp(format, "json") == 0)
		return json_line(msg, stamp, line);
	return text_line(msg, stamp, line);
}

int ipcns_log_append(const char *path, const char *format, const char *msg)
{
	cleanup_free char *line = NULL;
	cleanup_close int fd = -1;
	int len;

	len = ipcns_log_line(format, msg, time(NULL), &line);
	if (len < 0)
		return len;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* One write() with O_APPEND: the line is not interleaved with the
	 * lines of another writer.  */
	if (write(fd, line, (size_t)len) != len)
		return errno != 0 ? -errno : -EIO;
	return 0;
}
