"""The fleet: one placement and one DRS pass over 1,000 hosts, and a fleet day.

Goals (serial coordinator, native hosts): placement <= 50 us and a DRS pass
<= 10 ms over 1,000 hosts; a fleet day of 10,000 VMs on 100 hosts (with
churn, two host failures and DRS every tick) and the largest that fits.
The reference hosts run the day at reduced sizes only.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from vsched.fleet import (
    POLICIES,
    BalancePolicy,
    Candidates,
    ConsolidationPolicy,
    FailureModel,
    Fleet,
    HostSpec,
    HostSummaries,
    MigrationModel,
    VmNeeds,
    VmSpec,
    consolidation_pass,
    drs_pass,
    place,
    synthetic_fleet,
)

from .common import IMPLS, SMOKE, sizes, skip_reference_above


def _summaries(hosts: int, seed: int = 0) -> HostSummaries:
    rng = np.random.default_rng(seed)
    s = HostSummaries.of([HostSpec()] * hosts, domains=8)
    s.vcpus_used[:] = rng.integers(0, 240, hosts)
    s.frames_reserved[:] = rng.integers(0, 50_000, hosts)
    s.cpu_reserved[:] = rng.uniform(0, 40, hosts)
    s.load[:] = rng.random(hosts)
    s.frames_in_use[:] = rng.integers(0, 60_000, hosts)
    s.domain_vms[:] = rng.integers(0, 20, (hosts, 8))
    s.refresh()
    return s


# Placement and the balancing pass take micro- to milliseconds: on a shared machine their wall
# time is mostly time spent descheduled, so they are timed in CPU time of the process (the
# fleet day, minutes long, keeps wall time).
CPU_TIME = time.process_time


class Placement:
    """One placement decision (filters + policy) over host summaries (CPU time)."""

    timer = CPU_TIME

    params = [list(POLICIES), sizes([100, 1_000, 10_000], [100])]
    param_names = ["policy", "hosts"]

    def setup(self, policy, hosts):
        self.s = _summaries(hosts)
        self.needs = VmNeeds.of(VmSpec(2, 256, domain=3), self.s, expected_cores=0.3)

    def time_place(self, policy, hosts):
        place(self.s, self.needs, policy)


class BalancePass:
    """One DRS pass (up to 8 moves) over hosts x 100 VMs, threshold 5 so that it moves (CPU time)."""

    timer = CPU_TIME

    params = [sizes([100, 1_000], [100])]
    param_names = ["hosts"]
    number = 1
    repeat = (3, 20, 60.0)

    def setup(self, hosts):
        rng = np.random.default_rng(1)
        n = 100 * hosts
        self.base = _summaries(hosts, seed=2)
        self.base.vcpus_used[:] = 0
        self.base.refresh()
        vcpus = rng.choice([1, 2, 4], n)
        self.candidates = Candidates(
            vm=np.arange(n), host=rng.integers(0, hosts, n), load=rng.random(n) * vcpus * 0.3,
            badness=rng.random(n), movable=np.ones(n, bool), cost=rng.random(n) * 0.01, vcpus=vcpus,
            pages=np.full(n, 256), reservation=np.full(n, np.nan), limit=np.full(n, np.nan),
            domain=rng.integers(0, 8, n),
        )

        # a fresh copy per sample (number = 1): the pass updates both as it moves
        self.s, self.c = copy.deepcopy(self.base), copy.copy(self.candidates)
        self.c.host = self.candidates.host.copy()

    def time_pass(self, hosts):
        drs_pass(self.s, self.c, BalancePolicy(threshold=5))


class ConsolidationPass:
    """One consolidation pass over hosts x 20 VMs, one host light enough to be evacuated (CPU time)."""

    timer = CPU_TIME
    params = [sizes([100, 1_000], [100])]
    param_names = ["hosts"]
    number = 1
    repeat = (3, 20, 60.0)

    def setup(self, hosts):
        rng = np.random.default_rng(3)
        n = 20 * hosts
        host = np.repeat(np.arange(hosts), 20)
        self.s = HostSummaries.of([HostSpec()] * hosts)
        vcpus = rng.choice([1, 2, 4], n)
        np.add.at(self.s.vcpus_used, host, vcpus)
        self.s.refresh()
        load = rng.random(n) * vcpus * 0.5
        load[host == hosts // 2] *= 0.1  # the one host under `low`
        self.c = Candidates(
            vm=np.arange(n), host=host, load=load, badness=np.zeros(n), movable=np.ones(n, bool),
            cost=np.full(n, 0.01), vcpus=vcpus, pages=np.full(n, 256), reservation=np.full(n, np.nan),
            limit=np.full(n, np.nan), domain=rng.integers(0, 8, n),
        )
        self.off = np.zeros(hosts, bool)

    def time_pass(self, hosts):
        consolidation_pass(self.s, self.c, ConsolidationPolicy(low=0.1, high=0.8), self.off)


def fleet_day(vms: int, hosts: int, impl: str = "native", ticks: int = 288,
              consolidation: ConsolidationPolicy | None = None) -> tuple[Fleet, object]:
    """The fleet day's fleet and workload (also run at larger sizes by ``fleet_day.py``)."""
    work = synthetic_fleet(vms, ticks, seed=1)
    fleet = Fleet(
        hosts, host=HostSpec(pcpus=24, memory_frames=40_000, max_vcpu_ratio=8), engines=impl,
        migration=MigrationModel(page_bytes=1 << 20), seed=1, check=False,
        failures=FailureModel(schedule=((ticks // 3, 0), (2 * ticks // 3, hosts - 1)), repair_ticks=24),
        consolidation=consolidation,
    )
    return fleet, work


class FleetDay:
    """A simulated day (288 ticks; 12 in smoke runs): synthetic diurnal VMs, 80 % at the start,
    the rest arriving, 12 h mean lifetimes, two host failures, best-fit, DRS every tick."""

    params = [IMPLS, sizes([(200, 4), (1_000, 10), (10_000, 100), (30_000, 300)], [(200, 4)])]
    param_names = ["impl", "vms_hosts"]
    timeout = 1800
    number = 1
    repeat = (1, 1, 60.0)

    def setup(self, impl, vms_hosts):
        vms, hosts = vms_hosts
        skip_reference_above(impl, vms, 200)
        self.fleet, self.work = fleet_day(vms, hosts, impl, 12 if SMOKE else 288)

    def time_day(self, impl, vms_hosts):
        self.fleet.run(self.work)
