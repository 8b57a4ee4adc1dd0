"""The host: admission control, the loop's invariants, native vs reference."""

from __future__ import annotations

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched import AdmissionError
from vsched.workloads import MemoryWorkload, synthetic_cpu


def test_admission_refuses_each_rule_and_logs_it(impl):
    host = impl.Host(pcpus=4, memory_frames=1000, max_vcpu_ratio=2.0)
    host.add_vm(4, 100)
    host.add_vm(4, 100)
    with pytest.raises(AdmissionError, match=r"vCPU ratio.*over by 1 vCPUs"):
        host.add_vm(1, 100)
    assert len(host) == 2 and host.events[-1]["event"] == "refused"

    host = impl.Host(pcpus=64, memory_frames=1000, memory_reserve=0.5, min_guarantee=0.5)
    host.add_vm(1, 900)  # reserves 450 frames of the 500 allowed
    with pytest.raises(AdmissionError, match=r"memory reserve.*over by 50 frames"):
        host.add_vm(1, 200)
    assert len(host) == 1

    host = impl.Host(pcpus=2, memory_frames=10_000, min_guarantee=0.5)
    host.add_vm(2, 10)  # 1 core reserved by default
    host.add_vm(1, 10, reservation=0.75)
    with pytest.raises(AdmissionError, match=r"CPU reservations.*over by 0.25 cores"):
        host.add_vm(1, 10, reservation=0.5)
    with pytest.raises(AdmissionError, match="exceeds the VM's 1 vCPUs"):
        host.add_vm(1, 10, reservation=1.5)
    with pytest.raises(AdmissionError, match="below the reservation"):
        host.add_vm(1, 10, reservation=0.2, limit=0.1)
    assert len(host) == 2
    assert sum(e["event"] == "refused" for e in host.events) == 3


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(pcpus=0, memory_frames=10), ValueError),
        (dict(pcpus=2, memory_frames=-1), ValueError),
        (dict(pcpus=2.5, memory_frames=10), TypeError),
        (dict(pcpus=2, memory_frames=10, fidelity="exact"), ValueError),
        (dict(pcpus=2, memory_frames=10, reallocation="maybe"), ValueError),
        (dict(pcpus=2, memory_frames=10, memory_reserve=1.0), ValueError),
        (dict(pcpus=2, memory_frames=10, max_vcpu_ratio=float("nan")), ValueError),
        (dict(pcpus=2, memory_frames=10, strict_reservations=1), TypeError),
        (dict(pcpus=2, memory_frames=10, strict_reservations=None), TypeError),
        (dict(pcpus=2, memory_frames=10, fidelity="sliced", strict_reservations="yes"), TypeError),
    ],
)
def test_bad_host_arguments(impl, kwargs, error):
    with pytest.raises(error):
        impl.Host(**kwargs)


def test_bad_step_leaves_host_unchanged(impl):
    host = impl.Host(pcpus=2, memory_frames=100)
    host.add_vm(1, 10)
    host.add_vm(2, 10)
    caps = host.caps()
    for demand, error in [
        ([0.5], ValueError),
        ([0.5, np.nan], ValueError),
        ([0.5, -1.0], ValueError),
        ([1.5, 0.5], ValueError),  # more than its one vCPU
        (["a", "b"], TypeError),
    ]:
        with pytest.raises(error):
            host.step(demand)
        assert host.tick == 0 and np.array_equal(host.caps(), caps)
    for batch, error in [
        ({"vm": np.array([2]), "gpn": np.array([0]), "content": np.array([1], np.uint64)}, KeyError),  # no VM 2: batches name VMs by id
        ({"vm": np.array([1]), "gpn": np.array([10])}, IndexError),  # the VM has 10 pages
        ({"vm": np.array([0, 1]), "gpn": np.array([0])}, ValueError),
        ({"vm": np.array([0.5]), "gpn": np.array([0])}, TypeError),
        ({"vm": np.array([0]), "gpn": np.array([0]), "content": np.array([1, 2], np.uint64)}, ValueError),
    ]:
        memory_before = host.memory.stats()
        with pytest.raises(error):
            host.step([0.5, 0.5], [{"vm": np.array([0]), "gpn": np.array([1])}, batch])
        assert host.tick == 0 and np.array_equal(host.caps(), caps)
        assert host.memory.stats()["time"] == memory_before["time"]  # no access was applied
        assert np.array_equal(host.reallocator.estimates(), host.reallocator.base())  # nothing observed
    with pytest.raises(KeyError):
        host.remove_vm(7)


def _scenario(impl, policy="lend", fidelity="fluid", vms=24, ticks=36, pcpus=8, seed=5):
    rng = np.random.default_rng(seed)
    vcpus = rng.choice([1, 2, 4], vms, p=[0.5, 0.3, 0.2])
    host = impl.Host(pcpus, 600, min_guarantee=0.05, fidelity=fidelity, reallocation=policy, sample_ns=50_000_000)
    for v in vcpus:
        host.add_vm(int(v), 64, domain=int(v) % 2)
    demand = synthetic_cpu(vms, ticks, seed=seed).cpu * 3.0
    demand = np.minimum(demand, 1.0) * vcpus[None, :]
    load = MemoryWorkload(vms, 64, templates=3, seed=seed, accesses=16)

    def memory(t):
        return load.boot() + load.tick(t) if t == 0 else load.tick(t)

    return host, host.run(demand, memory), vcpus


@pytest.mark.parametrize("policy", ["lend", "static", "off"])
def test_loop_invariants(impl, policy):
    host, run, vcpus = _scenario(impl, policy)
    m, tol = run.metrics, 1e-9
    assert np.all(m["cpu_used"] <= m["entitlement"] + tol)  # never above the cap in force
    assert np.all(m["cpu_used"] <= vcpus[None, :] + tol)
    assert np.all(m["cpu_used"].sum(axis=1) <= host.pcpus + tol)
    reservation = host.min_guarantee * vcpus
    assert np.all(m["cpu_used"] >= np.minimum(m["cpu_demand"], reservation[None, :]) - tol)  # reservations met
    assert np.all(run.totals["frames_used"] <= host.memory_frames)
    assert np.all((m["ready_pct"] >= 0) & (m["ready_pct"] <= 100 + tol))
    assert np.all(m["unmet"] >= 0)
    assert len(run.metrics) >= 10


def test_lending_beats_static_partitioning():
    _, lend, _ = _scenario(vsched, "lend")
    _, static, _ = _scenario(vsched, "static")
    unmet = lambda run: run.summary()["unmet_demand"]  # noqa: E731
    assert unmet(lend) < unmet(static)
    assert lend.totals["lending"].sum() > 0


def test_native_and_reference_hosts_agree():
    for fidelity in ("fluid", "sliced"):
        _, native, _ = _scenario(vsched, fidelity=fidelity, vms=10, ticks=8, pcpus=4)
        _, reference, _ = _scenario(vsched.reference, fidelity=fidelity, vms=10, ticks=8, pcpus=4)
        for name in native.metrics:
            np.testing.assert_allclose(native.metrics[name], reference.metrics[name], rtol=1e-9, atol=1e-12, err_msg=name)
        for name in native.totals:
            np.testing.assert_allclose(native.totals[name], reference.totals[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_sliced_and_fluid_agree_roughly():
    _, fluid, _ = _scenario(vsched, fidelity="fluid", vms=16, ticks=12, pcpus=6)
    _, sliced, _ = _scenario(vsched, fidelity="sliced", vms=16, ticks=12, pcpus=6)
    # The sampled scheduler approximates the fluid share: total CPU delivered within 10 %.
    a, b = fluid.metrics["cpu_used"].sum(), sliced.metrics["cpu_used"].sum()
    assert abs(a - b) <= 0.1 * a


def test_resize_and_remove_while_running(impl):
    host = impl.Host(pcpus=4, memory_frames=500)
    a = host.add_vm(1, 50)
    b = host.add_vm(2, 50)
    host.step([1.0, 2.0])
    host.resize(a, vcpus=2, shares=4000, memory_pages=80)
    host.step([2.0, 2.0])
    with pytest.raises(AdmissionError):
        host.resize(b, vcpus=64)
    host.remove_vm(b)
    tick = host.step([2.0])
    assert host.vms == [a] and tick["cpu_used"].shape == (1,)
    kinds = [e["event"] for e in host.events]
    assert kinds.count("admitted") == 2 and "resized" in kinds and "resize_refused" in kinds and "removed" in kinds


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_memory_batches_name_vms_by_host_id_whatever_the_engines_ids(impl):
    """Batches reach the right VM after removals and a memory resize (the memory manager's ids
    then differ from the host's), and every bad id or page is refused naming it."""
    host = impl.Host(8, 5000)
    for pages in (16, 16, 32, 16):
        host.add_vm(1, pages)
    host.remove_vm(1)
    host.resize(2, memory_pages=24)  # VM 2's memory is re-created under a new memory id
    vms = np.array([0, 2, 3])
    gpn = np.array([[0, 1, 2], [0, 23, 5], [15, 3, 7]])  # VM 0, 2 and 3 touch 3 pages each, in place
    tick = host.step([0.5, 0.5, 0.5], [{"vm": np.repeat(vms, 1), "gpn": gpn[:, 0]},
                                       {"vm": np.repeat(vms, 2), "gpn": gpn[:, 1:].reshape(-1)}])
    assert tick["vm"].tolist() == [0, 2, 3] and tick["mem_resident"].tolist() == [3, 3, 3]
    memory = host.memory.stats()
    for vm, page, error, text in [(1, 0, KeyError, "vm 1"), (-1, 0, KeyError, "vm -1"), (99, 0, KeyError, "vm 99"),
                                  (2, 24, IndexError, "gpn 24 outside VM 2's 24 pages"),
                                  (0, -1, IndexError, "gpn -1"), (3, 16, IndexError, "gpn 16")]:
        batch = {"vm": np.array([0, vm, 3]), "gpn": np.array([0, page, 1])}
        with pytest.raises(error, match=text):
            host.step([0.5, 0.5, 0.5], [{"vm": vms, "gpn": np.zeros(3, dtype=np.int64)}, batch])
    assert host.tick == 1
    assert all(np.array_equal(np.asarray(value), np.asarray(memory[key])) for key, value in host.memory.stats().items())


@pytest.mark.parametrize("fidelity", ["fluid", "sliced"])
def test_tick_metrics_name_each_vm_after_removals_and_re_created_engine_vms(fidelity):
    """On random histories of adds, removals and resizes (which re-create a VM's memory, and its
    scheduler VM on a sliced host, under new engine ids, so the engines' stats rows stop lining up
    with the host's VMs), each VM's memory columns of a tick are its own memory VM's stats, and
    on a sliced host its CPU columns are its scheduler VM's counters over the tick."""
    for seed in range(25):
        rng = np.random.default_rng(seed)
        host = vsched.Host(16, 20_000, fidelity=fidelity, sample_ns=2_000_000, min_guarantee=0.05)
        for _ in range(int(rng.integers(3, 9))):
            host.add_vm(int(rng.integers(1, 4)), int(rng.integers(8, 40)), domain=int(rng.integers(0, 3)))
        for _ in range(6):
            action = rng.integers(0, 4)
            if action == 0 and len(host) > 1:
                host.remove_vm(int(rng.choice(host.vms)))
            elif action == 1:
                vm = int(rng.choice(host.vms))
                host.resize(vm, memory_pages=int(rng.integers(8, 40)))
            elif action == 2:
                vm = int(rng.choice(host.vms))
                host.resize(vm, vcpus=int(rng.integers(1, 4)))
            else:
                host.add_vm(int(rng.integers(1, 4)), int(rng.integers(8, 40)))
            vms = np.array(host.vms)
            records = {vm: host._get(vm)[1] for vm in host.vms}
            vcpus = np.array([records[vm].vcpus for vm in host.vms])
            pages = np.array([records[vm].memory_pages for vm in host.vms])
            touched = rng.integers(1, 9, size=len(vms))
            batch = {"vm": np.repeat(vms, touched),
                     "gpn": np.concatenate([rng.integers(0, p, size=k) for p, k in zip(pages, touched)])}
            before = host.scheduler.stats() if host.scheduler is not None else None
            tick = host.step(rng.random(len(vms)) * vcpus, [batch])
            assert tick["vm"].tolist() == host.vms
            memory = host.memory.stats()
            resident = dict(zip(memory["vm"].tolist(), memory["vm_resident"].tolist()))
            swapped = dict(zip(memory["vm"].tolist(), memory["vm_swapped"].tolist()))
            for i, vm in enumerate(host.vms):
                assert tick["mem_resident"][i] == resident[records[vm].memory_id]
                assert tick["mem_swapped"][i] == swapped[records[vm].memory_id]
            if before is not None:
                after = host.scheduler.stats()
                run_then = dict(zip(before["vm"].tolist(), before["run_ns"].tolist()))
                run_now = dict(zip(after["vm"].tolist(), after["run_ns"].tolist()))
                for i, vm in enumerate(host.vms):
                    sched_id = records[vm].sched_id
                    ran = run_now[sched_id] - run_then.get(sched_id, 0)
                    assert tick["cpu_used"][i] == ran / host.sample_ns
