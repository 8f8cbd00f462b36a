/* SPDX-License-Identifier: MIT */
/* ipc-hostile: the container side of hostile.bats, unreachable.bats,
 * restart.bats and leaks.bats.  One program, several modes:
 *
 *   exhaust SECONDS  take everything the namespace allows (segments, sets,
 *                    queues up to ENOSPC, messages up to EAGAIN, 32 parked
 *                    callers), print "EXHAUSTED ...", then hammer the
 *                    daemon for SECONDS with the calls that cost it most
 *                    (IPC_STAT and SHM_STAT of segments, which read the
 *                    maps of the namespace's processes; SHM_INFO; bad
 *                    arguments); print "DONE calls=N".
 *   storm THREADS    THREADS threads attach and detach one segment in a
 *                    loop (each shmat/shmdt is a remote syscall injected by
 *                    ipcnsd); "STORM" once running; runs until killed.
 *   storm-kill SECS  children running storms are killed with SIGKILL at
 *                    random moments and replaced, for SECS; then checks that
 *                    the segment has no attachment left and still works.
 *   victim N         N rounds of semop up/down, msgsnd/msgrcv and IPC_STAT,
 *                    checking every result; prints "VICTIM n=N ms=T".
 *   hold FILE        create a segment (attached, with a pattern), a set and
 *                    a queue with key 0x4e1d, write "shm ID sem ID msg ID
 *                    key 0x4e1d" to FILE, print "HELD", wait for signals.
 *   probe FILE       with the ids and key of FILE (another namespace's),
 *                    try every call on them, and every id 0..N of the first
 *                    sequences; print one line per result class; exit 0 if
 *                    nothing was reachable.
 *   restart DIR      the life of a container across an ipcnsd restart,
 *                    driven by files in DIR (see restart.bats).
 *   mixed N          N rounds of a bit of everything, for leaks.bats.
 *   vmas N SECS      hold N VMAs (alternating page protections) in this
 *                    process and a forked child, both with a segment
 *                    attached and split in two VMAs; loop IPC_STAT for
 *                    SECS; print "VMAS n=N calls=C us_per_call=U".
 *   latency N        N rounds of a semop pair (up, down) and a msgsnd +
 *                    msgrcv pair, each pair timed; print "LATENCY n=N
 *                    semop_med=NS semop_p99=NS msg_med=NS msg_p99=NS".
 *   stat N           attach a segment, N IPC_STATs; print "STAT n=N
 *                    us_per_call=U".
 *   forks N          N children that exit at once (events for the proc
 *                    connector); print "FORKS n=N".
 *   forkhold N DIR   attach a segment, print "HELD"; once DIR/go exists,
 *                    N children that exit at once and then one that keeps
 *                    the attach, print "FORKED"; once DIR/stat exists,
 *                    print "NATTCH n" (IPC_STAT: 2 if ipcnsd knows of the
 *                    child whose fork event was lost).
 *   fill DIR         create segments until shmget fails, then try a
 *                    read-only shmat and a SEM_UNDO semop; print "FILL n=N
 *                    shmget=E shmat_rdonly=E semop_undo=E"; hold
 *                    everything until DIR/go exists.
 *   children N DIR   attach a segment, fork N children that keep it, print
 *                    "CHILDREN n=N"; hold until DIR/go exists.
 *   memhog N DIR [OPS]  issue 11 hole 2: up to N semget(IPC_PRIVATE,
 *                    32000) (each costs ipcnsd about 1.5 MB), then queues
 *                    filled with messages, until a call fails; print
 *                    "MEMHOG sets=N semget=E msgs=M msgsnd=E"; then OPS
 *                    semops over the sets (each a journal record of a
 *                    whole set), print "CHURN ops=OPS"; hold everything
 *                    until DIR/go exists.
 *   fdhog DIR        issue 11 hole 9: segments, each attached read-only,
 *                    and forked children attached to one, until shmget
 *                    fails; then a SEM_UNDO semop; print "FDHOG n=N
 *                    shmget=E shmat_rdonly=E semop_undo=E"; hold until
 *                    DIR/go exists.
 *   logflood SECS    issue 11 hole 12: SECS seconds of calls that make
 *                    ipcnsd log (semget over the objects-per-uid quota the
 *                    container gave itself, which logs each hit); print
 *                    "LOGFLOOD calls=N".  */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define die(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "ipc-hostile: " __VA_ARGS__);                                      \
		fprintf(stderr, ": %s\n", strerror(errno));                                        \
		exit(1);                                                                           \
	} while (0)

struct mb {
	long mtype;
	char mtext[8192];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- exhaust */
static int exhaust(double secs)
{
	static int shm[32768], sem[32768], msq[32768];
	int nshm = 0, nsem = 0, nmsq = 0;
	while (nshm < 32768 && (shm[nshm] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)) >= 0)
		nshm++;
	int shm_errno = errno;
	while (nsem < 32768 && (sem[nsem] = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600)) >= 0)
		nsem++;
	int sem_errno = errno;
	while (nmsq < 32768 && (msq[nmsq] = msgget(IPC_PRIVATE, IPC_CREAT | 0600)) >= 0)
		nmsq++;
	int msg_errno = errno;
	if (!nshm || !nsem || nmsq < 2)
		die("nothing could be created");
	/* Messages: every queue filled until EAGAIN (the queue, or ipcnsd's
	 * message quota for the namespace).  */
	static struct mb m;
	m.mtype = 1;
	long bytes = 0, msgs = 0;
	for (int q = 0; q < nmsq; q++) {
		int n = 0;
		while (msgsnd(msq[q], &m, 8192, IPC_NOWAIT) == 0) {
			bytes += 8192;
			msgs++;
			n++;
		}
		if (errno != EAGAIN)
			die("msgsnd");
		if (n == 0)
			break; /* the quota is full */
	}
	/* Parked callers.  */
	for (int i = 0; i < 32; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (i % 2) {
				struct sembuf op = { 0, -1, 0 };
				semop(sem[0], &op, 1);
			} else {
				msgrcv(msq[nmsq - 1], &m, 8192, 99, 0);
			}
			_exit(0);
		}
	}
	/* Segments attached too.  */
	for (int i = 0; i < 16 && i < nshm; i++)
		if (shmat(shm[i], NULL, 0) == (void *)-1)
			die("shmat");
	printf("EXHAUSTED shm=%d (%s) sem=%d (%s) msg=%d (%s) messages=%ld bytes=%ld\n", nshm, strerror(shm_errno),
	       nsem, strerror(sem_errno), nmsq, strerror(msg_errno), msgs, bytes);
	fflush(stdout);
	double end = now() + secs;
	long calls = 0;
	while (now() < end) {
		struct shmid_ds ds;
		struct shm_info si;
		shmctl(shm[calls % nshm], IPC_STAT, &ds);
		shmctl((int)(calls % 64), SHM_STAT, &ds);
		shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
		semctl(-1, 0, GETVAL);
		msgsnd(msq[0], NULL, 8, IPC_NOWAIT);
		calls += 5;
	}
	printf("DONE calls=%ld\n", calls);
	return 0;
}

/* ---- storm */
static int storm_id;
static void *storm_thread(void *arg)
{
	(void)arg;
	for (;;) {
		char *p = shmat(storm_id, NULL, 0);
		if (p == (void *)-1)
			continue;
		p[0]++;
		shmdt(p);
	}
	return NULL;
}

static int storm(int nthreads)
{
	storm_id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
	if (storm_id < 0)
		die("shmget");
	pthread_t t;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t, NULL, storm_thread, NULL);
	printf("STORM %d threads on segment %d\n", nthreads, storm_id);
	fflush(stdout);
	for (;;)
		pause();
}

static int storm_kill(double secs)
{
	storm_id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
	if (storm_id < 0)
		die("shmget");
	pid_t kids[6] = { 0 };
	unsigned int seed = (unsigned int)getpid();
	double end = now() + secs;
	int killed = 0;
	while (now() < end) {
		for (int i = 0; i < 6; i++) {
			if (kids[i])
				continue;
			kids[i] = fork();
			if (kids[i] == 0) {
				pthread_t t;
				for (int k = 0; k < 3; k++)
					pthread_create(&t, NULL, storm_thread, NULL);
				storm_thread(NULL);
			}
		}
		msleep(5 + rand_r(&seed) % 40);
		int v = rand_r(&seed) % 6;
		kill(kids[v], SIGKILL);
		waitpid(kids[v], NULL, 0);
		kids[v] = 0;
		killed++;
	}
	for (int i = 0; i < 6; i++) {
		if (kids[i]) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	/* Every attachment died with its process.  */
	struct shmid_ds ds;
	for (int i = 0; i < 100; i++) {
		if (shmctl(storm_id, IPC_STAT, &ds) < 0)
			die("IPC_STAT");
		if (ds.shm_nattch == 0)
			break;
		msleep(50);
	}
	if (ds.shm_nattch != 0) {
		fprintf(stderr, "ipc-hostile: %lu attachments left after every holder was killed\n",
			(unsigned long)ds.shm_nattch);
		return 1;
	}
	char *p = shmat(storm_id, NULL, 0);
	if (p == (void *)-1)
		die("shmat after the storm");
	p[1] = 1;
	if (shmdt(p) < 0 || shmctl(storm_id, IPC_RMID, NULL) < 0)
		die("shmdt/IPC_RMID after the storm");
	printf("STORM-KILL %d processes killed, segment clean\n", killed);
	return 0;
}

/* ---- victim */
static int victim(long n)
{
	int sem = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (sem < 0 || q < 0 || shm < 0)
		die("victim: creating");
	double t0 = now();
	for (long i = 0; i < n; i++) {
		struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
		struct mb m = { 1 + i % 3, "" };
		struct shmid_ds ds;
		snprintf(m.mtext, 32, "%ld", i);
		if (semop(sem, &up, 1) < 0 || semop(sem, &down, 1) < 0)
			die("victim: semop");
		if (msgsnd(q, &m, 32, 0) < 0)
			die("victim: msgsnd");
		if (msgrcv(q, &m, 32, 0, 0) != 32 || atol(m.mtext) != i)
			die("victim: msgrcv");
		if (i % 16 == 0 && shmctl(shm, IPC_STAT, &ds) < 0)
			die("victim: IPC_STAT");
	}
	if (semctl(sem, 0, GETVAL) != 0)
		die("victim: the semaphore is not back to 0");
	double ms = (now() - t0) * 1000;
	semctl(sem, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
	shmctl(shm, IPC_RMID, NULL);
	printf("VICTIM n=%ld ms=%.0f\n", n, ms);
	return 0;
}

/* ---- hold / probe */
#define HOLD_KEY 0x4e1d
static int hold(const char *file)
{
	int shm = shmget(HOLD_KEY, 8192, IPC_CREAT | 0600);
	int sem = semget(HOLD_KEY, 2, IPC_CREAT | 0600);
	int msq = msgget(HOLD_KEY, IPC_CREAT | 0600);
	if (shm < 0 || sem < 0 || msq < 0)
		die("hold: creating");
	char *p = shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("hold: shmat");
	strcpy(p, "secret of the first container");
	struct mb m = { 1, "a message of the first container" };
	if (msgsnd(msq, &m, 64, 0) < 0)
		die("hold: msgsnd");
	struct sembuf up = { 0, 5, 0 };
	semop(sem, &up, 1);
	FILE *f = fopen(file, "we");
	if (!f)
		die("hold: %s", file);
	fprintf(f, "shm %d sem %d msg %d key %d\n", shm, sem, msq, HOLD_KEY);
	fclose(f);
	/* The fd ipcnsd installed for the mapping is closed again: the
	 * segment is only a mapping here.  */
	int memfd_fds = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[300], target[300];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			memfd_fds += strstr(target, "memfd:") != NULL;
		}
	}
	if (d)
		closedir(d);
	printf("HELD shm %d sem %d msg %d; memfd fds in this process: %d\n", shm, sem, msq, memfd_fds);
	fflush(stdout);
	for (;;)
		pause();
}

static int probe(const char *file)
{
	int shm, sem, msq, key;
	FILE *f = fopen(file, "re");
	if (!f || fscanf(f, "shm %d sem %d msg %d key %d", &shm, &sem, &msq, &key) != 4)
		die("probe: reading %s", file);
	fclose(f);
	int reached = 0;
#define TRY(what, call, want)                                                                      \
	do {                                                                                       \
		errno = 0;                                                                         \
		long _r = (long)(call);                                                            \
		int _e = errno;                                                                    \
		printf("%s = %ld %s\n", what, _r, _r < 0 ? strerror(_e) : "");                    \
		if (_r != -1 || _e != (want))                                                      \
			reached++;                                                                 \
	} while (0)
	struct shmid_ds sds;
	struct semid_ds seds;
	struct msqid_ds mds;
	struct mb m = { 1, "" };
	struct sembuf op = { 0, -1, IPC_NOWAIT };
	TRY("shmat(their shm id)", (long)shmat(shm, NULL, SHM_RDONLY), EINVAL);
	TRY("shmctl(their shm id, IPC_STAT)", shmctl(shm, IPC_STAT, &sds), EINVAL);
	TRY("shmctl(their shm id, IPC_RMID)", shmctl(shm, IPC_RMID, NULL), EINVAL);
	TRY("semop(their sem id)", semop(sem, &op, 1), EINVAL);
	TRY("semctl(their sem id, GETVAL)", semctl(sem, 0, GETVAL), EINVAL);
	TRY("semctl(their sem id, IPC_STAT)", semctl(sem, 0, IPC_STAT, &seds), EINVAL);
	TRY("msgrcv(their msg id)", msgrcv(msq, &m, 64, 0, IPC_NOWAIT), EINVAL);
	TRY("msgsnd(their msg id)", msgsnd(msq, &m, 8, IPC_NOWAIT), EINVAL);
	TRY("msgctl(their msg id, IPC_STAT)", msgctl(msq, IPC_STAT, &mds), EINVAL);
	TRY("shmget(their key)", shmget(key, 0, 0), ENOENT);
	TRY("semget(their key)", semget(key, 0, 0), ENOENT);
	TRY("msgget(their key)", msgget(key, 0), ENOENT);
	/* Every id of the first 8 sequences and 256 indexes, and every index
	 * with *_STAT.  */
	int found = 0;
	for (int seq = 0; seq < 8; seq++)
		for (int idx = 0; idx < 256; idx++) {
			int id = seq * 32768 + idx;
			found += shmctl(id, IPC_STAT, &sds) == 0 || errno != EINVAL;
			found += semctl(id, 0, IPC_STAT, &seds) == 0 || errno != EINVAL;
			found += msgctl(id, IPC_STAT, &mds) == 0 || errno != EINVAL;
		}
	for (int idx = 0; idx < 1024; idx++) {
		found += shmctl(idx, SHM_STAT_ANY, &sds) >= 0;
		found += semctl(idx, 0, SEM_STAT_ANY, &seds) >= 0;
		found += msgctl(idx, MSG_STAT_ANY, &mds) >= 0;
	}
	struct shm_info si;
	struct msginfo mi;
	struct seminfo sei;
	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
	semctl(0, 0, SEM_INFO, &sei);
	printf("ids tried: %d reachable; objects in this namespace: %d segments, %d sets, %d queues\n", found,
	       si.used_ids, sei.semusz, mi.msgpool);
	reached += found + si.used_ids + sei.semusz + mi.msgpool;
	/* No memfd of a segment in this process.  */
	int memfd = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[300], target[300];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			memfd += strstr(target, "SYSV") != NULL;
		}
	}
	if (d)
		closedir(d);
	FILE *mf = fopen("/proc/self/maps", "re");
	char line[512];
	while (mf && fgets(line, sizeof(line), mf))
		memfd += strstr(line, "SYSV") != NULL;
	if (mf)
		fclose(mf);
	printf("segment memfds in /proc/self/fd and maps: %d\n", memfd);
	reached += memfd;
	printf(reached ? "PROBE reached %d\n" : "PROBE nothing reachable\n", reached);
	return reached ? 1 : 0;
}

/* ---- restart */
static bool exists(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void touch(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	if (f)
		fclose(f);
}

static void wait_file(const char *dir, const char *name)
{
	for (int i = 0; i < 6000 && !exists(dir, name); i++)
		msleep(10);
}

/* One line per call: "name = result errno-name".  */
static void calls(const char *dir, const char *name, int sem, int shm, char *mapped)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s", path);
#define CALL(what, call)                                                                           \
	do {                                                                                       \
		errno = 0;                                                                         \
		long _r = (long)(call);                                                            \
		fprintf(f, "%s = %s\n", what, _r == -1 ? strerrorname_np(errno) : "ok");          \
	} while (0)
	struct shmid_ds ds;
	CALL("semctl GETVAL", semctl(sem, 0, GETVAL));
	CALL("semget", semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	CALL("shmctl IPC_STAT", shmctl(shm, IPC_STAT, &ds));
	CALL("shmget", shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	errno = 0;
	void *q = shmat(shm, NULL, 0);
	fprintf(f, "shmat = %s\n", q == (void *)-1 ? strerrorname_np(errno) : "ok");
	/* What was attached now, or else the mapping made before.  */
	CALL("shmdt", shmdt(q != (void *)-1 ? q : mapped));
	CALL("msgget", msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	/* The mapping made before is memory of this process: it stays.  */
	fprintf(f, "mapped memory = %s\n", strcmp(mapped, "before the restart") == 0 ? "intact" : "changed");
	strcpy(mapped + 100, "still writable");
	fprintf(f, "mapped memory write = %s\n", strcmp(mapped + 100, "still writable") == 0 ? "ok" : "lost");
	fclose(f);
}

static int restart(const char *dir)
{
	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	int shm = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	char *p = shm >= 0 ? shmat(shm, NULL, 0) : (void *)-1;
	if (sem < 0 || p == (void *)-1)
		die("restart: creating");
	strcpy(p, "before the restart");
	/* A caller parked in the daemon when it goes away.  */
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf op = { 0, -1, 0 };
		errno = 0;
		long r = semop(sem, &op, 1);
		char path[512];
		snprintf(path, sizeof(path), "%s/parked.result", dir);
		FILE *f = fopen(path, "we");
		if (f) {
			fprintf(f, "parked semop = %s\n", r == -1 ? strerrorname_np(errno) : "ok");
			fclose(f);
		}
		_exit(0);
	}
	for (int i = 0; i < 500 && semctl(sem, 0, GETNCNT) != 1; i++)
		msleep(10);
	calls(dir, "phase1", sem, shm, p);
	touch(dir, "ready");
	wait_file(dir, "daemon-stopped");
	waitpid(pid, NULL, 0);
	calls(dir, "phase2", sem, shm, p);
	touch(dir, "phase2.done");
	wait_file(dir, "daemon-restarted");
	calls(dir, "phase3", sem, shm, p);
	touch(dir, "phase3.done");
	wait_file(dir, "finish");
	return 0;
}

/* ---- mixed */
static int mixed(long n)
{
	for (long i = 0; i < n; i++) {
		int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
		int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		int shm = shmget(IPC_PRIVATE, 16384, IPC_CREAT | 0600);
		if (sem < 0 || q < 0 || shm < 0)
			die("mixed: creating");
		pid_t pid = fork();
		if (pid == 0) {
			struct sembuf take[2] = { { 0, -1, SEM_UNDO }, { 1, -1, 0 } };
			struct mb m;
			semop(sem, take, 2);
			msgrcv(q, &m, 64, 2, 0);
			char *p = shmat(shm, NULL, 0);
			if (p != (void *)-1)
				p[0] = 1;
			_exit(0);
		}
		struct sembuf give[2] = { { 0, 1, 0 }, { 1, 1, 0 } };
		struct mb m = { 2, "hello" };
		msleep(2);
		semop(sem, give, 2);
		msgsnd(q, &m, 64, 0);
		char *p = shmat(shm, NULL, SHM_RDONLY);
		waitpid(pid, NULL, 0);
		shmctl(shm, IPC_RMID, NULL);
		if (p != (void *)-1)
			shmdt(p);
		struct timespec ts = { 0, 1000000 };
		struct sembuf never = { 2, -1, 0 };
		semtimedop(sem, &never, 1, &ts);
		semctl(sem, 0, IPC_RMID);
		msgctl(q, IPC_RMID, NULL);
	}
	printf("MIXED %ld rounds\n", n);
	return 0;
}

/* ---- fill */
static int fill(const char *dir)
{
	int n = 0, first = -1, id;
	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	while ((id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)) >= 0) {
		if (first < 0)
			first = id;
		n++;
	}
	const char *get_err = strerrorname_np(errno);
	/* With no fd left in the daemon: a read-only attach needs a
	 * read-only open of the memfd there, a SEM_UNDO semop a pidfd.  */
	errno = 0;
	void *p = shmat(first, NULL, SHM_RDONLY);
	const char *at_err = p == (void *)-1 ? strerrorname_np(errno) : "ok";
	struct sembuf up = { 0, 1, SEM_UNDO };
	errno = 0;
	int r = semop(sem, &up, 1);
	printf("FILL n=%d shmget=%s shmat_rdonly=%s semop_undo=%s\n", n, get_err, at_err,
	       r < 0 ? strerrorname_np(errno) : "ok");
	wait_file(dir, "go");
	return 0;
}

/* ---- vmas / stat / forks */
static int stat_loop(int shm, double secs, long max, long *calls)
{
	struct shmid_ds ds;
	double t0 = now();
	long n = 0;
	while ((max && n < max) || (!max && now() - t0 < secs)) {
		if (shmctl(shm, IPC_STAT, &ds) < 0)
			die("IPC_STAT");
		n++;
	}
	*calls = n;
	return (int)((now() - t0) * 1e6 / (n ? n : 1));
}

static int vmas(long n, double secs)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *a = mmap(NULL, (size_t)(n * ps), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		die("vmas: mmap");
	/* Every other page read-only: one VMA per page.  */
	for (long i = 0; i < n; i += 2)
		if (mprotect(a + i * ps, (size_t)ps, PROT_READ) < 0)
			die("vmas: mprotect %ld", i);
	int shm = shmget(IPC_PRIVATE, (size_t)(2 * ps), IPC_CREAT | 0600);
	char *p = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("vmas: shmget/shmat");
	/* Split: its attach record no longer describes one whole VMA.  */
	if (mprotect(p + ps, (size_t)ps, PROT_READ) < 0)
		die("vmas: split");
	pid_t child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	long calls;
	int us = stat_loop(shm, secs, 0, &calls);
	printf("VMAS n=%ld calls=%ld us_per_call=%d\n", n, calls, us);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	shmdt(p);
	shmctl(shm, IPC_RMID, NULL);
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int latency(long n)
{
	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	int64_t *ts = calloc((size_t)n, sizeof(*ts)), *tm = calloc((size_t)n, sizeof(*tm));
	if (sem < 0 || q < 0 || !ts || !tm || n < 1)
		die("latency: creating");
	for (long i = 0; i < n; i++) {
		struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
		struct mb m = { 1, "" };
		snprintf(m.mtext, 32, "%ld", i);
		int64_t t0 = now_ns();
		if (semop(sem, &up, 1) < 0 || semop(sem, &down, 1) < 0)
			die("latency: semop");
		int64_t t1 = now_ns();
		if (msgsnd(q, &m, 32, 0) < 0)
			die("latency: msgsnd");
		if (msgrcv(q, &m, 32, 0, 0) != 32 || atol(m.mtext) != i)
			die("latency: msgrcv");
		int64_t t2 = now_ns();
		ts[i] = t1 - t0;
		tm[i] = t2 - t1;
	}
	if (semctl(sem, 0, GETVAL) != 0)
		die("latency: the semaphore is not back to 0");
	qsort(ts, (size_t)n, sizeof(*ts), cmp_i64);
	qsort(tm, (size_t)n, sizeof(*tm), cmp_i64);
	long p99 = n * 99 / 100;
	printf("LATENCY n=%ld semop_med=%lld semop_p99=%lld msg_med=%lld msg_p99=%lld\n", n, (long long)ts[n / 2],
	       (long long)ts[p99], (long long)tm[n / 2], (long long)tm[p99]);
	semctl(sem, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
	free(ts);
	free(tm);
	return 0;
}

static int stat_mode(long n)
{
	int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("stat: shmget/shmat");
	long calls;
	int us = stat_loop(shm, 0, n, &calls);
	printf("STAT n=%ld us_per_call=%d\n", calls, us);
	shmdt(p);
	shmctl(shm, IPC_RMID, NULL);
	return 0;
}

static int forks(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		if (c < 0)
			die("forks: fork");
		waitpid(c, NULL, 0);
	}
	printf("FORKS n=%ld\n", n);
	return 0;
}

/* Issue 11 hole 8: the namespace whose holder forks in a storm that
 * overruns the proc connector; its last child's fork event is likely
 * lost.  */
static int forkhold(long n, const char *dir)
{
	int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("forkhold: shmget/shmat");
	printf("HELD\n");
	wait_file(dir, "go");
	forks(n);
	pid_t c = fork();
	if (c == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (c < 0)
		die("forkhold: fork");
	printf("FORKED\n");
	wait_file(dir, "stat");
	struct shmid_ds ds;
	if (shmctl(shm, IPC_STAT, &ds) < 0)
		die("forkhold: IPC_STAT");
	printf("NATTCH %lu\n", (unsigned long)ds.shm_nattch);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	shmdt(p);
	shmctl(shm, IPC_RMID, NULL);
	return 0;
}

/* Issue 11 hole 2: what ipcnsd holds per attaching process.  */
static int children(long n, const char *dir)
{
	int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
	if (p == (void *)-1)
		die("children: shmget/shmat");
	for (long i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0)
			die("children: fork");
		if (c == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
	}
	printf("CHILDREN n=%ld\n", n);
	wait_file(dir, "go");
	return 0;
}

/* ---- memhog, fdhog, logflood: the budget holes of issue 11.  */
static int memhog(long n, const char *dir, long ops)
{
	long sets = 0;
	const char *sem_err = "none", *snd_err = "none";
	int *ids = calloc((size_t)(n > 0 ? n : 1), sizeof(*ids));
	if (!ids)
		die("memhog: calloc");
	for (; sets < n; sets++) {
		if ((ids[sets] = semget(IPC_PRIVATE, 32000, IPC_CREAT | 0600)) < 0) {
			sem_err = strerrorname_np(errno);
			break;
		}
	}
	/* Messages, in as many queues as it takes: ipcnsd holds them.  */
	static struct mb m = { .mtype = 1 };
	long msgs = 0;
	for (int q = -1;;) {
		if (q < 0 && (q = msgget(IPC_PRIVATE, IPC_CREAT | 0600)) < 0) {
			snd_err = strerrorname_np(errno);
			break;
		}
		if (msgsnd(q, &m, 8192, IPC_NOWAIT) == 0) {
			msgs++;
			continue;
		}
		if (errno != EAGAIN || msgs > 200000) {
			snd_err = strerrorname_np(errno);
			break;
		}
		q = -1; /* full: the next queue */
	}
	printf("MEMHOG sets=%ld semget=%s msgs=%ld msgsnd=%s\n", sets, sem_err, msgs, snd_err);
	/* Each semop changes a whole set of 32000, which the journal
	 * records whole.  */
	for (long i = 0; i < ops && sets > 0; i++) {
		struct sembuf up = { (unsigned short)(i % 32000), 1, IPC_NOWAIT };
		if (semop(ids[i % sets], &up, 1) < 0)
			die("memhog: semop %ld", i);
	}
	if (ops)
		printf("CHURN ops=%ld\n", ops);
	free(ids);
	wait_file(dir, "go");
	return 0;
}

static int fdhog(const char *dir)
{
	int n = 0, id, first = -1;
	const char *at_err = "ok";
	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	while ((id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)) >= 0) {
		if (first < 0)
			first = id;
		n++;
		/* Each read-only attach used to leave a second fd in ipcnsd.  */
		if (shmat(id, NULL, SHM_RDONLY) == (void *)-1)
			at_err = strerrorname_np(errno);
	}
	const char *get_err = strerrorname_np(errno);
	/* Children holding an attachment: a pidfd each in ipcnsd.  */
	for (int i = 0; i < 64; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			shmat(first, NULL, 0);
			wait_file(dir, "go");
			_exit(0);
		}
	}
	msleep(500);
	/* A SEM_UNDO semop of a process ipcnsd does not watch yet: it needs
	 * a pidfd.  */
	int pfd[2];
	char res[64] = "?";
	if (pipe(pfd) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf up = { 0, 1, SEM_UNDO };
		const char *e = semop(sem, &up, 1) < 0 ? strerrorname_np(errno) : "ok";
		if (write(pfd[1], e, strlen(e)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	ssize_t got = read(pfd[0], res, sizeof(res) - 1);
	res[got > 0 ? got : 0] = '\0';
	waitpid(pid, NULL, 0);
	printf("FDHOG n=%d shmget=%s shmat_rdonly=%s semop_undo=%s\n", n, get_err, at_err, res);
	wait_file(dir, "go");
	while (wait(NULL) > 0)
		;
	return 0;
}

static int logflood(double secs)
{
	long calls = 0;
	double end = now() + secs;
	while (now() < end) {
		for (int i = 0; i < 100; i++)
			semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		calls += 100;
	}
	printf("LOGFLOOD calls=%ld\n", calls);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "exhaust"))
		return exhaust(atof(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "storm"))
		return storm(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "storm-kill"))
		return storm_kill(atof(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "victim"))
		return victim(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "probe"))
		return probe(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "restart"))
		return restart(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "mixed"))
		return mixed(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "fill"))
		return fill(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "vmas"))
		return vmas(atol(argv[2]), atof(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "latency"))
		return latency(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "stat"))
		return stat_mode(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "forks"))
		return forks(atol(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "forkhold"))
		return forkhold(atol(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "children"))
		return children(atol(argv[2]), argv[3]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "memhog"))
		return memhog(atol(argv[2]), argv[3], argc == 5 ? atol(argv[4]) : 0);
	if (argc == 3 && !strcmp(argv[1], "fdhog"))
		return fdhog(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "logflood"))
		return logflood(atof(argv[2]));
	fprintf(stderr, "usage: ipc-hostile exhaust SECS | storm THREADS | storm-kill SECS | victim N | hold FILE |"
			" probe FILE | restart DIR | mixed N | fill DIR | vmas N SECS | latency N | stat N | forks N |"
			" forkhold N DIR | children N DIR | memhog N DIR [OPS] | fdhog DIR | logflood SECS\n");
	return 2;
}
