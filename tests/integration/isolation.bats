#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Each container has its own System V IPC namespace, served by ipcnsd;
# containers that share a kernel IPC namespace share it.

load helpers

X=$BATS_TEST_TMPDIR/xchg # the host's side of CT_XCHG

# Two containers, one key: each writes its own id into segment 0x1234 and
# reads back only its own, while both segments exist.
same_key_two_segments() {
	local r=$1 a b
	need_runtime "$r"
	a=$(cid "$r" a)
	b=$(cid "$r" b)
	ct_start "$r" a sh -c "$PRODUCER -k 0x1234 $a && touch $CT_XCHG/a.ready &&
		while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done && $CONSUMER -k 0x1234"
	wait_ready "$r" a a.ready

	run ct_run "$r" b sh -c "$PRODUCER -k 0x1234 $b && $CONSUMER -k 0x1234"
	assert_success
	assert_output --partial "producer: created segment key 0x00001234"
	assert_output --partial "consumer: message 1: $b"
	refute_output --partial "$a"

	touch "$X/go"
	run ct_wait "$r" a
	assert_output 0
	run cat "$(bdir a)/out"
	assert_output --partial "producer: created segment key 0x00001234"
	assert_output --partial "consumer: message 1: $a"
	refute_output --partial "$b"
}

@test "runc: two containers using the same key get different segments" {
	same_key_two_segments runc
}

@test "crun: two containers using the same key get different segments" {
	same_key_two_segments crun
}

# A container created in another's kernel IPC namespace
# (linux.namespaces ipc path) shares its virtual namespace.
joined_ipc_namespace_shares() {
	local r=$1 a b pid ns
	need_runtime "$r"
	a=$(cid "$r" a)
	b=$(cid "$r" b)
	ct_start "$r" a sh -c "$PRODUCER -k 0x1234 -w -t 30 'hello from $a' &&
		while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done"
	wait_out "$r" a "waiting for the consumer"
	pid=$(ct_pid "$r" a)
	ns=$(ns_of_pid "$pid")

	BUNDLE_IPC_PATH=/proc/$pid/ns/ipc ct_start "$r" b sh -c "$CONSUMER -k 0x1234 -n 1 -t 10 &&
		touch $CT_XCHG/b.read && while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done"
	wait_ready "$r" b b.read
	run cat "$(bdir b)/out"
	assert_output --partial "consumer: message 1: hello from $a"

	wait_out "$r" a "producer: all messages read"

	# ipcnsd sees one namespace holding both containers.
	run ps_ns "$ns"
	assert_success
	run jq -r '[.containers[].id] | sort | join(" ")' <<<"$output"
	assert_output "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ' | sed 's/ $//')"

	touch "$X/go"
	run ct_wait "$r" b
	assert_output 0
	run ct_wait "$r" a
	assert_output 0
}

@test "runc: a container joining another's IPC namespace shares its segments" {
	joined_ipc_namespace_shares runc
}

@test "crun: a container joining another's IPC namespace shares its segments" {
	joined_ipc_namespace_shares crun
}

# `ipcs -m` lines of segments (key 0x...): their sizes, sorted.
ipcs_sizes() {
	awk '/^0x/ { print $5 }' "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# util-linux ipcs inside a container (reading the /proc/sysvipc ipcnsd
# serves, or SHM_INFO/SHM_STAT where it is masked) lists exactly that
# container's segments.
ipcs_lists_own_segments() {
	local r=$1 a b
	need_runtime "$r"
	a=$(cid "$r" a)
	b=$(cid "$r" b)
	ct_start "$r" a sh -c "ipcmk -M 4096 && ipcmk -M 8192 && touch $CT_XCHG/a.ready &&
		while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done && ipcs -m"
	ct_start "$r" b sh -c "ipcmk -M 12288 && touch $CT_XCHG/b.ready &&
		while [ ! -e $CT_XCHG/go ]; do sleep 0.05; done && ipcs -m"
	wait_ready "$r" a a.ready
	wait_ready "$r" b b.ready

	# ipcnsd's view agrees.
	run ctl "{\"command\":\"ipcs\",\"container\":\"$a\"}"
	assert_success
	run jq -r '[.objects[] | select(.kind == "shm") | .bytes] | sort | join(" ")' <<<"$output"
	assert_output "4096 8192"
	run ctl "{\"command\":\"ipcs\",\"container\":\"$b\"}"
	run jq -r '[.objects[] | select(.kind == "shm") | .bytes] | sort | join(" ")' <<<"$output"
	assert_output "12288"

	touch "$X/go"
	run ct_wait "$r" a
	assert_output 0
	run ct_wait "$r" b
	assert_output 0
	run ipcs_sizes "$(bdir a)/out"
	assert_output "4096 8192"
	run ipcs_sizes "$(bdir b)/out"
	assert_output "12288"
}

@test "runc: ipcs -m in a container lists exactly its own segments" {
	ipcs_lists_own_segments runc
}

@test "crun: ipcs -m in a container lists exactly its own segments" {
	ipcs_lists_own_segments crun
}

# The kernel's IPC namespace of the container stays empty: its objects live
# in ipcnsd.
kernel_namespace_empty() {
	local r=$1 pid ns k
	need_runtime "$r"
	ct_start "$r" hold "$CT_TOOLS/ipc-hold" 2 5
	wait_out "$r" hold READY
	pid=$(ct_pid "$r" hold)
	ns=$(ns_of_pid "$pid")
	run ps_ns "$ns"
	assert_success
	run jq -c '[.usage.shm_ids >= 1, .usage.sem_ids, .usage.msg_ids, .usage.msg_count]' <<<"$output"
	assert_output '[true,1,1,5]'

	for k in shm sem msg; do
		run nsenter -t "$pid" -i cat "/proc/sysvipc/$k"
		assert_success
		# The header line only.
		assert_equal "${#lines[@]}" 1
	done

	# The same look sees a segment made in the kernel's namespace.
	run nsenter -t "$pid" -i sh -c 'ipcmk -M 4096 >/dev/null && cat /proc/sysvipc/shm'
	assert_success
	assert_equal "${#lines[@]}" 2
}

@test "runc: the container's kernel IPC namespace holds none of its objects" {
	kernel_namespace_empty runc
}

@test "crun: the container's kernel IPC namespace holds none of its objects" {
	kernel_namespace_empty crun
}
