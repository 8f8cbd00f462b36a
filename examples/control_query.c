/* SPDX-License-Identifier: MIT */
/* control_query: send one request to ipcnsd's control socket and print the
 * JSON reply.  The protocol (plugin/ipcnsd/control.c): one JSON object per
 * connection, {"command": "ps"}, {"command": "ipcs", "container": ID} or
 * {"command": "rm", "container": ID, "kind": "shm", "id": N}; one JSON
 * reply with "ok".  Root only.  ipcnsctl is the full client; this is the
 * smallest one, for scripts.  */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "Usage: control_query SOCKET [REQUEST]\n"
		   "Send REQUEST (default {\"command\":\"ps\"}) to the ipcnsd listening on\n"
		   "SOCKET and print its JSON reply.\n"
		   "Exit status: 0 a reply was printed, 1 no reply.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 1;
	}
	const char *path = argv[1];
	const char *req = argc == 3 ? argv[2] : "{\"command\":\"ps\"}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "control_query: socket path too long: %s\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "control_query: cannot connect to ipcnsd at %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* A timeout, so a wedged daemon does not hang the caller.  */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = strlen(req), off = 0;
	while (off < len) {
		ssize_t w = send(s, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			fprintf(stderr, "control_query: sending to %s: %s\n", path, strerror(errno));
			return 1;
		}
		off += (size_t)w;
	}
	/* ipcnsd answers once the request parses, then closes.  */
	char buf[65536];
	size_t total = 0;
	for (;;) {
		ssize_t r = recv(s, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "control_query: reading from %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (r == 0)
			break;
		fwrite(buf, 1, (size_t)r, stdout);
		total += (size_t)r;
	}
	close(s);
	if (total == 0) {
		fprintf(stderr, "control_query: %s closed the connection without a reply\n", path);
		return 1;
	}
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}
