"""One CpuScheduler VM as plain data (``export_vm`` / ``import_vm``), shared by both twins.

What travels (docs/engines/scheduler.md, "Moving a VM"): the VM's parameters
and, per vCPU, its queued work and its accounting counters. What does not: the
EEVDF lag and keys, the limit bucket and the reservation account, which start
afresh at the destination as for a new VM. Checks the state's *shape and
types* (and that counters are non-negative and fit); the parameters are
checked by the destination's ``add_vm``. Imports no ``_core``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._sched_args import FOREVER
from ._validate import as_float, as_int

__all__ = ["COUNTERS", "VM_STATE_FORMAT", "vm_state", "vm_state_args"]

VM_STATE_FORMAT = 1
# Per-vCPU columns, in the order of the (vcpus x 6) array handed to the engines.
COUNTERS = ("run_ns", "ready_ns", "limited_ns", "wait_ns", "switches", "pending_ns")
_KEYS = {"vsched_vm", "vcpus", "shares", "reservation", "limit", *COUNTERS}
MAX_TIME = 2**61  # a vCPU's four time counters sum to at most this (the scheduler's clock range)
MAX_PENDING = 2**62  # finite queued work stays below this


def vm_state(vcpus: int, shares: int, reservation: float, limit: float, rows: Any) -> dict[str, Any]:
    """The exported state; rows[k] = the COUNTERS of vCPU k."""
    state: dict[str, Any] = {
        "vsched_vm": VM_STATE_FORMAT,
        "vcpus": int(vcpus),
        "shares": int(shares),
        "reservation": float(reservation),
        "limit": None if math.isinf(limit) else float(limit),
    }
    for c, name in enumerate(COUNTERS):
        state[name] = [int(row[c]) for row in rows]
    return state


def vm_state_args(state: Any) -> tuple[int, int, float, float, np.ndarray]:
    """(vcpus, shares, reservation, limit (inf = none), counters (vcpus x 6 int64)) of `state`.

    TypeError for a non-dict or wrongly typed field, ValueError for a missing
    or unknown field, another format, lists of the wrong length, negative
    counters or counters that do not fit.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from export_vm, got {type(state).__name__}")
    if set(state) != _KEYS:
        missing, extra = sorted(_KEYS - set(state)), sorted(set(state) - _KEYS)
        raise ValueError(f"state is not an exported CpuScheduler VM (missing {missing}, unknown {extra})")
    if state["vsched_vm"] != VM_STATE_FORMAT:
        raise ValueError(f"state format {state['vsched_vm']!r}; this vsched reads format {VM_STATE_FORMAT}")
    vcpus = as_int("vcpus", state["vcpus"])
    shares = as_int("shares", state["shares"])
    reservation = as_float("reservation", state["reservation"])
    limit = float("inf") if state["limit"] is None else as_float("limit", state["limit"])
    counters = np.zeros((max(vcpus, 0), len(COUNTERS)), dtype=np.int64)
    for c, name in enumerate(COUNTERS):
        column = state[name]
        if not isinstance(column, (list, tuple)):
            raise TypeError(f"{name} must be a list of integers, got {type(column).__name__}")
        if len(column) != vcpus:
            raise ValueError(f"{name} has {len(column)} entries, expected one per vCPU ({vcpus})")
        for k, value in enumerate(column):
            number = as_int(f"{name}[{k}]", value)
            if number < 0 or (number >= MAX_PENDING and not (name == "pending_ns" and number == FOREVER)):
                raise ValueError(f"{name}[{k}] = {number}: must be in [0, 2**62)" +
                                 (" or vsched.FOREVER" if name == "pending_ns" else ""))
            counters[k, c] = number
    if vcpus > 0 and int(counters[:, :4].sum(axis=1, dtype=object).max()) > MAX_TIME:
        raise ValueError("a vCPU's run_ns + ready_ns + limited_ns + wait_ns exceeds 2**61 ns")
    return vcpus, shares, reservation, limit, counters
