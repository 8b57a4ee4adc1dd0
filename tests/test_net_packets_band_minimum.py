"""Packet engine, a band's minimum (docs/engines/network.md, N10): a band that gets more than its
minimum by strict priority is not served its minimum a second time. The minimum bucket is charged
by a phase-2 send only down to zero (no debt); these tests check, by hand and against the exact
fluid of tests/net_oracle.py, that long-run throughput is still max(G_k, the band's priority share)
with minimums on any band, not only the lowest."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import vsched
import vsched.reference as ref
from net_oracle import strict_priority
from test_net_packets import BIT_NS, cbr

LONG = os.environ.get("VSCHED_LONG") == "1"


def _sent_bytes(net, demand, sizes, horizon, burst, rng):
    vm, arrival, size = cbr(net.vms, demand, sizes, horizon, rng)
    run = net.simulate_packets(vm, arrival, size, queue_bytes=4 * 9000, burst_bytes=burst)
    done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
    return np.bincount(np.searchsorted(net.vms, vm[done]), weights=size[done], minlength=len(net.vms))


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
@pytest.mark.parametrize("top_load,expected", [(0.5, (0.5, 0.5)), (1.2, (0.7, 0.3))],
                         ids=["band 1 over its minimum by priority", "band 1 held to its minimum"])
def test_a_middle_band_minimum_by_hand(module, top_load, expected):
    """Link L, band 0 offers top_load·L, band 1 (minimum 0.3·L) offers 0.8·L. By hand (N4):
    band 1's set-aside is G_1 = 0.3·L, band 0 may take L − 0.3·L = 0.7·L. At 0.5·L band 0 gets all it
    offers and band 1 the rest, 0.5·L (not 0.5 + 0.3: its minimum is inside what priority gives it);
    at 1.2·L band 0 gets 0.7·L and band 1 its minimum 0.3·L."""
    link = 1e9
    net = module.NetScheduler(link, 2, module.NetGuard(minimums=[0.0, 0.3 * link]))
    net.add_vm(0)
    net.add_vm(1)
    demand = [top_load * link, 0.8 * link]
    horizon = int(4000 * 1500 * BIT_NS / link)  # 4,000 packets of 1500 bytes at the link
    burst = 16 * 1500
    sent = _sent_bytes(net, demand, [1500, 1500], horizon, burst, np.random.default_rng(5))
    for i, share in enumerate(expected):
        want = share * link * horizon / BIT_NS
        bound = 2 * 1500 + 1500 + burst  # two packets, a quantum, the minimum bucket's depth
        assert abs(sent[i] - want) <= bound, (i, sent[i], want, bound)


def test_band_minimums_anywhere_follow_the_exact_fluid():
    """Random configurations with a minimum on any band (caps on some): bytes per VM over a long
    window = a_i·T of the exact strict-priority water-filling, within two of the largest packets,
    the VM's quantum and one depth per guard bucket (the bound of the other long-run tests)."""
    rng = np.random.default_rng(61)
    cases = 160 if LONG else 16
    checked = over_minimum = 0
    margins = []
    while checked < cases:
        link = float(rng.choice([1e8, 1e9]))
        bands = int(rng.integers(2, 4))
        caps = [math.inf if rng.random() < 0.7 else float(link * rng.uniform(0.3, 0.9)) for _ in range(bands)]
        left = link
        minimums = []
        for k in range(bands):
            m = float(min(left, link * rng.uniform(0.05, 0.3))) if rng.random() < 0.6 else 0.0
            m = min(m, caps[k])
            minimums.append(m)
            left -= m
        guard = vsched.NetGuard(caps=[None if math.isinf(c) else c for c in caps], minimums=minimums)
        net = vsched.NetScheduler(link, bands, guard)
        n = int(rng.integers(2, 6))
        vms = [(int(rng.integers(0, bands)), int(rng.choice([500, 1000, 2000])), 0.0, None) for _ in range(n)]
        for band, shares, _, _ in vms:
            net.add_vm(band, shares)
        sizes = [int(rng.choice([64, 512, 1500, 9000])) for _ in range(n)]
        demand = [float(link * rng.uniform(0.0, 0.8)) for _ in range(n)]
        fluid = [float(a) for a in strict_priority(link, caps, minimums, vms, demand)]
        alone = [float(strict_priority(link, caps, minimums, vms,
                                       [link * 10 if j == i else d for j, d in enumerate(demand)])[i])
                 for i in range(n)]
        if not all(d >= 1.3 * a or d <= 0.7 * a_alone for d, a, a_alone in zip(demand, fluid, alone)):
            continue  # only clear cases: saturated, or served with room to spare
        checked += 1
        band_rate = [sum(fluid[i] for i in range(n) if vms[i][0] == k) for k in range(bands)]
        over_minimum += any(minimums[k] > 0 and band_rate[k] > 1.1 * minimums[k] for k in range(bands - 1))
        horizon = int(3000 * 9000 * BIT_NS / link)
        burst = 16 * max(sizes)
        sent = _sent_bytes(net, demand, sizes, horizon, burst, rng)
        buckets = sum(not math.isinf(c) for c in caps) + sum(m > 0 for m in minimums)
        for i in range(n):
            want = fluid[i] * horizon / BIT_NS
            bound = 2 * max(sizes) + -(-vms[i][1] * 1500 // 1000) + buckets * burst
            margins.append(abs(sent[i] - want) / bound)
            assert abs(sent[i] - want) <= bound, (checked, i, vms, caps, minimums, demand, sent[i], want, bound)
    assert over_minimum >= cases // 4  # the cases that matter: a band above its minimum by priority
    margins.sort()
    print(f"\n{len(margins)} VMs in {cases} cases ({over_minimum} with a band above its minimum), |error| / bound: "
          f"median {margins[len(margins) // 2]:.3f}, p99 {margins[int(len(margins) * 0.99)]:.3f}, worst {margins[-1]:.3f}")
