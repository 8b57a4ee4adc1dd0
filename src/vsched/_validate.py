"""Argument conversion shared by the native wrappers and the reference engines.

Only *types and shapes* are checked here (numeric dtype, 1-D, equal lengths);
each implementation checks *values* itself, so the reference stays an
independent oracle for the native checks.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

_NUMERIC_KINDS = "iuf"


def as_vector(name: str, value: Any, length: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Return `value` as a fresh-or-borrowed contiguous 1-D array of `dtype`.

    TypeError if it is not numeric (bool, str, object, complex are refused);
    ValueError if it is not 1-D or its length differs from `length`. The input
    is never modified.
    """
    array = np.asarray(value)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} has length {array.shape[0]}, expected {length} (the length of demand)")
    return np.ascontiguousarray(array, dtype=dtype)


def as_float(name: str, value: Any) -> float:
    """A real number (int or float, not bool); TypeError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def as_int(name: str, value: Any) -> int:
    """An integer (not bool, not float); TypeError otherwise."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
