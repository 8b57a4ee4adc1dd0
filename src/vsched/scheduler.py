"""vCPU fair-share scheduler (native): EEVDF slices over many pCPUs.

The rules (fluid target, lag, eligibility, deadlines, limit bucket, accounting)
are stated in the class docstring below and explained beside the code in
``csrc/core/scheduler.cpp``. ``vsched.reference.CpuScheduler`` is the
pure-Python twin with the same API and identical results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._repr import scheduler_repr
from ._sched_args import FOREVER, limit_batch, optional_limit, work_batch
from ._sched_vm_state import COUNTERS, vm_state, vm_state_args
from ._state import Checkpointable
from ._validate import as_float, as_int

__all__ = ["FOREVER", "CpuScheduler"]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _i64(name: str, value: Any, error: type[Exception] = ValueError) -> int:
    number = as_int(name, value)
    if not _I64_MIN <= number <= _I64_MAX:
        raise error(f"{name} = {number}: out of the int64 range")
    return number


class CpuScheduler(Checkpointable):
    """Time-sliced scheduler of vCPUs on ``pcpus`` pCPUs (EEVDF with shares, reservations, limits).

    Time is in integer ns, rates in micro-cores (10**6 per core).

    * Fluid target: when the set of vCPUs with work or a VM's parameters change,
      VM i gets ``a_i = fair_share(pcpus, demand_i, shares_i, reservation_i, limit_i)``
      cores (demand_i = its vCPUs with work) and each of those vCPUs the rate
      ``floor(a_i * 1e6) // demand_i`` micro-cores.
    * EEVDF per vCPU: ``lag = entitled - received`` (entitled grows at the rate while
      the vCPU has work); eligible iff lag >= 0; deadline = when the fluid ideal would
      have served the owed lag plus one request (for a vCPU whose rate is a whole core,
      its eligible time: it cannot make up a wait). Lag is kept (in service units) across
      re-weighting; on sleep it is clamped to ``[-request, 0]`` (no banked credit).
    * At slice ends, on new work, when work runs out and when a limit releases a VM,
      each free pCPU takes the eligible vCPU with the earliest (deadline, vm, vcpu);
      if none is eligible, the earliest (eligible time, deadline, vm, vcpu): work
      conserving. It runs ``min(request, pending)`` ns; only reservations (below)
      and eligible vCPUs (over runs that were not eligible) preempt.
    * Limit (binds when limit < vcpus): a token bucket of one slice, plus up to one
      more while the VM is behind its fluid share (so it can catch up): at most
      ``limit*T + slice`` from the start, ``limit*T + 2 x slice`` in any window; a VM
      whose credit is below a quarter of its request is *held* (its waiting vCPUs
      count as ``limited_ns``); request = slice // max(1, ceil(limit)) for such VMs.
    * Reservation: besides the floor of the fluid target, each VM keeps
      ``D = reserved - received`` service (at most half a slice ahead); while
      ``D >= 0`` and it runs fewer vCPUs than its reservation needs it is *urgent*:
      its vCPUs pick first (runs of at most half a slice) and take the pCPU of an
      unprotected run of a non-urgent VM, so a CPU-bound VM gets at least
      ``r*T - slice`` in every window (``docs/engines/scheduler.md``, rule 6) —
      except that a vCPU a full request behind its fluid share goes first and its
      run is never taken (it might never catch up).
    * Stats per vCPU: run + ready + limited + wait = time since the VM was added.

    ``decisions`` counts dispatches (vCPU put on a pCPU).

    One object, one thread at a time: a call while another thread is inside
    one (``run`` releases the GIL) raises :class:`vsched.InUseError` and
    changes nothing. Ctrl-C stops ``run`` at a decision instant (``now`` is
    that instant; the object is as after a shorter run). ``pickle``,
    ``copy.deepcopy`` and ``copy.copy`` give independent objects that continue
    bit for bit. See docs/engines/scheduler.md, "State, threads, Ctrl-C".
    """

    _implementation = "native"

    def __init__(self, pcpus: int, slice_ns: int = 3_000_000, strict_reservations: bool = True) -> None:
        if not isinstance(strict_reservations, bool):
            raise TypeError(f"strict_reservations must be a bool, got {type(strict_reservations).__name__}")
        self._core = _core.CpuScheduler(_i64("pcpus", pcpus), _i64("slice_ns", slice_ns), strict_reservations)

    @property
    def strict_reservations(self) -> bool:
        """Rule 6 on: reserved VMs get >= r*T - slice per window (else fluid floor only)."""
        return bool(self._core.strict_reservations)

    @property
    def now(self) -> int:
        return int(self._core.now)

    @property
    def pcpus(self) -> int:
        return int(self._core.pcpus)

    @property
    def slice_ns(self) -> int:
        return int(self._core.slice_ns)

    @property
    def decisions(self) -> int:
        """Number of times a vCPU was put on a pCPU (one scheduling decision each)."""
        return int(self._core.decisions)

    def add_vm(
        self, vcpus: int, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> int:
        """Add a VM with `vcpus` idle vCPUs; returns its id (ids are never reused).

        reservation and limit in cores (limit None = no limit). AdmissionError when
        the sum of reservations would exceed pcpus, reservation > vcpus, or
        limit < reservation; ValueError for a limit below vcpus that is above
        slice_ns (its run quantum slice_ns // ceil(limit) would be 0 ns; rule 5
        of docs/engines/scheduler.md).
        """
        return int(
            self._core.add_vm(
                _i64("vcpus", vcpus),
                _i64("shares", shares),
                as_float("reservation", reservation),
                optional_limit(limit),
            )
        )

    def set_vm(
        self,
        vm: int,
        *,
        shares: int | None = None,
        reservation: float | None = None,
        limit: float | None = None,
    ) -> None:
        """Change a VM's parameters; None keeps a value. ``limit=float('inf')`` removes the limit."""
        self._core.set_vm(
            _i64("vm", vm, KeyError),
            None if shares is None else _i64("shares", shares),
            None if reservation is None else as_float("reservation", reservation),
            None if limit is None else as_float("limit", limit),
        )

    def remove_vm(self, vm: int) -> None:
        self._core.remove_vm(_i64("vm", vm, KeyError))

    def add_work(self, vm: Any, vcpu: Any, work_ns: Any) -> None:
        """Queue work_ns of CPU work on (vm, vcpu); scalars or equal-length integer arrays.

        ``work_ns = vsched.FOREVER`` makes the vCPU CPU-bound until clear_work().
        The whole batch is validated before any of it is applied.
        """
        vms, vcpus, works = work_batch(vm, vcpu, work_ns)
        self._core.add_work(vms, vcpus, works)

    def clear_work(self, vm: int, vcpu: int | None = None) -> None:
        """Drop the queued work of one vCPU (or all of the VM's); a running one stops now."""
        self._core.clear_work(
            _i64("vm", vm, KeyError), None if vcpu is None else _i64("vcpu", vcpu, IndexError)
        )

    def clear_all_work(self) -> None:
        """clear_work() of every vCPU of every VM: all queued work is dropped, running vCPUs stop now."""
        self._core.clear_all_work()

    def set_limits(self, vms: Any, limits: Any) -> None:
        """Set the limit of each VM in ``vms`` (1-D integer array) to ``limits`` (cores, inf = none).

        One call for many ``set_vm(vm, limit=...)``: the whole batch is validated
        (unknown VM: KeyError; NaN or negative: ValueError; below the VM's
        reservation: AdmissionError) before any limit changes.
        """
        vm_array, limit_array = limit_batch(vms, limits)
        self._core.set_limits(vm_array, limit_array)

    def run(self, duration_ns: int) -> None:
        """Advance simulated time by duration_ns, scheduling as it goes."""
        self._core.run(_i64("duration_ns", duration_ns))

    def export_vm(self, vm: int) -> dict[str, Any]:
        """VM `vm` as plain data: parameters, and per vCPU its counters and queued work
        (``stats`` columns). Nothing changes; KeyError if unknown. O(vCPUs of the host).
        See docs/engines/scheduler.md, "Moving a VM"."""
        vm_id = _i64("vm", vm, KeyError)
        vcpus, shares, reservation, limit = self._core.vm_params(vm_id)
        rows = self._core.vcpu_stats()
        mine = rows["vm"] == vm_id
        return vm_state(vcpus, shares, reservation, limit, np.column_stack([rows[c][mine] for c in COUNTERS]))

    def import_vm(self, state: Any) -> int:
        """Add the VM `state` (from ``export_vm`` of either implementation) as a new VM; returns its id.

        Same checks as ``add_vm`` (AdmissionError) plus the state's own
        (TypeError / ValueError); nothing changes if it cannot be imported.
        """
        return int(self._core.import_vm(*vm_state_args(state)))

    def memory_bytes(self) -> int:
        """Bytes the native object holds; follows the live VMs, not every VM ever added."""
        return int(self._core.memory_bytes())

    def _checkpoint(self) -> Any:
        return {"state": self._core._save()}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("state"), bytes):
            raise ValueError("not a checkpoint of a native CpuScheduler (no state bytes)")
        self._core = _core.CpuScheduler._load(payload["state"])

    def stats(self) -> dict[str, np.ndarray]:
        """One row per live VM in id order: vm, run_ns, ready_ns, limited_ns, wait_ns, pending_ns, switches.

        Each column sums the VM's vCPUs and saturates at 2**63 - 1 (pending_ns: FOREVER
        for a VM with a CPU-bound vCPU); see docs/engines/scheduler.md, "API".
        """
        return dict(self._core.stats())

    def vcpu_stats(self) -> dict[str, np.ndarray]:
        """Like stats() but one row per vCPU, with vm and vcpu columns."""
        return dict(self._core.vcpu_stats())

    def __repr__(self) -> str:
        return scheduler_repr(self, lambda: len(self._core.stats()["vm"]))
