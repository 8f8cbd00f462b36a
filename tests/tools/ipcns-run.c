/* SPDX-License-Identifier: MIT */
/* ipcns-run: run a command under ipcnsd without a container runtime.
 *
 * It does what runc does with linux.seccomp.listenerPath: load a seccomp
 * filter whose IPC rule is SCMP_ACT_NOTIFY, send the notify fd and a state
 * message to ipcnsd, then exec the command.  By default the command gets a
 * new kernel IPC namespace (and so a virtual namespace of its own).  With
 * --view DIR (ipcnsd's view directory) it also does what ipcns-hook mount
 * does for a container, in a mount namespace of its own: DIR's sysvipc and
 * sys/kernel files bound over /proc/sysvipc and /proc/sys/kernel, so the
 * command reads and writes its namespace there (spec/view.md).  Used to
 * run the conformance programs under ipcnsd and by the benchmarks.
 *
 * The command runs in a cgroup v2 directory of its own, made under
 * ipcns-run's (as a runtime makes one per container), so that ipcnsd
 * gives it a signal watch of its own rather than the host's, which any
 * process of the host raising signals in a loop can overflow
 * (spec/security.md, "Signal watches").  A helper outside it removes the
 * directory once it is empty; without cgroup v2 (or the right to make a
 * directory there) the command stays where it is.  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <jansson.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify.h"

static const char *const ipc_syscalls[] = {
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "remap_file_pages", "ipc",
};

static int send_fd(const char *path, const char *msg, int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { (void *)msg, strlen(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t r = sendmsg(s, &mh, MSG_NOSIGNAL);
	int e = errno;
	close(s);
	return r < 0 ? -e : 0;
}

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return n < 0 ? -e : 0;
}

/* The helper: out of the cgroup again, detached from everything the
 * caller holds (a test harness's pipes), it waits until nothing is left
 * in the cgroup and removes it.  */
static void cgroup_reaper(const char *parent, const char *dir)
{
	char procs[4800], events[4800], line[64];
	if (setsid() < 0 && errno != EPERM)
		_exit(0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	syscall(SYS_close_range, 3, ~0U, 0);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", parent);
	if (write_str(procs, "0") < 0)
		_exit(0); /* it would keep the cgroup populated itself */
	snprintf(events, sizeof(events), "%s/cgroup.events", dir);
	for (;;) {
		int fd = open(events, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			_exit(0);
		ssize_t n = read(fd, line, sizeof(line) - 1);
		bool empty = n > 0 && (line[n] = '\0', strstr(line, "populated 0"));
		if (!empty) {
			/* cgroup.events signals a change with POLLPRI.  */
			struct pollfd p = { .fd = fd, .events = POLLPRI };
			poll(&p, 1, 1000);
		}
		close(fd);
		if (empty && rmdir(dir) == 0)
			_exit(0);
		if (empty && errno != EBUSY)
			_exit(0);
	}
}

/* Into a new cgroup under ours, with a helper that removes it when the
 * command and everything it started are gone: 0, or -errno (staying
 * where we are).  */
static int own_cgroup(void)
{
	char path[4096], parent[4600], dir[4700], procs[4800];
	int ret = ipcns_proc_cgroup_dir(getpid(), path, sizeof(path), parent, sizeof(parent));
	if (ret < 0)
		return ret;
	snprintf(dir, sizeof(dir), "%s/ipcns-run.%d", parent, (int)getpid());
	if (mkdir(dir, 0755) < 0)
		return -errno;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	if ((ret = write_str(procs, "0")) < 0) {
		rmdir(dir);
		return ret;
	}
	/* Twice forked: the command (this process after exec) is not the
	 * helper's parent, so a command that waits for all its children
	 * does not wait for it.  */
	pid_t a = fork();
	if (a < 0) {
		ret = -errno;
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", parent);
		write_str(procs, "0");
		rmdir(dir);
		return ret;
	}
	if (a == 0) {
		if (fork() == 0)
			cgroup_reaper(parent, dir);
		_exit(0);
	}
	waitpid(a, NULL, 0);
	return 0;
}

static const char *const view_sysctls[] = {
	"shmmax", "shmall", "shmmni", "shm_rmid_forced", "msgmax", "msgmni",
	"msgmnb", "sem", "sem_next_id", "msg_next_id", "shm_next_id",
};

/* The binds of ipcns-hook mount, in a private mount namespace.  */
static int bind_view(const char *dir)
{
	char src[4096], dst[256];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "ipcns-run: a mount namespace for the view: %s\n", strerror(errno));
		return -1;
	}
	snprintf(src, sizeof(src), "%s/sysvipc", dir);
	if (mount(src, "/proc/sysvipc", NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "ipcns-run: binding %s on /proc/sysvipc: %s\n", src, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(view_sysctls) / sizeof(view_sysctls[0]); i++) {
		snprintf(src, sizeof(src), "%s/sys/kernel/%s", dir, view_sysctls[i]);
		snprintf(dst, sizeof(dst), "/proc/sys/kernel/%s", view_sysctls[i]);
		if (access(dst, F_OK) < 0)
			continue; /* no *_next_id without CONFIG_CHECKPOINT_RESTORE */
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
			fprintf(stderr, "ipcns-run: binding %s on %s: %s\n", src, dst, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ipcns-run [--socket PATH] [--id ID] [--namespace NAME] [--annotation KEY=VALUE]...\n"
		   "                 [--host-ipc] [--view DIR] -- COMMAND [ARG]...\n"
		   "Run COMMAND with its System V IPC served by ipcnsd.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "id", required_argument, NULL, 'i' },
		{ "namespace", required_argument, NULL, 'n' }, { "host-ipc", no_argument, NULL, 'H' },
		{ "annotation", required_argument, NULL, 'a' }, { "view", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	json_t *annotations = json_object();
	const char *path = getenv("IPCNS_SOCKET"), *id = NULL, *nsname = NULL, *view = NULL;
	int new_ipc = 1, c;
	char idbuf[64];
	if (!path || !*path)
		path = "/run/ipcns/ipcnsd.sock";
	while ((c = getopt_long(argc, argv, "+s:i:n:a:v:Hh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': {
			char *eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "ipcns-run: --annotation %s: expected KEY=VALUE\n", optarg);
				return 125;
			}
			*eq = '\0';
			json_object_set_new(annotations, optarg, json_string(eq + 1));
			break;
		}
		case 's':
			path = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'n':
			nsname = optarg;
			break;
		case 'H':
			new_ipc = 0;
			break;
		case 'v':
			view = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 125;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 125;
	}
	if (!id) {
		snprintf(idbuf, sizeof(idbuf), "ipcns-run-%d", (int)getpid());
		id = idbuf;
	}
	own_cgroup();
	if (new_ipc && unshare(CLONE_NEWIPC) < 0) {
		fprintf(stderr, "ipcns-run: unshare(CLONE_NEWIPC): %s\n", strerror(errno));
		return 125;
	}
	if (view && bind_view(view) < 0)
		return 125;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		fprintf(stderr, "ipcns-run: seccomp_init failed\n");
		return 125;
	}
	/* Root does not need no_new_privs; keep setuid programs working.  */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* The architectures the kernel runs beside the native one, as
	 * ipcns-runtime lists them (spec/runtime.md): a 32-bit program's
	 * calls are trapped too.  */
#if defined(__x86_64__)
	seccomp_arch_add(ctx, SCMP_ARCH_X86);
	seccomp_arch_add(ctx, SCMP_ARCH_X32);
#endif
	for (size_t i = 0; i < sizeof(ipc_syscalls) / sizeof(ipc_syscalls[0]); i++) {
		int nr = seccomp_syscall_resolve_name(ipc_syscalls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		int ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0);
		if (ret < 0 && nr < 0)
			continue; /* "ipc": none of the filter's architectures has it */
		if (ret < 0) {
			fprintf(stderr, "ipcns-run: seccomp rule for %s: %s\n", ipc_syscalls[i], strerror(-ret));
			return 125;
		}
	}
	int ret = seccomp_load(ctx);
	if (ret < 0) {
		fprintf(stderr, "ipcns-run: loading the seccomp filter: %s\n", strerror(-ret));
		return 125;
	}
	int nfd = seccomp_notify_fd(ctx);
	if (nfd < 0) {
		fprintf(stderr, "ipcns-run: no seccomp notify fd\n");
		return 125;
	}
	json_t *state = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.0.2", "id", id, "status", "creating",
				  "pid", (int)getpid(), "bundle", "");
	if (nsname)
		json_object_set_new(annotations, "org.ipcns.namespace", json_string(nsname));
	if (json_object_size(annotations))
		json_object_set(state, "annotations", annotations);
	json_decref(annotations);
	json_t *msg = json_pack("{s:s, s:[s], s:i, s:s, s:o}", "ociVersion", "1.0.2", "fds", "seccompFd", "pid",
				(int)getpid(), "metadata", "", "state", state);
	char *text = json_dumps(msg, JSON_COMPACT);
	ret = text ? send_fd(path, text, nfd) : -ENOMEM;
	if (ret < 0) {
		fprintf(stderr, "ipcns-run: cannot reach ipcnsd at %s: %s\n", path, strerror(-ret));
		return 125;
	}
	free(text);
	json_decref(msg);
	close(nfd);

	execvp(argv[optind], argv + optind);
	fprintf(stderr, "ipcns-run: %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
