"""MemoryManager.access: VMs cloned from 10 templates, mixed reads and writes (native vs reference).

Size = (VMs, pages per VM, accesses, frames). The issue's point is the
largest: 1,000 VMs x 65,536 pages, 10 M accesses; frames = 1 M (so sharing
and eviction both happen). The reference runs the smallest only.
"""

from __future__ import annotations

import numpy as np

from .common import IMPLS, SMOKE, module
from .page_workloads import cloned_vm_accesses

SIZES = {
    "100x1024/20k/frames2k": (100, 1_024, 20_000, 2_000),
    "1000x65536/10M/frames1M": (1_000, 65_536, 10_000_000, 1_000_000),
}
if SMOKE:  # CI's smoke pass: one toy size, both implementations
    SIZES = {"10x256/2k/frames200": (10, 256, 2_000, 200)}


class MemoryManagerAccess:
    params = [IMPLS, list(SIZES)]
    param_names = ["impl", "size"]
    timeout = 900
    # number = 1 and no warm-up: asv then calls setup before every sample, so
    # each timed run starts from a fresh manager (accesses change it).
    number = 1
    repeat = 2
    warmup_time = 0

    def setup(self, impl, size):
        if impl == "reference" and size != next(iter(SIZES)):
            raise NotImplementedError("reference runs the reduced size only")
        vms, pages, accesses, frames = SIZES[size]
        self.vm, self.gpn, self.content, self.write = cloned_vm_accesses(vms, pages, accesses)
        self.mm = module(impl).MemoryManager(frames)
        for _ in range(vms):
            self.mm.add_vm(pages, 0)

    def time_access(self, impl, size):
        self.mm.access(self.vm, self.gpn, self.content, self.write)

    def track_saving(self, impl, size):
        self.mm.access(self.vm, self.gpn, self.content, self.write)
        return self.mm.stats()["saving"]

    track_saving.unit = "ratio"


class MemoryManagerChurn:
    """Per-operation cost after N add/remove cycles: flat in N (removed VMs' slots and pages are
    reused; stats() costs O(live VMs)). One live VM of 1,024 touched pages throughout."""

    params = [IMPLS, [0, 1_000] if SMOKE else [0, 100_000]]
    param_names = ["impl", "cycles_before"]
    timeout = 900
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, impl, cycles_before):
        if impl == "reference" and cycles_before > 1_000:
            raise NotImplementedError("reference runs the small churn only")
        self.mm = module(impl).MemoryManager(4_096)
        keep = self.mm.add_vm(1_024)
        self.mm.access(keep, np.arange(1_024), np.arange(1_024, dtype=np.uint64))
        self.gpn = np.arange(64)
        self.content = np.arange(64, dtype=np.uint64)
        self.cycle(cycles_before)

    def cycle(self, count):
        for _ in range(count):
            vm = self.mm.add_vm(64)
            self.mm.access(vm, self.gpn, self.content)
            self.mm.remove_vm(vm)

    def time_1000_cycles(self, impl, cycles_before):
        """1,000 x (add_vm, access 64 pages, remove_vm): divide by 1,000 for the per-cycle cost."""
        self.cycle(1_000)

    def time_stats(self, impl, cycles_before):
        self.mm.stats()

    def track_memory_bytes(self, impl, cycles_before):
        return self.mm.memory_bytes() if impl == "native" else 0

    track_memory_bytes.unit = "bytes"
