"""ARC (Megiddo & Modha, FAST 2003): rules A1-A5 of docs/engines/eviction.md (section ``arc``).

T1/T2 resident, B1/B2 ghosts; each an OrderedDict, first = LRU end.
"""

from __future__ import annotations

from collections import OrderedDict

from .policy import EvictionPolicy

__all__ = ["Arc"]


class Arc(EvictionPolicy):
    NAME = "arc"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.p = 0.0  # target size of T1 (a float: A2)
        self.t1: OrderedDict[int, None] = OrderedDict()
        self.t2: OrderedDict[int, None] = OrderedDict()
        self.b1: OrderedDict[int, None] = OrderedDict()
        self.b2: OrderedDict[int, None] = OrderedDict()
        self.ghost = 0  # 1 / 2: the key being admitted was found in B1 / B2

    def access(self, key: int) -> bool:
        if key in self.t1:  # A1: a hit in T1 moves to T2's MRU end, in T2 to its MRU end
            del self.t1[key]
            self.t2[key] = None
            return True
        if key in self.t2:
            self.t2.move_to_end(key)
            return True
        self.ghost = 0
        if key in self.b1:  # A2: a ghost hit adapts p and leaves the ghost list
            self.p = min(self.p + max(len(self.b2) / len(self.b1), 1.0), float(self.capacity))
            del self.b1[key]
            self.ghost = 1
        elif key in self.b2:
            self.p = max(self.p - max(len(self.b1) / len(self.b2), 1.0), 0.0)
            del self.b2[key]
            self.ghost = 2
        return False

    def _replace(self) -> int:
        """A3: T1's LRU to B1 if |T1| > 0 and (|T1| > p or (|T1| = p and the key was in B2)), or T2 is empty; else T2's LRU to B2."""
        t1 = len(self.t1)
        if (t1 > 0 and (t1 > self.p or (t1 == self.p and self.ghost == 2))) or not self.t2:
            key = self.t1.popitem(last=False)[0]
            self.b1[key] = None
        else:
            key = self.t2.popitem(last=False)[0]
            self.b2[key] = None
        self.evictions += 1
        return key

    def _evict_for_new(self) -> int:
        """A4: room for a key in no list."""
        c = self.capacity
        if len(self.t1) + len(self.b1) + 1 > c:
            if self.b1:
                self.b1.popitem(last=False)
                return self._replace()
            self.evictions += 1
            return self.t1.popitem(last=False)[0]  # T1 alone fills the cache: no ghost kept
        if len(self.t1) + len(self.b1) + len(self.t2) + len(self.b2) >= 2 * c and self.b2:
            self.b2.popitem(last=False)
        return self._replace()

    def admit(self, key: int) -> None:
        while len(self.t1) + len(self.t2) + 1 > self.capacity:
            if self.ghost:
                self._replace()
            else:
                self._evict_for_new()
        if self.ghost:  # A5: a ghost hit enters T2, anything else T1 (MRU ends)
            self.t2[key] = None
            self.ghost = 0
        else:
            self.t1[key] = None

    def evict(self) -> int | None:
        if not self.t1 and not self.t2:
            return None
        self.ghost = 0
        return self._evict_for_new()

    def remove(self, key: int) -> bool:
        for lst in (self.t1, self.t2, self.b1, self.b2):
            if key in lst:
                del lst[key]
                return True
        return False

    def __contains__(self, key: int) -> bool:
        return key in self.t1 or key in self.t2

    def __len__(self) -> int:
        return len(self.t1) + len(self.t2)
