"""A digest of fleet runs, to show that a change to the coordinator leaves every result bit for bit.

    python benchmarks/scripts/fleet_digest.py [SCENARIO ...]

Runs a set of serial fleets (each placement policy, DRS with scheduled and random failures and
restarts, consolidation, refusals on a full fleet, no balancing and no memory, a larger day) and
some of them on 2-4 shards in this process (the sharded pool's code path: ledgers, queues, moves
between shards), then prints one SHA-256 per run over every host and fleet series, every VM
total and every event (floats by their exact hexadecimal value). Run it on two versions of the
sources and compare the lines.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from typing import Any, Callable

import numpy as np

from vsched.fleet import (BalancePolicy, ConsolidationPolicy, FailureModel, Fleet, HostSpec, MigrationModel,
                          synthetic_fleet)
from vsched.fleet.backends import ShardedPool, shard_args, shard_bounds, shard_hosts
from vsched.fleet.shard import HostShard


class InlineShards:
    """The shards in this process, every call's arguments and results pickled as a worker's would be."""

    backend = "inline"

    def __init__(self, fleet: Fleet, shards: int) -> None:
        self.groups = shard_hosts(len(fleet.specs), shards)
        self.bounds = shard_bounds(self.groups)
        self.shards = [HostShard(first, mine, fleet.tick_seconds, fleet.engines, fleet.vm_series, ids)
                       for first, mine, ids in shard_args(fleet.specs, self.groups)]

    def call_some(self, shards: Any, method: str, calls: Any, *, tick: int) -> list[Any]:
        out = []
        for s, args in zip(shards, calls):
            reply = getattr(self.shards[s], method)(*pickle.loads(pickle.dumps(args, protocol=5)))
            status, value = pickle.loads(pickle.dumps(reply, protocol=5))
            if status == "error":
                raise value
            out.append(value)
        return out

    def call_all(self, method: str, calls: Any, *, tick: int) -> list[Any]:
        return self.call_some(range(len(self.shards)), method, calls, tick=tick)

    def close(self) -> None:
        pass


def _value(x: Any) -> Any:
    if isinstance(x, float):
        return x.hex()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return _value(x.item())
    if isinstance(x, dict):
        return sorted((k, _value(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return [_value(v) for v in x]
    return x


def digest(run: Any) -> str:
    h = hashlib.sha256()
    for group in (run.hosts, run.fleet, run.vms):
        for name in sorted(group):
            array = np.ascontiguousarray(group[name])
            h.update(name.encode())
            h.update(str(array.dtype).encode())
            h.update(str(array.shape).encode())
            h.update(array.tobytes())
    for event in run.events:
        h.update(repr(_value(event)).encode())
    return h.hexdigest()[:16]


HOST = HostSpec(pcpus=16, memory_frames=20_000, max_vcpu_ratio=6)
SCENARIOS: dict[str, tuple[Callable[[], Fleet], Callable[[], Any]]] = {
    "drs-scheduled-failures": (
        lambda: Fleet(40, host=HOST, migration=MigrationModel(page_bytes=1 << 20), seed=3, check=True,
                      failures=FailureModel(schedule=((10, 0), (20, 39), (21, 5)), repair_ticks=6)),
        lambda: synthetic_fleet(3000, 48, seed=1)),
    "drs-random-failures-restarts": (
        lambda: Fleet(30, host=HOST, migration=MigrationModel(page_bytes=1 << 20), seed=7, check=True,
                      failures=FailureModel(mtbf_hours=20.0, repair_ticks=4, restart_delay_ticks=2),
                      drs=BalancePolicy(threshold=5)),
        lambda: synthetic_fleet(2400, 48, seed=2)),
    "full-fleet-refusals": (
        lambda: Fleet(12, host=HostSpec(pcpus=8, memory_frames=6000, max_vcpu_ratio=3), seed=1, check=True,
                      migration=MigrationModel(page_bytes=1 << 20),
                      failures=FailureModel(schedule=((8, 2), (16, 3)), repair_ticks=5, restart_delay_ticks=1)),
        lambda: synthetic_fleet(900, 32, seed=3, pages=64)),
    "first-fit": (
        lambda: Fleet(25, host=HOST, placement="first-fit", seed=2, check=True),
        lambda: synthetic_fleet(2000, 32, seed=4)),
    "worst-fit": (
        lambda: Fleet(25, host=HOST, placement="worst-fit", seed=2, check=True,
                      failures=FailureModel(schedule=((12, 4),), repair_ticks=3)),
        lambda: synthetic_fleet(2000, 32, seed=5)),
    "filter-weigher": (
        lambda: Fleet(25, host=HOST, placement="filter-weigher", seed=2, check=True),
        lambda: synthetic_fleet(2000, 32, seed=6)),
    "consolidation": (
        lambda: Fleet(20, host=HOST, seed=4, check=True, balance=None,
                      consolidation=ConsolidationPolicy(interval=4)),
        lambda: synthetic_fleet(1200, 48, seed=7)),
    "no-balancing-no-memory": (
        lambda: Fleet(20, host=HOST, seed=5, check=True, balance=None, memory=None),
        lambda: synthetic_fleet(1500, 32, seed=8)),
    "day-20000-vms-200-hosts": (
        lambda: Fleet(200, host=HostSpec(pcpus=24, memory_frames=40_000, max_vcpu_ratio=8),
                      migration=MigrationModel(page_bytes=1 << 20), seed=1, check=False,
                      failures=FailureModel(schedule=((24, 0), (48, 199)), repair_ticks=12)),
        lambda: synthetic_fleet(20_000, 72, seed=1)),
}
SHARDED = {"drs-scheduled-failures": (2, 3), "full-fleet-refusals": (2, 4), "consolidation": (3,),
           "drs-random-failures-restarts": (2,)}


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        make, work = SCENARIOS[name]
        print(f"{name:34s} serial    {digest(make().run(work()))}", flush=True)
        for shards in SHARDED.get(name, ()):
            fleet = make()
            fleet.pool = ShardedPool(fleet.specs, fleet.tick_seconds, InlineShards(fleet, shards))
            fleet.hosts = fleet.pool.hosts
            print(f"{name:34s} {shards} shards  {digest(fleet.run(work()))}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
