"""Host checkpoints (pickle, deepcopy, copy) and moving a VM between hosts (export_vm / import_vm)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched import workloads
from vsched._state import Checkpointable
from vsched.host import VmState

from host_observation import assert_same, observe

NATIVE_SCHEDULER_CHECKPOINTS = isinstance(vsched.CpuScheduler(1), Checkpointable)


def make_host(impl, fidelity, vms=5, pages=96, frames=800, seed=0):
    host = impl.Host(8, frames, fidelity=fidelity, sample_ns=20_000_000, min_guarantee=0.1)
    rng = np.random.default_rng(seed)
    for i in range(vms):
        host.add_vm(int(rng.integers(1, 4)), pages, domain=i % 2, limit=None if i % 3 else 1.5)
    return host


def workload(host, ticks, seed):
    vcpus = np.array([host.export_vm(vm).vcpus for vm in host.vms], dtype=float)
    cpu = workloads.synthetic_cpu(len(vcpus), ticks, seed=seed).cpu * vcpus
    pages = host.export_vm(host.vms[0]).memory_pages
    load = workloads.MemoryWorkload(len(vcpus), pages, seed=seed, accesses=60)
    ids = np.array(host.vms)

    ticks_batches = [  # precomputed: the workload generator draws from one stream
        [dict(batch, vm=ids[np.asarray(batch["vm"])]) for batch in (load.boot() if t == 0 else []) + load.tick(t)]
        for t in range(ticks)
    ]
    return cpu, ticks_batches.__getitem__


def same_runs(a, b):
    for name, values in a.metrics.items():
        assert np.array_equal(values, b.metrics[name]), name
    for name, values in a.totals.items():
        assert np.array_equal(values, b.totals[name]), name


def checkpointable(impl, fidelity):
    return fidelity == "fluid" or impl is vsched.reference or NATIVE_SCHEDULER_CHECKPOINTS


CASES = [(impl, fidelity) for impl in (vsched, vsched.reference) for fidelity in ("fluid", "sliced")]
IDS = [f"{impl.IMPLEMENTATION}-{fidelity}" for impl, fidelity in CASES]


@pytest.mark.parametrize(("impl", "fidelity"), CASES, ids=IDS)
def test_restored_in_a_new_process_continues_bit_identically(impl, fidelity, tmp_path):
    if not checkpointable(impl, fidelity):
        host = make_host(impl, fidelity)
        with pytest.raises(TypeError, match="cannot be checkpointed"):
            pickle.dumps(host)
        with pytest.raises(TypeError, match="cannot be checkpointed"):
            copy.deepcopy(host)
        return
    host = make_host(impl, fidelity)
    cpu, memory = workload(host, 12, seed=4)
    host.run(cpu[:6], memory)
    (tmp_path / "host.pkl").write_bytes(pickle.dumps(host))
    (tmp_path / "cpu.npy").write_bytes(pickle.dumps((cpu[6:], [memory(t) for t in range(6, 12)])))
    script = textwrap.dedent(
        f"""
        import pickle, sys
        host = pickle.loads(open({str(tmp_path / 'host.pkl')!r}, 'rb').read())
        cpu, batches = pickle.loads(open({str(tmp_path / 'cpu.npy')!r}, 'rb').read())
        run = host.run(cpu, batches.__getitem__)
        open({str(tmp_path / 'run.pkl')!r}, 'wb').write(pickle.dumps((run, host.memory.stats(), host.tick)))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    restored_run, restored_stats, restored_tick = pickle.loads((tmp_path / "run.pkl").read_bytes())
    straight = host.run(cpu[6:], lambda t: memory(t + 6))
    same_runs(straight, restored_run)
    assert restored_tick == host.tick
    stats = host.memory.stats()
    for key, value in stats.items():
        assert np.array_equal(value, restored_stats[key]), key


@pytest.mark.parametrize(("impl", "fidelity"), CASES, ids=IDS)
def test_copies_never_share_state(impl, fidelity):
    if not checkpointable(impl, fidelity):
        with pytest.raises(TypeError):
            copy.copy(make_host(impl, fidelity))
        return
    host = make_host(impl, fidelity)
    cpu, memory = workload(host, 8, seed=5)
    host.run(cpu[:3], memory)
    shallow, deep = copy.copy(host), copy.deepcopy(host)
    assert shallow.memory is not host.memory and shallow.reallocator is not host.reallocator
    first = host.run(cpu[3:], lambda t: memory(t + 3))
    assert shallow.tick == deep.tick == 3  # running the original moved neither copy
    same_runs(first, shallow.run(cpu[3:], lambda t: memory(t + 3)))
    same_runs(first, deep.run(cpu[3:], lambda t: memory(t + 3)))


def test_a_checkpoint_of_another_format_or_kind_is_refused():
    host = make_host(vsched.reference, "fluid")
    state = host.__getstate__()
    clone = vsched.reference.Host.__new__(vsched.reference.Host)
    with pytest.raises(ValueError, match="format"):
        clone.__setstate__(dict(state, vsched_checkpoint=999))
    with pytest.raises(ValueError, match="not a vsched checkpoint"):
        clone.__setstate__({"something": 1})
    with pytest.raises(ValueError, match="not of a"):
        clone.__setstate__(vsched.reference.Reallocator(2.0).__getstate__())


# ------------------------------------------------------------------ moving a VM


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_a_moved_vm_continues_as_if_it_had_stayed(impl):
    """A VM alone on host A, moved to an empty twin host B, runs there exactly as on A
    (ample frames: nothing depends on LRU-K history)."""
    source = impl.Host(4, 2000, min_guarantee=0.1)
    vm = source.add_vm(2, 128, limit=1.5, domain=1)
    cpu = workloads.synthetic_cpu(1, 30, seed=9).cpu * 2
    load = workloads.MemoryWorkload(1, 128, seed=9, accesses=80)

    def memory(offset, vm_id):
        def batches(t):
            out = (load.boot() if t + offset == 0 else []) + load.tick(t + offset)
            return [dict(batch, vm=np.full(np.size(batch["gpn"]), vm_id)) for batch in out]

        return batches

    source.run(cpu[:15], memory(0, vm))
    state = source.export_vm(vm)
    assert isinstance(state, VmState) and len(state.realloc["samples"]) == 12
    twin = copy.deepcopy(source)
    target = impl.Host(4, 2000, min_guarantee=0.1)
    target.add_vm(1, 8)
    target.remove_vm(0)  # the moved VM gets id 1 here: ids are the host's own
    moved = target.import_vm(pickle.loads(pickle.dumps(state)))
    assert moved == 1 and target.vms == [1]
    mapping = target.memory.mapping(target._layout.records[moved].memory_id)
    assert np.array_equal(mapping[0], state.memory["state"]) and np.array_equal(mapping[1], state.memory["content"])
    same_runs(twin.run(cpu[15:], memory(15, vm)), target.run(cpu[15:], memory(15, moved)))


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_import_shares_by_content_within_the_domain(impl):
    source = impl.Host(4, 2000)
    vm = source.add_vm(1, 16, domain=0)
    source.step([0.5], [{"vm": np.full(16, vm), "gpn": np.arange(16), "content": np.arange(16, dtype=np.uint64) + 7}])
    state = source.export_vm(vm)
    target = impl.Host(4, 2000)
    here = target.add_vm(1, 16, domain=3)
    target.step([0.5], [{"vm": np.full(16, here), "gpn": np.arange(16), "content": np.arange(16, dtype=np.uint64) + 7}])
    frames = target.memory.stats()["frames_used"]
    target.import_vm(state)  # domain 0: nothing to share with
    assert target.memory.stats()["frames_used"] == frames + 16
    target.import_vm(state, domain=3)  # same contents in domain 3: all shared
    assert target.memory.stats()["frames_used"] == frames + 16


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_a_refused_import_changes_nothing(impl):
    source = impl.Host(4, 2000)
    vm = source.add_vm(4, 600)
    source.step([2.0], [{"vm": np.full(600, vm), "gpn": np.arange(600), "content": np.arange(600, dtype=np.uint64)}])
    state = source.export_vm(vm)
    small = impl.Host(2, 300)  # 4 vCPUs fit (ratio 8) but 600 resident pages do not fit 300 frames
    small.add_vm(1, 10)
    before = observe(small)
    for bad, error in [
        (state, vsched.AdmissionError),
        ({"not": "a state"}, TypeError),
        (VmState(**{**state.__dict__, "format": 99}), ValueError),
        (VmState(**{**state.__dict__, "memory_pages": 10}), ValueError),
        (VmState(**{**state.__dict__, "realloc": {**state.realloc, "window": 3}}), ValueError),
    ]:
        with pytest.raises(error):
            small.import_vm(bad)
        assert_same(before, observe(small))


# ------------------------------------------------------------------ moving a VM between sliced hosts

SCHED_COUNTERS = ("run_ns", "ready_ns", "limited_ns", "wait_ns", "switches")


def sliced_host(impl, vms=3):
    host = impl.Host(4, 4000, fidelity="sliced", sample_ns=20_000_000, min_guarantee=0.1)
    for i in range(vms):
        host.add_vm(1 + i % 3, 32, domain=i % 2)
    return host


def vcpu_counters(host, vm):
    """Per vCPU of host VM `vm`, its cumulative scheduler counters (from the scheduler itself)."""
    rows = host.scheduler.vcpu_stats()
    mine = np.asarray(rows["vm"]) == host._layout.records[vm].sched_id
    return {name: np.asarray(rows[name])[mine].tolist() for name in SCHED_COUNTERS}


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_a_sliced_move_carries_the_vcpus_counters(impl):
    source = sliced_host(impl)
    rng = np.random.default_rng(5)
    for _ in range(4):
        source.step(rng.random(3) * np.array([1, 2, 3]))
    vm = source.vms[2]
    before = vcpu_counters(source, vm)
    assert sum(before["run_ns"]) > 0 and len(before["run_ns"]) == 3
    state = source.export_vm(vm)
    assert state.format == 2 and state.scheduler is not None
    assert [state.scheduler[name] for name in SCHED_COUNTERS] == [before[name] for name in SCHED_COUNTERS]
    target = sliced_host(impl, vms=1)
    moved = target.import_vm(pickle.loads(pickle.dumps(state)))
    assert vcpu_counters(target, moved) == before  # continued, not restarted
    target.step(np.array([0.5, 3.0]))
    after = vcpu_counters(target, moved)
    assert all(a >= b for a, b in zip(after["run_ns"], before["run_ns"])) and after != before
    exported = target.export_vm(moved).scheduler
    assert exported is not None and exported["pending_ns"] == [0, 0, 0]  # unmet work is dropped every tick


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_vcpus_start_afresh_without_a_scheduler_part(impl):
    fluid = impl.Host(4, 4000, min_guarantee=0.1)
    vm = fluid.add_vm(2, 32)
    fluid.step([1.5])
    state = fluid.export_vm(vm)
    assert state.scheduler is None
    target = sliced_host(impl, vms=1)
    moved = target.import_vm(state)
    assert vcpu_counters(target, moved) == {name: [0, 0] for name in SCHED_COUNTERS}
    # a format-1 state (before the scheduler part existed) is still read, with fresh vCPUs
    source = sliced_host(impl, vms=1)
    source.step([1.0])
    old = VmState(**{**source.export_vm(0).__dict__, "format": 1, "scheduler": None})
    assert vcpu_counters(target, target.import_vm(old))["run_ns"] == [0]
    # and a fluid host ignores a sliced state's scheduler part
    assert fluid.import_vm(source.export_vm(0)) in fluid.vms


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_a_bad_scheduler_part_is_refused_and_changes_nothing(impl):
    source = sliced_host(impl)
    source.step(np.array([0.5, 1.0, 2.0]))
    state = source.export_vm(2)
    target = sliced_host(impl, vms=2)
    target.step(np.array([0.5, 1.0]))
    before = observe(target)
    part = state.scheduler
    for scheduler, error in [
        ({**part, "run_ns": part["run_ns"][:2]}, ValueError),  # one vCPU short
        ({**part, "ready_ns": [-1, 0, 0]}, ValueError),
        ({**part, "vcpus": 2, **{name: part[name][:2] for name in (*SCHED_COUNTERS, "pending_ns")}}, ValueError),
        ({"not": "a scheduler state"}, ValueError),
        ("a string", TypeError),
    ]:
        with pytest.raises(error, match="scheduler"):
            target.import_vm(VmState(**{**state.__dict__, "scheduler": scheduler}))
        assert_same(before, observe(target))
