"""Argument conversion for LRUK, shared by the native wrapper and the reference (imports no ``_core``).

Types, shapes and representability (int64, keys uint64) only; each implementation checks values itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_int64, as_int_vector

__all__ = ["as_keys", "check_lruk_args", "check_lruk_values"]


def check_lruk_args(
    capacity: Any, k: Any, crp: Any, rip: Any, history: Any
) -> tuple[int, int, int, int | None, int | None]:
    """Type conversion shared by both implementations (values are checked by each)."""
    return (
        as_int64("capacity", capacity),
        as_int64("k", k),
        as_int64("crp", crp),
        None if rip is None else as_int64("rip", rip),
        None if history is None else as_int64("history", history),
    )


def check_lruk_values(k: int, crp: int, rip: int | None, history: int | None) -> None:
    """LRU-K's value ranges as the native core checks them (docs/engines/memory.md): the
    reference twins and the key cache's shared checks raise the same ValueError."""
    if not 1 <= k <= 64:
        raise ValueError(f"k = {k}: k must be in 1..64")
    if crp < 0:
        raise ValueError(f"crp = {crp}: crp must be >= 0")
    if rip is not None and rip < 0:
        raise ValueError(f"rip = {rip}: rip must be >= 0 or None")
    if history is not None and history < 0:
        raise ValueError(f"history = {history}: history must be >= 0 or None")


def as_keys(keys: Any, name: str = "keys") -> np.ndarray:
    """`keys` as a contiguous 1-D uint64 array.

    TypeError unless it is an integer array (bool and float refused); ValueError
    if it is not 1-D or holds a value outside 0..2**64-1.
    """
    return as_int_vector(name, keys, unsigned=True)
