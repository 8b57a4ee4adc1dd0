"""CPU time (``time.process_time``) of the asv ``Packets`` benchmark, native and reference.

On a loaded machine wall time says more about the other processes than about
the engine; docs/performance.md gives these figures beside asv's wall times.
The ratios (at 100,000 packets, or at the sizes given) come from runs of the
two twins taken in turns (native, reference, native, ...), so that both see
the same load.
Run: ``python benchmarks/packets_cpu_time.py [packets ...]``, e.g. ``20000 100000 300000``.
"""

from __future__ import annotations

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from benchmarks.bench_net import Packets  # noqa: E402 - after the path it lives on


def cpu_seconds(bench: Packets, impl: str, packets: int) -> float:
    started = time.process_time()
    bench.time_simulate_packets(impl, packets)
    return time.process_time() - started


def best_cpu_seconds(impl: str, packets: int, repeats: int) -> float:
    bench = Packets()
    bench.setup(impl, packets)
    return min(cpu_seconds(bench, impl, packets) for _ in range(repeats))


def side_by_side(packets: int, rounds: int, native_per_round: int) -> tuple[float, float]:
    """Best native and best reference CPU seconds, the runs taken in turns."""
    benches = {impl: Packets() for impl in ("native", "reference")}
    for impl, bench in benches.items():
        bench.setup(impl, packets)
    best = {"native": float("inf"), "reference": float("inf")}
    for _ in range(rounds):
        for _ in range(native_per_round):
            best["native"] = min(best["native"], cpu_seconds(benches["native"], "native", packets))
        best["reference"] = min(best["reference"], cpu_seconds(benches["reference"], "reference", packets))
    return best["native"], best["reference"]


if __name__ == "__main__":
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000]
    seconds = best_cpu_seconds("native", 2_000_000, 5)
    print(f"native    2000000 packets: {seconds * 1e3:.1f} ms CPU, {2_000_000 / seconds / 1e6:.2f} M packets/s")
    for packets in sizes:
        native, reference = side_by_side(packets, rounds=5, native_per_round=10)
        for impl, seconds in (("native", native), ("reference", reference)):
            print(f"{impl:<9} {packets:>7} packets: {seconds * 1e3:.1f} ms CPU, {packets / seconds / 1e6:.2f} M packets/s")
        print(f"ratio at {packets} packets (CPU time, taken in turns): {reference / native:.0f}x")
