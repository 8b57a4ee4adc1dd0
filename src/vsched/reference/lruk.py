"""Pure-Python LRU-K: the oracle for :class:`vsched.LRUK` (same rules, written plainly).

Dicts for the records, a linear scan for the victim and for the oldest
retained key. Rules: see the :class:`vsched.LRUK` docstring; each step below
names the rule it implements.
"""

from __future__ import annotations

import copy
import operator
from typing import Any

import numpy as np

from .._state import Checkpointable
from .._lruk_args import as_keys, check_lruk_args, check_lruk_values

__all__ = ["LRUK", "choose_victim", "reference_resident"]

_KEY_LIMIT = 2**64


def _key(key: Any) -> int:
    if isinstance(key, (bool, np.bool_, float)):
        raise TypeError(f"key must be an integer, got {type(key).__name__}")
    try:
        value = operator.index(key)
    except TypeError:
        raise TypeError(f"key must be an integer, got {type(key).__name__}") from None
    if not 0 <= value < _KEY_LIMIT:
        raise ValueError(f"key = {value}: key must be in 0..2**64-1")
    return value


def reference_resident(hist: list[int], last: int, t: int, crp: int) -> None:
    """Hit at time t on a resident page with history `hist` and LAST `last` (hist updated in place)."""
    if t - last > crp:  # uncorrelated: shift by the correlated period that ended
        period = last - hist[0]
        for i in range(len(hist) - 1, 0, -1):
            hist[i] = 0 if hist[i - 1] == 0 else hist[i - 1] + period
        hist[0] = t


def choose_victim(resident: Any, hist: dict[int, list[int]], last: dict[int, int], t: int, crp: int) -> int:
    """The LRU-K victim among `resident` at time t."""
    eligible = [q for q in resident if t - last[q] > crp]
    if not eligible:  # only when capacity <= crp: plain LRU among all
        return min(resident, key=last.__getitem__)
    # infinite distance (HIST(q, K) == 0) first, then smallest HIST(q, K),
    # ties by least recent LAST
    return min(eligible, key=lambda q: (hist[q][-1] != 0, hist[q][-1], last[q]))


_LAYOUT = 1  # of the checkpoint payload; bump when the fields change


class LRUK(Checkpointable):
    """Reference twin of :class:`vsched.LRUK` (same arguments, results, errors)."""

    IMPLEMENTATION = "reference"
    _implementation = "reference"

    def __init__(
        self,
        capacity: int,
        k: int = 2,
        crp: int = 0,
        rip: int | None = None,
        history: int | None = None,
    ) -> None:
        capacity, k, crp, rip, history = check_lruk_args(capacity, k, crp, rip, history)
        if capacity < 1:
            raise ValueError(f"capacity = {capacity}: capacity must be >= 1")
        check_lruk_values(k, crp, rip, history)
        self.capacity, self.k, self.crp, self.rip, self.history = capacity, k, crp, rip, history
        self.time = 0
        self.hits = self.misses = self.evictions = 0
        self._hist: dict[int, list[int]] = {}  # every tracked key: HIST(p, 1..K), 0 = none
        self._last: dict[int, int] = {}  # every tracked key: LAST(p)
        self._resident: set[int] = set()
        self._retained: set[int] = set()  # tracked, not resident

    # -- the algorithm -----------------------------------------------------
    def access(self, key: int) -> bool:
        """Reference `key`; True on a hit."""
        p = _key(key)
        self.time += 1
        t = self.time
        hist, last = self._hist, self._last
        # 1. forget expired history
        if self.rip is not None:
            for q in [q for q in self._retained if t - last[q] > self.rip]:
                self._forget(q)
        # 2. hit
        if p in self._resident:
            self.hits += 1
            reference_resident(hist[p], last[p], t, self.crp)
            last[p] = t
            return True
        # 3. miss
        self.misses += 1
        known = p in self._retained
        self._retained.discard(p)
        if len(self._resident) >= self.capacity:
            victim = choose_victim(self._resident, hist, last, t, self.crp)
            self._resident.remove(victim)
            self.evictions += 1
            self._retained.add(victim)
            if self.history is not None:
                while len(self._retained) > self.history:
                    self._forget(min(self._retained, key=last.__getitem__))
        if known:
            h = hist[p]
            for i in range(self.k - 1, 0, -1):
                h[i] = h[i - 1]
            h[0] = t
        else:
            hist[p] = [t] + [0] * (self.k - 1)
        last[p] = t
        self._resident.add(p)
        return False

    def _forget(self, q: int) -> None:
        self._retained.discard(q)
        del self._hist[q]
        del self._last[q]

    # -- the rest of the API -------------------------------------------------
    def access_many(self, keys: Any) -> np.ndarray:
        """Reference every key in order; a bool array, True = hit."""
        array = as_keys(keys)
        return np.array([self.access(int(key)) for key in array], dtype=bool)

    def __contains__(self, key: object) -> bool:
        return _key(key) in self._resident

    def __len__(self) -> int:
        return len(self._resident)

    def history_of(self, key: int) -> tuple[int, ...]:
        p = _key(key)
        if p not in self._hist:
            return ()
        return (*self._hist[p], self._last[p])

    @property
    def retained(self) -> int:
        return len(self._retained)

    def _checkpoint(self) -> dict[str, Any]:
        return {"layout": _LAYOUT, "state": copy.deepcopy(self.__dict__)}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("layout") != _LAYOUT:
            raise ValueError(f"reference LRUK checkpoint of another layout (this one reads {_LAYOUT})")
        self.__dict__.update(copy.deepcopy(payload["state"]))

    def __repr__(self) -> str:
        return (
            f"LRUK(capacity={self.capacity}, k={self.k}, crp={self.crp}, rip={self.rip}, "
            f"history={self.history}) [{len(self)} resident, {self.hits} hits, {self.misses} misses]"
        )
