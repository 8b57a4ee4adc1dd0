"""Argument *type/shape* conversion for CpuScheduler (native wrapper and reference).

Only types and shapes are checked here; each implementation checks values
itself (ranges, unknown VMs, admission), so the reference stays an independent
oracle for the native checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_float, as_int, as_vector

# Work that never runs out: the vCPU is CPU-bound until clear_work().
FOREVER: int = 2**63 - 1


def optional_limit(value: Any) -> float:
    """None (no limit) -> inf; else a real number."""
    return float("inf") if value is None else as_float("limit", value)


def int_batch(name: str, value: Any) -> np.ndarray | int:
    """An int scalar, or a 1-D integer array (int64). Floats and bools are TypeError."""
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int64)  # an empty list has dtype float
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
        if array.dtype.kind == "u" and array.size and int(array.max()) > FOREVER:
            raise ValueError(f"{name} = {int(array.max())}: exceeds the int64 range")
        return np.ascontiguousarray(array, dtype=np.int64)
    return as_int(name, value)


def work_batch(vm: Any, vcpu: Any, work_ns: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast (vm, vcpu, work_ns) scalars/arrays to three equal-length int64 arrays."""
    parts = [int_batch("vm", vm), int_batch("vcpu", vcpu), int_batch("work_ns", work_ns)]
    lengths = {p.shape[0] for p in parts if isinstance(p, np.ndarray)}
    if len(lengths) > 1:
        raise ValueError(f"vm, vcpu and work_ns arrays differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    out = []
    for p in parts:
        if isinstance(p, np.ndarray):
            out.append(p)
        else:
            if not -(2**63) <= p < 2**63:
                raise ValueError(f"value {p} exceeds the int64 range")
            out.append(np.full(n, p, dtype=np.int64))
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
