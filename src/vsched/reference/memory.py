"""Pure-Python memory manager: the oracle for :class:`vsched.MemoryManager`.

Same rules (see the :class:`vsched.MemoryManager` docstring), written the
plain way: every frame keeps the set of its mappers and eviction swaps them
out one by one; the LRU-K victim is found by a scan (shared with the LRUK
reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import as_int
from ..memory import check_manager_args
from ..pages import MERGE_MODES, Outcome, PageState, as_content, batch_args
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
    live: bool = True
    major_faults: int = 0
    cow_breaks: int = 0
    first_touches: int = 0
    seen: dict[int, int] = field(default_factory=dict)  # gpn -> content at its previous scan visit
    volatile: set[int] = field(default_factory=set)


class MemoryManager:
    """Reference twin of :class:`vsched.MemoryManager` (same arguments, results, errors)."""

    IMPLEMENTATION = "reference"

    def __init__(
        self,
        frames: int,
        k: int = 2,
        crp: int = 0,
        rip: int | None = None,
        history: int | None = None,
        merge: str = "immediate",
    ) -> None:
        frames, k, crp, rip, history, merge = check_manager_args(frames, k, crp, rip, history, merge)
        if not 1 <= frames < 2**32 - 1:
            raise ValueError(f"frames = {frames}: frames must be in 1..{2**32 - 2}")
        if not 1 <= k <= 64:
            raise ValueError(f"k = {k}: k must be in 1..64")
        if crp < 0:
            raise ValueError(f"crp = {crp}: crp must be >= 0")
        if rip is not None and rip < 0:
            raise ValueError(f"rip = {rip}: rip must be >= 0 or None")
        if history is not None and history < 0:
            raise ValueError(f"history = {history}: history must be >= 0 or None")
        if merge not in MERGE_MODES:
            raise ValueError(f"merge = {merge!r}: expected 'immediate', 'scan' or 'off'")
        self.frames, self.k, self.crp, self.merge = frames, k, crp, merge
        self.rip, self.history = rip, history
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
        self._vms: list[_Vm] = []
        self._cursor = (0, 0)
        self._count = dict.fromkeys(
            ["hits", "first_touches", "major_faults", "cow_breaks", "merges", "evictions", "full_scans"], 0
        )

    # -- VMs -------------------------------------------------------------------
    def add_vm(self, pages: int, domain: int = 0) -> int:
        pages, domain = as_int("pages", pages), as_int("domain", domain)
        if pages < 0:
            raise ValueError(f"pages = {pages}: pages must be >= 0")
        if domain < 0:
            raise ValueError(f"domain = {domain}: domain must be >= 0")
        self._vms.append(_Vm(domain, [UNTOUCHED] * pages, [0] * pages, [-1] * pages))
        return len(self._vms) - 1

    def _vm(self, vm: int, name: str = "vm") -> _Vm:
        if not 0 <= vm < len(self._vms) or not self._vms[vm].live:
            raise KeyError(f"{name} = {vm}: no such VM")
        return self._vms[vm]

    def remove_vm(self, vm: int) -> None:
        vm = as_int("vm", vm)
        v = self._vm(vm)
        for gpn in range(len(v.state)):
            if v.state[gpn] == RESIDENT:
                self._unmap(vm, gpn)
        v.live = False
        v.state, v.content, v.frame = [], [], []
        v.seen.clear()
        v.volatile.clear()

    # -- frames ----------------------------------------------------------------
    def _unmap(self, vm: int, gpn: int) -> None:
        v = self._vms[vm]
        f = v.frame[gpn]
        frame = self._frames[f]
        frame.mappers.remove((vm, gpn))
        v.state[gpn], v.frame[gpn] = SWAPPED, -1  # the caller sets the final state
        if not frame.mappers:
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
        self._frames[f].mappers.add((vm, gpn))

    def _touch(self, f: int, t: int) -> None:  # an LRU-K reference to a frame in use
        reference_resident(self._hist[f], self._last[f], t, self.crp)
        self._last[f] = t

    def _allocate(self, domain: int, content: int, t: int) -> int:
        taken = self._retained.pop((domain, content), None)  # its own history first
        if len(self._frames) == self.frames:
            victim = choose_victim(self._frames.keys(), self._hist, self._last, t, self.crp)
            for vm, gpn in sorted(self._frames[victim].mappers):
                v = self._vms[vm]
                v.state[gpn], v.frame[gpn] = SWAPPED, -1
            old = self._frames[victim]
            key = (old.domain, old.content)
            if key not in self._retained or self._retained[key][1] < self._last[victim]:
                self._retained[key] = (self._hist[victim], self._last[victim])
            if self.history is not None:
                while len(self._retained) > self.history:
                    oldest = min(self._retained, key=lambda q: self._retained[q][1])
                    del self._retained[oldest]
            del self._hist[victim], self._last[victim]
            self._free_frame(victim)
            self._count["evictions"] += 1
        if self._free:
            f = self._free.pop()
        else:
            f = self._next_unused
            self._next_unused += 1
        self._serial += 1
        self._frames[f] = _Frame(domain, content, self._serial)
        # retained history shifted by one, else fresh; HIST(1) = LAST = t
        self._hist[f] = [t] + (taken[0][:-1] if taken else [0] * (self.k - 1))
        self._last[f] = t
        if self.merge == "immediate":
            self._index[(domain, content)] = f
        return f

    def _fault_in(self, vm: int, gpn: int, t: int) -> None:
        v = self._vms[vm]
        key = (v.domain, v.content[gpn])
        if self.merge == "immediate" and key in self._index:
            f = self._index[key]
            self._join(vm, gpn, f)
            self._touch(f, t)
            return
        self._join(vm, gpn, self._allocate(v.domain, v.content[gpn], t))

    # -- accesses ----------------------------------------------------------------
    def _run(self, vm: int, gpn: int, write: bool, content: int) -> int:
        self._time += 1
        t = self._time
        if self.rip is not None:  # forget expired retained history
            for key in [q for q, (_, last) in self._retained.items() if t - last > self.rip]:
                del self._retained[key]
        v = self._vms[vm]
        state = v.state[gpn]
        if state == RESIDENT:
            f = v.frame[gpn]
            frame = self._frames[f]
            if not write or frame.content == content:
                self._count["hits"] += 1
                self._touch(f, t)
                return HIT
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
            v.content[gpn] = content if write else 0
            self._fault_in(vm, gpn, t)
            return FIRST_TOUCH
        self._count["major_faults"] += 1
        v.major_faults += 1
        if write:
            v.content[gpn] = content
        self._fault_in(vm, gpn, t)
        return MAJOR_FAULT

    def _check_page(self, vm: int, gpn: int, vm_name: str, gpn_name: str) -> None:
        v = self._vm(vm, vm_name)
        if not 0 <= gpn < len(v.state):
            raise IndexError(f"{gpn_name} = {gpn}: VM {vm} has {len(v.state)} pages (gpn 0..{len(v.state)})")

    def read(self, vm: int, gpn: int) -> Outcome:
        vm, gpn = as_int("vm", vm), as_int("gpn", gpn)
        self._check_page(vm, gpn, "vm", "gpn")
        return Outcome(self._run(vm, gpn, False, 0))

    def write(self, vm: int, gpn: int, content: int) -> Outcome:
        content = as_content(content)
        vm, gpn = as_int("vm", vm), as_int("gpn", gpn)
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
        pages = as_int("pages", pages)
        if self.merge != "scan":
            raise ValueError("scan() needs merge='scan'")
        if pages < 0:
            raise ValueError(f"pages = {pages}: pages must be >= 0")
        if not any(v.live and v.state for v in self._vms):
            return
        vm, gpn = self._cursor
        for _ in range(pages):
            while vm >= len(self._vms) or not self._vms[vm].live or gpn >= len(self._vms[vm].state):
                if vm >= len(self._vms):  # a full scan is complete
                    vm = 0
                    self._count["full_scans"] += 1
                    self._unstable.clear()
                else:
                    vm += 1
                gpn = 0
            self._visit(vm, gpn)
            gpn += 1
        self._cursor = (vm, gpn)

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
    def stats(self) -> dict[str, Any]:
        resident = sum(len(f.mappers) for f in self._frames.values())
        used = len(self._frames)
        out: dict[str, Any] = {
            "frames": self.frames,
            "frames_used": used,
            "pages_resident": resident,
            "pages_shared": sum(1 for f in self._frames.values() if len(f.mappers) >= 2),
            "pages_sharing": sum(len(f.mappers) - 1 for f in self._frames.values() if len(f.mappers) >= 2),
            "pages_swapped": sum(v.state.count(SWAPPED) for v in self._vms),
            "pages_volatile": sum(len(v.volatile) for v in self._vms),
            **self._count,
            "time": self._time,
            "retained": len(self._retained),
            "saving": 0.0 if resident == 0 else (resident - used) / resident,
        }
        for name in ("first_touches", "major_faults", "cow_breaks"):
            out[f"vm_{name}"] = np.array([getattr(v, name) for v in self._vms], dtype=np.uint64)
        out["vm_live"] = np.array([v.live for v in self._vms], dtype=bool)
        out["vm_resident"] = np.array([v.state.count(RESIDENT) for v in self._vms], dtype=np.uint64)
        out["vm_swapped"] = np.array([v.state.count(SWAPPED) for v in self._vms], dtype=np.uint64)
        out["vm_shared"] = np.array(
            [
                sum(
                    1
                    for g, s in enumerate(v.state)
                    if s == RESIDENT and len(self._frames[v.frame[g]].mappers) >= 2
                )
                for v in self._vms
            ],
            dtype=np.uint64,
        )
        return out

    def mapping(self, vm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = self._vm(as_int("vm", vm))
        return (
            np.array(v.state, dtype=np.uint8),
            np.array(v.content, dtype=np.uint64),
            np.array(v.frame, dtype=np.int64),
        )

    def page(self, vm: int, gpn: int) -> tuple[PageState, int, int]:
        vm, gpn = as_int("vm", vm), as_int("gpn", gpn)
        self._check_page(vm, gpn, "vm", "gpn")
        v = self._vms[vm]
        return PageState(v.state[gpn]), v.content[gpn], v.frame[gpn]
