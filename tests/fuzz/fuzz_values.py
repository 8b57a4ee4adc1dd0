"""Values the fuzz campaign draws: the edges of each documented range, and bad values.

Edges are 0, 1, max-1, max (and max+1, which must be refused), the tiniest
and largest floats, and a few ordinary values so that sequences also do
normal work. Bad values are drawn with a small probability wherever an
argument is drawn; both twins must then refuse them with the same type.
"""

from __future__ import annotations

import random
from typing import Any

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

TINY = 5e-324  # the smallest subnormal
SMALL = 2.2250738585072014e-308  # the smallest normal
BIG = 1.7976931348623157e308  # the largest finite float

# Reals >= 0 across every magnitude (inf only where an argument allows it).
REALS = [0.0, TINY, SMALL, 1e-300, 1e-9, 0.5, 1.0, 1.5, 2.0, 3.0, 1e9, 1e300, BIG]

# Bad scalars, by the kind of argument they are given to (any type is allowed to appear).
BAD_INTEGERS: list[Any] = [-1, INT64_MAX + 1, -(2**63) - 1, 2**64, 10**400, 1.5, float("nan"), True, "1", None]
BAD_REALS: list[Any] = [-1.0, -TINY, float("nan"), float("-inf"), 10**400, -(10**400), True, "1", 1j]
BAD_KEYS: list[Any] = [-1, 2**64, 10**400, 1.5, True, "1"]


class Draw:
    """A seeded source of edge values (one per sequence: a seed replays the sequence)."""

    def __init__(self, seed: int, bad_rate: float = 0.04) -> None:
        self.rng = random.Random(seed)
        self.bad_rate = bad_rate

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, pool: list[Any]) -> Any:
        return pool[self.rng.randrange(len(pool))]

    def bad(self, pool: list[Any]) -> bool:
        return self.chance(self.bad_rate)

    def integer(self, low: int, high: int, ordinary: tuple[int, ...] = (), bad: list[Any] | None = None) -> Any:
        """An integer in [low, high] (an edge, mostly), or with a small chance a bad value."""
        if bad is not None and self.chance(self.bad_rate):
            return self.pick(bad + [high + 1, low - 1])
        edges = [low, low + 1, high - 1, high, *ordinary]
        value = self.pick(edges) if self.chance(0.7) else self.rng.randint(low, min(high, low + 16))
        return min(max(value, low), high)

    def real(self, high: float = BIG, allow_inf: bool = False, bad: bool = True) -> Any:
        if bad and self.chance(self.bad_rate):
            return self.pick(BAD_REALS + ([] if allow_inf else [float("inf")]))
        if allow_inf and self.chance(0.15):
            return float("inf")
        pool = [x for x in REALS if x <= high] + [high]
        return self.pick(pool)

    def key(self, pool_size: int = 6) -> Any:
        """A 64-bit key: mostly from a small set (so that keys repeat), sometimes an edge."""
        if self.chance(self.bad_rate):
            return self.pick(BAD_KEYS)
        if self.chance(0.3):
            return self.pick([0, 1, UINT64_MAX - 1, UINT64_MAX, INT64_MAX, INT64_MAX + 1])
        return self.rng.randrange(pool_size)
