"""CpuScheduler: cpu_bound_host and bursty_host (native vs reference).

Sizes are fixed by the issue for the native runs ("full"); the reference runs
only on the reduced "small" sizes, where the native runs too, so the
native/reference ratio is read at equal size.

  cpu_bound_host  full: 128 pCPUs, 3,000 VMs x 4 vCPUs CPU-bound, slice 3 ms, 60 s
                  small:  4 pCPUs,   100 VMs x 4 vCPUs,                        3 s
  bursty_host     full:  64 pCPUs, 2,000 VMs x 2 vCPUs, a burst every 10 ms,   10 s
                  small:  8 pCPUs,   250 VMs x 2 vCPUs,                         1 s
Bursts: every 10 ms each vCPU gets work with probability 0.5, exponential with
mean 1 ms (about 3x overcommitted). ``track_*`` report decisions per second
(one decision = one vCPU put on a pCPU).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .common import IMPLS, SMOKE, module

MS = 1_000_000
CPU_BOUND = {"small": (4, 100, 3_000 * MS), "full": (128, 3_000, 60_000 * MS)}
BURSTY = {"small": (8, 250, 100), "full": (64, 2_000, 1_000)}


def _skip_reference_full(impl: str, size: str) -> None:
    if impl == "reference" and size == "full":
        raise NotImplementedError("reference not run at full size")


class CpuBoundHost:
    params = [IMPLS, ["small", "full"]]
    param_names = ["impl", "size"]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup(self, impl, size):
        _skip_reference_full(impl, size)
        pcpus, vms, self.duration = CPU_BOUND[size]
        mod = module(impl)
        self.scheduler = mod.CpuScheduler(pcpus, 3 * MS)
        for _ in range(vms):
            self.scheduler.add_vm(4)
        self.scheduler.add_work(np.repeat(np.arange(vms), 4), np.tile(np.arange(4), vms), mod.FOREVER)

    def time_run(self, impl, size):
        self.scheduler.run(self.duration)

    def track_decisions_per_second(self, impl, size):
        start = time.perf_counter()
        before = self.scheduler.decisions
        self.scheduler.run(self.duration)
        return (self.scheduler.decisions - before) / (time.perf_counter() - start)

    track_decisions_per_second.unit = "decisions/s"


class BurstyHost:
    params = [IMPLS, ["small", "full"]]
    param_names = ["impl", "size"]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup(self, impl, size):
        _skip_reference_full(impl, size)
        pcpus, vms, self.bursts = BURSTY[size]
        mod = module(impl)
        self.scheduler = mod.CpuScheduler(pcpus, 3 * MS)
        for _ in range(vms):
            self.scheduler.add_vm(2)
        rng = np.random.default_rng(42)
        vm_all = np.repeat(np.arange(vms), 2)
        vcpu_all = np.tile(np.arange(2), vms)
        self.batches = []
        for _ in range(self.bursts):
            pick = rng.random(2 * vms) < 0.5
            work = np.maximum(1, rng.exponential(1.0 * MS, int(pick.sum()))).astype(np.int64)
            self.batches.append((vm_all[pick], vcpu_all[pick], work))

    def _simulate(self):
        for vm, vcpu, work in self.batches:
            self.scheduler.add_work(vm, vcpu, work)
            self.scheduler.run(10 * MS)

    def time_run(self, impl, size):
        self._simulate()

    def track_decisions_per_second(self, impl, size):
        start = time.perf_counter()
        before = self.scheduler.decisions
        self._simulate()
        return (self.scheduler.decisions - before) / (time.perf_counter() - start)

    track_decisions_per_second.unit = "decisions/s"


class SchedulerChurn:
    """Per-operation cost after N add/remove cycles: flat in N (removed VMs' slots
    are compacted away; no scan over every VM ever added). 100 live VMs with
    CPU-bound work on 16 pCPUs throughout; each cycle adds a VM, gives it work,
    runs one slice and removes it."""

    params = [IMPLS, [0, 1_000] if SMOKE else [0, 100_000]]
    param_names = ["impl", "cycles_before"]
    timeout = 900
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, impl, cycles_before):
        if impl == "reference" and cycles_before > 1_000:
            raise NotImplementedError("reference runs the small churn only")
        mod = module(impl)
        self.scheduler = mod.CpuScheduler(16, 1 * MS)
        for i in range(100):
            self.scheduler.add_vm(2, reservation=0.1 if i % 10 == 0 else 0.0)
        self.scheduler.add_work(np.repeat(np.arange(100), 2), np.tile([0, 1], 100), mod.FOREVER)
        self.forever = mod.FOREVER
        self.cycle(cycles_before)

    def cycle(self, count):
        s = self.scheduler
        for _ in range(count):
            vm = s.add_vm(2, limit=1.5)
            s.add_work(vm, 0, self.forever)
            s.run(MS)
            s.remove_vm(vm)

    def time_1000_cycles(self, impl, cycles_before):
        """1,000 x (add_vm, add_work, run 1 ms, remove_vm): divide by 1,000 for the per-cycle cost."""
        self.cycle(1_000)

    def time_1000_add_remove(self, impl, cycles_before):
        """1,000 x (add_vm, remove_vm) alone."""
        s = self.scheduler
        for _ in range(1_000):
            s.remove_vm(s.add_vm(2))

    def track_memory_bytes(self, impl, cycles_before):
        return self.scheduler.memory_bytes() if impl == "native" else 0

    track_memory_bytes.unit = "bytes"


class SchedulerThreads:
    """Two native schedulers (16 pCPUs, 200 VMs x 2 CPU-bound vCPUs, 2 s simulated each) run
    one after the other ("serial") or in two threads at once ("threads"): run releases the
    GIL, and each object holds only its own one-thread-at-a-time guard, so on 2 free cores
    "threads" takes about half of "serial"."""

    params = [["serial", "threads"]]
    param_names = ["mode"]
    number = 1
    repeat = 5
    warmup_time = 0

    def setup(self, mode):
        mod = module("native")
        self.schedulers = []
        for _ in range(2):
            s = mod.CpuScheduler(16, 1 * MS)
            for i in range(200):
                s.add_vm(2, shares=500 + 10 * i)
            s.add_work(np.repeat(np.arange(200), 2), np.tile([0, 1], 200), mod.FOREVER)
            self.schedulers.append(s)
        self.duration = (200 if SMOKE else 2_000) * MS

    def time_two_runs(self, mode):
        if mode == "serial":
            for s in self.schedulers:
                s.run(self.duration)
            return
        threads = [threading.Thread(target=s.run, args=(self.duration,)) for s in self.schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

def reserved_heavy_host(mod, reserved: int, reservation: float, spread: float = 0.0):
    """128 pCPUs, 3,000 CPU-bound VMs x 4 vCPUs, 3 ms slices; the first `reserved` VMs
    reserve `reservation` cores each, or, with `spread` > 0, each its own amount drawn
    uniformly within +-spread of it (seed 2026, rounded to micro-cores): VMs that
    turn urgent at different times, one lag-line slope each (rule 6)."""
    s = mod.CpuScheduler(128, 3 * MS)
    factors = 1.0 + spread * np.random.default_rng(2026).uniform(-1.0, 1.0, reserved)
    for k in range(3_000):
        s.add_vm(4, reservation=round(reservation * float(factors[k]), 6) if k < reserved else 0.0)
    s.add_work(np.repeat(np.arange(3_000), 4), np.tile(np.arange(4), 3_000), mod.FOREVER)
    return s


class ReservedHeavyHost:
    """cpu_bound_host (full) with 1,000 of its VMs reserving 0.1 core (100 of 128 cores):
    rule 6's worst case (half-slice reserved runs, urgent preemptions). "alike": all
    reserve 0.1 (they fall due together, ~100 urgent preemptions an instant); "unlike":
    each 0.1 +- 1 % (one slope per VM, about one preemption an instant). Native only."""

    params = [["native"], ["alike", "unlike"]]
    param_names = ["impl", "reservations"]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 900

    def setup(self, impl, reservations):
        self.scheduler = reserved_heavy_host(module(impl), 1_000, 0.1, 0.0 if reservations == "alike" else 0.01)
        self.duration = (300 if SMOKE else 60_000) * MS

    def time_run(self, impl, reservations):
        self.scheduler.run(self.duration)
