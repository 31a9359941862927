#!/usr/bin/env bash
# The main job: an application's posix_memalign buffer, its scatter-gather
# list under NVMe's PRP rules, the PRP entries a controller would read.
# As root the addresses are the buffer's real physical frames (phys space,
# /proc/self/pagemap); otherwise a simulated IOMMU that scatters pages.
# Installs what it is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
dmk_install_missing "${dmk_deps_build[@]}"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

space=(--space sim --layout scattered)
[ "$(id -u)" -eq 0 ] && space=(--space phys)
echo "== a 40 KiB posix_memalign buffer at offset 512, NVMe PRP rules"
./build/tools/dmakit sgl "${space[@]}" --size 40K --offset 512 --rules nvme-prp
echo
echo "== the same buffer under NVMe SGL rules (byte-aligned data blocks)"
./build/tools/dmakit sgl "${space[@]}" --size 40K --offset 513 --rules nvme-sgl
