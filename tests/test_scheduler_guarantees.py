"""CpuScheduler guarantees, each checked against an independent fluid oracle.

The oracle (tests/sched_oracle.py) is a numpy water-filling written for the
tests; nothing here calls the engine to compute an expectation.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import vsched as vsched_native

from sched_mixes import random_vms
from sched_oracle import fluid_share

SLICE = 3_000_000
MS = 1_000_000


def _cpu_bound_scheduler(impl, pcpus, vms):
    """vms: list of (vcpus, shares, reservation, limit or None); all CPU-bound."""
    s = impl.CpuScheduler(pcpus, SLICE)
    ids = [s.add_vm(n, shares=w, reservation=r, limit=l) for n, w, r, l in vms]
    for vm_id, (n, *_rest) in zip(ids, vms):
        s.add_work(np.full(n, vm_id), np.arange(n), impl.FOREVER)
    return s


def _oracle_rates(pcpus, vms):
    n = [v[0] for v in vms]
    return fluid_share(
        pcpus, n, [v[1] for v in vms], [v[2] for v in vms], [np.inf if v[3] is None else v[3] for v in vms]
    )


def _trajectory(s, steps, step_ns):
    """run_ns per VM after each step, shape (steps + 1, vms)."""
    out = [s.stats()["run_ns"].copy()]
    for _ in range(steps):
        s.run(step_ns)
        out.append(s.stats()["run_ns"].copy())
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lag_bound_many_pcpus(impl, seed):
    rng = np.random.default_rng(seed)
    pcpus = 4
    vms = random_vms(rng, 8, pcpus, 3)
    s = _cpu_bound_scheduler(impl, pcpus, vms)
    rates = _oracle_rates(pcpus, vms)
    seconds = 10
    runs = _trajectory(s, seconds * 10, 100 * MS)
    t = np.arange(runs.shape[0])[:, None] * 100 * MS
    lag = rates[None, :] * t - runs
    bound = 2 * SLICE * np.array([v[0] for v in vms])[None, :]
    assert np.all(np.abs(lag) <= bound), (np.abs(lag) / bound).max()


@pytest.mark.parametrize("seed", [4, 5])
def test_lag_bound_one_pcpu_single_vcpu(impl, seed):
    rng = np.random.default_rng(seed)
    vms = [(1, int(rng.choice([100, 300, 1000, 3000, 9000])), 0.0, None) for _ in range(6)]
    vms[0] = (1, vms[0][1], 0.2, None)
    s = _cpu_bound_scheduler(impl, 1, vms)
    rates = _oracle_rates(1, vms)
    seconds = 10
    runs = _trajectory(s, seconds * 10, 100 * MS)
    t = np.arange(runs.shape[0])[:, None] * 100 * MS
    lag = rates[None, :] * t - runs
    assert np.all(np.abs(lag) <= SLICE), np.abs(lag).max() / SLICE


def _windows(runs, step_ns, min_window_ns):
    """(received, length) over every window [i, j] of the checkpoint grid with length >= min_window."""
    k = min_window_ns // step_ns
    received, lengths = [], []
    for gap in range(k, runs.shape[0]):
        received.append(runs[gap:] - runs[:-gap])
        lengths.append(np.full(runs.shape[0] - gap, gap * step_ns))
    return received, lengths


def _limit_slack(runs, step_ns, fluid, vcpus, limit):
    """Per window start t0: what rule 5 lets a VM receive beyond limit*T in a window from t0.

    One slice, plus what the VM was behind its fluid share (the oracle's, >= the engine's,
    whose rates are rounded down) up to its lag bound 2 x slice x vcpus. The bucket reads the
    lag at the VM's last dispatch or run end, at most one request before t0, and the lag falls
    by at most vcpus x request over that request: hence the vcpus x request term."""
    t0 = np.arange(runs.shape[0]) * step_ns
    behind = np.maximum(0.0, fluid * t0 - runs)
    request = SLICE // max(1, int(np.ceil(limit)))
    return SLICE + np.minimum(2 * SLICE * vcpus, behind + vcpus * request)


def test_reservation_in_every_window(impl):
    pcpus = 4
    # Reserved VMs against many heavy-share competitors.
    vms = [(1, 10, 0.7, None), (2, 10, 1.5, None), (3, 10, 0.9, 2.0)]
    vms += [(2, 50_000, 0.0, None) for _ in range(6)]
    s = _cpu_bound_scheduler(impl, pcpus, vms)
    seconds = 3
    step = 10 * MS
    runs = _trajectory(s, seconds * 100, step)
    for received, length in zip(*_windows(runs, step, 100 * MS)):
        for i in range(3):
            r = vms[i][2]
            assert np.all(received[:, i] >= r * length - SLICE), (i, (received[:, i] - r * length).min())


def test_limit_in_every_window(impl):
    pcpus = 6
    vms = [(1, 90_000, 0.0, 0.3), (4, 90_000, 0.5, 1.5), (3, 90_000, 0.0, 2.6), (4, 10, 0.0, None)]
    s = _cpu_bound_scheduler(impl, pcpus, vms)
    seconds = 3
    step = 10 * MS
    runs = _trajectory(s, seconds * 100, step)
    # From the start, at most limit*T + slice; in any window, one slice more than that
    # only while the VM makes up what it was behind its fluid share (rule 5).
    t = np.arange(runs.shape[0]) * step
    for i in range(3):
        assert np.all(runs[:, i] <= vms[i][3] * t + SLICE), (i, (runs[:, i] - vms[i][3] * t).max())
    fluid = _oracle_rates(pcpus, vms)
    slack = [_limit_slack(runs[:, i], step, fluid[i], vms[i][0], vms[i][3]) for i in range(3)]
    for received, length in zip(*_windows(runs, step, 100 * MS)):
        for i in range(3):
            limit = vms[i][3]
            assert np.all(received[:, i] <= limit * length + slack[i][: len(length)]), (
                i,
                (received[:, i] - limit * length).max(),
            )
    # and the limited VMs do get their limit (the others leave room): within a slice per vCPU
    total = runs[-1]
    horizon = seconds * 1000 * MS
    for i in range(3):
        assert total[i] >= vms[i][3] * horizon - SLICE * vms[i][0]


def test_work_conserving_bursty(impl):
    rng = np.random.default_rng(7)
    pcpus = 3
    s = impl.CpuScheduler(pcpus, SLICE)
    vms = [s.add_vm(2, shares=int(rng.choice([500, 1000, 2000]))) for _ in range(5)]
    step = 1 * MS
    steps = 400
    prev = s.vcpu_stats()
    checked = 0
    for k in range(steps):
        if k % 10 == 0:  # a burst every 10 ms on random vCPUs
            pick = rng.random(10) < 0.4
            vm = np.repeat(vms, 2)[pick]
            vc = np.tile([0, 1], 5)[pick]
            s.add_work(vm, vc, rng.integers(100_000, 8 * MS, size=int(pick.sum())))
        s.run(step)
        cur = s.vcpu_stats()
        ready = cur["ready_ns"] - prev["ready_ns"]
        run = cur["run_ns"] - prev["run_ns"]
        if np.any(ready == step):  # some vCPU waited the whole step: every pCPU was busy all along
            assert run.sum() == pcpus * step
            checked += 1
        # and whenever the waiting time is positive, the pCPUs were busy at least that long
        assert run.sum() >= pcpus * ready.max() if ready.max() > 0 else True
        prev = cur
    assert checked > 0


def test_no_ready_time_without_contention(impl):
    s = impl.CpuScheduler(4, SLICE)
    a = s.add_vm(2)
    b = s.add_vm(2, shares=10)
    s.add_work([a, a, b], [0, 1, 0], [impl.FOREVER, 50 * MS, 7 * MS])
    s.run(20 * MS)
    s.add_work(b, 1, impl.FOREVER)
    s.run(40 * MS)
    st = s.vcpu_stats()
    assert st["ready_ns"].sum() == 0 and st["limited_ns"].sum() == 0
    assert st["run_ns"].tolist() == [60 * MS, 50 * MS, 7 * MS, 40 * MS]


def test_accounting_identities_with_churn(impl):
    rng = np.random.default_rng(11)
    s = impl.CpuScheduler(2, SLICE)
    added_at: dict[int, int] = {}
    work_added: dict[tuple[int, int], int] = {}
    cleared: set[tuple[int, int]] = set()
    for step in range(60):
        if rng.random() < 0.3 or not added_at:
            n = int(rng.integers(1, 4))
            limit = float(rng.uniform(0.2, n)) if rng.random() < 0.4 else None
            vm = s.add_vm(n, shares=int(rng.integers(1, 5000)), limit=limit)
            added_at[vm] = s.now
        live = sorted(added_at)
        vm = int(rng.choice(live))
        n = int(np.sum(s.vcpu_stats()["vm"] == vm))
        vc = int(rng.integers(0, n))
        if rng.random() < 0.1:
            s.clear_work(vm, vc)
            cleared.add((vm, vc))
        else:
            w = int(rng.integers(0, 10 * MS))
            s.add_work(vm, vc, w)
            work_added[(vm, vc)] = work_added.get((vm, vc), 0) + w
        if rng.random() < 0.05 and len(live) > 1:
            gone = int(rng.choice(live))
            s.remove_vm(gone)
            del added_at[gone]
        s.run(int(rng.integers(0, 8 * MS)))
        st = s.vcpu_stats()
        total = st["run_ns"] + st["ready_ns"] + st["limited_ns"] + st["wait_ns"]
        expected = np.array([s.now - added_at[v] for v in st["vm"]])
        assert np.array_equal(total, expected)
        for v, c, run, pending in zip(st["vm"], st["vcpu"], st["run_ns"], st["pending_ns"]):
            if (v, c) not in cleared:
                assert run + pending == work_added.get((v, c), 0)
            assert run >= 0 and pending >= 0
        vm_stats = s.stats()
        assert vm_stats["vm"].tolist() == sorted(added_at)
        for key in ("run_ns", "ready_ns", "limited_ns", "wait_ns", "switches"):
            sums = np.array([st[key][st["vm"] == v].sum() for v in vm_stats["vm"]])
            assert np.array_equal(vm_stats[key], sums)


# ---- many random mixes (tests/sched_mixes.py), each short ------------------------------------
# Lag, limit, reservation and work conservation on the same runs; VSCHED_LONG=1
# runs the long profile (10,000 mixes of 60 s) instead.

from sched_mixes import mixes  # noqa: E402
from sched_profile import lag_ratio, run_mix  # noqa: E402

LONG = os.environ.get("VSCHED_LONG") == "1"
# Measured worst |received - fluid| / (2 x slice x vcpus) is 3.9 (docs/engines/scheduler.md,
# "Guarantees"); the envelope below is what the tests hold every mix to.
LAG_ENVELOPE = 4.0
STEP = 50 * MS


def _check_mix(impl, pcpus, vms, seconds, strict):
    """Asserts the four guarantees on one mix; returns its worst lag ratio."""
    ready: list = []
    runs = run_mix(impl, pcpus, vms, seconds, strict, STEP, ready)
    ratio = lag_ratio(pcpus, vms, runs, STEP)
    assert ratio.max() <= LAG_ENVELOPE, (pcpus, vms, ratio.max())
    n = np.array([v[0] for v in vms])
    # Work conservation: no pCPU idles while a vCPU is ready, so in every step the
    # instants with an idle pCPU (>= idle time / pcpus) and those at which a vCPU is
    # ready (>= the VM's ready time / vcpus for one of its vCPUs) fit in the step.
    idle = pcpus * STEP - np.diff(runs, axis=0).sum(axis=1)
    ready_per_vcpu = (np.diff(np.array(ready), axis=0) / n[None, :]).max(axis=1)
    assert np.all(idle / pcpus + ready_per_vcpu <= STEP), (pcpus, vms)
    t = np.arange(runs.shape[0]) * STEP
    for i, (_n, _w, _r, limit) in enumerate(vms):
        if limit is not None:
            assert np.all(runs[:, i] <= limit * t + SLICE), (pcpus, vms, i)  # from the start
    fluid = _oracle_rates(pcpus, vms)
    limit_slack = {i: _limit_slack(runs[:, i], STEP, fluid[i], v[0], v[3]) for i, v in enumerate(vms) if v[3] is not None}
    for received, length in zip(*_windows(runs, STEP, 100 * MS)):
        for i, (vcpus, _w, r, limit) in enumerate(vms):
            if limit is not None:
                assert np.all(received[:, i] <= limit * length + limit_slack[i][: len(length)]), (pcpus, vms, i)
            # Without rule 6 a reservation is the floor of the fluid share, kept within
            # the lag envelope (a VM limited at its reservation is the worst: below).
            if r > 0:
                slack = SLICE if strict else LAG_ENVELOPE * 2 * SLICE * vcpus
                assert np.all(received[:, i] >= r * length - slack), (pcpus, vms, i)
    return ratio.max()


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "loose"])
def test_guarantees_on_many_random_mixes(impl, strict):
    native = impl.__name__ == "vsched"
    count = (10_000 if LONG else 1000) if native else (200 if LONG else 24)
    seconds = (60.0 if LONG else 1.0) if native else 1.0
    worst = [_check_mix(impl, p, vms, seconds, strict) for p, vms in mixes(100 + strict, count)]
    # The documented bound itself holds on the great majority of mixes.
    assert np.quantile(worst, 0.9) <= 1.0, np.quantile(worst, 0.9)


# Mixes of the long profile (sched_mixes.mixes(2026, ...)) that grew from 10 s to 60 s under
# earlier rules (strict): 2637 linearly (326x at 60 s), 367 (1.95 -> 3.20), 175.
GREW_IN_THE_PROFILE = (175, 367, 2637)


def test_worst_lag_does_not_grow_with_run_length(impl):
    """Same mixes at 10 s and 60 s: the worst error stays put (it grew linearly before)."""
    native = impl.__name__ == "vsched"
    count = (400 if LONG else 24) if native else 2
    chosen = mixes(7, count)
    if native:
        profile = mixes(2026, max(GREW_IN_THE_PROFILE) + 1)
        chosen = chosen + [profile[k] for k in GREW_IN_THE_PROFILE]
    for strict in (True, False):
        for pcpus, vms in chosen:
            runs = run_mix(impl, pcpus, vms, 60.0 if native else 6.0, strict)
            ratio = lag_ratio(pcpus, vms, runs, 100 * MS)
            assert ratio.max() <= LAG_ENVELOPE, (strict, pcpus, vms, ratio.max())
            # Without rule 6, a VM limited at its reservation keeps losing credit at its
            # bucket's cap, more slowly as its lag grows (a documented deviation).
            if not strict:
                ratio = ratio[:, [v[3] is None or v[3] != v[2] for v in vms]]
            ratio = ratio.max(axis=1)
            first = ratio[: len(ratio) // 6].max()  # the first 10 s (1 s for the reference)
            # (linear growth, as before the fix, gives 6x the first 10 s; noise adds a little)
            assert ratio.max() <= first + 0.5, (strict, pcpus, vms, first, ratio.max())


def test_limit_equal_to_reservation_in_both_modes(impl):
    """A VM limited at its reservation (docs/engines/scheduler.md, rule 5 and deviations).

    A 7-vCPU VM limited at its reservation 3.939 among heavier VMs on 12 pCPUs:
    with rule 6 it gets r*T - slice in every window; without it, it once fell
    below the loose claim r*T - 2 x slice x vcpus (its bucket, capped at one slice,
    discarded credit while its vCPUs waited: 1.91x the lag bound at 60 s). The
    bucket's room now keeps what the VM is behind (up to its lag bound), and the
    loose claim holds (1.07 slices short at most over 2 s with one extra slice).
    """
    pcpus = 12
    vms = [(3, 886, 0.0, None), (7, 6, 0.0, None), (2, 6, 0.0, None), (7, 156, 3.939, 3.939), (5, 12, 3.723, None),
           (1, 8990, 0.0, None), (4, 22118, 0.0, None), (4, 7, 0.0, None), (5, 28, 3.517, None), (5, 9684, 0.0, None)]
    shortfall = {}
    for strict in (True, False):
        runs = run_mix(impl, pcpus, vms, 2.0, strict, STEP)
        worst = min(
            (received[:, 3] - 3.939 * length).min() for received, length in zip(*_windows(runs, STEP, 100 * MS))
        )
        shortfall[strict] = -worst
    assert shortfall[True] <= SLICE, shortfall
    assert shortfall[False] <= 2 * SLICE * 7, shortfall  # the loose claim r*T - 2 x slice x vcpus


def test_whole_core_vm_is_not_the_first_victim():
    """A strict 6-pCPU mix on which a VM fell behind without bound (27x the lag bound at 60 s).

    VM 5 (2 vCPUs, reservation 1.311, fluid share 2 whole cores) ran far ahead of its
    reservation, so it was every urgent VM's first victim, and its vCPUs, a whole core
    each, could never catch up. Runs that did not start overdue are now taken first
    (rule 6): the error stays within the bound and does not grow. Native only (20 s).
    """
    pcpus = 6
    vms = [(5, 2, 0.0, None), (7, 6, 0.0, None), (7, 2, 0.0, None), (5, 1416, 3.164, None),
           (1, 3693, 0.334, 0.334), (2, 35914, 1.311, None), (8, 7771, 0.0, 6.405), (4, 4, 0.0, None)]
    ratio = lag_ratio(pcpus, vms, run_mix(vsched_native, pcpus, vms, 20.0, True), 100 * MS).max(axis=1)
    assert ratio.max() <= 1.0, ratio.max()
    assert ratio.max() <= ratio[:50].max() + 0.1  # the first 5 s already hold the worst


def test_vm_held_at_its_reservation_leaves_the_bound_only_ahead():
    """Mix 433 of tests/sched_profile.py (docs/engines/scheduler.md, deviations).

    VM 3 (1 vCPU, reservation 0.605 = its fluid share) keeps the borrowed runs it gets:
    its reservation account discards them and rule 6 still gives it r. The proven
    conflict allows it to leave the lag bound only on the ahead side (received > fluid)
    and never to fall behind; every other VM of the mix meets the bound. Native only.
    """
    from sched_profile import fluid_rates

    pcpus = 14
    vms = [(8, 1, 0.0, 5.049), (1, 1283, 0.0, None), (5, 1423, 0.0, 0.909), (1, 9, 0.605, None),
           (5, 12341, 0.0, None), (1, 58846, 0.0, 0.412), (2, 7, 0.986, 0.986), (6, 3, 0.0, None),
           (2, 4303, 0.0, None), (3, 13721, 0.0, None)]
    runs = run_mix(vsched_native, pcpus, vms, 60.0, True)
    t = np.arange(runs.shape[0])[:, None] * 100 * MS
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs  # > 0: behind its fluid share
    ratio = lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]
    others = [i for i in range(len(vms)) if i != 3]
    assert np.abs(ratio[:, others]).max() <= 1.0, np.abs(ratio[:, others]).max()
    assert ratio[:, 3].max() <= 0.05, ratio[:, 3].max()  # never behind
    assert ratio[:, 3].min() >= -LAG_ENVELOPE, ratio[:, 3].min()  # ahead, within the envelope


def test_vm_reserved_near_its_fluid_share_leaves_the_bound_only_ahead():
    """Strict mix 4079 of the long profile (docs/engines/scheduler.md, deviations, class (a)).

    VM 1 (1 vCPU, reservation 0.759, fluid share 0.75996: 0.001 core above it) lives on
    reserved runs and on borrowed runs (its vCPU is the one nearest eligibility when no
    vCPU is eligible), and rule 6 keeps giving it r while its reservation account discards
    the surplus. Giving the surplus back would take windows of (surplus / 0.001 core), so
    the reservation guarantee keeps it ahead: 1.17x the lag bound at 10 s, 1.30x at 60 s.
    It may be ahead, never behind, within the envelope and not growing; every other VM of
    the mix meets the bound. Native only (60 s)."""
    from sched_profile import fluid_rates

    pcpus, vms = mixes(2026, 4080)[4079]
    assert vms[1] == (1, 348, 0.759, None)
    runs = run_mix(vsched_native, pcpus, vms, 60.0, True)
    t = np.arange(runs.shape[0])[:, None] * 100 * MS
    lag = fluid_rates(pcpus, vms)[None, :] * t - runs  # > 0: behind its fluid share
    ratio = lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]
    others = [i for i in range(len(vms)) if i != 1]
    assert np.abs(ratio[:, others]).max() <= 1.0, np.abs(ratio[:, others]).max(axis=0)
    assert ratio[:, 1].max() <= 0.05, ratio[:, 1].max()  # never behind
    ahead = -ratio[:, 1]
    assert ahead.max() <= 2.0, ahead.max()  # ahead, well within the envelope
    assert ahead.max() <= ahead[:101].max() + 0.25, (ahead[:101].max(), ahead.max())  # not growing


# Strict mix 2637 of the long profile (sched_mixes.mixes(2026, 2638)[2637]): the
# whole-core VM 4 fell behind at a steady rate (53x the bound at 10 s, 326x at 60 s).
MIX_2637 = (5, [(1, 15, 0.689, 0.689), (3, 61, 0.0, 1.459), (3, 22006, 0.751, None), (4, 5, 0.0, None),
                (1, 23682, 0.0, None), (1, 120, 0.254, 0.303)])


def test_mix_2637_is_the_profile_mix():
    assert mixes(2026, 2638)[2637] == MIX_2637


def _mix_2637_ratio(impl, seconds):
    pcpus, vms = MIX_2637
    return lag_ratio(pcpus, vms, run_mix(impl, pcpus, vms, seconds, True), 100 * MS)


def test_urgent_vm_waits_for_an_overdue_whole_core(impl):
    """Mix 2637 on both twins, 3 s: the whole-core VMs stay within the bound.

    VMs 0 and 5 reserve 0.689 + 0.254 of the one pCPU the whole-core VMs (2: 3
    vCPUs, 4: 1 vCPU) leave. When VM 0 turned urgent while VM 5 held a protected
    reserved run, it went before the overdue VM 4 at VM 4's slice end or
    preempted its run (a run that started overdue was the last victim, not
    spared): each such wait is lost for good by a vCPU whose fluid share is a
    whole core (10x the bound after 2 s). An overdue vCPU now goes before every
    urgent VM and a run that started overdue is never a victim (rule 6).
    """
    ratio = _mix_2637_ratio(impl, 3.0)
    assert ratio[:, [2, 4]].max() <= 1.0, ratio.max(axis=0)
    assert ratio[:, [0, 1, 3]].max() <= 1.0, ratio.max(axis=0)


def test_mix_2637_does_not_grow_over_60_s():
    """Native, 60 s: the worst ratio of every VM stays within the first 10 s's.

    VM 5 (fluid share = its reservation 0.254) is in the documented class that
    keeps what it borrows (docs/engines/scheduler.md, deviations): it may be ahead
    of its fluid share, never behind, within the envelope.
    """
    ratio = _mix_2637_ratio(vsched_native, 60.0)
    per_vm_10 = ratio[:101].max(axis=0)
    per_vm_60 = ratio.max(axis=0)
    assert per_vm_60[[0, 1, 2, 3, 4]].max() <= 1.0, per_vm_60
    assert np.all(per_vm_60 <= per_vm_10 + 0.25), (per_vm_10, per_vm_60)
    assert per_vm_60[5] <= LAG_ENVELOPE, per_vm_60


def _at_reservation(pcpus, vms):
    """Per VM: reserved, with its fluid share equal to its reservation (docs, class (a))."""
    from sched_profile import fluid_rates

    fluid = fluid_rates(pcpus, vms)
    return np.array([r > 0 and abs(f - min(r, n)) < 1e-9 for f, (n, _w, r, _l) in zip(fluid, vms)])


# Profile mixes (seed 2026) that left the bound under earlier rules: 947 and 1329 (whole-core
# VMs behind), 1267, 1033 and 9813 (a VM limited at its fluid share and a whole-core or 1-share
# VM beside it), 1943 (a 3-vCPU VM ahead); 2637 (VM 5 at its reservation, ahead: class (a)).
PINNED = (947, 1033, 1267, 1329, 1943, 2637, 9813)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "loose"])
def test_only_the_documented_class_leaves_the_bound(strict):
    """Random mixes, 5 s, native: every VM is within the lag bound on both sides, except,
    with rule 6, a reserved VM whose fluid share is its reservation (class (a) of
    docs/engines/scheduler.md, "Deviations"), which may only be ahead, within the envelope.
    The first 200 mixes of the profile, and the profile mixes above (none leaves it now)."""
    from sched_profile import fluid_rates

    profile = mixes(2026, max(PINNED) + 1)
    chosen = profile[:200] + [profile[k] for k in PINNED]
    for pcpus, vms in chosen:
        runs = run_mix(vsched_native, pcpus, vms, 5.0, strict)
        t = np.arange(runs.shape[0])[:, None] * 100 * MS
        lag = fluid_rates(pcpus, vms)[None, :] * t - runs  # > 0: behind
        ratio = lag / (2 * SLICE * np.array([v[0] for v in vms], dtype=float))[None, :]
        behind, ahead = ratio.max(axis=0), -ratio.min(axis=0)
        may_be_ahead = _at_reservation(pcpus, vms) if strict else np.zeros(len(vms), dtype=bool)
        assert np.all(behind <= 1.0), (pcpus, vms, behind)
        assert np.all(ahead[~may_be_ahead] <= 1.0), (pcpus, vms, ahead)
        assert np.all(ahead <= LAG_ENVELOPE), (pcpus, vms, ahead)
