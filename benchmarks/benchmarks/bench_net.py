"""NetScheduler: one fluid tick at 1k/10k VMs, and packets per second of the packet engine (native vs reference)."""

from __future__ import annotations

import numpy as np

from .common import IMPLS, module, sizes, skip_reference_above


def _scheduler(impl: str, vms: int, link: float = 100e9):
    """Three bands (1/10 critical, 3/10 normal with small reservations, 6/10 bulk), a minimum for bulk."""
    guard = module(impl).NetGuard(minimums=[0.0, 0.0, link * 0.05])
    net = module(impl).NetScheduler(link, 3, guard)
    for i in range(vms):
        band = 0 if i % 10 == 0 else (1 if i % 10 < 4 else 2)
        net.add_vm(band, shares=(500, 1000, 2000)[i % 3], reservation=link * 0.1 / vms if band == 1 else 0.0)
    return net


class FluidTick:
    """allocate(demand) with the link oversubscribed 2:1 (every band's water-filling is contended)."""

    params = [IMPLS, sizes([1_000, 10_000], [50])]
    param_names = ["impl", "vms"]
    timeout = 600

    def setup(self, impl, vms):
        skip_reference_above(impl, vms, 1_000)
        rng = np.random.default_rng(16)
        self.net = _scheduler(impl, vms)
        self.demand = [rng.uniform(0, 2 * 2 * 100e9 / vms, vms) for _ in range(16)]
        self.k = 0

    def time_allocate(self, impl, vms):
        self.net.allocate(self.demand[self.k % 16])
        self.k += 1


class Packets:
    """simulate_packets over a batch: 100 VMs in three bands offering 1.2x the link, 1500-byte
    and mixed packets, tail drop at 64 KiB. Packets per second = packets / time."""

    params = [IMPLS, sizes([100_000, 2_000_000], [2_000])]
    param_names = ["impl", "packets"]
    number = 1
    repeat = (1, 5, 60.0)
    timeout = 600

    def setup(self, impl, packets):
        skip_reference_above(impl, packets, 100_000)
        rng = np.random.default_rng(3)
        link = 10e9
        self.net = _scheduler(impl, 100, link)
        self.size = rng.choice([64, 576, 1500, 1500, 1500, 9000], packets).astype(np.int64)
        span = int(self.size.sum() * 8e9 / link / 1.2)  # offered 1.2x the link
        self.arrival = np.sort(rng.integers(0, span, packets)).astype(np.int64)
        self.vm = rng.integers(0, 100, packets).astype(np.int64)

    def time_simulate_packets(self, impl, packets):
        self.net.simulate_packets(self.vm, self.arrival, self.size, queue_bytes=65536)

    def track_packets_per_second(self, impl, packets):
        import time

        start = time.perf_counter()
        self.net.simulate_packets(self.vm, self.arrival, self.size, queue_bytes=65536)
        return packets / (time.perf_counter() - start)

    track_packets_per_second.unit = "packets/s"
