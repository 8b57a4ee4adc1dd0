"""A VM limited at exactly its fluid share catches up what it waited for (rule 5's room).

Mix 9813 of the long profile (sched_mixes.mixes(2026, 9814)[9813], no reservation):
VM 2 (6 vCPUs, limit 3.415 = its fluid share) runs in 0.75 ms quanta among
3 ms slices of the other VMs. While its vCPUs waited for a pCPU its bucket sat
at its one-slice cap and discarded what accrued, and a VM limited at its fluid
share cannot run ahead of its limit to make it up: it fell behind at a steady
rate (0.42x the lag bound at 4 s, 0.64x at 10 s, 2.71x at 60 s) and VM 1 (2
vCPUs, 1 share) took the pCPU time it lost in borrowed runs (7.79x ahead at
60 s). The bucket now keeps up to one more slice of credit while the VM is
behind its fluid share (docs/engines/scheduler.md, rule 5).
"""

from __future__ import annotations

import numpy as np

from sched_mixes import mixes
from sched_profile import fluid_rates, run_mix

SLICE = 3_000_000
MS = 1_000_000
STEP = 100 * MS

MIX_9813 = (6, [(3, 4909, 0.0, None), (2, 1, 0.0, None), (6, 12255, 0.0, 3.415), (6, 922, 0.0, 0.422)])


def test_mix_9813_is_the_profile_mix():
    assert mixes(2026, 9814)[9813] == MIX_9813


def _signed_ratio(impl, seconds):
    """(fluid - received) / (2 x slice x vcpus) per checkpoint and VM (> 0: behind)."""
    pcpus, vms = MIX_9813
    runs = run_mix(impl, pcpus, vms, seconds, True, STEP)
    t = np.arange(runs.shape[0])[:, None] * STEP
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs
    return lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :], runs


def test_vm_limited_at_its_fluid_share_does_not_fall_behind(impl):
    """Both twins, 4 s: VM 2 stays near its fluid share (0.42x behind before, growing)."""
    ratio, runs = _signed_ratio(impl, 4.0)
    assert ratio[:, 2].max() <= 0.2, ratio[:, 2].max()
    assert ratio[-10:, 2].max() <= 0.1, ratio[-10:, 2].max()  # and is not drifting away
    assert -ratio[:, 1].min() <= 0.7, ratio[:, 1].min()  # VM 1 no longer takes its loss (0.91x before)
    # The limit, from the start: received(0, t) <= limit * t + slice.
    t = np.arange(runs.shape[0]) * STEP
    assert np.all(runs[:, 2] <= 3.415 * t + SLICE)
    assert np.all(runs[:, 3] <= 0.422 * t + SLICE)
