#!/usr/bin/env python3
"""Run dmakit-bench N times (default 5) and print each case's median of the
runs' medians: the machines are shared and noisy. Usage:
  scripts/bench-median.py [N] [-- dmakit-bench options...]"""
import re, statistics, subprocess, sys

args = sys.argv[1:]
n = int(args.pop(0)) if args and args[0].isdigit() else 5
if args and args[0] == "--":
    args = args[1:]
runs, header, order = {}, "", []
for _ in range(n):
    out = subprocess.run(["build/bench/dmakit-bench", *args], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("#"):
            header = line
            continue
        m = re.match(r"(.*) ns_per_op=([0-9.]+)$", line)
        if not m:
            continue
        if m.group(1) not in runs:
            order.append(m.group(1))
        runs.setdefault(m.group(1), []).append(float(m.group(2)))
print(header + f" runs={n}")
for case in order:
    v = runs[case]
    print(f"{case} ns_per_op={statistics.median(v):.1f} min={min(v):.1f} max={max(v):.1f}")
