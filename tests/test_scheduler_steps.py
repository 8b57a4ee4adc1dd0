"""CpuScheduler decisions do not depend on how `run()` is cut into calls.

Every rule's condition either holds between decision points or has a decision
point where it turns (docs/engines/scheduler.md, rule 3 and "Determinism"), so
an extra decision point (the start of a `run()` call, or a stale queue entry of
the native engine) changes nothing. Checked on random mixes of
tests/sched_mixes.py: the native engine and the reference, each driven by its
own random sequence of `run()` step sizes (1 ns to 100 ms), give identical
`vcpu_stats()` and `decisions` at every common checkpoint.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import vsched
import vsched.reference
from sched_mixes import mixes

MS = 1_000_000
SLICE = 3_000_000
CHECK_NS = 50 * MS
LONG = os.environ.get("VSCHED_LONG") == "1"


def _build(impl, pcpus, vms, strict):
    s = impl.CpuScheduler(pcpus, SLICE, strict_reservations=strict)
    ids = [s.add_vm(n, shares=w, reservation=r, limit=l) for n, w, r, l in vms]
    for vm_id, (n, *_rest) in zip(ids, vms):
        s.add_work(np.full(n, vm_id), np.arange(n), impl.FOREVER)
    return s


def _random_cuts(rng, span):
    """Step sizes summing to span: many tiny steps, 1 ms steps, or a few random cuts."""
    kind = rng.integers(4)
    if kind == 0:
        return [span]
    if kind == 1:
        return [MS] * (span // MS)
    if kind == 2:
        cuts = np.sort(rng.integers(1, span, size=int(rng.integers(1, 40))))
    else:  # cuts at 1 ns to a few us from each other, around random instants
        starts = rng.integers(1, span - 100, size=4)
        cuts = np.sort(np.unique(np.concatenate([s + np.arange(0, 60, int(rng.integers(1, 20))) for s in starts])))
    return np.diff(np.concatenate([[0], np.unique(cuts), [span]])).tolist()


def _checkpoints(impl, pcpus, vms, strict, checks, rng):
    s = _build(impl, pcpus, vms, strict)
    out = []
    for _ in range(checks):
        for step in _random_cuts(rng, CHECK_NS):
            s.run(int(step))
        st = s.vcpu_stats()
        out.append((st["run_ns"].tolist(), st["ready_ns"].tolist(), st["limited_ns"].tolist(),
                    st["switches"].tolist(), s.decisions))
    return out


def _compare(pcpus, vms, strict, checks, seed, impls):
    results = [_checkpoints(impl, pcpus, vms, strict, checks, np.random.default_rng([seed, k]))
               for k, impl in enumerate(impls)]
    for k, checkpoint in enumerate(results[0]):
        for other in results[1:]:
            assert other[k] == checkpoint, (k, pcpus, vms, strict)


@pytest.mark.parametrize("strict", [True, False])
def test_native_steps_do_not_matter(strict):
    count = 1000 if LONG else 120
    for k, (pcpus, vms) in enumerate(mixes(77, count)):
        _compare(pcpus, vms, strict, 10, k, [vsched, vsched, vsched])


@pytest.mark.parametrize("strict", [True, False])
def test_native_and_reference_agree_under_any_steps(strict):
    count = 200 if LONG else 16
    for k, (pcpus, vms) in enumerate(mixes(78, count)):
        _compare(pcpus, vms, strict, 6, k, [vsched, vsched.reference])


def test_the_mix_that_parted_the_twins():
    """Strict, 4 pCPUs: the twins parted after 200 ms here with 1 ms vs 100 ms steps."""
    vms = [(2, 1000, 1.3615392160977207, 1.6703326818250728), (3, 500, 0.9505252857456508, 0.9505252857456508),
           (1, 250, 0.0, None), (2, 1000, 0.18866036630587277, None), (3, 500, 0.4754957973808729, None),
           (1, 4000, 0.0, None), (1, 500, 0.0, None), (2, 250, 0.0, 1.1679139653964616)]
    for seed in range(3):
        _compare(4, vms, True, 8, seed, [vsched, vsched.reference, vsched])
