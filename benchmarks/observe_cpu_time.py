"""CPU time of one reallocator tick, `max` and `percentile` side by side, steadier than wall time on a shared machine.

Drives the asv class ``Observe`` of ``benchmarks/bench_realloc.py`` (its setup, then
``time_observe_tick`` = ``observe(usage)`` + ``entitlements()``) and prints, per estimator, the
minimum and median over repeats of ``time.process_time()`` per tick. Each repeat runs a whole
number of windows of ticks, so the once-per-window work (sums, block maxima) is averaged in.
The estimators alternate repeat by repeat, so both see the same load:

    python benchmarks/observe_cpu_time.py --vms 10000 --window 288 --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_realloc import Observe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=288)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--windows", type=int, default=2, help="windows of ticks per repeat")
    parser.add_argument("--estimators", nargs="+", default=["max", "percentile"])
    args = parser.parse_args()
    benches = {}
    for estimator in args.estimators:
        bench = Observe()
        bench.setup("native", args.vms, args.window, estimator)
        benches[estimator] = bench
    ticks = args.windows * args.window
    times: dict[str, list[float]] = {e: [] for e in args.estimators}
    for _ in range(args.repeat):
        for estimator, bench in benches.items():
            started = time.process_time()
            for _ in range(ticks):
                bench.time_observe_tick("native", args.vms, args.window, estimator)
            times[estimator].append((time.process_time() - started) / ticks)
    print(f"one tick (observe + entitlements), {args.vms} VMs, window {args.window}, {ticks} ticks x {args.repeat}")
    for estimator, values in times.items():
        print(f"  {estimator:<11} min {min(values) * 1e3:.3f} ms  median {statistics.median(values) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
