/* SPDX-License-Identifier: MIT */
/* An i386 program without a C library: it makes System V IPC calls the
 * ways a 32-bit program can, through the ipc(2) multiplexer (number 117)
 * and through the direct calls of syscall_32.tbl, and prints one result
 * per line (an id, 0 or 1 for a check, or -errno): shmget, msgget and
 * semget by ipc(), then directly; a message sent with a 4-byte mtype and
 * received (its length, then 1 when type and text came back); a segment
 * attached directly (1: below 4 GiB, page-aligned, usable) and by
 * ipc(SHMAT) (0, then 1: the address written to *third), its nattch (2),
 * both detached (0 0).  compat32.bats builds it with gcc -m32 -nostdlib
 * -static.  */
static long sc6(long nr, long a, long b, long c, long d, long e, long f)
{
	long r;
	__asm__ volatile("push %%ebp; mov %7, %%ebp; int $0x80; pop %%ebp"
			 : "=a"(r)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "g"(f)
			 : "memory");
	return r;
}

static void put(long v)
{
	char b[24];
	int i = 23, neg = v < 0;
	unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
	b[i] = '\n';
	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (neg)
		b[--i] = '-';
	sc6(4 /* write */, 1, (long)(b + i), 24 - i, 0, 0, 0);
}

void _start(void);
void _start(void)
{
	put(sc6(117, 23 /* SHMGET */, 0 /* IPC_PRIVATE */, 4096, 01600, 0, 0));
	put(sc6(117, 13 /* MSGGET */, 0, 01600, 0, 0, 0));
	put(sc6(117, 2 /* SEMGET */, 0, 1, 01600, 0, 0));
	long shm = sc6(395 /* shmget */, 0, 4096, 01600, 0, 0, 0);
	long msq = sc6(399 /* msgget */, 0, 01600, 0, 0, 0, 0);
	put(shm);
	put(msq);
	put(sc6(393 /* semget */, 0, 1, 01600, 0, 0, 0));

	struct {
		int mtype;
		char text[8];
	} m = {5, "abc"}, r = {0, ""};
	sc6(400 /* msgsnd */, msq, (long)&m, 3, 0, 0, 0);
	put(sc6(401 /* msgrcv */, msq, (long)&r, 8, 0, 04000 /* IPC_NOWAIT */, 0));
	put(r.mtype == 5 && r.text[0] == 'a' && r.text[2] == 'c');

	unsigned long a = (unsigned long)sc6(397 /* shmat */, shm, 0, 0, 0, 0, 0);
	int ok = a < 0xfffff000UL && !(a & 4095);
	if (ok)
		*(volatile char *)a = 'x';
	put(ok);
	unsigned long b = 0;
	put(sc6(117, 21 /* SHMAT */, shm, 0, (long)&b, 0, 0));
	put(b && b != a && *(volatile char *)b == 'x');
	unsigned char ds[84];
	sc6(396 /* shmctl */, shm, 2 /* IPC_STAT */, (long)ds, 0, 0, 0);
	put(ds[72]); /* shm_nattch */
	put(sc6(398 /* shmdt */, (long)a, 0, 0, 0, 0, 0));
	put(sc6(117, 22 /* SHMDT */, 0, 0, 0, (long)b, 0));
	sc6(1 /* exit */, 0, 0, 0, 0, 0, 0);
}
