"""CPU time per VM of the host-scale benchmarks, steadier than wall time on a shared machine.

Runs the calls of ``benchmarks/bench_host_scale.py`` (admission of N VMs, one fluid or sliced
tick after a warm-up tick) and prints the minimum ``time.process_time()`` over repeats:

    python benchmarks/host_scale_cpu.py admit fluid --repeat 5
    python benchmarks/host_scale_cpu.py sliced --sizes 1000 3000 --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_host_scale import _admit_all, _host  # noqa: E402


def admission(vms: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        host = _host("native", vms, "fluid")
        started = time.process_time()
        _admit_all(host, vms)
        best = min(best, time.process_time() - started)
    return best


def tick(vms: int, fidelity: str, repeat: int) -> float:
    host = _host("native", vms, fidelity)
    _admit_all(host, vms)
    rng = np.random.default_rng(1)  # the demand and accesses of HostTick.setup
    demand = rng.random(vms) * (1 + np.arange(vms) % 3) * 0.4
    memory = [{"vm": np.repeat(np.arange(vms), 4), "gpn": rng.integers(0, 64, 4 * vms)}]
    host.step(demand, memory)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        host.step(demand, memory)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=["admit", "fluid", "sliced"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 3_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for what in args.what:
        for vms in args.sizes:
            seconds = admission(vms, args.repeat) if what == "admit" else tick(vms, what, args.repeat)
            print(f"{what:6s} {vms:6d} VMs: {seconds * 1e3:10.2f} ms CPU = {seconds / vms * 1e6:8.2f} us/VM", flush=True)


if __name__ == "__main__":
    main()
