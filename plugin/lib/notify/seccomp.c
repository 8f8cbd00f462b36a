/* SPDX-License-Identifier: MIT */
/* Raw seccomp user-notification ioctls.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/ioctl.h>

#include "notify.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

int ipcns_seccomp_recv(int fd, struct seccomp_notif *req)
{
	/* The kernel insists on a zeroed buffer.  */
	memset(req, 0, sizeof(*req));
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
		return -errno;
	return 0;
}

int ipcns_seccomp_send(int fd, uint64_t id, int64_t val, int error)
{
	struct seccomp_notif_resp resp = { .id = id, .val = val, .error = error, .flags = 0 };
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
		return -errno;
	return 0;
}

/* Let the kernel run the call.  Safe for what is trapped only to be let
 * through (remap_file_pages): the kernel checks the call as if no filter
 * were there, and it gives the caller nothing it could not do itself.  */
int ipcns_seccomp_continue(int fd, uint64_t id)
{
	struct seccomp_notif_resp resp = { .id = id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
		return -errno;
	return 0;
}

int ipcns_seccomp_id_valid(int fd, uint64_t id)
{
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
		return -errno;
	return 0;
}

int ipcns_seccomp_addfd(int fd, uint64_t id, int srcfd, bool cloexec)
{
	struct seccomp_notif_addfd a = {
		.id = id,
		.flags = 0,
		.srcfd = (uint32_t)srcfd,
		.newfd = 0,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};
	int ret = ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	return ret < 0 ? -errno : ret;
}

int ipcns_seccomp_sync_wakeup(int fd)
{
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		return -errno;
	return 0;
}
