"""The consolidation pass: power hosts on when demand rises, evacuate a lightly
loaded host and power it off when it falls (``docs/fleet.md``, rules F14-F17),
over host summaries and the same candidate VMs as the balancing pass."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .balance import Candidates, Move, _claim
from .placement import HostSummaries
from .spec import ConsolidationPolicy

__all__ = ["Plan", "consolidation_pass"]


@dataclass(frozen=True)
class Plan:
    """What one pass decided: hosts to power on, or one host to evacuate (-1: none) and the
    moves that empty it (none when it is already empty)."""

    power_on: tuple[int, ...] = ()
    evacuate: int = -1
    moves: tuple[Move, ...] = ()


def consolidation_pass(s: HostSummaries, c: Candidates, policy: ConsolidationPolicy, off: np.ndarray,
                       demand: np.ndarray | None = None) -> Plan:
    """Rules F14-F16. ``off``: the hosts powered off (they may be powered on);
    ``demand``: each host's CPU demand in cores (last tick), which, unlike the
    entitled demand of the candidates, can exceed a saturated host's pCPUs
    (None: the candidates' loads). On an evacuation, claims the destinations
    in ``s`` and updates ``c.host`` as if the moves had happened (like
    :func:`drs_pass`)."""
    hosts = len(s.up)
    on = s.up & ~s.closed
    cores = np.bincount(c.host, weights=c.load, minlength=hosts)
    capacity = float(s.pcpus[on].sum())
    demand_on = float((cores if demand is None else np.asarray(demand, dtype=float))[on].sum())
    # F15: power on, lowest id first, until the demand fits under `high` of the capacity on
    if demand_on > policy.high * capacity:
        chosen = []
        for h in np.flatnonzero(off).tolist():
            if demand_on <= policy.high * capacity:
                break
            chosen.append(h)
            capacity += float(s.pcpus[h])
        return Plan(power_on=tuple(chosen))
    if int(on.sum()) <= policy.min_hosts:
        return Plan()
    # F16: the candidates, least loaded first (ties: lowest id): load under `low`, every VM
    # movable at a finite cost, no VM migrating in (its claims would exceed its own VMs')
    load = cores / s.pcpus
    vcpus_here = np.bincount(c.host, weights=c.vcpus, minlength=hosts).astype(np.int64)
    stuck = np.bincount(c.host, weights=(~c.movable | ~np.isfinite(c.cost)).astype(float), minlength=hosts) > 0
    eligible = on & (load < policy.low) & ~stuck & (s.vcpus_used == vcpus_here)
    for h in np.flatnonzero(eligible)[np.argsort(load[eligible], kind="stable")].tolist():
        if demand_on > policy.high * (capacity - float(s.pcpus[h])):
            continue
        moves = _evacuate(s, c, policy, on, cores, h)
        if moves is None:
            continue
        for move, i in moves:
            _claim(s, c, i, move.destination)
            c.host[i] = move.destination
        return Plan(evacuate=h, moves=tuple(move for move, _ in moves))
    return Plan()


def _evacuate(s: HostSummaries, c: Candidates, policy: ConsolidationPolicy, on: np.ndarray, cores: np.ndarray,
              h: int) -> list[tuple[Move, int]] | None:
    """Rule F16: a destination for every VM of host h, largest load first (ties: candidate
    order), each on the powered-on host (not h) it leaves most loaded without passing `high`
    (ties: lowest id) among those its admission rules (F1) admit; None if one has none."""
    mine = np.flatnonzero(c.host == h)
    mine = mine[np.argsort(-c.load[mine], kind="stable")]
    open_ = on.copy()
    open_[h] = False
    dests = np.flatnonzero(open_)
    used_v = s.vcpus_used[dests].astype(np.int64)
    used_f = s.frames_reserved[dests].astype(np.int64)
    used_c = s.cpu_reserved[dests].astype(float)
    after = cores[dests].copy()
    guarantee = s.min_guarantee[dests]
    pcpus = s.pcpus[dests]
    moves: list[tuple[Move, int]] = []
    for i in mine.tolist():
        vcpus, pages = int(c.vcpus[i]), int(c.pages[i])
        given = float(c.reservation[i])
        reservation = guarantee * vcpus if math.isnan(given) else np.full(dests.size, given)
        limit = float(c.limit[i])
        fits = (used_v + vcpus <= s.vcpu_capacity[dests])
        fits &= used_f + np.ceil(guarantee * pages).astype(np.int64) <= s.frame_capacity[dests]
        fits &= used_c + reservation <= pcpus + 1e-9 * pcpus
        fits &= reservation <= vcpus
        if not math.isnan(limit):
            fits &= limit >= reservation
        load_after = (after + float(c.load[i])) / pcpus
        fits &= load_after <= policy.high
        if not fits.any():
            return None
        k = int(np.argmax(np.where(fits, load_after, -np.inf)))
        used_v[k] += vcpus
        used_f[k] += int(np.ceil(guarantee[k] * pages))
        used_c[k] += float(reservation[k])
        after[k] += float(c.load[i])
        moves.append((Move(int(c.vm[i]), h, int(dests[k]), 0.0), i))
    return moves
