#!/usr/bin/env bash
# Every test of dmakit, on a fresh Debian 12 machine:
#  1. the default (debugoptimized) build, warnings are errors, and its `meson test`:
#     unit, property, phys (root), exports and kernel-doc tests; then the
#     other buildtypes with gcc and a clang release build, built only;
#  2. an AddressSanitizer + UndefinedBehaviorSanitizer build and its tests;
#     a ThreadSanitizer build (clang) of the threads and IPC tests; libFuzzer
#     runs (clang): the IPC message decoder, the segment generator, the
#     daemon's ring consumer;
#  3. the QEMU test bed: the guest tests (real VFIO, emulated VT-d, QEMU's
#     nvme and edu devices) in one boot, the no-IOMMU guest tests
#     (uio_pci_generic, physical addresses) in a second, each on two guest
#     kernels: Debian 12's default (6.1) and its 6.12.
# Installs what it is missing. Ends with "dmakit: N passed, N failed".
# Options: --no-testbed (skip 3), --no-asan (skip 2).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

testbed=1 asan=1
for a in "$@"; do
	case "$a" in
	--no-testbed) testbed=0 ;;
	--no-asan) asan=0 ;;
	*) echo "usage: scripts/test.sh [--no-testbed] [--no-asan]" >&2; exit 2 ;;
	esac
done

dmk_install_missing "${dmk_deps_build[@]}"
[ $testbed = 1 ] && dmk_install_missing "${dmk_deps_testbed[@]}"

passed=0 failed=0
count() { # count OK/FAIL from a meson testlog.json
	python3 - "$1" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
}

run_meson_tests() { # dir, setup options...
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
	local rc=0
	meson test -C "$dir" --print-errorlogs || rc=$?
	read -r ok bad < <(count "$dir/meson-logs/testlog.json")
	passed=$((passed + ok)); failed=$((failed + bad))
	[ $rc -eq 0 ] || [ "$bad" -gt 0 ] || failed=$((failed + 1))
}

echo "== the default build (debugoptimized) and its tests"
run_meson_tests build
if [ $asan = 1 ]; then
	echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
	# The man pages and guest tests are the release build's; keep this one lean.
	ASAN_OPTIONS=detect_leaks=1 run_meson_tests build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false -Dman=false -Dc_args=-fno-sanitize-recover=undefined
fi
echo "== every other buildtype with gcc, and clang (build only, warnings are errors)"
# A user may pick any buildtype and either compiler; each build counts once.
dmk_install_missing clang libclang-rt-14-dev
build_only() { # dir, label, setup options...
	local dir=$1 label=$2; shift 2
	if { [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" -Dman=false >/dev/null; } &&
		ninja -C "$dir" >"$dir/build-only.log" 2>&1; then
		passed=$((passed + 1)); echo "build $label: ok"
	else
		failed=$((failed + 1)); echo "build $label: FAILED"; grep -E error "$dir/build-only.log" | head -n 20 || true
	fi
}
for bt in plain debug release minsize; do
	build_only "build-$bt" "gcc $bt" -Dbuildtype="$bt"
done
CC=clang build_only build-clang "clang release" -Dbuildtype=release
if [ $asan = 1 ]; then
	echo "== ThreadSanitizer build (clang): the threads and IPC tests (one test)"
	# Threads on one sim space; the daemon's thread with clients on threads
	# and in other processes. Any report fails the test that made it.
	# Without address randomization: clang 14's TSan stops ("unexpected
	# memory mapping") where the kernel randomizes mmap addresses with more
	# bits than it knows (vm.mmap_rnd_bits 32, the default of some newer
	# kernels); the races it looks for do not depend on where memory lies.
	tsan_rc=0
	{ [ -f build-tsan/build.ninja ] ||
		CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dman=false >/dev/null; } &&
		{ ninja -C build-tsan >build-tsan/build.log 2>&1 || { grep -E error build-tsan/build.log | head -n 20; false; }; } &&
		setarch "$(uname -m)" -R meson test -C build-tsan --no-rebuild --print-errorlogs \
			unit_threads ipc ipc_ring ipc_proto ipc_lease ipc_memfd ipc_fair || tsan_rc=1
	if [ $tsan_rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "ThreadSanitizer: FAILED"; fi
fi

# tests/fuzz/, built with clang (-Dfuzz=true); any crash, leak, sanitizer
# report or failed check fails the run; its input is kept in
# build-fuzz/crash-*. DMK_FUZZ_SECONDS, when set, is each target's time.
fuzz_run() { # target, seconds, what it fuzzes: one test
	local target=$1 secs=${DMK_FUZZ_SECONDS:-$2} rc=0 corpus log=build-fuzz/$1.log
	echo "== libFuzzer: $3 for $secs s (one test)"
	corpus=$(mktemp -d)
	{ [ -f build-fuzz/build.ninja ] ||
		CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dman=false >/dev/null; } &&
		ninja -C build-fuzz "tests/fuzz/$target" &&
		"build-fuzz/tests/fuzz/$target" -max_total_time="$secs" -timeout=10 \
			-artifact_prefix=build-fuzz/ "$corpus" >"$log" 2>&1 || rc=1
	rm -rf "$corpus"
	grep -E 'DONE|^Done [0-9]+ runs' "$log" 2>/dev/null || true
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); echo "$target: FAILED ($log)"
		grep -E '^(fuzz_[a-z]+: |==[0-9]+==ERROR|SUMMARY|artifact_prefix)' "$log" 2>/dev/null | head -n 5 || true
	fi
}
dmk_install_missing clang libclang-rt-14-dev
fuzz_run fuzz_proto 20 "the IPC message decoder"
# DMA rules, a sim space and prepares from arbitrary bytes, every segment
# checked against every rule.
fuzz_run fuzz_prepare 20 "the segment generator"
# The daemon's ring consumer on a server in the target's process: hostile
# entries and indices against a model of the protocol.
fuzz_run fuzz_ring 60 "the daemon's ring consumer"

boots=() # per boot: its target, last line (kernel and mode) and time; its failures
run_testbed() { # ninja target of the build dir, its kernel: one boot, its tests counted
	local log rc=0 line ok bad=0 t0=$SECONDS
	echo "== QEMU test bed: ninja $1 (kernel $2)"
	log=$(mktemp)
	ninja -C build "$1" 2>&1 | tee "$log" || rc=$?
	# testbed: N passed, N failed (kernel KVER, mode MODE)
	line=$(grep -E '^testbed: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		ok=$(sed -E 's/^testbed: ([0-9]+) passed.*/\1/' <<<"$line")
		bad=$(sed -E 's/^testbed: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
		passed=$((passed + ok)); failed=$((failed + bad))
	fi
	# A bed that failed without saying which test (boot, timeout) counts once.
	if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "$bad" -eq 0 ]; }; then
		failed=$((failed + 1))
		line="${line:-testbed: no result line} (ninja $1 on kernel $2 failed, status $rc)"
	fi
	boots+=("$1: ${line#testbed: }, $((SECONDS - t0)) s")
	while IFS= read -r line; do boots+=("  $line"); done < <(grep -E '^(FAIL|SETUP FAIL|TIMEOUT) ' "$log" || true)
	rm -f "$log"
}

if [ $testbed = 1 ]; then
	# Each boot on both kernels; the release build always has the targets:
	# a missing one fails, never skips. Without the IOMMU: uio_pci_generic,
	# the phys space.
	run_testbed testbed "${DMK_TESTBED_KERNEL:-linux-image-amd64}"
	run_testbed testbed-noiommu "${DMK_TESTBED_KERNEL:-linux-image-amd64}"
	run_testbed testbed-6.12 linux-image-6.12-amd64
	run_testbed testbed-noiommu-6.12 linux-image-6.12-amd64
	echo "== QEMU test bed, each boot"
	printf '%s\n' "${boots[@]}"
fi
echo "dmakit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
