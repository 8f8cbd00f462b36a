/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The bundle's config.json, edited in place.  */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "oci_util.h"

static int write_config(int fd, json_t *config, const struct stat *st)
{
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return -errno;
	/* Only root can give the file away; the runtime reads it as root, or
	 * as the rootless user who owns the bundle, so a bundle we may
	 * rewrite but not chown still works.  */
	if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM)
		return -errno;
	errno = 0;
	if (json_dumpfd(config, fd, JSON_INDENT(2)) < 0)
		return errno != 0 ? -errno : -EIO;
	if (write(fd, "\n", 1) != 1)
		return errno != 0 ? -errno : -EIO;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

/* The rename is visible to the runtime we exec next whether or not the
 * directory reaches the disk; syncing it only matters across a host crash,
 * which no bundle outlives.  So this is best effort.  */
static void sync_dir(const char *path)
{
	cleanup_free char *dir = strdup(path);
	cleanup_close int fd = -1;
	char *slash;

	if (dir == NULL)
		return;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}

static int replace_file(const char *path, json_t *config, const struct stat *st, char *err,
			size_t errlen)
{
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;
	const char *slash = strrchr(path, '/');
	int ret;

	/* In the same directory, so that rename() replaces the file
	 * atomically: the runtime reads either the old or the new config.  */
	if (slash != NULL)
		ret = asprintf(&tmp, "%.*s/.%s.ipcns-XXXXXX", (int)(slash - path), path, slash + 1);
	else
		ret = asprintf(&tmp, ".%s.ipcns-XXXXXX", path);
	if (ret < 0) {
		tmp = NULL;
		return ipcns_error(err, errlen, -ENOMEM, "out of memory");
	}

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ipcns_error(err, errlen, -errno,
				   "cannot create a temporary file next to %s: %s", path,
				   strerror(errno));
	ret = write_config(fd, config, st);
	if (ret == 0 && close(move_fd(&fd)) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ipcns_error(err, errlen, ret, "cannot write %s: %s", tmp, strerror(-ret));
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
		return ipcns_error(err, errlen, ret, "cannot rename %s to %s: %s", tmp, path,
				   strerror(-ret));
	}
	sync_dir(path);
	return 0;
}

int ipcns_config_file_edit(const char *path, const struct ipcns_edit *edit, char *err,
			   size_t errlen)
{
	cleanup_close int fd = -1;
	cleanup_json json_t *config = NULL;
	cleanup_json json_t *orig = NULL;
	char msg[IPCNS_ERR_MAX];
	json_error_t jerr;
	struct stat st;
	int ret;

	/* rename() would replace a link by a file and leave its target, which
	 * other bundles may share, unedited: refuse rather than guess.
	 * O_NONBLOCK: a FIFO must not hang us before the S_ISREG check.  */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return ipcns_error(err, errlen, -ELOOP,
				   "%s is a symbolic link; ipcns-runtime rewrites config.json and "
				   "will not replace a link",
				   path);
	if (fd < 0)
		return ipcns_error(err, errlen, -errno, "cannot open %s: %s", path,
				   strerror(errno));
	if (fstat(fd, &st) < 0)
		return ipcns_error(err, errlen, -errno, "cannot stat %s: %s", path,
				   strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ipcns_error(err, errlen, -EINVAL, "%s is not a regular file", path);

	/* Go's decoder, which runc uses, accepts \u0000 in strings.  */
	config = json_loadfd(fd, JSON_ALLOW_NUL, &jerr);
	if (config == NULL)
		return ipcns_error(err, errlen, -EINVAL, "%s:%d:%d: %s", path, jerr.line,
				   jerr.column, jerr.text);
	orig = json_deep_copy(config);
	if (orig == NULL)
		return ipcns_error(err, errlen, -ENOMEM, "out of memory");

	ret = ipcns_config_edit(config, edit, msg, sizeof(msg));
	if (ret < 0)
		return ipcns_error(err, errlen, ret, "%s: %s", path, msg);

	/* Already edited (a second `run' of the bundle, or a bundle prepared
	 * by ipcns-hook): leave the file, which may be on a read-only
	 * filesystem, alone.  */
	if (json_equal(orig, config))
		return 0;

	ret = replace_file(path, config, &st, err, errlen);
	return ret < 0 ? ret : 1;
}
