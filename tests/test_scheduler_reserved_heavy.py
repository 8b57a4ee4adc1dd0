"""Hosts whose reservations cover most of the pCPUs: many urgent preemptions at one
instant (rule 6), where the native engine keeps the instant's victims in heaps and
the reserved runs' protection ends in their own queue. Native against the reference
(plain scans) after every step, and a native checkpoint taken mid-run continues the
same, on random hosts with single- and multi-core reservations (a running VM that
is still urgent is no victim), limits and work that runs out.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import vsched
import vsched.reference

MS = 1_000_000


def _build(impl, seed: int):
    rng = np.random.default_rng(seed)
    pcpus = int(rng.integers(2, 9))
    s = impl.CpuScheduler(pcpus, int(rng.choice([1, 3])) * MS)
    budget = pcpus * float(rng.uniform(0.7, 0.98))
    vms = int(rng.integers(6, 25))
    reserved = 0.0
    for k in range(vms):
        vcpus = int(rng.integers(1, 5))
        r = 0.0
        if rng.random() < 0.7:
            r = round(float(min(vcpus, rng.choice([0.05, 0.1, 0.3, 1.5]) * rng.uniform(0.5, 1.5))), 3)
            if reserved + r > budget:
                r = 0.0
            reserved += r
        limit = None
        if rng.random() < 0.15:
            limit = round(max(r, float(rng.uniform(0.3, vcpus))), 3)
        s.add_vm(vcpus, shares=int(rng.choice([100, 1000, 10_000])), reservation=r, limit=limit)
        if rng.random() < 0.8:
            s.add_work(np.full(vcpus, k), np.arange(vcpus), impl.FOREVER)
        else:  # bursty: work runs out and comes back
            s.add_work(np.full(vcpus, k), np.arange(vcpus), rng.integers(1, 8 * MS, vcpus))
    return s, rng


def _same(native, twin) -> None:
    a, b = native.vcpu_stats(), twin.vcpu_stats()
    for column in a:
        assert np.array_equal(a[column], b[column]), column
    assert native.decisions == twin.decisions


def _twins(build, seed: int):
    """The native host, its step generator, and the reference twin built alike."""
    native, steps = build(vsched, seed)
    reference, _ = build(vsched.reference, seed)
    return native, steps, [reference]


@pytest.mark.parametrize("seed", range(6))
def test_native_equals_reference_on_reserved_heavy_hosts(seed: int) -> None:
    native, steps, twins = _twins(_build, seed)
    for k in range(12):
        if k == 5:  # from here on a restored native checkpoint runs beside them
            twins.append(pickle.loads(pickle.dumps(native)))
        if k % 4 == 3:  # more work for a VM (the bursty ones wake up)
            vm = int(steps.integers(0, native.stats()["vm"].size))
            vcpus = int((native.vcpu_stats()["vm"] == vm).sum())
            work = steps.integers(1, 5 * MS, vcpus)
            for s in (native, *twins):
                s.add_work(np.full(vcpus, vm), np.arange(vcpus), work)
        step = int(steps.integers(1, 25 * MS))
        for s in (native, *twins):
            s.run(step)
        for twin in twins:
            _same(native, twin)
    assert len(twins) == 2


def test_many_urgent_preemptions_per_instant_match_the_reference() -> None:
    """32 pCPUs, 120 VMs x 2 vCPUs, 100 of them reserving 0.3 core (30 of 32 cores):
    dozens of urgent preemptions at one instant."""
    out = []
    for impl in (vsched, vsched.reference):
        s = impl.CpuScheduler(32, 3 * MS)
        for k in range(120):
            s.add_vm(2, reservation=0.3 if k < 100 else 0.0)
        s.add_work(np.repeat(np.arange(120), 2), np.tile([0, 1], 120), impl.FOREVER)
        for _ in range(4):
            s.run(20 * MS)
            out.append((s.decisions, s.vcpu_stats()))
    half = len(out) // 2
    for (d1, a), (d2, b) in zip(out[:half], out[half:]):
        assert d1 == d2
        for column in a:
            assert np.array_equal(a[column], b[column]), column


def _distinct_host(impl, seed: int):
    """Every reserved VM reserves its own amount: one urgent line per VM, with its own
    slope, so the urgent VMs' order changes as their lag lines cross (the kinetic
    ranking of csrc/include/vsched/containers/kinetic_max.hpp), and the victims'
    lags too."""
    rng = np.random.default_rng(1000 + seed)
    pcpus = int(rng.integers(4, 17))
    s = impl.CpuScheduler(pcpus, int(rng.choice([1, 3])) * MS)
    vms = int(rng.integers(3 * pcpus, 6 * pcpus))
    vcpus = rng.integers(1, 4, vms)
    budget = pcpus * float(rng.uniform(0.6, 0.97))
    share = budget / vms
    for k in range(vms):
        r = 0.0
        if rng.random() < 0.8:
            r = round(float(min(vcpus[k], share * rng.uniform(0.3, 1.2))), 4)
        s.add_vm(int(vcpus[k]), shares=int(rng.choice([500, 1000, 4000])), reservation=r)
    s.add_work(np.repeat(np.arange(vms), vcpus), np.concatenate([np.arange(v) for v in vcpus]), impl.FOREVER)
    return s, rng


@pytest.mark.parametrize("seed", range(24))
def test_native_equals_reference_when_every_vm_reserves_its_own_amount(seed: int) -> None:
    native, steps, twins = _twins(_distinct_host, seed)
    for k in range(6):
        if k == 3:
            twins.append(pickle.loads(pickle.dumps(native)))
        step = int(steps.integers(1, 40 * MS))
        for s in (native, *twins):
            s.run(step)
        for twin in twins:
            _same(native, twin)


def test_a_checkpoint_of_the_build_before_the_kinetic_ranking_continues_identically() -> None:
    """tests/data/cpu_scheduler_before_kinetic_ranking.pickle: `_distinct_host(vsched, 1)`
    (15 pCPUs) run for 200 ms and pickled by the build that compared every urgent group's
    top at each pick (32527f8), whose groups keep stale entries. The same format
    loads here (stale entries dropped, current ones ranked) and continues as the
    reference does."""
    path = Path(__file__).parent / "data" / "cpu_scheduler_before_kinetic_ranking.pickle"
    native = pickle.loads(path.read_bytes())
    reference, _ = _distinct_host(vsched.reference, 1)
    reference.run(200 * MS)
    _same(native, reference)
    for step in (7 * MS, 50 * MS, 300 * MS):
        native.run(step)
        reference.run(step)
        _same(native, reference)
    again = pickle.loads(pickle.dumps(native))  # and its own checkpoint, in the same format
    for s in (native, again, reference):
        s.run(100 * MS)
    _same(native, again)
    _same(native, reference)
