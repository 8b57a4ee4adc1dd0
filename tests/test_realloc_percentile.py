"""The percentile estimator at every window length: native == numpy.percentile == reference, bit for bit.

Windows up to 64 are kept sorted natively and longer ones in rank bands that are
rebuilt when the rank leaves them, so the cases cover both lanes, both sides of
the switch, and data that keeps the bands busy: ties (integer usage, as PlanetLab
traces have), steady trends up and down (the rank leaves the band every few
samples), constant runs, and heavy-tailed usage. The oracle is numpy.percentile
over a sliding view of the same samples: independent of both implementations.
``VSCHED_LONG=1`` runs ten times as many cases.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import vsched
import vsched.reference

LONG = os.environ.get("VSCHED_LONG") == "1"
CASES = 3000 if LONG else 300
REFERENCE_CASES = 300 if LONG else 30


def usage(rng: np.random.Generator, kind: str, ticks: int, vms: int) -> np.ndarray:
    t = np.arange(ticks, dtype=np.float64)[:, None]
    if kind == "uniform":
        return rng.random((ticks, vms))
    if kind == "integer":  # many ties
        return rng.integers(0, 6, (ticks, vms)).astype(np.float64)
    if kind == "ramp_up":
        return t * 0.01 + rng.random((ticks, vms)) * 1e-3
    if kind == "ramp_down":
        return (ticks - t) * 0.01 + rng.random((ticks, vms)) * 1e-3
    if kind == "steps":  # constant runs with jumps
        return np.repeat(rng.random((ticks // 37 + 1, vms)), 37, axis=0)[:ticks]
    if kind == "sine":
        return 1.0 + np.sin(t / rng.uniform(3.0, 80.0)) + rng.random((ticks, vms)) * 0.01
    return np.minimum(rng.lognormal(-2.6, 1.0, (ticks, vms)), 1.0)  # PlanetLab-like


KINDS = ["uniform", "integer", "ramp_up", "ramp_down", "steps", "sine", "lognormal"]


def oracle(samples: np.ndarray, window: int, percentile: float) -> np.ndarray:
    """numpy.percentile of the last min(t + 1, W) samples after each tick t (ticks x VMs)."""
    ticks = samples.shape[0]
    out = np.empty_like(samples)
    for t in range(min(window - 1, ticks)):  # still filling
        out[t] = np.percentile(samples[: t + 1], percentile, axis=0)
    if ticks >= window:
        views = np.lib.stride_tricks.sliding_window_view(samples, window, axis=0)  # (ticks-W+1, VMs, W)
        out[window - 1 :] = np.percentile(views, percentile, axis=2)
    return out


def case(seed: int) -> tuple[int, float, np.ndarray]:
    rng = np.random.default_rng(seed)
    window = int(rng.integers(1, 301))
    percentile = float(rng.choice([0.0, 100.0, 50.0, 95.0, 99.0, round(float(rng.uniform(0, 100)), 3)]))
    ticks = int(rng.integers(1, 3 * window + 40))
    samples = usage(rng, KINDS[seed % len(KINDS)], ticks, int(rng.integers(1, 5)))
    return window, percentile, samples


def estimates(module, window: int, percentile: float, samples: np.ndarray) -> np.ndarray:
    r = module.Reallocator(1e9, window=window, estimator="percentile", percentile=percentile, headroom=0.0)
    for _ in range(samples.shape[1]):
        r.add_vm(1e6)  # a ceiling far above every sample: the estimate is the statistic itself
    out = np.empty_like(samples)
    for t, row in enumerate(samples):
        r.observe(row)
        out[t] = r.estimates()
    return out


def test_native_equals_numpy_at_every_window():
    seen_windows = set()
    for seed in range(CASES):
        window, percentile, samples = case(seed)
        got = estimates(vsched, window, percentile, samples)
        expected = oracle(samples, window, percentile)
        bad = np.argwhere(got != expected)
        assert bad.size == 0, (
            f"seed {seed}: W={window} p={percentile} first mismatch at tick, vm {tuple(bad[0])}: "
            f"{got[tuple(bad[0])]!r} != {expected[tuple(bad[0])]!r}"
        )
        seen_windows.add(window)
    assert min(seen_windows) <= 10 and max(seen_windows) >= 290  # both lanes, long windows


@pytest.mark.parametrize("seed", range(10_000, 10_000 + REFERENCE_CASES))
def test_native_equals_reference(seed):
    window, percentile, samples = case(seed)
    samples = samples[: 2 * window + 20]
    assert np.array_equal(
        estimates(vsched, window, percentile, samples), estimates(vsched.reference, window, percentile, samples)
    )


@pytest.mark.parametrize("window", [64, 65, 288])
def test_columns_reused_and_vms_added_late(window):
    """VMs join at different ticks (windows of different lengths in one tick) and
    leave; a new VM in a reused column starts with an empty band."""
    rng = np.random.default_rng(window)
    r = vsched.Reallocator(1e9, window=window, estimator="percentile", percentile=90.0, headroom=0.0)
    history: dict[int, list[float]] = {}
    for t in range(3 * window):
        if rng.random() < 0.1 or not history:
            history[r.add_vm(1e6)] = []
        if rng.random() < 0.03 and len(history) > 1:
            gone = int(rng.choice(list(history)))
            r.remove_vm(gone)
            del history[gone]
        row = rng.integers(0, 40, len(history)).astype(np.float64) / 8.0
        r.observe(row)
        for vm, x in zip(r.vms, row):
            history[vm].append(float(x))
        expected = [np.percentile(history[vm][-window:], 90.0) for vm in r.vms]
        assert r.estimates().tolist() == expected
