/* SPDX-License-Identifier: MIT */
/* ipcnsctl: the operator's view of ipcnsd.
 *   ipcnsctl [--socket PATH] [--json] health
 *   ipcnsctl [--socket PATH] [--json] ps
 *   ipcnsctl [--socket PATH] [--json] ipcs CONTAINER
 *   ipcnsctl [--socket PATH] [--json] rm CONTAINER shm|sem|msg ID
 * Talks to ipcnsd over its socket (spec/control.md).  */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* ---- ps: a table whose columns are as wide as their widest cell.  */

#define PS_COLS 9
#define PS_BUSY "(busy: a call has not ended; is the container paused?)"

struct table {
	char *(*cell)[PS_COLS];
	size_t rows, cap;
};

static void table_add(struct table *t, char *row[PS_COLS])
{
	if (t->rows == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 16;
		void *n = realloc(t->cell, ncap * sizeof(*t->cell));
		if (!n) {
			fprintf(stderr, "ipcnsctl: out of memory\n");
			exit(1);
		}
		t->cell = n;
		t->cap = ncap;
	}
	for (int k = 0; k < PS_COLS; k++)
		t->cell[t->rows][k] = row[k] ? strdup(row[k]) : NULL;
	t->rows++;
}

/* Cells left NULL end the row (a busy namespace's note spans them).  */
static void table_print(struct table *t)
{
	size_t w[PS_COLS] = { 0 };
	for (size_t r = 0; r < t->rows; r++)
		for (int k = 0; k < PS_COLS - 1 && t->cell[r][k + 1]; k++)
			if (strlen(t->cell[r][k]) > w[k])
				w[k] = strlen(t->cell[r][k]);
	for (size_t r = 0; r < t->rows; r++) {
		for (int k = 0; k < PS_COLS && t->cell[r][k]; k++) {
			if (k == PS_COLS - 1 || !t->cell[r][k + 1])
				printf("%s\n", t->cell[r][k]);
			else
				printf("%-*s  ", (int)w[k], t->cell[r][k]);
		}
		for (int k = 0; k < PS_COLS; k++)
			free(t->cell[r][k]);
	}
	free(t->cell);
}

/* used/limit, with "unlimited" for a limit no machine reaches (the
 * kernel's defaults for shmall and shmmax are close to 2^64), as ipcs -l
 * words the sizes: kbytes.  */
static void kb_of_limit(char *buf, size_t len, uint64_t used_pages, uint64_t limit_pages)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t used_kb = used_pages * (pg / 1024);
	if (limit_pages > UINT64_MAX / pg || limit_pages >= IPCNS_SHMALL)
		snprintf(buf, len, "%llu/unlimited", (unsigned long long)used_kb);
	else
		snprintf(buf, len, "%llu/%llu", (unsigned long long)used_kb,
			 (unsigned long long)(limit_pages * (pg / 1024)));
}

static void print_ps(json_t *r)
{
	struct table t = { 0 };
	size_t i, j;
	json_t *ns, *c;
	table_add(&t, (char *[PS_COLS]){ "NAMESPACE", "CONTAINERS", "SHM SEGMENTS", "SHM KBYTES", "SEM SETS",
					 "SEMAPHORES", "MSG QUEUES", "MSG BYTES", "PARKED" });
	json_array_foreach(json_object_get(r, "namespaces"), i, ns)
	{
		json_t *u = json_object_get(ns, "usage"), *l = json_object_get(ns, "limits");
		json_t *sem = json_object_get(l, "sem");
		char cts[4096] = "", shm[48], kb[64], sets[48], sems[48], msg[48], bytes[32], parked[32];
		size_t off = 0;
		json_array_foreach(json_object_get(ns, "containers"), j, c)
		{
			if (off < sizeof(cts) - 1)
				off += (size_t)snprintf(cts + off, sizeof(cts) - off, "%s%s", off ? "," : "",
							esc(json_string_value(json_object_get(c, "id"))));
		}
		const char *name = esc(json_string_value(json_object_get(ns, "namespace")));
		if (json_is_true(json_object_get(ns, "busy"))) {
			/* Its worker is inside a call that does not end.  */
			table_add(&t, (char *[PS_COLS]){ (char *)name, cts, PS_BUSY });
			continue;
		}
		snprintf(shm, sizeof(shm), "%lld/%lld", (long long)geti(u, "shm_ids"), (long long)geti(l, "shmmni"));
		kb_of_limit(kb, sizeof(kb), (uint64_t)geti(u, "shm_pages"), (uint64_t)geti(l, "shmall"));
		snprintf(sets, sizeof(sets), "%lld/%lld", (long long)geti(u, "sem_ids"),
			 (long long)json_integer_value(json_array_get(sem, 3)));
		snprintf(sems, sizeof(sems), "%lld/%lld", (long long)geti(u, "sem_total"),
			 (long long)json_integer_value(json_array_get(sem, 1)));
		snprintf(msg, sizeof(msg), "%lld/%lld", (long long)geti(u, "msg_ids"), (long long)geti(l, "msgmni"));
		snprintf(bytes, sizeof(bytes), "%lld", (long long)geti(u, "msg_bytes"));
		snprintf(parked, sizeof(parked), "%lld", (long long)geti(u, "parked"));
		table_add(&t, (char *[PS_COLS]){ (char *)name, cts, shm, kb, sets, sems, msg, bytes, parked });
	}
	table_print(&t);
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
		   "  restart                      ipcnsd exits for the next one to take over (as SIGTERM)\n"
		   "  shutdown                     ipcnsd and its keeper exit for good: running\n"
		   "                               containers' System V IPC calls fail (ENOSYS)\n"
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
	} else if ((!strcmp(cmd, "restart") || !strcmp(cmd, "shutdown")) && nargs == 1) {
		req = json_pack("{s:s}", "command", cmd);
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
