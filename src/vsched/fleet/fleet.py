"""The fleet coordinator: hosts, VM accounting and the tick loop (``docs/fleet.md``).

Every tick, in this order (rule F13): repairs, failures, departures,
arrivals, restarts, a balancing pass (every ``interval`` ticks), one tick of
every up host through the backend's pool (serial: :func:`step_hosts` here;
Ray or Dask: the shards, "Backends" in the docs), migrations that complete, the
accounting check. Global decisions use only :class:`HostSummaries`, the
per-VM placement records held here and what the pools report of their VMs
(per-host sums; the rows a pass reads: :mod:`.totals`); the hosts are
stepped independently.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from ..errors import AdmissionError
from .backends import BACKENDS, make_pool
from .balance import Candidates, LazyColumn, drs_pass, host_loads, imbalance
from .consolidation import consolidation_pass
from .failures import FailureClock
from .members import HostMembers
from .migration import precopy, precopy_estimate
from .packed import HostTick, TickInputs
from .placement import HostSummaries, PlacementCache, VmNeeds, admits_when_empty, check_policy, place, refusal_rule
from .run import FLEET_SERIES, HOST_SERIES, FleetRun
from .series import needs_pyarrow
from .totals import COLUMNS as TOTALS
from .spec import BalancePolicy, ConsolidationPolicy, FailureModel, HostSpec, MigrationModel, PowerModel, VmSpec
from .workload import NEVER, FleetWorkload, GuestMemory

__all__ = ["STATES", "Fleet", "FleetInvariantError"]

# Every VM is in exactly one of these states at every tick (rule F12).
PENDING, RUNNING, MIGRATING, REFUSED, DEPARTED = range(5)
STATES = ("pending", "running", "migrating", "refused", "departed")


_DEFAULT_MEMORY, _DEFAULT_POWER = GuestMemory(), PowerModel()  # frozen: safe to share


class FleetInvariantError(RuntimeError):
    """The accounting check found a VM lost, duplicated or a host over its rules (a bug)."""


class _VmTable:
    """Per-VM arrays indexed by fleet VM id, grown by doubling (one column per name below,
    declared so that type checkers see them; separate columns: a fancy-indexed update of a
    column is 3x cheaper than of a row block)."""

    # the totals columns (vsched.fleet.totals.COLUMNS: demand_sum, ..., dirty_rate) hold here only
    # the rows of VMs on no host (pending a restart, or never placed); the pools hold the others (F25)
    INT = ("state", "host", "local", "vcpus", "pages", "domain", "column", "departure", "restart_at",
           "down_since", "target", "finish", "ticks_running", "lost_ticks", "dirtied_prev", "ent_n")
    FLOAT = ("cores", "reservation", "limit", "demand_sum", "used_sum", "unmet_sum", "ready_sum", "ent_sum",
             "last_ready", "last_swapped", "dirty_rate", "overhead")
    BOOL = ("dirtied_valid",)

    state: np.ndarray  # one of STATES' indices
    host: np.ndarray  # -1: on no host
    local: np.ndarray  # the VM's id on its host
    vcpus: np.ndarray
    cores: np.ndarray  # vcpus as floats (the demand's formula in floats: no conversion per tick)
    pages: np.ndarray
    domain: np.ndarray
    column: np.ndarray  # its column of the CPU series
    departure: np.ndarray
    restart_at: np.ndarray
    down_since: np.ndarray
    target: np.ndarray  # destination host while migrating
    finish: np.ndarray  # tick its migration completes
    lost_ticks: np.ndarray
    dirtied_prev: np.ndarray  # its memory's vm_dirtied counter last tick
    reservation: np.ndarray  # NaN: the host's default
    limit: np.ndarray  # NaN: none
    last_ready: np.ndarray
    last_swapped: np.ndarray
    dirty_rate: np.ndarray  # pages per second (rule F7)
    overhead: np.ndarray  # pre-copy CPU added to its demand
    dirtied_valid: np.ndarray
    demand_sum: np.ndarray
    used_sum: np.ndarray
    unmet_sum: np.ndarray
    ready_sum: np.ndarray
    ent_sum: np.ndarray  # entitled demand since the last pass (rule F8)
    ticks_running: np.ndarray
    ent_n: np.ndarray

    def __init__(self) -> None:
        self.size = 0
        self.specs: list[VmSpec] = []
        self._capacity = 0
        self._grow(64)

    def _grow(self, capacity: int) -> None:
        for names, dtype in ((self.INT, np.int64), (self.FLOAT, float), (self.BOOL, bool)):
            for name in names:
                array = np.zeros(capacity, dtype=dtype)
                if self._capacity:
                    array[: self._capacity] = getattr(self, name)
                setattr(self, name, array)
        self._capacity = capacity

    def add(self, spec: VmSpec, column: int, departure: int) -> int:
        if self.size == self._capacity:
            self._grow(2 * self._capacity)
        i = self.size
        self.size += 1
        self.specs.append(spec)
        self.state[i], self.host[i], self.local[i] = PENDING, -1, -1
        self.vcpus[i], self.pages[i], self.domain[i] = spec.vcpus, spec.memory_pages, spec.domain
        self.cores[i] = spec.vcpus
        self.reservation[i] = math.nan if spec.reservation is None else spec.reservation
        self.limit[i] = math.nan if spec.limit is None else spec.limit
        self.column[i], self.departure[i] = column, departure
        self.restart_at[i], self.down_since[i], self.target[i], self.finish[i] = -1, -1, -1, -1
        return i


class Fleet:
    """Hosts running the three engines (``vsched.Host``), with placement,
    DRS-like balancing over pre-copy live migration, and host failures.

    ``Fleet(hosts, host=HostSpec(), placement="best-fit", balance="drs",
    migration=MigrationModel(), failures=None, seed=0, *, weights=None,
    drs=BalancePolicy(), memory=GuestMemory(), power=PowerModel(),
    engines="native", tick_seconds=300, check=True, backend="serial", shards=1,
    client=None, vm_series=False)``. ``hosts`` is a count (all of spec ``host``) or a list of
    :class:`HostSpec`. ``backend`` ``"ray"`` or ``"dask"`` steps the hosts in
    ``shards`` actors (``client``: a Dask client to use); the results are the
    serial ones, bit for bit. ``vm_series=True`` keeps per-VM series (float32)
    where the hosts run, for :meth:`export_parquet`. See ``docs/fleet.md``, "Backends".
    """

    def __init__(
        self,
        hosts: int | list[HostSpec],
        host: HostSpec | None = None,
        placement: str = "best-fit",
        balance: str | None = "drs",
        migration: MigrationModel | None = None,
        failures: FailureModel | None = None,
        seed: int = 0,
        *,
        weights: dict[str, float] | None = None,
        drs: BalancePolicy | None = None,
        memory: GuestMemory | None = _DEFAULT_MEMORY,
        power: PowerModel | None = _DEFAULT_POWER,
        engines: str = "native",
        tick_seconds: int = 300,
        check: bool = True,
        consolidation: ConsolidationPolicy | None = None,
        backend: str = "serial",
        shards: int = 1,
        client: Any = None,
        vm_series: bool = False,
    ) -> None:
        host = HostSpec() if host is None else host
        if isinstance(hosts, bool) or not isinstance(hosts, (int, list, tuple)):
            raise TypeError(f"hosts must be a count or a list of HostSpec, got {type(hosts).__name__}")
        specs = [host] * hosts if isinstance(hosts, int) else list(hosts)
        if not specs:
            raise ValueError("hosts: a fleet needs at least one host")
        for number, spec in enumerate(specs):
            if not isinstance(spec, HostSpec):
                raise TypeError(f"hosts[{number}] must be a HostSpec, got {type(spec).__name__}")
        if balance not in ("drs", None):
            raise ValueError(f"balance = {balance!r}: expected 'drs' or None")
        if engines not in ("native", "reference"):
            raise ValueError(f"engines = {engines!r}: expected 'native' or 'reference'")
        for name, value, kind in (("migration", migration, MigrationModel), ("failures", failures, FailureModel),
                                  ("drs", drs, BalancePolicy), ("memory", memory, GuestMemory),
                                  ("power", power, PowerModel), ("consolidation", consolidation, ConsolidationPolicy)):
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"{name} must be a {kind.__name__} or None, got {type(value).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed = {seed!r}: must be an integer >= 0")
        if not isinstance(vm_series, bool):
            raise TypeError(f"vm_series must be a bool, got {type(vm_series).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend = {backend!r}: expected one of {BACKENDS}")
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= len(specs):
            raise ValueError(f"shards = {shards!r}: must be an integer in 1..{len(specs)} (the hosts)")
        if backend == "serial" and shards != 1:
            raise ValueError(f"shards = {shards}: the serial backend has one (choose backend='ray' or 'dask')")
        if backend != "serial" and any(spec.extra.get("nic_bps") is not None for spec in specs):
            # the admission ledgers (rule F19) do not model a NIC's admission rules
            raise ValueError(f"backend = {backend!r}: hosts with a NIC (nic_bps) run on the serial backend only")
        self.weights = check_policy(placement, weights)
        if engines == "native":
            from ..host import Host
        else:
            from ..reference import Host  # type: ignore[assignment]
        self.specs = specs
        self.placement = placement
        self.balance = BalancePolicy() if balance == "drs" and drs is None else (drs if balance == "drs" else None)
        self.migration = MigrationModel() if migration is None else migration
        self.failure_model = failures
        self.memory = memory
        self.power = power
        self.seed = seed
        self.engines = engines
        self.tick_seconds = tick_seconds
        self.check = check
        self.consolidation = consolidation
        if backend != "serial":  # one host of each spec built here: bad specs fail before any worker starts
            for spec in {id(spec): spec for spec in specs}.values():
                spec.build(Host, tick_seconds)
        self.backend, self.shards = backend, shards
        self.vm_series = vm_series
        self.pool = make_pool(backend, shards, specs, tick_seconds, engines, Host, client, vm_series)
        # serial: the hosts; sharded: their admission ledgers (the hosts live in the shards)
        self.hosts: list[Any] = self.pool.hosts
        self.summaries = HostSummaries.of(specs)
        self.members = HostMembers(len(specs))  # fleet VM ids on each host, in its VM order
        self._boots: dict[int, list[int]] = {}  # host -> VMs whose boot image the next tick writes
        self.repair_at = np.full(len(specs), -1, dtype=np.int64)
        self.powered_off = np.zeros(len(specs), dtype=bool)  # by the consolidation pass (rule F17)
        self._draining: set[int] = set()  # hosts being evacuated to be powered off (rule F16)
        self.failure_clock = FailureClock(failures, len(specs), tick_seconds, seed)
        self.vms = _VmTable()
        self.tick = 0
        self.events: list[dict[str, Any]] = []
        self._cpu: np.ndarray | None = None  # ticks x columns of utilisation
        self._arrivals: dict[int, list[int]] = {}
        self._departures: dict[int, list[int]] = {}
        self._offered: dict[int, tuple[VmSpec, int]] = {}  # workload column -> (spec, departure)
        self._migrations: dict[int, Any] = {}  # fleet VM id -> its MigrationCost, while it migrates
        self._restarts: list[int] = []  # VMs waiting for a restart, in the order they went down
        self._placing: PlacementCache | None = None  # while the tick places its arrivals and restarts
        self.series: dict[str, list[Any]] = {}
        # seconds per tick: "hosts" = stepping the hosts (a sharded backend: the round trip to all
        # shards), "coordinator" = the rest of the tick (placement, balancing, migrations, accounting)
        self.timings: dict[str, list[float]] = {"coordinator": [], "hosts": []}

    # ------------------------------------------------------------ hosts

    def close(self) -> None:
        """Stop the shards' actors (and a local Dask cluster the fleet started); the serial backend has none."""
        self.pool.close()

    def export_parquet(self, directory: str) -> list[str]:
        """Rule F24: write the per-VM series (``vm_series=True``) to Parquet, one file per shard
        (``vm-series-000.parquet``, ...) in `directory` (created if missing; for a cluster, a
        path every worker reaches); returns the paths. Needs pyarrow (``vsched[parquet]``)."""
        if not self.vm_series:
            raise ValueError("export_parquet: the fleet keeps no per-VM series (Fleet(..., vm_series=True))")
        needs_pyarrow()
        os.makedirs(directory, exist_ok=True)
        return self.pool.export_parquet(directory)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _log(self, kind: str, **detail: Any) -> None:
        self.events.append({"tick": self.tick, "event": kind, **detail})

    # ------------------------------------------------------------ VMs

    def attach(self, workload: FleetWorkload) -> None:
        """Schedule a workload's arrivals and departures (its CPU series become VM columns)."""
        if not isinstance(workload, FleetWorkload):
            raise TypeError(f"workload must be a FleetWorkload, got {type(workload).__name__}")
        if self._cpu is not None and workload.ticks != self._cpu.shape[0]:
            raise ValueError(f"workload has {workload.ticks} ticks, the fleet's series have {self._cpu.shape[0]}")
        base = 0 if self._cpu is None else self._cpu.shape[1]
        self._cpu = workload.cpu.copy() if self._cpu is None else np.hstack([self._cpu, workload.cpu])
        for i, (start, end) in enumerate(zip(workload.arrival.tolist(), workload.departure.tolist())):
            if start < self.tick:
                raise ValueError(f"workload vm {i} arrives at tick {start}, the fleet is at tick {self.tick}")
            self._arrivals.setdefault(start, []).append(base + i)
            self._offered[base + i] = (workload.vms[i], end)

    def submit(self, vm: VmSpec, cpu: Any = 0.1, departure: int | None = None) -> int:
        """Offer a VM now: ``cpu`` its utilisation (a fraction, or one per
        remaining tick of the attached series). Returns its fleet id; it is
        placed (event ``placed``) or refused (``refused``) at once."""
        if not isinstance(vm, VmSpec):
            raise TypeError(f"vm must be a VmSpec, got {type(vm).__name__}")
        values = np.asarray(cpu, dtype=float)
        if self._cpu is None and values.ndim != 1:
            raise ValueError("cpu: one fraction needs the run's length: attach a workload first or give one value per tick")
        ticks = self.tick + values.shape[0] if self._cpu is None else self._cpu.shape[0]
        series = np.zeros(ticks)
        if values.ndim == 0:
            series[:] = float(values)
        elif values.shape == (ticks - self.tick,):
            series[self.tick:] = values
        else:
            raise ValueError(f"cpu has shape {values.shape}, expected a fraction or ({ticks - self.tick},)")
        if not np.all(np.isfinite(series)) or np.any((series < 0) | (series > 1)):
            raise ValueError("cpu must hold utilisation fractions in [0, 1]")
        end = NEVER if departure is None else int(departure)
        if end <= self.tick:
            raise ValueError(f"departure = {departure}: must be after the current tick {self.tick}")
        self._cpu = series[:, None] if self._cpu is None else np.hstack([self._cpu, series[:, None]])
        return self._admit_new(vm, self._cpu.shape[1] - 1, end)

    def _admit_new(self, spec: VmSpec, column: int, departure: int) -> int:
        fid = self.vms.add(spec, column, departure)
        if departure != NEVER:
            self._departures.setdefault(departure, []).append(fid)
        host = self._place(fid)
        if host < 0:
            self.vms.state[fid] = REFUSED
            rule = refusal_rule(self.summaries, VmNeeds.of(spec, self.summaries))
            self._log("refused", vm=fid, rule=rule)
        else:
            self._log("placed", vm=fid, host=host)
        return fid

    def _place(self, fid: int) -> int:
        """Place VM `fid` (rules F1-F4); the host's own admission has the last word."""
        v = self.vms
        spec = v.specs[fid]
        assert self._cpu is not None  # a VM is placed only once series are attached
        t = min(self.tick, self._cpu.shape[0] - 1)
        needs = VmNeeds.of(spec, self.summaries, float(self._cpu[t, v.column[fid]]) * spec.vcpus)
        exclude = None  # hosts whose own admission refused the VM (rare: made on the first refusal)
        powered_on = False
        while True:
            h = (place(self.summaries, needs, self.placement, self.weights, exclude) if self._placing is None
                 else self._placing.place(needs, exclude))
            if h < 0:
                # rule F15: no host on takes it -> power on one that would, once, and ask again
                if powered_on or not self._power_on_for(needs):
                    return -1
                powered_on = True
                continue
            try:
                # a VM restarting takes its totals along (kept here while it was on no host, rule F25)
                row = None if v.down_since[fid] < 0 else {name: getattr(v, name)[fid] for name in TOTALS}
                local = self.pool.add_vm(h, spec, fid, row)
            except AdmissionError:
                if exclude is None:
                    exclude = np.zeros(len(self.hosts), dtype=bool)
                exclude[h] = True
                continue
            self.summaries.claim(h, needs)
            v.state[fid], v.host[fid], v.local[fid] = RUNNING, h, local
            self.members.add(h, local, fid)
            if self.memory is not None:
                self._boots.setdefault(h, []).append(fid)
            return h

    # ------------------------------------------------------------ migration

    def _start_migration(self, fid: int, dst: int, claimed: bool, rate: float | None = None) -> None:
        """Start moving VM `fid` to `dst` (`rate`: its dirty rate, read from its pool if not given)."""
        v = self.vms
        rate = float(self.pool.rows(np.array([fid]))["dirty_rate"][0] if rate is None else rate)
        cost = precopy(self.migration, int(v.pages[fid]), rate)
        if not claimed:
            self.summaries.claim(dst, VmNeeds.of(v.specs[fid], self.summaries))
        v.state[fid], v.target[fid] = MIGRATING, dst
        v.finish[fid] = self.tick + max(1, math.ceil(cost.duration / self.tick_seconds)) - 1
        v.overhead[fid] = self.migration.cpu_overhead * min(1.0, cost.duration / self.tick_seconds)
        self._migrations[fid] = cost
        self._log("migration_started", vm=fid, source=int(v.host[fid]), destination=dst,
                  dirty_rate=rate, duration=cost.duration)

    def _abort_migration(self, fid: int, reason: str, release: bool = True) -> int:
        """Abort VM `fid`'s move; returns the destination whose claim is given back (-1: it
        failed, nothing to give back), released here unless `release` is False (the caller does)."""
        v = self.vms
        dst = int(v.target[fid])
        claimed = bool(self.summaries.up[dst])
        if claimed and release:
            self.summaries.claim(dst, VmNeeds.of(v.specs[fid], self.summaries), -1)
        self._migrations.pop(fid, None)
        v.state[fid], v.target[fid], v.finish[fid], v.overhead[fid] = RUNNING, -1, -1, 0.0
        self._log("migration_aborted", vm=fid, destination=dst, reason=reason)
        return dst if claimed else -1

    def _finish_migration(self, fid: int) -> None:
        v = self.vms
        src, dst = int(v.host[fid]), int(v.target[fid])
        cost = self._migrations.pop(fid)
        try:
            local = self.pool.move_vm(src, dst, int(v.local[fid]), fid)
        except AdmissionError as refusal:
            self.summaries.claim(dst, VmNeeds.of(v.specs[fid], self.summaries), -1)
            v.state[fid], v.target[fid], v.finish[fid], v.overhead[fid] = RUNNING, -1, -1, 0.0
            self._log("migration_failed", vm=fid, source=src, destination=dst, reason=str(refusal))
            return
        self.members.remove(src, int(v.local[fid]))
        self.members.add(dst, local, fid)
        self.summaries.claim(src, VmNeeds.of(v.specs[fid], self.summaries), -1)
        v.state[fid], v.host[fid], v.local[fid] = RUNNING, dst, local
        v.target[fid], v.finish[fid], v.overhead[fid] = -1, -1, 0.0
        self._log("migrated", vm=fid, source=src, destination=dst, bytes=cost.bytes, rounds=cost.rounds,
                  duration=cost.duration, downtime=cost.downtime, converged=cost.converged)

    # ------------------------------------------------------------ failures

    def _fail_host(self, h: int) -> None:
        v = self.vms
        lost = list(self.members[h])
        for fid in np.flatnonzero((v.state[: v.size] == MIGRATING) & (v.target[: v.size] == h)).tolist():
            self._abort_migration(fid, "destination failed")
        for fid in lost:
            if v.state[fid] == MIGRATING:
                self._abort_migration(fid, "source failed")
            v.state[fid], v.host[fid], v.local[fid] = PENDING, -1, -1
            v.restart_at[fid] = self.tick + self.failure_model.restart_delay_ticks if self.failure_model else self.tick
            v.down_since[fid] = self.tick
            self._restarts.append(fid)
        self.members.clear(h)
        self._boots.pop(h, None)
        rows = self.pool.fail(h)  # its VMs' totals, kept here until they restart (rule F25)
        for name in TOTALS:
            getattr(v, name)[rows["vm"]] = rows[name]
        self.summaries.clear(h)
        self.summaries.set_up(h, False)
        repair = self.failure_model.repair_ticks if self.failure_model else 1
        self.repair_at[h] = self.tick + repair
        self._log("host_failed", host=h, vms=len(lost), repair_tick=int(self.repair_at[h]))

    def _repair_host(self, h: int) -> None:
        self.pool.repair(h)
        self.summaries.set_up(h, True)
        self.repair_at[h] = -1
        self.failure_clock.host_up(h, self.tick)
        self._log("host_repaired", host=h)

    # ------------------------------------------------------------ the tick

    def step(self) -> None:
        """Run one tick of the whole fleet (rule F13)."""
        started = time.perf_counter()
        t = self.pool.tick = self.tick
        if self._cpu is None or t >= self._cpu.shape[0]:
            raise ValueError(f"tick {t}: no CPU series for it (attach a workload or submit VMs with series)")
        v = self.vms
        for h in np.flatnonzero(self.repair_at == t).tolist():
            self._repair_host(h)
        for h in self.failure_clock.failing(t):
            if self.summaries.up[h]:
                self._fail_host(h)
        self._depart_all(self._departures.pop(t, []))
        # the tick's placements, one after the other, each on the summaries the ones before left
        with PlacementCache(self.summaries, self.placement, self.weights) as self._placing:
            for column in self._arrivals.pop(t, []):
                spec, departure = self._offered.pop(column)
                self._admit_new(spec, column, departure)
            self._restart_due()
        self._placing = None
        balancing = self.balance is not None and t > 0 and t % self.balance.interval == 0
        consolidating = self.consolidation is not None and t > 0 and t % self.consolidation.interval == 0
        if balancing:
            self._balance()
        if consolidating:
            self._consolidate()
        if balancing or consolidating:  # entitled demand is averaged from one pass to the next
            self.pool.reset_entitled()
            waiting = np.array(self._restarts, dtype=np.int64)  # the totals of VMs on no host are here
            v.ent_sum[waiting], v.ent_n[waiting] = 0.0, 0
        ids, sizes = self.members.layout()
        inputs = self._inputs(t, ids, sizes)
        stepping = time.perf_counter()
        summaries = self.pool.step(inputs, self.check)
        stepped = time.perf_counter()
        self._collect(t, summaries, ids, sizes)
        for fid in [f for f, _ in sorted(self._migrations.items()) if v.finish[f] == t]:
            self._finish_migration(fid)
        self.pool.settle()  # a sharded backend ships the moved VMs now, before anything else touches their hosts
        if self._draining:
            self._drained()
        if self.check:
            self.check_accounting()
        self.tick += 1
        # wall time, not part of the (deterministic) results: the coordinator's share vs the hosts' step
        self.timings["hosts"].append(stepped - stepping)
        self.timings["coordinator"].append(time.perf_counter() - started - (stepped - stepping))

    def _depart_all(self, fids: list[int]) -> None:
        """A tick's departures, in order, on arrays: what one departure after the other would do,
        in the same order (events, the pools' removes, the claims given back), without Python per
        VM but for the few that were migrating (their move is aborted) or pending a restart. The
        claims (on their hosts, and on the destination of a VM that was migrating) are released
        at once: nothing reads the summaries in between, and the sums come out the same bit for bit."""
        if not fids:
            return
        v, tick = self.vms, self.tick
        ids = np.array(fids, dtype=np.int64)
        state = v.state[ids]
        ids = ids[(state != REFUSED) & (state != DEPARTED)]
        if ids.size == 0:
            return
        state, hosts, local = v.state[ids], v.host[ids], v.local[ids]
        departed = [{"tick": tick, "event": "departed", "vm": fid} for fid in ids.tolist()]
        # a migrating VM's move is aborted first (its event logged just before its departure's)
        destination = np.full(ids.size, -1, dtype=np.int64)
        done = 0
        for i in np.flatnonzero(state == MIGRATING).tolist():
            self.events.extend(departed[done:i])
            destination[i] = self._abort_migration(int(ids[i]), "departed", release=False)
            done = i
        self.events.extend(departed[done:])
        pending = ids[state == PENDING]
        if pending.size:
            waiting = set(self._restarts)
            pending = pending[[fid in waiting for fid in pending.tolist()]]
            gone = set(pending.tolist())
            self._restarts = [fid for fid in self._restarts if fid not in gone]
            v.lost_ticks[pending] += tick - v.down_since[pending]
        on = hosts >= 0
        self.pool.remove_vms(hosts[on], local[on], ids[on])
        self.members.remove_many(hosts[on], local[on])
        if self._boots:  # boot images not written yet (VMs placed since the last tick)
            gone = set(ids.tolist())
            for h in np.unique(hosts[on]).tolist():
                if h in self._boots:
                    self._boots[h] = [fid for fid in self._boots[h] if fid not in gone]
        v.state[ids], v.host[ids], v.local[ids] = DEPARTED, -1, -1
        # per VM, in order: its destination's claim (if it was migrating), then its host's
        pairs = np.stack([destination, hosts], axis=1).reshape(-1)
        owners = np.repeat(ids, 2)
        claimed = pairs >= 0
        if claimed.any():
            released = owners[claimed]
            self.summaries.release(pairs[claimed], v.vcpus[released], v.pages[released], v.reservation[released],
                                   v.domain[released])

    def _restart_due(self) -> None:
        v = self.vms
        waiting = []
        for fid in self._restarts:
            if v.restart_at[fid] > self.tick:
                waiting.append(fid)
                continue
            host = self._place(fid)
            if host < 0:
                waiting.append(fid)
                continue
            lost = self.tick - int(v.down_since[fid])
            v.lost_ticks[fid] += lost
            self._log("vm_restarted", vm=fid, host=host, lost_minutes=lost * self.tick_seconds / 60)
        self._restarts = waiting

    def _candidates(self, interval: int, ends: tuple[int, int] | None = None) -> Candidates | None:
        """The VMs on hosts as the passes see them (rules F8, F9, F16): those of the ``ends =
        (most, least)`` loaded open hosts (None: all), with every host's entitled demand, from
        the pools (rule F25); a move must finish within the pass's `interval` ticks."""
        v, s = self.vms, self.summaries
        cores, rows = self.pool.pass_view(s.up & ~s.closed, ends)
        vm = rows["vm"]
        if not len(self.members):  # no VM on any host
            return None
        window = interval * self.tick_seconds
        pages = v.pages[vm]
        dirty_rate, ready, swapped = rows["dirty_rate"], rows["last_ready"], rows["last_swapped"]

        def cost(i: np.ndarray) -> np.ndarray:
            duration, converged = precopy_estimate(self.migration, pages[i], dirty_rate[i])
            return np.where(converged & (duration <= window), duration / window, np.inf)

        def column(values: np.ndarray) -> LazyColumn:
            return LazyColumn(vm, values.__getitem__)

        # the passes read these for a few hundred VMs (those of the hosts they consider): computed
        # where read (elementwise: the same values as in full)
        rows_at = np.arange(vm.size)
        return Candidates(
            vm=vm, host=rows["host"].copy(), load=rows["load"],
            badness=LazyColumn(rows_at, lambda i: ready[i] / 100.0 + swapped[i] / np.maximum(pages[i], 1)),
            movable=(v.state[vm] == RUNNING) & (rows["ent_n"] > 0),
            cost=LazyColumn(rows_at, cost),
            vcpus=column(v.vcpus), pages=column(v.pages), reservation=column(v.reservation), limit=column(v.limit),
            domain=column(v.domain), cores=cores if ends is not None else None, dirty_rate=dirty_rate,
        )

    def _rate(self, candidates: Candidates, fid: int) -> float:
        """The dirty rate of candidate VM `fid` (rows are in fleet id order)."""
        assert candidates.dirty_rate is not None
        return float(candidates.dirty_rate[np.searchsorted(candidates.vm, fid)])

    def _balance(self) -> None:
        policy = self.balance
        assert policy is not None  # called only when balancing
        # rule F9's sources and destinations lie among these hosts (docs/fleet.md, rule F25)
        ends = (policy.source_hosts + policy.max_moves, policy.destination_hosts + policy.max_moves)
        candidates = self._candidates(policy.interval, ends)
        if candidates is None:
            return
        s = self.summaries
        cores = candidates.cores
        assert cores is not None
        before = imbalance(cores / s.pcpus, s.up)  # before the pass moves
        moved = cores.copy()
        moves = drs_pass(s, candidates, policy)
        for move in moves:
            load = float(candidates.load[np.searchsorted(candidates.vm, move.vm)])
            moved[move.source] -= load
            moved[move.destination] += load
            self._start_migration(move.vm, move.destination, claimed=True, rate=self._rate(candidates, move.vm))
        after = imbalance(moved / s.pcpus, s.up)
        self._log("balance", imbalance=before, predicted=after, moves=len(moves), target=policy.target)

    # ------------------------------------------------------------ consolidation

    def _consolidate(self) -> None:
        """Rules F14-F16: power hosts on, or start evacuating one host to power it off."""
        policy = self.consolidation
        assert policy is not None  # called only when consolidating
        candidates = self._candidates(policy.interval)
        if candidates is None:  # no VM on any host: every host but `min_hosts` may be powered off
            candidates = Candidates.empty()
        measured = self.series.get("host_demand")
        plan = consolidation_pass(self.summaries, candidates, policy, self.powered_off,
                                  demand=measured[-1] if measured else None)
        for h in plan.power_on:
            self._power_on(h)
        for h in plan.evacuate:
            self.summaries.set_closed(h, True)
            self._draining.add(h)
        for move in plan.moves:
            self._start_migration(move.vm, move.destination, claimed=True, rate=self._rate(candidates, move.vm))
        for h in plan.evacuate:
            self._log("evacuation", host=h, moves=sum(m.source == h for m in plan.moves))

    def _power_on(self, h: int) -> None:
        self.pool.repair(h)  # a fresh, empty host, as after a repair
        self.powered_off[h] = False
        self.summaries.set_up(h, True)
        self.failure_clock.host_up(h, self.tick)
        self._log("host_powered_on", host=h)

    def _power_on_for(self, needs: VmNeeds) -> bool:
        """Rule F15: power on the lowest-id powered-off host whose rules (F1) admit the VM when
        empty; False if there is none."""
        candidates = np.flatnonzero(self.powered_off & admits_when_empty(self.summaries, needs))
        if candidates.size == 0:
            return False
        self._power_on(int(candidates[0]))
        return True

    def _drained(self) -> None:
        """Rule F17, at the end of the tick: a host being evacuated is powered off once it holds
        no VM and no claim; it takes VMs again if one of its VMs stays (its move failed or was
        aborted); a host that failed meanwhile is no longer evacuated."""
        s, v = self.summaries, self.vms
        for h in sorted(self._draining):
            if not s.up[h]:
                self._draining.discard(h)
                s.set_closed(h, False)
            elif not self.members.sizes[h] and s.vcpus_used[h] == 0:
                self._draining.discard(h)
                self.pool.fail(h)
                s.clear(h)
                s.set_closed(h, False)
                s.set_up(h, False)
                self.powered_off[h] = True
                self._log("host_powered_off", host=h)
            elif any(v.state[fid] == RUNNING for fid in self.members[h]):
                self._draining.discard(h)
                s.set_closed(h, False)
                self._log("evacuation_cancelled", host=h)

    def _inputs(self, t: int, ids: np.ndarray, sizes: np.ndarray) -> TickInputs:
        v = self.vms
        assert self._cpu is not None
        vcpus = v.cores[ids]
        activity = self._cpu[t][v.column[ids]]
        # pre-copy CPU overhead is charged to the migrating VM on its source (rule F7)
        demand = np.minimum(activity * vcpus + v.overhead[ids], vcpus)
        up = self.summaries.up.copy()  # a host is up in the summaries exactly while its pool holds it
        inputs = TickInputs(0, up, sizes, demand, tick=t, vms=ids)  # fleet ids: the pools keep the totals
        if self.memory is not None:
            # the hosts draw their own references (rule F21): each is told where its part starts
            running = np.zeros(ids.size + 1, dtype=np.int64)  # running[i]: the references of the VMs before i
            np.cumsum(self.memory.references(activity), out=running[1:])
            boots = [(h, fid, v.pages[fid], v.domain[fid], v.local[fid])
                     for h in sorted(self._boots) for fid in self._boots[h]]
            self._boots = {}
            inputs = TickInputs(0, up, sizes, demand, self.memory, self.seed, t, ids, v.local[ids], v.pages[ids],
                                activity, running[np.cumsum(sizes) - sizes], int(running[-1]),
                                np.array(boots, dtype=np.int64).reshape(-1, 5))
        return inputs

    def _collect(self, t: int, tick: HostTick, ids: np.ndarray, sizes: np.ndarray) -> None:
        v, s = self.vms, self.summaries
        row: dict[str, np.ndarray] = {}
        resident = sum(tick.pages_resident.tolist())  # Python's sum: left to right, in host order
        sharing = sum(tick.pages_sharing.tolist())
        # per host, summed where the hosts step (rule F25)
        row["load"] = tick.entitled / s.pcpus
        row["used"] = tick.used / s.pcpus
        row["demand"] = tick.demand.copy()
        row["unmet"] = tick.unmet.copy()
        row["vms"] = sizes.astype(float)
        row["frames_used"] = tick.frames_used.copy()
        row["saving"] = tick.saving.copy()
        row["power"] = np.zeros(len(self.specs))
        if self.power is not None:
            p = self.power
            row["power"] = np.where(s.up, p.idle_watts + (p.peak_watts - p.idle_watts) * np.minimum(row["used"], 1.0),
                                    np.where(self.powered_off, p.off_watts, 0.0))
        s.measured(row["load"], row["frames_used"])
        states = np.bincount(v.state[: v.size], minlength=len(STATES))
        fleet: dict[str, Any] = {
            "imbalance": imbalance(s.load, s.up),
            "active_hosts": int(s.up.sum()),
            "demand": float(row["demand"].sum()),
            "unmet": float(row["unmet"].sum()),
            "energy_wh": float(row["power"].sum()) * self.tick_seconds / 3600.0,
            "memory_saving": sharing / resident if resident else 0.0,
            **{name: int(states[i]) for i, name in enumerate(STATES)},
        }
        for name, value in row.items():
            self.series.setdefault("host_" + name, []).append(value)
        self.series.setdefault("host_up", []).append(s.up.copy())
        for name, value in fleet.items():
            self.series.setdefault(name, []).append(value)

    # ------------------------------------------------------------ accounting

    def check_accounting(self) -> None:
        """Rule F12: every VM in one state; each running or migrating VM on
        exactly one up host, in that host's VM order; no host over its
        admission rules or its frames. Raises FleetInvariantError."""
        v, s, n = self.vms, self.summaries, self.vms.size
        state = v.state[:n]
        placed = np.flatnonzero((state == RUNNING) | (state == MIGRATING))
        on_hosts = np.sort(self.members.layout()[0])
        if not np.array_equal(on_hosts, placed):
            raise FleetInvariantError(f"tick {self.tick}: VMs on hosts {on_hosts.size} != running or migrating {placed.size}")
        if np.any(~s.up[v.host[placed]]):
            raise FleetInvariantError(f"tick {self.tick}: a running VM is on a failed host")
        if len(self._restarts) != int((state == PENDING).sum()):
            raise FleetInvariantError(f"tick {self.tick}: {len(self._restarts)} restarts queued, {(state == PENDING).sum()} pending")
        if np.any(self.members.sizes != np.bincount(v.host[placed], minlength=len(self.hosts))):
            raise FleetInvariantError(f"tick {self.tick}: the VM counts per host differ from the VMs placed")
        for h, host in enumerate(self.hosts):
            if host is None:
                continue
            if host.vms != v.local[np.asarray(self.members[h], dtype=np.int64)].tolist():
                raise FleetInvariantError(f"tick {self.tick}: host {h}'s VMs differ from the fleet's record")
        migrating = placed[state[placed] == MIGRATING]
        hosts = len(self.hosts)
        claimed = np.bincount(v.host[placed], weights=v.vcpus[placed], minlength=hosts) + np.bincount(
            v.target[migrating], weights=v.vcpus[migrating], minlength=hosts)
        if not np.array_equal(claimed.astype(np.int64), s.vcpus_used):
            raise FleetInvariantError(f"tick {self.tick}: host summaries' vCPU claims differ from the VMs placed")
        free = s.vcpu_capacity - s.vcpus_used + np.where(s.up & ~s.closed, 0.0, -np.inf)
        if not np.array_equal(free, s.vcpu_free):
            raise FleetInvariantError(f"tick {self.tick}: placement's free vCPUs are stale")
        over = (s.vcpus_used > s.vcpu_capacity) | (s.frames_reserved > s.frame_capacity) | (s.cpu_reserved > s.pcpus * (1 + 1e-9))
        if over.any():
            raise FleetInvariantError(f"tick {self.tick}: host {int(np.argmax(over))} over its admission rules")
        if self.series.get("host_frames_used") and np.any(self.series["host_frames_used"][-1] > s.memory_frames):
            raise FleetInvariantError(f"tick {self.tick}: a host uses more frames than it has")
        if self.series.get("host_used") and np.any(self.series["host_used"][-1] > 1 + 1e-9):
            raise FleetInvariantError(f"tick {self.tick}: a host delivered more CPU than its pCPUs")

    # ------------------------------------------------------------ runs

    def result(self) -> FleetRun:
        """Everything recorded so far as a :class:`FleetRun`."""
        v, n = self.vms, self.vms.size
        hosts = {name: np.array(self.series.get("host_" + name, []), dtype=bool if name == "up" else float).T.copy()
                 for name in HOST_SERIES}
        fleet = {name: np.array(self.series.get(name, [])) for name in FLEET_SERIES}
        # rule F25: the totals of VMs on no host are here, every other row in its pool
        totals = {name: getattr(v, name)[:n].copy() for name in ("demand_sum", "used_sum", "unmet_sum", "ready_sum",
                                                                   "ticks_running")}
        held = self.pool.results()
        for name, values in totals.items():
            values[held["vm"]] = held[name]
        ticks = totals["ticks_running"]
        vms = {
            "state": v.state[:n].copy(),
            "host": v.host[:n].copy(),
            "vcpus": v.vcpus[:n].copy(),
            "ticks_running": ticks,
            "demand": totals["demand_sum"],
            "used": totals["used_sum"],
            "unmet": totals["unmet_sum"],
            "ready_pct_mean": np.where(ticks > 0, totals["ready_sum"] / np.maximum(ticks, 1), 0.0),
            "lost_ticks": v.lost_ticks[:n].copy(),
        }
        return FleetRun(hosts, fleet, vms, list(self.events), self.tick_seconds)

    def run(self, workload: FleetWorkload | None = None, ticks: int | None = None, progress: bool = False) -> FleetRun:
        """Attach `workload` (if given) and step to the end of the series (or `ticks` more ticks)."""
        if workload is not None:
            self.attach(workload)
        if self._cpu is None:
            raise ValueError("workload: nothing to run (attach a workload or submit VMs with series)")
        end = self._cpu.shape[0] if ticks is None else self.tick + ticks
        if ticks is not None and (ticks < 0 or end > self._cpu.shape[0]):
            raise ValueError(f"ticks = {ticks}: the series end at tick {self._cpu.shape[0]}, the fleet is at {self.tick}")
        bar = _progress(end - self.tick) if progress else None
        while self.tick < end:
            self.step()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return self.result()


def _progress(total: int) -> Any:
    from ..progress import progress

    return progress(total, "fleet", unit="ticks")
