"""MemoryManager: stateful native-vs-reference test, invariants, sharing scenarios, errors."""

from __future__ import annotations

import weakref
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import vsched
import vsched.reference
from vsched import Outcome, PageState

# -- helpers --------------------------------------------------------------------


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def snapshot(mm) -> tuple:
    stats = mm.stats()
    return stats, [mm.mapping(vm) for vm in stats["vm"].tolist()]


VM_COLUMNS = (
    "vm_resident",
    "vm_shared",
    "vm_swapped",
    "vm_major_faults",
    "vm_cow_breaks",
    "vm_first_touches",
)


def check_invariants(mm) -> None:
    """Invariants checked against independent arithmetic over the page mappings."""
    stats = mm.stats()
    assert stats["frames_used"] <= stats["frames"]
    ids = stats["vm"].tolist()
    assert ids == sorted(ids)
    assert all(stats[name].shape == (len(ids),) for name in (*VM_COLUMNS, "vm_dirtied"))
    mappers: dict[int, list[tuple[int, int]]] = defaultdict(list)  # frame -> [(domain, content)]
    resident = swapped = 0
    for row, vm in enumerate(ids):
        state, content, frame = mm.mapping(vm)
        domain = mm_domain.get(mm, {}).get(vm)
        if domain is None:  # an imported VM: its domain as the manager reports it
            domain = mm.export_vm(vm)["domain"]
        vm_resident = int((state == PageState.RESIDENT).sum())
        assert stats["vm_resident"][row] == vm_resident
        assert stats["vm_swapped"][row] == int((state == PageState.SWAPPED).sum())
        resident += vm_resident
        swapped += int((state == PageState.SWAPPED).sum())
        assert ((frame >= 0) == (state == PageState.RESIDENT)).all()
        assert (content[state == PageState.UNTOUCHED] == 0).all()
        for f, c in zip(frame[frame >= 0].tolist(), content[frame >= 0].tolist()):
            mappers[f].append((domain, c))
    # a frame is mapped from one domain, by pages of one content
    for f, keys in mappers.items():
        assert len(set(keys)) == 1, (f, keys)
    assert len(mappers) == stats["frames_used"]
    assert resident == stats["pages_resident"] and swapped == stats["pages_swapped"]
    shared_frames = [f for f, keys in mappers.items() if len(keys) >= 2]
    assert stats["pages_shared"] == len(shared_frames)
    assert (
        stats["pages_sharing"] == sum(len(mappers[f]) - 1 for f in shared_frames) == resident - len(mappers)
    )
    assert int(stats["vm_shared"].sum()) == sum(len(mappers[f]) for f in shared_frames)
    # removed VMs' event counters stay in the totals: live rows sum to at most the total (an
    # imported VM brings the counters of its life elsewhere, which the totals do not count)
    if all(vm in mm_domain.get(mm, {}) for vm in ids):
        for name in ("major_faults", "cow_breaks", "first_touches", "dirtied"):
            assert int(stats[f"vm_{name}"].sum()) <= stats[name]
    assert stats["saving"] == (0.0 if resident == 0 else stats["pages_sharing"] / resident)
    if mm.merge == "immediate":  # no two frames of a domain hold equal content
        contents = [keys[0] for keys in mappers.values()]
        assert len(contents) == len(set(contents))
    if mm.merge == "off":
        assert stats["pages_shared"] == 0


# manager -> vm -> domain of the VMs the tests added (weak: a dead manager's entry goes with it)
mm_domain: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def add_vm(mm, pages, domain=0) -> int:
    vm = mm.add_vm(pages, domain)
    mm_domain.setdefault(mm, {})[vm] = domain
    return vm


# -- stateful differential test ------------------------------------------------------


class NativeMatchesReference(RuleBasedStateMachine):
    """Random multi-VM operation sequences on both implementations: identical outcomes and stats."""

    @initialize(
        frames=st.integers(1, 10),
        k=st.integers(1, 3),
        crp=st.integers(0, 2),
        rip=st.one_of(st.none(), st.integers(0, 40)),
        history=st.one_of(st.none(), st.integers(0, 4)),
        merge=st.sampled_from(["immediate", "scan", "off"]),
    )
    def start(self, frames, k, crp, rip, history, merge):
        args = {"frames": frames, "k": k, "crp": crp, "rip": rip, "history": history, "merge": merge}
        self.pair = (vsched.MemoryManager(**args), vsched.reference.MemoryManager(**args))
        self.pages: dict[int, int] = {}  # live vm -> pages

    def both(self, method, *args, **kwargs):
        results, errors = [], []
        for mm in self.pair:
            try:
                results.append(getattr(mm, method)(*args, **kwargs))
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - compared below
                errors.append(type(exc))
        assert errors[0] == errors[1], (method, args, errors)
        if errors[0] is None:
            assert same(results[0], results[1]), (method, args, results)
        return results[0] if errors[0] is None else None

    @rule(pages=st.integers(0, 6), domain=st.integers(0, 2))
    def add(self, pages, domain):
        vms = [add_vm(mm, pages, domain) for mm in self.pair]
        assert vms[0] == vms[1]
        self.pages[vms[0]] = pages

    @precondition(lambda self: self.pages)
    @rule(data=st.data())
    def remove(self, data):
        vm = data.draw(st.sampled_from(sorted(self.pages)))
        self.both("remove_vm", vm)
        del self.pages[vm]

    @precondition(lambda self: any(self.pages.values()))
    @rule(
        data=st.data(),
        n=st.integers(1, 8),
        writes=st.sampled_from(["none", "all", "mixed"]),
        one_vm=st.booleans(),
    )
    def access(self, data, n, writes, one_vm):
        vms = [v for v, p in self.pages.items() if p]
        if one_vm:
            vm = data.draw(st.sampled_from(vms))
            gpn = data.draw(st.lists(st.integers(0, self.pages[vm] - 1), min_size=n, max_size=n))
        else:
            vm = data.draw(st.lists(st.sampled_from(vms), min_size=n, max_size=n))
            gpn = [data.draw(st.integers(0, self.pages[v] - 1)) for v in vm]
        content = (
            None
            if writes == "none"
            else np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.uint64)
        )
        write = (
            np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            if writes == "mixed"
            else None
        )
        codes = self.both("access", vm if one_vm else np.array(vm), np.array(gpn), content, write)
        assert set(codes.tolist()) <= {int(o) for o in Outcome}

    @precondition(lambda self: any(self.pages.values()))
    @rule(data=st.data(), content=st.integers(0, 3), is_write=st.booleans())
    def single(self, data, content, is_write):
        vm = data.draw(st.sampled_from([v for v, p in self.pages.items() if p]))
        gpn = data.draw(st.integers(0, self.pages[vm] - 1))
        outcome = self.both("write", vm, gpn, content) if is_write else self.both("read", vm, gpn)
        assert isinstance(outcome, Outcome)

    @precondition(lambda self: self.pages)
    @rule(data=st.data(), domain=st.one_of(st.none(), st.integers(0, 2)), cross=st.booleans())
    def migrate(self, data, domain, cross):
        """Export a VM (both twins give the same data) and import it back, possibly crossed
        (native export into the reference and back), possibly refused when it cannot fit."""
        vm = data.draw(st.sampled_from(sorted(self.pages)))
        exported = [mm.export_vm(vm) for mm in self.pair]
        assert same(exported[0], exported[1])
        if cross:
            exported.reverse()
        ids = []
        for mm, state in zip(self.pair, exported):
            try:
                ids.append(mm.import_vm(state, domain))
            except vsched.AdmissionError:
                ids.append(None)
        assert ids[0] == ids[1]
        if ids[0] is not None:
            self.pages[ids[0]] = self.pages[vm]

    @rule(pages=st.integers(0, 12))
    def scan(self, pages):
        self.both("scan", pages)  # ValueError on both unless merge == "scan"

    @rule(
        bad=st.sampled_from(
            [
                ("read", (99, 0)),
                ("read", (0, 99)),
                ("read", (0, -1)),
                ("write", (0, 0, -1)),
                ("write", (0, 0, 2**64)),
                ("write", (0, 0, 1.5)),
                ("remove_vm", (99,)),
                ("add_vm", (-1,)),
                ("add_vm", (1, -1)),
                ("scan", (-1,)),
                ("access", (0, [0, 1, 2], [5, 6])),
                ("access", ([0, 99], [0, 0])),
                ("access", (0, [0, 1000])),
                ("access", (0, [0.5])),
                ("access", (0, [0], None, [True])),
            ]
        )
    )
    def bad_input_changes_nothing(self, bad):
        # Always bad: VM ids stay below 99 (one per step), pages below 7.
        method, args = bad
        before = [snapshot(mm) for mm in self.pair]
        errors = []
        for mm in self.pair:
            with pytest.raises((ValueError, TypeError, KeyError, IndexError)) as info:
                getattr(mm, method)(*args)
            errors.append(info.type)
        assert errors[0] is errors[1], (method, args, errors)
        assert same(before, [snapshot(mm) for mm in self.pair])

    @invariant()
    def agree_and_hold(self):
        if not hasattr(self, "pair"):
            return
        native, ref = (snapshot(mm) for mm in self.pair)
        assert same(native, ref)
        assert native[0]["vm"].tolist() == sorted(self.pages)
        check_invariants(self.pair[0])


NativeMatchesReference.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestNativeMatchesReference = NativeMatchesReference.TestCase


# -- sharing scenarios (both implementations) ------------------------------------------------

TEMPLATE_PAGES = 64


def template(seed: int, pages: int = TEMPLATE_PAGES) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**63, pages, dtype=np.uint64)


def clone(mm, vms: int, content: np.ndarray, domain: int = 0) -> list[int]:
    ids = []
    for _ in range(vms):
        vm = add_vm(mm, len(content), domain)
        mm.access(vm, np.arange(len(content)), content)
        ids.append(vm)
    return ids


def test_clones_share_then_diverge_with_exact_cow_accounting(impl):
    P = TEMPLATE_PAGES
    mm = impl.MemoryManager(frames=10_000)
    vms = clone(mm, 100, template(1))
    s = mm.stats()
    # 100 x P pages on P frames: saving = 99/100
    assert s["frames_used"] == P and s["pages_resident"] == 100 * P and s["pages_shared"] == P
    assert s["saving"] == (100 * P - P) / (100 * P) and s["saving"] > 0.9
    assert s["first_touches"] == 100 * P and s["cow_breaks"] == 0
    # VMs 0..49 each write unique content to pages 0..9: every such page was
    # still shared (50 clones keep the template), so each write is one COW break.
    for i in vms[:50]:
        codes = mm.access(i, np.arange(10), np.arange(10, dtype=np.uint64) + 1_000 * (i + 1))
        assert codes.tolist() == [Outcome.COW_BREAK] * 10
    s = mm.stats()
    assert s["cow_breaks"] == 500 and s["frames_used"] == P + 500
    assert s["vm_cow_breaks"].tolist() == [10] * 50 + [0] * 50
    assert s["vm_shared"].tolist() == [P - 10] * 50 + [P] * 50
    # rewriting a private page in place is a plain hit
    assert mm.write(vms[0], 0, 7) == Outcome.HIT
    # writing the template back joins the template frame (immediate merge)
    assert mm.write(vms[0], 0, int(template(1)[0])) == Outcome.MERGED
    assert mm.stats()["frames_used"] == P + 499
    check_invariants(mm)


def test_domains_never_share(impl):
    mm = impl.MemoryManager(frames=1_000)
    content = template(2)
    clone(mm, 3, content, domain=0)
    clone(mm, 3, content, domain=1)
    s = mm.stats()
    assert s["frames_used"] == 2 * TEMPLATE_PAGES and s["pages_sharing"] == 4 * TEMPLATE_PAGES
    check_invariants(mm)


def test_merge_off_never_shares(impl):
    mm = impl.MemoryManager(frames=1_000, merge="off")
    clone(mm, 3, template(3))
    s = mm.stats()
    assert s["frames_used"] == 3 * TEMPLATE_PAGES and s["saving"] == 0.0
    check_invariants(mm)


def test_ksm_scan_merges_stable_pages_and_counts_volatile(impl):
    P = TEMPLATE_PAGES
    mm = impl.MemoryManager(frames=10_000, merge="scan")
    vms = clone(mm, 10, template(4))
    assert mm.stats()["frames_used"] == 10 * P  # no merge at write time
    mm.scan(10 * P)  # first full pass: contents remembered, nothing merged
    s = mm.stats()
    assert s["frames_used"] == 10 * P and s["merges"] == 0
    # VM 9 keeps changing page 0 between passes: volatile, never merged
    mm.write(vms[9], 0, 12345)
    mm.scan(10 * P)  # second pass: unchanged pages merge
    s = mm.stats()
    assert s["pages_volatile"] == 1
    assert s["frames_used"] == P + 1  # template frames + VM 9's page 0
    assert s["merges"] == 9 * P - 1 and s["saving"] > 0.85
    # merged pages are write-protected: a write breaks COW
    assert mm.write(vms[0], 5, 99) == Outcome.COW_BREAK
    check_invariants(mm)


def test_eviction_swaps_out_every_mapper_of_a_shared_frame(impl):
    mm = impl.MemoryManager(frames=2, k=1)  # k=1: LRU over frames
    a, b = add_vm(mm, 4), add_vm(mm, 4)
    mm.write(a, 0, 11)
    assert mm.write(b, 0, 11) == Outcome.FIRST_TOUCH  # joins a's frame
    mm.write(a, 1, 22)
    mm.write(a, 2, 33)  # full: LRU frame is the shared one (content 11)
    s = mm.stats()
    assert s["evictions"] == 1 and s["vm_swapped"].tolist() == [1, 1]
    assert mm.page(a, 0)[:2] == (PageState.SWAPPED, 11) and mm.page(b, 0)[0] == PageState.SWAPPED
    assert mm.read(b, 0) == Outcome.MAJOR_FAULT and mm.page(b, 0)[1] == 11
    # b's swap-in needed a frame: LRU evicted the frame of content 22 (a's page 1)
    assert mm.stats()["evictions"] == 2 and mm.page(a, 1)[0] == PageState.SWAPPED
    # a's page 0 is still swapped; its swap-in joins b's frame (no allocation)
    assert mm.read(a, 0) == Outcome.MAJOR_FAULT
    s = mm.stats()
    assert s["evictions"] == 2 and s["pages_shared"] == 1 and s["vm_major_faults"].tolist() == [1, 1]
    check_invariants(mm)


def test_remove_vm_releases_and_unshares(impl):
    mm = impl.MemoryManager(frames=100)
    a, b = clone(mm, 2, template(5, 8))
    mm.write(a, 0, 1)  # a's page 0 private
    mm.remove_vm(a)
    s = mm.stats()
    assert s["frames_used"] == 8 and s["pages_shared"] == 0 and s["vm"].tolist() == [b]
    assert (
        s["vm_first_touches"].tolist() == [8] and s["first_touches"] == 16
    )  # removed VMs' count in the totals
    assert s["vm_shared"].tolist() == [0] and s["vm_resident"].tolist() == [8]
    with pytest.raises(KeyError):
        mm.read(a, 0)
    assert add_vm(mm, 1) == 2  # ids are never reused
    check_invariants(mm)


def test_first_read_maps_the_zero_page(impl):
    mm = impl.MemoryManager(frames=10)
    vm = add_vm(mm, 5)
    assert mm.access(vm, np.arange(5)).tolist() == [Outcome.FIRST_TOUCH] * 5
    assert mm.stats()["frames_used"] == 1 and mm.page(vm, 3)[:2] == (PageState.RESIDENT, 0)


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((0,), {}, ValueError),
        ((10, 0), {}, ValueError),
        ((10, 2, -1), {}, ValueError),
        ((10,), {"merge": "eager"}, ValueError),
        ((10,), {"merge": 1}, TypeError),
        ((10,), {"rip": -1}, ValueError),
        ((10,), {"history": -2}, ValueError),
        ((10,), {"rip": 1.5}, TypeError),
        ((10.0,), {}, TypeError),
    ],
)
def test_bad_constructor_arguments(impl, args, kwargs, error):
    with pytest.raises(error):
        impl.MemoryManager(*args, **kwargs)


def test_history_follows_content_across_eviction(impl):
    # frames=2, k=2, worked by hand from the rules: content 6 is evicted
    # with one reference, comes back at t=5 and, with its history retained
    # by content, becomes finite (HIST(2)=3 > content 5's HIST(2)=1), so at
    # t=6 content 5 is the victim. With rip=0 content 6 restarts with
    # infinite distance and is the victim instead.
    def run(**kwargs):
        mm = impl.MemoryManager(frames=2, k=2, **kwargs)
        a = add_vm(mm, 4)
        mm.write(a, 0, 5)  # t=1: frame A (5), HIST (1, 0)
        mm.read(a, 0)  # t=2: HIST (2, 1): finite
        mm.write(a, 1, 6)  # t=3: frame B (6), HIST (3, 0): infinite
        mm.write(a, 2, 7)  # t=4: victim B (infinite) -> 6 swapped, history (3, 0) retained
        mm.read(a, 1)  # t=5: 6 comes back: victim C (7, infinite); 6 resumes -> HIST (5, 3): finite
        mm.write(a, 3, 8)  # t=6: A (5) has HIST(2)=1, 6 has HIST(2)=3: A is the victim
        return [mm.page(a, g)[0] for g in range(4)], mm.stats()

    states, stats = run()
    assert states == [PageState.SWAPPED, PageState.RESIDENT, PageState.SWAPPED, PageState.RESIDENT]
    assert stats["retained"] == 2  # contents 5 and 7
    # rip=0: nothing retained; at t=6 6 (HIST (5, 0)) is infinite again and goes first
    states, stats = run(rip=0)
    assert states == [PageState.RESIDENT, PageState.SWAPPED, PageState.SWAPPED, PageState.RESIDENT]
    assert stats["retained"] == 1  # the victim of t=6, kept until the next access
