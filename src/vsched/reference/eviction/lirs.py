"""LIRS (Jiang & Zhang, SIGMETRICS 2002) as libCacheSim runs it: rules I1-I8 of
docs/engines/eviction.md (section ``lirs``).

S: the LIRS stack, key -> [is_lir, resident], first = bottom. Q: resident HIR
keys, first = front (next victim). NH: non-resident HIR keys still in S, first =
oldest. ``occupied`` counts resident keys as libCacheSim's ``occupied_byte``
does (I7).
"""

from __future__ import annotations

from collections import OrderedDict

from .policy import EvictionPolicy

__all__ = ["Lirs", "lirs_limits"]


def lirs_limits(capacity: int) -> tuple[int, int]:
    """I1: (LIR limit, HIR limit); HIR = max(1, floor(0.01 * capacity)) in float64."""
    hir = max(1, int(0.01 * capacity))
    return capacity - hir, hir


class Lirs(EvictionPolicy):
    NAME = "lirs"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.lir_limit, self.hir_limit = lirs_limits(capacity)
        self.s: OrderedDict[int, list[bool]] = OrderedDict()
        self.q: OrderedDict[int, None] = OrderedDict()
        self.nh: OrderedDict[int, None] = OrderedDict()
        self.lirs = self.hirs = self.occupied = 0

    # -- the moves the rules are made of ------------------------------------
    def _prune(self) -> None:
        """I2: pop non-LIR entries off the bottom of S (never its last entry)."""
        s = self.s
        while len(s) > 1:
            key, (lir, resident) = next(iter(s.items()))
            if lir:
                break
            if not resident:
                self.nh.pop(key, None)
            del s[key]

    def _evict_hir(self) -> None:
        """I3: Q's front leaves the cache; in S it stays as non-resident HIR."""
        key = self.q.popitem(last=False)[0]
        self.hirs -= 1
        self.occupied -= 1
        self.evictions += 1
        entry = self.s.get(key)
        if entry is not None:
            entry[1] = False
            self.nh[key] = None
            self.nh.move_to_end(key)

    def _demote_lir(self) -> None:
        """I4: S's bottom leaves S and joins Q's back as resident HIR (Q making room first), then I2."""
        key = self.s.popitem(last=False)[0]
        self.lirs -= 1
        self.occupied -= 1
        while self.hirs + 1 > self.hir_limit:
            self._evict_hir()
        self.q[key] = None
        self.q.move_to_end(key)
        self.hirs += 1
        self.occupied += 1
        self._prune()

    def _make_lir_room(self) -> None:
        while self.lirs + 1 > self.lir_limit:
            self._demote_lir()

    def _limit_stack(self) -> None:
        """I8: S holds at most 2 * capacity entries: drop the oldest non-resident HIR ones."""
        while len(self.s) > 2 * self.capacity and self.nh:
            del self.s[self.nh.popitem(last=False)[0]]

    # -- the interface ------------------------------------------------------
    def access(self, key: int) -> bool:
        s, q = self.s, self.q
        entry = s.get(key)
        in_q = key in q
        if entry is not None:  # I5: every reference moves its S entry to the top, its Q entry to the back
            s.move_to_end(key)
        if in_q:
            q.move_to_end(key)
        if entry is not None:
            if entry[0]:  # I5a: LIR hit
                self._prune()
            elif entry[1]:  # I5b: resident HIR in S: becomes LIR
                if in_q:
                    del q[key]
                    self.hirs -= 1
                    self.occupied -= 1
                self._make_lir_room()
                entry[0] = True
                self.lirs += 1
                self.occupied += 1
            else:
                return False  # non-resident HIR: a miss, admit() follows
        elif in_q:  # I5c: resident HIR not in S: enters S as HIR
            self._make_lir_room()
            s[key] = [False, True]
        else:
            return False
        self._limit_stack()
        return True

    def admit(self, key: int) -> None:
        entry = self.s.get(key)
        if entry is not None:  # I6: non-resident HIR in S becomes a resident LIR
            self._make_lir_room()
            self.nh.pop(key, None)
            while self.occupied + 1 > self.capacity:
                while self.hirs >= self.hir_limit:
                    self._evict_hir()
                self._demote_lir()
            entry[0] = entry[1] = True
            self.lirs += 1
        else:  # I7: a key in neither S nor Q
            if self._both_full():
                while self.hirs + 1 > self.hir_limit:
                    self._evict_hir()
            while self.occupied + 1 > self.capacity and self._both_full():
                self._evict_hir()
            if self.lirs + 1 <= self.lir_limit:
                self.s[key] = [True, True]
                self.lirs += 1
            else:
                self.s[key] = [False, True]
                self.q[key] = None
                self.hirs += 1
        self.occupied += 1
        self._limit_stack()

    def _both_full(self) -> bool:
        return self.lirs + 1 > self.lir_limit and self.hirs + 1 > self.hir_limit

    def evict(self) -> int | None:
        if not self.q:
            if self.lirs == 0:
                return None
            self._demote_lir()
        key = next(iter(self.q))
        self._evict_hir()
        return key

    def remove(self, key: int) -> bool:
        entry = self.s.pop(key, None)
        in_q = self.q.pop(key, 0) is None
        if entry is None and not in_q:
            return False
        if entry is not None and entry[0]:
            self.lirs -= 1
            self.occupied -= 1
            self._prune()
        elif (entry is not None and entry[1]) or in_q:
            self.hirs -= 1
            self.occupied -= 1
        if entry is not None and not entry[1]:
            self.nh.pop(key, None)
        return True

    def __contains__(self, key: int) -> bool:
        entry = self.s.get(key)
        return key in self.q or (entry is not None and entry[1])

    def __len__(self) -> int:
        return self.lirs + self.hirs
