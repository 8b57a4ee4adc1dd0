"""Workload generator calibration and trace loaders."""

from __future__ import annotations

import numpy as np
import pytest

from vsched import workloads
from vsched.workloads import TraceError


def test_synthetic_cpu_is_calibrated_to_planetlab():
    trace = workloads.synthetic_cpu(3000, 288, seed=3)
    pct = trace.cpu * 100
    assert trace.cpu.shape == (288, 3000)
    assert 10.0 <= pct.mean() <= 13.0  # PlanetLab 11.1 %
    assert 40.0 <= np.percentile(pct, 95) <= 50.0  # PlanetLab 43 %
    assert 0.78 <= (pct < 20).mean() <= 0.88  # PlanetLab 82.7 %
    assert pct.min() >= 0 and pct.max() <= 100


def test_synthetic_cpu_is_seeded_and_diurnal():
    a = workloads.synthetic_cpu(50, 288, seed=9)
    b = workloads.synthetic_cpu(50, 288, seed=9)
    c = workloads.synthetic_cpu(50, 288, seed=10)
    assert np.array_equal(a.cpu, b.cpu) and not np.array_equal(a.cpu, c.cpu)
    day = workloads.synthetic_cpu(2000, 288, seed=1, diurnal=True).cpu.mean(axis=1)
    afternoon, night = day[12 * 13 : 12 * 15].mean(), day[12 * 1 : 12 * 3].mean()
    assert afternoon > 1.5 * night


def test_planetlab_day(shared_data):
    folder = shared_data / "planetlab" / "20110303"
    trace = workloads.load_planetlab(folder)
    assert trace.ticks == 288 and trace.vms == len(list(folder.iterdir()))
    assert 0.05 <= trace.cpu.mean() <= 0.2
    spaced = [p for p in (shared_data / "planetlab").glob("*/* *")]
    assert spaced, "the data set has names with spaces"
    day = workloads.load_planetlab(spaced[0].parent)
    assert spaced[0].name in day.names


def test_gcd_clamps_or_rejects_memory_above_100(shared_data):
    folder = shared_data / "gcd"
    trace = workloads.load_gcd(folder)
    assert trace.memory is not None and trace.memory.max() <= 1.0
    assert trace.notes and "clamped" in trace.notes[0]
    with pytest.raises(TraceError, match="above 100 %"):
        workloads.load_gcd(folder, memory_over_100="reject")


def test_bad_trace_files_give_clear_errors(tmp_path):
    day = tmp_path / "day"
    day.mkdir()
    (day / "vm a").write_text("\n".join(["5"] * 287 + ["x"]) + "\n")
    with pytest.raises(TraceError, match=r"vm a:288"):
        workloads.load_planetlab(day)
    (day / "vm a").write_text("1\n2\n")
    with pytest.raises(TraceError, match="expected 288"):
        workloads.load_planetlab(day)
    with pytest.raises(TraceError, match="not a folder"):
        workloads.load_planetlab(tmp_path / "missing")
    with pytest.raises(TraceError, match="planetlab:DIR"):
        workloads.load_trace("nonsense")
    gcd = tmp_path / "gcd"
    gcd.mkdir()
    (gcd / "vm_1").write_text("\n".join(["1.0 2.0"] * 287 + ["1.0"]) + "\n")
    with pytest.raises(TraceError, match="vm_1:288"):
        workloads.load_gcd(gcd)
