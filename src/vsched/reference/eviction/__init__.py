"""Reference eviction policies, one module per policy, behind one interface (``policy.py``).

``POLICIES`` maps each name ``vsched.Cache`` accepts to its class.
"""

from __future__ import annotations

from .arc import Arc
from .clock import Clock
from .lirs import Lirs
from .lru import Lru
from .lruk import LruK
from .policy import EvictionPolicy

POLICIES: dict[str, type[EvictionPolicy]] = {p.NAME: p for p in (Lru, Clock, Arc, Lirs, LruK)}

__all__ = ["POLICIES", "Arc", "Clock", "EvictionPolicy", "Lirs", "Lru", "LruK"]
