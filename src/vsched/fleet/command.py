"""``vsched fleet``: a built-in data-centre day (hosts, arrivals and departures,
host failures, balancing), its summary, ``--json`` and ``--plot``."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

import numpy as np

from .. import workloads
from .backends import BACKENDS
from .fleet import Fleet
from .placement import POLICIES
from .spec import BalancePolicy, ConsolidationPolicy, FailureModel, HostSpec, MigrationModel
from .workload import synthetic_fleet, trace_fleet

__all__ = ["add_parser", "run_fleet"]


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "fleet",
        help="simulate a day of a fleet of hosts: placement, balancing with live migration, failures",
        description="Place arriving VMs on a fleet of hosts, balance them with pre-copy live migration, "
        "fail and repair hosts, and report what the fleet delivered.",
    )
    p.add_argument("--hosts", type=int, default=100, help="hosts (default 100)")
    p.add_argument("--vms", type=int, default=None, help="VMs over the run (default 100 per host)")
    p.add_argument("--pcpus", type=int, default=24, help="pCPUs per host (default 24)")
    p.add_argument("--memory", type=int, default=40_000, help="frames per host (default 40000)")
    p.add_argument("--pages", type=int, default=256, help="guest pages per VM (default 256)")
    p.add_argument("--page-mib", type=float, default=1.0,
                   help="MiB one simulated guest page stands for when migrating (default 1: a VM of 256 pages is 256 MiB)")
    p.add_argument("--max-vcpu-ratio", type=float, default=8.0, help="admission: most vCPUs per pCPU (default 8)")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--placement", choices=sorted(POLICIES), default="best-fit", help="placement policy (default best-fit)")
    p.add_argument("--balance", choices=["drs", "none"], default="drs", help="balancing pass (default drs)")
    p.add_argument("--threshold", type=int, default=3, help="DRS migration threshold 1..5 (default 3)")
    p.add_argument("--failures", type=int, default=2, help="host failures at seeded times (default 2)")
    p.add_argument("--mtbf-hours", type=float, default=None, help="also fail hosts at random, mean hours between failures")
    p.add_argument("--repair-hours", type=float, default=2.0, help="hours until a failed host is back (default 2)")
    p.add_argument("--consolidate", action="store_true",
                   help="consolidation pass: evacuate lightly loaded hosts and power them off, power hosts on as demand rises")
    p.add_argument("--max-hosts-off", type=int, default=1,
                   help="with --consolidate: most hosts evacuated per pass (default 1)")
    p.add_argument("--trace", default=None, metavar="KIND:DIR", help="planetlab:DIR (a day folder) or gcd:DIR")
    p.add_argument("--engines", choices=["native", "reference"], default="native", help="host engines (reference: slow)")
    p.add_argument("--backend", choices=list(BACKENDS), default="serial",
                   help="where the hosts run: serial (here), ray or dask (shards on actors; same results)")
    p.add_argument("--shards", type=int, default=None,
                   help="host groups stepped in parallel (ray/dask; default: the CPUs, at most --hosts)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result instead")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="time series plot (needs matplotlib)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    return p


def _check(args: argparse.Namespace) -> None:
    for name in ("hosts", "pcpus", "memory", "pages"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.vms is not None and args.vms < 0:
        raise ValueError(f"--vms must be >= 0, got {args.vms}")
    for name in ("hours", "page_mib", "max_vcpu_ratio", "repair_hours"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be finite and > 0, got {value}")
    if args.mtbf_hours is not None and not (math.isfinite(args.mtbf_hours) and args.mtbf_hours > 0):
        raise ValueError(f"--mtbf-hours must be finite and > 0, got {args.mtbf_hours}")
    if not 1 <= args.threshold <= 5:
        raise ValueError(f"--threshold must be in 1..5, got {args.threshold}")
    if args.max_hosts_off < 1:
        raise ValueError(f"--max-hosts-off must be >= 1, got {args.max_hosts_off}")
    if args.max_hosts_off != 1 and not args.consolidate:
        raise ValueError("--max-hosts-off needs --consolidate")
    if args.failures < 0:
        raise ValueError(f"--failures must be >= 0, got {args.failures}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.shards is not None and not 1 <= args.shards <= args.hosts:
        raise ValueError(f"--shards must be in 1..{args.hosts} (the hosts), got {args.shards}")
    if args.backend == "serial" and args.shards not in (None, 1):
        raise ValueError(f"--shards {args.shards} needs --backend ray or dask (serial runs one)")
    if args.plot:
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK) or os.path.isdir(args.plot):
            raise ValueError(f"--plot {args.plot}: cannot write a file there")


def _shards(args: argparse.Namespace) -> int:
    if args.backend == "serial":
        return 1
    return min(args.hosts, os.cpu_count() or 1) if args.shards is None else args.shards


def build(args: argparse.Namespace) -> tuple[Fleet, Any]:
    _check(args)
    ticks = max(1, round(args.hours * 3600 / workloads.TICK_SECONDS))
    vms = 100 * args.hosts if args.vms is None else args.vms
    if args.trace:
        work = trace_fleet(workloads.load_trace(args.trace), vms=vms, ticks=ticks, seed=args.seed, pages=args.pages)
    else:
        work = synthetic_fleet(vms, ticks, seed=args.seed, pages=args.pages)
    rng = np.random.default_rng([args.seed, 9])
    schedule = tuple(zip(np.sort(rng.integers(ticks // 4 if ticks >= 4 else 0, max(ticks, 1), args.failures)).tolist(),
                         rng.integers(0, args.hosts, args.failures).tolist()))
    repair = max(1, round(args.repair_hours * 3600 / workloads.TICK_SECONDS))
    failures = FailureModel(mtbf_hours=args.mtbf_hours, repair_ticks=repair, restart_delay_ticks=1, schedule=schedule) \
        if schedule or args.mtbf_hours else None
    fleet = Fleet(
        args.hosts,
        host=HostSpec(pcpus=args.pcpus, memory_frames=args.memory, max_vcpu_ratio=args.max_vcpu_ratio),
        placement=args.placement,
        balance=None if args.balance == "none" else "drs",
        drs=BalancePolicy(threshold=args.threshold),
        migration=MigrationModel(page_bytes=int(args.page_mib * (1 << 20))),
        failures=failures,
        consolidation=ConsolidationPolicy(max_hosts_off=args.max_hosts_off) if args.consolidate else None,
        seed=args.seed,
        engines=args.engines,
        check=True,
        backend=args.backend,
        shards=_shards(args),
    )
    return fleet, work


def fleet_result(args: argparse.Namespace) -> dict[str, Any]:
    fleet, work = build(args)
    started = time.perf_counter()
    with fleet:
        run = fleet.run(work, progress=bool(args.progress))
    seconds = time.perf_counter() - started
    ticks = run.fleet["imbalance"].size
    result = {
        "scenario": {
            "source": work.source, "hosts": args.hosts, "pcpus": args.pcpus, "frames": args.memory,
            "vms_offered": len(work.vms), "ticks": ticks, "tick_seconds": fleet.tick_seconds,
            "placement": args.placement, "balance": args.balance, "threshold": args.threshold,
            "consolidate": args.consolidate, "max_hosts_off": args.max_hosts_off if args.consolidate else None,
            "engines": args.engines, "backend": args.backend, "shards": fleet.shards, "seed": args.seed,
            "failures_scheduled": [list(x) for x in (fleet.failure_model.schedule if fleet.failure_model else ())],
        },
        "summary": run.summary(),
        "seconds": seconds,
        "vm_ticks_per_second": float(run.fleet["running"].sum() + run.fleet["migrating"].sum()) / seconds if seconds else 0.0,
    }
    if args.plot:
        _plot(run, args.plot)
    return result


def _plot(run: Any, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'vsched[plot]'") from None
    hours = np.arange(run.fleet["imbalance"].size) * run.tick_seconds / 3600
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    load = run.hosts["load"]
    axes[0].fill_between(hours, load.min(axis=0), load.max(axis=0), alpha=0.3, label="host load, min..max")
    axes[0].plot(hours, load.mean(axis=0), label="mean host load")
    axes[0].set_ylabel("entitled demand / pCPUs")
    axes[1].plot(hours, run.fleet["imbalance"], label="imbalance (std of host loads)")
    axes[1].plot(hours, run.fleet["unmet"] / np.maximum(run.fleet["demand"], 1e-12), label="unmet share of demand")
    axes[2].plot(hours, run.fleet["running"], label="running")
    axes[2].plot(hours, run.fleet["pending"], label="pending restart")
    axes[2].plot(hours, run.fleet["active_hosts"], label="hosts up")
    axes[2].set_xlabel("hours")
    for ax in axes:
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_summary(result: dict[str, Any]) -> None:
    sc, s = result["scenario"], result["summary"]
    print(f"vsched fleet: {sc['source']}")
    print(f"  fleet       {sc['hosts']} hosts x {sc['pcpus']} pCPUs, {sc['frames']} frames; {sc['ticks']} ticks of "
          f"{sc['tick_seconds']} s; placement {sc['placement']}, balance {sc['balance']} (threshold {sc['threshold']})")
    print(f"  VMs         {s['placed']} placed, {s['refused']} refused"
          + "".join(f"; {n} by {rule}" for rule, n in s["refusals_by_rule"].items()))
    print(f"  CPU         unmet demand {s['unmet_demand']:.3%}; ready % over VMs mean {s['ready_pct_mean']:.2f}, "
          f"p95 {s['ready_pct_p95']:.2f}, p99 {s['ready_pct_p99']:.2f}")
    print(f"  balance     imbalance mean {s['imbalance_mean']:.4f} (max {s['imbalance_max']:.4f}); "
          f"{s['migrations']} migrations, {s['migrated_gb']:.1f} GB, mean {s['migration_seconds_mean']:.1f} s, "
          f"downtime mean {s['downtime_ms_mean']:.1f} ms (max {s['downtime_ms_max']:.1f} ms)")
    print(f"  failures    {s['host_failures']} hosts failed, {s['vm_restarts']} VMs restarted, "
          f"{s['lost_vm_minutes']:.0f} VM-minutes lost")
    if sc.get("consolidate"):
        print(f"  power       {s['hosts_powered_off']} hosts powered off, {s['hosts_powered_on']} powered on "
              f"(consolidation, up to {sc['max_hosts_off']} hosts per pass)")
    print(f"  hosts       {s['active_hosts_mean']:.1f} up on average; energy {s['energy_kwh']:.1f} kWh; "
          f"memory saved by sharing {s['memory_saving_mean']:.1%}")
    on = "" if sc["backend"] == "serial" else f" on {sc['backend']}, {sc['shards']} shards"
    print(f"  wall time   {result['seconds']:.1f} s{on} ({result['vm_ticks_per_second']:,.0f} VM-ticks/s)")


def run_fleet(args: argparse.Namespace) -> int:
    result = fleet_result(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_summary(result)
    return 0
