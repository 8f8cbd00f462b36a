#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The view from inside (spec/view.md): /proc/sysvipc/{shm,sem,msg} and the
# IPC sysctls of a container show its own namespace, as Linux shows a
# kernel IPC namespace's, in runc and crun containers.

load helpers

setup_file() {
	# Ceilings for the refusal tests; the defaults stay below them.
	export IPCNSD_EXTRA_ARGS="--ceiling kernel.msgmnb=1048576 --ceiling kernel.shmmni=8192"
	ipcns_setup_file
}
setup() { own_daemon_setup; }
teardown() {
	# A swap file of the test's own (swap_on) goes whatever the outcome.
	[ -z "${SWAPFILE:-}" ] || swapoff "$SWAPFILE" 2>/dev/null || true
	own_daemon_teardown
}

OBJECTS=$CT_TOOLS/view-objects

# normalise: the text with what must differ between two runs replaced:
# non-zero times (the second they fall in) and the pid of view-objects'
# child in its pid namespace (what else ran there first differs); each
# line's length kept, so the columns are compared too.  Both runs are the
# first process (pid 1) of a pid namespace of their own: the pids are
# compared as the reader's pid namespace numbers them.
normalise() {
	awk '
	/^child / { c = $2; next }
	/^pids:/ { for (i = 2; i <= NF; i++) if ($i == c) $i = "C"; print; next }
	/^ *key/ { kind = $2; print length($0) " " $0; next }
	{
		if (kind == "shmid") { p[5]; p[6]; t[12]; t[13]; t[14] }
		if (kind == "semid") { t[9]; t[10] }
		if (kind == "msqid") { p[6]; p[7]; t[12]; t[13]; t[14] }
		n = length($0)
		for (i = 1; i <= NF; i++) {
			if ((i in p) && $i == c) $i = "C"
			if ((i in t) && $i != 0) $i = "T"
		}
		print n " " $0
		delete p; delete t
	}'
}

sysvipc_same() {
	local r=$1 native
	need_runtime "$r"
	native=$(unshare -i -p -f "$IT_BUILD/tests/integration/view-objects" | normalise)
	[ -n "$native" ]
	run ct_run "$r" a "$OBJECTS"
	assert_success
	echo "$output" | normalise >"$BATS_TEST_TMPDIR/ct"
	echo "$native" >"$BATS_TEST_TMPDIR/native"
	diff -u "$BATS_TEST_TMPDIR/native" "$BATS_TEST_TMPDIR/ct"
}

@test "runc: /proc/sysvipc/* and IPC_STAT pids in a container are the kernel's for the same objects" {
	sysvipc_same runc
}

@test "crun: /proc/sysvipc/* and IPC_STAT pids in a container are the kernel's for the same objects" {
	sysvipc_same crun
}

ipcs_path() {
	need_runtime "$1"
	# util-linux reads /proc/sysvipc when it is there: the container's
	# objects, with their keys; lsipc the same.
	run ct_run "$1" a sh -c 'ipcmk -M 4096 -p 0600 >/dev/null; ipcmk -Q >/dev/null;
		ls /proc/sysvipc; ipcs -m; lsipc -m --raw --noheadings -o KEY,ID,PERMS,SIZE; ipcs -q | wc -l'
	assert_success
	assert_output --partial "msg"
	assert_output --regexp "0x[0-9a-f]{8} +0 +root +600 +4096"
	assert_output --regexp "0x[0-9a-f]{8} 0 rw------- 4K"
}

@test "runc: ipcs and lsipc read the container's /proc/sysvipc" {
	ipcs_path runc
}

@test "crun: ipcs and lsipc read the container's /proc/sysvipc" {
	ipcs_path crun
}

sysctl_rw() {
	need_runtime "$1"
	run ct_run "$1" a sh -c '
		for f in shmmax shmall shmmni shm_rmid_forced sem msgmax msgmnb msgmni shm_next_id sem_next_id msg_next_id; do
			printf "%s=%s\n" $f "$(cat /proc/sys/kernel/$f)"
		done
		sysctl kernel.sem
		echo 8192 > /proc/sys/kernel/shmmax; echo "write: $?"
		cat /proc/sys/kernel/shmmax
		ipcmk -M 8193; echo "above: $?"
		ipcmk -M 8192 >/dev/null; echo "at: $?"
		sysctl -w kernel.sem="4 100 8 16" >/dev/null; echo "sem: $?"
		ipcmk -S 5; echo "semmsl: $?"
		ipcs -l | grep -E "max (seg size|semaphores per array)"
		echo 40000 > /proc/sys/kernel/msgmni; echo "range: $?"
		echo 2000000 > /proc/sys/kernel/msgmnb; echo "ceiling: $?"
		cat /proc/sys/kernel/msgmnb
		echo 5 > /proc/sys/kernel/shm_next_id; echo "next_id: $?"' 2>&1
	assert_success
	assert_output --partial "shmmax=18446744073692774399"
	assert_output --partial "shmall=18446744073692774399"
	assert_output --partial "shmmni=4096"
	assert_output --partial "shm_rmid_forced=0"
	assert_output --partial "sem=32000	1024000000	500	32000"
	assert_output --partial "msgmax=8192"
	assert_output --partial "msgmnb=16384"
	assert_output --partial "msgmni=32000"
	assert_output --partial "shm_next_id=-1"
	assert_output --partial "kernel.sem = 32000	1024000000	500	32000"
	assert_output --partial "write: 0"
	assert_output --partial $'\n8192\n'
	assert_output --partial "above: 1"
	assert_output --partial "at: 0"
	assert_output --partial "sem: 0"
	assert_output --partial "semmsl: 1"
	assert_output --regexp "max seg size \(kbytes\) = 8"
	assert_output --regexp "max semaphores per array = 4"
	assert_output --regexp "Invalid argument"
	assert_output --partial "range: 1"
	assert_output --partial "ceiling: 1"
	assert_output --partial $'\n16384\n'
	# *_next_id: read-only without CAP_CHECKPOINT_RESTORE or
	# CAP_SYS_ADMIN (runc spec's default capabilities).
	assert_output --regexp "shm_next_id: Permission denied"
	assert_output --regexp "next_id: [1-9]"
	# The refusal above the ceiling is logged.
	run grep -c "kernel.msgmnb = 2000000 is above the operator's ceiling 1048576" "$IPCNSD_LOG"
	assert_output --regexp '^[1-9]'
	# The host's own values did not move.
	[ "$(cat /proc/sys/kernel/shmmax)" = 18446744073692774399 ]
}

@test "runc: the IPC sysctls read, written and obeyed; out of range and above the ceiling refused" {
	sysctl_rw runc
}

@test "crun: the IPC sysctls read, written and obeyed; out of range and above the ceiling refused" {
	sysctl_rw crun
}

@test "runc: writes change the container's namespace only" {
	need_runtime runc
	ct_start runc a sh -c 'echo 4096 > /proc/sys/kernel/shmmax && touch /xchg/a && sleep 30'
	wait_ready runc a a
	run ct_run runc b cat /proc/sys/kernel/shmmax
	assert_success
	assert_output "18446744073692774399"
}

unprivileged() {
	need_runtime "$1"
	# A non-root writer: open for writing refused (EACCES) as on Linux,
	# reading allowed.
	BUNDLE_CAPS=all run ct_run "$1" a sh -c '
		setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "echo 4096 > /proc/sys/kernel/shmmax; echo rc=\$?; cat /proc/sys/kernel/shmmni"
		cat /proc/sys/kernel/shmmax' 2>&1
	assert_success
	assert_output --regexp "shmmax: Permission denied"
	assert_output --regexp "rc=[12]"
	assert_output --partial "4096"
	assert_output --partial "18446744073692774399"
}

@test "runc: an unprivileged writer is refused" {
	unprivileged runc
}

@test "crun: an unprivileged writer is refused" {
	unprivileged crun
}

next_id() {
	need_runtime "$1"
	# With CAP_SYS_ADMIN (checkpoint/restore's case) the next object gets
	# the id written, once.
	BUNDLE_CAPS=all run ct_run "$1" a sh -c '
		echo 98317 > /proc/sys/kernel/msg_next_id; echo "w: $?"
		cat /proc/sys/kernel/msg_next_id
		ipcmk -Q; cat /proc/sys/kernel/msg_next_id; ipcmk -Q
		echo 65536 > /proc/sys/kernel/shm_next_id && ipcmk -M 4096
		echo 7 > /proc/sys/kernel/sem_next_id && ipcmk -S 1' 2>&1
	assert_success
	assert_output --partial "w: 0"
	assert_output --partial $'98317\nMessage queue id: 98317\n-1\nMessage queue id: 0'
	assert_output --partial "Shared memory id: 65536"
	assert_output --partial "Semaphore id: 7"
}

@test "runc: *_next_id chooses the id of the next object" {
	next_id runc
}

@test "crun: *_next_id chooses the id of the next object" {
	next_id crun
}

@test "runc: linux.sysctl above the operator's ceiling is refused like a write" {
	need_runtime runc
	make_bundle a true
	local b
	b=$(bdir a)
	jq '.linux.sysctl = {"kernel.msgmnb": "2000000"}' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
	ct_track runc "$(cid runc a)" a
	run shim runc run -b "$b" "$(cid runc a)" </dev/null
	assert_failure
	assert_output --partial "msgmnb"
	assert_output --partial "invalid argument"
}

@test "without the view, /proc/sysvipc is masked as before" {
	need_runtime runc
	IPCNSD_EXTRA_ARGS=--no-view own_daemon noview
	run grep -c "view:" "$IT_DIR/noview.log"
	assert_output 0
	# The kernel's own (unused) IPC namespace shows through the sysctls;
	# /proc/sysvipc is an empty read-only tmpfs.
	run ct_run runc a sh -c 'ipcmk -M 4096 >/dev/null; ls /proc/sysvipc | wc -l; cat /proc/sys/kernel/shmmni'
	assert_success
	assert_output $'0\n4096'
}

@test "runc: a container's view survives ipcnsd's restart (its FUSE fd handed over)" {
	need_runtime runc
	own_daemon tk
	local old=$OWN_PID new wrapper=$BATS_TEST_TMPDIR/takeover.sh
	ct_start runc a sh -c 'touch /xchg/ready; while [ ! -e /xchg/go ]; do sleep 0.05; done
		cat /proc/sysvipc/shm; cat /proc/sys/kernel/shmmni; echo end'
	wait_ready runc a ready
	# The next daemon takes the fd as a keeper would hold it, and starts
	# once the old one is gone (SIGKILL: nothing unmounted).
	printf '#!/bin/sh\nexec %s %s -- %s "$@" --view-fd 3\n' "$IT_BUILD/tests/integration/view-takeover" "$old" \
		"$IT_BUILD/bin/ipcnsd" >"$wrapper"
	chmod +x "$wrapper"
	IPCNS_IT_DAEMON=$wrapper ipcnsd_launch "$IT_DIR/tk.sock" "$IT_DIR/tk2.log"
	new=$LAUNCHED_PID
	kill -KILL "$old"
	wait_for 10 grep -q "session taken over" "$IT_DIR/tk2.log"
	export IPCNSD_PID=$new IPCNSD_LOG=$IT_DIR/tk2.log
	OWN_PID=$new
	touch "$BATS_TEST_TMPDIR/xchg/go"
	run ct_wait runc a
	assert_output 0
	run cat "$(bdir a)/out"
	refute_output --partial "not connected"
	assert_line --regexp '^ +key +shmid perms'
	assert_line 4096
	assert_line end
	# And it serves new containers on the same mount.
	run ct_run runc b cat /proc/sys/kernel/sem
	assert_success
	assert_output $'32000\t1024000000\t500\t32000'
}

@test "runc: kernel.* ceilings from the operator's config file bind writes too" {
	need_runtime runc
	printf '{"ipcnsd": {"ceilings": {"kernel.shmmni": "100", "kernel.sem": "250 32000 32 128"}}}\n' \
		>"$BATS_TEST_TMPDIR/config.json"
	IPCNSD_EXTRA_ARGS="--config $BATS_TEST_TMPDIR/config.json" own_daemon cfg
	grep -q "ceilings of the kernel limits: .* shmmni 100 sem 250 32000 32 128" "$IT_DIR/cfg.log"
	run ct_run runc a sh -c 'echo 101 > /proc/sys/kernel/shmmni; echo "over: $?"; echo 100 > /proc/sys/kernel/shmmni
		echo "at: $?"; cat /proc/sys/kernel/shmmni; echo 250 32000 32 129 > /proc/sys/kernel/sem; echo "sem: $?"'
	assert_success
	assert_output --regexp "over: [12]"
	assert_output --partial "at: 0"
	assert_line 100
	assert_output --regexp "sem: [12]"
	# A file naming something else stops ipcnsd with a message.
	printf '{"ipcnsd": {"ceilings": {"kernel.shm_rmid_forced": "1"}}}\n' >"$BATS_TEST_TMPDIR/bad.json"
	run "$IT_BUILD/bin/ipcnsd" --socket "$IT_DIR/bad.sock" --config "$BATS_TEST_TMPDIR/bad.json"
	assert_failure
	assert_output --partial "ipcnsd.ceilings.kernel.shm_rmid_forced"
}

@test "runc: a stopped ipcnsd does not hold up a container's creation: /proc/sysvipc is masked instead" {
	need_runtime runc
	own_daemon stopped
	# Looked up once while it answers (lookups are cached), as after any
	# earlier container.
	ls "$IT_DIR/stopped.view/sysvipc" >/dev/null
	kill -STOP "$OWN_PID"
	run ct_run runc a sh -c 'ls /proc/sysvipc | wc -l'
	kill -CONT "$OWN_PID"
	assert_success
	assert_output 0
}

@test "runc: the /proc/sysvipc text a namespace's readers keep between reads is bounded" {
	need_runtime runc
	# 4096 segments: 716 KiB of text.  Thirty readers each take the
	# first 4 KiB and hold on: past 16 MiB kept, a read gets ENOMEM.
	run ct_run runc a python3 -c '
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
for i in range(4096):
    assert libc.shmget(0, 4096, 0o600) >= 0, ctypes.get_errno()
fds, ok, nomem = [], 0, 0
for i in range(30):
    fd = os.open("/proc/sysvipc/shm", os.O_RDONLY)
    fds.append(fd)
    try:
        os.read(fd, 4096)
        ok += 1
    except OSError as e:
        assert e.errno == errno.ENOMEM, e
        nomem += 1
print("ok", ok, "nomem", nomem)
for fd in fds:
    os.close(fd)
print("lines", len(open("/proc/sysvipc/shm").read().splitlines()))
'
	assert_success
	assert_output --regexp 'ok (2[0-9]) nomem ([1-9])'
	assert_line "lines 4097"
}

@test "runc: readers closing /proc/sysvipc/shm right after a partial read do not free the text under the worker answering it" {
	need_runtime runc
	# Each read takes 64 bytes of a longer text: the view keeps the
	# text and answers from it; the close that follows sends the
	# release while the worker may still be answering.
	run ct_run runc a "$CT_TOOLS/view-release" 100 4 2500
	assert_success
	assert_output "done 10000"
	ipcnsd_alive
	run grep -E 'ERROR: AddressSanitizer|SUMMARY: AddressSanitizer' "$IPCNSD_LOG"
	assert_failure
}

@test "runc: after ipcnsd's SIGKILL, the next one (the keeper held the view) serves a running container its own /proc/sysvipc and sysctls" {
	need_runtime runc
	own_daemon vk
	ct_start runc a sh -c 'ipcmk -M 8192 -p 0600 >/dev/null && echo 1000 > /proc/sys/kernel/shmmni &&
		touch /xchg/ready; while [ ! -e /xchg/go ]; do sleep 0.05; done
		cat /proc/sysvipc/shm; cat /proc/sys/kernel/shmmni; echo end'
	wait_ready runc a ready
	kill -KILL "$OWN_PID"
	wait_for 10 eval '! ipcnsd_alive '"$OWN_PID"
	own_daemon vk
	grep -q "session taken over" "$IPCNSD_LOG"
	touch "$BATS_TEST_TMPDIR/xchg/go"
	run ct_wait runc a
	assert_output 0
	run cat "$(bdir a)/out"
	refute_output --partial "not connected"
	assert_line --regexp '^ *[-0-9]+ +0 +600 +8192 '
	assert_line 1000
	assert_line end
}

@test "an ipcnsd that does not take the view over starts even while another process holds the old session unserved" {
	IPCNSD_EXTRA_ARGS=--no-keeper own_daemon held
	local old=$OWN_PID holder
	"$IT_BUILD/tests/integration/view-takeover" "$old" -- sleep 60 &
	holder=$!
	sleep 0.3
	kill -KILL "$old"
	wait_for 10 eval '! ipcnsd_alive '"$old"
	# The old mount is alive (its fd held) and nobody answers it: the
	# new ipcnsd must not ask it anything; it mounts a fresh view.
	IPCNSD_EXTRA_ARGS=--no-keeper own_daemon held
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	run timeout 5 cat "$IT_DIR/held.view/sys/kernel/sem"
	assert_success
	assert_output $'32000\t1024000000\t500\t32000'
}

# A reader under a seccomp filter (as a container's process) in a kernel IPC
# namespace no container registered: each read waits 10 s for the
# registration (spec/view.md), so ipcnsd has read it and not answered it
# yet.  `keep' opens the file once (its handle is the old ipcnsd's after a
# takeover); `open' opens it for each read.
FILTERED_READER='
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Insn))]
allow = (Insn * 1)(Insn(0x06, 0, 0, 0x7fff0000))
prog = Prog(1, allow)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
path, n, keep = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "keep"
fd = os.open(path, os.O_RDONLY) if keep else -1
print("ready", flush=True)
for i in range(n):
    if keep:
        data = os.pread(fd, 4096, 0)
    else:
        f = os.open(path, os.O_RDONLY)
        data = os.read(f, 4096)
        os.close(f)
    print(i, data.decode().split()[0], flush=True)
print("done", flush=True)
'

# gone PID: the process has ended (exited, or a zombie).
gone() {
	! ipcnsd_alive "$1"
}

@test "ipcnsd SIGKILLed with reads in flight: the next one answers them, a reader killed meanwhile ends, a write made in the gap completes" {
	own_daemon inflight
	local dir=$IT_DIR/inflight.view t=$BATS_TEST_TMPDIR i
	local -a pids=()
	printf '%s' "$FILTERED_READER" >"$t/reader.py"
	for i in 0 1 2; do
		python3 "$t/reader.py" "$dir/sys/kernel/sem" 1 "$([ "$i" = 0 ] && echo keep || echo open)" \
			>"$t/r$i" 2>&1 3>&- &
		pids+=($!)
	done
	wait_for 20 eval '[ "$(cat "$t"/r[012] | grep -c ready)" = 3 ]'
	# Their reads are with ipcnsd, waiting for a registration.
	sleep 0.5
	kill -KILL "$OWN_PID"
	wait_for 10 gone "$OWN_PID"
	# A reader killed now waits for the answer in state D (the kernel
	# cannot take back a request the dead daemon read); before the next
	# ipcnsd, nothing answers it.
	kill -KILL "${pids[2]}"
	sleep 0.5
	grep -q '^State:.*D' "/proc/${pids[2]}/status"
	# A write and a read made while no ipcnsd runs wait in the kernel; a
	# killed one ends at once.
	sh -c "echo 1000 > $dir/sys/kernel/shmmni; echo rc=\$?" >"$t/w" 2>&1 3>&- &
	local writer=$!
	sh -c "cat $dir/sys/kernel/msgmni" >/dev/null 2>&1 3>&- &
	local victim=$!
	sleep 0.5
	[ ! -s "$t/w" ]
	kill -KILL "$victim"
	wait_for 5 gone "$victim"
	# The next ipcnsd answers what the dead one had read, then the rest.
	own_daemon inflight
	grep -q "session taken over" "$IPCNSD_LOG"
	wait_for 10 gone "${pids[2]}"
	wait_for 30 grep -q done "$t/r0"
	wait_for 30 grep -q done "$t/r1"
	wait_for 10 grep -q rc=0 "$t/w"
	run cat "$t/r0" "$t/r1"
	assert_output $'ready\n0 32000\ndone\nready\n0 32000\ndone'
	ipcnsd_alive
	grep -q "3 requests the previous ipcnsd had read and not answered served again" "$IPCNSD_LOG"
	wait "${pids[0]}" "${pids[1]}" "$writer"
}

@test "no view is left mounted: not by ipcnsctl shutdown, nor by a keeper that lets a SIGKILLed ipcnsd's session go" {
	own_daemon clean
	grep -q " $IT_DIR/clean.view " /proc/self/mountinfo
	ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG"
	run grep " $IT_DIR/clean.view " /proc/self/mountinfo
	assert_failure
	own_daemon gone
	local keeper dir=$IT_DIR/gone.view
	keeper=$(keeper_of "$IPCNS_SOCKET" "$IPCNSD_LOG")
	kill -KILL "$OWN_PID"
	wait_for 10 gone "$OWN_PID"
	# Held by the keeper for a next ipcnsd: still mounted.
	grep -q " $dir " /proc/self/mountinfo
	# The keeper lets go (a SIGTERM, or its grace with no ipcnsd and
	# no container): nobody serves the view any more.
	kill -TERM "$keeper"
	wait_for 10 gone "$keeper"
	run grep " $dir " /proc/self/mountinfo
	assert_failure
	grep -q "ipcns-keeper: unmounted $dir, which no ipcnsd serves any more" "$IPCNSD_LOG"
}

# A relay of registrations to ipcnsd's socket that holds each one (its
# message and notify fd) for DELAY seconds: a busy ipcnsd that reads a
# container's notify fd late.
DELAY_RELAY='
import os, socket, sys, time
listen_path, target, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(listen_path)
ls.listen(4)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    msg, fds, _, _ = socket.recv_fds(c, 65536, 4)
    time.sleep(delay)
    t = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    t.connect(target)
    socket.send_fds(t, [msg], fds)
    for fd in fds:
        os.close(fd)
    t.close()
    c.close()
'

@test "a container process's first sysctl write waits for its registration, read late by a busy ipcnsd (3 s)" {
	local t=$BATS_TEST_TMPDIR relay
	printf '%s' "$DELAY_RELAY" >"$t/relay.py"
	python3 "$t/relay.py" "$t/relay.sock" "$IPCNS_SOCKET" 3 >"$t/relay.out" 2>&1 3>&- &
	relay=$!
	wait_for 10 grep -q listening "$t/relay.out"
	# The program runs as soon as its notify fd is sent (as with crun);
	# ipcnsd has it 3 s later.
	IPCNS_SOCKET=$t/relay.sock run timeout 60 "$IT_BUILD/tests/tools/ipcns-run" --view "${IPCNS_SOCKET%.sock}.view" -- \
		sh -c 'echo 32 > /proc/sys/kernel/shmmni; echo "w: $?"; cat /proc/sys/kernel/shmmni; ipcs -l | grep -i "max number of segments"'
	kill "$relay"
	wait "$relay" 2>/dev/null || true
	assert_success
	assert_line "w: 0"
	assert_line 32
	assert_output --regexp "max number of segments = 32"
}

# swap_on: a swap file of this test's own, so that pages can be swapped out
# (the machines of these tests have none); teardown turns it off.
swap_on() {
	SWAPFILE=$BATS_TEST_TMPDIR/swap
	fallocate -l 64M "$SWAPFILE" && chmod 600 "$SWAPFILE" && mkswap "$SWAPFILE" >/dev/null ||
		skip "cannot make a swap file in $BATS_TEST_TMPDIR"
	swapon "$SWAPFILE" 2>/dev/null || skip "swapon refused on this file system"
}

@test "with swap on: rss and swap of /proc/sysvipc/shm and SHM_INFO tell swapped-out pages apart, natively, under ipcnsd, in runc and crun" {
	local prog=$IT_BUILD/tests/conformance/proc_sysvipc r
	swap_on
	run unshare -i "$prog"
	assert_success
	run env IPCNS_UNDER=1 "$IT_BUILD/tests/tools/ipcns-run" --socket "$IPCNS_SOCKET" \
		--view "${IPCNS_SOCKET%.sock}.view" -- "$prog"
	echo "$output"
	assert_success
	for r in runc crun; do
		command -v "$r" >/dev/null || continue
		BUNDLE_CAPS=all BUNDLE_ENV="IPCNS_UNDER=1" run ct_run "$r" a "$CT_BUILD/tests/conformance/proc_sysvipc"
		echo "$r: $output"
		assert_success
	done
}
