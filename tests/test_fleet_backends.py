"""Fleet backends: serial, Ray and Dask at 1, 2 and 3 shards give the same run,
every metric and event (docs/fleet.md, rules F18-F22); a missing extra, a
shard lost mid-run and a ledger that disagrees with its host are reported.

One Ray instance (2 CPUs) and one Dask cluster of 2 worker processes per
module: the shards' hosts and every VM state crossing between them are pickled.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

import vsched
from vsched.errors import AdmissionError
from vsched.fleet import BalancePolicy, FailureModel, Fleet, HostSpec, MigrationModel, VmSpec, synthetic_fleet
from vsched.fleet.backends import ShardedPool, ShardLostError, shard_args, shard_bounds, shard_hosts
from vsched.fleet.ledger import ledger_host
from vsched.fleet.packed import TickInputs
from vsched.fleet.shard import HostShard, ShardStateError

HOST = HostSpec(pcpus=16, memory_frames=20_000)
SHARDS = [1, 2, 3]


def _fleet(**kw) -> Fleet:
    # first-fit packs the low hosts: the balancing pass migrates, across shards too
    args = dict(host=HOST, placement="first-fit", migration=MigrationModel(page_bytes=1 << 20), seed=4,
                failures=FailureModel(mtbf_hours=30, repair_ticks=6, restart_delay_ticks=2, schedule=((5, 1), (9, 4))))
    args.update(kw)
    return Fleet(6, **args)


def _work():
    return synthetic_fleet(200, 40, seed=2)


@pytest.fixture(scope="module")
def serial_run():
    run = _fleet().run(_work())
    s = run.summary()
    # the scenario exercises everything a backend must reproduce
    moves = [e for e in run.events if e["event"] == "migrated"]
    assert moves and any(e["source"] // 2 != e["destination"] // 2 for e in moves)
    assert s["host_failures"] >= 2 and s["vm_restarts"] > 0 and run.fleet["departed"][-1] > 0
    return run


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_shards_are_hosts_dealt_in_turn():
    assert [g.tolist() for g in shard_hosts(6, 3)] == [[0, 3], [1, 4], [2, 5]]
    assert [g.tolist() for g in shard_hosts(7, 2)] == [[0, 2, 4, 6], [1, 3, 5]]
    assert shard_bounds(shard_hosts(7, 2)) == [(0, 4), (4, 7)]
    for hosts, shards in ((1, 1), (10, 3), (1000, 16), (5, 8)):
        groups = shard_hosts(hosts, shards)
        assert sorted(np.concatenate(groups).tolist()) == list(range(hosts))  # each host in one shard
        assert max(map(len, groups)) - min(map(len, groups)) <= 1
        bounds = shard_bounds(groups)
        assert bounds[0][0] == 0 and bounds[-1][1] == hosts
        assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("shards", SHARDS)
def test_ray_gives_the_serial_run(ray_cluster, serial_run, shards):
    with _fleet(backend="ray", shards=shards) as fleet:
        run = fleet.run(_work())
    assert run == serial_run


@pytest.mark.parametrize("shards", SHARDS)
def test_dask_gives_the_serial_run(dask_client, serial_run, shards):
    with _fleet(backend="dask", shards=shards, client=dask_client) as fleet:
        run = fleet.run(_work())
    assert run == serial_run


def test_reference_hosts_in_shards_give_the_native_serial_fleet(ray_cluster):
    kw = dict(host=HostSpec(pcpus=4, memory_frames=3000), placement="worst-fit",
              migration=MigrationModel(page_bytes=1 << 20), seed=1,
              failures=FailureModel(schedule=((3, 0),), repair_ticks=2, restart_delay_ticks=1))
    work = lambda: synthetic_fleet(24, 8, seed=6, pages=64)
    native = Fleet(3, **kw).run(work())
    with Fleet(3, engines="reference", backend="ray", shards=2, **kw) as fleet:
        assert fleet.run(work()) == native


def test_a_killed_ray_shard_is_reported_by_name(ray_cluster):
    fleet = _fleet(backend="ray", shards=3)
    fleet.attach(_work())
    fleet.run(ticks=3)
    ray_cluster.kill(fleet.pool.runner.actors[1])
    with pytest.raises(ShardLostError, match=r"ray shard 1 \(hosts 1, 4\) was lost at tick 3"):
        fleet.step()
    # its VMs' totals were kept in it (rule F25): no result short of them
    with pytest.raises(ShardLostError, match="ray shard 1"):
        fleet.result()
    assert len(fleet.series["demand"]) == 3  # the ticks completed before are kept
    fleet.close()


@pytest.mark.parametrize("backend, module", [("ray", "ray"), ("dask", "distributed")])
def test_a_missing_extra_is_named(monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # import of it now raises ImportError
    with pytest.raises(ImportError, match=rf'pip install "vsched\[{backend}\]"'):
        _fleet(backend=backend, shards=2)


@pytest.mark.parametrize("kwargs, word", [
    (dict(backend="spark"), "backend"), (dict(backend="ray", shards=0), "shards"),
    (dict(backend="ray", shards=7), "shards"), (dict(backend="dask", shards=1.5), "shards"),
    (dict(shards=2), "serial"), (dict(backend="ray", shards=True), "shards"),
    (dict(backend="ray", shards=2, host=HostSpec(extra={"nic_bps": 1e9})), "NIC"),
])
def test_bad_backend_arguments_start_nothing(monkeypatch, kwargs, word):
    monkeypatch.setitem(sys.modules, "ray", None)  # validation comes first: no backend is even imported
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ValueError, match=word):
        _fleet(**kwargs)


def test_ledger_admits_and_numbers_exactly_as_the_host():
    """Random adds and removes, reservations drawn near the CPU bound where float
    and exact sums disagree: the ledger refuses exactly when the host does, with
    the same message, and predicts every id."""
    rng = np.random.default_rng(13)
    for case in range(40):
        spec = HostSpec(pcpus=int(rng.integers(1, 5)), memory_frames=int(rng.integers(200, 2000)),
                        max_vcpu_ratio=float(rng.choice([1.0, 2.0, 4.0])), min_guarantee=float(rng.choice([0.0, 0.1, 0.3])),
                        fidelity=str(rng.choice(["fluid", "sliced"])))
        host = vsched.Host(spec.pcpus, spec.memory_frames, tick_seconds=300, **spec.host_kwargs())
        ledger = ledger_host(spec, 300)
        outcomes = set()
        for _ in range(60):
            if host.vms and rng.random() < 0.3:
                vm = int(rng.choice(host.vms))
                host.remove_vm(vm)
                ledger.remove_vm(vm)
                continue
            vcpus = int(rng.integers(1, 3))
            reservation = None if rng.random() < 0.3 else float(rng.choice([0.1, 1 / 3, 0.7, 1e-9])) * spec.pcpus
            args = dict(vcpus=vcpus, memory_pages=int(rng.integers(1, 400)), reservation=reservation)
            try:
                expected = host.add_vm(**args)
            except AdmissionError as refusal:
                with pytest.raises(AdmissionError) as caught:
                    ledger.add_vm(**args)
                assert str(caught.value) == str(refusal), f"case {case}"
                outcomes.add("refused")
                continue
            assert ledger.add_vm(**args) == expected, f"case {case}"
            outcomes.add("admitted")
            assert ledger.vms == host.vms
    assert outcomes == {"admitted", "refused"}


def test_a_shard_reports_a_host_that_differs_from_the_ledger():
    shard = HostShard(4, [HOST, HOST], 300, "native")
    down = TickInputs(4, np.zeros(2, bool), np.zeros(2, np.int64), np.zeros(0))
    status, error = shard.step([("add", 5, (1, 64), {}, 7)], down, None)
    assert status == "error" and isinstance(error, ShardStateError) and "host 5" in str(error)
    status, error = shard.step([], down, (np.array([0, 1]), np.array([3])))
    assert status == "error" and isinstance(error, ShardStateError) and "host 5" in str(error)
    assert shard.ping() == ("ok", 4)


def test_submissions_run_on_shards_too(ray_cluster):
    """VMs offered one by one between ticks (the placement path outside a workload)."""
    def offer(fleet):
        fleet.attach(synthetic_fleet(0, 6))
        for i in range(30):
            fleet.submit(VmSpec(1 + i % 3, 128, domain=i % 4), cpu=0.2 + 0.02 * i)
            if i % 10 == 9:
                fleet.step()
        return fleet.run()
    serial = offer(_fleet(failures=None))
    with _fleet(failures=None, backend="ray", shards=2) as fleet:
        assert offer(fleet) == serial


CLI_SMALL = ("--hosts", "6", "--vms", "300", "--hours", "4", "--pcpus", "8", "--memory", "20000", "--json")


def _cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}import sys; from vsched.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "fleet", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("backend, module", [("ray", "ray"), ("dask", "distributed")])
def test_cli_backend_gives_the_serial_summary(backend, module):
    pytest.importorskip(module)
    serial = _cli(*CLI_SMALL)
    sharded = _cli(*CLI_SMALL, "--backend", backend, "--shards", "2")
    assert serial.returncode == 0 and sharded.returncode == 0, sharded.stderr[-2000:]
    a, b = json.loads(serial.stdout), json.loads(sharded.stdout)
    assert a["summary"] == b["summary"] and b["scenario"]["backend"] == backend and b["scenario"]["shards"] == 2


@pytest.mark.parametrize("flags, word", [
    (("--backend", "ray"), 'pip install "vsched[ray]"'), (("--backend", "dask"), 'pip install "vsched[dask]"'),
    (("--shards", "2"), "--backend ray or dask"), (("--backend", "ray", "--shards", "0"), "--shards"),
])
def test_cli_backend_errors_are_one_line(flags, word):
    hide = "import sys; sys.modules['ray'] = sys.modules['distributed'] = None; "  # as if the extras were absent
    result = _cli(*flags, prelude=hide)
    assert result.returncode == 2 and word in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_killed_dask_worker_is_reported_by_shard(dask_client):
    """The cluster's nanny restarts the killed worker; the test waits for it, so that the tests after
    it find both workers again."""
    import os

    import time

    fleet = _fleet(backend="dask", shards=2, client=dask_client)
    fleet.attach(_work())
    fleet.run(ticks=2)
    dead = fleet.pool.runner.workers[1]
    try:
        dask_client.run(os._exit, 1, workers=[dead])
    except Exception:  # the worker dies before it can answer
        pass
    with pytest.raises(ShardLostError, match=r"dask shard 1 \(hosts 1, 3, 5\) was lost at tick 2"):
        fleet.step()
    fleet.close()
    # Two workers listed is not enough: the scheduler may still list the dead one beside the
    # restarted one for a moment. Wait until the dead address is gone and two workers remain.
    deadline = time.monotonic() + 120
    while True:
        workers = dask_client.scheduler_info()["workers"]
        if len(workers) >= 2 and dead not in workers:
            break
        assert time.monotonic() < deadline, f"the Dask cluster did not restart its worker: {sorted(workers)}"
        time.sleep(0.2)


class InlineRunner:
    """The shards in this process, every argument and result pickled as a real worker's would be:
    the sharded pool's logic (ledgers, queues, rounds of moves) tested without a cluster."""

    backend = "inline"

    def __init__(self, fleet: Fleet, shards: int) -> None:
        self.groups = shard_hosts(len(fleet.specs), shards)
        self.bounds = shard_bounds(self.groups)
        self.shards = [HostShard(first, mine, fleet.tick_seconds, fleet.engines, fleet.vm_series, ids)
                       for first, mine, ids in shard_args(fleet.specs, self.groups)]
        self.calls: list[tuple[str, list[int]]] = []

    def call_some(self, shards, method, calls, *, tick):
        self.calls.append((method, list(shards)))
        out = []
        for s, args in zip(shards, calls):
            status, value = pickle.loads(pickle.dumps(getattr(self.shards[s], method)(*pickle.loads(pickle.dumps(args)))))
            if status == "error":
                raise value
            out.append(value)
        return out

    def call_all(self, method, calls, *, tick):
        return self.call_some(range(len(self.shards)), method, calls, tick=tick)

    def close(self):
        pass


def _inline(fleet: Fleet, shards: int) -> Fleet:
    fleet.pool = ShardedPool(fleet.specs, fleet.tick_seconds, InlineRunner(fleet, shards))
    fleet.hosts = fleet.pool.hosts
    return fleet


def test_random_fleets_give_the_serial_run_at_any_shard_count():
    rng = np.random.default_rng(21)
    seen: set[str] = set()
    for case in range(6):
        hosts = int(rng.integers(2, 7))
        kw = dict(host=HostSpec(pcpus=int(rng.integers(4, 12)), memory_frames=int(rng.integers(4000, 12000)),
                                max_vcpu_ratio=float(rng.choice([2.0, 4.0, 8.0]))),
                  placement=str(rng.choice(["first-fit", "best-fit", "worst-fit", "filter-weigher"])),
                  migration=MigrationModel(page_bytes=1 << 20), seed=int(rng.integers(0, 99)),
                  failures=FailureModel(mtbf_hours=float(rng.choice([5.0, 50.0])), repair_ticks=3, restart_delay_ticks=1),
                  drs=BalancePolicy(threshold=5))
        vms = int(rng.integers(20, 120))
        serial = Fleet(hosts, **kw).run(synthetic_fleet(vms, 16, seed=case, pages=64))
        seen.update(e["event"] for e in serial.events)
        for shards in range(2, hosts + 1):
            sharded = _inline(Fleet(hosts, **kw), shards).run(synthetic_fleet(vms, 16, seed=case, pages=64))
            assert sharded == serial, f"case {case}, {shards} shards"
    assert {"migrated", "host_failed", "vm_restarted", "departed", "refused"} <= seen


def test_one_and_three_shards_give_the_same_run_and_totals():
    """Rule F25: the per-VM totals live in the shards and travel with their VMs (moves across
    shards, failures, restarts on another shard); one shard and three give the same run, and
    each VM's totals are held by exactly one shard."""
    kw = dict(host=HostSpec(pcpus=8, memory_frames=8000, max_vcpu_ratio=4.0), placement="first-fit",
              migration=MigrationModel(page_bytes=1 << 20), seed=7, drs=BalancePolicy(threshold=5, max_moves=2, source_hosts=1,
                                                                                     destination_hosts=1),
              failures=FailureModel(schedule=((4, 0), (8, 5), (11, 3)), repair_ticks=2, restart_delay_ticks=0))
    runs = []
    for shards in (1, 3):
        fleet = _inline(Fleet(9, **kw), shards)
        runs.append(fleet.run(synthetic_fleet(150, 20, seed=3, pages=64)))
        held = [shard.totals.results()["vm"] for shard in fleet.pool.runner.shards]
        ids = np.concatenate(held)
        assert ids.size == np.unique(ids).size  # no VM counted in two shards
    one, three = runs
    assert three == one
    kinds = {e["event"] for e in one.events}
    assert {"migrated", "host_failed", "vm_restarted", "departed"} <= kinds
    assert any(e["source"] // 3 != e["destination"] // 3 for e in one.events if e["event"] == "migrated")


@pytest.mark.parametrize("targets, rounds", [
    ((1, 2, 0), [[0], [1], [2]]),  # each source just took the VM before it: one round each
    ((2, 0, 1), [[0, 1], [2]]),  # 0 -> 2 and 1 -> 0 ship together; 2 -> 1 waits for 2's import
])
def test_a_move_from_a_host_that_just_took_one_waits_for_the_import(targets, rounds):
    """VMs 0, 1, 2 (on hosts 0, 1, 2) move in one tick: a VM's export must see the
    imports decided before it on its host, so such a move starts a new round."""
    def moved(fleet):
        fleet.attach(synthetic_fleet(0, 4))
        for _ in range(3):
            fleet.submit(VmSpec(1, 64), cpu=0.5)
        fleet.step()
        assert [int(fleet.vms.host[i]) for i in range(3)] == [0, 1, 2]
        for vm, target in enumerate(targets):
            fleet._start_migration(vm, target, claimed=False)
        return fleet.run(ticks=3)
    kw = dict(host=HostSpec(pcpus=8, memory_frames=4000), placement="worst-fit", balance=None, seed=2)
    serial = moved(Fleet(3, **kw))
    fleet = _inline(Fleet(3, **kw), 3)
    run = moved(fleet)
    assert run == serial and [e["destination"] for e in run.events if e["event"] == "migrated"] == list(targets)
    assert [shards for method, shards in fleet.pool.runner.calls if method == "export"] == rounds


@pytest.mark.parametrize("shards", [2, 3])
def test_consolidation_on_inline_shards_gives_the_serial_run(shards):
    """Hosts powered off (evacuated, then dropped by their shard) and on again (rebuilt there)."""
    from vsched.fleet import ConsolidationPolicy, FleetWorkload, PowerModel

    def day(sharded):
        vms, ticks = 24, 40
        cpu = np.where(np.arange(ticks)[:, None] < ticks // 2, 0.1, 0.9) * np.ones((1, vms))
        work = FleetWorkload([VmSpec(1, 64, domain=i % 2) for i in range(vms)], cpu,
                             np.zeros(vms, dtype=np.int64), np.full(vms, 10**9, dtype=np.int64))
        fleet = Fleet(6, host=HostSpec(pcpus=4, memory_frames=4_000), placement="worst-fit", power=PowerModel(100, 200, 5),
                      consolidation=ConsolidationPolicy(interval=2, low=0.3, high=0.8), seed=2)
        return (_inline(fleet, shards) if sharded else fleet).run(work)
    serial = day(False)
    events = {e["event"] for e in serial.events}
    assert {"host_powered_off", "host_powered_on", "migrated"} <= events
    assert day(True) == serial


def _consolidating_day(**backend):
    # 6 hosts, 24 one-vCPU VMs: utilisation 0.1 for 12 ticks, then 0.9: hosts are evacuated and
    # powered off, then powered on again (docs/fleet.md, rules F14-F17) — on every backend alike
    from vsched.fleet import ConsolidationPolicy, FleetWorkload, PowerModel

    vms, ticks = 24, 24
    cpu = np.where(np.arange(ticks)[:, None] < ticks // 2, 0.1, 0.9) * np.ones((1, vms))
    work = FleetWorkload([VmSpec(1, 64, domain=i % 2) for i in range(vms)], cpu,
                         np.zeros(vms, dtype=np.int64), np.full(vms, 10**9, dtype=np.int64))
    with Fleet(6, host=HostSpec(pcpus=4, memory_frames=4_000), placement="worst-fit", balance="drs",
               power=PowerModel(100, 200, off_watts=5), seed=2,
               consolidation=ConsolidationPolicy(interval=2, low=0.3, high=0.8), **backend) as fleet:
        return fleet.run(work)


def test_consolidation_on_ray_and_dask_gives_the_serial_run(ray_cluster, dask_client):
    serial = _consolidating_day()
    kinds = {e["event"] for e in serial.events}
    assert {"evacuation", "host_powered_off", "host_powered_on"} <= kinds
    assert _consolidating_day(backend="ray", shards=2) == serial
    assert _consolidating_day(backend="dask", shards=3, client=dask_client) == serial


def _series_day(fleet: Fleet, directory) -> dict:
    import pyarrow.parquet as pq

    with fleet:
        run = fleet.run(_work())
        paths = fleet.export_parquet(str(directory))
    tables = [pq.read_table(p) for p in paths]
    columns = {name: np.concatenate([t.column(name).to_numpy() for t in tables]) for name in tables[0].column_names}
    order = np.lexsort((columns["vm"], columns["tick"]))
    return run, {name: values[order] for name, values in columns.items()}, paths


@pytest.mark.parametrize("shards", [2, 3])
def test_per_vm_parquet_export_is_the_same_from_serial_and_shards(tmp_path, shards):
    """Rule F24: each shard writes its own VMs' rows; together they are the serial fleet's file,
    row for row (float32 demand, used, ready %), and their totals are the run's per-VM totals."""
    pytest.importorskip("pyarrow")
    run, serial, paths = _series_day(_fleet(vm_series=True), tmp_path / "serial")
    assert len(paths) == 1
    sharded_run, sharded, paths = _series_day(_inline(_fleet(vm_series=True), shards), tmp_path / "sharded")
    assert len(paths) == shards and sharded_run == run
    assert serial.keys() == sharded.keys() and all(np.array_equal(serial[k], sharded[k]) for k in serial)
    assert serial["demand"].dtype == np.float32 and serial["tick"].max() == 39
    used = np.bincount(serial["vm"], weights=serial["used"].astype(float), minlength=run.vms["used"].size)
    np.testing.assert_allclose(used, run.vms["used"], rtol=1e-5, atol=1e-5)
    hosts = np.bincount(serial["host"] * 40 + serial["tick"], minlength=6 * 40).reshape(6, 40)
    assert np.array_equal(hosts, run.hosts["vms"])


def test_parquet_export_needs_the_series_and_names_the_extra(monkeypatch, tmp_path):
    fleet = _fleet()
    fleet.run(_work(), ticks=2)
    with pytest.raises(ValueError, match="vm_series=True"):
        fleet.export_parquet(str(tmp_path))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    fleet = _fleet(vm_series=True)
    fleet.run(_work(), ticks=2)
    with pytest.raises(ImportError, match=r"vsched\[parquet\]"):
        fleet.export_parquet(str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_ray_and_dask_shards_write_the_serial_parquet_rows(ray_cluster, dask_client, tmp_path):
    pytest.importorskip("pyarrow")
    run, serial, _ = _series_day(_fleet(vm_series=True), tmp_path / "serial")
    for name, backend in (("ray", dict(backend="ray", shards=2)), ("dask", dict(backend="dask", shards=2, client=dask_client))):
        sharded_run, sharded, paths = _series_day(_fleet(vm_series=True, **backend), tmp_path / name)
        assert len(paths) == 2 and sharded_run == run, name
        assert all(np.array_equal(serial[k], sharded[k]) for k in serial), name
