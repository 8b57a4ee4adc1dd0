"""Hit ratios of every vsched.Cache policy on each LIRS trace (the table in docs/engines/eviction.md).

    python benchmarks/eviction_table.py            # traces from the shared trace folder (VSCHED_SHARED_DATA)

Capacities 100 and 1,000 keys; LRU-K is k=2 with the defaults (retained history unbounded).
Then the host's page-sharing workload (benchmarks/page_workloads.py: 100 VMs cloned from 10
images, 4,096 pages each, 400,000 mixed reads and writes) on MemoryManager with each frame policy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import vsched
from vsched import Outcome
from vsched.traces import read_lines

from benchmarks.page_workloads import cloned_vm_accesses

POLICIES = ("lru", "clock", "arc", "lirs", "lruk")
FRAME_POLICIES = ("lruk", "lru", "clock")
VMS, PAGES, ACCESSES = 100, 4096, 400_000
CAPACITIES = (100, 1000)


def main() -> None:
    root = Path(os.environ.get("VSCHED_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    header = " | ".join(f"{p} {c}" for c in CAPACITIES for p in POLICIES)
    print(f"| trace (refs) | {header} |")
    print("|---" * (1 + len(POLICIES) * len(CAPACITIES)) + "|")
    for path in sorted((root / "cache" / "lirs").glob("*.trace.gz")):
        keys = read_lines(path)
        cells = []
        for capacity in CAPACITIES:
            ratios = {p: float(vsched.Cache(capacity, p).access_many(keys).mean()) for p in POLICIES}
            best = max(ratios.values())
            cells += [f"**{r:.3f}**" if r == best else f"{r:.3f}" for r in ratios.values()]
        print(f"| {path.name.removesuffix('.trace.gz')} ({len(keys):,}) | " + " | ".join(cells) + " |")


def page_sharing() -> None:
    vm, gpn, content, write = cloned_vm_accesses(VMS, PAGES, ACCESSES)
    print()
    print("| frames | " + " | ".join(f"{p} hits" for p in FRAME_POLICIES) + " | "
          + " | ".join(f"{p} major faults" for p in FRAME_POLICIES) + " |")
    print("|---" * (1 + 2 * len(FRAME_POLICIES)) + "|")
    for frames in (5_000, 20_000, 60_000):
        hits, faults = [], []
        for policy in FRAME_POLICIES:
            mm = vsched.MemoryManager(frames, policy=policy)
            for _ in range(VMS):
                mm.add_vm(PAGES)
            out = mm.access(vm, gpn, content=content, write=write)
            hits.append(f"{np.mean(out == int(Outcome.HIT)):.3f}")
            faults.append(f"{mm.stats()['major_faults']:,}")
        print(f"| {frames:,} | " + " | ".join(hits) + " | " + " | ".join(faults) + " |")


if __name__ == "__main__":
    main()
    page_sharing()
