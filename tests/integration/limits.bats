#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Limits from the OCI config's linux.sysctl and quotas from annotations
# (spec/annotations.md), applied by ipcnsd per namespace.

load helpers

# run_with RUNTIME NAME JQ-EDIT CMD...: a container whose config.json is
# edited by JQ-EDIT before it runs CMD under ipcns.
run_with() {
	local r=$1 name=$2 edit=$3 id rc=0 b
	shift 3
	need_runtime "$r"
	id=$(cid "$r" "$name")
	make_bundle "$name" "$@"
	b=$(bdir "$name")
	jq "$edit" "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
	ct_track "$r" "$id" "$name"
	shim "$r" run -b "$b" "$id" </dev/null || rc=$?
	rt "$r" delete -f "$id" >/dev/null 2>&1 || true
	return "$rc"
}

sysctl_shmmni() {
	run run_with "$1" a '.linux.sysctl = {"kernel.shmmni": "2"}' sh -c \
		'ipcmk -M 4096 && ipcmk -M 4096 && ipcmk -M 4096; echo "third: $?"; ipcs -m -l'
	assert_success
	assert_output --partial "No space left on device"
	assert_output --partial "third: 1"
	assert_output --regexp "max number of segments = 2"
}

@test "runc: kernel.shmmni from linux.sysctl bounds the segments" {
	sysctl_shmmni runc
}

@test "crun: kernel.shmmni from linux.sysctl bounds the segments" {
	sysctl_shmmni crun
}

@test "runc: kernel.sem and kernel.msgmni from linux.sysctl" {
	run run_with runc a '.linux.sysctl = {"kernel.sem": "8 100 4 2", "kernel.msgmni": "1"}' sh -c '
		ipcmk -S 9; echo "semmsl: $?"
		ipcmk -S 8 && ipcmk -S 8 && ipcmk -S 8; echo "semmni: $?"
		ipcmk -Q && ipcmk -Q; echo "msgmni: $?"
		ipcs -s -l; ipcs -q -l'
	assert_success
	assert_output --partial "semmsl: 1"
	assert_output --partial "semmni: 1"
	assert_output --partial "msgmni: 1"
	assert_output --regexp "max number of arrays = 2"
	assert_output --regexp "max semaphores per array = 8"
	assert_output --regexp "max ops per semop call = 4"
	assert_output --regexp "max queues system wide = 1"
}

@test "runc: the objects-per-uid quota gives ENOSPC and a log line naming the container" {
	local id
	id=$(cid runc q)
	run run_with runc q '.annotations = {"org.ipcns.objects-per-uid": "2"}' sh -c \
		'ipcmk -M 4096 && ipcmk -S 1; ipcmk -Q; echo "third: $?"'
	assert_success
	assert_output --partial "No space left on device"
	assert_output --partial "third: 1"
	run grep "objects per uid quota (2)" "$IPCNSD_LOG"
	assert_success
	assert_output --partial "$id"
}

@test "runc: the shared memory quota gives ENOSPC and a log line" {
	local id
	id=$(cid runc s)
	run run_with runc s '.annotations = {"org.ipcns.shm-bytes": "65536"}' sh -c \
		'ipcmk -M 32768 && ipcmk -M 32768; echo "within: $?"; ipcmk -M 1; echo "over: $?"'
	assert_success
	assert_output --partial "within: 0"
	assert_output --partial "over: 1"
	run grep "shared memory quota (65536 bytes)" "$IPCNSD_LOG"
	assert_success
	assert_output --partial "$id"
}

@test "runc: ipcnsctl ps shows the namespace's limits" {
	local id
	id=$(cid runc p)
	make_bundle p sh -c "ipcmk -M 4096 >/dev/null && touch $CT_XCHG/ready && while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done"
	jq '.linux.sysctl = {"kernel.shmmni": "7", "kernel.msgmnb": "4096"} | .annotations = {"org.ipcns.msg-bytes": "1000000"}' \
		"$(bdir p)/config.json" >"$(bdir p)/c.new" && mv "$(bdir p)/c.new" "$(bdir p)/config.json"
	ct_track runc "$id" p
	shim runc run -b "$(bdir p)" "$id" </dev/null >"$(bdir p)/out" 2>&1 &
	wait_for 100 test -e "$BATS_TEST_TMPDIR/xchg/ready"
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" --json ps
	assert_success
	local ns
	ns=$(jq -c --arg id "$id" '.namespaces[] | select(.containers[].id == $id)' <<<"$output")
	[ "$(jq .limits.shmmni <<<"$ns")" = 7 ]
	[ "$(jq .limits.msgmnb <<<"$ns")" = 4096 ]
	[ "$(jq .limits.quota_msg_bytes <<<"$ns")" = 1000000 ]
	[ "$(jq .usage.shm_ids <<<"$ns")" = 1 ]
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" ps
	assert_success
	assert_output --partial "$id"
	assert_output --partial "1/7"
	touch "$BATS_TEST_TMPDIR/xchg/go"
	wait
}

@test "runc: a partial kernel.sem keeps the other values, as the kernel's sysctl does" {
	run run_with runc k '.linux.sysctl = {"kernel.sem": "5 100 7"}' sh -c 'ipcs -s -l'
	assert_success
	assert_output --regexp "max semaphores per array = 5"
	assert_output --regexp "max semaphores system wide = 100"
	assert_output --regexp "max ops per semop call = 7"
	assert_output --regexp "max number of arrays = 32000"
}

@test "runc: a malformed quota annotation is refused with a log line naming it" {
	# runc passes annotations through untouched (a bad sysctl it refuses
	# itself); ipcnsd refuses the registration and the calls get ENOSYS.
	run run_with runc m '.annotations = {"org.ipcns.shm-bytes": "lots"}' sh -c 'ipcmk -M 4096; echo "rc: $?"'
	assert_success
	assert_output --partial "Function not implemented"
	assert_output --partial "rc: 1"
	run grep 'annotation org.ipcns.shm-bytes = "lots": not a number' "$IPCNSD_LOG"
	assert_success
}

@test "runc: kernel.shm_rmid_forced from linux.sysctl destroys a segment when its creator exits unattached" {
	run run_with runc f '.linux.sysctl = {"kernel.shm_rmid_forced": "1"}' sh -c \
		'ipcmk -M 4096 >/dev/null; ipcmk -M 8192 >/dev/null; echo "left: $(ipcs -m | grep -c "^0x")"'
	assert_success
	assert_output --partial "left: 0"
	run run_with runc g '.linux.sysctl = {"kernel.shm_rmid_forced": "0"}' sh -c \
		'ipcmk -M 4096 >/dev/null; echo "left: $(ipcs -m | grep -c "^0x")"'
	assert_success
	assert_output --partial "left: 1"
}
