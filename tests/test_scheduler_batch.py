"""CpuScheduler batch calls: set_limits(vms, limits) and clear_all_work().

Each batch call must be exactly the sequence of per-VM calls it replaces
(set_vm(vm, limit=...) in batch order; clear_work(vm) for every VM in id
order), on both implementations; native and reference must agree; and a bad
batch must raise the same exception type on both and change nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import vsched
import vsched.reference

MS = 1_000_000


def _snapshot(s):
    return (s.now, s.decisions, {k: v.copy() for k, v in s.vcpu_stats().items()})


def _assert_same(a, b):
    assert a[0] == b[0] and a[1] == b[1]
    assert a[2].keys() == b[2].keys()
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key], err_msg=key)


def _loaded(impl, seed=0):
    """A busy scheduler: reserved, limited and plain VMs with CPU-bound and finite work."""
    rng = np.random.default_rng(seed)
    s = impl.CpuScheduler(3, 2 * MS)
    ids = []
    for k in range(8):
        n = int(rng.integers(1, 4))
        reservation = 0.3 if k % 3 == 0 else 0.0
        limit = float(rng.uniform(0.5, n)) if k % 4 == 1 else None
        vm = s.add_vm(n, shares=int(rng.integers(100, 5000)), reservation=reservation, limit=limit)
        work = impl.FOREVER if k % 2 == 0 else int(rng.integers(1, 40 * MS))
        s.add_work(np.full(n, vm), np.arange(n), work)
        ids.append(vm)
    s.remove_vm(ids.pop(2))  # a gap in the ids
    s.run(17 * MS + 3)
    return s, ids


def test_set_limits_is_set_vm_in_batch_order(impl):
    batch, single = _loaded(impl)[0], _loaded(impl)[0]
    ids = _loaded(impl)[1]
    rng = np.random.default_rng(1)
    for _ in range(20):
        vms = rng.choice(ids, size=int(rng.integers(0, 2 * len(ids))))  # repeats: the last wins
        limits = rng.choice([0.3, 0.5, 1.0, 1.7, 2.5, math.inf], size=vms.size)
        batch.set_limits(vms, limits)
        for vm, limit in zip(vms.tolist(), limits.tolist()):
            single.set_vm(vm, limit=limit)
        duration = int(rng.integers(0, 8 * MS))
        batch.run(duration)
        single.run(duration)
        _assert_same(_snapshot(batch), _snapshot(single))


def test_set_limits_accepts_integer_limits_and_empty_batches(impl):
    s, ids = _loaded(impl)
    twin, _ = _loaded(impl)
    s.set_limits(np.array([], dtype=np.int64), np.array([]))
    s.set_limits([ids[1]], [2])  # an int limit is a number of cores
    twin.set_vm(ids[1], limit=2.0)
    s.run(9 * MS)
    twin.run(9 * MS)
    _assert_same(_snapshot(s), _snapshot(twin))


def test_clear_all_work_is_clear_work_of_every_vm(impl):
    batch, ids = _loaded(impl)
    single, _ = _loaded(impl)
    batch.clear_all_work()
    for vm in ids:
        single.clear_work(vm)
    _assert_same(_snapshot(batch), _snapshot(single))
    assert np.all(batch.vcpu_stats()["pending_ns"] == 0)
    # and nothing runs afterwards until new work comes
    run_before = batch.vcpu_stats()["run_ns"].copy()
    batch.run(10 * MS)
    np.testing.assert_array_equal(batch.vcpu_stats()["run_ns"], run_before)
    batch.add_work(ids[0], 0, 3 * MS)
    batch.run(5 * MS)
    assert batch.vcpu_stats()["run_ns"].sum() == run_before.sum() + 3 * MS


def test_clear_all_work_on_an_empty_scheduler(impl):
    s = impl.CpuScheduler(2)
    s.clear_all_work()
    s.add_vm(2)
    s.clear_all_work()
    assert s.stats()["pending_ns"].tolist() == [0]


@pytest.mark.parametrize("seed", range(6))
def test_batches_native_equals_reference(seed):
    """The host's sliced tick, many times: limits in one batch, work, run, clear all."""
    rng = np.random.default_rng(100 + seed)
    pair = [vsched.CpuScheduler(4, 3 * MS), vsched.reference.CpuScheduler(4, 3 * MS)]
    layout = []
    for k in range(12):
        n = int(rng.integers(1, 4))
        reservation = float(rng.choice([0.0, 0.0, 0.1, 0.3]))
        shares = int(rng.integers(1, 10_000))
        for s in pair:
            vm = s.add_vm(n, shares=shares, reservation=reservation)
        layout.append((vm, n, reservation))
    vms = np.array([vm for vm, _, _ in layout])
    for _tick in range(15):
        limits = np.array([max(r, float(rng.uniform(0.0, n))) if rng.random() < 0.7 else math.inf for _, n, r in layout])
        vm_of_vcpu = np.concatenate([np.full(n, vm) for vm, n, _ in layout])
        vcpu = np.concatenate([np.arange(n) for _, n, _ in layout])
        work = rng.integers(0, 12 * MS, size=vm_of_vcpu.size)
        for s in pair:
            s.set_limits(vms, limits)
            s.add_work(vm_of_vcpu, vcpu, work)
            s.run(10 * MS)
            s.clear_all_work()
        _assert_same(_snapshot(pair[0]), _snapshot(pair[1]))
    assert pair[0].decisions > 0


BAD_BATCHES = [
    # (description, vms, limits as a function of the live ids, expected exception)
    ("unknown vm", lambda ids: ([ids[0], 99], [1.0, 1.0]), KeyError),
    ("removed vm", lambda ids: ([ids[0], 2], [1.0, 1.0]), KeyError),
    ("negative vm", lambda ids: ([-1], [1.0]), KeyError),
    ("nan limit", lambda ids: ([ids[0], ids[1]], [1.0, math.nan]), ValueError),
    ("negative limit", lambda ids: ([ids[1], ids[0]], [1.0, -0.5]), ValueError),
    ("below the reservation", lambda ids: ([ids[1], ids[0]], [2.0, 0.1]), "admission"),
    ("lengths differ", lambda ids: ([ids[0], ids[1]], [1.0]), ValueError),
    ("2-D vms", lambda ids: (np.array([[ids[0]]]), [1.0]), ValueError),
    ("2-D limits", lambda ids: ([ids[0]], np.array([[1.0]])), ValueError),
    ("float vms", lambda ids: (np.array([1.0]), [1.0]), TypeError),
    ("bool vms", lambda ids: (np.array([True]), [1.0]), TypeError),
    ("scalar vms", lambda ids: (ids[0], [1.0]), TypeError),
    ("string limits", lambda ids: ([ids[0]], ["1.0"]), TypeError),
    ("bool limits", lambda ids: ([ids[0]], np.array([True])), TypeError),
]


@pytest.mark.parametrize("description, make, error", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_bad_set_limits_raise_and_change_nothing(impl, description, make, error):
    s, ids = _loaded(impl)
    twin, _ = _loaded(impl)
    vms, limits = make(ids)
    before = _snapshot(s)
    expected = impl.AdmissionError if error == "admission" else error
    with pytest.raises(expected) as info:
        s.set_limits(vms, limits)
    assert str(info.value)
    _assert_same(before, _snapshot(s))
    s.run(20 * MS)  # and the future is that of a scheduler that never saw the call
    twin.run(20 * MS)
    _assert_same(_snapshot(twin), _snapshot(s))


@pytest.mark.parametrize("description, make, error", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_bad_set_limits_same_exception_on_both(description, make, error):
    outcomes = []
    for impl in (vsched, vsched.reference):
        s, ids = _loaded(impl)
        try:
            s.set_limits(*make(ids))
            outcomes.append(None)
        except Exception as exc:  # noqa: BLE001 - the type is what we compare
            outcomes.append(type(exc))
    assert outcomes[0] is outcomes[1] is not None
