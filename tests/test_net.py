"""Fluid NetScheduler: against exact strict-priority water-filling, twins bit for bit, admission, starvation."""

from __future__ import annotations

import copy
import math
import os
import pickle
from fractions import Fraction

import numpy as np
import pytest

import vsched
import vsched.reference as ref
from net_oracle import strict_priority

LONG = os.environ.get("VSCHED_LONG") == "1"
CASES = 20_000 if LONG else 600


def random_case(rng: np.random.Generator):
    bands = int(rng.integers(1, 5))
    link = float(rng.choice([1e6, 1e9, 10e9, 25e9, 100e9]))
    caps = [math.inf] * bands
    minimums = [0.0] * bands
    guard = None
    if rng.random() < 0.5:
        for k in range(bands):
            if rng.random() < 0.4:
                caps[k] = float(link * rng.uniform(0.05, 1.2))
        for k in range(bands):
            if rng.random() < 0.3:
                minimums[k] = float(min(caps[k], link * rng.uniform(0.0, 0.3) / bands))
        guard = vsched.NetGuard(caps=caps, minimums=minimums)
    vms = []
    for _ in range(int(rng.integers(0, 13))):
        reservation = float(link * rng.uniform(0, 0.2)) if rng.random() < 0.3 else 0.0
        limit = None if rng.random() < 0.6 else float(reservation + link * rng.uniform(0, 0.5))
        vms.append((int(rng.integers(0, bands)), int(rng.choice([1, 10, 1000, 2000, 10**6])), reservation, limit))
    return link, bands, guard, caps, minimums, vms


def random_demand(rng: np.random.Generator, link: float, n: int) -> list:
    scale = link * rng.choice([0.01, 0.3, 1.0, 3.0])
    return [0.0 if rng.random() < 0.15 else float(scale * rng.uniform(0, 1)) for _ in range(n)]


def build(module, link, bands, guard, vms):
    net = module.NetScheduler(link, bands, guard)
    admitted = []
    for band, shares, reservation, limit in vms:
        try:
            net.add_vm(band, shares, reservation, limit)
            admitted.append((band, shares, reservation, limit))
        except vsched.AdmissionError:
            pass
    return net, admitted


def test_fluid_matches_exact_strict_priority_water_filling_and_the_reference():
    rng = np.random.default_rng(16)
    errors = []
    for case in range(CASES):
        link, bands, guard, caps, minimums, vms = random_case(rng)
        native, admitted = build(vsched, link, bands, guard, vms)
        demand = random_demand(rng, link, len(admitted))
        got = native.allocate(demand)
        exact = strict_priority(link, caps, minimums, admitted, demand)
        worst = max((abs(Fraction(float(g)) - e) for g, e in zip(got, exact)), default=Fraction(0))
        errors.append(float(worst) / link)
        assert float(worst) <= 1e-9 * link, (case, got, [float(e) for e in exact])
        assert got.sum() <= link * (1 + 1e-9)
        if case % 3 == 0:  # the reference is slow: every third case, bit for bit
            reference, _ = build(ref, link, bands, guard, vms)
            assert reference.allocate(demand).tobytes() == got.tobytes(), case
            assert reference.starved().tolist() == native.starved().tolist()
    errors.sort()
    print(
        f"\n{len(errors)} cases, error / link: median {errors[len(errors) // 2]:.3g}, "
        f"p99 {errors[int(len(errors) * 0.99)]:.3g}, worst {errors[-1]:.3g} (bound 1e-9)"
    )


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_strict_priority_and_reservations_of_lower_bands(module):
    net = module.NetScheduler(10e9, bands=3)
    critical = net.add_vm(band=0)
    normal = net.add_vm(band=1, reservation=1e9)
    bulk = net.add_vm(band=2, shares=1000)
    bulk2 = net.add_vm(band=2, shares=3000)
    rates = net.allocate([9.5e9, 5e9, 5e9, 5e9])
    # band 1 keeps its 1 Gbps floor; band 0 takes the rest; band 2 starves.
    assert rates.tolist() == [9e9, 1e9, 0.0, 0.0]
    assert net.starved().tolist() == [False, False, True, True]
    assert net.vms == [critical, normal, bulk, bulk2]
    rates = net.allocate([2e9, 3e9, 5e9, 5e9])
    assert rates.tolist() == [2e9, 3e9, 1.25e9, 3.75e9]
    assert net.starved_ticks().tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_guard_minimum_prevents_starvation_and_cap_bounds_a_band(module):
    guard = vsched.NetGuard(caps=[8e9, None, None], minimums=[0, 0, 5e8])
    net = module.NetScheduler(10e9, bands=3, guard=guard)
    net.add_vm(band=0)
    net.add_vm(band=1)
    net.add_vm(band=2)
    rates = net.allocate([20e9, 20e9, 20e9])
    assert rates.tolist() == [8e9, 1.5e9, 5e8]
    assert not net.starved().any()
    # Without demand in band 2 its minimum goes back to the others.
    assert net.allocate([20e9, 20e9, 0.0]).tolist() == [8e9, 2e9, 0.0]


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_admission_refuses_reservations_above_the_link(module):
    net = module.NetScheduler(10e9, bands=2, guard=vsched.NetGuard(caps=[4e9, None], minimums=[0, 2e9]))
    net.add_vm(band=0, reservation=4e9)
    with pytest.raises(vsched.AdmissionError, match="cap"):
        net.add_vm(band=0, reservation=1e6)
    net.add_vm(band=1, reservation=1e9)  # within the 2 Gbps minimum already kept
    net.add_vm(band=1, reservation=5e9)
    with pytest.raises(vsched.AdmissionError, match="link"):
        net.add_vm(band=1, reservation=1e6)
    with pytest.raises(vsched.AdmissionError, match="limit"):
        net.add_vm(band=1, reservation=0.0 + 1.0, limit=0.5)
    with pytest.raises(vsched.AdmissionError):
        module.NetScheduler(1e9, bands=2, guard=vsched.NetGuard(minimums=[6e8, 6e8]))
    assert len(net) == 3


BAD_CALLS = [
    ("ctor link", lambda m: m.NetScheduler(0.0), ValueError),
    ("ctor link nan", lambda m: m.NetScheduler(float("nan")), ValueError),
    ("ctor link str", lambda m: m.NetScheduler("1e9"), TypeError),
    ("ctor bands", lambda m: m.NetScheduler(1e9, bands=0), ValueError),
    ("ctor bands float", lambda m: m.NetScheduler(1e9, bands=2.0), TypeError),
    ("ctor guard type", lambda m: m.NetScheduler(1e9, guard={"caps": [1]}), TypeError),
    ("ctor guard length", lambda m: m.NetScheduler(1e9, 2, vsched.NetGuard(caps=[1e9])), ValueError),
    ("ctor cap zero", lambda m: m.NetScheduler(1e9, 1, vsched.NetGuard(caps=[0.0])), ValueError),
    ("ctor min above cap", lambda m: m.NetScheduler(1e9, 1, vsched.NetGuard(caps=[1e6], minimums=[2e6])), ValueError),
    ("ctor min negative", lambda m: m.NetScheduler(1e9, 1, vsched.NetGuard(minimums=[-1.0])), ValueError),
]


@pytest.mark.parametrize("name,call,error", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_bad_constructor_arguments(module, name, call, error):
    with pytest.raises(error) as caught:
        call(module)
    assert "\n" not in str(caught.value)


BAD_VM_CALLS = [
    ("band", dict(band=3), ValueError),
    ("band negative", dict(band=-1), ValueError),
    ("band float", dict(band=1.0), TypeError),
    ("shares", dict(shares=0), ValueError),
    ("shares big", dict(shares=2**32 + 1), ValueError),
    ("shares float", dict(shares=1.5), TypeError),
    ("reservation", dict(reservation=-1.0), ValueError),
    ("reservation inf", dict(reservation=math.inf), ValueError),
    ("reservation str", dict(reservation="1"), TypeError),
    ("limit nan", dict(limit=math.nan), ValueError),
    ("limit negative", dict(limit=-2.0), ValueError),
    ("limit below reservation", dict(reservation=2.0, limit=1.0), vsched.AdmissionError),
    ("reservation above link", dict(reservation=2e9), vsched.AdmissionError),
]


@pytest.mark.parametrize("name,kwargs,error", BAD_VM_CALLS, ids=[c[0] for c in BAD_VM_CALLS])
@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_bad_vm_arguments_change_nothing(module, name, kwargs, error):
    net = module.NetScheduler(1e9, bands=3)
    vm = net.add_vm(band=1, shares=500, reservation=1e8)
    net.allocate([5e8])
    before = pickle.dumps(net)
    with pytest.raises(error):
        net.add_vm(**kwargs)
    with pytest.raises(error):
        net.set_vm(vm, **kwargs)
    assert pickle.dumps(net) == before
    assert net.add_vm() == vm + 1  # the refused add took no id


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_bad_demand_and_unknown_vms_change_nothing(module):
    net = module.NetScheduler(1e9, bands=2)
    net.add_vm(0)
    net.add_vm(1)
    net.allocate([2e9, 2e9])
    before = pickle.dumps(net)
    for demand, error in (([1.0], ValueError), ([1.0, -1.0], ValueError), ([1.0, math.inf], ValueError),
                          ([1.0, math.nan], ValueError), (["a", "b"], TypeError), ([[1.0, 2.0]], ValueError)):
        with pytest.raises(error, match="demand_bps"):
            net.allocate(demand)
    for call, error in ((lambda: net.remove_vm(7), KeyError), (lambda: net.set_vm(7), KeyError),
                        (lambda: net.remove_vm(2**70), KeyError), (lambda: net.remove_vm("0"), TypeError)):
        with pytest.raises(error):
            call()
    assert pickle.dumps(net) == before


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_checkpoints_continue_bit_for_bit(module):
    rng = np.random.default_rng(5)
    net = module.NetScheduler(10e9, bands=3, guard=vsched.NetGuard(minimums=[0, 0, 1e8]))
    for _ in range(20):
        net.add_vm(int(rng.integers(0, 3)), int(rng.integers(1, 5000)), float(rng.uniform(0, 1e8)))
    net.remove_vm(4)
    net.set_vm(7, band=0, shares=3)
    net.allocate(rng.uniform(0, 2e9, len(net)))
    for make in (lambda x: pickle.loads(pickle.dumps(x)), copy.copy, copy.deepcopy):
        clone = make(net)
        demand = rng.uniform(0, 2e9, len(net))
        assert clone.allocate(demand).tobytes() == net.allocate(demand).tobytes()
        assert clone.starved_ticks().tolist() == net.starved_ticks().tolist()
        assert clone.vms == net.vms and clone.add_vm() == net.add_vm()
    other = ref if module is vsched else vsched
    with pytest.raises(ValueError, match="native|reference"):
        pickle.loads(pickle.dumps(net)).__setstate__(other.NetScheduler(1e9).__getstate__())
