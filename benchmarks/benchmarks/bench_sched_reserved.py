"""CpuScheduler with 0, 100, 1,000 or 3,000 reserved VMs (native): the cost of rule 6.

The host of ``CpuBoundHost`` (full): 128 pCPUs, 3,000 CPU-bound VMs x 4 vCPUs, slice 3 ms,
strict reservations, 10 s; the first ``reserved`` VMs reserve 0.1 core (3,000: 0.04 core,
120 of the 128 cores; the others reserve 100 cores at most). ``track_time_vs_unreserved``
runs the unreserved host and this one in the same process, one after the other, and gives
the ratio of their process times (the figure docs/performance.md reports), and
``track_time_per_decision_vs_unreserved`` the same ratio per decision; the same host as
``python benchmarks/reserved_heavy_cpu_time.py 10 0,100,1000,3000:0.04``.
"""

from __future__ import annotations

import time

import numpy as np

from .common import SMOKE, module

MS = 1_000_000
SECONDS = 0.3 if SMOKE else 10.0


def _host(reserved: int):
    mod = module("native")
    r = 0.04 if reserved == 3_000 else 0.1
    s = mod.CpuScheduler(128, 3 * MS)
    for k in range(3_000):
        s.add_vm(4, reservation=r if k < reserved else 0.0)
    s.add_work(np.repeat(np.arange(3_000), 4), np.tile(np.arange(4), 3_000), mod.FOREVER)
    return s


def _process_time_of_run(s) -> float:
    start = time.process_time()
    s.run(int(SECONDS * 1000) * MS)
    return time.process_time() - start


class ReservedVmsSweep:
    params = [[0, 100, 1_000, 3_000]]
    param_names = ["reserved"]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 900

    def setup(self, reserved):
        self.scheduler = _host(reserved)

    def time_run(self, reserved):
        self.scheduler.run(int(SECONDS * 1000) * MS)

    def track_decisions_per_second(self, reserved):
        spent = _process_time_of_run(self.scheduler)
        return self.scheduler.decisions / spent

    track_decisions_per_second.unit = "decisions/s"

    def track_time_vs_unreserved(self, reserved):
        unreserved = _process_time_of_run(_host(0))
        return _process_time_of_run(self.scheduler) / unreserved

    track_time_vs_unreserved.unit = "x unreserved"

    def track_time_per_decision_vs_unreserved(self, reserved):
        # The code's share of the ratio above: rule 6 itself makes 3.1-3.5x the
        # decisions (half-slice reserved runs, each starting with a preemption).
        base = _host(0)
        unreserved = _process_time_of_run(base) / base.decisions
        return (_process_time_of_run(self.scheduler) / self.scheduler.decisions) / unreserved

    track_time_per_decision_vs_unreserved.unit = "x unreserved"
