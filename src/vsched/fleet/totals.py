"""Per-VM totals kept where the hosts step (``docs/fleet.md``, rule F25).

Every pool that steps hosts (the serial pool, each shard) keeps, for the VMs it
holds, what the tick adds up per VM (demand, used, unmet, ready % and running
ticks for the results; entitled demand, last ready %, last swapped pages and
the dirty rate for the passes), indexed by fleet VM id. Each tick it returns
per-host sums only, so the coordinator's tick does not grow with the VMs. A
VM's row travels with it: in its state when it migrates, back to the
coordinator when its host fails (the coordinator keeps the rows of VMs on no
host), to the new host when it restarts. A departed VM's row stays where it
was (for the results). Every update is the coordinator's former formula, on
the same values in the same order, so the sums are the same bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COLUMNS", "VmTotals"]

FLOAT = ("demand_sum", "used_sum", "unmet_sum", "ready_sum", "ent_sum", "last_ready", "last_swapped", "dirty_rate")
INT = ("ticks_running", "ent_n", "dirtied_prev")
BOOL = ("dirtied_valid",)
COLUMNS = FLOAT + INT + BOOL  # a VM's row, as it travels
RESULTS = ("demand_sum", "used_sum", "unmet_sum", "ready_sum", "ticks_running")


class VmTotals:
    """The rows of the VMs held by hosts ``first .. first + len(pcpus) - 1`` (fleet VM ids index them)."""

    demand_sum: np.ndarray
    used_sum: np.ndarray
    unmet_sum: np.ndarray
    ready_sum: np.ndarray
    ent_sum: np.ndarray  # entitled demand since the last pass (rule F8)
    last_ready: np.ndarray
    last_swapped: np.ndarray
    dirty_rate: np.ndarray  # pages per second (rule F7)
    ticks_running: np.ndarray
    ent_n: np.ndarray
    dirtied_prev: np.ndarray  # the memory's vm_dirtied counter last tick
    dirtied_valid: np.ndarray

    def __init__(self, first: int, pcpus: np.ndarray, tick_seconds: int) -> None:
        self.first, self.pcpus, self.tick_seconds = first, np.asarray(pcpus, dtype=float), tick_seconds
        self.size = 0
        self.present = np.zeros(0, dtype=bool)  # the row is here (on a host, or departed from one)
        self.host = np.zeros(0, dtype=np.int64)  # fleet host id, -1: departed
        for names, dtype in ((FLOAT, float), (INT, np.int64), (BOOL, bool)):
            for name in names:
                setattr(self, name, np.zeros(0, dtype=dtype))

    def _cover(self, fid: int) -> None:
        if fid < self.size:
            return
        size = max(64, 2 * self.size, fid + 1)
        for name in ("present", "host", *COLUMNS):
            old = getattr(self, name)
            new = np.full(size, -1, dtype=old.dtype) if name == "host" else np.zeros(size, dtype=old.dtype)
            new[: self.size] = old
            setattr(self, name, new)
        self.size = size

    def place(self, fid: int, host: int, row: dict[str, Any] | None = None) -> None:
        """VM `fid` is on `host` now, with its `row` (None: a new VM, all zeros); its next dirty
        counter starts a new measurement (rule F7)."""
        self._cover(fid)
        self.present[fid], self.host[fid] = True, host
        for name in COLUMNS:
            getattr(self, name)[fid] = 0 if row is None else row[name]
        self.dirtied_valid[fid] = False

    def move(self, fid: int, host: int) -> None:
        """A migration inside this pool."""
        self.host[fid] = host
        self.dirtied_valid[fid] = False

    def depart(self, fid: int) -> None:
        self.host[fid] = -1

    def depart_many(self, fids: np.ndarray) -> None:
        self.host[fids] = -1

    def take(self, fids: np.ndarray) -> dict[str, np.ndarray]:
        """Hand the rows of `fids` over (they leave this pool): ``{"vm": fids, column: values}``."""
        fids = np.asarray(fids, dtype=np.int64)
        rows = {"vm": fids, **{name: getattr(self, name)[fids].copy() for name in COLUMNS}}
        self.present[fids], self.host[fids] = False, -1
        return rows

    def take_host(self, host: int) -> dict[str, np.ndarray]:
        """The rows of the VMs on `host` (it failed), in fleet id order."""
        return self.take(np.flatnonzero(self.present & (self.host == host)))

    def reset_entitled(self) -> None:
        """Rule F8: entitled demand is averaged from one pass to the next."""
        self.ent_sum[:], self.ent_n[:] = 0.0, 0

    def record(self, vms: np.ndarray | None, sizes: np.ndarray, tick: Any) -> dict[str, np.ndarray]:
        """One tick of these hosts (`vms`: fleet ids in host, then host VM order; `sizes`: VMs
        per host; `tick`: their packed summaries): the rows updated, and per host the sums of
        entitled demand, CPU used, demand and unmet demand (in host VM order)."""
        hosts = sizes.size
        if vms is None or vms.size == 0:
            assert not sizes.any(), "the fleet ids of the hosts' VMs are needed"
            zero = np.zeros(hosts)
            return {"entitled": zero, "used": zero.copy(), "demand": zero.copy(), "unmet": zero.copy()}
        demand, used, ready = tick.demand, tick.used, tick.ready_pct
        entitled = np.minimum(demand, tick.entitlement)
        unmet = np.maximum(demand - used, 0.0)
        self.demand_sum[vms] += demand
        self.used_sum[vms] += used
        self.unmet_sum[vms] += unmet
        self.ready_sum[vms] += ready
        self.ticks_running[vms] += 1
        self.ent_sum[vms] += entitled
        self.ent_n[vms] += 1
        self.last_ready[vms] = ready
        self.last_swapped[vms] = tick.swapped
        # rule F7: pages dirtied since the last tick, per second (not over a placement or a move)
        valid = self.dirtied_valid[vms]
        self.dirty_rate[vms] = np.where(valid, (tick.dirtied - self.dirtied_prev[vms]) / self.tick_seconds,
                                        self.dirty_rate[vms])
        self.dirtied_prev[vms] = tick.dirtied
        self.dirtied_valid[vms] = True
        host_of = np.repeat(np.arange(hosts), sizes)
        return {name: np.bincount(host_of, weights=values, minlength=hosts)
                for name, values in (("entitled", entitled), ("used", used), ("demand", demand), ("unmet", unmet))}

    def on_hosts(self) -> np.ndarray:
        """The VMs on a host here, in fleet id order."""
        return np.flatnonzero(self.present[: self.size] & (self.host[: self.size] >= 0))

    def pass_view(self, open_: np.ndarray, ends: tuple[int, int] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rule F8 per host: the entitled demand of its VMs (cores, summed in fleet id order); and
        the rows a pass reads of the VMs on the open hosts (`open_`: per host here, up and not
        closed) that are among the ``ends = (most, least)`` loaded (None: of every host), in
        fleet id order. Ranked as the balancing pass ranks them (load, then host id), so
        the fleet's most and least loaded hosts are among the union of every pool's."""
        vms = self.on_hosts()
        ent_n = self.ent_n[vms]
        load = np.where(ent_n > 0, self.ent_sum[vms] / np.maximum(ent_n, 1), 0.0)
        local = self.host[vms] - self.first
        cores = np.bincount(local, weights=load, minlength=self.pcpus.size)
        if ends is not None:
            index = np.flatnonzero(open_)
            order = index[np.argsort(cores[index] / self.pcpus[index], kind="stable")]
            chosen = np.zeros(self.pcpus.size, dtype=bool)
            chosen[order[::-1][: ends[0]]] = True
            chosen[order[: ends[1]]] = True
            keep = chosen[local]
            vms, load, local, ent_n = vms[keep], load[keep], local[keep], ent_n[keep]
        rows = {"vm": vms, "host": local + self.first, "load": load, "ent_n": ent_n,
                **{name: getattr(self, name)[vms] for name in ("last_ready", "last_swapped", "dirty_rate")}}
        return cores, rows

    def rows(self, fids: np.ndarray) -> dict[str, np.ndarray]:
        fids = np.asarray(fids, dtype=np.int64)
        return {"vm": fids, **{name: getattr(self, name)[fids] for name in COLUMNS}}

    def results(self) -> dict[str, np.ndarray]:
        """The result columns of every row here (``vm``: their fleet ids)."""
        vms = np.flatnonzero(self.present[: self.size])
        return {"vm": vms, **{name: getattr(self, name)[vms] for name in RESULTS}}
