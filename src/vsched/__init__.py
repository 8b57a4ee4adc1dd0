"""vsched: resource management for one virtualization host.

The native engines (C++ core, ``vsched._core``) are exported here; the
pure-Python twins with the same names live in :mod:`vsched.reference`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from typing import Any

from . import traces, workloads
from .errors import AdmissionError, InUseError
from .pages import Outcome, PageState
from .reallocation_metrics import ReallocMetrics, realloc_metrics
from ._sched_args import FOREVER
from ._vm_state import VmState

# The native engines need the extension module. If it cannot be loaded, the
# package still imports (so that vsched.reference, the oracle, works without
# it) and each native name raises ImportError, with the cause, when used.
try:
    from .allocation import fair_share
    from .cache import Cache
    from .host import Host, HostRun
    from .lruk import LRUK
    from .memory import MemoryManager
    from .net import NetGuard, NetScheduler, PacketRun
    from .scheduler import CpuScheduler
    from .reallocation import ESTIMATORS, Reallocator
except ImportError as _native_error:  # the extension is missing or broken
    _NATIVE_ERROR: ImportError | None = _native_error
    from .host import HostRun

    def __getattr__(name: str) -> Any:
        if name in {"Cache", "fair_share", "Host", "LRUK", "MemoryManager", "CpuScheduler", "ESTIMATORS", "Reallocator", "NetGuard", "NetScheduler", "PacketRun"}:
            raise ImportError(
                f"vsched.{name} needs the native extension vsched._core, which failed to import "
                f"({_NATIVE_ERROR}); vsched.reference has the same engines in pure Python"
            ) from _NATIVE_ERROR
        raise AttributeError(f"module 'vsched' has no attribute {name!r}")
else:
    _NATIVE_ERROR = None

try:
    __version__ = version("vsched")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0+unknown"

IMPLEMENTATION = "native"

__all__ = [
    "FOREVER",
    "IMPLEMENTATION",
    "Cache",
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
    "VmState",
    "__version__",
    "fair_share",
    "realloc_metrics",
    "traces",
    "workloads",
]
