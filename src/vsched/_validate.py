"""Argument conversion shared by the native wrappers and the reference engines.

Only *types, shapes and representability* are checked here (numeric dtype,
1-D, equal lengths, an integer that fits the engines' 64-bit fields, a number
that fits a float); each implementation checks *values* itself (ranges, unknown
VMs, admission), so the reference stays an independent oracle for the native
checks. Every error is one line that names the argument; the exception type
per kind of bad value is the table in docs/design.md, "Errors":

* wrong type (str, None, bool, complex, a float for an integer): TypeError;
* an integer outside int64 (uint64 for keys and contents), a number too
  large for a float, NaN, infinities, out-of-range values: ValueError;
* the same for a VM id: KeyError (no VM has it); for a vCPU or page index:
  IndexError (no VM has that many).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

_NUMERIC_KINDS = "iuf"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def shown(number: int) -> str:
    """An integer for an error message: in full up to 24 digits, else its magnitude (one short line)."""
    text = str(number)
    if len(text) <= 24:
        return text
    return f"{'-' if number < 0 else ''}(an integer of {abs(number).bit_length()} bits)"


def _out_of_range(name: str, number: int, error: type[Exception], bounds: str) -> Exception:
    if error is KeyError:
        return KeyError(f"{name} = {shown(number)}: no such VM (ids are {bounds})")
    if error is IndexError:
        return IndexError(f"{name} = {shown(number)}: out of range (indexes are {bounds})")
    return error(f"{name} = {shown(number)}: {name} must be {bounds}")


def as_int(name: str, value: Any) -> int:
    """An integer (not bool, not float); TypeError otherwise. Any size: see as_int64."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


def as_int64(name: str, value: Any, error: type[Exception] = ValueError) -> int:
    """An integer that fits int64: TypeError if not an integer, else `error` if outside.

    `error` is ValueError for a parameter, KeyError for a VM id, IndexError for
    a vCPU or page index (docs/design.md, "Errors").
    """
    number = as_int(name, value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise _out_of_range(name, number, error, "in the int64 range")
    return number


def as_float(name: str, value: Any) -> float:
    """A real number (int or float, not bool); TypeError otherwise, ValueError if too large for a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} = {shown(int(value))}: too large for a float") from None


def _as_array(name: str, value: Any) -> np.ndarray:
    """np.asarray with numpy's own errors (ragged lists, ints too large) turned into one line naming `name`."""
    try:
        return np.asarray(value)
    except OverflowError:
        raise ValueError(f"{name} holds a number too large for a float") from None
    except ValueError:
        raise ValueError(f"{name} must be a 1-D array, got a ragged sequence") from None


def _is_integer(item: Any) -> bool:
    return isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))


def _is_real(item: Any) -> bool:
    return _is_integer(item) or isinstance(item, (float, np.floating))


def as_real_array(name: str, value: Any) -> np.ndarray:
    """`value` as a numeric array of any shape (not copied when it already is one).

    TypeError if it is not numeric (bool, str, object, complex are refused);
    ValueError naming the element if one is an integer too large for a float.
    """
    array = _as_array(name, value)
    if array.dtype == object and array.size and all(_is_real(item) for item in array.flat):
        # Python ints beyond 64 bits make numpy fall back to dtype object.
        flat = [as_float(f"{name}[{i}]", item) for i, item in enumerate(array.flat)]
        array = np.array(flat, dtype=np.float64).reshape(array.shape)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    return array


def as_vector(name: str, value: Any, length: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Return `value` as a fresh-or-borrowed contiguous 1-D array of `dtype`.

    TypeError if it is not numeric (bool, str, object, complex are refused);
    ValueError if it is not 1-D, if its length differs from `length`, or if an
    element is an integer too large for a float. The input is never modified.
    """
    array = as_real_array(name, value)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} has length {array.shape[0]}, expected {length} (the length of demand)")
    return np.ascontiguousarray(array, dtype=dtype)


def as_int_vector(
    name: str,
    value: Any,
    error: type[Exception] = ValueError,
    unsigned: bool = False,
) -> np.ndarray:
    """`value` as a contiguous 1-D int64 array (uint64 with `unsigned`).

    TypeError unless it holds integers (bool and float refused; an empty list
    is an empty integer array); ValueError if it is not 1-D; `error` (see
    as_int64) naming the first element outside int64 (outside 0..2**64-1 with
    `unsigned`).
    """
    array = _as_array(name, value)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)  # an empty list has dtype float
    if array.dtype == object and array.ndim == 1 and all(_is_integer(item) for item in array):
        items = [int(item) for item in array]  # Python ints beyond 64 bits
    elif array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
    elif array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    else:
        items = None
    low, high, dtype = (0, UINT64_MAX, np.uint64) if unsigned else (INT64_MIN, INT64_MAX, np.int64)
    bounds = "in 0..2**64-1" if unsigned else "in the int64 range"
    if items is not None:
        for i, item in enumerate(items):
            if not low <= item <= high:
                raise _out_of_range(f"{name}[{i}]", item, error, bounds)
        return np.array(items, dtype=dtype)
    if array.size:
        if unsigned and array.dtype.kind == "i" and int(array.min()) < 0:
            i = int(np.argmin(array))
            raise _out_of_range(f"{name}[{i}]", int(array[i]), error, bounds)
        if not unsigned and array.dtype == np.uint64 and int(array.max()) > INT64_MAX:
            i = int(np.argmax(array))
            raise _out_of_range(f"{name}[{i}]", int(array[i]), error, bounds)
    return np.ascontiguousarray(array, dtype=dtype)
