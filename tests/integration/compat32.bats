#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A 32-bit (i386) process in a container: its System V IPC calls, through
# the ipc(2) multiplexer or the direct calls of syscall_32.tbl, are served
# by ipcnsd as Linux's compat layer serves them natively (the compat
# structures, a 4-byte mtype, shmat's mapping made by i386 calls below
# 4 GiB), and none of them reaches the kernel's IPC namespace of the
# container.  x32 calls get ENOSYS, as from this kernel natively when it
# has no x32 ABI.  The 32-bit conformance programs (conformance.bats) check
# the semantics at length.

load helpers

X=$BATS_TEST_TMPDIR/xchg # the host's side of CT_XCHG

# The probe, built for i386 without a C library; a skip where the
# compiler cannot.  Its output natively, in a fresh IPC namespace.
build_probe() {
	gcc -m32 -O1 -nostdlib -static -fno-pic -fno-stack-protector -o "$X/ipc-probe32" \
		"$BATS_TEST_DIRNAME/compat32/ipc-probe32.c" 2>"$BATS_TEST_TMPDIR/cc.err" ||
		skip "no i386 build here: $(head -1 "$BATS_TEST_TMPDIR/cc.err")"
	run unshare -i "$X/ipc-probe32"
	[ "$status" -eq 0 ] || skip "this kernel does not run i386 programs: $output"
	# ids 0 and 1 of each kind, a 3-byte message back, two attaches
	# (nattch 2), two detaches.
	assert_output "$(printf '%s\n' 0 0 0 1 1 1 3 1 1 0 1 2 0 0)"
	native=$output
}

compat32_served() {
	local r=$1 pid
	need_runtime "$r"
	build_probe
	ct_start "$r" p sh -c "$CT_XCHG/ipc-probe32 >$CT_XCHG/probe.out 2>&1; echo \$? >$CT_XCHG/probe.rc;
		touch $CT_XCHG/p.ready; while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done"
	wait_ready "$r" p p.ready
	run cat "$X/probe.rc"
	assert_output 0
	# What the program saw natively.
	run cat "$X/probe.out"
	assert_output "$native"
	# Served by ipcnsd: nothing in the container's kernel IPC namespace.
	pid=$(ct_pid "$r" p)
	run nsenter -i -t "$pid" sh -c 'cat /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem | grep -vc "key"'
	assert_output 0
	touch "$X/go"
	run ct_wait "$r" p
	assert_output 0
}

@test "runc: a 32-bit process's System V IPC calls are served as natively, none reaching the kernel" {
	compat32_served runc
}

@test "crun: a 32-bit process's System V IPC calls are served as natively, none reaching the kernel" {
	compat32_served crun
}

x32_enosys() {
	local r=$1
	need_runtime "$r"
	gcc -O1 -static -o "$X/x32-probe" "$BATS_TEST_DIRNAME/compat32/x32-probe.c"
	run unshare -i "$X/x32-probe"
	assert_success
	[ "$output" = "$(printf '%s\n' -38 -38 -38)" ] || skip "this kernel runs x32 programs (CONFIG_X86_X32_ABI): $output"
	run ct_run "$r" x "$CT_XCHG/x32-probe"
	assert_success
	assert_output "$(printf '%s\n' -38 -38 -38)"
}

@test "runc: x32 System V IPC calls get ENOSYS, as from this kernel natively" {
	x32_enosys runc
}

@test "crun: x32 System V IPC calls get ENOSYS, as from this kernel natively" {
	x32_enosys crun
}
