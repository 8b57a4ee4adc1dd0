"""The host's NIC: one tick's network part (fluid allocation + the sampled packet window).

A 100 Gbps NIC, 1 in 20 VMs critical (band 0), the others best effort, offered
traffic uniform in [0, 2 x NIC / VMs] (the NIC oversubscribed ~1:1), the
default 10 ms packet sample (~84,000 packets of 1,500 bytes per tick whatever
the VM count, so the cost is mostly the packets, plus O(VMs) for the fluid and
the sampling). The reference runs at 100 VMs only.
"""

from __future__ import annotations

import numpy as np

from .common import IMPLS, module, sizes, skip_reference_above


class HostNetTick:
    params = [IMPLS, sizes([100, 1_000, 10_000], [20])]
    param_names = ["impl", "vms"]
    timeout = 600

    def setup(self, impl, vms):
        skip_reference_above(impl, vms, 100)
        self.host = module(impl).Host(max(1, vms // 4), 200 * vms, min_guarantee=0.01, nic_bps=100e9)
        for i in range(vms):
            self.host.add_vm(1, 64, net_band=0 if i % 20 == 0 else None)
        rng = np.random.default_rng(16)
        self.cpu = np.full(vms, 0.1)
        self.net = rng.uniform(0, 2 * 100e9 / vms, vms)

    def time_step(self, impl, vms):
        self.host.step(self.cpu, net_demand=self.net)
