"""Names and argument conversion shared by both MemoryManager implementations."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from ._validate import as_int
from .lruk import as_keys

__all__ = ["MERGE_MODES", "Outcome", "PageState", "as_content", "batch_args"]

MERGE_MODES = ("immediate", "scan", "off")


class Outcome(IntEnum):
    """What one guest page access did (the codes returned by ``MemoryManager.access``)."""

    HIT = 0  #: resident: a read, a write of the same content, or a private page rewritten in place
    FIRST_TOUCH = 1  #: the page had never been touched (a read maps content 0, the zero page)
    MAJOR_FAULT = 2  #: the page was swapped out: swapped back in (a write then overwrites it)
    COW_BREAK = 3  #: a write of new content to a shared or KSM-merged frame: the page got its own mapping
    MERGED = 4  #: immediate mode: a private page's new content already had a frame in the domain; joined it


class PageState(IntEnum):
    UNTOUCHED = 0
    RESIDENT = 1
    SWAPPED = 2


def as_content(value: Any) -> int:
    content = as_int("content", value)
    if not 0 <= content < 2**64:
        raise ValueError(f"content = {content}: content must be in 0..2**64-1")
    return content


def _int_vector(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype == np.uint64 and array.size and int(array.max()) >= 2**63:
        i = int(np.argmax(array))
        raise IndexError(f"{name}[{i}] = {int(array[i])}: out of range")
    return np.ascontiguousarray(array, dtype=np.int64)


def batch_args(vm: Any, gpn: Any, content: Any, write: Any) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Types and shapes of a batch: vm (int or int array of len(gpn)), gpn, content, write.

    Returns int64 vm (length 1 or n) and gpn arrays, uint64 content or None,
    bool write or None. Values (VM ids, page ranges) are checked by each
    implementation.
    """
    if np.ndim(vm) == 0:
        vm_a = np.array([as_int("vm", vm if not isinstance(vm, np.ndarray) else vm.item())], dtype=np.int64)
    else:
        vm_a = _int_vector("vm", vm)
    gpn_a = _int_vector("gpn", gpn)
    n = gpn_a.shape[0]
    if vm_a.shape[0] != n and np.ndim(vm) != 0:
        raise ValueError(f"vm has length {vm_a.shape[0]}, expected {n} (the length of gpn)")
    content_a = None
    if content is not None:
        content_a = as_keys(content, "content") if np.ndim(content) else None
        if content_a is None:
            raise ValueError("content must be an array of len(gpn) (one fingerprint per access)")
        if content_a.shape[0] != n:
            raise ValueError(f"content has length {content_a.shape[0]}, expected {n} (the length of gpn)")
    write_a = None
    if write is not None:
        if content_a is None:
            raise ValueError("write given without content")
        write_a = np.asarray(write)
        if write_a.dtype != np.bool_:
            raise TypeError(f"write must be a bool array, got dtype {write_a.dtype}")
        if write_a.ndim != 1 or write_a.shape[0] != n:
            raise ValueError(f"write has shape {write_a.shape}, expected ({n},) (the length of gpn)")
        write_a = np.ascontiguousarray(write_a)
    return vm_a, gpn_a, content_a, write_a
