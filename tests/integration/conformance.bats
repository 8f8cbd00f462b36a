#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Every conformance program (build/tests/conformance/*) passes inside a
# container, each in a container of its own (conformance_programs in
# helpers.bash); one test per runtime runs them all.

load helpers

@test "runc: every conformance program passes inside a container" {
	need_runtime runc
	conformance_programs runc ct_run runc
}

@test "crun: every conformance program passes inside a container" {
	need_runtime crun
	conformance_programs crun ct_run crun
}
