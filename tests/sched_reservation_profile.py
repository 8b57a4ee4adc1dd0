"""Worst reservation window of the CPU scheduler over many random mixes.

    python tests/sched_reservation_profile.py --mixes 400 [--seconds 60]

For each mix of tests/test_scheduler_reservation.py's generator (1..8 pCPUs, 1..5
reserved VMs of 1..4 vCPUs with reservations summing to 50..100 % of the pCPUs,
CPU-bound competitors with up to 5000x heavier shares; 5 s unless --seconds, 10 ms grid), then
for its six tight mixes: the worst window T >= 100 ms of any reserved VM,
(received - r*T) / slice (the guarantee: >= -1). Prints the distribution
(median, p1, worst) and the mixes below -0.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_scheduler_reservation as t  # noqa: E402

def worst(impl, pcpus, vms, seconds: int) -> float:
    runs = t._run_ns_trajectory(impl, pcpus, vms, seconds)
    return t._worst_window_shortfall(runs, np.array([v[2] for v in vms])) / t.SLICE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixes", type=int, default=400)
    parser.add_argument("--seconds", type=int, default=t.SECONDS)
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args()
    if args.reference:
        import vsched.reference as impl
    else:
        import vsched as impl
    cases = [t._random_mix(seed) for seed in range(args.mixes)]
    cases += [(p, t.tight_mix(res)) for p, res in t.TIGHT]
    margins = np.array([worst(impl, p, vms, args.seconds) for p, vms in cases])
    random, tight = margins[: args.mixes], margins[args.mixes :]
    print(f"{args.mixes} random mixes x {args.seconds} s: median {np.median(random):.3f}, p1 {np.percentile(random, 1):.3f}, "
          f"worst {random.min():.3f} (slices; >= -1 is the guarantee)")
    print("tight mixes: " + ", ".join(f"{m:.3f}" for m in tight))
    for k in np.flatnonzero(margins < -0.5):
        print(f"  case {k}: {margins[k]:.3f}")


if __name__ == "__main__":
    main()
