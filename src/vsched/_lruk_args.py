"""Argument conversion for LRUK, shared by the native wrapper and the reference (imports no ``_core``).

Types and shapes only; each implementation checks values itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_int

__all__ = ["as_keys", "check_lruk_args"]


def check_lruk_args(
    capacity: Any, k: Any, crp: Any, rip: Any, history: Any
) -> tuple[int, int, int, int | None, int | None]:
    """Type conversion shared by both implementations (values are checked by each)."""
    return (
        as_int("capacity", capacity),
        as_int("k", k),
        as_int("crp", crp),
        None if rip is None else as_int("rip", rip),
        None if history is None else as_int("history", history),
    )


def as_keys(keys: Any, name: str = "keys") -> np.ndarray:
    """`keys` as a contiguous 1-D uint64 array.

    TypeError unless it is an integer array (bool and float refused); ValueError
    if it is not 1-D or holds a negative value.
    """
    array = np.asarray(keys)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype.kind == "i" and array.size and int(array.min()) < 0:
        i = int(np.argmin(array))
        raise ValueError(f"{name}[{i}] = {int(array[i])}: {name} must be in 0..2**64-1")
    return np.ascontiguousarray(array, dtype=np.uint64)
