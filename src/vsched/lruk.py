"""LRU-K page replacement (native core). Rules: docs/engines/memory.md, section ``LRUK``."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._state import Checkpointable
from ._lruk_args import as_keys, check_lruk_args
from ._validate import as_int

__all__ = ["LRUK", "as_keys", "check_lruk_args"]


class LRUK(Checkpointable):
    """LRU-K cache of 64-bit keys (O'Neil, O'Neil & Weikum, SIGMOD 1993), with a
    correlated reference period and retained history of evicted keys.

    ``LRUK(capacity, k=2, crp=0, rip=None, history=None)``; :meth:`access` one key
    or :meth:`access_many` an array of keys, each a hit or a miss that may evict
    the LRU-K victim. The defaults keep the history of every evicted key (the
    paper's RIP = infinity): memory grows with the distinct keys (see
    :meth:`memory_bytes`); bound it with ``history`` for unbounded key spaces.

    The rules (time, HIST and LAST, the victim, CRP, RIP, retained history) are
    specified once, in the manual's memory page (``docs/engines/memory.md``,
    section ``LRUK``). ``vsched.reference.LRUK`` follows them with identical
    results. Bad input raises (ValueError / TypeError) and changes nothing.
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
