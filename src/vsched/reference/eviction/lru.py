"""LRU: rules E1-E2 of docs/engines/eviction.md (section ``lru``)."""

from __future__ import annotations

from collections import OrderedDict

from .policy import EvictionPolicy

__all__ = ["Lru"]


class Lru(EvictionPolicy):
    NAME = "lru"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._order: OrderedDict[int, None] = OrderedDict()  # first = least recently used

    def access(self, key: int) -> bool:
        if key in self._order:
            self._order.move_to_end(key)  # L1: a hit makes the key most recent
            return True
        return False

    def admit(self, key: int) -> None:
        if len(self._order) >= self.capacity:  # L2: full -> the least recent key goes
            self.evict()
        self._order[key] = None

    def evict(self) -> int | None:
        if not self._order:
            return None
        self.evictions += 1
        return self._order.popitem(last=False)[0]

    def remove(self, key: int) -> bool:
        return self._order.pop(key, 0) is None

    def __contains__(self, key: int) -> bool:
        return key in self._order

    def __len__(self) -> int:
        return len(self._order)
