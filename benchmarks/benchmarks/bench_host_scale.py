"""The host at thousands of VMs: admission of N VMs, and one tick at each fidelity.

docs/host.md rule H4: admission O(1) amortised per VM, a tick O(VMs): the
per-VM cost (time / VMs) should stay flat from 1,000 to 10,000 VMs (goal:
within 1.5x). 1 to 3 vCPUs per VM, 64 pages each, 4 sharing domains, a host
large enough to admit them all (pCPUs = VMs / 2 + 1, ratio 4, guarantee 0.05).
"""

from __future__ import annotations

import time

import numpy as np

from .common import IMPLS, module, sizes, skip_reference_above

SIZES = sizes([1_000, 3_000, 10_000], [50])

# Timed in CPU time of the process: on a shared machine a tick's wall time is mostly time spent
# descheduled, which moves by several times with the load and passes for growth with size.
CPU_TIME = time.process_time


def _host(impl: str, vms: int, fidelity: str):
    return module(impl).Host(
        vms // 2 + 1, 200 * vms, max_vcpu_ratio=4.0, min_guarantee=0.05, fidelity=fidelity,
        sample_ns=10_000_000,
    )


def _admit_all(host, vms: int) -> None:
    for i in range(vms):
        host.add_vm(1 + i % 3, 64, domain=i % 4)


class HostAdmission:
    timer = CPU_TIME
    params = [IMPLS, SIZES]
    param_names = ["impl", "vms"]
    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)

    def setup(self, impl, vms):
        skip_reference_above(impl, vms, 1_000)

    def time_admit(self, impl, vms):
        _admit_all(_host(impl, vms, "fluid"), vms)


class HostTick:
    timer = CPU_TIME
    params = [IMPLS, ["fluid", "sliced"], SIZES]
    param_names = ["impl", "fidelity", "vms"]
    timeout = 600
    number = 1
    repeat = (5, 15, 60.0)  # asv reports the median; more samples than the default steady it

    def setup(self, impl, fidelity, vms):
        skip_reference_above(impl, vms, 50 if fidelity == "sliced" else 3_000)  # reference sliced: minutes per tick at 1,000
        self.host = _host(impl, vms, fidelity)
        _admit_all(self.host, vms)
        rng = np.random.default_rng(1)
        vcpus = 1 + np.arange(vms) % 3
        self.demand = rng.random(vms) * vcpus * 0.4
        self.memory = [{"vm": np.repeat(np.arange(vms), 4), "gpn": rng.integers(0, 64, 4 * vms)}]
        self.host.step(self.demand, self.memory)  # first touches and the vCPU map out of the way

    def time_tick(self, impl, fidelity, vms):
        self.host.step(self.demand, self.memory)
