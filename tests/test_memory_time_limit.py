"""The native MemoryManager's time limit (times below 2**48, as LRU-K's: its heap entries pack two
times in 16 bytes).

The limit is far beyond any run, so the tests start from a checkpoint whose time is set just below
it: accesses (one, a batch) and an import that would reach it raise OverflowError and change
nothing (stats, mappings and checkpoint bytes equal before and after); a checkpoint at or past it
is refused.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

import vsched

LIMIT = 2**48
# The checkpoint ends with 18 u64 totals, the time first (MemoryManager::save).
TOTALS = 18


def manager_at_time(t: int) -> tuple[vsched.MemoryManager, int]:
    """4 frames, one 8-page VM whose pages 0..4 were written (0 since evicted), its time set to t."""
    mm = vsched.MemoryManager(frames=4)
    vm = mm.add_vm(8)
    mm.access(vm, np.arange(5), np.arange(1, 6, dtype=np.uint64))
    payload = bytearray(mm._checkpoint())
    at = len(payload) - TOTALS * 8
    assert struct.unpack_from("=Q", payload, at)[0] == mm.stats()["time"] == 5  # the layout patched here
    struct.pack_into("=Q", payload, at, t)
    clone = vsched.MemoryManager.__new__(vsched.MemoryManager)
    clone._restore(bytes(payload))
    return clone, vm


def snapshot(mm) -> tuple:
    stats = mm.stats()
    mappings = [tuple(a.tolist() for a in mm.mapping(vm)) for vm in stats["vm"].tolist()]
    return {name: np.asarray(value).tolist() for name, value in stats.items()}, mappings, mm._checkpoint()


def test_accesses_up_to_the_limit_run_and_beyond_it_change_nothing():
    mm, vm = manager_at_time(LIMIT - 4)
    assert mm.stats()["time"] == LIMIT - 4
    outcomes = mm.access(vm, np.array([4, 5]), np.array([5, 60], dtype=np.uint64))  # LIMIT-3, LIMIT-2
    assert outcomes.tolist() == [vsched.Outcome.HIT, vsched.Outcome.FIRST_TOUCH]
    before = snapshot(mm)
    with pytest.raises(OverflowError, match="2\\*\\*48"):
        mm.access(vm, np.array([1, 2]), np.array([2, 3], dtype=np.uint64))  # the second would be at LIMIT
    assert snapshot(mm) == before
    assert mm.read(vm, 6) == vsched.Outcome.FIRST_TOUCH  # time LIMIT - 1: the last one
    assert mm.stats()["time"] == LIMIT - 1
    before = snapshot(mm)
    with pytest.raises(OverflowError):
        mm.read(vm, 0)
    with pytest.raises(OverflowError):
        mm.write(vm, 7, 99)
    with pytest.raises(OverflowError):
        mm.access(vm, np.array([0]))
    assert snapshot(mm) == before
    mm.access(vm, np.array([], dtype=np.int64))  # an empty batch needs no time
    assert snapshot(mm) == before


def test_an_import_that_would_reach_the_limit_changes_nothing():
    mm, vm = manager_at_time(LIMIT - 3)
    state = mm.export_vm(vm)  # 4 resident pages: one time step each on import
    mm.remove_vm(vm)
    before = snapshot(mm)
    with pytest.raises(OverflowError):
        mm.import_vm(state)
    assert snapshot(mm) == before
    mm2, vm2 = manager_at_time(LIMIT - 6)
    state2 = mm2.export_vm(vm2)
    mm2.remove_vm(vm2)
    mm2.import_vm(state2)  # 4 steps from LIMIT - 6: fits
    assert mm2.stats()["time"] == LIMIT - 2


@pytest.mark.parametrize("t", [LIMIT, LIMIT + 1, 2**64 - 1])
def test_checkpoint_at_or_past_the_limit_is_refused(t):
    with pytest.raises(ValueError, match="time"):
        manager_at_time(t)
