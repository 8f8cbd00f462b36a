#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# What containers see when ipcnsd stops and starts again while they run
# (README.md, "Restarting ipcnsd").  runc and crun hand the seccomp notify
# fd to ipcnsd and keep no copy: when ipcnsd exits, the kernel detaches the
# listener (kernel/seccomp.c, seccomp_notify_detach): calls waiting for an
# answer fail with ENOSYS, and so does every later call that the filter
# sends to the listener.  The objects lived in ipcnsd and are gone; memory
# already mapped stays.  A new ipcnsd serves new containers (and processes
# exec'd into old ones by runc, which get a new filter and an empty
# namespace; crun's exec'd processes cannot be placed and get ENOSYS), but
# existing processes are not reconnected.
#
# The container side is `ipc-hostile restart DIR' (ipc-hostile.c): it
# records the result of every kind of call in DIR/phase1 (daemon up),
# phase2 (daemon gone), phase3 (a new daemon up), and a caller parked in
# semop when the daemon went away in DIR/parked.result.

load helpers

setup_file() {
	ipcns_setup_file
}
teardown_file() { ipcns_teardown_file; }
setup() {
	ipcns_setup
	file_daemon_save
}
teardown() {
	own_daemon_stop
	file_daemon_restore
	ipcns_teardown
}

X=$BATS_TEST_TMPDIR/xchg

# calls_are FILE RESULT: every call recorded in FILE gave RESULT; the
# mapping made earlier is intact and writable.
calls_are() {
	local f=$X/$1 want=$2 k
	for k in "semctl GETVAL" semget "shmctl IPC_STAT" shmget shmat shmdt msgget; do
		grep -qx "$k = $want" "$f" || { echo "in $1: $(grep "^$k =" "$f"), want $want" >&2; return 1; }
	done
	grep -qx "mapped memory = intact" "$f" && grep -qx "mapped memory write = ok" "$f" || {
		cat "$f" >&2
		return 1
	}
}

# restart_while_running RT HOW: HOW is TERM (ipcnsd stops) or KILL (it
# dies).
restart_while_running() {
	local r=$1 how=$2 id sock pid ns
	need_runtime "$r"
	own_daemon "restart-$r-$how"
	sock=$IPCNS_SOCKET
	id=$(cid "$r" a)
	ct_start "$r" a "$HOSTILE" restart "$CT_XCHG"
	wait_ready "$r" a ready
	calls_are phase1 ok
	pid=$(ct_pid "$r" a)
	ns=$(ns_of_pid "$pid")
	run ps_ns "$ns"
	# Phase 1 made a second segment and set; one caller is parked.
	run jq -c '[.usage.shm_ids, .usage.sem_ids, .usage.msg_ids, .usage.parked]' <<<"$output"
	assert_output '[2,2,1,1]'

	# ipcnsd goes away.
	if [ "$how" = TERM ]; then
		ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG"
		[ ! -e "$sock" ] || fail "a stopped ipcnsd left its socket"
	else
		kill -KILL "$OWN_PID"
		wait_for 10 eval '! ipcnsd_alive '"$OWN_PID"
		[ -S "$sock" ] || fail "the socket of a killed ipcnsd is gone"
	fi
	touch "$X/daemon-stopped"
	wait_ready "$r" a phase2.done
	# The parked call was answered ENOSYS by the kernel; every later call
	# gets ENOSYS; the mapping stays.
	run cat "$X/parked.result"
	assert_output "parked semop = ENOSYS"
	calls_are phase2 ENOSYS

	# A new ipcnsd on the same socket (over the stale one after KILL).
	own_daemon "restart-$r-$how"
	[ "$IPCNS_SOCKET" = "$sock" ]
	touch "$X/daemon-restarted"
	wait_ready "$r" a phase3.done
	# The running container is not reconnected.
	calls_are phase3 ENOSYS
	run ctl
	assert_output --partial '"namespaces":[]'

	# A process exec'd into it gets a new filter.  runc names its pid: the
	# new ipcnsd serves it, in an empty namespace (the old objects are
	# gone).  crun 1.8 sends pid 0 for an exec'd process, and the new
	# ipcnsd does not know the container: it refuses the registration and
	# the process's calls get ENOSYS.
	run shim "$r" exec "$id" sh -c 'ipcs -m | grep -c "^0x"; ipcmk -Q && ipcs -q | grep -c "^0x"'
	if [ "$r" = runc ]; then
		assert_success
		assert_line --index 0 0
		assert_line --index 1 --partial "Message queue id:"
		assert_line --index 2 1
	else
		assert_failure
		assert_output --partial "Function not implemented"
		grep -q "registration failed: container $id: no pid" "$IPCNSD_LOG"
	fi

	# A new container is served normally.
	run ct_run "$r" b "$HOSTILE" victim 200
	assert_success
	assert_output --partial "VICTIM n=200"

	touch "$X/finish"
	run ct_wait "$r" a
	assert_output 0
}

@test "runc: ipcnsd stopped (SIGTERM) and started again while a container runs" {
	restart_while_running runc TERM
}

@test "crun: ipcnsd stopped (SIGTERM) and started again while a container runs" {
	restart_while_running crun TERM
}

@test "runc: ipcnsd killed (SIGKILL) and started again while a container runs" {
	restart_while_running runc KILL
}

@test "crun: ipcnsd killed (SIGKILL) and started again while a container runs" {
	restart_while_running crun KILL
}
