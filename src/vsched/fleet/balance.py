"""The DRS-like balancing pass (``docs/fleet.md``, rules F8-F9), vectorised over
host summaries and candidate VMs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .placement import HostSummaries
from .spec import BalancePolicy

__all__ = ["Candidates", "LazyColumn", "Move", "candidate_loads", "drs_pass", "host_loads", "imbalance"]


class LazyColumn:
    """A per-candidate column computed only where it is read: ``column[index]`` is
    ``compute(rows[index])`` (rows: fleet VM ids); ``np.asarray(column)`` computes it in full.
    `compute` must be elementwise, so that a part equals the same part of the whole."""

    def __init__(self, rows: np.ndarray, compute: Any) -> None:
        self.rows, self.compute = rows, compute

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, index: Any) -> Any:
        return self.compute(self.rows[index])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.asarray(self.compute(self.rows))
        return values if dtype is None else values.astype(dtype)


class _Memo:
    """A candidate column computed at most once per candidate during a pass (elementwise, so
    the values are those computed in full)."""

    def __init__(self, column: Any) -> None:
        self.column = column
        self.values = np.zeros(len(column))
        self.done = np.zeros(len(column), dtype=bool)

    def fill(self, index: np.ndarray) -> None:
        missing = index[~self.done[index]]
        if missing.size:
            self.values[missing] = self.column[missing]
            self.done[missing] = True

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        self.fill(index)
        return self.values[index]


class _LoadOrder:
    """The up hosts sorted by (load, host id), as a stable argsort of the loads gives them, kept
    up to date when a move changes two hosts' loads: two arrays (loads, hosts) in that order; a
    moved host's entry is found and put back by binary search on (load, host id), the entries
    in between shifted by one (no sort per move, no Python per host)."""

    def __init__(self, up_index: np.ndarray, loads: np.ndarray) -> None:
        order = up_index[np.argsort(loads[up_index], kind="stable")]
        self.hosts = order
        self.loads = loads[order]
        self.load = loads.copy()  # per host: its load in the order

    def lowest(self, k: int) -> np.ndarray:
        return self.hosts[:k].copy()

    def highest(self, k: int) -> np.ndarray:
        """The last `k` of the order, last first."""
        return self.hosts[max(0, self.hosts.size - k):][::-1].copy() if k else np.zeros(0, dtype=np.int64)

    def _where(self, load: float, h: int) -> int:
        """Where (load, h) is or would be in the order: after the smaller loads and, among
        equal loads, after the lower host ids."""
        at = int(np.searchsorted(self.loads, load, side="left"))
        end = int(np.searchsorted(self.loads, load, side="right"))
        if end > at:  # ties on the load: by host id
            at += int(np.searchsorted(self.hosts[at:end], h, side="left"))
        return at

    def moved(self, hosts: tuple[int, int], loads: np.ndarray) -> None:
        for h in hosts:
            old, new = float(self.load[h]), float(loads[h])
            i = self._where(old, h)  # its entry
            j = self._where(new, h)  # where it goes, counted with its entry still in place
            if j > i:
                j -= 1
                self.hosts[i:j] = self.hosts[i + 1:j + 1]  # numpy copies overlapping slices correctly
                self.loads[i:j] = self.loads[i + 1:j + 1]
            elif j < i:
                self.hosts[j + 1:i + 1] = self.hosts[j:i]
                self.loads[j + 1:i + 1] = self.loads[j:i]
            self.hosts[j], self.loads[j] = h, new
            self.load[h] = new


@dataclass
class Candidates:
    """The VMs a pass may consider (one entry per VM, any order).

    ``load``: entitled demand in cores (rule F8); ``badness``: the VM score,
    ready % / 100 + swapped share of its pages (higher = worse off);
    ``movable``: False for VMs already migrating; ``cost``: the migration's
    duration as a fraction of the pass interval (inf = would not converge).
    """

    vm: np.ndarray  # fleet VM ids
    host: np.ndarray  # host index
    load: np.ndarray
    # the columns below: arrays, or LazyColumns (computed where read)
    badness: Any
    movable: np.ndarray
    cost: Any
    vcpus: Any
    pages: Any
    reservation: Any  # NaN = the host's default (min_guarantee x vcpus)
    limit: Any  # NaN = no limit
    domain: Any
    # per host, the entitled demand of all its VMs (cores; rule F8), when the candidates are only
    # some of them (the VMs a balancing pass can read, rule F25); None: summed from the candidates
    cores: np.ndarray | None = None
    dirty_rate: np.ndarray | None = None  # pages per second (rule F7), for the moves chosen

    @classmethod
    def empty(cls) -> Candidates:
        i, f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return cls(i, i, f, f, np.zeros(0, dtype=bool), f, i, i, f, f, i)


@dataclass(frozen=True)
class Move:
    vm: int
    source: int
    destination: int
    goodness: float  # imbalance before - after


def host_loads(s: HostSummaries, host: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Rule F8: per host, sum of its VMs' entitled demand / pCPUs."""
    return np.bincount(host, weights=load, minlength=len(s.up)) / s.pcpus


def candidate_loads(s: HostSummaries, c: Candidates) -> np.ndarray:
    """Rule F8's host loads, from the hosts' sums when the candidates carry them."""
    return host_loads(s, c.host, c.load) if c.cores is None else c.cores / s.pcpus


def imbalance(loads: np.ndarray, up: np.ndarray) -> float:
    """Rule F8: population standard deviation of the up hosts' loads."""
    return _std(loads[up]) if up.any() else 0.0


def _std(x: np.ndarray) -> float:
    """``float(np.std(x))`` for a non-empty 1-D float array, by numpy's own steps (the mean as a
    one-element sum over the count, the squared deviations, their sum over the count, the
    square root) without its generic wrapper (a pass calls this once per move tried)."""
    if x.dtype != np.float64 or x.ndim != 1:
        return float(np.std(x))
    n = x.size
    mean = np.add.reduce(x, axis=None, keepdims=True)
    np.true_divide(mean, n, out=mean)
    deviations = np.subtract(x, mean)
    np.square(deviations, out=deviations)
    return float(np.sqrt(np.add.reduce(deviations, axis=None) / n))


def drs_pass(s: HostSummaries, c: Candidates, policy: BalancePolicy) -> list[Move]:
    """Greedy moves until the imbalance is at most the target, no move is good
    enough, or ``max_moves`` (rule F9). Updates ``s`` (claims) and ``c.host``
    as if each move had happened; returns the moves in the order chosen."""
    up = s.up & ~s.closed  # hosts being evacuated (rule F16) are neither sources nor destinations
    n = int(up.sum())
    moves: list[Move] = []
    if n < 2 or policy.max_moves == 0:
        return moves
    loads = candidate_loads(s, c)
    s1, s2 = float(loads[up].sum()), float((loads[up] ** 2).sum())
    current = imbalance(loads, up)
    movable = c.movable.copy()
    up_index = np.flatnonzero(up)
    # The VMs of the hosts that can be sources: at most `max_moves` sources lose load during the
    # pass, so the sources always lie among the first source_hosts + max_moves hosts by load;
    # any other host is looked up when needed. (A moved VM is no longer movable.)
    pool_hosts = up_index[np.argsort(-loads[up_index], kind="stable")][: policy.source_hosts + policy.max_moves]
    in_pool = np.zeros(len(up), dtype=bool)
    in_pool[pool_hosts] = True
    pool = np.flatnonzero(in_pool[c.host])
    groups = {h: pool[c.host[pool] == h] for h in pool_hosts.tolist()}

    def vms_of(h: int) -> np.ndarray:
        if h not in groups:
            groups[h] = np.flatnonzero(c.host == h)
        return groups[h]
    cost, badness = _Memo(c.cost), _Memo(c.badness)
    cost.fill(pool)  # the pool's VMs are the usual candidates: their columns computed in one go
    badness.fill(pool)
    ranked = _LoadOrder(up_index, loads)
    while len(moves) < policy.max_moves and current > policy.target:
        sources = ranked.highest(policy.source_hosts)
        dests = ranked.lowest(policy.destination_hosts)
        cand = np.concatenate([vms_of(h) for h in sources.tolist()])
        cand = cand[movable[cand]]
        if cand.size == 0:
            break
        src = c.host[cand]
        # load shift per candidate (rows) and destination (columns)
        d_src = (c.load[cand] / s.pcpus[src])[:, None]
        d_dst = c.load[cand][:, None] / s.pcpus[dests][None, :]
        la, lb = loads[src][:, None], loads[dests][None, :]
        new_s1 = s1 - d_src + d_dst
        new_s2 = s2 - la**2 + (la - d_src) ** 2 - lb**2 + (lb + d_dst) ** 2
        new_std = np.sqrt(np.maximum(new_s2 / n - (new_s1 / n) ** 2, 0.0))
        goodness = current - new_std
        # cost-benefit: a move costing a fraction `cost` of the interval must buy (1 + cost) x min_goodness
        cand_cost = cost[cand]
        finite = np.isfinite(cand_cost)
        needed = policy.min_goodness * (1.0 + np.where(finite, cand_cost, 0.0))[:, None]
        ok = (goodness > 0) & (goodness >= needed) & finite[:, None] & (src[:, None] != dests[None, :])
        rank = np.where(ok, goodness * (1.0 + policy.score_weight * badness[cand])[:, None], -np.inf)
        # The best-ranked pair that passes F1 (checked lazily: the best usually fits; for all
        # pairs at once if it does not) and whose exact imbalance after the move still gains
        # enough (the variance update above can round a null move to a tiny gain).
        checked_all, chosen = False, None
        for _ in range(16):
            row, col = divmod(int(np.argmax(rank)), rank.shape[1])
            if rank[row, col] == -np.inf:
                break
            if not checked_all and not _fits_one(s, c, int(cand[row]), int(dests[col])):
                rank[~_fits(s, c, cand, dests)] = -np.inf
                checked_all = True
                continue
            a, b = int(src[row]), int(dests[col])
            trial = loads.copy()
            trial[a] -= float(d_src[row, 0])
            trial[b] += float(d_dst[row, col])
            after = imbalance(trial, up)
            if current - after > 0 and current - after >= float(needed[row, 0]):
                chosen = (row, col, trial, after)
                break
            rank[row, col] = -np.inf
        if chosen is None:
            break
        row, col, loads, after = chosen
        i, a, b = int(cand[row]), int(src[row]), int(dests[col])
        s1, s2 = float(loads[up].sum()), float((loads[up] ** 2).sum())
        before, current = current, after
        moves.append(Move(int(c.vm[i]), a, b, before - current))
        _claim(s, c, i, b)
        c.host[i] = b
        movable[i] = False
        ranked.moved((a, b), loads)
    return moves


def _reservations(s: HostSummaries, c: Candidates, cand: np.ndarray, hosts: np.ndarray) -> np.ndarray:
    given = c.reservation[cand][:, None]
    default = s.min_guarantee[hosts][None, :] * c.vcpus[cand][:, None]
    return np.where(np.isnan(given), default, given)


def _reservation_one(s: HostSummaries, c: Candidates, i: int, h: int) -> float:
    given = float(c.reservation[i])
    return float(s.min_guarantee[h]) * int(c.vcpus[i]) if math.isnan(given) else given


def _fits_one(s: HostSummaries, c: Candidates, i: int, h: int) -> bool:
    """Rule F1 for candidate i on host h (the host's own formulas)."""
    reservation = _reservation_one(s, c, i, h)
    limit = float(c.limit[i])
    return bool(
        s.up[h]
        and s.vcpus_used[h] + int(c.vcpus[i]) <= s.vcpu_capacity[h]
        and s.frames_reserved[h] + int(np.ceil(s.min_guarantee[h] * c.pages[i])) <= s.frame_capacity[h]
        and s.cpu_reserved[h] + reservation <= s.pcpus[h] + 1e-9 * s.pcpus[h]
        and reservation <= c.vcpus[i]
        and (np.isnan(limit) or limit >= reservation)
    )


def _fits(s: HostSummaries, c: Candidates, cand: np.ndarray, hosts: np.ndarray) -> np.ndarray:
    """Rule F1 for every (candidate, destination) pair."""
    frames = np.ceil(s.min_guarantee[hosts][None, :] * c.pages[cand][:, None]).astype(np.int64)
    reservation = _reservations(s, c, cand, hosts)
    ok = (s.vcpus_used[hosts][None, :] + c.vcpus[cand][:, None]) <= s.vcpu_capacity[hosts][None, :]
    ok &= (s.frames_reserved[hosts][None, :] + frames) <= s.frame_capacity[hosts][None, :]
    ok &= (s.cpu_reserved[hosts][None, :] + reservation) <= (s.pcpus[hosts] + 1e-9 * s.pcpus[hosts])[None, :]
    ok &= reservation <= c.vcpus[cand][:, None]
    limit = c.limit[cand][:, None]
    ok &= np.isnan(limit) | (limit >= reservation)
    ok &= s.up[hosts][None, :]
    return ok


def _claim(s: HostSummaries, c: Candidates, i: int, host: int) -> None:
    s.vcpus_used[host] += int(c.vcpus[i])
    s.frames_reserved[host] += int(np.ceil(s.min_guarantee[host] * c.pages[i]))
    s.cpu_reserved[host] += _reservation_one(s, c, i, host)
    s.ensure_domain(int(c.domain[i]))
    s.domain_vms[host, int(c.domain[i])] += 1
    s.refresh_host(host)  # placement reads the free capacities kept from these counters
