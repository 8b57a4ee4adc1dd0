"""Pure-Python CpuScheduler: the oracle for ``vsched.CpuScheduler``.

Same rules as the native core (numbered once in docs/engines/scheduler.md;
the native files carry the formulas beside the code). Split as the native
engine is: the core loop (rules 1-4, 7) here, the limit bucket (rule 5) in
``scheduler_limits.py``, the reservation accounts (rule 6) in
``scheduler_reservations.py``. This version is deliberately simple: every pick scans all vCPUs and every event
time is found by a scan, so it is O(vCPUs) per decision. It
shares no code with the native engine except the fair-share kernel (its own
pure-Python twin), so the differential tests compare two independent
implementations of the same rules.

Units: time in integer ns; rates in integer micro-cores (1 core = 1_000_000);
lag and limit credit in micro-core-ns (service of 1 core for 1 ns = 1_000_000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._repr import scheduler_repr
from .._sched_args import FOREVER, limit_batch, optional_limit, work_batch
from .._sched_vm_state import vm_state, vm_state_args
from .._state import Checkpointable
from .._validate import as_float, as_int, as_int64
from ..errors import AdmissionError
from ._scheduler_state import restore_scheduler, scheduler_payload
from .allocation import fair_share
from .scheduler_limits import LimitAccount, LimitBucket, LimitRules
from .scheduler_reservations import ReservationAccount, ReservationAccounts, ReservationRules

__all__ = ["FOREVER", "CpuScheduler"]

MICRO = 1_000_000  # micro-cores per core
NEVER = 2**62  # "no such time"
MAX_TIME = 2**61  # simulated time may not pass this
LAG_MAX = 10**18  # |lag| saturates here (1e12 core-ns, ~16.7 core-minutes)
MAX_PENDING = 2**62  # finite queued work per vCPU stays below this
MAX_PCPUS = 1 << 16
MAX_VCPUS = 1024
MAX_SHARES = 1_000_000
MAX_SLICE = 10**11

WAIT, QUEUED, RUNNING = 0, 1, 2


def _ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for b > 0 and any sign of a (exact integers)."""
    return -((-a) // b)


def _clamp_lag(x: int) -> int:
    return LAG_MAX if x > LAG_MAX else (max(x, -LAG_MAX))


class _Vcpu:
    __slots__ = (
        "borrowed",
        "deadline",
        "eligible",
        "granted",
        "index",
        "lag",
        "lag_time",
        "limited_ns",
        "pending",
        "rate",
        "ready_ns",
        "reserved",
        "run_end",
        "run_ns",
        "run_start",
        "since",
        "state",
        "stopped_at",
        "switches",
        "vm",
        "wait_ns",
    )

    def __init__(self, vm: _Vm, index: int, now: int) -> None:
        self.vm = vm
        self.index = index
        self.pending = 0
        self.state = WAIT
        self.since = now  # start of the not-yet-accounted wait/queued interval
        self.run_ns = self.ready_ns = self.limited_ns = self.wait_ns = self.switches = 0
        self.lag = 0  # entitled - received, micro-core-ns, as of lag_time
        self.lag_time = now
        self.rate = 0  # micro-cores
        self.eligible = NEVER
        self.deadline = NEVER
        self.run_start = self.run_end = 0
        self.granted = False
        self.stopped_at = -1
        self.borrowed = False  # running although it was not eligible at dispatch
        self.reserved = False  # running because its VM was urgent at dispatch (rule 6)


class _Vm:
    """A VM's record in the core loop; its limit bucket (rule 5) and reservation
    account (rule 6) are their own records."""

    __slots__ = (
        "account",
        "bucket",
        "demand",
        "id",
        "limit",
        "request",
        "reservation",
        "running",
        "shares",
        "vcpus",
    )

    def __init__(
        self, vm_id: int, vcpus: int, shares: int, reservation: float, limit: float, now: int
    ) -> None:
        self.id = vm_id
        self.vcpus: list[_Vcpu] = []
        self.shares = shares
        self.reservation = reservation
        self.limit = limit
        self.demand = 0  # its vCPUs with work
        self.request = 0  # run quantum: slice, or slice // ceil(limit) if limited (rule 5)
        self.running = 0  # its vCPUs on a pCPU
        self.bucket = LimitAccount()
        self.account = ReservationAccount(now)


class CpuScheduler(LimitRules, ReservationRules, Checkpointable):
    """Reference twin of :class:`vsched.CpuScheduler` (same API, rules and results).

    ``pickle`` / ``copy`` as the native one (vsched.reference._scheduler_state);
    a checkpoint of one implementation is refused by the other.
    """

    _implementation = "reference"

    def __init__(self, pcpus: int, slice_ns: int = 3_000_000, strict_reservations: bool = True) -> None:
        if not isinstance(strict_reservations, bool):
            raise TypeError(f"strict_reservations must be a bool, got {type(strict_reservations).__name__}")
        self._strict_reservations = strict_reservations
        pcpus = as_int("pcpus", pcpus)
        slice_ns = as_int("slice_ns", slice_ns)
        if not 1 <= pcpus <= MAX_PCPUS:
            raise ValueError(f"pcpus = {pcpus}: pcpus must be in [1, {MAX_PCPUS}]")
        if not 1 <= slice_ns <= MAX_SLICE:
            raise ValueError(f"slice_ns = {slice_ns}: slice_ns must be in [1, {MAX_SLICE}]")
        self._pcpus = pcpus
        self._slice = slice_ns
        self._limits = LimitBucket(slice_ns)  # rule 5's formulas (state: each VM's bucket)
        self._res = ReservationAccounts(slice_ns)  # rule 6's formulas (state: each VM's account)
        self._now = 0
        self._vms: dict[int, _Vm] = {}
        self._next_id = 0
        self._running = 0
        self._borrowed = 0
        self._dirty = False
        self._decisions = 0
        self._picked_urgent = False  # the last _pick() took an urgent VM's vCPU (rule 6)

    # ---- properties -------------------------------------------------------------------
    @property
    def strict_reservations(self) -> bool:
        return self._strict_reservations

    @property
    def now(self) -> int:
        return self._now

    @property
    def pcpus(self) -> int:
        return self._pcpus

    @property
    def slice_ns(self) -> int:
        return self._slice

    @property
    def decisions(self) -> int:
        """Number of times a vCPU was put on a pCPU (one scheduling decision each)."""
        return self._decisions

    # ---- configuration ----------------------------------------------------------------
    def _check_params(self, vcpus: int, shares: int, reservation: float, limit: float, skip: int) -> None:
        if not 1 <= shares <= MAX_SHARES:
            raise ValueError(f"shares = {shares}: shares must be in [1, {MAX_SHARES}]")
        if not (math.isfinite(reservation) and reservation >= 0.0):
            raise ValueError(f"reservation = {reservation!r}: reservation must be finite and >= 0")
        if math.isnan(limit) or limit < 0.0:
            raise ValueError(f"limit = {limit!r}: limit must be >= 0 (None for no limit)")
        if vcpus > limit > self._slice:  # rule 5's quantum slice // ceil(limit) must be >= 1 ns
            raise ValueError(
                f"limit = {limit!r}: a limit below the VM's {vcpus} vCPUs must be <= slice_ns = {self._slice}"
                " (it runs in quanta of slice_ns // ceil(limit) ns)"
            )
        if reservation > vcpus:
            raise AdmissionError(f"reservation {reservation!r} exceeds the VM's {vcpus} vCPUs")
        if limit < reservation:
            raise AdmissionError(f"limit {limit!r} is below the reservation {reservation!r}")
        total = 0.0
        for vm in self._vms.values():
            total += reservation if vm.id == skip else vm.reservation
        if skip < 0:
            total += reservation
        if total > self._pcpus:
            raise AdmissionError(
                f"reservations would sum to {total!r} cores > {self._pcpus} pCPUs (by {total - self._pcpus!r})"
            )

    def add_vm(
        self, vcpus: int, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> int:
        vcpus = as_int("vcpus", vcpus)
        shares = as_int("shares", shares)
        reservation = as_float("reservation", reservation)
        limit_f = optional_limit(limit)
        if not 1 <= vcpus <= MAX_VCPUS:
            raise ValueError(f"vcpus = {vcpus}: vcpus must be in [1, {MAX_VCPUS}]")
        self._check_params(vcpus, shares, reservation, limit_f, -1)
        vm = _Vm(self._next_id, vcpus, shares, reservation, limit_f, self._now)
        vm.vcpus = [_Vcpu(vm, i, self._now) for i in range(vcpus)]
        self._next_id += 1
        self._vms[vm.id] = vm
        self._apply_limit(vm)
        return vm.id

    def set_vm(
        self, vm: int, *, shares: int | None = None, reservation: float | None = None, limit: Any = None
    ) -> None:
        """Change parameters; None keeps a value. ``limit=float('inf')`` removes the limit."""
        # Types in argument order, then values (docs/design.md, "Errors"): like the native wrapper.
        vm = as_int64("vm", vm, KeyError)
        shares_arg = None if shares is None else as_int64("shares", shares)
        reservation_arg = None if reservation is None else as_float("reservation", reservation)
        limit_arg = None if limit is None else as_float("limit", limit)
        record = self._get_vm(vm)
        new_shares = record.shares if shares_arg is None else shares_arg
        new_reservation = record.reservation if reservation_arg is None else reservation_arg
        new_limit = record.limit if limit_arg is None else limit_arg
        self._check_params(len(record.vcpus), new_shares, new_reservation, new_limit, record.id)
        if (new_shares, new_reservation, new_limit) == (record.shares, record.reservation, record.limit):
            return
        if new_reservation != record.reservation:
            # A new reservation starts a new account: neither owed nor ahead (rule 6).
            ReservationAccounts.restart(record.account, self._now)
        record.shares, record.reservation = new_shares, new_reservation
        if new_limit != record.limit:
            record.limit = new_limit
            self._apply_limit(record)
        self._dirty = True

    def remove_vm(self, vm: int) -> None:
        record = self._get_vm(vm)
        for v in record.vcpus:
            if v.state == RUNNING:
                self._running -= 1
                self._borrowed -= v.borrowed
        if record.demand > 0:
            self._dirty = True
        del self._vms[record.id]

    # ---- work -------------------------------------------------------------------------
    def add_work(self, vm: Any, vcpu: Any, work_ns: Any) -> None:
        vms, vcpus, works = work_batch(vm, vcpu, work_ns)
        vm_l, vcpu_l, work_l = vms.tolist(), vcpus.tolist(), works.tolist()
        added: dict[tuple[int, int], int] = {}
        for k in range(len(vm_l)):  # validate the whole batch first
            record = self._get_vm(vm_l[k])
            if not 0 <= vcpu_l[k] < len(record.vcpus):
                raise IndexError(f"vcpu[{k}] = {vcpu_l[k]}: VM {vm_l[k]} has {len(record.vcpus)} vCPUs")
            w = work_l[k]
            if w < 0:
                raise ValueError(f"work_ns[{k}] = {w}: work_ns must be >= 0 (or vsched.FOREVER)")
            key = (vm_l[k], vcpu_l[k])
            pending = added.get(key, record.vcpus[vcpu_l[k]].pending)
            if pending != FOREVER:
                pending = FOREVER if w == FOREVER else pending + w
                if pending != FOREVER and pending >= MAX_PENDING:
                    raise ValueError(f"work_ns[{k}] = {w}: queued work of the vCPU would reach 2**62 ns")
            added[key] = pending
        for k in range(len(vm_l)):
            if work_l[k] == 0:
                continue
            v = self._vms[vm_l[k]].vcpus[vcpu_l[k]]
            was_idle = v.pending == 0
            v.pending = FOREVER if (v.pending == FOREVER or work_l[k] == FOREVER) else v.pending + work_l[k]
            if was_idle:
                self._wake(v)

    def clear_work(self, vm: int, vcpu: int | None = None) -> None:
        vm = as_int64("vm", vm, KeyError)  # types and the int64 field in argument order, then values
        index = None if vcpu is None else as_int64("vcpu", vcpu, IndexError)
        record = self._get_vm(vm)
        if index is None:
            targets = record.vcpus
        else:
            if not 0 <= index < len(record.vcpus):
                raise IndexError(f"vcpu = {index}: VM {record.id} has {len(record.vcpus)} vCPUs")
            targets = [record.vcpus[index]]
        for v in targets:
            if v.state == RUNNING:
                self._stop(v, self._now)
            if v.state == QUEUED:
                self._flush(v, self._now)
                self._to_wait(v, self._now)
            v.pending = 0

    def clear_all_work(self) -> None:
        for record in self._vms.values():
            self.clear_work(record.id)

    def set_limits(self, vms: Any, limits: Any) -> None:
        vm_array, limit_array = limit_batch(vms, limits)
        items = list(zip(vm_array.tolist(), limit_array.tolist()))
        for k, (vm_id, limit) in enumerate(items):  # validate the whole batch first
            record = self._vms.get(vm_id)
            if record is None:
                raise KeyError(f"vms[{k}] = {vm_id}: no such VM")
            if math.isnan(limit) or limit < 0.0:
                raise ValueError(f"limits[{k}] = {limit!r}: limit must be >= 0 (inf for no limit)")
            if len(record.vcpus) > limit > self._slice:  # rule 5's quantum >= 1 ns
                raise ValueError(
                    f"limits[{k}] = {limit!r}: a limit below VM {vm_id}'s {len(record.vcpus)} vCPUs"
                    f" must be <= slice_ns = {self._slice}"
                )
            if limit < record.reservation:
                raise AdmissionError(
                    f"limits[{k}] = {limit!r} is below VM {vm_id}'s reservation {record.reservation!r}"
                )
        for vm_id, limit in items:
            record = self._vms[vm_id]
            if limit != record.limit:
                record.limit = limit
                self._apply_limit(record)
                self._dirty = True

    # ---- simulation ---------------------------------------------------------------------
    def run(self, duration_ns: int) -> None:
        duration = as_int("duration_ns", duration_ns)
        if duration < 0:
            raise ValueError(f"duration_ns = {duration}: duration_ns must be >= 0")
        end = self._now + duration
        if end > MAX_TIME:
            raise ValueError(f"duration_ns = {duration}: simulated time would pass 2**61 ns")
        self._decide()
        while True:
            t = self._next_event()
            if t > end:
                break
            self._now = t
            for record in self._vms.values():
                for v in record.vcpus:
                    if v.state == RUNNING and v.run_end == t:
                        self._stop(v, t)
            self._decide()
        self._now = end

    def _next_event(self) -> int:
        t = NEVER
        for record in self._vms.values():
            for v in record.vcpus:
                if v.state == RUNNING and v.run_end < t:
                    t = v.run_end
        if self._running < self._pcpus or self._borrowed > 0 or self._any_reserved():
            # A free pCPU waits only for vCPUs held by their VM's limit, and a
            # borrowed run can be preempted by them (as can any unprotected run
            # by an urgent VM): wake at the release.
            for record in self._vms.values():
                b = record.bucket
                if b.bound and self._now < b.held_until < t and any(v.state == QUEUED for v in record.vcpus):
                    t = b.held_until
        now = self._now
        for record in self._vms.values():
            # Rule 6: a VM whose reservation lag reaches 0 while it runs fewer
            # vCPUs than its reserved rate needs becomes urgent (it may preempt).
            slope = ReservationAccounts.slope(record.account, record.running)
            if slope > 0:
                lag = self._res_lag_at(record, now)
                if lag < 0:
                    t = min(t, now + _ceil_div(-lag, slope))
            # ... and a reserved run's protection ends (an urgent VM may take its pCPU).
            protect = self._res.protect()
            for v in record.vcpus:
                if v.state == RUNNING and v.reserved and now < v.run_start + protect < t:
                    t = v.run_start + protect
        if self._borrowed > 0:
            # A vCPU becoming eligible preempts a borrowed run.
            for record in self._vms.values():
                for v in record.vcpus:
                    if v.state == QUEUED and self._now < v.eligible < t:
                        t = v.eligible
        return t

    def _decide(self) -> None:
        if self._dirty:
            self._recompute()
        while self._running < self._pcpus:
            v = self._pick()
            if v is None:
                break
            self._dispatch(v)
        # Preemptions: at most borrowed + pcpus per instant (rule 3; the count
        # is in the native core's "Termination of a decision").
        while True:
            v = self._pick()
            if v is None:
                break
            urgent = self._picked_urgent
            if urgent:
                # Rule 6: the urgent VM takes the pCPU of the unprotected run of a
                # non-urgent VM, not started overdue, least behind its reservation.
                victim = self._urgency_victim()
                if victim is not None:
                    self._stop(victim, self._now)
                    # The preemptor is still pickable and the victim is not overdue: an
                    # urgent vCPU goes (or an overdue one of a VM the refund released).
                    self._dispatch_pick()
                    continue
            if self._borrowed > 0 and (urgent or v.eligible <= self._now):
                # Borrowed runs give way to eligible (or urgent) vCPUs: the least deserving goes first.
                victim = max(
                    (u for r in self._vms.values() for u in r.vcpus if u.state == RUNNING and u.borrowed),
                    key=lambda u: (u.eligible, u.deadline, u.vm.id, u.index),
                )
                self._stop(victim, self._now)
                self._dispatch_pick()
                continue
            break

    def _dispatch_pick(self) -> None:
        chosen = self._pick()
        assert chosen is not None  # the vCPU found before the preemption is still pickable
        self._dispatch(chosen)

    def _pick(self) -> _Vcpu | None:
        """Urgent VMs' vCPUs first, by (-reservation lag, vm, deadline, vcpu), unless an
        overdue vCPU is queued; else EEVDF (an urgent pick if it is an overdue vCPU of an
        urgent VM)."""
        now = self._now
        overdue = self._overdue_queued_exists()
        chosen_urgent = None if overdue else self._urgent_pick()
        self._picked_urgent = chosen_urgent is not None
        if self._picked_urgent:
            return chosen_urgent
        best_eligible: tuple[int, int, int] | None = None
        best_any: tuple[int, int, int, int] | None = None
        chosen_eligible = chosen_any = None
        for record in self._vms.values():
            if LimitBucket.held(record.bucket, now):
                continue
            for v in record.vcpus:
                if v.state != QUEUED:
                    continue
                if v.eligible <= now:
                    key = (v.deadline, record.id, v.index)
                    if best_eligible is None or key < best_eligible:
                        best_eligible, chosen_eligible = key, v
                key4 = (v.eligible, v.deadline, record.id, v.index)
                if best_any is None or key4 < best_any:
                    best_any, chosen_any = key4, v
        if overdue:
            # The EEVDF pick is then an overdue vCPU; of an urgent VM, it is an urgent
            # pick (it may preempt): a VM is not held back by its own overdue vCPU.
            self._picked_urgent = self._urgent(chosen_eligible.vm)
        return chosen_eligible if chosen_eligible is not None else chosen_any

    def _recompute(self) -> None:
        active = [record for record in self._vms.values() if record.demand > 0]
        self._dirty = False
        for record in self._vms.values():
            self._res_update(record, self._now)
            a = record.account
            if record.demand == 0:
                a.res_u = 0
                a.lag = min(a.lag, 0)  # no reservation banked while idle
            elif not self._strict_reservations:
                a.res_u = 0  # rule 6 off: no reserved rate, so the VM is never urgent
            else:
                a.res_u = math.floor(min(record.reservation, float(record.demand)) * MICRO)
        if not active:
            return
        alloc = fair_share(
            float(self._pcpus),
            np.array([float(r.demand) for r in active]),
            np.array([float(r.shares) for r in active]),
            np.array([r.reservation for r in active]),
            np.array([r.limit for r in active]),
        ).tolist()
        now = self._now
        for record, cores in zip(active, alloc):
            rate = math.floor(cores * MICRO) // record.demand
            for v in record.vcpus:
                if v.state != WAIT:
                    self._bring_lag(v, now)
                    v.rate = rate
                    if v.state == QUEUED:
                        self._set_keys(v, now)

    # ---- per-vCPU rules -------------------------------------------------------------------
    def _bring_lag(self, v: _Vcpu, t: int) -> None:
        dt = t - v.lag_time
        if v.state == QUEUED:
            v.lag = _clamp_lag(v.lag + v.rate * dt)
        elif v.state == RUNNING:
            v.lag = _clamp_lag(v.lag + (v.rate - MICRO) * dt)
        v.lag_time = t

    def _vm_lag_at(self, record: _Vm, t: int) -> int:
        """The sum of the lags at t of the VM's vCPUs with work (rule 5's room reads it)."""
        total = 0
        for v in record.vcpus:
            dt = t - v.lag_time
            if v.state == QUEUED:
                total += _clamp_lag(v.lag + v.rate * dt)
            elif v.state == RUNNING:
                total += _clamp_lag(v.lag + (v.rate - MICRO) * dt)
        return total

    def _set_keys(self, v: _Vcpu, t: int) -> None:
        if v.rate == 0:
            v.eligible = v.deadline = NEVER
            return
        v.eligible = min(NEVER, t + _ceil_div(-v.lag, v.rate))
        if v.rate >= MICRO:  # a whole core cannot make up a wait: its deadline is its eligible time
            v.deadline = v.eligible
        else:
            v.deadline = min(NEVER, t + _ceil_div(v.vm.request * MICRO - v.lag, v.rate))

    def _flush(self, v: _Vcpu, t: int) -> None:
        span = t - v.since
        if v.state == WAIT:
            v.wait_ns += span
        elif v.state == QUEUED:
            limited = max(0, min(t, LimitBucket.held_end(v.vm.bucket)) - v.since)
            v.limited_ns += limited
            v.ready_ns += span - limited
        v.since = t

    def _wake(self, v: _Vcpu) -> None:
        self._flush(v, self._now)
        v.state = QUEUED
        v.lag_time = self._now
        v.vm.demand += 1
        self._dirty = True

    def _to_wait(self, v: _Vcpu, t: int) -> None:
        # Rule 4 clamps the lag as of t: a queued vCPU whose work is cleared has
        # gained rate * (t - lag_time) since its lag was last brought.
        self._bring_lag(v, t)
        v.state = WAIT
        v.since = t
        v.lag = max(min(v.lag, 0), -v.vm.request * MICRO)
        v.lag_time = t
        v.vm.demand -= 1
        self._dirty = True

    def _dispatch(self, v: _Vcpu) -> None:
        now = self._now
        record = v.vm
        self._flush(v, now)
        self._bring_lag(v, now)
        v.state = RUNNING
        v.run_start = now
        length = record.request if v.pending == FOREVER else min(record.request, v.pending)
        v.reserved = self._urgent(record)  # a run its reservation needs: protected, never borrowed
        if v.reserved:
            # At most half a slice: from lag >= 0 it ends above the floor -slice/2, so
            # the floor never discards service the reservation itself forced.
            length = min(length, self._res.floor() // MICRO)
        if v.deadline <= now and v.rate < MICRO and self._any_reserved():
            # Rule 6, overdue runs: one that can catch up lasts until it is no longer a
            # request behind, but at least P (an urgent VM waits at most P behind it):
            #   length <= max(P, (lag - request*10^6) // (10^6 - rate) + 1)
            caught_up = (v.lag - record.request * MICRO) // (MICRO - v.rate) + 1
            length = min(length, max(self._res.protect(), caught_up))
        self._res_update(record, now)
        record.running += 1
        if record.bucket.bound:
            self._update_credit(record, now)
            length = min(length, record.bucket.credit // MICRO)  # a partial grant if credit is short
        v.run_end = now + length
        if v.stopped_at != now:
            v.switches += 1
        self._decisions += 1
        self._running += 1
        v.borrowed = v.eligible > now and not v.reserved
        self._borrowed += v.borrowed
        if record.bucket.bound:
            v.granted = True
            LimitBucket.grant(record.bucket, length, v.run_end)
            self._set_held_until(record, now)

    def _stop(self, v: _Vcpu, t: int) -> None:
        """Take a running vCPU off its pCPU at t (slice end, or clear_work)."""
        ran = t - v.run_start
        v.run_ns += ran
        if v.pending != FOREVER:
            v.pending -= ran
        self._bring_lag(v, t)
        v.stopped_at = t
        self._running -= 1
        self._borrowed -= v.borrowed
        v.borrowed = False
        v.reserved = False
        record = v.vm
        self._res_update(record, t)
        record.running -= 1
        v.state = QUEUED
        v.since = t
        if v.granted:
            v.granted = False
            self._update_credit(record, t)
            LimitBucket.refund(record.bucket, v.run_end, t)  # the unused grant
            self._set_held_until(record, t)
        if v.pending == 0:
            self._to_wait(v, t)
        else:
            self._set_keys(v, t)

    # ---- moving a VM (docs/engines/scheduler.md, "Moving a VM") -------------------------------
    def export_vm(self, vm: int) -> dict[str, Any]:
        record = self._get_vm(vm)
        rows = []
        for v in record.vcpus:
            run, ready, limited, wait, pending, switches = self._vcpu_row(v)
            rows.append((run, ready, limited, wait, switches, pending))
        return vm_state(len(record.vcpus), record.shares, record.reservation, record.limit, rows)

    def import_vm(self, state: Any) -> int:
        vcpus, shares, reservation, limit, counters = vm_state_args(state)
        vm = self.add_vm(vcpus, shares=shares, reservation=reservation,
                         limit=None if math.isinf(limit) else limit)  # nothing changed if it raises
        record = self._vms[vm]
        for v, row in zip(record.vcpus, counters.tolist()):
            v.run_ns, v.ready_ns, v.limited_ns, v.wait_ns, v.switches, pending = row
            if pending > 0:
                self.add_work(vm, v.index, pending)
        return vm

    # ---- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self) -> Any:
        return scheduler_payload(self)

    def _restore(self, payload: Any) -> None:
        restore_scheduler(self, payload, _Vm, _Vcpu, LimitAccount, ReservationAccount)

    # ---- stats ---------------------------------------------------------------------------------
    def _get_vm(self, vm: Any) -> _Vm:
        vm_id = as_int("vm", vm)
        record = self._vms.get(vm_id)
        if record is None:
            raise KeyError(f"vm = {vm_id}: no such VM")
        return record

    def _vcpu_row(self, v: _Vcpu) -> tuple[int, int, int, int, int, int]:
        now = self._now
        run, ready, limited, wait, pending = v.run_ns, v.ready_ns, v.limited_ns, v.wait_ns, v.pending
        span = now - v.since
        if v.state == RUNNING:
            run += now - v.run_start
            if pending != FOREVER:
                pending -= now - v.run_start
        elif v.state == WAIT:
            wait += span
        else:
            lim = max(0, min(now, LimitBucket.held_end(v.vm.bucket)) - v.since)
            limited += lim
            ready += span - lim
        return run, ready, limited, wait, pending, v.switches

    def vcpu_stats(self) -> dict[str, np.ndarray]:
        rows = []
        for record in self._vms.values():
            for v in record.vcpus:
                rows.append((record.id, v.index, *self._vcpu_row(v)))
        return _columns(
            ["vm", "vcpu", "run_ns", "ready_ns", "limited_ns", "wait_ns", "pending_ns", "switches"], rows
        )

    def stats(self) -> dict[str, np.ndarray]:
        rows = []
        for record in self._vms.values():
            totals = [0, 0, 0, 0, 0, 0]
            for v in record.vcpus:
                row = self._vcpu_row(v)
                for k in range(6):
                    totals[k] += row[k]
            # Each sum saturates at 2**63 - 1 (FOREVER for pending_ns; a time column
            # only past about 2**63 / vcpus ns of simulated time).
            rows.append((record.id, *(min(x, FOREVER) for x in totals)))
        return _columns(["vm", "run_ns", "ready_ns", "limited_ns", "wait_ns", "pending_ns", "switches"], rows)

    def __repr__(self) -> str:
        return scheduler_repr(self, lambda: len(self._vms))


def _columns(names: list[str], rows: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
    if not rows:
        return {name: np.zeros(0, dtype=np.int64) for name in names}
    matrix = np.array(rows, dtype=np.int64)
    return {name: matrix[:, k].copy() for k, name in enumerate(names)}
