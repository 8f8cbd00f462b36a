#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A 32-bit (i386) process in a container: its System V IPC calls, through
# the ipc(2) multiplexer or the direct calls of syscall_32.tbl, are
# trapped like the native ones and refused with ENOSYS by ipcnsd (which
# serves the native ABI only: spec/compatibility.md); none of them reaches
# the kernel's IPC namespace of the container.

load helpers

X=$BATS_TEST_TMPDIR/xchg # the host's side of CT_XCHG

# The probe, built for i386 without a C library; a skip where the
# compiler cannot.
build_probe() {
	gcc -m32 -O1 -nostdlib -static -fno-pic -fno-stack-protector -o "$X/ipc-probe32" \
		"$BATS_TEST_DIRNAME/compat32/ipc-probe32.c" 2>"$BATS_TEST_TMPDIR/cc.err" ||
		skip "no i386 build here: $(head -1 "$BATS_TEST_TMPDIR/cc.err")"
	# The kernel runs i386 programs (natively they are served).
	run unshare -i "$X/ipc-probe32"
	[ "$status" -eq 0 ] || skip "this kernel does not run i386 programs: $output"
	assert_output "$(printf '0\n0\n0\n1\n1\n1')"
}

compat32_refused() {
	local r=$1 pid
	need_runtime "$r"
	build_probe
	ct_start "$r" p sh -c "$CT_XCHG/ipc-probe32 >$CT_XCHG/probe.out 2>&1; echo \$? >$CT_XCHG/probe.rc;
		touch $CT_XCHG/p.ready; while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done"
	wait_ready "$r" p p.ready
	run cat "$X/probe.rc"
	assert_output 0
	# ENOSYS (38) for all six.
	run cat "$X/probe.out"
	assert_output "$(printf -- '-38\n-38\n-38\n-38\n-38\n-38')"
	# Nothing in the container's kernel IPC namespace.
	pid=$(ct_pid "$r" p)
	run nsenter -i -t "$pid" sh -c 'cat /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem | grep -vc "key"'
	assert_output 0
	touch "$X/go"
	run ct_wait "$r" p
	assert_output 0
}

@test "runc: a 32-bit process's System V IPC calls are refused with ENOSYS, and none reaches the kernel" {
	compat32_refused runc
}

@test "crun: a 32-bit process's System V IPC calls are refused with ENOSYS, and none reaches the kernel" {
	compat32_refused crun
}
