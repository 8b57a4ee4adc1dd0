"""Packet engine, per-VM reservations and limits (docs/engines/network.md, N12): long-run throughput
against the exact strict-priority water-filling, a limit alone, a reservation under a saturating
higher band, a zero limit, and the twins bit for bit on random runs."""

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


def random_config(rng, link, bands):
    """VM parameters (band, shares, reservation, limit) whose reservations fit the link (N2)."""
    n = int(rng.integers(2, 7))
    vms = []
    left = 0.8 * link
    for _ in range(n):
        band = int(rng.integers(0, bands))
        shares = int(rng.choice([500, 1000, 2000, 3000]))
        reservation = 0.0
        if rng.random() < 0.4:
            reservation = float(min(left, link * rng.uniform(0.02, 0.25)))
            left -= reservation
        limit = None
        if rng.random() < 0.4:
            limit = float(max(reservation, link * rng.uniform(0.05, 0.5)))
        vms.append((band, shares, reservation, limit))
    return vms


def test_long_run_throughput_is_the_exact_fluid_with_reservations_and_limits():
    """Bytes each VM sends over a long window = a_i·T of strict-priority water-filling (exact
    rationals, N4), within two of the largest packets, its quantum, and one bucket depth per
    bucket in the configuration (every bucket starts full and may move one depth between VMs)."""
    rng = np.random.default_rng(41)
    cases = 160 if LONG else 16
    checked = 0
    margins = []
    while checked < cases:
        link = float(rng.choice([1e8, 1e9]))
        bands = int(rng.integers(1, 4))
        vms = random_config(rng, link, bands)
        net = vsched.NetScheduler(link, bands)
        for band, shares, reservation, limit in vms:
            net.add_vm(band, shares, reservation, limit)
        n = len(vms)
        sizes = [int(rng.choice([64, 512, 1500, 9000])) for _ in range(n)]
        demand = [float(link * rng.uniform(0.0, 0.8)) for _ in range(n)]
        fluid = [float(a) for a in strict_priority(link, [math.inf] * bands, [0.0] * bands, vms, demand)]
        # Only clear cases: each VM offers >= 1.3x what it gets, or <= 0.7x of what it could get.
        clear = all(d >= 1.3 * a or d <= 0.7 * _alone(link, bands, vms, demand, i)
                    for i, (d, a) in enumerate(zip(demand, fluid)))
        if not clear:
            continue
        checked += 1
        horizon = int(3000 * 9000 * BIT_NS / link)
        vm, arrival, size = cbr(net.vms, demand, sizes, horizon, rng)
        burst = 16 * max(sizes)
        run = net.simulate_packets(vm, arrival, size, queue_bytes=4 * 9000, burst_bytes=burst)
        done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
        sent = np.bincount(np.searchsorted(net.vms, vm[done]), weights=size[done], minlength=n)
        buckets = sum((r >= 1) + (lim is not None and lim < link) for _, _, r, lim in vms)
        for i in range(n):
            expected = fluid[i] * horizon / BIT_NS
            bound = 2 * max(sizes) + -(-vms[i][1] * 1500 // 1000) + buckets * burst
            margins.append(abs(sent[i] - expected) / bound)
            assert abs(sent[i] - expected) <= bound, (checked, i, vms, demand, sent[i], expected, bound)
    margins.sort()
    print(f"\n{len(margins)} VMs in {cases} cases, |error| / bound: median {margins[len(margins) // 2]:.3f}, "
          f"p99 {margins[int(len(margins) * 0.99)]:.3f}, worst {margins[-1]:.3f}")


def _alone(link, bands, vms, demand, i):
    probe = list(demand)
    probe[i] = link * 10
    return float(strict_priority(link, [math.inf] * bands, [0.0] * bands, vms, probe)[i])


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_a_limited_vm_alone_sends_at_its_limit(module):
    net = module.NetScheduler(1e9, 1)
    vm = net.add_vm(limit=2e8)
    horizon = 20_000_000
    arrival = np.arange(0, horizon, 6_000, dtype=np.int64)  # 2 Gbps of 1500-byte packets: 10x the limit
    run = net.simulate_packets(np.full(arrival.size, vm), arrival, np.full(arrival.size, 1500),
                               queue_bytes=10**9)
    done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
    sent = 1500 * int(done.sum())
    assert abs(sent - 2e8 * horizon / BIT_NS) <= 2 * 1500  # one depth (the bucket starts full) + one packet


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_a_reservation_holds_under_a_saturating_higher_band(module):
    """Without a guard, band 0 at 2x the link would starve band 1; VM b's reservation is served first."""
    net = module.NetScheduler(1e9, 2)
    a = net.add_vm(band=0)
    b = net.add_vm(band=1, reservation=1e8)
    horizon = 30_000_000
    vm, arrival, size = cbr([a, b], [2e9, 5e8], [1500, 1500], horizon, np.random.default_rng(3))
    run = net.simulate_packets(vm, arrival, size, queue_bytes=10**9)
    done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
    sent_b = 1500 * int((done & (vm == b)).sum())
    assert abs(sent_b - 1e8 * horizon / BIT_NS) <= 3 * 1500
    assert np.array_equal(net.allocate([2e9, 5e8]), [9e8, 1e8])


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_a_limit_below_one_bps_drops_every_packet(module):
    net = module.NetScheduler(1e9, 1)
    zero, other = net.add_vm(limit=0.5), net.add_vm()
    run = net.simulate_packets([zero, other, zero], [0, 0, 10], [100, 100, 100])
    assert run.start_ns.tolist()[0] == run.start_ns.tolist()[2] == -1
    assert run.dropped_packets.tolist() == [2, 0] and run.sent_packets.tolist() == [0, 1]


def test_twins_are_bit_identical_with_reservations_and_limits():
    rng = np.random.default_rng(99)
    for case in range(10 if not LONG else 100):
        bands = int(rng.integers(1, 4))
        guard = None
        if case % 3 == 1:
            guard = vsched.NetGuard(caps=[None] * (bands - 1) + [6e8], minimums=[0.0] * (bands - 1) + [5e7])
        twins = [m.NetScheduler(1e9, bands, guard) for m in (vsched, ref)]
        for band, shares, reservation, limit in random_config(rng, 1e9 * 0.9, bands):
            if limit is not None and rng.random() < 0.1:
                limit = max(reservation, float(rng.choice([0.0, 0.5, 2e9])))
            if guard is not None and band == bands - 1:
                reservation = min(reservation, 5e8)
            for t in twins:
                t.add_vm(band, shares, reservation, limit)
        count = 3000
        vm = rng.choice(twins[0].vms, count)
        arrival = np.sort(rng.integers(0, 20_000_000, count))
        size = rng.choice([40, 576, 1500, 9000], count)
        quantum = int(rng.choice([1, 700, 1500, 9000]))
        queue = int(rng.choice([9000, 60_000]))
        burst = int(rng.choice([0, 64_000]))
        runs = [t.simulate_packets(vm, arrival, size, queue_bytes=queue, quantum_bytes=quantum, burst_bytes=burst)
                for t in twins]
        assert runs[0].start_ns.tobytes() == runs[1].start_ns.tobytes(), case
        assert runs[0].finish_ns.tobytes() == runs[1].finish_ns.tobytes(), case
