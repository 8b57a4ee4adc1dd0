"""Decisions and a digest of the stats of the CPU scheduler on the benchmark hosts and the test
mixes, one JSON line each: run it on two builds and compare the lines (a change that must not
change decisions gives identical lines).

    python benchmarks/scripts/sched_decisions_digest.py [MIXES]

Hosts: bench_sched's cpu_bound_host and bursty_host (full sizes), the reserved-heavy host
(1,000 of 3,000 VMs reserve 0.1 core, 60 s) and the reserved-heavy benchmark's items
(0, 100, 1,000 VMs reserve 0.1 core, all 3,000 reserve 0.04; 10 s; and 1,000 x 0.1, 3,000 x
0.04, each VM its own amount within +-1 %); then MIXES (default
200) mixes of tests/sched_mixes.py (seed 2026), 1 s each, with strict reservations on and off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import numpy as np

import vsched

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests"))
from sched_mixes import mixes  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from benchmarks.bench_sched import reserved_heavy_host  # noqa: E402

MS = 1_000_000


def digest(s: vsched.CpuScheduler) -> str:
    st = s.vcpu_stats()
    h = hashlib.sha256()
    for name in sorted(st):
        h.update(name.encode())
        h.update(np.ascontiguousarray(st[name], dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def line(name: str, s: vsched.CpuScheduler, duration: int) -> None:
    start = time.process_time()
    s.run(duration)
    spent = time.process_time() - start
    print(json.dumps({"case": name, "decisions": s.decisions, "stats": digest(s), "cpu_s": round(spent, 3)}),
          flush=True)


def bursty() -> None:
    vms = 2000
    s = vsched.CpuScheduler(64, 3 * MS)
    for _ in range(vms):
        s.add_vm(2)
    rng = np.random.default_rng(42)
    vm_all, vcpu_all = np.repeat(np.arange(vms), 2), np.tile(np.arange(2), vms)
    start = time.process_time()
    for _ in range(1000):
        pick = rng.random(2 * vms) < 0.5
        work = np.maximum(1, rng.exponential(1.0 * MS, int(pick.sum()))).astype(np.int64)
        s.add_work(vm_all[pick], vcpu_all[pick], work)
        s.run(10 * MS)
    spent = time.process_time() - start
    print(json.dumps({"case": "bursty_host", "decisions": s.decisions, "stats": digest(s),
                      "cpu_s": round(spent, 3)}), flush=True)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    line("cpu_bound_host 60 s", reserved_heavy_host(vsched, 0, 0.0), 60_000 * MS)
    bursty()
    line("reserved_heavy_host 60 s (1000 x 0.1)", reserved_heavy_host(vsched, 1000, 0.1), 60_000 * MS)
    for n, r in [(0, 0.1), (100, 0.1), (1000, 0.1), (3000, 0.04)]:
        line(f"reserved_heavy {n} x {r} 10 s", reserved_heavy_host(vsched, n, r), 10_000 * MS)
    for n, r in [(1000, 0.1), (3000, 0.04)]:  # each VM its own reservation: lag lines that cross
        line(f"reserved_heavy {n} x {r} +-1 % 10 s", reserved_heavy_host(vsched, n, r, 0.01), 10_000 * MS)
    for strict in (True, False):
        total, h = 0, hashlib.sha256()
        for pcpus, vms in mixes(2026, count):
            s = vsched.CpuScheduler(pcpus, 3 * MS, strict_reservations=strict)
            for n, shares, r, limit in vms:
                s.add_vm(n, shares=shares, reservation=r, limit=limit)
            s.add_work(np.repeat(np.arange(len(vms)), [n for n, *_ in vms]),
                       np.concatenate([np.arange(n) for n, *_ in vms]), vsched.FOREVER)
            s.run(1000 * MS)
            total += s.decisions
            h.update(digest(s).encode())
        print(json.dumps({"case": f"{count} sched_mixes strict={strict}", "decisions": total,
                          "stats": h.hexdigest()[:16]}), flush=True)


if __name__ == "__main__":
    main()
