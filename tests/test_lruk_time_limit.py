"""Native LRU-K's time limit (times below 2**48: its heap entries pack two times in 16 bytes).

The limit is ~300 days of references at 10 M/s, so the tests start from a checkpoint whose time is
set just below it: references that would reach it raise OverflowError and change nothing; a
checkpoint at or past it is refused.
"""

from __future__ import annotations

import copy
import struct

import numpy as np
import pytest

import vsched

LIMIT = 2**48
# Checkpoint fields before the time: "vsched\0", "LRUK\0", format u32, capacity u64, k i32,
# crp u64, has_rip u8, rip u64, has_history u8, history u64.
TIME_AT = 7 + 5 + 4 + 8 + 4 + 8 + 1 + 8 + 1 + 8


def cache_at_time(t: int) -> vsched.LRUK:
    cache = vsched.LRUK(4, k=2)
    payload = bytearray(cache._checkpoint())
    assert struct.unpack_from("=Q", payload, TIME_AT)[0] == 0  # the layout this test patches
    struct.pack_into("=Q", payload, TIME_AT, t)
    clone = vsched.LRUK.__new__(vsched.LRUK)
    clone._restore(bytes(payload))
    return clone


def snapshot(cache) -> tuple:
    return (cache.time, cache.hits, cache.misses, cache.evictions, len(cache), cache.retained,
            cache._checkpoint())


def test_references_up_to_the_limit_run_and_beyond_it_change_nothing():
    cache = cache_at_time(LIMIT - 8)
    hits = cache.access_many(np.array([1, 2, 1, 3, 4, 5], dtype=np.uint64))  # times LIMIT-7 .. LIMIT-2
    assert hits.tolist() == [False, False, True, False, False, False]
    assert cache.evictions == 1 and cache.history_of(1) == (LIMIT - 5, LIMIT - 7, LIMIT - 5)
    before = snapshot(cache)
    with pytest.raises(OverflowError):
        cache.access_many(np.array([6, 7], dtype=np.uint64))  # the second would be at LIMIT
    assert snapshot(cache) == before
    assert cache.access(6) is False  # time LIMIT - 1: the last one
    before = snapshot(cache)
    with pytest.raises(OverflowError):
        cache.access(1)
    with pytest.raises(OverflowError):
        cache.access_many(np.array([1], dtype=np.uint64))
    assert snapshot(cache) == before
    assert copy.deepcopy(cache).time == LIMIT - 1


@pytest.mark.parametrize("t", [LIMIT, LIMIT + 1, 2**64 - 1])
def test_checkpoint_at_or_past_the_limit_is_refused(t):
    with pytest.raises(ValueError, match="time"):
        cache_at_time(t)

