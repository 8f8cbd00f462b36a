#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# libipcns-crun.so, the crun seccomp-notify plugin (plugin/crun/README.md):
# containers run by a foreground `crun run' with the annotation
# run.oci.seccomp.plugins and the notify rule, no listenerPath, no ipcnsd
# involved.  The file's ipcnsd (helpers.bash) runs only to show that it
# never hears of these containers.

load helpers

# IPCNS_IT_PLUGIN=PATH: test that build of the plugin (an older one, to see
# a test fail before its fix).
PLUGIN=${IPCNS_IT_PLUGIN:-$IT_BUILD/lib/libipcns-crun.so}

setup_file() {
	ipcns_setup_file
	[ -f "$PLUGIN" ] && [ -x "$IT_BUILD/tests/integration/plugin-timers" ] || {
		echo "missing $PLUGIN or tests/integration/plugin-timers: run 'make all' first" >&2
		return 1
	}
}
setup() {
	need_runtime crun
	ipcns_setup
}

# plugin_bundle NAME ARG...: make_bundle's bundle, then the plugin's edit:
# the annotation, the rule of runtime-hook/seccomp-ipcns.json under a default of
# ALLOW, /proc/sysvipc masked (PLUGIN_MASK=no leaves it), and no
# listenerPath.  PLUGIN_ANNOTATIONS and PLUGIN_SYSCTL (JSON objects) add
# annotations and linux.sysctl; PLUGIN_NOFILE sets RLIMIT_NOFILE.
plugin_bundle() {
	local name=$1 b ann=${PLUGIN_ANNOTATIONS:-'{}'} sysctl=${PLUGIN_SYSCTL:-'{}'}
	b=$(bdir "$name")
	make_bundle "$@"
	jq --arg so "$PLUGIN" --slurpfile rule "$IT_REPO/runtime-hook/seccomp-ipcns.json" \
		--argjson ann "$ann" --argjson sysctl "$sysctl" \
		--arg mask "${PLUGIN_MASK:-yes}" --arg nofile "${PLUGIN_NOFILE:-}" '
		.annotations = ((.annotations // {}) + {"run.oci.seccomp.plugins": $so} + $ann)
		| .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: $rule}
		| if $mask == "yes" then .linux.maskedPaths += ["/proc/sysvipc"] else . end
		| if $sysctl != {} then .linux.sysctl = $sysctl else . end
		| if $nofile != "" then
			.process.rlimits = [(.process.rlimits // [])[] | select(.type != "RLIMIT_NOFILE")]
				+ [{type: "RLIMIT_NOFILE", hard: ($nofile | tonumber), soft: ($nofile | tonumber)}]
		  else . end' "$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
}

# crun_fg ARG...: crun with this file's state root, in cgroup2's private
# mount namespace, bounded by IT_TIMEOUT.
crun_fg() {
	timeout "$IT_TIMEOUT" unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' crun_fg \
		crun --root "$IT_DIR/crun" "$@"
}

# plugin_run NAME ARG...: run ARG... in a plugin container in the
# foreground; its output is the container's and crun's.  Use with `run'.
plugin_run() {
	local name=$1 id rc=0
	id=$(cid crun "$name")
	plugin_bundle "$@"
	ct_track crun "$id" "$name"
	crun_fg run -b "$(bdir "$name")" "$id" </dev/null || rc=$?
	rt crun delete -f "$id" >/dev/null 2>&1 || true
	return "$rc"
}

# ipcnsd knows no container of this test.
assert_ipcnsd_unused() {
	run ctl
	assert_success
	refute_output --partial "it$IT_TAG-$BATS_TEST_NUMBER-"
}

@test "crun plugin: exports exactly crun's four entry points" {
	run sh -c "nm -D --defined-only '$PLUGIN' | awk '{print \$3}' | sort"
	assert_success
	assert_output "run_oci_seccomp_notify_handle_request
run_oci_seccomp_notify_start
run_oci_seccomp_notify_stop
run_oci_seccomp_notify_version"
}

@test "crun plugin: ipcmk and ipcs in a foreground crun run are served by the plugin" {
	run plugin_run ipcs sh -c 'ipcmk -M 8192 && ipcmk -S 3 && ipcmk -Q && ipcs -m -s -q'
	assert_success
	assert_line --partial "Shared memory id: 0"
	assert_line --partial "Semaphore id: 0"
	assert_line --partial "Message queue id: 0"
	assert_line --regexp '^0x[0-9a-f]+ +0 +root +644 +8192 +0'
	assert_line --regexp '^0x[0-9a-f]+ +0 +root +644 +3 *$'
	assert_line --regexp '^0x[0-9a-f]+ +0 +root +644 +0 +0 *$'
	refute_output --partial "ipcns-crun:"
	assert_ipcnsd_unused
}

@test "crun plugin: the container's kernel IPC namespace stays empty" {
	# /proc/sysvipc unmasked: the kernel's own view of its namespace.
	PLUGIN_MASK=no run plugin_run kernel sh -c \
		'ipcmk -M 4096 && ipcmk -S 1 && ipcmk -Q && cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | wc -l'
	assert_success
	assert_line --partial "Shared memory id: 0"
	# The three header lines only.
	assert_line 3
}

@test "crun plugin: linux.sysctl and the quota annotations limit the namespace" {
	PLUGIN_SYSCTL='{"kernel.msgmni": "1"}' PLUGIN_ANNOTATIONS='{"org.ipcns.objects-per-uid": "3"}' \
		run plugin_run limits sh -c '
		ipcmk -Q >/dev/null && echo "queue 1 ok"
		ipcmk -Q >/dev/null 2>&1 || echo "queue 2 refused"
		ipcmk -M 4096 >/dev/null && ipcmk -S 1 >/dev/null && echo "objects 2 and 3 ok"
		ipcmk -S 1 >/dev/null 2>&1 || echo "object 4 refused"'
	assert_success
	assert_line "queue 1 ok"
	assert_line "queue 2 refused"
	assert_line "objects 2 and 3 ok"
	assert_line "object 4 refused"
	# The quota hit is reported on crun's stderr.
	assert_output --partial "ipcns-crun: container $(cid crun limits):"
}

@test "crun plugin: a malformed limit keeps the container from starting, with the reason" {
	PLUGIN_ANNOTATIONS='{"org.ipcns.shm-bytes": "lots"}' run plugin_run badlimit true
	assert_failure
	assert_output --partial "ipcns-crun: container $(cid crun badlimit): annotation org.ipcns.shm-bytes = \"lots\": not a number"
	assert_output --partial "error loading \`$PLUGIN\`"
}

# ---- The operator's limits (issue 11 holes 2, 4, 9, 12), as ipcnsd
# applies them (spec/security.md, "The crun plugin").  The plugin serves
# the namespace in crun's own process, which is not in the container's
# cgroup: what it holds is bounded by the namespace's budgets only.  The
# holes of ipcnsd's own machinery (3: ps and the probe, 8: the proc
# connector, 10: registration, 11: the main thread) do not arise in the
# plugin, which has none of it; the per-call holes are the conformance
# programs' (hostile_*), run below in plugin containers.

# The "ipcnsd" policy of the operator's configuration file (IPCNS_CONFIG
# here, /etc/ipcns/config.json by default) binds the plugin too.  Before,
# the plugin read the annotations raw: org.ipcns.mem-bytes "1073741824"
# let a container make crun hold 1 GiB (here 40 sets of 32000 semaphores,
# 60 MB, went through), an ignored quota annotation was obeyed, and
# linux.sysctl went past the operator's kernel.* ceilings.
@test "crun plugin: annotations and linux.sysctl stay within the operator's policy and ceilings" {
	local cfg=$BATS_TEST_TMPDIR/config.json line
	echo '{"ipcnsd": {"annotations": {"org.ipcns.objects-per-uid": "ignore"},
		"ceilings": {"org.ipcns.mem-bytes": "16777216", "kernel.shmmni": "32"}}}' >"$cfg"
	touch "$BATS_TEST_TMPDIR/xchg/go"
	IPCNS_CONFIG=$cfg PLUGIN_ANNOTATIONS='{"org.ipcns.mem-bytes": "1073741824", "org.ipcns.objects-per-uid": "1"}' \
		run plugin_run memhog "$CT_TOOLS/ipc-hostile" memhog 40 "$CT_XCHG"
	line=$(grep '^MEMHOG' <<<"$output") || fail "$output"
	echo "# $line" >&3
	# 16 MiB: at most 11 sets of 32000 (objects-per-uid 1 ignored).
	[[ $line =~ ^MEMHOG\ sets=([0-9]+)\ semget=ENOMEM\ msgs=[0-9]+\ msgsnd=ENOMEM$ ]] || fail "$line"
	[ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[1]}" -le 11 ] || fail "$line"
	# "0" is the ceiling, not a refusal and not unbounded.
	IPCNS_CONFIG=$cfg PLUGIN_ANNOTATIONS='{"org.ipcns.mem-bytes": "0"}' \
		run plugin_run zero "$CT_TOOLS/ipc-hostile" memhog 40 "$CT_XCHG"
	assert_line --regexp '^MEMHOG sets=([2-9]|1[01]) semget=ENOMEM '
	# (An IPC call: a container that makes none may be gone before crun
	# loads its plugins.)
	IPCNS_CONFIG=$cfg PLUGIN_SYSCTL='{"kernel.shmmni": "64"}' run plugin_run sysctl ipcmk -M 4096
	assert_failure
	assert_output --partial "ipcns-crun: container $(cid crun sysctl): linux.sysctl kernel.shmmni = 64 is above the operator's ceiling 32"
	echo '{"ipcnsd": {"ceilings": {"org.ipcns.fds": "many"}}}' >"$cfg"
	IPCNS_CONFIG=$cfg run plugin_run badcfg ipcmk -M 4096
	assert_failure
	assert_output --partial "ipcnsd.ceilings.org.ipcns.fds must be a decimal string"
}

# Hole 9 in the plugin: its fds are crun's (memfds, and a pidfd per
# process it watches), counted against the namespace's fd budget as in
# ipcnsd.  Before, the pidfds were not counted: at a budget of 100, the
# 64 attaching children of fdhog took crun past it and a SEM_UNDO semop
# still got its pidfd.  Now that semop gets ENOMEM (find_alloc_undo's
# errno) and crun holds the budget and its own fds, no more.
@test "crun plugin: a container at its namespace's fd budget gets Linux's errnos and crun holds no more" {
	local id b pid crun_pid n
	id=$(cid crun fdhog)
	b=$(bdir fdhog)
	PLUGIN_ANNOTATIONS='{"org.ipcns.fds": "100"}' plugin_bundle fdhog "$CT_TOOLS/ipc-hostile" fdhog "$CT_XCHG"
	ct_track crun "$id" fdhog
	(
		rc=0
		crun_fg run -b "$b" "$id" </dev/null >"$b/out" 2>&1 || rc=$?
		echo "$rc" >"$b/rc"
	) 3>&- &
	wait_out crun fdhog '^FDHOG' 60
	pid=$(ct_pid crun fdhog)
	crun_pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
	n=$(ls "/proc/$crun_pid/fd" | wc -l)
	echo "# $(grep '^FDHOG' "$b/out"); crun holds $n fds" >&3
	touch "$BATS_TEST_TMPDIR/xchg/go"
	run ct_wait crun fdhog 30
	assert_output 0
	run cat "$b/out"
	assert_output --regexp "FDHOG n=[0-9]+ shmget=ENFILE shmat_rdonly=ok semop_undo=ENOMEM"
	# The budget, and crun's own (its epoll and state files, the
	# helper's epoll sets and timers, stdio).
	[ "$n" -le 130 ] || fail "crun holds $n fds for a budget of 100"
}

# Hole 12 in the plugin: one line on crun's stderr per failing call
# (54,000 lines in 3 s measured before), now 20 per 10 s and a count.
@test "crun plugin: a container cannot flood crun's stderr" {
	local n
	PLUGIN_ANNOTATIONS='{"org.ipcns.objects-per-uid": "1"}' run plugin_run flood "$CT_TOOLS/ipc-hostile" logflood 3
	assert_success
	n=$(grep -c '^ipcns-crun: ' <<<"$output" || true)
	echo "# $(grep '^LOGFLOOD' <<<"$output"); crun's stderr had $n lines of the plugin" >&3
	[ "$n" -le 22 ] || fail "$n lines in 3 s"
	assert_output --regexp "ipcns-crun: container $(cid crun flood): [0-9]+ log lines suppressed in the last [0-9]+ s"
}

@test "crun plugin: deadlines and SEM_UNDO exits progress with no other call (helper thread)" {
	run plugin_run timers "$CT_TOOLS/plugin-timers"
	assert_success
	assert_line --regexp '^timeout: ret -1 errno 11 after (2[89][0-9]|[3-9][0-9][0-9]|1[0-9]{3}) ms$'
	assert_line --regexp '^undo: child 0 ret 0 errno 0 after [0-9]+ ms$'
}

@test "crun plugin: every conformance program passes inside a plugin container" {
	local nofile
	# Each segment is a memfd in the crun process, which takes the
	# container's RLIMIT_NOFILE: room for kernel.shmmni (4096) segments,
	# without raising the hard limit (not possible here, spec/architecture.md).
	nofile=$(ulimit -Hn)
	[ "$nofile" = unlimited ] || [ "$nofile" -gt 8192 ] && nofile=8192
	# IPCNS_CRUN_PLUGIN: sig_intr leaves out what the plugin does not do
	# (spec/compatibility.md: its signal watch has no drainer).
	CONF_ENV=IPCNS_CRUN_PLUGIN=1 PLUGIN_NOFILE=$nofile conformance_programs "crun plugin" plugin_run
	assert_ipcnsd_unused
}

@test "crun plugin: crun exec is refused; a killed container's crun exits cleanly" {
	local id b
	id=$(cid crun hold)
	b=$(bdir hold)
	plugin_bundle hold "$CT_TOOLS/ipc-hold" 3 5
	ct_track crun "$id" hold
	(
		rc=0
		crun_fg run -b "$b" "$id" </dev/null >"$b/out" 2>&1 || rc=$?
		echo "$rc" >"$b/rc"
	) 3>&- &
	wait_out crun hold '^READY'
	# The namespace lives in the `crun run' process: an exec would get a
	# second, empty one.
	run crun_fg exec "$id" ipcmk -M 4096
	assert_failure
	assert_output --partial "\`crun exec' processes cannot reach the namespace"
	# SIGKILL with calls parked in semop and msgrcv: the plugin's stop
	# frees them and crun reports the kill.
	rt crun kill "$id" KILL
	run ct_wait crun hold 20
	assert_success
	assert_output 137
	run cat "$b/out"
	refute_output --partial "ipcns-crun:"
	assert_ipcnsd_unused
}

@test "crun plugin: no memory error or leak of its own under ASan and UBSan" {
	local asan ubsan san=$IT_BUILD/lib/libipcns-crun-san.so id b
	asan=$(cc -print-file-name=libasan.so)
	ubsan=$(cc -print-file-name=libubsan.so)
	[ -e "$asan" ] && [ -e "$ubsan" ] && [ -f "$san" ] ||
		skip "needs libasan, libubsan and build/lib/libipcns-crun-san.so (make check builds it)"
	id=$(cid crun san)
	b=$(bdir san)
	# Parked calls and timers, then teardown with calls still parked.
	PLUGIN=$san BUNDLE_ENV="IPCNS_UNDER=1" plugin_bundle san sh -c \
		"$CT_BUILD/tests/conformance/sem_wait >/dev/null && echo sem_wait ok && exec $CT_TOOLS/ipc-hold 2 3"
	ct_track crun "$id" san
	(
		rc=0
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LD_PRELOAD="$asan $ubsan" \
			crun_fg run -b "$b" "$id" </dev/null >"$b/out" 2>&1 || rc=$?
		echo "$rc" >"$b/rc"
	) 3>&- &
	wait_out crun san '^READY' 60
	rt crun kill "$id" KILL
	ct_wait crun san 30 >/dev/null
	run cat "$b/out"
	assert_line "sem_wait ok"
	refute_output --partial "ERROR: AddressSanitizer"
	refute_output --partial "runtime error:"
	# crun 1.8.1 leaks its plugin table (48 bytes, its own frames); any
	# leak through the plugin's code names plugin/ or the .so.
	refute_output --regexp "(plugin/(crun|notify|core)/|libipcns-crun-san|<unknown module>)"
}
