/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * Settings of ipcns-runtime and ipcns-hook.  /etc/ipcns/config.json may hold
 * keys for other ipcns programs; only "runtime" and "socket" are read here
 * and the others are left alone.  */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "settings.h"
#include "oci_util.h"

/* An unset and an empty variable mean the same, as in most shells' ${X:-}. */
static const char *env(const char *name)
{
	const char *value = getenv(name);

	return value != NULL && value[0] != '\0' ? value : NULL;
}

/* The file's top-level object, or NULL in *OUT when there is no file.  */
static int load_file(const char *path, json_t **out, char *err, size_t errlen)
{
	cleanup_close int fd = -1;
	json_t *root;
	json_error_t jerr;
	struct stat st;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return ipcns_error(err, errlen, -errno, "cannot open %s: %s", path,
				   strerror(errno));
	if (fstat(fd, &st) < 0)
		return ipcns_error(err, errlen, -errno, "cannot stat %s: %s", path,
				   strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ipcns_error(err, errlen, -EINVAL, "%s is not a regular file", path);
	root = json_loadfd(fd, 0, &jerr);
	if (root == NULL)
		return ipcns_error(err, errlen, -EINVAL, "%s:%d:%d: %s", path, jerr.line,
				   jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return ipcns_error(err, errlen, -EINVAL, "%s: the top level is not a JSON object",
				   path);
	}
	*out = root;
	return 0;
}

static int file_string(json_t *root, const char *path, const char *key, const char **value,
		       char *err, size_t errlen)
{
	json_t *v = json_object_get(root, key);

	*value = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_value(v)[0] == '\0' ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ipcns_error(err, errlen, -EINVAL,
				   "%s: key \"%s\" must be a non-empty string without NUL", path,
				   key);
	*value = json_string_value(v);
	return 0;
}

static int check_socket(const char *socket, const char *from, char *err, size_t errlen)
{
	struct sockaddr_un sun;

	if (socket[0] != '/')
		return ipcns_error(err, errlen, -EINVAL,
				   "%s: the socket %s is not an absolute path", from, socket);
	/* runc and crun connect() to it: it must fit sun_path with its
	 * terminating NUL.  */
	if (strlen(socket) >= sizeof(sun.sun_path))
		return ipcns_error(err, errlen, -EINVAL,
				   "%s: the socket path %s is longer than %zu bytes", from, socket,
				   sizeof(sun.sun_path) - 1);
	return 0;
}

int ipcns_settings_load(struct ipcns_settings *s, const char *path, char *err, size_t errlen)
{
	cleanup_json json_t *root = NULL;
	char label[4096];
	const char *runtime, *socket, *metadata, *v;
	int ret;

	memset(s, 0, sizeof(*s));
	s->runtime_from = "the default";
	s->socket_from = "the default";
	runtime = IPCNS_DEFAULT_RUNTIME;
	socket = IPCNS_DEFAULT_SOCKET;

	/* Read even when the environment overrides both keys, so that a
	 * broken file is found on the first run, not on the day the
	 * environment changes.  */
	ret = load_file(path, &root, err, errlen);
	if (ret < 0)
		return ret;
	ret = file_string(root, path, "runtime", &v, err, errlen);
	if (ret < 0)
		return ret;
	if (v != NULL) {
		runtime = v;
		s->runtime_from = "the key \"runtime\" of the settings file";
	}
	ret = file_string(root, path, "socket", &v, err, errlen);
	if (ret < 0)
		return ret;
	if (v != NULL) {
		socket = v;
		s->socket_from = "the key \"socket\" of the settings file";
	}

	v = env("IPCNS_RUNTIME");
	if (v != NULL) {
		runtime = v;
		s->runtime_from = "IPCNS_RUNTIME";
	}
	v = env("IPCNS_SOCKET");
	if (v != NULL) {
		socket = v;
		s->socket_from = "IPCNS_SOCKET";
	}
	metadata = env("IPCNS_LISTENER_METADATA");

	if (strcmp(s->socket_from, "IPCNS_SOCKET") == 0)
		snprintf(label, sizeof(label), "IPCNS_SOCKET");
	else
		snprintf(label, sizeof(label), "%s: key \"socket\"", path);
	ret = check_socket(socket, label, err, errlen);
	if (ret < 0)
		return ret;

	s->runtime = strdup(runtime);
	s->socket = strdup(socket);
	s->listener_metadata = metadata != NULL ? strdup(metadata) : NULL;
	if (s->runtime == NULL || s->socket == NULL ||
	    (metadata != NULL && s->listener_metadata == NULL)) {
		ipcns_settings_clear(s);
		return ipcns_error(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

void ipcns_settings_clear(struct ipcns_settings *s)
{
	free(s->runtime);
	free(s->socket);
	free(s->listener_metadata);
	s->runtime = s->socket = s->listener_metadata = NULL;
}

void ipcns_view_dir(const char *socket, char *out, size_t size)
{
	size_t len = strlen(socket);

	if (len > 5 && strcmp(socket + len - 5, ".sock") == 0)
		snprintf(out, size, "%.*s.view", (int)(len - 5), socket);
	else
		snprintf(out, size, "%s.view", socket);
}

int ipcns_run_bounded(int (*fn)(void *), void *arg, int timeout_ms)
{
	pid_t pid = fork();
	int pfd, status, ret;

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg) == 0 ? 0 : 1);
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		while ((ret = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
			;
		close(pfd);
		if (ret == 0)
			kill(pid, SIGKILL); /* a FUSE wait ends on SIGKILL */
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return -ETIMEDOUT;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int view_check(void *arg)
{
	const char *dir = arg;
	char path[PATH_MAX];
	struct statfs sf;
	struct stat st;

	if (statfs(dir, &sf) < 0 || sf.f_type != IPCNS_FUSE_SUPER_MAGIC)
		return -1;
	snprintf(path, sizeof(path), "%s/sysvipc/shm", dir);
	return stat(path, &st);
}

bool ipcns_view_live(const char *dir)
{
	/* A FUSE request waits for ipcnsd to answer: a stopped or wedged
	 * ipcnsd must not hold up the creation of a container, which then
	 * gets /proc/sysvipc masked.  */
	return ipcns_run_bounded(view_check, (void *)dir, IPCNS_VIEW_CHECK_MS) == 0;
}

int ipcns_view_hook_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(out, size, "%s/ipcns-hook", self) >= size)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -errno;
}
