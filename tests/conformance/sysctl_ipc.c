/* SPDX-License-Identifier: MIT */
/* The IPC sysctls written through /proc/sys/kernel and obeyed by the
 * system calls of the same namespace:
 *  - kernel.shmmax lowered to 8192: a new segment of 8193 bytes is
 *    EINVAL, one of 8192 is made; an existing segment is still found by
 *    its key with any size up to its own (above it: EINVAL), also one
 *    made larger before the write; IPC_INFO reports the value;
 *  - kernel.{shm,msg,sem}_next_id: -1 until written; a value written is
 *    the id of the next object made (by key or IPC_PRIVATE), after which
 *    the file reads -1 again; a value that is an id in use gives the next
 *    object another id; a negative value is refused (EINVAL) and changes
 *    nothing;
 *  - kernel.auto_msgmni reads 0 and a write changes nothing (msgmni
 *    stays), as Linux keeps it only for compatibility.
 * Runs natively (a fresh kernel IPC namespace) and under ipcnsd where its
 * view is bound over /proc (conf_need_view).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conf.h"

static key_t key_base;

static void check_shmmax(void)
{
	char old[64];
	struct shminfo info;
	long v = conf_read_long("/proc/sys/kernel/shmmax");
	FILE *f = fopen("/proc/sys/kernel/shmmax", "re");
	if (v < 0 && !f) {
		CONF_FAIL("kernel.shmmax cannot be read");
		return;
	}
	if (f) {
		if (!fgets(old, sizeof(old), f))
			old[0] = '\0';
		fclose(f);
	}
	int big = CHECK_OK(syscall(SYS_shmget, key_base + 1, 16384, IPC_CREAT | IPC_EXCL | 0600));

	CHECK_EQ(conf_write_file("/proc/sys/kernel/shmmax", "8192"), 0);
	CHECK_EQ(conf_read_long("/proc/sys/kernel/shmmax"), 8192);
	CHECK_OK(syscall(SYS_shmctl, 0, IPC_INFO, &info));
	CHECK_EQ(info.shmmax, 8192);
	CHECK_ERR(syscall(SYS_shmget, key_base + 2, 8193, IPC_CREAT | IPC_EXCL | 0600), EINVAL);
	CHECK_ERR(syscall(SYS_shmget, IPC_PRIVATE, 8193, IPC_CREAT | 0600), EINVAL);
	int fit = CHECK_OK(syscall(SYS_shmget, key_base + 2, 8192, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_EQ(syscall(SYS_shmget, key_base + 2, 100, 0600), fit);
	CHECK_ERR(syscall(SYS_shmget, key_base + 2, 8193, 0600), EINVAL);
	CHECK_EQ(syscall(SYS_shmget, key_base + 1, 16384, 0600), big);
	CHECK_ERR(syscall(SYS_shmget, key_base + 1, 16385, 0600), EINVAL);
	/* A size below SHMMIN (1) is EINVAL whatever shmmax says.  */
	CHECK_ERR(syscall(SYS_shmget, key_base + 3, 0, IPC_CREAT | IPC_EXCL | 0600), EINVAL);

	CHECK_EQ(conf_write_file("/proc/sys/kernel/shmmax", old), 0);
	CHECK_EQ(conf_read_long("/proc/sys/kernel/shmmax"), v);
	int after = CHECK_OK(syscall(SYS_shmget, IPC_PRIVATE, 8193 * 2, IPC_CREAT | 0600));
	syscall(SYS_shmctl, after, IPC_RMID, NULL);
	syscall(SYS_shmctl, fit, IPC_RMID, NULL);
	syscall(SYS_shmctl, big, IPC_RMID, NULL);
}

struct kind {
	const char *name, *file;
	long (*make)(key_t key);
	long (*drop)(long id);
};

static long shm_make(key_t key)
{
	return syscall(SYS_shmget, key, 4096, IPC_CREAT | IPC_EXCL | 0600);
}
static long shm_drop(long id)
{
	return syscall(SYS_shmctl, id, IPC_RMID, NULL);
}
static long msg_make(key_t key)
{
	return syscall(SYS_msgget, key, IPC_CREAT | IPC_EXCL | 0600);
}
static long msg_drop(long id)
{
	return syscall(SYS_msgctl, id, IPC_RMID, NULL);
}
static long sem_make(key_t key)
{
	return syscall(SYS_semget, key, 1, IPC_CREAT | IPC_EXCL | 0600);
}
static long sem_drop(long id)
{
	return syscall(SYS_semctl, id, 0, IPC_RMID, 0);
}

static void check_next_id(const struct kind *k, key_t key)
{
	char text[32];
	long want = getpid();

	if (access(k->file, F_OK) < 0) {
		printf("# %s: absent (no CONFIG_CHECKPOINT_RESTORE)\n", k->file);
		return;
	}
	CHECK_EQ(conf_read_long(k->file), -1);
	/* By key, then IPC_PRIVATE, each time the id written.  */
	for (int i = 0; i < 2; i++) {
		snprintf(text, sizeof(text), "%ld", want + i);
		CHECK_EQ(conf_write_file(k->file, text), 0);
		CHECK_EQ(conf_read_long(k->file), want + i);
		long id = k->make(i == 0 ? key : IPC_PRIVATE);
		conf_checks++;
		if (id != want + i)
			CONF_FAIL("%s: %s = %ld, the next object's id is %ld (errno %s)", k->name, k->file, want + i,
				  id, id < 0 ? strerror(errno) : "-");
		CHECK_EQ(conf_read_long(k->file), -1);
		if (id >= 0)
			k->drop(id);
	}
	/* An id in use: the next object gets another one.  */
	long first = k->make(key);
	CHECK_TRUE(first >= 0);
	snprintf(text, sizeof(text), "%ld", first);
	CHECK_EQ(conf_write_file(k->file, text), 0);
	long second = k->make(key + 1);
	CHECK_TRUE(second >= 0);
	CHECK_TRUE(second != first);
	/* Refused: a negative value.  */
	CHECK_EQ(conf_write_file(k->file, "-5"), -EINVAL);
	CHECK_EQ(conf_write_file(k->file, "-1"), -EINVAL);
	CHECK_EQ(conf_read_long(k->file), -1);
	if (first >= 0)
		k->drop(first);
	if (second >= 0)
		k->drop(second);
}

static void check_auto_msgmni(void)
{
	struct msginfo before, after;
	if (access("/proc/sys/kernel/auto_msgmni", F_OK) < 0) {
		printf("# kernel.auto_msgmni: absent\n");
		return;
	}
	CHECK_EQ(conf_read_long("/proc/sys/kernel/auto_msgmni"), 0);
	CHECK_OK(syscall(SYS_msgctl, 0, IPC_INFO, &before));
	int e = conf_write_file("/proc/sys/kernel/auto_msgmni", "1");
	conf_checks++;
	/* EROFS where /proc/sys is read-only (a container's), as for
	 * Linux's own file there.  */
	if (e != 0 && e != -EROFS)
		CONF_FAIL("writing kernel.auto_msgmni: %s", strerror(-e));
	CHECK_EQ(conf_read_long("/proc/sys/kernel/auto_msgmni"), 0);
	CHECK_OK(syscall(SYS_msgctl, 0, IPC_INFO, &after));
	CHECK_EQ(after.msgmni, before.msgmni);
}

int main(void)
{
	static const struct kind kinds[] = {
		{ "shm", "/proc/sys/kernel/shm_next_id", shm_make, shm_drop },
		{ "msg", "/proc/sys/kernel/msg_next_id", msg_make, msg_drop },
		{ "sem", "/proc/sys/kernel/sem_next_id", sem_make, sem_drop },
	};
	conf_need_view();
	if (geteuid() != 0)
		CONF_SKIP("needs root");
	key_base = 0x5c710000 + (getpid() & 0xff) * 0x10000;

	check_shmmax();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		check_next_id(&kinds[i], key_base + 100 + (key_t)i * 10);
	check_auto_msgmni();
	return conf_done("sysctl_ipc");
}
