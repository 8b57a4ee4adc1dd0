"""A VM limited at its fluid share makes up a loss larger than one slice (rule 5's room).

Mix 8635 of the long profile (sched_mixes.mixes(2026, 8636)[8635], strict):
VM 8 (7 vCPUs, reservation 2.042, limit 5.836 = its fluid share) runs in 0.5 ms
quanta on 7 pCPUs. At start-up its vCPUs, a little ahead after their first
quantum, wait while five eligible vCPUs of VM 2 take 3 ms slices (about 12 ms of
its fluid share), and later the small vCPUs of VMs 0, 2 and 7 fall due together
and take 3 ms slices at once, leaving it 3-4 pCPUs. With a room of one extra
slice its bucket discarded what accrued while it waited beyond that, and a VM
limited at its fluid share cannot run ahead of its limit to make it up: 0.9x the
lag bound behind at 5 s, 1.05x from 8 s on, and VM 0 (1 vCPU, 1,214 shares)
took it, 2.6x ahead at 5.4 s, 3.7x at 60 s. The room now keeps what the VM is
behind, up to its lag bound (docs/engines/scheduler.md, rule 5).
"""

from __future__ import annotations

import numpy as np

from sched_mixes import mixes
from sched_profile import fluid_rates, run_mix

SLICE = 3_000_000
MS = 1_000_000
STEP = 100 * MS

MIX_8635 = (7, [(1, 1214, 0.0, None), (2, 18, 0.0, None), (8, 338, 0.0, None), (4, 18, 0.0, None),
                (1, 28, 0.0, None), (4, 26, 0.0, 2.684), (2, 3, 0.0, None), (8, 243, 0.0, None),
                (7, 95699, 2.042, 5.836)])


def test_mix_8635_is_the_profile_mix():
    assert mixes(2026, 8636)[8635] == MIX_8635


def test_vm_limited_at_its_fluid_share_makes_up_a_large_loss(impl):
    """Both twins, 6 s: VM 8 and VM 0 stay within the lag bound (before: 0.9x and 2.6x)."""
    pcpus, vms = MIX_8635
    runs = run_mix(impl, pcpus, vms, 6.0, True, STEP)
    t = np.arange(runs.shape[0])[:, None] * STEP
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs  # > 0: behind its fluid share
    ratio = lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]
    assert ratio[:, 8].max() <= 0.5, ratio[:, 8].max()
    assert np.abs(ratio).max() <= 1.0, np.abs(ratio).max(axis=0)
    # The limit, from the start: received(0, t) <= limit * t + slice.
    assert np.all(runs[:, 8] <= 5.836 * t[:, 0] + SLICE)
    assert np.all(runs[:, 5] <= 2.684 * t[:, 0] + SLICE)


def test_vm_limited_at_its_reservation_does_not_drift_without_rule_6():
    """Non-strict mix 1177, native, 60 s: VM 2 (8 vCPUs, reservation = limit = 7.306 on
    9 pCPUs) lost credit at the one-extra-slice cap as it went (1.00x the lag bound behind
    at 10 s, 1.70x at 60 s, growing). With the room up to its lag bound it stays within
    the bound, and the worst of 60 s is that of the first 10 s."""
    import vsched

    pcpus, vms = mixes(2026, 1178)[1177]
    assert vms[2] == (8, 212, 7.306, 7.306)
    runs = run_mix(vsched, pcpus, vms, 60.0, False, STEP)
    t = np.arange(runs.shape[0])[:, None] * STEP
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs
    ratio = np.abs(lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]).max(axis=1)
    assert ratio.max() <= 1.0, ratio.max()
    assert ratio.max() <= ratio[:101].max() + 0.25, (ratio[:101].max(), ratio.max())
