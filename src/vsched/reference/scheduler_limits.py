"""Rule 5 of docs/engines/scheduler.md: the limit token bucket of each limited VM.

Reference twin of ``csrc/include/vsched/scheduler/limit_bucket.hpp`` and
``csrc/core/scheduler/limit_bucket.cpp`` (micro-core-ns throughout):

  credit(t) = min(credit0 + limit_u * (t - t0), room(t) - 10^6 * (sum e - k*t))
      (k running grants ending at e_1..e_k; limit_u = floor(limit * 10^6))
  room(t) = slice*10^6 + min(2 * slice * vcpus * 10^6, max(0, sum of the VM's vCPU lags at t))
      (a VM behind its fluid share keeps what it is behind, up to its lag bound, to catch up)
  a dispatch takes a grant of its run length; a run cut short refunds the rest;
  held while credit < max(1, request // 4) * 10^6, request = slice // max(1, ceil(limit));
  a VM that becomes limited starts with min(slice * 10^6, limit_u * slice) of credit.

The bucket's state is a `LimitAccount` per VM (``vm.bucket``); `LimitRules` is the
scheduler's side of the rule (mixed into the reference CpuScheduler): binding a VM
to its limit and accounting its queued vCPUs' limited time before the credit moves.
"""

from __future__ import annotations

import math
from typing import Any

MICRO = 1_000_000
NEVER = 2**62
ROOM_EXTRA_MAX = 4 * 10**18  # rule 5's extra room saturates here (micro-core-ns)

QUEUED = 1  # the vCPU state of scheduler.py


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


class LimitAccount:
    """One VM's bucket (meaningful while `bound`: limit < vcpus)."""

    __slots__ = ("bound", "credit", "credit_time", "granted", "granted_end_sum", "held_until", "limit_u")

    def __init__(self) -> None:
        self.bound = False
        self.limit_u = 0
        self.credit = 0  # as of credit_time
        self.credit_time = 0
        self.granted = 0  # running grants
        self.granted_end_sum = 0  # sum of their run ends
        self.held_until = -1


class LimitBucket:
    """The formulas of rule 5 over one `LimitAccount`."""

    def __init__(self, slice_ns: int) -> None:
        self.slice = slice_ns

    def request(self, limit: float) -> int:
        """A limited VM's run quantum: slice // max(1, ceil(limit)) ns."""
        return self.slice // max(1, math.ceil(limit))

    def bind(self, a: LimitAccount, limit: float, t: int) -> None:
        """Start the bucket of a VM that becomes limited at t (or re-rate a bound one,
        whose credit was brought to t)."""
        was_bound = a.bound
        if not was_bound:
            a.credit_time = t  # runs already on a pCPU hold no grant
            a.granted = 0
            a.granted_end_sum = 0
        a.bound = True
        a.limit_u = math.floor(limit * MICRO)
        if not was_bound:
            # The credit one slice at the limit earns (0 for limit 0).
            a.credit = min(self.slice * MICRO, a.limit_u * self.slice)

    def room(self, vm_lag: int, vcpus: int) -> int:
        """The bucket's room for credit + unused grants: one slice, plus what the VM is
        behind its fluid share (its vCPUs' lag sum), up to its lag bound 2 x slice x vcpus
        (at most ROOM_EXTRA_MAX: the credit stays an int64 on the native twin)."""
        extra = min(2 * self.slice * vcpus * MICRO, ROOM_EXTRA_MAX, max(0, vm_lag))
        return self.slice * MICRO + extra

    def credit_at(self, a: LimitAccount, t: int, room: int) -> int:
        accrued = a.credit + a.limit_u * (t - a.credit_time)
        cap = room - MICRO * (a.granted_end_sum - a.granted * t)
        return min(accrued, cap)

    def bring_credit(self, a: LimitAccount, t: int, room: int) -> None:
        a.credit = self.credit_at(a, t, room)
        a.credit_time = t

    @staticmethod
    def grant(a: LimitAccount, length: int, run_end: int) -> None:
        a.credit -= length * MICRO
        a.granted += 1
        a.granted_end_sum += run_end

    @staticmethod
    def refund(a: LimitAccount, run_end: int, t: int) -> None:
        a.credit += (run_end - t) * MICRO
        a.granted -= 1
        a.granted_end_sum -= run_end

    def release_time(self, a: LimitAccount, request: int, t: int, room: int) -> int:
        """The first instant >= t with credit >= max(1, request // 4) * 10^6 (NEVER if none),
        with the room of t (credit brought to t)."""
        need = max(1, request // 4) * MICRO
        if a.credit >= need:
            return t
        if a.limit_u == 0:
            return NEVER
        until = t + _ceil_div(need - a.credit, a.limit_u)
        if a.granted > 0:
            # ... and the cap (the running grants' unused part) must have room for it.
            cap_time = _ceil_div(need - room + MICRO * a.granted_end_sum, MICRO * a.granted)
            until = max(until, cap_time)
        return min(NEVER, until)

    @staticmethod
    def held(a: LimitAccount, now: int) -> bool:
        return a.bound and a.held_until > now

    @staticmethod
    def held_end(a: LimitAccount) -> int:
        """A queued vCPU of this VM counts as limited before this time (-1: never)."""
        return a.held_until if a.bound else -1


class LimitRules:
    """The scheduler's side of rule 5 (a mixin of the reference CpuScheduler)."""

    _limits: LimitBucket
    _now: int
    _slice: int

    def _flush(self, v: Any, t: int) -> None:  # the scheduler's (rule 7)
        raise NotImplementedError

    def _apply_limit(self, record: Any) -> None:
        now = self._now
        b = record.bucket
        if record.limit < len(record.vcpus):
            if b.bound:
                self._update_credit(record, now)
            else:
                for v in record.vcpus:  # accounted up to now before the VM can be held
                    if v.state == QUEUED:
                        self._flush(v, now)
            self._limits.bind(b, record.limit, now)
            record.request = self._limits.request(record.limit)
            self._set_held_until(record, now)
        else:
            if b.bound:
                for v in record.vcpus:
                    if v.state == QUEUED:
                        self._flush(v, now)
                    v.granted = False
            b.bound = False
            record.request = self._slice
            b.held_until = -1

    def _vm_lag_at(self, record: Any, t: int) -> int:  # the scheduler's (rule 2)
        raise NotImplementedError

    def _update_credit(self, record: Any, t: int) -> None:
        """Account the VM's queued vCPUs up to t (by the old held_until), then bring its credit to t."""
        for v in record.vcpus:
            if v.state == QUEUED:
                self._flush(v, t)
        self._limits.bring_credit(record.bucket, t, self._limits.room(self._vm_lag_at(record, t), len(record.vcpus)))

    def _set_held_until(self, record: Any, t: int) -> None:
        room = self._limits.room(self._vm_lag_at(record, t), len(record.vcpus))
        record.bucket.held_until = self._limits.release_time(record.bucket, record.request, t, room)
