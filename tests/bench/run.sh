#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench: every case natively (a plain runc container: the kernel's
# System V IPC) and under ipcnsd (the same container through ipcns-runtime),
# with the floor (a trivial seccomp supervisor, tests/bench/floor.c) where it
# applies, and the ratios, all measured in this run.  Medians of REPEAT runs.
# No pass/fail: the machine is shared and noisy; read the ratios.
#   REPEAT=5 CASES="..." MANY="1 2 8 64" tests/bench/run.sh
# FLOOR_ARGS="--epoll" makes the in-container floor's supervisor wait in
# epoll_wait instead of poll(2).
# TAIL="" skips the container start time and the memory figures (with
# MANY="", only the CASES run); BUILD=DIR measures another build.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${BUILD:-$PWD/build}
REPEAT=${REPEAT:-5}
CASES=${CASES:-"trivial semop sem_pingpong msg_pingpong shmat_shmdt ipc_stat bandwidth getppid"}
MANY=${MANY-"1 2 8 64"}
TAIL=${TAIL-"start memory"}
RUN=$(mktemp -d /tmp/ipcns-bench.XXXXXX)
SOCK=$RUN/ipcnsd.sock
ROOT=$RUN/runc-root
mkdir -p "$ROOT" "$RUN/xchg"
DPID=

cleanup() {
	for c in $(runc --root "$ROOT" list -q 2>/dev/null); do runc --root "$ROOT" delete -f "$c" >/dev/null 2>&1; done
	# For good: ipcnsd and its keeper (a SIGTERM alone hands over to a
	# next ipcnsd that never comes, and the view's mount would stay).
	[ -n "$DPID" ] && "$B/bin/ipcnsctl" --socket "$SOCK" shutdown >/dev/null 2>&1 && wait "$DPID" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT

for b in ipcnsd ipcns-runtime; do
	[ -x "$B/bin/$b" ] || { echo "bench: build first (make)" >&2; exit 1; }
done
# IPCNSD_ARGS: more options for ipcnsd, e.g. --no-keeper (no journal) to
# measure what the journal costs.
# shellcheck disable=SC2086
"$B/bin/ipcnsd" --socket "$SOCK" ${IPCNSD_ARGS:-} 2>"$RUN/ipcnsd.log" &
DPID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

# A container whose rootfs is the host's binaries, read-only, and the build
# directory at /ipcns.  A seccomp profile like a runtime default (allow,
# with a few denials), so that both sides pay for a filter as real
# containers do; the ipcns side adds its rule to it.
(cd "$RUN" && runc spec)
jq --arg build "$B" --arg x "$RUN/xchg" '
	.process.terminal = false
	| .root.readonly = true
	| del(.linux.resources)
	| .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]
		+ (["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
		   | map({destination: ., type: "bind", source: ., options: ["rbind", "ro"]}))
		+ [{destination: "/ipcns", type: "bind", source: $build, options: ["rbind", "ro"]},
		   {destination: "/xchg", type: "bind", source: $x, options: ["rbind", "rw"]}]
	| .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["kexec_load", "open_by_handle_at", "init_module", "finit_module",
			"delete_module", "bpf", "perf_event_open", "userfaultfd"],
			action: "SCMP_ACT_ERRNO", errnoRet: 1}]}
' "$RUN/config.json" >"$RUN/base.json"

bundle() { # args... -> prints a new bundle dir; its name is the container id
	local b
	b=$(mktemp -d "$RUN/b.XXXXXX")
	mkdir -p "$b/rootfs"
	(cd "$b/rootfs" && mkdir -p usr lib lib64 bin sbin etc proc dev sys tmp ipcns xchg)
	jq --args '.process.args = $ARGS.positional' "$@" <"$RUN/base.json" >"$b/config.json"
	echo "$b"
}

# run MODE ARGS...: one container, its stdout.
run() {
	local mode=$1
	shift
	local b
	b=$(bundle "$@")
	if [ "$mode" = native ]; then
		runc --root "$ROOT" run --bundle "$b" "$(basename "$b")" </dev/null
	else
		IPCNS_SOCKET=$SOCK IPCNS_RUNTIME=runc "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" "$(basename "$b")" </dev/null
	fi
	rm -rf "$b"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
value() { awk '{print $2}'; }

floor_ns() {
	for _ in $(seq "$REPEAT"); do "$B/tests/bench/floor" 100000 | value; done | median
}

printf '%-14s %14s %14s %12s %10s %10s  %s\n' case native ipcnsd floor ipcns/nat ipcns/flr unit
FLOOR=-
case " $CASES " in *" trivial "* | *" semop "* | *pingpong*) FLOOR=$(floor_ns) ;; esac
# The same trivial supervisor as a runc listener: the trivial case in a
# container against it is the floor a container pays (its cgroup, its
# filter, its placement), beside the bare floor above.
case " $CASES " in *" trivial "*)
	"$B/tests/bench/floor" --listen "$RUN/floor.sock" ${FLOOR_ARGS:-} &
	FPID=$!
	for _ in $(seq 50); do [ -S "$RUN/floor.sock" ] && break; sleep 0.1; done
	ctf=$(for _ in $(seq "$REPEAT"); do
		b=$(bundle /ipcns/tests/bench/ipcns-bench trivial)
		IPCNS_SOCKET=$RUN/floor.sock IPCNS_RUNTIME=runc "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" "$(basename "$b")" </dev/null | value
		rm -rf "$b"
	done | median)
	kill "$FPID" 2>/dev/null
	wait "$FPID" 2>/dev/null
	printf '%-14s %14s %14s %12s %10s %10s  %s\n' floor_in_ct - "$ctf" "$FLOOR" - \
		"$(awk -v a="$ctf" -v b="$FLOOR" 'BEGIN {printf "%.2f", a / b}')" "ns/call (trivial supervisor, runc container)"
	;;
esac
for c in $CASES; do
	# Native and ipcnsd runs alternate: the load of this shared machine
	# changes over seconds and can move every run of a stretch by 25%, so
	# both sides must see it.  The ratio is the median of the ratios of
	# the back-to-back pairs.
	for _ in $(seq "$REPEAT"); do
		pn=$(run native /ipcns/tests/bench/ipcns-bench "$c" | value)
		pi=$(run ipcns /ipcns/tests/bench/ipcns-bench "$c" | value)
		[ -n "$pn" ] && [ -n "$pi" ] && echo "$pn $pi"
	done >"$RUN/pairs"
	nat=$(awk '{print $1}' "$RUN/pairs" | median)
	ipc=$(awk '{print $2}' "$RUN/pairs" | median)
	case $c in bandwidth) unit=MB/s ;; *pingpong) unit=ns/roundtrip ;; shmat_shmdt) unit=ns/pair ;; *) unit=ns/call ;; esac
	case $c in
	trivial | semop) fl=$FLOOR ;;
	# A round trip is two trapped calls on the critical path (the post
	# that wakes the peer, the wait that is woken): two floors.
	sem_pingpong | msg_pingpong) fl=$(awk -v f="$FLOOR" 'BEGIN {printf "%.1f", 2 * f}') ;;
	*) fl=- ;;
	esac
	case $c in bandwidth | getppid) fmt=%.3f ;; *) fmt=%.2f ;; esac
	r1=$(awk '{print $2 / $1}' "$RUN/pairs" | sort -g | awk -v f="$fmt" '{a[NR] = $1}
		END {if (NR) printf f, NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
	r2=-
	[ "$fl" != - ] && r2=$(awk -v a="$ipc" -v b="$fl" 'BEGIN {printf "%.2f", a / b}')
	printf '%-14s %14s %14s %12s %10s %10s  %s\n' "$c" "$nat" "$ipc" "$fl" "$r1" "$r2" "$unit"
done

# Container start to exit.
has_tail() { case " $TAIL " in *" $1 "*) return 0 ;; esac; return 1; }
startms() {
	local mode=$1 t0 t1
	t0=$(date +%s%N)
	run "$mode" /bin/true >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
if has_tail start; then
	nat=$(for _ in $(seq $((REPEAT * 2))); do startms native; done | median)
	ipc=$(for _ in $(seq $((REPEAT * 2))); do startms ipcns; done | median)
	printf '%-14s %14s %14s %12s %10s %10s  %s\n' start_to_exit "$nat" "$ipc" - \
		"$(awk -v a="$ipc" -v b="$nat" 'BEGIN {printf "%.2f", a / b}')" - "us (+$(((${ipc%.*} - ${nat%.*}) / 1000)) ms)"
fi

# Many containers at once, each in a semop loop: aggregate operations/s.
many() { # mode count
	local mode=$1 k=$2 i pids=()
	rm -f "$RUN/xchg/go"
	for i in $(seq "$k"); do
		run "$mode" /ipcns/tests/bench/ipcns-bench semop_timed 2 /xchg/go >"$RUN/many.$i" &
		pids+=($!)
	done
	# Start them together once all are up.
	for _ in $(seq 600); do
		[ "$(ls /proc/*/comm 2>/dev/null | xargs -r grep -l '^ipcns-bench$' 2>/dev/null | wc -l)" -ge "$k" ] && break
		sleep 0.1
	done
	touch "$RUN/xchg/go"
	wait "${pids[@]}"
	cat "$RUN"/many.* | value | awk '{s += $1} END {printf "%.0f", s}'
	rm -f "$RUN"/many.*
}
for k in $MANY; do
	nat=$(many native "$k")
	ipc=$(many ipcns "$k")
	printf '%-14s %14s %14s %12s %10s %10s  %s\n' "semop_x$k" "$nat" "$ipc" - \
		"$(awk -v a="$ipc" -v b="$nat" 'BEGIN {printf "%.3f", a / b}')" - "ops/s, all containers"
done

# ipcnsd memory: per idle namespace, and per 1000 objects: the daemon's
# heap in use (mallinfo2, from the control protocol), which RSS cannot show
# (page granularity, and freed memory reused).
has_tail memory || exit 0
heap() { "$B/bin/ipcnsctl" --socket "$SOCK" --json ps | jq '.daemon.heap_bytes'; }
# Resident memory of ipcnsd in bytes: the heap plus what the heap figure
# does not count (each namespace's worker thread: its stack's touched
# pages, its TLS).
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$DPID/status"; }
sleep 0.5
h0=$(heap)
r0=$(rss)
idle=32
pids=()
for i in $(seq $idle); do
	b=$(bundle /bin/sleep 30)
	IPCNS_SOCKET=$SOCK "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" "idle$i" </dev/null >/dev/null 2>&1 &
	pids+=($!)
done
for _ in $(seq 200); do [ "$("$B/bin/ipcnsctl" --socket "$SOCK" --json ps | jq '.namespaces | length')" -ge $idle ] && break; sleep 0.1; done
h1=$(heap)
r1=$(rss)
printf '%-14s %14s %14s %12s %10s %10s  %s\n' idle_ns - "$(((h1 - h0) / idle))" - - - "bytes of ipcnsd heap per idle namespace and its container ($idle of them)"
printf '%-14s %14s %14s %12s %10s %10s  %s\n' idle_ns_rss - "$(((r1 - r0) / idle))" - - - "bytes of ipcnsd resident memory per idle namespace (heap, worker thread stack and TLS)"
for c in $(runc --root "$ROOT" list -q 2>/dev/null); do runc --root "$ROOT" kill "$c" KILL >/dev/null 2>&1; done
wait "${pids[@]}" 2>/dev/null
for kind in shm sem msg; do
	sleep 0.5
	b=$(bundle /ipcns/tests/bench/ipcns-bench hold "$kind" 1)
	mkfifo "$RUN/hold.in"
	IPCNS_SOCKET=$SOCK "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" "hold1$kind" <"$RUN/hold.in" >"$RUN/hold.out" 2>&1 &
	hp=$!
	exec 9>"$RUN/hold.in"
	for _ in $(seq 600); do grep -q ready "$RUN/hold.out" && break; sleep 0.1; done
	h0=$(heap)
	exec 9>&-
	wait $hp
	rm -f "$RUN/hold.in" "$RUN/hold.out"
	b=$(bundle /ipcns/tests/bench/ipcns-bench hold "$kind" 1001)
	mkfifo "$RUN/hold.in"
	IPCNS_SOCKET=$SOCK "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" "hold$kind" <"$RUN/hold.in" >"$RUN/hold.out" 2>&1 &
	hp=$!
	exec 9>"$RUN/hold.in"
	for _ in $(seq 600); do grep -q ready "$RUN/hold.out" && break; sleep 0.1; done
	h1=$(heap)
	exec 9>&-
	wait $hp
	rm -f "$RUN/hold.in" "$RUN/hold.out"
	printf '%-14s %14s %14s %12s %10s %10s  %s\n' "1000_$kind" - "$(((h1 - h0) / 1024))" - - - "KiB of ipcnsd heap per 1000 objects"
done
