"""LRU-K page replacement (native core). Rules: see :class:`LRUK`."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._state import Checkpointable
from ._lruk_args import as_keys, check_lruk_args
from ._validate import as_int

__all__ = ["LRUK", "as_keys", "check_lruk_args"]


class LRUK(Checkpointable):
    """LRU-K cache of 64-bit keys (O'Neil, O'Neil & Weikum, SIGMOD 1993).

    ``LRUK(capacity, k=2, crp=0, rip=None, history=None)``

    **Time** is the number of references: the n-th call of :meth:`access`
    (hit or miss) happens at ``t = n``. For every tracked key p the cache keeps
    ``HIST(p, 1..K)``, the times of the K most recent *uncorrelated* references
    (0 = none), and ``LAST(p)``, the time of the most recent reference of any
    kind. The backward K-distance of p at time t is ``t - HIST(p, K)``, infinite
    when ``HIST(p, K)`` is none.

    A reference to key p at time t:

    1. Expired history is dropped first: a non-resident key q with
       ``t - LAST(q) > rip`` is forgotten (``rip=None``: never).
    2. **Hit** (p resident). If ``t - LAST(p) <= crp`` the reference is
       *correlated*: only ``LAST(p) = t``. Otherwise the correlated period that
       just ended counts as one reference: ``HIST(p, i) = HIST(p, i-1) +
       (LAST(p) - HIST(p, 1))`` for i = K..2 (none stays none), then
       ``HIST(p, 1) = LAST(p) = t``.
    3. **Miss**. If p has retained history it leaves the retained set. If
       ``capacity`` keys are resident a victim is evicted: among resident keys
       q that are *eligible* (``t - LAST(q) > crp``), the one with the largest
       backward K-distance (smallest ``HIST(q, K)``); keys with fewer than K
       uncorrelated references (infinite distance) go first; every tie is
       broken by the least recent ``LAST`` (LAST values are unique, so the
       victim is unique). If **no resident key is eligible** (possible only
       when ``capacity <= crp``) the resident key with the least recent LAST is
       evicted anyway: the cache never refuses a page. The victim's history is
       retained; then, if more than ``history`` keys are retained, the one(s)
       with the least recent LAST are forgotten (``history=None``: unbounded).
       Finally p becomes resident: with retained history it is shifted by one
       (``HIST(p, i) = HIST(p, i-1)``, i = K..2), otherwise it starts empty;
       then ``HIST(p, 1) = LAST(p) = t``.

    With ``k=1`` and ``crp=0`` this is exactly LRU. ``rip=0`` or
    ``history=0`` keeps no history of evicted keys (LRU-K then degenerates
    towards LFU without aging on shifting workloads; the retained history is
    what makes it adaptive). Defaults: ``rip=None, history=None`` (the paper's
    RIP = infinity): memory grows with the number of distinct keys (about 56
    bytes per key at k=2, see :meth:`memory_bytes`); bound it with ``history``
    (e.g. a few times ``capacity``) for unbounded key spaces.

    Raises ValueError for capacity < 1, k outside 1..64, negative crp, rip or
    history, or keys outside 0..2**64-1; TypeError for non-integer arguments.
    """

    IMPLEMENTATION = "native"

    def __init__(
        self,
        capacity: int,
        k: int = 2,
        crp: int = 0,
        rip: int | None = None,
        history: int | None = None,
    ) -> None:
        self._core = _core.LRUK(*check_lruk_args(capacity, k, crp, rip, history))
        # The per-call path goes straight to the C++ method (it converts and
        # checks the key itself): a Python-level wrapper would halve the rate.
        self.access = self._core.access  # type: ignore[method-assign,assignment]

    def access(self, key: int) -> bool:  # replaced per instance by the bound core method
        """Reference `key`; True on a hit, False on a miss (the key is then resident)."""
        return bool(self._core.access(key))

    def access_many(self, keys: Any) -> np.ndarray:
        """Reference every key in order (GIL released); a bool array, True = hit."""
        return self._core.access_many(as_keys(keys))

    def __contains__(self, key: object) -> bool:
        """Is `key` resident (does not count as a reference)."""
        return bool(self._core.contains(key))

    def __len__(self) -> int:
        return len(self._core)

    def history_of(self, key: int) -> tuple[int, ...]:
        """``(HIST(key, 1), ..., HIST(key, K), LAST(key))`` of a tracked key, or () if untracked."""
        return tuple(self._core.history_of(key))

    def memory_bytes(self) -> int:
        """Bytes allocated by the native structures (records, hash table, heaps)."""
        return int(self._core.memory_bytes())

    def _checkpoint(self) -> bytes:
        return bytes(self._core._save())

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError("not a native LRUK checkpoint (expected bytes)")  # noqa: TRY004 - the documented type
        self._core = _core.LRUK._load(bytes(payload))
        self.access = self._core.access  # type: ignore[method-assign,assignment]

    capacity = property(lambda self: self._core.capacity, doc="Most resident keys.")
    k = property(lambda self: self._core.k, doc="K of LRU-K.")
    crp = property(lambda self: self._core.crp, doc="Correlated reference period (references).")
    rip = property(lambda self: self._core.rip, doc="Retained information period (None = forever).")
    history = property(lambda self: self._core.history, doc="Most retained non-resident keys (None = all).")
    time = property(lambda self: self._core.time, doc="References made so far.")
    hits = property(lambda self: self._core.hits, doc="References that found the key resident.")
    misses = property(lambda self: self._core.misses, doc="References that did not.")
    evictions = property(lambda self: self._core.evictions, doc="Keys evicted to make room.")
    retained = property(lambda self: self._core.retained, doc="Non-resident keys whose history is kept.")

    def __repr__(self) -> str:
        return (
            f"LRUK(capacity={self.capacity}, k={self.k}, crp={self.crp}, rip={self.rip}, "
            f"history={self.history}) [{len(self)} resident, {self.hits} hits, {self.misses} misses]"
        )
