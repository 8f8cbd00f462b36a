#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-pgbench: PostgreSQL 15 tps in one runc container config, with
# the kernel's System V IPC (plain runc) and with ipcns (the same bundle
# through ipcns-runtime, served by an ipcnsd of this run).  The server uses
# shared_memory_type = sysv and dynamic_shared_memory_type = sysv.  Two
# workloads:
#   tpcb      pgbench's default (TPC-B like) transactions, CLIENTS clients:
#             System V IPC only at start (the main segment; backends
#             inherit it), so this is the cost of the seccomp rule and of
#             ipcnsd's presence;
#   parallel  a count(*) of 100000 rows with 2 parallel workers, 2 clients:
#             each query starts 2 workers and creates a dynamic shared
#             memory segment that they attach with the session's (shmget,
#             shmctl IPC_STAT, shmat, shmdt, IPC_RMID), all served by ipcnsd.
# RUNS rounds; each round runs one fresh container per mode (initdb, load,
# one run of each workload), the modes' order alternating from round to
# round so that drift on the machine hits both alike.  Medians, and the
# ratio ipcns/native.  No pass/fail: the machine is shared and noisy.
#   PGBENCH_SECONDS=10 PGBENCH_RUNS=3 PGBENCH_SCALE=10 PGBENCH_CLIENTS=4 tests/bench/pgbench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
B=$PWD/build
SECS=${PGBENCH_SECONDS:-10}
RUNS=${PGBENCH_RUNS:-3}
SCALE=${PGBENCH_SCALE:-10}
CLIENTS=${PGBENCH_CLIENTS:-4}
PGBIN=/usr/lib/postgresql/15/bin

die() {
	echo "bench-pgbench: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "run as root: it starts containers and ipcnsd"
for t in runc jq; do
	command -v "$t" >/dev/null || die "$t is not installed (make deps)"
done
[ -x "$PGBIN/pgbench" ] || die "PostgreSQL 15 is not installed ($PGBIN; make deps)"
for f in ipcnsd ipcns-runtime; do
	[ -x "$B/bin/$f" ] || die "$B/bin/$f is missing: run make all"
done
PGUID=$(id -u postgres) || die "no user postgres"
PGGID=$(id -g postgres)

RUN=$(mktemp -d /tmp/ipcns-pgbench.XXXXXX)
SOCK=$RUN/ipcnsd.sock
ROOT=$RUN/runc-root
DPID=
cleanup() {
	local c
	for c in $(runc --root "$ROOT" list -q 2>/dev/null); do
		runc --root "$ROOT" delete -f "$c" >/dev/null 2>&1 || true
	done
	if [ -n "$DPID" ]; then
		"$B/bin/ipcnsctl" --socket "$SOCK" shutdown >/dev/null 2>&1 || kill "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
mkdir -p "$ROOT"

"$B/bin/ipcnsd" --socket "$SOCK" 2>"$RUN/ipcnsd.log" &
DPID=$!
for _ in $(seq 50); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] || die "ipcnsd did not start: $(cat "$RUN/ipcnsd.log")"

# What runs in the container, as user postgres: a cluster in DIR, the
# data loaded, then one run of each workload: WORKLOAD TPS.
mkdir -p "$RUN/scripts"
cp tests/lib/pg-cluster.sh "$RUN/scripts/"
cat >"$RUN/scripts/bench.sh" <<'EOF'
set -eu
bin=$1 dir=$2 secs=$3 scale=$4 clients=$5
. "$(dirname "$0")/pg-cluster.sh"
pg_cluster "$bin" "$dir" "autovacuum = off"
pg_parallel_sql "select count(*) from par;" >"$dir/parallel.sql"
"$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
"$bin/pgbench" -h "$dir" -i -q -s "$scale" postgres >"$dir/init.log" 2>&1
"$bin/psql" -h "$dir" -XAtq -c "create table par as select generate_series(1, 100000) i" -c "vacuum analyze par" \
	postgres >>"$dir/init.log" 2>&1
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
echo "tpcb $("$bin/pgbench" -h "$dir" -T "$secs" -c "$clients" -j 2 postgres 2>/dev/null | tps)"
echo "parallel $("$bin/pgbench" -h "$dir" -n -f "$dir/parallel.sql" -T "$secs" -c 2 -j 2 postgres 2>/dev/null | tps)"
"$bin/pg_ctl" -D "$dir/data" -w -t 60 stop -m fast >/dev/null
EOF

# One bundle config for both: the host's binaries read-only, RUN/MODE at
# /xchg, the process as user postgres, and a seccomp profile like a
# runtime default (allow, a few denials) so that both sides pay for a
# filter as real containers do; ipcns-runtime adds its rule to it.
(cd "$RUN" && runc spec)
jq --arg run "$RUN" --argjson uid "$PGUID" --argjson gid "$PGGID" --argjson secs "$SECS" \
	--argjson scale "$SCALE" --argjson clients "$CLIENTS" --arg pgbin "$PGBIN" '
	.process.terminal = false
	| .process.user = {uid: $uid, gid: $gid}
	| .process.args = ["sh", "/run-dir/bench.sh", $pgbin, "/xchg", ($secs | tostring), ($scale | tostring),
		($clients | tostring)]
	| .root.readonly = true
	| del(.linux.resources)
	| .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]
		+ (["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
		   | map({destination: ., type: "bind", source: ., options: ["rbind", "ro"]}))
		+ [{destination: "/run-dir", type: "bind", source: ($run + "/scripts"), options: ["rbind", "ro"]},
		   {destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=65536k"]}]
	| .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["kexec_load", "open_by_handle_at", "init_module", "finit_module",
			"delete_module", "bpf", "perf_event_open", "userfaultfd"],
			action: "SCMP_ACT_ERRNO", errnoRet: 1}]}
' "$RUN/config.json" >"$RUN/base.json"

# run MODE ROUND: a fresh container of MODE (native or ipcns), in the
# foreground; its data in RUN/MODE-ROUND.
run() {
	local mode=$1 round=$2 b=$RUN/bundle-$1-$2 x=$RUN/$1-$2
	mkdir -p "$b/rootfs" "$x"
	(cd "$b/rootfs" && mkdir -p usr lib lib64 bin sbin etc proc dev sys tmp run-dir xchg)
	chown postgres:postgres "$x"
	jq --arg x "$x" '.mounts += [{destination: "/xchg", type: "bind", source: $x, options: ["rbind", "rw"]}]' \
		"$RUN/base.json" >"$b/config.json"
	if [ "$mode" = native ]; then
		runc --root "$ROOT" run --bundle "$b" "pgbench-$mode-$round-$$" </dev/null
	else
		IPCNS_SOCKET=$SOCK IPCNS_RUNTIME=runc "$B/bin/ipcns-runtime" --root "$ROOT" run --bundle "$b" \
			"pgbench-$mode-$round-$$" </dev/null
	fi
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
PROBLEMS='WARNING|ERROR|FATAL|PANIC|could not'

echo "PostgreSQL 15, pgbench scale $SCALE, $RUNS rounds of $SECS s per workload and mode;"
echo "tpcb: $CLIENTS clients; parallel: 2 clients, 2 parallel workers per query"
: >"$RUN/results"
for round in $(seq "$RUNS"); do
	modes="native ipcns"
	[ $((round % 2)) = 0 ] && modes="ipcns native"
	for mode in $modes; do
		out=$RUN/$mode-$round.out
		run "$mode" "$round" >"$out" 2>&1 || {
			cat "$out" >&2
			tail -20 "$RUN/$mode-$round/postgres.log" >&2 || true
			die "the $mode container of round $round failed"
		}
		printf 'round %s %-7s' "$round" "$mode"
		awk '{ printf "  %s %s", $1, $2 }' "$out"
		n=$(grep -cE "$PROBLEMS" "$RUN/$mode-$round/postgres.log" || true)
		[ "$n" = 0 ] && echo || echo "  ($n problem lines in postgres.log)"
		awk -v m="$mode" '{ print m, $1, $2 }' "$out" >>"$RUN/results"
		grep -hE "$PROBLEMS" "$RUN/$mode-$round/postgres.log" | sed "s/^/$mode: /" >>"$RUN/problems" || true
	done
done
if [ -s "$RUN/problems" ]; then
	echo "postgres.log problem lines (first 5):"
	head -5 "$RUN/problems" | sed 's/^/   /'
fi

echo
printf '%-10s %14s %14s %10s\n' workload "native tps" "ipcns tps" ratio
for w in tpcb parallel; do
	nat=$(awk -v w="$w" '$1 == "native" && $2 == w && $3 != "" { print $3 }' "$RUN/results" | median)
	ipc=$(awk -v w="$w" '$1 == "ipcns" && $2 == w && $3 != "" { print $3 }' "$RUN/results" | median)
	printf '%-10s %14s %14s %10s\n' "$w" "${nat:-?}" "${ipc:-?}" \
		"$(awk -v a="$ipc" -v b="$nat" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b; else print "?" }')"
done
echo "(ratio = ipcns / native, medians of $RUNS; 1.000 means no cost)"
