"""A tick's host inputs and summaries packed into a few arrays (``docs/fleet.md``, rule F20).

Per-host objects cost a sharded backend one serialised array each, thousands
per tick at a thousand hosts; packed, a shard's part of the tick is a handful
of arrays whatever its host count. Hosts are contiguous in every array (host
id order, or a sharded pool's layout: :meth:`TickInputs.reordered`; then host
VM order), so a shard's part is one slice of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .hosts import GuestPlan, HostInput, HostSummary

__all__ = ["HostTick", "TickInputs", "TickSummaries"]


def _offsets(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@dataclass
class TickInputs:
    """Inputs of hosts ``first .. first + len(up) - 1`` for one tick: per host `up` and its VM
    count; per VM (concatenated) its demand and, with guest memory, what :class:`GuestPlan` needs."""

    first: int
    up: np.ndarray  # bool per host
    sizes: np.ndarray  # VMs per host
    demand: np.ndarray
    guest: Any = None  # the fleet's GuestMemory, None = memory off
    seed: int = 0
    tick: int = 0
    vms: np.ndarray | None = None  # fleet ids
    local: np.ndarray | None = None  # host VM ids
    pages: np.ndarray | None = None
    activity: np.ndarray | None = None
    firsts: np.ndarray | None = None  # per host: where its references start in the fleet's batch
    total: int = 0
    boots: np.ndarray | None = None  # rows (host, fleet id, pages, domain, host VM id), host order

    def part(self, a: int, b: int) -> TickInputs:
        """Hosts a .. b - 1 (fleet ids) of these."""
        lo, hi = a - self.first, b - self.first
        offsets = _offsets(self.sizes)
        va, vb = int(offsets[lo]), int(offsets[hi])
        cut = lambda x: None if x is None else x[va:vb]
        boots = None
        if self.boots is not None:
            rows = np.searchsorted(self.boots[:, 0], [a, b])
            boots = self.boots[rows[0]:rows[1]]
        return TickInputs(a, self.up[lo:hi], self.sizes[lo:hi], self.demand[va:vb], self.guest, self.seed, self.tick,
                          cut(self.vms), cut(self.local), cut(self.pages), cut(self.activity),
                          None if self.firsts is None else self.firsts[lo:hi], self.total, boots)

    def reordered(self, order: np.ndarray, place: np.ndarray) -> TickInputs:
        """These inputs (of every host, ``first == 0``) with host ``order[p]`` at place p (a
        sharded pool's layout, rule F18): per-host values taken in that order, each host's VMs kept
        together in host VM order; ``place`` is the inverse of ``order``."""
        assert self.first == 0 and order.size == self.sizes.size
        offsets = _offsets(self.sizes)
        sizes = self.sizes[order]
        starts = _offsets(sizes)
        # VM j of the host at place p comes from offsets[order[p]] + j
        rows = np.repeat(offsets[:-1][order] - starts[:-1], sizes) + np.arange(int(starts[-1]), dtype=np.int64)
        take = lambda x: None if x is None else x[rows]
        boots = None
        if self.boots is not None:
            boots = self.boots.copy()
            boots[:, 0] = place[boots[:, 0]]
            boots = boots[np.argsort(boots[:, 0], kind="stable")]  # a host's rows keep their order
        return TickInputs(0, self.up[order], sizes, self.demand[rows], self.guest, self.seed, self.tick,
                          take(self.vms), take(self.local), take(self.pages), take(self.activity),
                          None if self.firsts is None else self.firsts[order], self.total, boots)

    def unpack(self) -> list[HostInput | None]:
        """One :class:`HostInput` per host (None for a host that is down)."""
        offsets = _offsets(self.sizes).tolist()
        if self.boots is not None:
            starts = np.searchsorted(self.boots[:, 0], self.first + np.arange(self.up.size + 1)).tolist()
        out: list[HostInput | None] = []
        for i, up in enumerate(self.up.tolist()):
            if not up:
                out.append(None)
                continue
            a, b = offsets[i], offsets[i + 1]
            memory = None
            if self.guest is not None:
                assert self.boots is not None and self.vms is not None and self.local is not None
                assert self.pages is not None and self.activity is not None and self.firsts is not None
                memory = GuestPlan(self.guest, self.seed, self.tick, self.boots[starts[i]:starts[i + 1], 1:],
                                   self.vms[a:b], self.local[a:b], self.pages[a:b], self.activity[a:b],
                                   int(self.firsts[i]), self.total)
            out.append(HostInput(self.demand[a:b], memory))
        return out


_PER_VM = ("demand", "used", "ready_pct", "entitlement", "swapped", "dirtied")
_PER_HOST = ("frames_used", "saving", "pages_resident", "pages_sharing")


@dataclass
class TickSummaries:
    """:class:`HostSummary` of consecutive hosts packed: per-VM fields concatenated over
    the hosts that are up (host order), per-host fields one array each (0 where down)."""

    up: np.ndarray
    demand: np.ndarray
    used: np.ndarray
    ready_pct: np.ndarray
    entitlement: np.ndarray
    swapped: np.ndarray
    dirtied: np.ndarray
    frames_used: np.ndarray
    saving: np.ndarray
    pages_resident: np.ndarray
    pages_sharing: np.ndarray

    @classmethod
    def pack(cls, summaries: Sequence[HostSummary | None]) -> TickSummaries:
        live = [x for x in summaries if x is not None]
        per_vm = {}
        for name in _PER_VM:
            arrays = [np.asarray(getattr(x, name)) for x in live]
            per_vm[name] = np.concatenate(arrays) if arrays else np.zeros(0, np.int64 if name == "dirtied" else float)
        per_host = {name: np.array([0.0 if x is None else getattr(x, name) for x in summaries], dtype=float)
                    for name in _PER_HOST}
        return cls(up=np.array([x is not None for x in summaries], dtype=bool), **per_vm, **per_host)

    @classmethod
    def join(cls, parts: Sequence[TickSummaries]) -> TickSummaries:
        """Consecutive runs of hosts, in host order, as one."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass
class HostTick:
    """What a pool returns of a tick, per host only (rule F25: the per-VM values stay where the
    hosts step): the host fields of :class:`TickSummaries` and, summed over each host's VMs in
    host VM order, entitled demand, CPU used, demand and unmet demand (cores; 0 where down)."""

    up: np.ndarray
    frames_used: np.ndarray
    saving: np.ndarray
    pages_resident: np.ndarray
    pages_sharing: np.ndarray
    entitled: np.ndarray
    used: np.ndarray
    demand: np.ndarray
    unmet: np.ndarray

    @classmethod
    def of(cls, summaries: TickSummaries, sums: dict[str, np.ndarray]) -> HostTick:
        return cls(up=summaries.up, **{name: getattr(summaries, name) for name in _PER_HOST}, **sums)

    @classmethod
    def join(cls, parts: Sequence[HostTick]) -> HostTick:
        """Consecutive runs of hosts, in host order, as one."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def taken(self, rows: np.ndarray) -> HostTick:
        """Host ``rows[h]`` of these as host h (a sharded pool's layout back in host id order)."""
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})
