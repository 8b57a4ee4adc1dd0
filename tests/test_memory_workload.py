"""MemoryWorkload and fingerprint against page-by-page oracles in plain Python integers."""

from __future__ import annotations

import numpy as np
import pytest

from vsched import workloads

MASK = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """The SplitMix64 finaliser, one integer at a time (0 maps to 1: the zero page's content is 0)."""
    z = (value + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return z or 1


def test_fingerprint_matches_splitmix64():
    rng = np.random.default_rng(4)
    values = rng.integers(0, 2**64 - 1, 2000, dtype=np.uint64, endpoint=True)
    values[:4] = [0, 1, 2**63, 2**64 - 1]
    got = workloads.fingerprint(values)
    assert got.dtype == np.uint64
    assert got.tolist() == [splitmix64(int(v)) for v in values]
    assert values[3] == 2**64 - 1  # the input is not changed


@pytest.mark.parametrize(
    "params",
    [
        dict(vms=7, pages=33, templates=3, seed=2),
        dict(vms=2, pages=5, templates=10, seed=0),  # fewer VMs than templates
        dict(vms=12, pages=17, templates=4, seed=9, zero_fraction=0.3, unique_fraction=0.5),
        dict(vms=5, pages=8, templates=1, seed=1, zero_fraction=0.0, unique_fraction=1.0),
        dict(vms=0, pages=4),
    ],
)
def test_boot_writes_each_page_by_its_kind(params):
    load = workloads.MemoryWorkload(**params)
    (batch,) = load.boot()
    vms, pages = load.vms, load.pages
    kinds = np.random.default_rng([load.seed, 0]).random(vms * pages)  # one draw per page, VM-major
    expected_vm, expected_gpn, expected = [], [], []
    for i in range(vms * pages):
        vm, gpn = divmod(i, pages)
        expected_vm.append(vm)
        expected_gpn.append(gpn)
        if kinds[i] < load.zero_fraction:
            expected.append(0)
        elif kinds[i] < load.zero_fraction + load.unique_fraction:
            expected.append(splitmix64((1 << 63) | (vm << 32) | gpn))
        else:
            expected.append(splitmix64(((vm % load.templates) << 32) | gpn))
    assert set(batch) == {"vm", "gpn", "content"}
    assert batch["vm"].dtype == batch["gpn"].dtype == np.int64 and batch["content"].dtype == np.uint64
    assert batch["vm"].tolist() == expected_vm
    assert batch["gpn"].tolist() == expected_gpn
    assert batch["content"].tolist() == expected


def test_tick_references_by_rule():
    load = workloads.MemoryWorkload(6, 200, seed=3, accesses=40, hot_fraction=0.05)
    first = load.tick(0)[0]
    again = workloads.MemoryWorkload(6, 200, seed=3, accesses=40, hot_fraction=0.05).tick(0)[0]
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])  # deterministic for a seed
    assert first["vm"].tolist() == [vm for vm in range(6) for _ in range(40)]
    assert ((first["gpn"] >= 0) & (first["gpn"] < 200)).all()
    # fresh write content is unique across ticks: fingerprints of a running counter
    second = load.tick(1)[0]
    fresh = 3 << 62
    assert first["content"].tolist() == [splitmix64(fresh | n) for n in range(240)]
    assert second["content"].tolist() == [splitmix64(fresh | n) for n in range(240, 480)]
    activity = np.array([0.0, 0.5, 1.0, 0.25, 0.0, 1.0])
    scaled = load.tick(2, activity)[0]
    assert np.bincount(scaled["vm"], minlength=6).tolist() == [0, 20, 40, 10, 0, 40]
