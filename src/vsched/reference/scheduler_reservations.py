"""Rule 6 of docs/engines/scheduler.md: reservation accounts, urgency, the urgent
pick and its victim.

Reference twin of ``csrc/include/vsched/scheduler/reservations.hpp`` and
``csrc/core/scheduler/reservations.cpp`` (micro-core-ns throughout):

  D = reserved service - received, dD/dt = res_u - running * 10^6,
      res_u = floor(min(r, demand) * 10^6) (0 while idle),  D >= -F,  F = max(1, slice // 2) * 10^6
  urgent while D >= 0 and running * 10^6 < res_u
  a reserved run lasts <= F / 10^6 ns and is protected for P = max(1, slice // 4) ns
  while an overdue vCPU (deadline <= now) of an unheld VM is queued, the EEVDF pick goes
      first; it is an urgent pick (it may preempt) if its VM is urgent
  while some VM has a reserved rate, a run that starts overdue at rate < 10^6 lasts
      <= max(P, (lag - request * 10^6) // (10^6 - rate) + 1) ns
  victim: the largest (VM has no reservation, -D, deadline, vm, vcpu) among unprotected
      runs of non-urgent VMs that did not start overdue (deadline <= run start)

The account is a `ReservationAccount` per VM (``vm.account``); `ReservationRules`
is the scheduler's side of the rule (mixed into the reference CpuScheduler). The
overdue exception and the bound are stated in the docs page.
"""

from __future__ import annotations

from typing import Any

MICRO = 1_000_000
LAG_MAX = 10**18

WAIT, QUEUED, RUNNING = 0, 1, 2  # the vCPU states of scheduler.py


class ReservationAccount:
    """One VM's reservation account: D (`lag`) as of `time`, at the reserved rate `res_u`."""

    __slots__ = ("lag", "res_u", "time")

    def __init__(self, now: int) -> None:
        self.res_u = 0  # micro-cores, set at each recompute
        self.lag = 0
        self.time = now


class ReservationAccounts:
    """The formulas of rule 6 over one `ReservationAccount` (`running`: the VM's vCPUs on a pCPU)."""

    def __init__(self, slice_ns: int) -> None:
        self.slice = slice_ns

    def floor(self) -> int:
        """F: how far ahead of its reservation a VM may count itself (half a slice)."""
        return max(1, self.slice // 2) * MICRO

    def protect(self) -> int:
        """P: a reserved run cannot be preempted by an urgent VM for this long (>= 1 ns)."""
        return max(1, self.slice // 4)

    @staticmethod
    def slope(a: ReservationAccount, running: int) -> int:
        return a.res_u - running * MICRO

    def lag_at(self, a: ReservationAccount, running: int, t: int) -> int:
        lag = a.lag + (a.res_u - running * MICRO) * (t - a.time)
        return min(LAG_MAX, max(lag, -self.floor()))

    def bring(self, a: ReservationAccount, running: int, t: int) -> None:
        a.lag = self.lag_at(a, running, t)
        a.time = t

    def urgent(self, a: ReservationAccount, running: int, now: int) -> bool:
        return running * MICRO < a.res_u and self.lag_at(a, running, now) >= 0

    @staticmethod
    def restart(a: ReservationAccount, t: int) -> None:
        """A new reservation starts a new account: neither owed nor ahead."""
        a.lag = 0
        a.time = t


class ReservationRules:
    """The scheduler's side of rule 6 (a mixin of the reference CpuScheduler)."""

    _res: ReservationAccounts
    _now: int
    _vms: dict[int, Any]

    def _any_reserved(self) -> bool:
        return any(record.account.res_u > 0 for record in self._vms.values())

    def _res_lag_at(self, record: Any, t: int) -> int:
        return self._res.lag_at(record.account, record.running, t)

    def _res_update(self, record: Any, t: int) -> None:
        self._res.bring(record.account, record.running, t)

    def _urgent(self, record: Any) -> bool:
        """Behind its reservation and running fewer vCPUs than its reserved rate needs."""
        return self._res.urgent(record.account, record.running, self._now)

    def _overdue_queued_exists(self) -> bool:
        """A queued vCPU of an unheld VM is a full request behind its fluid share (deadline <= now)."""
        now = self._now
        return any(
            v.state == QUEUED and v.deadline <= now
            for record in self._vms.values()
            if not (record.bucket.bound and record.bucket.held_until > now)
            for v in record.vcpus
        )

    def _urgency_victim(self) -> Any:
        """The running vCPU an urgent VM preempts (rule 6), or None: the largest (VM has
        no reservation, -reservation lag, deadline, vm, vcpu) among the runs of
        non-urgent VMs that are not reserved runs younger than the protection time
        and did not start overdue (deadline <= run start; a running vCPU keeps the
        keys of its dispatch). A run that started overdue is never a victim: its
        vCPU was a whole request behind its fluid share and may be unable to catch
        up (a whole core per vCPU never does).
        """
        now = self._now
        protect = self._res.protect()
        best = None
        best_key: tuple[int, int, int, int, int] | None = None
        for record in self._vms.values():
            if self._urgent(record):
                continue
            lag = self._res_lag_at(record, now)
            free = record.account.res_u == 0
            for u in record.vcpus:
                if u.state != RUNNING or (u.reserved and now < u.run_start + protect) or u.deadline <= u.run_start:
                    continue
                key = (int(free), 0 if free else -lag, u.deadline, record.id, u.index)
                if best_key is None or key > best_key:
                    best, best_key = u, key
        return best

    def _urgent_pick(self) -> Any:
        """The queued vCPU of an urgent, unheld VM smallest in (-reservation lag, vm,
        deadline, vcpu)."""
        now = self._now
        best_urgent: tuple[int, int, int, int] | None = None
        chosen_urgent = None
        for record in self._vms.values():
            if (record.bucket.bound and record.bucket.held_until > now) or not self._urgent(record):
                continue
            lag = self._res_lag_at(record, now)
            for v in record.vcpus:
                if v.state == QUEUED:
                    ukey = (-lag, record.id, v.deadline, v.index)
                    if best_urgent is None or ukey < best_urgent:
                        best_urgent, chosen_urgent = ukey, v
        return chosen_urgent
