"""Host memory manager with page sharing and LRU-K frame replacement (native core)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._repr import memory_repr
from ._state import Checkpointable
from ._validate import as_int64
from .pages import VM_STATE_FORMAT, check_manager_args, Outcome, PageState, as_content, batch_args, vm_state_args

__all__ = ["MemoryManager", "Outcome", "PageState"]


def _vm_id(value: Any) -> int:
    """A VM id: TypeError unless an integer; outside int64 no VM has it (KeyError)."""
    return as_int64("vm", value, KeyError)


def _gpn(value: Any) -> int:
    """A page number: TypeError unless an integer; outside int64 no VM has it (IndexError)."""
    return as_int64("gpn", value, IndexError)


class MemoryManager(Checkpointable):
    """Guest pages of many VMs on `frames` host frames, with content sharing and LRU-K.

    ``MemoryManager(frames, k=2, crp=0, rip=None, history=None, merge="immediate")``

    **Pages.** ``add_vm(pages, domain)`` returns a VM id (0, 1, 2, ... never
    reused). Each guest page (vm, gpn) is *untouched*, *resident* (maps a
    frame) or *swapped* (holds its content, no frame). Content is a 64-bit
    fingerprint chosen by the caller; equal fingerprints mean equal pages
    (callers hash with a full compare, as VMware does). A first read of an
    untouched page sees content 0 (the zero page), which is shared like any
    other content.

    **Frames** hold (domain, content) and a reference count = the resident
    guest pages mapping them. ``frames_used <= frames`` always. Frames are
    taken from a last-in-first-out list of freed frames, else the lowest
    never-used number, so frame numbers are deterministic.

    **Time** = accesses so far: each access (each element of :meth:`access`,
    each :meth:`read` / :meth:`write`) advances it by one; :meth:`scan` does not.

    **An access** to page P of a VM in domain D at time t (write = new content c):

    * P resident on frame f: a read, or a write with ``c == content(f)``, is a
      **HIT**. A write of new content to f when f is shared (refcount > 1) or
      KSM-merged (scan mode) is a **COW_BREAK**: P leaves f and faults in c
      (below). A write to a private f: in immediate mode, if another frame of
      D holds c, P joins it and f is freed (**MERGED**); otherwise f is
      rewritten in place (**HIT**).
    * P untouched: **FIRST_TOUCH**, P faults in c (a read: 0).
    * P swapped: **MAJOR_FAULT**, P faults in its content (a write: c).
    * *Fault in* content x: in immediate mode, if a frame of D holds x, P
      joins it; otherwise a frame is allocated. If all frames are in use the
      LRU-K victim frame is evicted first: every page mapping it becomes
      swapped (``evictions`` += 1).

    **LRU-K** (rules of :class:`vsched.LRUK`, capacity = frames) over frames:
    every access that ends on a frame is a reference to that frame, so a
    shared frame is referenced by all its mappers. **History follows
    content**: when a frame is evicted, its HIST and LAST are retained under
    its (domain, content); a frame later allocated for the same (domain,
    content) continues that history (shifted by one, HIST(1) = t), otherwise
    it starts fresh. If two evicted frames held the same (domain, content)
    (merge off/scan), the more recently referenced history is kept. At the
    start of every access, retained histories with ``t - LAST > rip`` are
    forgotten; after an eviction, at most ``history`` are kept (least recent
    LAST forgotten first). A frame freed otherwise (copy-on-write, merge,
    remove_vm) takes its history with it. ``stats()["retained"]`` counts them.

    **Merging** never crosses a sharing domain. ``merge="immediate"`` merges
    at fault and write time, so no two frames of a domain ever hold equal
    content. ``merge="off"`` never shares. ``merge="scan"`` is KSM-like:
    faults and writes never merge; :meth:`scan` visits ``pages`` guest pages
    round-robin (VMs in id order, gpn ascending; passing the last VM completes
    a full scan, ``full_scans`` += 1, and forgets the unstable candidates).
    Visiting a page P:

    * not resident: skipped, and its scan record is forgotten;
    * on a merged (stable) frame: nothing to do;
    * first visit (or first since forgotten): its content is remembered;
    * content changed since the previous visit: P is *volatile*, no merge;
    * unchanged: P joins the stable frame of D with that content if there is
      one; else if an unstable candidate frame of D holds it (found earlier in
      this full scan, still holding it), that frame becomes stable and P joins
      it; else P's frame becomes the candidate. Joining frees P's old frame.

    ``pages_volatile`` counts pages whose latest visit found them changed.
    Stable frames are write-protected: any write of new content is a COW
    break, even at refcount 1.

    ``remove_vm(vm)`` unmaps its pages in gpn order; a frame is freed when its
    last mapper leaves. The VM id becomes unknown (KeyError); its slot and
    pages are reused by later VMs, but ids are never reused. Its fault
    counters stay in the totals of :meth:`stats`.

    **stats()** returns a dict: ``frames, frames_used, pages_resident``
    (resident guest pages), ``pages_shared`` (frames with refcount >= 2),
    ``pages_sharing`` (= pages_resident - frames_used: mappings that cost no
    frame), ``pages_swapped, pages_volatile, hits, first_touches,
    major_faults, cow_breaks, merges, evictions, full_scans, dirtied,
    imported, time, retained`` (ints) and ``saving = pages_sharing /
    pages_resident`` (0.0 when nothing is resident); and one row per *live*
    VM, in id order: ``vm`` (the id), ``vm_resident, vm_shared`` (its resident
    pages on frames with refcount >= 2), ``vm_swapped, vm_major_faults,
    vm_cow_breaks, vm_first_touches, vm_dirtied``. Its cost is O(live VMs):
    every counter is kept up to date as pages change state. ``vm_dirtied``
    counts writes that changed a page's content or touched it first
    (cumulative: take differences between calls for a rate).

    **export_vm(vm)** / **import_vm(state, domain=None)** move a VM between
    managers (native and reference alike, same plain-data schema): pages come
    back by content in the destination's domain; see
    ``docs/engines/memory.md``, rule M10.

    Errors (nothing is changed): unknown VM -> KeyError; gpn outside the VM
    -> IndexError; negative pages/domain/crp/rip/history, frames < 1, k outside 1..64,
    bad merge name, mismatched array lengths, content outside 0..2**64-1 ->
    ValueError; non-integer arguments -> TypeError. Batches are validated in
    full before the first access.
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
    ) -> None:
        self._core = _core.MemoryManager(*check_manager_args(frames, k, crp, rip, history, merge))

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

    def __repr__(self) -> str:
        return memory_repr(self, lambda: len(self.stats()["vm"]), lambda: int(self.stats()["frames_used"]))
