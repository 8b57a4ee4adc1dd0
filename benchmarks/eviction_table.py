"""Hit ratios of every vsched.Cache policy on each LIRS trace (the table in docs/engines/eviction.md).

    python benchmarks/eviction_table.py            # traces from VSCHED_SHARED_DATA (default ../shared/data)

Capacities 100 and 1,000 keys; LRU-K is k=2 with the defaults (retained history unbounded).
"""

from __future__ import annotations

import os
from pathlib import Path

import vsched
from vsched.traces import read_lines

POLICIES = ("lru", "clock", "arc", "lirs", "lruk")
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


if __name__ == "__main__":
    main()
