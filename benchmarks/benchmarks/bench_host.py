"""The host: one simulated day (288 five-minute ticks) at each fidelity.

1 vCPU per VM, 64 pCPUs for 1,000 VMs (pCPUs scale with the VM count), the
synthetic diurnal PlanetLab-like CPU workload and 256 template-cloned pages
per VM with 16 memory references per VM per tick. Goals (native, 1,000 VMs):
sliced < 30 s, fluid < 3 s; the reference runs at reduced sizes.
"""

from __future__ import annotations

import math

from vsched.workloads import MemoryWorkload, synthetic_cpu

from .common import IMPLS, SMOKE, module, sizes


class HostDay:
    params = [IMPLS, ["fluid", "sliced"], sizes([20, 100, 1_000], [20])]
    param_names = ["impl", "fidelity", "vms"]
    timeout = 600
    number = 1
    repeat = (1, 3, 120.0)

    def setup(self, impl, fidelity, vms):
        largest = {"fluid": 100, "sliced": 20}[fidelity]
        if impl == "reference" and vms > largest:
            raise NotImplementedError(f"reference {fidelity} not run above {largest} VMs")
        ticks = 12 if SMOKE else 288
        pcpus = max(1, math.ceil(vms * 64 / 1000))
        self.host = module(impl).Host(pcpus, 60 * vms, max_vcpu_ratio=20.0, min_guarantee=0.05, fidelity=fidelity)
        for i in range(vms):
            self.host.add_vm(1, 256, domain=i % 4)
        self.cpu = synthetic_cpu(vms, ticks, seed=1, diurnal=True).cpu
        load = MemoryWorkload(vms, 256, seed=1, accesses=16)
        boot = load.boot()
        self.memory_batches = [boot + load.tick(0)] + [load.tick(t) for t in range(1, ticks)]

    def time_day(self, impl, fidelity, vms):
        self.host.run(self.cpu, self.memory_batches.__getitem__)
