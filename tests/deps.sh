#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages ipcns needs to build, test and demo, when they
# are missing.  Runs apt-get update once, only if something must be installed.
# postgresql-15 (it ships pgbench), apache2, apache2-utils (ab) and curl are
# the real clients of tests/integration/clients.bats and tests/bench/pgbench.sh.
# fuse3 (fusermount3, /etc/fuse.conf): what libfuse falls back on when the
# view's direct mount is refused; it was on the machines the view was tested on.
set -eu
PKGS="gcc make pkg-config libseccomp-dev libcap-dev libjansson-dev libcmocka-dev libfuse3-dev fuse3 \
bats bats-support bats-assert runc crun busybox-static util-linux procps jq podman python3-yaml \
postgresql-15 apache2 apache2-utils curl valgrind clang libclang-rt-14-dev clang-format"
# gcc-multilib (with libc6-dev-i386): the conformance programs built as
# i386 programs (the Makefile's CONF32), on x86_64 only.
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] && PKGS="$PKGS gcc-multilib"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
