"""Short reprs shared by both twins (so native and reference objects read alike).

A repr never raises and stays one short line whatever the size of the object:
parameters, then counts.
"""

from __future__ import annotations

from typing import Any, Callable


def _counts(read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception:  # a repr must not raise (e.g. the object is busy in another thread)
        return "busy"


def scheduler_repr(scheduler: Any, vms: Callable[[], int]) -> str:
    counts = _counts(lambda: f"{vms()} VMs, now {scheduler.now} ns, {scheduler.decisions} decisions")
    return (
        f"CpuScheduler(pcpus={scheduler.pcpus}, slice_ns={scheduler.slice_ns}, "
        f"strict_reservations={scheduler.strict_reservations}; {counts})"
    )


def memory_repr(memory: Any, vms: Callable[[], int], frames_used: Callable[[], int]) -> str:
    counts = _counts(lambda: f"{vms()} VMs, {frames_used()} of {memory.frames} frames used")
    policy = getattr(memory, "policy", "lruk")
    shown = f"k={memory.k}" if policy == "lruk" else f"policy={policy!r}"
    return f"MemoryManager(frames={memory.frames}, {shown}, merge={memory.merge!r}; {counts})"
