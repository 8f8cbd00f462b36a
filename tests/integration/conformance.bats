#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Every conformance program (build/tests/conformance/*) passes inside a
# container, each in a container of its own (conformance_programs in
# helpers.bash); one test per runtime runs them all.

load helpers

@test "runc: every conformance program passes inside a container" {
	need_runtime runc
	conformance_programs runc ct_run runc
}

@test "crun: every conformance program passes inside a container" {
	need_runtime crun
	conformance_programs crun ct_run crun
}

# The same programs built as i386 programs (the Makefile's CONF32): served
# through the compat ABI (spec/compatibility.md).
need_m32() {
	ls "$IT_BUILD"/tests/conformance/*.m32 >/dev/null 2>&1 ||
		skip "no 32-bit conformance programs: no i386 toolchain (gcc -m32 -static; Debian's gcc-multilib)"
}

@test "runc: every 32-bit (i386) conformance program passes inside a container" {
	need_runtime runc
	need_m32
	CONF_M32=1 conformance_programs runc-m32 ct_run runc
}

@test "crun: every 32-bit (i386) conformance program passes inside a container" {
	need_runtime crun
	need_m32
	CONF_M32=1 conformance_programs crun-m32 ct_run crun
}

# A container with a user namespace (ids 0..65535 are host 200000..): the
# owners and creators IPC_STAT shows, and those IPC_SET takes, are the
# container's ids (ipcnsd keeps host ids), in the container and in a user
# namespace nested in it.
@test "runc: ids_userns passes inside a container with a user namespace" {
	need_runtime runc
	BUNDLE_USERNS=200000 BUNDLE_CAPS=all BUNDLE_ENV="IPCNS_UNDER=1" \
		run ct_run runc ids "$CT_BUILD/tests/conformance/ids_userns"
	assert_success
	assert_output --partial "ok - ids_userns"
}

@test "crun: ids_userns passes inside a container with a user namespace" {
	need_runtime crun
	BUNDLE_USERNS=200000 BUNDLE_CAPS=all BUNDLE_ENV="IPCNS_UNDER=1" \
		run ct_run crun ids "$CT_BUILD/tests/conformance/ids_userns"
	assert_success
	assert_output --partial "ok - ids_userns"
}
