#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ipcnsctl, the operator's view: ps, ipcs, rm, --json, and its errors.

load helpers

CTL() { "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" "$@"; }

@test "runc: ipcnsctl ps, ipcs and rm on a running container" {
	need_runtime runc
	local id shm sem msg
	id=$(cid runc a)
	ct_start runc a sh -c "ipcmk -M 8192 -p 0640 >/dev/null && ipcmk -S 3 >/dev/null && ipcmk -Q >/dev/null &&
		touch $CT_XCHG/ready && while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done && ipcs -m && ipcs -s"
	wait_ready runc a ready

	run CTL ps
	assert_success
	assert_output --partial "NAMESPACE"
	assert_output --partial "$id"
	assert_output --partial "1/4096"
	# Sizes in kbytes as ipcs -l gives them, the kernel's default shmall
	# as "unlimited", and every row's columns under their heading.
	assert_output --partial " 8/unlimited "
	local hdr row
	hdr=$(grep '^NAMESPACE' <<<"$output")
	row=$(grep -F -- "$id" <<<"$output")
	[ "$(awk '{ print index($0, "SHM SEGMENTS") }' <<<"$hdr")" = "$(awk '{ print index($0, " 1/4096") + 1 }' <<<"$row")" ]
	[ "$(awk '{ print index($0, "PARKED") }' <<<"$hdr")" = "$(awk '{ print length($0) }' <<<"$row")" ]

	run CTL ipcs "$id"
	assert_success
	assert_output --partial "Container $id"
	assert_output --regexp "0x[0-9a-f]{8} +[0-9]+ +root +640 +8192 +0"
	assert_output --regexp "0x[0-9a-f]{8} +[0-9]+ +root +644 +3"

	run CTL --json ipcs "$id"
	assert_success
	shm=$(jq '.objects[] | select(.kind == "shm") | .id' <<<"$output")
	sem=$(jq '.objects[] | select(.kind == "sem") | .id' <<<"$output")
	msg=$(jq '.objects[] | select(.kind == "msg") | .id' <<<"$output")
	[ -n "$shm" ] && [ -n "$sem" ] && [ -n "$msg" ]

	run CTL rm "$id" shm "$shm"
	assert_success
	run CTL rm "$id" msg "$msg"
	assert_success
	run CTL rm "$id" msg "$msg"
	assert_failure
	assert_output --partial "no msg $msg in that container's namespace"
	run CTL --json ipcs "$id"
	[ "$(jq '[.objects[] | select(.kind != "sem")] | length' <<<"$output")" = 0 ]
	run grep "container $id: shm $shm removed by the operator" "$IPCNSD_LOG"
	assert_success

	# The container sees what the operator did.
	touch "$BATS_TEST_TMPDIR/xchg/go"
	run ct_wait runc a
	assert_output 0
	run cat "$(bdir a)/out"
	refute_output --partial "8192"
	assert_output --regexp "0x[0-9a-f]{8} +$sem +root +644 +3"
}

@test "ipcnsctl: clear errors for bad arguments, unknown containers and a daemon that is down" {
	run CTL ipcs no-such-container
	assert_failure
	assert_output --partial "no container 'no-such-container' is registered with ipcnsd"
	run CTL rm x shm notanumber
	assert_failure 2
	assert_output --partial "'notanumber' is not an IPC id"
	run CTL rm x pipe 1
	assert_failure 2
	assert_output --partial "kind must be shm, sem or msg"
	run CTL frobnicate
	assert_failure 2
	assert_output --partial "unknown command"
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IT_DIR/nothing-here.sock" ps
	assert_failure 1
	assert_output --partial "ipcnsd is not running at $IT_DIR/nothing-here.sock"
}
