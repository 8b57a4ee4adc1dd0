"""CpuScheduler state that can move: checkpoints (pickle, copies, a new process)
on both implementations, and the refusal of damaged or foreign checkpoints."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched import _core

MODULES = {"native": vsched, "reference": vsched.reference}
MS = 1_000_000
LONG = os.environ.get("VSCHED_LONG") == "1"


def snapshot(s) -> tuple:
    """Everything observable about a scheduler."""
    return (
        s.now,
        s.decisions,
        {k: v.tolist() for k, v in s.stats().items()},
        {k: v.tolist() for k, v in s.vcpu_stats().items()},
    )


def busy(module, seed: int):
    """A host mid-flight: reservations (rule 6 urgent VMs), limits (held VMs),
    removals, CPU-bound and bursty work, runs ending at odd instants."""
    rng = np.random.default_rng(seed)
    pcpus = int(rng.integers(1, 5))
    s = module.CpuScheduler(pcpus, int(rng.choice([1, 2, 3])) * MS, strict_reservations=bool(seed % 4))
    reserved = 0.0
    for _ in range(int(rng.integers(3, 9))):
        vcpus = int(rng.integers(1, 4))
        reservation = float(rng.choice([0.0, 0.0, 0.25, 0.5, 1.0]))
        if reserved + reservation > pcpus:
            reservation = 0.0
        reserved += reservation
        limit = rng.choice([None, None, 0.3, 0.5, 1.0, 1.7, 2.5])
        limit = None if limit is None or limit < reservation else float(limit)
        s.add_vm(vcpus, shares=int(rng.choice([100, 1000, 3000])), reservation=reservation, limit=limit)
    vms = [int(v) for v in s.stats()["vm"]]
    s.remove_vm(vms.pop(int(rng.integers(len(vms)))))
    step(s, rng, vms, 6)
    return s


def step(s, rng, vms, count: int, record: list | None = None) -> None:
    """`count` random calls (work, runs, parameter changes, arrivals, departures)."""
    for _ in range(count):
        table = dict(zip(s.vcpu_stats()["vm"].tolist(), s.vcpu_stats()["vcpu"].tolist()))
        action = rng.integers(10)
        if action == 0 and len(vms) < 10:
            vms.append(s.add_vm(int(rng.integers(1, 4)), shares=int(rng.choice([500, 1000])),
                                limit=None if rng.random() < 0.5 else float(rng.choice([0.4, 1.2]))))
        elif action == 1 and len(vms) > 1:
            s.remove_vm(vms.pop(int(rng.integers(len(vms)))))
        elif action == 2 and vms:
            try:
                s.set_vm(vms[int(rng.integers(len(vms)))], shares=int(rng.choice([200, 1000, 5000])),
                         limit=float(rng.choice([0.6, 1.5, np.inf])))
            except vsched.AdmissionError:  # below the VM's reservation: refused, nothing changed
                pass
        elif action == 3 and vms:
            s.clear_work(vms[int(rng.integers(len(vms)))])
        elif vms:
            n = int(rng.integers(1, 6))
            vm = [vms[int(i)] for i in rng.integers(len(vms), size=n)]
            vcpu = [int(rng.integers(table[v] + 1)) for v in vm]  # vcpus - 1 at most
            work = [vsched.FOREVER if rng.random() < 0.15 else int(rng.integers(1, 5 * MS)) for _ in vm]
            s.add_work(vm, vcpu, work)
        s.run(int(rng.integers(0, 7 * MS)) + int(rng.integers(0, 3)))
        if record is not None:
            record.append(snapshot(s))


def continue_run(s, seed: int = 99) -> list:
    """A fixed continuation, every observable after each call."""
    rng = np.random.default_rng(seed)
    vms = [int(v) for v in s.stats()["vm"]]
    out: list = []
    step(s, rng, vms, 25, out)
    return out


# ------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("implementation", sorted(MODULES))
def test_restored_in_a_new_process_continues_bit_identically(tmp_path, implementation):
    module = MODULES[implementation]
    seeds = range(6)
    originals = [busy(module, seed) for seed in seeds]
    (tmp_path / "checkpoints.pickle").write_bytes(pickle.dumps(originals))
    expected = [continue_run(s) for s in originals]
    script = textwrap.dedent(
        f"""
        import pickle, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_scheduler_state import continue_run
        restored = pickle.loads(open({str(tmp_path / "checkpoints.pickle")!r}, "rb").read())
        open({str(tmp_path / "continued.pickle")!r}, "wb").write(pickle.dumps([continue_run(s) for s in restored]))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert pickle.loads((tmp_path / "continued.pickle").read_bytes()) == expected


@pytest.mark.parametrize("implementation", sorted(MODULES))
def test_checkpoints_at_random_instants_continue_identically(implementation):
    """Many histories, a checkpoint after a random number of calls: the restored
    copy and the original give the same observables after every later call."""
    module = MODULES[implementation]
    cases = 400 if LONG else (60 if implementation == "native" else 25)
    for seed in range(cases):
        rng = np.random.default_rng(1000 + seed)
        s = busy(module, seed)
        vms = [int(v) for v in s.stats()["vm"]]
        step(s, rng, vms, int(rng.integers(0, 8)))
        clone = pickle.loads(pickle.dumps(s))
        assert snapshot(clone) == snapshot(s)
        assert continue_run(clone, seed) == continue_run(s, seed), seed


def test_native_and_reference_agree_after_restoring():
    """A restored native scheduler still matches the reference twin, call for call."""
    for seed in range(20):
        native, reference = busy(vsched, seed), busy(vsched.reference, seed)
        native, reference = pickle.loads(pickle.dumps(native)), copy.deepcopy(reference)
        assert continue_run(native, seed) == continue_run(reference, seed), seed


@pytest.mark.parametrize("implementation", sorted(MODULES))
def test_copies_are_deep_and_continue_identically(implementation):
    module = MODULES[implementation]
    original = busy(module, 3)
    before = snapshot(original)
    clones = [copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))]
    for clone in clones:
        assert type(clone) is type(original) and snapshot(clone) == before
    expected = continue_run(copy.deepcopy(original))
    for clone in clones:
        assert continue_run(clone) == expected
    assert snapshot(original) == before  # running the copies did not touch the original


def test_native_checkpoint_refuses_bad_bytes():
    s = busy(vsched, 5)
    state = s._core._save()
    for cut in sorted({0, 1, 6, 7, 12, 20, 40, len(state) // 2, len(state) - 9, len(state) - 1}):
        with pytest.raises(ValueError):
            _core.CpuScheduler._load(state[:cut])
    with pytest.raises(ValueError):
        _core.CpuScheduler._load(state + b"\0")
    rng = np.random.default_rng(0)
    for position in rng.integers(30, len(state), 200):  # any flipped byte: refused by the hash
        corrupt = bytearray(state)
        corrupt[position] ^= 0x5A
        with pytest.raises(ValueError):
            _core.CpuScheduler._load(bytes(corrupt))
    with pytest.raises(ValueError, match="format"):
        _core.CpuScheduler._load(state.replace(b"CpuScheduler\0\x01", b"CpuScheduler\0\x02", 1))
    with pytest.raises(ValueError, match="Reallocator"):
        _core.CpuScheduler._load(state.replace(b"CpuScheduler", b"Reallocator", 1))


def test_reference_checkpoint_refuses_payloads_of_other_fields():
    s = busy(vsched.reference, 5)
    payload = s._checkpoint()
    bad = [
        {**payload, "fields": {**payload["fields"], "_unknown": 1}},
        {**payload, "fields": {k: v for k, v in payload["fields"].items() if k != "_now"}},
        {**payload, "vms": [[{**payload["vms"][0][0], "extra": 0}, payload["vms"][0][1]]]},
        {**payload, "vms": [[payload["vms"][0][0], [{"pending": 0}]]]},
        {**payload, "vms": payload["vms"][::-1]} if len(payload["vms"]) > 1 else {"vms": []},
        {"fields": payload["fields"]},
        [],
    ]
    for item in bad:
        fresh = vsched.reference.CpuScheduler.__new__(vsched.reference.CpuScheduler)
        with pytest.raises(ValueError):
            fresh._restore(item)


@pytest.mark.parametrize("implementation", sorted(MODULES))
def test_envelopes_of_other_kinds_formats_and_twins_are_refused(implementation):
    module = MODULES[implementation]
    other = MODULES["reference" if implementation == "native" else "native"]
    s = busy(module, 1)
    state = s.__getstate__()
    for bad in (
        {**state, "vsched_checkpoint": state["vsched_checkpoint"] + 1},
        {**state, "kind": "Reallocator"},
        busy(other, 1).__getstate__(),
        {"not": "a checkpoint"},
        {**state, "payload": {"state": b"vsched\0CpuScheduler\0"} if implementation == "native" else {}},
    ):
        fresh = module.CpuScheduler.__new__(module.CpuScheduler)
        with pytest.raises(ValueError):
            fresh.__setstate__(bad)
