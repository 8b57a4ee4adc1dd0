"""LRU-K's batch loop against a random gather on the same key stream, one process, CPU time.

    python benchmarks/scripts/lruk_gather_ratio.py [KEYS] [REPEATS]

KEYS distinct keys (default 1,000,000), 10 x KEYS Zipf(0.9) references, capacity KEYS / 10; the
gather reads one word per reference from a table of LRU-K's record size at k = 2 (as the asv
class ``LRUKGatherRatio``). Gather and LRU-K run alternately; prints the medians and each run's
seconds, so that a noisy machine shows in the spread.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

import vsched

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.page_workloads import zipf_keys  # noqa: E402


def main() -> None:
    keys_n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    refs = 10 * keys_n
    keys = zipf_keys(refs, keys_n)
    table = np.arange(keys_n * 5, dtype=np.uint64).reshape(keys_n, 5)
    index = keys.astype(np.intp)
    gather, lruk = [], []
    hits = 0
    for _ in range(repeats):
        start = time.process_time()
        table[index, 0]
        gather.append(time.process_time() - start)
        start = time.process_time()
        hits = int(vsched.LRUK(keys_n // 10, k=2).access_many(keys).sum())
        lruk.append(time.process_time() - start)
    g, m = statistics.median(gather), statistics.median(lruk)
    print(
        f"gather {refs / g / 1e6:.1f} M refs/s, LRU-K {refs / m / 1e6:.2f} M refs/s, ratio {g / m:.3f}, "
        f"hits {hits}; gather s {[round(x, 3) for x in gather]}, LRU-K s {[round(x, 3) for x in lruk]}"
    )


if __name__ == "__main__":
    main()
