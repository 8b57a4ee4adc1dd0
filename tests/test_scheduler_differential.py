"""Native vs reference CpuScheduler: identical integer stats on random histories.

A hypothesis RuleBasedStateMachine drives both implementations with the same
calls (arrivals, removals, re-weighting, limits, bursty and CPU-bound work,
clear_work, runs of random length, and bad calls) and requires identical
results: same exception type on every call, same stats, same vcpu_stats.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import vsched
import vsched.reference

MS = 1_000_000


def _outcome(call):
    try:
        return ("ok", call())
    except Exception as error:  # noqa: BLE001 - the type is what we compare
        return ("error", type(error))


class SchedulerPair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.native = None
        self.reference = None
        self.vcpus: dict[int, int] = {}

    def both(self, method: str, *args, **kwargs):
        a = _outcome(lambda: getattr(self.native, method)(*args, **kwargs))
        b = _outcome(lambda: getattr(self.reference, method)(*args, **kwargs))
        assert a == b, (method, args, kwargs, a, b)
        return a

    @initialize(pcpus=st.integers(1, 4), slice_ms=st.sampled_from([1, 2, 3]))
    def start(self, pcpus, slice_ms):
        self.native = vsched.CpuScheduler(pcpus, slice_ms * MS)
        self.reference = vsched.reference.CpuScheduler(pcpus, slice_ms * MS)

    def _vm(self, data_index: int) -> int:
        ids = sorted(self.vcpus)
        return ids[data_index % len(ids)] if ids else 0

    @rule(
        vcpus=st.integers(1, 3),
        shares=st.sampled_from([1, 100, 1000, 2000, 50_000]),
        reservation=st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0, 1.5]),
        limit=st.sampled_from([None, None, 0.0, 0.3, 0.5, 1.0, 1.7, 2.5, 4.0]),
    )
    def add_vm(self, vcpus, shares, reservation, limit):
        kind, value = self.both("add_vm", vcpus, shares=shares, reservation=reservation, limit=limit)
        if kind == "ok":
            self.vcpus[value] = vcpus

    @rule(
        pick=st.integers(0, 100),
        shares=st.sampled_from([None, 1, 500, 3000]),
        reservation=st.sampled_from([None, 0.0, 0.5, 1.2]),
        limit=st.sampled_from([None, 0.2, 0.9, 1.5, float("inf")]),
    )
    def set_vm(self, pick, shares, reservation, limit):
        self.both("set_vm", self._vm(pick), shares=shares, reservation=reservation, limit=limit)

    @rule(pick=st.integers(0, 100))
    def remove_vm(self, pick):
        vm = self._vm(pick)
        if self.both("remove_vm", vm)[0] == "ok":
            del self.vcpus[vm]

    @rule(
        items=st.lists(
            st.tuples(
                st.integers(0, 100),
                st.integers(0, 3),
                st.one_of(st.integers(0, 12 * MS), st.just(vsched.FOREVER), st.integers(-5, -1)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def add_work(self, items):
        vm = np.array([self._vm(i) for i, _, _ in items], dtype=np.int64)
        vcpu = np.array([c for _, c, _ in items], dtype=np.int64)
        work = np.array([w for _, _, w in items], dtype=np.int64)
        if len(items) == 1:
            self.both("add_work", int(vm[0]), int(vcpu[0]), int(work[0]))
        else:
            self.both("add_work", vm, vcpu, work)

    @rule(pick=st.integers(0, 100), vcpu=st.one_of(st.none(), st.integers(0, 3)))
    def clear_work(self, pick, vcpu):
        self.both("clear_work", self._vm(pick), vcpu)

    @rule(duration=st.one_of(st.integers(0, 25 * MS), st.sampled_from([1, MS, 3 * MS])))
    def run(self, duration):
        self.both("run", duration)

    @invariant()
    def identical(self):
        if self.native is None:
            return
        assert self.native.now == self.reference.now
        assert self.native.decisions == self.reference.decisions
        for name in ("stats", "vcpu_stats"):
            a, b = getattr(self.native, name)(), getattr(self.reference, name)()
            assert a.keys() == b.keys()
            for key in a:
                assert a[key].dtype == np.int64 and b[key].dtype == np.int64
                assert np.array_equal(a[key], b[key]), (name, key, a[key], b[key])


SchedulerPair.TestCase.settings = settings(max_examples=200, stateful_step_count=40)
TestSchedulerPair = SchedulerPair.TestCase


def test_identical_on_a_larger_bursty_run():
    """A few hundred vCPUs with bursts, re-weighting and churn: same stats after every step."""
    rng = np.random.default_rng(3)
    pair = [vsched.CpuScheduler(6, 2 * MS), vsched.reference.CpuScheduler(6, 2 * MS)]
    ids = []
    for k in range(40):
        limit = float(rng.uniform(0.3, 2.0)) if k % 5 == 0 else None
        reservation = 0.1 if k % 7 == 0 else 0.0
        shares = int(rng.integers(100, 4000))
        for s in pair:
            vm = s.add_vm(2, shares=shares, reservation=reservation, limit=limit)
        ids.append(vm)
    for step in range(60):
        pick = rng.random(2 * len(ids)) < 0.3
        vm = np.repeat(ids, 2)[pick]
        vc = np.tile([0, 1], len(ids))[pick]
        work = rng.integers(50_000, 6 * MS, size=int(pick.sum()))
        for s in pair:
            s.add_work(vm, vc, work)
        if step % 10 == 5:
            victim = ids.pop(int(rng.integers(len(ids))))
            shares = int(rng.integers(1, 9000))
            for s in pair:
                s.remove_vm(victim)
                s.set_vm(ids[0], shares=shares)
        duration = int(rng.integers(1, 10 * MS))
        for s in pair:
            s.run(duration)
        a, b = pair[0].vcpu_stats(), pair[1].vcpu_stats()
        for key in a:
            assert np.array_equal(a[key], b[key]), (step, key)
    assert pair[0].decisions == pair[1].decisions > 0
