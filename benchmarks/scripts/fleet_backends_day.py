"""A fleet day on several backends, one JSON line each: wall time, the coordinator's and the
hosts' share per tick, and whether the run equals the first backend's (it must, bit for bit).

    python benchmarks/scripts/fleet_backends_day.py VMS HOSTS TICKS serial ray:1 ray:2 dask:1 dask:2

The scenario is bench_fleet.FleetDay's (churn, two host failures, DRS every tick, guest memory),
without the per-tick accounting check. Ray and Dask start locally (one worker per shard).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from vsched.fleet import FailureModel, Fleet, HostSpec, MigrationModel, synthetic_fleet


def day(vms: int, hosts: int, ticks: int, backend: str, shards: int):
    work = synthetic_fleet(vms, ticks, seed=1)
    fleet = Fleet(hosts, host=HostSpec(pcpus=24, memory_frames=40_000, max_vcpu_ratio=8),
                  migration=MigrationModel(page_bytes=1 << 20), seed=1, check=False,
                  failures=FailureModel(schedule=((ticks // 3, 0), (2 * ticks // 3, hosts - 1)), repair_ticks=24),
                  backend=backend, shards=shards)
    started = time.perf_counter()
    with fleet:
        run = fleet.run(work)
    wall = time.perf_counter() - started
    coordinator, stepping = np.array(fleet.timings["coordinator"]), np.array(fleet.timings["hosts"])
    return run, {
        "backend": backend, "shards": shards, "vms": vms, "hosts": hosts, "ticks": ticks, "wall_s": round(wall, 2),
        "coordinator_first_tick_s": round(float(coordinator[0]), 3),
        "coordinator_ms_per_tick_median": round(1e3 * float(np.median(coordinator[1:])), 2),
        "coordinator_s_total": round(float(coordinator.sum()), 2),
        "hosts_ms_per_tick_median": round(1e3 * float(np.median(stepping[1:])), 2),
        "hosts_s_total": round(float(stepping.sum()), 2),
    }


if __name__ == "__main__":
    vms, hosts, ticks = (int(x) for x in sys.argv[1:4])
    first = None
    for spec in sys.argv[4:]:
        backend, _, shards = spec.partition(":")
        run, info = day(vms, hosts, ticks, backend, int(shards or 1))
        first = run if first is None else first
        info["same_as_first"] = run == first
        print(json.dumps(info), flush=True)
