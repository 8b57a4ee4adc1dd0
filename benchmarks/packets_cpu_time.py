"""CPU time (``time.process_time``) of the asv ``Packets`` benchmark, native and reference.

On a loaded machine wall time says more about the other processes than about
the engine; docs/performance.md gives these figures beside asv's wall times.
Run: ``python benchmarks/packets_cpu_time.py``.
"""

from __future__ import annotations

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from benchmarks.bench_net import Packets  # noqa: E402 - after the path it lives on


def best_cpu_seconds(impl: str, packets: int, repeats: int) -> float:
    bench = Packets()
    bench.setup(impl, packets)
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        bench.time_simulate_packets(impl, packets)
        best = min(best, time.process_time() - started)
    return best


if __name__ == "__main__":
    for impl, packets, repeats in (("native", 2_000_000, 5), ("native", 100_000, 20), ("reference", 100_000, 2)):
        seconds = best_cpu_seconds(impl, packets, repeats)
        print(f"{impl:<9} {packets:>9} packets: {seconds * 1e3:.1f} ms CPU, {packets / seconds / 1e6:.2f} M packets/s")
