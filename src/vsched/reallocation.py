"""Sliding-window reallocation: lend idle entitlement while the host is under its load threshold."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._state import Checkpointable
from ._realloc_args import (
    VM_STATE_FORMAT,
    VmState,
    check_types,
    check_vm_types,
    usage_matrix,
    usage_vector,
    vm_key,
    vm_state_args,
)
from .reallocation_metrics import ReallocMetrics, realloc_metrics

__all__ = ["ESTIMATORS", "ReallocMetrics", "Reallocator", "VmState", "realloc_metrics"]

#: The usage estimators, in registry order (csrc/include/vsched/usage_window.hpp).
ESTIMATORS: tuple[str, ...] = tuple(_core.ESTIMATORS)

class Reallocator(Checkpointable):
    """Lends the entitlement idle VMs leave unused while the host is lightly loaded.

    Resource-agnostic: capacity, sizes and usage share one unit (cores, pages).
    VM i has size s_i, shares w_i (integer >= 1), reservation r_i (a floor) and
    limit l_i (``None`` = no limit); its ceiling is c_i = min(s_i, l_i).

    Admission (``add_vm``/``set_vm`` raise :class:`vsched.AdmissionError` and
    change nothing): r_i <= s_i, r_i <= l_i, and sum(r) <= capacity·(1 + 1e-9),
    summed in ``vms`` order (the fair-share kernel's rounding slack, so that
    reservations that exactly fill the host in decimal, like 3 x 0.1 on 0.3,
    are admitted). So every floor min(r_i, s_i) is r_i and is always honoured.

    Window: the last ``window`` (W) usage samples of each VM; a new VM starts
    empty, ``set_vm`` keeps the window, ``remove_vm`` drops it. Over the k <= W
    samples present: ``max``; ``mean`` = running sum / k (sum' = (sum - oldest)
    + newest, recomputed exactly, oldest first, for every VM whenever the
    number of ticks observed since construction is a multiple of W); ``percentile``
    = numpy.percentile's default linear interpolation at ``percentile``
    (h = (k-1)·p/100, between the samples of rank floor(h) and floor(h)+1);
    ``ewma`` over every sample since the VM was added, alpha = 2/(W+1),
    ewma_1 = x_1, ewma_t = ewma_{t-1} + alpha·(x_t - ewma_{t-1}).

    Per tick (all results are a pure function of the parameters, windows and
    saturation flags, recomputed whenever one changes):

    - base b = fair_share(capacity, demand=s, w, r, l): the share under full
      contention.
    - estimate e_i = b_i if the window is empty, else
      clamp(stat_i·(1 + headroom), 0, c_i), raised to max(e_i, b_i) if VM i is
      saturated: its last sample u_i >= x_i·(1 - 1e-9) where x_i is the
      entitlement in force when the sample was observed.
    - load = (sum of the VMs' window means, empty windows counting 0) / capacity.
    - lending = load < threshold and some VM has a sample. Not lending: x = b
      (so before the first observation x = b).
    - Lending, pass 1: p = fair_share(capacity, demand=max(e, r), w, r, l).
      If that is contended (u_i = min(max(e_i, r_i), l_i) sum, in ``vms``
      order, to more than the capacity) p hands out everything and x = p.
      Otherwise p = u and pass 2 shares the rest R = capacity - sum(u), if > 0,
      by shares up to each ceiling: q = fair_share(R, demand=c - p, w),
      x_i = min(c_i, p_i + q_i).

    Guarantees: r_i <= x_i <= c_i; sum(x) <= capacity·(1 + 1e-9); a
    saturated VM gets x_i >= b_i at the next tick (a woken donor has its base
    back at once); unchanged state gives unchanged results.

    ``observe(usage)`` validates the whole array (length = len(vms), finite,
    >= 0) before touching any window; ``observe_many`` copies and validates the
    whole ticks x VMs batch first, then replays it without the GIL; Ctrl-C
    stops it between two ticks, having observed the ticks before.

    One object, one thread at a time: a call while another thread is inside
    one raises :class:`vsched.InUseError` and changes nothing. ``pickle``,
    ``copy.deepcopy`` and ``copy.copy`` give independent objects that continue
    bit for bit; ``export_vm`` / ``import_vm`` move one VM with its window.
    See docs/engines/reallocator.md.
    """

    _implementation = "native"

    def __init__(
        self,
        capacity: float,
        window: int = 12,
        threshold: float = 0.75,
        estimator: str = "max",
        percentile: float = 95.0,
        headroom: float = 0.10,
    ) -> None:
        self._core = _core.Reallocator(
            *check_types(capacity, window, threshold, estimator, percentile, headroom)
        )

    def add_vm(
        self, size: float, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> int:
        """Admit a VM; returns its id (0, 1, 2, ..., never reused).

        AdmissionError (nothing changed) if a guarantee would break.
        """
        return int(self._core.add_vm(*check_vm_types(size, shares, reservation, limit)))

    def set_vm(
        self, vm: int, size: float, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> None:
        """Replace every parameter of VM `vm` (unnamed ones take the add_vm defaults); window kept."""
        vm_id = vm_key(vm)
        self._core.set_vm(vm_id, *check_vm_types(size, shares, reservation, limit))

    def remove_vm(self, vm: int) -> None:
        """Remove VM `vm` and its window; KeyError if it is not on this host."""
        self._core.remove_vm(vm_key(vm))

    @property
    def vms(self) -> list[int]:
        """VM ids in the order used by every array in and out."""
        return list(self._core.vms())

    def observe(self, usage: Any) -> None:
        """Record one tick: usage[i] of VM vms[i]; then the entitlements are recomputed."""
        self._core.observe(usage_vector(usage, len(self._core)))

    def observe_many(self, usage: Any, cap_at_entitlement: bool = False) -> np.ndarray:
        """Replay ticks x VMs samples; returns the entitlements after each tick (same shape).

        With ``cap_at_entitlement`` the rows are demands and VM i is observed
        using min(demand_i, entitlement in force) -- a closed loop, as a host
        that enforces the entitlements would see it.
        """
        if not isinstance(cap_at_entitlement, (bool, np.bool_)):
            raise TypeError(f"cap_at_entitlement must be a bool, got {type(cap_at_entitlement).__name__}")
        return self._core.observe_many(usage_matrix(usage, len(self._core)), bool(cap_at_entitlement))

    def entitlements(self) -> np.ndarray:
        """x: what each VM may use now (a new array, in ``vms`` order)."""
        return self._core.entitlements()

    def base(self) -> np.ndarray:
        """b = fair_share(capacity, demand=size, shares, reservation, limit)."""
        return self._core.base()

    def estimates(self) -> np.ndarray:
        """e: the clamped, saturation-raised estimates (b for an empty window)."""
        return self._core.estimates()

    def export_vm(self, vm: int) -> VmState:
        """VM `vm` as plain data (a dict): parameters, window samples oldest first, window sum,
        samples seen, saturation flag and the estimator state the window cannot rebuild.

        Nothing changes; KeyError if `vm` is not on this host.
        """
        return dict(self._core.export_vm(vm_key(vm)))

    def import_vm(self, state: VmState) -> int:
        """Admit the VM `state` (from ``export_vm`` of either implementation) as a new VM.

        Same checks as ``add_vm`` (AdmissionError), plus the state's own
        (ValueError): nothing changes if it cannot be imported. Returns its id.
        """
        return int(self._core.import_vm(*vm_state_args(state)))

    def _checkpoint(self) -> Any:
        return {"state": self._core._save()}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("state"), bytes):
            raise ValueError("not a checkpoint of a native Reallocator (no state bytes)")
        self._core = _core.Reallocator._load(payload["state"])

    @property
    def load(self) -> float:
        """Sum of the VMs' window means over the capacity."""
        return float(self._core.load())

    @property
    def lending(self) -> bool:
        """load < threshold and some VM has a sample."""
        return bool(self._core.lending())

    @property
    def capacity(self) -> float:
        return float(self._core.capacity)

    @property
    def window(self) -> int:
        return int(self._core.window)

    @property
    def threshold(self) -> float:
        return float(self._core.threshold)

    @property
    def estimator(self) -> str:
        return str(self._core.estimator)

    @property
    def percentile(self) -> float:
        return float(self._core.percentile)

    @property
    def headroom(self) -> float:
        return float(self._core.headroom)

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return (
            f"Reallocator(capacity={self.capacity!r}, window={self.window}, threshold={self.threshold!r}, "
            f"estimator={self.estimator!r}, percentile={self.percentile!r}, headroom={self.headroom!r}; "
            f"{len(self)} VMs)"
        )
