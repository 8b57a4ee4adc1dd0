"""One shard: a group of hosts (rule F18: dealt in turn) living in one worker (a Ray or Dask actor).

The coordinator sends each shard, in one call per tick, the operations it
decided since the last call (adds, removes, imports of migrating VMs, hosts
failed or repaired), in the order it decided them, followed by the tick's
inputs; the shard applies them in that order and steps its hosts in host id
order (``docs/fleet.md``, rules F18-F20). A shard never raises into the
engine: it returns ``("ok", value)`` or ``("error", exception)``, so that an
exception reaching the coordinator from the engine itself means the worker
was lost, and an error of vsched's keeps its type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .hosts import step_hosts
from .packed import HostTick, TickInputs, TickSummaries
from .series import VmSeries
from .spec import HostSpec
from .totals import VmTotals

__all__ = ["HostShard", "ShardStateError"]


class ShardStateError(RuntimeError):
    """A shard's host differs from what the coordinator's ledger predicted (a bug, or a refusal no ledger sees)."""


class HostShard:
    """The hosts at places ``first .. first + len(specs) - 1`` of a sharded pool's layout (fleet
    ids `host_ids`, rule F18), built as the serial fleet builds them."""

    def __init__(self, first: int, specs: Sequence[HostSpec], tick_seconds: int, engines: str,
                 vm_series: bool = False, host_ids: Sequence[int] | None = None) -> None:
        if engines == "native":
            from ..host import Host
        else:
            from ..reference import Host  # type: ignore[assignment]
        self._host_class = Host
        self.first = first  # where its hosts start in the pool's layout (rule F18): operations name them so
        self.specs = list(specs)
        # their fleet ids (rule F18 deals the hosts to the shards), for the series and the messages
        self.host_ids = np.arange(first, first + len(self.specs)) if host_ids is None else np.asarray(host_ids)
        self.tick_seconds = tick_seconds
        self.hosts: list[Any] = [self._new_host(i) for i in range(len(self.specs))]
        self.series = VmSeries() if vm_series else None  # rule F24: the per-VM series stay here
        self.totals = VmTotals(first, np.array([spec.pcpus for spec in self.specs]), tick_seconds)  # rule F25

    def _new_host(self, i: int) -> Any:
        return self.specs[i].build(self._host_class, self.tick_seconds)

    def _apply(self, ops: Sequence[tuple[Any, ...]]) -> None:
        """Apply the coordinator's operations in its order; each names a host by fleet id."""
        for op in ops:
            if op[0] == "reset":
                self.totals.reset_entitled()
                continue
            if op[0] == "removes":  # departures: VMs op[3] of fleet hosts op[2], fleet ids op[4], in order
                for h, vm in zip(op[2].tolist(), op[3].tolist()):
                    self.hosts[h - self.first].remove_vm(vm)
                self.totals.depart_many(op[4])
                continue
            kind, h = op[0], op[1] - self.first
            fid, row = -1, None
            if kind == "add":
                _, _, args, kwargs, expected, *rest = op  # rest: the fleet VM id and its totals
                fid, row = rest if rest else (-1, None)
                got = self.hosts[h].add_vm(*args, **kwargs)
            elif kind == "import":
                _, _, (state, row), expected, fid = op
                got = self.hosts[h].import_vm(state)
            elif kind == "remove":
                self.hosts[h].remove_vm(op[2])
                if len(op) > 3 and op[3] >= 0:
                    self.totals.depart(op[3])
                continue
            elif kind == "drop":
                self.hosts[h] = None
                continue
            elif kind == "new":
                self.hosts[h] = self._new_host(h)
                continue
            else:
                raise ValueError(f"unknown shard operation {kind!r}")
            if got != expected:
                raise ShardStateError(f"host {self.host_ids[h]}: VM id {got}, the coordinator's ledger expected {expected}")
            if fid >= 0:
                self.totals.place(fid, op[1], row)

    def _guarded(self, work: Any, *args: Any) -> tuple[str, Any]:
        try:
            return "ok", work(*args)
        except Exception as error:  # sent back as a value: see the module docstring
            return "error", error

    def step(self, ops: Sequence[tuple[Any, ...]], inputs: TickInputs,
             expected: tuple[np.ndarray, np.ndarray] | None) -> tuple[str, Any]:
        """Apply `ops`, check each host's VMs against `expected` (VMs per host, their host VM ids
        concatenated; None = skip), step every host; the summaries packed."""
        def work() -> Any:
            self._apply(ops)
            if expected is not None:
                counts, ids = expected
                parts = np.split(ids, np.cumsum(counts)[:-1])
                for h, (host, mine) in enumerate(zip(self.hosts, parts)):
                    if host is not None and host.vms != mine.tolist():
                        raise ShardStateError(f"host {self.host_ids[h]}: its VMs differ from the coordinator's record")
            summaries = TickSummaries.pack(step_hosts(self.hosts, inputs.unpack()))
            if self.series is not None:
                self.series.record(inputs, summaries, self.host_ids)
            return HostTick.of(summaries, self.totals.record(inputs.vms, inputs.sizes, summaries))
        return self._guarded(work)

    def drop(self, ops: Sequence[tuple[Any, ...]], host: int) -> tuple[str, Any]:
        """Apply `ops`, then drop `host` (it failed): the totals of its VMs, handed back."""
        def work() -> Any:
            self._apply(ops)
            self.hosts[host - self.first] = None
            return self.totals.take_host(host)
        return self._guarded(work)

    def pass_view(self, ops: Sequence[tuple[Any, ...]], open_: np.ndarray,
                  ends: tuple[int, int] | None) -> tuple[str, Any]:
        """Apply `ops`, then what a pass reads here (:meth:`VmTotals.pass_view`)."""
        def work() -> Any:
            self._apply(ops)
            return self.totals.pass_view(open_, ends)
        return self._guarded(work)

    def rows(self, ops: Sequence[tuple[Any, ...]], fids: np.ndarray) -> tuple[str, Any]:
        """Apply `ops`, then the totals of those of `fids` on hosts here."""
        def work() -> Any:
            self._apply(ops)
            t = self.totals
            mine = fids[(fids < t.size)]
            return t.rows(mine[t.present[mine] & (t.host[mine] >= 0)])
        return self._guarded(work)

    def results(self, ops: Sequence[tuple[Any, ...]]) -> tuple[str, Any]:
        def work() -> Any:
            self._apply(ops)
            return self.totals.results()
        return self._guarded(work)

    def write_series(self, path: str) -> tuple[str, Any]:
        """Rule F24: write this shard's per-VM series to `path` (Parquet); the row count."""
        def work() -> Any:
            if self.series is None:
                raise ValueError("this shard keeps no per-VM series (Fleet(..., vm_series=True))")
            return self.series.write_parquet(path)
        return self._guarded(work)

    def export(self, ops: Sequence[tuple[Any, ...]], vms: Sequence[tuple[int, int, int]]) -> tuple[str, Any]:
        """Apply `ops`, then give up VMs ``(fleet host, VM, fleet VM id)`` in order, each as a
        VmState and its totals row (they migrate away)."""
        def work() -> Any:
            self._apply(ops)
            states = []
            for host, vm, fid in vms:
                source = self.hosts[host - self.first]
                state = source.export_vm(vm)
                source.remove_vm(vm)
                row = None
                if fid >= 0:
                    taken = self.totals.take(np.array([fid]))
                    row = {name: values[0] for name, values in taken.items()}
                states.append((state, row))
            return states
        return self._guarded(work)

    def ping(self) -> tuple[str, Any]:
        """One empty round trip (the actor-call overhead the benchmarks measure)."""
        return "ok", self.first
