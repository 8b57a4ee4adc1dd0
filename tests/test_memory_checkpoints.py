"""Checkpoints of LRUK and MemoryManager (both twins): pickle, deepcopy, copy, restore in a new
process and continue bit-identically; bad checkpoints refused with ValueError."""

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
from vsched._state import CHECKPOINT_FORMAT

IMPLS = {"native": vsched, "reference": vsched.reference}
MERGES = ["immediate", "scan", "off"]


# -- workloads: deterministic, seeded phases ------------------------------------------


def lruk_phase(cache, seed: int) -> list:
    rng = np.random.default_rng(seed)
    keys = rng.zipf(1.3, 3_000).astype(np.uint64) % np.uint64(500)
    return [cache.access_many(keys).tolist(), cache.access(int(keys[0]))]


def lruk_state(cache) -> tuple:
    keys = range(500)
    return (
        cache.time,
        cache.hits,
        cache.misses,
        cache.evictions,
        cache.retained,
        len(cache),
        [k for k in keys if k in cache],
        [cache.history_of(k) for k in keys],
    )


def make_manager(mod, merge: str):
    mm = mod.MemoryManager(frames=60, k=2, crp=1, rip=2_000, history=40, merge=merge)
    for i in range(4):
        mm.add_vm(50, domain=i % 2)
    return mm


def memory_phase(mm, seed: int) -> list:
    """Accesses, a removal and an addition, a scan: returns every outcome."""
    rng = np.random.default_rng(seed)
    ids = mm.stats()["vm"].tolist()
    out = []
    for _ in range(3):
        vm = rng.choice(ids, 400)
        gpn = rng.integers(0, 50, 400)
        content = rng.integers(0, 30, 400).astype(np.uint64)
        write = rng.random(400) < 0.5
        out.append(mm.access(vm, gpn, content, write).tolist())
        if mm.merge == "scan":
            mm.scan(70)
    mm.remove_vm(ids[int(rng.integers(0, len(ids)))])
    mm.add_vm(50, domain=int(rng.integers(0, 2)))
    out.append(mm.write(mm.stats()["vm"].tolist()[-1], 3, 7))
    return out


def memory_state(mm) -> dict:
    stats = mm.stats()
    return {
        **{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in stats.items()},
        "mappings": [[a.tolist() for a in mm.mapping(vm)] for vm in stats["vm"].tolist()],
    }


# -- round trips in this process ------------------------------------------------------------


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("merge", MERGES)
def test_memory_copies_continue_identically_and_never_share(impl, merge):
    mm = make_manager(IMPLS[impl], merge)
    memory_phase(mm, 1)
    clones = [pickle.loads(pickle.dumps(mm)), copy.deepcopy(mm), copy.copy(mm)]
    expected = memory_phase(mm, 2), memory_state(mm)
    for clone in clones:
        assert type(clone) is type(mm)
        assert (memory_phase(clone, 2), memory_state(clone)) == expected
    memory_phase(clones[2], 3)  # advancing a copy leaves the original alone
    assert memory_state(mm) == expected[1]


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_lruk_copies_continue_identically_and_never_share(impl):
    cache = IMPLS[impl].LRUK(40, k=2, crp=2, rip=900, history=60)
    lruk_phase(cache, 1)
    clones = [pickle.loads(pickle.dumps(cache)), copy.deepcopy(cache), copy.copy(cache)]
    expected = lruk_phase(cache, 2), lruk_state(cache)
    for clone in clones:
        assert (lruk_phase(clone, 2), lruk_state(clone)) == expected
    lruk_phase(clones[0], 3)
    assert lruk_state(cache) == expected[1]


def test_native_checkpoints_are_canonical():
    mm = make_manager(vsched, "scan")
    memory_phase(mm, 4)
    saved = mm._core._save()
    assert vsched._core.MemoryManager._load(saved)._save() == saved
    cache = vsched.LRUK(30)
    lruk_phase(cache, 4)
    assert vsched._core.LRUK._load(cache._core._save())._save() == cache._core._save()


# -- restore in a new process -----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import pickle, sys
    sys.path.insert(0, sys.argv[3])
    import test_memory_checkpoints as t
    with open(sys.argv[1], "rb") as f:
        obj = pickle.load(f)
    if sys.argv[4] == "lruk":
        result = (t.lruk_phase(obj, 2), t.lruk_phase(obj, 3), t.lruk_state(obj))
    else:
        result = (t.memory_phase(obj, 2), t.memory_phase(obj, 3), t.memory_state(obj))
    with open(sys.argv[2], "wb") as f:
        pickle.dump(result, f)
    """
)


def continue_in_new_process(obj, kind: str, tmp_path: Path):
    checkpoint, result = tmp_path / "checkpoint.pkl", tmp_path / "result.pkl"
    checkpoint.write_bytes(pickle.dumps(obj))
    env = dict(os.environ)
    subprocess.run(
        [sys.executable, "-c", CHILD, str(checkpoint), str(result), str(Path(__file__).parent), kind],
        check=True,
        env=env,
        timeout=300,
    )
    return pickle.loads(result.read_bytes())


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_restored_in_a_new_process_continues_bit_identically(impl, tmp_path):
    mod = IMPLS[impl]
    for merge in MERGES:
        mm = make_manager(mod, merge)
        memory_phase(mm, 1)
        child = continue_in_new_process(mm, "memory", tmp_path)
        assert child == (memory_phase(mm, 2), memory_phase(mm, 3), memory_state(mm)), merge
    cache = mod.LRUK(40, k=3, crp=1, rip=None, history=25)
    lruk_phase(cache, 1)
    child = continue_in_new_process(cache, "lruk", tmp_path)
    assert child == (lruk_phase(cache, 2), lruk_phase(cache, 3), lruk_state(cache))


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_wrong_format_kind_or_implementation_is_refused(impl):
    mod = IMPLS[impl]
    mm, cache = make_manager(mod, "immediate"), mod.LRUK(5)
    other = IMPLS["reference" if impl == "native" else "native"]
    state = mm.__getstate__()
    for bad, match in [
        ({**state, "vsched_checkpoint": CHECKPOINT_FORMAT + 1}, "format"),
        (cache.__getstate__(), "LRUK"),
        (other.MemoryManager(5).__getstate__(), "not of a"),
        ({"x": 1}, "not a vsched checkpoint"),
        (
            {**state, "payload": {"layout": 99}} if impl == "reference" else {**state, "payload": 5},
            "checkpoint",
        ),
    ]:
        fresh = mod.MemoryManager.__new__(mod.MemoryManager)
        with pytest.raises(ValueError, match=match):
            fresh.__setstate__(bad)


def test_native_payloads_of_another_kind_version_or_length_are_value_errors():
    mm = make_manager(vsched, "scan")
    memory_phase(mm, 5)
    cache = vsched.LRUK(20)
    lruk_phase(cache, 5)
    core = vsched._core
    for loader, saved, other in (
        (core.MemoryManager._load, mm._core._save(), cache._core._save()),
        (core.LRUK._load, cache._core._save(), mm._core._save()),
    ):
        with pytest.raises(ValueError, match="checkpoint of a"):
            loader(other)
        name_end = saved.index(b"\0", 7) + 1
        version = int.from_bytes(saved[name_end : name_end + 4], "little")
        bumped = saved[:name_end] + (version + 1).to_bytes(4, "little") + saved[name_end + 4 :]
        with pytest.raises(ValueError, match="format"):
            loader(bumped)
        with pytest.raises(ValueError, match="trailing"):
            loader(saved + b"\0")
        # every truncation is refused, none crashes
        step = max(1, len(saved) // 400)
        for cut in [*range(0, len(saved), step), len(saved) - 1]:
            with pytest.raises(ValueError):
                loader(saved[:cut])
        assert loader(saved)._save() == saved
