"""Data out of a run: HostRun.to_frame() in long format, and short reprs for runs and engines."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vsched.host import VM_METRICS


def day(impl, vms: int = 6, ticks: int = 5):
    host = impl.Host(8 + vms // 4, 64 * vms)
    ids = [host.add_vm(1 + i % 2, 64) for i in range(vms)]
    host.remove_vm(ids[1])  # ids are no longer 0..n-1
    rng = np.random.default_rng(3)
    demand = rng.uniform(0, 1, (ticks, len(host))) * np.array([host._vms[v].vcpus for v in host.vms])
    return host, host.run(demand)


def check_long_format(run, columns):
    ticks, vms = run.metrics["cpu_used"].shape
    assert list(columns)[:2] == ["tick", "vm"] and set(columns) == {"tick", "vm", *VM_METRICS}
    assert all(len(columns[name]) == ticks * vms for name in columns)
    # every (tick, vm) pair exactly once
    pairs = set(zip(np.asarray(columns["tick"]).tolist(), np.asarray(columns["vm"]).tolist()))
    assert pairs == {(t, v) for t in range(ticks) for v in run.vms}
    # each row holds that tick's value for that VM
    for row in range(ticks * vms):
        t, v = int(columns["tick"][row]), int(columns["vm"][row])
        for name in VM_METRICS:
            assert columns[name][row] == run.metrics[name][t, run.vms.index(v)], (row, name)


def test_to_frame_is_a_dataframe_with_pandas(impl):
    pandas = pytest.importorskip("pandas")
    _, run = day(impl)
    frame = run.to_frame()
    assert isinstance(frame, pandas.DataFrame)
    check_long_format(run, {name: frame[name].to_numpy() for name in frame.columns})
    assert frame.groupby("vm")["cpu_used"].sum().to_dict() == pytest.approx(
        dict(zip(run.vms, run.metrics["cpu_used"].sum(axis=0)))
    )


def test_to_frame_without_pandas_is_a_dict_of_arrays(impl, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    _, run = day(impl)
    columns = run.to_frame()
    assert isinstance(columns, dict) and all(isinstance(a, np.ndarray) and a.ndim == 1 for a in columns.values())
    check_long_format(run, columns)


def test_reprs_are_short_and_alike_on_both_twins():
    import vsched
    import vsched.reference

    reprs = {}
    for impl in (vsched, vsched.reference):
        host, run = day(impl, vms=400, ticks=30)
        scheduler = impl.CpuScheduler(4)
        for _ in range(50):
            scheduler.add_vm(2)
        memory = impl.MemoryManager(1000)
        for _ in range(20):
            memory.add_vm(64)
        objects = [host, run, scheduler, memory, host.memory, host.reallocator, impl.LRUK(100)]
        texts = [repr(obj) for obj in objects]
        for obj, text in zip(objects, texts):
            assert len(text) < 200 and "\n" not in text, text
            assert text.startswith(type(obj).__name__ + "("), text
        reprs[impl.IMPLEMENTATION] = texts
    assert reprs["native"] == reprs["reference"]
