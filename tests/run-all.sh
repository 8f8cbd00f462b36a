#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every test of ipcns and end with one line "N passed, N failed, N skipped".
#   unit         cmocka programs under ASan+UBSan, each test counted
#   conformance  each program run natively (fresh kernel IPC namespace) and
#                under ipcnsd (ASan build), each run counted
#   integration  bats with real runc and crun containers, each test counted
# A skip is counted and printed with its reason.  Exit status 1 on any failure.
# TESTS=unit,conformance,integration selects sections (default: all).
set -u
cd "$(dirname "$0")/.." || exit 1
B=build
LOGS=$B/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
SECTIONS=${TESTS:-unit,conformance,integration}
TIMEOUT=${IPCNS_TEST_TIMEOUT:-120}

pass=0
fail=0
skip=0
failed=()
skipped=()

ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); failed+=("$1"); echo "FAIL: $1"; }
sk() { skip=$((skip + 1)); skipped+=("$1: $2"); echo "SKIP: $1: $2"; }
want() { [[ ",$SECTIONS," == *",$1,"* ]]; }

# ---- unit
if want unit; then
	echo "== unit tests (cmocka, ASan+UBSan)"
	for t in "$B"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		out=$LOGS/unit-$name.log
		ASAN_OPTIONS=detect_leaks=1 CMOCKA_MESSAGE_OUTPUT=stdout timeout "$TIMEOUT" "$t" >"$out" 2>&1
		rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		s=$(grep -c '^\[  SKIPPED \]' "$out")
		pass=$((pass + ${p:-0}))
		for _ in $(seq 1 "$s"); do sk "$name" "$(grep -m1 -i 'skip' "$out" | head -c 200)"; done
		if [ -n "$f" ] && [ "$f" -gt 0 ]; then
			fail=$((fail + f))
			while read -r line; do failed+=("$name: $line"); done < <(sed -n 's/^\[  FAILED  \] \([a-z_0-9]*\)$/\1/p' "$out")
			echo "FAIL: $name ($f failed, see $out)"
		elif [ "$rc" -ne 0 ]; then
			ko "$name (exit $rc, see $out)"
			tail -5 "$out"
		else
			echo "ok: $name (${p:-0} tests)"
		fi
	done
fi

# ---- conformance
run_conf() { # mode prog
	local mode=$1 prog=$2 name out rc
	name="$(basename "$prog") [$mode]"
	out=$LOGS/conf-$(basename "$prog")-$mode.log
	if [ "$mode" = native ]; then
		IPCNS_UNDER=0 timeout "$TIMEOUT" unshare -i "$prog" >"$out" 2>&1
	else
		IPCNS_UNDER=1 timeout "$TIMEOUT" "$B"/tests/tools/ipcns-run --socket "$SOCK" $(view_of "$SOCK") -- "$prog" >"$out" 2>&1
	fi
	rc=$?
	case $rc in
	0) ok; echo "ok: $name" ;;
	77) sk "$name" "$(sed -n 's/^SKIP: //p' "$out" | head -1)" ;;
	124) ko "$name (timed out after ${TIMEOUT}s, see $out)" ;;
	*) ko "$name (exit $rc, see $out)"; grep -m5 FAIL "$out" ;;
	esac
}

# view_of SOCKET: the ipcns-run option that binds the daemon's view
# (/proc/sysvipc and the IPC sysctls of the program's namespace) when it
# serves one, as ipcns-hook does in a container.
view_of() {
	local v=${1%.sock}.view
	mountpoint -q "$v" && echo "--view $v"
}

# daemon_done PID NAME LOG REPORTS REPORTS_LOG WHAT CLEAN SOCKET: stop a
# sanitizer build of ipcnsd after a run, for good (it and its keeper:
# spec/lifecycle.md); it must have lived through it, exit 0 and leave no
# sanitizer report (files REPORTS*).  Two results.
daemon_done() {
	local pid=$1 name=$2 log=$3 reports=$4 rlog=$5 what=$6 clean=$7 sock=$8 rc
	if kill -0 "$pid" 2>/dev/null; then
		"$B/bin/ipcnsctl" --socket "$sock" shutdown >/dev/null 2>&1 || kill -TERM "$pid"
		wait "$pid"
		rc=$?
		[ "$rc" -eq 0 ] && ok || ko "$name exited with status $rc after the run (see $log)"
	else
		wait "$pid"
		ko "$name died during the run (status $?, see $log)"
	fi
	if ls "$reports"* >/dev/null 2>&1; then
		cat "$reports"* >"$rlog"
		ko "$name reported $what (see $rlog)"
		head -40 "$rlog"
	else
		ok
		echo "ok: $name ran $clean"
	fi
}

if want conformance; then
	echo "== conformance tests (natively, then under ipcnsd)"
	RUN=$(mktemp -d /tmp/ipcns-check.XXXXXX)
	SOCK=$RUN/ipcnsd.sock
	DAEMON=$B/bin/ipcnsd-san
	[ -x "$DAEMON" ] || DAEMON=$B/bin/ipcnsd
	ASAN_OPTIONS=detect_leaks=1:log_path=$RUN/asan "$DAEMON" --socket "$SOCK" 2>"$LOGS/ipcnsd-conformance.log" &
	dpid=$!
	for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
	progs=()
	for p in "$B"/tests/conformance/*; do [ -x "$p" ] && progs+=("$p"); done
	# The 32-bit set (NAME.m32, the Makefile's CONF32) is built where
	# the compiler can make i386 programs.
	if [ "$(uname -m)" = x86_64 ] && ! ls "$B"/tests/conformance/*.m32 >/dev/null 2>&1; then
		why=$(printf 'int main(void){return 0;}\n' | ${CC:-gcc} -m32 -static -x c -o /dev/null - 2>&1 | head -1)
		sk "conformance 32-bit (i386) programs [native, ipcnsd]" "no i386 toolchain (gcc -m32 -static: $why)"
	fi
	for p in "${progs[@]}"; do run_conf native "$p"; done
	if [ -S "$SOCK" ]; then
		for p in "${progs[@]}"; do run_conf ipcnsd "$p"; done
	else
		ko "ipcnsd did not start (see $LOGS/ipcnsd-conformance.log)"
	fi
	daemon_done "$dpid" ipcnsd "$LOGS/ipcnsd-conformance.log" "$RUN/asan" "$LOGS/ipcnsd-asan.log" \
		"memory errors or leaks under ASan" "the conformance suite clean under ASan/LSan" "$SOCK"

	# Every program at once, each in its own namespace, against a
	# ThreadSanitizer ipcnsd: the namespaces' worker threads, the proc
	# connector and the registry race for real.
	TDAEMON=$B/bin/ipcnsd-tsan
	if [ -x "$TDAEMON" ]; then
		TSOCK=$RUN/ipcnsd-tsan.sock
		TSAN_OPTIONS=log_path=$RUN/tsan:halt_on_error=0 "$TDAEMON" --socket "$TSOCK" \
			2>"$LOGS/ipcnsd-tsan.log" &
		tpid=$!
		for _ in $(seq 1 50); do [ -S "$TSOCK" ] && break; sleep 0.1; done
		cpids=()
		for p in "${progs[@]}"; do
			IPCNS_UNDER=1 timeout $((TIMEOUT * 3)) "$B"/tests/tools/ipcns-run --socket "$TSOCK" $(view_of "$TSOCK") -- "$p" \
				>"$LOGS/conf-$(basename "$p")-tsan.log" 2>&1 &
			cpids+=($!)
		done
		# Meanwhile an operator asks for ps and for ipcs of every
		# container, again and again: the main thread takes namespaces
		# from under their workers.  A container may be gone between ps
		# and ipcs; ps itself must always answer.
		(
			nps=0 nipcs=0 bad=0
			any_alive() { for c in "${cpids[@]}"; do kill -0 "$c" 2>/dev/null && return 0; done; return 1; }
			while any_alive; do
				out=$("$B"/bin/ipcnsctl --socket "$TSOCK" --json ps 2>&1)
				if [ "$(jq -r .ok <<<"$out" 2>/dev/null)" != true ]; then
					bad=$((bad + 1))
					echo "ps: $out" >>"$LOGS/ipcnsd-tsan-operator.log"
				fi
				nps=$((nps + 1))
				for id in $(jq -r '.namespaces[]?.containers[]?.id' <<<"$out" 2>/dev/null); do
					"$B"/bin/ipcnsctl --socket "$TSOCK" --json ipcs "$id" >/dev/null 2>&1
					nipcs=$((nipcs + 1))
				done
			done
			echo "$nps $nipcs $bad" >"$RUN/operator"
		) &
		opid=$!
		for i in "${!progs[@]}"; do
			wait "${cpids[$i]}"
			rc=$?
			name="$(basename "${progs[$i]}") [ipcnsd-tsan, all at once]"
			case $rc in
			0) ok; echo "ok: $name" ;;
			77) sk "$name" "$(sed -n 's/^SKIP: //p' "$LOGS/conf-$(basename "${progs[$i]}")-tsan.log" | head -1)" ;;
			*) ko "$name (exit $rc, see $LOGS/conf-$(basename "${progs[$i]}")-tsan.log)" ;;
			esac
		done
		wait "$opid"
		read -r nps nipcs bad <"$RUN/operator" 2>/dev/null || { nps=0; bad=1; }
		if [ "${bad:-1}" -eq 0 ] && [ "${nps:-0}" -gt 0 ]; then
			ok
			echo "ok: ipcnsd-tsan answered $nps ps and $nipcs ipcs requests during the concurrent run"
		else
			ko "ipcnsd-tsan: ${bad:-?} of ${nps:-0} ps requests failed during the concurrent run (see $LOGS/ipcnsd-tsan-operator.log)"
		fi
		daemon_done "$tpid" ipcnsd-tsan "$LOGS/ipcnsd-tsan.log" "$RUN/tsan" "$LOGS/ipcnsd-tsan-reports.log" \
			"data races under ThreadSanitizer" "the suite concurrently clean under ThreadSanitizer" "$TSOCK"
	else
		sk "conformance [ipcnsd-tsan]" "build/bin/ipcnsd-tsan not built (make check builds it)"
	fi
	rm -rf "$RUN"
fi

# ---- integration
if want integration; then
	echo "== integration tests (bats, runc and crun)"
	shopt -s nullglob
	files=(tests/integration/*.bats)
	if [ ${#files[@]} -eq 0 ]; then
		echo "(no integration tests)"
	else
		out=$LOGS/integration.tap
		timeout 1200 bats --tap "${files[@]}" >"$out" 2>&1
		brc=$?
		while IFS= read -r line; do
			case $line in
			"ok "*"# skip"*)
				sk "$(sed 's/^ok [0-9]* //; s/ # skip.*//' <<<"$line")" "$(sed 's/.*# skip *//' <<<"$line")" ;;
			"ok "*) ok; echo "$line" ;;
			"not ok "*) ko "$(sed 's/^not ok [0-9]* //' <<<"$line")" ;;
			esac
		done <"$out"
		if [ "$brc" -eq 124 ]; then
			# Killed by the timeout: the tests after the last one
			# reported did not run, failures or not.
			ko "bats timed out after 1200 s; the tests after #$(grep -c '^\(not \)\?ok ' "$out") did not run (see $out)"
		elif [ "$brc" -ne 0 ] && ! grep -q '^not ok' "$out"; then
			ko "bats exited with status $brc without a failing test (see $out)"
			tail -20 "$out"
		fi
		grep -q '^not ok' "$out" && grep -A12 '^not ok' "$out" | head -80
	fi
fi

echo
if [ ${#skipped[@]} -gt 0 ]; then
	echo "Skipped:"
	printf '  %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "Failed:"
	printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
