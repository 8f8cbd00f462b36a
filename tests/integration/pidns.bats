#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Pids as the reader's pid namespace sees them (spec/compatibility.md):
# two containers sharing one IPC namespace, each with a pid namespace of
# its own, as the containers of a Kubernetes pod without
# shareProcessNamespace.  Linux shows each container its own processes'
# numbers and 0 for the other's, in IPC_STAT, GETPID and /proc/sysvipc;
# so must ipcnsd, and still after it restarts (the pids are kept in the
# namespace's state).  The container side is pid-pod.c.

load helpers

setup() { own_daemon_setup; }
teardown() { own_daemon_teardown; }

POD=$CT_BUILD/tests/integration/pid-pod
X=$BATS_TEST_TMPDIR/xchg

# The number after WORD on the line that starts with it.
field() {
	sed -n "s/^$1 //p" <<<"$2"
}

pod_pids() {
	local r=$1 a b
	need_runtime "$r"
	own_daemon "pod-$r"
	ct_start "$r" a "$POD" make "$CT_XCHG"
	wait_ready "$r" a made
	# The second container joins the first's kernel IPC namespace, hence
	# its ipcns namespace, in a pid namespace of its own.
	BUNDLE_IPC_PATH=/proc/$(ct_pid "$r" a)/ns/ipc run ct_run "$r" b "$POD" touch
	assert_success
	b=$(field self "$output")
	[ -n "$b" ] || fail "no pid from b: $output"
	# The objects are a's, the receive and the last attach b's: b sees
	# itself, and nothing of a.
	assert_line "see 0 0 $b 0 $b"
	assert_line "proc 0 $b 0 $b"

	# ipcnsd goes and comes back; the namespace's pids come with its state.
	ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG" handover
	own_daemon "pod-$r"
	grep -q "namespaces' states" "$IPCNSD_LOG" || fail "no state taken over: $(tail -5 "$IPCNSD_LOG")"

	touch "$X/go"
	run ct_wait "$r" a
	assert_output 0
	run cat "$(bdir a)/out"
	a=$(field self "$output")
	[ -n "$a" ] || fail "no pid from a: $output"
	assert_line "see $a $a 0 $a 0"
	assert_line "proc $a 0 $a 0"
}

@test "runc: two containers of one IPC namespace with pid namespaces of their own see their own pids and 0 for the other's, across ipcnsd's restart" {
	pod_pids runc
}

@test "crun: two containers of one IPC namespace with pid namespaces of their own see their own pids and 0 for the other's, across ipcnsd's restart" {
	pod_pids crun
}
