/* SPDX-License-Identifier: MIT */
/* Signals and blocked System V IPC calls, for semop, semtimedop, msgsnd
 * and msgrcv, each blocked in a child:
 *  - a handler, with SA_RESTART, without it, installed by signal() (glibc
 *    sets SA_RESTART), on an alternate stack, sent to the process or to
 *    the blocked thread (tgkill): EINTR, never restarted (signal(7));
 *  - a signal to the process that another thread handles, an ignored
 *    signal: the call goes on sleeping, then completes;
 *  - a stop and a continue (SIGSTOP, SIGCONT), a debugger's attach
 *    (PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH), a cgroup v2 freeze
 *    and thaw (left out where no cgroup of our own can be made): what
 *    Linux does,
 *    which differs between the calls: msgsnd and msgrcv restart, semop
 *    and semtimedop fail with EINTR (signal(7), "Interruption of system
 *    calls and library functions by stop signals");
 *  - an SA_RESTART handler after another process ran 20000 handlers of
 *    its own (every handler run in the container is in what ipcnsd
 *    watches): EINTR all the same;
 *  - a handler without SA_RESTART, then the same call again from the same
 *    instruction (a loop that retries on EINTR): it sleeps again;
 *  - a daemon whose signal() SIGTERM handler sets a flag and stops.
 * While it sleeps the caller's /proc/TID/stat state is S.  After an
 * EINTR nothing was taken or left behind: a message sent later stays
 * queued, a semaphore unit given later stays, a SEM_UNDO adjustment of
 * the interrupted semop is never applied, a message whose send was
 * interrupted never appears.  */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/ptrace.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_wait.h"

enum op { OP_SEMOP, OP_SEMTIMEDOP, OP_MSGSND, OP_MSGRCV, NOPS };
static const char *const op_name[] = { "semop", "semtimedop", "msgsnd", "msgrcv" };
#if defined(__i386__)
/* i386 has semop and semtimedop only as ipc(2) calls (conf_wait.h takes
 * SYS_ipc for any of these).  */
#define SYS_semop SYS_ipc
#define SYS_semtimedop SYS_ipc
#endif
static const long op_nr[] = { SYS_semop, SYS_semtimedop, SYS_msgsnd, SYS_msgrcv };

enum scase {
	C_RESTART,      /* sigaction with SA_RESTART, kill() */
	C_NORESTART,    /* sigaction without SA_RESTART */
	C_SIGNAL,       /* signal() */
	C_ALTSTACK,     /* SA_ONSTACK | SA_RESTART on a sigaltstack */
	C_TGKILL,       /* SA_RESTART handler, tgkill() to the blocked thread */
	C_OTHER_THREAD, /* kill() to the process, handled by its main thread */
	C_IGNORED,      /* SIG_IGN */
	C_STOP,         /* SIGSTOP, SIGCONT */
	C_PTRACE,       /* PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH */
	C_RETRY,        /* no SA_RESTART: EINTR, then the same call sleeps again */
	C_FREEZE,       /* cgroup v2 freezer: frozen, then thawed */
	C_STORM,        /* SA_RESTART handler, after a storm of handlers elsewhere */
	NCASES
};
static const char *const case_name[] = { "SA_RESTART handler", "handler without SA_RESTART", "signal() handler",
					 "sigaltstack handler", "tgkill to the thread", "handled by another thread",
					 "ignored signal", "SIGSTOP/SIGCONT", "ptrace attach",
					 "the same call again after EINTR", "cgroup freezer",
					 "after 20000 handlers run in another process" };

struct shared {
	int ready, done;
	pid_t tid;          /* the blocked thread */
	long ret;
	int err;
	int handled;        /* handler runs */
	pid_t handler_tid;  /* thread that ran it */
	int on_altstack;    /* the handler ran on the alternate stack */
	int first_err;      /* C_RETRY: errno of the first call */
	int retrying;
	int retry;
};
static struct shared *sh;
static char altstack[64 * 1024];

struct mb {
	long mtype;
	char mtext[64];
};

static int semid, msqid;

static void on_sig(int sig)
{
	(void)sig;
	int here;
	__atomic_fetch_add(&sh->handled, 1, __ATOMIC_SEQ_CST);
	sh->handler_tid = (pid_t)syscall(SYS_gettid);
	sh->on_altstack = (char *)&here >= altstack && (char *)&here < altstack + sizeof(altstack);
}

static bool expect_eintr(enum op op, enum scase c)
{
	switch (c) {
	case C_OTHER_THREAD:
	case C_IGNORED:
	case C_RETRY:
		return false;
	case C_STOP:
	case C_PTRACE:
	case C_FREEZE:
		return op == OP_SEMOP || op == OP_SEMTIMEDOP;
	default:
		return true;
	}
}

static long do_op(enum op op)
{
	struct sembuf sb = { 0, -1, SEM_UNDO };
	struct timespec ts = { 60, 0 };
	struct mb b = { .mtype = 1 };
	switch (op) {
	case OP_SEMOP:
		/* glibc's semop() is semtimedop(2) on x86_64.  */
#if defined(__i386__)
		return syscall(SYS_ipc, 1 /* SEMOP */, semid, 1, 0, &sb, 0);
#else
		return syscall(SYS_semop, semid, &sb, 1);
#endif
	case OP_SEMTIMEDOP:
		return semtimedop(semid, &sb, 1, &ts);
	case OP_MSGSND:
		memset(b.mtext, 'c', sizeof(b.mtext));
		b.mtype = 2;
		return msgsnd(msqid, &b, 16, 0);
	default:
		return msgrcv(msqid, &b, sizeof(b.mtext), 0, 0);
	}
}

static enum op cur_op;

static void *op_thread(void *arg)
{
	if (arg) {
		/* Leave a process-directed SIGUSR1 to the main thread.  */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	sh->tid = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
	errno = 0;
	long r;
	for (int i = 0;; i++) {
		r = do_op(cur_op);
		if (i || !sh->retry)
			break;
		/* As a loop that retries on EINTR does; the second call
		 * comes from the same instruction.  */
		sh->first_err = r < 0 ? errno : 0;
		__atomic_store_n(&sh->retrying, 1, __ATOMIC_SEQ_CST);
	}
	sh->ret = r;
	sh->err = r < 0 ? errno : 0;
	__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void child(enum op op, enum scase c)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	alarm(20);
	cur_op = op;
	switch (c) {
	case C_NORESTART:
	case C_RETRY:
		sigaction(SIGUSR1, &sa, NULL);
		break;
	case C_SIGNAL:
		signal(SIGUSR1, on_sig);
		break;
	case C_ALTSTACK: {
		stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
		if (sigaltstack(&ss, NULL) < 0)
			_exit(3);
		sa.sa_flags = SA_RESTART | SA_ONSTACK;
		sigaction(SIGUSR1, &sa, NULL);
		break;
	}
	case C_IGNORED:
		signal(SIGUSR1, SIG_IGN);
		break;
	default:
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		break;
	}
	if (c == C_TGKILL || c == C_OTHER_THREAD) {
		pthread_t th;
		if (pthread_create(&th, NULL, op_thread, c == C_OTHER_THREAD ? &th : NULL))
			_exit(3);
		pthread_join(th, NULL);
	} else {
		op_thread(NULL);
	}
	_exit(0);
}

static char proc_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	FILE *f = fopen(path, "re");
	char st = '?';
	if (!f)
		return st;
	if (fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ')
			st = p[2];
	}
	fclose(f);
	return st;
}

static bool wait_done(int ms)
{
	for (int i = 0; i < ms; i++) {
		if (__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST))
			return true;
		conf_msleep(1);
	}
	return __atomic_load_n(&sh->done, __ATOMIC_SEQ_CST);
}

/* Until the caller sleeps in its call, and (under ipcnsd) is parked.  */
static void wait_parked(enum op op, pid_t pid)
{
	while (!__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST))
		conf_msleep(1);
	conf_wait_blocked(sh->tid, op_nr[op]);
	if (op == OP_SEMOP || op == OP_SEMTIMEDOP)
		conf_wait_semcnt(semid, 0, GETNCNT, 1);
	else
		conf_msleep(100); /* nothing counts message queue waiters */
	char st = proc_state(pid, sh->tid);
	if (st != 'S')
		CONF_FAIL("the blocked caller's state is %c, want S", st);
	conf_checks++;
}

static void setup(enum op op)
{
	semid = (int)CHECK_OK(semget(IPC_PRIVATE, 1, 0600));
	msqid = (int)CHECK_OK(msgget(IPC_PRIVATE, 0600));
	if (op == OP_MSGSND) {
		/* A full queue.  */
		struct msqid_ds ds;
		CHECK_OK(msgctl(msqid, IPC_STAT, &ds));
		ds.msg_qbytes = 64;
		CHECK_OK(msgctl(msqid, IPC_SET, &ds));
		struct mb b = { .mtype = 1 };
		memset(b.mtext, 'f', sizeof(b.mtext));
		CHECK_OK(msgsnd(msqid, &b, 64, IPC_NOWAIT));
	}
}

/* Wake the sleeper the way its call needs.  */
static void wake(enum op op)
{
	struct sembuf up = { 0, 1, 0 };
	struct mb b = { .mtype = 7 };
	switch (op) {
	case OP_SEMOP:
	case OP_SEMTIMEDOP:
		CHECK_OK(semop(semid, &up, 1));
		break;
	case OP_MSGSND:
		CHECK_EQ(msgrcv(msqid, &b, sizeof(b.mtext), 1, IPC_NOWAIT), 64);
		break;
	default:
		memcpy(b.mtext, "wake", 4);
		CHECK_OK(msgsnd(msqid, &b, 4, IPC_NOWAIT));
		break;
	}
}

/* After an EINTR: nothing of the interrupted call is left anywhere.  */
static void check_nothing_taken(enum op op)
{
	struct msqid_ds ds;
	wake(op);
	conf_msleep(30);
	switch (op) {
	case OP_SEMOP:
	case OP_SEMTIMEDOP:
		CHECK_EQ(semctl(semid, 0, GETVAL), 1);
		CHECK_EQ(semctl(semid, 0, GETNCNT), 0);
		break;
	case OP_MSGSND:
		/* The full message was taken by wake(): the queue is empty,
		 * the interrupted message never came in.  */
		CHECK_OK(msgctl(msqid, IPC_STAT, &ds));
		CHECK_EQ(ds.msg_qnum, 0);
		break;
	default:
		CHECK_OK(msgctl(msqid, IPC_STAT, &ds));
		CHECK_EQ(ds.msg_qnum, 1);
		break;
	}
}

static void check_completed(enum op op)
{
	switch (op) {
	case OP_SEMOP:
	case OP_SEMTIMEDOP:
		CHECK_EQ(sh->ret, 0);
		break;
	case OP_MSGSND: {
		CHECK_EQ(sh->ret, 0);
		struct mb b;
		CHECK_EQ(msgrcv(msqid, &b, sizeof(b.mtext), 0, IPC_NOWAIT), 16);
		CHECK_EQ(b.mtype, 2);
		break;
	}
	default:
		CHECK_EQ(sh->ret, 4);
		break;
	}
}

/* A cgroup v2 directory of our own, where the children of C_FREEZE go,
 * or NULL when there is none to be had here (a container without its
 * cgroup mounted): that case is then left out, and said so.  */
static char cg_dir[128];

static bool cg_write(const char *file, const char *val)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", cg_dir, file);
	FILE *f = fopen(path, "we");
	if (!f)
		return false;
	bool ok = fputs(val, f) >= 0;
	return fclose(f) == 0 && ok;
}

static bool cg_frozen(void)
{
	char path[256], line[64];
	snprintf(path, sizeof(path), "%s/cgroup.events", cg_dir);
	FILE *f = fopen(path, "re");
	bool frozen = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "frozen 1\n"))
			frozen = true;
	fclose(f);
	return frozen;
}

static bool cg_setup(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		char probe[160];
		snprintf(probe, sizeof(probe), "%s/cgroup.procs", roots[i]);
		if (access(probe, F_OK))
			continue;
		snprintf(cg_dir, sizeof(cg_dir), "%s/sig_intr.%d", roots[i], (int)getpid());
		if (mkdir(cg_dir, 0755) == 0) {
			if (!access(strcat(strcpy(probe, cg_dir), "/cgroup.freeze"), W_OK))
				return true;
			rmdir(cg_dir);
		}
	}
	cg_dir[0] = 0;
	return false;
}

static void freeze_thaw(pid_t pid)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	CHECK_TRUE(cg_write("cgroup.procs", buf));
	CHECK_TRUE(cg_write("cgroup.freeze", "1"));
	int i;
	for (i = 0; i < 5000 && !cg_frozen(); i++)
		conf_msleep(1);
	CHECK_TRUE(cg_frozen());
	conf_msleep(20);
	CHECK_TRUE(cg_write("cgroup.freeze", "0"));
}

/* Another process runs a handler N times (on whatever CPUs it gets) while
 * the caller waits: deliveries elsewhere on the host must not blur what
 * happened to the caller.  */
static volatile sig_atomic_t storm_count;
static void on_storm(int sig)
{
	(void)sig;
	storm_count++;
}

static void storm(int n)
{
	fflush(stdout);
	fflush(stderr);
	pid_t p = fork();
	if (p == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_storm;
		sigaction(SIGUSR2, &sa, NULL);
		for (int i = 0; i < n; i++)
			raise(SIGUSR2);
		_exit(storm_count == n ? 0 : 1);
	}
	int st = 0;
	CHECK_EQ(waitpid(p, &st, 0), p);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void signal_it(enum scase c, pid_t pid)
{
	int st;
	switch (c) {
	case C_STORM:
		storm(20000);
		CHECK_OK(kill(pid, SIGUSR1));
		break;
	case C_FREEZE:
		freeze_thaw(pid);
		break;
	case C_TGKILL:
		CHECK_OK(syscall(SYS_tgkill, pid, sh->tid, SIGUSR1));
		break;
	case C_STOP:
		CHECK_OK(kill(pid, SIGSTOP));
		CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
		CHECK_TRUE(WIFSTOPPED(st));
		conf_msleep(20);
		/* Not waited for: a semop's child may have its EINTR
		 * and exit before a WCONTINUED wait could see it.  */
		CHECK_OK(kill(pid, SIGCONT));
		break;
	case C_PTRACE:
		CHECK_OK(ptrace(PTRACE_SEIZE, sh->tid, 0, 0));
		CHECK_OK(ptrace(PTRACE_INTERRUPT, sh->tid, 0, 0));
		CHECK_EQ(waitpid(sh->tid, &st, __WALL), sh->tid);
		CHECK_TRUE(WIFSTOPPED(st));
		CHECK_OK(ptrace(PTRACE_DETACH, sh->tid, 0, 0));
		break;
	default:
		CHECK_OK(kill(pid, SIGUSR1));
		break;
	}
}

static void run_case(enum op op, enum scase c)
{
	int failed_before = conf_failed;
	memset(sh, 0, sizeof(*sh));
	sh->retry = c == C_RETRY;
	setup(op);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		CONF_FAIL("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		child(op, c);
	wait_parked(op, pid);
	signal_it(c, pid);
	if (c == C_RETRY) {
		for (int i = 0; i < 5000 && !__atomic_load_n(&sh->retrying, __ATOMIC_SEQ_CST); i++)
			conf_msleep(1);
		CHECK_EQ(sh->first_err, EINTR);
	}
	if (expect_eintr(op, c)) {
		if (!wait_done(5000)) {
			CONF_FAIL("still blocked 5 s after the signal");
			kill(pid, SIGKILL);
		} else {
			CHECK_EQ(sh->ret, -1);
			CHECK_EQ(sh->err, EINTR);
			check_nothing_taken(op);
		}
	} else {
		conf_msleep(50);
		CHECK_EQ(__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST), 0);
		if (!sh->done) {
			wait_parked(op, pid);
			wake(op);
			if (wait_done(5000))
				check_completed(op);
			else
				CONF_FAIL("never woken");
		}
	}
	if (c != C_IGNORED && c != C_STOP && c != C_PTRACE && c != C_FREEZE) {
		for (int i = 0; i < 2000 && !sh->handled; i++)
			conf_msleep(1);
		CHECK_EQ(sh->handled, 1);
		CHECK_EQ(sh->handler_tid, c == C_OTHER_THREAD ? pid : sh->tid);
		if (c == C_ALTSTACK)
			CHECK_EQ(sh->on_altstack, 1);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (op == OP_SEMOP || op == OP_SEMTIMEDOP) {
		/* The exit applied no adjustment for a semop that never
		 * happened (or undid the one that did).  */
		CHECK_EQ(semctl(semid, 0, GETVAL), 1);
	}
	if (conf_failed != failed_before)
		fprintf(stderr, "  ^ in %s, %s\n", op_name[op], case_name[c]);
	semctl(semid, 0, IPC_RMID);
	msgctl(msqid, IPC_RMID, NULL);
}

/* A daemon: signal(SIGTERM, h) sets a flag; its loop waits in msgrcv (or
 * semop) and ends when the flag is set.  */
static volatile sig_atomic_t stop_flag;
static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void run_daemon(enum op op)
{
	memset(sh, 0, sizeof(*sh));
	setup(op);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGTERM, on_term);
		cur_op = op;
		sh->tid = getpid();
		__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
		while (!stop_flag)
			do_op(op);
		_exit(42);
	}
	wait_parked(op, pid);
	CHECK_OK(kill(pid, SIGTERM));
	int st = 0;
	pid_t w = 0;
	for (int i = 0; i < 5000 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++)
		conf_msleep(1);
	if (w != pid) {
		CONF_FAIL("%s daemon still running 5 s after SIGTERM", op_name[op]);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	} else {
		CHECK_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 42);
	}
	semctl(semid, 0, IPC_RMID);
	msgctl(msqid, IPC_RMID, NULL);
}

int main(void)
{
	int probe = semget(IPC_PRIVATE, 1, 0600);
	if (probe < 0) {
		if (errno == ENOSYS || errno == EPERM)
			CONF_SKIP("no System V semaphores");
		return 1;
	}
	semctl(probe, 0, IPC_RMID);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		CONF_SKIP("no shared memory for the report");
	bool cg = cg_setup();
	if (!cg)
		printf("# no cgroup v2 directory of our own here: the freezer case is left out\n");
	for (int op = 0; op < NOPS; op++)
		for (int c = 0; c < NCASES; c++)
			if (c != C_FREEZE || cg)
				run_case((enum op)op, (enum scase)c);
	if (cg)
		rmdir(cg_dir);
	for (int op = 0; op < NOPS; op++)
		run_daemon((enum op)op);
	return conf_done("sig_intr");
}
