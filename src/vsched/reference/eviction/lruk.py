"""LRU-K behind the policy interface: the reference :class:`~vsched.reference.LRUK`, unchanged.

Its rules are those of docs/engines/memory.md (section ``LRUK``).
"""

from __future__ import annotations

from typing import Any

from ..lruk import LRUK
from .policy import EvictionPolicy

__all__ = ["LruK"]


class LruK(EvictionPolicy):
    NAME = "lruk"

    def __init__(self, capacity: int, k: int = 2, crp: int = 0, rip: int | None = None,
                 history: int | None = None) -> None:
        super().__init__(capacity)
        self.cache = LRUK(capacity, k, crp, rip, history)
        self._pending: int | None = None  # the key access() just missed (and admitted)

    def access(self, key: int) -> bool:
        # LRUK makes hit and admission one reference: access() makes it whole,
        # and the admit() that follows a miss has nothing left to do
        hit = self.cache.access(key)
        self._pending = None if hit else key
        return hit

    def admit(self, key: int) -> None:
        if self._pending != key:
            self.cache.access(key)
        self._pending = None

    @property
    def evictions(self) -> int:  # type: ignore[override]
        return self.cache.evictions

    @evictions.setter
    def evictions(self, value: int) -> None:
        pass  # counted by the LRUK cache itself

    def evict(self) -> int | None:
        raise NotImplementedError("lruk evicts only to admit a key")

    def remove(self, key: int) -> bool:
        raise NotImplementedError("lruk keys are removed only by eviction")

    def __contains__(self, key: int) -> bool:
        return key in self.cache

    def __len__(self) -> int:
        return len(self.cache)

    def save(self) -> dict[str, Any]:
        return {"cache": self.cache._checkpoint(), "pending": self._pending}

    def restore(self, state: dict[str, Any]) -> None:
        self.cache._restore(state["cache"])
        self._pending = state["pending"]
