"""Where a ``vsched simulate`` run spends its time: wall and CPU time of the calls that matter.

Wraps the memory manager's ``access`` / ``add_vm``, the memory workload's ``boot`` / ``tick``
and the host's ``add_vm`` / ``run`` with timers, runs the command line given, and prints the
totals (the result itself is discarded):

    python benchmarks/simulate_breakdown.py --vms 10000 --pcpus 2560 --memory 1811765
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import json
import sys
import time
from typing import Any

import vsched.host
import vsched.memory
import vsched.workloads
from vsched import cli

_TOTALS: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])


def _timed(owner: Any, name: str, label: str) -> None:
    method = getattr(owner, name)

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            row = _TOTALS[label]
            row[0] += time.perf_counter() - wall
            row[1] += time.process_time() - cpu
            row[2] += 1

    setattr(owner, name, timed)


def main(argv: list[str]) -> None:
    _timed(vsched.memory.MemoryManager, "access", "MemoryManager.access")
    _timed(vsched.memory.MemoryManager, "add_vm", "MemoryManager.add_vm")
    _timed(vsched.workloads.MemoryWorkload, "boot", "MemoryWorkload.boot")
    _timed(vsched.workloads.MemoryWorkload, "tick", "MemoryWorkload.tick")
    _timed(vsched.host.Host, "add_vm", "Host.add_vm")
    _timed(vsched.host.Host, "run", "Host.run")
    wall, cpu = time.perf_counter(), time.process_time()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["simulate", *argv, "--json", "--no-progress"])
    print(f"{'whole command':24s} wall {time.perf_counter() - wall:7.1f} s  CPU {time.process_time() - cpu:7.1f} s")
    for label, (spent_wall, spent_cpu, calls) in _TOTALS.items():
        print(f"{label:24s} wall {spent_wall:7.1f} s  CPU {spent_cpu:7.1f} s  ({calls} calls)")
    result = json.loads(out.getvalue())
    print("admitted", result["admission"]["admitted"], "of", result["scenario"]["vms_offered"],
          "| runs (s):", {policy: round(seconds, 1) for policy, seconds in result["seconds"].items()})


if __name__ == "__main__":
    main(sys.argv[1:])
