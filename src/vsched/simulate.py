"""``vsched simulate``: one host, a day of VMs, and what reallocation buys.

The built-in scenario admits VMs of 1, 2 or 4 vCPUs (60/30/10 %) with
synthetic PlanetLab-like CPU demand and template-cloned memory onto one host,
replays the day in five-minute ticks three times -- with lending (the
reallocator's entitlements as caps), with static base entitlements, and
without caps -- and prints admission results, CPU unmet demand and ready %,
memory saved by sharing and faults. ``--trace planetlab:DIR`` / ``gcd:DIR``
replaces the synthetic CPU (and, for gcd, scales each VM's memory activity).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from . import workloads
from .errors import AdmissionError
from .host import Host, HostRun

POLICIES = ("lend", "static", "off")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"--{name} must be > 0, got {value}")


def _engines(name: str) -> type[Host]:
    if name == "native":
        return Host
    from .reference import Host as ReferenceHost

    return ReferenceHost


def build_workload(args: argparse.Namespace) -> tuple[workloads.Trace, int]:
    ticks = max(1, int(round(args.hours * 3600 / workloads.TICK_SECONDS)))
    if args.trace:
        trace = workloads.load_trace(args.trace)
        if args.vms is not None:
            keep = min(args.vms, trace.vms)
            trace.cpu, trace.names = trace.cpu[:, :keep], trace.names[:keep]
            if trace.memory is not None:
                trace.memory = trace.memory[:, :keep]
        repeats = math.ceil(ticks / trace.ticks)
        trace.cpu = np.tile(trace.cpu, (repeats, 1))[:ticks]
        if trace.memory is not None:
            trace.memory = np.tile(trace.memory, (repeats, 1))[:ticks]
        return trace, ticks
    vms = 300 if args.vms is None else args.vms
    return workloads.synthetic_cpu(vms, ticks, seed=args.seed, diurnal=True), ticks


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scenario described by the parsed command line; returns the result dict."""
    if args.vms is not None and args.vms < 1:
        raise ValueError(f"--vms must be >= 1, got {args.vms}")
    _positive("pcpus", args.pcpus)
    _positive("hours", args.hours)
    _positive("pages", args.pages)
    trace, ticks = build_workload(args)
    rng = np.random.default_rng([args.seed, 7])
    vcpus = rng.choice([1, 2, 4], size=trace.vms, p=[0.6, 0.3, 0.1])
    domains = rng.integers(0, args.domains, trace.vms)
    frames = args.memory if args.memory is not None else max(1, int(0.4 * trace.vms * args.pages))
    _positive("memory", frames)
    host_class = _engines(args.engines)

    def make_host(policy: str) -> tuple[Host, list[int], list[dict[str, Any]]]:
        host = host_class(
            args.pcpus,
            frames,
            max_vcpu_ratio=args.max_vcpu_ratio,
            min_guarantee=args.min_guarantee,
            fidelity=args.fidelity,
            reallocation=policy,
            realloc_estimator=args.estimator,
        )
        admitted, refusals = [], []
        for i in range(trace.vms):
            try:
                host.add_vm(int(vcpus[i]), args.pages, domain=int(domains[i]))
                admitted.append(i)
            except AdmissionError as refusal:
                refusals.append({"vm": trace.names[i], "vcpus": int(vcpus[i]), "reason": str(refusal)})
        return host, admitted, refusals

    runs: dict[str, HostRun] = {}
    seconds: dict[str, float] = {}
    admitted: list[int] = []
    refusals: list[dict[str, Any]] = []
    for policy in POLICIES:
        host, admitted, refusals = make_host(policy)
        demand = trace.cpu[:, admitted] * vcpus[admitted][None, :]
        memory = None
        if policy == "lend":  # memory does not depend on the CPU policy: simulate it once
            load = workloads.MemoryWorkload(len(admitted), args.pages, seed=args.seed, accesses=args.accesses)
            activity = trace.memory[:, admitted] if trace.memory is not None else None

            def memory(t: int, load=load, activity=activity):
                batches = load.tick(t, None if activity is None else activity[t])
                return load.boot() + batches if t == 0 else batches

        started = time.perf_counter()
        runs[policy] = host.run(demand, memory, progress=args.progress and policy == "lend")
        seconds[policy] = time.perf_counter() - started

    lend = runs["lend"]
    per_vm = _per_vm_checks(lend, np.asarray(vcpus[admitted]), frames, args.min_guarantee)
    result = {
        "scenario": {
            "source": trace.source,
            "vms_offered": trace.vms,
            "pcpus": args.pcpus,
            "frames": frames,
            "pages_per_vm": args.pages,
            "ticks": ticks,
            "tick_seconds": workloads.TICK_SECONDS,
            "fidelity": args.fidelity,
            "engines": args.engines,
            "seed": args.seed,
            "notes": trace.notes,
        },
        "admission": {
            "admitted": len(admitted),
            "refused": len(refusals),
            "vcpus_admitted": int(vcpus[admitted].sum()),
            "refusals": refusals[:20],
        },
        "cpu": {policy: _cpu_summary(run) for policy, run in runs.items()},
        "memory": _memory_summary(lend),
        "checks": per_vm,
        "seconds": seconds,
    }
    if args.plot:
        _plot(lend, runs["static"], args.plot)
    return result


def _cpu_summary(run: HostRun) -> dict[str, float]:
    s = run.summary()
    return {k: s[k] for k in ("unmet_demand", "ready_pct_mean", "ready_pct_p95", "limited_pct_mean", "mean_load", "lending_ticks")}


def _memory_summary(run: HostRun) -> dict[str, float]:
    s = run.summary()
    return {
        "saving_mean": s["memory_saving_mean"],
        "saving_final": float(run.totals["saving"][-1]) if run.totals["saving"].size else 0.0,
        "frames_used_max": s["frames_used_max"],
        "major_faults": s["major_faults"],
        "cow_breaks": s["cow_breaks"],
        "swapped_final": float(run.metrics["mem_swapped"][-1].sum()) if run.metrics["mem_swapped"].size else 0.0,
    }


def _per_vm_checks(run: HostRun, vcpus: np.ndarray, frames: int, min_guarantee: float) -> dict[str, float]:
    """The invariants a reader can verify from the JSON (and the tests do)."""
    m = run.metrics
    if m["cpu_used"].size == 0:
        return {"max_over_cap": 0.0, "max_reservation_shortfall": 0.0, "frames_used_max": 0, "frames": frames}
    reservation = min_guarantee * vcpus
    wanted_reserved = np.minimum(m["cpu_demand"], reservation[None, :])
    return {
        "max_over_cap": float((m["cpu_used"] - m["entitlement"]).max()),
        "max_over_vcpus": float((m["cpu_used"] - vcpus[None, :]).max()),
        "max_reservation_shortfall": float((wanted_reserved - m["cpu_used"]).max()),
        "max_used_cores": float(m["cpu_used"].sum(axis=1).max()),
        "frames_used_max": int(run.totals["frames_used"].max()),
        "frames": frames,
    }


def _plot(lend: HostRun, static: HostRun, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'vsched[plot]'") from None
    hours = np.arange(lend.totals["load"].size) * workloads.TICK_SECONDS / 3600
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].plot(hours, 100 * lend.totals["load"], label="demand / pCPUs")
    axes[0].plot(hours, 100 * lend.totals["used"], label="used / pCPUs")
    axes[0].axhline(75, color="grey", linestyle=":", label="lending threshold")
    axes[0].set_ylabel("host load %")
    for run, label in ((lend, "with reallocation"), (static, "static entitlements")):
        waiting = run.metrics["ready_pct"] + run.metrics["limited_pct"]
        axes[1].plot(hours, waiting.mean(axis=1), label=label)
    axes[1].set_ylabel("ready + limited % (mean)")
    # Static caps are the base entitlements: what lending adds is the excess over them.
    lent = np.maximum(lend.metrics["entitlement"] - static.metrics["entitlement"], 0).sum(axis=1)
    axes[2].plot(hours, lent, label="entitlement lent above base")
    axes[2].plot(hours, lend.metrics["unmet"].sum(axis=1), label="unmet demand, with reallocation")
    axes[2].plot(hours, static.metrics["unmet"].sum(axis=1), label="unmet demand, static")
    axes[2].set_ylabel("cores")
    axes[3].plot(hours, 100 * lend.totals["saving"], label="resident pages costing no frame")
    axes[3].set_ylabel("memory saved %")
    axes[3].set_xlabel("hours")
    for ax in axes:
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_summary(result: dict[str, Any]) -> None:
    sc, adm, cpu, mem = result["scenario"], result["admission"], result["cpu"], result["memory"]
    print(f"vsched simulate: {sc['source']}")
    print(f"  host        {sc['pcpus']} pCPUs, {sc['frames']} frames; {sc['ticks']} ticks of {sc['tick_seconds']} s, "
          f"{sc['fidelity']} fidelity, {sc['engines']} engines")
    for note in sc["notes"]:
        print(f"  note        {note}")
    print(f"  admission   {adm['admitted']} of {sc['vms_offered']} VMs admitted ({adm['vcpus_admitted']} vCPUs), "
          f"{adm['refused']} refused")
    reasons: dict[str, int] = {}
    for refusal in adm["refusals"]:
        rule = refusal["reason"].split(":")[0]
        reasons[rule] = reasons.get(rule, 0) + 1
    for rule, count in reasons.items():
        print(f"              refused by {rule} (first {count} shown in --json)")
    print("  CPU                       unmet demand   ready % (mean / p95)   limited %   lending ticks")
    labels = {"lend": "with reallocation", "static": "static entitlements", "off": "no caps (reference)"}
    for policy in POLICIES:
        c = cpu[policy]
        print(f"    {labels[policy]:<22} {c['unmet_demand']:>10.3%}   {c['ready_pct_mean']:>8.2f} / {c['ready_pct_p95']:<8.2f}"
              f"   {c['limited_pct_mean']:>8.2f}   {c['lending_ticks']:>6}")
    print(f"    mean host load {cpu['lend']['mean_load']:.1%}")
    if cpu["static"]["unmet_demand"] > 0:
        gain = cpu["static"]["unmet_demand"] / max(cpu["lend"]["unmet_demand"], 1e-12)
        print(f"    reallocation cuts unmet demand {gain:.1f}x against static entitlements")
    print(f"  memory      saved by sharing: {mem['saving_mean']:.1%} of resident pages on average "
          f"({mem['saving_final']:.1%} at the end); frames used at most {mem['frames_used_max']} of {sc['frames']}")
    print(f"              major faults {mem['major_faults']}, COW breaks {mem['cow_breaks']}, "
          f"pages swapped at the end {int(mem['swapped_final'])}")
    print(f"  wall time   " + ", ".join(f"{p} {s:.2f} s" for p, s in result["seconds"].items()))


def run_simulate(args: argparse.Namespace) -> int:
    result = simulate(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_summary(result)
    return 0
