#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The configuration files ipcns ships parse and say what they must:
# examples/kubernetes (YAML, TOML), plugin/ipcnsd/ipcnsd.service (systemd),
# runtime-hook/hooks.d (oci-hooks(5) JSON), and `make install` installs all of it.
# No daemon and no container: this file does not load helpers.bash.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
K8S=$REPO/examples/kubernetes
SOCKET=/run/ipcns/ipcnsd.sock
# Debian's python3, where python3-yaml is installed (tests/deps.sh).
PY=/usr/bin/python3

# py CODE FILE...: run CODE with sys.argv[1:] = FILE...
py() {
	local code=$1
	shift
	"$PY" -c "$code" "$@"
}

@test "config files: the Kubernetes YAML parses and names the ipcns handler" {
	"$PY" -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed (tests/deps.sh installs it)"
	run py '
import json, sys, yaml
docs = {}
sets = {}
for f in sys.argv[1:4]:
    for d in yaml.safe_load_all(open(f)):
        docs[d["kind"]] = d
        if d["kind"] == "DaemonSet":
            sets[d["metadata"]["name"]] = d
rc = docs["RuntimeClass"]
assert rc["apiVersion"] == "node.k8s.io/v1" and rc["metadata"]["name"] == "ipcns", rc
assert rc["handler"] == "ipcns", rc
sel = rc["scheduling"]["nodeSelector"]
assert sorted(sets) == ["ipcns-keeper", "ipcnsd"], sorted(sets)
# ipcnsd: rolling updates are restarts the keeper bridges; the keeper:
# never replaced but by hand.
for name, cmd, strategy in (("ipcnsd", ["/usr/local/bin/ipcnsd", "--socket", "/run/ipcns/ipcnsd.sock",
                                        "--keeper-wait", "60"], "RollingUpdate"),
                            ("ipcns-keeper", ["/usr/local/bin/ipcns-keeper", "--socket", "/run/ipcns/ipcnsd.sock",
                                              "--stay"], "OnDelete")):
    ds = sets[name]
    assert ds["apiVersion"] == "apps/v1" and ds["metadata"]["namespace"] == docs["Namespace"]["metadata"]["name"]
    pod = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert pod["hostPID"] is True
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["nodeSelector"] == sel, (pod["nodeSelector"], sel)
    assert ds["spec"]["updateStrategy"]["type"] == strategy, (name, ds["spec"]["updateStrategy"])
    (c,) = pod["containers"]
    assert c["command"] == cmd, c["command"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols[mounts["/run/ipcns"]["name"]]["hostPath"]["path"] == "/run/ipcns", vols
pod = sets["ipcnsd"]["spec"]["template"]["spec"]
(c,) = pod["containers"]
assert c["securityContext"]["privileged"] is True
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
assert sorted(mounts) == ["/etc/ipcns", "/run/ipcns"], mounts
vols = {v["name"]: v for v in pod["volumes"]}
# The safe annotation policy, the same as plugin/ipcnsd/ipcns-config.json.
cm = docs["ConfigMap"]
assert vols[mounts["/etc/ipcns"]["name"]]["configMap"]["name"] == cm["metadata"]["name"], (vols, cm)
policy = json.loads(cm["data"]["config.json"])
assert policy == json.load(open(sys.argv[4])), policy
assert policy["ipcnsd"]["annotations"]["org.ipcns.namespace"] == "scoped", policy
assert c["livenessProbe"]["exec"]["command"][-1] == "health", c["livenessProbe"]
demo = docs["Pod"]
assert demo["spec"]["runtimeClassName"] == "ipcns"
assert all(k.startswith("org.ipcns.") for k in demo["metadata"]["annotations"])
print("ok", sorted(docs))
' "$K8S/runtimeclass.yaml" "$K8S/daemonset.yaml" "$K8S/pod.yaml" "$REPO/plugin/ipcnsd/ipcns-config.json"
	assert_success
	assert_output "ok ['ConfigMap', 'DaemonSet', 'Namespace', 'Pod', 'RuntimeClass']"
}

@test "config files: the containerd and CRI-O snippets parse and run ipcns-runtime" {
	run py '
import sys, tomllib
ctd = tomllib.load(open(sys.argv[1], "rb"))
h = ctd["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["ipcns"]
assert ctd["version"] == 2
assert h["runtime_type"] == "io.containerd.runc.v2", h
assert h["options"]["BinaryName"] == "/usr/local/bin/ipcns-runtime", h
assert "org.ipcns.*" in h["pod_annotations"], h
crio = tomllib.load(open(sys.argv[2], "rb"))
r = crio["crio"]["runtime"]["runtimes"]["ipcns"]
assert r["runtime_path"] == "/usr/local/bin/ipcns-runtime" and r["runtime_type"] == "oci", r
print("ok")
' "$K8S/containerd-config.toml" "$K8S/crio.conf.d/10-ipcns.conf"
	assert_success
	assert_output ok
}

@test "config files: ipcnsd.service and ipcns-keeper.service are valid units on the default socket" {
	local unit=$REPO/plugin/ipcnsd/ipcnsd.service kunit=$REPO/plugin/keeper/ipcns-keeper.service
	run grep -xE 'Type=simple|ExecStart=/usr/local/bin/ipcnsd --socket /run/ipcns/ipcnsd.sock --keeper-wait 10|RuntimeDirectory=ipcns|Restart=on-failure|WantedBy=multi-user.target|Wants=ipcns-keeper.service' "$unit"
	assert_success
	[ "${#lines[@]}" -eq 6 ]
	# The keeper in a unit of its own (a restart of ipcnsd's cgroup never
	# reaches it), on the same socket, never exiting on its own.
	run grep -xE 'Type=simple|ExecStart=/usr/local/bin/ipcns-keeper --socket /run/ipcns/ipcnsd.sock --stay|RuntimeDirectory=ipcns|RuntimeDirectoryPreserve=yes|WantedBy=multi-user.target' "$kunit"
	assert_success
	[ "${#lines[@]}" -eq 5 ]
	# Nothing that would hide other processes' /proc or drop ptrace.
	run grep -E '^(ProtectSystem|ProtectProc|PrivateTmp|PrivatePIDs|CapabilityBoundingSet|SystemCallFilter|User|DynamicUser)=' "$unit"
	assert_failure
	# The socket is ipcns-runtime's and ipcns-hook's default.
	grep -q "#define IPCNS_DEFAULT_SOCKET \"$SOCKET\"" "$REPO/runtime-hook/settings.h"
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed: structure checked only"
	# verify checks that ExecStart exists: point it at this build.  Any
	# output (an unknown key, a bad value) is a failure.
	sed "s|/usr/local/bin/ipcnsd|$REPO/build/bin/ipcnsd|" "$unit" >"$BATS_TEST_TMPDIR/ipcnsd.service"
	sed "s|/usr/local/bin/ipcns-keeper|$REPO/build/bin/ipcns-keeper|" "$kunit" >"$BATS_TEST_TMPDIR/ipcns-keeper.service"
	[ -x "$REPO/build/bin/ipcnsd" ] || skip "build/bin/ipcnsd missing: run 'make all' first"
	run systemd-analyze verify "$BATS_TEST_TMPDIR/ipcnsd.service" "$BATS_TEST_TMPDIR/ipcns-keeper.service"
	assert_success
	assert_output ""
}

@test "config files: the hooks.d files are oci-hooks 1.0.0 for ipcns-hook, one stage each" {
	local f stage n=0
	for f in "$REPO"/runtime-hook/hooks.d/*.json; do
		stage=$(jq -r '.stages[0]' "$f")
		run jq -e --arg stage "$stage" '
			.version == "1.0.0"
			and .hook.path == "/usr/local/bin/ipcns-hook"
			and .hook.args == ["ipcns-hook", $stage]
			and .stages == [$stage]
			and ($stage == "precreate" or $stage == "poststop")
			and (.hook.timeout | type) == "number"
			and .when.annotations == {"^org\\.ipcns\\.enable$": "^true$"}' "$f"
		assert_success
		n=$((n + 1))
	done
	# Both stages, each once.
	run sh -c "jq -r '.stages[]' '$REPO'/runtime-hook/hooks.d/*.json | sort"
	assert_output "poststop
precreate"
	[ "$n" -eq 2 ]
}

@test "config files: make install puts every file in place" {
	local d=$BATS_TEST_TMPDIR/root f
	run make -C "$REPO" --no-print-directory install DESTDIR="$d" PREFIX=/usr/local
	assert_success
	for f in bin/ipcnsd bin/ipcns-keeper bin/ipcnsctl bin/ipcns-runtime bin/ipcns-hook; do
		[ -x "$d/usr/local/$f" ] || fail "not installed: /usr/local/$f"
	done
	[ -f "$d/usr/local/lib/libipcns-crun.so" ] || fail "not installed: /usr/local/lib/libipcns-crun.so"
	cmp "$REPO/plugin/ipcnsd/ipcnsd.service" "$d/etc/systemd/system/ipcnsd.service"
	cmp "$REPO/plugin/keeper/ipcns-keeper.service" "$d/etc/systemd/system/ipcns-keeper.service"
	# The safe annotation policy, and an operator's own file kept.
	cmp "$REPO/plugin/ipcnsd/ipcns-config.json" "$d/etc/ipcns/config.json"
	echo '{"ipcnsd": {}}' >"$d/etc/ipcns/config.json"
	run make -C "$REPO" --no-print-directory install DESTDIR="$d" PREFIX=/usr/local
	assert_success
	[ "$(cat "$d/etc/ipcns/config.json")" = '{"ipcnsd": {}}' ] || fail "make install replaced the operator's config.json"
	for f in "$REPO"/runtime-hook/hooks.d/*.json; do
		cmp "$f" "$d/usr/share/containers/oci/hooks.d/${f##*/}"
	done
	# And what the files name is what was installed.
	run jq -r '.hook.path' "$d"/usr/share/containers/oci/hooks.d/*.json
	for f in "${lines[@]}"; do
		[ -x "$d$f" ] || fail "hooks.d names $f, which make install did not install"
	done
	for f in ipcnsd ipcns-keeper; do
		run sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$d/etc/systemd/system/$f.service"
		[ -x "$d$output" ] || fail "$f.service runs $output, which make install did not install"
	done
}
