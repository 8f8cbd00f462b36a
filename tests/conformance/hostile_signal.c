/* SPDX-License-Identifier: MIT */
/* Hostile signallers: signals queued at a process while it attaches and
 * detaches segments in a loop.
 *
 * Natively shmat and shmdt are not interruptible: every signal is
 * delivered when the call returns, a queued real-time signal once per
 * sigqueue(3), in the order it was sent, with its siginfo (SI_QUEUE, the
 * sender's value).  Under ipcnsd the calls are completed by a
 * ptrace-injected mmap/munmap; a signal that arrives meanwhile must stay
 * queued in the kernel (or be handed back with its siginfo), never
 * merged, lost or re-sent as another kind of signal.
 *
 *  1. 20,000 sigqueue(SIGRTMIN, i) from another process: all arrive,
 *     each with SI_QUEUE and the values in order.
 *  2. Rounds of 14 distinct signals at once (12 real-time, SIGUSR1,
 *     SIGUSR2): each arrives once per round with its value.
 *
 * Runner contract: see shm_common.h.  */
#include <sched.h>
#include <time.h>

#include "conf_wait.h"
#include "shm_common.h"

#define N_RT 20000
#define N_DISTINCT_RT 12
#define N_ROUNDS 50

struct shared {
	volatile int ready, stop, receiver_pid;
	/* The receiver's record.  */
	volatile long rt_count, rt_bad_code, rt_out_of_order, rt_next;
	volatile long distinct_count[64], distinct_bad[64];
	volatile long shmat_fail;
	volatile long pairs;
};
static struct shared *sh;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGRTMIN) {
		if (si->si_code != SI_QUEUE)
			sh->rt_bad_code++;
		else if (si->si_value.sival_int != sh->rt_next)
			sh->rt_out_of_order++;
		sh->rt_next = si->si_value.sival_int + 1;
		sh->rt_count++;
		return;
	}
	if (si->si_code != SI_QUEUE || si->si_value.sival_int != sig * 1000 + 7)
		sh->distinct_bad[sig]++;
	sh->distinct_count[sig]++;
}

static void receiver(int shmid)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int s = SIGRTMIN; s <= SIGRTMIN + N_DISTINCT_RT; s++)
		sigaction(s, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sh->receiver_pid = getpid();
	sh->ready = 1;
	while (!sh->stop) {
		void *p = (void *)shm_at(shmid, NULL, 0);
		if (p == (void *)-1) {
			if (errno != EINTR)
				sh->shmat_fail++;
			continue;
		}
		*(volatile char *)p = 1;
		while (shm_dt(p) < 0 && errno == EINTR)
			;
		sh->pairs++;
	}
	_exit(0);
}

static int queue(pid_t pid, int sig, int val)
{
	union sigval v = { .sival_int = val };
	for (;;) {
		if (sigqueue(pid, sig, v) == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		/* The receiver's RLIMIT_SIGPENDING: let it drain.  */
		sched_yield();
	}
}

/* Wait until cond holds or 10 s pass.  */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		for (int w_ = 0; w_ < 10000 && !(cond); w_++)                                      \
			conf_msleep(1);                                                            \
	} while (0)

int main(void)
{
	conf_start();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		CONF_SKIP("mmap");
	int shmid = (int)CHECK_OK(shm_get(IPC_PRIVATE, 8192, IPC_CREAT | 0600));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		receiver(shmid);
	WAIT_FOR(sh->ready);

	/* 1.  */
	for (int i = 0; i < N_RT; i++)
		if (queue(pid, SIGRTMIN, i) < 0) {
			CONF_FAIL("sigqueue: %s", strerror(errno));
			break;
		}
	WAIT_FOR(sh->rt_count >= N_RT);
	CHECK_EQ(sh->rt_count, N_RT);
	CHECK_EQ(sh->rt_bad_code, 0);
	CHECK_EQ(sh->rt_out_of_order, 0);

	/* 2.  */
	int sigs[N_DISTINCT_RT + 2];
	int n = 0;
	for (int s = SIGRTMIN + 1; s <= SIGRTMIN + N_DISTINCT_RT; s++)
		sigs[n++] = s;
	sigs[n++] = SIGUSR1;
	sigs[n++] = SIGUSR2;
	for (int r = 1; r <= N_ROUNDS; r++) {
		for (int i = 0; i < n; i++)
			queue(pid, sigs[i], sigs[i] * 1000 + 7);
		/* A standard signal sent again before it was delivered
		 * merges, natively too: wait for the round.  */
		bool all = true;
		for (int i = 0; i < n && all; i++) {
			WAIT_FOR(sh->distinct_count[sigs[i]] >= r);
			all = sh->distinct_count[sigs[i]] >= r;
		}
		if (!all)
			break;
	}
	for (int i = 0; i < n; i++) {
		CHECK_EQ(sh->distinct_count[sigs[i]], N_ROUNDS);
		CHECK_EQ(sh->distinct_bad[sigs[i]], 0);
	}
	sh->stop = 1;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(sh->shmat_fail, 0);
	printf("# %ld attach/detach pairs while the signals came\n", sh->pairs);
	CHECK_OK(shm_ctl(shmid, IPC_RMID, NULL));
	return conf_done("hostile_signal");
}
