"""``vsched simulate``: one dense host, a diurnal day, and what reallocation buys.

The built-in scenario (see :mod:`vsched.scenario`) offers 2,000 VMs to a host of
512 pCPUs and 600,000 memory frames with the host's default admission rules
(at most 8 vCPUs per pCPU, 15 % of the frames kept unreserved, a 15 % minimum
CPU guarantee). Synthetic PlanetLab-like demand swings over the day so that
the afternoon peak asks for more than the pCPUs, and the VMs' memory, cloned
from templates, outgrows the frames as writes break sharing. The day is
replayed three times -- with lending (the reallocator's entitlements as caps),
with static base entitlements, and without caps -- and the result reports, per
class (critical / best-effort), unmet demand, ready and limited time and
whether the reservations held, then memory saved by sharing and the cost of the
memory pressure. ``--trace planetlab:DIR`` / ``gcd:DIR`` replaces the
synthetic CPU (and, for gcd, scales each VM's memory activity).

The JSON result (``--json``) states its ``schema_version``, the
``vsched_version`` and the unit of every metric (``units``): shares of time or
of demand are fractions in [0, 1], CPU amounts are cores, memory amounts are
pages or frames, durations are seconds.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from . import __version__, scenario, simulate_net, workloads
from .errors import AdmissionError
from .host import Host, HostRun
from .progress import progress

SCHEMA_VERSION = 2
POLICIES = ("lend", "static", "off")
POLICY_LABELS = {"lend": "with reallocation", "static": "static entitlements", "off": "no caps"}
DEFAULT_VMS = 2000
DEFAULT_PCPUS = 512
DEFAULT_FRAMES = 600_000
DEFAULT_DEMAND_SCALE = 1.0

UNITS = {
    "vms_offered": "count",
    "critical_offered": "count",
    "vcpus_offered": "count",
    "pcpus": "count",
    "pages_per_vm": "pages",
    "ticks": "count",
    "tick_seconds": "seconds",
    "max_vcpu_ratio": "vCPUs per pCPU",
    "memory_reserve": "fraction of the frames kept unreserved",
    "min_guarantee": "cores reserved per vCPU of a best-effort VM",
    "critical_reservation": "cores reserved per vCPU of a critical VM",
    "seed": "integer",
    "admitted": "count of VMs",
    "refused": "count of VMs",
    "vcpus_admitted": "count",
    "critical_admitted": "count of VMs",
    "refused_by_rule": "count of VMs per admission rule",
    "vms": "count",
    "reserved_cores": "cores: the admitted VMs' CPU reservations, summed",
    "pcpus_to_admit_all": "pCPUs on which both CPU rules admit every offered VM",
    "unmet_demand": "fraction of the demanded core-seconds not delivered",
    "ready_mean": "fraction of vCPU time runnable but waiting for a pCPU (esxtop %RDY / 100), mean over VMs and ticks",
    "ready_p99": "fraction of vCPU time waiting for a pCPU, 99th percentile over VM-ticks",
    "limited_mean": "fraction of vCPU time held back by the VM's cap (esxtop %MLMTD / 100), mean over VMs and ticks",
    "reservation_met": "fraction of VM-ticks that received min(demand, reservation)",
    "mean_load": "fraction: demanded cores / pCPUs, mean over ticks",
    "peak_load": "fraction: demanded cores / pCPUs, highest tick",
    "lending_ticks": "count of ticks the reallocator was lending (lend policy only)",
    "saving_mean": "fraction of resident guest pages that cost no frame, mean over ticks",
    "saving_final": "fraction of resident guest pages that cost no frame, last tick",
    "frames_used_max": "frames",
    "pressure_ticks": "count of ticks with every frame in use",
    "major_faults": "count of swap-ins over the day",
    "cow_breaks": "count of copy-on-write breaks over the day",
    "swapped_final": "pages swapped out at the last tick",
    "max_over_cap": "cores",
    "max_over_vcpus": "cores",
    "max_reservation_shortfall": "cores",
    "max_used_cores": "cores",
    "frames": "frames",
    "seconds": "seconds of wall time",
    **simulate_net.UNITS,
}


def _engines(name: str) -> type[Host]:
    if name == "native":
        return Host
    from .reference import Host as ReferenceHost

    return ReferenceHost


def build_workload(args: argparse.Namespace) -> tuple[workloads.Trace, int]:
    ticks = max(1, round(args.hours * 3600 / workloads.TICK_SECONDS))
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
    vms = DEFAULT_VMS if args.vms is None else args.vms
    trace = workloads.synthetic_cpu(vms, ticks, seed=args.seed, diurnal=True)
    if args.demand_scale != 1.0:
        trace.cpu = np.minimum(trace.cpu * args.demand_scale, 1.0)
        trace.source += f" x {args.demand_scale:g}"
    return trace, ticks


class NothingAdmitted(ValueError):
    """Admission refused every offered VM: there is nothing to simulate."""


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scenario described by the parsed (and checked) command line; returns the result dict."""
    trace, ticks = build_workload(args)
    offered = scenario.offer(trace.vms, args.seed, args.domains, args.critical, args.critical_reservation,
                             args.min_guarantee)
    frames = args.memory
    one_vm_frames = math.ceil(args.min_guarantee * args.pages)
    if one_vm_frames > (1 - args.memory_reserve) * frames:
        raise ValueError(
            f"--memory {frames} frames cannot hold one VM's reservation of {one_vm_frames} frames and keep "
            f"{args.memory_reserve:.0%} unreserved (at least {math.ceil(one_vm_frames / (1 - args.memory_reserve))})"
        )
    if 0 < args.nic < 1:
        raise ValueError(f"--nic {args.nic:g}: a NIC needs at least 1 bps (0: no network model)")
    host_class = _engines(args.engines)
    show = args.progress

    hosts: dict[str, Host] = {}
    refused_by_rule: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    admitted: list[int] = []
    bar = progress(len(POLICIES) * trace.vms, "admitting VMs", "VMs") if show else None
    for policy in POLICIES:
        first = policy == POLICIES[0]
        with_nic = first and simulate_net.enabled(args)  # the NIC, like memory, does not depend on the CPU policy
        host = host_class(
            args.pcpus, frames, max_vcpu_ratio=args.max_vcpu_ratio, memory_reserve=args.memory_reserve,
            min_guarantee=args.min_guarantee, fidelity=args.fidelity, reallocation=policy,
            realloc_estimator=args.estimator, memory_policy=getattr(args, "memory_policy", "lruk"),
            **(simulate_net.host_options(args) if with_nic else {}),
        )
        for i in range(trace.vms):
            try:
                net = simulate_net.vm_options(bool(offered.critical[i]), int(offered.shares[i])) if with_nic else {}
                host.add_vm(int(offered.vcpus[i]), args.pages, shares=int(offered.shares[i]),
                            reservation=float(offered.reservations[i]), domain=int(offered.domains[i]), **net)
                if first:
                    admitted.append(i)
            except AdmissionError as refusal:
                if first:
                    rule = str(refusal).split(":")[0]
                    refused_by_rule[rule] = refused_by_rule.get(rule, 0) + 1
                    if len(examples) < 20:
                        examples.append({"vm": trace.names[i], "vcpus": int(offered.vcpus[i]), "reason": str(refusal)})
            if bar is not None:
                bar.update(1)
        hosts[policy] = host
    if bar is not None:
        bar.close()
    advice = scenario.what_admits_all(offered, args.pages, args.pcpus, frames, args.max_vcpu_ratio,
                                      args.memory_reserve, args.min_guarantee) if refused_by_rule else {}
    if not admitted:
        rules = ", ".join(f"{rule} ({count})" for rule, count in refused_by_rule.items())
        hint = "; ".join(advice.values())
        raise NothingAdmitted(f"no VM admitted, refused by {rules}{': ' + hint if hint else ''}")

    cols = np.array(admitted)
    vcpus = offered.vcpus[cols]
    critical = offered.critical[cols]
    reservations = offered.reservations[cols]
    demand = trace.cpu[:, cols] * vcpus[None, :]
    net_demand = (simulate_net.demand(args, demand, critical, workloads.TICK_SECONDS)
                  if simulate_net.enabled(args) else None)
    runs: dict[str, HostRun] = {}
    seconds: dict[str, float] = {}
    for policy in POLICIES:
        memory = None
        if policy == "lend":  # memory does not depend on the CPU policy: simulate it once
            load = workloads.MemoryWorkload(len(admitted), args.pages, seed=args.seed, accesses=args.accesses)
            activity = trace.memory[:, cols] if trace.memory is not None else None

            def memory(t: int, load=load, activity=activity):
                batches = load.tick(t, None if activity is None else activity[t])
                return load.boot() + batches if t == 0 else batches

        started = time.perf_counter()
        bar = progress(ticks, f"day, {POLICY_LABELS[policy]}") if show else False
        try:
            net = net_demand if policy == POLICIES[0] else None
            runs[policy] = hosts[policy].run(demand, memory, progress=bar, net=net)
        finally:
            if bar:
                bar.close()
        seconds[policy] = time.perf_counter() - started

    lend = runs["lend"]
    result = {
        "schema_version": SCHEMA_VERSION,
        "vsched_version": __version__,
        "units": UNITS,
        "scenario": {
            "source": trace.source,
            "vms_offered": trace.vms,
            "critical_offered": int(offered.critical.sum()),
            "vcpus_offered": int(offered.vcpus.sum()),
            "pcpus": args.pcpus,
            "frames": frames,
            "pages_per_vm": args.pages,
            "ticks": ticks,
            "tick_seconds": workloads.TICK_SECONDS,
            "max_vcpu_ratio": args.max_vcpu_ratio,
            "memory_reserve": args.memory_reserve,
            "min_guarantee": args.min_guarantee,
            "critical_reservation": args.critical_reservation,
            "fidelity": args.fidelity,
            "memory_policy": getattr(args, "memory_policy", "lruk"),
            "engines": args.engines,
            "seed": args.seed,
            "notes": trace.notes,
        },
        "admission": {
            "admitted": len(admitted),
            "refused": trace.vms - len(admitted),
            "refused_by_rule": refused_by_rule,
            "to_admit_all": advice,
            "pcpus_to_admit_all": scenario.pcpus_to_admit_all(offered, args.max_vcpu_ratio),
            "vcpus_admitted": int(vcpus.sum()),
            "reserved_cores": float(reservations.sum()),
            "critical_admitted": int(critical.sum()),
            "refusal_examples": examples,
        },
        "cpu": {policy: _cpu_summary(run, critical, reservations, policy) for policy, run in runs.items()},
        "memory": _memory_summary(lend, frames),
        "checks": _per_vm_checks(lend, vcpus, reservations, frames),
        "seconds": seconds,
    }
    if net_demand is not None:
        result["network"] = simulate_net.summary(args, lend, critical, workloads.TICK_SECONDS)
    if args.plot:
        _plot(lend, runs["static"], args.plot)
    return result


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when there is nothing to divide (0 of 0 is none)."""
    return float(numerator / denominator) if denominator > 0 else 0.0


def _class_summary(run: HostRun, columns: np.ndarray, reservations: np.ndarray) -> dict[str, Any]:
    m = run.metrics
    if columns.size == 0 or m["cpu_used"].shape[0] == 0:
        return {"vms": int(columns.size), "unmet_demand": 0.0, "ready_mean": 0.0, "ready_p99": 0.0,
                "limited_mean": 0.0, "reservation_met": 1.0}
    demand, used = m["cpu_demand"][:, columns], m["cpu_used"][:, columns]
    ready = m["ready_pct"][:, columns] / 100.0
    owed = np.minimum(demand, reservations[columns][None, :])
    return {
        "vms": int(columns.size),
        "unmet_demand": _ratio(float(np.maximum(demand - used, 0).sum()), float(demand.sum())),
        "ready_mean": float(ready.mean()),
        "ready_p99": float(np.percentile(ready, 99)),
        "limited_mean": float((m["limited_pct"][:, columns] / 100.0).mean()),
        "reservation_met": float(np.mean(used >= owed - 1e-9)),
    }


def _cpu_summary(run: HostRun, critical: np.ndarray, reservations: np.ndarray, policy: str) -> dict[str, Any]:
    everyone = np.arange(critical.size)
    load = run.totals["load"]
    summary: dict[str, Any] = {
        "all": _class_summary(run, everyone, reservations),
        "critical": _class_summary(run, everyone[critical], reservations),
        "best_effort": _class_summary(run, everyone[~critical], reservations),
        "mean_load": float(load.mean()) if load.size else 0.0,
        "peak_load": float(load.max()) if load.size else 0.0,
    }
    if policy == "lend":  # only the lending policy lends; the others never use the reallocator's caps
        summary["lending_ticks"] = int(run.totals["lending"].sum())
    return summary


def _memory_summary(run: HostRun, frames: int) -> dict[str, Any]:
    s = run.summary()
    used = run.totals["frames_used"]
    return {
        "saving_mean": s["memory_saving_mean"],
        "saving_final": float(run.totals["saving"][-1]) if run.totals["saving"].size else 0.0,
        "frames_used_max": s["frames_used_max"],
        "pressure_ticks": int((used >= frames).sum()),
        "major_faults": s["major_faults"],
        "cow_breaks": s["cow_breaks"],
        "swapped_final": int(run.metrics["mem_swapped"][-1].sum()) if run.metrics["mem_swapped"].size else 0,
    }


def _per_vm_checks(run: HostRun, vcpus: np.ndarray, reservations: np.ndarray, frames: int) -> dict[str, Any]:
    """The invariants a reader can verify from the JSON (and the tests do)."""
    m = run.metrics
    if m["cpu_used"].size == 0:
        return {"max_over_cap": 0.0, "max_over_vcpus": 0.0, "max_reservation_shortfall": 0.0,
                "max_used_cores": 0.0, "frames_used_max": 0, "frames": frames}
    wanted_reserved = np.minimum(m["cpu_demand"], reservations[None, :])
    return {
        "max_over_cap": float((m["cpu_used"] - m["entitlement"]).max()),
        "max_over_vcpus": float((m["cpu_used"] - vcpus[None, :]).max()),
        "max_reservation_shortfall": float((wanted_reserved - m["cpu_used"]).max()),
        "max_used_cores": float(m["cpu_used"].sum(axis=1).max()),
        "frames_used_max": int(run.totals["frames_used"].max()),
        "frames": frames,
    }


def _plot(lend: HostRun, static: HostRun, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
