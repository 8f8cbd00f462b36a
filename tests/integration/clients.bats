#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Real System V IPC clients in containers under ipcns, unchanged binaries of
# the host (the rootfs binds its /usr, /lib, /etc...):
#   util-linux ipcmk, ipcs and ipcrm, every kind and form, checked line by
#     line against the same script run on the kernel's own IPC;
#   PostgreSQL 15 with shared_memory_type = sysv and
#     dynamic_shared_memory_type = sysv: initdb, pgbench, a parallel query;
#   Apache httpd (prefork) with `Mutex sysvsem default`, serving requests.
# Each checks from the host that ipcnsd holds the objects (ipcnsctl) and,
# for PostgreSQL, that the container's kernel IPC namespace holds none.

load helpers

X=$BATS_TEST_TMPDIR/xchg # the host's side of CT_XCHG

# ipcnsctl ARG...: the operator's tool, on this file's ipcnsd.
ipcnsctl() {
	"$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" "$@"
}

# `key id owner perms size` of the listing lines (0x...) of an ipcs-like
# output, sorted.
listing() {
	awk '/^0x/ { print $1, $2, $3, $4, $5 }' | sort
}

# ---- util-linux

# The script: every form of ipcmk, ipcs and ipcrm on objects of every
# kind, first idle, then in use (ipc-hold: attached segments, one of them
# removed, a semaphore held with SEM_UNDO and a sleeper, queued messages
# and a sleeping receiver).  Run in a container and on the kernel: the
# outputs must be the same but for keys, times and pids.
write_util_linux_script() {
	cat >"$X/ul.sh" <<'EOF'
# Usage: sh ul.sh IPC_HOLD SYNC_DIR: after creating the first objects,
# create SYNC_DIR/created and wait for a line on the FIFO SYNC_DIR/go.
# Neither forks, so that the pids that follow do not depend on the wait.
base=$(sh -c 'echo $$')
echo "pidbase $base"
hold=$1 sync=$2
upto() { i=0; until "$@"; do i=$((i + 1)); [ $i -lt 400 ] || return 1; sleep 0.05; done; }
id_of() { sed -n 's/^[A-Za-z ]* id: \([0-9]*\)$/\1/p'; }
key_of() { ipcs "$1" | awk -v id="$2" '$2 == id { print $1 }'; }
m1=$(ipcmk -M 8192 -p 0640 | id_of)
m2=$(ipcmk -M 1M | id_of)
s1=$(ipcmk -S 4 -p 0600 | id_of)
s2=$(ipcmk -S 1 | id_of)
q1=$(ipcmk -Q -p 0620 | id_of)
q2=$(ipcmk -Q | id_of)
echo "ids: $m1 $m2 $s1 $s2 $q1 $q2"
: >"$sync/created"
read -r go <"$sync/go"
for o in "" -a -m -s -q "-m -c" "-s -c" "-q -c" "-m -p" "-q -p" "-m -t" "-s -t" "-q -t" -u -b "-m --human"; do
	echo "== ipcs $o"
	ipcs $o
	echo "rc $?"
done
for x in "-m $m1" "-m $m2" "-s $s1" "-s $s2" "-q $q1" "-q $q2" "-m 99999" "-s 99999" "-q 99999"; do
	echo "== ipcs $x -i"
	ipcs ${x% *} -i ${x#* } 2>&1
	echo "rc $?"
done
mk=$(key_of -m "$m2") sk=$(key_of -s "$s2") qk=$(key_of -q "$q2")
echo "== ipcrm -m -s -q by id"
ipcrm -v -m "$m1" -s "$s1" -q "$q1" 2>&1
echo "rc $?"
echo "== ipcrm -M -S -Q by key"
ipcrm -v -M "$mk" -S "$sk" -Q "$qk" 2>&1
echo "rc $?"
echo "== ipcs after"
ipcs
echo "== ipcrm errors"
ipcrm -m "$m1" 2>&1
echo "rc $?"
ipcrm -S 0x7eadbeef 2>&1
echo "rc $?"
ipcrm -Q "$qk" 2>&1
echo "rc $?"
ipcrm -q 99999 2>&1
echo "rc $?"
echo "== ipcrm sem ID (the old syntax)"
ipcrm sem "$(ipcmk -S 3 | id_of)" 2>&1
echo "rc $?"
echo "== ipcrm --all=shm, --all=msg"
ipcmk -M 4096 >/dev/null
ipcmk -M 4096 >/dev/null
ipcmk -S 2 >/dev/null
ipcmk -Q >/dev/null
ipcmk -Q >/dev/null
ipcs -u
ipcrm --all=shm
echo "rc $?"
ipcs
ipcrm --all=msg
echo "rc $?"
ipcs
echo "== objects in use (ipc-hold)"
out=$(mktemp)
"$hold" 3 4 >"$out" 2>&1 &
h=$!
upto grep -q READY "$out" || { cat "$out"; exit 11; }
ipcs
ipcs -u
ipcs -m -p
for x in $(ipcs -m | awk '/^0x/ { print $2 }'); do ipcs -m -i "$x"; done
hs=$(ipcs -s | awk '$1 == "0x00004e1e" { print $2 }')
ipcs -s -i "$hs"
ipcs -q -i "$(ipcs -q | awk '$1 == "0x00004e1f" { print $2 }')"
echo "== ipc-hold killed"
kill "$h"
wait "$h" 2>/dev/null
echo "ipc-hold: exit $?"
rm -f "$out"
# Its children die of PDEATHSIG after it: wait for the removed segment to
# go and the semaphore to come back (SEM_UNDO).
settled() { ! ipcs -m | grep -q dest && ipcs -s -i "$hs" | grep -qE '^0 +1 +0 +0 '; }
upto settled || echo "not settled"
ipcs
# Who ran the last undo, the parent or its child, depends on who died last.
ipcs -s -i "$hs" | awk 'NF == 5 && $1 ~ /^[0-9]+$/ { $5 = "PID" } { print }'
echo "== ipcrm -a"
ipcrm -a
echo "rc $?"
ipcs
ipcs -u
EOF
}

# Make two runs of the script comparable: pids relative to the pid of the
# script's first child (pidbase), ipcmk's random keys (not 0x0000....)
# and times replaced.
normalise() {
	awk '
	function rel(p) { return p == 0 ? 0 : "+" (p - base) }
	NR == 1 && $1 == "pidbase" { base = $2; next }
	/^------ / { sect = $0 }
	/^semnum/ { sect = "semnum" }
	/^$/ { sect = "" }
	{
		out = ""
		while (match($0, /0x[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]/)) {
			k = substr($0, RSTART, RLENGTH)
			out = out substr($0, 1, RSTART - 1) (k ~ /^0x0000/ ? k : "KEY")
			$0 = substr($0, RSTART + RLENGTH)
		}
		$0 = out $0
		gsub(/[A-Z][a-z][a-z] [A-Z][a-z][a-z] [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] [0-9][0-9][0-9][0-9]/, "DATE")
		gsub(/[A-Z][a-z][a-z] [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/, "DATE")
		while (match($0, /(cpid|lpid|lspid|lrpid)=[0-9]+/)) {
			split(substr($0, RSTART, RLENGTH), kv, "=")
			$0 = substr($0, 1, RSTART - 1) kv[1] ":" rel(kv[2]) substr($0, RSTART + RLENGTH)
		}
		if (sect ~ /PIDs/ && NF == 4 && $1 ~ /^[0-9]+$/) { $3 = rel($3); $4 = rel($4) }
		if (sect == "semnum" && NF == 5 && $5 ~ /^[0-9]+$/) $5 = rel($5)
		print
	}' "$1"
}

util_linux() {
	local r=$1 id pid native
	need_runtime "$r"
	id=$(cid "$r" ul)
	write_util_linux_script

	# The reference: the same script on the kernel, in fresh IPC and pid
	# namespaces.
	native=$BATS_TEST_TMPDIR/native.out
	mkdir "$BATS_TEST_TMPDIR/native"
	mkfifo "$BATS_TEST_TMPDIR/native/go" "$X/go"
	echo go >"$BATS_TEST_TMPDIR/native/go" &
	(cd "$BATS_TEST_TMPDIR" && timeout 60 unshare -i -p -f --mount-proc sh "$X/ul.sh" \
		"$IT_BUILD/tests/integration/ipc-hold" "$BATS_TEST_TMPDIR/native") >"$native" 2>&1

	ct_start "$r" ul sh "$CT_XCHG/ul.sh" "$CT_TOOLS/ipc-hold" "$CT_XCHG"
	wait_ready "$r" ul created
	pid=$(ct_pid "$r" ul)

	# ipcnsd holds what ipcmk made, as ipcmk asked.
	run ipcnsctl --json ipcs "$id"
	assert_success
	run jq -c '[.objects[] | [.kind, .id, .mode % 512, .bytes, .count]] | sort' <<<"$output"
	assert_output '[["msg",0,400,0,0],["msg",1,420,0,0],["sem",0,384,0,4],["sem",1,420,0,1],["shm",0,416,8192,0],["shm",1,420,1048576,0]]'
	run ipcnsctl ipcs "$id"
	assert_success
	ipcnsctl ipcs "$id" | listing >"$BATS_TEST_TMPDIR/ctl.listing"
	# And none of it is in the kernel's namespace of the container.
	run nsenter -t "$pid" -i sh -c 'cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | grep -vc "^ *key"'
	assert_output 0

	echo go >"$X/go"
	run ct_wait "$r" ul 60
	assert_output 0
	local out
	out=$(bdir ul)/out

	# The container's own ipcs listed what ipcnsctl lists.
	run diff -u "$BATS_TEST_TMPDIR/ctl.listing" <(sed -n '/^== ipcs $/,/^rc /p' "$out" | listing)
	assert_success

	run cat "$out"
	assert_line "ids: 0 1 0 1 0 1"
	assert_line "removing shared memory segment id \`1'"
	assert_line "removing semaphore id \`1'"
	assert_line "removing message queue id \`1'"
	assert_line "ipcrm: invalid key (0x7eadbeef)"
	assert_line "ipcrm: invalid id (99999)"
	assert_line "resource(s) deleted"
	assert_line --regexp '^0x00004e1d [0-9]+ +root +600 +65536 +3 *$'
	assert_line --regexp '^0x00000000 [0-9]+ +root +600 +65536 +3 +dest *$'
	refute_line "not settled"
	# After ipcrm -a nothing is left.
	run sh -c "sed -n '/^== ipcrm -a/,\$p' '$out' | grep -c '^0x'"
	assert_output 0

	# Line by line what the kernel printed.
	run diff -u <(normalise "$native") <(normalise "$out")
	assert_success
}

@test "runc: util-linux ipcmk, ipcs and ipcrm print what they print on the kernel" {
	util_linux runc
}

@test "crun: util-linux ipcmk, ipcs and ipcrm print what they print on the kernel" {
	util_linux crun
}

# ---- PostgreSQL

# The server runs as user postgres (the container is root: setpriv), its
# data directory and socket in DIR (CT_XCHG/pg, owned by postgres).
write_pg_script() {
	cat >"$X/pg.sh" <<'EOF'
# Usage: sh pg.sh BINDIR DIR [SYNC_DIR]
set -eu
bin=$1 dir=$2 sync=${3:-}
. "$(dirname "$0")/pg-cluster.sh"
upto() { i=0; until "$@"; do i=$((i + 1)); [ $i -lt 600 ] || return 1; sleep 0.05; done; }
pg_cluster "$bin" "$dir"
echo "initdb: ok"
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start
pg "$bin/psql" -h "$dir" -U postgres -XAtc "show shared_memory_type" -c "show dynamic_shared_memory_type" postgres
pg "$bin/pgbench" -h "$dir" -U postgres -i -s 1 -q postgres 2>&1 | tail -1
pg "$bin/pgbench" -h "$dir" -U postgres -T 5 -c 4 -j 2 postgres 2>&1 |
	grep -E '^(number of transactions actually processed|number of failed transactions|tps)'
# A parallel query: its workers share dynamic shared memory segments
# (System V here) with the leader.
pg_parallel_sql "explain (analyze, costs off, timing off, summary off) select count(*) from pgbench_accounts;
select count(*) from pgbench_accounts;" | pg "$bin/psql" -h "$dir" -U postgres -XAtq postgres
if [ -n "$sync" ]; then
	touch "$sync/pg.ready"
	upto test -e "$sync/go" || exit 10
fi
pg "$bin/pg_ctl" -D "$dir/data" -w -t 30 stop -m fast
EOF
}

# postgres.log lines that say something went wrong.  Filtered out, until
# it is fixed: plugin/lib/ipc/shm.c applies shmctl(IPC_RMID) (shmctl_down)
# before the answer is sent, so a backend that a signal (SA_RESTART)
# interrupts meanwhile restarts the call and gets EINVAL ("could not remove
# shared memory segment"), and the postmaster then finds the segment gone
# ("could not get shared memory segment").  sem.c and msg.c answer first.
pg_log_problems() {
	grep -E 'WARNING|ERROR|FATAL|PANIC|could not' "$1" |
		grep -vE 'could not remove shared memory segment "[0-9]+": Invalid argument|could not get shared memory segment: No such file or directory' ||
		true
}

postgresql() {
	local r=$1 id pid key shmid
	need_runtime "$r"
	pg_prepare
	id=$(cid "$r" pg)
	write_pg_script

	BUNDLE_CAPS=all ct_start "$r" pg sh "$CT_XCHG/pg.sh" "$PGBIN" "$CT_XCHG/pg" "$CT_XCHG"
	wait_ready "$r" pg pg.ready 60
	pid=$(ct_pid "$r" pg)

	# The main segment, as postmaster.pid names it (key and id), is
	# served by ipcnsd: owner postgres, 0600, shared_buffers in it,
	# attached by every server process.
	read -r key shmid < <(sed -n 7p "$X/pg/data/postmaster.pid")
	run ipcnsctl --json ipcs "$id"
	assert_success
	local json=$output
	run jq -r --argjson key "$key" --argjson id "$shmid" \
		'.objects[] | select(.kind == "shm" and .key == $key and .id == $id)
		 | [.uid, .mode % 512, .bytes > 134217728, .count >= 5] | @tsv' <<<"$json"
	assert_output "$(printf '%s\t384\ttrue\ttrue' "$(id -u postgres)")"
	# And the control segment of dynamic shared memory (a key of its own).
	run jq '[.objects[] | select(.kind == "shm")] | length >= 2' <<<"$json"
	assert_output true
	run ipcnsctl ipcs "$id"
	assert_line --regexp "^$(printf '0x%08x' "$key") +$shmid +postgres +600 +[0-9]{9} +[0-9]+ *$"
	# The container's kernel IPC namespace has none of them.
	for k in shm sem msg; do
		run nsenter -t "$pid" -i cat "/proc/sysvipc/$k"
		assert_success
		assert_equal "${#lines[@]}" 1
	done

	touch "$X/go"
	run ct_wait "$r" pg 60
	assert_output 0
	run cat "$(bdir pg)/out"
	assert_line "initdb: ok"
	assert_line "server started"
	run grep -c '^sysv$' "$(bdir pg)/out"
	assert_output 2
	run cat "$(bdir pg)/out"
	assert_line --regexp '^done in [0-9.]+ s '
	assert_line "number of failed transactions: 0 (0.000%)"
	assert_line --regexp '^tps = [0-9]+\.[0-9]+ '
	assert_line --regexp 'Workers Launched: 2$'
	assert_line 100000
	assert_line "server stopped"
	local n
	n=$(sed -n 's/^number of transactions actually processed: //p' "$(bdir pg)/out")
	[ "$n" -gt 100 ] || fail "pgbench ran only $n transactions in 5 s"
	run pg_log_problems "$X/pg/postgres.log"
	assert_output ""
}

@test "runc: PostgreSQL 15 on System V shared memory: initdb, pgbench, a parallel query" {
	postgresql runc
}

@test "crun: PostgreSQL 15 on System V shared memory: initdb, pgbench, a parallel query" {
	postgresql crun
}

# ---- Apache httpd

# prefork with two listeners, so that the children take turns in accept()
# under the mpm-accept mutex, a System V semaphore (Mutex sysvsem).  The
# server and the clients (curl, ab) in the container's own network
# namespace, on 127.0.0.1.
write_httpd_script() {
	cat >"$X/httpd.sh" <<'EOF'
# Usage: sh httpd.sh DIR [SYNC_DIR]
set -eu
dir=$1 sync=${2:-}
upto() { i=0; until "$@"; do i=$((i + 1)); [ $i -lt 400 ] || return 1; sleep 0.05; done; }
run=$(mktemp -d)
mkdir -p "$dir/www"
echo "hello from apache under ipcns" >"$dir/www/index.html"
m=/usr/lib/apache2/modules
cat >"$run/httpd.conf" <<CONF
ServerRoot $run
ServerName localhost
Listen 127.0.0.1:8080
Listen 127.0.0.1:8081
LoadModule mpm_prefork_module $m/mod_mpm_prefork.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule dir_module $m/mod_dir.so
LoadModule mime_module $m/mod_mime.so
TypesConfig /etc/mime.types
User www-data
Group www-data
PidFile $run/httpd.pid
DefaultRuntimeDir $run
ErrorLog $dir/error.log
LogLevel info
Mutex sysvsem default
StartServers 4
MinSpareServers 4
MaxSpareServers 8
DocumentRoot $dir/www
<Directory $dir/www>
	Require all granted
</Directory>
CONF
apache2 -f "$run/httpd.conf" -k start
upto curl -fsS -o /dev/null http://127.0.0.1:8080/ || { cat "$dir/error.log"; exit 10; }
curl -fsS http://127.0.0.1:8081/index.html
ok=0
for i in $(seq 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:808$((i % 2))/" && ok=$((ok + 1))
done
echo "curl: $ok of 100"
for port in 8080 8081; do
	ab -q -n 200 -c 8 "http://127.0.0.1:$port/index.html" | grep -E '^(Complete|Failed|Non-2xx) '
done
echo "== semaphores"
ipcs -s
ipcs -s -i "$(ipcs -s | awk '/^0x/ { print $2; exit }')"
if [ -n "$sync" ]; then
	touch "$sync/httpd.ready"
	upto test -e "$sync/go" || exit 11
fi
# The parent removes the set when it exits (here: when it is a zombie of
# the container's init, this shell).
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; }
hp=$(cat "$run/httpd.pid")
apache2 -f "$run/httpd.conf" -k stop
upto gone "$hp" || { echo "httpd did not stop"; exit 12; }
echo "== stopped"
ipcs -s
EOF
}

apache_httpd() {
	local r=$1 id pid ns
	need_runtime "$r"
	command -v apache2 >/dev/null || skip "apache2 is not installed"
	command -v ab >/dev/null || skip "ab (apache2-utils) is not installed"
	id=$(cid "$r" httpd)
	write_httpd_script

	BUNDLE_CAPS=all ct_start "$r" httpd sh "$CT_XCHG/httpd.sh" "$CT_XCHG" "$CT_XCHG"
	wait_ready "$r" httpd httpd.ready 60
	pid=$(ct_pid "$r" httpd)
	ns=$(ns_of_pid "$pid")

	# ipcnsd holds the mutex: one semaphore, handed to www-data
	# (IPC_SET) so that the children can take it...
	run ipcnsctl --json ipcs "$id"
	assert_success
	run jq -c --argjson uid "$(id -u www-data)" \
		'[.objects[] | select(.kind == "sem") | [.uid == $uid, .mode % 512, .count]]' <<<"$output"
	assert_output '[[true,384,1]]'
	# ... and the children not in accept() sleep on it, parked in ipcnsd.
	run ps_ns "$ns"
	run jq '.usage.parked >= 1' <<<"$output"
	assert_output true

	touch "$X/go"
	run ct_wait "$r" httpd 60
	assert_output 0
	local out
	out=$(bdir httpd)/out
	run cat "$out"
	assert_line "hello from apache under ipcns"
	assert_line "curl: 100 of 100"
	run grep -c '^Complete requests: *200$' "$out"
	assert_output 2
	run grep -c '^Failed requests: *0$' "$out"
	assert_output 2
	run grep -c '^Non-2xx' "$out"
	assert_output 0
	# The container's view: the set, used (otime set), value 0 with
	# sleepers while a child waits in accept().
	run sed -n '/^== semaphores/,/^== stopped/p' "$out"
	assert_line --regexp '^0x00000000 [0-9]+ +www-data +600 +1 *$'
	assert_line --regexp '^otime = [A-Z]'
	assert_line --regexp '^0 +0 +[1-9][0-9]* +0 +[0-9]+ *$'
	# Stopped, httpd removed it.
	run sh -c "sed -n '/^== stopped/,\$p' '$out' | grep -c '^0x'"
	assert_output 0
	run grep -E '\[[a-z_]+:(emerg|alert|crit|error)\]' "$X/error.log"
	assert_output ""
}

@test "runc: Apache httpd with Mutex sysvsem serves requests" {
	apache_httpd runc
}

@test "crun: Apache httpd with Mutex sysvsem serves requests" {
	apache_httpd crun
}
