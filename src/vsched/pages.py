"""Names and argument conversion shared by both MemoryManager implementations."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from ._validate import as_int, as_int64, as_int_vector
from ._lruk_args import as_keys

__all__ = [
    "MEMORY_POLICIES",
    "MERGE_MODES",
    "VM_COUNTERS",
    "VM_STATE_FORMAT",
    "Outcome",
    "PageState",
    "as_content",
    "batch_args",
    "check_manager_args",
    "check_memory_policy",
    "vm_state_args",
]

MERGE_MODES = ("immediate", "scan", "off")

# export_vm / import_vm: the plain-data schema's version and its counters.
VM_STATE_FORMAT = 1
VM_COUNTERS = ("major_faults", "cow_breaks", "first_touches", "dirtied")


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


def batch_args(vm: Any, gpn: Any, content: Any, write: Any) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Types and shapes of a batch: vm (int or int array of len(gpn)), gpn, content, write.

    Returns int64 vm (length 1 or n) and gpn arrays, uint64 content or None,
    bool write or None. Values (VM ids, page ranges) are checked by each
    implementation.
    """
    if np.ndim(vm) == 0:
        scalar = vm if not isinstance(vm, np.ndarray) else vm.item()
        vm_a = np.array([as_int64("vm", scalar, KeyError)], dtype=np.int64)
    else:
        vm_a = as_int_vector("vm", vm, KeyError)
    gpn_a = as_int_vector("gpn", gpn, IndexError)
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


def vm_state_args(state: Any, domain: Any) -> tuple[int, np.ndarray, np.ndarray, tuple[int, ...]]:
    """Types and shapes of an ``import_vm`` state (the dict ``export_vm`` returns).

    Returns (domain, uint8 states, uint64 contents, counters in VM_COUNTERS
    order). TypeError / ValueError naming the field; page states and contents
    are checked by each implementation.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from export_vm, got {type(state).__name__}")
    missing = [
        key for key in ("format", "pages", "domain", "state", "content", "counters") if key not in state
    ]
    if missing:
        raise ValueError(f"state lacks {', '.join(missing)} (not an export_vm result)")
    if state["format"] != VM_STATE_FORMAT:
        raise ValueError(f"state format {state['format']!r}; this vsched reads format {VM_STATE_FORMAT}")
    pages = as_int64("pages", state["pages"])
    domain = as_int64("domain", state["domain"] if domain is None else domain)
    states = np.asarray(state["state"])
    contents = np.asarray(state["content"])
    if states.dtype.kind not in "iu" or contents.dtype.kind not in "iu":
        raise TypeError("state and content must be integer arrays")
    if states.ndim != 1 or contents.ndim != 1 or states.shape[0] != pages or contents.shape[0] != pages:
        raise ValueError(f"state and content must be 1-D of length pages = {pages}")
    if states.size and (int(states.min()) < 0 or int(states.max()) > 2):
        raise ValueError("state values must be 0 (untouched), 1 (resident) or 2 (swapped)")
    if contents.size and contents.dtype.kind == "i" and int(contents.min()) < 0:
        raise ValueError("content must be in 0..2**64-1")
    counters = state["counters"]
    if not isinstance(counters, dict) or set(counters) != set(VM_COUNTERS):
        raise ValueError(f"counters must be a dict of {', '.join(VM_COUNTERS)}")
    values = tuple(as_int(f"counters[{name!r}]", counters[name]) for name in VM_COUNTERS)
    for name, value in zip(VM_COUNTERS, values):
        if not 0 <= value < 2**64:
            raise ValueError(f"counters[{name!r}] = {value}: must be in 0..2**64-1")
    return (
        domain,
        np.ascontiguousarray(states, dtype=np.uint8),
        np.ascontiguousarray(contents, dtype=np.uint64),
        values,
    )


# Frame eviction policies of MemoryManager (rule M4). ARC and LIRS remember evicted keys; keyed by
# frame numbers, which are reused for unrelated content, that memory would be meaningless.
MEMORY_POLICIES = ("lruk", "lru", "clock")


def check_memory_policy(policy: Any, bits: Any, k: int, crp: int, rip: Any, history: Any) -> tuple[str, int]:
    """(policy, bits) of a MemoryManager; TypeError / ValueError naming the argument."""
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a str, got {type(policy).__name__}")
    if policy not in MEMORY_POLICIES:
        raise ValueError(f"policy = {policy!r}: policy must be one of {', '.join(MEMORY_POLICIES)}")
    bits = as_int64("bits", bits)
    if policy == "clock":
        if not 1 <= bits <= 8:
            raise ValueError(f"bits = {bits}: bits must be in 1..8")
    elif bits != 1:
        raise ValueError(f"bits = {bits}: bits is an argument of policy 'clock' only")
    if policy != "lruk" and (k != 2 or crp != 0 or rip is not None or history is not None):
        raise ValueError(f"policy = {policy!r}: k, crp, rip and history are arguments of policy 'lruk' only")
    return policy, bits


def check_manager_args(
    frames: Any, k: Any, crp: Any, rip: Any, history: Any, merge: Any
) -> tuple[int, int, int, int | None, int | None, str]:
    if not isinstance(merge, str):
        raise TypeError(f"merge must be a str, got {type(merge).__name__}")
    return (
        as_int64("frames", frames),
        as_int64("k", k),
        as_int64("crp", crp),
        None if rip is None else as_int64("rip", rip),
        None if history is None else as_int64("history", history),
        merge,
    )
