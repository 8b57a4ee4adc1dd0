"""Host memory manager with page sharing and LRU-K frame replacement (native core)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._repr import memory_repr
from ._state import Checkpointable
from ._validate import as_int64
from .pages import VM_STATE_FORMAT, check_manager_args, check_memory_policy, Outcome, PageState, as_content, batch_args, vm_state_args

__all__ = ["MemoryManager", "Outcome", "PageState"]


def _vm_id(value: Any) -> int:
    """A VM id: TypeError unless an integer; outside int64 no VM has it (KeyError)."""
    return as_int64("vm", value, KeyError)


def _gpn(value: Any) -> int:
    """A page number: TypeError unless an integer; outside int64 no VM has it (IndexError)."""
    return as_int64("gpn", value, IndexError)


class MemoryManager(Checkpointable):
    """Guest pages of many VMs on `frames` host frames: content sharing within
    domains, copy-on-write, LRU-K eviction and swap.

    ``MemoryManager(frames, k=2, crp=0, rip=None, history=None, merge="immediate", *, policy="lruk",
    bits=1)``: frames are evicted by LRU-K (``k``, ``crp``, ``rip``, ``history``), or by
    ``policy="lru"`` / ``"clock"`` (``bits``: CLOCK's counter width) over frame numbers;
    ``add_vm(pages, domain)`` returns a VM id (never reused); :meth:`access`,
    :meth:`read`, :meth:`write` touch guest pages and return :class:`Outcome`
    codes; :meth:`scan` is the KSM-like merger (``merge="scan"``); :meth:`stats`
    gives totals and one row per live VM in O(live VMs); :meth:`export_vm` /
    :meth:`import_vm` move a VM between managers.

    The rules (M1-M12: pages, accesses, faults, LRU-K over frames with history
    that follows content, the merge modes, removal, statistics, moving a VM,
    errors) are specified once, in the manual's memory page
    (``docs/engines/memory.md``). ``vsched.reference.MemoryManager`` follows
    them with identical results. Bad input raises and changes nothing.
    """

    IMPLEMENTATION = "native"

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
        args = check_manager_args(frames, k, crp, rip, history, merge)
        policy, bits = check_memory_policy(policy, bits, args[1], args[2], args[3], args[4])
        self._core = _core.MemoryManager(*args, policy, bits)

    def add_vm(self, pages: int, domain: int = 0) -> int:
        """Add a VM of `pages` untouched pages in sharing `domain`; returns its id."""
        return int(self._core.add_vm(as_int64("pages", pages), as_int64("domain", domain)))

    def remove_vm(self, vm: int) -> None:
        """Remove a VM: its frames are released (or un-shared)."""
        self._core.remove_vm(_vm_id(vm))

    def read(self, vm: int, gpn: int) -> Outcome:
        return Outcome(self._core.access_one(_vm_id(vm), _gpn(gpn), False, 0))

    def write(self, vm: int, gpn: int, content: int) -> Outcome:
        content = as_content(content)
        return Outcome(self._core.access_one(_vm_id(vm), _gpn(gpn), True, content))

    def access(self, vm: Any, gpn: Any, content: Any = None, write: Any = None) -> np.ndarray:
        """A batch of accesses in order; returns the :class:`Outcome` codes (int8 array).

        `vm` is one VM id or one per access; `content` given = writes (with
        `write`, a bool array, only where it is True; the other entries read).
        """
        return self._core.access(*batch_args(vm, gpn, content, write))

    def scan(self, pages: int) -> None:
        """KSM-like scanner step: visit `pages` guest pages (merge="scan" only)."""
        self._core.scan(as_int64("pages", pages))

    def stats(self) -> dict[str, Any]:
        """Totals and one row per live VM (see the class docstring); O(live VMs)."""
        return dict(self._core.stats())

    def export_vm(self, vm: int) -> dict[str, Any]:
        """The VM's pages (state and content per gpn), domain and counters as plain data."""
        domain, state, content, counters = self._core.export_vm(_vm_id(vm))
        return {
            "format": VM_STATE_FORMAT,
            "pages": int(state.shape[0]),
            "domain": int(domain),
            "state": state,
            "content": content,
            "counters": {name: int(value) for name, value in counters.items()},
        }

    def import_vm(self, state: Any, domain: int | None = None) -> int:
        """Add a VM from :meth:`export_vm` data (in `domain`, default its own); returns its new id.

        Resident pages become resident here (by content), swapped stay
        swapped, untouched stay untouched. AdmissionError (nothing changed)
        when its resident pages cannot all be resident here.
        """
        domain_, states, contents, counters = vm_state_args(state, domain)
        return int(self._core.import_vm(domain_, states, contents, *counters))

    def memory_bytes(self) -> int:
        """Bytes held by the native structures (page arena, frames, LRU-K records, indexes)."""
        return int(self._core.memory_bytes())

    def _checkpoint(self) -> bytes:
        return bytes(self._core._save())

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError("not a native MemoryManager checkpoint (expected bytes)")  # noqa: TRY004 - documented
        self._core = _core.MemoryManager._load(bytes(payload))

    def mapping(self, vm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per page of `vm`: state (:class:`PageState` codes), content, frame (-1 unless resident)."""
        return tuple(self._core.mapping(_vm_id(vm)))  # type: ignore[return-value]

    def page(self, vm: int, gpn: int) -> tuple[PageState, int, int]:
        vm, gpn = _vm_id(vm), _gpn(gpn)  # types in argument order, then values (docs/design.md, "Errors")
        state, content, frame = self.mapping(vm)
        if not 0 <= gpn < state.shape[0]:
            raise IndexError(f"gpn = {gpn}: VM {vm} has {state.shape[0]} pages (gpn 0..{state.shape[0]})")
        return PageState(int(state[gpn])), int(content[gpn]), int(frame[gpn])

    frames = property(lambda self: int(self._core.frames), doc="Host frames.")
    k = property(lambda self: int(self._core.k))
    crp = property(lambda self: int(self._core.crp))
    rip = property(lambda self: self._core.rip)
    history = property(lambda self: self._core.history)
    merge = property(lambda self: str(self._core.merge))
    policy = property(lambda self: str(self._core.policy), doc="Frame eviction policy (rule M4).")
    bits = property(lambda self: int(self._core.bits), doc="CLOCK's counter width.")

    def __repr__(self) -> str:
        return memory_repr(self, lambda: len(self.stats()["vm"]), lambda: int(self.stats()["frames_used"]))
