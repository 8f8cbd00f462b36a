#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Signals and parked calls in real containers (spec/compatibility.md,
# "Signals and blocked calls"): a container whose init waits in msgrcv or
# semop with a signal() SIGTERM handler stops on `kill TERM` (the way
# `docker stop` asks); a debugger inside the container (strace -p, gdb -p)
# attaches to a caller parked in msgrcv, the call goes on and completes,
# and the caller's state is S throughout.  Every other signal case is
# tests/conformance/sig_intr, which conformance.bats runs in runc, crun and
# crun-plugin containers.

load helpers

SIG_PARK=$CT_TOOLS/sig-park

@test "runc: a daemon waiting in msgrcv stops on SIGTERM (signal() handler)" {
	need_runtime runc
	daemon_stops runc msgrcv
}

@test "runc: a daemon waiting in semop stops on SIGTERM (signal() handler)" {
	need_runtime runc
	daemon_stops runc semop
}

@test "crun: a daemon waiting in msgrcv stops on SIGTERM (signal() handler)" {
	need_runtime crun
	daemon_stops crun msgrcv
}

@test "crun: a daemon waiting in semop stops on SIGTERM (signal() handler)" {
	need_runtime crun
	daemon_stops crun semop
}

# Inside the container: a receiver parked in msgrcv; strace -p and gdb -p
# attach to it and detach; it stays in S; a message then reaches it.
debugger_attach() {
	local r=$1
	command -v strace >/dev/null || skip "no strace"
	command -v gdb >/dev/null || skip "no gdb"
	BUNDLE_CAPS=all run ct_run "$r" dbg sh -c '
		st() { sed "s/.*) \(.\).*/\1/" /proc/$1/stat; }
		'"$SIG_PARK"' recv >/tmp/recv.out 2>&1 &
		p=$!
		i=0
		until [ "$(cat /proc/$p/syscall 2>/dev/null | cut -d" " -f1)" = 70 ] && [ "$(st $p)" = S ]; do
			i=$((i + 1)); [ $i -lt 200 ] || { echo "never parked"; exit 1; }; sleep 0.05
		done
		sleep 0.2
		echo "state before: $(st $p)"
		timeout 5 strace -p $p -o /tmp/strace.out & s=$!
		sleep 1
		kill -INT $s; wait $s
		echo "strace: $(head -c 300 /tmp/strace.out | tr "\n" " ")"
		echo "state after strace: $(st $p)"
		timeout 20 gdb -p $p -batch -nx -ex "info registers rip" 2>&1 | grep -E "^rip|ptrace|Operation not permitted" | head -3
		sleep 0.2
		echo "state after gdb: $(st $p)"
		'"$SIG_PARK"' send hello
		wait $p
		echo "receiver: $? $(cat /tmp/recv.out)"'
	assert_success
	assert_line "state before: S"
	assert_line --partial "strace: msgrcv("
	assert_line "state after strace: S"
	assert_line --regexp "^rip +0x"
	refute_output --partial "Operation not permitted"
	assert_line "state after gdb: S"
	assert_line "receiver: 0 received hello"
}

@test "runc: strace -p and gdb -p attach to a caller parked in msgrcv; it goes on" {
	need_runtime runc
	debugger_attach runc
}

@test "crun: strace -p and gdb -p attach to a caller parked in msgrcv; it goes on" {
	need_runtime crun
	debugger_attach crun
}

# A handler with SA_RESTART that ends the wait before ipcnsd received the
# call (the daemon stopped meanwhile): the restarted msgrcv still fails with
# EINTR (the signal watch's registers at the delivery).
@test "ipcnsd: a msgrcv interrupted before the daemon received it fails with EINTR" {
	run timeout 30 "$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
		"$IT_BUILD/tests/integration/sig-park" window "$IPCNSD_PID"
	kill -CONT "$IPCNSD_PID" 2>/dev/null || true
	assert_success
	assert_output --partial "child: Interrupted system call"
}

# A stop (SIGSTOP, SIGCONT) that ends the wait before ipcnsd received the
# call (the daemon stopped meanwhile): Linux's semop fails with EINTR
# after a stop, msgrcv goes on waiting.  The signal watch records the stop
# taken by the waiting thread with its registers, as it does a handler's
# delivery (spec/compatibility.md, "Signals").
@test "ipcnsd: a semop stopped and continued before the daemon received it fails with EINTR" {
	run timeout 30 "$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
		"$IT_BUILD/tests/integration/sig-park" stopwindow semop "$IPCNSD_PID"
	kill -CONT "$IPCNSD_PID" 2>/dev/null || true
	assert_success
	assert_output --partial "child after the stop: Interrupted system call"
}

@test "ipcnsd: a msgrcv stopped and continued before the daemon received it waits on" {
	run timeout 30 "$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
		"$IT_BUILD/tests/integration/sig-park" stopwindow msgrcv "$IPCNSD_PID"
	kill -CONT "$IPCNSD_PID" 2>/dev/null || true
	assert_success
	assert_output --partial "child after the stop: still blocked"
	assert_output --partial "child after a message: done"
}
