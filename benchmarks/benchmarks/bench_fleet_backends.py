"""Fleet backends: a fleet day on serial, Ray and Dask at 1 and 2 shards, the
coordinator's share of a tick, and the engines' own overheads (one actor call,
one tick barrier over the shards, shipping one VM between shards).

Goals (docs/performance.md, "Fleet backends"): Ray with 2 shards strong-scales
>= 0.8 from 1 to 2 workers; the coordinator's work <= 10 ms a tick at 1,000
hosts. A combination whose extra (``ray``, ``dask``) is not installed is skipped.
"""

from __future__ import annotations

import numpy as np

from vsched.fleet import FailureModel, Fleet, HostSpec, MigrationModel, VmSpec, synthetic_fleet

from .common import SMOKE, sizes

BACKENDS = ["serial", "ray", "dask"]
HOST = HostSpec(pcpus=24, memory_frames=40_000, max_vcpu_ratio=8)


def _cluster(backend: str) -> object:
    """Start what `backend` needs (asv skips the combination when its extra is absent)."""
    if backend == "serial":
        return None
    try:
        if backend == "ray":
            import ray

            if not ray.is_initialized():
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            return None
        import distributed
    except ImportError:
        raise NotImplementedError(f"the {backend} extra is not installed") from None
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    return distributed.Client(cluster)


def _close(client: object) -> None:
    if client is not None:
        cluster = client.cluster  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
        cluster.close()


def _fleet(hosts: int, ticks: int, backend: str, shards: int, client: object) -> Fleet:
    return Fleet(hosts, host=HOST, migration=MigrationModel(page_bytes=1 << 20), seed=1, check=False,
                 failures=FailureModel(schedule=((ticks // 3, 0), (2 * ticks // 3, hosts - 1)), repair_ticks=24),
                 backend=backend, shards=shards, client=client)


class FleetDayBackends:
    """The fleet day of bench_fleet.FleetDay (churn, two host failures, DRS every tick) on each backend."""

    params = [BACKENDS, sizes([1, 2], [1]), sizes([(10_000, 100)], [(200, 4)])]  # smoke: 2 shards in BackendOverheads
    param_names = ["backend", "shards", "vms_hosts"]
    timeout = 1800
    number = 1
    repeat = (1, 1, 60.0)

    def setup(self, backend, shards, vms_hosts):
        if backend == "serial" and shards > 1:
            raise NotImplementedError("the serial backend has one shard")
        vms, hosts = vms_hosts
        self.ticks = 12 if SMOKE else 288
        self.client = _cluster(backend)
        self.work = synthetic_fleet(vms, self.ticks, seed=1)
        self.fleet = _fleet(hosts, self.ticks, backend, shards, self.client)

    def teardown(self, backend, shards, vms_hosts):
        if hasattr(self, "fleet"):  # asv tears down a skipped combination too
            self.fleet.close()
            _close(self.client)

    def time_day(self, backend, shards, vms_hosts):
        self.fleet.run(self.work)

    def track_coordinator_ms_per_tick(self, backend, shards, vms_hosts):
        """Median over the ticks after the first (the first places the day's initial VMs)."""
        self.fleet.run(self.work, ticks=min(self.ticks, 24))
        return 1e3 * float(np.median(self.fleet.timings["coordinator"][1:]))

    track_coordinator_ms_per_tick.unit = "ms"  # type: ignore[attr-defined]


class BackendOverheads:
    """What the engine costs by itself, 2 shards of one host each: an empty actor call, a tick
    whose hosts have nothing to do (the barrier over all shards), a VM of 256 pages shipped."""

    params = [["ray", "dask"]]
    param_names = ["backend"]

    def setup(self, backend):
        self.client = _cluster(backend)
        self.fleet = Fleet(2, host=HOST, balance=None, seed=1, backend=backend, shards=2, client=self.client, check=False)
        self.fleet.attach(synthetic_fleet(0, 10_000))
        self.vm = self.fleet.submit(VmSpec(2, 256), cpu=0.3)
        self.fleet.step()  # boots the guest: its pages are resident
        self.empty = self.fleet._inputs(0, np.zeros(0, np.int64), np.zeros(2, np.int64))
        self.empty.up[:] = False
        self.pool = self.fleet.pool

    def teardown(self, backend):
        self.fleet.close()
        _close(self.client)

    def time_actor_call(self, backend):
        self.pool.runner.call_some([0], "ping", [()], tick=0)

    def time_tick_barrier(self, backend):
        self.pool.step(self.empty, False)

    def time_ship_vm(self, backend):
        """Export from its shard (one call) and import on the other (with a barrier: the next tick's call)."""
        v = self.fleet.vms
        src = int(v.host[self.vm])
        v.local[self.vm] = self.pool.move_vm(src, 1 - src, int(v.local[self.vm]), self.vm)
        v.host[self.vm] = 1 - src
        self.pool.settle()
        self.pool.step(self.empty, False)


class VmSeriesExport:
    """``Fleet.export_parquet`` (rule F24) of a serial fleet after `ticks` ticks: the rows grow as
    VMs x ticks, the cost should too (skipped without pyarrow)."""

    params = [sizes([(2_000, 20, 12), (20_000, 200, 12)], [(200, 4, 4)])]
    param_names = ["vms_hosts_ticks"]
    timeout = 600
    number = 1

    def setup(self, vms_hosts_ticks):
        try:
            import pyarrow.parquet  # noqa: F401  (imported here: not timed)
        except ImportError:
            raise NotImplementedError("the parquet extra is not installed") from None
        import tempfile

        vms, hosts, ticks = vms_hosts_ticks
        self.fleet = Fleet(hosts, host=HOST, seed=1, check=False, vm_series=True)
        self.fleet.run(synthetic_fleet(vms, ticks, seed=1))
        self.directory = tempfile.mkdtemp()
        self.fleet.export_parquet(self.directory)  # pyarrow's first table and file take seconds: not timed

    def time_export(self, vms_hosts_ticks):
        self.fleet.export_parquet(self.directory)
