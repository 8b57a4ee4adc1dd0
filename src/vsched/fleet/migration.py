"""Pre-copy live migration: how long a move takes, what it sends and how long
the VM stops (``docs/fleet.md``, rules F5-F7), and the one function that moves
a VM's state from host to host."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import MigrationModel

__all__ = ["MigrationCost", "move_vm", "precopy", "precopy_closed_form", "precopy_estimate"]


@dataclass(frozen=True)
class MigrationCost:
    """One migration's cost: bytes sent, dirty rounds after the full copy,
    total duration and the stop-and-copy downtime (seconds); ``converged``
    is False when ``max_rounds`` forced the stop with more than the downtime
    limit left."""

    bytes: float
    rounds: int
    duration: float
    downtime: float
    converged: bool


def precopy(model: MigrationModel, pages: int, dirty_rate: float) -> MigrationCost:
    """Rule F5, round by round: round 0 copies all ``pages``; round i copies
    the pages dirtied while round i-1 was sent, ``min(pages, rate x t_{i-1})``;
    stop-and-copy once a round's remainder fits ``bandwidth x max_downtime``
    (or after ``max_rounds`` dirty rounds). ``dirty_rate`` in pages per second."""
    bandwidth = model.bandwidth / model.page_bytes  # pages per second
    budget = bandwidth * model.max_downtime  # pages the stop-and-copy may send
    remaining = float(pages)  # pages the next round sends
    sent = 0.0
    copies = 0  # rounds sent while the VM runs: the full copy, then dirty rounds
    elapsed = 0.0
    while remaining > budget and copies <= model.max_rounds:
        seconds = remaining / bandwidth
        sent += remaining
        elapsed += seconds
        remaining = min(float(pages), dirty_rate * seconds)
        copies += 1
    downtime = remaining / bandwidth
    dirty_rounds = max(copies - 1, 0)
    return MigrationCost(
        bytes=(sent + remaining) * model.page_bytes,
        rounds=dirty_rounds,
        duration=elapsed + downtime,
        downtime=downtime,
        converged=remaining <= budget,
    )


def precopy_closed_form(model: MigrationModel, pages: int, dirty_rate: float) -> MigrationCost:
    """Rule F6: the constant-rate solution. With ratio ``r = rate / bandwidth``
    < 1, round i sends ``pages x r^i``; the first n with ``pages x r^n <=
    budget`` ends pre-copy: ``n = ceil(log(budget / pages) / log r)`` (capped
    at ``max_rounds + 1``); bytes = ``pages x (1 - r^(n+1)) / (1 - r)`` pages,
    downtime = ``pages x r^n / bandwidth``. An independent check of
    :func:`precopy` (with ``r >= 1`` every round resends all pages)."""
    bandwidth = model.bandwidth / model.page_bytes
    budget = bandwidth * model.max_downtime
    if pages <= budget:
        return MigrationCost(pages * model.page_bytes, 0, pages / bandwidth, pages / bandwidth, True)
    r = dirty_rate / bandwidth
    if r >= 1:  # every round resends everything (the dirty set is capped at the VM's pages)
        n = model.max_rounds + 1
        total_pages, last = float(pages) * (n + 1), float(pages)
    else:
        n = 1 if r == 0 else min(math.ceil(math.log(budget / pages) / math.log(r)), model.max_rounds + 1)
        total_pages, last = pages * (1 - r ** (n + 1)) / (1 - r), pages * r**n
    return MigrationCost(
        bytes=total_pages * model.page_bytes,
        rounds=n - 1,
        duration=total_pages / bandwidth,
        downtime=last / bandwidth,
        converged=last <= budget,
    )


def move_vm(src: Any, dst: Any, vm: int) -> int:
    """Move VM `vm` from host `src` to host `dst` with ``Host.export_vm`` /
    ``import_vm``; returns its id on `dst`. The destination re-shares its pages
    by content within its domain and continues its reallocator window. Nothing
    changes if the destination refuses (AdmissionError)."""
    new_id = dst.import_vm(src.export_vm(vm))
    src.remove_vm(vm)
    return int(new_id)


def precopy_estimate(model: MigrationModel, pages: np.ndarray, dirty_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rule F6 for many VMs at once: (duration seconds, converged) per VM,
    as the balancing pass needs them to weigh a move's cost."""
    pages = np.asarray(pages, dtype=float)
    bandwidth = model.bandwidth / model.page_bytes
    budget = bandwidth * model.max_downtime
    r = np.asarray(dirty_rate, dtype=float) / bandwidth
    cap = model.max_rounds + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(r <= 0, 1.0, np.ceil(np.log(budget / pages) / np.log(np.where(r < 1, r, 0.5))))
        n = np.where(r >= 1, cap, np.minimum(n, cap))
        total = np.where(r >= 1, pages * (n + 1), pages * (1 - r ** (n + 1)) / (1 - np.where(r < 1, r, 0.0)))
        last = np.where(r >= 1, pages, pages * r**n)
    small = pages <= budget
    duration = np.where(small, pages, total) / bandwidth
    converged = small | (last <= budget)
    return duration, converged
