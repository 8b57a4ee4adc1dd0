"""The NIC in the host loop: critical vs best-effort VMs under a traffic peak, NIC admission."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import vsched


def host(impl, **extra):
    h = impl.Host(pcpus=8, memory_frames=4096, nic_bps=10e9, **extra)
    critical = h.add_vm(2, 256, net_band=0, net_reservation=1e9)
    best = [h.add_vm(2, 256, net_band=2, net_shares=s) for s in (1000, 1000, 3000)]
    return h, critical, best


def test_critical_vm_keeps_its_bandwidth_through_a_peak_and_best_effort_shares_the_rest(impl):
    h, _, _ = host(impl)
    calm = h.step(np.full(4, 1.0), net_demand=[2e9, 1e9, 1e9, 1e9])
    assert calm["net_used"].tolist() == [2e9, 1e9, 1e9, 1e9]
    peak = h.step(np.full(4, 1.0), net_demand=[6e9, 9e9, 9e9, 9e9])
    assert peak["net_used"][0] == 6e9  # strict priority: all it asks for
    assert peak["net_used"][1:].tolist() == [0.8e9, 0.8e9, 2.4e9]  # 4 Gbps left, by shares 1:1:3
    assert peak["net_unmet"].tolist() == [0.0, 8.2e9, 8.2e9, 6.6e9]
    assert float(peak["net_link_used"]) == 1.0
    flood = h.step(np.full(4, 1.0), net_demand=[20e9, 9e9, 9e9, 9e9])
    assert flood["net_starved"].tolist() == [0.0, 1.0, 1.0, 1.0]  # visible starvation without a guard


def test_nic_admission_and_removal(impl):
    h, _, best = host(impl)
    with pytest.raises(vsched.AdmissionError):
        h.add_vm(1, 128, net_band=1, net_reservation=9.5e9)  # 1 + 9.5 Gbps > the 10 Gbps link
    assert len(h) == 4 and h.events[-1]["event"] == "refused"
    h.remove_vm(best[0])
    tick = h.step(np.full(3, 1.0), net_demand=[1e9, 1e10, 1e10])
    assert tick["net_used"].tolist() == [1e9, 2.25e9, 6.75e9]
    clone = pickle.loads(pickle.dumps(h))
    again = [x.step(np.full(3, 1.0), net_demand=[5e9, 5e9, 5e9])["net_used"].tobytes() for x in (h, clone)]
    assert again[0] == again[1]


def test_net_arguments_need_a_nic(impl):
    h = impl.Host(pcpus=4, memory_frames=1024)
    with pytest.raises(ValueError, match="nic_bps"):
        h.add_vm(1, 64, net_band=1)
    h.add_vm(1, 64)
    with pytest.raises(ValueError, match="nic_bps"):
        h.step([0.5], net_demand=[1.0])
    assert "net_used" not in h.step([0.5])
