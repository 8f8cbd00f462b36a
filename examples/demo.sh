#!/bin/bash
# SPDX-License-Identifier: MIT
# ipcns demo (`make demo`): three runc containers and one ipcnsd.
#
#   producer  writes three messages into the segment with key 0x1234 and
#             sleeps in semop (the semaphore set with the same key) until
#             they are read;
#   consumer  joins the producer's IPC namespace and reads them;
#   viewer    joins it too and shows /proc/sysvipc/shm and sysctl
#             kernel.shmmax as a program inside sees them (served by
#             ipcnsd), then lowers its namespace's shmmax;
#   stranger  has an IPC namespace of its own: the same key finds nothing.
#
# The daemon runs on a socket of its own under a temp dir and is stopped at
# the end; nothing outside that dir is touched.  Needs root, runc and jq,
# and `make all`.  Exit status 0 when every container saw what it should.
set -euo pipefail

cd "$(dirname "$0")/.."
B=$PWD/build
KEY=0x1234

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
indent() { sed 's/^/   | /'; }
die() {
	echo "demo: FAILED: $*" >&2
	if [ -n "${WORK:-}" ] && [ -s "$WORK/ipcnsd.log" ]; then
		echo "demo: the end of ipcnsd's log ($WORK/ipcnsd.log):" >&2
		tail -15 "$WORK/ipcnsd.log" >&2
		KEEP=1
	fi
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: it starts containers and ipcnsd"
for t in runc jq; do
	command -v "$t" >/dev/null || die "$t is not installed (make deps)"
done
for f in bin/ipcnsd bin/ipcns-runtime examples/shm_producer examples/shm_consumer examples/control_query; do
	[ -x "$B/$f" ] || die "$B/$f is missing: run make all"
done

WORK=$(mktemp -d /tmp/ipcns-demo.XXXXXX)
SOCK=$WORK/ipcnsd.sock
KEEP=
DAEMON_PID=
PRODUCER_JOB=

cleanup() {
	local id
	for id in $(runc --root "$WORK/runc" list -q 2>/dev/null); do
		runc --root "$WORK/runc" delete -f "$id" >/dev/null 2>&1 || true
	done
	[ -n "$PRODUCER_JOB" ] && wait "$PRODUCER_JOB" 2>/dev/null
	if [ -n "$DAEMON_PID" ]; then
		# A stop for good: SIGTERM would hand the daemon's fds (the
		# view's FUSE session among them) over to its keeper for a next
		# ipcnsd, and leave the view mounted in $WORK.
		"$B/bin/ipcnsctl" --socket "$SOCK" shutdown >/dev/null 2>&1 ||
			kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	if [ -n "$KEEP" ]; then
		echo "demo: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# ipcnsd's view: ipcnsctl when it is built, else the raw JSON reply.
show_ps() {
	if [ -x "$B/bin/ipcnsctl" ]; then
		"$B/bin/ipcnsctl" --socket "$SOCK" ps
	else
		"$B/examples/control_query" "$SOCK" | jq .
	fi
}

# bundle NAME [IPC_NS_PATH] -- ARG...: a runc bundle whose rootfs is the
# host's /usr, /lib, /lib64, /bin, /sbin and /etc (read-only) and the build
# dir at /ipcns.  IPC_NS_PATH joins that kernel IPC namespace.
bundle() {
	local name=$1 ipc=$2 b=$WORK/$1
	shift 3
	mkdir -p "$b/rootfs"
	(cd "$b/rootfs" && mkdir -p usr lib lib64 bin sbin etc proc dev sys ipcns)
	(cd "$b" && runc spec)
	jq --arg build "$B" --arg ipc "$ipc" --args '
		.process.terminal = false
		| .process.args = $ARGS.positional
		| .process.env += ["PATH=/ipcns/examples:/usr/sbin:/usr/bin:/sbin:/bin"]
		| .root.readonly = true
		| .hostname = "ipcns-demo"
		| .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]
			+ (["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
			   | map({destination: ., type: "bind", source: ., options: ["rbind", "ro"]}))
			+ [{destination: "/ipcns", type: "bind", source: $build, options: ["rbind", "ro"]}]
		| if $ipc != "" then
			.linux.namespaces = [.linux.namespaces[]
				| if .type == "ipc" then {type: "ipc", path: $ipc} else . end]
		  else . end' -- "$@" <"$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
}

# run_ct NAME: runc, through ipcns-runtime, in the foreground.
run_ct() {
	IPCNS_RUNTIME=runc IPCNS_SOCKET=$SOCK timeout 60 \
		"$B/bin/ipcns-runtime" --root "$WORK/runc" run -b "$WORK/$1" "demo-$1" </dev/null
}

say "Starting ipcnsd on $SOCK"
"$B/bin/ipcnsd" --socket "$SOCK" 2>"$WORK/ipcnsd.log" &
DAEMON_PID=$!
for _ in $(seq 50); do
	"$B/examples/control_query" "$SOCK" >/dev/null 2>&1 && break
	kill -0 "$DAEMON_PID" 2>/dev/null || die "ipcnsd did not start"
	sleep 0.1
done
"$B/examples/control_query" "$SOCK" >/dev/null || die "ipcnsd does not answer on $SOCK"
echo "   ipcnsd pid $DAEMON_PID"

say "Container 'producer': shm_producer -k $KEY -w, three messages"
bundle producer "" -- shm_producer -k "$KEY" -w -t 60 "hello" "from the" "producer container"
# runc stays in the foreground (as containerd's shim does), as a job.
run_ct producer >"$WORK/producer.out" 2>&1 &
PRODUCER_JOB=$!
for _ in $(seq 200); do
	grep -q "waiting for the consumer" "$WORK/producer.out" && break
	kill -0 "$PRODUCER_JOB" 2>/dev/null || break
	sleep 0.05
done
indent <"$WORK/producer.out"
grep -q "waiting for the consumer" "$WORK/producer.out" || die "the producer did not write its messages"
PRODUCER_PID=$(runc --root "$WORK/runc" state demo-producer | jq -r .pid)
echo "   (its init is host pid $PRODUCER_PID; its segment and semaphores live in ipcnsd, not in the kernel)"

say "ipcnsd ps: one namespace, one segment, one semaphore set; the producer's semop is parked"
show_ps | indent
if [ -x "$B/bin/ipcnsctl" ]; then
	say "ipcnsctl ipcs demo-producer"
	"$B/bin/ipcnsctl" --socket "$SOCK" ipcs demo-producer | indent
fi

say "Container 'viewer': the producer's namespace as a program inside sees it (/proc/sysvipc, sysctl)"
bundle viewer "/proc/$PRODUCER_PID/ns/ipc" -- sh -c 'cat /proc/sysvipc/shm; sysctl kernel.shmmax kernel.sem
	sysctl -w kernel.shmmax=1048576; ipcmk -M 2097152 || echo "   (2 MiB is above its shmmax now: EINVAL, as Linux)"'
rc=0
run_ct viewer >"$WORK/viewer.out" 2>&1 || rc=$?
indent <"$WORK/viewer.out"
[ "$rc" = 0 ] || die "the viewer failed (exit $rc)"
if grep -q "view: /proc/sysvipc and the IPC sysctls served" "$WORK/ipcnsd.log"; then
	grep -Eq "^ +$((KEY)) +0 +" "$WORK/viewer.out" || die "the viewer's /proc/sysvipc/shm does not show the producer's segment"
	grep -q "kernel.shmmax = 1048576" "$WORK/viewer.out" || die "the viewer could not set its namespace's shmmax"
	echo "   -> served by ipcnsd: the host's kernel.shmmax is still $(cat /proc/sys/kernel/shmmax)"
else
	echo "   (ipcnsd does not serve the view here, no /dev/fuse: /proc/sysvipc is masked)"
fi

say "Container 'stranger': its own IPC namespace, the same key"
bundle stranger "" -- shm_consumer -k "$KEY"
rc=0
run_ct stranger >"$WORK/stranger.out" 2>&1 || rc=$?
indent <"$WORK/stranger.out"
[ "$rc" = 2 ] || die "the stranger should find no segment with key $KEY (exit 2), got exit $rc"
echo "   -> isolated: the producer's segment and semaphores are invisible here"

say "Container 'consumer': joins the producer's IPC namespace (/proc/$PRODUCER_PID/ns/ipc)"
bundle consumer "/proc/$PRODUCER_PID/ns/ipc" -- shm_consumer -k "$KEY" -n 3 -t 10
rc=0
run_ct consumer >"$WORK/consumer.out" 2>&1 || rc=$?
indent <"$WORK/consumer.out"
[ "$rc" = 0 ] || die "the consumer failed (exit $rc)"
grep -q "message 3: producer container" "$WORK/consumer.out" || die "the consumer did not read the producer's messages"
echo "   -> shared: same namespace, same segment, same semaphores"

say "The consumer's V(empty) wakes the producer: its messages are read, it exits"
wait "$PRODUCER_JOB" || die "the producer container failed (exit $?)"
PRODUCER_JOB=
indent <"$WORK/producer.out"

say "ipcnsd ps: the namespace is gone with its last container"
for _ in $(seq 100); do
	[ "$("$B/examples/control_query" "$SOCK" | jq '.namespaces | length')" = 0 ] && break
	sleep 0.05
done
show_ps | indent
[ "$("$B/examples/control_query" "$SOCK" | jq '.namespaces | length')" = 0 ] ||
	die "ipcnsd still holds a namespace after every container exited"

say "ipcnsd's log"
indent <"$WORK/ipcnsd.log"

say "demo: OK"
