"""Host failures and repairs (``docs/fleet.md``, rule F10): a seeded
exponential time to failure per host, redrawn each time the host comes back,
plus a fixed schedule."""

from __future__ import annotations

import math

import numpy as np

from .spec import FailureModel

__all__ = ["FailureClock"]


class FailureClock:
    """When each host fails next. Deterministic for a seed: the k-th time to
    failure of host h comes from its own stream ``(seed, h, k)``, so one
    host's draws never depend on another's history."""

    def __init__(self, model: FailureModel | None, hosts: int, tick_seconds: int, seed: int) -> None:
        self.model = model
        self.seed = seed
        self.tick_seconds = tick_seconds
        self._draws = np.zeros(hosts, dtype=np.int64)
        self._next = np.full(hosts, np.iinfo(np.int64).max, dtype=np.int64)
        self._scheduled: dict[int, list[int]] = {}
        if model is None:
            return
        for tick, host in model.schedule:
            if host >= hosts:
                raise ValueError(f"failures.schedule: host {host} does not exist (the fleet has {hosts} hosts)")
            self._scheduled.setdefault(tick, []).append(host)
        for host in range(hosts):
            self.host_up(host, 0)

    def host_up(self, host: int, tick: int) -> None:
        """Host `host` is (back) up at `tick`: draw its next random failure (rule F10)."""
        if self.model is None or self.model.mtbf_hours is None:
            return
        rng = np.random.default_rng([self.seed, 2, host, int(self._draws[host])])
        self._draws[host] += 1
        mean_ticks = self.model.mtbf_hours * 3600.0 / self.tick_seconds
        self._next[host] = tick + max(1, math.ceil(rng.exponential(mean_ticks)))

    def failing(self, tick: int) -> list[int]:
        """Hosts that fail at `tick`, ascending."""
        due = set(self._scheduled.get(tick, []))
        due.update(np.flatnonzero(self._next == tick).tolist())
        return sorted(due)
