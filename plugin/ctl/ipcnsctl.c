/* SPDX-License-Identifier: MIT */
/* ipcnsctl: the operator's view of ipcnsd.
 *   ipcnsctl [--socket PATH] [--json] health
 *   ipcnsctl [--socket PATH] [--json] ps
 *   ipcnsctl [--socket PATH] [--json] ipcs CONTAINER
 *   ipcnsctl [--socket PATH] [--json] rm CONTAINER shm|sem|msg ID
 * Talks to ipcnsd over its socket (spec/control.md).  */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

#define DEFAULT_SOCKET "/run/ipcns/ipcnsd.sock"

static const char *sock_path = DEFAULT_SOCKET;

/* A string from ipcnsd for the terminal: container ids, namespace names
 * and error messages carry what containers chose.  Four rotating
 * buffers, for up to four in one printf.  */
static const char *esc(const char *s)
{
	static char bufs[4][1024];
	static int next;
	char *b = bufs[next++ % 4];
	return ipcns_esc(s, b, sizeof(bufs[0]));
}

static json_t *request(json_t *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ipcnsctl: socket path too long: %s\n", sock_path);
		return NULL;
	}
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "ipcnsctl: ipcnsd is not running at %s (%s)\n", sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *text = json_dumps(req, JSON_COMPACT);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(text);
	shutdown(fd, SHUT_WR);
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	json_error_t err;
	json_t *reply = json_loadb(buf, n, 0, &err);
	free(buf);
	if (!reply) {
		fprintf(stderr, "ipcnsctl: no valid reply from ipcnsd at %s (%s)\n", sock_path,
			n ? err.text : "connection closed; is the caller root?");
		return NULL;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		fprintf(stderr, "ipcnsctl: %s\n", e ? esc(e) : "request failed");
		json_decref(reply);
		return NULL;
	}
	return reply;
}

static json_int_t geti(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	/* Values above 2^63 come as decimal strings.  */
	if (json_is_string(v))
		return (json_int_t)strtoull(json_string_value(v), NULL, 10);
	return json_integer_value(v);
}

static const char *owner(json_int_t uid)
{
	static char buf[32];
	struct passwd *pw = getpwuid((uid_t)uid);
	if (pw)
		return pw->pw_name;
	snprintf(buf, sizeof(buf), "%lld", (long long)uid);
	return buf;
}

static void print_ps(json_t *r)
{
	size_t i, j;
	json_t *ns, *c;
	printf("%-22s %-24s %-13s %-17s %-17s %-19s %s\n", "NAMESPACE", "CONTAINERS", "SHM SEGMENTS", "SHM PAGES",
	       "SEM SETS/SEMS", "MSG QUEUES/BYTES", "PARKED");
	json_array_foreach(json_object_get(r, "namespaces"), i, ns)
	{
		json_t *u = json_object_get(ns, "usage"), *l = json_object_get(ns, "limits");
		char cts[256] = "", col[64];
		size_t off = 0;
		json_array_foreach(json_object_get(ns, "containers"), j, c)
		{
			if (off < sizeof(cts) - 1)
				off += (size_t)snprintf(cts + off, sizeof(cts) - off, "%s%s", off ? "," : "",
							esc(json_string_value(json_object_get(c, "id"))));
		}
		printf("%-22s %-24s ", esc(json_string_value(json_object_get(ns, "namespace"))), cts);
		if (json_is_true(json_object_get(ns, "busy"))) {
			/* Its worker is inside a call that does not end. */
			printf("(busy: a call has not ended; is the container paused?)\n");
			continue;
		}
		snprintf(col, sizeof(col), "%lld/%lld", (long long)geti(u, "shm_ids"), (long long)geti(l, "shmmni"));
		printf("%-13s ", col);
		snprintf(col, sizeof(col), "%llu/%llu", (unsigned long long)geti(u, "shm_pages"),
			 (unsigned long long)geti(l, "shmall"));
		printf("%-17s ", col);
		json_t *sem = json_object_get(l, "sem");
		snprintf(col, sizeof(col), "%lld/%lld %lld/%lld", (long long)geti(u, "sem_ids"),
			 (long long)json_integer_value(json_array_get(sem, 3)), (long long)geti(u, "sem_total"),
			 (long long)json_integer_value(json_array_get(sem, 1)));
		printf("%-17s ", col);
		snprintf(col, sizeof(col), "%lld/%lld %lld", (long long)geti(u, "msg_ids"), (long long)geti(l, "msgmni"),
			 (long long)geti(u, "msg_bytes"));
		printf("%-19s %lld\n", col, (long long)geti(u, "parked"));
	}
}

static void print_ipcs(json_t *r)
{
	static const char *kinds[] = { "shm", "sem", "msg" };
	static const char *titles[] = { "Shared Memory Segments", "Semaphore Arrays", "Message Queues" };
	static const char *heads[] = {
		"key        shmid      owner      perms      bytes      nattch     status",
		"key        semid      owner      perms      nsems",
		"key        msqid      owner      perms      used-bytes   messages",
	};
	printf("Container %s, namespace %s\n", esc(json_string_value(json_object_get(r, "container"))),
	       esc(json_string_value(json_object_get(r, "namespace"))));
	for (int k = 0; k < 3; k++) {
		size_t i;
		json_t *o;
		printf("\n------ %s --------\n%s\n", titles[k], heads[k]);
		json_array_foreach(json_object_get(r, "objects"), i, o)
		{
			if (strcmp(json_string_value(json_object_get(o, "kind")), kinds[k]))
				continue;
			unsigned int mode = (unsigned int)geti(o, "mode");
			printf("0x%08x %-10lld %-10s %-10o ", (unsigned int)geti(o, "key"), (long long)geti(o, "id"),
			       owner(geti(o, "uid")), mode & 0777);
			if (k == 0)
				printf("%-10lld %-10lld %s%s\n", (long long)geti(o, "bytes"), (long long)geti(o, "count"),
				       (mode & 01000) ? "dest " : "", (mode & 02000) ? "locked" : "");
			else if (k == 1)
				printf("%lld\n", (long long)geti(o, "count"));
			else
				printf("%-12lld %lld\n", (long long)geti(o, "bytes"), (long long)geti(o, "count"));
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ipcnsctl [--socket PATH] [--json] COMMAND\n"
		   "Commands:\n"
		   "  health                       is ipcnsd serving? (exit 0 if so; for liveness probes)\n"
		   "  ps                           containers and namespaces, usage against limits\n"
		   "  ipcs CONTAINER               that container's segments, semaphore sets and queues\n"
		   "  rm CONTAINER shm|sem|msg ID  remove one object (IPC_RMID)\n"
		   "The socket is the one ipcnsd was started with (default " DEFAULT_SOCKET ",\n"
		   "or IPCNS_SOCKET).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c;
	const char *env = getenv("IPCNS_SOCKET");
	if (env && *env)
		sock_path = env;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* --json may also follow the command.  */
	int nargs = 0;
	char *args[8];
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (nargs < 8)
			args[nargs++] = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (nargs == 0) {
		usage(stderr);
		return 2;
	}
	json_t *req;
	const char *cmd = args[0];
	if (!strcmp(cmd, "health") && nargs == 1) {
		req = json_pack("{s:s}", "command", "health");
	} else if (!strcmp(cmd, "ps") && nargs == 1) {
		req = json_pack("{s:s}", "command", "ps");
	} else if (!strcmp(cmd, "ipcs") && nargs == 2) {
		req = json_pack("{s:s, s:s}", "command", "ipcs", "container", args[1]);
	} else if (!strcmp(cmd, "rm") && nargs == 4) {
		char *end;
		errno = 0;
		long long id = strtoll(args[3], &end, 0);
		if (errno || *end || end == args[3] || id < 0 || id > 0x7fffffff) {
			fprintf(stderr, "ipcnsctl: rm: '%s' is not an IPC id\n", args[3]);
			return 2;
		}
		if (strcmp(args[2], "shm") && strcmp(args[2], "sem") && strcmp(args[2], "msg")) {
			fprintf(stderr, "ipcnsctl: rm: kind must be shm, sem or msg, not '%s'\n", args[2]);
			return 2;
		}
		req = json_pack("{s:s, s:s, s:s, s:I}", "command", "rm", "container", args[1], "kind", args[2], "id",
				(json_int_t)id);
	} else {
		fprintf(stderr, "ipcnsctl: unknown command or wrong arguments: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	json_t *reply = request(req);
	json_decref(req);
	if (!reply)
		return 1;
	int rc = 0;
	if (!strcmp(cmd, "health") && !json_is_true(json_object_get(reply, "ok")))
		rc = 1;
	if (json) {
		/* Non-ASCII as \uXXXX: no byte a terminal could act on.  */
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
	} else if (!strcmp(cmd, "health")) {
		if (rc)
			printf("not serving\n");
		else
			printf("%s: %lld namespaces, up %lld s\n", json_string_value(json_object_get(reply, "status")),
			       (long long)json_integer_value(json_object_get(reply, "namespaces")),
			       (long long)json_integer_value(json_object_get(reply, "uptime_s")));
	} else if (!strcmp(cmd, "ps")) {
		print_ps(reply);
	} else if (!strcmp(cmd, "ipcs")) {
		print_ipcs(reply);
	}
	json_decref(reply);
	return rc;
}
