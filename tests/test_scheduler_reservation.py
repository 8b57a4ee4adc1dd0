"""CpuScheduler reservation guarantee (issue 3): a CPU-bound VM with reservation r
receives at least r*T - slice in every window T >= 100 ms, whatever the others' shares.

Random mixes: 1..5 reserved VMs with 1..4 vCPUs and tiny shares, reservations
summing to at most the pCPUs (often all of them), against CPU-bound competitors
with up to 5000x heavier shares, on 1..8 pCPUs; 5 s runs sampled every 10 ms.
The check is plain arithmetic on the run_ns trajectory: received(t0, t1) =
run_ns(t1) - run_ns(t0) against r * (t1 - t0) - slice for every pair of grid
points at least 100 ms apart. Both implementations (``impl`` fixture).
"""

from __future__ import annotations

import numpy as np
import pytest

SLICE = 3_000_000
MS = 1_000_000
STEP = 10 * MS
SECONDS = 5


def _random_mix(seed: int) -> tuple[int, list[tuple[int, int, float]]]:
    """(pcpus, [(vcpus, shares, reservation)]); reserved VMs come first."""
    rng = np.random.default_rng(seed)
    pcpus = int(rng.choice([1, 2, 3, 4, 6, 8]))
    reserved = int(rng.integers(1, 6))
    # Reservations share a budget of 50..100% of the pCPUs (a VM's reservation is
    # capped at its vCPUs); three decimals so the admission sum is exact enough.
    budget = pcpus * float(rng.choice([0.5, 0.8, 0.999, 1.0]))
    split = rng.dirichlet(np.ones(reserved)) * budget
    vms = []
    for k in range(reserved):
        vcpus = int(rng.integers(1, 5))
        r = float(np.floor(min(vcpus, split[k]) * 1000) / 1000)
        vms.append((vcpus, int(rng.choice([1, 10, 200])), r))
    for _ in range(int(rng.integers(1, 6))):
        vms.append((int(rng.integers(1, 5)), int(rng.choice([1000, 50_000, 1_000_000])), 0.0))
    return pcpus, vms


def _run_ns_trajectory(impl, pcpus: int, vms: list[tuple[int, int, float]]) -> np.ndarray:
    s = impl.CpuScheduler(pcpus, SLICE)
    for vcpus, shares, r in vms:
        vm = s.add_vm(vcpus, shares=shares, reservation=r)
        s.add_work(np.full(vcpus, vm), np.arange(vcpus), impl.FOREVER)
    out = [s.stats()["run_ns"].copy()]
    for _ in range(SECONDS * 1000 * MS // STEP):
        s.run(STEP)
        out.append(s.stats()["run_ns"].copy())
    return np.array(out, dtype=np.int64)


def _worst_window_shortfall(runs: np.ndarray, reservation: np.ndarray) -> float:
    """min over windows >= 100 ms and reserved VMs of received - r*T, in ns."""
    worst = np.inf
    reserved = reservation > 0
    for gap in range(100 * MS // STEP, runs.shape[0]):
        received = runs[gap:, reserved] - runs[:-gap, reserved]
        worst = min(worst, float((received - reservation[reserved] * (gap * STEP)).min()))
    return worst


@pytest.mark.parametrize("seed", range(16))
def test_reservation_every_window_random_mixes(impl, seed):
    pcpus, vms = _random_mix(seed)
    assert sum(v[2] for v in vms) <= pcpus
    runs = _run_ns_trajectory(impl, pcpus, vms)
    reservation = np.array([v[2] for v in vms])
    shortfall = _worst_window_shortfall(runs, reservation)
    assert shortfall >= -SLICE, (pcpus, vms, shortfall / SLICE)


@pytest.mark.parametrize(
    "pcpus, reserved",
    [
        (2, [(1, 0.95), (1, 0.95), (1, 0.1)]),  # two near-full single vCPUs and a small one
        (1, [(1, 0.1)] * 10),  # ten small reservations fill one pCPU
        (2, [(1, 0.666)] * 3),  # more reserved vCPUs than pCPUs
        (4, [(3, 0.571)] * 7),  # 3.997 of 4 pCPUs in fractional multi-vCPU reservations
        (4, [(2, 1.333)] * 3),
        (1, [(1, 1.0)]),  # a whole pCPU
    ],
)
def test_reservation_every_window_tight(impl, pcpus, reserved):
    vms = [(vcpus, 1, r) for vcpus, r in reserved] + [(4, 1_000_000, 0.0)] * 3
    runs = _run_ns_trajectory(impl, pcpus, vms)
    reservation = np.array([v[2] for v in vms])
    shortfall = _worst_window_shortfall(runs, reservation)
    assert shortfall >= -SLICE, shortfall / SLICE
