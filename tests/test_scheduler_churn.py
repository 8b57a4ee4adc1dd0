"""CpuScheduler churn: VMs that come and go forever. Ids stay unique, removed
VMs' slots are reused (compacted) without changing a decision (native vs
reference on histories long enough to compact many times), and memory and
per-operation work follow the live VMs, not every VM ever added."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import vsched
import vsched.reference

MS = 1_000_000
LONG = os.environ.get("VSCHED_LONG") == "1"


def observe(s) -> tuple:
    return (s.now, s.decisions, {k: v.tolist() for k, v in s.stats().items()},
            {k: v.tolist() for k, v in s.vcpu_stats().items()})


def churn_history(seed: int, steps: int):
    """Yields (name, args, kwargs) of a random history with many arrivals and
    departures (a few long-lived VMs, many short-lived ones), reservations,
    limits and CPU-bound and bursty work; valid for any implementation."""
    rng = np.random.default_rng(seed)
    pcpus = int(rng.integers(1, 6))
    yield "__init__", (pcpus, int(rng.choice([1, 2])) * MS), {"strict_reservations": bool(seed % 3)}
    live: dict[int, tuple[int, float]] = {}  # id -> (vcpus, reservation)
    next_id = 0
    for _ in range(steps):
        r = rng.random()
        reserved = sum(res for _, res in live.values())
        if r < 0.35 or not live:
            vcpus = int(rng.integers(1, 4))
            res = float(rng.choice([0.0, 0.0, 0.2, 0.5]))
            if reserved + res > pcpus or res > vcpus:
                res = 0.0
            limit = None if rng.random() < 0.6 else float(rng.choice([0.5, 1.0, 2.5]))
            if limit is not None and limit < res:
                limit = None
            yield "add_vm", (vcpus,), {"shares": int(rng.choice([300, 1000, 4000])), "reservation": res, "limit": limit}
            live[next_id] = (vcpus, res)
            next_id += 1
        elif r < 0.65:
            ids = sorted(live)
            victim = ids[int(rng.integers(len(ids)))] if rng.random() < 0.8 or len(ids) < 3 else ids[-1]
            yield "remove_vm", (victim,), {}
            del live[victim]
        elif r < 0.72:
            ids = sorted(live)
            vm = ids[int(rng.integers(len(ids)))]
            limit = float(rng.choice([1.0, 3.0, np.inf]))
            if limit >= live[vm][1]:
                yield "set_limits", ([vm], [limit]), {}
        elif r < 0.75:
            yield "clear_all_work", (), {}
        else:
            ids = sorted(live)
            n = int(rng.integers(1, 5))
            vm = [ids[int(i)] for i in rng.integers(len(ids), size=n)]
            vcpu = [int(rng.integers(live[v][0])) for v in vm]
            work = [vsched.FOREVER if rng.random() < 0.2 else int(rng.integers(1, 4 * MS)) for _ in vm]
            yield "add_work", (vm, vcpu, work), {}
        yield "run", (int(rng.integers(0, 3 * MS)),), {}
    yield "removed ids", (), {"ids": sorted(set(range(next_id)) - set(live))}


def replay(module, seed: int, steps: int, checkpoint_at: int | None = None) -> list:
    out = []
    s = None
    removed: list[int] = []
    for k, (name, args, kwargs) in enumerate(churn_history(seed, steps)):
        if name == "__init__":
            s = module.CpuScheduler(*args, **kwargs)
        elif name == "removed ids":
            removed = kwargs["ids"]
        else:
            result = getattr(s, name)(*args, **kwargs)
            if name == "add_vm":
                out.append(result)
            if name == "run":
                out.append(observe(s))
        if checkpoint_at is not None and k == checkpoint_at:
            s = pickle.loads(pickle.dumps(s))
    for vm in removed[:: max(1, len(removed) // 50)]:  # a removed id stays unknown after slot reuse
        with pytest.raises(KeyError):
            s.remove_vm(vm)
        with pytest.raises(KeyError):
            s.add_work(vm, 0, 1)
    return out


def test_many_compactions_change_no_decision():
    """Native (which compacts its slots) and reference (a dict) agree after every call."""
    cases = 60 if LONG else 8
    for seed in range(cases):
        steps = 600
        assert replay(vsched, seed, steps) == replay(vsched.reference, seed, steps), seed


def test_checkpoints_across_compactions():
    for seed in range(3):
        expected = replay(vsched, seed, 500)
        for at in (77, 401, 803):
            assert replay(vsched, seed, 500, checkpoint_at=at) == expected, (seed, at)


def test_ids_are_unique_and_memory_stays_flat():
    s = vsched.CpuScheduler(8, MS)
    keep = [s.add_vm(2, reservation=0.5) for _ in range(10)]
    s.add_work(np.repeat(keep, 2), np.tile([0, 1], 10), vsched.FOREVER)
    last = keep[-1]

    def cycles(count):
        nonlocal last
        for _ in range(count):
            vm = s.add_vm(2, limit=1.5)
            assert vm == last + 1  # ids count up and are never handed out twice
            last = vm
            s.add_work(vm, 1, vsched.FOREVER)
            s.run(100_000)
            s.remove_vm(vm)

    cycles(1_000)
    early = s.memory_bytes()
    cycles(100_000 if LONG else 30_000)
    late = s.memory_bytes()
    assert late <= early * 1.05 + 4096, (early, late)
    assert s.stats()["vm"].tolist() == keep
    rows = s.vcpu_stats()
    assert (rows["run_ns"] + rows["ready_ns"] + rows["limited_ns"] + rows["wait_ns"] == s.now).all()
