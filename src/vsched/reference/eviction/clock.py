"""CLOCK with an n-bit reference counter: rules C1-C3 of docs/engines/eviction.md (section ``clock``)."""

from __future__ import annotations

from collections import OrderedDict

from .policy import EvictionPolicy

__all__ = ["Clock"]


class Clock(EvictionPolicy):
    NAME = "clock"

    def __init__(self, capacity: int, bits: int = 1) -> None:
        super().__init__(capacity)
        self.bits = bits
        self._max = (1 << bits) - 1
        # the ring, first = under the hand (the oldest insertion or re-queue)
        self._ring: OrderedDict[int, int] = OrderedDict()

    def access(self, key: int) -> bool:
        count = self._ring.get(key)
        if count is None:
            return False
        if count < self._max:  # C1: a hit raises the counter, saturating
            self._ring[key] = count + 1
        return True

    def admit(self, key: int) -> None:
        if len(self._ring) >= self.capacity:
            self.evict()
        self._ring[key] = 0  # C3: new keys enter behind the hand with counter 0

    def evict(self) -> int | None:
        ring = self._ring
        if not ring:
            return None
        while True:  # C2: a key under the hand with counter > 0 loses one and goes behind
            key, count = next(iter(ring.items()))
            if count == 0:
                del ring[key]
                self.evictions += 1
                return key
            ring[key] = count - 1
            ring.move_to_end(key)

    def remove(self, key: int) -> bool:
        return self._ring.pop(key, None) is not None

    def __contains__(self, key: int) -> bool:
        return key in self._ring

    def __len__(self) -> int:
        return len(self._ring)
