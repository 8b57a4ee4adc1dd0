"""A packet batch with bad packets anywhere in it: native and reference refuse it alike.

The native validation checks a batch in one pass that only notes whether some
packet is bad, and reads a bad batch again with the checks in order; so the
error must still name the first bad packet, with the reference's exact message,
whatever mix of faults the batch holds and wherever they are
(docs/engines/network.md, "Errors").
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import vsched
import vsched.reference as ref

FAULTS = ["unknown vm", "removed vm", "negative vm", "huge vm", "negative arrival", "late arrival",
          "out of order", "size zero", "size negative", "size huge"]  # fmt: skip


def twins():
    """The same host in both implementations: ids 0..5, with 2 and 4 removed."""
    nets = [m.NetScheduler(1e9, 2) for m in (vsched, ref)]
    for net in nets:
        for k in range(6):
            net.add_vm(k % 2)
        net.remove_vm(2)
        net.remove_vm(4)
    return nets


def batch(rng: np.random.Generator, n: int):
    vm = rng.choice([0, 1, 3, 5], n).astype(np.int64)
    arrival = np.sort(rng.integers(0, 10**9, n)).astype(np.int64)
    size = rng.choice([64, 1500, 9000], n).astype(np.int64)
    return vm, arrival, size


def inject(rng: np.random.Generator, fault: str, p: int, vm, arrival, size) -> None:
    if fault == "unknown vm":
        vm[p] = 6
    elif fault == "removed vm":
        vm[p] = int(rng.choice([2, 4]))
    elif fault == "negative vm":
        vm[p] = -1
    elif fault == "huge vm":
        vm[p] = 2**62
    elif fault == "negative arrival":
        arrival[p] = -1
    elif fault == "late arrival":
        arrival[p] = 2**62 + 1
    elif fault == "out of order":
        arrival[p] = arrival[p - 1] - 1 if p > 0 and arrival[p - 1] > 0 else -5
    elif fault == "size zero":
        size[p] = 0
    elif fault == "size negative":
        size[p] = -(2**63)
    else:
        size[p] = 2**24 + 1


def test_the_first_bad_packet_is_named_alike_wherever_the_faults_are():
    rng = np.random.default_rng(61)
    native, reference = twins()
    before = pickle.dumps(native)
    for case in range(60):
        n = int(rng.integers(1, 3000))
        vm, arrival, size = batch(rng, n)
        for _ in range(int(rng.integers(1, 4))):
            inject(rng, str(rng.choice(FAULTS)), int(rng.integers(0, n)), vm, arrival, size)
        caught = []
        for net in (native, reference):
            with pytest.raises((KeyError, ValueError)) as error:
                net.simulate_packets(vm, arrival, size)
            caught.append(error.value)
        assert type(caught[0]) is type(caught[1]), case
        assert str(caught[0]) == str(caught[1]), case
    assert pickle.dumps(native) == before


def test_a_good_batch_after_a_refused_one_runs_as_if_alone():
    rng = np.random.default_rng(62)
    native, reference = twins()
    vm, arrival, size = batch(rng, 2000)
    alone = native.simulate_packets(vm, arrival, size)
    bad = size.copy()
    bad[1500] = 0
    with pytest.raises(ValueError):
        native.simulate_packets(vm, arrival, bad)
    again = native.simulate_packets(vm, arrival, size)
    theirs = reference.simulate_packets(vm, arrival, size)
    for run in (again, theirs):
        assert run.start_ns.tobytes() == alone.start_ns.tobytes()
        assert run.finish_ns.tobytes() == alone.finish_ns.tobytes()
        assert run.sent_bytes.tolist() == alone.sent_bytes.tolist()
        assert np.array_equal(run.delay_p99_ns, alone.delay_p99_ns, equal_nan=True)
