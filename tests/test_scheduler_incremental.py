"""The incremental recompute (rule 1) decides exactly as the full one.

docs/engines/scheduler.md, "Implementation": when only a few VMs changed since
the last recompute, the native engine re-rates only those, in the two cases
where the fair-share result provably does not move for the others (the kernel
inputs did not change, or the host is surely uncontended). Checked here with
work that runs out (the case that recomputes at almost every instant):

- random bursty histories (32, 240 with VSCHED_LONG=1: light, host-like caps summing to the pCPUs, and
  overcommitted; arrivals, removals, limit and share changes, cleared work):
  the native engine and the reference (which always recomputes in full) give
  identical ``vcpu_stats`` and ``decisions`` after every step;
- larger host-like histories: the native engine against itself with every
  recompute forced to be a full one, with a checkpoint restored half-way;
- the cost: on a sliced host tick only a handful of recomputes are full ones,
  whatever the number of VMs (counted, not timed).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import vsched
import vsched.reference

MS = 1_000_000
LONG = os.environ.get("VSCHED_LONG") == "1"


def _vm_params(rng, n, pcpus):
    out = []
    for _ in range(n):
        vcpus = int(rng.integers(1, 5))
        r = 0.0
        if rng.random() < 0.3:
            r = round(float(rng.uniform(0.01, 0.5)) * min(vcpus, pcpus) / max(1.0, n / pcpus), 3)
        out.append((vcpus, int(rng.choice([250, 1000, 4000])), r))
    return out


def _add(s, vms, vcpus, shares, r):
    try:
        vm = s.add_vm(vcpus, shares=shares, reservation=r)
    except vsched.AdmissionError:
        vm, r = s.add_vm(vcpus, shares=shares), 0.0
    vms[vm] = (vcpus, r)


def _history(impl, seed, vms_range=(2, 40), steps=40, force_full=False, restore_at=None, host_like=False):
    """Yields (vcpu_stats, decisions) after every step of one random bursty history
    (host_like: as a sliced host, VMs / 2 + 1 pCPUs and caps summing to them)."""
    rng = np.random.default_rng(seed)
    n_vms = int(rng.integers(*vms_range))
    pcpus = n_vms // 2 + 1 if host_like else int(rng.integers(1, 17))
    s = impl.CpuScheduler(pcpus, int(rng.choice([1, 3])) * MS, strict_reservations=bool(rng.random() < 0.5))
    if force_full:
        s._core._force_full_recompute(True)
    kind = 1 if host_like else int(rng.integers(0, 3))  # 0 light, 1 caps summing to the pCPUs, 2 overcommitted
    vms = {}  # id -> (vcpus, reservation)
    for vcpus, shares, r in _vm_params(rng, n_vms, pcpus):
        _add(s, vms, vcpus, shares, r)
    for step in range(steps):
        ids = np.array(sorted(vms), dtype=np.int64)
        if kind == 1:
            w = rng.random(len(ids)) + 0.01  # caps as a host's: at least the reservation
            s.set_limits(ids, np.maximum(pcpus * w / w.sum(), [vms[i][1] for i in ids.tolist()]))
        elif rng.random() < 0.2:
            vm = int(rng.choice(ids))
            limit = float("inf") if rng.random() < 0.3 else round(float(rng.uniform(0.2, vms[vm][0])), 3)
            try:
                s.set_vm(vm, shares=int(rng.choice([250, 1000, 4000])), limit=limit)
            except vsched.AdmissionError:
                pass
        if rng.random() < 0.1 and len(vms) > 2:
            gone = int(rng.choice(ids))
            s.remove_vm(gone)
            del vms[gone]
        if rng.random() < 0.1:
            _add(s, vms, *_vm_params(rng, 1, pcpus)[0])
        ids = sorted(vms)
        vm = np.repeat(ids, [vms[i][0] for i in ids])
        vcpu = np.concatenate([np.arange(vms[i][0]) for i in ids])
        pick = rng.random(len(vm)) < (0.3 if kind == 0 else 0.8)
        work = np.maximum(1, rng.exponential(float(rng.choice([0.3, 1, 4])) * MS, int(pick.sum()))).astype(np.int64)
        if pick.any():
            s.add_work(vm[pick], vcpu[pick], work)
        s.run(int(rng.integers(1, 20)) * MS // 2)
        if host_like or rng.random() < 0.2:  # a sliced host drops unmet work every tick
            s.clear_all_work()
        elif rng.random() < 0.2:
            s.clear_work(int(rng.choice(ids)))
        if step == restore_at:
            s = pickle.loads(pickle.dumps(s))
        st = s.vcpu_stats()
        yield {k: st[k].tolist() for k in st}, s.decisions
    if impl is vsched:
        full, incremental = s._core._recompute_counts()
        yield "counts", (full, incremental)


def _run(impl, seed, **kw):
    rows = list(_history(impl, seed, **kw))
    counts = rows.pop()[1] if rows and rows[-1][0] == "counts" else None
    return rows, counts


@pytest.mark.parametrize("chunk", range(4))
def test_native_incremental_matches_reference(chunk):
    per_chunk = 60 if LONG else 8
    incremental = 0
    for seed in range(chunk * per_chunk, (chunk + 1) * per_chunk):
        native, counts = _run(vsched, seed)
        reference, _ = _run(vsched.reference, seed)
        for step, (a, b) in enumerate(zip(native, reference)):
            assert a == b, f"seed {seed}: native and reference part at step {step}"
        incremental += counts[1]
    assert incremental > 100  # the incremental path was taken (and checked) many times


@pytest.mark.parametrize("seed", range(3))
def test_incremental_matches_forced_full_on_host_like_histories(seed):
    big = dict(vms_range=(150, 300), steps=30, host_like=True)
    inc, counts = _run(vsched, 1000 + seed, **big)
    full, full_counts = _run(vsched, 1000 + seed, force_full=True, **big)
    assert full_counts[1] == 0
    for step, (a, b) in enumerate(zip(inc, full)):
        assert a == b, f"seed {1000 + seed}: incremental and full recomputes part at step {step}"
    assert counts[1] > counts[0]
    # A checkpoint restored half-way (its first recompute is a full one) continues the same.
    restored, _ = _run(vsched, 1000 + seed, restore_at=15, **big)
    assert restored == inc


def test_cleared_queued_work_keeps_the_lag_earned_until_now():
    """Rule 4 clamps a vCPU's lag as of the instant its work runs out. A queued vCPU whose
    work is cleared had earned lag at its rate since its last recompute; that part was once
    dropped, so results depended on when the other VMs' changes happened to recompute (the
    first history below parted between full and incremental recomputes at step 24)."""
    inc, _ = _run(vsched, 0)
    full, _ = _run(vsched, 0, force_full=True)
    reference, _ = _run(vsched.reference, 0)
    assert inc == full == reference


def test_sliced_host_tick_recomputes_in_full_only_a_few_times():
    """Linear cost of a sliced tick, as counts (no timing): each vCPU that runs out of work
    is an incremental recompute; the full ones are a handful per tick at any size."""
    for vms in (100, 400):
        host = vsched.Host(vms // 2 + 1, 200 * vms, max_vcpu_ratio=4.0, min_guarantee=0.05, fidelity="sliced",
                           sample_ns=10 * MS)
        for i in range(vms):
            host.add_vm(1 + i % 3, 64, domain=i % 4)
        rng = np.random.default_rng(1)
        demand = rng.random(vms) * (1 + np.arange(vms) % 3) * 0.4
        host.step(demand)
        full0, inc0 = host.scheduler._core._recompute_counts()
        host.step(demand)
        full1, inc1 = host.scheduler._core._recompute_counts()
        assert full1 - full0 <= 4, (vms, full1 - full0)
        assert inc1 - inc0 >= vms  # about one per vCPU that ran out of work
