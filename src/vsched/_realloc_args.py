"""Argument conversion for Reallocator, shared by the native wrapper and the reference (imports no ``_core``).

Types and shapes only; each implementation checks values itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validate import as_float, as_int, as_real_array, as_vector

__all__ = [
    "VM_STATE_FORMAT",
    "VmState",
    "check_types",
    "check_vm_types",
    "usage_matrix",
    "usage_vector",
    "vm_key",
    "vm_state_args",
]

#: What ``export_vm`` returns and ``import_vm`` takes: plain data, the same for
#: both implementations (docs/engines/reallocator.md, "Moving a VM").
VmState = dict
VM_STATE_FORMAT = 1
_VM_STATE_KEYS = (
    "size",
    "shares",
    "reservation",
    "limit",
    "samples",
    "window_sum",
    "samples_seen",
    "window",
    "saturated",
    "estimator",
    "estimator_state",
)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _int64(name: str, value: Any, rule: str) -> int:
    """An int that fits the core's int64 (a larger one cannot be valid anyway)."""
    number = as_int(name, value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{name} = {number}: {name} must be {rule}")
    return number


def vm_key(value: Any) -> int:
    """A VM id: an int (TypeError otherwise); one outside int64 is on no host (KeyError)."""
    vm = as_int("vm", value)
    if not _INT64_MIN <= vm <= _INT64_MAX:
        raise KeyError(f"vm {vm} is not on this host")
    return vm


def _limit(value: Any) -> float | None:
    return None if value is None else as_float("limit", value)


def usage_vector(value: Any, n: int) -> np.ndarray:
    """One usage sample per VM: a numeric 1-D array of length `n` (types and shape only)."""
    array = as_real_array("usage", value)
    if array.ndim != 1:
        raise ValueError(f"usage must be 1-D, got shape {array.shape}")
    if array.shape[0] != n:
        raise ValueError(f"usage has length {array.shape[0]}, expected {n} (one sample per VM)")
    return np.ascontiguousarray(array, dtype=np.float64)


def usage_matrix(value: Any, n: int) -> np.ndarray:
    """A ticks x VMs numeric 2-D array with `n` columns (types and shape only)."""
    array = as_real_array("usage", value)
    if array.ndim != 2:
        raise ValueError(f"usage must be 2-D (ticks x VMs), got shape {array.shape}")
    if array.shape[1] != n:
        raise ValueError(f"usage has {array.shape[1]} columns, expected {n} (one per VM)")
    return np.ascontiguousarray(array, dtype=np.float64)


def check_types(
    capacity: Any, window: Any, threshold: Any, estimator: Any, percentile: Any, headroom: Any
) -> tuple:
    """Type checks of the constructor arguments, shared with the reference."""
    if not isinstance(estimator, str):
        raise TypeError(f"estimator must be a str, got {type(estimator).__name__}")
    return (
        as_float("capacity", capacity),
        _int64("window", window, "in [1, 1000000]"),
        as_float("threshold", threshold),
        estimator,
        as_float("percentile", percentile),
        as_float("headroom", headroom),
    )


def check_vm_types(
    size: Any, shares: Any, reservation: Any, limit: Any
) -> tuple[float, int, float, float | None]:
    """Type checks of a VM's parameters, shared with the reference."""
    return (
        as_float("size", size),
        _int64("shares", shares, "an integer in [1, 2**53]"),
        as_float("reservation", reservation),
        _limit(limit),
    )


def vm_state_args(state: Any) -> tuple:
    """The fields of an exported VM, type-checked, in ``_VM_STATE_KEYS`` order (shared with the reference).

    TypeError / ValueError naming the key; the values themselves are checked by each implementation.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict (from export_vm), got {type(state).__name__}")
    if state.get("vsched_vm") != VM_STATE_FORMAT:
        raise ValueError(
            f"not a vsched VM state of format {VM_STATE_FORMAT} (vsched_vm = {state.get('vsched_vm')!r})"
        )
    missing = [key for key in _VM_STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"VM state lacks {', '.join(missing)}")
    size, shares, reservation, limit = check_vm_types(
        state["size"], state["shares"], state["reservation"], state["limit"]
    )
    samples = as_vector("samples", state["samples"])
    window_sum = as_float("window_sum", state["window_sum"])
    samples_seen = as_int("samples_seen", state["samples_seen"])
    if not 0 <= samples_seen < 2**64:
        raise ValueError(f"samples_seen = {samples_seen}: it must be in [0, 2**64)")
    window = _int64("window", state["window"], "an integer >= 1")
    if not isinstance(state["saturated"], (bool, np.bool_)):
        raise TypeError(f"saturated must be a bool, got {type(state['saturated']).__name__}")
    if not isinstance(state["estimator"], str):
        raise TypeError(f"estimator must be a str, got {type(state['estimator']).__name__}")
    if not isinstance(state["estimator_state"], Mapping):
        raise TypeError(f"estimator_state must be a dict, got {type(state['estimator_state']).__name__}")
    fields: dict[str, list[float]] = {}
    for name, value in state["estimator_state"].items():
        if not isinstance(name, str):
            raise TypeError(f"estimator_state keys must be str, got {type(name).__name__}")
        if isinstance(value, (list, tuple, np.ndarray)):
            fields[name] = as_vector(f"estimator_state[{name!r}]", value).tolist()
        else:
            fields[name] = [as_float(f"estimator_state[{name!r}]", value)]
    return (
        size,
        shares,
        reservation,
        limit,
        samples,
        window_sum,
        samples_seen,
        window,
        bool(state["saturated"]),
        state["estimator"],
        fields,
    )
