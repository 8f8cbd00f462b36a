#!/usr/bin/env bats
# Every conformance program (build/tests/conformance/*) passes inside a
# container, each in a container of its own.  The programs are found at run
# time; one test per runtime runs them all.  A program's exit status 77 is a
# skip: it is listed in the TAP stream, and the test is skipped when every
# program skipped.

load helpers

setup_file() { ipcns_setup_file; }
teardown_file() { ipcns_teardown_file; }
setup() { ipcns_setup; }
teardown() { ipcns_teardown; }

conformance_in_containers() {
	local r=$1 p name rc out t0
	local -a passed=() failed=() skipped=()
	need_runtime "$r"
	for p in "$IT_BUILD"/tests/conformance/*; do
		[ -f "$p" ] && [ -x "$p" ] || continue
		name=${p##*/}
		out=$BATS_TEST_TMPDIR/$name.out
		t0=$SECONDS
		rc=0
		# The programs' contract (tests/conformance/shm_common.h): root
		# with every capability, a fresh IPC namespace, IPCNS_UNDER=1
		# under ipcnsd.
		BUNDLE_CAPS=all BUNDLE_ENV="IPCNS_UNDER=1" \
			ct_run "$r" "$name" "$CT_BUILD/tests/conformance/$name" >"$out" 2>&1 || rc=$?
		case $rc in
		0) passed+=("$name") ;;
		77)
			skipped+=("$name")
			echo "# $r: $name skipped: $(sed -n 's/^SKIP: //p' "$out" | head -1)" >&3
			;;
		*)
			failed+=("$name")
			echo "--- $name: exit $rc after $((SECONDS - t0)) s:"
			if grep -qE '^(FAIL|not ok)' "$out"; then
				grep -E '^(FAIL|not ok)' "$out" | head -20
			else
				tail -10 "$out"
			fi
			;;
		esac
	done
	echo "# $r: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped" >&3
	if [ "${#failed[@]}" -gt 0 ]; then
		fail "$r: failed: ${failed[*]}"
	fi
	if [ "${#passed[@]}" -eq 0 ]; then
		skip "no conformance program passed or failed (${#skipped[@]} skipped)"
	fi
}

@test "runc: every conformance program passes inside a container" {
	conformance_in_containers runc
}

@test "crun: every conformance program passes inside a container" {
	conformance_in_containers crun
}
