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
        self._missed = False

    def access(self, key: int) -> bool:
        # LRUK makes one reference of hit and admission; the miss is replayed by admit()
        if key in self.cache:
            return self.cache.access(key)
        return False

    def admit(self, key: int) -> None:
        self.cache.access(key)

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
        return {"cache": self.cache._checkpoint()}

    def restore(self, state: dict[str, Any]) -> None:
        self.cache._restore(state["cache"])
