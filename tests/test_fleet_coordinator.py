"""The coordinator's batched forms against the one-at-a-time code they replace, on many random
cases: a tick's placements (PlacementCache vs place), a host's refresh in Python numbers vs the
array formula, the DRS pass's load order vs a stable argsort, its imbalance vs np.std, and an
admission ledger's kept records vs the host's own."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from vsched.errors import AdmissionError
from vsched.fleet import HostSpec, HostSummaries, VmNeeds, VmSpec, place
from vsched.fleet.balance import _LoadOrder, _std
from vsched.fleet.ledger import ledger_host
from vsched.fleet.placement import PlacementCache

LONG = os.environ.get("VSCHED_LONG") == "1"
CASES = 2000 if LONG else 120


def _summaries(rng: np.random.Generator, same: bool) -> HostSummaries:
    n = int(rng.integers(1, 40))
    if same:  # one spec for all: the capacities' inverses are one number each (the fast path)
        spec = HostSpec(pcpus=int(rng.integers(2, 9)), memory_frames=int(rng.integers(600, 3000)),
                        max_vcpu_ratio=float(rng.choice([1.0, 2.0, 4.0])))
        specs = [spec] * n
    else:
        g = float(rng.choice([0.05, 0.1, 0.3]))  # one min_guarantee: uniform needs
        specs = [HostSpec(pcpus=int(rng.integers(2, 9)), memory_frames=int(rng.integers(600, 3000)),
                          max_vcpu_ratio=float(rng.choice([1.0, 2.0, 4.0])), min_guarantee=g) for _ in range(n)]
    return HostSummaries.of(specs, domains=3)


def _vm(rng: np.random.Generator, kinds: list[VmSpec]) -> VmSpec:
    if kinds and rng.random() < 0.8:  # a fleet has a handful of kinds of VM
        return kinds[int(rng.integers(0, len(kinds)))]
    reservation = None if rng.random() < 0.7 else float(rng.choice([0.0, 0.5, 1.0, 3.0, 9.0]))
    return VmSpec(vcpus=int(rng.integers(1, 5)), memory_pages=int(rng.integers(16, 800)),
                  reservation=reservation, domain=int(rng.integers(0, 3)))


def _state(s: HostSummaries) -> list[bytes]:
    return [getattr(s, name).tobytes() for name in ("vcpus_used", "frames_reserved", "cpu_reserved", "load",
                                                     "frames_in_use", "free", "frac", "weigh", "domain_vms")]


@pytest.mark.parametrize("small", [False, True])
@pytest.mark.parametrize("policy", ["best-fit", "worst-fit", "first-fit", "filter-weigher"])
def test_a_cached_placement_is_the_placement_of_that_moment(policy, small, monkeypatch):
    if small:  # rankings of a few hosts, remade often: every path of the cache, many times
        monkeypatch.setattr(PlacementCache, "FIRST", 3)
        monkeypatch.setattr(PlacementCache, "MAX_FRESH", 4)
    rng = np.random.default_rng({"best-fit": 1, "worst-fit": 2, "first-fit": 3, "filter-weigher": 4}[policy] + 10 * small)
    placed = refused = 0
    for case in range(CASES):
        s = _summaries(rng, same=bool(case % 2))
        kinds = [_vm(rng, []) for _ in range(int(rng.integers(1, 4)))]
        with PlacementCache(s, policy) as cache:
            for _ in range(int(rng.integers(1, 60))):
                spec = _vm(rng, kinds)
                needs = VmNeeds.of(spec, s, float(rng.random()) * spec.vcpus)
                exclude = None
                if rng.random() < 0.05:
                    exclude = rng.random(s.up.size) < 0.3
                expected = place(s, needs, policy, None, exclude)
                assert cache.place(needs, exclude) == expected, f"case {case}"
                if expected >= 0:
                    placed += 1
                    s.claim(expected, needs)
                else:
                    refused += 1
                r = rng.random()  # what else changes the summaries during a tick's placements
                h = int(rng.integers(0, s.up.size))
                if r < 0.04:
                    s.set_up(h, not s.up[h])
                elif r < 0.07:
                    s.set_closed(h, not s.closed[h])
                elif r < 0.09:
                    s.clear(h)
                elif r < 0.11 and s.vcpus_used[h] > 0:
                    s.release(np.array([h]), np.array([1]), np.array([16]), np.array([np.nan]), np.array([0]))
    assert placed > 20 * CASES and refused > CASES  # both outcomes, many times


def test_a_host_refreshed_alone_has_the_array_formula_values():
    rng = np.random.default_rng(5)
    for case in range(CASES):
        s = _summaries(rng, same=bool(case % 2))
        t = _summaries(np.random.default_rng(0), same=True)
        for _ in range(int(rng.integers(1, 40))):
            h = int(rng.integers(0, s.up.size))
            s.vcpus_used[h] = int(rng.integers(0, 40))
            s.frames_reserved[h] = int(rng.integers(0, 3000))
            s.cpu_reserved[h] = float(rng.random() * 9)
            s.load[h] = float(rng.random() * 2)
            s.frames_in_use[h] = float(rng.integers(0, 3000))
            s.up[h], s.closed[h] = rng.random() < 0.8, rng.random() < 0.2
            t.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.__dict__.items()})
            t.free, t.frac, t.weigh = s.free.copy(), s.frac.copy(), s.weigh.copy()
            t.vcpu_free, t.frames_free, t.cpu_free = t.free
            t.vcpu_frac, t.frames_frac, t.cpu_frac = t.frac
            s.refresh_host(h)
            t.refresh_hosts(np.array([h]))
            assert _state(s) == _state(t), f"case {case}"


def test_the_load_order_is_a_stable_argsort_after_every_move():
    rng = np.random.default_rng(6)
    for case in range(CASES):
        n = int(rng.integers(2, 60))
        levels = rng.random(int(rng.integers(1, 8)))  # few distinct loads: many ties
        loads = rng.choice(levels, n)
        up = np.flatnonzero(rng.random(n) < 0.85)
        if up.size < 2:
            continue
        order = _LoadOrder(up, loads)
        for _ in range(int(rng.integers(1, 12))):
            a, b = rng.choice(up, 2, replace=False).tolist()
            loads = loads.copy()
            loads[a], loads[b] = rng.choice(levels), rng.choice(levels)
            order.moved((a, b), loads)
            expected = up[np.argsort(loads[up], kind="stable")]
            k = int(rng.integers(0, up.size + 2))
            assert order.lowest(k).tolist() == expected[:k].tolist()
            assert order.highest(k).tolist() == (expected[::-1][:k].tolist() if k else [])


def test_the_imbalance_is_np_std_bit_for_bit():
    rng = np.random.default_rng(7)
    for case in range(20 * CASES):
        x = rng.random(int(rng.integers(1, 3000))) * float(rng.choice([1e-6, 1.0, 3.0, 1e6]))
        if case % 3 == 0:
            x = np.round(x, 2)
        if case % 5 == 0:
            x[:] = x[0]
        assert _std(x) == float(np.std(x))


def test_a_ledger_makes_the_records_the_host_makes():
    """The ledger keeps the records of a host spec's kinds of VM: each one made again is the
    record Host._record makes of the same arguments, and bad arguments still fail each time."""
    rng = np.random.default_rng(9)
    spec = HostSpec(pcpus=64, memory_frames=10**6, max_vcpu_ratio=64.0)
    ledger = ledger_host(spec, 300)
    kinds = [(int(rng.integers(1, 5)), int(rng.integers(16, 800)), None if rng.random() < 0.5 else int(rng.integers(1, 9000)),
              None if rng.random() < 0.5 else float(rng.choice([0.0, -0.0, 0.5, 2.0, 7.0])),
              None if rng.random() < 0.5 else float(rng.choice([-0.0, 0.0, 1.0, 3.0, 6.0])), int(rng.integers(0, 3)))
             for _ in range(40)]
    failed = 0
    for case in range(20 * CASES):
        vcpus, pages, shares, reservation, limit, domain = kinds[int(rng.integers(0, len(kinds)))]
        try:
            expected = ledger._record(vcpus, pages, shares, reservation, limit, domain)
        except (AdmissionError, ValueError) as error:
            with pytest.raises(type(error), match="^" + re.escape(str(error)) + "$"):
                ledger.add_vm(vcpus, pages, shares, reservation, limit, domain)
            failed += 1
            continue
        vm = ledger.add_vm(vcpus, pages, shares, reservation, limit, domain)
        got = ledger.record(vm)
        expected.sched_id = got.sched_id
        assert got == expected and repr(got) == repr(expected)  # repr: -0.0 and 0.0 apart
        ledger.remove_vm(vm)
    assert failed > CASES
