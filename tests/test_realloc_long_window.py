"""Reallocator windows far longer than the ticks seen so far: rows are allocated as ticks reach them,
the column blocks start one column wide once a window is long; results stay bit-identical to the
reference across block ends, imports and checkpoints."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import vsched
import vsched.reference


def observed(r) -> tuple:
    return (r.vms, r.entitlements().tobytes(), r.base().tobytes(), r.estimates().tobytes(), r.load, r.lending)


def usage(rng, ticks: int, vms: int) -> np.ndarray:
    return np.minimum(rng.lognormal(-1.5, 1.0, (ticks, vms)), 2.0)


@pytest.mark.parametrize("estimator", ["max", "mean", "percentile", "ewma"])
def test_a_long_window_filled_late_agrees_with_the_reference(estimator):
    window = 5000
    twins = [m.Reallocator(3.0, window, 0.75, estimator, 90.0, 0.1) for m in (vsched, vsched.reference)]
    rng = np.random.default_rng(11)
    steps = [
        ("observe", np.zeros((4100, 0))),  # ticks with no VM: more rows than a first block of 64 columns
        ("add", 1.0), ("add", 2.0), ("observe", 400), ("add", 0.5), ("export_import", 0),
        ("observe", 520),  # crosses the end of the first block of W ticks
        ("remove", 1), ("add", 1.5), ("checkpoint", None), ("observe", 30),
    ]  # fmt: skip
    for op, arg in steps:
        if op == "observe":
            rows = arg if isinstance(arg, np.ndarray) else usage(rng, arg, len(twins[0].vms))
            for r in twins:
                r.observe_many(rows)
        elif op == "add":
            assert len({r.add_vm(arg, 1000) for r in twins}) == 1
        elif op == "remove":
            for r in twins:
                r.remove_vm(arg)
        elif op == "export_import":
            for r in twins:
                r.import_vm(r.export_vm(arg))
        elif op == "checkpoint":
            twins = [pickle.loads(pickle.dumps(r)) for r in twins]
        assert observed(twins[0]) == observed(twins[1]), op


@pytest.mark.parametrize("estimator", ["max", "percentile"])
def test_the_largest_window_adds_vms_without_allocating_it(estimator):
    """window = 10**6: adds before any tick, a few ticks, an import (which needs every row), a checkpoint."""
    twins = [m.Reallocator(4.0, 10**6, 0.75, estimator, 95.0) for m in (vsched, vsched.reference)]
    rng = np.random.default_rng(5)
    for r in twins:
        r.add_vm(1.0)
        r.add_vm(2.0)
    rows = usage(rng, 20, 2)
    for r in twins:
        r.observe_many(rows)
        r.import_vm(r.export_vm(1))
    assert observed(twins[0]) == observed(twins[1])
    saved = twins[0]._core._save()
    twins = [pickle.loads(pickle.dumps(r)) for r in twins]
    assert twins[0]._core._save() == saved  # rows no tick reached are saved as zeros, and load as such
    rows = usage(rng, 5, 3)
    for r in twins:
        r.observe_many(rows)
        r.remove_vm(0)
        r.add_vm(0.5)
    assert observed(twins[0]) == observed(twins[1])
