"""Atomic host changes (docs/host.md, rule H2): random valid and invalid calls; after every
refused call, the host and every engine are exactly as before it."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import vsched
import vsched.reference
from host_observation import assert_same, observe

LONG = os.environ.get("VSCHED_LONG") == "1"
CONFIGS = [(impl, fidelity) for impl in (vsched, vsched.reference) for fidelity in ("fluid", "sliced")]

vcpus_st = st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 1025, 2**70]), st.just(1.5))
pages_st = st.one_of(st.integers(1, 40), st.sampled_from([0, -3, 5000]))
shares_st = st.one_of(st.none(), st.integers(1, 5000), st.sampled_from([0, 1_000_001, 2_000_000, 2**60]))
reservation_st = st.one_of(st.none(), st.floats(0, 3), st.sampled_from([-0.5, float("nan"), float("inf"), 5.0]))
limit_st = st.one_of(st.none(), st.floats(0, 4), st.sampled_from([-1.0, float("nan"), 0.0]))
domain_st = st.one_of(st.integers(0, 2), st.sampled_from([-1, True]))


class HostMachine(RuleBasedStateMachine):
    """Drives one host with random calls; `config` is set by the subclass for each engine set."""

    config: tuple = (vsched, "fluid")

    @initialize(frames=st.integers(60, 400), pcpus=st.integers(1, 4))
    def make(self, frames, pcpus):
        impl, fidelity = self.config
        self.host = impl.Host(pcpus, frames, fidelity=fidelity, sample_ns=2_000_000, max_vcpu_ratio=4.0)
        self.rng = np.random.default_rng(frames * 7 + pcpus)

    def attempt(self, call):
        before = observe(self.host)
        events = len(self.host.events)
        try:
            call()
        except (ValueError, TypeError, KeyError, IndexError):  # AdmissionError is a ValueError
            assert_same(before, observe(self.host))
            assert all(e["event"].endswith("refused") for e in self.host.events[events:])

    def some_vm(self, data):
        known = self.host.vms
        return data.draw(st.one_of(st.sampled_from(known), st.integers(-2, 30)) if known else st.integers(-2, 30))

    @rule(vcpus=vcpus_st, pages=pages_st, shares=shares_st, reservation=reservation_st, limit=limit_st,
          domain=domain_st)
    def add_vm(self, vcpus, pages, shares, reservation, limit, domain):
        self.attempt(lambda: self.host.add_vm(vcpus, pages, shares=shares, reservation=reservation, limit=limit,
                                              domain=domain))

    @rule(data=st.data(), vcpus=st.one_of(st.none(), vcpus_st), pages=st.one_of(st.none(), pages_st),
          shares=shares_st, limit=limit_st)
    def resize(self, data, vcpus, pages, shares, limit):
        vm = self.some_vm(data)
        self.attempt(lambda: self.host.resize(vm, vcpus=vcpus, memory_pages=pages, shares=shares, limit=limit))

    @rule(data=st.data())
    def remove_vm(self, data):
        vm = self.some_vm(data)
        self.attempt(lambda: self.host.remove_vm(vm))

    @rule(data=st.data())
    def move_vm_home_again(self, data):
        """Export a VM, remove it and import it back (it may no longer fit if frames ran out)."""
        if not self.host.vms:
            return
        vm = data.draw(st.sampled_from(self.host.vms))
        state = self.host.export_vm(vm)
        self.host.remove_vm(vm)
        self.attempt(lambda: self.host.import_vm(state, domain=data.draw(st.one_of(st.none(), domain_st))))

    @rule(data=st.data(), flaw=st.sampled_from(
        ["none", "none", "none", "demand_nan", "demand_over", "demand_shape", "vm_unknown", "gpn_outside",
         "content_float", "content_negative", "write_not_bool", "lengths"]))
    def step(self, data, flaw):
        host = self.host
        vms = host.vms
        vcpus = np.array([host.export_vm(vm).vcpus for vm in vms], dtype=float)
        demand = self.rng.random(len(vms)) * vcpus
        batches = []
        if vms:
            pages = np.array([host.export_vm(vm).memory_pages for vm in vms])
            n = int(self.rng.integers(1, 30))
            which = self.rng.integers(0, len(vms), n)
            gpn = (self.rng.random(n) * pages[which]).astype(np.int64)
            content = self.rng.integers(0, 6, n).astype(np.uint64)
            batches.append({"vm": np.array(vms)[which], "gpn": gpn})
            batches.append({"vm": np.array(vms)[which], "gpn": gpn, "content": content,
                            "write": self.rng.random(n) < 0.5})
            bad = dict(batches[-1])
            if flaw == "vm_unknown":
                bad["vm"] = bad["vm"].copy(); bad["vm"][-1] = max(vms) + 1 + int(self.rng.integers(0, 3))
            elif flaw == "gpn_outside":
                bad["gpn"] = bad["gpn"].copy(); bad["gpn"][-1] = pages[which[-1]]
            elif flaw == "content_float":
                bad["content"] = content.astype(float)
            elif flaw == "content_negative":
                bad["content"] = content.astype(np.int64) - 3
            elif flaw == "write_not_bool":
                bad["write"] = bad["write"].astype(np.int8)
            elif flaw == "lengths":
                bad["gpn"] = bad["gpn"][:-1]
            batches.append(bad)
        if flaw == "demand_nan" and vms:
            demand[-1] = np.nan
        elif flaw == "demand_over" and vms:
            demand[-1] = vcpus[-1] + 0.5
        elif flaw == "demand_shape":
            demand = np.append(demand, 0.1)
        self.attempt(lambda: host.step(demand, batches))

    @invariant()
    def engines_agree_on_the_vms(self):
        host = getattr(self, "host", None)
        if host is None:
            return
        assert len(host.reallocator) == len(host) == len(host.memory.stats()["vm"])
        if host.scheduler is not None:
            assert len(host.scheduler.stats()["vm"]) == len(host)


class NicHostMachine(HostMachine):
    """The same calls on a host with a NIC, plus VMs with network parameters and network demand."""

    @initialize(frames=st.integers(60, 400), pcpus=st.integers(1, 4))
    def make(self, frames, pcpus):
        impl, fidelity = self.config
        self.host = impl.Host(pcpus, frames, fidelity=fidelity, sample_ns=2_000_000, max_vcpu_ratio=4.0,
                              nic_bps=1e8, net_bands=2, net_guard=vsched.NetGuard(minimums=[0, 1e7]),
                              net_sample_ns=400_000)
        self.rng = np.random.default_rng(frames * 7 + pcpus)

    @rule(band=st.one_of(st.none(), st.integers(0, 1), st.sampled_from([2, -1, 1.5])),
          shares=st.one_of(st.none(), st.integers(1, 3000), st.just(0)),
          reservation=st.one_of(st.none(), st.floats(0, 6e7), st.sampled_from([-1.0, float("nan"), 2e8])),
          limit=st.one_of(st.none(), st.floats(0, 2e8), st.just(float("nan"))))
    def add_net_vm(self, band, shares, reservation, limit):
        self.attempt(lambda: self.host.add_vm(1, 4, net_band=band, net_shares=shares, net_reservation=reservation,
                                              net_limit=limit))

    @rule(flaw=st.sampled_from(["none", "none", "nan", "negative", "shape", "dtype"]))
    def net_step(self, flaw):
        host = self.host
        n = len(host)
        demand = self.rng.random(n) * 1e8
        if flaw == "nan" and n:
            demand[-1] = np.nan
        elif flaw == "negative" and n:
            demand[0] = -1.0
        elif flaw == "shape":
            demand = np.append(demand, 1.0)
        elif flaw == "dtype":
            demand = demand.astype(str)
        self.attempt(lambda: host.step(np.zeros(n), net_demand=demand))

    @invariant()
    def the_nic_has_every_vm(self):
        host = getattr(self, "host", None)
        if host is not None:
            assert len(host.net) == len(host)


MACHINE_SETTINGS = settings(max_examples=300 if LONG else 12, stateful_step_count=25)


@pytest.mark.parametrize(("impl", "fidelity"), CONFIGS,
                         ids=[f"{i.IMPLEMENTATION}-{f}" for i, f in CONFIGS])
def test_refused_calls_change_nothing(impl, fidelity):
    machine = type("Machine", (HostMachine,), {"config": (impl, fidelity)})
    machine.TestCase.settings = MACHINE_SETTINGS
    machine.TestCase().runTest()


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_refused_calls_change_nothing_on_a_host_with_a_nic(impl):
    machine = type("Machine", (NicHostMachine,), {"config": (impl, "fluid")})
    machine.TestCase.settings = MACHINE_SETTINGS
    machine.TestCase().runTest()


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_the_half_applied_changes_once_seen(impl):
    """Each used to leave one engine changed and another not."""
    host = impl.Host(2, 100, fidelity="sliced", sample_ns=1_000_000)
    vm = host.add_vm(1, 8)
    for call in (
        lambda: host.add_vm(1, 8, domain=-1),  # the memory manager's rule
        lambda: host.add_vm(1, 8, shares=2_000_000),  # the scheduler's rule
        lambda: host.resize(vm, shares=2_000_000),
        lambda: host.step([0.5], [{"vm": [vm], "gpn": [0], "content": np.array([1.5])}]),  # float content
    ):
        before = observe(host)
        with pytest.raises((ValueError, TypeError)):
            call()
        assert_same(before, observe(host))
    host.step([0.5])
