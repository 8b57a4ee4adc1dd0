"""Pure-Python memory manager: the oracle for :class:`vsched.MemoryManager`.

Same rules (docs/engines/memory.md, M1-M12), written the plain way: every
frame keeps the set of its mappers and eviction swaps them out one by one;
the LRU-K victim is found by a scan (shared with the LRUK reference). Live
VMs are a dict by id; per-VM counters change with each page's state, so
``stats()`` costs O(live VMs) here too.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._repr import memory_repr
from .._state import Checkpointable
from .._validate import as_int64
from ..errors import AdmissionError
from .._lruk_args import check_lruk_values
from ..pages import check_manager_args, check_memory_policy
from ..pages import (
    MERGE_MODES,
    VM_COUNTERS,
    VM_STATE_FORMAT,
    Outcome,
    PageState,
    as_content,
    batch_args,
    vm_state_args,
)
from .eviction import POLICIES as _POLICIES
from .lruk import choose_victim, reference_resident

__all__ = ["MemoryManager", "Outcome", "PageState"]

HIT, FIRST_TOUCH, MAJOR_FAULT, COW_BREAK, MERGED = (int(o) for o in Outcome)
UNTOUCHED, RESIDENT, SWAPPED = (int(s) for s in PageState)


@dataclass
class _Frame:
    domain: int
    content: int
    serial: int  # unique per allocation: tells a reused frame from the one a candidate saw
    mappers: set[tuple[int, int]] = field(default_factory=set)
    stable: bool = False


@dataclass
class _Vm:
    domain: int
    state: list[int]
    content: list[int]
    frame: list[int]
    resident: int = 0  # pages in each state now (shared: resident on a frame with >= 2 mappers)
    shared: int = 0
    swapped: int = 0
    major_faults: int = 0  # events
    cow_breaks: int = 0
    first_touches: int = 0
    dirtied: int = 0
    seen: dict[int, int] = field(default_factory=dict)  # gpn -> content at its previous scan visit
    volatile: set[int] = field(default_factory=set)


# Layout of the reference's checkpoint payload; bump when its fields change.
_LAYOUT = 1
_MAX_FRAMES = 2**32 - 3  # frame numbers below the native page record's two markers
_MAX_PAGES = 2**32 - 2  # guest pages of live VMs in all (the native page index is 32-bit)
_TOTALS = (
    "hits",
    "first_touches",
    "major_faults",
    "cow_breaks",
    "merges",
    "evictions",
    "full_scans",
    "dirtied",
    "imported",
)


class MemoryManager(Checkpointable):
    """Reference twin of :class:`vsched.MemoryManager` (same arguments, results, errors)."""

    IMPLEMENTATION = "reference"
    _implementation = "reference"

    def __init__(
        self,
        frames: int,
        k: int = 2,
        crp: int = 0,
        rip: int | None = None,
        history: int | None = None,
        merge: str = "immediate",
        *,
        policy: str = "lruk",
        bits: int = 1,
    ) -> None:
        frames, k, crp, rip, history, merge = check_manager_args(frames, k, crp, rip, history, merge)
        policy, bits = check_memory_policy(policy, bits, k, crp, rip, history)
        if not 1 <= frames <= _MAX_FRAMES:
            raise ValueError(f"frames = {frames}: frames must be in 1..{_MAX_FRAMES}")
        check_lruk_values(k, crp, rip, history)
        if merge not in MERGE_MODES:
            raise ValueError(f"merge = {merge!r}: expected 'immediate', 'scan' or 'off'")
        self.frames, self.k, self.crp, self.merge = frames, k, crp, merge
        self.rip, self.history = rip, history
        self.policy, self.bits = policy, bits
        # M4: LRU-K over frames (the records below), or another policy keyed by frame number
        self._policy = None if policy == "lruk" else _POLICIES[policy](frames, **({"bits": bits} if policy == "clock" else {}))
        self._retained: dict[tuple[int, int], tuple[list[int], int]] = {}  # (domain, content) -> (HIST, LAST)
        self._time = 0
        self._serial = 0
        self._frames: dict[int, _Frame] = {}  # frames in use
        self._free: list[int] = []
        self._next_unused = 0
        self._hist: dict[int, list[int]] = {}  # LRU-K records of frames in use
        self._last: dict[int, int] = {}
        self._index: dict[tuple[int, int], int] = {}  # immediate: every frame; scan: stable frames
        self._unstable: dict[tuple[int, int], tuple[int, int]] = {}  # (domain, content) -> (frame, serial)
        self._vms: dict[int, _Vm] = {}  # live VMs by id (insertion order = id order)
        self._next_id = 0
        self._cursor = (0, 0)  # the scanner's next (vm id, gpn)
        self._count = dict.fromkeys(_TOTALS, 0)
        self._resident = self._swapped = self._shared_frames = self._live_pages = 0

    # -- VMs -------------------------------------------------------------------
    def add_vm(self, pages: int, domain: int = 0) -> int:
        pages, domain = as_int64("pages", pages), as_int64("domain", domain)
        if pages < 0:
            raise ValueError(f"pages = {pages}: pages must be >= 0")
        if domain < 0:
            raise ValueError(f"domain = {domain}: domain must be >= 0")
        self._check_room(pages)
        return self._new_vm(pages, domain)

    def _check_room(self, pages: int) -> None:
        if pages > _MAX_PAGES - self._live_pages:
            raise AdmissionError(
                f"pages = {pages}: live VMs would hold more than {_MAX_PAGES} guest pages in all "
                f"({self._live_pages} now)"
            )

    def _new_vm(self, pages: int, domain: int) -> int:
        vm = self._next_id
        self._next_id += 1
        self._vms[vm] = _Vm(domain, [UNTOUCHED] * pages, [0] * pages, [-1] * pages)
        self._live_pages += pages
        return vm

    def _vm(self, vm: int, name: str = "vm") -> _Vm:
        v = self._vms.get(vm)
        if v is None:
            raise KeyError(f"{name} = {vm}: no such VM")
        return v

    def remove_vm(self, vm: int) -> None:
        vm = as_int64("vm", vm, KeyError)
        v = self._vm(vm)
        for gpn in range(len(v.state)):
            if v.state[gpn] == RESIDENT:
                self._unmap(vm, gpn)
        self._swapped -= v.swapped
        self._live_pages -= len(v.state)
        del self._vms[vm]

    # -- frames ----------------------------------------------------------------
    def _unmap(self, vm: int, gpn: int) -> None:
        v = self._vms[vm]
        f = v.frame[gpn]
        frame = self._frames[f]
        if len(frame.mappers) == 2:  # the one left stops being shared
            for other_vm, _ in frame.mappers:
                self._vms[other_vm].shared -= 1
            self._shared_frames -= 1
        elif len(frame.mappers) > 2:
            v.shared -= 1
        frame.mappers.remove((vm, gpn))
        v.resident -= 1
        self._resident -= 1
        v.state[gpn], v.frame[gpn] = SWAPPED, -1  # the caller sets the final state
        if not frame.mappers:
            if self._policy is not None:
                self._policy.remove(f)
            else:
                del self._hist[f], self._last[f]
            self._free_frame(f)

    def _free_frame(self, f: int) -> None:
        frame = self._frames.pop(f)
        if self._index.get((frame.domain, frame.content)) == f:
            del self._index[(frame.domain, frame.content)]
        self._free.append(f)

    def _join(self, vm: int, gpn: int, f: int) -> None:
        v = self._vms[vm]
        v.state[gpn], v.frame[gpn] = RESIDENT, f
        mappers = self._frames[f].mappers
        mappers.add((vm, gpn))
        v.resident += 1
        self._resident += 1
        if len(mappers) == 2:  # both become shared
            for other_vm, _ in mappers:
                self._vms[other_vm].shared += 1
            self._shared_frames += 1
        elif len(mappers) > 2:
            v.shared += 1

    def _touch(self, f: int, t: int) -> None:  # an LRU-K reference to a frame in use
        if self._policy is not None:
            self._policy.access(f)
            return
        reference_resident(self._hist[f], self._last[f], t, self.crp)
        self._last[f] = t

    def _allocate(self, domain: int, content: int, t: int) -> int:
        taken = self._retained.pop((domain, content), None)  # its own history first
        if len(self._frames) == self.frames:
            self._evict(t)
        if self._free:
            f = self._free.pop()
        else:
            f = self._next_unused
            self._next_unused += 1
        self._serial += 1
        self._frames[f] = _Frame(domain, content, self._serial)
        if self._policy is not None:
            self._policy.access(f)  # a miss: the frame was free
            self._policy.admit(f)
            if self.merge == "immediate":
                self._index[(domain, content)] = f
            return f
        # retained history shifted by one, else fresh; HIST(1) = LAST = t
        self._hist[f] = [t] + (taken[0][:-1] if taken else [0] * (self.k - 1))
        self._last[f] = t
        if self.merge == "immediate":
            self._index[(domain, content)] = f
        return f

    def _evict(self, t: int) -> _Frame:
        """Evict the LRU-K victim at time t: every mapper swaps out (rule M3); returns the frame."""
        if self._policy is not None:
            victim = self._policy.evict()
        else:
            victim = choose_victim(self._frames.keys(), self._hist, self._last, t, self.crp)
        old = self._frames[victim]
        shared = len(old.mappers) >= 2
        for vm, gpn in sorted(old.mappers):
            v = self._vms[vm]
            v.state[gpn], v.frame[gpn] = SWAPPED, -1
            v.resident -= 1
            v.swapped += 1
            v.shared -= 1 if shared else 0
        self._resident -= len(old.mappers)
        self._swapped += len(old.mappers)
        self._shared_frames -= 1 if shared else 0
        old.mappers.clear()
        key = (old.domain, old.content)
        if self._policy is not None:  # no history to retain
            self._free_frame(victim)
            self._count["evictions"] += 1
            return old
        if key not in self._retained or self._retained[key][1] < self._last[victim]:
            self._retained[key] = (self._hist[victim], self._last[victim])
        if self.history is not None:
            while len(self._retained) > self.history:
                oldest = min(self._retained, key=lambda q: self._retained[q][1])
                del self._retained[oldest]
        del self._hist[victim], self._last[victim]
        self._free_frame(victim)
        self._count["evictions"] += 1
        return old

    def _fault_in(self, vm: int, gpn: int, t: int) -> None:
        v = self._vms[vm]
        key = (v.domain, v.content[gpn])
        if self.merge == "immediate" and key in self._index:
            f = self._index[key]
            self._join(vm, gpn, f)
            self._touch(f, t)
            return
        self._join(vm, gpn, self._allocate(v.domain, v.content[gpn], t))

    def _forget_expired(self, t: int) -> None:
        if self.rip is not None:  # forget expired retained history
            for key in [q for q, (_, last) in self._retained.items() if t - last > self.rip]:
                del self._retained[key]

    # -- accesses ----------------------------------------------------------------
    def _run(self, vm: int, gpn: int, write: bool, content: int) -> int:
        self._time += 1
        t = self._time
        self._forget_expired(t)
        v = self._vms[vm]
        state = v.state[gpn]
        if state == RESIDENT:
            f = v.frame[gpn]
            frame = self._frames[f]
            if not write or frame.content == content:
                self._count["hits"] += 1
                self._touch(f, t)
                return HIT
            v.dirtied += 1  # rule M9: new content written
            self._count["dirtied"] += 1
            if len(frame.mappers) > 1 or frame.stable:
                self._count["cow_breaks"] += 1
                v.cow_breaks += 1
                self._unmap(vm, gpn)
                v.content[gpn] = content
                self._fault_in(vm, gpn, t)
                return COW_BREAK
            if self.merge == "immediate" and (v.domain, content) in self._index:
                self._count["merges"] += 1
                g = self._index[(v.domain, content)]
                self._unmap(vm, gpn)
                v.content[gpn] = content
                self._join(vm, gpn, g)
                self._touch(g, t)
                return MERGED
            if self.merge == "immediate":
                del self._index[(frame.domain, frame.content)]
                self._index[(frame.domain, content)] = f
            frame.content = content
            v.content[gpn] = content
            self._count["hits"] += 1
            self._touch(f, t)
            return HIT
        if state == UNTOUCHED:
            self._count["first_touches"] += 1
            v.first_touches += 1
            if write:  # rule M9: first touched by a write
                v.dirtied += 1
                self._count["dirtied"] += 1
            v.content[gpn] = content if write else 0
            self._fault_in(vm, gpn, t)
            return FIRST_TOUCH
        self._count["major_faults"] += 1
        v.major_faults += 1
        v.swapped -= 1
        self._swapped -= 1
        if write and v.content[gpn] != content:
            v.dirtied += 1
            self._count["dirtied"] += 1
            v.content[gpn] = content
        self._fault_in(vm, gpn, t)
        return MAJOR_FAULT

    def _check_page(self, vm: int, gpn: int, vm_name: str, gpn_name: str) -> None:
        v = self._vm(vm, vm_name)
        if not 0 <= gpn < len(v.state):
            raise IndexError(f"{gpn_name} = {gpn}: VM {vm} has {len(v.state)} pages (gpn 0..{len(v.state)})")

    def read(self, vm: int, gpn: int) -> Outcome:
        vm, gpn = as_int64("vm", vm, KeyError), as_int64("gpn", gpn, IndexError)
        self._check_page(vm, gpn, "vm", "gpn")
        return Outcome(self._run(vm, gpn, False, 0))

    def write(self, vm: int, gpn: int, content: int) -> Outcome:
        content = as_content(content)
        vm, gpn = as_int64("vm", vm, KeyError), as_int64("gpn", gpn, IndexError)
        self._check_page(vm, gpn, "vm", "gpn")
        return Outcome(self._run(vm, gpn, True, content))

    def access(self, vm: Any, gpn: Any, content: Any = None, write: Any = None) -> np.ndarray:
        vm_a, gpn_a, content_a, write_a = batch_args(vm, gpn, content, write)
        n = len(gpn_a)
        vms = vm_a.tolist() * n if len(vm_a) == 1 and n != 1 else vm_a.tolist()
        gpns = gpn_a.tolist()
        for i in range(n):  # validate everything first
            self._check_page(vms[i], gpns[i], "vm" if len(vm_a) == 1 else f"vm[{i}]", f"gpn[{i}]")
        out = np.empty(n, dtype=np.int8)
        contents = content_a.tolist() if content_a is not None else None
        writes = write_a.tolist() if write_a is not None else None
        for i in range(n):
            is_write = contents is not None and (writes is None or writes[i])
            out[i] = self._run(vms[i], gpns[i], is_write, contents[i] if is_write else 0)  # type: ignore[index]
        return out

    # -- KSM-like scanner -----------------------------------------------------------
    def scan(self, pages: int) -> None:
        pages = as_int64("pages", pages)
        if self.merge != "scan":
            raise ValueError("scan() needs merge='scan'")
        if pages < 0:
            raise ValueError(f"pages = {pages}: pages must be >= 0")
        if self._live_pages == 0:
            return
        ids = list(self._vms)  # live VMs in id order
        vm, gpn = self._cursor
        at = bisect.bisect_left(ids, vm)
        if at == len(ids) or ids[at] != vm:  # the cursor's VM is gone: next VM, from gpn 0
            gpn = 0
        # M6, cost bounded: once a whole pass that followed a whole pass of this
        # call merged nothing and cleared no volatile mark, every later pass
        # repeats it; all but the last whole pass are skipped (only full_scans moves).
        wraps, marks_at_wrap = 0, (-1, -1)
        done = 0
        try:
            while done < pages:
                while at >= len(ids) or gpn >= len(self._vms[ids[at]].state):
                    if at >= len(ids):  # a full scan is complete
                        marks = (self._count["merges"], sum(len(v.volatile) for v in self._vms.values()))
                        if wraps >= 2 and marks == marks_at_wrap:
                            skip = (pages - done) // self._live_pages - 1
                            if skip > 0:
                                self._count["full_scans"] += skip
                                done += skip * self._live_pages
                        wraps, marks_at_wrap = wraps + 1, marks
                        at = 0
                        self._count["full_scans"] += 1
                        self._unstable.clear()
                    else:
                        at += 1
                    gpn = 0
                self._visit(ids[at], gpn)
                gpn += 1
                done += 1
        finally:  # also on Ctrl-C: the visits done so far stand
            self._cursor = (ids[at] if at < len(ids) else self._next_id, gpn)

    def _visit(self, vm: int, gpn: int) -> None:
        v = self._vms[vm]
        if v.state[gpn] != RESIDENT:
            v.seen.pop(gpn, None)
            v.volatile.discard(gpn)
            return
        f = v.frame[gpn]
        content = v.content[gpn]
        previous = v.seen.get(gpn)
        v.seen[gpn] = content
        if self._frames[f].stable:
            v.volatile.discard(gpn)
            return
        if previous is None:
            return
        if previous != content:
            v.volatile.add(gpn)
            return
        v.volatile.discard(gpn)
        key = (v.domain, content)
        if key in self._index:  # a stable frame holds it
            self._count["merges"] += 1
            g = self._index[key]
            self._unmap(vm, gpn)
            self._join(vm, gpn, g)
            return
        candidate = self._unstable.get(key)
        if candidate is not None:
            h, serial = candidate
            other = self._frames.get(h)
            if (
                h != f
                and other is not None
                and other.serial == serial
                and not other.stable
                and other.content == content
                and other.domain == v.domain
            ):
                del self._unstable[key]
                other.stable = True
                self._index[key] = h
                self._count["merges"] += 1
                self._unmap(vm, gpn)
                self._join(vm, gpn, h)
                return
        self._unstable[key] = (f, self._frames[f].serial)

    # -- inspection -------------------------------------------------------------------
    def __repr__(self) -> str:
        return memory_repr(self, lambda: len(self._vms), lambda: len(self._frames))

    def stats(self) -> dict[str, Any]:
        used = len(self._frames)
        resident = self._resident
        out: dict[str, Any] = {
            "frames": self.frames,
            "frames_used": used,
            "pages_resident": resident,
            "pages_shared": self._shared_frames,
            "pages_sharing": resident - used,
            "pages_swapped": self._swapped,
            "pages_volatile": sum(len(v.volatile) for v in self._vms.values()),
            **{name: self._count[name] for name in _TOTALS},
            "time": self._time,
            "retained": len(self._retained),
            "saving": 0.0 if resident == 0 else (resident - used) / resident,
            "vm": np.array(list(self._vms), dtype=np.int64),
        }
        for name in (
            "resident",
            "shared",
            "swapped",
            "major_faults",
            "cow_breaks",
            "first_touches",
            "dirtied",
        ):
            out[f"vm_{name}"] = np.array([getattr(v, name) for v in self._vms.values()], dtype=np.uint64)
        return out

    # -- export / import (rule M10) -------------------------------------------------
    def export_vm(self, vm: int) -> dict[str, Any]:
        v = self._vm(as_int64("vm", vm, KeyError))
        return {
            "format": VM_STATE_FORMAT,
            "pages": len(v.state),
            "domain": v.domain,
            "state": np.array(v.state, dtype=np.uint8),
            "content": np.array(v.content, dtype=np.uint64),
            "counters": {name: getattr(v, name) for name in VM_COUNTERS},
        }

    def import_vm(self, state: Any, domain: int | None = None) -> int:
        domain_, states_a, contents_a, counters = vm_state_args(state, domain)
        if domain_ < 0:
            raise ValueError(f"domain = {domain_}: domain must be >= 0")
        states, contents = states_a.tolist(), contents_a.tolist()
        for gpn, (s, c) in enumerate(zip(states, contents)):
            if s == UNTOUCHED and c != 0:
                raise ValueError(f"content[{gpn}] = {c}: an untouched page holds content 0")
        self._check_room(len(states))
        resident = [gpn for gpn, s in enumerate(states) if s == RESIDENT]
        wanted = {contents[gpn] for gpn in resident}  # immediate mode: one frame per content
        at_most = len(wanted) if self.merge == "immediate" else len(resident)
        if at_most > self.frames:
            what = "distinct resident contents" if self.merge == "immediate" else "resident pages"
            raise AdmissionError(
                f"import_vm: the VM has {at_most} {what}, more than the {self.frames} frames here"
            )
        vm = self._new_vm(len(states), domain_)
        v = self._vms[vm]
        for name, value in zip(VM_COUNTERS, counters):
            setattr(v, name, value)
        for gpn, s in enumerate(states):
            v.content[gpn] = contents[gpn]
            if s == SWAPPED:
                v.state[gpn] = SWAPPED
                v.swapped += 1
                self._swapped += 1
        if not resident:
            return vm
        first_t = self._time + 1
        self._forget_expired(first_t)
        if self.merge == "immediate":
            needed = sum(1 for c in wanted if (domain_, c) not in self._index)
        else:
            needed = len(resident)
        while len(self._frames) + needed > self.frames:
            old = self._evict(first_t)
            if self.merge == "immediate" and old.domain == domain_ and old.content in wanted:
                needed += 1
        for gpn in resident:
            self._time += 1
            self._forget_expired(self._time)
            self._count["imported"] += 1
            self._fault_in(vm, gpn, self._time)
        return vm

    # -- checkpoints --------------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any]:
        return {"layout": _LAYOUT, "state": copy.deepcopy(self.__dict__)}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("layout") != _LAYOUT:
            raise ValueError(
                f"reference MemoryManager checkpoint of another layout (this one reads {_LAYOUT})"
            )
        self.__dict__.update(copy.deepcopy(payload["state"]))

    def mapping(self, vm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = self._vm(as_int64("vm", vm, KeyError))
        return (
            np.array(v.state, dtype=np.uint8),
            np.array(v.content, dtype=np.uint64),
            np.array(v.frame, dtype=np.int64),
        )

    def page(self, vm: int, gpn: int) -> tuple[PageState, int, int]:
        vm, gpn = as_int64("vm", vm, KeyError), as_int64("gpn", gpn, IndexError)
        self._check_page(vm, gpn, "vm", "gpn")
        v = self._vms[vm]
        return PageState(v.state[gpn]), v.content[gpn], v.frame[gpn]
