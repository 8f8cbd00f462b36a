# SPDX-License-Identifier: MIT
# Integration harness: real runc and crun containers whose System V IPC is
# served by an ipcnsd of this test file.  Loaded by every *.bats here.
#
# Per .bats file (setup_file/teardown_file): a temp dir IT_DIR with the
# daemon's socket and log, runtime state roots, the compiled test tools and a
# base config.json.  Per test: bundles under BATS_TEST_TMPDIR, each container
# deleted in teardown whatever happened.
#
# Environment: IPCNS_IT_RUNTIMES (default "runc crun") limits the runtimes;
# a test for a runtime not listed is skipped.  IPCNS_IT_KEEP=1 keeps IT_DIR.
# IPCNS_IT_DAEMON=PATH runs that ipcnsd instead of build/bin/ipcnsd-san (the
# ASan build, when made and up to date) or build/bin/ipcnsd; IPCNSD_EXTRA_ARGS are added to
# its command line.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

IT_REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
IT_BUILD=$IT_REPO/build
IT_SHIM=$IT_BUILD/bin/ipcns-runtime
IT_QUERY=$IT_BUILD/examples/control_query

# Paths inside the containers.
CT_BUILD=/ipcns # the repo's build dir, read-only
CT_TOOLS=/it    # the build's tests/integration: the container-side programs, read-only
CT_XCHG=/xchg   # BATS_TEST_TMPDIR/xchg, read-write: files the test and containers share
PRODUCER=$CT_BUILD/examples/shm_producer
IT_TIMEOUT=${IT_TIMEOUT:-120} # seconds a runtime command may take
CONSUMER=$CT_BUILD/examples/shm_consumer

# Capabilities of a container made with BUNDLE_CAPS=all: root's, less
# CAP_SYS_RESOURCE, which is not usable on these machines (spec/architecture.md).
IT_ALL_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL",
"CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST",
"CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO",
"CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE",
"CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL",
"CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND",
"CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"]'

# ---- The daemon.

# ipcnsd_alive [PID]: the process exists and is not a zombie.
ipcnsd_alive() {
	local pid=${1:-$IPCNSD_PID} stat
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# ipcnsd_launch SOCKET LOG: start an ipcnsd (the ASan build when there is
# one) in the background; sets LAUNCHED_PID.  Waits until it answers.
# it_daemon_bin: IT_DAEMON_BIN, the ipcnsd the tests run: the ASan build
# when it is made and up to date, else build/bin/ipcnsd.  `make' alone does
# not rebuild ipcnsd-san, and a stale one would test old code; asked of
# make once (exported from setup_file to the file's tests).
it_daemon_bin() {
	[ -z "${IT_DAEMON_BIN:-}" ] || return 0
	IT_DAEMON_BIN=$IT_BUILD/bin/ipcnsd
	if [ -x "$IT_BUILD/bin/ipcnsd-san" ]; then
		if make -q -C "$IT_REPO" build/bin/ipcnsd-san >/dev/null 2>&1; then
			IT_DAEMON_BIN=$IT_BUILD/bin/ipcnsd-san
		else
			echo "# build/bin/ipcnsd-san is out of date: the tests run build/bin/ipcnsd (make build/bin/ipcnsd-san for ASan)" >&2
		fi
	fi
	export IT_DAEMON_BIN
}

ipcnsd_launch() {
	local sock=$1 log=$2 bin=${IPCNS_IT_DAEMON:-}
	if [ -z "$bin" ]; then
		it_daemon_bin
		bin=$IT_DAEMON_BIN
	fi
	# fd 3 is bats' own: a background process holding it hangs bats.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
		"$bin" --socket "$sock" ${IPCNSD_EXTRA_ARGS:-} </dev/null >>"$log" 2>&1 3>&- &
	LAUNCHED_PID=$!
	local i
	for i in $(seq 100); do
		"$IT_QUERY" "$sock" >/dev/null 2>&1 && return 0
		ipcnsd_alive "$LAUNCHED_PID" || break
		sleep 0.1
	done
	echo "$bin did not come up on $sock; its log:" >&2
	cat "$log" >&2
	return 1
}

# ipcnsd_stop PID LOG [handover]: stop it for good (ipcnsctl shutdown: it
# and its keeper), or with `handover' by SIGTERM for a next ipcnsd to take
# over (spec/lifecycle.md); wait for the exit, fail if it does not exit or
# its log has a sanitizer report.
ipcnsd_stop() {
	local pid=$1 log=$2 how=${3:-} sock i
	sock=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n '/^--socket$/{n;p;q}')
	if [ "$how" = handover ] || [ -z "$sock" ] ||
		! "$IT_BUILD/bin/ipcnsctl" --socket "$sock" shutdown >/dev/null 2>&1; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	for i in $(seq 100); do
		ipcnsd_alive "$pid" || break
		sleep 0.1
	done
	if ipcnsd_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		echo "ipcnsd (pid $pid) did not exit within 10 s of SIGTERM" >&2
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|Undefined)' "$log"; then
		echo "sanitizer report in $log:" >&2
		cat "$log" >&2
		return 1
	fi
}

ipcns_setup_file() {
	if [ "$(id -u)" != 0 ]; then
		echo "the integration tests run containers: run them as root" >&2
		return 1
	fi
	local f
	for f in "$IT_BUILD/bin/ipcnsd" "$IT_SHIM" "$IT_QUERY" "$IT_BUILD/examples/shm_producer" \
		"$IT_BUILD/examples/shm_consumer" "$IT_BUILD/tests/integration/ipc-hold" \
		"$IT_BUILD/tests/integration/ipc-hostile"; do
		if [ ! -x "$f" ]; then
			echo "missing $f: run 'make all' first" >&2
			return 1
		fi
	done
	IT_DIR=$(mktemp -d /tmp/ipcns-it.XXXXXX)
	export IT_DIR IT_TAG=${IT_DIR##*.}
	mkdir -p "$IT_DIR/base" "$IT_DIR/runc" "$IT_DIR/crun"
	(cd "$IT_DIR/base" && runc spec)
	export IPCNS_SOCKET=$IT_DIR/ipcnsd.sock IPCNSD_LOG=$IT_DIR/ipcnsd.log
	ipcnsd_launch "$IPCNS_SOCKET" "$IPCNSD_LOG"
	export IPCNSD_PID=$LAUNCHED_PID
}

ipcns_teardown_file() {
	[ -n "${IT_DIR:-}" ] || return 0
	local r id ret=0
	# Containers a failed teardown left behind.
	for r in runc crun; do
		for id in $(rt "$r" list -q 2>/dev/null); do
			rt "$r" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
	if [ -n "${IPCNSD_PID:-}" ]; then
		if ! ipcnsd_alive; then
			echo "ipcnsd (pid $IPCNSD_PID) died during the tests; log $IPCNSD_LOG:" >&2
			tail -50 "$IPCNSD_LOG" >&2
			ret=1
		fi
		ipcnsd_stop "$IPCNSD_PID" "$IPCNSD_LOG" || ret=1
	fi
	it_unmount "$IT_DIR"
	if [ "$ret" = 0 ] && [ -z "${IPCNS_IT_KEEP:-}" ]; then
		rm -rf "$IT_DIR"
	else
		echo "kept $IT_DIR" >&2
	fi
	return "$ret"
}

# it_unmount DIR: lazily unmount what is mounted at or under DIR: the view
# of an ipcnsd that died with no keeper to let it go (SIGKILL with
# --no-keeper), which nothing else would unmount.
it_unmount() {
	local m
	for m in $(awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -ru); do
		umount -l "$m" 2>/dev/null || true
	done
}

# keeper_of SOCKET LOG: the pid of the keeper that holds SOCKET's fds (from
# LOG), if it still runs.
keeper_of() {
	local pid
	pid=$(sed -n "s|.*ipcns-keeper: holding fds for ipcnsd on $1 (pid \([0-9]*\)).*|\1|p" "$2" 2>/dev/null | tail -1)
	[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "ipcns-keeper --socket $1 " &&
		echo "$pid"
}

# ---- Per test.

ipcns_setup() {
	mkdir -p "$BATS_TEST_TMPDIR/xchg"
	: >"$BATS_TEST_TMPDIR/containers"
	IT_LOG_START=$(wc -l <"$IPCNSD_LOG")
}

ipcns_teardown() {
	local r id name b
	while read -r r id name; do
		rt "$r" delete -f "$id" >/dev/null 2>&1 || true
		# The runtime of a ct_start container exits once its init is
		# gone.
		b=$(bdir "$name")
		[ -e "$b/out" ] && { wait_for 10 test -s "$b/rc" >/dev/null 2>&1 || true; }
	done <"$BATS_TEST_TMPDIR/containers"
	if ! ipcnsd_alive; then
		echo "ipcnsd died; the end of its log:" >&2
		tail -30 "$IPCNSD_LOG" >&2
		return 1
	fi
	if [ "${BATS_TEST_COMPLETED:-}" != 1 ]; then
		echo "--- ipcnsd log during this test:" >&2
		tail -n +"$((IT_LOG_START + 1))" "$IPCNSD_LOG" | tail -40 >&2
	fi
}

# The usual file and test set-up: one ipcnsd per file, a fresh exchange
# dir per test.  A file that needs more defines its own after `load
# helpers', calling these.
setup_file() { ipcns_setup_file; }
teardown_file() { ipcns_teardown_file; }
setup() { ipcns_setup; }
teardown() { ipcns_teardown; }

# need_runtime RT: skip unless RT is installed and selected.
need_runtime() {
	case " ${IPCNS_IT_RUNTIMES:-runc crun} " in
	*" $1 "*) ;;
	*) skip "$1 not in IPCNS_IT_RUNTIMES" ;;
	esac
	command -v "$1" >/dev/null || skip "$1 is not installed"
}

# ---- Runtimes.

# crun needs cgroup2 on /sys/fs/cgroup, which these machines mount only at
# /sys/fs/cgroup/unified: give it a private mount namespace with that mount
# (spec/architecture.md, "Facts measured").
in_cgroup2() {
	unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' in_cgroup2 "$@"
}

# rt RT ARG...: the real runtime, with this file's state root (or
# RT_ROOT's, for the call).
rt() {
	local r=$1
	shift
	case $r in
	runc) runc --root "${RT_ROOT:-$IT_DIR/runc}" "$@" ;;
	crun) in_cgroup2 crun --root "${RT_ROOT:-$IT_DIR/crun}" "$@" ;;
	*) echo "rt: unknown runtime $r" >&2 && return 2 ;;
	esac
}

# shim RT ARG...: ipcns-runtime in front of RT, pointed at this file's
# ipcnsd (IPCNS_SOCKET may be overridden for the call) and state root
# (RT_ROOT may be).
shim() {
	local r=$1
	shift
	# A hung container fails its test instead of the whole run.
	case $r in
	runc) IPCNS_RUNTIME=runc timeout "$IT_TIMEOUT" "$IT_SHIM" --root "${RT_ROOT:-$IT_DIR/runc}" "$@" ;;
	crun) IPCNS_RUNTIME=crun timeout "$IT_TIMEOUT" unshare -m sh -c \
		'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' in_cgroup2 \
		"$IT_SHIM" --root "${RT_ROOT:-$IT_DIR/crun}" "$@" ;;
	*) echo "shim: unknown runtime $r" >&2 && return 2 ;;
	esac
}

# cid RT NAME: the container id of NAME in this test, unique in this run.
cid() {
	echo "it$IT_TAG-$BATS_TEST_NUMBER-$1-$2"
}

# bdir NAME: the bundle directory of NAME.
bdir() {
	echo "$BATS_TEST_TMPDIR/bundle-$1"
}

# make_bundle NAME ARG...: a bundle whose process runs ARG... in a rootfs of
# the host's read-only /usr /lib /lib64 /bin /sbin /etc, the build dir at
# CT_BUILD, the test tools at CT_TOOLS, the exchange dir at CT_XCHG and a
# tmpfs /tmp.  Knobs, as variables for the call:
#   BUNDLE_IPC_PATH=/proc/PID/ns/ipc  join that kernel IPC namespace
#   BUNDLE_CAPS=all                   root's capabilities (IT_ALL_CAPS)
#   BUNDLE_ENV="K=V ..."              more environment variables
#   BUNDLE_ANNOTATIONS='{"k": "v"}'   annotations (a JSON object)
#   BUNDLE_USERNS=HOSTID              a user namespace: its ids 0..65535
#                                     are host ids HOSTID..
make_bundle() {
	local name=$1 b
	shift
	b=$(bdir "$name")
	mkdir -p "$b/rootfs"
	(cd "$b/rootfs" && mkdir -p usr lib lib64 bin sbin etc proc dev sys tmp "${CT_BUILD#/}" "${CT_TOOLS#/}" \
		"${CT_XCHG#/}")
	# The arguments, as --arg a0 ARG0 --arg a1 ARG1 ...: any bytes but NUL.
	local jqargs=() i=0 a
	for a in "$@"; do
		jqargs+=(--arg "a$i" "$a")
		i=$((i + 1))
	done
	# No linux.resources: crun cannot apply them here (spec/architecture.md); no
	# cgroup mount, for the same reason.
	jq "${jqargs[@]}" --argjson nargs "$i" --arg build "$IT_BUILD" --arg tools "$IT_BUILD/tests/integration" \
		--arg xchg "$BATS_TEST_TMPDIR/xchg" --arg ipc "${BUNDLE_IPC_PATH:-}" \
		--arg caps "${BUNDLE_CAPS:-}" --argjson allcaps "$IT_ALL_CAPS" --arg env "${BUNDLE_ENV:-}" \
		--argjson annotations "${BUNDLE_ANNOTATIONS:-null}" --arg userns "${BUNDLE_USERNS:-}" \
		--arg ctb "$CT_BUILD" --arg ctt "$CT_TOOLS" --arg ctx "$CT_XCHG" '
		.process.terminal = false
		| .process.args = [range(0; $nargs) as $k | $ARGS.named["a\($k)"]]
		| .process.env += ($env | split(" ") | map(select(. != "")))
		| .root.readonly = true
		| .hostname = "ipcns-it"
		| if $annotations != null then .annotations = (.annotations // {}) + $annotations else . end
		| del(.linux.resources)
		| .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]
			+ (["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
			   | map({destination: ., type: "bind", source: ., options: ["rbind", "ro"]}))
			+ [{destination: $ctb, type: "bind", source: $build, options: ["rbind", "ro"]},
			   {destination: $ctt, type: "bind", source: $tools, options: ["rbind", "ro"]},
			   {destination: $ctx, type: "bind", source: $xchg, options: ["rbind", "rw"]},
			   {destination: "/tmp", type: "tmpfs", source: "tmpfs",
			    options: ["nosuid", "nodev", "mode=1777", "size=65536k"]}]
		| if $ipc != "" then
			.linux.namespaces = [.linux.namespaces[]
				| if .type == "ipc" then {type: "ipc", path: $ipc} else . end]
		  else . end
		| if $caps == "all" then
			.process.capabilities = {bounding: $allcaps, effective: $allcaps,
				permitted: $allcaps, inheritable: $allcaps}
			| .process.noNewPrivileges = false
		  else . end
		| if $userns != "" then
			.linux.namespaces += [{type: "user"}]
			| .linux.uidMappings = [{containerID: 0, hostID: ($userns | tonumber), size: 65536}]
			| .linux.gidMappings = [{containerID: 0, hostID: ($userns | tonumber), size: 65536}]
		  else . end' \
		"$IT_DIR/base/config.json" >"$b/config.json"
	if [ -n "${BUNDLE_USERNS:-}" ]; then
		# The container's root is not host root: it must reach the
		# rootfs and the exchange dir through the test's 0700 dirs.
		local d=$b
		while [ "$d" != / ] && [ "$d" != /tmp ]; do
			chmod a+x "$d"
			d=$(dirname "$d")
		done
	fi
}

# ct_track RT ID NAME: delete this container in teardown.
ct_track() {
	echo "$1 $2 $3" >>"$BATS_TEST_TMPDIR/containers"
}

# ct_run RT NAME ARG...: run a container in the foreground through the
# shim; its output is the container's; the container is deleted after.
# Use with `run`.
ct_run() {
	local r=$1 name=$2 id rc=0
	shift 2
	id=$(cid "$r" "$name")
	make_bundle "$name" "$@"
	ct_track "$r" "$id" "$name"
	shim "$r" run -b "$(bdir "$name")" "$id" </dev/null || rc=$?
	rt "$r" delete -f "$id" >/dev/null 2>&1 || true
	return "$rc"
}

# ct_start RT NAME ARG...: start a container through the shim in the
# background and wait until the runtime reports it running.  The runtime
# runs in the foreground (`run` without -d) as a background job, so that it
# stays the parent of the container's init, reaps it and reports its exit
# status, as containerd's shim does.  The container's output goes to
# $(bdir NAME)/out, its exit status to $(bdir NAME)/rc.
ct_start() {
	local r=$1 name=$2 id b
	shift 2
	id=$(cid "$r" "$name")
	b=$(bdir "$name")
	make_bundle "$name" "$@"
	ct_track "$r" "$id" "$name"
	rm -f "$b/rc"
	(
		rc=0
		shim "$r" run -b "$b" "$id" </dev/null >"$b/out" 2>&1 || rc=$?
		echo "$rc" >"$b/rc"
	) 3>&- &
	if ! wait_for 20 ct_started "$r" "$name"; then
		echo "container $id ($r) did not start; its output:" >&2
		cat "$b/out" >&2
		return 1
	fi
}

# ct_started RT NAME: the container runs, or has already run and exited.
ct_started() {
	[ -e "$(bdir "$2")/rc" ] || [ "$(ct_status "$1" "$2")" = running ]
}

# ct_wait RT NAME [TIMEOUT]: wait until a container of ct_start has exited;
# prints its exit status.  Fails on timeout.
ct_wait() {
	local b
	b=$(bdir "$2")
	if ! wait_for "${3:-20}" test -s "$b/rc"; then
		echo "container $2 ($1) still $(ct_status "$1" "$2") after ${3:-20} s; its output:" >&2
		cat "$b/out" >&2
		return 1
	fi
	cat "$b/rc"
}

# ct_pid RT NAME: the host pid of the container's init.
ct_pid() {
	rt "$1" state "$(cid "$1" "$2")" | jq -er .pid
}

# ct_status RT NAME: running, stopped, ... (nothing if it does not exist).
ct_status() {
	rt "$1" state "$(cid "$1" "$2")" 2>/dev/null | jq -r .status
}

# wait_for TIMEOUT CMD...: poll CMD every 0.05 s until it succeeds.
wait_for() {
	local timeout=$1 i
	shift
	for i in $(seq "$((timeout * 20))"); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

# state_of RT NAME: the state letter of the container's init in /proc.
state_of() {
	local pid
	pid=$(ct_pid "$1" "$2") || return 1
	sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat"
}

# daemon_stops RT CALL [NAME]: a container (NAME, default dCALL) whose init
# waits in CALL with a SIGTERM handler (sig-park daemon) stops with its own
# exit status when the runtime sends SIGTERM; parked, it is seen sleeping.
daemon_stops() {
	local r=$1 call=$2 name=${3:-d$2} id
	id=$(cid "$r" "$name")
	ct_start "$r" "$name" "$CT_TOOLS/sig-park" daemon "$call"
	wait_out "$r" "$name" READY
	wait_for 10 test "$(state_of "$r" "$name")" = S
	sleep 0.2
	assert_equal "$(state_of "$r" "$name")" S
	rt "$r" kill "$id" TERM
	run ct_wait "$r" "$name" 10
	assert_success
	assert_output 42
	run cat "$(bdir "$name")/out"
	assert_output --partial "stopped after 1 calls, the handler run 1 times"
}

# host_storm [N]: a signal storm on the host, outside any container, for
# the test: N (default two) processes raising SIGUSR1 with a handler in a
# loop for 60 s (sig-park storm); host_storm_stop, in teardown, ends it.
host_storm() {
	"$IT_BUILD/tests/integration/sig-park" storm 60 "${1:-2}" >"$BATS_TEST_TMPDIR/storm.out" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/storm.pid"
	wait_for 10 grep -q READY "$BATS_TEST_TMPDIR/storm.out"
}
host_storm_stop() {
	local p
	if p=$(cat "$BATS_TEST_TMPDIR/storm.pid" 2>/dev/null); then
		pkill -P "$p" || true
		wait "$p" || true
	fi
}

# threads_stopped PID: every thread of PID is in a stop (state T or t).
threads_stopped() {
	local f st
	for f in /proc/"$1"/task/*/stat; do
		st=$(sed 's/.*) //' "$f" 2>/dev/null | cut -d' ' -f1)
		case $st in T | t) ;; *) return 1 ;; esac
	done
}

# _until_or_exit RT NAME TIMEOUT CMD...: poll CMD while the container of
# ct_start runs; fail, showing its output, on timeout or when it exited
# without CMD succeeding.
_until_or_exit() {
	local r=$1 name=$2 timeout=$3 b i
	shift 3
	b=$(bdir "$name")
	for i in $(seq "$((timeout * 20))"); do
		"$@" && return 0
		if [ -s "$b/rc" ]; then
			"$@" && return 0
			echo "container $name ($r) exited with $(cat "$b/rc") before: $*; its output:" >&2
			cat "$b/out" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "container $name ($r): still no '$*' after $timeout s; its output:" >&2
	cat "$b/out" >&2
	return 1
}

# wait_out RT NAME PATTERN [TIMEOUT]: wait for PATTERN (grep -E) in the
# output of a container of ct_start.
wait_out() {
	_until_or_exit "$1" "$2" "${4:-20}" grep -qE "$3" "$(bdir "$2")/out"
}

# wait_ready RT NAME FILE [TIMEOUT]: wait until the container of ct_start
# creates CT_XCHG/FILE.
wait_ready() {
	_until_or_exit "$1" "$2" "${4:-20}" test -e "$BATS_TEST_TMPDIR/xchg/$3"
}

# ---- Tests with a daemon of their own, and the hostile container side.

# file_daemon_save (in setup) and file_daemon_restore (in teardown, before
# ipcns_teardown): for tests that point the helpers (IPCNS_SOCKET,
# IPCNSD_PID, IPCNSD_LOG) at another ipcnsd, the file's daemon to go back
# to.
file_daemon_save() {
	FILE_SOCKET=$IPCNS_SOCKET FILE_PID=$IPCNSD_PID FILE_LOG=$IPCNSD_LOG
	OWN_PID=
}
file_daemon_restore() {
	export IPCNS_SOCKET=$FILE_SOCKET IPCNSD_PID=$FILE_PID IPCNSD_LOG=$FILE_LOG
}

# own_daemon_setup and own_daemon_teardown: setup() and teardown() of a
# file whose tests may run an ipcnsd of their own (own_daemon).
own_daemon_setup() {
	ipcns_setup
	file_daemon_save
}
own_daemon_teardown() {
	own_daemon_stop
	file_daemon_restore
	ipcns_teardown
}

# own_daemon NAME: this test gets an ipcnsd of its own on IT_DIR/NAME.sock
# (pid OWN_PID) and the helpers talk to it, for tests that stop a daemon
# or may leave one holding processes.
own_daemon() {
	ipcnsd_launch "$IT_DIR/$1.sock" "$IT_DIR/$1.log"
	OWN_PID=$LAUNCHED_PID
	export IPCNS_SOCKET=$IT_DIR/$1.sock IPCNSD_PID=$LAUNCHED_PID IPCNSD_LOG=$IT_DIR/$1.log
}

# own_daemon_stop: in teardown, before file_daemon_restore.  The test's
# own daemon goes first: a process it still traced is released when it
# exits, so the containers can be deleted.  The end of its log when the
# test failed.
own_daemon_stop() {
	[ -n "${OWN_PID:-}" ] || return 0
	local keeper
	if ipcnsd_alive "$OWN_PID"; then
		ipcnsd_stop "$OWN_PID" "$IPCNSD_LOG" || true
	elif keeper=$(keeper_of "$IPCNS_SOCKET" "$IPCNSD_LOG"); then
		# Killed and not started again: its keeper lets everything go
		# (and unmounts the view) now rather than after its grace.
		kill -TERM "$keeper" 2>/dev/null || true
		wait_for 10 eval '! ipcnsd_alive '"$keeper" || true
	fi
	it_unmount "${IPCNS_SOCKET%.sock}.view"
	if [ "${BATS_TEST_COMPLETED:-}" != 1 ]; then
		echo "--- log of this test's ipcnsd:" >&2
		tail -30 "$IPCNSD_LOG" >&2
	fi
}

# The container side of the hostile, unreachable, leaks and restart tests
# (ipc-hostile.c, built by the Makefile).
HOSTILE=$CT_TOOLS/ipc-hostile

# ---- The conformance programs in containers.

# conformance_programs LABEL RUNNER...: run every conformance program
# (build/tests/conformance/*, found at run time), each in a container of
# its own made by `RUNNER... NAME PATH' (ct_run RT, plugin_run), under the
# programs' contract (tests/conformance/shm_common.h): root with every
# capability, a fresh IPC namespace, IPCNS_UNDER=1 under ipcnsd.  Exit
# status 77 is a skip, listed in the TAP stream.  Fails if a program
# failed; skips if every program skipped.  The 32-bit (i386) programs
# (NAME.m32) are left out, or run alone with CONF_M32=1.
conformance_programs() {
	local label=$1 p name rc out t0
	local -a passed=() failed=() skipped=()
	shift
	for p in "$IT_BUILD"/tests/conformance/*; do
		[ -f "$p" ] && [ -x "$p" ] || continue
		name=${p##*/}
		if [ "${CONF_M32:-0}" = 1 ]; then
			[[ $name == *.m32 ]] || continue
		else
			[[ $name != *.m32 ]] || continue
		fi
		out=$BATS_TEST_TMPDIR/$name.out
		t0=$SECONDS
		rc=0
		BUNDLE_CAPS=all BUNDLE_ENV="IPCNS_UNDER=1 ${CONF_ENV:-}" \
			"$@" "$name" "$CT_BUILD/tests/conformance/$name" >"$out" 2>&1 || rc=$?
		case $rc in
		0) passed+=("$name") ;;
		77)
			skipped+=("$name")
			echo "# $label: $name skipped: $(sed -n 's/^SKIP: //p' "$out" | head -1)" >&3
			;;
		*)
			failed+=("$name")
			echo "--- $name: exit $rc after $((SECONDS - t0)) s:"
			# The plugin's own messages name ipcns-crun.
			if grep -qE '^(FAIL|not ok)|ipcns-crun' "$out"; then
				grep -E '^(FAIL|not ok)|ipcns-crun' "$out" | head -20
			else
				tail -10 "$out"
			fi
			;;
		esac
	done
	echo "# $label: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped" >&3
	if [ "${#failed[@]}" -gt 0 ]; then
		fail "$label: failed: ${failed[*]}"
	fi
	if [ "${#passed[@]}" -eq 0 ]; then
		skip "no conformance program passed or failed (${#skipped[@]} skipped)"
	fi
}

# ---- ipcnsd's control socket.

# ctl [JSON]: one request (default ps), the reply on stdout.
ctl() {
	local req='{"command":"ps"}'
	[ $# -gt 0 ] && req=$1
	"$IT_QUERY" "$IPCNS_SOCKET" "$req"
}

# ns_of_pid PID: ipcnsd's name of the namespace of the container whose init
# is PID (the kernel IPC namespace inode, spec/architecture.md "Data flow" 3).
ns_of_pid() {
	local link
	link=$(readlink "/proc/$1/ns/ipc") || return 1
	link=${link#ipc:[}
	echo "ipc:${link%]}"
}

# ps_ns NSKEY: that namespace's entry in the ps reply (null if absent).
ps_ns() {
	ctl | jq -c --arg k "$1" '[.namespaces[] | select(.namespace == $k)][0]'
}

# daemon_fds / daemon_memfds: open fds of ipcnsd, and those that are memfds.
daemon_fds() {
	ls "/proc/$IPCNSD_PID/fd" | wc -l
}
# daemon_rss_kb: ipcnsd's resident memory.
daemon_rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$IPCNSD_PID/status"
}
# The daemon's own memory (heap, stacks), and the shared memfd pages it
# maps (each namespace's journal, held by the keeper too).
daemon_anon_kb() {
	awk '/^RssAnon:/ {print $2}' "/proc/$IPCNSD_PID/status"
}
daemon_shmem_kb() {
	awk '/^RssShmem:/ {print $2}' "/proc/$IPCNSD_PID/status"
}
daemon_memfds() {
	# The view's record of its requests in flight is one memfd for the
	# daemon's life, not a namespace's.
	ls -l "/proc/$IPCNSD_PID/fd" | grep memfd | grep -vc ipcns-view-inflight || true
}

# ---- PostgreSQL in a container (clients.bats, restart.bats).
PGBIN=/usr/lib/postgresql/15/bin

# pg_prepare: skip the test without PostgreSQL 15; else the container's
# library (tests/lib/pg-cluster.sh, which the container's script sources)
# into CT_XCHG, and CT_XCHG/pg owned by postgres for the cluster.
pg_prepare() {
	local x=$BATS_TEST_TMPDIR/xchg
	[ -x "$PGBIN/postgres" ] || skip "PostgreSQL 15 is not installed ($PGBIN)"
	cp "$IT_REPO/tests/lib/pg-cluster.sh" "$x/"
	mkdir "$x/pg"
	chown postgres:postgres "$x/pg"
}
