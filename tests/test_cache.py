"""vsched.Cache: native vs reference, libCacheSim hit for hit, the recorded table, LRU-K unchanged, errors."""

from __future__ import annotations

import copy
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsched
import vsched.reference
from vsched.traces import read_lines

from eviction_expected import CAPACITIES, EXPECTED

LONG = os.environ.get("VSCHED_LONG") == "1"  # the long profile: many more random cases
POLICIES = ("lru", "clock", "arc", "lirs", "lruk")
LIBCACHESIM = {"lru": "LRU", "clock": "Clock", "arc": "ARC", "lirs": "LIRS"}


def observed(cache, keys) -> tuple:
    """What a user can see of a cache, over the keys of a test."""
    return (cache.time, cache.hits, cache.misses, cache.evictions, len(cache),
            tuple(sorted(int(k) for k in set(keys.tolist()) if k in cache)))


streams = st.lists(st.integers(0, 24), min_size=0, max_size=400).map(lambda v: np.array(v, dtype=np.uint64))
policy_cases = st.one_of(
    st.tuples(st.just("lru"), st.integers(1, 12), st.just({})),
    st.tuples(st.just("clock"), st.integers(1, 12), st.fixed_dictionaries({"bits": st.integers(1, 3)})),
    st.tuples(st.just("arc"), st.integers(1, 12), st.just({})),
    st.tuples(st.just("lirs"), st.integers(2, 12), st.just({})),
    st.tuples(st.just("lruk"), st.integers(1, 12),
              st.fixed_dictionaries({"k": st.integers(1, 3), "crp": st.integers(0, 3),
                                     "history": st.one_of(st.none(), st.integers(0, 5))})),
)


# -- native vs reference ------------------------------------------------------------


@settings(max_examples=2000 if LONG else 150)
@given(case=policy_cases, keys=streams, split=st.integers(0, 400))
def test_native_and_reference_agree_reference_by_reference(case, keys, split):
    policy, capacity, args = case
    native = vsched.Cache(capacity, policy, **args)
    ref = vsched.reference.Cache(capacity, policy, **args)
    first, rest = keys[:split], keys[split:]
    assert native.access_many(first).tolist() == ref.access_many(first).tolist()
    assert observed(native, keys) == observed(ref, keys)
    # a checkpoint continues bit-identically on both
    native2, ref2 = pickle.loads(pickle.dumps(native)), copy.deepcopy(ref)
    got = [native2.access(int(k)) for k in rest]
    assert got == ref2.access_many(rest).tolist() == native.access_many(rest).tolist()
    assert observed(native2, keys) == observed(ref2, keys) == observed(native, keys)


@pytest.mark.parametrize("policy", POLICIES)
def test_zipf_streams_agree(policy):
    rng = np.random.default_rng(7)
    # the reference LRU-K scans every resident key per eviction: a shorter stream
    keys = (rng.zipf(1.2, 8_000 if policy == "lruk" else 30_000) % 2_000).astype(np.uint64)
    for capacity in (2, 64, 700):
        native, ref = vsched.Cache(capacity, policy), vsched.reference.Cache(capacity, policy)
        assert np.array_equal(native.access_many(keys), ref.access_many(keys))
        assert observed(native, keys[:50]) == observed(ref, keys[:50])


# -- independent oracles --------------------------------------------------------------


def textbook_lru(capacity, keys) -> list[bool]:
    cache: OrderedDict[int, None] = OrderedDict()
    out = []
    for key in keys.tolist():
        out.append(key in cache)
        if key in cache:
            cache.move_to_end(key)
        else:
            if len(cache) >= capacity:
                cache.popitem(last=False)
            cache[key] = None
    return out


@settings(max_examples=300 if LONG else 40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.integers(1, 10), keys=streams)
def test_lru_is_textbook_lru(impl, capacity, keys):
    assert impl.Cache(capacity, "lru").access_many(keys).tolist() == textbook_lru(capacity, keys)


@settings(max_examples=300 if LONG else 40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.integers(1, 10), keys=streams, k=st.integers(1, 3), crp=st.integers(0, 3))
def test_lruk_policy_is_the_lruk_cache_unchanged(impl, capacity, keys, k, crp):
    cache, lruk = impl.Cache(capacity, "lruk", k=k, crp=crp), impl.LRUK(capacity, k=k, crp=crp)
    assert cache.access_many(keys).tolist() == lruk.access_many(keys).tolist()
    assert (cache.evictions, len(cache)) == (lruk.evictions, len(lruk))


def test_clock_second_chance_by_hand(impl):
    cache = impl.Cache(3, "clock")
    assert impl.Cache(3, "clock").access_many([1, 2, 3, 4]).tolist() == [False] * 4
    cache.access_many([1, 2, 3])
    assert cache.access(1)          # 1's bit is set
    assert not cache.access(4)      # the hand spares 1 (clears it) and evicts 2
    assert 1 in cache and 2 not in cache and 3 in cache and 4 in cache


# -- libCacheSim ----------------------------------------------------------------------


def libcachesim_hits(policy: str, capacity: int, keys, **args) -> list[bool]:
    lcs = pytest.importorskip("libcachesim")
    # a small hash table (the default 2**24 buckets costs ~0.1 s per cache); results do not depend on it
    if policy == "clock":
        cache = lcs.Clock(capacity, hashpower=12, n_bit_counter=args.get("bits", 1))
    else:
        cache = getattr(lcs, LIBCACHESIM[policy])(capacity, hashpower=12)
    request = lcs.Request()
    request.obj_size = 1
    out = []
    for key in keys.tolist():
        request.obj_id = key
        out.append(bool(cache.get(request)))
    return out


@settings(max_examples=1000 if LONG else 60)
@given(policy=st.sampled_from(sorted(LIBCACHESIM)), capacity=st.integers(2, 12), keys=streams,
       bits=st.integers(1, 3))
def test_libcachesim_hit_for_hit_on_random_streams(policy, capacity, keys, bits):
    args = {"bits": bits} if policy == "clock" else {}
    expected = libcachesim_hits(policy, capacity, keys, **args)
    assert vsched.Cache(capacity, policy, **args).access_many(keys).tolist() == expected


def lirs_trace(shared_data, name: str) -> np.ndarray:
    return read_lines(shared_data / "cache" / "lirs" / f"{name}.trace.gz")


@pytest.mark.parametrize("policy", sorted(LIBCACHESIM))
def test_libcachesim_hit_for_hit_on_lirs_traces(shared_data, policy):
    pytest.importorskip("libcachesim")
    for name in ("sprite", "zigzag", "2_pools", "multi2"):
        keys = lirs_trace(shared_data, name)[:20_000]
        for capacity in (3, 50, 400):
            got = vsched.Cache(capacity, policy).access_many(keys).tolist()
            assert got == libcachesim_hits(policy, capacity, keys), (name, capacity)


def test_recorded_libcachesim_table_native(shared_data):
    """Every LIRS trace, every capacity of the table, every policy (table from tests/make_eviction_table.py)."""
    for name, (references, row) in EXPECTED.items():
        keys = lirs_trace(shared_data, name)
        assert len(keys) == references, name
        for policy, by_capacity in row.items():
            for capacity in CAPACITIES:
                hits = int(vsched.Cache(capacity, policy).access_many(keys).sum())
                assert hits == by_capacity[capacity], (name, policy, capacity)


@pytest.mark.parametrize("name", ["backf", "cs", "gli", "zigzag"] if not LONG else sorted(EXPECTED))
def test_recorded_libcachesim_table_reference(shared_data, name):
    references, row = EXPECTED[name]
    keys = lirs_trace(shared_data, name)
    capacities = CAPACITIES if LONG else CAPACITIES[:2]
    for policy, by_capacity in row.items():
        for capacity in capacities:
            hits = int(vsched.reference.Cache(capacity, policy).access_many(keys).sum())
            assert hits == by_capacity[capacity], (name, policy, capacity)


# -- errors change nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((0,), {}, ValueError),
        ((-1, "arc"), {}, ValueError),
        ((1, "lirs"), {}, ValueError),
        ((4, "fifo"), {}, ValueError),
        ((4, 3), {}, TypeError),
        ((4, "lru"), {"k": 2}, TypeError),
        ((4, "clock"), {"bits": 0}, ValueError),
        ((4, "clock"), {"bits": 9}, ValueError),
        ((4, "clock"), {"bits": 1.5}, TypeError),
        ((4, "lruk"), {"k": 0}, ValueError),
        ((4, "lruk"), {"crp": -1}, ValueError),
        ((4, "lruk"), {"history": -1}, ValueError),
        ((4.0, "lru"), {}, TypeError),
        ((True, "lru"), {}, TypeError),
    ],
)
def test_bad_arguments(impl, args, kwargs, error):
    with pytest.raises(error):
        impl.Cache(*args, **kwargs)


@pytest.mark.parametrize("policy", POLICIES)
def test_bad_keys_change_nothing(impl, policy):
    cache = impl.Cache(4, policy)
    keys = np.array([1, 2, 3, 1, 5, 6, 2], dtype=np.uint64)
    cache.access_many(keys)
    before = pickle.dumps(cache)
    for bad in (-1, 2**64, 1.0, True, "1", None):
        with pytest.raises((TypeError, ValueError)):
            cache.access(bad)
    for bad in ([1, -2], [1.0], np.array([[1, 2]]), ["a"], np.array([True])):
        with pytest.raises((TypeError, ValueError)):
            cache.access_many(bad)
    with pytest.raises((TypeError, ValueError)):
        cache.__contains__(-1)
    assert pickle.dumps(cache) == before


def test_native_checkpoint_refuses_damage():
    cache = vsched.Cache(8, "lirs")
    cache.access_many(np.arange(40, dtype=np.uint64) % 13)
    state = cache.__getstate__()
    broken = copy.deepcopy(state)
    broken["payload"]["core"] = state["payload"]["core"][:-3]
    clone = vsched.Cache.__new__(vsched.Cache)
    with pytest.raises(ValueError):
        clone.__setstate__(broken)


def test_repr_and_properties(impl):
    cache = impl.Cache(3, "clock", bits=2)
    cache.access_many([1, 2, 1])
    assert (cache.capacity, cache.policy, cache.time, cache.hits, cache.misses) == (3, "clock", 3, 1, 2)
    assert "policy='clock', bits=2" in repr(cache)
