"""Native Reallocator vs the pure-Python reference: same results bit for bit, same errors."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import vsched
import vsched.reference

sizes = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 0.1 + 0.2])
samples = st.one_of(st.floats(0.0, 3.0), st.sampled_from([0.0, 0.5, 1.0]))
bad_samples = st.sampled_from([math.nan, math.inf, -1.0, -1e-300])


def both(call):
    """Run `call` on native and reference; same value or same exception type."""
    results = []
    for module in (vsched, vsched.reference):
        try:
            results.append(("ok", call(module)))
        except Exception as error:  # noqa: BLE001 - the type is what is compared
            results.append(("error", type(error)))
    assert results[0][0] == results[1][0], results
    if results[0][0] == "error":
        assert results[0][1] is results[1][1], results
    return results


class Twins(RuleBasedStateMachine):
    """A native and a reference reallocator fed the same calls."""

    @initialize(
        capacity=st.sampled_from([0.5, 1.0, 2.0, 3.7, 8.0]),
        window=st.integers(1, 7),
        threshold=st.sampled_from([0.0, 0.3, 0.75, 1.0, 10.0]),
        estimator=st.sampled_from(["max", "mean", "percentile", "ewma"]),
        percentile=st.sampled_from([0.0, 25.0, 50.0, 90.0, 95.0, 100.0]),
        headroom=st.sampled_from([0.0, 0.1, 0.5]),
    )
    def start(self, capacity, window, threshold, estimator, percentile, headroom):
        args = (capacity, window, threshold, estimator, percentile, headroom)
        self.native = vsched.Reallocator(*args)
        self.reference = vsched.reference.Reallocator(*args)

    def _on(self, module):
        return self.native if module is vsched else self.reference

    @rule(
        size=sizes,
        shares=st.sampled_from([1, 500, 1000, 2000, 7777]),
        reservation=st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0, 5.0]),
        limit=st.sampled_from([None, None, 0.0, 0.3, 1.0, math.inf]),
    )
    def add_vm(self, size, shares, reservation, limit):
        both(lambda m: self._on(m).add_vm(size, shares=shares, reservation=reservation, limit=limit))

    @precondition(lambda self: len(self.native) > 0)
    @rule(
        which=st.integers(0, 10**6),
        size=sizes,
        shares=st.sampled_from([1, 1000, 3000]),
        reservation=st.sampled_from([0.0, 0.2, 1.0]),
        limit=st.sampled_from([None, 0.5, 2.0]),
    )
    def set_vm(self, which, size, shares, reservation, limit):
        vm = self.native.vms[which % len(self.native)]
        both(lambda m: self._on(m).set_vm(vm, size, shares=shares, reservation=reservation, limit=limit))

    @rule(which=st.integers(0, 10**6), unknown=st.booleans())
    def remove_vm(self, which, unknown):
        vms = self.native.vms
        vm = 10**6 + which if unknown or not vms else vms[which % len(vms)]
        both(lambda m: self._on(m).remove_vm(vm))

    @rule(data=st.data())
    def observe(self, data):
        n = len(self.native)
        usage = data.draw(st.lists(samples, min_size=n, max_size=n))
        both(lambda m: self._on(m).observe(usage))

    @rule(data=st.data(), cap=st.booleans())
    def observe_many(self, data, cap):
        n = len(self.native)
        ticks = data.draw(st.integers(0, 5))
        usage = np.array(data.draw(st.lists(samples, min_size=n * ticks, max_size=n * ticks))).reshape(
            ticks, n
        )
        results = both(lambda m: self._on(m).observe_many(usage, cap_at_entitlement=cap))
        assert results[0][1].tolist() == results[1][1].tolist()

    @rule(data=st.data(), kind=st.sampled_from(["length", "value", "batch"]))
    def bad_observe(self, data, kind):
        n = len(self.native)
        before = self.state(self.native)
        if kind == "length":
            usage = [0.5] * data.draw(st.integers(0, n + 2).filter(lambda k: k != n))
            both(lambda m: self._on(m).observe(usage))
        elif kind == "value" and n > 0:
            usage = [0.5] * n
            usage[data.draw(st.integers(0, n - 1))] = data.draw(bad_samples)
            both(lambda m: self._on(m).observe(usage))
        elif n > 0:
            usage = np.full((3, n), 0.5)
            usage[2, data.draw(st.integers(0, n - 1))] = data.draw(bad_samples)
            both(lambda m: self._on(m).observe_many(usage))
        assert self.state(self.native) == before

    @staticmethod
    def state(r) -> tuple:
        return (
            r.vms,
            r.entitlements().tolist(),
            r.base().tolist(),
            r.estimates().tolist(),
            r.load,
            r.lending,
        )

    @invariant()
    def same_everything(self):
        assert self.state(self.native) == self.state(self.reference)


Twins.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
TestTwins = Twins.TestCase


def test_replay_with_many_vms_is_bit_identical():
    rng = np.random.default_rng(11)
    n = 120
    demand = np.minimum(rng.lognormal(-2.0, 1.0, (60, n)), 1.0)
    for estimator, window in [(e, 12) for e in ("max", "mean", "percentile", "ewma")] + [("percentile", 100)]:
        runs = []
        for module in (vsched, vsched.reference):
            r = module.Reallocator(n / 4, window=window, estimator=estimator, percentile=90.0)
            for i in range(n):
                r.add_vm(1.0, shares=(500, 1000, 2000)[i % 3], reservation=0.05 * (i % 2))
            runs.append(r.observe_many(demand, cap_at_entitlement=True))
        assert runs[0].tolist() == runs[1].tolist(), estimator


def test_admission_sum_in_vm_order_through_adds_removals_and_changes():
    """The admission sum is cached between changes (add_vm is O(1)): random
    adds, removals and reservation changes near the capacity must admit and
    refuse exactly as the reference, which sums in VM order every time."""
    import random

    rng = random.Random(7)
    twins = (vsched.Reallocator(3.0), vsched.reference.Reallocator(3.0))
    reservations = [0.0, 0.1, 0.2, 0.3, 0.7, 1.0, 0.1 + 0.2]
    refused = admitted = 0
    for _ in range(600):
        kind, reservation, pick = rng.random(), rng.choice(reservations), rng.randrange(10**6)
        results = []
        for r in twins:
            live = r.vms
            try:
                if kind < 0.5 or not live:
                    results.append(r.add_vm(1.0, reservation=reservation))
                elif kind < 0.7:
                    results.append(r.remove_vm(live[pick % len(live)]))
                else:
                    results.append(r.set_vm(live[pick % len(live)], 1.0, reservation=reservation))
            except vsched.AdmissionError:
                results.append("refused")
        assert results[0] == results[1]
        refused += results[0] == "refused"
        admitted += results[0] != "refused"
    assert refused > 20 and admitted > 100  # the boundary was exercised both ways
