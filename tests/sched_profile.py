"""Worst lag error / bound of the CPU scheduler over many random mixes.

    python tests/sched_profile.py --mixes 10000 --seconds 60 --strict 1

prints the distribution (median, p99, max) of max_VM max_t |received - fluid| /
(2 x slice x vcpus) over the mixes of tests/sched_mixes.py, and the mixes
above 1. The fluid share comes from tests/sched_oracle.py (not the engine).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sched_mixes import mixes  # noqa: E402
from sched_oracle import fluid_share  # noqa: E402

SLICE = 3_000_000
MS = 1_000_000


def run_mix(impl, pcpus, vms, seconds, strict, step_ns=100 * MS, ready=None):
    """run_ns per VM after each step, shape (steps + 1, vms); all vCPUs CPU-bound.

    If ready is a list, the per-VM ready_ns rows are appended to it as well."""
    s = impl.CpuScheduler(pcpus, SLICE, strict_reservations=strict)
    ids = [s.add_vm(n, shares=w, reservation=r, limit=l) for n, w, r, l in vms]
    for vm_id, (n, *_rest) in zip(ids, vms):
        s.add_work(np.full(n, vm_id), np.arange(n), impl.FOREVER)
    out = []
    for k in range(int(round(seconds * 1e9 / step_ns)) + 1):
        if k:
            s.run(step_ns)
        st = s.stats()
        out.append(st["run_ns"])
        if ready is not None:
            ready.append(st["ready_ns"])
    return np.array(out, dtype=np.int64)


def fluid_rates(pcpus, vms):
    return fluid_share(
        pcpus,
        [v[0] for v in vms],
        [v[1] for v in vms],
        [v[2] for v in vms],
        [np.inf if v[3] is None else v[3] for v in vms],
    )


def lag_ratio(pcpus, vms, runs, step_ns):
    """|received - fluid| / (2 x slice x vcpus) per checkpoint and VM."""
    t = np.arange(runs.shape[0])[:, None] * step_ns
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs
    return np.abs(lag) / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--strict", type=int, choices=[0, 1], default=1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--save", help="write each mix's worst ratio to this .npy file")
    parser.add_argument(
        "--progress", type=int, default=500, help="print the distribution so far (and save) every N mixes; 0: only at the end"
    )
    args = parser.parse_args()
    import vsched
    import vsched.reference

    impl = vsched.reference if args.reference else vsched
    worst = []
    for k, (pcpus, vms) in enumerate(mixes(args.seed, args.mixes)):
        ratio = lag_ratio(pcpus, vms, run_mix(impl, pcpus, vms, args.seconds, bool(args.strict)), 100 * MS)
        worst.append(ratio.max())
        if ratio.max() > 1:
            print(f"mix {k}: {ratio.max():.2f} (VM {int(ratio.max(axis=0).argmax())}) pcpus={pcpus} {vms}", flush=True)
        if args.progress and (k + 1) % args.progress == 0 and k + 1 < args.mixes:
            report(worst, args)
    report(worst, args)


def report(worst: list[float], args: argparse.Namespace) -> None:
    """Print (and save) the distribution of the worst ratios so far; a long run stopped early still leaves one."""
    w = np.array(worst)
    if args.save:
        np.save(args.save, w)
    print(
        f"mixes={len(w)} seconds={args.seconds} strict={args.strict}: median {np.median(w):.3f} "
        f"p99 {np.quantile(w, 0.99):.3f} max {w.max():.3f} above-1 {(w > 1).sum()} ({100 * (w > 1).mean():.2f} %)",
        flush=True,
    )


if __name__ == "__main__":
    main()
