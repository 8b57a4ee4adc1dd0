"""One fleet day at any size, timed in wall and CPU time (the asv `FleetDay` configuration).

    python benchmarks/fleet_day.py VMS HOSTS [--ticks 288] [--engines native] [--consolidate]

Prints the time every 12 ticks, then wall and CPU seconds, running VM-ticks, CPU per VM-tick and
peak memory. For the sizes too long for an asv run (100,000 VMs on 1,000 hosts).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_fleet import fleet_day  # noqa: E402

from vsched.fleet import ConsolidationPolicy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vms", type=int)
    parser.add_argument("hosts", type=int)
    parser.add_argument("--ticks", type=int, default=288)
    parser.add_argument("--engines", default="native", choices=("native", "reference"))
    parser.add_argument("--consolidate", action="store_true", help="with the consolidation pass (its defaults)")
    args = parser.parse_args()
    started = time.perf_counter()
    fleet, work = fleet_day(args.vms, args.hosts, args.engines, args.ticks,
                            ConsolidationPolicy() if args.consolidate else None)
    fleet.attach(work)
    print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    while fleet.tick < args.ticks:
        fleet.step()
        if fleet.tick % 12 == 0:
            print(f"tick {fleet.tick}: {time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
                  f"{fleet.series['running'][-1]} VMs running", flush=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    run = fleet.result()
    vm_ticks = int(run.fleet["running"].sum() + run.fleet["migrating"].sum())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print(f"{args.vms} VMs x {args.hosts} hosts x {args.ticks} ticks: {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"{vm_ticks} running VM-ticks, {1e6 * cpu / max(vm_ticks, 1):.1f} us CPU per VM-tick, peak {peak:.2f} GB")
    print(run.summary())


if __name__ == "__main__":
    main()
