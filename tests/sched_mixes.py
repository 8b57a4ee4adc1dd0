"""Random CPU-bound VM mixes for the scheduler's guarantee tests.

Two families, drawn from one seed each:
- ``narrow``: 4 pCPUs, 8 VMs of 1-3 vCPUs, shares 250-4000, reservations up to
  0.8 x pcpus in all, 30 % of the VMs limited;
- ``wide``: 1-16 pCPUs, 2-12 VMs of 1-8 vCPUs, shares 1..1e5 (log-uniform),
  30 % reserved (summing to at most pcpus), 30 % limited (limit >= reservation),
  some limits equal to a fractional reservation.

A mix is (pcpus, [(vcpus, shares, reservation, limit or None), ...]).
"""

from __future__ import annotations

import numpy as np


def random_vms(rng: np.random.Generator, count: int, pcpus: int, max_vcpus: int) -> list:
    """`count` CPU-bound VMs of 1..max_vcpus vCPUs, shares 250-4000, 30 % reserved (up to
    0.8 x pcpus in all), 30 % limited (limit >= reservation)."""
    vms = []
    reserved = 0.0
    for _ in range(count):
        n = int(rng.integers(1, max_vcpus + 1))
        shares = int(rng.choice([250, 500, 1000, 2000, 4000]))
        r = 0.0
        if rng.random() < 0.3:
            r = float(min(n, rng.uniform(0.1, 0.8 * n)))
            if reserved + r > 0.8 * pcpus:
                r = 0.0
            reserved += r
        limit = None
        if rng.random() < 0.3:
            limit = float(max(r, rng.uniform(0.2, n)))
        vms.append((n, shares, r, limit))
    return vms


def narrow_mix(rng: np.random.Generator) -> tuple[int, list]:
    pcpus = 4
    return pcpus, random_vms(rng, 8, pcpus, 3)


def wide_mix(rng: np.random.Generator) -> tuple[int, list]:
    pcpus = int(rng.integers(1, 17))
    vms = []
    reserved = 0.0
    for _ in range(int(rng.integers(2, 13))):
        n = int(rng.integers(1, 9))
        shares = int(round(10 ** rng.uniform(0, 5)))
        r = 0.0
        if rng.random() < 0.3:
            r = float(min(n, rng.uniform(0.05, 1.0) * min(n, pcpus)))
            r = round(r, 3)
            if reserved + r > pcpus:
                r = 0.0
            reserved += r
        limit = None
        u = rng.random()
        if u < 0.1 and r > 0:
            limit = r  # a limit equal to the reservation
        elif u < 0.3:
            limit = round(float(max(r, rng.uniform(0.1, n))), 3)
        vms.append((n, shares, r, limit))
    return pcpus, vms


def mixes(seed: int, count: int) -> list[tuple[int, list]]:
    """count mixes, alternating narrow and wide, reproducible from seed."""
    rng = np.random.default_rng(seed)
    return [narrow_mix(rng) if k % 2 == 0 else wide_mix(rng) for k in range(count)]
