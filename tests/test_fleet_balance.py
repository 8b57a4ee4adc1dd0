"""The DRS-like pass: a pass that moves never increases the imbalance, keeps
every destination within its admission rules, and stops at its limits."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vsched.fleet import BalancePolicy, Candidates, HostSpec, HostSummaries, drs_pass, host_loads, imbalance

LONG = os.environ.get("VSCHED_LONG") == "1"  # the long profile


def _random_pass(rng):
    hosts = int(rng.integers(2, 30))
    specs = [HostSpec(pcpus=int(rng.choice([8, 16, 32])), memory_frames=int(rng.integers(5_000, 50_000)),
                      max_vcpu_ratio=float(rng.choice([2.0, 4.0])), min_guarantee=float(rng.choice([0.05, 0.15])))
             for _ in range(hosts)]
    s = HostSummaries.of(specs, domains=4)
    s.up[:] = rng.random(hosts) > 0.1
    n = int(rng.integers(1, 400))
    host = rng.choice(np.flatnonzero(s.up), n) if s.up.any() else np.zeros(n, np.int64)
    vcpus = rng.choice([1, 2, 4], n)
    pages = rng.integers(64, 2048, n)
    for i in range(n):  # claims of the VMs already on the hosts (they may overfill: a pass must cope)
        s.vcpus_used[host[i]] += vcpus[i]
        s.frames_reserved[host[i]] += int(np.ceil(s.min_guarantee[host[i]] * pages[i]))
        s.cpu_reserved[host[i]] += s.min_guarantee[host[i]] * vcpus[i]
    c = Candidates(
        vm=np.arange(n), host=host.astype(np.int64), load=rng.random(n) * vcpus * rng.choice([0.2, 1.0]),
        badness=rng.random(n), movable=rng.random(n) > 0.1, cost=np.where(rng.random(n) < 0.05, np.inf, rng.random(n)),
        vcpus=vcpus, pages=pages, reservation=np.full(n, np.nan), limit=np.full(n, np.nan),
        domain=rng.integers(0, 4, n),
    )
    policy = BalancePolicy(threshold=int(rng.integers(1, 6)), max_moves=int(rng.integers(0, 12)),
                           min_goodness=float(rng.choice([0.0, 0.001, 0.01])))
    return s, c, policy


def test_a_pass_that_moves_never_increases_imbalance():
    rng = np.random.default_rng(21)
    gains, moved_passes = [], 0
    for case in range(12_000 if LONG else 600):
        s, c, policy = _random_pass(rng)
        before_hosts = c.host.copy()
        before = imbalance(host_loads(s, before_hosts, c.load), s.up)
        used = (s.vcpus_used.copy(), s.frames_reserved.copy(), s.cpu_reserved.copy())
        moves = drs_pass(s, c, policy)
        after = imbalance(host_loads(s, c.host, c.load), s.up)
        assert len(moves) <= policy.max_moves
        if moves:
            moved_passes += 1
            assert after < before, f"case {case}"
            gains.append(before - after)
            assert policy.threshold > 1 and before > policy.target
        for m in moves:
            assert m.goodness > 0 and m.goodness >= policy.min_goodness
            assert before_hosts[m.vm] == m.source and c.host[m.vm] == m.destination != m.source
            assert c.movable[m.vm] and np.isfinite(c.cost[m.vm])
        # destinations gained exactly the moved VMs' claims and stay within their rules
        dest = np.array([m.destination for m in moves], dtype=np.int64)
        gained = s.vcpus_used - used[0]
        assert np.array_equal(gained, np.bincount(dest, weights=c.vcpus[[m.vm for m in moves]], minlength=len(s.up)).astype(np.int64)) if moves else not gained.any()
        for h in set(dest.tolist()):
            assert s.vcpus_used[h] <= s.vcpu_capacity[h] and s.frames_reserved[h] <= s.frame_capacity[h]
            assert s.cpu_reserved[h] <= s.pcpus[h] * (1 + 1e-9)
    assert moved_passes > 100
    print(f"imbalance gain per moving pass: median {np.median(gains):.4f}, p99 {np.percentile(gains, 99):.4f}, min {min(gains):.2e}")


def test_threshold_one_never_moves_and_targets_shrink():
    targets = [BalancePolicy(threshold=k).target for k in range(1, 6)]
    assert targets[0] == np.inf and all(a > b for a, b in zip(targets, targets[1:]))
    rng = np.random.default_rng(3)
    for _ in range(50):
        s, c, _ = _random_pass(rng)
        assert drs_pass(s, c, BalancePolicy(threshold=1)) == []


def test_two_hosts_one_hot_moves_toward_balance():
    specs = [HostSpec(pcpus=8, memory_frames=10_000)] * 2
    s = HostSummaries.of(specs)
    n = 8
    c = Candidates(vm=np.arange(n), host=np.zeros(n, np.int64), load=np.full(n, 0.8), badness=np.zeros(n),
                   movable=np.ones(n, bool), cost=np.zeros(n), vcpus=np.ones(n, np.int64), pages=np.full(n, 100),
                   reservation=np.full(n, np.nan), limit=np.full(n, np.nan), domain=np.zeros(n, np.int64))
    s.vcpus_used[0] = n
    moves = drs_pass(s, c, BalancePolicy(threshold=5, max_moves=10, min_goodness=0.0))
    assert len(moves) == 4 and all(m.destination == 1 for m in moves)  # 4 + 4: perfectly balanced
    assert imbalance(host_loads(s, c.host, c.load), s.up) == pytest.approx(0.0)


def test_bad_balance_parameters_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        BalancePolicy(threshold=6)
    with pytest.raises(ValueError, match="interval"):
        BalancePolicy(interval=0)
