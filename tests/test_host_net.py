"""The host's NIC (docs/host.md, rules H9-H11): admission, the network part of a tick against an
exact oracle, the packet sample, twins bit for bit, moving a VM and checkpoints with the network part."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched._host_net import NET_METRICS, NET_TOTALS
from vsched.host import HOST_TOTALS, VM_METRICS

from host_observation import assert_same, observe
from net_oracle import strict_priority

IMPLS = [vsched, vsched.reference]
IDS = ["native", "reference"]
LINK = 1e9


def nic_host(impl, vms=6, seed=0, **options):
    """A host with a NIC and `vms` VMs: the first two critical (band 0), the rest spread over bands 1-2."""
    host = impl.Host(8, 4000, nic_bps=LINK, **options)
    rng = np.random.default_rng(seed)
    for i in range(vms):
        band = 0 if i < 2 else int(rng.integers(1, 3))
        reservation = float(rng.choice([0.0, 20e6]))
        limit = None if rng.random() < 0.6 else float(rng.uniform(50e6, 400e6))
        host.add_vm(1, 32, net_band=band, net_shares=int(rng.integers(500, 3000)), net_reservation=reservation,
                    net_limit=limit)
    return host


def net_demand(host, ticks, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2 * LINK / len(host), (ticks, len(host))) * (rng.random((ticks, len(host))) < 0.9)


def same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_a_host_without_a_nic_is_as_before():
    host = vsched.Host(4, 1000)
    vm = host.add_vm(1, 16)
    tick = host.step([0.5])
    assert host.net is None and host.metric_names == list(VM_METRICS) and host.total_names == list(HOST_TOTALS)
    assert not any(name.startswith("net_") for name in tick)
    assert host.export_vm(vm).net is None
    run = host.run(np.full((2, 1), 0.5))
    assert set(run.metrics) == set(VM_METRICS) and set(run.totals) == set(HOST_TOTALS)
    for call in (lambda: host.add_vm(1, 16, net_band=0), lambda: host.step([0.5], net_demand=[1e6]),
                 lambda: host.run(np.zeros((1, 1)), net=np.zeros((1, 1)))):
        before = observe(host)
        with pytest.raises(ValueError, match="nic_bps|NIC"):
            call()
        assert_same(before, observe(host))


def test_a_nic_needs_an_engine_set_with_a_net_scheduler():
    import types

    look_alike = types.SimpleNamespace(
        IMPLEMENTATION="reference", fair_share=vsched.reference.fair_share, CpuScheduler=vsched.reference.CpuScheduler,
        MemoryManager=vsched.reference.MemoryManager, Reallocator=vsched.reference.Reallocator,
    )
    vsched.Host(4, 1000, engines=look_alike)  # no NIC: no NetScheduler needed
    with pytest.raises(TypeError, match="NetScheduler"):
        vsched.Host(4, 1000, engines=look_alike, nic_bps=1e9)
    with pytest.raises(ValueError, match="link_bps"):
        vsched.Host(4, 1000, nic_bps=0.5)
    with pytest.raises(ValueError, match="net_sample_ns"):
        vsched.Host(4, 1000, nic_bps=1e9, net_sample_ns=-1)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_the_fluid_part_is_strict_priority_water_filling(impl):
    """net_used = the exact oracle of tests/net_oracle.py (N4) for the VMs' parameters, every tick."""
    for seed in range(6):
        host = nic_host(impl, vms=3 + seed, seed=seed)
        params = [(r.net.band, r.net.shares, r.net.reservation, r.net.limit)
                  for _, r in sorted(host._layout.records.items())]
        demand = net_demand(host, 4, seed)
        for t in range(demand.shape[0]):
            tick = host.step(np.zeros(len(host)), net_demand=demand[t])
            exact = strict_priority(LINK, [math.inf] * 3, [0.0] * 3, params, demand[t].tolist())
            assert np.allclose(tick["net_used"], [float(x) for x in exact], rtol=0, atol=1e-9 * LINK)
            assert np.array_equal(tick["net_unmet"], np.maximum(demand[t] - tick["net_used"], 0))
            assert tick["net_load"] == demand[t].sum() / LINK
            assert tick["net_utilization"] <= 1 + 1e-9


def test_twins_agree_bit_for_bit_on_a_day_with_a_nic():
    runs = []
    for impl in IMPLS:
        host = nic_host(impl, vms=7, seed=4, net_sample_ns=2_000_000)
        ticks = 6
        cpu = np.full((ticks, len(host)), 0.5)
        runs.append(host.run(cpu, net=net_demand(host, ticks, 9)))
    same(runs[0].metrics, runs[1].metrics)
    same(runs[0].totals, runs[1].totals)
    assert set(runs[0].metrics) == set(VM_METRICS) | set(NET_METRICS)
    assert set(runs[0].totals) == set(HOST_TOTALS) | set(NET_TOTALS)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_critical_vms_keep_bandwidth_and_delay_under_a_best_effort_peak(impl):
    """Band 0 gets its demand and waits less than one packet's tx at the link (a packet in
    flight) while the best-effort band, offered 3x the link, queues and drops."""
    host = impl.Host(8, 4000, nic_bps=LINK, net_sample_ns=3_000_000)
    critical = [host.add_vm(1, 16, net_band=0, net_reservation=50e6) for _ in range(2)]
    best = [host.add_vm(1, 16) for _ in range(6)]
    assert [host.net.band_of(i) for i in host.net.vms] == [0, 0, 2, 2, 2, 2, 2, 2]
    demand = np.array([100e6] * 2 + [0.5 * LINK] * 6)
    tick = host.step(np.zeros(8), net_demand=demand)
    tx_s = math.ceil(1500 * 8e9 / LINK) / 1e9
    assert np.array_equal(tick["net_used"][:2], demand[:2])
    assert np.all(tick["net_delay_p99"][:2] < tx_s)
    assert np.all(tick["net_drops"][:2] == 0)
    assert np.all(tick["net_drops"][2:] > 0) and np.all(tick["net_delay_p99"][2:] > 10 * tx_s)
    assert np.allclose(tick["net_used"][2:].sum(), LINK - 200e6)
    assert len(critical) + len(best) == len(host)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_the_packet_sample_offers_each_vms_rate(impl):
    """Rule H10: min(demand, NIC) as packets every P_j ns over the window, within one packet."""
    host = nic_host(impl, vms=5, seed=2, net_sample_ns=5_000_000)
    demand = np.array([3e6, 0.0, 2e9, 40e6, 700e6])
    position, arrival, size = host._nic.sample_packets(np.asarray(host.vms), demand)
    assert np.all(np.diff(arrival) >= 0) and np.all(arrival >= 0) and np.all(arrival < 5_000_000)
    offered = np.minimum(demand, LINK)
    counts = np.bincount(position, minlength=5)
    expected = offered * 5e-3 / (1500 * 8)
    assert np.all(np.abs(counts - expected) <= 1 + 1e-9 * expected), (counts, expected)
    assert counts[1] == 0


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_reservations_above_the_link_are_refused_and_change_nothing(impl):
    host = impl.Host(8, 4000, nic_bps=LINK, net_guard=vsched.NetGuard(minimums=[0, 0, 100e6]))
    host.add_vm(1, 16, net_band=0, net_reservation=600e6)
    host.step([0.1], net_demand=[1e6])
    for call in (
        lambda: host.add_vm(1, 16, net_band=1, net_reservation=300.0001e6),  # 600 + 300 + the minimum 100
        lambda: host.add_vm(1, 16, net_reservation=2e9),
        lambda: host.add_vm(1, 16, net_band=3),  # no such band
        lambda: host.add_vm(1, 16, net_limit=1e6, net_reservation=2e6),
        lambda: host.add_vm(1, 16, net_shares=0),
        lambda: host.add_vm(1, 16, net_band=1.5),
        lambda: host.step([0.1], net_demand=[-1.0]),
        lambda: host.step([0.1], net_demand=[np.nan]),
        lambda: host.step([0.1], net_demand=[1e6, 1e6]),
        lambda: host.step([0.1], net_demand=["x"]),
        lambda: host.run(np.zeros((2, 1)), net=np.zeros((3, 1))),
    ):
        before = observe(host)
        events = len(host.events)
        with pytest.raises((ValueError, TypeError)):
            call()
        assert_same(before, observe(host))
        assert all(e["event"] == "refused" for e in host.events[events:])
    with pytest.raises(vsched.AdmissionError, match="network"):
        host.add_vm(1, 16, net_band=1, net_reservation=300.0001e6)
    host.add_vm(1, 16, net_band=1, net_reservation=300e6)  # exactly the link: admitted


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_a_moved_vm_keeps_its_network_part(impl):
    home = nic_host(impl, vms=4, seed=1)
    vm = home.vms[1]
    state = home.export_vm(vm)
    assert state.net == {"band": 0, "shares": home._layout.records[vm].net.shares,
                         "reservation": home._layout.records[vm].net.reservation,
                         "limit": home._layout.records[vm].net.limit}
    away = impl.Host(8, 4000, nic_bps=LINK)
    moved = away.import_vm(pickle.loads(pickle.dumps(state)))
    assert away.export_vm(moved).net == state.net and away.net.band_of(away.net.vms[0]) == 0
    no_nic = impl.Host(8, 4000)
    assert no_nic.export_vm(no_nic.import_vm(state)).net is None  # a host without a NIC drops it
    tiny = impl.Host(8, 4000, nic_bps=state.net["reservation"] / 2 if state.net["reservation"] else 1.0)
    tiny.add_vm(1, 16, net_band=0, net_reservation=tiny.net.link_bps)
    before = observe(tiny)
    with pytest.raises(vsched.AdmissionError):
        tiny.import_vm(state)
    assert tiny.events[-1]["event"] == "import_refused"
    assert_same(before, observe(tiny))
    home.remove_vm(vm)
    assert len(home.net) == len(home) == 3


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_checkpoints_carry_the_nic_and_continue_bit_for_bit(impl):
    host = nic_host(impl, vms=5, seed=3, net_sample_ns=1_000_000)
    demand = net_demand(host, 6, 5)
    cpu = np.full((6, len(host)), 0.3)
    host.run(cpu[:3], net=demand[:3])
    for restored in (pickle.loads(pickle.dumps(host)), copy.deepcopy(host), copy.copy(host)):
        assert np.array_equal(host.net.starved_ticks(), restored.net.starved_ticks())
        a = copy.deepcopy(host).run(cpu[3:], net=demand[3:])
        b = restored.run(cpu[3:], net=demand[3:])
        same(a.metrics, b.metrics)
        same(a.totals, b.totals)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_resize_changes_the_network_part_atomically(impl):
    """resize(net_*=...) sets the VM's NetScheduler parameters (None keeps one, inf removes a limit);
    a refusal by the NIC or the host, or a bad value, changes nothing (rule H2)."""
    host = impl.Host(8, 4000, nic_bps=LINK)
    keep = host.add_vm(1, 16, net_band=0, net_reservation=600e6)
    vm = host.add_vm(1, 16, net_band=2, net_shares=500, net_limit=100e6)
    host.resize(vm, vcpus=2, net_band=1, net_reservation=50e6)
    assert host.export_vm(vm).net == {"band": 1, "shares": 500, "reservation": 50e6, "limit": 100e6}
    assert host.net.band_of(host.net.vms[1]) == 1 and len(host.net) == 2
    host.resize(vm, net_limit=math.inf)
    assert host.export_vm(vm).net["limit"] is None
    host.resize(vm, shares=3000)  # no network argument: the network part as it was
    assert host.export_vm(vm).net == {"band": 1, "shares": 500, "reservation": 50e6, "limit": None}
    for call, error in (
        (lambda: host.resize(vm, net_reservation=400.0001e6), vsched.AdmissionError),  # 600 + 400 > the link
        (lambda: host.resize(vm, vcpus=100, net_band=0), vsched.AdmissionError),  # the host refuses first
        (lambda: host.resize(vm, net_band=3), ValueError),
        (lambda: host.resize(vm, net_shares=1.5), TypeError),
        (lambda: host.resize(vm, net_limit=1e6), vsched.AdmissionError),  # below its reservation
    ):
        before = observe(host)
        events = len(host.events)
        with pytest.raises(error):
            call()
        assert_same(before, observe(host))
        assert all(e["event"] == "resize_refused" for e in host.events[events:])
    host.resize(keep, net_reservation=0.0)
    host.resize(vm, net_reservation=1e9)  # the whole link, now that the other holds none
    no_nic = impl.Host(8, 4000)
    plain = no_nic.add_vm(1, 16)
    before = observe(no_nic)
    with pytest.raises(ValueError, match="nic_bps"):
        no_nic.resize(plain, net_band=0)
    assert_same(before, observe(no_nic))


@pytest.mark.parametrize("seed", range(4))
def test_net_drops_are_those_of_a_full_tick_of_packets(seed):
    """net_drops (rule H10) against the packet engine run over the whole tick on the same traffic
    (the sample's packets, for tick_seconds instead of net_sample_ns): per VM within the long-run
    throughput bound (N11) in packets, 2 + q_i / S + b·D / S, plus one for the queue's fill."""
    rng = np.random.default_rng(seed)
    guard = vsched.NetGuard(minimums=[0.0, 0.0, 50e6]) if seed % 2 else None
    host = vsched.Host(8, 4000, nic_bps=LINK, tick_seconds=1, net_guard=guard)
    n = 6
    for i in range(n):
        host.add_vm(1, 16, net_band=int(rng.integers(0, 3)), net_shares=int(rng.choice([500, 1000, 2000])),
                    net_reservation=float(rng.choice([0.0, 30e6])),
                    net_limit=None if rng.random() < 0.7 else float(rng.uniform(60e6, 300e6)))
    demand = rng.uniform(0.05, 0.45, n) * LINK
    nic = copy.deepcopy(host._nic)
    tick = host.step(np.zeros(n), net_demand=demand)
    nic.sample_ns = 10**9  # the whole tick
    position, arrival, size = nic.sample_packets(np.asarray(tick["vm"], dtype=np.int64), demand)
    run = nic.net.simulate_packets(np.asarray(nic.net.vms)[position], arrival, size, queue_bytes=nic.queue_bytes,
                                   quantum_bytes=nic.packet_bytes)
    buckets = 1 + sum(r >= 1 for r in (host._layout.records[v].net.reservation for v in host.vms)) + sum(
        lim is not None for lim in (host._layout.records[v].net.limit for v in host.vms))
    depth = 1500  # burst_bytes 0: one packet
    for i, v in enumerate(host.vms):
        bound = 2 + host._layout.records[v].net.shares / 1000 + buckets * depth / 1500 + 1
        assert abs(tick["net_drops"][i] - run.dropped_packets[i]) <= bound, (i, tick["net_drops"], run.dropped_packets)
    assert (run.dropped_packets > 0).sum() >= 2  # VMs that drop, limited or short of their share
