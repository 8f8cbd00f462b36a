#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ipcnsd under valgrind (memcheck, --leak-check=full): a mixed load of
# conformance programs (through ipcns-run) and runc and crun containers
# (one killed with SIGKILL while it holds a segment, a set and a queue, and
# workloads that create, share, park and remove objects), then SIGTERM.
# Pass: no memory error, no definitely lost block (valgrind's exit status
# and its summary).  The ASan/LSan build of ipcnsd is checked by the
# conformance run of make check (tests/run-all.sh).
#
# Valgrind 3.19 (Debian 12) does not implement pidfd_open (syscall 434):
# under it ipcnsd cannot watch processes exit, so SEM_UNDO semops fail
# with ENOSYS and exit-driven shm bookkeeping does not run.  The load here
# avoids those paths; the ASan run covers them.

load helpers

setup() {
	ipcns_setup
	file_daemon_save
	VG_PID=
}
teardown() {
	if [ -n "$VG_PID" ] && ipcnsd_alive "$VG_PID"; then
		kill -KILL "$VG_PID" 2>/dev/null || true
	fi
	file_daemon_restore
	ipcns_teardown
}

# Quick conformance programs whose paths do not need pidfds.
PROGS="msg_block msg_errno msg_kill shm_at shm_ctl shm_dt hostile_efault hostile_race hostile_ptrace"

@test "ipcnsd under valgrind: a mixed load leaves no memory error and no definite leak" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	local sock=$IT_DIR/vg.sock log=$IT_DIR/vg.log vglog=$IT_DIR/valgrind.log p i rc
	: >"$log"
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
		--suppressions="$BATS_TEST_DIRNAME/leaks.supp" --log-file="$vglog" \
		"$IT_BUILD/bin/ipcnsd" --socket "$sock" </dev/null >>"$log" 2>&1 3>&- &
	VG_PID=$!
	for i in $(seq 200); do
		"$IT_QUERY" "$sock" >/dev/null 2>&1 && break
		ipcnsd_alive "$VG_PID" || break
		sleep 0.1
	done
	"$IT_QUERY" "$sock" >/dev/null || fail "ipcnsd under valgrind did not come up: $(cat "$log" "$vglog")"
	export IPCNS_SOCKET=$sock IPCNSD_PID=$VG_PID IPCNSD_LOG=$log

	for p in $PROGS; do
		run env IPCNS_UNDER=1 timeout 120 "$IT_BUILD/tests/tools/ipcns-run" --socket "$sock" -- \
			"$IT_BUILD/tests/conformance/$p"
		[ "$status" -eq 0 ] || [ "$status" -eq 77 ] || fail "$p under valgrind's ipcnsd: $output"
	done

	if command -v runc >/dev/null; then
		ct_start runc hold "$HOSTILE" hold "$CT_XCHG/ids"
		wait_out runc hold "^HELD"
		rt runc kill "$(cid runc hold)" KILL
		run ct_wait runc hold
		assert_output 137
		run ct_run runc mixed "$HOSTILE" mixed 30
		assert_success
	fi
	if command -v crun >/dev/null; then
		run ct_run crun mixed "$HOSTILE" mixed 10
		assert_success
	fi
	run ctl
	assert_output --partial '"namespaces":[]'

	kill -TERM "$VG_PID"
	for i in $(seq 300); do
		ipcnsd_alive "$VG_PID" || break
		sleep 0.1
	done
	rc=0
	wait "$VG_PID" || rc=$?
	VG_PID=
	grep -E "ERROR SUMMARY|definitely lost|no leaks are possible" "$vglog" | sed 's/^==[0-9]*== /# /' >&3
	[ "$rc" -ne 99 ] || fail "valgrind found errors: $(grep -v '^--' "$vglog")"
	[ "$rc" -eq 0 ] || fail "ipcnsd exited with status $rc: $(tail -20 "$log")"
	grep -q "ERROR SUMMARY: 0 errors" "$vglog" || fail "$(cat "$vglog")"
	! grep -qE "definitely lost: [1-9]" "$vglog" || fail "$(cat "$vglog")"
}
