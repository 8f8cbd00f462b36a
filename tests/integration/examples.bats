#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The producer/consumer example (examples/shm_*.c) as two processes in one
# container: the semaphores around the ring are served by ipcnsd, the
# sleeping side is parked there, and every message arrives, in order.

load helpers

X=$BATS_TEST_TMPDIR/xchg # the host's side of CT_XCHG
KEY=0x5150
N=40 # messages: more than the ring's 16 slots

# Shell functions for the container's sh: `upto CMD...` polls CMD for at
# most 20 s; `ncount SEMID SEMNUM` prints the waiters on one semaphore, as
# util-linux ipcs shows them (GETNCNT, answered by ipcnsd).
CT_FUNCS='upto() { i=0; until "$@"; do i=$((i + 1)); [ $i -lt 400 ] || return 1; sleep 0.05; done; }
ncount() { ipcs -s -i "$1" | awk -v n="$2" '\''$1 == n && NF == 5 { print $3 }'\''; }
has_waiter() { [ "$(ncount "$1" "$2")" = 1 ]; }
semid_of() { sed -n "s/.*semaphore set id \([0-9]*\).*/\1/p" "$1" | head -1; }'

# The expected consumer lines for messages FROM..TO.
expected_messages() {
	local i
	for ((i = $1; i <= $2; i++)); do
		echo "consumer: message $i: msg-$i"
	done
}

# ps_ns's parked count is PARKED (an answer not yet given: a sleeping semop).
parked_is() {
	[ "$(ps_ns "$1" | jq -r .usage.parked)" = "$2" ]
}

# The consumer starts first: with -n it creates the segment and the
# semaphore set, then sleeps in semop on "full" (ncount 1, parked in
# ipcnsd) without reading anything.  The producer, started after, writes N
# messages; the consumer reads each, in order, and removes both objects.
consumer_waits_for_producer() {
	local r=$1 pid ns
	need_runtime "$r"
	ct_start "$r" pc sh -c "$CT_FUNCS
		$CONSUMER -k $KEY -n $N -t 30 -r >$CT_XCHG/consumer.out 2>&1 & c=\$!
		upto grep -q attached $CT_XCHG/consumer.out || exit 10
		s=\$(semid_of $CT_XCHG/consumer.out)
		upto has_waiter \$s 1 || exit 11
		ipcs -s -i \$s >$CT_XCHG/blocked.ipcs
		cp $CT_XCHG/consumer.out $CT_XCHG/consumer.blocked
		touch $CT_XCHG/ready
		upto test -e $CT_XCHG/go || exit 12
		$PRODUCER -k $KEY -t 30 -w \$(seq -f 'msg-%g' 1 $N) >$CT_XCHG/producer.out 2>&1 || exit 13
		wait \$c || exit 14
		ipcs -m -s"
	wait_ready "$r" pc ready

	# The consumer sleeps on semaphore 1 (full) and has read nothing.
	run awk 'NF == 5 && $1 ~ /^[0-2]$/ { print $1, $2, $3 }' "$X/blocked.ipcs"
	assert_output "$(printf '0 16 0\n1 0 1\n2 1 0')"
	run cat "$X/consumer.blocked"
	assert_output --regexp '^consumer: attached to segment key 0x00005150 id [0-9]+, semaphore set id [0-9]+$'
	# Its semop is parked in ipcnsd.
	pid=$(ct_pid "$r" pc)
	ns=$(ns_of_pid "$pid")
	run ps_ns "$ns"
	run jq -c '[.usage.shm_ids, .usage.sem_ids, .usage.sem_total, .usage.parked]' <<<"$output"
	assert_output '[1,1,3,1]'

	touch "$X/go"
	run ct_wait "$r" pc 60
	assert_output 0

	run grep '^consumer: message' "$X/consumer.out"
	assert_output "$(expected_messages 1 "$N")"
	run cat "$X/consumer.out"
	assert_line --regexp '^consumer: removed segment id [0-9]+ and semaphore set id [0-9]+$'
	run grep -c '^producer: message' "$X/producer.out"
	assert_output "$N"
	run cat "$X/producer.out"
	assert_line --index 0 --regexp '^producer: created segment key 0x00005150 id [0-9]+ \(2060 bytes\), semaphore set id [0-9]+$'
	assert_line "producer: all messages read"
	# Both objects are gone: the container's last ipcs lists nothing.
	run grep -c '^0x' "$(bdir pc)/out"
	assert_output 0
}

@test "runc: example: the consumer sleeps on the semaphore until the producer writes, all in order" {
	consumer_waits_for_producer runc
}

@test "crun: example: the consumer sleeps on the semaphore until the producer writes, all in order" {
	consumer_waits_for_producer crun
}

# The other direction: the producer fills the ring's 16 slots and sleeps in
# semop on "empty"; a consumer started later drains it and the producer
# finishes.  The mutex is free at the end (SEM_UNDO adjustments balanced).
producer_waits_for_consumer() {
	local r=$1
	need_runtime "$r"
	ct_start "$r" pc sh -c "$CT_FUNCS
		$PRODUCER -k $KEY -t 30 \$(seq -f 'msg-%g' 1 20) >$CT_XCHG/producer.out 2>&1 & p=\$!
		upto grep -q 'message 16:' $CT_XCHG/producer.out || exit 10
		s=\$(semid_of $CT_XCHG/producer.out)
		upto has_waiter \$s 0 || exit 11
		ipcs -s -i \$s >$CT_XCHG/blocked.ipcs
		cp $CT_XCHG/producer.out $CT_XCHG/producer.blocked
		$CONSUMER -k $KEY -n 20 -t 30 >$CT_XCHG/consumer.out 2>&1 || exit 12
		wait \$p || exit 13
		ipcs -s -i \$s >$CT_XCHG/end.ipcs"
	run ct_wait "$r" pc 60
	assert_output 0

	# Sleeping on semaphore 0 (empty) after 16 messages, the 17th not written.
	run awk 'NF == 5 && $1 ~ /^[0-2]$/ { print $1, $2, $3 }' "$X/blocked.ipcs"
	assert_output "$(printf '0 0 1\n1 16 0\n2 1 0')"
	run grep -c '^producer: message' "$X/producer.blocked"
	assert_output 16
	run grep '^consumer: message' "$X/consumer.out"
	assert_output "$(expected_messages 1 20)"
	run awk 'NF == 5 && $1 ~ /^[0-2]$/ { print $1, $2, $3 }' "$X/end.ipcs"
	assert_output "$(printf '0 16 0\n1 0 0\n2 1 0')"
}

@test "runc: example: the producer sleeps on a full ring until the consumer reads" {
	producer_waits_for_consumer runc
}

@test "crun: example: the producer sleeps on a full ring until the consumer reads" {
	producer_waits_for_consumer crun
}
