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

With ``nic_bps`` the host also divides its NIC among the VMs with a
:class:`NetScheduler` (strict-priority bands, shares, reservations and limits
in bps; ``net_*`` arguments of ``add_vm``, ``net_demand`` per tick, rules
H9-H11); without it (the default) there is no network model at all.

The same class runs on either set of engines (``engines=vsched`` by default,
``engines=vsched.reference``, or ``vsched.reference.Host``), with identical
results. The host's rules -- one VM identity, atomic changes, cost,
checkpoints, moving a VM, threads, Ctrl-C -- are H1-H8 in docs/host.md.
"""

from __future__ import annotations

import copy
import functools
import importlib
import math
import signal

# The C module under `signal`: the same functions without the enum wrapping,
# which made installing and restoring the Ctrl-C hold about 20 µs of every
# tick (0.7 µs this way); a fleet steps each host once per tick.
import _signal  # type: ignore[import-not-found]  # no typeshed stub
import threading
import types
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

from ._host_layout import VmLayout, VmRecord, exact
from ._host_net import NET_METRICS, NET_TOTALS, HostNic
from ._state import Checkpointable
from ._validate import as_float, as_int, as_int64, as_real_array
from ._sched_vm_state import vm_state_args as sched_vm_state_args
from ._vm_state import READABLE_FORMATS, VM_STATE_FORMAT, VmState
from .engines import EngineSet
from .errors import AdmissionError, InUseError
from .pages import batch_args
from .progress import progress as show_progress

__all__ = ["Host", "HostRun", "VM_METRICS", "VmState"]

FIDELITIES = ("fluid", "sliced")
REALLOCATION_POLICIES = ("lend", "static", "off")

# Per-VM bounds every host applies, so that a VM admitted on one host fits the
# engines of any other (the scheduler's bounds are the tightest).
MAX_VCPUS = 1024
MAX_SHARES = 1_000_000
MAX_GUEST_PAGES = 2**32 - 2  # guest pages of live VMs in all (the memory manager's 32-bit page index)
_RESERVATION_SLACK = 1e-9  # relative: the fair-share kernel's rounding slack (docs/host.md, rule H3)

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
class HostRun:
    """What :meth:`Host.run` returns: per-tick, per-VM metrics and host totals.

    ``vms`` is the VM id of each column of every ``metrics`` array.
    """

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
    value = as_int64(name, value)  # beyond int64: ValueError, as every count (docs/design.md, "Errors")
    if value < minimum:
        raise ValueError(f"{name} = {value}: {name} must be >= {minimum}")
    return value


def _check_fraction(name: str, value: Any, upper_inclusive: bool = True) -> float:
    value = as_float(name, value)
    ok = 0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0
    if not ok:
        raise ValueError(f"{name} = {value!r}: {name} must be in [0, 1{']' if upper_inclusive else ')'}")
    return value


def _sequential_sum(values: Iterable[float]) -> float:
    """Left-to-right float sum, as the engines add reservations."""
    total = 0.0
    for value in values:
        total += value
    return total


def _rows(table_vm: Any, ids: np.ndarray) -> np.ndarray | None:
    """Rows of `ids` in an engine's stats table (one row per live VM, `vm` ascending).
    None when the table lists exactly `ids` in that order, as it does unless a VM was
    re-created under a new engine id: one O(VMs) comparison instead of a binary search
    per VM (O(VMs log VMs)), rule H4."""
    table_vm = np.asarray(table_vm)
    if table_vm.shape == ids.shape and np.array_equal(table_vm, ids):
        return None
    return np.searchsorted(table_vm, ids)


def _gather(column: Any, rows: np.ndarray | None, dtype: Any) -> np.ndarray:
    """column[rows] as a new array of `dtype` (the whole column, in order, when rows is None)."""
    return np.array(column, dtype=dtype) if rows is None else np.asarray(column, dtype=dtype)[rows]


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _exclusive(method: _Method) -> _Method:
    """One thread at a time in a Host: a second thread gets InUseError at once, nothing changed."""

    @functools.wraps(method)
    def guarded(self: Host, *args: Any, **kwargs: Any) -> Any:
        if not self._busy.acquire(blocking=False):
            raise InUseError(
                f"Host.{method.__name__}: this Host is in use by another thread; one Host must not be "
                "used by two threads at once (give each thread its own, e.g. a copy.deepcopy)"
            )
        try:
            return method(self, *args, **kwargs)
        finally:
            self._busy.release()

    return guarded  # type: ignore[return-value]


class _DeferredInterrupt:
    """Ctrl-C during a tick is held until the tick ends (main thread only), so
    the host is never left with half a tick applied. Nested uses share one."""

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            handler = _signal.getsignal(signal.SIGINT)
            if handler is signal.default_int_handler:
                self._previous = handler
                _signal.signal(signal.SIGINT, self._hold)
                self._installed = True
        return self

    def _hold(self, signum: int, frame: Any) -> None:
        self.pending = True

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            _signal.signal(signal.SIGINT, self._previous)
            self._installed = False


def _native_engines() -> EngineSet:
    import vsched  # the package; its native names need the extension

    return vsched  # type: ignore[return-value]


class Host(Checkpointable):
    """One virtualization host: admission control plus the three engines in one loop.

    The loop, the fidelities, the reallocation policies, the admission rules,
    the metrics and the host's rules (H1-H8: one VM identity, atomic changes,
    checkpoints, moving a VM, threads, Ctrl-C) are specified in the manual's
    host page (``docs/host.md``).

    ``engines``: the engine set (``vsched`` or ``vsched.reference``, or any
    object of the :class:`vsched.engines.EngineSet` contract); default the
    native engines (``vsched.reference.Host`` defaults to the reference ones).
    """

    _implementation = "host"

    @staticmethod
    def _default_engines() -> EngineSet:
        return _native_engines()

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
        memory_policy: str = "lruk",
        strict_reservations: bool = False,
        engines: EngineSet | None = None,
        nic_bps: float | None = None,
        net_bands: int = 3,
        net_guard: Any = None,
        net_sample_ns: int = 10_000_000,
        net_packet_bytes: int = 1500,
        net_queue_bytes: int = 65536,
    ) -> None:
        self.pcpus = _check_positive_int("pcpus", pcpus)
        self.memory_frames = _check_positive_int("memory_frames", memory_frames)
        self.slice_ns = _check_positive_int("slice_ns", slice_ns)
        self.max_vcpu_ratio = as_float("max_vcpu_ratio", max_vcpu_ratio)
        if not (math.isfinite(self.max_vcpu_ratio) and self.max_vcpu_ratio > 0):
            raise ValueError(f"max_vcpu_ratio = {max_vcpu_ratio!r}: must be finite and > 0")
        self.memory_reserve = _check_fraction("memory_reserve", memory_reserve, upper_inclusive=False)
        self.min_guarantee = _check_fraction("min_guarantee", min_guarantee)
        for name, value in (("fidelity", fidelity), ("reallocation", reallocation)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        if fidelity not in FIDELITIES:
            raise ValueError(f"fidelity = {fidelity!r}: expected one of {FIDELITIES}")
        if reallocation not in REALLOCATION_POLICIES:
            raise ValueError(f"reallocation = {reallocation!r}: expected one of {REALLOCATION_POLICIES}")
        if not isinstance(strict_reservations, bool):  # a truthy 0/1/"no" would silently pick a scheduler mode
            raise TypeError(f"strict_reservations must be a bool, got {type(strict_reservations).__name__}")
        self.fidelity = fidelity
        self.reallocation = reallocation
        self.sample_ns = _check_positive_int("sample_ns", sample_ns)
        self.tick_seconds = _check_positive_int("tick_seconds", tick_seconds)
        # pCPUs x (1 + slack), exactly (scaled as `exact`): the CPU reservation bound (rule H3)
        self._exact_bound = exact(self.pcpus) + self.pcpus * exact(_RESERVATION_SLACK)

        self._engines = self._default_engines() if engines is None else engines
        for name in ("fair_share", "CpuScheduler", "MemoryManager", "Reallocator"):
            if not hasattr(self._engines, name):
                raise TypeError(f"engines has no {name}: expected vsched, vsched.reference or a look-alike")
        self.reallocator = self._engines.Reallocator(
            float(self.pcpus), window=realloc_window, threshold=realloc_threshold, estimator=realloc_estimator
        )
        # the frame eviction policy (rule M4); passed only when not the default, so that look-alike
        # engine sets without policies keep working
        policy_arg = {} if memory_policy == "lruk" else {"policy": memory_policy}
        self.memory = self._engines.MemoryManager(self.memory_frames, k=lruk_k, merge=merge, **policy_arg)
        self.scheduler = (
            self._engines.CpuScheduler(self.pcpus, self.slice_ns, strict_reservations=strict_reservations)
            if fidelity == "sliced"
            else None
        )
        # The NIC (rules H9-H11): None keeps a host without one exactly as it was.
        self._nic = (
            HostNic(self._engines, nic_bps, net_bands, net_guard, net_sample_ns, net_packet_bytes, net_queue_bytes)
            if nic_bps is not None
            else None
        )
        self._layout = VmLayout()
        self._next_id = 0
        self.tick = 0
        self.events: list[dict[str, Any]] = []
        self._caps: np.ndarray | None = None  # caps for the coming tick; None = recompute when asked
        self._busy = threading.Lock()

    @property
    def net(self) -> Any:
        """The host's NetScheduler (None without ``nic_bps``); its VM order is the host's."""
        return self._nic.net if self._nic is not None else None

    @property
    def metric_names(self) -> list[str]:
        """The per-VM metrics of this host's ticks: VM_METRICS, then NET_METRICS with a NIC."""
        return list(VM_METRICS) + (list(NET_METRICS) if self._nic is not None else [])

    @property
    def total_names(self) -> list[str]:
        """The host totals of this host's ticks: HOST_TOTALS, then NET_TOTALS with a NIC."""
        return list(HOST_TOTALS) + (list(NET_TOTALS) if self._nic is not None else [])

    @property
    def engines(self) -> EngineSet:
        """The engine set this host runs on."""
        return self._engines

    # ------------------------------------------------------------ admission

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pcpus={self.pcpus}, memory_frames={self.memory_frames}, "
            f"fidelity={self.fidelity!r}, reallocation={self.reallocation!r}; {len(self._layout)} VMs, tick {self.tick})"
        )

    @property
    def vms(self) -> list[int]:
        """Live VM ids, ascending: the order of every per-VM array in and out (rule H1)."""
        return self._layout.column("ids").tolist()

    def __len__(self) -> int:
        return len(self._layout)

    def _log(self, kind: str, **detail: Any) -> None:
        self.events.append({"tick": self.tick, "event": kind, **detail})

    def _memory_reservation(self, memory_pages: int) -> int:
        return math.ceil(self.min_guarantee * memory_pages)

    def _record(
        self, vcpus: Any, memory_pages: Any, shares: Any, reservation: Any, limit: Any, domain: Any
    ) -> VmRecord:
        """A VM's parameters checked against every per-VM rule of every engine (rule H3); nothing changes."""
        vcpus = as_int("vcpus", vcpus)
        if not 1 <= vcpus <= MAX_VCPUS:
            raise ValueError(f"vcpus = {vcpus}: vcpus must be in [1, {MAX_VCPUS}]")
        memory_pages = _check_positive_int("memory_pages", memory_pages)
        shares = 1000 * vcpus if shares is None else as_int("shares", shares)
        if not 1 <= shares <= MAX_SHARES:
            raise ValueError(f"shares = {shares}: shares must be in [1, {MAX_SHARES}]")
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
        domain = as_int("domain", domain)
        if domain < 0:
            raise ValueError(f"domain = {domain}: domain must be >= 0")
        return VmRecord(
            vcpus, memory_pages, shares, reservation, reservation_is_default, limit, domain,
            self._memory_reservation(memory_pages), memory_id=-1, sched_id=-1,
        )

    def _admit(self, new: VmRecord, replacing: int | None = None) -> None:
        """Raise AdmissionError if VM `new` (in place of VM `replacing`) breaks a host rule (H3).

        O(1): the sums are kept by the layout (exactly, for the reservations).
        """
        layout = self._layout
        old = layout.records[replacing] if replacing is not None else None
        total_vcpus = layout.total_vcpus - (old.vcpus if old else 0) + new.vcpus
        if total_vcpus > self.max_vcpu_ratio * self.pcpus:
            over = total_vcpus - self.max_vcpu_ratio * self.pcpus
            raise AdmissionError(
                f"vCPU ratio: {total_vcpus} vCPUs on {self.pcpus} pCPUs is {total_vcpus / self.pcpus:.3g} per pCPU "
                f"> max_vcpu_ratio {self.max_vcpu_ratio:g} (over by {over:g} vCPUs)"
            )
        reserved_frames = layout.reserved_frames - (old.memory_reservation if old else 0) + new.memory_reservation
        allowed_frames = (1.0 - self.memory_reserve) * self.memory_frames
        if reserved_frames > allowed_frames:
            raise AdmissionError(
                f"memory reserve: {reserved_frames} reserved frames would leave less than "
                f"{self.memory_reserve:.0%} of {self.memory_frames} frames unreserved "
                f"(over by {reserved_frames - allowed_frames:g} frames)"
            )
        total_pages = layout.total_pages - (old.memory_pages if old else 0) + new.memory_pages
        if total_pages > MAX_GUEST_PAGES:
            raise AdmissionError(f"guest pages: {total_pages} pages on one host > {MAX_GUEST_PAGES}")
        reserved = layout.reserved_cpu - (exact(old.reservation) if old else 0) + exact(new.reservation)
        if reserved > self._exact_bound or not self._engines_admit(reserved, new.reservation, replacing):
            reserved_cpu = reserved / 2**1074
            raise AdmissionError(
                f"CPU reservations: {reserved_cpu!r} cores reserved > {self.pcpus} pCPUs "
                f"(over by {reserved_cpu - self.pcpus:.3g} cores)"
            )

    def _engines_admit(self, exact_sum: int, reservation: float, replacing: int | None) -> bool:
        """The engines add reservations in floats, left to right, each in its own VM order: the
        reallocator in VM order with the same slack, the scheduler (sliced) in its id order and
        without slack. Far from the bound the float sum cannot cross it; near it, add as they do."""
        n = len(self._layout) + 1
        strict = self.scheduler is not None
        bound = exact(self.pcpus) if strict else self._exact_bound
        # the float sum is within (n-1) units of rounding of the exact one
        if exact_sum * 2**52 <= bound * (2**52 - 2 * n):
            return True
        reservations = self._layout.column("reservations").copy()
        position = self._layout.position(replacing) if replacing is not None else None
        if position is not None:
            reservations[position] = reservation
            in_vm_order = reservations.tolist()
        else:
            in_vm_order = reservations.tolist() + [reservation]
        if _sequential_sum(in_vm_order) > self.pcpus * (1 + _RESERVATION_SLACK):
            return False
        if strict:
            sched_ids = self._layout.column("sched_ids")
            order = np.argsort(sched_ids, kind="stable")
            in_sched_order = reservations[order].tolist() + ([] if position is not None else [reservation])
            if _sequential_sum(in_sched_order) > self.pcpus:
                return False
        return True

    @_exclusive
    def add_vm(
        self,
        vcpus: int,
        memory_pages: int,
        shares: int | None = None,
        reservation: float | None = None,
        limit: float | None = None,
        domain: int = 0,
        *,
        net_band: int | None = None,
        net_shares: int | None = None,
        net_reservation: float | None = None,
        net_limit: float | None = None,
    ) -> int:
        """Admit a VM; returns its id (0, 1, 2, ... never reused: rule H1). Shares
        default to 1000 per vCPU (ESXi "normal"), the reservation to
        ``min_guarantee x vcpus`` cores. On a host with a NIC (``nic_bps``):
        ``net_band`` (default the lowest band: best effort; 0 is served first),
        ``net_shares`` (1000), ``net_reservation`` (bps, 0) and ``net_limit``
        (bps, None) are its NetScheduler parameters (rule H9).

        Raises AdmissionError (logged as a refusal) when a rule would break;
        on any error nothing changes (rule H2).
        """
        try:
            record = self._record(vcpus, memory_pages, shares, reservation, limit, domain)
            record.net = self._net_params(net_band, net_shares, net_reservation, net_limit)
            self._admit(record)
            self._attach_net(record)
        except AdmissionError as refusal:
            self._log("refused", vcpus=vcpus, memory_pages=memory_pages, reason=str(refusal))
            raise
        self._attach(record, lambda: self.reallocator.add_vm(
            float(record.vcpus), shares=record.shares, reservation=record.reservation, limit=record.limit
        ), lambda: self.memory.add_vm(record.memory_pages, domain=record.domain))
        vm_id = self._next_id
        self._next_id += 1
        self._layout.append(vm_id, record)
        self._caps = None
        self._log("admitted", vm=vm_id, vcpus=record.vcpus, memory_pages=record.memory_pages, shares=record.shares,
                  reservation=record.reservation, limit=record.limit, domain=record.domain)
        return vm_id

    def _net_params(self, band: Any, shares: Any, reservation: Any, limit: Any) -> Any:
        """The VM's network parameters (types; values are the NetScheduler's to check), None without a NIC."""
        if self._nic is None:
            if any(value is not None for value in (band, shares, reservation, limit)):
                raise ValueError("net_band / net_shares / net_reservation / net_limit need a host with nic_bps")
            return None
        return self._nic.params(band, shares, reservation, limit)

    def _resized_net(self, old: Any, band: Any, shares: Any, reservation: Any, limit: Any) -> Any:
        """`old` network parameters with the given ones in their place (None keeps a value)."""
        if all(value is None for value in (band, shares, reservation, limit)):
            return old
        if self._nic is None:
            raise ValueError("net_band / net_shares / net_reservation / net_limit need a host with nic_bps")
        new = self._nic.params(old.band if band is None else band, old.shares if shares is None else shares,
                               old.reservation if reservation is None else reservation,
                               old.limit if limit is None else limit)
        return new if new.limit is None or not math.isinf(new.limit) else replace(new, limit=None)

    def _attach_net(self, record: VmRecord) -> None:
        """The NIC first (rule H9): its admission is the last check and a refusal changes nothing."""
        if self._nic is not None:
            record.net_id = self._nic.add(record.net)

    def _attach(
        self,
        record: VmRecord,
        add_realloc: Callable[[], int],
        add_memory: Callable[[], int],
        add_sched: Callable[[], int] | None = None,
    ) -> None:
        """Add a checked VM to every engine; if one still refuses, undo the ones done before.
        `add_sched` (sliced host) defaults to a fresh ``add_vm`` of the record's vCPUs."""
        undo: list[Callable[[], None]] = []
        if self._nic is not None:
            undo.append(lambda: self._nic.remove(record.net_id))  # type: ignore[union-attr]
        try:
            record.memory_id = add_memory()
            undo.append(lambda: self.memory.remove_vm(record.memory_id))
            if self.scheduler is not None:
                record.sched_id = add_sched() if add_sched is not None else self.scheduler.add_vm(
                    record.vcpus, shares=record.shares, reservation=record.reservation, limit=record.limit
                )
                undo.append(lambda: self.scheduler.remove_vm(record.sched_id))  # type: ignore[union-attr]
            record.realloc_id = add_realloc()
        except BaseException:
            for step in reversed(undo):
                step()
            raise

    def _get(self, vm: Any) -> tuple[int, VmRecord]:
        key = as_int("vm", vm)
        record = self._layout.records.get(key)
        if record is None:
            raise KeyError(f"vm {key} is not on this host")
        return key, record

    @_exclusive
    def remove_vm(self, vm: int) -> None:
        """Remove a VM: its frames are released or un-shared, its CPU returns to the others."""
        key, record = self._get(vm)
        self._detach(key, record)
        self._log("removed", vm=key)

    def _detach(self, key: int, record: VmRecord) -> None:
        self.reallocator.remove_vm(record.realloc_id)
        self.memory.remove_vm(record.memory_id)
        if self.scheduler is not None:
            self.scheduler.remove_vm(record.sched_id)
        if self._nic is not None:
            self._nic.remove(record.net_id)
        self._layout.remove(key)
        self._caps = None

    @_exclusive
    def resize(
        self,
        vm: int,
        *,
        vcpus: int | None = None,
        memory_pages: int | None = None,
        shares: int | None = None,
        limit: float | None = None,
        net_band: int | None = None,
        net_shares: int | None = None,
        net_reservation: float | None = None,
        net_limit: float | None = None,
    ) -> None:
        """Change a running VM's vCPUs, memory, shares or limit, and on a host
        with a NIC its network band, shares, reservation or limit (``net_limit=inf``
        removes one); every argument left None keeps its value, and admission
        applies, the NIC's last (rule H9).

        A default reservation follows the vCPU count. Changing the memory size
        re-creates the VM's memory (its pages start untouched again, like a
        guest re-ballooned from scratch); changing vCPUs re-creates its vCPUs
        in the scheduler (cumulative host metrics are unaffected). On any
        error nothing changes (rule H2).
        """
        key, old = self._get(vm)
        try:
            new = self._record(
                old.vcpus if vcpus is None else vcpus,
                old.memory_pages if memory_pages is None else memory_pages,
                old.shares if shares is None else shares,
                None if old.reservation_is_default else old.reservation,
                old.limit if limit is None else limit,
                old.domain,
            )
            new.net = self._resized_net(old.net, net_band, net_shares, net_reservation, net_limit)
            self._admit(new, replacing=key)
            if new.net != old.net:
                self._nic.set(old.net_id, new.net)  # type: ignore[union-attr]  # atomic: refused, nothing changed
        except AdmissionError as refusal:
            self._log("resize_refused", vm=key, reason=str(refusal))
            raise
        position = self._layout.position(key)
        major = int(self._layout.column("major_seen")[position])
        cow = int(self._layout.column("cow_seen")[position])
        new.memory_id, new.sched_id, new.realloc_id = old.memory_id, old.sched_id, old.realloc_id
        new.net_id = old.net_id
        if self.scheduler is not None:
            if new.vcpus != old.vcpus:
                # The vCPUs are re-created; the old VM leaves first so its reservation is not counted twice.
                self.scheduler.remove_vm(old.sched_id)
                new.sched_id = self.scheduler.add_vm(
                    new.vcpus, shares=new.shares, reservation=new.reservation, limit=new.limit
                )
            else:
                self.scheduler.set_vm(old.sched_id, shares=new.shares, reservation=new.reservation)
        self.reallocator.set_vm(
            old.realloc_id, size=float(new.vcpus), shares=new.shares,
            reservation=new.reservation, limit=new.limit,
        )
        if new.memory_pages != old.memory_pages:
            self.memory.remove_vm(old.memory_id)
            new.memory_id = self.memory.add_vm(new.memory_pages, domain=new.domain)
            major = cow = 0
        self._layout.replace(key, new, major, cow)
        self._caps = None
        self._log("resized", vm=key, vcpus=new.vcpus, memory_pages=new.memory_pages, shares=new.shares, limit=new.limit)

    # ------------------------------------------------------------ moving a VM

    @_exclusive
    def export_vm(self, vm: int) -> VmState:
        """VM `vm` as a :class:`VmState`: its parameters, reallocator window, guest
        pages (state and content) and counters, and on a sliced host its vCPUs'
        scheduler counters. Nothing changes (rule H6)."""
        key, record = self._get(vm)
        scheduler = None if self.scheduler is None else self.scheduler.export_vm(record.sched_id)
        return VmState(
            format=VM_STATE_FORMAT,
            vcpus=record.vcpus,
            memory_pages=record.memory_pages,
            shares=record.shares,
            reservation=None if record.reservation_is_default else record.reservation,
            limit=record.limit,
            domain=record.domain,
            realloc=self.reallocator.export_vm(record.realloc_id),
            memory=self.memory.export_vm(record.memory_id),
            scheduler=scheduler,
            net=None if record.net is None else dict(band=record.net.band, shares=record.net.shares,
                                                     reservation=record.net.reservation, limit=record.net.limit),
        )

    @_exclusive
    def import_vm(self, state: VmState, domain: int | None = None) -> int:
        """Admit the VM `state` (from :meth:`export_vm` of any host) with its history; returns its new id.

        Goes through this host's admission; its pages come back by content in
        `domain` (default: the one it had), sharing with this host's pages of
        that domain; its reallocator window continues. A default reservation
        is re-derived from this host's ``min_guarantee``. On a sliced host
        the vCPUs' scheduler counters continue when the state has them (from a
        sliced host), else they start at zero. On any error nothing changes
        (rule H6).
        """
        if not isinstance(state, VmState):
            raise TypeError(f"state must be a VmState (from Host.export_vm), got {type(state).__name__}")
        if state.format not in READABLE_FORMATS:
            raise ValueError(f"VM state format {state.format!r}; this vsched reads formats {READABLE_FORMATS}")
        try:
            record = self._record(
                state.vcpus, state.memory_pages, state.shares, state.reservation, state.limit,
                state.domain if domain is None else domain,
            )
            # The network part: kept on a host with a NIC (defaults if it had none), dropped on one without.
            net = getattr(state, "net", None)
            if self._nic is not None:
                if net is not None and not isinstance(net, dict):
                    raise TypeError(f"VM state: net must be a dict or None, got {type(net).__name__}")
                net = net or {}
                record.net = self._nic.params(net.get("band"), net.get("shares"), net.get("reservation"),
                                              net.get("limit"))
            self._admit(record)
        except AdmissionError as refusal:
            self._log("import_refused", vcpus=state.vcpus, memory_pages=state.memory_pages, reason=str(refusal))
            raise
        realloc_state = dict(state.realloc)
        realloc_state.update(size=float(record.vcpus), shares=record.shares, reservation=record.reservation,
                             limit=record.limit)
        # Validate the window against a scratch reallocator of this host's kind before anything changes.
        realloc = self.reallocator
        self._engines.Reallocator(
            realloc.capacity, window=realloc.window, threshold=realloc.threshold, estimator=realloc.estimator,
            percentile=realloc.percentile, headroom=realloc.headroom,
        ).import_vm(realloc_state)
        memory_pages = state.memory.get("pages") if isinstance(state.memory, dict) else None
        if memory_pages != record.memory_pages:
            raise ValueError(f"VM state: memory holds {memory_pages!r} pages, memory_pages = {record.memory_pages}")
        sched_state = self._scheduler_import_state(state, record)
        add_sched = None if sched_state is None else lambda: self.scheduler.import_vm(sched_state)  # type: ignore[union-attr]
        try:
            self._attach_net(record)  # the last check (rule H9)
        except AdmissionError as refusal:
            self._log("import_refused", vcpus=state.vcpus, memory_pages=state.memory_pages, reason=str(refusal))
            raise
        self._attach(record, lambda: self.reallocator.import_vm(realloc_state),
                     lambda: self.memory.import_vm(state.memory, domain=record.domain), add_sched)
        counters = state.memory["counters"]
        vm_id = self._next_id
        self._next_id += 1
        self._layout.append(vm_id, record, major=int(counters["major_faults"]), cow=int(counters["cow_breaks"]))
        self._caps = None
        self._log("imported", vm=vm_id, vcpus=record.vcpus, memory_pages=record.memory_pages, domain=record.domain)
        return vm_id

    def _scheduler_import_state(self, state: VmState, record: VmRecord) -> dict[str, Any] | None:
        """The scheduler part of `state` as this host's scheduler imports it, checked; None = fresh vCPUs.

        The parameters are this host's record (a default reservation re-derived,
        the VM's own limit: the caps are set again every tick); queued work is
        not carried, as the host drops unmet work at the end of every tick.
        """
        carried = getattr(state, "scheduler", None)  # format 1 has none
        if self.scheduler is None or carried is None:
            return None
        sched_state = dict(carried) if isinstance(carried, dict) else carried
        if isinstance(sched_state, dict):
            sched_state.update(shares=record.shares, reservation=record.reservation, limit=record.limit)
            if "pending_ns" in sched_state and isinstance(sched_state["pending_ns"], list):
                sched_state["pending_ns"] = [0] * len(sched_state["pending_ns"])
        try:
            vcpus = sched_vm_state_args(sched_state)[0]  # shapes and counters, before anything changes
        except (TypeError, ValueError) as error:
            raise type(error)(f"VM state: scheduler: {error}") from None
        if vcpus != record.vcpus:
            raise ValueError(f"VM state: scheduler holds {vcpus} vCPUs, vcpus = {record.vcpus}")
        return sched_state

    # ------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> dict[str, Any]:
        scheduler = self.scheduler
        if scheduler is not None and hasattr(scheduler, "_core") and not isinstance(scheduler, Checkpointable):
            raise TypeError(
                "a sliced Host on these engines cannot be checkpointed: its CpuScheduler has no "
                "checkpoint support (a fluid Host, or the reference engines, can be)"
            )
        if not self._busy.acquire(blocking=False):
            raise InUseError("Host: this Host is in use by another thread; it cannot be checkpointed now")
        try:
            state = {name: value for name, value in self.__dict__.items() if name != "_busy"}
        finally:
            self._busy.release()
        if isinstance(self._engines, types.ModuleType):
            state["_engines"] = self._engines.__name__
        return state

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or "_layout" not in payload:
            raise ValueError("not a Host checkpoint")
        state = dict(payload)
        state.setdefault("_nic", None)  # a checkpoint from before the NIC
        if isinstance(state["_engines"], str):
            state["_engines"] = importlib.import_module(state["_engines"])
        self.__dict__.update(state)
        self._busy = threading.Lock()

    # ------------------------------------------------------------ the loop

    def _current_caps(self) -> np.ndarray:
        """The CPU caps for the next tick, by policy (see module docstring); cached until a change."""
        if self._caps is None:
            if self.reallocation == "lend":
                caps = np.asarray(self.reallocator.entitlements(), dtype=float)
            elif self.reallocation == "static":
                caps = np.asarray(self.reallocator.base(), dtype=float)
            else:
                caps = self._layout.column("own_caps").copy()
            # A cap never undercuts a reservation (the reallocator guarantees it up to rounding).
            self._caps = np.maximum(caps, self._layout.column("reservations"))
        return self._caps

    @_exclusive
    def caps(self) -> np.ndarray:
        """CPU caps (cores) that the next tick will apply, in VM order."""
        return self._current_caps().copy()

    def _validated_demand(self, cpu_demand: Any) -> np.ndarray:
        n = len(self._layout)
        demand = as_real_array("cpu_demand", cpu_demand)  # TypeError unless numeric; ints no float holds: ValueError
        if demand.shape != (n,):
            raise ValueError(f"cpu_demand has shape {demand.shape}, expected ({n},) (one entry per VM, in VM order)")
        demand = demand.astype(float)  # a copy: the caller's array is never read again
        if not np.all(np.isfinite(demand)) or np.any(demand < 0):
            bad = int(np.flatnonzero(~np.isfinite(demand) | (demand < 0))[0])
            raise ValueError(f"cpu_demand[{bad}] = {demand[bad]!r}: must be finite and >= 0")
        vcpus = self._layout.column("vcpus")
        over = np.flatnonzero(demand > vcpus)
        if over.size:
            i = int(over[0])
            raise ValueError(f"cpu_demand[{i}] = {demand[i]!r} cores exceeds the VM's {int(vcpus[i])} vCPUs")
        return demand

    def _cpu_fluid(self, demand: np.ndarray, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        layout = self._layout
        used = self._engines.fair_share(
            float(self.pcpus), demand, layout.column("shares"), layout.column("reservations"), caps
        )
        capped = np.minimum(demand, caps)
        ready = np.maximum(capped - used, 0.0)
        limited = np.maximum(demand - caps, 0.0)
        return used, ready, limited

    def _cpu_sliced(self, demand: np.ndarray, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self.scheduler is not None
        scheduler, layout = self.scheduler, self._layout
        sched_ids, vcpus = layout.column("sched_ids").copy(), layout.column("vcpus")
        scheduler.set_limits(sched_ids, caps)  # one call for every VM's cap
        vm_of_vcpu, vcpu_index = layout.vcpu_map()
        per_vcpu = np.repeat(demand / np.maximum(vcpus, 1), vcpus)
        work = np.round(per_vcpu * self.sample_ns).astype(np.int64)
        busy = work > 0
        before = scheduler.stats()
        if busy.any():
            scheduler.add_work(vm_of_vcpu[busy], vcpu_index[busy], work[busy])
        scheduler.run(self.sample_ns)
        after = scheduler.stats()
        scheduler.clear_all_work()  # unmet work is dropped: demand is re-expressed every tick
        # stats() rows are live VMs in scheduler-id order; find ours in each snapshot.
        rows_before, rows_after = _rows(before["vm"], sched_ids), _rows(after["vm"], sched_ids)

        def delta(key: str) -> np.ndarray:
            now = after[key] if rows_after is None else after[key][rows_after]
            then = before[key] if rows_before is None else before[key][rows_before]
            return (now - then).astype(float) / float(self.sample_ns)

        return delta("run_ns"), delta("ready_ns"), delta("limited_ns")

    def _validated_memory(self, accesses: Any) -> list[tuple[np.ndarray, np.ndarray, Any, Any]]:
        """Check every access batch ({"vm": VM ids, "gpn", optional "content" and
        "write" mask}) before the tick changes anything (rule H2); returns them
        converted, with VM ids translated to the memory manager's."""
        if accesses is None:
            return []
        layout = self._layout
        memory_ids, pages = layout.column("memory_ids"), layout.column("pages")
        # Two O(VMs) facts that spare a gather per access: every VM has the same
        # number of pages, and the memory manager's ids are the host's (both count
        # VMs in admission order until a memory resize re-creates one under a new id).
        same_pages = int(pages[0]) if pages.size and int(pages.min()) == int(pages.max()) else None
        same_ids = bool(np.array_equal(memory_ids, layout.column("ids")))
        batches = []
        for number, batch in enumerate(accesses):
            if not isinstance(batch, dict) or "vm" not in batch or "gpn" not in batch:
                raise TypeError(f"memory batch {number}: expected a dict with 'vm' and 'gpn'")
            try:
                vm, gpn, content, write = batch_args(batch["vm"], batch["gpn"], batch.get("content"), batch.get("write"))
            except (TypeError, ValueError, IndexError) as error:
                raise type(error)(f"memory batch {number}: {error}") from None
            if gpn.size == 0:
                continue
            if vm.shape[0] != gpn.shape[0]:
                vm = np.full(gpn.shape[0], vm[0], dtype=np.int64)
            at, missing = layout.positions(vm)
            if missing >= 0:
                raise KeyError(f"memory batch {number}: vm {int(vm[missing])} is not on this host")
            limit = same_pages if same_pages is not None else pages.take(at)
            if int(gpn.min()) < 0 or bool((gpn >= limit).any()):
                i = int(np.flatnonzero((gpn < 0) | (gpn >= pages.take(at)))[0])
                raise IndexError(
                    f"memory batch {number}: gpn {int(gpn[i])} outside VM {int(vm[i])}'s {int(pages[at[i]])} pages"
                )
            batches.append((vm if same_ids else memory_ids.take(at), gpn, content, write))
        return batches

    @_exclusive
    def step(
        self, cpu_demand: Any, memory_accesses: Iterable[dict[str, Any]] | None = None, net_demand: Any = None
    ) -> dict[str, np.ndarray]:
        """Run one tick; returns this tick's per-VM metrics (see VM_METRICS), the
        ``vm`` column (the id of each entry) and host totals (see HOST_TOTALS).
        ``net_demand`` (a host with a NIC only): bps offered per VM (VM order;
        None = nothing); adds NET_METRICS and NET_TOTALS (rules H9-H10).

        ``cpu_demand``: cores wanted per VM (VM order, each <= its vCPUs).
        ``memory_accesses``: an iterable of batches, each a dict with ``vm``
        (VM ids, as ``add_vm`` returned them), ``gpn`` and optionally
        ``content`` (given = writes) and ``write``, applied in order after the
        CPU part. Everything is validated before anything changes (rule H2).
        Ctrl-C during the tick is held until the tick is complete (rule H8).
        """
        with _DeferredInterrupt() as interrupt:
            result = self._step(cpu_demand, memory_accesses, net_demand)
        if interrupt.pending:
            raise KeyboardInterrupt
        return result

    def _step(self, cpu_demand: Any, memory_accesses: Any, net_demand: Any = None) -> dict[str, np.ndarray]:
        demand = self._validated_demand(cpu_demand)
        batches = self._validated_memory(memory_accesses)
        if self._nic is None:
            if net_demand is not None:
                raise ValueError("net_demand needs a host with a NIC (nic_bps)")
        else:
            net_demand = self._nic.validated_demand(net_demand, len(self._layout))
        layout = self._layout
        caps = self._current_caps().copy()
        if self.fidelity == "fluid":
            used, ready, limited = self._cpu_fluid(demand, caps)
        else:
            used, ready, limited = self._cpu_sliced(demand, caps)
        lending = bool(self.reallocator.lending)
        self.reallocator.observe(used)
        for memory_ids, gpn, content, write in batches:
            self.memory.access(memory_ids, gpn, content, write)

        vcpus = layout.column("vcpus").astype(float)
        memory = self.memory.stats()
        # Memory stats have one row per live memory VM, in memory-id order (the `vm` column).
        rows = _rows(memory["vm"], layout.column("memory_ids"))
        major_now = _gather(memory["vm_major_faults"], rows, np.int64)
        cow_now = _gather(memory["vm_cow_breaks"], rows, np.int64)
        major_seen, cow_seen = layout.column("major_seen"), layout.column("cow_seen")
        major, cow = major_now - major_seen, cow_now - cow_seen
        major_seen[:], cow_seen[:] = major_now, cow_now
        result = {
            "vm": layout.column("ids").copy(),
            "cpu_demand": demand,
            "cpu_used": used,
            "ready_pct": 100.0 * ready / np.maximum(vcpus, 1),
            "limited_pct": 100.0 * limited / np.maximum(vcpus, 1),
            "entitlement": caps,
            "unmet": np.maximum(demand - used, 0.0),
            "mem_resident": _gather(memory["vm_resident"], rows, float),
            "mem_shared": _gather(memory["vm_shared"], rows, float),
            "mem_swapped": _gather(memory["vm_swapped"], rows, float),
            "major_faults": major.astype(float),
            "cow_breaks": cow.astype(float),
            "load": np.array(demand.sum() / self.pcpus),
            "used": np.array(used.sum() / self.pcpus),
            "lending": np.array(float(lending)),
            "frames_used": np.array(float(memory["frames_used"])),
            "saving": np.array(float(memory["saving"])),
        }
        if self._nic is not None:
            result.update(self._nic.tick(result["vm"], net_demand, self.tick_seconds))
        self._caps = None
        if self.reallocation == "lend" and bool(self.reallocator.lending) != lending:
            self._log("lending" if self.reallocator.lending else "lending_stopped", load=float(self.reallocator.load))
        self.tick += 1
        return result

    @_exclusive
    def run(
        self,
        cpu: np.ndarray,
        memory: Callable[[int], Iterable[dict[str, Any]] | None] | None = None,
        progress: Any = False,
        net: Any = None,
    ) -> HostRun:
        """Replay a workload: ``cpu`` is ticks x VMs of cores demanded (VM
        order); ``memory(t)`` gives tick t's access batches; ``net`` (a host
        with a NIC only) is ticks x VMs of bps offered.

        ``progress``: True shows a bar on stderr (:func:`vsched.progress.progress`);
        an object with ``update(n)`` (a tqdm bar, say) is advanced once per tick
        and left open for its owner to close.

        Ctrl-C stops the run after the tick in progress (rule H8): the host
        has run whole ticks only, and the ``KeyboardInterrupt`` carries the
        ticks done as ``.run`` (a :class:`HostRun`).
        """
        cpu = np.array(as_real_array("cpu", cpu), dtype=float)  # a copy: read tick by tick
        if cpu.ndim != 2 or cpu.shape[1] != len(self._layout):
            raise ValueError(f"cpu has shape {cpu.shape}, expected (ticks, {len(self._layout)})")
        for t, row in enumerate(cpu):  # every tick's demand checked before the first tick runs (rule H2)
            try:
                self._validated_demand(row)
            except ValueError as error:
                raise ValueError(f"cpu[{t}]: {error}") from None
        ticks = cpu.shape[0]
        if net is not None:
            if self._nic is None:
                raise ValueError("net needs a host with a NIC (nic_bps)")
            net = np.asarray(net)
            if net.dtype.kind not in "iuf":
                raise TypeError(f"net must be a numeric array, got dtype {net.dtype}")
            if net.shape != cpu.shape:
                raise ValueError(f"net has shape {net.shape}, expected {cpu.shape} (the shape of cpu)")
            net = net.astype(float)  # a copy: read tick by tick
        vms = self.vms
        metric_names, total_names = self.metric_names, self.total_names
        metrics = {name: np.zeros((ticks, len(vms))) for name in metric_names}
        totals = {name: np.zeros(ticks) for name in total_names}
        owned = progress is True
        bar = show_progress(ticks, "host run") if owned else (progress or None)
        first_event = len(self.events)
        done = 0
        try:
            with _DeferredInterrupt() as interrupt:
                for t in range(ticks):
                    tick = self._step(cpu[t], memory(t) if memory is not None else None,
                                      net[t] if net is not None else None)
                    for name in metric_names:
                        metrics[name][t] = tick[name]
                    for name in total_names:
                        totals[name][t] = tick[name]
                    done = t + 1
                    if bar is not None:
                        bar.update(1)
                    if interrupt.pending:
                        break
        finally:
            if owned and bar is not None:
                bar.close()
        result = HostRun(vms=vms, metrics=metrics, totals=totals, events=self.events[first_event:])
        if done < ticks:
            stopped = KeyboardInterrupt(f"Host.run stopped after {done} of {ticks} ticks")
            stopped.run = HostRun(  # type: ignore[attr-defined]
                vms=vms,
                metrics={name: array[:done] for name, array in metrics.items()},
                totals={name: array[:done] for name, array in totals.items()},
                events=result.events,
            )
            raise stopped
        return result

