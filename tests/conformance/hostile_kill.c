/* SPDX-License-Identifier: MIT */
/* Hostile callers: processes killed (SIGKILL) or signalled in the middle
 * of every blocking operation (semop, semtimedop with SEM_UNDO, msgsnd on
 * a full queue, msgrcv).  Nothing is lost and nothing is applied twice:
 * the counts afterwards are exact.
 *
 * For each operation and each fate, NCH children block in the operation;
 * NHIT of them then get the fate:
 *   kill      SIGKILL: the call is gone, it took nothing, sent nothing;
 *   eintr     a signal whose handler has no SA_RESTART: the call fails
 *             with EINTR and had no effect;
 *   restart   a signal whose handler has SA_RESTART: EINTR (these calls
 *             are never restarted, signal(7)) and no effect;
 *   stopcont  SIGSTOP then SIGCONT: msgsnd and msgrcv go on waiting
 *             (restarted transparently) and complete later; semop and
 *             semtimedop fail with EINTR (signal(7): "even in the absence
 *             of signal handlers").
 * The same under ipcnsd (spec/compatibility.md, "Signals and blocked
 * calls").
 * Then the parent releases exactly what the waiting children need plus
 * EXTRA, and checks: every waiting child completed exactly once; a
 * semaphore's value is what was posted minus what the survivors took
 * (plus their SEM_UNDO adjustments given back at exit); the messages
 * received are exactly those the survivors sent, once each; the messages
 * left in a queue are exactly those nobody received.  */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_wait.h"

#define NCH 8
#define NHIT 4
#define EXTRA 2

enum op { OP_SEMOP, OP_SEMTIMEDOP, OP_MSGSND, OP_MSGRCV, NOP };
enum fate { F_KILL, F_EINTR, F_RESTART, F_STOPCONT, NFATE };
static const char *const op_name[] = { "semop", "semtimedop+SEM_UNDO", "msgsnd (full queue)", "msgrcv" };
static const char *const fate_name[] = { "SIGKILL", "signal without SA_RESTART", "signal with SA_RESTART",
					 "SIGSTOP+SIGCONT" };
static const long op_nr[] = { SYS_semop, SYS_semtimedop, SYS_msgsnd, SYS_msgrcv };

struct shared {
	int res[NCH]; /* 0 or the errno the call returned */
	int done[NCH];
	long got[NCH]; /* msgrcv: the number of the message received */
	int sig[NCH];
};
static struct shared *sh;
static int semid, msqid;

struct msg {
	long mtype;
	char mtext[8];
};

static void on_usr1(int sig)
{
	(void)sig;
}

static void child(int i, enum op op, enum fate fate)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = fate == F_RESTART ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
	alarm(60);
	long r;
	switch (op) {
	case OP_SEMOP: {
		struct sembuf take = { 0, -1, 0 };
		r = syscall(SYS_semop, semid, &take, 1);
		break;
	}
	case OP_SEMTIMEDOP: {
		struct sembuf take = { 0, -1, SEM_UNDO };
		struct timespec ts = { 30, 0 };
		r = syscall(SYS_semtimedop, semid, &take, 1, &ts);
		break;
	}
	case OP_MSGSND: {
		struct msg m = { 2, "" };
		snprintf(m.mtext, sizeof(m.mtext), "c%d", i % 100);
		r = syscall(SYS_msgsnd, msqid, &m, sizeof(m.mtext), 0);
		break;
	}
	default: {
		struct msg m;
		r = syscall(SYS_msgrcv, msqid, &m, sizeof(m.mtext), 0L, 0);
		if (r >= 0)
			sh->got[i] = strtol(m.mtext, NULL, 10);
		break;
	}
	}
	sh->res[i] = r < 0 ? errno : 0;
	__atomic_add_fetch(&sh->done[i], 1, __ATOMIC_SEQ_CST);
	_exit(0);
}

static bool reap(pid_t pid, int *status, int secs)
{
	for (int i = 0; i < secs * 100; i++) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return true;
		conf_msleep(10);
	}
	return false;
}

/* Receive a message of `type' within 5 s.  */
static long recv_wait(struct msg *m, long type)
{
	for (int i = 0; i < 500; i++) {
		long r = syscall(SYS_msgrcv, msqid, m, sizeof(m->mtext), type, IPC_NOWAIT);
		if (r >= 0 || errno != ENOMSG)
			return r;
		conf_msleep(10);
	}
	errno = ENOMSG;
	return -1;
}

static void scenario(enum op op, enum fate fate)
{
	char what[160];
	snprintf(what, sizeof(what), "%s / %s", op_name[op], fate_name[fate]);
	memset(sh, 0, sizeof(*sh));

	/* The object, in its blocking state.  */
	semid = (int)syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600);
	msqid = (int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600);
	if (semid < 0 || msqid < 0) {
		CONF_FAIL("%s: creating the objects: %s", what, strerror(errno));
		return;
	}
	if (op == OP_MSGSND) {
		struct msqid_ds ds;
		CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &ds));
		ds.msg_qbytes = 8;
		CHECK_OK(syscall(SYS_msgctl, msqid, IPC_SET, &ds));
		struct msg filler = { 1, "filler" };
		CHECK_OK(syscall(SYS_msgsnd, msqid, &filler, sizeof(filler.mtext), IPC_NOWAIT));
	}

	pid_t pids[NCH];
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < NCH; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			child(i, op, fate);
		if (pids[i] < 0) {
			CONF_FAIL("fork: %s", strerror(errno));
			return;
		}
		/* One at a time, so the wake-up order is the fork order.  */
		conf_wait_blocked(pids[i], op_nr[op]);
	}

	/* The fate of the first NHIT.  */
	bool waiting[NCH];
	for (int i = 0; i < NCH; i++)
		waiting[i] = true;
	bool eintr = fate == F_EINTR || fate == F_RESTART || (fate == F_STOPCONT && op <= OP_SEMTIMEDOP);
	for (int i = 0; i < NHIT; i++) {
		int st = 0;
		if (fate == F_KILL) {
			kill(pids[i], SIGKILL);
			CHECK_TRUE(reap(pids[i], &st, 10) && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			waiting[i] = false;
			pids[i] = 0;
			continue;
		}
		if (fate == F_STOPCONT) {
			kill(pids[i], SIGSTOP);
			CHECK_TRUE(waitpid(pids[i], &st, WUNTRACED) == pids[i] && WIFSTOPPED(st));
			kill(pids[i], SIGCONT);
		} else {
			kill(pids[i], SIGUSR1);
		}
		if (eintr) {
			CHECK_TRUE(reap(pids[i], &st, 10) && WIFEXITED(st) && WEXITSTATUS(st) == 0);
			CHECK_EQ(sh->res[i], EINTR);
			waiting[i] = false;
			pids[i] = 0;
		} else {
			/* Restarted: it waits again.  */
			conf_msleep(20);
			conf_wait_blocked(pids[i], op_nr[op]);
			CHECK_EQ(sh->done[i], 0);
		}
	}
	int survivors = 0;
	for (int i = 0; i < NCH; i++)
		survivors += waiting[i];

	/* Release exactly what the survivors need, plus EXTRA.  */
	int posted = survivors + EXTRA;
	int got_msg[NCH + EXTRA + 1];
	memset(got_msg, 0, sizeof(got_msg));
	int received[NCH];
	memset(received, 0, sizeof(received));
	switch (op) {
	case OP_SEMOP:
	case OP_SEMTIMEDOP: {
		struct sembuf post = { 0, (short)posted, 0 };
		CHECK_OK(syscall(SYS_semop, semid, &post, 1));
		break;
	}
	case OP_MSGSND: {
		struct msg m;
		CHECK_EQ(recv_wait(&m, 1), (long)sizeof(m.mtext));
		for (int k = 0; k < survivors; k++) {
			long r = recv_wait(&m, 2);
			conf_checks++;
			if (r < 0) {
				CONF_FAIL("%s: message %d of %d survivors: %s", what, k + 1, survivors, strerror(errno));
				break;
			}
			int c = (int)strtol(m.mtext + 1, NULL, 10);
			if (c >= 0 && c < NCH)
				received[c]++;
		}
		break;
	}
	default:
		for (int k = 1; k <= posted; k++) {
			struct msg m = { 3, "" };
			snprintf(m.mtext, sizeof(m.mtext), "%d", k % 1000);
			CHECK_OK(syscall(SYS_msgsnd, msqid, &m, sizeof(m.mtext), IPC_NOWAIT));
		}
		break;
	}

	/* Every survivor completes, once.  */
	for (int i = 0; i < NCH; i++) {
		if (!waiting[i])
			continue;
		int st = 0;
		bool ok = reap(pids[i], &st, 10);
		conf_checks++;
		if (!ok) {
			CONF_FAIL("%s: child %d still waits after the release", what, i);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st, 0);
			continue;
		}
		CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK_EQ(sh->done[i], 1);
		CHECK_EQ(sh->res[i], 0);
		if (op == OP_MSGRCV && sh->got[i] >= 1 && sh->got[i] <= posted)
			got_msg[sh->got[i]]++;
	}

	/* The exact counts.  */
	switch (op) {
	case OP_SEMOP:
		/* Each survivor took one; nobody else took anything.  */
		CHECK_EQ(syscall(SYS_semctl, semid, 0, GETVAL, 0), EXTRA);
		break;
	case OP_SEMTIMEDOP:
		/* The survivors' SEM_UNDO gave their units back at exit.  */
		CHECK_EQ(syscall(SYS_semctl, semid, 0, GETVAL, 0), posted);
		break;
	case OP_MSGSND: {
		for (int i = 0; i < NCH; i++) {
			conf_checks++;
			if (received[i] != (waiting[i] ? 1 : 0))
				CONF_FAIL("%s: the message of child %d arrived %d times, want %d", what, i,
					  received[i], waiting[i] ? 1 : 0);
		}
		struct msg m;
		CHECK_ERR(syscall(SYS_msgrcv, msqid, &m, sizeof(m.mtext), 0L, IPC_NOWAIT), ENOMSG);
		break;
	}
	default: {
		/* Each message went to one survivor or stayed queued.  */
		struct msqid_ds ds;
		CHECK_OK(syscall(SYS_msgctl, msqid, IPC_STAT, &ds));
		CHECK_EQ(ds.msg_qnum, EXTRA);
		struct msg m;
		for (int k = 0; k < EXTRA; k++)
			if (CHECK_OK(syscall(SYS_msgrcv, msqid, &m, sizeof(m.mtext), 0L, IPC_NOWAIT)) >= 0) {
				long n = strtol(m.mtext, NULL, 10);
				if (n >= 1 && n <= posted)
					got_msg[n]++;
			}
		for (int k = 1; k <= posted; k++) {
			conf_checks++;
			if (got_msg[k] != 1)
				CONF_FAIL("%s: message %d was received %d times", what, k, got_msg[k]);
		}
		break;
	}
	}
	CHECK_EQ(syscall(SYS_semctl, semid, 0, GETNCNT, 0), 0);
	CHECK_OK(syscall(SYS_semctl, semid, 0, IPC_RMID, 0));
	CHECK_OK(syscall(SYS_msgctl, msqid, IPC_RMID, 0));
	printf("# %s: %d of %d children hit, %d completed\n", what, NHIT, NCH, survivors);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int op = 0; op < NOP; op++)
		for (int fate = 0; fate < NFATE; fate++)
			scenario((enum op)op, (enum fate)fate);
	return conf_done("hostile_kill");
}
