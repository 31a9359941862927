#!/usr/bin/env bash
# Install the Debian packages dmakit needs to build and test, only those missing.
# Sourced by scripts/test.sh and scripts/demo.sh; needs root (or sudo) when
# something is missing.
set -euo pipefail

dmk_deps_build=(gcc libc6-dev pkg-config meson ninja-build libcmocka-dev python3)
# The QEMU test bed (testbed/run installs its own too; listed so that one
# apt-get run does it all).
dmk_deps_testbed=(qemu-system-x86 busybox-static cpio xz-utils zstd kmod)

dmk_install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "deps: installing ${missing[*]}" >&2
	local sudo=()
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
