"""Packet engine: long-run throughput against the fluid, the critical band's delay bound, the
guard against starvation, tail drop, twins bit for bit, threads and Ctrl-C."""

from __future__ import annotations

import _thread
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import vsched
import vsched.reference as ref

LONG = os.environ.get("VSCHED_LONG") == "1"
BIT_NS = 8e9  # ns per byte at 1 bps


def tx_ns(size: int, link: float) -> int:
    """Transmission time of one packet, ceil(size * 8e9 / link), computed independently of the engine."""
    return -(-size * 8_000_000_000 // int(link))


def cbr(vms: list, rates_bps: list, sizes: list, horizon_ns: int, rng: np.random.Generator):
    """Constant-bit-rate packets of each VM (fixed size, random phase), merged by arrival."""
    vm, arrival, size = [], [], []
    for v, rate, s in zip(vms, rates_bps, sizes):
        if rate <= 0:
            continue
        gap = s * BIT_NS / rate
        times = np.arange(rng.uniform(0, gap), horizon_ns, gap).astype(np.int64)
        vm.append(np.full(times.size, v))
        arrival.append(times)
        size.append(np.full(times.size, s))
    if not vm:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    vm, arrival, size = (np.concatenate(x) for x in (vm, arrival, size))
    order = np.argsort(arrival, kind="stable")
    return vm[order].astype(np.int64), arrival[order], size[order].astype(np.int64)


def alone_share(net, i: int, demand: list) -> float:
    """What VM i would get if it wanted the whole link (the others unchanged)."""
    probe = list(demand)
    probe[i] = net.link_bps * 10
    return float(pickle.loads(pickle.dumps(net)).allocate(probe)[i])


def test_long_run_throughput_follows_the_fluid_within_a_packet_per_round():
    """Bytes each VM sends over a long window = a_i·T of the fluid for the same offered
    rates, within two of the largest packets, plus its DRR quantum, plus one bucket depth per
    guard bucket (they start full)."""
    rng = np.random.default_rng(23)
    cases = 200 if LONG else 24
    margins = []
    checked = 0
    while checked < cases:
        link = float(rng.choice([1e8, 1e9]))
        bands = int(rng.integers(1, 4))
        guard = None
        if rng.random() < 0.4:
            caps = [None if rng.random() < 0.6 else float(link * rng.uniform(0.2, 0.9)) for _ in range(bands)]
            minimum = float(link * rng.uniform(0.02, 0.15))
            if caps[-1] is not None:
                minimum = min(minimum, caps[-1])
            guard = vsched.NetGuard(caps=caps, minimums=[0.0] * (bands - 1) + [minimum])
        net = vsched.NetScheduler(link, bands, guard)
        n = int(rng.integers(2, 7))
        shares = [int(rng.choice([500, 1000, 2000, 3000])) for _ in range(n)]
        for w in shares:
            net.add_vm(int(rng.integers(0, bands)), w)
        sizes = [int(rng.choice([64, 512, 1500, 9000])) for _ in range(n)]
        demand = [float(link * rng.uniform(0.0, 0.8)) for _ in range(n)]
        fluid = net.allocate(demand)
        # Only cases where each VM is clearly saturated (offers >= 1.3x its share) or
        # clearly served (offers <= 0.7x what it could get): no boundary cases.
        clear = all(d >= 1.3 * a or d <= 0.7 * alone_share(net, i, demand)
                    for i, (d, a) in enumerate(zip(demand, fluid)))
        if not clear:
            continue
        checked += 1
        horizon = int(3000 * 9000 * BIT_NS / link)  # 3,000 of the largest packets
        vm, arrival, size = cbr(net.vms, demand, sizes, horizon, rng)
        # Buckets deep enough that a capped band's tokens never overflow while other
        # bands' packets are on the wire (N10: depth * (1 - cap / link) >= largest packet).
        burst = 16 * max(sizes)
        run = net.simulate_packets(vm, arrival, size, queue_bytes=4 * 9000, burst_bytes=burst)
        done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
        sent = np.bincount(np.searchsorted(net.vms, vm[done]), weights=size[done], minlength=n)
        for i in range(n):
            expected = fluid[i] * horizon / BIT_NS
            # each bucket starts full: it can move up to one depth between bands
            buckets = 0 if guard is None else sum(c is not None for c in guard.caps) + 1
            bound = 2 * max(sizes) + -(-shares[i] * 1500 // 1000) + buckets * burst
            margins.append(abs(sent[i] - expected) / bound)
            assert abs(sent[i] - expected) <= bound, (checked, i, sent[i], expected, bound)
    margins.sort()
    print(f"\n{len(margins)} VMs in {cases} cases, |error| / bound: median {margins[len(margins) // 2]:.3f}, "
          f"p99 {margins[int(len(margins) * 0.99)]:.3f}, worst {margins[-1]:.3f}")


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_critical_delay_is_at_most_one_lower_band_packet_whatever_their_load(module):
    """Sparse band-0 traffic waits at most for the lower-band packet already on the wire."""
    rng = np.random.default_rng(3)
    cases = (400 if LONG else 40) if module is vsched else 6
    worst = 0.0
    for _ in range(cases):
        link = float(rng.choice([1e8, 1e9, 1e10]))
        net = module.NetScheduler(link, 3, vsched.NetGuard(caps=[None, link / 2, None]))
        critical = net.add_vm(0)
        others = [net.add_vm(int(rng.integers(1, 3)), int(rng.integers(1, 4000))) for _ in range(4)]
        big = int(rng.choice([1500, 9000]))
        horizon = int(600 * big * BIT_NS / link)
        load = float(rng.uniform(0.5, 4.0))  # lower bands offered up to 4x the link
        vm, arrival, size = cbr(others, [load * link / 4] * 4, [big, 64, 700, big], horizon, rng)
        gap = 20 * tx_ns(big, link)  # the critical VM alone never queues behind itself
        crit_t = np.arange(int(rng.integers(0, gap)), horizon, gap, dtype=np.int64)
        vm = np.concatenate([vm, np.full(crit_t.size, critical)])
        arrival = np.concatenate([arrival, crit_t])
        size = np.concatenate([size, np.full(crit_t.size, 1500)])
        order = np.argsort(arrival, kind="stable")
        run = net.simulate_packets(vm[order], arrival[order], size[order], queue_bytes=100_000)
        mine = vm[order] == critical
        delay = run.start_ns[mine] - arrival[order][mine]
        assert (run.start_ns[mine] >= 0).all()
        assert delay.max() < tx_ns(big, link), (delay.max(), tx_ns(big, link))
        worst = max(worst, delay.max() / tx_ns(big, link))
    print(f"\nworst critical delay / one lower-band packet: {worst:.3f}")


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_strict_priority_starves_without_guard_and_the_guard_prevents_it(module):
    link = 1e9
    rng = np.random.default_rng(9)
    horizon = int(4000 * 1500 * BIT_NS / link)
    results = {}
    for name, guard in (("none", None), ("minimum", vsched.NetGuard(minimums=[0, 1e8])),
                        ("cap", vsched.NetGuard(caps=[7e8, None]))):
        net = module.NetScheduler(link, 2, guard)
        hog = net.add_vm(0)
        low = net.add_vm(1)
        vm, arrival, size = cbr([hog, low], [1.5 * link, 0.5 * link], [1500, 1500], horizon, rng)
        run = net.simulate_packets(vm, arrival, size, queue_bytes=15_000)
        done = (run.finish_ns >= 0) & (run.finish_ns <= horizon)
        rates = np.bincount(vm[done], weights=size[done], minlength=2) * BIT_NS / horizon
        results[name] = rates
        fluid = net.allocate([1.5 * link, 0.5 * link])
        assert net.starved().tolist() == [False, name == "none"]
        slack = 4 * 1500 * BIT_NS / horizon  # bytes of a few packets over the window, as a rate
        assert abs(rates - fluid).max() <= slack, (name, rates, fluid)
    assert results["none"][1] <= 1500 * BIT_NS / horizon  # at most the packet sent before the hog arrived
    assert results["minimum"][1] >= 1e8 - 1500 * BIT_NS / horizon
    assert results["cap"][0] <= 7e8 + 1500 * BIT_NS / horizon


@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_tail_drop_counts_and_delays(module):
    net = module.NetScheduler(1e9, 1)
    a = net.add_vm(0)
    b = net.add_vm(0)
    # A alone at twice the link with room for two packets queued; B one packet now and then.
    vm, arrival, size = cbr([a], [2e9], [1500], 12_000_000, np.random.default_rng(1))
    vm = np.concatenate([vm, [b]])
    arrival = np.concatenate([arrival, [6_000_000]])
    size = np.concatenate([size, [100]])
    order = np.argsort(arrival, kind="stable")
    run = net.simulate_packets(vm[order], arrival[order], size[order], queue_bytes=3000)
    offered = np.bincount(vm, minlength=2)
    assert (run.sent_packets + run.dropped_packets).tolist() == offered.tolist()
    assert run.dropped_packets[1] == 0 and run.dropped_packets[0] > offered[0] * 0.4
    assert run.sent_packets[0] * 1500 * BIT_NS <= run.duration_ns * 1e9 + 1500 * BIT_NS
    # A's queue holds at most two packets: it waits at most two transmissions (plus B's small one).
    assert run.delay_max_ns[0] <= 2 * tx_ns(1500, 1e9) + tx_ns(100, 1e9)
    assert run.delay_max_ns[1] <= tx_ns(1500, 1e9) * 2  # DRR: B gets its turn after one of A's
    roomy = net.simulate_packets(vm[order], arrival[order], size[order], queue_bytes=10**9)
    assert roomy.dropped_packets.sum() == 0


def test_twins_are_bit_identical_on_random_runs():
    rng = np.random.default_rng(77)
    for case in range(8):
        bands = int(rng.integers(1, 4))
        guard = None
        if case % 2:
            guard = vsched.NetGuard(caps=[None] * (bands - 1) + [3e8], minimums=[0.0] * (bands - 1) + [5e7])
        twins = [m.NetScheduler(1e9, bands, guard) for m in (vsched, ref)]
        for _ in range(int(rng.integers(1, 8))):
            band, w = int(rng.integers(0, bands)), int(rng.choice([1, 300, 1000, 5000]))
            for t in twins:
                t.add_vm(band, w)
        count = 3000
        vm = rng.choice(twins[0].vms, count)
        arrival = np.sort(rng.integers(0, 20_000_000, count))
        size = rng.choice([40, 576, 1500, 9000], count)
        quantum = int(rng.choice([1, 700, 1500, 9000]))
        queue = int(rng.choice([9000, 60_000]))
        runs = [t.simulate_packets(vm, arrival, size, queue_bytes=queue, quantum_bytes=quantum) for t in twins]
        assert runs[0].start_ns.tobytes() == runs[1].start_ns.tobytes(), case
        assert runs[0].finish_ns.tobytes() == runs[1].finish_ns.tobytes(), case


def test_twins_agree_when_a_lone_vm_lacks_many_rounds_and_a_higher_band_interrupts_its_turn():
    """A VM often alone on its band's list whose head packet needs many quanta (N9's skipped
    rounds), its turn interrupted by a higher band, a second VM of its band coming and going (so
    the deficit it carries decides the order), with and without a reservation: twins bit for bit."""
    rng = np.random.default_rng(2026)
    for case in range(6):
        twins = [m.NetScheduler(1e9, 2) for m in (vsched, ref)]
        shares = int(rng.choice([3, 1000]))
        for t in twins:
            t.add_vm(0, 1000)
            t.add_vm(1, 1, reservation=5e7 if case % 2 else 0.0)  # a quantum of 1 byte per 1000
            t.add_vm(1, shares)
        count = 2000
        vm = rng.choice(twins[0].vms, count, p=[0.2, 0.7, 0.1])
        arrival = np.sort(rng.integers(0, 40_000_000 if case < 4 else 80_000_000, count))
        size = rng.choice([40, 1500, 9000], count)
        quantum = int(rng.choice([1, 1000]))
        runs = [t.simulate_packets(vm, arrival, size, queue_bytes=50_000, quantum_bytes=quantum) for t in twins]
        for field in ("start_ns", "finish_ns", "sent_packets", "dropped_packets", "delay_p50_ns", "delay_p99_ns",
                      "delay_max_ns"):
            assert getattr(runs[0], field).tobytes() == getattr(runs[1], field).tobytes(), (case, field)
        assert (runs[0].sent_packets > 0).all(), case


BAD_PACKETS = [
    ("unknown vm", dict(vm=[0, 5]), KeyError),
    ("order", dict(arrival_ns=[5, 4]), ValueError),
    ("negative arrival", dict(arrival_ns=[-1, 4]), ValueError),
    ("size zero", dict(size_bytes=[0, 10]), ValueError),
    ("size huge", dict(size_bytes=[2**24 + 1, 10]), ValueError),
    ("float sizes", dict(size_bytes=[1.0, 2.0]), TypeError),
    ("lengths", dict(size_bytes=[1]), ValueError),
    ("2-D", dict(vm=[[0, 0]]), ValueError),
    ("queue", dict(queue_bytes=0), ValueError),
    ("quantum", dict(quantum_bytes=0), ValueError),
    ("burst", dict(burst_bytes=-1), ValueError),
    ("horizon", dict(arrival_ns=[2**62, 2**62]), ValueError),
]


@pytest.mark.parametrize("name,change,error", BAD_PACKETS, ids=[b[0] for b in BAD_PACKETS])
@pytest.mark.parametrize("module", [vsched, ref], ids=["native", "reference"])
def test_bad_packets_are_refused_and_change_nothing(module, name, change, error):
    net = module.NetScheduler(1e9, 2)
    net.add_vm(0)
    net.add_vm(1)
    net.allocate([1e9, 1e9])
    before = pickle.dumps(net)
    args = dict(vm=[0, 1], arrival_ns=[0, 10], size_bytes=[100, 200])
    args.update(change)
    with pytest.raises(error) as caught:
        net.simulate_packets(**args)
    assert "\n" not in str(caught.value)
    assert pickle.dumps(net) == before


# -- threads and Ctrl-C (native) ------------------------------------------------------


def long_batch(packets: int):
    rng = np.random.default_rng(2)
    net = vsched.NetScheduler(1e9, 3)
    for k in range(30):
        net.add_vm(k % 3, 1000 + k)
    vm = rng.integers(0, 30, packets)
    arrival = np.sort(rng.integers(0, packets * 10_000, packets))
    size = rng.integers(64, 1500, packets)
    return net, vm, arrival, size


@pytest.fixture
def python_handles_sigint():
    """interrupt_main() does nothing unless Python's own SIGINT handler is installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_long_packet_run_and_changes_nothing(python_handles_sigint):
    net, vm, arrival, size = long_batch(8_000_000)  # seconds of work on a shared machine
    before = pickle.dumps(net)
    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        net.simulate_packets(vm, arrival, size)
        print("not interrupted after", time.monotonic() - start, "s")
    timer.join()
    assert time.monotonic() - start < 10.0
    assert pickle.dumps(net) == before
    assert net.simulate_packets(vm[:100], arrival[:100], size[:100]).sent_packets.sum() > 0


def test_a_second_thread_is_refused_while_a_packet_run_is_inside():
    net, vm, arrival, size = long_batch(2_000_000)
    inside = threading.Event()
    outcome = {}

    def run() -> None:
        inside.set()
        outcome["run"] = net.simulate_packets(vm, arrival, size)

    thread = threading.Thread(target=run)
    thread.start()
    inside.wait()
    refused = 0
    deadline = time.monotonic() + 5.0
    while thread.is_alive() and time.monotonic() < deadline:
        try:
            net.allocate(np.zeros(len(net)))
        except vsched.InUseError:
            refused += 1
        time.sleep(0.001)
    thread.join()
    assert refused > 0
    twin = long_batch(2_000_000)[0]
    twin.allocate(np.zeros(len(twin)))
    assert outcome["run"].start_ns.tobytes() == twin.simulate_packets(vm, arrival, size).start_ns.tobytes()
