/* SPDX-License-Identifier: MIT */
/* Hostile callers: a process stopped and continued (SIGSTOP, SIGCONT) and
 * signalled (SIGUSR1, a handler with SA_RESTART) over and over while it
 * attaches and detaches a segment in a loop, from two threads at once.
 *
 * Natively none of this shows: shmat and shmdt are not interruptible.
 * Under ipcnsd each call runs mmap, close or munmap inside the caller by
 * ptrace, where a stop or a signal can be reported between the injected
 * system call and its single-step trap; the call must still run exactly
 * once.  Checked at the end: every shmat and shmdt succeeded, the
 * process maps the segment nowhere, shm_nattch is 0, the process holds
 * the file descriptors it held before, and every SIGUSR1 reached its
 * handler.
 *
 * Runner contract: see shm_common.h.  */
#include <dirent.h>
#include <pthread.h>

#include "shm_common.h"

#define ITERS 1500
#define NTHREADS 2

struct report {
	long at_failed, dt_failed, first_errno;
	long left_mapped, fds_before, fds_after;
	long usr1;
	int ready, done;
};
static struct report *rep;
static int shmid;
static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Lines of our maps that map a segment: the kernel names them SYSV<key>,
 * ipcnsd's memfds /memfd:SYSV<key>.  */
static long count_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	long n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "SYSV"))
			n++;
	fclose(f);
	return n;
}

static void failed(long *count)
{
	long none = 0;
	__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
	__atomic_compare_exchange_n(&rep->first_errno, &none, (long)errno, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void *attach_loop(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS; i++) {
		long p = shm_at(shmid, NULL, 0);
		if (p == -1) {
			failed(&rep->at_failed);
			continue;
		}
		((volatile char *)p)[0] = (char)i;
		if (shm_dt((void *)p) != 0)
			failed(&rep->dt_failed);
	}
	return NULL;
}

static void child(void)
{
	alarm(120);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	rep->fds_before = count_fds();
	__atomic_store_n(&rep->ready, 1, __ATOMIC_SEQ_CST);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, attach_loop, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	rep->left_mapped = count_mapped();
	rep->fds_after = count_fds();
	rep->usr1 = usr1_seen;
	__atomic_store_n(&rep->done, 1, __ATOMIC_SEQ_CST);
	_exit(0);
}

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		CONF_SKIP("no shared memory for the report");
	shmid = (int)CHECK_OK(shm_get(IPC_PRIVATE, 16 * (size_t)pg, 0600));
	if (shmid < 0)
		return conf_done("hostile_stop");
	pid_t pid = fork();
	if (pid == 0)
		child();
	/* Once its handler is in place, stop and continue it, and signal
	 * it, until it is done.  */
	long usr1_sent = 0, stops = 0;
	int st;
	while (!__atomic_load_n(&rep->ready, __ATOMIC_SEQ_CST) && waitpid(pid, &st, WNOHANG) == 0)
		usleep(100);
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0) {
			CONF_FAIL("waitpid: %s", strerror(errno));
			break;
		}
		if (stops % 2) {
			kill(pid, SIGUSR1);
			usr1_sent++;
		} else {
			kill(pid, SIGSTOP);
			usleep(100);
			kill(pid, SIGCONT);
		}
		stops++;
		usleep(300);
	}
	conf_checks++;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		CONF_FAIL("the child ended with status %#x", (unsigned int)st);
	CHECK_EQ(rep->done, 1);
	if (rep->at_failed || rep->dt_failed)
		fprintf(stderr, "first errno %ld (%s)\n", rep->first_errno, strerror((int)rep->first_errno));
	CHECK_EQ(rep->at_failed, 0);
	CHECK_EQ(rep->dt_failed, 0);
	CHECK_EQ(rep->left_mapped, 0);
	CHECK_EQ(rep->fds_after, rep->fds_before);
	/* A process-directed SIGUSR1 is not queued twice: some may merge,
	 * but the handler ran and no signal was lost for good.  */
	CHECK_TRUE(usr1_sent == 0 || rep->usr1 > 0);
	struct shmid_ds ds;
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_STAT, &ds));
	CHECK_EQ(ds.shm_nattch, 0);
	CHECK_OK(syscall(SYS_shmctl, shmid, IPC_RMID, NULL));
	printf("%ld stops and signals sent\n", stops);
	return conf_done("hostile_stop");
}
