#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The core fuzzer's regression run, as part of make check: every input of
# the committed corpus (tests/fuzz/corpus) and every crash reproducer
# (tests/fuzz/regress) runs once through build/fuzz/fuzz_core (libFuzzer,
# ASan, UBSan, LSan, and the invariants of tests/lib/fake_caller.h and
# tests/fuzz/fuzz_core.c).  `make fuzz` fuzzes for FUZZ_SECONDS; this
# only replays.  Needs no container and no daemon.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
}

@test "fuzz: the corpus and every crash reproducer run clean through the core fuzzer" {
	command -v "${FUZZ_CC:-clang}" >/dev/null || skip "clang is not installed (the fuzzer needs libFuzzer)"
	run make -s -C "$REPO" fuzz-regress
	echo "$output" | tail -40
	[ "$status" -eq 0 ]
	[[ "$output" == *"ran clean"* ]]
	echo "# $(grep '^regress:' <<<"$output")" >&3
}
