"""The eviction-policy interface every reference policy implements.

A policy owns the resident set of a cache of ``capacity`` keys and whatever
history it keeps of non-resident keys (ghosts). The cache drives it, per
reference to ``key``: ``access(key)``; on False (a miss) ``admit(key)``,
which evicts as the policy's rule says and makes ``key`` resident. Rules:
docs/engines/eviction.md (numbered per policy).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["EvictionPolicy"]


class EvictionPolicy:
    """Base of the reference policies: the interface and the checkpoint of the state."""

    NAME = ""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.evictions = 0  # resident keys that left to make room

    def access(self, key: int) -> bool:
        """A reference to `key`: True if resident (the policy's hit update done), else False."""
        raise NotImplementedError

    def admit(self, key: int) -> None:
        """After ``access(key)`` returned False: evict as the rule says, then `key` is resident."""
        raise NotImplementedError

    def evict(self) -> int | None:
        """Evict one resident key by the policy's victim rule now (None if none is resident)."""
        raise NotImplementedError

    def remove(self, key: int) -> bool:
        """Forget `key` (resident or remembered): True if the policy knew it."""
        raise NotImplementedError

    def __contains__(self, key: int) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def save(self) -> dict[str, Any]:
        """The whole state as plain data (restore() continues bit-identically)."""
        return copy.deepcopy(self.__dict__)

    def restore(self, state: dict[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(state))
