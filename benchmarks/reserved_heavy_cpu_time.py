"""Decisions per second of the scheduler on a host where many VMs hold reservations.

    python benchmarks/reserved_heavy_cpu_time.py 10 0,100,1000,3000:0.04
    python benchmarks/reserved_heavy_cpu_time.py 10 100~0.01,1000~0.01,3000:0.04~0.01

128 pCPUs, 3,000 CPU-bound VMs x 4 vCPUs, 3 ms slices, strict reservations; each
item N[:R][~S] makes the first N VMs reserve R cores (default 0.1), or with ~S each
its own amount within +-S (relative) of R (``reserved_heavy_host`` of
benchmarks/benchmarks/bench_sched.py). Prints the CPU time of `run` (process time,
which a loaded machine disturbs far less than wall time) and the decisions per CPU
second. asv's ReservedHeavyHost times the same hosts by wall time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import vsched

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_sched import MS, reserved_heavy_host  # noqa: E402


def parse(item: str) -> tuple[int, float, float]:
    item, _, spread = item.partition("~")
    count, _, reservation = item.partition(":")
    return int(count), float(reservation or 0.1), float(spread or 0.0)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    items = sys.argv[2] if len(sys.argv) > 2 else "0,100,1000,3000:0.04"
    for item in items.split(","):
        n, r, spread = parse(item)
        s = reserved_heavy_host(vsched, n, r, spread)
        start = time.process_time()
        s.run(int(seconds * 1000) * MS)
        spent = time.process_time() - start
        what = f"{r} core" + (f" +-{spread * 100:g} %" if spread else "")
        print(f"{n} VMs reserve {what}, {seconds:g} s: {spent:.3f} s CPU, {s.decisions} decisions, "
              f"{s.decisions / spent / 1e6:.2f} M decisions/s", flush=True)


if __name__ == "__main__":
    main()
