"""Native NetScheduler vs the pure-Python reference: same results bit for bit, same errors, and a
refused call changes nothing (hypothesis stateful, good and bad calls mixed)."""

from __future__ import annotations

import math
import pickle

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import vsched
import vsched.reference

rates = st.sampled_from([0.0, 0.0, 1.0, 1e6, 2.5e8, 1e9, 3e9, 1e9 / 3, 0.1 + 0.2])
bad_rates = st.sampled_from([math.nan, math.inf, -1.0, -1e-300])
bands_arg = st.one_of(st.integers(-1, 4), st.sampled_from([1.0, "0", 2**64]))
shares_arg = st.one_of(st.sampled_from([1, 7, 1000, 2000, 2**32]), st.sampled_from([0, -3, 2**32 + 1, 1.5]))
reservation_arg = st.one_of(st.sampled_from([0.0, 0.0, 1e6, 1e8, 1e9, 5e9]), bad_rates)
limit_arg = st.one_of(st.sampled_from([None, None, 0.0, 1e6, 2e9, math.inf]), st.sampled_from([math.nan, -5.0]))


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
    """A native and a reference NetScheduler fed the same calls."""

    @initialize(
        link=st.sampled_from([1e9, 10e9, 1e9 / 3]),
        bands=st.integers(1, 4),
        guarded=st.booleans(),
        data=st.data(),
    )
    def start(self, link, bands, guarded, data):
        guard = None
        if guarded:
            caps = data.draw(st.lists(st.sampled_from([None, 1e8, link / 2, link]), min_size=bands, max_size=bands))
            minimums = data.draw(st.lists(st.sampled_from([0.0, 0.0, 1e7, 5e7]), min_size=bands, max_size=bands))
            guard = vsched.NetGuard(caps=caps, minimums=minimums)
        self.native = vsched.NetScheduler(link, bands, guard)
        self.reference = vsched.reference.NetScheduler(link, bands, guard)

    def _on(self, module):
        return self.native if module is vsched else self.reference

    def _checked(self, call):
        """`call` on both; when it fails, neither object changed."""
        before = self.snapshot(self.native)
        results = both(call)
        if results[0][0] == "error":
            assert self.snapshot(self.native) == before
        return results

    @rule(band=bands_arg, shares=shares_arg, reservation=reservation_arg, limit=limit_arg)
    def add_vm(self, band, shares, reservation, limit):
        results = self._checked(lambda m: self._on(m).add_vm(band, shares, reservation, limit))
        if results[0][0] == "ok":
            assert results[0][1] == results[1][1]

    @rule(which=st.integers(0, 40), band=bands_arg, shares=shares_arg, reservation=reservation_arg,
          limit=limit_arg)
    def set_vm(self, which, band, shares, reservation, limit):
        self._checked(lambda m: self._on(m).set_vm(which, band, shares, reservation, limit))

    @rule(which=st.integers(0, 40))
    def remove_vm(self, which):
        self._checked(lambda m: self._on(m).remove_vm(which))

    @rule(data=st.data())
    def allocate(self, data):
        n = len(self.native)
        demand = data.draw(st.lists(rates, min_size=n, max_size=n))
        results = self._checked(lambda m: self._on(m).allocate(demand).tobytes())
        assert results[0][1] == results[1][1]

    @rule(data=st.data(), kind=st.sampled_from(["length", "value", "type"]))
    def bad_allocate(self, data, kind):
        n = len(self.native)
        demand = data.draw(st.lists(rates, min_size=n, max_size=n))
        if kind == "length":
            demand = demand + [1.0]
        elif kind == "value":
            demand = demand + [data.draw(bad_rates)]
            demand = demand[1:] if n else []
            if not demand:
                return
        else:
            demand = [str(x) for x in demand] or ["x"]
        results = self._checked(lambda m: self._on(m).allocate(demand))
        assert results[0][0] == "error"

    @rule(data=st.data())
    def packets(self, data):
        ids = self.native.vms
        count = data.draw(st.integers(0, 30))
        bad = data.draw(st.sampled_from([None, None, None, "vm", "order", "size", "queue"]))
        vm = [data.draw(st.sampled_from(ids)) if ids else 0 for _ in range(count)]
        arrival = sorted(data.draw(st.lists(st.integers(0, 200_000), min_size=count, max_size=count)))
        size = data.draw(st.lists(st.sampled_from([64, 1500, 9000, 3000]), min_size=count, max_size=count))
        queue = data.draw(st.sampled_from([1500, 20_000, 262144]))
        quantum = data.draw(st.sampled_from([1, 300, 1500, 9000]))
        if count and bad == "vm":
            vm[-1] = 10**6
        elif count > 1 and bad == "order":
            arrival[-1], arrival[0] = arrival[0], arrival[-1] + 1
        elif count and bad == "size":
            size[0] = 0
        elif bad == "queue":
            queue = 0

        def run(m):
            r = self._on(m).simulate_packets(vm, arrival, size, queue_bytes=queue, quantum_bytes=quantum)
            return (r.start_ns.tolist(), r.finish_ns.tolist(), r.sent_bytes.tolist(), r.delay_p99_ns.tobytes())

        results = self._checked(run)
        if results[0][0] == "ok":
            assert results[0][1] == results[1][1]

    @staticmethod
    def snapshot(net) -> tuple:
        return (net.vms, net.starved().tolist(), net.starved_ticks().tolist(),
                [net.band_of(vm) for vm in net.vms], pickle.dumps(net))

    @invariant()
    def same_everything(self):
        a, b = self.snapshot(self.native), self.snapshot(self.reference)
        assert a[:4] == b[:4]
        demand = np.full(len(self.native), 7e8)
        probe_a = pickle.loads(a[4]).allocate(demand)
        probe_b = pickle.loads(b[4]).allocate(demand)
        assert probe_a.tobytes() == probe_b.tobytes()


Twins.TestCase.settings = settings(max_examples=120, stateful_step_count=30)
TestTwins = Twins.TestCase
