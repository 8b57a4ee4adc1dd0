"""The host: admission control and the three engines in one loop.

One :class:`Host` is one virtualization host. Every tick (five minutes by
default) it

1. turns each VM's CPU demand (cores) into work for its vCPUs and lets the CPU
   side deliver what it can under this tick's **caps** (see *fidelity*);
2. feeds the delivered CPU (cores per VM) to the sliding-window
   :class:`Reallocator`, whose entitlements become the VMs' CPU caps for the
   **next** tick: while the host's load is under the threshold, capacity a VM
   leaves idle is lent to VMs that want more;
3. passes the tick's memory accesses (reads, then writes) to the LRU-K page
   sharing :class:`MemoryManager`;
4. records per-VM metrics under the names operators know.

Fidelity (a day of 5-minute ticks cannot be sliced at 3 ms end to end):

* ``"fluid"``: the CPU side is the fair-share kernel itself: VM i receives
  ``fair_share(pcpus, demand, shares, reservation, limit=cap)``; the part of its
  demand above its cap is *limited*, the rest of what it did not receive is
  *ready* (waiting for a pCPU).
* ``"sliced"``: the EEVDF :class:`CpuScheduler` runs for ``sample_ns`` (1 s
  by default) of each tick with each vCPU given ``demand / vcpus * sample_ns``
  of work at the start of the sample; run, ready and limited time of the
  sample are scaled to the tick. Work left at the end of the sample is unmet
  demand and is dropped (demand is re-expressed every tick). By default the
  scheduler keeps reservations as floors of the fluid share (within its lag
  bound); ``strict_reservations=True`` turns on its per-window reservation
  rule, which costs about 3.5x on a host whose VMs nearly all hold one.

Reallocation policies: ``"lend"`` (caps = the reallocator's entitlements),
``"static"`` (caps = base entitlements: static partitioning, the baseline
lending is measured against) and ``"off"`` (caps = the VMs' own limits: a
purely work-conserving host without the reallocator).

Admission control (each refusal raises :class:`AdmissionError` naming the rule
and by how much, and is logged):

* **vCPU ratio**: total vCPUs / pCPUs must stay <= ``max_vcpu_ratio``;
* **memory reserve**: every VM reserves ``min_guarantee x memory_pages``
  frames (rounded up); the reservations must leave at least ``memory_reserve``
  of the frames unreserved;
* **CPU reservations**: reservations (default ``min_guarantee x vcpus`` cores)
  must sum to at most ``pcpus``.

The same class runs on either set of engines: ``vsched.Host`` on the native
ones, ``vsched.reference.Host`` on the pure-Python ones, with identical results.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ._validate import as_float, as_int
from .errors import AdmissionError
from .progress import progress as show_progress

__all__ = ["Host", "HostRun", "VM_METRICS"]

FIDELITIES = ("fluid", "sliced")
REALLOCATION_POLICIES = ("lend", "static", "off")

# Per-VM metrics recorded every tick (ticks x VMs arrays in HostRun.metrics).
VM_METRICS = {
    "cpu_demand": "cores the VM wanted",
    "cpu_used": "cores the VM received",
    "ready_pct": "% of the tick its vCPUs had work but waited for a pCPU (esxtop %RDY, averaged over vCPUs)",
    "limited_pct": "% of the tick its vCPUs were held back by the cap (esxtop %MLMTD, averaged over vCPUs)",
    "entitlement": "the CPU cap in force this tick (cores)",
    "unmet": "cores demanded but not received",
    "mem_resident": "guest pages mapped to a host frame",
    "mem_shared": "resident guest pages on a frame shared with other pages",
    "mem_swapped": "guest pages swapped out",
    "major_faults": "swap-ins this tick",
    "cow_breaks": "copy-on-write breaks this tick",
}

# Host totals recorded every tick (1-D arrays of length ticks in HostRun.totals).
HOST_TOTALS = {
    "load": "sum of demand / pCPUs",
    "used": "sum of delivered CPU / pCPUs",
    "lending": "the reallocator was lending during this tick (1) or not (0)",
    "frames_used": "host frames in use",
    "saving": "share of resident guest pages that cost no frame",
}


@dataclass
class _Vm:
    vcpus: int
    memory_pages: int
    shares: int
    reservation: float
    reservation_is_default: bool
    limit: float | None
    domain: int
    memory_reservation: int
    realloc_id: int
    memory_id: int
    sched_id: int | None = None


@dataclass
class _Layout:
    """Per-VM parameters as arrays in VM order, rebuilt only when VMs come, go or resize."""

    vcpus: np.ndarray
    shares: np.ndarray
    reservations: np.ndarray
    own_caps: np.ndarray  # min(limit, vcpus): the cap when the reallocator does not cap
    memory_ids: np.ndarray
    sched_ids: np.ndarray
    vm_of_vcpu: np.ndarray  # scheduler VM id of every vCPU
    vcpu_index: np.ndarray  # index of every vCPU within its VM

    @classmethod
    def of(cls, records: list[_Vm]) -> _Layout:
        vcpus = np.array([vm.vcpus for vm in records], dtype=np.int64)
        sched_ids = np.array([-1 if vm.sched_id is None else vm.sched_id for vm in records], dtype=np.int64)
        return cls(
            vcpus=vcpus,
            shares=np.array([vm.shares for vm in records], dtype=float),
            reservations=np.array([vm.reservation for vm in records], dtype=float),
            own_caps=np.array([vm.vcpus if vm.limit is None else min(vm.limit, vm.vcpus) for vm in records], dtype=float),
            memory_ids=np.array([vm.memory_id for vm in records], dtype=np.int64),
            sched_ids=sched_ids,
            vm_of_vcpu=np.repeat(sched_ids, vcpus),
            vcpu_index=np.concatenate([np.arange(v) for v in vcpus]) if len(records) else np.zeros(0, np.int64),
        )


@dataclass
class HostRun:
    """What :meth:`Host.run` returns: per-tick, per-VM metrics and host totals."""

    vms: list[int]
    metrics: dict[str, np.ndarray]  # name -> ticks x VMs
    totals: dict[str, np.ndarray]  # name -> ticks
    events: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        ticks, vms = self.metrics["cpu_used"].shape if "cpu_used" in self.metrics else (0, len(self.vms))
        return f"HostRun({ticks} ticks x {vms} VMs, {len(self.metrics)} per-VM metrics, {len(self.events)} events)"

    def to_frame(self) -> Any:
        """The per-VM metrics in long format: one row per (tick, VM), columns
        ``tick``, ``vm`` (the host's VM id) and one per metric of ``VM_METRICS``.

        A pandas DataFrame when pandas is installed, else a dict of 1-D numpy
        arrays (the same columns). Host totals stay in ``totals`` (one per tick).
        """
        ticks, vms = self.metrics["cpu_used"].shape
        columns: dict[str, np.ndarray] = {
            "tick": np.repeat(np.arange(ticks, dtype=np.int64), vms),
            "vm": np.tile(np.asarray(self.vms, dtype=np.int64), ticks),
        }
        for name, values in self.metrics.items():
            columns[name] = np.asarray(values).reshape(-1)  # row-major: tick-major, VMs inside
        try:
            import pandas
        except ImportError:
            return columns
        return pandas.DataFrame(columns)

    def summary(self) -> dict[str, float]:
        demand = self.metrics["cpu_demand"]
        used = self.metrics["cpu_used"]
        total_demand = float(demand.sum())
        return {
            "unmet_demand": float(np.maximum(demand - used, 0).sum() / total_demand) if total_demand else 0.0,
            "ready_pct_mean": float(self.metrics["ready_pct"].mean()) if used.size else 0.0,
            "ready_pct_p95": float(np.percentile(self.metrics["ready_pct"], 95)) if used.size else 0.0,
            "limited_pct_mean": float(self.metrics["limited_pct"].mean()) if used.size else 0.0,
            "mean_load": float(self.totals["load"].mean()) if used.size else 0.0,
            "lending_ticks": int(self.totals["lending"].sum()),
            "memory_saving_mean": float(self.totals["saving"].mean()) if used.size else 0.0,
            "major_faults": int(self.metrics["major_faults"].sum()),
            "cow_breaks": int(self.metrics["cow_breaks"].sum()),
            "frames_used_max": int(self.totals["frames_used"].max()) if used.size else 0,
        }


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    value = as_int(name, value)
    if value < minimum:
        raise ValueError(f"{name} = {value}: {name} must be >= {minimum}")
    return value


def _check_fraction(name: str, value: Any, upper_inclusive: bool = True) -> float:
    value = as_float(name, value)
    ok = 0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0
    if not ok:
        raise ValueError(f"{name} = {value!r}: {name} must be in [0, 1{']' if upper_inclusive else ')'}")
    return value


class Host:
    """One virtualization host: admission control plus the three engines in one loop.

    The loop, the fidelities, the reallocation policies, the admission rules
    and the metrics are specified in the manual's host page (``docs/host.md``).
    """

    _engines_module = "vsched"

    def __init__(
        self,
        pcpus: int,
        memory_frames: int,
        slice_ns: int = 3_000_000,
        max_vcpu_ratio: float = 8.0,
        memory_reserve: float = 0.15,
        min_guarantee: float = 0.15,
        realloc_window: int = 12,
        realloc_threshold: float = 0.75,
        realloc_estimator: str = "max",
        merge: str = "immediate",
        *,
        fidelity: str = "fluid",
        sample_ns: int = 1_000_000_000,
        tick_seconds: int = 300,
        reallocation: str = "lend",
        lruk_k: int = 2,
        strict_reservations: bool = False,
    ) -> None:
        self.pcpus = _check_positive_int("pcpus", pcpus)
        self.memory_frames = _check_positive_int("memory_frames", memory_frames)
        self.slice_ns = _check_positive_int("slice_ns", slice_ns)
        self.max_vcpu_ratio = as_float("max_vcpu_ratio", max_vcpu_ratio)
        if not (math.isfinite(self.max_vcpu_ratio) and self.max_vcpu_ratio > 0):
            raise ValueError(f"max_vcpu_ratio = {max_vcpu_ratio!r}: must be finite and > 0")
        self.memory_reserve = _check_fraction("memory_reserve", memory_reserve, upper_inclusive=False)
        self.min_guarantee = _check_fraction("min_guarantee", min_guarantee)
        if fidelity not in FIDELITIES:
            raise ValueError(f"fidelity = {fidelity!r}: expected one of {FIDELITIES}")
        if reallocation not in REALLOCATION_POLICIES:
            raise ValueError(f"reallocation = {reallocation!r}: expected one of {REALLOCATION_POLICIES}")
        self.fidelity = fidelity
        self.reallocation = reallocation
        self.sample_ns = _check_positive_int("sample_ns", sample_ns)
        self.tick_seconds = _check_positive_int("tick_seconds", tick_seconds)

        engines = importlib.import_module(self._engines_module)
        self._fair_share: Callable[..., np.ndarray] = engines.fair_share
        self.reallocator = engines.Reallocator(
            float(self.pcpus), window=realloc_window, threshold=realloc_threshold, estimator=realloc_estimator
        )
        self.memory = engines.MemoryManager(self.memory_frames, k=lruk_k, merge=merge)
        self.scheduler = (
            engines.CpuScheduler(self.pcpus, self.slice_ns, strict_reservations=strict_reservations)
            if fidelity == "sliced"
            else None
        )

        self._vms: dict[int, _Vm] = {}
        self._next_id = 0
        self.tick = 0
        self.events: list[dict[str, Any]] = []
        # Caps for the coming tick, in VM order; refreshed after every change.
        self._caps = np.zeros(0)
        self._layout = _Layout.of([])
        # Cumulative per-VM fault counters (indexed by memory-manager VM id) as
        # of the previous tick, so each tick reports its own faults.
        self._seen_ids = np.zeros(0, dtype=np.int64)
        self._seen_major = np.zeros(0, dtype=np.int64)
        self._seen_cow = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------ admission

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pcpus={self.pcpus}, memory_frames={self.memory_frames}, "
            f"fidelity={self.fidelity!r}, reallocation={self.reallocation!r}; {len(self._vms)} VMs, tick {self.tick})"
        )

    @property
    def vms(self) -> list[int]:
        """Live VM ids in the order used by every per-VM array."""
        return list(self._vms)

    def __len__(self) -> int:
        return len(self._vms)

    def _log(self, kind: str, **detail: Any) -> None:
        self.events.append({"tick": self.tick, "event": kind, **detail})

    def _admit(self, vcpus: int, memory_pages: int, reservation: float, exclude: int | None = None) -> None:
        """Raise AdmissionError if a VM of this size (replacing `exclude`) breaks a rule."""
        others = [vm for vid, vm in self._vms.items() if vid != exclude]
        total_vcpus = sum(vm.vcpus for vm in others) + vcpus
        if total_vcpus > self.max_vcpu_ratio * self.pcpus:
            over = total_vcpus - self.max_vcpu_ratio * self.pcpus
            raise AdmissionError(
                f"vCPU ratio: {total_vcpus} vCPUs on {self.pcpus} pCPUs is {total_vcpus / self.pcpus:.3g} per pCPU "
                f"> max_vcpu_ratio {self.max_vcpu_ratio:g} (over by {over:g} vCPUs)"
            )
        reserved_frames = sum(vm.memory_reservation for vm in others) + self._memory_reservation(memory_pages)
        allowed_frames = (1.0 - self.memory_reserve) * self.memory_frames
        if reserved_frames > allowed_frames:
            raise AdmissionError(
                f"memory reserve: {reserved_frames} reserved frames would leave less than "
                f"{self.memory_reserve:.0%} of {self.memory_frames} frames unreserved "
                f"(over by {reserved_frames - allowed_frames:g} frames)"
            )
        reserved_cpu = sum(vm.reservation for vm in others) + reservation
        if reserved_cpu > self.pcpus + 1e-9 * self.pcpus:
            raise AdmissionError(
                f"CPU reservations: {reserved_cpu:g} cores reserved > {self.pcpus} pCPUs "
                f"(over by {reserved_cpu - self.pcpus:g} cores)"
            )

    def _memory_reservation(self, memory_pages: int) -> int:
        return math.ceil(self.min_guarantee * memory_pages)

    def _vm_arguments(self, vcpus: Any, memory_pages: Any, shares: Any, reservation: Any, limit: Any):
        vcpus = _check_positive_int("vcpus", vcpus)
        memory_pages = _check_positive_int("memory_pages", memory_pages)
        shares = 1000 * vcpus if shares is None else _check_positive_int("shares", shares)
        reservation_is_default = reservation is None
        reservation = self.min_guarantee * vcpus if reservation is None else as_float("reservation", reservation)
        if not (math.isfinite(reservation) and 0.0 <= reservation):
            raise ValueError(f"reservation = {reservation!r}: must be finite and >= 0")
        if reservation > vcpus:
            raise AdmissionError(f"reservation {reservation:g} cores exceeds the VM's {vcpus} vCPUs by {reservation - vcpus:g}")
        if limit is not None:
            limit = as_float("limit", limit)
            if math.isnan(limit) or limit < 0:
                raise ValueError(f"limit = {limit!r}: must be >= 0 (None for no limit)")
            if limit < reservation:
                raise AdmissionError(f"limit {limit:g} is below the reservation {reservation:g} by {reservation - limit:g}")
        return vcpus, memory_pages, shares, reservation, reservation_is_default, limit

    def add_vm(
        self,
        vcpus: int,
        memory_pages: int,
        shares: int | None = None,
        reservation: float | None = None,
        limit: float | None = None,
        domain: int = 0,
    ) -> int:
        """Admit a VM; returns its id. Shares default to 1000 per vCPU (ESXi
        "normal"), the reservation to ``min_guarantee x vcpus`` cores.

        Raises AdmissionError (logged as a refusal) when a rule would break.
        """
        try:
            vcpus, memory_pages, shares, reservation, is_default, limit = self._vm_arguments(
                vcpus, memory_pages, shares, reservation, limit
            )
            domain = as_int("domain", domain)
            self._admit(vcpus, memory_pages, reservation)
        except AdmissionError as refusal:
            self._log("refused", vcpus=vcpus, memory_pages=memory_pages, reason=str(refusal))
            raise
        realloc_id = self.reallocator.add_vm(float(vcpus), shares=shares, reservation=reservation, limit=limit)
        memory_id = self.memory.add_vm(memory_pages, domain=domain)
        vm = _Vm(
            vcpus, memory_pages, shares, reservation, is_default, limit, domain,
            self._memory_reservation(memory_pages), realloc_id, memory_id,
        )
        if self.scheduler is not None:
            vm.sched_id = self.scheduler.add_vm(vcpus, shares=shares, reservation=reservation, limit=limit)
        vm_id = self._next_id
        self._next_id += 1
        self._vms[vm_id] = vm
        self._log("admitted", vm=vm_id, vcpus=vcpus, memory_pages=memory_pages, shares=shares,
                  reservation=reservation, limit=limit, domain=domain)
        self._refresh_caps()
        return vm_id

    def _get(self, vm: Any) -> _Vm:
        key = as_int("vm", vm)
        if key not in self._vms:
            raise KeyError(f"vm {key} is not on this host")
        return self._vms[key]

    def remove_vm(self, vm: int) -> None:
        """Remove a VM: its frames are released or un-shared, its CPU returns to the others."""
        record = self._get(vm)
        self.reallocator.remove_vm(record.realloc_id)
        self.memory.remove_vm(record.memory_id)
        if self.scheduler is not None and record.sched_id is not None:
            self.scheduler.remove_vm(record.sched_id)
        del self._vms[int(vm)]
        self._log("removed", vm=int(vm))
        self._refresh_caps()

    def resize(
        self,
        vm: int,
        *,
        vcpus: int | None = None,
        memory_pages: int | None = None,
        shares: int | None = None,
        limit: float | None = None,
    ) -> None:
        """Change a running VM's vCPUs, memory, shares or limit (admission applies).

        A default reservation follows the vCPU count. Changing the memory size
        re-creates the VM's memory (its pages start untouched again, like a
        guest re-ballooned from scratch); changing vCPUs re-creates its vCPUs
        in the scheduler (cumulative host metrics are unaffected).
        """
        record = self._get(vm)
        new_vcpus = record.vcpus if vcpus is None else vcpus
        new_pages = record.memory_pages if memory_pages is None else memory_pages
        new_shares = record.shares if shares is None else shares
        new_reservation = None if record.reservation_is_default else record.reservation
        new_limit = record.limit if limit is None else limit
        try:
            checked = self._vm_arguments(new_vcpus, new_pages, new_shares, new_reservation, new_limit)
            new_vcpus, new_pages, new_shares, new_reservation, _, new_limit = checked
            self._admit(new_vcpus, new_pages, new_reservation, exclude=int(vm))
        except AdmissionError as refusal:
            self._log("resize_refused", vm=int(vm), reason=str(refusal))
            raise
        self.reallocator.set_vm(
            record.realloc_id, size=float(new_vcpus), shares=new_shares, reservation=new_reservation, limit=new_limit
        )
        if new_pages != record.memory_pages:
            self.memory.remove_vm(record.memory_id)
            record.memory_id = self.memory.add_vm(new_pages, domain=record.domain)
        if self.scheduler is not None:
            if new_vcpus != record.vcpus:
                self.scheduler.remove_vm(record.sched_id)
                record.sched_id = self.scheduler.add_vm(
                    new_vcpus, shares=new_shares, reservation=new_reservation, limit=new_limit
                )
            else:
                self.scheduler.set_vm(record.sched_id, shares=new_shares, reservation=new_reservation)
        self._log("resized", vm=int(vm), vcpus=new_vcpus, memory_pages=new_pages, shares=new_shares, limit=new_limit)
        record.vcpus, record.memory_pages, record.shares = new_vcpus, new_pages, new_shares
        record.reservation, record.limit = new_reservation, new_limit
        record.memory_reservation = self._memory_reservation(new_pages)
        self._refresh_caps()

    # ------------------------------------------------------------ the loop

    def _refresh_caps(self, layout_changed: bool = True) -> None:
        """The CPU caps for the next tick, by policy (see module docstring)."""
        if layout_changed:
            self._layout = _Layout.of(list(self._vms.values()))
        if self.reallocation == "lend":
            caps = np.asarray(self.reallocator.entitlements(), dtype=float)
        elif self.reallocation == "static":
            caps = np.asarray(self.reallocator.base(), dtype=float)
        else:
            caps = self._layout.own_caps
        # A cap never undercuts a reservation (the reallocator guarantees it up to rounding).
        self._caps = np.maximum(caps, self._layout.reservations)

    def caps(self) -> np.ndarray:
        """CPU caps (cores) that the next tick will apply, in VM order."""
        return self._caps.copy()

    def _validated_demand(self, cpu_demand: Any) -> np.ndarray:
        n = len(self._vms)
        demand = np.asarray(cpu_demand)
        if demand.dtype.kind not in "iuf":
            raise TypeError(f"cpu_demand must be a numeric array, got dtype {demand.dtype}")
        if demand.shape != (n,):
            raise ValueError(f"cpu_demand has shape {demand.shape}, expected ({n},) (one entry per VM)")
        demand = demand.astype(float)
        if not np.all(np.isfinite(demand)) or np.any(demand < 0):
            bad = int(np.flatnonzero(~np.isfinite(demand) | (demand < 0))[0])
            raise ValueError(f"cpu_demand[{bad}] = {demand[bad]!r}: must be finite and >= 0")
        vcpus = self._layout.vcpus
        over = np.flatnonzero(demand > vcpus)
        if over.size:
            i = int(over[0])
            raise ValueError(f"cpu_demand[{i}] = {demand[i]!r} cores exceeds the VM's {int(vcpus[i])} vCPUs")
        return demand

    def _cpu_fluid(self, demand: np.ndarray, caps: np.ndarray, reservations: np.ndarray, shares: np.ndarray):
        used = self._fair_share(float(self.pcpus), demand, shares, reservations, caps)
        capped = np.minimum(demand, caps)
        ready = np.maximum(capped - used, 0.0)
        limited = np.maximum(demand - caps, 0.0)
        return used, ready, limited

    def _cpu_sliced(self, demand: np.ndarray, caps: np.ndarray):
        assert self.scheduler is not None
        scheduler, layout = self.scheduler, self._layout
        # The scheduler has no batch calls for limits and clearing: one call per VM per tick.
        for sched_id, cap in zip(layout.sched_ids.tolist(), caps.tolist()):
            scheduler.set_vm(sched_id, limit=cap)
        per_vcpu = np.repeat(demand / np.maximum(layout.vcpus, 1), layout.vcpus)
        work = np.round(per_vcpu * self.sample_ns).astype(np.int64)
        busy = work > 0
        before = scheduler.stats()
        if busy.any():
            scheduler.add_work(layout.vm_of_vcpu[busy], layout.vcpu_index[busy], work[busy])
        scheduler.run(self.sample_ns)
        after = scheduler.stats()
        for sched_id in layout.sched_ids.tolist():
            scheduler.clear_work(sched_id)
        # stats() rows are live VMs in id order; find ours in each snapshot.
        rows_before = np.searchsorted(before["vm"], layout.sched_ids)
        rows_after = np.searchsorted(after["vm"], layout.sched_ids)

        def delta(key: str) -> np.ndarray:
            return (after[key][rows_after] - before[key][rows_before]).astype(float) / float(self.sample_ns)

        return delta("run_ns"), delta("ready_ns"), delta("limited_ns")

    def _validated_memory(self, accesses: Any) -> list[tuple[np.ndarray, np.ndarray, Any, Any]]:
        """Check every access batch ({"vm": VM indices in VM order, "gpn", optional
        "content" and "write" mask}) before the tick changes anything; returns
        them with VM indices translated to memory-manager ids."""
        if accesses is None:
            return []
        memory_ids = self._layout.memory_ids
        pages = np.array([vm.memory_pages for vm in self._vms.values()], dtype=np.int64)
        batches = []
        for number, batch in enumerate(accesses):
            vm_index, gpn = np.asarray(batch["vm"]), np.asarray(batch["gpn"])
            for name, array in (("vm", vm_index), ("gpn", gpn)):
                if array.dtype.kind not in "iu" or array.ndim != 1:
                    raise TypeError(f"memory batch {number}: '{name}' must be a 1-D integer array, got {array.dtype}")
            if gpn.shape != vm_index.shape:
                raise ValueError(f"memory batch {number}: 'gpn' has length {gpn.size}, 'vm' {vm_index.size}")
            if vm_index.size == 0:
                continue
            if vm_index.min() < 0 or vm_index.max() >= len(memory_ids):
                bad = int(vm_index.max() if vm_index.max() >= len(memory_ids) else vm_index.min())
                raise IndexError(f"memory batch {number}: VM index {bad}, the host has {len(memory_ids)} VMs")
            outside = np.flatnonzero((gpn < 0) | (gpn >= pages[vm_index]))
            if outside.size:
                i = int(outside[0])
                raise IndexError(
                    f"memory batch {number}: gpn {int(gpn[i])} outside VM index {int(vm_index[i])}'s "
                    f"{int(pages[vm_index[i]])} pages"
                )
            for name in ("content", "write"):
                if batch.get(name) is not None and np.shape(batch[name]) != vm_index.shape:
                    raise ValueError(f"memory batch {number}: '{name}' has shape {np.shape(batch[name])}, expected {vm_index.shape}")
            batches.append((memory_ids[vm_index], gpn, batch.get("content"), batch.get("write")))
        return batches

    def step(self, cpu_demand: Any, memory_accesses: Iterable[dict[str, Any]] | None = None) -> dict[str, np.ndarray]:
        """Run one tick; returns this tick's per-VM metrics (see VM_METRICS) and
        host totals (see HOST_TOTALS) in one dict of arrays.

        ``cpu_demand``: cores wanted per VM (VM order, each <= its vCPUs).
        ``memory_accesses``: an iterable of batches, each a dict with ``vm``
        (VM index in VM order), ``gpn`` and optionally ``content`` (given =
        writes), applied in order after the CPU part.
        """
        demand = self._validated_demand(cpu_demand)
        batches = self._validated_memory(memory_accesses)
        layout = self._layout
        caps = self._caps.copy()
        if self.fidelity == "fluid":
            used, ready, limited = self._cpu_fluid(demand, caps, layout.reservations, layout.shares)
        else:
            used, ready, limited = self._cpu_sliced(demand, caps)
        lending = bool(self.reallocator.lending)
        self.reallocator.observe(used)
        for memory_ids, gpn, content, write in batches:
            self.memory.access(memory_ids, gpn, content, write)

        vcpus = layout.vcpus.astype(float)
        memory = self.memory.stats()
        # Memory stats have one row per live memory VM, in id order (the `vm` column).
        rows = np.searchsorted(memory["vm"], layout.memory_ids)
        major_now = np.asarray(memory["vm_major_faults"], dtype=np.int64)[rows]
        cow_now = np.asarray(memory["vm_cow_breaks"], dtype=np.int64)[rows]
        # counters seen at the previous step, matched by memory id (0 for new VMs)
        at = np.minimum(np.searchsorted(self._seen_ids, layout.memory_ids), max(self._seen_ids.size - 1, 0))
        known = self._seen_ids.size > 0
        match = self._seen_ids[at] == layout.memory_ids if known else np.zeros(rows.size, dtype=bool)
        major = major_now - np.where(match, self._seen_major[at] if known else 0, 0)
        cow = cow_now - np.where(match, self._seen_cow[at] if known else 0, 0)
        order = np.argsort(layout.memory_ids)
        self._seen_ids = layout.memory_ids[order]
        self._seen_major, self._seen_cow = major_now[order], cow_now[order]
        result = {
            "cpu_demand": demand,
            "cpu_used": used,
            "ready_pct": 100.0 * ready / np.maximum(vcpus, 1),
            "limited_pct": 100.0 * limited / np.maximum(vcpus, 1),
            "entitlement": caps,
            "unmet": np.maximum(demand - used, 0.0),
            "mem_resident": np.asarray(memory["vm_resident"], dtype=float)[rows],
            "mem_shared": np.asarray(memory["vm_shared"], dtype=float)[rows],
            "mem_swapped": np.asarray(memory["vm_swapped"], dtype=float)[rows],
            "major_faults": major.astype(float),
            "cow_breaks": cow.astype(float),
            "load": np.array(demand.sum() / self.pcpus),
            "used": np.array(used.sum() / self.pcpus),
            "lending": np.array(float(lending)),
            "frames_used": np.array(float(memory["frames_used"])),
            "saving": np.array(float(memory["saving"])),
        }
        self._refresh_caps(layout_changed=False)
        if self.reallocation == "lend" and bool(self.reallocator.lending) != lending:
            self._log("lending" if self.reallocator.lending else "lending_stopped", load=float(self.reallocator.load))
        self.tick += 1
        return result

    def run(
        self,
        cpu: np.ndarray,
        memory: Callable[[int], Iterable[dict[str, Any]] | None] | None = None,
        progress: Any = False,
    ) -> HostRun:
        """Replay a workload: ``cpu`` is ticks x VMs of cores demanded (VM
        order); ``memory(t)`` gives tick t's access batches.

        ``progress``: True shows a bar on stderr (:func:`vsched.progress.progress`);
        an object with ``update(n)`` (a tqdm bar, say) is advanced once per tick
        and left open for its owner to close."""
        cpu = np.asarray(cpu, dtype=float)
        if cpu.ndim != 2 or cpu.shape[1] != len(self._vms):
            raise ValueError(f"cpu has shape {cpu.shape}, expected (ticks, {len(self._vms)})")
        ticks = cpu.shape[0]
        vms = self.vms
        metrics = {name: np.zeros((ticks, len(vms))) for name in VM_METRICS}
        totals = {name: np.zeros(ticks) for name in HOST_TOTALS}
        owned = progress is True
        bar = show_progress(ticks, "host run") if owned else (progress or None)
        first_event = len(self.events)
        try:
            for t in range(ticks):
                tick = self.step(cpu[t], memory(t) if memory is not None else None)
                for name in VM_METRICS:
                    metrics[name][t] = tick[name]
                for name in HOST_TOTALS:
                    totals[name][t] = tick[name]
                if bar is not None:
                    bar.update(1)
        finally:
            if owned:
                bar.close()
        return HostRun(vms=vms, metrics=metrics, totals=totals, events=self.events[first_event:])
