/* SPDX-License-Identifier: MIT */
/* x32 System V IPC calls (the x86_64 numbers with __X32_SYSCALL_BIT):
 * shmget, msgget, semget; one raw result per line (-errno, or an id).
 * A kernel without CONFIG_X86_X32_ABI answers ENOSYS, and so does
 * ipcnsd (compat32.bats).  */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32 0x40000000L

int main(void)
{
	long r[3] = {
	    syscall(X32 | SYS_shmget, 0L, 4096L, 01600L),
	    syscall(X32 | SYS_msgget, 0L, 01600L),
	    syscall(X32 | SYS_semget, 0L, 1L, 01600L),
	};
	for (int i = 0; i < 3; i++)
		printf("%ld\n", r[i] < 0 ? -(long)errno : r[i]);
	return 0;
}
