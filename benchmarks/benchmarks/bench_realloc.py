"""Reallocator: one observed tick at 1k/10k VMs, and the replay of a PlanetLab day (native vs reference)."""

from __future__ import annotations

import numpy as np

from vsched.workloads import load_planetlab

from .common import IMPLS, SHARED_DATA, SMOKE, module, sizes, skip_reference_above

PLANETLAB_DAY = SHARED_DATA / "planetlab" / "20110303"


def _host(impl: str, vms: int, ratio: float, **config):
    r = module(impl).Reallocator(vms / ratio, **config)
    shares = (500, 1000, 2000)
    for i in range(vms):
        r.add_vm(1.0, shares=shares[i % 3])
    return r


class Observe:
    """One tick: observe(usage) then entitlements(), on a host packed 4:1 that is lending."""

    params = [IMPLS, sizes([1_000, 10_000], [50]), sizes([12, 288], [12]), ["max", "percentile"]]
    param_names = ["impl", "vms", "window", "estimator"]
    timeout = 600

    def setup(self, impl, vms, window, estimator):
        skip_reference_above(impl, vms, 1_000)
        rng = np.random.default_rng(7)
        # PlanetLab-like usage: mostly idle, heavy tail, capped at the VM size.
        self.usage = np.minimum(rng.lognormal(-2.6, 1.0, (window + 64, vms)), 1.0)
        self.r = _host(impl, vms, 4.0, window=window, estimator=estimator)
        self.r.observe_many(self.usage[:window])  # a full window before timing
        self.rows = [np.ascontiguousarray(row) for row in self.usage[window:]]
        self.k = 0

    def time_observe_tick(self, impl, vms, window, estimator):
        self.r.observe(self.rows[self.k % 64])
        self.r.entitlements()
        self.k += 1


class AddVm:
    """64 add_vm on a reallocator of 100 VMs, before any tick and after 64: cost flat in the window (to 10**6)."""

    params = [IMPLS, sizes([12, 288, 100_000, 1_000_000], [12, 1_000_000]), ["max", "percentile"], [0, 64]]
    param_names = ["impl", "window", "estimator", "ticks"]
    timeout = 600

    def setup(self, impl, window, estimator, ticks):
        self.r = module(impl).Reallocator(1000.0, window=window, estimator=estimator)
        for _ in range(100):
            self.r.add_vm(1.0)
        if ticks:
            self.r.observe_many(np.full((ticks, 100), 0.5))

    def time_add_vm(self, impl, window, estimator, ticks):
        # Repeats accumulate VMs: the column blocks grow geometrically, so
        # this is the amortized cost of an add.
        for _ in range(64):
            self.r.add_vm(1.0)


class ObserveTrend:
    """The percentile's worst case: every VM's usage rising steadily, so the rank
    leaves its band every few samples and the band is rebuilt from the window
    (native only; compare with Observe at the same size and window)."""

    params = [sizes([10_000], [50]), sizes([288], [80]), [50.0, 95.0]]
    param_names = ["vms", "window", "percentile"]
    timeout = 600

    def setup(self, vms, window, percentile):
        rng = np.random.default_rng(7)
        ticks = window + 64 * 8
        rising = np.arange(ticks, dtype=np.float64)[:, None] / ticks
        self.usage = 0.2 * rising + 0.01 * rng.random((ticks, vms))
        self.r = _host("native", vms, 4.0, window=window, estimator="percentile", percentile=percentile)
        self.r.observe_many(self.usage[:window])
        self.rows = [np.ascontiguousarray(row) for row in self.usage[window:]]
        self.k = 0

    def time_observe_tick(self, vms, window, percentile):
        self.r.observe(self.rows[self.k % len(self.rows)])
        self.r.entitlements()
        self.k += 1


class ReplayPlanetLab:
    """observe_many over one PlanetLab day (288 ticks x all VMs), closed loop, packed 4:1."""

    params = [IMPLS]
    param_names = ["impl"]
    number = 1
    repeat = (1, 5, 60.0)
    timeout = 600

    def setup(self, impl):
        if not PLANETLAB_DAY.is_dir():
            raise NotImplementedError(f"shared data missing: {PLANETLAB_DAY}")
        demand = load_planetlab(PLANETLAB_DAY).cpu
        self.demand = np.ascontiguousarray(demand[:24, :50] if SMOKE else demand)
        self.r = _host(impl, self.demand.shape[1], 4.0)

    def time_replay_day(self, impl):
        self.r.observe_many(self.demand, cap_at_entitlement=True)
