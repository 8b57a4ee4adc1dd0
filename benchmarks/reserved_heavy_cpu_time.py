"""Decisions per second of the scheduler on a host where many VMs hold reservations.

    python benchmarks/reserved_heavy_cpu_time.py 10 0,100,1000,3000:0.04

128 pCPUs, 3,000 CPU-bound VMs x 4 vCPUs, 3 ms slices, strict reservations; each
item N[:R] makes the first N VMs reserve R cores (default 0.1). Prints the CPU
time of `run` (process time, which a loaded machine disturbs far less than wall
time) and the decisions per CPU second. asv's ReservedHeavyHost times the same
host by wall time.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import vsched

MS = 1_000_000


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    items = sys.argv[2] if len(sys.argv) > 2 else "0,100,1000,3000:0.04"
    for item in items.split(","):
        count, _, reservation = item.partition(":")
        n, r = int(count), float(reservation or 0.1)
        s = vsched.CpuScheduler(128, 3 * MS)
        for k in range(3000):
            s.add_vm(4, reservation=r if k < n else 0.0)
        s.add_work(np.repeat(np.arange(3000), 4), np.tile(np.arange(4), 3000), vsched.FOREVER)
        start = time.process_time()
        s.run(int(seconds * 1000) * MS)
        spent = time.process_time() - start
        print(f"{n} VMs reserve {r} core, {seconds:g} s: {spent:.3f} s CPU, {s.decisions} decisions, "
              f"{s.decisions / spent / 1e6:.2f} M decisions/s", flush=True)


if __name__ == "__main__":
    main()
