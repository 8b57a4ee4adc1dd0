"""A key cache over a choice of eviction policies (native core).

Rules: docs/engines/eviction.md (numbered per policy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._cache_args import POLICY_ARGS, check_cache_args
from ._lruk_args import as_keys
from ._state import Checkpointable
from .reference.lruk import _key

__all__ = ["POLICIES", "Cache"]

POLICIES = tuple(POLICY_ARGS)  # the names `policy` accepts


class Cache(Checkpointable):
    """Cache of 64-bit keys with the eviction policy `policy`.

    ``Cache(capacity, policy="lru", **policy_args)``: ``"lru"``, ``"clock"``
    (``bits=1``: the reference counter's width), ``"arc"``, ``"lirs"``
    (``capacity >= 2``) or ``"lruk"`` (``k=2, crp=0, rip=None, history=None``,
    exactly :class:`vsched.LRUK`). :meth:`access` one key or :meth:`access_many`
    an array of keys, each a hit or a miss that admits the key (evicting by the
    policy). CLOCK, ARC and LIRS follow libCacheSim's variants hit for hit
    (the manual's eviction page, ``docs/engines/eviction.md``, has the rules).
    ``vsched.reference.Cache`` gives identical results. Bad input raises
    (ValueError / TypeError) and changes nothing.
    """

    IMPLEMENTATION = "native"

    def __init__(self, capacity: int, policy: str = "lru", **policy_args: Any) -> None:
        capacity, policy, args = check_cache_args(capacity, policy, policy_args)
        self.policy_args = args
        full = {"bits": 1, "k": 2, "crp": 0, "rip": None, "history": None, **args}
        self._core = _core.Cache(capacity, policy, full["bits"], full["k"], full["crp"], full["rip"], full["history"])

    def access(self, key: int) -> bool:
        """Reference `key`; True on a hit, False on a miss (the key is then resident)."""
        return bool(self._core.access(_key(key)))

    def access_many(self, keys: Any) -> np.ndarray:
        """Reference every key in order (GIL released); a bool array, True = hit."""
        return self._core.access_many(as_keys(keys))

    def __contains__(self, key: object) -> bool:
        """Is `key` resident (does not count as a reference)."""
        return bool(self._core.contains(_key(key)))

    def __len__(self) -> int:
        return len(self._core)

    def memory_bytes(self) -> int:
        """Bytes allocated by the native structures (estimated for hash maps)."""
        return int(self._core.memory_bytes())

    def _checkpoint(self) -> Any:
        return {"args": dict(self.policy_args), "core": bytes(self._core._save())}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("core"), (bytes, bytearray)):
            raise ValueError("not a native Cache checkpoint")
        self._core = _core.Cache._load(bytes(payload["core"]))
        self.policy_args = dict(payload["args"])

    capacity = property(lambda self: self._core.capacity, doc="Most resident keys.")
    policy = property(lambda self: self._core.policy, doc="The eviction policy's name.")
    time = property(lambda self: self._core.time, doc="References made so far.")
    hits = property(lambda self: self._core.hits, doc="References that found the key resident.")
    misses = property(lambda self: self._core.misses, doc="References that did not.")
    evictions = property(lambda self: self._core.evictions, doc="Resident keys that left to make room.")

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.policy_args.items())
        return (f"Cache(capacity={self.capacity}, policy={self.policy!r}{args}) "
                f"[{len(self)} resident, {self.hits} hits, {self.misses} misses]")
