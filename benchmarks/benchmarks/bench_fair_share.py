"""fair_share: one division of capacity among n VMs (native vs reference)."""

from __future__ import annotations

import numpy as np

from .common import IMPLS, module, sizes, skip_reference_above


class FairShare:
    params = [IMPLS, sizes([100, 1_000, 10_000, 100_000], [100])]
    param_names = ["impl", "vms"]
    timeout = 300

    def setup(self, impl, vms):
        skip_reference_above(impl, vms, 10_000)
        rng = np.random.default_rng(42)
        self.fair_share = module(impl).fair_share
        self.demand = rng.uniform(0.0, 4.0, vms)
        self.shares = rng.choice([500.0, 1000.0, 2000.0], vms) * rng.uniform(0.5, 1.5, vms)
        self.reservation = rng.uniform(0.0, 0.2, vms)
        self.limit = np.where(rng.random(vms) < 0.3, rng.uniform(0.5, 3.0, vms), np.inf)
        # Contended: demand is about 4x the capacity, floors well below it.
        self.capacity = float(self.demand.sum() / 4.0)

    def time_fair_share(self, impl, vms):
        self.fair_share(self.capacity, self.demand, self.shares, self.reservation, self.limit)
