"""Where a fleet's hosts live: in the coordinator (``serial``) or in shards on
Ray or Dask actors (``docs/fleet.md``, "Backends", rules F18-F22, F25).

The coordinator talks to its hosts only through a pool: ``add_vm``,
``remove_vm``, ``move_vm``, ``fail``, ``repair``, ``vms``, ``step`` and, for the
per-VM totals kept with the hosts (:mod:`.totals`), ``pass_view``, ``rows``,
``reset_entitled`` and ``results``. The serial pool holds the hosts. A sharded pool holds an admission ledger per host
(:mod:`.ledger`), queues every operation for the shard owning the host and
sends the queue with the tick's inputs: one call per shard per tick, all
shards at once, results taken in shard order (never completion order).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .hosts import step_hosts
from .ledger import ledger_host
from .migration import move_vm
from .packed import HostTick, TickInputs, TickSummaries
from .series import VmSeries, series_file
from .shard import HostShard
from .spec import HostSpec, VmSpec
from .totals import VmTotals

__all__ = ["BACKENDS", "ShardLostError", "make_pool", "shard_args", "shard_bounds", "shard_hosts"]

BACKENDS = ("serial", "ray", "dask")


class ShardLostError(RuntimeError):
    """A shard's worker died or could not be reached; the run cannot go on (nothing was counted from that tick)."""


def shard_hosts(hosts: int, shards: int) -> list[np.ndarray]:
    """Rule F18: shard s holds hosts ``s, s + S, s + 2 S, ...`` (dealt in turn), in host id order.

    Dealt rather than cut into ranges: placement packs the low host ids first (best fit breaks
    ties by host id), so ranges gave the first shard most of the VMs and the others waited."""
    return [np.arange(s, hosts, shards, dtype=np.int64) for s in range(shards)]


def shard_bounds(groups: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Where each shard's hosts sit in the pool's layout (the groups one after the other)."""
    ends = np.cumsum([len(g) for g in groups]).tolist()
    return [(a, b) for a, b in zip([0, *ends[:-1]], ends)]


def shard_args(specs: Sequence[HostSpec], groups: Sequence[np.ndarray]) -> list[tuple[int, list[HostSpec], np.ndarray]]:
    """`HostShard`'s first arguments for each shard: its start in the layout, its hosts' specs and ids."""
    return [(a, [specs[h] for h in group.tolist()], group) for (a, _), group in zip(shard_bounds(groups), groups)]


def _needs(extra: str, module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f'backend={extra!r} needs {module}: pip install "vsched[{extra}]"') from None


class SerialPool:
    """The hosts themselves, in the coordinator: the default backend and the oracle of the others."""

    backend = "serial"
    tick = 0

    def __init__(self, specs: Sequence[HostSpec], tick_seconds: int, host_class: Any, vm_series: bool = False) -> None:
        self._specs, self._tick_seconds, self._host_class = list(specs), tick_seconds, host_class
        self.hosts: list[Any] = [self._new(h) for h in range(len(self._specs))]
        self.series = VmSeries() if vm_series else None
        self.totals = VmTotals(0, np.array([spec.pcpus for spec in self._specs]), tick_seconds)

    def _new(self, h: int) -> Any:
        return self._specs[h].build(self._host_class, self._tick_seconds)

    def add_vm(self, h: int, spec: VmSpec, fid: int = -1, row: dict[str, Any] | None = None) -> int:
        """Add fleet VM `fid` (its totals `row`, None: a new VM) to host `h`; its id there."""
        vm = int(self.hosts[h].add_vm(spec.vcpus, spec.memory_pages, **spec.add_kwargs()))
        if fid >= 0:
            self.totals.place(fid, h, row)
        return vm

    def remove_vm(self, h: int, vm: int, fid: int = -1) -> None:
        """VM `vm` of host `h` departs (fleet VM `fid`: its totals stay, for the results)."""
        self.hosts[h].remove_vm(vm)
        if fid >= 0:
            self.totals.depart(fid)

    def remove_vms(self, hosts: np.ndarray, vms: np.ndarray, fids: np.ndarray) -> None:
        """Fleet VMs `fids` (``vms[i]`` on ``hosts[i]``) depart, in this order (their totals stay)."""
        for h, vm in zip(hosts.tolist(), vms.tolist()):
            self.hosts[h].remove_vm(vm)
        self.totals.depart_many(fids)

    def move_vm(self, src: int, dst: int, vm: int, fid: int = -1) -> int:
        new = move_vm(self.hosts[src], self.hosts[dst], vm)
        if fid >= 0:
            self.totals.move(fid, dst)
        return new

    def settle(self) -> None:
        pass  # moves are done at once

    def fail(self, h: int) -> dict[str, np.ndarray]:
        """Host `h` is down; the totals of the VMs it held, handed back (fleet id order)."""
        self.hosts[h] = None
        return self.totals.take_host(h)

    def repair(self, h: int) -> None:
        self.hosts[h] = self._new(h)

    def reset_entitled(self) -> None:
        self.totals.reset_entitled()

    def pass_view(self, open_: np.ndarray, ends: tuple[int, int] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.totals.pass_view(open_, ends)

    def rows(self, fids: np.ndarray) -> dict[str, np.ndarray]:
        return self.totals.rows(fids)

    def results(self) -> dict[str, np.ndarray]:
        return self.totals.results()

    def up(self, h: int) -> bool:
        return self.hosts[h] is not None

    def vms(self, h: int) -> list[int]:
        return self.hosts[h].vms

    def step(self, inputs: TickInputs, check: bool) -> HostTick:
        summaries = TickSummaries.pack(step_hosts(self.hosts, inputs.unpack()))
        if self.series is not None:
            self.series.record(inputs, summaries)
        return HostTick.of(summaries, self.totals.record(inputs.vms, inputs.sizes, summaries))

    def export_parquet(self, directory: str) -> list[str]:
        """Rule F24: one file, as shard 0."""
        assert self.series is not None
        path = series_file(directory, 0)
        self.series.write_parquet(path)
        return [path]

    def close(self) -> None:
        pass


class ShardedPool:
    """Hosts in `runner`'s shards; ledgers and operation queues here (rules F19-F20)."""

    def __init__(self, specs: Sequence[HostSpec], tick_seconds: int, runner: Any) -> None:
        self._specs, self._tick_seconds = list(specs), tick_seconds
        self.runner = runner
        self.backend = runner.backend
        self.bounds = runner.bounds  # each shard's run of the layout
        # the layout (rule F18): the shards' hosts one shard after the other; the shards name a
        # host by its place here, the coordinator by its id
        self.order = np.concatenate(runner.groups)  # host id at each place
        self.place = np.empty_like(self.order)
        self.place[self.order] = np.arange(self.order.size)
        self.identity = bool(np.array_equal(self.order, np.arange(self.order.size)))
        self.shard_of = np.repeat(np.arange(len(self.bounds)), [b - a for a, b in self.bounds])[self.place]
        self.hosts: list[Any] = [ledger_host(spec, tick_seconds) for spec in self._specs]  # the ledgers
        self._ops: list[list[tuple[Any, ...]]] = [[] for _ in self.bounds]
        self._moves: list[tuple[int, int, int, int, int]] = []  # (source, VM, destination, its id there, fleet id) not shipped yet
        self.tick = 0  # the fleet's tick, set by the fleet: named when a shard is lost

    def _queue(self, h: int, op: tuple[Any, ...]) -> None:
        self._ops[int(self.shard_of[h])].append(op)

    def add_vm(self, h: int, spec: VmSpec, fid: int = -1, row: dict[str, Any] | None = None) -> int:
        args, kwargs = (spec.vcpus, spec.memory_pages), spec.add_kwargs()
        vm = int(self.hosts[h].add_vm(*args, **kwargs))  # AdmissionError: the real host would refuse too
        self._queue(h, ("add", int(self.place[h]), args, kwargs, vm, fid, row))
        return vm

    def remove_vm(self, h: int, vm: int, fid: int = -1) -> None:
        self.hosts[h].remove_vm(vm)
        self._queue(h, ("remove", int(self.place[h]), vm, fid))

    def remove_vms(self, hosts: np.ndarray, vms: np.ndarray, fids: np.ndarray) -> None:
        """Fleet VMs `fids` (``vms[i]`` on ``hosts[i]``) depart, in this order: the ledgers let go
        now; each shard gets one operation with its part, in the same order."""
        ledgers = self.hosts
        for h, vm in zip(hosts.tolist(), vms.tolist()):
            ledgers[h].remove_vm(vm)
        shard = self.shard_of[hosts]
        for s in np.unique(shard).tolist():
            mine = shard == s
            self._ops[s].append(("removes", -1, self.place[hosts[mine]], vms[mine], fids[mine]))

    def move_vm(self, src: int, dst: int, vm: int, fid: int = -1) -> int:
        """Rule F20: the destination's ledger admits (AdmissionError: nothing changes) and the
        source's lets go at once; the VM's state crosses at :meth:`settle`."""
        ledger = self.hosts[src]
        record = ledger.record(vm)
        new = int(self.hosts[dst].add_vm(record.vcpus, record.memory_pages, shares=record.shares,
                                         reservation=None if record.reservation_is_default else record.reservation,
                                         limit=record.limit, domain=record.domain))
        ledger.remove_vm(vm)
        self._moves.append((src, vm, dst, new, fid))
        return new

    def settle(self) -> None:
        """Ship the VMs moved since the last call (rule F20). Each round, the source shards apply
        their queues and give their VMs up (exported, then removed), one call per shard, all at
        once; the destinations import them with their next queue. A round ends before a move
        whose source host took a VM earlier in the round: its export must see that import."""
        moves, self._moves = self._moves, []
        while moves:
            taken: set[int] = set()
            cut = len(moves)
            for i, (src, _, dst, _, _) in enumerate(moves):
                if src in taken:
                    cut = i
                    break
                taken.add(dst)
            round_, moves = moves[:cut], moves[cut:]
            by_shard: dict[int, list[int]] = {}
            for i, (src, _, _, _, _) in enumerate(round_):
                by_shard.setdefault(int(self.shard_of[src]), []).append(i)
            shards = sorted(by_shard)
            calls = []
            for s in shards:
                ops, self._ops[s] = self._ops[s], []
                calls.append((ops, [(int(self.place[round_[i][0]]), round_[i][1], round_[i][4]) for i in by_shard[s]]))
            states: dict[int, Any] = {}
            for s, part in zip(shards, self.runner.call_some(shards, "export", calls, tick=self.tick)):
                states.update(zip(by_shard[s], part))
            for i, (_, _, dst, new, fid) in enumerate(round_):  # in the order the moves were decided
                self._queue(dst, ("import", int(self.place[dst]), states[i], new, fid))

    def _flush(self, shards: Sequence[int], method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        """`method` on `shards` after each applies its queue (so it sees every operation decided so far)."""
        calls = []
        for s, extra in zip(shards, args):
            ops, self._ops[s] = self._ops[s], []
            calls.append((ops, *extra))
        return self.runner.call_some(shards, method, calls, tick=self.tick)

    def fail(self, h: int) -> dict[str, np.ndarray]:
        """Host `h` is down: its shard drops it now and hands back its VMs' totals (a host fails
        rarely: one call)."""
        self.hosts[h] = None
        return self._flush([int(self.shard_of[h])], "drop", [(int(self.place[h]),)])[0]

    def repair(self, h: int) -> None:
        self.hosts[h] = ledger_host(self._specs[h], self._tick_seconds)
        self._queue(h, ("new", int(self.place[h])))

    def up(self, h: int) -> bool:
        return self.hosts[h] is not None

    def vms(self, h: int) -> list[int]:
        return self.hosts[h].vms

    def reset_entitled(self) -> None:
        for s in range(len(self.bounds)):
            self._ops[s].append(("reset",))

    def pass_view(self, open_: np.ndarray, ends: tuple[int, int] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rule F25: every shard's part (all at once), merged: per-host cores in host order, rows in fleet id order."""
        shards = list(range(len(self.bounds)))
        open_ = open_[self.order]
        parts = self._flush(shards, "pass_view", [(open_[a:b], ends) for a, b in self.bounds])
        cores = np.concatenate([part[0] for part in parts])[self.place]
        rows = _merged([part[1] for part in parts])
        rows["host"] = self.order[rows["host"]]
        return cores, rows

    def rows(self, fids: np.ndarray) -> dict[str, np.ndarray]:
        """The totals of VMs on hosts (`fids`), from their shards."""
        fids = np.asarray(fids, dtype=np.int64)
        shards = list(range(len(self.bounds)))
        parts = self._flush(shards, "rows", [(fids,) for _ in shards])
        found = _merged(parts)
        if found["vm"].size != np.unique(fids).size:
            raise KeyError(f"VMs {sorted(set(fids.tolist()) - set(found['vm'].tolist()))} are on no host")
        return {name: values[np.searchsorted(found["vm"], fids)] for name, values in found.items()}

    def results(self) -> dict[str, np.ndarray]:
        shards = list(range(len(self.bounds)))
        return _merged(self._flush(shards, "results", [() for _ in shards]))

    def step(self, inputs: TickInputs, check: bool) -> HostTick:
        """Rule F20: every shard applies its queue and steps its hosts; summaries in host id order."""
        calls = []
        if not self.identity:
            inputs = inputs.reordered(self.order, self.place)
        for s, (a, b) in enumerate(self.bounds):
            expected = None
            if check:  # the shard checks its hosts' VMs against the ledgers before stepping
                ids = [self.hosts[h].vms if self.hosts[h] is not None else [] for h in self.order[a:b].tolist()]
                expected = (np.array([len(x) for x in ids], dtype=np.int64),
                            np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64))
            calls.append((self._ops[s], inputs.part(a, b), expected))
        self._ops = [[] for _ in self.bounds]
        tick = HostTick.join(self.runner.call_all("step", calls, tick=self.tick))
        return tick if self.identity else tick.taken(self.place)

    def export_parquet(self, directory: str) -> list[str]:
        """Rule F24: each shard writes its own file, all at once (`directory` must be reachable
        from the shards' workers)."""
        paths = [series_file(directory, s) for s in range(len(self.bounds))]
        self.runner.call_all("write_series", [(path,) for path in paths], tick=self.tick)
        return paths

    def close(self) -> None:
        self.runner.close()


def _merged(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Rows of several shards as one, in fleet id order (a VM's row is in one shard only)."""
    rows = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.argsort(rows["vm"], kind="stable")
    return {name: values[order] for name, values in rows.items()}


class _Runner:
    """Calls into the shards' actors; subclasses say how (Ray, Dask)."""

    backend = ""

    def __init__(self, groups: list[np.ndarray]) -> None:
        self.groups = groups  # each shard's host ids (rule F18)
        self.bounds = shard_bounds(groups)

    def _lost(self, s: int, tick: int, error: BaseException) -> ShardLostError:
        hosts = self.groups[s].tolist()
        held = ", ".join(map(str, hosts[:3])) + (f", ... {hosts[-1]}" if len(hosts) > 3 else "")
        return ShardLostError(f"{self.backend} shard {s} (hosts {held}) was lost at tick {tick}: "
                              f"{type(error).__name__}: {error}")

    def _result(self, s: int, tick: int, reply: tuple[str, Any]) -> Any:
        status, value = reply
        if status == "error":
            raise value
        return value

    def call_some(self, shards: Sequence[int], method: str, calls: list[tuple[Any, ...]], *, tick: int) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def call_all(self, method: str, calls: list[tuple[Any, ...]], *, tick: int) -> list[Any]:
        """`method` on every shard (shard s with ``calls[s]``), all at once; results in shard order."""
        return self.call_some(range(len(self.bounds)), method, calls, tick=tick)


class RayRunner(_Runner):
    """One Ray actor per shard (``ray.init()`` first if Ray is not running)."""

    backend = "ray"

    def __init__(self, groups: list[np.ndarray], specs: Sequence[HostSpec], tick_seconds: int, engines: str,
                 vm_series: bool = False) -> None:
        super().__init__(groups)
        ray = self.ray = _needs("ray", "ray")
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        # num_cpus=0: an actor holds no CPU while idle, so any shard count fits any cluster
        shard = ray.remote(num_cpus=0, max_restarts=0)(HostShard)
        self.actors = [shard.remote(first, mine, tick_seconds, engines, vm_series, ids)
                       for first, mine, ids in shard_args(specs, groups)]

    def call_some(self, shards: Sequence[int], method: str, calls: list[tuple[Any, ...]], *, tick: int) -> list[Any]:
        futures = [getattr(self.actors[s], method).remote(*args) for s, args in zip(shards, calls)]
        replies = []
        for s, future in zip(shards, futures):  # in shard order: never the order they complete in
            try:
                replies.append(self.ray.get(future))
            except self.ray.exceptions.RayError as error:
                raise self._lost(s, tick, error) from error
        return [self._result(s, tick, r) for s, r in zip(shards, replies)]

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


WORKER_WAIT_SECONDS = 60


class DaskRunner(_Runner):
    """One Dask actor (``Client.submit(..., actor=True)``) per shard, on `client` (default: the
    current client, or a local cluster of `shards` single-threaded worker processes, closed with the pool)."""

    backend = "dask"

    def __init__(self, groups: list[np.ndarray], specs: Sequence[HostSpec], tick_seconds: int, engines: str,
                 client: Any = None, vm_series: bool = False) -> None:
        super().__init__(groups)
        distributed = _needs("dask", "distributed")
        self._owned: list[Any] = []
        if client is None:
            try:
                client = distributed.get_client()
            except ValueError:
                cluster = distributed.LocalCluster(n_workers=len(groups), threads_per_worker=1, processes=True,
                                                   dashboard_address=None)
                client = distributed.Client(cluster)
                self._owned = [client, cluster]
        self.client = client
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:  # a cluster still starting, or restarting a lost worker
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
            except Exception as error:  # distributed raises its own TimeoutError
                raise RuntimeError(f"the Dask client has no workers (waited {WORKER_WAIT_SECONDS} s)") from error
            workers = sorted(client.scheduler_info()["workers"])
        # shard s on worker s mod W: a fixed spread, not the scheduler's choice of the moment
        self.workers = [workers[s % len(workers)] for s in range(len(groups))]
        futures = [client.submit(HostShard, first, mine, tick_seconds, engines, vm_series, ids, actor=True,
                                 workers=[self.workers[s]], pure=False)
                   for s, (first, mine, ids) in enumerate(shard_args(specs, groups))]
        self.actors = [f.result() for f in futures]

    def call_some(self, shards: Sequence[int], method: str, calls: list[tuple[Any, ...]], *, tick: int) -> list[Any]:
        futures = []
        for s, args in zip(shards, calls):
            try:
                futures.append(getattr(self.actors[s], method)(*args))
            except Exception as error:
                raise self._lost(s, tick, error) from error
        replies = []
        for s, future in zip(shards, futures):  # in shard order
            try:
                replies.append(future.result())
            except Exception as error:  # the shard returns its own errors as values: this is the engine's
                raise self._lost(s, tick, error) from error
        return [self._result(s, tick, r) for s, r in zip(shards, replies)]

    def close(self) -> None:
        self.actors = []
        for owned in self._owned:
            owned.close()
        self._owned = []


def make_pool(backend: str, shards: int, specs: Sequence[HostSpec], tick_seconds: int, engines: str,
              host_class: Any, client: Any = None, vm_series: bool = False) -> Any:
    """The pool for `backend` (arguments validated by the caller)."""
    if backend == "serial":
        return SerialPool(specs, tick_seconds, host_class, vm_series)
    groups = shard_hosts(len(specs), shards)
    if backend == "ray":
        runner: Any = RayRunner(groups, specs, tick_seconds, engines, vm_series)
    else:
        runner = DaskRunner(groups, specs, tick_seconds, engines, client, vm_series)
    return ShardedPool(specs, tick_seconds, runner)
