#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Container life cycle under ipcnsd: teardown on SIGKILL, the daemon down,
# `exec` into a running container.

load helpers

ns_absent() {
	[ "$(ps_ns "$1")" = null ]
}

container_absent() {
	ctl | jq -e --arg id "$1" '[.namespaces[].containers[].id] | index($id) == null' >/dev/null
}

fds_back_to() {
	[ "$(daemon_fds)" -le "$1" ]
}

# A container killed with SIGKILL while attached to segments (one of them
# already IPC_RMID'ed), holding a semaphore unit with SEM_UNDO, with queued
# messages and with two processes parked in semop and msgrcv leaves nothing
# in ipcnsd: not its namespace, not an fd, not a memfd.
sigkill_leaves_nothing() {
	local r=$1 id pid ns fds0
	need_runtime "$r"
	id=$(cid "$r" hold)
	fds0=$(daemon_fds)
	run daemon_memfds
	assert_output 0

	ct_start "$r" hold "$CT_TOOLS/ipc-hold" 3 10
	wait_out "$r" hold READY
	pid=$(ct_pid "$r" hold)
	ns=$(ns_of_pid "$pid")
	run ps_ns "$ns"
	assert_success
	run jq -c '[.containers[0].id, .usage.shm_ids >= 2, .usage.sem_ids, .usage.msg_ids, .usage.msg_count,
		.usage.parked]' <<<"$output"
	assert_output "[\"$id\",true,1,1,10,2]"
	run daemon_memfds
	[ "$output" -ge 2 ] || fail "ipcnsd holds $output memfds for 3 segments"

	rt "$r" kill "$id" KILL
	run ct_wait "$r" hold
	assert_output 137

	if ! wait_for 10 ns_absent "$ns"; then
		ctl | jq . >&2
		fail "ipcnsd still lists namespace $ns of the killed container"
	fi
	container_absent "$id" || fail "ipcnsd still lists container $id"
	if ! wait_for 10 fds_back_to "$fds0"; then
		ls -l "/proc/$IPCNSD_PID/fd" >&2
		fail "ipcnsd has $(daemon_fds) fds open, $fds0 before the container"
	fi
	run daemon_memfds
	assert_output 0
	grep -q "namespace $ns released" "$IPCNSD_LOG"
}

@test "runc: a container killed with SIGKILL leaves nothing in ipcnsd" {
	sigkill_leaves_nothing runc
}

@test "crun: a container killed with SIGKILL leaves nothing in ipcnsd" {
	sigkill_leaves_nothing crun
}

# With no ipcnsd on the socket, creating a container fails, and the
# runtime's message names the socket.  The two cases: no socket file (ipcnsd
# stopped, it removes it), and a socket file nobody listens on (ipcnsd
# killed).
daemon_down_fails() {
	local r=$1 sock out pid
	need_runtime "$r"
	# ipcns-runtime checks the socket before it runs the runtime; runc and
	# crun would fail at the same connect ("failed to connect with seccomp
	# agent ...", "open seccomp receiver: connect socket to ...").
	out="ipcns-runtime: ipcnsd is not running: cannot connect to $IT_DIR"

	sock=$IT_DIR/none.sock
	IPCNS_SOCKET=$sock run ct_run "$r" none touch "$CT_XCHG/ran"
	assert_failure
	assert_output --partial "$out/none.sock"
	assert_output --regexp "[Nn]o such file or directory"
	[ ! -e "$BATS_TEST_TMPDIR/xchg/ran" ] || fail "the container's process ran"

	# A socket nobody listens on any more: ipcnsd and its keeper both
	# killed (with only ipcnsd gone the keeper holds the socket and the
	# container waits for the next ipcnsd: restart.bats).
	sock=$IT_DIR/stale-$r.sock
	ipcnsd_launch "$sock" "$IT_DIR/stale-$r.log"
	pid=$LAUNCHED_PID
	kill -KILL "$pid" $(pgrep -f "ipcns-keeper --socket $sock")
	wait_for 10 eval '! ipcnsd_alive '"$pid"
	wait_for 10 eval '! pgrep -f "ipcns-keeper --socket $sock" >/dev/null'
	[ -S "$sock" ]
	IPCNS_SOCKET=$sock run ct_run "$r" stale touch "$CT_XCHG/ran"
	assert_failure
	assert_output --partial "$out/stale-$r.sock"
	assert_output --regexp "[Cc]onnection refused"
	[ ! -e "$BATS_TEST_TMPDIR/xchg/ran" ] || fail "the container's process ran"

	# Nothing of either attempt is left to the runtime.
	run rt "$r" list -q
	assert_output ""
}

@test "runc: with ipcnsd down, creating a container fails naming the socket" {
	daemon_down_fails runc
}

@test "crun: with ipcnsd down, creating a container fails naming the socket" {
	daemon_down_fails crun
}

# A process started by `exec` in a running container gets the container's
# filter (its own notify fd, sent to ipcnsd) and so its namespace.
exec_shares_namespace() {
	local r=$1 id
	need_runtime "$r"
	id=$(cid "$r" c)
	ct_start "$r" c sh -c "$PRODUCER -k 0x1234 'hello from init' && touch $CT_XCHG/ready &&
		while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done && $CONSUMER -k 0x1234"
	wait_ready "$r" c ready

	run shim "$r" exec "$id" "$CONSUMER" -k 0x1234
	assert_success
	assert_output --partial "consumer: message 1: hello from init"
	run shim "$r" exec "$id" "$PRODUCER" -k 0x1234 "hello from exec"
	assert_success
	assert_output --partial "producer: appending to segment key 0x00001234"
	grep -q "container $id: exec'd process" "$IPCNSD_LOG"

	touch "$BATS_TEST_TMPDIR/xchg/go"
	run ct_wait "$r" c
	assert_output 0
	run cat "$(bdir c)/out"
	assert_output --partial "consumer: message 2: hello from exec"
}

@test "runc: a process exec'd into a container shares its namespace" {
	exec_shares_namespace runc
}

@test "crun: a process exec'd into a container shares its namespace" {
	exec_shares_namespace crun
}

# The kernel gives a new IPC namespace the lowest free inode number, and
# ipcnsd knows a namespace by that number.  Until ipcnsd has seen the last
# process of a namespace go (here: ipcnsd is stopped meanwhile), the
# number must not go to a new namespace, or the next container would be
# registered into the dead one's objects (make check once had
# hostile_memfd [ipcnsd] start inside hostile_limits' 4096 segments).
@test "ipcnsd: a namespace's inode number is not given to a new namespace while ipcnsd holds it" {
	local a ino ns i seen=() hit=
	"$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
		sh -c "ipcmk -M 4096 >/dev/null && touch $BATS_TEST_TMPDIR/made; exec sleep 60" 3>&- &
	a=$!
	wait_for 20 test -e "$BATS_TEST_TMPDIR/made"
	ino=$(readlink "/proc/$a/ns/ipc")
	ns=$(ns_of_pid "$a")
	kill -STOP "$IPCNSD_PID"
	# SIGSTOP takes each thread as it next runs: a worker already awake
	# would still see the hang-up of a killed process.
	wait_for 10 threads_stopped "$IPCNSD_PID"
	kill -KILL "$a"
	wait "$a" || true
	# Its number, once free, is the next one handed out: try for 2 s.
	for i in $(seq 20); do
		seen+=("$(unshare -i readlink /proc/self/ns/ipc)")
		[ "${seen[-1]}" = "$ino" ] && hit=1 && break
		sleep 0.1
	done
	kill -CONT "$IPCNSD_PID"
	[ -z "$hit" ] || fail "a new namespace got $ino while ipcnsd still served it (seen: ${seen[*]})"
	wait_for 10 ns_absent "$ns" || fail "ipcnsd still lists namespace $ino"
	run "$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- sh -c 'ipcs -m | grep -c "^0x"'
	assert_output 0
}
