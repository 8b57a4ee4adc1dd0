"""The fleet coordinator's share of a tick, in CPU time, section by section (no profiler).

    python benchmarks/scripts/fleet_coordinator_profile.py VMS HOSTS [WARM_TICKS] [TIMED_TICKS]

The scenario is fleet_backends_day.py's (FleetDay: churn, two host failures, DRS every tick,
guest memory, no accounting check). The hosts run in one shard called in this process (the
sharded pool's code path: ledgers, queues, packed inputs), so that the shard's CPU time and the
pickling of its calls can be told apart from the coordinator's. CPU time (time.process_time)
rather than wall time: on a shared machine a tick's wall time mostly measures the other jobs.
Prints tick 0 (the initial placements), then per timed tick: the coordinator's CPU time (the
process's, less the shard's and the pickling), the shard's, and the coordinator's sections (each
less the shard calls made inside it; nested sections are also counted in the enclosing one).
"""

from __future__ import annotations

import collections
import os
import pickle
import statistics
import sys
import time
from typing import Any

from vsched.fleet import FailureModel, Fleet, HostSpec, MigrationModel, synthetic_fleet
from vsched.fleet import fleet as fleet_module
from vsched.fleet.backends import ShardedPool, shard_args, shard_bounds, shard_hosts
from vsched.fleet.shard import HostShard

SECTIONS = ("_depart_all", "_depart", "_admit_new", "_restart_due", "_balance", "_candidates", "_consolidate",
            "_inputs", "_collect", "_finish_migration")
cpu: dict[str, float] = collections.defaultdict(float)
timing = [False]


class LocalShards:
    """The shards in this process; each call's arguments pickled (as an engine would) and timed."""

    backend = "local"

    def __init__(self, fleet: Fleet, shards: int) -> None:
        self.groups = shard_hosts(len(fleet.specs), shards)
        self.bounds = shard_bounds(self.groups)
        self.shards = [HostShard(first, mine, fleet.tick_seconds, fleet.engines, False, ids)
                       for first, mine, ids in shard_args(fleet.specs, self.groups)]

    def call_some(self, shards: Any, method: str, calls: Any, *, tick: int) -> list[Any]:
        started = time.process_time()
        for args in calls:
            pickle.dumps(args, protocol=5)
        cpu["(pickling the calls)"] += time.process_time() - started
        out = []
        for s, args in zip(shards, calls):
            started = time.process_time()
            status, value = getattr(self.shards[s], method)(*args)
            cpu["(shard)"] += time.process_time() - started
            if status == "error":
                raise value
            out.append(value)
        return out

    def call_all(self, method: str, calls: Any, *, tick: int) -> list[Any]:
        return self.call_some(range(len(self.shards)), method, calls, tick=tick)

    def close(self) -> None:
        pass


def timed(name: str, function: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not timing[0]:
            return function(*args, **kwargs)
        started, outside = time.process_time(), cpu["(shard)"] + cpu["(pickling the calls)"]
        try:
            return function(*args, **kwargs)
        finally:  # the coordinator's own time: the shard calls made inside are counted apart
            cpu[name] += time.process_time() - started - (cpu["(shard)"] + cpu["(pickling the calls)"] - outside)
    return wrapper


def main(vms: int, hosts: int, warm: int, ticks: int) -> None:
    for name in SECTIONS:
        if hasattr(fleet_module.Fleet, name):
            setattr(fleet_module.Fleet, name, timed(name, getattr(fleet_module.Fleet, name)))
    fleet_module.drs_pass = timed("drs_pass (in _balance)", fleet_module.drs_pass)  # type: ignore[attr-defined]
    ShardedPool.settle = timed("settle (ship moved VMs)", ShardedPool.settle)  # type: ignore[method-assign]
    work = synthetic_fleet(vms, 288, seed=1)
    fleet = Fleet(hosts, host=HostSpec(pcpus=24, memory_frames=40_000, max_vcpu_ratio=8),
                  migration=MigrationModel(page_bytes=1 << 20), seed=1, check=False,
                  failures=FailureModel(schedule=((96, 0), (192, hosts - 1)), repair_ticks=24))
    fleet.pool = ShardedPool(fleet.specs, fleet.tick_seconds, LocalShards(fleet, 1))
    fleet.hosts = fleet.pool.hosts
    fleet.attach(work)
    started = time.process_time()
    fleet.step()
    shard0 = cpu["(shard)"] + cpu["(pickling the calls)"]
    print(f"tick 0: coordinator {time.process_time() - started - shard0:.2f} s CPU "
          f"({fleet.timings['coordinator'][0]:.2f} s wall), shard {cpu['(shard)']:.2f} s CPU")
    for _ in range(warm - 1):
        fleet.step()
    cpu.clear()
    timing[0] = True
    started = time.process_time()
    per_tick = []  # the coordinator's CPU time of each tick (its median is less moved by a busy machine)
    for _ in range(ticks):
        began, before = time.process_time(), cpu["(shard)"] + cpu["(pickling the calls)"]
        fleet.step()
        per_tick.append(time.process_time() - began - (cpu["(shard)"] + cpu["(pickling the calls)"] - before))
    total = time.process_time() - started
    outside = cpu["(shard)"] + cpu["(pickling the calls)"]
    print(f"ticks {warm}..{warm + ticks - 1}, per tick: coordinator {1e3 * (total - outside) / ticks:.1f} ms CPU "
          f"(median {1e3 * statistics.median(per_tick):.1f}), "
          f"shard {1e3 * cpu['(shard)'] / ticks:.1f} ms CPU, pickling {1e3 * cpu['(pickling the calls)'] / ticks:.1f} ms CPU")
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        if not name.startswith("("):
            print(f"  {name:28s} {1e3 * seconds / ticks:7.2f} ms")
    print("load average", os.getloadavg())


if __name__ == "__main__":
    args = [int(x) for x in sys.argv[1:]]
    main(args[0], args[1], args[2] if len(args) > 2 else 3, args[3] if len(args) > 3 else 12)
