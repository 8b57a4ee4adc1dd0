"""Checked by mypy in tests/test_engine_contracts.py (never run): each engine of both
implementations satisfies its contract, and both packages are engine sets."""

from __future__ import annotations

import vsched
import vsched.reference
from vsched.engines import (
    CpuSchedulerEngine,
    EngineSet,
    FairShare,
    LRUKEngine,
    MemoryManagerEngine,
    NetSchedulerEngine,
    ReallocatorEngine,
)


def native_engines(
    scheduler: vsched.CpuScheduler, lruk: vsched.LRUK, memory: vsched.MemoryManager, realloc: vsched.Reallocator
) -> tuple[CpuSchedulerEngine, LRUKEngine, MemoryManagerEngine, ReallocatorEngine, FairShare]:
    return scheduler, lruk, memory, realloc, vsched.fair_share


def reference_engines(
    scheduler: vsched.reference.CpuScheduler,
    lruk: vsched.reference.LRUK,
    memory: vsched.reference.MemoryManager,
    realloc: vsched.reference.Reallocator,
) -> tuple[CpuSchedulerEngine, LRUKEngine, MemoryManagerEngine, ReallocatorEngine, FairShare]:
    return scheduler, lruk, memory, realloc, vsched.reference.fair_share


def net_engines(native: vsched.NetScheduler, reference: vsched.reference.NetScheduler) -> tuple[
    NetSchedulerEngine, NetSchedulerEngine
]:
    return native, reference


NATIVE: EngineSet = vsched
REFERENCE: EngineSet = vsched.reference
