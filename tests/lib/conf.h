/* SPDX-License-Identifier: MIT */
/* Conformance test harness: the same binary runs natively and under
 * ipcnsd, so every expectation is checked against Linux itself.  Output is
 * TAP-like; exit 0 = all passed, 1 = a check failed, 77 = skipped.  */
#ifndef IPCNS_CONF_H
#define IPCNS_CONF_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

static int conf_failed, conf_checks;

/* The *_STAT_ANY commands (Linux 4.17) for older headers.  */
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

#define CONF_FAIL(fmt, ...)                                                                        \
	do {                                                                                       \
		conf_failed++;                                                                     \
		fprintf(stderr, "FAIL %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);       \
	} while (0)

/* The call must succeed (return >= 0).  Evaluates to the result.  */
#define CHECK_OK(call)                                                                             \
	({                                                                                         \
		errno = 0;                                                                         \
		long _r = (long)(call);                                                            \
		conf_checks++;                                                                     \
		if (_r < 0)                                                                        \
			CONF_FAIL("%s = %ld, errno %d (%s)", #call, _r, errno, strerror(errno));   \
		_r;                                                                                \
	})

/* The call must fail with -1 and errno == err.  */
#define CHECK_ERR(call, err)                                                                       \
	do {                                                                                       \
		errno = 0;                                                                         \
		long _r = (long)(call);                                                            \
		int _e = errno;                                                                    \
		conf_checks++;                                                                     \
		if (_r != -1 || _e != (err))                                                       \
			CONF_FAIL("%s = %ld errno %d (%s), want -1 errno %d (%s)", #call, _r, _e,  \
				  strerror(_e), (err), strerror(err));                             \
	} while (0)

#define CHECK_TRUE(cond)                                                                           \
	do {                                                                                       \
		conf_checks++;                                                                     \
		if (!(cond))                                                                       \
			CONF_FAIL("%s is false", #cond);                                           \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_got_ = (long long)(a), check_want_ = (long long)(b);               \
		conf_checks++;                                                                     \
		if (check_got_ != check_want_)                                                     \
			CONF_FAIL("%s = %lld, want %s = %lld", #a, check_got_, #b, check_want_);   \
	} while (0)

#define CONF_SKIP(why)                                                                             \
	do {                                                                                       \
		printf("SKIP: %s\n", why);                                                         \
		exit(77);                                                                          \
	} while (0)

/* The number a small /proc or /sys file starts with, or -1 when it cannot
 * be read: the machine's settings some checks depend on.  */
static inline long conf_read_long(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n == 0)
		return -1;
	buf[n] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	return end == buf ? -1 : v;
}

/* Write TEXT to a small /proc file in one write(2): 0, or -errno.  */
static inline int conf_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

/* Are /proc/sysvipc and the IPC sysctls under /proc/sys/kernel those of
 * the namespace the calls reach?  Natively, yes.  Under ipcnsd
 * (IPCNS_UNDER=1) only where ipcnsd's view (a FUSE file system,
 * spec/view.md) is bound over them: a container's ipcns-hook, or
 * ipcns-run --view; elsewhere they are the unused kernel namespace's.  */
static inline bool conf_view_ours(void)
{
	const char *u = getenv("IPCNS_UNDER");
	struct statfs sf;
	if (!u || strcmp(u, "1") != 0)
		return true;
	return statfs("/proc/sysvipc", &sf) == 0 && sf.f_type == 0x65735546 /* FUSE_SUPER_MAGIC */;
}

/* For a program all about those files: a skip where they are not ours.  */
static inline void conf_need_view(void)
{
	if (!conf_view_ours())
		CONF_SKIP("under ipcnsd without its view: /proc/sysvipc is not served (ipcns-run --view)");
}

static inline int conf_done(const char *name)
{
	if (conf_failed) {
		printf("not ok - %s: %d of %d checks failed\n", name, conf_failed, conf_checks);
		return 1;
	}
	printf("ok - %s: %d checks\n", name, conf_checks);
	return 0;
}

#endif
