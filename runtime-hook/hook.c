/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * ipcns-hook: an OCI hook for podman and the other users of containers-common
 * hooks.d files (spec/hooks.d/ipcns.json, oci-hooks(5)).
 *
 *   ipcns-hook precreate   a config filter: the container's config.json on
 *                          stdin, the same config with ipcns-runtime's edit
 *                          (config_edit.c) on stdout.
 *   ipcns-hook poststop    the container's OCI state on stdin: tells ipcnsd
 *                          that the container is gone ("forget",
 *                          spec/control.md) and waits until ipcnsd has let
 *                          it go.
 *
 * podman runs hooks with an empty environment and, for precreate, discards
 * their stderr: errors also go to syslog.  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config_edit.h"
#include "oci_util.h"
#include "settings.h"

#define PROGRAM "ipcns-hook"
/* How long poststop waits for ipcnsd to handle the hang-up it reported.  */
#define FORGET_WAIT_MS 2000
#define FORGET_POLL_MS 20
#define MAX_REPLY (1 << 20)

static void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int prio, const char *fmt, ...)
{
	char msg[IPCNS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROGRAM ": %s\n", msg);
	syslog(prio, "%s", msg);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROGRAM " precreate|poststop\n"
		   "An OCI hook (spec/hooks.d/ipcns.json): precreate edits the config on stdin\n"
		   "for ipcnsd and writes it to stdout; poststop reads the container state on\n"
		   "stdin and tells ipcnsd the container is gone.\n");
}

/* The JSON document on stdin (WHAT: "config", "state"), or NULL.  */
static json_t *load_stdin(const char *stage, const char *what)
{
	json_error_t jerr;
	json_t *json = json_loadf(stdin, JSON_ALLOW_NUL, &jerr);

	if (json == NULL)
		say(LOG_ERR, "%s: the %s on stdin is not valid JSON: %d:%d: %s", stage, what, jerr.line,
		    jerr.column, jerr.text);
	return json;
}

static int precreate(const struct ipcns_settings *s)
{
	cleanup_json json_t *config = NULL;
	struct ipcns_edit edit = { .socket = s->socket, .listener_metadata = s->listener_metadata };
	char err[IPCNS_ERR_MAX];
	int ret;

	config = load_stdin("precreate", "config");
	if (config == NULL)
		return -EINVAL;
	ret = ipcns_config_edit(config, &edit, err, sizeof(err));
	if (ret < 0) {
		say(LOG_ERR, "precreate: %s", err);
		return ret;
	}
	if (json_dumpf(config, stdout, JSON_COMPACT) < 0 || fflush(stdout) == EOF || ferror(stdout)) {
		say(LOG_ERR, "precreate: cannot write the config to stdout: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

/* One request to ipcnsd, its reply in *REPLY.  -ENOENT or -ECONNREFUSED
 * when nothing listens on the socket.  */
static int control_request(const char *socket_path, json_t *req, json_t **reply, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	cleanup_free char *text = NULL;
	cleanup_free char *buf = NULL;
	size_t len, off = 0, n = 0;
	json_error_t jerr;

	*reply = NULL;
	/* settings.c checked that it fits.  */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ipcns_error(err, errlen, -errno, "cannot connect to ipcnsd at %s: %s", socket_path,
				   strerror(errno));
	text = json_dumps(req, JSON_COMPACT);
	buf = malloc(MAX_REPLY);
	if (text == NULL || buf == NULL)
		return ipcns_error(err, errlen, -ENOMEM, "out of memory");
	len = strlen(text);
	while (off < len) {
		ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ipcns_error(err, errlen, -errno, "sending to ipcnsd at %s: %s", socket_path,
					   strerror(errno));
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	while (n < MAX_REPLY) {
		ssize_t r = recv(fd, buf + n, MAX_REPLY - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*reply = json_loadb(buf, n, 0, &jerr);
	if (*reply == NULL)
		return ipcns_error(err, errlen, -EPROTO, "no valid reply from ipcnsd at %s (%s)", socket_path,
				   n ? jerr.text : "connection closed; only root may use it");
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		const char *e = json_string_value(json_object_get(*reply, "error"));
		ipcns_error(err, errlen, -EINVAL, "ipcnsd: %s", e ? e : "request failed");
		json_decref(*reply);
		*reply = NULL;
		return -EINVAL;
	}
	return 0;
}

static int poststop(const struct ipcns_settings *s)
{
	cleanup_json json_t *state = NULL;
	cleanup_json json_t *req = NULL;
	const struct timespec pause = { 0, FORGET_POLL_MS * 1000000L };
	char err[IPCNS_ERR_MAX];
	const char *id;
	int ret;

	state = load_stdin("poststop", "state");
	if (state == NULL)
		return -EINVAL;
	id = json_string_value(json_object_get(state, "id"));
	if (id == NULL || id[0] == '\0') {
		say(LOG_ERR, "poststop: the state on stdin has no \"id\"");
		return -EINVAL;
	}
	req = json_pack("{s:s, s:s}", "command", "forget", "container", id);
	if (req == NULL)
		return -ENOMEM;

	/* The hang-up of the container's notify fds is normally pending in
	 * ipcnsd when the hook runs: ask again until ipcnsd has let the
	 * container go, so that it is gone when the hook returns.  */
	for (int waited = 0;; waited += FORGET_POLL_MS) {
		cleanup_json json_t *reply = NULL;

		ret = control_request(s->socket, req, &reply, err, sizeof(err));
		if (ret == -ENOENT || ret == -ECONNREFUSED) {
			/* Its state went with it.  */
			say(LOG_NOTICE, "poststop: container %s: %s; nothing to release", id, err);
			return 0;
		}
		if (ret < 0) {
			say(LOG_ERR, "poststop: container %s: %s", id, err);
			return ret;
		}
		if (!json_is_true(json_object_get(reply, "registered")))
			return 0;
		json_int_t live = json_integer_value(json_object_get(reply, "live_notify_fds"));
		if (live > 0) {
			say(LOG_WARNING,
			    "poststop: container %s still has %lld live notify fds in ipcnsd (processes outside its "
			    "pid namespace?); ipcnsd keeps serving them",
			    id, (long long)live);
			return 0;
		}
		if (waited >= FORGET_WAIT_MS) {
			say(LOG_WARNING, "poststop: container %s: ipcnsd still lists it after %d ms", id,
			    FORGET_WAIT_MS);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	struct ipcns_settings s;
	char err[IPCNS_ERR_MAX];
	int ret;

	openlog(PROGRAM, LOG_PID, LOG_DAEMON);
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	/* hooks.d passes the stage as the one argument (hook.args).  */
	if (argc != 2 || (strcmp(argv[1], "precreate") && strcmp(argv[1], "poststop"))) {
		usage(stderr);
		return 2;
	}
	ret = ipcns_settings_load(&s, IPCNS_SETTINGS_PATH, err, sizeof(err));
	if (ret < 0) {
		say(LOG_ERR, "%s", err);
		return 1;
	}
	ret = !strcmp(argv[1], "precreate") ? precreate(&s) : poststop(&s);
	ipcns_settings_clear(&s);
	return ret < 0 ? 1 : 0;
}
