"""Replay real PlanetLab days (../shared/data/planetlab) on an overcommitted host.

VM size 1 core = 100 %, usage = pct / 100, capacity = VMs / ratio. The
reallocator runs closed loop (each VM is observed using min(demand,
entitlement)); the static baseline keeps every VM at its base entitlement.
Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched.workloads import load_planetlab

DAYS = ["20110303", "20110306"]


def replay(module, demand: np.ndarray, ratio: float):
    n = demand.shape[1]
    r = module.Reallocator(n / ratio)
    for _ in range(n):
        r.add_vm(1.0)
    before = r.entitlements()
    after = r.observe_many(demand, cap_at_entitlement=True)
    in_force = np.vstack([before, after[:-1]])  # x[t] = entitlement during tick t
    return r, in_force


_loaded: dict[Path, tuple[list[str], np.ndarray]] = {}


@pytest.fixture(params=DAYS)
def day(request, shared_data):
    folder = shared_data / "planetlab" / request.param
    if not folder.is_dir():
        pytest.skip(f"PlanetLab day not found at {folder}")
    if folder not in _loaded:  # each day is read once per session
        trace = load_planetlab(folder)
        _loaded[folder] = (trace.names, trace.cpu)
    names, demand = _loaded[folder]
    return request.param, names, demand


def test_loader_reads_every_vm(day):
    name, names, demand = day
    assert demand.shape == (288, len(names)) and len(names) >= 800
    assert any(" " in n for n in names)  # names with spaces are kept whole
    assert 0.05 < demand.mean() < 0.2  # README: mean 11.1 % over all days


@pytest.mark.parametrize(("ratio", "margin"), [(2, 3.0), (4, 3.0), (6, None)])
def test_lending_cuts_unmet_demand(day, ratio, margin):
    name, _, demand = day
    r, lent = replay(vsched, demand, ratio)
    base = r.base()
    static = np.broadcast_to(base, demand.shape)
    with_lending = vsched.realloc_metrics(demand, lent, base)
    without = vsched.realloc_metrics(demand, static, base)
    # Share of ticks where the open-loop windowed load (raw demand, 12-tick
    # mean) reaches the threshold; the closed loop observes less than that.
    per_tick = demand.sum(axis=1) / r.capacity
    windowed = np.convolve(per_tick, np.ones(12) / 12, mode="valid")
    gated = float(np.mean(windowed >= r.threshold))
    print(
        f"\nplanetlab {name} {demand.shape[1]} VMs {ratio}:1  unmet static {without.unmet_demand:.4f} "
        f"lending {with_lending.unmet_demand:.4f} "
        f"({without.unmet_demand / with_lending.unmet_demand:.1f}x lower)  "
        f"slack static {without.relative_slack:.3f} lending {with_lending.relative_slack:.3f}  "
        f"reallocations/VM-h {with_lending.reallocations_per_vm_hour:.2f}  woken donors "
        f"{with_lending.woken_donors} reaction mean {with_lending.reaction_ticks_mean:.2f} "
        f"max {with_lending.reaction_ticks_max:.0f} ticks  raw-demand load >= 0.75 on {gated:.0%} of ticks"
    )
    # Invariants on the whole replay, by independent math.
    assert (lent.sum(axis=1) <= r.capacity * (1 + 1e-12)).all()
    assert (lent >= 0).all() and (lent <= 1.0 + 1e-12).all()
    # Every woken donor had its base back at the very next tick.
    assert with_lending.woken_donors > 0 and with_lending.reaction_ticks_max == 1.0
    assert with_lending.unmet_demand <= without.unmet_demand
    if margin is not None:
        assert with_lending.unmet_demand * margin <= without.unmet_demand


def test_reference_replays_the_same_day(day):
    """Bit for bit on the first 150 VMs of the day at 4:1, full day."""
    _, _, demand = day
    sub = np.ascontiguousarray(demand[:, :150])
    _, native = replay(vsched, sub, 4)
    _, reference = replay(vsched.reference, sub, 4)
    assert native.tolist() == reference.tolist()


def test_gate_on_open_loop_replay_at_6_to_1(day):
    """Observing raw demand (open loop) at 6:1 the 75 % gate closes on some ticks.

    Base entitlements there, lending elsewhere.
    """
    name, _, demand = day
    n = demand.shape[1]
    r = vsched.Reallocator(n / 6)
    for _ in range(n):
        r.add_vm(1.0)
    out = r.observe_many(demand)
    base = r.base()
    # Independent windowed load after tick t: mean of the last min(t + 1, 12) rows.
    totals = demand.sum(axis=1)
    load = np.array([totals[max(0, t - 11) : t + 1].mean() for t in range(len(totals))]) / r.capacity
    closed = load >= 0.75 * (1 + 1e-9)
    open_ = load < 0.75 * (1 - 1e-9)
    assert closed.any() and open_.any()
    assert (out[closed] == base).all()
    assert (np.abs(out[open_] - base).max(axis=1) > 0).all()
    print(f"\nplanetlab {name} 6:1 open loop: gate closed on {closed.mean():.0%} of ticks")
