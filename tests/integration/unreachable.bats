#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# What is not a container's own is unreachable from it: the ids, keys and
# memfds of one namespace from another, and ipcnsd's socket from any
# container (and refused to anyone but root).  isolation.bats covers who
# shares a namespace and who does not.

load helpers

X=$BATS_TEST_TMPDIR/xchg

# A holds a segment (attached), a semaphore set and a queue with key
# 0x4e1d and publishes their ids; B, another container, tries them all, the
# key, every id of the first 8 sequences and 256 indexes, every index with
# *_STAT_ANY: EINVAL and ENOENT everywhere, an empty namespace, no memfd of
# a segment in its fds or maps.
ids_keys_memfds_unreachable() {
	local r=$1 pid
	need_runtime "$r"
	ct_start "$r" a "$HOSTILE" hold "$CT_XCHG/ids"
	wait_out "$r" a "^HELD"
	# The memfd ipcnsd installed in A for the attach is closed again.
	run cat "$(bdir a)/out"
	assert_output --partial "memfd fds in this process: 0"

	run ct_run "$r" b "$HOSTILE" probe "$CT_XCHG/ids"
	assert_success
	assert_output --partial "PROBE nothing reachable"
	assert_output --partial "shmat(their shm id) = -1 Invalid argument"
	assert_output --partial "semop(their sem id) = -1 Invalid argument"
	assert_output --partial "msgrcv(their msg id) = -1 Invalid argument"
	assert_output --partial "shmget(their key) = -1 No such file or directory"
	assert_output --partial "semget(their key) = -1 No such file or directory"
	assert_output --partial "msgget(their key) = -1 No such file or directory"
	assert_output --partial "ids tried: 0 reachable; objects in this namespace: 0 segments, 0 sets, 0 queues"
	assert_output --partial "segment memfds in /proc/self/fd and maps: 0"

	# A's objects are intact: B's attempts (IPC_RMID included) did nothing.
	pid=$(ct_pid "$r" a)
	run ps_ns "$(ns_of_pid "$pid")"
	run jq -c '[.usage.shm_ids, .usage.sem_ids, .usage.msg_ids, .usage.msg_count]' <<<"$output"
	assert_output '[1,1,1,1]'
	# The segment is mapped where it was attached, in A.
	grep -q 'memfd:SYSV00004e1d' "/proc/$pid/maps"
}

@test "runc: ids, keys and memfds of one namespace are unreachable from another" {
	ids_keys_memfds_unreachable runc
}

@test "crun: ids, keys and memfds of one namespace are unreachable from another" {
	ids_keys_memfds_unreachable crun
}

# ipcnsd's socket does not exist in a container's mount namespace (neither
# this test's nor the default /run/ipcns/ipcnsd.sock), and no unix socket
# of the host is in its view.
socket_unreachable() {
	local r=$1
	need_runtime "$r"
	run ct_run "$r" s sh -c "for p in '$IPCNS_SOCKET' /run/ipcns/ipcnsd.sock /run/ipcns '$IT_DIR'; do
		if [ -e \"\$p\" ]; then echo \"VISIBLE \$p\"; else echo \"absent \$p\"; fi; done;
		find / -xdev -type s 2>/dev/null | sed 's/^/SOCKET /'; echo END"
	assert_success
	assert_output --partial "absent $IPCNS_SOCKET"
	assert_output --partial "absent /run/ipcns/ipcnsd.sock"
	refute_output --partial VISIBLE
	refute_output --partial SOCKET
	assert_output --partial END
}

@test "runc: ipcnsd's socket is not in a container's mount namespace" {
	socket_unreachable runc
}

@test "crun: ipcnsd's socket is not in a container's mount namespace" {
	socket_unreachable crun
}

# The socket is root's (mode 0700 in a 0755 directory), and a peer that is
# not root is refused by ipcnsd itself (SO_PEERCRED) even when the file
# lets it connect: no reply, a log line, and the daemon goes on serving.
@test "a connection from a non-root peer is refused" {
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	local dir=$IT_DIR/peer sock log=$IT_DIR/peer.log pid
	# A directory anyone may traverse, in IT_DIR (0700) made 0711 for it.
	chmod 0711 "$IT_DIR"
	mkdir -p "$dir"
	chmod 0755 "$dir"
	sock=$dir/ipcnsd.sock
	ipcnsd_launch "$sock" "$log"
	pid=$LAUNCHED_PID
	run stat -c %a "$sock"
	assert_output 700
	# The file refuses nobody.
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$IT_QUERY" "$sock"
	assert_failure
	assert_output --partial "Permission denied"
	# With the file open to everyone, ipcnsd refuses nobody itself: it
	# closes the connection unanswered (the client sees the close, or a
	# broken pipe or reset when the close beats its request).
	chmod 0777 "$sock"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$IT_QUERY" "$sock"
	assert_failure
	assert_output --regexp "closed the connection without a reply|Broken pipe|Connection reset"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$IT_QUERY" "$sock" '{"command":"rm","container":"x","kind":"shm","id":0}'
	assert_failure
	grep -q "refused a connection from uid 65534" "$log"
	# Root still gets its answer.
	run "$IT_QUERY" "$sock"
	assert_success
	assert_output --partial '"ok":true'
	ipcnsd_stop "$pid" "$log"
	chmod 0700 "$IT_DIR"
}
