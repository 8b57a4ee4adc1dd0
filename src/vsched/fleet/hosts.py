"""Stepping the hosts: the one function a distributed backend replaces.

``step_hosts(hosts, inputs)`` runs one tick on every host that has input and
returns compact per-host summaries, in host order. Hosts never talk to each
other during a tick, so a backend may step shards of hosts in parallel and
merge the summaries ordered by host id; everything global (placement,
balancing, migration, failures) happens between ticks in the coordinator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GuestPlan", "HostInput", "HostSummary", "step_hosts", "vm_dirtied"]


@dataclass
class GuestPlan:
    """What one host's guests do to memory this tick, small enough to ship to a shard: the boot
    images to write (VMs just placed) and the inputs of the tick's references; the host draws
    the pages itself, exactly the slice the whole fleet's batch would give it (rule F21)."""

    guest: Any  # the fleet's GuestMemory
    seed: int
    tick: int
    boots: np.ndarray  # rows (fleet id, pages, domain, host VM id) of the VMs whose boot image is written first
    vms: np.ndarray  # fleet ids of the host's VMs, host VM order
    local: np.ndarray  # their host VM ids
    pages: np.ndarray
    activity: np.ndarray  # this tick's utilisation
    first: int  # where the host's references start in the fleet's batch
    total: int  # the fleet's references this tick

    def batches(self) -> list[dict[str, np.ndarray]]:
        g = self.guest
        memory = [g.boot(self.seed, int(fid), int(pages), int(domain), int(local))
                  for fid, pages, domain, local in self.boots.tolist()]
        batch = g.tick(self.seed, self.tick, self.vms, self.pages, self.activity, self.first, self.total)
        batch["vm"] = self.local[batch["vm"]]  # the host's own VM ids
        memory.append(batch)
        return memory


@dataclass
class HostInput:
    """One host's tick: CPU demand per VM (host VM order) and memory batches (``vm`` = host VM ids),
    given as batches or as a :class:`GuestPlan` the host turns into batches."""

    demand: np.ndarray
    memory: list[dict[str, np.ndarray]] | GuestPlan | None = None


@dataclass
class HostSummary:
    """What the coordinator needs back from one host's tick (per-VM arrays in host VM order)."""

    demand: np.ndarray
    used: np.ndarray
    ready_pct: np.ndarray  # the host's ready_pct + limited_pct (docs/fleet.md, rule F23)
    entitlement: np.ndarray
    swapped: np.ndarray
    dirtied: np.ndarray  # cumulative pages dirtied per VM (memory manager counter)
    frames_used: float
    saving: float
    pages_resident: float
    pages_sharing: float


def vm_dirtied(host: Any, stats: dict[str, Any] | None = None) -> np.ndarray:
    """Cumulative pages dirtied by each VM of `host` (host VM order), from its
    memory manager's ``vm_dirtied`` counter (``stats``: its stats() if at hand)."""
    stats = host.memory.stats() if stats is None else stats
    memory_ids = np.asarray(host._layout.column("memory_ids"), dtype=np.int64)  # the host's VM -> memory id map
    rows = np.searchsorted(stats["vm"], memory_ids)
    return np.asarray(stats["vm_dirtied"], dtype=np.int64)[rows] if memory_ids.size else np.zeros(0, np.int64)


def _step_one(host: Any, work: HostInput) -> HostSummary:
    memory = work.memory.batches() if isinstance(work.memory, GuestPlan) else work.memory
    tick = host.step(work.demand, memory)
    stats = host.memory.stats()
    dirtied = vm_dirtied(host, stats)
    return HostSummary(
        demand=tick["cpu_demand"],
        used=tick["cpu_used"],
        # ready % incl. limited time, esxtop's %RDY (rule F23): a fluid host's own ready time is 0 under caps
        ready_pct=tick["ready_pct"] + tick["limited_pct"],
        entitlement=tick["entitlement"],
        swapped=tick["mem_swapped"],
        dirtied=dirtied,
        frames_used=float(tick["frames_used"]),
        saving=float(tick["saving"]),
        pages_resident=float(stats["pages_resident"]),
        pages_sharing=float(stats["pages_sharing"]),
    )


def step_hosts(hosts: Sequence[Any], inputs: Sequence[HostInput | None]) -> list[HostSummary | None]:
    """One tick of every host with an input (None = the host is down or skipped)."""
    return [None if work is None else _step_one(host, work) for host, work in zip(hosts, inputs)]
