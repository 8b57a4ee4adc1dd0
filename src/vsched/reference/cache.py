"""Pure-Python key cache over any eviction policy: the oracle for :class:`vsched.Cache`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._cache_args import check_cache_args
from .._lruk_args import as_keys
from .._state import Checkpointable
from .eviction import POLICIES
from .lruk import _key

__all__ = ["Cache"]

_LAYOUT = 1  # of the checkpoint payload; bump when the fields change


class Cache(Checkpointable):
    """Reference twin of :class:`vsched.Cache` (same arguments, results, errors)."""

    IMPLEMENTATION = "reference"
    _implementation = "reference"

    def __init__(self, capacity: int, policy: str = "lru", **policy_args: Any) -> None:
        capacity, policy, args = check_cache_args(capacity, policy, policy_args)
        self.capacity, self.policy, self.policy_args = capacity, policy, args
        self._policy = POLICIES[policy](capacity, **args)
        self.time = self.hits = self.misses = 0

    def access(self, key: int) -> bool:
        """Reference `key`; True on a hit (a miss admits it, evicting by the policy)."""
        p = _key(key)
        self.time += 1
        if self._policy.access(p):
            self.hits += 1
            return True
        self.misses += 1
        self._policy.admit(p)
        return False

    def access_many(self, keys: Any) -> np.ndarray:
        """Reference every key in order; a bool array, True = hit."""
        array = as_keys(keys)
        return np.array([self.access(int(key)) for key in array.tolist()], dtype=bool)

    def __contains__(self, key: object) -> bool:
        return _key(key) in self._policy

    def __len__(self) -> int:
        return len(self._policy)

    @property
    def evictions(self) -> int:
        return self._policy.evictions

    def _checkpoint(self) -> dict[str, Any]:
        return {"layout": _LAYOUT, "capacity": self.capacity, "policy": self.policy, "args": dict(self.policy_args),
                "counters": (self.time, self.hits, self.misses), "state": self._policy.save()}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("layout") != _LAYOUT:
            raise ValueError(f"reference Cache checkpoint of another layout (this one reads {_LAYOUT})")
        self.__init__(payload["capacity"], payload["policy"], **payload["args"])  # type: ignore[misc]
        self.time, self.hits, self.misses = payload["counters"]
        self._policy.restore(payload["state"])

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.policy_args.items())
        return (f"Cache(capacity={self.capacity}, policy={self.policy!r}{args}) "
                f"[{len(self)} resident, {self.hits} hits, {self.misses} misses]")
