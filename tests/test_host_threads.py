"""A Host in threads and under Ctrl-C (docs/host.md, rules H7 and H8)."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time

import numpy as np
import pytest

import vsched
from vsched import workloads

from host_observation import assert_same, observe


def busy_host(fidelity, vms=200):
    host = vsched.Host(max(64, vms), 40 * vms, fidelity=fidelity, sample_ns=20_000_000, max_vcpu_ratio=8.0, min_guarantee=0.05)
    for i in range(vms):
        host.add_vm(1 + i % 2, 32, domain=i % 3)
    vcpus = 1 + np.arange(vms) % 2
    return host, vcpus


def same_runs(a, b):
    for name, values in a.metrics.items():
        assert np.array_equal(values, b.metrics[name]), name
    for name, values in a.totals.items():
        assert np.array_equal(values, b.totals[name]), name


def test_a_second_thread_is_refused_and_changes_nothing():
    host, vcpus = busy_host("fluid")
    twin = copy.deepcopy(host)
    cpu = workloads.synthetic_cpu(len(vcpus), 3000, seed=2).cpu * vcpus
    memory = lambda t: [{"vm": np.arange(len(vcpus)), "gpn": np.full(len(vcpus), t % 32)}]  # noqa: E731
    state = host.export_vm(5)
    calls = [
        lambda: host.add_vm(1, 8),
        lambda: host.remove_vm(0),
        lambda: host.resize(1, shares=10),
        lambda: host.step(cpu[0]),
        lambda: host.caps(),
        lambda: host.export_vm(2),
        lambda: host.import_vm(state),
        lambda: host.run(cpu[:1]),
        lambda: copy.deepcopy(host),
    ]
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("run", host.run(cpu, memory)))
    refused = 0
    runner.start()
    time.sleep(0.05)
    while runner.is_alive() and refused < 200:
        for call in calls:
            try:
                call()
            except vsched.InUseError as error:
                assert "in use by another thread" in str(error)
                refused += 1
            else:
                if runner.is_alive():
                    pytest.fail("a call succeeded while another thread was running the host")
    runner.join()
    assert refused > 0
    same_runs(result["run"], twin.run(cpu, memory))  # the refused calls left no trace


def test_two_hosts_in_two_threads_both_finish_like_alone():
    hosts = [busy_host("fluid")[0] for _ in range(2)]
    twins = [copy.deepcopy(host) for host in hosts]
    cpu = workloads.synthetic_cpu(200, 200, seed=4).cpu
    results = [None, None]

    def work(i):
        results[i] = hosts[i].run(cpu)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result, twin in zip(results, twins):
        same_runs(result, twin.run(cpu))


@pytest.mark.parametrize("fidelity", ["fluid", "sliced"])
def test_ctrl_c_stops_a_run_after_a_whole_tick(fidelity):
    host, vcpus = busy_host(fidelity, vms=400 if fidelity == "fluid" else 60)
    twin = copy.deepcopy(host) if fidelity == "fluid" else None
    ticks = 400
    cpu = workloads.synthetic_cpu(len(vcpus), ticks, seed=3).cpu * vcpus

    def interrupt_at_tick_3(t):
        # The signal arrives while tick 3 is in progress, whatever the machine's speed.
        if t == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return None

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt) as stopped:
        host.run(cpu, interrupt_at_tick_3)
    waited = time.perf_counter() - started
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    partial = stopped.value.run
    done = host.tick
    assert 0 < done < ticks and partial.metrics["cpu_used"].shape == (done, len(vcpus))
    assert done == 4  # the tick in progress is finished, then the run stops
    assert waited < 60.0  # loose: a loaded machine is slow; the stop itself is the claim
    assert len(host.reallocator) == len(host.memory.stats()["vm"]) == len(host)
    if twin is not None:  # the stopped host is exactly a host that ran `done` ticks
        same_runs(partial, twin.run(cpu[:done]))
        assert_same(observe(twin), observe(host))
    host.run(cpu[done : done + 2])  # and it runs on
