"""LRU-K against the memory system's limit: access_many vs a random gather on the same key stream.

One process, one key stream (Zipf 0.9 over 1 M keys, 10 M references at full
size; capacity = keys / 10). The gather is numpy fancy indexing of one word
per reference from a materialised table of LRU-K's record size (k = 2: 5 words
per key), i.e. independent loads at the memory system's rate for one lookup
per reference. ``track_ratio`` = LRU-K's references/s over the gather's.

Both are timed in CPU time (``time.process_time``: other jobs on a shared
machine inflate wall time far more), alternately, and the medians of
``REPEATS`` runs each are compared, so that both see the same machine.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .common import sizes
from .page_workloads import zipf_keys

KEYS = sizes([1_000_000], [10_000])[0]
REFS = 10 * KEYS
RECORD_WORDS = 5  # 3 + k words per LRU-K record at k = 2
REPEATS = 5


def _median_rates(runs: dict, refs: int, repeats: int = REPEATS) -> dict:
    """References/s of each run (median CPU time of `repeats`), the runs taken in turn."""
    times: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: refs / statistics.median(t) for name, t in times.items()}


class LRUKGatherRatio:
    timeout = 900
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self):
        import vsched

        self.LRUK = vsched.LRUK
        self.keys = zipf_keys(REFS, KEYS)
        self.table = np.arange(KEYS * RECORD_WORDS, dtype=np.uint64).reshape(KEYS, RECORD_WORDS)
        self.index = self.keys.astype(np.intp)

    def _gather(self):
        return self.table[self.index, 0]

    def _lruk(self):
        return self.LRUK(KEYS // 10, k=2).access_many(self.keys)

    def track_ratio(self):
        rates = _median_rates({"lruk": self._lruk, "gather": self._gather}, REFS)
        return rates["lruk"] / rates["gather"]

    track_ratio.unit = "LRU-K refs/s per gather refs/s"

    def track_lruk_refs_per_s(self):
        return _median_rates({"lruk": self._lruk}, REFS)["lruk"]

    track_lruk_refs_per_s.unit = "refs/s"

    def track_gather_refs_per_s(self):
        return _median_rates({"gather": self._gather}, REFS)["gather"]

    track_gather_refs_per_s.unit = "refs/s"
