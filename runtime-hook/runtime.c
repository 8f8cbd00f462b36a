/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * ipcns-runtime: an OCI runtime shim.  On `create' and `run' it edits the
 * bundle's config.json so that the System V IPC system calls go to ipcnsd
 * (config_edit.c), then execs the real runtime (runc, crun) with the same
 * arguments; every other command goes straight to the real runtime.
 * spec/runtime.md is its manual.  */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "argv.h"
#include "bundle.h"
#include "log.h"
#include "settings.h"
#include "oci_util.h"

#define PROGRAM "ipcns-runtime"

/* Report an error the way runc does: on stderr, which containerd, CRI-O and
 * podman show when the runtime fails, and in the --log file, which
 * containerd reads instead when it gave one.  */
static void fail(const struct ipcns_cmdline *cl, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void fail(const struct ipcns_cmdline *cl, const char *fmt, ...)
{
	char msg[IPCNS_ERR_MAX + 64];
	size_t n;
	va_list ap;
	int ret;

	n = (size_t)snprintf(msg, sizeof(msg), PROGRAM ": ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", msg);
	if (cl != NULL && cl->log != NULL) {
		ret = ipcns_log_append(cl->log, cl->log_format, msg);
		if (ret < 0)
			fprintf(stderr, PROGRAM ": cannot append to %s: %s\n", cl->log,
				strerror(-ret));
	}
	exit(1);
}

/* The file execvp() would run for NAME, or -ENOENT.  */
static int find_in_path(const char *name, char **out)
{
	const char *path = getenv("PATH");
	const char *dir, *end;
	struct stat st;

	*out = NULL;
	if (strchr(name, '/') != NULL) {
		*out = strdup(name);
		return *out != NULL ? 0 : -ENOMEM;
	}
	/* glibc's execvp default when PATH is unset.  */
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (dir = path;; dir = end + 1) {
		cleanup_free char *file = NULL;
		int len;

		end = strchrnul(dir, ':');
		len = (int)(end - dir);
		if (asprintf(&file, "%.*s%s%s", len, dir, len > 0 ? "/" : "", name) < 0) {
			file = NULL;
			return -ENOMEM;
		}
		if (access(file, X_OK) == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			*out = steal_pointer(&file);
			return 0;
		}
		if (*end == '\0')
			return -ENOENT;
	}
}

/* Installed as `runc' earlier in PATH, or named by IPCNS_RUNTIME by mistake,
 * the shim would exec itself forever.  */
static void check_not_self(const struct ipcns_cmdline *cl, const struct ipcns_settings *s)
{
	cleanup_free char *file = NULL;
	struct stat self, target;

	if (find_in_path(s->runtime, &file) < 0)
		return; /* execvp() reports it.  */
	if (stat("/proc/self/exe", &self) < 0 || stat(file, &target) < 0)
		return;
	if (self.st_dev == target.st_dev && self.st_ino == target.st_ino)
		fail(cl,
		     "the runtime %s (from %s) is " PROGRAM
		     " itself; name the real runtime with IPCNS_RUNTIME or the key \"runtime\" "
		     "of " IPCNS_SETTINGS_PATH,
		     file, s->runtime_from);
}

/* runc and crun fail at the connect too, but say less: name the socket
 * and what to do.  A connection that sends nothing is a probe to ipcnsd.  */
static void check_daemon(const struct ipcns_cmdline *cl, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		fail(cl, "socket path too long (%zu bytes, at most %zu): %s", strlen(path), sizeof(sa.sun_path) - 1,
		     path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail(cl, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail(cl,
		     "ipcnsd is not running: cannot connect to %s: %s; start it (ipcnsd --socket %s, or systemctl "
		     "start ipcnsd) or set IPCNS_SOCKET to the socket it listens on",
		     path, strerror(errno), path);
	close(fd);
}

int main(int argc, char **argv)
{
	struct ipcns_cmdline cl;
	struct ipcns_settings s;
	char err[IPCNS_ERR_MAX];
	int ret;

	if (argc < 1)
		fail(NULL, "no argv[0]");
	ret = ipcns_cmdline_parse(argc, argv, &cl, err, sizeof(err));
	if (ret < 0)
		fail(&cl, "%s", err);
	ret = ipcns_settings_load(&s, IPCNS_SETTINGS_PATH, err, sizeof(err));
	if (ret < 0)
		fail(&cl, "%s", err);

	if (cl.edit) {
		cleanup_free char *path = NULL;
		struct ipcns_edit edit = {
			.socket = s.socket,
			.listener_metadata = s.listener_metadata,
		};
		char view_dir[PATH_MAX], hook[PATH_MAX];

		/* ipcnsd serves /proc/sysvipc and the IPC sysctls: the hook
		 * beside this program mounts them in the container.  */
		ipcns_view_dir(s.socket, view_dir, sizeof(view_dir));
		if (ipcns_view_live(view_dir) && ipcns_view_hook_path(hook, sizeof(hook)) == 0) {
			edit.view_hook = hook;
			edit.view_dir = view_dir;
		}

		if (ipcns_cmdline_config_path(&cl, &path) < 0)
			fail(&cl, "out of memory");
		ret = ipcns_config_file_edit(path, &edit, err, sizeof(err));
		if (ret < 0)
			fail(&cl, "%s", err);
		check_daemon(&cl, s.socket);
	}

	check_not_self(&cl, &s);
	argv[0] = s.runtime;
	execvp(s.runtime, argv);
	fail(&cl, "cannot execute %s (from %s): %s", s.runtime, s.runtime_from, strerror(errno));
}
