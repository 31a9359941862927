#!/usr/bin/env bash
# The guest benchmarks in one boot of the QEMU test bed (`ninja testbed-bench`):
#   scripts/testbed-bench.sh LOG PROG...
# Two guest CPUs (the daemon and the application of ipc_nvme_bench are two
# processes) and tsc=reliable: with two vCPUs under TCG the guest kernel
# finds the TSCs "unsynchronized" (the vCPUs do not run in lockstep; TCG's
# TSC is the host's clock for both) and falls back to the HPET, which makes
# every clock_gettime() a system call and an emulated MMIO read: the NVMe
# driver's, the daemon's and the benchmark's clocks. The serial log is kept
# in LOG and each benchmark's own output printed after the run (testbed/run
# shows it only for a test that fails).
# Extra testbed/run options in $DMK_TESTBED_BENCH_OPTS, e.g.
# "--env DMK_IPC_BENCH_ROUNDS=9 --env DMK_BENCH_SECS=2".
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 LOG PROG..." >&2
	exit 2
fi
log=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2086
"$root/testbed/run" --smp 2 --append tsc=reliable --timeout 1200 --log "$log" ${DMK_TESTBED_BENCH_OPTS:-} "$@"
rc=$?
echo "--- the benchmarks' output (serial log: $log) ---"
tr -d '\r' <"$log" | awk '
	/DMKTEST BEGIN / { on = 1; print; next }
	/DMKTEST END / { on = 0; print; next }
	on && !/^kmsg: / { print }'
exit $rc
