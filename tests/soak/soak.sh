#!/bin/bash
# SPDX-License-Identifier: MIT
# Soak: ipcnsd serving mixed System V IPC to many runc containers that come
# and go, for a long time, while its memory and file descriptors are
# sampled.  `make soak` runs it; it is not part of `make check`.
#
#   SOAK_SECONDS      how long the load runs (default 600)
#   SOAK_CONTAINERS   containers running at any time (default 16)
#   SOAK_INTERVAL     seconds between samples (default 10)
#   SOAK_OUT          directory for soak.csv and the logs (default build/soak)
#   SOAK_RSS_SLACK_KB allowed growth of VmRSS, see below (default 8192)
#
# Each container runs tests/soak/soak_load (three processes: shm attach and
# detach, IPC_RMID while attached with a fork holding the segment, semop
# with and without SEM_UNDO, semtimedop timeouts, blocking msgsnd/msgrcv)
# for a random 20-90 s; one container in three is killed with SIGKILL at a
# random moment instead.  A finished or killed container is deleted and a
# new one takes its place (container churn).  Every SOAK_INTERVAL seconds a
# line goes to soak.csv:
#   seconds,rss_kb,fds,containers,namespaces,parked,started,finished,killed
# (rss_kb: VmRSS of ipcnsd; fds: entries of /proc/PID/fd; namespaces and
# parked: from ipcnsd's control socket).
#
# Pass/fail, the documented tolerance:
#   - ipcnsd is alive at the end and no workload failed (exit status other
#     than 0, or 137 for the ones the soak killed);
#   - fds: once every container is gone, ipcnsd holds exactly as many fds
#     as before the first container (no tolerance), and no namespace;
#   - memory: the largest VmRSS of the last third of the samples exceeds
#     the largest of the first third (the warm-up included) by no more than
#     SOAK_RSS_SLACK_KB + 10 %.  A leak of one allocation per call or per
#     container grows without bound and fails this; malloc keeping freed
#     arenas does not.
set -u
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
B=$REPO/build
SECONDS_TOTAL=${SOAK_SECONDS:-600}
NCT=${SOAK_CONTAINERS:-16}
INTERVAL=${SOAK_INTERVAL:-10}
OUT=${SOAK_OUT:-$B/soak}
SLACK_KB=${SOAK_RSS_SLACK_KB:-8192}

for f in "$B/bin/ipcnsd" "$B/bin/ipcns-runtime" "$B/examples/control_query"; do
	[ -x "$f" ] || { echo "soak: missing $f (make all)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "soak: run as root (it runs containers)" >&2; exit 1; }
command -v runc >/dev/null || { echo "soak: runc is not installed" >&2; exit 1; }

W=$(mktemp -d /tmp/ipcns-soak.XXXXXX)
TAG=${W##*.}
mkdir -p "$OUT" "$W/root" "$W/base"
CSV=$OUT/soak.csv
LOG=$OUT/ipcnsd.log
SOCK=$W/ipcnsd.sock
: >"$LOG"
[ -x "$B/tests/soak/soak_load" ] || { echo "soak: missing $B/tests/soak/soak_load: run make first" >&2; exit 1; }
(cd "$W/base" && runc spec) || exit 1

"$B/bin/ipcnsd" --socket "$SOCK" </dev/null >>"$LOG" 2>&1 &
DPID=$!
for _ in $(seq 100); do
	"$B/examples/control_query" "$SOCK" >/dev/null 2>&1 && break
	sleep 0.1
done

ctl() { "$B/examples/control_query" "$SOCK" 2>/dev/null; }
rt() { runc --root "$W/root" "$@"; }
alive() {
	local st
	st=$(cat "/proc/$DPID/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status" 2>/dev/null; }
nfds() { ls "/proc/$DPID/fd" 2>/dev/null | wc -l; }

# A bundle running soak_load for $2 seconds, in the host's read-only
# binaries (see tests/integration/helpers.bash, make_bundle).
make_bundle() {
	local b=$1 secs=$2 seed=$3
	mkdir -p "$b/rootfs"
	(cd "$b/rootfs" && mkdir -p usr lib lib64 bin sbin etc proc dev sys tmp it)
	jq --arg tools "$B/tests/soak" --arg secs "$secs" --arg seed "$seed" '
		.process.terminal = false
		| .process.args = ["/it/soak_load", $secs, $seed]
		| .root.readonly = true
		| del(.linux.resources)
		| .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]
			+ (["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
			   | map({destination: ., type: "bind", source: ., options: ["rbind", "ro"]}))
			+ [{destination: "/it", type: "bind", source: $tools, options: ["rbind", "ro"]},
			   {destination: "/tmp", type: "tmpfs", source: "tmpfs",
			    options: ["nosuid", "nodev", "mode=1777", "size=16384k"]}]' \
		"$W/base/config.json" >"$b/config.json"
}

# Slots: each holds one container at a time.
declare -a SID SKILL SEND
started=0 finished=0 killed=0 failed=0 startfail=0
start_slot() {
	local i=$1 b id life
	b=$W/slot$i
	started=$((started + 1))
	id=soak$TAG-$i-$started
	life=$((20 + RANDOM % 71))
	make_bundle "$b" "$life" "$RANDOM"
	rm -f "$b/rc"
	(
		rc=0
		IPCNS_RUNTIME=runc IPCNS_SOCKET=$SOCK timeout $((life + 60)) "$B/bin/ipcns-runtime" --root "$W/root" \
			run -b "$b" "$id" </dev/null >"$b/out" 2>&1 || rc=$?
		echo "$rc" >"$b/rc"
	) &
	SID[$i]=$id
	SEND[$i]=$((SECONDS + life + 60))
	SKILL[$i]=0
	# One in three is killed at a random moment of its life.
	[ $((RANDOM % 3)) = 0 ] && SKILL[$i]=$((SECONDS + 2 + RANDOM % life))
}

reap_slot() {
	local i=$1 b rc
	b=$W/slot$i
	rc=$(cat "$b/rc")
	rt delete -f "${SID[$i]}" >/dev/null 2>&1 || true
	if [ "${SKILL[$i]}" = -1 ] && [ "$rc" = 137 ]; then
		killed=$((killed + 1))
	elif [ "$rc" = 0 ]; then
		finished=$((finished + 1))
	elif grep -q 'soak_load: running' "$b/out"; then
		failed=$((failed + 1))
		echo "soak: container ${SID[$i]} failed with status $rc:" >&2
		tail -5 "$b/out" >&2
		cp "$b/out" "$OUT/failed-${SID[$i]}.out"
	else
		# The runtime could not start it (a transient runc error under
		# load); counted apart.
		startfail=$((startfail + 1))
		echo "soak: container ${SID[$i]} did not start (status $rc):" >&2
		tail -3 "$b/out" >&2
	fi
	SID[$i]=
}

sample() {
	local t=$1 ps ns parked running=0 i
	ps=$(ctl)
	ns=$(jq '.namespaces | length' <<<"$ps" 2>/dev/null)
	parked=$(jq '[.namespaces[].usage.parked] | add // 0' <<<"$ps" 2>/dev/null)
	for i in $(seq 0 $((NCT - 1))); do [ -n "${SID[$i]:-}" ] && running=$((running + 1)); done
	echo "$t,$(rss_kb),$(nfds),$running,${ns:-?},${parked:-?},$started,$finished,$killed" >>"$CSV"
}

echo "seconds,rss_kb,fds,containers,namespaces,parked,started,finished,killed" >"$CSV"
FDS0=$(nfds)
RSS0=$(rss_kb)
echo "soak: ipcnsd pid $DPID, $NCT containers for $SECONDS_TOTAL s, samples every $INTERVAL s in $CSV"
echo "soak: before any container: VmRSS $RSS0 kB, $FDS0 fds"
T0=$SECONDS
next_sample=$T0
for i in $(seq 0 $((NCT - 1))); do
	start_slot "$i"
	sleep 0.3
done
while [ $((SECONDS - T0)) -lt "$SECONDS_TOTAL" ]; do
	alive || { echo "soak: ipcnsd died" >&2; break; }
	for i in $(seq 0 $((NCT - 1))); do
		b=$W/slot$i
		if [ -n "${SID[$i]}" ] && [ -s "$b/rc" ]; then
			reap_slot "$i"
			start_slot "$i"
		elif [ -n "${SID[$i]}" ] && [ "${SKILL[$i]}" -gt 0 ] && [ "$SECONDS" -ge "${SKILL[$i]}" ]; then
			rt kill "${SID[$i]}" KILL >/dev/null 2>&1 || true
			SKILL[$i]=-1
		fi
	done
	if [ "$SECONDS" -ge "$next_sample" ]; then
		sample $((SECONDS - T0))
		next_sample=$((next_sample + INTERVAL))
	fi
	sleep 1
done

# Stop everything, then the idle figures.
for i in $(seq 0 $((NCT - 1))); do
	[ -n "${SID[$i]}" ] && rt kill "${SID[$i]}" KILL >/dev/null 2>&1 && SKILL[$i]=-1
done
for i in $(seq 0 $((NCT - 1))); do
	[ -n "${SID[$i]}" ] || continue
	for _ in $(seq 100); do [ -s "$W/slot$i/rc" ] && break; sleep 0.2; done
	[ -s "$W/slot$i/rc" ] && reap_slot "$i"
done
for _ in $(seq 150); do
	[ "$(nfds)" -le "$FDS0" ] && [ "$(ctl | jq '.namespaces | length')" = 0 ] && break
	sleep 0.1
done
sample $((SECONDS - T0))
FDS1=$(nfds)
RSS1=$(rss_kb)
NS1=$(ctl | jq '.namespaces | length')

# The figures.
n=$(($(wc -l <"$CSV") - 1))
third=$(((n + 2) / 3))
first_max=$(tail -n +2 "$CSV" | head -n "$third" | cut -d, -f2 | sort -n | tail -1)
last_max=$(tail -n +2 "$CSV" | tail -n "$third" | cut -d, -f2 | sort -n | tail -1)
rss_max=$(tail -n +2 "$CSV" | cut -d, -f2 | sort -n | tail -1)
fds_max=$(tail -n +2 "$CSV" | cut -d, -f3 | sort -n | tail -1)
limit=$((first_max + SLACK_KB + first_max / 10))
echo "soak: $started containers started: $finished ran to the end, $killed killed, $failed failed," \
	"$startfail did not start"
echo "soak: VmRSS start $RSS0 kB, end (idle) $RSS1 kB, max $rss_max kB;" \
	"max of the first third $first_max kB, of the last third $last_max kB (limit $limit kB)"
echo "soak: fds start $FDS0, end (idle) $FDS1, max $fds_max; namespaces at the end: $NS1"

ok=1
alive || { echo "soak: FAIL: ipcnsd is not running at the end (log $LOG)" >&2; ok=0; }
[ "$failed" = 0 ] || { echo "soak: FAIL: $failed workloads failed" >&2; ok=0; }
[ "$FDS1" -le "$FDS0" ] || { echo "soak: FAIL: ipcnsd holds $FDS1 fds, $FDS0 before" >&2; ls -l "/proc/$DPID/fd" >&2; ok=0; }
[ "$NS1" = 0 ] || { echo "soak: FAIL: $NS1 namespaces left" >&2; ok=0; }
[ "$last_max" -le "$limit" ] || { echo "soak: FAIL: VmRSS grew from $first_max to $last_max kB" >&2; ok=0; }
[ "$startfail" -le $((started / 10)) ] || { echo "soak: FAIL: $startfail of $started containers did not start" >&2; ok=0; }
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
if [ "$ok" = 1 ]; then
	rm -rf "$W"
	echo "soak: passed"
	exit 0
fi
echo "soak: failed; kept $W" >&2
exit 1
