"""Pre-copy migration: the round-by-round model against the closed form for a
constant dirty rate, and the rate the fleet measures from the memory manager."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from vsched.fleet import (
    Fleet,
    GuestMemory,
    HostSpec,
    MigrationModel,
    VmSpec,
    precopy,
    precopy_closed_form,
    precopy_estimate,
    synthetic_fleet,
)

MIB = 1 << 20


LONG = os.environ.get("VSCHED_LONG") == "1"  # the long profile


def _random_case(rng):
    model = MigrationModel(
        bandwidth=float(rng.uniform(8, 1024)) * MIB, max_downtime=float(rng.uniform(0.001, 1.0)),
        max_rounds=int(rng.integers(0, 40)), page_bytes=int(rng.choice([4096, 65536, MIB])),
    )
    pages = int(rng.integers(1, 2_000_000))
    bandwidth = model.bandwidth / model.page_bytes
    rate = float(bandwidth * rng.choice([0.0, rng.uniform(0, 0.99), rng.uniform(0.99, 1.5)]))
    return model, pages, rate


def test_precopy_matches_closed_form_for_constant_rate():
    rng = np.random.default_rng(12)
    margins = []
    checked = 0
    for _ in range(100_000 if LONG else 3000):
        model, pages, rate = _random_case(rng)
        bandwidth = model.bandwidth / model.page_bytes
        budget = bandwidth * model.max_downtime
        r = rate / bandwidth
        if 0 < r < 1 and pages > budget:
            n = math.log(budget / pages) / math.log(r)
            if abs(n - round(n)) < 1e-6:
                continue  # on a round boundary either side is right to within rounding
        loop, closed = precopy(model, pages, rate), precopy_closed_form(model, pages, rate)
        assert loop.rounds == closed.rounds and loop.converged == closed.converged
        for name in ("bytes", "duration", "downtime"):
            a, b = getattr(loop, name), getattr(closed, name)
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), name
            margins.append(abs(a - b) / max(abs(b), 1e-300))
        checked += 1
    assert checked > 0.8 * (100_000 if LONG else 3000)
    print(f"pre-copy vs closed form, relative gap: median {np.median(margins):.1e}, p99 {np.percentile(margins, 99):.1e}, worst {max(margins):.1e}")
    assert np.percentile(margins, 99) < 1e-11


def test_vectorised_estimate_matches_closed_form():
    rng = np.random.default_rng(13)
    model = MigrationModel(max_rounds=10)
    bandwidth = model.bandwidth / model.page_bytes
    pages = rng.integers(1, 3_000_000, 2000)
    rate = bandwidth * rng.uniform(0, 1.3, 2000)
    duration, converged = precopy_estimate(model, pages, rate)
    for i in range(0, 2000, 7):
        closed = precopy_closed_form(model, int(pages[i]), float(rate[i]))
        assert duration[i] == pytest.approx(closed.duration, rel=1e-9)
        assert converged[i] == closed.converged


def test_known_figures():
    # 4 GiB at QEMU's 128 MiB/s with nothing dirtied: 32 s of copy, nothing left for the stop
    model = MigrationModel()
    pages = (4 << 30) // 4096
    idle = precopy(model, pages, 0.0)
    assert idle.duration == pytest.approx(32.0) and idle.downtime == 0.0 and idle.rounds == 0
    # a VM dirtying faster than the link never converges: max_rounds forces the stop
    busy = precopy(model, pages, 2 * model.bandwidth / model.page_bytes)
    assert not busy.converged and busy.rounds == model.max_rounds and busy.downtime == pytest.approx(32.0)
    # a VM small enough for the downtime budget is stopped and copied at once
    tiny = precopy(model, 1000, 1e6)
    assert tiny.rounds == 0 and tiny.downtime == pytest.approx(1000 * 4096 / model.bandwidth)


def _dirty_rate(fleet, vm):
    # kept with the VM's other totals where its host steps (docs/fleet.md, rule F25)
    return float(fleet.pool.rows(np.array([vm]))["dirty_rate"][0])


def test_fleet_measures_the_dirty_rate_and_costs_moves_with_it():
    # every reference is a write of fresh content, so each tick dirties exactly `accesses` pages
    accesses = 40
    memory = GuestMemory(accesses=accesses, write_fraction=1.0)
    migration = MigrationModel(page_bytes=MIB, bandwidth=64 * MIB)
    fleet = Fleet(2, host=HostSpec(pcpus=8, memory_frames=20_000), balance=None, memory=memory,
                  migration=migration, check=True)
    fleet.attach(synthetic_fleet(0, 6))
    vm = fleet.submit(VmSpec(2, 512), cpu=1.0)
    fleet.run(ticks=3)
    assert _dirty_rate(fleet, vm) == pytest.approx(accesses / 300)
    source = int(fleet.vms.host[vm])
    fleet._start_migration(vm, 1 - source, claimed=False)
    run = fleet.run(ticks=1)
    moved = [e for e in run.events if e["event"] == "migrated"]
    expected = precopy(migration, 512, accesses / 300)
    assert len(moved) == 1 and moved[0]["bytes"] == expected.bytes and moved[0]["rounds"] == expected.rounds
    assert int(fleet.vms.host[vm]) == 1 - source
    # the guest's pages came along: resident on the destination, none re-faulted from scratch
    host = fleet.hosts[1 - source]
    assert host.memory.stats()["pages_resident"] > 0
    fleet.run(ticks=2)
    assert _dirty_rate(fleet, vm) == pytest.approx(accesses / 300)


def test_bad_migration_parameters_are_refused():
    with pytest.raises(ValueError, match="bandwidth"):
        MigrationModel(bandwidth=0)
    with pytest.raises(ValueError, match="max_downtime"):
        MigrationModel(max_downtime=-1)
    with pytest.raises(TypeError, match="max_rounds"):
        MigrationModel(max_rounds=2.5)
