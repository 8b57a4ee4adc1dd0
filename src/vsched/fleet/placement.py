"""Placement over host summaries, vectorised (``docs/fleet.md``, rules F1-F4).

A :class:`HostSummaries` holds one entry per host (numpy arrays); a policy
turns a VM's needs into one host index in O(hosts) numpy operations and no
Python loop over hosts. The hosts' own admission rules stay authoritative:
the fleet asks the chosen host and, if it still refuses, masks it and asks
again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .spec import HostSpec, VmSpec

__all__ = ["POLICIES", "RULES", "HostSummaries", "VmNeeds", "feasible", "place"]

RULES = ("host down", "vCPU ratio", "memory reserve", "CPU reservations", "per VM")
DEFAULT_WEIGHTS = {"cpu": 1.0, "memory": 1.0, "affinity": 1.0}


@dataclass
class HostSummaries:
    """What the coordinator knows of every host (index = host id).

    Capacities come from the specs; the ``*_used`` counters include VMs being
    migrated *to* the host (their claims) as well as those on it; ``load`` and
    ``frames_in_use`` are the last tick's measurements plus, until the next
    one, the expected demand and the pages of VMs placed since (rule F3);
    ``domain_vms[h, d]`` counts VMs of sharing domain d on host h.
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
    load: np.ndarray  # entitled demand / pCPUs, last tick
    frames_in_use: np.ndarray
    domain_vms: np.ndarray  # hosts x domains, int64

    @classmethod
    def of(cls, specs: list[HostSpec], domains: int = 1) -> HostSummaries:
        n = len(specs)
        return cls(
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
        )

    def ensure_domain(self, domain: int) -> None:
        if domain >= self.domain_vms.shape[1]:
            grown = np.zeros((self.domain_vms.shape[0], max(domain + 1, 2 * self.domain_vms.shape[1])), dtype=np.int64)
            grown[:, : self.domain_vms.shape[1]] = self.domain_vms
            self.domain_vms = grown

    def claim(self, host: int, needs: VmNeeds, sign: int = 1) -> None:
        """Count (sign=+1) or release (-1) a VM's admission claims on `host`."""
        self.vcpus_used[host] += sign * needs.vcpus
        self.frames_reserved[host] += sign * int(needs.frames[host])
        self.cpu_reserved[host] += sign * float(needs.reservation[host])
        # until the next measurement, the host's load and frames include the VM's expectation
        if sign > 0:  # (a departure shows in the next measurement)
            self.load[host] += needs.expected_cores / self.pcpus[host]
            self.frames_in_use[host] += needs.pages
        self.ensure_domain(needs.domain)
        self.domain_vms[host, needs.domain] += sign

    def clear(self, host: int) -> None:
        self.vcpus_used[host] = 0
        self.frames_reserved[host] = 0
        self.cpu_reserved[host] = 0.0
        self.domain_vms[host] = 0
        self.load[host] = 0.0
        self.frames_in_use[host] = 0.0


@dataclass
class VmNeeds:
    """A VM's admission needs per host (reservations depend on each host's min_guarantee)."""

    vcpus: int
    pages: int
    frames: np.ndarray  # int64 per host: ceil(min_guarantee x pages)
    reservation: np.ndarray  # cores per host
    limit: float | None
    domain: int
    expected_cores: float = 0.0  # demand expected on the host until it is measured

    @classmethod
    def of(cls, vm: VmSpec, summaries: HostSummaries, expected_cores: float = 0.0) -> VmNeeds:
        guarantee = summaries.min_guarantee
        # the host's own formula, ceil(min_guarantee x pages), in the same float arithmetic
        frames = np.ceil(guarantee * vm.memory_pages).astype(np.int64)
        if vm.reservation is None:
            reservation = guarantee * vm.vcpus
        else:
            reservation = np.full(guarantee.shape, float(vm.reservation))
        return cls(vm.vcpus, vm.memory_pages, frames, reservation, vm.limit, vm.domain, float(expected_cores))


def rule_masks(s: HostSummaries, needs: VmNeeds) -> dict[str, np.ndarray]:
    """Rule F1: per rule, the hosts that refuse the VM (the host's admission rules, vectorised)."""
    per_vm = needs.reservation > needs.vcpus
    if needs.limit is not None:
        per_vm = per_vm | (needs.limit < needs.reservation)
    return {
        "host down": ~s.up,
        "vCPU ratio": s.vcpus_used + needs.vcpus > s.vcpu_capacity,
        "memory reserve": s.frames_reserved + needs.frames > s.frame_capacity,
        "CPU reservations": s.cpu_reserved + needs.reservation > s.pcpus + 1e-9 * s.pcpus,
        "per VM": per_vm,
    }


def feasible(s: HostSummaries, needs: VmNeeds, exclude: np.ndarray | None = None) -> np.ndarray:
    """Hosts that would admit the VM (rule F1)."""
    ok = s.up.copy()
    ok &= s.vcpus_used + needs.vcpus <= s.vcpu_capacity
    ok &= s.frames_reserved + needs.frames <= s.frame_capacity
    ok &= s.cpu_reserved + needs.reservation <= s.pcpus + 1e-9 * s.pcpus
    ok &= needs.reservation <= needs.vcpus
    if needs.limit is not None:
        ok &= needs.limit >= needs.reservation
    if exclude is not None:
        ok &= ~exclude
    return ok


def headroom(s: HostSummaries, needs: VmNeeds) -> np.ndarray:
    """Rule F2: the tightest resource left after placing the VM, as a fraction
    of its capacity: min over (vCPU slots, reserved frames, CPU reservations)."""
    vcpu = (s.vcpu_capacity - s.vcpus_used - needs.vcpus) / s.vcpu_capacity
    frames = (s.frame_capacity - s.frames_reserved - needs.frames) / np.maximum(s.frame_capacity, 1.0)
    cpu = (s.pcpus - s.cpu_reserved - needs.reservation) / s.pcpus
    return np.minimum(np.minimum(vcpu, frames), cpu)


def _first_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    return int(np.argmax(ok))


def _best_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    return int(np.argmin(np.where(ok, headroom(s, needs), np.inf)))


def _worst_fit(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    return int(np.argmax(np.where(ok, headroom(s, needs), -np.inf)))


def _normalised(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Min-max over the feasible hosts to [0, 1] (all equal -> 0), as Nova's weighers."""
    low, high = values[ok].min(), values[ok].max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def weigher_values(s: HostSummaries, needs: VmNeeds) -> dict[str, np.ndarray]:
    """Rule F3's raw weighers: free CPU entitlement (cores), free memory
    (frames not in use), sharing affinity (VMs of the VM's domain already there)."""
    affinity = s.domain_vms[:, needs.domain] if needs.domain < s.domain_vms.shape[1] else np.zeros(len(s.up), np.int64)
    return {
        "cpu": s.pcpus * (1.0 - s.load),
        "memory": s.memory_frames - s.frames_in_use,
        "affinity": affinity.astype(float),
    }


def _weighed(s: HostSummaries, needs: VmNeeds, ok: np.ndarray, weights: dict[str, float]) -> int:
    raw = weigher_values(s, needs)
    score = np.zeros(len(ok))
    for name, weight in weights.items():
        if weight:
            score += weight * _normalised(raw[name], ok)
    return int(np.argmax(np.where(ok, score, -np.inf)))


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
    if not ok.any():
        return -1
    return POLICIES[policy](s, needs, ok, DEFAULT_WEIGHTS if weights is None else weights)


def refusal_rule(s: HostSummaries, needs: VmNeeds) -> str:
    """The rule that refuses the VM on the most hosts (ties: the order of RULES)."""
    masks = rule_masks(s, needs)
    counts = [int(masks[name].sum()) for name in RULES]
    return RULES[int(np.argmax(counts))]
