"""CPU time per VM of the host-scale benchmarks, steadier than wall time on a shared machine.

Runs the calls of ``benchmarks/bench_host_scale.py`` (admission of N VMs, one fluid or sliced
tick after a warm-up tick) under ``time.process_time()``. A shared machine's load moves by
several times within a minute, so the sizes are measured *interleaved*: every host is built
first, then each round times one tick of every size (the order rotates from round to round),
each timed tick right after an untimed one of the same host (its caches warm, as in a run of
many ticks). Reported: the minimum and the median over the rounds, per VM, and the ratio of
the largest size's per-VM cost to the smallest's:

    python benchmarks/host_scale_cpu.py admit fluid --rounds 5
    python benchmarks/host_scale_cpu.py sliced --sizes 1000 3000 10000 --rounds 15
    python benchmarks/host_scale_cpu.py sliced --phases --rounds 9

``--phases`` also splits each timed tick into its calls (the scheduler's ``set_limits``,
``add_work``, ``run``, ``stats`` and ``clear_all_work``, the memory manager's ``access`` and
``stats``, the reallocator's ``observe``, the host's checks) and the Python glue around them
(the tick minus those calls), per VM, median over the rounds; and the scheduler's decisions
per VM and CPU time per decision of ``run``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_host_scale import _admit_all, _host  # noqa: E402

# The calls a tick makes, timed one by one under --phases: (owner, method, label).
_PHASES: list[tuple[str, str, str]] = [
    ("vsched.host:Host", "_validated_demand", "host checks"),
    ("vsched.host:Host", "_validated_memory", "host checks"),
    ("vsched.scheduler:CpuScheduler", "set_limits", "sched set_limits"),
    ("vsched.scheduler:CpuScheduler", "add_work", "sched add_work"),
    ("vsched.scheduler:CpuScheduler", "run", "sched run"),
    ("vsched.scheduler:CpuScheduler", "stats", "sched stats (2x)"),
    ("vsched.scheduler:CpuScheduler", "clear_all_work", "sched clear_all_work"),
    ("vsched.reallocation:Reallocator", "observe", "reallocator observe"),
    ("vsched.memory:MemoryManager", "access", "memory access"),
    ("vsched.memory:MemoryManager", "stats", "memory stats"),
]

_SPENT: dict[str, float] = collections.defaultdict(float)


def _owner(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


def _time_phases() -> None:
    """Wrap each call of _PHASES with a CPU timer adding to _SPENT (nested calls are not double-counted)."""
    depth = [0]
    for spec, method_name, label in _PHASES:
        owner = _owner(spec)
        method = getattr(owner, method_name)

        def timed(*args: Any, _method: Callable[..., Any] = method, _label: str = label, **kwargs: Any) -> Any:
            if depth[0]:
                return _method(*args, **kwargs)
            depth[0] += 1
            started = time.process_time()
            try:
                return _method(*args, **kwargs)
            finally:
                _SPENT[_label] += time.process_time() - started
                depth[0] -= 1

        setattr(owner, method_name, functools.wraps(method)(timed))


def admission(vms: int) -> float:
    host = _host("native", vms, "fluid")
    started = time.process_time()
    _admit_all(host, vms)
    return time.process_time() - started


class TickHost:
    """A host of the benchmark, admitted and past its first tick, that times one tick at a time."""

    def __init__(self, vms: int, fidelity: str) -> None:
        self.vms = vms
        self.host = _host("native", vms, fidelity)
        _admit_all(self.host, vms)
        rng = np.random.default_rng(1)  # the demand and accesses of HostTick.setup
        self.demand = rng.random(vms) * (1 + np.arange(vms) % 3) * 0.4
        self.memory = [{"vm": np.repeat(np.arange(vms), 4), "gpn": rng.integers(0, 64, 4 * vms)}]
        self.host.step(self.demand, self.memory)

    def tick(self) -> tuple[float, dict[str, float], int]:
        """(CPU seconds, CPU seconds per phase, scheduler decisions) of one tick after an untimed one."""
        self.host.step(self.demand, self.memory)  # warm: this host's state back in the caches
        scheduler = self.host.scheduler
        decisions = scheduler.decisions if scheduler is not None else 0
        _SPENT.clear()
        started = time.process_time()
        self.host.step(self.demand, self.memory)
        spent = time.process_time() - started
        decisions = (scheduler.decisions - decisions) if scheduler is not None else 0
        return spent, dict(_SPENT), decisions


def _ratio(per_vm: dict[int, list[float]], pick: Callable[[list[float]], float]) -> float:
    sizes = sorted(per_vm)
    return pick(per_vm[sizes[-1]]) / pick(per_vm[sizes[0]])


def _report(what: str, seconds: dict[int, list[float]]) -> None:
    per_vm = {vms: [s / vms * 1e6 for s in values] for vms, values in seconds.items()}
    for vms in sorted(per_vm):
        values = per_vm[vms]
        print(f"{what:6s} {vms:6d} VMs: min {min(values):8.2f} / median {statistics.median(values):8.2f} "
              f"us/VM CPU over {len(values)} rounds", flush=True)
    if len(per_vm) > 1:
        print(f"{what:6s} per VM, largest / smallest size: min {_ratio(per_vm, min):.2f}x, "
              f"median {_ratio(per_vm, statistics.median):.2f}x", flush=True)


def _report_phases(phases: dict[int, list[dict[str, float]]], decisions: dict[int, list[int]],
                   totals: dict[int, list[float]]) -> None:
    sizes = sorted(phases)
    labels = list(dict.fromkeys(label for _, _, label in _PHASES)) + ["Python glue (rest of the tick)"]
    print("\nmedian CPU per VM by phase (us/VM):")
    print(f"{'phase':32s}" + "".join(f"{vms:>10d}" for vms in sizes) + f"{'ratio':>8s}")
    for label in labels:
        row = []
        for vms in sizes:
            if label.startswith("Python glue"):
                values = [total - sum(spent.values()) for total, spent in zip(totals[vms], phases[vms])]
            else:
                values = [spent.get(label, 0.0) for spent in phases[vms]]
            row.append(statistics.median(values) / vms * 1e6)
        ratio = f"{row[-1] / row[0]:7.2f}x" if row[0] > 0 else ""
        print(f"{label:32s}" + "".join(f"{value:10.3f}" for value in row) + ratio)
    print(f"{'decisions per VM':32s}" + "".join(f"{statistics.median(decisions[vms]) / vms:10.2f}" for vms in sizes))
    per_decision = [statistics.median([spent.get("sched run", 0.0) / max(d, 1) for spent, d in
                                       zip(phases[vms], decisions[vms])]) * 1e9 for vms in sizes]
    print(f"{'sched run, ns per decision':32s}" + "".join(f"{value:10.1f}" for value in per_decision)
          + f"{per_decision[-1] / per_decision[0]:7.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=["admit", "fluid", "sliced"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 3_000, 10_000])
    # (--repeat: the name of this option in earlier versions, kept for the commands in docs/performance.md)
    parser.add_argument("--rounds", "--repeat", type=int, default=9, help="timed ticks (or admissions) per size, interleaved")
    parser.add_argument("--phases", action="store_true", help="split each tick into its calls (see above)")
    args = parser.parse_args()
    if args.phases:
        _time_phases()
    for what in args.what:
        seconds: dict[int, list[float]] = {vms: [] for vms in args.sizes}
        phases: dict[int, list[dict[str, float]]] = {vms: [] for vms in args.sizes}
        decisions: dict[int, list[int]] = {vms: [] for vms in args.sizes}
        hosts = {} if what == "admit" else {vms: TickHost(vms, what) for vms in args.sizes}
        for number in range(args.rounds):
            shift = number % len(args.sizes)  # rotate the order: no size always runs first
            for vms in args.sizes[shift:] + args.sizes[:shift]:
                if what == "admit":
                    seconds[vms].append(admission(vms))
                    continue
                spent, by_phase, made = hosts[vms].tick()
                seconds[vms].append(spent)
                phases[vms].append(by_phase)
                decisions[vms].append(made)
        _report(what, seconds)
        if args.phases and what != "admit":
            _report_phases(phases, decisions, seconds)
        hosts.clear()


if __name__ == "__main__":
    main()
