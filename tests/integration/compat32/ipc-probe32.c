/* SPDX-License-Identifier: MIT */
/* An i386 program without a C library (the machine has no 32-bit
 * development files): it makes System V IPC calls the ways a 32-bit
 * program can, through the ipc(2) multiplexer (number 117) and through the
 * direct calls of syscall_32.tbl (shmget 395, msgget 399, semget 393), and
 * prints each raw result, one per line (an id, or -errno).  compat32.bats
 * builds it with gcc -m32 -nostdlib -static.  */
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
	put(sc6(395 /* shmget */, 0, 4096, 01600, 0, 0, 0));
	put(sc6(399 /* msgget */, 0, 01600, 0, 0, 0, 0));
	put(sc6(393 /* semget */, 0, 1, 01600, 0, 0, 0));
	sc6(1 /* exit */, 0, 0, 0, 0, 0, 0);
}
