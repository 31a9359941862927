#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine (installs what it is missing):
#  1. on the QEMU test bed (QEMU's nvme behind an emulated VT-d IOMMU, the
#     guest kernel's real VFIO), in one boot:
#     - examples/ipc_read: the driver daemon owns the controller, an
#       application in another process has the device read into its own
#       posix_memalign buffer, with no copy (the lease route), and checks
#       every byte;
#     - examples/nvme_read: the same in one process, with the buffer's
#       scatter-gather list and the throughput;
#  2. on this host, a posix_memalign buffer's scatter-gather list under
#     NVMe's PRP rules and the PRP list a controller reads: as root the
#     buffer's real physical frames (/proc/self/pagemap), otherwise a
#     simulated IOMMU that scatters pages.
# Options: --no-testbed (only 2).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

testbed=1
for a in "$@"; do
	case "$a" in
	--no-testbed) testbed=0 ;;
	*) echo "usage: scripts/demo.sh [--no-testbed]" >&2; exit 2 ;;
	esac
done
dmk_install_missing "${dmk_deps_build[@]}"
[ $testbed = 1 ] && dmk_install_missing "${dmk_deps_testbed[@]}"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ $testbed = 1 ]; then
	echo "== QEMU test bed: applications' buffers filled by the NVMe controller, zero copy"
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	rc=0
	testbed/run --log "$log" build/tests/vm/ipc_read build/tests/vm/nvme_read || rc=$?
	for t in ipc_read nvme_read; do
		echo
		echo "-- $t"
		tr -d '\r' <"$log" | sed -n "/^DMKTEST BEGIN $t\$/,/^DMKTEST END $t /p" | sed '1d;$d'
	done
	[ $rc -eq 0 ] || exit $rc
	echo
fi

space=(--space sim --layout scattered)
[ "$(id -u)" -eq 0 ] && space=(--space phys)
echo "== this host: a 40 KiB posix_memalign buffer at offset 512 under NVMe PRP rules"
./build/tools/dmakit sgl "${space[@]}" --size 40K --offset 512 --rules nvme-prp
