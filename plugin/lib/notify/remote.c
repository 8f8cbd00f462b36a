/* SPDX-License-Identifier: MIT */
/* Remote system calls in a thread blocked in a seccomp notification, for
 * the moment of shmat/shmdt only.
 *
 * The order matters (spec/architecture.md, "The data path of a shmat"): seize the thread; check the
 * notification is still valid, which proves the seized tid is the caller;
 * interrupt it; answer the notification; then wait for the stop.  Waiting
 * for the stop before answering hangs when the runtime loaded the filter
 * with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: the interrupt cannot end a
 * killable wait.  The thread stops before returning to user space with
 * either our answer or -ERESTARTSYS (the interrupt won) in the return
 * register, and the instruction pointer just past the syscall instruction
 * (arm64 differs when the interrupt won: see regs_undo_restart).
 * We point it back at that instruction, load a syscall, single-step it,
 * and finally restore the registers with the real return value and an
 * original syscall number of -1 so that no restart logic touches them.
 *
 * Whether the instruction ran is told by the program counter, not by the
 * kind of stop: a group stop (SIGSTOP) or another signal can be reported
 * after the syscall ran and before its single-step trap, and a SIGTRAP
 * someone sent can take the trap's place (a pending SIGTRAP is not queued
 * twice).  Stepping again then would run the mmap or the close twice.  */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "notify.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a SECCOMP_RET_TRAP SIGSYS */
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#if defined(__x86_64__)
typedef struct user_regs_struct ipcns_regs;
#define SYSCALL_INSN_LEN 2
static void regs_set_call(ipcns_regs *r, long nr, const long a[6])
{
	r->rip -= SYSCALL_INSN_LEN;
	r->rax = (unsigned long long)nr;
	r->orig_rax = (unsigned long long)-1;
	r->rdi = (unsigned long long)a[0];
	r->rsi = (unsigned long long)a[1];
	r->rdx = (unsigned long long)a[2];
	r->r10 = (unsigned long long)a[3];
	r->r8 = (unsigned long long)a[4];
	r->r9 = (unsigned long long)a[5];
}
static long regs_ret(const ipcns_regs *r)
{
	return (long)r->rax;
}
static unsigned long long regs_pc(const ipcns_regs *r)
{
	return r->rip;
}
static unsigned long long regs_sp(const ipcns_regs *r)
{
	return r->rsp;
}
static void regs_set_ret(ipcns_regs *r, long ret)
{
	r->rax = (unsigned long long)ret;
	r->orig_rax = (unsigned long long)-1;
}
/* x86 prepares a restart after the stop (arch_do_signal_or_restart): the
 * tracer sees rip past `syscall' and -ERESTARTSYS in rax either way.  */
static void regs_undo_restart(ipcns_regs *r)
{
	(void)r;
}
/* The single-step trap after `syscall' is user_single_step_report()'s
 * TRAP_BRKPT (arch/x86/kernel/step.c), a kernel si_code; nothing else
 * reports one like it.  */
static bool step_siginfo(const siginfo_t *si)
{
	return si->si_code > 0;
}
static const bool step_siginfo_can_be_sent = false;
static int regs_get(pid_t tid, ipcns_regs *r)
{
	return ptrace(PTRACE_GETREGS, tid, NULL, r) < 0 ? -errno : 0;
}
static int regs_put(pid_t tid, ipcns_regs *r)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, r) < 0 ? -errno : 0;
}

/* A 32-bit thread (i386, or a 64-bit one that entered with `int $0x80'):
 * GETREGS and SETREGS from the 64-bit tracer use the 64-bit layout with
 * the i386 values in it, the arguments in ebx, ecx, edx, esi, edi, ebp.
 * Its calls must run in compat mode, by an `int $0x80': a 64-bit
 * `syscall' cannot be executed by 32-bit code.  */
#define HAVE_COMPAT 1
#define NR32_GETPID 20
#define NR32_RT_SIGACTION 174
static void regs_set_call32(ipcns_regs *r, uint64_t site, long nr, const long a[6])
{
	r->rip = site;
	r->rax = (uint32_t)nr;
	r->orig_rax = (unsigned long long)-1;
	r->rbx = (uint32_t)a[0];
	r->rcx = (uint32_t)a[1];
	r->rdx = (uint32_t)a[2];
	r->rsi = (uint32_t)a[3];
	r->rdi = (uint32_t)a[4];
	r->rbp = (uint32_t)a[5];
}

/* eax: an error in -4095..-1, else a 32-bit value (an mmap2 address above
 * 2 GiB included).  */
static long ret32(long v)
{
	uint32_t u = (uint32_t)v;
	return u >= (uint32_t)-4095 ? (long)(int32_t)u : (long)u;
}

/* Where the thread can run an `int $0x80'.  A compat call entered by
 * `int $0x80' has its ip just past it; one entered by sysenter or a
 * 32-bit syscall (the vDSO's __kernel_vsyscall) has its ip moved by the
 * kernel to the vDSO's landing pad, just past the vDSO's own `int $0x80'
 * (do_fast_syscall_32, so that a restart lands on it): ip - 2 is a site
 * in both cases unless the code there changed since.  Else the vDSO's
 * `int $0x80' is looked for; 0 when there is none.  */
static uint64_t find_int80(pid_t tid, uint64_t pc)
{
	errno = 0;
	long w = ptrace(PTRACE_PEEKTEXT, tid, (void *)(uintptr_t)(pc - 2), NULL);
	if (errno == 0 && (w & 0xffff) == 0x80cd)
		return pc - 2;
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long lo = 0, hi = 0;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &lo, &hi) == 2;
	fclose(f);
	if (!found || hi <= lo || hi - lo > 65536)
		return 0;
	unsigned char buf[65536];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, buf, hi - lo, (off_t)lo);
	close(fd);
	for (ssize_t i = 0; i + 1 < n; i++)
		if (buf[i] == 0xcd && buf[i + 1] == 0x80)
			return lo + (uint64_t)i;
	return 0;
}
#elif defined(__aarch64__)
#include <asm/ptrace.h>
typedef struct user_pt_regs ipcns_regs;
#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif
#define SYSCALL_INSN_LEN 4
static int set_orig_nr(pid_t tid, int nr)
{
	struct iovec iov = { &nr, sizeof(nr) };
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0 ? -errno : 0;
}
static void regs_set_call(ipcns_regs *r, long nr, const long a[6])
{
	r->pc -= SYSCALL_INSN_LEN;
	r->regs[8] = (unsigned long long)nr;
	for (int i = 0; i < 6; i++)
		r->regs[i] = (unsigned long long)a[i];
}
static long regs_ret(const ipcns_regs *r)
{
	return (long)r->regs[0];
}
static unsigned long long regs_pc(const ipcns_regs *r)
{
	return r->pc;
}
static unsigned long long regs_sp(const ipcns_regs *r)
{
	return r->sp;
}
static void regs_set_ret(ipcns_regs *r, long ret)
{
	r->regs[0] = (unsigned long long)ret;
}
/* arm64's do_signal() prepares a restart before get_signal(), "so that a
 * debugger will see the already changed PC": when the interrupt won
 * (-ERESTARTSYS), the stopped thread has pc back on `svc' and x0 = orig_x0.
 * Put pc past `svc' again, where it is when the answer won.  */
static void regs_undo_restart(ipcns_regs *r)
{
	r->pc += SYSCALL_INSN_LEN;
}
/* A step over `svc' is reported at syscall exit by the generic
 * user_single_step_report() (arm64 has no ARCH_HAS_USER_SINGLE_STEP_REPORT):
 * SI_USER with si_pid 0.  A step over any other instruction is TRAP_TRACE.
 * A SIGTRAP sent from outside the thread's pid namespace also has si_pid 0:
 * the pc tells it from the step (step_siginfo_can_be_sent).  */
static bool step_siginfo(const siginfo_t *si)
{
	return si->si_code > 0 || (si->si_code == SI_USER && si->si_pid == 0);
}
static const bool step_siginfo_can_be_sent = true;
static int regs_get(pid_t tid, ipcns_regs *r)
{
	struct iovec iov = { r, sizeof(*r) };
	return ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}
static int regs_put(pid_t tid, ipcns_regs *r)
{
	struct iovec iov = { r, sizeof(*r) };
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	return set_orig_nr(tid, -1);
}
#else
#error "remote syscalls are implemented for x86_64 and aarch64"
#endif

_Static_assert(sizeof(ipcns_regs) <= sizeof(((struct ipcns_remote *)0)->saved), "register save area");

/* Signals while we hold the thread.
 *
 * Once it is stopped, every signal but SIGTRAP and SIGSYS is blocked
 * (PTRACE_SETSIGMASK) until it is let go: a signal sent meanwhile stays
 * queued in the kernel with its siginfo, and is delivered, in Linux's
 * order, when the mask is put back.  SIGTRAP stays unblocked because the
 * kernel forces the single-step trap, and forcing a blocked signal resets
 * its handler (force_sig_info_to_task); SIGSYS because a container's
 * SECCOMP_RET_TRAP on an injected call is forced the same way.
 *
 * A signal can still be dequeued before the mask is set (it interrupted
 * the notification between our check and our interrupt), and SIGSTOP, or
 * a SIGTRAP or SIGSYS someone sends, cannot be blocked: each stops the
 * thread in a signal-delivery-stop, having left the queue.  The first one
 * is kept in hand with its siginfo and delivered by the detach itself
 * from a signal-delivery-stop (PTRACE_SETSIGINFO, then PTRACE_DETACH with
 * its number): ahead of those still queued, as Linux would have.  Any
 * other is queued again at the end: with its siginfo when the kernel lets
 * a process send that si_code (rt_tgsigqueueinfo), else with tgkill.  */
#define MAX_HELD_SIGNALS 8
static __thread siginfo_t held_si[MAX_HELD_SIGNALS];
static __thread int n_held;
static __thread siginfo_t hand_si;
static __thread bool have_hand;

static void hold_signal(const siginfo_t *si)
{
	if (!have_hand) {
		hand_si = *si;
		have_hand = true;
		return;
	}
	/* Standard signals merge while queued: one of each is enough.  */
	for (int i = 0; i < n_held && si->si_signo < SIGRTMIN; i++)
		if (held_si[i].si_signo == si->si_signo)
			return;
	if (n_held < MAX_HELD_SIGNALS)
		held_si[n_held++] = *si;
}

/* Queue the held signals again, once the thread is let go.  */
static void requeue_held(pid_t tgid, pid_t tid)
{
	for (int i = 0; i < n_held; i++) {
		siginfo_t *si = &held_si[i];
		if (si->si_code < 0 && si->si_code != SI_TKILL &&
		    syscall(SYS_rt_tgsigqueueinfo, tgid, tid, si->si_signo, si) == 0)
			continue;
		syscall(SYS_tgkill, tgid, tid, si->si_signo);
	}
	n_held = 0;
}

#define SIGBIT(s) (1ULL << ((s) - 1))

/* Wait for the next stop of the thread.  Returns 1 for a single-step
 * trap, 2 for a syscall stop (syscall_traced), 0 for any other stop
 * (interrupt, group stop or a signal, which is held), -ESRCH when the
 * thread died.  */
static int wait_stop(struct ipcns_remote *r)
{
	int status;
	for (;;) {
		pid_t w = waitpid(r->tid, &status, __WALL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r->gone = true;
			return -ESRCH;
		}
		break;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		r->gone = true;
		return -ESRCH;
	}
	r->at_signal_stop = false;
	if (!WIFSTOPPED(status))
		return 0;
	int sig = WSTOPSIG(status);
	int event = status >> 16;
	if (event != 0)
		return 0; /* PTRACE_EVENT_STOP: interrupt or group stop */
	if (sig == (SIGTRAP | 0x80))
		return 2; /* a syscall stop (PTRACE_O_TRACESYSGOOD) */
	r->at_signal_stop = true;
	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, r->tid, NULL, &si) < 0) {
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_KERNEL;
	}
	/* A single-step trap has a kernel si_code (or arm64's pseudo-step,
	 * see step_siginfo); a SIGTRAP someone sent has SI_USER or SI_TKILL
	 * with the sender's pid.  */
	if (sig == SIGTRAP && step_siginfo(&si))
		return 1;
	/* The container's seccomp filter trapped our own injected call
	 * (SECCOMP_RET_TRAP): not the program's signal.  Only the kernel
	 * can send SYS_SECCOMP to another thread.  */
	if (sig == SIGSYS && si.si_code == SYS_SECCOMP && r->injecting &&
	    (uint64_t)(uintptr_t)si.si_call_addr == r->injected_pc) {
		r->trapped = true;
		return 0;
	}
	hold_signal(&si);
	return 0;
}

/* Let a seized thread go.  PTRACE_DETACH needs a stopped tracee: a
 * running one is stopped first (PTRACE_INTERRUPT, then waited for), and
 * one that died is reaped, or it would stay a traced zombie and its
 * container could never end.  Only once the thread is not blocked in its
 * notification (answered, or no longer valid): an interrupt cannot end a
 * killable wait (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV).  */
static void let_go(pid_t tid, int sig)
{
	int st;
	/* Stopped already without our waiting for it (a signal dequeued
	 * while we were not looking, as when the call was interrupted
	 * between the seize and its check): hand its signal back, or the
	 * detach would drop it.  */
	if (!sig && waitpid(tid, &st, __WALL | WNOHANG) == tid) {
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return;
		if (WIFSTOPPED(st) && (st >> 16) == 0)
			sig = WSTOPSIG(st);
	}
	if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig) == 0 || errno != ESRCH)
		return;
	ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
	for (;;) {
		if (waitpid(tid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return; /* not ours any more */
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return;
		if (WIFSTOPPED(st)) {
			/* A signal-delivery stop hands its signal back.  */
			int dsig = (st >> 16) == 0 ? WSTOPSIG(st) : 0;
			if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)dsig) == 0)
				return;
		}
	}
}

int ipcns_remote_seize(struct ipcns_remote *r, int notify_fd, uint64_t id, pid_t tid)
{
	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->notify_fd = notify_fd;
	r->id = id;
	n_held = 0;
	have_hand = false;
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) < 0)
		return -errno;
	/* Valid after the seize: the thread we hold is the caller.  */
	if (ipcns_seccomp_id_valid(notify_fd, id) < 0) {
		let_go(tid, 0);
		return -ENOENT;
	}
	r->seized = true;
	return 0;
}

void ipcns_remote_release(struct ipcns_remote *r)
{
	if (r->seized && !r->active)
		let_go(r->tid, 0);
	r->seized = false;
}

int ipcns_remote_answer(struct ipcns_remote *r)
{
	int ret;
	if (!r->seized)
		return -ESRCH;
	if (ptrace(PTRACE_INTERRUPT, r->tid, NULL, NULL) < 0) {
		ret = -errno;
		ipcns_remote_release(r);
		return ret;
	}
	/* Answer first; -ENOENT here means the interrupt won: the thread
	 * holds -ERESTARTSYS and our registers decide what it returns.  */
	int sent = ipcns_seccomp_send(r->notify_fd, r->id, 0, 0);
	/* Whether SIGTRAP is ignored, read while the thread wakes up to
	 * stop: it cannot run its own code before, and the read costs the
	 * call less time than after the stop.  */
	uint64_t ign;
	r->trap_ign = ipcns_proc_sigign(r->tid, &ign) == 0 && (ign & SIGBIT(SIGTRAP));
	ret = wait_stop(r);
	if (ret < 0) {
		r->seized = false;
		return ret;
	}
	ret = regs_get(r->tid, (ipcns_regs *)r->saved);
	if (ret < 0) {
		ipcns_remote_release(r);
		return ret;
	}
	if (sent < 0)
		regs_undo_restart((ipcns_regs *)r->saved);
#ifdef HAVE_COMPAT
	if (r->compat)
		r->site = find_int80(r->tid, regs_pc((ipcns_regs *)r->saved));
#endif
	/* Block what can be blocked for the steps (see hold_signal); the
	 * mask is put back exactly at the end.  A single step over a system
	 * call is reported with a forced SIGTRAP, which unblocks a blocked
	 * SIGTRAP (the mask put back covers it) and resets an ignored one
	 * to the default action (keep_trap_ignored puts it back: r->trap_ign).  */
	r->have_sigmask = ptrace(PTRACE_GETSIGMASK, r->tid, (void *)sizeof(r->sigmask), &r->sigmask) == 0;
	if (r->have_sigmask) {
		uint64_t all = ~(SIGBIT(SIGTRAP) | SIGBIT(SIGSYS));
		ptrace(PTRACE_SETSIGMASK, r->tid, (void *)sizeof(all), &all);
	}
	r->active = true;
	return 0;
}

/* Is a single-step trap queued for the thread (the instruction ran, but
 * another stop was reported first), or the SIGSYS of a container's
 * SECCOMP_RET_TRAP on our call (forced after the step's trap, which is
 * dequeued first)?  1, 0 or -errno.  */
static bool ours_queued(const struct ipcns_remote *r, const siginfo_t *si)
{
	if (si->si_signo == SIGTRAP && step_siginfo(si))
		return true;
	return si->si_signo == SIGSYS && si->si_code == SYS_SECCOMP && r->injecting &&
	       (uint64_t)(uintptr_t)si->si_call_addr == r->injected_pc;
}

static int trap_queued(struct ipcns_remote *r)
{
	pid_t tid = r->tid;
	siginfo_t si[16];
	for (int off = 0; off < 256; off += (int)ARRAY_SIZE(si)) {
		struct __ptrace_peeksiginfo_args a = { .off = (uint64_t)off, .flags = 0, .nr = ARRAY_SIZE(si) };
		int n = (int)ptrace(PTRACE_PEEKSIGINFO, tid, &a, si);
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++)
			if (ours_queued(r, &si[i]))
				return 1;
		if (n < (int)ARRAY_SIZE(si))
			break;
	}
	return 0;
}

/* Take a queued trap: resumed, the thread dequeues it (synchronous
 * signals first) before it could return to user space and stops for it;
 * that stop is left without the signal.  0; -ESRCH when the thread
 * died, another -errno when the trap could not be taken.  */
static int take_trap(struct ipcns_remote *r)
{
	for (int tries = 0; tries < 16; tries++) {
		int ret = trap_queued(r);
		if (ret <= 0)
			return ret;
		if (ptrace(PTRACE_SINGLESTEP, r->tid, NULL, NULL) < 0)
			return -ESRCH;
		ret = wait_stop(r);
		if (ret < 0)
			return ret;
	}
	return -EAGAIN;
}

/* Load syscall nr(args) in the stopped thread, its pc on the syscall
 * instruction: 0 or -errno.  */
static int load_call(struct ipcns_remote *r, long nr, const long args[6])
{
	ipcns_regs regs;
	memcpy(&regs, r->saved, sizeof(regs));
	/* The saved pc is just past the syscall instruction: where the pc
	 * is once it ran.  */
	unsigned long long ran_pc = regs_pc(&regs);
#ifdef HAVE_COMPAT
	if (r->compat) {
		if (!r->site)
			return -ENOSYS; /* no `int $0x80' to run it with */
		ran_pc = r->site + 2;
		regs_set_call32(&regs, r->site, nr, args);
	} else {
		regs_set_call(&regs, nr, args);
	}
#else
	regs_set_call(&regs, nr, args);
#endif
	int ret = regs_put(r->tid, &regs);
	if (ret < 0)
		return ret;
	r->injecting = true;
	r->injected_pc = ran_pc;
	r->trapped = false;
	return 0;
}

static long result_of(const struct ipcns_remote *r, const ipcns_regs *out)
{
#ifdef HAVE_COMPAT
	if (r->compat)
		return ret32(regs_ret(out));
#endif
	(void)r;
	return regs_ret(out);
}

/* Let the thread run an injected call on (`req': a single step or to the
 * next syscall stop) and wait for its next stop: what wait_stop says, or
 * -errno with the call's injection over (and the session too when the
 * thread is gone).  */
static int resume_wait(struct ipcns_remote *r, int req)
{
	if (ptrace(req, r->tid, NULL, NULL) < 0) {
		r->injecting = false;
		return -ESRCH;
	}
	int stop = wait_stop(r);
	if (stop < 0) {
		r->active = r->seized = false;
		r->injecting = false;
	}
	return stop;
}

long ipcns_remote_syscall(struct ipcns_remote *r, long nr, const long args[6])
{
	ipcns_regs out;
	if (!r->active)
		return -ESRCH;
	int ret = load_call(r, nr, args);
	if (ret < 0)
		return ret;
	unsigned long long ran_pc = r->injected_pc;
	long res = -EAGAIN;
	for (int tries = 0; tries < 16; tries++) {
		int stop = resume_wait(r, PTRACE_SINGLESTEP);
		if (stop < 0)
			return stop;
		ret = regs_get(r->tid, &out);
		if (ret < 0) {
			r->injecting = false;
			return ret;
		}
		/* Not run yet: a signal or a stop came first (the registers
		 * are still ours); step again.  A SIGTRAP that only looked
		 * like the step (arm64: sent from outside the pid namespace)
		 * is held.  */
		if (regs_pc(&out) != ran_pc) {
			if (step_siginfo_can_be_sent && stop == 1) {
				siginfo_t si;
				memset(&si, 0, sizeof(si));
				si.si_signo = SIGTRAP;
				si.si_code = SI_USER;
				hold_signal(&si);
			}
			continue;
		}
		/* It ran, and another stop came before its trap, which is
		 * still queued: take it, or it would be delivered once the
		 * thread is let go.  A filter's SECCOMP_RET_TRAP skips the
		 * call and leaves what syscall_rollback() puts back as the
		 * result (x86: the number, arm64: the first argument): take
		 * its SIGSYS too, and say the call did not run.  */
		res = result_of(r, &out);
		if ((stop != 1 || res == nr || res == args[0]) && take_trap(r) == -ESRCH) {
			r->active = r->seized = false;
			res = -ESRCH;
		} else if (r->trapped) {
			res = -ENOSYS;
		}
		break;
	}
	r->injecting = false;
	return res;
}

/* Run syscall nr(args) in the thread by PTRACE_SYSCALL: reported by a
 * stop at its entry and one at its exit, not by a trap.  Its result, or
 * -errno.  */
static long syscall_traced(struct ipcns_remote *r, long nr, const long args[6])
{
	int ret = load_call(r, nr, args);
	if (ret < 0)
		return ret;
	int stops = 0;
	/* Signals that cannot be blocked (SIGSTOP, a sent SIGTRAP) may stop
	 * it before the entry: held, as in ipcns_remote_syscall.  */
	for (int tries = 0; tries < 16 && stops < 2; tries++) {
		int stop = resume_wait(r, PTRACE_SYSCALL);
		if (stop < 0)
			return stop;
		stops += stop == 2;
	}
	/* The SIGSYS of a container's SECCOMP_RET_TRAP on the call is
	 * queued: take it.  */
	ipcns_regs out;
	long res = stops < 2 || regs_get(r->tid, &out) < 0 ? -EAGAIN : result_of(r, &out);
	if (take_trap(r) == -ESRCH) {
		r->active = r->seized = false;
		res = -ESRCH;
	}
	r->injecting = false;
	return res;
}

/* The forced SIGTRAP of each step reset an ignored SIGTRAP to SIG_DFL
 * (force_sig_info_to_task), its flags and mask kept: ignore it again.
 * The action is read (a stepped rt_sigaction) into scratch memory below
 * the thread's stack pointer, past the red zone (saved and put back),
 * its handler made SIG_IGN and written by a call run with
 * PTRACE_SYSCALL, whose stops are not signals: a step would reset it
 * again.  */
static void keep_trap_ignored(struct ipcns_remote *r)
{
	unsigned long long sp = regs_sp((const ipcns_regs *)r->saved);
	long nr = SYS_rt_sigaction;
	size_t hlen = sizeof(uint64_t); /* the handler, first in struct sigaction */
#ifdef HAVE_COMPAT
	if (r->compat) {
		sp = (uint32_t)sp;
		nr = NR32_RT_SIGACTION;
		hlen = sizeof(uint32_t);
	}
#endif
	unsigned char saved[32], act[32]; /* >= the kernel's struct sigaction */
	if (sp < 4096 + 256)
		return;
	uint64_t at = (sp - 256) & ~15ULL;
	struct iovec local = { saved, sizeof(saved) }, remote = { (void *)(uintptr_t)at, sizeof(saved) };
	if (process_vm_readv(r->tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(saved))
		return;
	long get[6] = { SIGTRAP, 0, (long)at, 8, 0, 0 };
	local.iov_base = act;
	if (ipcns_remote_syscall(r, nr, get) == 0 && r->active &&
	    process_vm_readv(r->tid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(act)) {
		uint64_t ign = (uint64_t)(uintptr_t)SIG_IGN;
		memcpy(act, &ign, hlen); /* little-endian: the low bytes */
		long set[6] = { SIGTRAP, (long)at, 0, 8, 0, 0 };
		if (process_vm_writev(r->tid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(act))
			syscall_traced(r, nr, set);
	}
	local.iov_base = saved;
	process_vm_writev(r->tid, &local, 1, &remote, 1, 0);
}

int ipcns_remote_end(struct ipcns_remote *r, long retval)
{
	if (!r->active)
		return r->gone ? -ESRCH : 0;
	/* A signal in hand is delivered by the detach, which needs a
	 * signal-delivery-stop: one more step (getpid) ends in one.  Not
	 * when SIGTRAP is to be ignored again: the step would reset it, and
	 * keep_trap_ignored ends in a syscall stop (the signal is queued
	 * again instead).  */
	if (r->trap_ign) {
		keep_trap_ignored(r);
	} else if (have_hand && !r->at_signal_stop) {
		long a[6] = { 0 };
#ifdef HAVE_COMPAT
		ipcns_remote_syscall(r, r->compat ? NR32_GETPID : SYS_getpid, a);
#else
		ipcns_remote_syscall(r, SYS_getpid, a);
#endif
	}
	if (!r->active)
		return -ESRCH;
	ipcns_regs regs;
	memcpy(&regs, r->saved, sizeof(regs));
	regs_set_ret(&regs, retval);
	int ret = regs_put(r->tid, &regs);
	if (r->have_sigmask)
		ptrace(PTRACE_SETSIGMASK, r->tid, (void *)sizeof(r->sigmask), &r->sigmask);
	int sig = 0;
	if (have_hand) {
		if (r->at_signal_stop && ptrace(PTRACE_SETSIGINFO, r->tid, NULL, &hand_si) == 0) {
			sig = hand_si.si_signo;
		} else if (n_held < MAX_HELD_SIGNALS) {
			memmove(&held_si[1], &held_si[0], (size_t)n_held * sizeof(held_si[0]));
			held_si[0] = hand_si;
			n_held++;
		}
		have_hand = false;
	}
	pid_t tgid = 0;
	if (n_held) {
		struct ipcns_proc_status st;
		if (ipcns_proc_status(r->tid, &st) == 0)
			tgid = st.tgid;
	}
	let_go(r->tid, sig);
	if (tgid)
		requeue_held(tgid, r->tid);
	n_held = 0;
	r->active = false;
	r->seized = false;
	return ret;
}
