"""CpuScheduler API: construction, stats layout, work semantics, and every bad argument.

Runs on both implementations (fixture `impl`). Expectations are hand-derived
from the documented rules, never taken from the engine's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

MS = 1_000_000
VM_KEYS = ["vm", "run_ns", "ready_ns", "limited_ns", "wait_ns", "pending_ns", "switches"]


def _snapshot(s):
    return (
        s.now,
        s.decisions,
        {k: v.copy() for k, v in s.stats().items()},
        {k: v.copy() for k, v in s.vcpu_stats().items()},
    )


def _same(a, b):
    assert a[0] == b[0] and a[1] == b[1]
    for x, y in ((a[2], b[2]), (a[3], b[3])):
        assert x.keys() == y.keys()
        for key in x:
            assert np.array_equal(x[key], y[key]), key


def _busy_scheduler(impl):
    s = impl.CpuScheduler(2, 3 * MS)
    a = s.add_vm(2, shares=1000, reservation=0.5)
    b = s.add_vm(1, shares=500, limit=0.5)
    c = s.add_vm(3)
    s.add_work([a, a, b, c], [0, 1, 0, 2], [impl.FOREVER, 7 * MS, impl.FOREVER, 2 * MS])
    s.run(10 * MS + 17)
    return s, (a, b, c)


def test_construction_and_properties(impl):
    s = impl.CpuScheduler(8)
    assert (s.pcpus, s.slice_ns, s.now, s.decisions) == (8, 3_000_000, 0, 0)
    assert impl.FOREVER == 2**63 - 1
    stats = s.stats()
    assert list(stats) == VM_KEYS and all(v.dtype == np.int64 and v.size == 0 for v in stats.values())
    assert list(s.vcpu_stats()) == ["vm", "vcpu", *VM_KEYS[1:]]
    assert [s.add_vm(1), s.add_vm(2), s.add_vm(3)] == [0, 1, 2]
    s.remove_vm(1)
    assert s.add_vm(1) == 3  # ids are never reused
    assert s.stats()["vm"].tolist() == [0, 2, 3]
    assert s.vcpu_stats()["vcpu"].tolist() == [0, 0, 1, 2, 0]


def test_two_vms_share_one_pcpu_by_shares(impl):
    # Fluid: 1/4 and 3/4 of the pCPU; EEVDF keeps each within one slice of it.
    s = impl.CpuScheduler(1, 3 * MS)
    a, b = s.add_vm(1, shares=1000), s.add_vm(1, shares=3000)
    s.add_work([a, b], [0, 0], impl.FOREVER)
    s.run(1200 * MS)
    run = s.stats()["run_ns"]
    assert abs(run[0] - 300 * MS) <= 3 * MS and abs(run[1] - 900 * MS) <= 3 * MS
    assert run.sum() == 1200 * MS


def test_finite_work_completes_and_waits(impl):
    s = impl.CpuScheduler(1, 3 * MS)
    a = s.add_vm(1)
    s.add_work(a, 0, 7 * MS)
    s.run(20 * MS)
    row = s.vcpu_stats()
    assert row["run_ns"].tolist() == [7 * MS]
    assert row["wait_ns"].tolist() == [13 * MS]
    assert row["pending_ns"].tolist() == [0]
    assert row["switches"].tolist() == [1]  # three slices back to back, one switch-in


def test_pending_and_forever(impl):
    s = impl.CpuScheduler(1, 3 * MS)
    a = s.add_vm(2)
    s.add_work([a, a], [0, 1], [impl.FOREVER, 5 * MS])
    s.run(1 * MS)
    v = s.vcpu_stats()
    assert v["pending_ns"][0] == impl.FOREVER
    assert s.stats()["pending_ns"].tolist() == [impl.FOREVER]
    assert v["run_ns"].sum() == 1 * MS
    assert v["pending_ns"][1] + v["run_ns"][1] == 5 * MS


def test_clear_work_stops_a_running_vcpu(impl):
    s = impl.CpuScheduler(1, 3 * MS)
    a = s.add_vm(1)
    s.add_work(a, 0, impl.FOREVER)
    s.run(2 * MS)
    s.clear_work(a)
    s.run(5 * MS)
    v = s.vcpu_stats()
    assert (v["run_ns"][0], v["wait_ns"][0], v["pending_ns"][0]) == (2 * MS, 5 * MS, 0)


def test_limit_zero_never_runs_and_counts_limited(impl):
    s = impl.CpuScheduler(2, 3 * MS)
    a = s.add_vm(1, limit=0.0)
    s.add_work(a, 0, impl.FOREVER)
    s.run(50 * MS)
    st = s.stats()
    assert st["run_ns"].tolist() == [0]
    assert st["limited_ns"].tolist() == [50 * MS]


def test_new_vm_exists_from_its_add_time(impl):
    s = impl.CpuScheduler(1, 3 * MS)
    s.run(10 * MS)
    a = s.add_vm(2)
    s.run(4 * MS)
    assert s.vcpu_stats()["wait_ns"].tolist() == [4 * MS, 4 * MS]
    assert a == 0


def test_add_work_accepts_arrays_and_scalars(impl):
    s = impl.CpuScheduler(4, 3 * MS)
    a, b = s.add_vm(2), s.add_vm(2)
    s.add_work(np.array([a, b, b]), np.array([1, 0, 1], dtype=np.int32), 2 * MS)
    s.add_work(a, np.array([0, 0]), np.array([1 * MS, 1 * MS], dtype=np.int64))  # same vCPU twice
    s.add_work(b, 0, np.int64(0))  # zero work: nothing happens
    assert s.vcpu_stats()["pending_ns"].tolist() == [2 * MS, 2 * MS, 2 * MS, 2 * MS]
    s.add_work([], [], [])  # empty batch: nothing happens
    s.run(2 * MS)
    assert s.vcpu_stats()["pending_ns"].tolist() == [0, 0, 0, 0]


BAD_CALLS = [
    # (description, call, exception)
    ("pcpus 0", lambda impl, s, ids: impl.CpuScheduler(0), ValueError),
    ("pcpus float", lambda impl, s, ids: impl.CpuScheduler(2.0), TypeError),
    ("slice 0", lambda impl, s, ids: impl.CpuScheduler(1, 0), ValueError),
    ("slice bool", lambda impl, s, ids: impl.CpuScheduler(1, True), TypeError),
    ("vcpus 0", lambda impl, s, ids: s.add_vm(0), ValueError),
    ("vcpus str", lambda impl, s, ids: s.add_vm("2"), TypeError),
    ("shares 0", lambda impl, s, ids: s.add_vm(1, shares=0), ValueError),
    ("shares float", lambda impl, s, ids: s.add_vm(1, shares=1.5), TypeError),
    ("reservation nan", lambda impl, s, ids: s.add_vm(1, reservation=math.nan), ValueError),
    ("reservation neg", lambda impl, s, ids: s.add_vm(1, reservation=-0.1), ValueError),
    ("reservation inf", lambda impl, s, ids: s.add_vm(1, reservation=math.inf), ValueError),
    ("reservation str", lambda impl, s, ids: s.add_vm(1, reservation="x"), TypeError),
    ("limit neg", lambda impl, s, ids: s.add_vm(1, limit=-1.0), ValueError),
    ("limit nan", lambda impl, s, ids: s.add_vm(1, limit=math.nan), ValueError),
    ("reservation > vcpus", lambda impl, s, ids: s.add_vm(1, reservation=1.5), "admission"),
    ("limit < reservation", lambda impl, s, ids: s.add_vm(2, reservation=1.0, limit=0.5), "admission"),
    ("sum of reservations", lambda impl, s, ids: s.add_vm(2, reservation=1.6), "admission"),
    ("set_vm sum", lambda impl, s, ids: s.set_vm(ids[2], reservation=1.6), "admission"),
    ("set_vm limit < res", lambda impl, s, ids: s.set_vm(ids[0], limit=0.4), "admission"),
    ("set_vm unknown", lambda impl, s, ids: s.set_vm(99, shares=5), KeyError),
    ("set_vm shares 0", lambda impl, s, ids: s.set_vm(ids[0], shares=0), ValueError),
    ("set_vm positional", lambda impl, s, ids: s.set_vm(ids[0], 5), TypeError),
    ("remove unknown", lambda impl, s, ids: s.remove_vm(99), KeyError),
    ("remove negative", lambda impl, s, ids: s.remove_vm(-1), KeyError),
    ("remove float", lambda impl, s, ids: s.remove_vm(1.0), TypeError),
    ("work unknown vm", lambda impl, s, ids: s.add_work(99, 0, MS), KeyError),
    ("work vcpu range", lambda impl, s, ids: s.add_work(ids[1], 1, MS), IndexError),
    ("work negative", lambda impl, s, ids: s.add_work(ids[0], 0, -1), ValueError),
    ("work float", lambda impl, s, ids: s.add_work(ids[0], 0, 1.5), TypeError),
    ("work float array", lambda impl, s, ids: s.add_work([0], [0], np.array([1.0])), TypeError),
    ("work 2-D", lambda impl, s, ids: s.add_work(np.zeros((1, 1), int), 0, 1), ValueError),
    ("work lengths", lambda impl, s, ids: s.add_work([0, 0], [0, 1, 0], MS), ValueError),
    (
        "batch with one bad vcpu",
        lambda impl, s, ids: s.add_work([ids[0], ids[1]], [0, 3], [MS, MS]),
        IndexError,
    ),
    (
        "batch with one bad work",
        lambda impl, s, ids: s.add_work([ids[0], ids[2]], [1, 0], [MS, -5]),
        ValueError,
    ),
    (
        "batch overflow",
        lambda impl, s, ids: s.add_work([ids[2], ids[2]], [1, 1], [2**62 - 10, 20]),
        ValueError,
    ),
    ("clear unknown", lambda impl, s, ids: s.clear_work(99), KeyError),
    ("clear vcpu range", lambda impl, s, ids: s.clear_work(ids[0], 2), IndexError),
    ("clear vcpu float", lambda impl, s, ids: s.clear_work(ids[0], 0.0), TypeError),
    ("run negative", lambda impl, s, ids: s.run(-1), ValueError),
    ("run float", lambda impl, s, ids: s.run(1.0), TypeError),
    ("run too far", lambda impl, s, ids: s.run(2**62), ValueError),
]


@pytest.mark.parametrize("description, call, error", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_calls_raise_and_change_nothing(impl, description, call, error):
    s, ids = _busy_scheduler(impl)
    twin, _ = _busy_scheduler(impl)
    before = _snapshot(s)
    expected = impl.AdmissionError if error == "admission" else error
    with pytest.raises(expected) as info:
        call(impl, s, ids)
    assert str(info.value)  # a message naming the problem
    _same(before, _snapshot(s))
    # and the future is the same as for a scheduler that never saw the bad call
    s.run(25 * MS)
    twin.run(25 * MS)
    _same(_snapshot(twin), _snapshot(s))


def test_admission_error_is_the_shared_class(impl):
    import vsched.errors

    assert impl.AdmissionError is vsched.errors.AdmissionError
    s = impl.CpuScheduler(1)
    s.add_vm(1, reservation=0.6)
    with pytest.raises(vsched.errors.AdmissionError, match="reservations"):
        s.add_vm(1, reservation=0.5)
    s.set_vm(0, reservation=0.5)
    s.add_vm(1, reservation=0.5)  # exactly pcpus is admitted


def test_set_vm_keeps_unspecified_values_and_inf_removes_limit(impl):
    s = impl.CpuScheduler(1, 3 * MS)
    a = s.add_vm(1, limit=0.25)
    s.add_work(a, 0, impl.FOREVER)
    s.run(400 * MS)
    ran = s.stats()["run_ns"][0]
    assert abs(ran - 100 * MS) <= 3 * MS
    s.set_vm(a, shares=10)  # limit stays
    s.run(400 * MS)
    assert abs(s.stats()["run_ns"][0] - 200 * MS) <= 3 * MS
    s.set_vm(a, limit=math.inf)
    s.run(400 * MS)
    assert abs(s.stats()["run_ns"][0] - 600 * MS) <= 3 * MS


def test_admission_sum_in_id_order_through_adds_removals_and_changes():
    """The admission sum is cached between changes (add_vm is O(1)): random
    adds, removals and reservation changes near the boundary must admit and
    refuse exactly as the reference, which sums in id order every time."""
    import random

    import vsched
    import vsched.reference

    rng = random.Random(5)
    twins = (vsched.CpuScheduler(3), vsched.reference.CpuScheduler(3))
    reservations = [0.0, 0.1, 0.2, 0.3, 0.7, 1.0, 0.1 + 0.2]
    refused = admitted = 0
    for _ in range(600):
        kind, reservation, pick = rng.random(), rng.choice(reservations), rng.randrange(10**6)
        results = []
        for s in twins:
            live = [int(v) for v in s.stats()["vm"]]
            try:
                if kind < 0.5 or not live:
                    results.append(s.add_vm(1, reservation=reservation))
                elif kind < 0.7:
                    results.append(s.remove_vm(live[pick % len(live)]))
                else:
                    results.append(s.set_vm(live[pick % len(live)], reservation=reservation))
            except vsched.AdmissionError:
                results.append("refused")
        assert results[0] == results[1]
        refused += results[0] == "refused"
        admitted += results[0] != "refused"
    assert refused > 20 and admitted > 100  # the boundary was exercised both ways
