"""Reallocator state that can move: checkpoints (pickle, copies, a new process)
and one VM's export/import, on both implementations and across them."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched import _core

MODULES = {"native": vsched, "reference": vsched.reference}
ESTIMATORS = list(vsched.ESTIMATORS)


def snapshot(r) -> tuple:
    """Everything observable about a reallocator, and every VM's exported state."""
    return (
        list(r.vms),
        r.entitlements().tolist(),
        r.base().tolist(),
        r.estimates().tolist(),
        r.load,
        r.lending,
        [r.export_vm(vm) for vm in r.vms],
    )


def busy(module, estimator: str, window: int = 7, seed: int = 1, ticks: int = 23):
    """A lending host with reservations, limits, a removal and a saturated VM."""
    rng = np.random.default_rng(seed)
    r = module.Reallocator(6.0, window=window, estimator=estimator, percentile=80.0, headroom=0.1)
    for i in range(8):
        r.add_vm(1.0 + (i % 3), shares=(500, 1000, 2000)[i % 3], reservation=0.2 * (i % 2),
                 limit=None if i % 4 else 1.5)
    r.remove_vm(3)
    r.observe_many(np.minimum(rng.lognormal(-1.5, 1.0, (ticks, 7)), 2.0), cap_at_entitlement=True)
    return r


def continue_run(r, seed: int = 2) -> list:
    """A fixed continuation: ticks, parameter changes, a new VM; every output after each step."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(30):
        n = len(r.vms)
        if step == 10:
            r.set_vm(r.vms[0], 2.5, shares=3000, reservation=0.3)
        if step == 20:
            r.add_vm(1.0, reservation=0.1)
            n += 1
        if step % 3 == 0:
            out.append(r.observe_many(rng.uniform(0.0, 1.5, (4, n)), cap_at_entitlement=True).tolist())
        else:
            r.observe(rng.uniform(0.0, 1.5, n))
        out.append(snapshot(r))
    return out


# ------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("implementation", sorted(MODULES))
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("window", [5, 80])  # 80: past the percentile's sorted lane
def test_restored_in_a_new_process_continues_bit_identically(tmp_path, implementation, estimator, window):
    module = MODULES[implementation]
    original = busy(module, estimator, window, ticks=window + 9)
    (tmp_path / "checkpoint.pickle").write_bytes(pickle.dumps(original))
    expected = continue_run(original)
    script = textwrap.dedent(
        f"""
        import pickle, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from test_realloc_state import continue_run
        restored = pickle.loads(open({str(tmp_path / "checkpoint.pickle")!r}, "rb").read())
        open({str(tmp_path / "continued.pickle")!r}, "wb").write(pickle.dumps(continue_run(restored)))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert pickle.loads((tmp_path / "continued.pickle").read_bytes()) == expected


@pytest.mark.parametrize("implementation", sorted(MODULES))
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_copies_are_deep_and_continue_identically(implementation, estimator):
    module = MODULES[implementation]
    original = busy(module, estimator)
    before = snapshot(original)
    clones = [copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))]
    for clone in clones:
        assert type(clone) is type(original) and snapshot(clone) == before
    expected = continue_run(copy.deepcopy(original))
    for clone in clones:
        assert continue_run(clone) == expected
    assert snapshot(original) == before  # running the copies did not touch the original


def test_native_checkpoint_refuses_bad_bytes():
    r = busy(vsched, "percentile", window=80)
    state = r._core._save()
    for cut in sorted({0, 1, 6, 7, 12, 20, 40, len(state) // 2, len(state) - 9, len(state) - 1}):
        with pytest.raises(ValueError):
            _core.Reallocator._load(state[:cut])
    with pytest.raises(ValueError):
        _core.Reallocator._load(state + b"\0")
    rng = np.random.default_rng(0)
    for position in rng.integers(30, len(state), 200):  # any flipped byte: refused by the hash
        corrupt = bytearray(state)
        corrupt[position] ^= 0x5A
        with pytest.raises(ValueError):
            _core.Reallocator._load(bytes(corrupt))
    with pytest.raises(ValueError, match="format"):
        _core.Reallocator._load(state.replace(b"Reallocator\0\x01", b"Reallocator\0\x02", 1))
    with pytest.raises(ValueError, match="CpuScheduler"):
        _core.Reallocator._load(state.replace(b"Reallocator", b"CpuScheduler", 1))


@pytest.mark.parametrize("implementation", sorted(MODULES))
def test_envelopes_of_other_kinds_formats_and_twins_are_refused(implementation):
    module = MODULES[implementation]
    other = MODULES["reference" if implementation == "native" else "native"]
    r = busy(module, "max")
    state = r.__getstate__()
    for bad in (
        {**state, "vsched_checkpoint": state["vsched_checkpoint"] + 1},
        {**state, "kind": "CpuScheduler"},
        busy(other, "max").__getstate__(),
        {"not": "a checkpoint"},
        {**state, "payload": {"state": b"vsched\0Reallocator\0"} if implementation == "native" else {}},
    ):
        fresh = module.Reallocator.__new__(module.Reallocator)
        with pytest.raises(ValueError):
            fresh.__setstate__(bad)


# ------------------------------------------------------------------ VM export / import


def _one_vm_host(module, estimator, window, capacity=1e6):
    """A host where nobody is ever saturated or clamped: estimates are the windows' statistics."""
    r = module.Reallocator(capacity, window=window, estimator=estimator, percentile=70.0, headroom=0.0)
    r.add_vm(1e6)
    return r


def _statistic(samples, estimator, percentile=70.0):
    recent = np.array(samples)
    return {"max": recent.max(), "mean": recent.mean(), "percentile": np.percentile(recent, percentile)}[estimator]


@pytest.mark.parametrize("source_impl", sorted(MODULES))
@pytest.mark.parametrize("target_impl", sorted(MODULES))
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("window", [6, 80])
def test_imported_vm_continues_as_if_it_had_stayed(source_impl, target_impl, estimator, window):
    rng = np.random.default_rng(window)
    source = _one_vm_host(MODULES[source_impl], estimator, window)
    stayed = source.add_vm(1e6, shares=2000, reservation=0.5, limit=3e5)
    first = rng.uniform(0.0, 9.0, (window + 5, 2))
    source.observe_many(first)
    state = source.export_vm(stayed)
    assert state == copy.deepcopy(state) and pickle.loads(pickle.dumps(state)) == state  # plain data
    for phase in (0, 3):  # the destination's blocks aligned with the source's, or not
        stayed_host = copy.deepcopy(source)  # where the VM would have stayed
        target = _one_vm_host(MODULES[target_impl], estimator, window)
        target.observe_many(rng.uniform(0.0, 9.0, (len(first) + phase, 1)))
        moved = target.import_vm(state)
        assert target.export_vm(moved) == state  # what was exported is what is there
        for tick in range(3 * window):
            e_stayed = stayed_host.estimates()[stayed_host.vms.index(stayed)]
            e_moved = target.estimates()[target.vms.index(moved)]
            if estimator == "mean" and phase:
                # The running sum is recomputed exactly at each host's own block ends.
                assert math.isclose(e_moved, e_stayed, rel_tol=1e-12)
            else:
                assert e_moved == e_stayed, (phase, tick)
            sample = float(rng.uniform(0.0, 9.0))
            stayed_host.observe([0.0, sample])
            target.observe([0.0, sample])


@pytest.mark.parametrize("implementation", sorted(MODULES))
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(("source_window", "target_window"), [(12, 5), (5, 12), (80, 30), (30, 80)])
def test_import_into_a_different_window_length(implementation, estimator, source_window, target_window):
    """The newest min(k, W) samples are kept; max, mean (summed exactly) and
    percentile are those of that window; the EWMA is carried and continues
    with the destination's alpha."""
    module = MODULES[implementation]
    rng = np.random.default_rng(source_window)
    source = _one_vm_host(module, estimator, source_window)
    samples = rng.uniform(0.0, 5.0, 2 * source_window).tolist()
    source.observe_many(np.array(samples).reshape(-1, 1))
    state = source.export_vm(0)
    target = _one_vm_host(module, estimator, target_window)
    moved = target.import_vm(state)
    kept = samples[-min(source_window, target_window) :]
    assert target.export_vm(moved)["samples"] == kept
    at = target.vms.index(moved)
    if estimator == "ewma":
        expected = state["estimator_state"]["ewma"]
        alpha = 2.0 / (target_window + 1.0)
        for x in rng.uniform(0.0, 5.0, 10):
            target.observe([0.0, float(x)])
            expected = expected + alpha * (float(x) - expected)
            assert target.estimates()[at] == expected
    elif estimator == "decayed_histogram":  # its state is carried as is, and continues as the twin's does
        assert target.export_vm(moved)["estimator_state"] == state["estimator_state"]
        twin = _one_vm_host(MODULES[next(m for m in MODULES if m != implementation)], estimator, target_window)
        assert twin.import_vm(state) == moved
        for x in rng.uniform(0.0, 5.0, 3 * target_window):
            target.observe([0.0, float(x)])
            twin.observe([0.0, float(x)])
            assert target.estimates()[at] == twin.estimates()[at]
    else:
        assert math.isclose(target.estimates()[at], _statistic(kept, estimator, 70.0), rel_tol=1e-12)
        for x in rng.uniform(0.0, 5.0, 3 * target_window):
            target.observe([0.0, float(x)])
            kept = (kept + [float(x)])[-target_window:]
            assert math.isclose(target.estimates()[at], _statistic(kept, estimator, 70.0), rel_tol=1e-9)


def test_native_and_reference_exports_are_identical():
    for estimator in ESTIMATORS:
        native, reference = busy(vsched, estimator), busy(vsched.reference, estimator)
        for vm in native.vms:
            assert native.export_vm(vm) == reference.export_vm(vm)


def _valid_state():
    r = _one_vm_host(vsched.reference, "ewma", 4)
    r.observe_many(np.array([[1.0], [2.0], [3.0]]))
    return r.export_vm(0)


BAD_STATES = [
    (lambda s: "not a dict", TypeError),
    (lambda s: {**s, "vsched_vm": 2}, ValueError),
    (lambda s: {k: v for k, v in s.items() if k != "samples"}, ValueError),
    (lambda s: {**s, "samples": [1.0, math.nan]}, ValueError),
    (lambda s: {**s, "samples": [1.0, -1.0]}, ValueError),
    (lambda s: {**s, "samples": [1.0, math.inf]}, ValueError),
    (lambda s: {**s, "samples": ["a"]}, TypeError),
    (lambda s: {**s, "samples": [[1.0]]}, ValueError),
    (lambda s: {**s, "window_sum": math.nan}, ValueError),
    (lambda s: {**s, "samples_seen": 1}, ValueError),  # fewer than the samples present
    (lambda s: {**s, "samples_seen": -1}, ValueError),
    (lambda s: {**s, "samples_seen": 2.0}, TypeError),
    (lambda s: {**s, "window": 0}, ValueError),
    (lambda s: {**s, "window": 2}, ValueError),  # shorter than the samples present
    (lambda s: {**s, "saturated": 1}, TypeError),
    (lambda s: {**s, "size": -1.0}, ValueError),
    (lambda s: {**s, "shares": 0}, ValueError),
    (lambda s: {**s, "shares": 1.5}, TypeError),
    (lambda s: {**s, "reservation": 7e6}, vsched.AdmissionError),  # above the size
    (lambda s: {**s, "reservation": 2e6 - 1.0, "size": 2e6}, vsched.AdmissionError),  # floors > capacity
    (lambda s: {**s, "estimator_state": {}}, ValueError),  # an ewma host needs the EWMA
    (lambda s: {**s, "estimator": "max", "estimator_state": {}}, ValueError),  # ... which max does not keep
    (lambda s: {**s, "estimator_state": {"ewma": -1.0}}, ValueError),
    (lambda s: {**s, "estimator_state": {"ewma": "x"}}, TypeError),
    (lambda s: {**s, "estimator_state": [1.0]}, TypeError),
]


@pytest.mark.parametrize(("make", "error"), BAD_STATES)
def test_bad_imports_change_nothing_and_raise_the_same_on_both(make, error):
    raised = []
    for module in (vsched, vsched.reference):
        r = module.Reallocator(2e6, window=4, estimator="ewma")
        r.add_vm(1e6, reservation=2.0)
        r.observe([0.5])
        before = snapshot(r)
        with pytest.raises(Exception) as info:
            r.import_vm(make(_valid_state()))
        raised.append(type(info.value))
        assert snapshot(r) == before
        assert r.add_vm(1.0) == 1  # no id was consumed
    assert raised[0] is raised[1] is error, raised


def test_window_estimators_import_from_any_estimator(impl):
    source = _one_vm_host(impl, "ewma", 5)
    source.observe_many(np.array([[1.0], [4.0], [2.0]]))
    state = source.export_vm(0)
    for estimator in ("max", "mean", "percentile"):
        target = _one_vm_host(impl, estimator, 5)
        target.import_vm(state)
        assert math.isclose(target.estimates()[1], _statistic([1.0, 4.0, 2.0], estimator), rel_tol=1e-12)
    with pytest.raises(KeyError):
        source.export_vm(99)


def test_both_implementations_register_the_same_estimators():
    assert vsched.ESTIMATORS == vsched.reference.ESTIMATORS == tuple(_core.ESTIMATORS)
    assert set(vsched.ESTIMATORS) >= {"max", "mean", "percentile", "ewma"}
