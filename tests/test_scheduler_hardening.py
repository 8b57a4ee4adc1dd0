"""CpuScheduler parameters that could not progress, and per-VM sums that could wrap.

A limited VM runs in quanta of ``slice_ns // ceil(limit)`` ns (rule 5 of
docs/engines/scheduler.md); a limit that makes the quantum 0 would never let
time advance, so it is refused with ValueError and changes nothing. Per-VM sums
in ``stats()`` saturate at 2**63 - 1 instead of wrapping.
"""

from __future__ import annotations

import numpy as np
import pytest

import vsched
import vsched.reference

INT64_MAX = 2**63 - 1
DAY = 86_400 * 10**9


def _snapshot(s):
    return {k: v.tolist() for k, v in s.vcpu_stats().items()}, s.now, s.decisions


@pytest.mark.parametrize(
    ("pcpus", "slice_ns", "vcpus", "limit"),
    [(1, 1, 2, 1.5), (4, 4, 8, 6.0), (64, 1000, 1024, 1000.5)],
)
def test_limit_with_empty_quantum_is_refused(impl, pcpus, slice_ns, vcpus, limit):
    s = impl.CpuScheduler(pcpus, slice_ns)
    keep = s.add_vm(vcpus)
    s.add_work(keep, 0, 1000)
    before = _snapshot(s)
    with pytest.raises(ValueError, match="limit"):
        s.add_vm(vcpus, limit=limit)
    with pytest.raises(ValueError, match="limit"):
        s.set_vm(keep, limit=limit)
    with pytest.raises(ValueError, match="limits"):
        s.set_limits(np.array([keep, keep]), np.array([float(vcpus), limit]))
    assert _snapshot(s) == before
    s.run(10_000)  # the VM without a limit still progresses
    assert s.now == 10_000 and s.vcpu_stats()["run_ns"][0] == 1000


@pytest.mark.parametrize(("slice_ns", "vcpus", "limit"), [(1, 2, 1.0), (2, 3, 2.0), (4, 8, 3.5), (4, 8, 8.0)])
def test_limit_at_the_boundary_progresses(impl, slice_ns, vcpus, limit):
    """limit == slice_ns (quantum 1 ns) and limit >= vcpus (no quantum) are accepted and run."""
    s = impl.CpuScheduler(1, slice_ns)
    vm = s.add_vm(vcpus, limit=limit)
    s.add_work(np.full(vcpus, vm), np.arange(vcpus), 1000)
    s.run(100_000)
    total = int(s.stats()["run_ns"][0])
    if limit >= vcpus:
        assert total == vcpus * 1000
    else:
        assert 0 < total <= limit * 100_000 + slice_ns
    assert s.now == 100_000


def test_random_tiny_slices_always_progress(impl):
    """Every accepted (slice, vcpus, limit, reservation) with 1..8 ns slices finishes a run."""
    rng = np.random.default_rng(18)
    accepted = 0
    for _ in range(150 if impl.__name__ == "vsched" else 40):
        slice_ns = int(rng.integers(1, 9))
        pcpus = int(rng.integers(1, 4))
        s = impl.CpuScheduler(pcpus, slice_ns)
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(1, 12))
            limit = float(rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 6.0, 8.0, 11.5, float(slice_ns)]))
            try:
                vm = s.add_vm(n, limit=limit if limit < n else None, reservation=min(limit, 0.25))
            except (ValueError, impl.AdmissionError):
                continue
            accepted += 1
            s.add_work(np.full(n, vm), np.arange(n), impl.FOREVER)
        s.run(2_000)
        assert s.now == 2_000
    assert accepted > 100 if impl.__name__ == "vsched" else accepted > 25


def test_per_vm_time_sums_saturate_instead_of_wrapping(impl):
    s = impl.CpuScheduler(64)
    vm = s.add_vm(1024)
    s.run(105 * DAY)
    per_vcpu = s.vcpu_stats()["wait_ns"]
    assert np.all(per_vcpu == 105 * DAY)  # each row is exact
    assert s.stats()["wait_ns"].tolist() == [INT64_MAX]  # 1024 x 105 days > 2**63: saturated, not negative
    s.add_work(vm, 0, 5)
    s.run(10)
    assert s.stats()["run_ns"].tolist() == [5]


def test_pending_sums_of_cpu_bound_vcpus_saturate(impl):
    s = impl.CpuScheduler(2)
    vm = s.add_vm(3)
    s.add_work([vm, vm, vm], [0, 1, 2], [impl.FOREVER, impl.FOREVER, 7])
    assert s.stats()["pending_ns"].tolist() == [impl.FOREVER]
    assert s.vcpu_stats()["pending_ns"].tolist() == [impl.FOREVER, impl.FOREVER, 7]


# A fuzz sequence that crashed the native engine: a vCPU whose rate is 0 (a limit of
# 2.2e-308 cores floors to 0 micro-cores) waits with an eligible time of "never", and a
# free pCPU then takes the earliest not-yet-eligible vCPU (a borrowed pick, rule 3).
_NEVER_ELIGIBLE_CALLS = [
    ("add_vm", (3, 1, 0.0, 0.0)), ("clear_work", (0, 5)), ("set_vm", (0,), {"shares": 1000, "limit": 1.5}),
    ("run", (15,)), ("set_limits", (np.array([0], dtype=np.int64), [1.0])), ("clear_all_work", ()),
    ("remove_vm", (0,)), ("add_vm", (3, 9223372036854775808, 1e-09, 2.2250738585072014e-308)),
    ("add_vm", (1, 1000, 0.0, 2.2250738585072014e-308)), ("add_work", (0, 1, 9223372036854775807)),
    ("run", (320,)), ("set_limits", (np.array([1], dtype=np.int64), [1.0])), ("remove_vm", (1,)),
    ("add_vm", (3, 16, 0.0, 0.5)), ("clear_work", (2,)), ("run", (48,)),
    ("add_vm", (3, 2, 5e-324, 2.2250738585072014e-308)), ("remove_vm", (2,)), ("add_work", (3, 2, 2)),
    ("run", (2,)),
]


def _replay(s, calls):
    outcome = []
    for name, args, *kw in calls:
        try:
            getattr(s, name)(*args, **(kw[0] if kw else {}))
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - the exception type is what is compared
            outcome.append(type(e).__name__)
    return outcome, s.now, s.decisions, {k: v.tolist() for k, v in s.vcpu_stats().items()}


def test_borrowed_pick_with_a_never_eligible_vcpu_waiting():
    native = _replay(vsched.CpuScheduler(8, 16, strict_reservations=False), _NEVER_ELIGIBLE_CALLS)
    reference = _replay(vsched.reference.CpuScheduler(8, 16, strict_reservations=False), _NEVER_ELIGIBLE_CALLS)
    assert native == reference
