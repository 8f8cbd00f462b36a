/* SPDX-License-Identifier: MIT */
/* The core's own cost, without seccomp or containers: a semop pair and a
 * msgsnd+msgrcv pair called directly on a namespace (fake caller), with
 * no journal and with a journal committed after every call as ipcnsd
 * commits before its answers; the calls that print pids (semctl IPC_STAT
 * + GETPID, msgctl IPC_STAT, shmctl IPC_STAT of an unattached segment);
 * and the time to save and load a full image
 * of a namespace holding many objects.  Medians of 5 runs, ns per call.
 *   build/tests/bench/core-bench [ITERATIONS]
 * No pass/fail: compare the columns of one run (the journal's overhead,
 * and this binary built from two trees for a before/after).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "fake_caller.h"
#include "ipcns/ipcns.h"
#ifdef HAVE_STATE
#include "ipcns/state.h"
#endif

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static struct fake_waiter *all;
static struct fake_proc proc;

#ifdef HAVE_STATE
static int st_fd_slot(void *arg, int fd)
{
	return 0;
}
static int st_waiter_save(void *arg, struct ipcns_waiter *w, void *buf, size_t cap)
{
	return 0;
}
static const struct ipcns_state_ops st_ops = { .fd_slot = st_fd_slot, .waiter_save = st_waiter_save };
#endif

struct msg16 {
	int64_t mtype;
	char text[16];
};

/* ns per call of `iters' calls of kind k (0 semop, 1 msg, 2 semctl
 * IPC_STAT and GETPID, 3 msgctl IPC_STAT, 4 shmctl IPC_STAT), journaled
 * or not.  */
static double run(int k, long iters, bool journal)
{
	struct ipcns_ns *ns = ipcns_ns_new(NULL, &fake_host_ops, NULL);
	if (!ns)
		exit(1);
	fake_proc_init(&proc, 0, ~0ULL, getpid(), &all);
	int memfd = -1;
	(void)memfd;
#ifdef HAVE_STATE
	if (journal) {
		memfd = memfd_create("bench-journal", MFD_CLOEXEC);
		if (memfd < 0 || ipcns_journal_attach(ns, memfd, &st_ops, NULL, 0) < 0)
			exit(1);
	}
#else
	if (journal)
		return 0;
#endif
	long id = k == 0 || k == 2 ? ipcns_semget(ns, fake_call(&proc), IPC_PRIVATE, 4, 0600)
		  : k == 4	   ? ipcns_shmget(ns, fake_call(&proc), IPC_PRIVATE, 4096, 0600)
				   : ipcns_msgget(ns, fake_call(&proc), IPC_PRIVATE, 0600);
	struct sembuf up = { 1, 1, 0 }, down = { 1, -1, 0 };
	struct msg16 m = { 1, "sixteen bytes.." }, r;
	struct semid_ds sds;
	struct msqid_ds mds;
	struct shmid_ds hds;
	if (k == 2)
		ipcns_semtimedop(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&up, 1, 0);
	if (k == 3) {
		ipcns_msgsnd(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&m, 16, 0);
		ipcns_msgrcv(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&r, 16, 0, 0);
	}
	double t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		long a, b;
		if (k == 2) {
			a = ipcns_semctl(ns, fake_call(&proc), (int)id, 0, IPC_STAT, (uint64_t)(uintptr_t)&sds);
			b = ipcns_semctl(ns, fake_call(&proc), (int)id, 1, GETPID, 0);
		} else if (k == 3) {
			a = b = ipcns_msgctl(ns, fake_call(&proc), (int)id, IPC_STAT, (uint64_t)(uintptr_t)&mds);
		} else if (k == 4) {
			a = b = ipcns_shmctl(ns, fake_call(&proc), (int)id, IPC_STAT, (uint64_t)(uintptr_t)&hds);
		} else if (k == 0) {
			a = ipcns_semtimedop(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&up, 1, 0);
#ifdef HAVE_STATE
			if (journal)
				ipcns_journal_commit(ns);
#endif
			b = ipcns_semtimedop(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&down, 1, 0);
		} else {
			a = ipcns_msgsnd(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&m, 16, 0);
#ifdef HAVE_STATE
			if (journal)
				ipcns_journal_commit(ns);
#endif
			b = ipcns_msgrcv(ns, fake_call(&proc), (int)id, (uint64_t)(uintptr_t)&r, 16, 0, 0);
		}
#ifdef HAVE_STATE
		if (journal)
			ipcns_journal_commit(ns);
#endif
		if (a < 0 || b < 0) {
			fprintf(stderr, "core-bench: call failed: %ld %ld\n", a, b);
			exit(1);
		}
	}
	double dt = (now_ns() - t0) / (double)(k == 3 || k == 4 ? iters : 2 * iters);
#ifdef HAVE_STATE
	struct ipcns_journal_stats js;
	if (journal && getenv("CORE_BENCH_STATS") && ipcns_journal_stats(ns, &js) == 0)
		fprintf(stderr, "journal: %llu commits, %llu images, %llu record bytes since the last, %llu file bytes\n",
			(unsigned long long)js.commits, (unsigned long long)js.compactions,
			(unsigned long long)js.record_bytes, (unsigned long long)js.file_bytes);
#endif
	ipcns_ns_free(ns);
	if (memfd >= 0)
		close(memfd);
	return dt;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	const char *names[5] = { "semop", "msgsnd/msgrcv 16 B", "semctl STAT+GETPID", "msgctl IPC_STAT",
				 "shmctl IPC_STAT" };

	printf("%-22s %12s %12s %8s\n", "call (ns per call)", "no journal", "journaled", "ratio");
	for (int k = 0; k < 5; k++) {
		double a[5], b[5];
		for (int i = 0; i < 5; i++) {
			a[i] = run(k, iters, false);
			b[i] = run(k, iters, true);
		}
		qsort(a, 5, sizeof(double), cmp_d);
		qsort(b, 5, sizeof(double), cmp_d);
		printf("%-22s %12.1f %12.1f %8.2f\n", names[k], a[2], b[2], b[2] / a[2]);
	}

#ifdef HAVE_STATE
	/* A full image: 200 sets of 16, 200 queues of 50 messages of 64 B.  */
	struct ipcns_ns *ns = ipcns_ns_new(NULL, &fake_host_ops, NULL);
	fake_proc_init(&proc, 0, ~0ULL, getpid(), &all);
	struct {
		int64_t mtype;
		char text[64];
	} big = { 2, "" };
	for (int i = 0; i < 200; i++) {
		ipcns_semget(ns, fake_call(&proc), IPC_PRIVATE, 16, 0600);
		long q = ipcns_msgget(ns, fake_call(&proc), IPC_PRIVATE, 0600);
		for (int j = 0; j < 50; j++)
			ipcns_msgsnd(ns, fake_call(&proc), (int)q, (uint64_t)(uintptr_t)&big, 64, 0);
	}
	size_t need = 0;
	ipcns_state_save(ns, &st_ops, NULL, 0, NULL, 0, &need);
	void *buf = malloc(need);
	double t[5], l[5];
	for (int i = 0; i < 5; i++) {
		double t0 = now_ns();
		ipcns_state_save(ns, &st_ops, NULL, 0, buf, need, NULL);
		t[i] = (now_ns() - t0) / 1e3;
		struct ipcns_ns *out;
		char err[256];
		t0 = now_ns();
		if (ipcns_state_load(buf, need, &fake_host_ops, NULL, &st_ops, &out, err, sizeof(err)) < 0) {
			fprintf(stderr, "core-bench: load: %s\n", err);
			return 1;
		}
		l[i] = (now_ns() - t0) / 1e3;
		ipcns_ns_free(out);
	}
	qsort(t, 5, sizeof(double), cmp_d);
	qsort(l, 5, sizeof(double), cmp_d);
	printf("image of 200 sets x 16 + 200 queues x 50 msgs (%zu bytes): save %.0f us, check+load %.0f us\n", need,
	       t[2], l[2]);
	free(buf);
	ipcns_ns_free(ns);
#endif
	fake_waiters_free(&all);
	return 0;
}
