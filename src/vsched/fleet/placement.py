"""Placement over host summaries, vectorised (``docs/fleet.md``, rules F1-F4).

A :class:`HostSummaries` holds one entry per host (numpy arrays); a policy
turns a VM's needs into one host index in a dozen numpy operations and no
Python loop over hosts. The hosts' own admission rules stay authoritative:
the fleet asks the chosen host and, if it still refuses, masks it and asks
again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .spec import HostSpec, VmSpec

__all__ = ["POLICIES", "RULES", "HostSummaries", "PlacementCache", "VmNeeds", "admits_when_empty", "feasible", "headroom", "place"]

RULES = ("host down", "vCPU ratio", "memory reserve", "CPU reservations", "per VM")
DEFAULT_WEIGHTS = {"cpu": 1.0, "memory": 1.0, "affinity": 1.0}


@dataclass
class HostSummaries:
    """What the coordinator knows of every host (index = host id).

    Capacities come from the specs; the ``*_used`` / ``*_reserved`` counters
    include VMs being migrated *to* the host (their claims) as well as those
    on it; ``load`` and ``frames_in_use`` are the last tick's measurements
    plus, until the next one, the expected demand and the pages of VMs placed
    since (rule F3); ``domain_vms[h, d]`` counts VMs of sharing domain d on h.

    Change them through :meth:`claim`, :meth:`clear`, :meth:`set_up`,
    :meth:`set_closed` and :meth:`measured` (or call :meth:`refresh` after
    editing the arrays): the free capacities that placement reads are kept
    from them, host by host, never rebuilt per placement.
    """

    up: np.ndarray  # bool
    pcpus: np.ndarray
    vcpu_capacity: np.ndarray  # max_vcpu_ratio x pcpus
    frame_capacity: np.ndarray  # (1 - memory_reserve) x memory_frames
    memory_frames: np.ndarray
    min_guarantee: np.ndarray
    vcpus_used: np.ndarray  # int64
    frames_reserved: np.ndarray  # int64
    cpu_reserved: np.ndarray
    load: np.ndarray  # entitled demand / pCPUs
    frames_in_use: np.ndarray
    domain_vms: np.ndarray  # hosts x domains, int64
    uniform_guarantee: float | None = None  # the one min_guarantee of all hosts, if they share it
    # hosts that are up but take no new VM (being evacuated to be powered off, rule F16)
    closed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # kept from the above, updated host by host (never rebuilt per placement): rule F1's free
    # capacities (-inf on a host that is down), rows vCPU slots / reserved frames / CPU reservations,
    # and the same as fractions of capacity (rule F2); the *_free / *_frac names are row views.
    free: np.ndarray = field(default_factory=lambda: np.zeros((3, 0)))
    frac: np.ndarray = field(default_factory=lambda: np.zeros((3, 0)))
    weigh: np.ndarray = field(default_factory=lambda: np.zeros((3, 0)))  # rows: free CPU, free memory, affinity
    vcpu_free: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frames_free: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu_free: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vcpu_frac: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frames_frac: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu_frac: np.ndarray = field(default_factory=lambda: np.zeros(0))
    inv_vcpu_capacity: Any = 0.0  # 1 / capacity: one number when all hosts share it
    inv_frame_capacity: Any = 0.0
    inv_pcpus: Any = 0.0
    room: np.ndarray = field(default_factory=lambda: np.zeros(0))  # scratch for rule F2 (one per summaries)
    # while a PlacementCache watches: every host refreshed since, in order (-1: all of them)
    changed: list[int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, specs: list[HostSpec], domains: int = 1) -> HostSummaries:
        n = len(specs)
        guarantees = {s.min_guarantee for s in specs}
        summaries = cls(
            up=np.ones(n, dtype=bool),
            pcpus=np.array([s.pcpus for s in specs], dtype=float),
            vcpu_capacity=np.array([s.vcpu_capacity for s in specs], dtype=float),
            frame_capacity=np.array([s.frame_capacity for s in specs], dtype=float),
            memory_frames=np.array([s.memory_frames for s in specs], dtype=float),
            min_guarantee=np.array([s.min_guarantee for s in specs], dtype=float),
            vcpus_used=np.zeros(n, dtype=np.int64),
            frames_reserved=np.zeros(n, dtype=np.int64),
            cpu_reserved=np.zeros(n),
            load=np.zeros(n),
            frames_in_use=np.zeros(n),
            domain_vms=np.zeros((n, max(1, domains)), dtype=np.int64),
            uniform_guarantee=guarantees.pop() if len(guarantees) == 1 else None,
        )
        summaries.refresh()
        return summaries

    def refresh(self) -> None:
        """Recompute the free capacities of every host (rule F1)."""
        n = len(self.up)
        if self.closed.shape != self.up.shape:
            self.closed = np.zeros(n, dtype=bool)
        self.free = np.empty((3, n))
        self.vcpu_free, self.frames_free, self.cpu_free = self.free
        self.weigh = np.zeros((3, n))
        self.inv_vcpu_capacity = _one_or_all(1.0 / self.vcpu_capacity)
        self.inv_frame_capacity = _one_or_all(1.0 / np.maximum(self.frame_capacity, 1e-300))
        self.inv_pcpus = _one_or_all(1.0 / self.pcpus)
        self.frac = np.empty((3, n))
        self.vcpu_frac, self.frames_frac, self.cpu_frac = self.frac
        self.room = np.empty(n)
        self.refresh_hosts(slice(None))

    def refresh_host(self, h: int) -> None:
        """:meth:`refresh_hosts` for one host, in Python floats (the same operations in the same
        order as :meth:`_refresh`, so the same values; a placement calls it)."""
        h = int(h)
        if self.changed is not None:
            self.changed.append(h)
        down = 0.0 if self.up[h] and not self.closed[h] else -math.inf
        pcpus = self.pcpus.item(h)
        self.vcpu_free[h] = vcpu = self.vcpu_capacity.item(h) - self.vcpus_used.item(h) + down
        self.frames_free[h] = frames = self.frame_capacity.item(h) - self.frames_reserved.item(h) + down
        self.cpu_free[h] = cpu = pcpus + 1e-9 * pcpus - self.cpu_reserved.item(h) + down
        self.weigh[0, h] = pcpus * (1.0 - self.load.item(h))
        self.weigh[1, h] = self.memory_frames.item(h) - self.frames_in_use.item(h)
        self.vcpu_frac[h] = vcpu * _item(self.inv_vcpu_capacity, h)
        self.frames_frac[h] = frames * _item(self.inv_frame_capacity, h)
        self.cpu_frac[h] = cpu * _item(self.inv_pcpus, h)

    def refresh_hosts(self, hosts: Any) -> None:
        """Rule F1's free capacities and rule F2's fractions of `hosts` (an index array or a slice)."""
        if self.changed is not None:
            self.changed.append(-1)
        self._refresh(hosts, np.where(self.up[hosts] & ~self.closed[hosts], 0.0, -np.inf))

    def _refresh(self, at: Any, down: Any) -> None:
        """The one formula, element by element: `at` a host id or index array, `down` 0.0 where
        the host is open (up, not closed), -inf elsewhere (one number or one per host)."""
        pcpus = self.pcpus[at]
        self.vcpu_free[at] = vcpu = self.vcpu_capacity[at] - self.vcpus_used[at] + down
        self.frames_free[at] = frames = self.frame_capacity[at] - self.frames_reserved[at] + down
        self.cpu_free[at] = cpu = pcpus + 1e-9 * pcpus - self.cpu_reserved[at] + down
        self.weigh[0, at] = pcpus * (1.0 - self.load[at])
        self.weigh[1, at] = self.memory_frames[at] - self.frames_in_use[at]
        self.vcpu_frac[at] = vcpu * _at(self.inv_vcpu_capacity, at)
        self.frames_frac[at] = frames * _at(self.inv_frame_capacity, at)
        self.cpu_frac[at] = cpu * _at(self.inv_pcpus, at)

    def release(self, hosts: np.ndarray, vcpus: np.ndarray, pages: np.ndarray, reservation: np.ndarray,
                domain: np.ndarray) -> None:
        """:meth:`claim` with sign -1 for many VMs at once (VM i off ``hosts[i]``; ``reservation``
        NaN = the host's default). The counters change in the order given, as one ``claim`` per
        VM would change them (``np.add.at`` adds repeated indices one after the other), so the
        float sums are the same bit for bit; each host's free capacities are refreshed once."""
        if hosts.size == 0:
            return
        guarantee = self.min_guarantee[hosts]
        frames = np.ceil(guarantee * pages).astype(np.int64)  # the host's ceil(min_guarantee x pages)
        cores = np.where(np.isnan(reservation), guarantee * vcpus, reservation)
        np.subtract.at(self.vcpus_used, hosts, vcpus)
        np.subtract.at(self.frames_reserved, hosts, frames)
        np.add.at(self.cpu_reserved, hosts, -cores)  # claim(): cpu_reserved += -1 x reservation
        self.ensure_domain(int(domain.max()))
        np.subtract.at(self.domain_vms, (hosts, domain), 1)
        touched = np.zeros(self.up.size, dtype=bool)
        touched[hosts] = True
        self.refresh_hosts(np.flatnonzero(touched))

    def ensure_domain(self, domain: int) -> None:
        if domain >= self.domain_vms.shape[1]:
            grown = np.zeros((self.domain_vms.shape[0], max(domain + 1, 2 * self.domain_vms.shape[1])), dtype=np.int64)
            grown[:, : self.domain_vms.shape[1]] = self.domain_vms
            self.domain_vms = grown

    def claim(self, host: int, needs: VmNeeds, sign: int = 1) -> None:
        """Count (sign=+1) or release (-1) a VM's admission claims on `host`."""
        # in Python numbers: the same operations as on the arrays' elements, so the same values
        self.vcpus_used[host] = self.vcpus_used.item(host) + sign * needs.vcpus
        self.frames_reserved[host] = self.frames_reserved.item(host) + sign * int(needs.frames_on(host))
        self.cpu_reserved[host] = self.cpu_reserved.item(host) + sign * float(needs.reservation_on(host))
        if sign > 0:  # until the next measurement the host's load and frames include the VM's expectation
            self.load[host] = self.load.item(host) + needs.expected_cores / self.pcpus.item(host)
            self.frames_in_use[host] = self.frames_in_use.item(host) + needs.pages
        self.ensure_domain(needs.domain)
        self.domain_vms[host, needs.domain] += sign
        self.refresh_host(host)

    def clear(self, host: int) -> None:
        self.vcpus_used[host] = 0
        self.frames_reserved[host] = 0
        self.cpu_reserved[host] = 0.0
        self.domain_vms[host] = 0
        self.load[host] = 0.0
        self.frames_in_use[host] = 0.0
        self.refresh_host(host)

    def set_up(self, host: int, up: bool) -> None:
        self.up[host] = up
        self.refresh_host(host)

    def set_closed(self, host: int, closed: bool) -> None:
        """A closed host keeps its VMs but takes no new one (placement and balancing skip it)."""
        self.closed[host] = closed
        self.refresh_host(host)

    def measured(self, load: np.ndarray, frames_in_use: np.ndarray) -> None:
        """This tick's measurements replace the estimates (hosts that are down: 0)."""
        self.load[:] = load
        self.frames_in_use[:] = frames_in_use
        self.weigh[0] = self.pcpus * (1.0 - self.load)
        self.weigh[1] = self.memory_frames - self.frames_in_use


def _one_or_all(values: np.ndarray) -> Any:
    """One float when every host has the same value (cheaper broadcasts), else the array."""
    return float(values[0]) if values.size and np.all(values == values[0]) else values


def _per_host(value: Any) -> bool:
    """One value per host (an array with a dimension), not one number."""
    return isinstance(value, np.ndarray) and value.ndim > 0


def _item(value: Any, h: int) -> float:
    """`value` at host `h` as a Python float (one number, or one per host)."""
    return value if type(value) is float else float(value[h]) if _per_host(value) else float(value)


def _at(value: Any, at: Any) -> Any:
    """`value` at `at` (a host id, an index array or a slice) if it is per host, else the one number."""
    return value[at] if _per_host(value) else value


@dataclass
class VmNeeds:
    """A VM's admission needs; ``frames`` and ``reservation`` are one number
    when every host has the same min_guarantee, else one per host."""

    vcpus: int
    pages: int
    frames: Any  # int, or int64 per host: ceil(min_guarantee x pages)
    reservation: Any  # cores, or cores per host
    limit: float | None
    domain: int
    expected_cores: float = 0.0  # demand expected on the host until it is measured
    # computed once, so that a placement runs no per-call type checks: rule F1's per-VM rule
    # (a bool, or one per host), and rule F2's need / capacity per resource (None unless the
    # needs and the capacities are one number each; set by `of`)
    per_vm: Any = field(init=False, repr=False, compare=False)
    uniform: bool = field(init=False, repr=False, compare=False)
    cost: tuple[float, float, float] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.uniform = not _per_host(self.frames) and not _per_host(self.reservation)
        per_vm = self.per_vm_ok()
        self.per_vm = per_vm if _per_host(per_vm) else bool(per_vm)

    @classmethod
    def of(cls, vm: VmSpec, summaries: HostSummaries, expected_cores: float = 0.0) -> VmNeeds:
        g = summaries.uniform_guarantee
        if g is not None:
            # the host's own formulas, in the same float arithmetic
            frames: Any = math.ceil(g * vm.memory_pages)
            reservation: Any = g * vm.vcpus if vm.reservation is None else float(vm.reservation)
        else:
            guarantee = summaries.min_guarantee
            frames = np.ceil(guarantee * vm.memory_pages).astype(np.int64)
            reservation = guarantee * vm.vcpus if vm.reservation is None else np.full(guarantee.shape, float(vm.reservation))
        needs = cls(vm.vcpus, vm.memory_pages, frames, reservation, vm.limit, vm.domain, float(expected_cores))
        inv = (summaries.inv_vcpu_capacity, summaries.inv_frame_capacity, summaries.inv_pcpus)
        if needs.uniform and all(isinstance(x, float) for x in inv):
            needs.cost = (needs.vcpus * inv[0], needs.frames * inv[1], needs.reservation * inv[2])
        return needs

    def frames_on(self, host: int) -> int:
        return int(self.frames[host] if _per_host(self.frames) else self.frames)

    def reservation_on(self, host: int) -> float:
        return float(self.reservation[host] if _per_host(self.reservation) else self.reservation)

    def per_vm_ok(self) -> Any:
        """Rule F1's per-VM rule: reservation <= vCPUs and limit >= reservation (bool or per host)."""
        if not _per_host(self.reservation):
            cores = float(self.reservation)
            return cores <= self.vcpus and (self.limit is None or self.limit >= cores)
        ok = np.asarray(self.reservation) <= self.vcpus
        if self.limit is not None:
            ok = ok & (self.limit >= np.asarray(self.reservation))
        return ok


def rule_masks(s: HostSummaries, needs: VmNeeds) -> dict[str, np.ndarray]:
    """Rule F1: per rule, the hosts that refuse the VM (the host's admission rules, vectorised)."""
    open_ = s.up & ~s.closed  # a closed host (being evacuated) refuses as a host that is down
    return {
        "host down": ~open_,
        "vCPU ratio": open_ & (s.vcpus_used + needs.vcpus > s.vcpu_capacity),
        "memory reserve": open_ & (s.frames_reserved + needs.frames > s.frame_capacity),
        "CPU reservations": open_ & (s.cpu_reserved + needs.reservation > s.pcpus + 1e-9 * s.pcpus),
        "per VM": open_ & ~np.broadcast_to(needs.per_vm_ok(), s.up.shape),
    }


def _admits(vcpu_free: np.ndarray, frames_free: np.ndarray, cpu_free: np.ndarray, needs: VmNeeds) -> np.ndarray:
    """Rule F1 per host, given its free vCPU slots, reservable frames and CPU reservations."""
    ok = vcpu_free >= needs.vcpus
    ok &= frames_free >= needs.frames
    ok &= cpu_free >= needs.reservation
    per_vm = needs.per_vm
    if per_vm is not True:
        if per_vm is False:
            ok[:] = False
        else:
            ok &= per_vm
    return ok


def feasible(s: HostSummaries, needs: VmNeeds, exclude: np.ndarray | None = None) -> np.ndarray:
    """Hosts that would admit the VM (rule F1), from the kept free capacities."""
    ok = _admits(s.vcpu_free, s.frames_free, s.cpu_free, needs)
    if exclude is not None:
        ok &= ~exclude
    return ok


def admits_when_empty(s: HostSummaries, needs: VmNeeds) -> np.ndarray:
    """Rule F1 on each host as if it were up and held no VM (rule F15: which host to power on)."""
    return _admits(s.vcpu_capacity, s.frame_capacity, s.pcpus + 1e-9 * s.pcpus, needs)


def headroom(s: HostSummaries, needs: VmNeeds, out: np.ndarray | None = None) -> np.ndarray:
    """Rule F2: the tightest resource left after placing the VM, as a fraction
    of its capacity: min over (vCPU slots, reserved frames, CPU reservations)
    of ``free / capacity - need / capacity``."""
    cost = needs.cost
    if cost is None:  # capacities or needs differ per host: the same products, per host
        cost = (needs.vcpus * s.inv_vcpu_capacity, needs.frames * s.inv_frame_capacity, needs.reservation * s.inv_pcpus)
    room = np.subtract(s.vcpu_frac, cost[0], out=out)
    np.minimum(room, s.frames_frac - cost[1], out=room)
    np.minimum(room, s.cpu_frac - cost[2], out=room)
    return room


def _first_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    return int(ok.argmax())


def _best_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    room = headroom(s, needs, out=s.room)
    np.putmask(room, ~ok, np.inf)
    return int(room.argmin())


def _worst_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    room = headroom(s, needs, out=s.room)
    np.putmask(room, ~ok, -np.inf)
    return int(room.argmax())


def weigher_values(s: HostSummaries, needs: VmNeeds) -> np.ndarray:
    """Rule F3's raw weighers, rows: free CPU entitlement (pcpus x (1 - load)),
    free memory (frames not in use), sharing affinity (VMs of the VM's domain there)."""
    s.ensure_domain(needs.domain)
    s.weigh[2] = s.domain_vms[:, needs.domain]
    return s.weigh


_WEIGHERS = ("cpu", "memory", "affinity")


def _weighed(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    raw = weigher_values(s, needs)
    # Only the feasible hosts count (for the min-max spans and the choice): gathered once when
    # some host is infeasible; kept in host order so that argmax still breaks ties by lowest id.
    hosts = None if np.count_nonzero(ok) == ok.size else np.flatnonzero(ok)
    sub = raw if hosts is None else raw.take(hosts, axis=1)
    span = (sub.max(axis=1) - sub.min(axis=1)).tolist()
    # min-max normalised over the feasible hosts (Nova's weighers); a constant weigher counts 0.
    # The offset (low) is the same for every host and cannot change the choice: left out.
    coef = [weights.get(name, 0.0) / span[row] if weights.get(name, 0.0) and span[row] > 0 else 0.0
            for row, name in enumerate(_WEIGHERS)]
    if not any(coef):
        return int(ok.argmax())
    # weight / span x value per row, summed in row order (a zero term would add +-0: skipped)
    rows = [row for row in range(3) if coef[row]]
    score = coef[rows[0]] * sub[rows[0]]
    for row in rows[1:]:
        score += coef[row] * sub[row]
    pick = int(score.argmax())
    return pick if hosts is None else int(hosts[pick])


POLICIES: dict[str, Callable[[HostSummaries, VmNeeds, np.ndarray, dict[str, float]], int]] = {
    "first-fit": _first_fit,
    "best-fit": _best_fit,
    "worst-fit": _worst_fit,
    "filter-weigher": _weighed,
}


def check_policy(policy: str, weights: dict[str, float] | None) -> dict[str, float]:
    if policy not in POLICIES:
        raise ValueError(f"placement = {policy!r}: expected one of {tuple(POLICIES)}")
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    for name, weight in weights.items():
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(f"weights: unknown weigher {name!r}, expected some of {tuple(DEFAULT_WEIGHTS)}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
            raise ValueError(f"weights[{name!r}] = {weight!r}: must be a finite number")
    return weights


def place(
    s: HostSummaries, needs: VmNeeds, policy: str = "best-fit", weights: dict[str, float] | None = None,
    exclude: np.ndarray | None = None,
) -> int:
    """Rule F4: the host the policy picks among the feasible ones (ties: lowest
    host id), or -1 when none is feasible."""
    ok = feasible(s, needs, exclude)
    first = int(ok.argmax())
    if not ok[first]:
        return -1
    if policy == "first-fit":
        return first
    return POLICIES[policy](s, needs, ok, DEFAULT_WEIGHTS if weights is None else weights)


class _Row:
    """One kind of needs' view of the hosts at the time it was made (see PlacementCache)."""

    def __init__(self, hosts: list[int], values: list[float], complete: bool, seen: int) -> None:
        # the feasible hosts then, by (value, host id): all of them if `complete`, else the first
        # few (every host ranking at or before the last one given)
        self.hosts, self.values, self.complete = hosts, values, complete
        self.next = 0  # hosts[:next] have all changed since
        self.seen = seen  # the summaries' changes up to here are in `fresh`
        self.fresh: dict[int, float | None] = {}  # host changed since -> its value now (None: refuses)


class PlacementCache:
    """Rule F4 for many VMs placed one after the other (a tick's arrivals and restarts), each
    choice the one :func:`place` makes on the summaries of that moment, without a pass over
    every host per VM. For each kind of needs (a fleet has a handful), the feasible hosts are
    ranked once by the policy's value (F2's headroom, best-fit ascending, worst-fit descending;
    first-fit: host id); a VM then takes the first of them that no placement has changed since,
    or a changed host (the summaries record which, :meth:`HostSummaries.refresh_host`; its value
    recomputed by the same formulas when it changes) that ranks before it. Ties: lowest host id,
    as ``place``. Any other change (several hosts refreshed at once) remakes the ranking; needs
    per host, an ``exclude``, or filter-weigher (its weighers span all hosts): :func:`place`
    itself. Use as a context manager (it watches the summaries while open)."""

    MAX_FRESH = 64  # more hosts changed than this since a ranking was made: it is made again
    FIRST = 32  # a ranking holds the first hosts only (made again if a VM needs more)

    def __init__(self, s: HostSummaries, policy: str, weights: dict[str, float] | None = None) -> None:
        self.s, self.policy, self.weights = s, policy, weights
        self.rows: dict[tuple[Any, ...], _Row] = {}

    def __enter__(self) -> PlacementCache:
        self.s.changed = []
        return self

    def __exit__(self, *exc: Any) -> None:
        self.s.changed = None

    def _row(self, needs: VmNeeds) -> _Row | None:
        s = self.s
        assert s.changed is not None
        ok = _admits(s.vcpu_free, s.frames_free, s.cpu_free, needs)
        hosts = np.flatnonzero(ok)
        if self.policy == "first-fit":
            values = np.zeros(hosts.size)
        else:
            room = headroom(s, needs)[hosts]
            if not np.all(np.isfinite(room)):  # place() would rank infinities among the infeasible
                return None
            values = room if self.policy == "best-fit" else -room
        complete = hosts.size <= self.FIRST
        if not complete:  # the hosts ranking at or before the FIRST-th (ties included), in host order
            last = np.partition(values, self.FIRST - 1)[self.FIRST - 1]
            kept = np.flatnonzero(values <= last)
            hosts, values = hosts[kept], values[kept]
        order = np.argsort(values, kind="stable")  # by value, then host id
        return _Row(hosts[order].tolist(), values[order].tolist(), complete, len(s.changed))

    def _value(self, h: int, needs: VmNeeds) -> float | None:
        """The policy's value of host `h` for the VM now (None: h does not admit it), by rules
        F1 and F2's formulas on h alone (the same float operations as in full)."""
        s = self.s
        if not (s.vcpu_free.item(h) >= needs.vcpus and s.frames_free.item(h) >= needs.frames
                and s.cpu_free.item(h) >= needs.reservation):
            return None
        if self.policy == "first-fit":
            return 0.0
        cost = needs.cost
        assert cost is not None
        room = min(s.vcpu_frac.item(h) - cost[0], s.frames_frac.item(h) - cost[1], s.cpu_frac.item(h) - cost[2])
        return room if self.policy == "best-fit" else -room

    def place(self, needs: VmNeeds, exclude: np.ndarray | None = None) -> int:
        """:func:`place` of the VM on the summaries as they are now."""
        s = self.s
        changed = s.changed
        if (exclude is not None or self.policy == "filter-weigher" or needs.cost is None
                or not isinstance(needs.per_vm, bool) or changed is None):
            return place(s, needs, self.policy, self.weights, exclude)
        if not needs.per_vm:
            return -1
        key = (needs.vcpus, needs.frames, needs.reservation, needs.cost)
        row = self.rows.get(key)
        if row is not None and row.seen < len(changed):
            new = set(changed[row.seen:])
            row.seen = len(changed)
            if -1 in new or len(row.fresh) + len(new) > self.MAX_FRESH:
                row = None
            else:
                for h in new:
                    row.fresh[h] = self._value(h, needs)
        hosts = row.hosts if row is not None else []
        if row is not None:
            while row.next < len(hosts) and hosts[row.next] in row.fresh:
                row.next += 1
            if row.next == len(hosts) and not row.complete:
                row = None  # past the hosts it ranked
        if row is None:
            made = self._row(needs)
            if made is None:
                self.rows.pop(key, None)
                return place(s, needs, self.policy, self.weights, exclude)
            row = self.rows[key] = made
            hosts = row.hosts
        best: tuple[float, int] | None = None
        if row.next < len(hosts):
            best = (row.values[row.next], hosts[row.next])
        for h, value in row.fresh.items():
            if value is None:
                continue
            if not math.isfinite(value):
                self.rows.pop(key, None)
                return place(s, needs, self.policy, self.weights, exclude)
            if best is None or (value, h) < best:
                best = (value, h)
        return -1 if best is None else best[1]


def refusal_rule(s: HostSummaries, needs: VmNeeds) -> str:
    """The rule that refuses the VM on the most up hosts (ties: the order of RULES)."""
    masks = rule_masks(s, needs)
    counts = [int(masks[name].sum()) for name in RULES]
    return RULES[int(np.argmax(counts))]
