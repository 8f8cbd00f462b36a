#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ipcnsd restarts (SIGTERM, then a new ipcnsd) and crashes (SIGKILL, then a
# new ipcnsd) while containers use System V IPC, and they see nothing but a
# pause (spec/lifecycle.md).  ipcns-keeper holds the listening socket, the
# containers' notify fds, the segments' memfds and each namespace's state;
# the new ipcnsd takes them over.
#
# The container side is ipc-restart.c: a msgsnd/msgrcv stream with
# sequence numbers, a semaphore held with SEM_UNDO and a caller parked on
# it, a segment attached by two processes and written.

load helpers

setup() { own_daemon_setup; }
teardown() { own_daemon_teardown; }

X=$BATS_TEST_TMPDIR/xchg
RESTART=$CT_BUILD/tests/integration/ipc-restart

# What ipcnsctl shows of namespace NS that a restart must keep: its
# containers, objects, fds and limits (the stream's bytes in flight and
# the memory they take, its parked calls and the daemon's own counters
# change all the time).
ns_view() {
	ps_ns "$1" | jq -c 'del(.usage.msg_bytes, .usage.msg_count, .usage.parked, .usage.mem_bytes, .busy, .usage_age_ms, .calls, .rescans, .rescan_us, .window_checks, .window_check_us, .journal_bytes, .tracking_bytes)'
}

# daemon_goes HOW: ipcnsd stops (TERM) or dies (KILL); the keeper stays.
daemon_goes() {
	if [ "$1" = TERM ]; then
		ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG" handover
	else
		kill -KILL "$OWN_PID"
		wait_for 10 eval '! ipcnsd_alive '"$OWN_PID"
	fi
	[ -S "$IPCNS_SOCKET" ] || fail "the socket went with ipcnsd"
	pgrep -f "ipcns-keeper --socket $IPCNS_SOCKET" >/dev/null || fail "no keeper"
}

# restart_keeps RT HOW: a container runs the stream, the parked semop and
# the segment while ipcnsd goes (HOW) and a new one starts.
restart_keeps() {
	local r=$1 how=$2 name=restart-$1-$2 pid ns before after
	need_runtime "$r"
	own_daemon "$name"
	ct_start "$r" a "$RESTART" "$CT_XCHG"
	wait_ready "$r" a ready
	touch "$X/snap1-req"
	wait_ready "$r" a snap1
	pid=$(ct_pid "$r" a)
	ns=$(ns_of_pid "$pid")
	before=$(ns_view "$ns")
	[ "$(jq -r .usage.parked <<<"$(ps_ns "$ns")")" -ge 1 ] || fail "no parked call before the restart"

	daemon_goes "$how"
	# The gap: the stream's calls wait in the kernel.
	sleep 0.5
	own_daemon "$name"
	grep -q "took over 1 of 1 containers' notify fds and 1 namespaces' states" "$IPCNSD_LOG"

	# Every value and count as before; ipcnsctl shows the same.
	touch "$X/snap2-req"
	wait_ready "$r" a snap2
	run diff "$X/snap1" "$X/snap2"
	assert_success
	after=$(ns_view "$ns")
	[ "$before" = "$after" ] || fail "ipcnsctl before: $before"$'\n'"after:  $after"

	# The stream goes on through the new ipcnsd; then the holder exits
	# (its undo wakes the parked caller), the child checks the segment.
	sleep 1
	touch "$X/finish"
	wait_ready "$r" a done 60
	[ ! -e "$X/errors" ] || fail "errors in the container: $(cat "$X/errors")"
	run cat "$X/final"
	assert_output "holder = ok
waiter = ok
shm child = ok
producer = ok
consumer = ok
sem0 = 1
sem1 = 5
sem0 ncnt = 0
shm nattch = 1
shm pattern = intact"
	run cat "$X/stream"
	assert_output --regexp '^stream = [0-9]+ messages in order$'
	echo "# $r $how: $output" >&3
	run ct_wait "$r" a
	assert_output 0
}

@test "runc: SIGTERM + start while a stream runs, a semop is parked and a segment attached: nothing lost" {
	restart_keeps runc TERM
}

@test "crun: SIGTERM + start while a stream runs, a semop is parked and a segment attached: nothing lost" {
	restart_keeps crun TERM
}

@test "runc: SIGKILL + start while a stream runs, a semop is parked and a segment attached: nothing lost" {
	restart_keeps runc KILL
}

@test "crun: SIGKILL + start while a stream runs, a semop is parked and a segment attached: nothing lost" {
	restart_keeps crun KILL
}

# signal_in_gap RT CALL HOW [stop]: a container whose init waits in CALL
# (msgrcv or semop) with a signal() SIGTERM handler (SA_RESTART); ipcnsd
# goes (HOW), the container gets SIGTERM while no ipcnsd runs (the
# handler runs, the kernel restarts the call, which waits in the keeper's
# notify fd), then a new ipcnsd starts: the call must fail with EINTR as
# natively, once.  With `stop', the init is stopped and continued instead
# while no ipcnsd runs, and gets SIGTERM once the new one serves: a semop
# fails with EINTR at the stop too (and calls again), a msgrcv goes on
# waiting (spec/compatibility.md, "Signals").  The watch's rings go on
# recording while no ipcnsd runs (the keeper maps them); the parked
# call's record goes with the journal.
signal_in_gap() {
	local r=$1 call=$2 how=$3 stop=${4:-} name id calls
	name=gap-$r-$call-$how
	need_runtime "$r"
	own_daemon "$name"
	id=$(cid "$r" d)
	ct_start "$r" d "$CT_TOOLS/sig-park" daemon "$call"
	wait_out "$r" d READY
	wait_for 10 test "$(state_of "$r" d)" = S
	sleep 0.3
	daemon_goes "$how"
	if [ -n "$stop" ]; then
		rt "$r" kill "$id" STOP
		wait_for 10 test "$(state_of "$r" d)" = T
		rt "$r" kill "$id" CONT
	else
		rt "$r" kill "$id" TERM
	fi
	sleep 0.5
	# No ipcnsd: the restarted call waits in the kernel.
	[ "$(ct_status "$r" d)" = running ] || fail "the container did not wait for ipcnsd"
	own_daemon "$name"
	if [ -n "$stop" ]; then
		sleep 0.5
		rt "$r" kill "$id" TERM
	fi
	run ct_wait "$r" d 10
	assert_success
	assert_output 42
	calls=1
	[ "$stop" = stop ] && [ "$call" = semop ] && calls=2
	run cat "$(bdir d)/out"
	assert_output --partial "stopped after $calls calls, the handler run 1 times"
}

@test "runc: a handler run while ipcnsd is SIGKILLed ends a parked msgrcv with EINTR" {
	signal_in_gap runc msgrcv KILL
}

@test "runc: a handler run while ipcnsd restarts (SIGTERM) ends a parked msgrcv with EINTR" {
	signal_in_gap runc msgrcv TERM
}

@test "runc: a handler run while ipcnsd is SIGKILLed ends a parked semop with EINTR" {
	signal_in_gap runc semop KILL
}

@test "runc: a handler run while ipcnsd restarts (SIGTERM) ends a parked semop with EINTR" {
	signal_in_gap runc semop TERM
}

@test "crun: a handler run while ipcnsd is SIGKILLed ends a parked msgrcv with EINTR" {
	signal_in_gap crun msgrcv KILL
}

@test "crun: a handler run while ipcnsd restarts (SIGTERM) ends a parked semop with EINTR" {
	signal_in_gap crun semop TERM
}

@test "runc: a parked semop stopped and continued while ipcnsd is SIGKILLed fails with EINTR" {
	signal_in_gap runc semop KILL stop
}

@test "crun: a parked msgrcv stopped and continued while ipcnsd restarts waits on" {
	signal_in_gap crun msgrcv TERM stop
}

# The same container side as a 32-bit (i386) program: its parked calls
# (ipc(2) ones, a msgbuf with a 4-byte mtype) are served as such by the
# new ipcnsd.
@test "runc: SIGKILL + start while a 32-bit program's stream runs, a semop is parked and a segment attached: nothing lost" {
	[ -x "$IT_BUILD/tests/integration/ipc-restart.m32" ] || skip "no i386 toolchain (gcc -m32 -static)"
	RESTART=$RESTART.m32 restart_keeps runc KILL
}

# A 32-bit program's msgrcv (its msgbuf's mtype 4 bytes) parked while
# ipcnsd is SIGKILLed: the new ipcnsd delivers into it as a 32-bit call.
@test "runc: a 32-bit program's msgrcv parked while ipcnsd is SIGKILLed gets its message from the new ipcnsd" {
	[ -x "$IT_BUILD/tests/integration/park32.m32" ] || skip "no i386 toolchain (gcc -m32 -static)"
	need_runtime runc
	own_daemon park32
	ct_start runc a "$CT_BUILD/tests/integration/park32.m32" "$CT_XCHG"
	wait_ready runc a ready
	local ns
	ns=$(ns_of_pid "$(ct_pid runc a)")
	[ "$(jq -r .usage.parked <<<"$(ps_ns "$ns")")" -eq 1 ] || fail "no parked msgrcv"
	daemon_goes KILL
	own_daemon park32
	touch "$X/go"
	wait_ready runc a done 30
	run cat "$X/out"
	assert_output "6 6 parked"
	run ct_wait runc a
	assert_output 0
}

# keeper_fds_rss: the keeper's open fds and resident KiB.
keeper_fds_rss() {
	local kp
	kp=$(pgrep -f "ipcns-keeper --socket $IPCNS_SOCKET") || return 1
	echo "$(find "/proc/$kp/fd" -mindepth 1 | wc -l) $(awk '/^VmRSS/ {print $2}' "/proc/$kp/status")"
}

@test "runc: 50 SIGKILL + start in a row under load: the state exact, the keeper does not grow" {
	need_runtime runc
	local name=restart-loop i pid ns before after k5 k50
	own_daemon "$name"
	ct_start runc a "$RESTART" "$CT_XCHG"
	wait_ready runc a ready
	touch "$X/snap1-req"
	wait_ready runc a snap1
	pid=$(ct_pid runc a)
	ns=$(ns_of_pid "$pid")
	before=$(ns_view "$ns")
	for i in $(seq 50); do
		daemon_goes KILL
		own_daemon "$name"
		[ "$i" = 5 ] && k5=$(keeper_fds_rss)
		# Let the stream run through each ipcnsd a little.
		sleep 0.1
	done
	k50=$(keeper_fds_rss)
	touch "$X/snap2-req"
	wait_ready runc a snap2
	run diff "$X/snap1" "$X/snap2"
	assert_success
	after=$(ns_view "$ns")
	[ "$before" = "$after" ] || fail "ipcnsctl before: $before"$'\n'"after:  $after"
	# The keeper holds the same fds after 5 and 50 takeovers, and no
	# more memory (a page of slack for the allocator).
	[ "${k5% *}" = "${k50% *}" ] || fail "keeper fds: $k5 after 5 takeovers, $k50 after 50"
	[ "${k50#* }" -le $((${k5#* } + 4)) ] || fail "keeper VmRSS (KiB): ${k5#* } after 5 takeovers, ${k50#* } after 50"
	touch "$X/finish"
	wait_ready runc a done 60
	[ ! -e "$X/errors" ] || fail "errors in the container: $(cat "$X/errors")"
	run cat "$X/stream"
	assert_output --regexp '^stream = [0-9]+ messages in order$'
	echo "# 50 kills: $output; keeper fds/KiB after 5: $k5, after 50: $k50" >&3
	run grep -c "took over 1 of 1 containers' notify fds and 1 namespaces' states" "$IPCNSD_LOG"
	assert_output 50
}

# ---- PostgreSQL across a SIGKILL of ipcnsd (as clients.bats runs it: the
# server as user postgres, System V shared memory for both the main and
# the dynamic segments; pgbench mixes TPC-B transactions with a parallel
# query, whose workers each attach a new dynamic segment).
write_pgbench_script() {
	cat >"$X/pgk.sh" <<'EOF'
set -eu
bin=$1 dir=$2 sync=$3 secs=$4
. "$(dirname "$0")/pg-cluster.sh"
pg_cluster "$bin" "$dir"
pg_parallel_sql "select count(*) from pgbench_accounts;" >"$dir/par.sql"
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start
pg "$bin/pgbench" -h "$dir" -U postgres -i -s 1 -q postgres 2>&1 | tail -1
touch "$sync/pg.ready"
pg "$bin/pgbench" -h "$dir" -U postgres -T "$secs" -c 4 -j 2 -b tpcb-like@9 -f "$dir/par.sql@1" postgres 2>&1 |
	grep -E '^(number of transactions actually processed|number of failed transactions|tps)'
pg "$bin/pg_ctl" -D "$dir/data" -w -t 60 stop -m fast
EOF
}

@test "runc: pgbench across a SIGKILL + start of ipcnsd: no failed transaction" {
	need_runtime runc
	pg_prepare
	own_daemon restart-pg
	write_pgbench_script
	BUNDLE_CAPS=all ct_start runc pg sh "$CT_XCHG/pgk.sh" "$PGBIN" "$CT_XCHG/pg" "$CT_XCHG" 12
	wait_ready runc pg pg.ready 120
	# pgbench runs for 12 s: ipcnsd is killed 4 s into it and started
	# again half a second later.
	sleep 4
	daemon_goes KILL
	sleep 0.5
	own_daemon restart-pg
	run ct_wait runc pg 120
	assert_output 0
	run cat "$(bdir pg)/out"
	assert_line "number of failed transactions: 0 (0.000%)"
	assert_line --regexp '^tps = [0-9]+\.[0-9]+ '
	echo "# pgbench across a SIGKILL of ipcnsd: $(grep -E '^(tps|number of trans)' "$(bdir pg)/out" | tr '\n' ' ')" >&3
	run grep -E 'WARNING|ERROR|FATAL|PANIC|could not' "$X/pg/postgres.log"
	assert_output ""
}

@test "a container created while no ipcnsd runs waits in the keeper's backlog and is served" {
	need_runtime runc
	own_daemon restart-gap
	# A container keeps the keeper busy (with no container it would also
	# stay, for its grace period).
	ct_start runc a sleep 60
	daemon_goes TERM
	ct_run runc b sh -c 'ipcmk -Q >/dev/null && ipcs -q | grep -c "^0x"' >"$BATS_TEST_TMPDIR/b.out" 2>&1 3>&- &
	local bpid=$!
	sleep 1
	# Still waiting: its runtime's connection is in the backlog and its
	# ipcmk in the kernel.
	kill -0 "$bpid" || fail "the container did not wait: $(cat "$BATS_TEST_TMPDIR/b.out")"
	own_daemon restart-gap
	wait "$bpid" || fail "the container failed: $(cat "$BATS_TEST_TMPDIR/b.out")"
	run cat "$BATS_TEST_TMPDIR/b.out"
	assert_output 1
}

@test "a state of a newer format is refused with a message, untouched, and taken over by the ipcnsd that knows it" {
	need_runtime runc
	own_daemon restart-version
	ct_start runc a "$RESTART" "$CT_XCHG"
	wait_ready runc a ready
	touch "$X/snap1-req"
	wait_ready runc a snap1
	daemon_goes TERM
	# The state memfd the keeper holds: its format version (after the
	# 8-byte magic) set to one no ipcnsd knows.
	local kp fd off
	kp=$(pgrep -f "ipcns-keeper --socket $IPCNS_SOCKET")
	fd=$(find "/proc/$kp/fd" -lname '/memfd:ipcns-state*' | head -1)
	[ -n "$fd" ] || fail "no state memfd in the keeper"
	off=$(grep -obUaP 'IPCNS(IMG|JNL)' "$fd" | head -1 | cut -d: -f1)
	cp "$fd" "$BATS_TEST_TMPDIR/state.orig"
	printf '\x63\x00\x00\x00' | dd of="$fd" bs=1 seek=$((off + 8)) conv=notrunc status=none
	cp "$fd" "$BATS_TEST_TMPDIR/state.patched"

	it_daemon_bin
	run "$IT_DAEMON_BIN" --socket "$IPCNS_SOCKET"
	assert_failure 1
	assert_output --regexp "format (version )?99 is newer than this ipcnsd knows"
	assert_output --partial "nothing was changed"
	# Untouched: byte for byte, and the keeper still holds everything.
	cmp "$fd" "$BATS_TEST_TMPDIR/state.patched"
	pgrep -f "ipcns-keeper --socket $IPCNS_SOCKET" >/dev/null

	# The ipcnsd that knows the format (here: the same state, version put
	# back) takes it over with nothing lost.
	dd if="$BATS_TEST_TMPDIR/state.orig" of="$fd" conv=notrunc status=none
	own_daemon restart-version
	touch "$X/snap2-req"
	wait_ready runc a snap2
	run diff "$X/snap1" "$X/snap2"
	assert_success
	touch "$X/finish"
	wait_ready runc a done 60
	[ ! -e "$X/errors" ] || fail "errors in the container: $(cat "$X/errors")"
}

@test "ipcnsctl shutdown: ipcnsd and its keeper stop for good, running containers get ENOSYS" {
	need_runtime runc
	own_daemon restart-shutdown
	ct_start runc a sh -c 'ipcmk -Q >/dev/null; touch /xchg/one; while [ ! -e /xchg/go ]; do sleep 0.1; done; ipcmk -Q 2>&1; touch /xchg/two'
	wait_ready runc a one
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" shutdown
	assert_success
	wait_for 10 eval '! ipcnsd_alive '"$OWN_PID"
	wait_for 10 eval '! pgrep -f "ipcns-keeper --socket $IPCNS_SOCKET" >/dev/null'
	[ ! -e "$IPCNS_SOCKET" ] || fail "the socket stayed"
	touch "$X/go"
	wait_ready runc a two
	run cat "$(bdir a)/out"
	assert_output --partial "Function not implemented"
}

# Hole 1 across a restart: a read-only attacher that kept a hugetlb
# segment's file (a sibling thread's dup in the moment shmat had it
# installed) tries to reopen it read-write while no ipcnsd runs.  The
# fanotify group guarding hugetlb files stays with the keeper with its
# marks, so the open waits for the next ipcnsd, which refuses it
# (spec/security.md).  Before, a clean SIGTERM handover took the marks off
# (freeing the namespaces) and the open succeeded at once.
kept_hugetlb_file() {
	local how=$1 out=$BATS_TEST_TMPDIR/kept.out pid rc=0
	own_daemon "guard-$how"
	"$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" -- \
		"$IT_BUILD/tests/integration/huge-kept" "$X/kept" "$X/go" >"$out" 2>&1 3>&- &
	pid=$!
	wait_for 60 eval "test -e $X/kept || ! kill -0 $pid 2>/dev/null"
	if [ ! -e "$X/kept" ]; then
		wait "$pid" || rc=$?
		[ "$rc" -eq 77 ] && skip "$(cat "$out")"
		fail "huge-kept ended with $rc: $(cat "$out")"
	fi
	daemon_goes "$how"
	touch "$X/go"
	sleep 0.5
	own_daemon "guard-$how"
	wait "$pid" || rc=$?
	run cat "$out"
	echo "# $how: $output" >&3
	assert_output --partial "reopen O_RDWR while no ipcnsd ran: Operation not permitted"
	[ "$rc" -eq 0 ]
}

@test "a kept read-only file of a hugetlb segment cannot be reopened for writing while ipcnsd restarts (SIGTERM)" {
	kept_hugetlb_file TERM
}

@test "a kept read-only file of a hugetlb segment cannot be reopened for writing while ipcnsd is SIGKILLed and started" {
	kept_hugetlb_file KILL
}
