#!/bin/bash
# SPDX-License-Identifier: MIT
# Drive the core fuzzer build/fuzz/fuzz_core (tests/fuzz/fuzz_core.c).
#
#   run.sh fuzz [SECONDS]  fuzz for SECONDS (default 60) starting from the
#                          committed corpus tests/fuzz/corpus and the crash
#                          reproducers tests/fuzz/regress; new inputs go to
#                          build/fuzz/work, crashes to build/fuzz/crash-*
#                          (exit 1).  `make fuzz` (FUZZ_SECONDS).
#   run.sh regress         run every file of tests/fuzz/corpus and
#                          tests/fuzz/regress once (no mutation): a crash
#                          fixed once stays fixed.  `make fuzz-regress`,
#                          and make check through tests/integration/fuzz.bats.
#   run.sh merge           replace the found inputs of tests/fuzz/corpus by
#                          the smallest set covering every edge that it,
#                          the reproducers and build/fuzz/work reach
#                          (libFuzzer -set_cover_merge=1), to commit a small
#                          corpus; the hand-made seeds stay.
#   run.sh seeds           (re)write the hand-made seeds (tests/fuzz/seeds.py)
#                          into tests/fuzz/corpus.
#
# A crash found: reproduce with `build/fuzz/fuzz_core FILE` (set
# FUZZ_CORE_TRACE=1 to see every call and its result), fix the core, and
# commit the file as tests/fuzz/regress/<what-it-was> with the fix.
set -u
cd "$(dirname "$0")/../.." || exit 1
# FUZZ_TARGET=state: the state loader (fuzz_state, tests/fuzz/state-corpus,
# tests/fuzz/state-regress) instead of the core (fuzz_core).
if [ "${FUZZ_TARGET:-core}" = state ]; then
	F=build/fuzz/fuzz_state
	CORPUS=tests/fuzz/state-corpus
	REGRESS=tests/fuzz/state-regress
	WORK=build/fuzz/state-work
	MAXLEN=131072 # a journal is a header page and its regions
else
	F=build/fuzz/fuzz_core
	CORPUS=tests/fuzz/corpus
	REGRESS=tests/fuzz/regress
	WORK=build/fuzz/work
	MAXLEN=4096
fi
[ -x "$F" ] || { echo "run.sh: $F is not built (make fuzz or make fuzz-regress)" >&2; exit 1; }
# Leaks are errors; a parked call that is never released is one too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case ${1:-} in
fuzz)
	secs=${2:-60}
	mkdir -p "$WORK"
	rm -f build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-*
	log=build/fuzz/fuzz.log
	echo "fuzz: $secs s on $(ls "$CORPUS" | wc -l) corpus files + $(ls "$REGRESS" 2>/dev/null | wc -l) reproducers; log $log"
	"$F" -max_total_time="$secs" -max_len=$MAXLEN -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/ "$WORK" "$CORPUS" "$REGRESS" >"$log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|DONE|INITED' "$log" | tail -4
	echo "fuzz: $(ls "$WORK" | wc -l) inputs in $WORK (run.sh merge to fold the useful ones into $CORPUS)"
	if ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* >/dev/null 2>&1; then
		echo "fuzz: FOUND:" build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* 2>/dev/null
		grep -m1 -B2 -A25 -E 'ERROR|check failed:|runtime error' "$log"
		exit 1
	fi
	exit "$rc"
	;;
regress)
	files=()
	for f in "$CORPUS"/* "$REGRESS"/*; do [ -f "$f" ] && files+=("$f"); done
	[ ${#files[@]} -gt 0 ] || { echo "regress: no inputs" >&2; exit 1; }
	log=build/fuzz/regress.log
	"$F" -runs=1 "${files[@]}" >"$log" 2>&1
	rc=$?
	ran=$(grep -c '^Executed ' "$log")
	if [ "$rc" -ne 0 ] || [ "$ran" -ne ${#files[@]} ]; then
		echo "regress: FAILED (status $rc, $ran of ${#files[@]} inputs ran); log $log:"
		grep -m1 -B5 -A30 -E 'ERROR|check failed:|runtime error' "$log" || tail -30 "$log"
		exit 1
	fi
	echo "regress: $ran inputs ($(ls "$CORPUS" | wc -l) corpus, $(ls "$REGRESS" | wc -l) reproducers) ran clean"
	;;
merge)
	[ -d "$WORK" ] || { echo "merge: nothing in $WORK" >&2; exit 1; }
	# A snapshot (a fuzzer may still be writing to WORK), then the
	# smallest set of inputs that covers every edge the corpus, the
	# reproducers and WORK reach (set cover over edges, not counters,
	# keeps the committed corpus to tens of files).  The hand-made seeds
	# always stay.
	snap=build/fuzz/work.snapshot out=build/fuzz/merged
	rm -rf "$snap" "$out" && mkdir -p "$snap" "$out" && cp "$WORK"/* "$snap"/ 2>/dev/null
	"$F" -set_cover_merge=1 -use_counters=0 -max_len=$MAXLEN "$out" "$CORPUS" "$REGRESS" "$snap" \
		>build/fuzz/merge.log 2>&1 || { tail build/fuzz/merge.log; exit 1; }
	before=$(ls "$CORPUS" | wc -l)
	find "$CORPUS" -maxdepth 1 -type f ! -name 'seed-*' -delete
	seeds=$(for f in "$CORPUS"/seed-*; do sha1sum <"$f" | cut -d' ' -f1; done)
	for f in "$out"/*; do
		grep -qx "$(basename "$f")" <<<"$seeds" || cp "$f" "$CORPUS"/
	done
	rm -rf "$snap" "$out"
	echo "merge: $CORPUS: $before -> $(ls "$CORPUS" | wc -l) files, $(du -sk --apparent-size "$CORPUS" | cut -f1) kB"
	;;
seeds)
	python3 tests/fuzz/seeds.py "$CORPUS"
	;;
*)
	sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2
	;;
esac
