"""vsched: resource management for one virtualization host.

The native engines (C++ core, ``vsched._core``) are exported here; the
pure-Python twins with the same names live in :mod:`vsched.reference`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import traces, workloads
from .allocation import fair_share
from .errors import AdmissionError, InUseError
from .host import Host, HostRun
from .lruk import LRUK
from .net import NetGuard, NetScheduler, PacketRun
from .memory import MemoryManager, Outcome, PageState
from .scheduler import FOREVER, CpuScheduler
from .reallocation import ESTIMATORS, ReallocMetrics, Reallocator, realloc_metrics

try:
    __version__ = version("vsched")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0+unknown"

IMPLEMENTATION = "native"

__all__ = [
    "FOREVER",
    "IMPLEMENTATION",
    "CpuScheduler",
    "ESTIMATORS",
    "Host",
    "HostRun",
    "LRUK",
    "AdmissionError",
    "InUseError",
    "MemoryManager",
    "NetGuard",
    "NetScheduler",
    "PacketRun",
    "Outcome",
    "PageState",
    "ReallocMetrics",
    "Reallocator",
    "__version__",
    "fair_share",
    "realloc_metrics",
    "traces",
    "workloads",
]
