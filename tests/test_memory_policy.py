"""MemoryManager(policy="lru" | "clock"): native vs reference, against the key cache, errors, checkpoints, host and CLI."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

import vsched
import vsched.reference
from vsched import Outcome

from test_memory import NativeMatchesReference, same, snapshot


class PolicyNativeMatchesReference(NativeMatchesReference):
    """The stateful differential test of test_memory.py, with LRU or CLOCK evicting frames."""

    @initialize(
        frames=st.integers(1, 10),
        policy=st.sampled_from(["lru", "clock"]),
        bits=st.integers(1, 3),
        merge=st.sampled_from(["immediate", "scan", "off"]),
    )
    def start(self, frames, policy, bits, merge):  # type: ignore[override]
        args = {"frames": frames, "merge": merge, "policy": policy, **({"bits": bits} if policy == "clock" else {})}
        self.pair = (vsched.MemoryManager(**args), vsched.reference.MemoryManager(**args))
        self.pages = {}


PolicyNativeMatchesReference.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPolicyNativeMatchesReference = PolicyNativeMatchesReference.TestCase


@pytest.mark.parametrize("policy", ["lru", "clock"])
def test_private_pages_are_evicted_as_the_key_cache_evicts_keys(impl, policy):
    """One VM, merge off, reads only: every page has its own frame, so frame hits = key-cache hits."""
    rng = np.random.default_rng(3)
    gpns = (rng.zipf(1.3, 4_000) % 300).astype(np.int64)
    for frames in (1, 7, 64):
        mm = impl.MemoryManager(frames, merge="off", policy=policy)
        vm = mm.add_vm(300)
        hits = mm.access(vm, gpns) == int(Outcome.HIT)
        cache = impl.Cache(frames, policy)
        assert hits.tolist() == cache.access_many(gpns.astype(np.uint64)).tolist()
        assert mm.stats()["evictions"] == cache.evictions


def test_default_is_lruk_unchanged():
    rng = np.random.default_rng(5)
    gpns = rng.integers(0, 200, 3_000)
    results = []
    for kwargs in ({}, {"policy": "lruk"}):
        mm = vsched.MemoryManager(50, **kwargs)
        vm = mm.add_vm(200)
        results.append(mm.access(vm, gpns, content=(gpns % 37).astype(np.uint64)).tolist())
        assert mm.policy == "lruk" and "k=2" in repr(mm)
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"policy": "arc"}, ValueError),
        ({"policy": "fifo"}, ValueError),
        ({"policy": 1}, TypeError),
        ({"policy": "lru", "bits": 2}, ValueError),
        ({"policy": "clock", "bits": 0}, ValueError),
        ({"policy": "clock", "bits": 9}, ValueError),
        ({"policy": "lru", "k": 3}, ValueError),
        ({"policy": "clock", "rip": 5}, ValueError),
        ({"policy": "lruk", "bits": 2}, ValueError),
    ],
)
def test_bad_policy_arguments(impl, kwargs, error):
    with pytest.raises(error):
        impl.MemoryManager(16, **kwargs)


@pytest.mark.parametrize("policy", ["lru", "clock"])
def test_checkpoint_continues_identically(impl, policy):
    rng = np.random.default_rng(11)
    mm = impl.MemoryManager(20, policy=policy)
    vm = mm.add_vm(100)
    gpns = rng.integers(0, 100, 2_000)
    content = (gpns % 23).astype(np.uint64)
    mm.access(vm, gpns[:1_000], content=content[:1_000])
    clone = pickle.loads(pickle.dumps(mm))
    assert clone.policy == policy and f"policy={policy!r}" in repr(clone)
    assert same(clone.access(vm, gpns[1_000:], content=content[1_000:]),
                mm.access(vm, gpns[1_000:], content=content[1_000:]))
    assert same(snapshot(clone), snapshot(mm))


def test_host_passes_the_policy():
    for engines in (vsched, vsched.reference):
        host = engines.Host(pcpus=8, memory_frames=2_000, memory_policy="clock")
        assert host.memory.policy == "clock"
        with pytest.raises(ValueError):
            engines.Host(pcpus=8, memory_frames=2_000, memory_policy="arc")


def test_cli_memory_policy_native_and_reference_agree():
    args = ["--vms", "24", "--pcpus", "4", "--hours", "1", "--pages", "64", "--memory", "900",
            "--memory-policy", "clock", "--json", "--no-progress"]
    out = []
    for engines in ("native", "reference"):
        run = subprocess.run([sys.executable, "-m", "vsched", "simulate", *args, "--engines", engines],
                             capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stderr
        out.append(json.loads(run.stdout))
    assert out[0]["scenario"]["memory_policy"] == "clock"
    assert out[0]["memory"] == out[1]["memory"]
