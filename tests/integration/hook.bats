#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ipcns-hook, invoked the way podman invokes OCI hooks (pkg/hooks/exec in
# podman 4.3): the stage as the one argument, an empty environment but for
# the hook's "env", the config (precreate) or the container state
# (poststop) on stdin, for precreate the new config read from stdout.
# tests/integration/hook-podman.bats runs the same hooks under podman.

bats_require_minimum_version 1.5.0
load helpers

HOOK=$IT_BUILD/bin/ipcns-hook

setup_file() {
	ipcns_setup_file
	[ -x "$HOOK" ] || {
		echo "missing $HOOK: run 'make all' first" >&2
		return 1
	}
}
teardown() {
	# A test that stopped ipcnsd must not leave it stopped.
	kill -CONT "$IPCNSD_PID" 2>/dev/null || true
	ipcns_teardown
}

# hook STAGE: as podman runs it (env -i: podman passes only hook.env).
hook() {
	env -i IPCNS_SOCKET="$IPCNS_SOCKET" "$HOOK" "$@"
}

# A config with rules that name IPC calls, a listener-less Docker-style
# profile: the edit must take them out and add its own rule.
docker_like_config() {
	jq '.linux.seccomp = {defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
		syscalls: [{names: ["read", "write", "shmget", "semop"], action: "SCMP_ACT_ALLOW"},
			   {names: ["msgget"], action: "SCMP_ACT_ERRNO", errnoRet: 1}]}' "$IT_DIR/base/config.json"
}

# poststop_state ID: the state podman gives poststop hooks.
poststop_state() {
	jq -cn --arg id "$1" --arg b "$BATS_TEST_TMPDIR" \
		'{ociVersion: "1.0.2-dev", id: $id, status: "stopped", bundle: $b, annotations: {"org.ipcns.enable": "true"}}'
}

@test "ipcns-hook precreate: writes the config ipcns-runtime makes of it" {
	local b=$BATS_TEST_TMPDIR/bundle
	mkdir -p "$b"
	for cfg in base docker; do
		if [ $cfg = base ]; then cp "$IT_DIR/base/config.json" "$b/config.json"; else docker_like_config >"$b/config.json"; fi
		run hook precreate <"$b/config.json"
		assert_success
		printf '%s' "$output" | jq -S . >"$BATS_TEST_TMPDIR/hook.json"
		# The shim edits the bundle in place, then runs the "runtime".
		IPCNS_RUNTIME=true "$IT_SHIM" create -b "$b" shimmed
		jq -S . "$b/config.json" >"$BATS_TEST_TMPDIR/shim.json"
		run diff -u "$BATS_TEST_TMPDIR/shim.json" "$BATS_TEST_TMPDIR/hook.json"
		assert_success
	done
	# And it is the edit: the notify rule, the listener, and, ipcnsd
	# serving the view from inside, the hook that mounts it with
	# /proc/sysvipc left unmasked (spec/view.md).
	run jq -c '[.linux.seccomp.listenerPath, (.linux.seccomp.syscalls | map(.names) | flatten | map(select(. == "shmget" or . == "msgget")) | length),
		(.linux.seccomp.syscalls[-1].action), (.linux.maskedPaths | index("/proc/sysvipc") != null),
		.hooks.createContainer[-1].args]' "$BATS_TEST_TMPDIR/hook.json"
	assert_output "[\"$IPCNS_SOCKET\",2,\"SCMP_ACT_NOTIFY\",false,[\"ipcns-hook\",\"mount\",\"--view\",\"${IPCNS_SOCKET%.sock}.view\"]]"
}

@test "ipcns-hook precreate: stdout is one JSON config and nothing else; the edit is idempotent" {
	docker_like_config >"$BATS_TEST_TMPDIR/in.json"
	hook precreate <"$BATS_TEST_TMPDIR/in.json" >"$BATS_TEST_TMPDIR/once.json" 2>"$BATS_TEST_TMPDIR/err"
	[ ! -s "$BATS_TEST_TMPDIR/err" ]
	# Exactly one value: jq -s would make an array of two.
	run jq -s length "$BATS_TEST_TMPDIR/once.json"
	assert_output 1
	hook precreate <"$BATS_TEST_TMPDIR/once.json" >"$BATS_TEST_TMPDIR/twice.json"
	cmp "$BATS_TEST_TMPDIR/once.json" "$BATS_TEST_TMPDIR/twice.json"
}

@test "ipcns-hook precreate: a config it refuses fails the hook, reason on stderr, nothing on stdout" {
	jq '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/run/other.sock"}' \
		"$IT_DIR/base/config.json" >"$BATS_TEST_TMPDIR/other.json"
	run --separate-stderr hook precreate <"$BATS_TEST_TMPDIR/other.json"
	assert_failure 1
	assert_output ""
	[[ $stderr == *"ipcns-hook: precreate: config.json already sets linux.seccomp.listenerPath to /run/other.sock; ipcns needs its own listener"* ]]

	run --separate-stderr hook precreate <<<'{"linux": '
	assert_failure 1
	assert_output ""
	[[ $stderr == *"ipcns-hook: precreate: the config on stdin is not valid JSON"* ]]
}

@test "ipcns-hook: the stage comes from its one argument" {
	run hook
	assert_failure 2
	assert_output --partial "Usage: ipcns-hook precreate|poststop"
	run hook prestart </dev/null
	assert_failure 2
	run hook poststop <<<'{"status": "stopped"}'
	assert_failure 1
	assert_output --partial 'ipcns-hook: poststop: the state on stdin has no "id"'
}

@test "ipcns-hook poststop: a container ipcnsd never saw is fine" {
	run hook poststop <<<"$(poststop_state never-registered)"
	assert_success
	assert_output ""
	# No ipcnsd at all: nothing to release either.
	IPCNS_SOCKET=$BATS_TEST_TMPDIR/none.sock run hook poststop <<<"$(poststop_state never-registered)"
	assert_success
	assert_output --partial "nothing to release"
}

@test "ipcns-hook poststop: a container whose processes live on is kept and still served" {
	local id
	need_runtime runc
	id=$(cid runc hold)
	ct_start runc hold "$CT_TOOLS/ipc-hold" 2 3
	wait_out runc hold '^READY'
	run hook poststop <<<"$(poststop_state "$id")"
	assert_success
	assert_output --partial "poststop: container $id still has 1 live notify fds in ipcnsd"
	grep -q "container $id: forget: 1 of its 1 notify fds still live; kept" "$IPCNSD_LOG"
	run ps_ns "$(ns_of_pid "$(ct_pid runc hold)")"
	assert_output --regexp '"shm_ids":2,"sem_ids":1,"msg_ids":1,.*"parked":2'
	rt runc kill "$id" KILL
	ct_wait runc hold
}

@test "ipcns-hook poststop: with the hang-up still pending, ipcnsd drops the parked calls and lets the container go" {
	local id
	need_runtime runc
	id=$(cid runc hold)
	ct_start runc hold "$CT_TOOLS/ipc-hold" 2 3
	wait_out runc hold '^READY'
	# Hold ipcnsd while the container dies, so that the hang-up of its
	# notify fd and the hook's forget reach it together.  The main thread
	# (forget) and the namespace's worker (the hang-up) then race: forget
	# either finds the container registered with a hung-up fd and drops
	# its parked calls, or finds it already gone; either way the hook
	# succeeds silently and the container is gone when it returns.
	kill -STOP "$IPCNSD_PID"
	rt runc kill "$id" KILL
	ct_wait runc hold
	hook poststop <<<"$(poststop_state "$id")" >"$BATS_TEST_TMPDIR/hook.out" 2>&1 &
	local hookpid=$!
	sleep 0.2
	kill -CONT "$IPCNSD_PID"
	wait "$hookpid"
	run cat "$BATS_TEST_TMPDIR/hook.out"
	assert_output ""
	# Two parked calls, one of which the exit of ipc-hold's init (its
	# SEM_UNDO) may have ended first.
	grep -qE "container $id: forget: 1 notify fds hung up, [12] parked calls dropped|container $id gone" \
		"$IPCNSD_LOG"
	# Gone by the time the hook returned.
	run ctl
	refute_output --partial "$id"
	ipcnsd_alive
}
