#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ipcns-hook under podman: runtime-hook/hooks.d's two files (paths pointed at this
# build and this file's ipcnsd) in a --hooks-dir, containers annotated
# org.ipcns.enable=true.  podman as it runs here (spec/architecture.md, "Facts measured"):
# cgroupfs, runc, no network, rlimits not raised, an image imported from a
# local tarball; its own storage under IT_DIR.

bats_require_minimum_version 1.5.0
load helpers

HOOK=$IT_BUILD/bin/ipcns-hook
IMAGE=localhost/ipcns-it-empty:latest

setup_file() {
	ipcns_setup_file
	command -v podman >/dev/null || return 0
	[ -x "$HOOK" ] || {
		echo "missing $HOOK: run 'make all' first" >&2
		return 1
	}
	mkdir -p "$IT_DIR/podman/tar" "$IT_DIR/hooks" "$IT_DIR/hooklog"
	(cd "$IT_DIR/podman/tar" && mkdir -p usr lib lib64 bin sbin etc proc dev sys tmp "${CT_BUILD#/}" "${CT_TOOLS#/}")
	tar -C "$IT_DIR/podman/tar" -cf "$IT_DIR/podman/rootfs.tar" .
	pm import "$IT_DIR/podman/rootfs.tar" "$IMAGE" >/dev/null
	# The hook through a recorder: each stage's stdin kept as
	# hooklog/STAGE.PID, so that the tests see what podman ran.  podman
	# passes an empty environment: absolute paths only.
	cat >"$IT_DIR/hooks/record" <<EOF
#!/bin/sh
/usr/bin/tee "$IT_DIR/hooklog/\$1.\$\$" | exec "$HOOK" "\$1"
EOF
	chmod +x "$IT_DIR/hooks/record"
	local f
	for f in "$IT_REPO"/runtime-hook/hooks.d/*.json; do
		jq --arg path "$IT_DIR/hooks/record" --arg sock "IPCNS_SOCKET=$IPCNS_SOCKET" \
			'.hook.path = $path | .hook.env = [$sock]' "$f" >"$IT_DIR/hooks/${f##*/}"
	done
}

teardown_file() {
	if [ -n "${IT_DIR:-}" ] && [ -d "$IT_DIR/podman" ] && command -v podman >/dev/null; then
		pm rm -af -t 0 >/dev/null 2>&1 || true
		pm system reset -f >/dev/null 2>&1 || true
	fi
	ipcns_teardown_file
}

setup() {
	command -v podman >/dev/null || skip "podman is not installed"
	ipcns_setup
}
teardown() {
	pm rm -af -t 0 >/dev/null 2>&1 || true
	ipcns_teardown
}

# pm ARG...: podman with this file's storage and hooks.  fd 3 is bats'
# own: conmon must not keep it.
pm() {
	timeout "$IT_TIMEOUT" podman --root "$IT_DIR/podman/root" --runroot "$IT_DIR/podman/run" \
		--tmpdir "$IT_DIR/podman/tmp" --cgroup-manager=cgroupfs --runtime runc \
		--hooks-dir "$IT_DIR/hooks" "$@" 3>&-
}

# pm_run ARG...: `podman run' options for the host's binaries read-only,
# the build at CT_BUILD and the test tools at CT_TOOLS; ARG... follow.
pm_run() {
	pm run --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		-v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro -v /bin:/bin:ro -v /sbin:/sbin:ro \
		-v /etc:/etc:ro -v "$IT_BUILD:$CT_BUILD:ro" -v "$IT_BUILD/tests/integration:$CT_TOOLS:ro" "$@"
}

# hook_ran STAGE ID: podman ran the hook at STAGE for container ID.
hook_ran() {
	local f
	for f in "$IT_DIR/hooklog/$1".*; do
		[ -e "$f" ] || continue
		case $1 in
		precreate) jq -e --arg id "$2" '.annotations["org.ipcns.cid"] == $id' "$f" >/dev/null && return 0 ;;
		poststop) jq -e --arg id "$2" '.id == $id' "$f" >/dev/null && return 0 ;;
		esac
	done
	return 1
}

# ipcnsd lists no container ID.
ipcnsd_forgot() {
	! ctl | jq -e --arg id "$1" '[.namespaces[].containers[].id] | index($id)' >/dev/null
}

@test "podman: an org.ipcns.enable=true container is served by ipcnsd, through the hooks" {
	local tag=it$IT_TAG-$BATS_TEST_NUMBER cid
	run pm_run --rm --cidfile "$BATS_TEST_TMPDIR/cid" --annotation org.ipcns.enable=true \
		--annotation org.ipcns.cid="$tag" "$IMAGE" \
		sh -c 'ipcmk -M 8192 && ipcmk -S 2 && ipcmk -Q && ipcs -m -s -q && ls -A /proc/sysvipc | wc -l &&
			grep -Ec "^ *[-0-9]+ +0 +644 +8192 " /proc/sysvipc/shm && echo 4096 >/proc/sys/kernel/shmmax &&
			cat /proc/sys/kernel/shmmax'
	assert_success
	assert_line --partial "Shared memory id: 0"
	assert_line --regexp '^0x[0-9a-f]+ +0 +root +644 +8192 +0'
	assert_line --regexp '^0x[0-9a-f]+ +0 +root +644 +2 *$'
	# /proc/sysvipc and the IPC sysctls served by ipcnsd, mounted by the
	# edit's createContainer hook (spec/view.md): the segment is there,
	# and shmmax is the container's.
	assert_line 3
	assert_line 1
	assert_line 4096
	[ "$(cat /proc/sys/kernel/shmmax)" != 4096 ]
	cid=$(cat "$BATS_TEST_TMPDIR/cid")
	grep -q "container $cid: registered" "$IPCNSD_LOG"
	hook_ran precreate "$tag"
	# poststop runs in podman's clean-up, after `podman run' returned.
	wait_for 20 hook_ran poststop "$cid"
	wait_for 5 ipcnsd_forgot "$cid"
}

@test "podman: ipcnsctl shows a running container's objects; podman rm releases them" {
	local cid
	cid=$(pm_run -d --annotation org.ipcns.enable=true "$IMAGE" "$CT_TOOLS/ipc-hold" 2 3)
	wait_for 20 sh -c "timeout 10 podman --root '$IT_DIR/podman/root' --runroot '$IT_DIR/podman/run' \
		--tmpdir '$IT_DIR/podman/tmp' logs '$cid' 2>/dev/null | grep -q '^READY'"
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" ps
	assert_success
	assert_output --partial "$cid"
	run "$IT_BUILD/bin/ipcnsctl" --socket "$IPCNS_SOCKET" --json ipcs "$cid"
	assert_success
	run jq -c '[.objects[].kind] | group_by(.) | map({(.[0]): length}) | add' <<<"$output"
	assert_output '{"msg":1,"sem":1,"shm":2}'
	pm rm -f -t 0 "$cid" >/dev/null
	wait_for 20 hook_ran poststop "$cid"
	wait_for 5 ipcnsd_forgot "$cid"
}

@test "podman: a container without the annotation keeps the kernel's IPC" {
	local tag=it$IT_TAG-$BATS_TEST_NUMBER
	run pm_run --rm --annotation org.ipcns.cid="$tag" "$IMAGE" \
		sh -c 'ipcmk -M 4096 >/dev/null && wc -l </proc/sysvipc/shm'
	assert_success
	# The kernel's table: a header and the segment.
	assert_output 2
	! hook_ran precreate "$tag"
}
