"""Pure-Python reference engines: same public names and results as ``vsched``.

They are the test oracle for the native core and the baseline its benchmarks
are measured against. Slow by design: obviously correct first.
"""

from __future__ import annotations

from .. import traces, workloads  # shared pure-Python readers, re-exported so both namespaces match
from ..errors import AdmissionError, InUseError
from .._vm_state import VmState
from ..host import HostRun
from .allocation import fair_share
from .cache import Cache
from .host import Host
from .lruk import LRUK
from .net import NetGuard, NetScheduler, PacketRun
from .memory import MemoryManager, Outcome, PageState
from .scheduler import FOREVER, CpuScheduler
from .reallocation import ESTIMATORS, ReallocMetrics, Reallocator, realloc_metrics

IMPLEMENTATION = "reference"

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
    "fair_share",
    "realloc_metrics",
    "traces",
    "workloads",
]
