"""MemoryManager and LRUK under adversarial use: domain isolation whatever a frame's reuse counter
says, caller arrays changed during a call, churn of VMs, and VM export / import (both twins)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import vsched
import vsched.reference
from test_memory import add_vm, check_invariants, same, snapshot
from vsched import AdmissionError, Outcome, PageState

LONG = os.environ.get("VSCHED_LONG") == "1"


def set_serial(mm, frame: int, serial: int) -> None:
    if mm.IMPLEMENTATION == "native":
        mm._core._set_frame_serial(frame, serial)
    else:
        mm._frames[frame].serial = serial


def serial(mm, frame: int) -> int:
    return mm._core._frame_serial(frame) if mm.IMPLEMENTATION == "native" else mm._frames[frame].serial


# -- domain isolation ------------------------------------------------------------------


def test_a_long_swapped_page_never_becomes_resident_on_a_reused_frame(impl):
    """The old 2**32 hole: a page matched a reused frame again once the frame's 32-bit generation
    wrapped. Residency is now exact; the reuse counter is staged back to A's value to show it is
    not consulted."""
    mm = impl.MemoryManager(frames=1)
    a = add_vm(mm, 1, domain=0)
    b = add_vm(mm, 1, domain=1)
    assert mm.write(a, 0, 111) == Outcome.FIRST_TOUCH
    seen_by_a = serial(mm, 0)
    assert mm.write(b, 0, 222) == Outcome.FIRST_TOUCH  # evicts A's frame 0, B takes it
    assert mm.page(a, 0) == (PageState.SWAPPED, 111, -1) and mm.page(b, 0) == (PageState.RESIDENT, 222, 0)
    set_serial(mm, 0, seen_by_a)  # what 2**32 evictions did to the old 32-bit generation
    assert mm.page(a, 0)[0] == PageState.SWAPPED
    assert mm.stats()["vm_resident"].tolist() == [0, 1]
    set_serial(mm, 0, 2**64 - 1)  # and a counter at its limit
    assert mm.read(a, 0) == Outcome.MAJOR_FAULT  # a fault, not a hit on B's frame
    assert mm.page(b, 0) == (PageState.SWAPPED, 222, -1)  # B was evicted for it, content intact
    assert mm.page(a, 0) == (PageState.RESIDENT, 111, 0)
    mm.remove_vm(a)  # frees A's own frame only
    assert mm.stats()["frames_used"] == 0 and mm.page(b, 0)[0] == PageState.SWAPPED
    assert mm.read(b, 0) == Outcome.MAJOR_FAULT and mm.page(b, 0)[1] == 222
    check_invariants(mm)


def test_a_stale_scan_candidate_never_merges_across_domains(impl):
    """KSM candidates are checked by serial and domain: a candidate frame reused by another
    domain with the same content (and, staged, the same serial) is not a merge target."""
    mm = impl.MemoryManager(frames=2, merge="scan")
    a = add_vm(mm, 1, domain=0)
    mm.write(a, 0, 7)
    mm.scan(1)  # A's page seen
    mm.scan(1)  # unchanged: A's frame becomes the candidate for (0, 7)
    frame_a = mm.page(a, 0)[2]
    candidate_serial = serial(mm, frame_a)
    mm.remove_vm(a)  # frees the candidate frame
    b = add_vm(mm, 1, domain=1)
    mm.write(b, 0, 7)  # domain 1 content 7 reuses the frame
    assert mm.page(b, 0)[2] == frame_a
    set_serial(mm, frame_a, candidate_serial)
    c = add_vm(mm, 1, domain=0)
    mm.write(c, 0, 7)
    mm.scan(4)  # visits B and C twice each (the candidate list survives until a full scan)
    stats = mm.stats()
    assert stats["merges"] == 0 and stats["pages_shared"] == 0
    assert mm.page(b, 0)[2] != mm.page(c, 0)[2]
    check_invariants(mm)


@pytest.mark.parametrize("merge", ["immediate", "scan", "off"])
def test_random_cross_domain_churn_never_shares_across_domains(merge):
    """Native vs reference on long random sequences with constant eviction and VM churn; every
    frame is mapped from one domain (check_invariants)."""
    rng = np.random.default_rng(18)
    pair = [m.MemoryManager(frames=5, k=2, merge=merge) for m in (vsched, vsched.reference)]
    live: list[int] = []
    for step in range(400 if LONG else 60):
        if len(live) < 2 or rng.random() < 0.15:
            domain = int(rng.integers(0, 3))
            ids = [add_vm(mm, 4, domain) for mm in pair]
            assert ids[0] == ids[1]
            live.append(ids[0])
        if len(live) > 4 and rng.random() < 0.3:
            vm = live.pop(int(rng.integers(0, len(live))))
            for mm in pair:
                mm.remove_vm(vm)
        vm = rng.choice(live, 30)
        gpn = rng.integers(0, 4, 30)
        content = rng.integers(0, 3, 30).astype(np.uint64)  # few contents: the same in every domain
        write = rng.random(30) < 0.5
        out = [mm.access(vm, gpn, content, write) for mm in pair]
        assert out[0].tolist() == out[1].tolist(), step
        if merge == "scan":
            for mm in pair:
                mm.scan(7)
        assert same(snapshot(pair[0]), snapshot(pair[1])), step
        check_invariants(pair[0])


# -- inputs changed during a call -----------------------------------------------------


def mutate_while(alive, arrays, values) -> threading.Thread:
    """Overwrite the arrays from another thread until `alive` is cleared, starting after a short
    sleep (the call under test validates and copies its inputs within it, then runs far longer)."""

    def run():
        time.sleep(0.1)
        i = 0
        while alive.is_set():
            for array, value in zip(arrays, values):
                array[i % array.size] = value
            i += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_memory_access_uses_exactly_the_validated_arrays():
    n = 2_000_000
    rng = np.random.default_rng(3)
    vm = rng.integers(0, 4, n)
    gpn = rng.integers(0, 1_000, n)
    content = rng.integers(0, 5_000, n).astype(np.uint64)
    write = rng.random(n) < 0.5
    originals = [a.copy() for a in (vm, gpn, content, write)]
    mm, fresh = vsched.MemoryManager(2_000), vsched.MemoryManager(2_000)
    for m in (mm, fresh):
        for _ in range(4):
            m.add_vm(1_000)
    for _attempt in range(5):
        alive = threading.Event()
        alive.set()
        # Another thread writes out-of-range ids, pages and content while the call runs.
        thread = mutate_while(alive, [vm, gpn, content, write], [10**9, 10**12, 2**63, True])
        try:
            codes = mm.access(vm, gpn, content, write)
            break
        except (KeyError, IndexError):  # the other thread came first: refused, nothing changed
            assert same(snapshot(mm), snapshot(fresh))
            for array, original in zip((vm, gpn, content, write), originals):
                array[:] = original
        finally:
            alive.clear()
            thread.join()
    # out-of-range values were written (a call that had read them would have refused or crashed)
    assert not np.array_equal(gpn, originals[1])
    assert np.array_equal(codes, fresh.access(*originals))
    assert same(snapshot(mm), snapshot(fresh))


def test_lruk_access_many_uses_exactly_the_validated_keys():
    keys = np.random.default_rng(4).integers(0, 50_000, 3_000_000).astype(np.uint64)
    original = keys.copy()
    cache = vsched.LRUK(5_000)
    alive = threading.Event()
    alive.set()
    thread = mutate_while(alive, [keys], [2**64 - 1])
    try:
        hits = cache.access_many(keys)
    finally:
        alive.clear()
        thread.join()
    fresh = vsched.LRUK(5_000)
    assert np.array_equal(hits, fresh.access_many(original))
    assert cache._core._save() == fresh._core._save()


# -- churn --------------------------------------------------------------------------------


@pytest.mark.parametrize("merge", ["immediate", "scan"])
def test_churn_reuses_slots_and_pages(merge):
    mm = vsched.MemoryManager(frames=1_000, merge=merge)
    keep = mm.add_vm(100)
    mm.access(keep, np.arange(100), np.arange(100, dtype=np.uint64))

    def cycles(count: int) -> None:
        for i in range(count):
            vms = [mm.add_vm(64 + (i % 3) * 32, domain=i % 2) for _ in range(3)]
            for vm in vms:
                mm.access(vm, np.arange(64), np.arange(64, dtype=np.uint64) + np.uint64(i))
            for vm in vms:
                mm.remove_vm(vm)

    cycles(200)
    after_warmup = mm.memory_bytes()
    cycles(20_000 if LONG else 3_000)
    assert mm.memory_bytes() == after_warmup  # nothing grows with VMs ever created
    stats = mm.stats()
    assert stats["vm"].tolist() == [keep] and stats["vm_resident"].tolist() == [100]
    assert stats["first_touches"] == 100 + 64 * 3 * (200 + (20_000 if LONG else 3_000))


# -- export / import ------------------------------------------------------------------------


def template(seed: int, pages: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**63, pages, dtype=np.uint64)


def populated(mod, frames: int, merge: str = "immediate"):
    """A VM with resident, swapped and untouched pages (and counters), beside a clone."""
    mm = mod.MemoryManager(frames=frames, merge=merge)
    image = template(1, 40)
    source = add_vm(mm, 50)
    mm.access(source, np.arange(40), image)
    mm.write(source, 3, 12345)  # one page of its own
    other = add_vm(mm, 40, domain=1)
    mm.access(other, np.arange(40), template(2, 40))  # pushes some of the source out
    mm.read(source, 0)
    return mm, source


@pytest.mark.parametrize("impl_name", ["native", "reference"])
def test_export_import_round_trip_keeps_every_page(impl_name):
    mod = vsched if impl_name == "native" else vsched.reference
    mm, source = populated(mod, frames=60)
    state = mm.export_vm(source)
    assert state["pages"] == 50 and state["domain"] == 0
    kinds = set(state["state"].tolist())
    assert kinds == {PageState.UNTOUCHED, PageState.RESIDENT, PageState.SWAPPED}
    dest = mod.MemoryManager(frames=100)
    vm = add_vm(dest, 0) + 1  # ids at the destination are its own
    assert dest.import_vm(state) == vm
    d_state, d_content, _ = dest.mapping(vm)
    s_state, s_content, _ = mm.mapping(source)
    assert d_state.tolist() == s_state.tolist() and d_content.tolist() == s_content.tolist()
    row = dest.stats()
    assert row["vm"].tolist() == [0, vm]
    assert row["vm_major_faults"].tolist() == [0, state["counters"]["major_faults"]]
    assert row["vm_first_touches"].tolist() == [0, state["counters"]["first_touches"]]
    assert row["first_touches"] == 0 and row["major_faults"] == 0  # the destination's own events
    assert row["imported"] == int((s_state == PageState.RESIDENT).sum()) == row["time"]
    check_invariants(dest)
    again = dest.export_vm(vm)
    assert same(
        {k: v for k, v in again.items() if k != "domain"}, {k: v for k, v in state.items() if k != "domain"}
    )


def test_native_and_reference_exports_are_interchangeable():
    native, source = populated(vsched, frames=60)
    reference, source_r = populated(vsched.reference, frames=60)
    assert source == source_r
    exported = native.export_vm(source), reference.export_vm(source)
    assert same(exported[0], exported[1])
    dest = vsched.MemoryManager(frames=30), vsched.reference.MemoryManager(frames=30)
    for d in dest:
        add_vm(d, 20)
        d.access(0, np.arange(20), template(1, 20))  # a clone of the same image lives here
    # native export into the reference and reference export into the native: same result
    ids = dest[1].import_vm(exported[0]), dest[0].import_vm(exported[1])
    assert ids[0] == ids[1]
    assert same(snapshot(dest[0]), snapshot(dest[1]))


def test_import_joins_frames_of_equal_content_in_its_domain_only(impl):
    image = template(7, 32)
    src = impl.MemoryManager(frames=100)
    vm = add_vm(src, 32)
    src.access(vm, np.arange(32), image)
    state = src.export_vm(vm)
    dest = impl.MemoryManager(frames=200)
    clone = add_vm(dest, 32, domain=0)
    dest.access(clone, np.arange(32), image)
    before = dest.stats()["frames_used"]
    same_domain = dest.import_vm(state)
    assert dest.stats()["frames_used"] == before  # every page joined the clone's frames
    assert dest.stats()["pages_sharing"] == 32
    assert (dest.mapping(same_domain)[2] == dest.mapping(clone)[2]).all()
    add_vm(dest, 0)  # keep the test's domain bookkeeping in step with ids
    other = dest.import_vm(state, domain=1)
    assert dest.stats()["frames_used"] == before + 32  # another domain: frames of its own
    assert not set(dest.mapping(other)[2].tolist()) & set(dest.mapping(clone)[2].tolist())
    check_invariants(dest)


@pytest.mark.parametrize("merge", ["immediate", "scan", "off"])
def test_import_into_a_full_destination_evicts_but_keeps_every_page_resident(impl, merge):
    src = impl.MemoryManager(frames=100, merge=merge)
    vm = add_vm(src, 30)
    src.access(vm, np.arange(30), template(3, 30))
    state = src.export_vm(vm)
    dest = impl.MemoryManager(frames=40, merge=merge)
    local = add_vm(dest, 40)
    dest.access(local, np.arange(40), template(4, 40))
    assert dest.stats()["frames_used"] == 40
    new = dest.import_vm(state)
    assert (dest.mapping(new)[0] == PageState.RESIDENT).all()
    stats = dest.stats()
    assert stats["evictions"] == 30 and stats["vm_swapped"].tolist() == [30, 0]
    check_invariants(dest)


def test_an_import_that_cannot_fit_changes_nothing(impl):
    src = impl.MemoryManager(frames=100)
    vm = add_vm(src, 30)
    src.access(vm, np.arange(30), template(5, 30))
    state = src.export_vm(vm)
    dest = impl.MemoryManager(frames=29)
    add_vm(dest, 10)
    dest.access(0, np.arange(10), template(6, 10))
    before = snapshot(dest)
    bad_states = [
        (state, AdmissionError),  # 30 distinct resident contents > 29 frames
        ({**state, "format": 99}, ValueError),
        ({**state, "state": state["state"][:-1]}, ValueError),
        ({**state, "state": np.full(30, 3, dtype=np.uint8)}, ValueError),
        ({**state, "state": np.zeros(30, dtype=np.uint8)}, ValueError),  # untouched with content
        ({**state, "content": state["content"].astype(float)}, TypeError),
        ({k: v for k, v in state.items() if k != "counters"}, ValueError),
        ({**state, "counters": {**state["counters"], "dirtied": -1}}, ValueError),
        ([1, 2], TypeError),
    ]
    for bad, error in bad_states:
        with pytest.raises(error):
            dest.import_vm(bad)
        assert same(snapshot(dest), before)
    with pytest.raises(ValueError):
        dest.import_vm(state, domain=-1)
    assert same(snapshot(dest), before)
    with pytest.raises(KeyError):
        dest.export_vm(7)
