"""Argument *type/shape* conversion for CpuScheduler (native wrapper and reference).

Only types, shapes and representability (int64) are checked here; each
implementation checks values itself (ranges, unknown VMs, admission), so the
reference stays an independent oracle for the native checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_float, as_int64, as_int_vector, as_vector

# Work that never runs out: the vCPU is CPU-bound until clear_work().
FOREVER: int = 2**63 - 1


def optional_limit(value: Any) -> float:
    """None (no limit) -> inf; else a real number."""
    return float("inf") if value is None else as_float("limit", value)


# The exception for a value no VM / vCPU can have (docs/design.md, "Errors").
_OUT_OF_RANGE = {"vm": KeyError, "vms": KeyError, "vcpu": IndexError}


def int_batch(name: str, value: Any) -> np.ndarray | int:
    """An int scalar, or a 1-D integer array (int64), either within int64.

    Floats and bools are TypeError; outside int64: KeyError for VM ids,
    IndexError for vCPU indexes, ValueError otherwise.
    """
    error = _OUT_OF_RANGE.get(name, ValueError)
    if isinstance(value, (np.ndarray, list, tuple)):
        return as_int_vector(name, value, error)
    return as_int64(name, value, error)


def work_batch(vm: Any, vcpu: Any, work_ns: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast (vm, vcpu, work_ns) scalars/arrays to three equal-length int64 arrays."""
    parts = [int_batch("vm", vm), int_batch("vcpu", vcpu), int_batch("work_ns", work_ns)]
    lengths = {p.shape[0] for p in parts if isinstance(p, np.ndarray)}
    if len(lengths) > 1:
        raise ValueError(f"vm, vcpu and work_ns arrays differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    out = [p if isinstance(p, np.ndarray) else np.full(n, p, dtype=np.int64) for p in parts]
    return out[0], out[1], out[2]


def limit_batch(vms: Any, limits: Any) -> tuple[np.ndarray, np.ndarray]:
    """(vms, limits) as equal-length 1-D int64 and float64 arrays (inf = no limit)."""
    vm_array = int_batch("vms", vms)
    if not isinstance(vm_array, np.ndarray):
        raise TypeError(f"vms must be a 1-D integer array, got {type(vms).__name__}")
    limit_array = as_vector("limits", limits)
    if limit_array.shape[0] != vm_array.shape[0]:
        raise ValueError(f"limits has length {limit_array.shape[0]}, expected {vm_array.shape[0]} (the length of vms)")
    return vm_array, limit_array
