#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A signal storm in one container, or on the host, changes no other
# container's signal semantics (spec/security.md, "Signal watches"): a
# container whose init waits in msgrcv with a signal() SIGTERM handler
# still stops on `kill TERM' while processes elsewhere raise signals with a
# handler in a loop.  The daemon runs with one-page rings
# (--sigwatch-ring-pages 1): a storm then overflows any ring that sees it
# in microseconds, as a bigger ring does on a host too busy for the
# drainer to keep up; what is tested is that the victim's watch does not
# see it.

load helpers

setup_file() {
	IPCNSD_EXTRA_ARGS="${IPCNSD_EXTRA_ARGS:-} --sigwatch-ring-pages 1" ipcns_setup_file
}

SIG_PARK=$CT_TOOLS/sig-park

# The victim: its init waits in msgrcv with a SIGTERM handler; it stops
# with its own exit status on SIGTERM, and its verdict was known.
victim_stops() {
	local r=$1
	daemon_stops "$r" msgrcv victim
	run grep "$(cid "$r" victim).*unknown" "$IPCNSD_LOG"
	assert_failure
}

# A signal storm elsewhere: two processes raising SIGUSR1 with a handler
# in a loop, in another container ipcnsd serves or on the host outside any
# container.  Every delivery is an event for a signal watch that sees it;
# one that sees them overflows, and a parked call it decides has an unknown
# verdict (spec/security.md, "Signal watches").  The victim's msgrcv must
# still end with EINTR on its SIGTERM: a storm degrades no other container.
# The host's storm goes with its test (a container's with its container,
# in ipcns_teardown).
teardown() {
	host_storm_stop
	# A program of ipcns-run's test still running (the test failed).
	local p
	p=$(cat "$BATS_TEST_TMPDIR/run.pid" 2>/dev/null) && kill -KILL "$p" 2>/dev/null || true
	ipcns_teardown
}

storm_then_stop() {
	local r=$1 where=$2
	case $where in
	container)
		ct_start "$r" storm "$SIG_PARK" storm 60 2
		wait_out "$r" storm READY
		;;
	host)
		host_storm
		;;
	esac
	sleep 1
	victim_stops "$r"
}

@test "runc: a daemon waiting in msgrcv stops on SIGTERM while another container storms signals" {
	need_runtime runc
	storm_then_stop runc container
}

@test "crun: a daemon waiting in msgrcv stops on SIGTERM while another container storms signals" {
	need_runtime crun
	storm_then_stop crun container
}

@test "runc: a daemon waiting in msgrcv stops on SIGTERM while a host process storms signals" {
	need_runtime runc
	storm_then_stop runc host
}

@test "crun: a daemon waiting in msgrcv stops on SIGTERM while a host process storms signals" {
	need_runtime crun
	storm_then_stop crun host
}

# perf_fds: ipcnsd's perf event fds.
perf_fds() {
	local n=0 f
	for f in /proc/"$IPCNSD_PID"/fd/*; do
		[ "$(readlink "$f")" = "anon_inode:[perf_event]" ] && n=$((n + 1))
	done
	echo "$n"
}

# A container's signal watch: one fd per CPU, counted in its namespace's
# fds, opened at its first call and closed with its last notify fd (no
# watch of the whole host meanwhile).
watch_fds() {
	local r=$1 ncpu ns
	ncpu=$(getconf _NPROCESSORS_CONF)
	wait_for 10 test "$(perf_fds)" = 0
	ct_start "$r" victim "$SIG_PARK" daemon msgrcv
	wait_out "$r" victim READY
	wait_for 10 test "$(state_of "$r" victim)" = S
	assert_equal "$(perf_fds)" "$ncpu"
	ns=$(ns_of_pid "$(ct_pid "$r" victim)")
	run ps_ns "$ns"
	[ "$(jq .usage.fds <<<"$output")" -ge "$ncpu" ]
	rt "$r" kill "$(cid "$r" victim)" TERM
	run ct_wait "$r" victim 10
	assert_output 42
	wait_for 10 test "$(perf_fds)" = 0
	assert_equal "$(perf_fds)" 0
}

@test "runc: a container's signal watch is one fd per CPU of its namespace, closed with it" {
	need_runtime runc
	watch_fds runc
}

@test "crun: a container's signal watch is one fd per CPU of its namespace, closed with it" {
	need_runtime crun
	watch_fds crun
}

# cgroup2_root: where cgroup v2 is mounted here (the unified hierarchy of
# a hybrid host).
cgroup2_root() {
	findmnt -n -t cgroup2 -o TARGET | tail -1
}

# A program that ipcns-run serves on the host (as the conformance programs
# are run under ipcnsd) has a watch of its own too: ipcns-run makes it a
# cgroup of its own (and removes it after), so that it does not share the
# host's watch, which a host process's storm overflows.  Five rounds of a
# 1 s park with four storming processes: with the host's watch, 2 of 5
# rounds never stopped ("unknown: a ring of its signal watch
# overflowed").
@test "ipcns-run: a program waiting in msgrcv stops on SIGTERM while a host process storms signals" {
	local out=$BATS_TEST_TMPDIR/run.out p rc i cg
	host_storm 4
	sleep 1
	for i in 1 2 3 4 5; do
		"$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
			"$IT_BUILD/tests/integration/sig-park" daemon msgrcv >"$out" 2>&1 3>&- &
		p=$!
		echo "$p" >"$BATS_TEST_TMPDIR/run.pid"
		wait_for 10 grep -q READY "$out"
		wait_for 10 test "$(sed 's/.*) \(.\).*/\1/' "/proc/$p/stat")" = S
		cg=$(sed -n 's/^0:://p' "/proc/$p/cgroup")
		[ "$cg" != / ] || fail "ipcns-run left its program in the root cgroup"
		sleep 1
		kill -TERM "$p"
		if ! wait_for 5 eval '! ipcnsd_alive '"$p"; then
			kill -KILL "$p"
			fail "round $i: the program did not stop: $(cat "$out"; grep "ipcns-run-$p" "$IPCNSD_LOG")"
		fi
		rc=0
		wait "$p" || rc=$?
		assert_equal "$rc" 42
		run cat "$out"
		assert_output --partial "stopped after 1 calls, the handler run 1 times"
		# Its cgroup goes with it.
		wait_for 10 eval '! test -d "$(cgroup2_root)$cg"' || fail "its cgroup $cg is still there"
	done
	run grep "ipcns-run-.*unknown" "$IPCNSD_LOG"
	assert_failure
}
