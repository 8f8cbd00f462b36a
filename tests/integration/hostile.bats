#!/usr/bin/env bats
# Hostile containers against ipcnsd: one container exhausting everything it
# may must not stop another; containers killed while ipcnsd injects remote
# system calls (shmat/shmdt) must leave nothing behind and nothing stuck;
# every kernel.* limit, set small through linux.sysctl, is enforced with
# Linux's errno under ipcnsd.  The container side is ipc-hostile.c (built
# here); the per-call hostile cases are the conformance programs
# tests/conformance/hostile_*.c, which conformance.bats also runs in
# containers.

load helpers

setup_file() {
	ipcns_setup_file
	cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -o "$IT_DIR/tools/ipc-hostile" "$BATS_TEST_DIRNAME/ipc-hostile.c" \
		-lpthread
}
teardown_file() { ipcns_teardown_file; }
setup() {
	ipcns_setup
	FILE_SOCKET=$IPCNS_SOCKET FILE_PID=$IPCNSD_PID FILE_LOG=$IPCNSD_LOG
	OWN_PID=
}
teardown() {
	# A daemon of this test goes first: a process it still traced is
	# released when it exits, so the containers can be deleted.
	if [ -n "$OWN_PID" ]; then
		ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG" || true
		[ "${BATS_TEST_COMPLETED:-}" = 1 ] || { echo "--- log of this test's ipcnsd:" >&2; tail -30 "$IPCNSD_LOG" >&2; }
	fi
	export IPCNS_SOCKET=$FILE_SOCKET IPCNSD_PID=$FILE_PID IPCNSD_LOG=$FILE_LOG
	ipcns_teardown
}

# own_daemon NAME: this test gets an ipcnsd of its own (the helpers then
# talk to it), for tests that may leave a daemon holding processes.
own_daemon() {
	ipcnsd_launch "$IT_DIR/$1.sock" "$IT_DIR/$1.log"
	OWN_PID=$LAUNCHED_PID
	export IPCNS_SOCKET=$IT_DIR/$1.sock IPCNSD_PID=$LAUNCHED_PID IPCNSD_LOG=$IT_DIR/$1.log
}

HOSTILE=$CT_TOOLS/ipc-hostile

ns_absent() {
	[ "$(ps_ns "$1")" = null ]
}

fds_back_to() {
	[ "$(daemon_fds)" -le "$1" ]
}

# No process anywhere is traced by ipcnsd (TracerPid): ptrace is only for
# the moment of an attach.
no_tracees() {
	! grep -l "^TracerPid:[[:space:]]*$IPCNSD_PID\$" /proc/[0-9]*/task/[0-9]*/status 2>/dev/null | grep -q .
}

# victim_ms RT NAME N: run the victim workload in a container; prints its
# time in ms.
victim_ms() {
	local out
	out=$(ct_run "$1" "$2" "$HOSTILE" victim "$3") || {
		echo "victim container $2 failed: $out" >&2
		return 1
	}
	sed -n 's/^VICTIM n=[0-9]* ms=\([0-9]*\)$/\1/p' <<<"$out"
}

@test "runc: a container exhausting every limit does not stop another container" {
	need_runtime runc
	local t0 t1 fds0 pid ns
	fds0=$(daemon_fds)
	t0=$(victim_ms runc alone 1000)
	[ -n "$t0" ]

	# Everything the namespace allows, then 15 s of the calls that cost
	# ipcnsd most.
	ct_start runc hog "$HOSTILE" exhaust 15
	wait_out runc hog "^EXHAUSTED" 60
	grep '^EXHAUSTED' "$(bdir hog)/out" >&3
	pid=$(ct_pid runc hog)
	ns=$(ns_of_pid "$pid")

	# The other container completes its work, exactly, in bounded time.
	t1=$(victim_ms runc victim 1000)
	[ -n "$t1" ]
	echo "# victim: $t0 ms alone, $t1 ms next to the hog" >&3
	[ "$t1" -lt 30000 ] || fail "the victim took $t1 ms next to the hog ($t0 ms alone)"
	# The daemon still answers its operator.
	run ps_ns "$ns"
	assert_success
	run jq -e '.usage.shm_ids == 4096 and .usage.sem_ids == 32000 and .usage.msg_ids == 32000' <<<"$output"
	assert_success

	rt runc kill "$(cid runc hog)" KILL
	run ct_wait runc hog 60
	assert_output 137
	wait_for 30 ns_absent "$ns" || fail "namespace $ns of the killed hog is still there"
	wait_for 10 fds_back_to "$fds0" || fail "ipcnsd has $(daemon_fds) fds, $fds0 before"
	run daemon_memfds
	assert_output 0
}

# kill_during_storm RT ROUND: a container whose 16 threads attach and
# detach a segment in a loop is killed with SIGKILL at a random moment,
# very likely while ipcnsd holds one of its threads with ptrace.  ipcnsd
# survives, the container is gone (not stuck in its exit), and ipcnsd is
# back to its fds and traces nothing.
kill_during_storm() {
	local r=$1 n=$2 fds0 pid ns i
	need_runtime "$r"
	own_daemon "storm-$r"
	fds0=$(daemon_fds)
	for i in $(seq "$n"); do
		ct_start "$r" "storm$i" "$HOSTILE" storm 16
		wait_out "$r" "storm$i" "^STORM" 20
		pid=$(ct_pid "$r" "storm$i")
		ns=$(ns_of_pid "$pid")
		sleep "0.$((RANDOM % 9 + 1))"
		rt "$r" kill "$(cid "$r" "storm$i")" KILL
		run ct_wait "$r" "storm$i" 10
		if [ "$output" != 137 ]; then
			grep -H "^TracerPid:[[:space:]]*$IPCNSD_PID\$" /proc/[0-9]*/task/[0-9]*/status >&2 || true
			fail "round $i: the killed container did not end (exit status: $output)"
		fi
		ipcnsd_alive || fail "ipcnsd died"
		wait_for 10 ns_absent "$ns" || fail "round $i: namespace $ns is still there"
		wait_for 10 no_tracees || fail "round $i: ipcnsd still traces: $(grep -l "^TracerPid:[[:space:]]*$IPCNSD_PID\$" /proc/[0-9]*/task/[0-9]*/status)"
	done
	wait_for 10 fds_back_to "$fds0" || fail "ipcnsd has $(daemon_fds) fds, $fds0 before"
	run daemon_memfds
	assert_output 0
}

@test "runc: containers killed while ipcnsd injects shmat/shmdt leave nothing behind" {
	kill_during_storm runc 4
}

@test "crun: containers killed while ipcnsd injects shmat/shmdt leave nothing behind" {
	kill_during_storm crun 2
}

# Inside one container, processes attaching and detaching are killed at
# random moments for 4 s: the container's other processes go on, every
# attachment of a dead process is gone, the segment still works, and no
# process is left traced or unreapable (the container's init reaps them
# all and exits 0).
@test "runc: processes killed in the middle of shmat/shmdt inside a running container" {
	need_runtime runc
	own_daemon storm-kill
	ct_start runc sk timeout 20 "$HOSTILE" storm-kill 4
	run ct_wait runc sk 40
	if [ "$output" != 0 ]; then
		grep -H "^TracerPid:[[:space:]]*$IPCNSD_PID\$" /proc/[0-9]*/task/[0-9]*/status >&2 || true
		cat "$(bdir sk)/out" >&2
		fail "the container did not end well (exit status: $output)"
	fi
	run cat "$(bdir sk)/out"
	assert_output --partial "segment clean"
	wait_for 10 no_tracees || fail "ipcnsd still traces a process"
}

# Every kernel.* IPC limit, made small by linux.sysctl, is enforced by
# ipcnsd with Linux's errno: tests/conformance/hostile_limits.c, which
# checks every limit IPC_INFO reports as reachable.
@test "runc: every limit from linux.sysctl exhausted gives Linux's errno under ipcnsd" {
	need_runtime runc
	local b id
	id=$(cid runc lim)
	make_bundle lim "$CT_BUILD/tests/conformance/hostile_limits"
	b=$(bdir lim)
	jq '.linux.sysctl = {"kernel.shmmni": "32", "kernel.shmall": "48", "kernel.sem": "250 600 32 40",
		"kernel.msgmni": "24", "kernel.msgmnb": "1024"} | .process.env += ["IPCNS_UNDER=1"]' \
		"$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
	ct_track runc "$id" lim
	run shim runc run -b "$b" "$id"
	assert_success
	assert_output --partial "shmmni 32 shmall 48 semmsl 250 semmns 600 semmni 40 msgmni 24 msgmnb 1024"
	refute_output --partial "not tested"
	assert_output --partial "ok - hostile_limits"
}
