"""``vsched simulate``: the built-in scenario.

Until the host (scheduler + memory + reallocator in one loop) exists, this
replays a synthetic day of bursty VM CPU demand through the fair-share kernel
and reports what an overcommitted host would deliver.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from .allocation import fair_share

TICK_SECONDS = 300  # five-minute samples, as in the PlanetLab traces


def _synthetic_demand(rng: np.random.Generator, vms: int, ticks: int) -> np.ndarray:
    """Cores demanded per VM per tick: mostly idle, bursty, with a diurnal swing."""
    base = rng.lognormal(mean=-2.6, sigma=0.9, size=vms)
    hours = np.arange(ticks) * TICK_SECONDS / 3600.0
    diurnal = 1.0 + 0.5 * np.sin(2 * np.pi * (hours - 8.0) / 24.0)
    noise = rng.lognormal(mean=0.0, sigma=0.6, size=(ticks, vms))
    bursts = rng.random((ticks, vms)) < 0.03
    demand = base[None, :] * diurnal[:, None] * noise + bursts * rng.uniform(0.5, 2.0, (ticks, vms))
    return np.minimum(demand, 2.0)  # two vCPUs per VM


def run_simulate(args: argparse.Namespace) -> int:
    if args.vms < 1:
        raise ValueError(f"--vms must be >= 1, got {args.vms}")
    if args.pcpus < 1:
        raise ValueError(f"--pcpus must be >= 1, got {args.pcpus}")
    if not args.hours > 0:
        raise ValueError(f"--hours must be > 0, got {args.hours}")
    ticks = max(1, int(round(args.hours * 3600 / TICK_SECONDS)))
    rng = np.random.default_rng(args.seed)
    demand = _synthetic_demand(rng, args.vms, ticks)
    shares = rng.choice([500.0, 1000.0, 2000.0], size=args.vms)
    reservation = np.full(args.vms, min(0.1, args.pcpus / args.vms * 0.5))
    limit = np.full(args.vms, 2.0)

    delivered = np.empty_like(demand)
    for t in range(ticks):
        delivered[t] = fair_share(args.pcpus, demand[t], shares, reservation, limit)

    unmet = float(np.maximum(demand - delivered, 0).sum() / demand.sum())
    load = demand.sum(axis=1) / args.pcpus
    result = {
        "vms": args.vms,
        "pcpus": args.pcpus,
        "ticks": ticks,
        "mean_load": float(load.mean()),
        "peak_load": float(load.max()),
        "contended_ticks": int((load > 1.0).sum()),
        "unmet_demand": unmet,
        "max_used_cores": float(delivered.sum(axis=1).max()),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"vsched simulate: {args.vms} VMs on {args.pcpus} pCPUs, {ticks} ticks of {TICK_SECONDS} s")
    print(f"  host load      mean {result['mean_load']:.1%}   peak {result['peak_load']:.1%}")
    print(f"  contended      {result['contended_ticks']} of {ticks} ticks above capacity")
    print(f"  unmet demand   {unmet:.3%} of all CPU demanded (fair-share by shares, floors, caps)")
    print(f"  busiest tick   {result['max_used_cores']:.2f} of {args.pcpus} cores delivered")
    return 0
