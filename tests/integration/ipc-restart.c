/* SPDX-License-Identifier: MIT */
/* The container side of restart.bats: System V IPC in use while ipcnsd
 * restarts or dies, driven by files in DIR.
 *
 *   ipc-restart DIR
 *
 * - a stream: a producer sends messages numbered 1, 2, 3... on a queue,
 *   a consumer receives them and checks each is the next one (nothing
 *   lost, nothing twice); both block in the daemon often (parked calls);
 * - semaphores: a holder takes semaphore 0 (value 1) and 2 of semaphore 1
 *   (value 5) with SEM_UNDO; a waiter is parked in semop on semaphore 0
 *   until the holder exits and its undo gives it back;
 * - a segment of 1 MiB attached by this process and a child, written
 *   with a pattern.
 *
 * Files: DIR/ready once all of that runs; on DIR/snapN-req, DIR/snapN
 * with every value and count; on DIR/finish the holder exits, the stream
 * stops, the child checks the segment, and DIR/final gets the results,
 * then DIR/done.  Any error of any call goes to DIR/errors.  */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG (1 << 20)

static const char *dir;

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool exists(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void wait_file(const char *name)
{
	while (!exists(name))
		msleep(10);
}

static void put(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *name, const char *fmt, ...)
{
	char path[512], tmp[520];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	rename(tmp, path);
}

/* Appended, one line per error, never replaced.  */
static void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error(const char *fmt, ...)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/errors", dir);
	FILE *f = fopen(path, "ae");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(f, "pid %d: ", (int)getpid());
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

struct smsg {
	long mtype; /* 1: a number; 2: the end, with the last number */
	uint64_t seq;
};

static int producer(int q)
{
	uint64_t seq = 0;
	for (;;) {
		if ((seq & 255) == 0 && exists("stop"))
			break;
		struct smsg m = { 1, ++seq };
		if (msgsnd(q, &m, sizeof(m.seq), 0) < 0) {
			error("msgsnd of %llu: %s", (unsigned long long)seq, strerrorname_np(errno));
			return 1;
		}
	}
	struct smsg end = { 2, seq };
	if (msgsnd(q, &end, sizeof(end.seq), 0) < 0) {
		error("msgsnd of the end: %s", strerrorname_np(errno));
		return 1;
	}
	return 0;
}

static int consumer(int q)
{
	uint64_t expect = 1;
	for (;;) {
		struct smsg m;
		ssize_t n = msgrcv(q, &m, sizeof(m.seq), 0, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error("msgrcv after %llu: %s", (unsigned long long)expect - 1, strerrorname_np(errno));
			return 1;
		}
		if (n != sizeof(m.seq)) {
			error("msgrcv: %zd bytes", n);
			return 1;
		}
		if (m.mtype == 2) {
			if (m.seq != expect - 1) {
				error("stream ended at %llu, received up to %llu", (unsigned long long)m.seq,
				      (unsigned long long)expect - 1);
				return 1;
			}
			put("stream", "stream = %llu messages in order\n", (unsigned long long)m.seq);
			return 0;
		}
		if (m.seq != expect) {
			error("message %llu received when %llu was next (%s)", (unsigned long long)m.seq,
			      (unsigned long long)expect, m.seq < expect ? "twice" : "lost");
			return 1;
		}
		expect++;
	}
}

static int sem_holder(int s)
{
	struct sembuf take[2] = { { 0, -1, SEM_UNDO }, { 1, -2, SEM_UNDO } };
	if (semop(s, take, 2) < 0) {
		error("holder semop: %s", strerrorname_np(errno));
		return 1;
	}
	put("held", "held\n");
	wait_file("finish");
	return 0; /* the undo gives both back */
}

static int sem_waiter(int s)
{
	wait_file("held");
	struct sembuf take = { 0, -1, 0 }, give = { 0, 1, 0 };
	if (semop(s, &take, 1) < 0) {
		error("parked semop: %s", strerrorname_np(errno));
		return 1;
	}
	if (!exists("finish"))
		error("the parked semop returned before the holder exited");
	if (semop(s, &give, 1) < 0) {
		error("semop +1: %s", strerrorname_np(errno));
		return 1;
	}
	return 0;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 7 + 3) % 251);
}

static bool pattern_ok(const unsigned char *p)
{
	for (size_t i = 0; i < SEG; i++)
		if (p[i] != pattern(i))
			return false;
	return true;
}

static int shm_child(int shm)
{
	unsigned char *p = shmat(shm, NULL, 0);
	if (p == (void *)-1) {
		error("child shmat: %s", strerrorname_np(errno));
		return 1;
	}
	wait_file("finish");
	/* Through the mapping made before the restart, and a new one.  */
	unsigned char *p2 = shmat(shm, NULL, SHM_RDONLY);
	if (p2 == (void *)-1) {
		error("child shmat after the restart: %s", strerrorname_np(errno));
		return 1;
	}
	if (!pattern_ok(p) || !pattern_ok(p2)) {
		error("the segment's contents changed");
		return 1;
	}
	if (shmdt(p2) < 0 || shmdt(p) < 0) {
		error("child shmdt: %s", strerrorname_np(errno));
		return 1;
	}
	return 0;
}

static pid_t spawn(int (*fn)(int), int arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0)
		error("fork: %s", strerrorname_np(errno));
	return pid;
}

static void snapshot(int n, int s, int shm, int q)
{
	struct shmid_ds sd;
	struct msqid_ds md;
	char name[32];
	if (shmctl(shm, IPC_STAT, &sd) < 0 || msgctl(q, IPC_STAT, &md) < 0)
		error("snapshot: %s", strerrorname_np(errno));
	snprintf(name, sizeof(name), "snap%d", n);
	put(name,
	    "ids = %d %d %d\nsem0 = %d\nsem1 = %d\nsem0 ncnt = %d\nsem0 zcnt = %d\nsem1 pid = %d\n"
	    "shm nattch = %lu\nshm segsz = %zu\nshm cpid = %d\nshm mode = %o\nmsg qbytes = %lu\n",
	    s, shm, q, semctl(s, 0, GETVAL), semctl(s, 1, GETVAL), semctl(s, 0, GETNCNT), semctl(s, 0, GETZCNT),
	    semctl(s, 1, GETPID), (unsigned long)sd.shm_nattch, sd.shm_segsz, (int)sd.shm_cpid, sd.shm_perm.mode,
	    (unsigned long)md.msg_qbytes);
}

static const char *status(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed";
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ipc-restart DIR\n");
		return 2;
	}
	dir = argv[1];
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	int shm = shmget(IPC_PRIVATE, SEG, IPC_CREAT | 0600);
	if (q < 0 || s < 0 || shm < 0) {
		error("creating: %s", strerrorname_np(errno));
		return 1;
	}
	if (semctl(s, 0, SETVAL, 1) < 0 || semctl(s, 1, SETVAL, 5) < 0)
		error("SETVAL: %s", strerrorname_np(errno));
	/* The children first: a fork would copy this process's attachment.  */
	pid_t prod = spawn(producer, q), cons = spawn(consumer, q);
	pid_t holder = spawn(sem_holder, s), waiter = spawn(sem_waiter, s);
	pid_t child = spawn(shm_child, shm);
	unsigned char *p = shmat(shm, NULL, 0);
	if (p == (void *)-1) {
		error("shmat: %s", strerrorname_np(errno));
		return 1;
	}
	for (size_t i = 0; i < SEG; i++)
		p[i] = pattern(i);
	/* Ready: the waiter parked, the child attached.  */
	struct shmid_ds sd;
	for (int i = 0; i < 2000; i++) {
		if (semctl(s, 0, GETNCNT) == 1 && shmctl(shm, IPC_STAT, &sd) == 0 && sd.shm_nattch == 2)
			break;
		msleep(10);
	}
	put("ready", "ready\n");
	for (int n = 1;; n++) {
		char req[32];
		snprintf(req, sizeof(req), "snap%d-req", n);
		while (!exists(req) && !exists("finish"))
			msleep(10);
		if (exists("finish"))
			break;
		snapshot(n, s, shm, q);
	}
	int st_h, st_w, st_c, st_p, st_k;
	waitpid(holder, &st_h, 0);
	waitpid(waiter, &st_w, 0);
	waitpid(child, &st_c, 0);
	put("stop", "stop\n");
	waitpid(prod, &st_p, 0);
	waitpid(cons, &st_k, 0);
	struct shmid_ds sd2;
	shmctl(shm, IPC_STAT, &sd2);
	put("final",
	    "holder = %s\nwaiter = %s\nshm child = %s\nproducer = %s\nconsumer = %s\nsem0 = %d\nsem1 = %d\n"
	    "sem0 ncnt = %d\nshm nattch = %lu\nshm pattern = %s\n",
	    status(st_h), status(st_w), status(st_c), status(st_p), status(st_k), semctl(s, 0, GETVAL),
	    semctl(s, 1, GETVAL), semctl(s, 0, GETNCNT), (unsigned long)sd2.shm_nattch,
	    pattern_ok(p) ? "intact" : "changed");
	put("done", "done\n");
	return 0;
}
