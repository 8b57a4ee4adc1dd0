"""Native Cache: one thread at a time (InUseError) and Ctrl-C inside access_many (the processed prefix exactly)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import vsched

from test_memory_threads import KEYS, busy_calls, interrupt_after

CACHE_CALLS = {
    "access": lambda c: c.access(5),
    "access_many": lambda c: c.access_many(KEYS[:10]),
    "contains": lambda c: 5 in c,
    "len": lambda c: len(c),
    "hits": lambda c: c.hits,
    "evictions": lambda c: c.evictions,
    "memory_bytes": lambda c: c.memory_bytes(),
    "pickle": lambda c: c.__getstate__(),
}


@pytest.mark.parametrize("policy", ["arc", "lirs"])
def test_cache_refuses_a_second_thread(policy):
    cache = vsched.Cache(20_000, policy)
    refused = busy_calls(cache, lambda c: c.access_many(KEYS[:300_000]), CACHE_CALLS)
    assert min(refused.values()) >= 2, refused
    assert cache.hits + cache.misses == cache.time


def test_ctrl_c_stops_cache_access_many_at_a_reference_boundary():
    keys = np.tile(KEYS, 4)  # 16 M references: seconds of work
    cache = vsched.Cache(20_000, "arc")
    timer = interrupt_after(0.2)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cache.access_many(keys)
    elapsed = time.monotonic() - start
    timer.join()
    done = cache.time
    assert 0 < done < keys.size
    assert elapsed < 10.0, elapsed  # loose on purpose: a shared, loaded machine is slow
    fresh = vsched.Cache(20_000, "arc")
    fresh.access_many(keys[:done])
    assert cache._core._save() == fresh._core._save()  # exactly the prefix, bit for bit
