/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * ipcns-hook: an OCI hook for podman and the other users of containers-common
 * hooks.d files (runtime-hook/hooks.d/ipcns.json, oci-hooks(5)).
 *
 *   ipcns-hook precreate   a config filter: the container's config.json on
 *                          stdin, the same config with ipcns-runtime's edit
 *                          (config_edit.c) on stdout.
 *   ipcns-hook mount --view DIR
 *                          a createContainer hook (added by the edit when
 *                          ipcnsd serves the view): binds DIR's sysvipc and
 *                          sys/kernel files over the container's
 *                          /proc/sysvipc and /proc/sys/kernel/<sysctl>, or
 *                          masks /proc/sysvipc when DIR is not served.
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
#include <limits.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
	fprintf(f, "Usage: " PROGRAM " precreate|poststop|mount --view DIR\n"
		   "An OCI hook (runtime-hook/hooks.d/ipcns.json): precreate edits the config on stdin\n"
		   "for ipcnsd and writes it to stdout; poststop reads the container state on\n"
		   "stdin and tells ipcnsd the container is gone; mount (a createContainer\n"
		   "hook) mounts ipcnsd's /proc/sysvipc and IPC sysctls in the container.\n");
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
	char err[IPCNS_ERR_MAX], view_dir[PATH_MAX], self[PATH_MAX];
	int ret;
	ssize_t n;

	ipcns_view_dir(s->socket, view_dir, sizeof(view_dir));
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0 && ipcns_view_live(view_dir)) {
		self[n] = '\0';
		edit.view_hook = self;
		edit.view_dir = view_dir;
	}

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

/* The container's rootfs, as the runtime resolves it: config.json's
 * root.path, relative to the bundle.  The hook runs in the container's
 * mount namespace before pivot_root, where host paths still resolve.  */
static int rootfs_of(json_t *state, char *out, size_t size)
{
	const char *bundle = json_string_value(json_object_get(state, "bundle"));
	char path[PATH_MAX];
	json_error_t jerr;
	cleanup_json json_t *config = NULL;
	const char *root;

	if (bundle == NULL || bundle[0] != '/') {
		say(LOG_ERR, "mount: the state on stdin has no absolute \"bundle\"");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	config = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	root = json_string_value(json_object_get(json_object_get(config, "root"), "path"));
	if (root == NULL) {
		say(LOG_ERR, "mount: %s: no root.path (%s)", path, config ? "" : jerr.text);
		return -EINVAL;
	}
	if ((size_t)(root[0] == '/' ? snprintf(out, size, "%s", root) : snprintf(out, size, "%s/%s", bundle, root)) >=
	    size)
		return -ENAMETOOLONG;
	return 0;
}

/* /proc/sysvipc not served: hidden as runc's maskedPaths hides a
 * directory, a read-only empty tmpfs.  */
static void mask_sysvipc(const char *rootfs, const char *why)
{
	char target[PATH_MAX + 64];

	snprintf(target, sizeof(target), "%s/proc/sysvipc", rootfs);
	if (mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k") < 0)
		say(LOG_WARNING, "mount: %s; masking %s failed too: %s", why, target, strerror(errno));
	else
		say(LOG_NOTICE, "mount: %s: /proc/sysvipc masked in the container", why);
}

struct binds {
	const char *view_dir, *rootfs;
};

static const char *const sysctl_names[] = { "shmmax", "shmall",      "shmmni",	    "shm_rmid_forced",
					    "msgmax", "msgmni",      "msgmnb",	    "sem",
					    "sem_next_id", "msg_next_id", "shm_next_id" };

/* In a child (ipcns_run_bounded): the binds, in the container's mount
 * namespace, which the child shares.  0 once /proc/sysvipc is bound.  */
static int bind_view(void *arg)
{
	const struct binds *b = arg;
	char src[PATH_MAX + 64], dst[PATH_MAX + 64];
	struct stat st;

	snprintf(src, sizeof(src), "%s/sysvipc", b->view_dir);
	snprintf(dst, sizeof(dst), "%s/proc/sysvipc", b->rootfs);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		say(LOG_WARNING, "mount: binding %s on %s: %s", src, dst, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(sysctl_names) / sizeof(sysctl_names[0]); i++) {
		snprintf(src, sizeof(src), "%s/sys/kernel/%s", b->view_dir, sysctl_names[i]);
		snprintf(dst, sizeof(dst), "%s/proc/sys/kernel/%s", b->rootfs, sysctl_names[i]);
		/* A kernel without CONFIG_CHECKPOINT_RESTORE has no
		 * *_next_id: the container's /proc is the reference.  */
		if (stat(dst, &st) < 0)
			continue;
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			say(LOG_WARNING, "mount: binding %s on %s: %s; the kernel's value shows there", src, dst,
			    strerror(errno));
	}
	return 0;
}

static int view_mount(const char *view_dir)
{
	cleanup_json json_t *state = NULL;
	char rootfs[PATH_MAX], dst[PATH_MAX + 64];
	struct stat st;
	int ret;

	state = load_stdin("mount", "state");
	if (state == NULL)
		return -EINVAL;
	ret = rootfs_of(state, rootfs, sizeof(rootfs));
	if (ret < 0)
		return ret;
	snprintf(dst, sizeof(dst), "%s/proc/sysvipc", rootfs);
	if (stat(dst, &st) < 0) {
		/* No /proc in the container (or no SysV IPC in the kernel):
		 * nothing to cover.  */
		say(LOG_NOTICE, "mount: %s: %s; nothing to mount", dst, strerror(errno));
		return 0;
	}
	if (!ipcns_view_live(view_dir)) {
		char why[PATH_MAX + 64];
		snprintf(why, sizeof(why), "ipcnsd does not serve %s (or does not answer)", view_dir);
		mask_sysvipc(rootfs, why);
		return 0;
	}
	/* The binds look the files up on ipcnsd's FUSE mount: bounded too,
	 * so that a daemon that stops answering now does not hold up the
	 * container.  */
	struct binds b = { .view_dir = view_dir, .rootfs = rootfs };
	ret = ipcns_run_bounded(bind_view, &b, 5 * IPCNS_VIEW_CHECK_MS);
	if (ret < 0) {
		char why[PATH_MAX + 64];
		snprintf(why, sizeof(why), "binding %s: %s", view_dir,
			 ret == -ETIMEDOUT ? "ipcnsd did not answer" : "failed");
		mask_sysvipc(rootfs, why);
	}
	return 0;
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
	if (argc == 4 && !strcmp(argv[1], "mount") && !strcmp(argv[2], "--view"))
		return view_mount(argv[3]) < 0 ? 1 : 0;
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
