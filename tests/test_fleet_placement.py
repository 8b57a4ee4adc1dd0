"""Placement policies against a brute-force oracle on small fleets.

The oracle asks every real host whether it admits the VM (add_vm, then
remove_vm) and scores hosts with scalar arithmetic from the VMs it holds;
the policy under test works on the vectorised host summaries."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from vsched.errors import AdmissionError
from vsched.fleet import Fleet, HostSpec, VmNeeds, VmSpec, place, synthetic_fleet

LONG = os.environ.get("VSCHED_LONG") == "1"  # the long profile: 20x the cases
CASES = 3000 if LONG else 150


def _random_fleet(rng: np.random.Generator, placement: str) -> Fleet:
    specs = [
        HostSpec(pcpus=int(rng.integers(2, 9)), memory_frames=int(rng.integers(600, 3000)),
                 max_vcpu_ratio=float(rng.choice([1.0, 2.0, 4.0])), min_guarantee=float(rng.choice([0.05, 0.15, 0.3])))
        for _ in range(int(rng.integers(2, 7)))
    ]
    fleet = Fleet(specs, placement=placement, balance=None, memory=None, seed=int(rng.integers(0, 100)))
    fleet.attach(synthetic_fleet(0, 2))
    for _ in range(int(rng.integers(0, 25))):
        fleet.submit(_random_vm(rng), cpu=float(rng.random()), departure=None)
    return fleet


def _random_vm(rng: np.random.Generator) -> VmSpec:
    reservation = None if rng.random() < 0.7 else float(rng.uniform(0, 2))
    return VmSpec(vcpus=int(rng.integers(1, 5)), memory_pages=int(rng.integers(16, 800)),
                  reservation=reservation, domain=int(rng.integers(0, 3)))


def _admits(host, vm: VmSpec) -> bool:
    try:
        local = host.add_vm(vm.vcpus, vm.memory_pages, **vm.add_kwargs())
    except AdmissionError:
        return False
    host.remove_vm(local)
    return True


def _oracle_scores(fleet: Fleet, vm: VmSpec) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"headroom": [], "cpu": [], "memory": [], "affinity": []}
    for h, spec in enumerate(fleet.specs):
        mine = [fleet.vms.specs[f] for f in fleet.members[h]]
        cores = 0.0
        for x in mine:  # in placement order, as the host adds them up
            cores += x.reservation_on(spec)
        cap_v = spec.max_vcpu_ratio * spec.pcpus
        cap_f = (1 - spec.memory_reserve) * spec.memory_frames
        free_v = cap_v - sum(x.vcpus for x in mine)
        free_f = cap_f - sum(math.ceil(spec.min_guarantee * x.memory_pages) for x in mine)
        free_c = spec.pcpus + 1e-9 * spec.pcpus - cores
        frames = math.ceil(spec.min_guarantee * vm.memory_pages)
        out["headroom"].append(min(free_v * (1 / cap_v) - vm.vcpus * (1 / cap_v),
                                   free_f * (1 / cap_f) - frames * (1 / cap_f),
                                   free_c * (1 / spec.pcpus) - vm.reservation_on(spec) * (1 / spec.pcpus)))
        out["cpu"].append(spec.pcpus * (1 - float(fleet.summaries.load[h])))
        out["memory"].append(spec.memory_frames - float(fleet.summaries.frames_in_use[h]))
        out["affinity"].append(float(sum(x.domain == vm.domain for x in mine)))
    return out


def _oracle(fleet: Fleet, vm: VmSpec, policy: str) -> int:
    ok = [_admits(host, vm) for host in fleet.hosts]
    if not any(ok):
        return -1
    scores = _oracle_scores(fleet, vm)
    hosts = [h for h in range(len(ok)) if ok[h]]
    if policy == "first-fit":
        return hosts[0]
    if policy == "best-fit":
        return min(hosts, key=lambda h: (scores["headroom"][h], h))
    if policy == "worst-fit":
        return min(hosts, key=lambda h: (-scores["headroom"][h], h))
    # sum of weight x value / span over the feasible hosts (the offset min-max
    # normalisation subtracts is the same for every host and cannot change the choice)
    total = {h: 0.0 for h in hosts}
    for name in ("cpu", "memory", "affinity"):
        values = [scores[name][h] for h in hosts]
        span = max(values) - min(values)
        for h in hosts:
            total[h] += (1.0 / span if span > 0 else 0.0) * scores[name][h]
    return min(hosts, key=lambda h: (-total[h], h))


@pytest.mark.parametrize("policy", ["first-fit", "best-fit", "worst-fit", "filter-weigher"])
def test_policy_matches_brute_force_oracle(policy):
    rng = np.random.default_rng([11, len(policy)])
    refused = 0
    for case in range(CASES):
        fleet = _random_fleet(rng, policy)
        if case % 2:
            fleet.step()
        vm = _random_vm(rng)
        chosen = place(fleet.summaries, VmNeeds.of(vm, fleet.summaries), policy, fleet.weights)
        assert chosen == _oracle(fleet, vm, policy), f"case {case}"
        refused += chosen < 0
    assert 0 < refused < CASES  # both outcomes exercised


def test_placement_never_breaks_a_host_rule_when_packing_full():
    rng = np.random.default_rng(5)
    fleet = Fleet(4, host=HostSpec(pcpus=4, memory_frames=2000, max_vcpu_ratio=2.0), balance=None, memory=None)
    fleet.attach(synthetic_fleet(0, 1))
    for _ in range(200):
        fleet.submit(_random_vm(rng), cpu=0.5)
    refusals = [e for e in fleet.events if e["event"] == "refused"]
    assert refusals and {e["rule"] for e in refusals} <= {"vCPU ratio", "memory reserve", "CPU reservations", "per VM"}
    fleet.check_accounting()
    # once refused, no host could have taken it: every host refuses it now too (loads only grew)
    for e in refusals[-5:]:
        assert not any(_admits(h, fleet.vms.specs[e["vm"]]) for h in fleet.hosts)


def test_affinity_weigher_packs_clones_and_saves_frames():
    def frames_used(weights):
        fleet = Fleet(4, host=HostSpec(pcpus=16, memory_frames=20_000), placement="filter-weigher",
                      balance=None, weights=weights, seed=3)
        fleet.attach(synthetic_fleet(0, 2))
        for i in range(40):
            fleet.submit(VmSpec(1, 256, domain=i % 4), cpu=0.1)
        run = fleet.run(ticks=2)
        return run.hosts["frames_used"][:, -1].sum()

    assert frames_used({"affinity": 1.0}) < frames_used({"cpu": 1.0, "memory": 1.0})
