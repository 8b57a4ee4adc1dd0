"""Argument conversion for LRUK, shared by the native wrapper and the reference (imports no ``_core``).

Types, shapes and representability (int64, keys uint64) only; each implementation checks values itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_int64, as_int_vector

__all__ = ["as_keys", "check_lruk_args"]


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


def as_keys(keys: Any, name: str = "keys") -> np.ndarray:
    """`keys` as a contiguous 1-D uint64 array.

    TypeError unless it is an integer array (bool and float refused); ValueError
    if it is not 1-D or holds a value outside 0..2**64-1.
    """
    return as_int_vector(name, keys, unsigned=True)
