"""LRU-K: native vs reference, against an independent LRU, hand-worked cases, and the LIRS traces."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsched
import vsched.reference
from vsched.traces import read_lines

# -- helpers ------------------------------------------------------------------


def simple_lru_hits(capacity: int, keys) -> list[bool]:
    """Textbook LRU with an OrderedDict (independent of the code under test)."""
    cache: OrderedDict[int, None] = OrderedDict()
    hits = []
    for key in keys:
        key = int(key)
        if key in cache:
            cache.move_to_end(key)
            hits.append(True)
        else:
            if len(cache) >= capacity:
                cache.popitem(last=False)
            cache[key] = None
            hits.append(False)
    return hits


def state(cache, keys) -> tuple:
    return (
        cache.time,
        cache.hits,
        cache.misses,
        cache.evictions,
        cache.retained,
        len(cache),
        tuple(sorted(int(k) for k in set(keys) if k in cache)),
        tuple(cache.history_of(int(k)) for k in sorted(set(keys))),
    )


configs = st.fixed_dictionaries(
    {
        "capacity": st.integers(1, 8),
        "k": st.integers(1, 4),
        "crp": st.integers(0, 4),
        "rip": st.one_of(st.none(), st.integers(0, 30)),
        "history": st.one_of(st.none(), st.integers(0, 6)),
    }
)


# -- native vs reference ----------------------------------------------------------


@settings(max_examples=300)
@given(config=configs, keys=st.lists(st.integers(0, 15), max_size=250), split=st.integers(0, 250))
def test_native_matches_reference(config, keys, split):
    native = vsched.LRUK(**config)
    ref = vsched.reference.LRUK(**config)
    keys_a = np.array(keys, dtype=np.uint64)
    # part per call, part in one batch: both paths run the same algorithm
    first = [native.access(int(k)) for k in keys_a[:split]]
    first_ref = [ref.access(int(k)) for k in keys_a[:split]]
    assert first == first_ref
    assert native.access_many(keys_a[split:]).tolist() == ref.access_many(keys_a[split:]).tolist()
    assert state(native, keys) == state(ref, keys)


@settings(max_examples=60)
@given(
    config=configs,
    keys=st.lists(st.sampled_from([0, 1, 2**32, 2**63, 2**64 - 1, 12345678901234567]), max_size=120),
)
def test_native_matches_reference_on_wide_keys(config, keys):
    native = vsched.LRUK(**config)
    ref = vsched.reference.LRUK(**config)
    assert native.access_many(np.array(keys, dtype=np.uint64)).tolist() == [ref.access(k) for k in keys]
    assert state(native, keys) == state(ref, keys)


def test_native_matches_reference_with_many_keys():
    # Enough distinct keys to make the native hash table grow and shrink (drops).
    rng = np.random.default_rng(7)
    keys = rng.zipf(1.3, 6000).astype(np.uint64) % 3000
    for config in [{"capacity": 50, "k": 2}, {"capacity": 50, "k": 3, "crp": 3, "rip": 400, "history": 200}]:
        native, ref = vsched.LRUK(**config), vsched.reference.LRUK(**config)
        assert native.access_many(keys).tolist() == ref.access_many(keys).tolist()
        assert state(native, keys.tolist()) == state(ref, keys.tolist())


# -- semantics against independent math ----------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])  # impl is a module
@given(capacity=st.integers(1, 10), keys=st.lists(st.integers(0, 25), max_size=300))
def test_k1_is_exactly_lru(impl, capacity, keys):
    cache = impl.LRUK(capacity, k=1)
    assert [cache.access(k) for k in keys] == simple_lru_hits(capacity, keys)


def test_k1_is_exactly_lru_on_a_trace(shared_data):
    keys = read_lines(shared_data / "cache" / "lirs" / "sprite.trace.gz")
    for capacity in (100, 800):
        assert vsched.LRUK(capacity, k=1).access_many(keys).tolist() == simple_lru_hits(capacity, keys)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs, keys=st.lists(st.integers(0, 30), max_size=200))
def test_counters_add_up(impl, config, keys):
    cache = impl.LRUK(**config)
    hits = cache.access_many(np.array(keys, dtype=np.uint64))
    assert cache.hits == int(hits.sum()) and cache.misses == len(keys) - int(hits.sum())
    assert cache.time == len(keys)
    assert len(cache) <= config["capacity"]
    # every miss admits one key; a key leaves only as a victim
    assert len(cache) == cache.misses - cache.evictions
    if config["history"] is not None:
        assert cache.retained <= config["history"]
    if keys:
        assert keys[-1] in cache  # the key just referenced is always resident


def test_lru2_prefers_the_page_with_two_references(impl):
    # capacity 2: 1 is referenced twice (finite distance), 2 once (infinite):
    # the miss on 3 evicts 2 although 1 is less recent.
    cache = impl.LRUK(2, k=2)
    assert [cache.access(k) for k in [1, 1, 2, 3]] == [False, True, False, False]
    assert 1 in cache and 3 in cache and 2 not in cache
    # HIST(1) = (2, 1), LAST = 2 worked by hand from the rules
    assert cache.history_of(1) == (2, 1, 2)


def test_largest_backward_k_distance_goes_first(impl):
    # t: 1 2 3 4 5 6 -> keys 1 2 1 2 2 3. HIST(1,2)=1, HIST(2,2)=4: at t=6 key 1
    # has the larger backward 2-distance (5 vs 2) and is evicted.
    cache = impl.LRUK(2, k=2)
    cache.access_many(np.array([1, 2, 1, 2, 2, 3], dtype=np.uint64))
    assert 1 not in cache and 2 in cache


def test_correlated_references_only_move_last(impl):
    # crp=2: references to 1 at t=1,2,3 are one correlated burst. t=6 is
    # uncorrelated: period = LAST - HIST(1) = 3 - 1 = 2, HIST(2) = HIST(1) + 2 = 3.
    cache = impl.LRUK(4, k=2, crp=2)
    cache.access_many(np.array([1, 1, 1, 9, 8, 1], dtype=np.uint64))
    assert cache.history_of(1) == (6, 3, 6)
    assert cache.history_of(9) == (4, 0, 4)


def test_pages_inside_their_crp_are_not_evicted(impl):
    # capacity 2, crp 1, keys 1 2 3 4 at t = 1..4. At t=3 key 2 (LAST 2) is
    # inside its CRP, key 1 (LAST 1) is not: 1 goes. At t=4 key 3 (LAST 3) is
    # inside, key 2 is not: 2 goes.
    cache = impl.LRUK(2, k=2, crp=1)
    cache.access_many(np.array([1, 2, 3, 4], dtype=np.uint64))
    assert sorted(k for k in range(5) if k in cache) == [3, 4]
    # keys 1 1 2 2 3: the second references are correlated (only LAST moves).
    # At t=5: 1 (LAST 2) is eligible, 2 (LAST 4) is not: 1 goes.
    cache2 = impl.LRUK(2, k=2, crp=1)
    cache2.access_many(np.array([1, 1, 2, 2, 3], dtype=np.uint64))
    assert 1 not in cache2 and 2 in cache2 and 3 in cache2
    assert cache2.history_of(2) == (3, 0, 4)


def test_no_eligible_page_evicts_the_least_recent(impl):
    # crp >= capacity: every resident page is inside its CRP on a miss; the one
    # with the least recent LAST is evicted anyway.
    cache = impl.LRUK(2, k=2, crp=5)
    assert cache.access_many(np.array([1, 2, 2, 3, 1], dtype=np.uint64)).tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert 1 in cache and 3 in cache and 2 not in cache


def test_retained_history_makes_a_returning_page_finite(impl):
    cache = impl.LRUK(1, k=2)
    cache.access_many(np.array([1, 2, 1], dtype=np.uint64))
    # 1 evicted at t=2 with HIST=(1,0), back at t=3: shifted by one -> (3, 1)
    assert cache.history_of(1) == (3, 1, 3)
    assert cache.history_of(2) == (2, 0, 2)  # retained
    assert cache.retained == 1
    none = impl.LRUK(1, k=2, rip=0)
    none.access_many(np.array([1, 2, 1], dtype=np.uint64))
    assert none.history_of(1) == (3, 0, 3) and none.retained == 1


def test_rip_and_history_bound_forget_the_least_recent(impl):
    cache = impl.LRUK(1, k=2, history=2)
    cache.access_many(np.array([1, 2, 3, 4], dtype=np.uint64))
    # evicted 1 (LAST 1), 2 (LAST 2), 3 (LAST 3): only the 2 most recent kept
    assert cache.retained == 2 and cache.history_of(1) == () and cache.history_of(2) != ()
    timed = impl.LRUK(1, k=2, rip=2)
    timed.access_many(np.array([1, 2, 3, 4], dtype=np.uint64))
    # at t=4: 1 is forgotten (4 - LAST = 3 > rip), 2 kept (4 - 2 = 2), 3 just evicted
    assert timed.history_of(1) == () and timed.history_of(2) != () and timed.retained == 2


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0,), ValueError),
        ((-5,), ValueError),
        ((4, 0), ValueError),
        ((4, 65), ValueError),
        ((4, 2, -1), ValueError),
        ((4, 2, 0, -1), ValueError),
        ((4, 2, 0, None, -3), ValueError),
        ((4.0,), TypeError),
        ((4, True), TypeError),
        (("4",), TypeError),
        ((4, 2, 0.5), TypeError),
    ],
)
def test_bad_constructor_arguments(impl, args, error):
    with pytest.raises(error):
        impl.LRUK(*args)


@pytest.mark.parametrize(
    ("key", "error"),
    [(-1, ValueError), (2**64, ValueError), (1.0, TypeError), (True, TypeError), ("a", TypeError)],
)
def test_bad_keys_change_nothing(impl, key, error):
    cache = impl.LRUK(2)
    cache.access_many(np.array([1, 2, 1], dtype=np.uint64))
    before = state(cache, [1, 2])
    with pytest.raises(error):
        cache.access(key)
    with pytest.raises(error):
        key in cache  # noqa: B015
    assert state(cache, [1, 2]) == before


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        (np.array([1, -2, 3]), ValueError),
        (np.array([1.0, 2.0]), TypeError),
        (np.array([True]), TypeError),
        (np.array([[1, 2]], dtype=np.uint64), ValueError),
        (["a"], TypeError),
    ],
)
def test_bad_batches_change_nothing(impl, keys, error):
    cache = impl.LRUK(2)
    cache.access_many(np.array([5, 6, 5], dtype=np.uint64))
    before = state(cache, [1, 2, 3, 5, 6])
    with pytest.raises(error):
        cache.access_many(keys)
    assert state(cache, [1, 2, 3, 5, 6]) == before


def test_signed_and_list_keys_accepted(impl):
    cache = impl.LRUK(3)
    assert cache.access_many([1, 2, 1]).tolist() == [False, False, True]
    assert cache.access_many(np.array([2], dtype=np.int32)).tolist() == [True]
    assert bool(cache.access(np.uint64(1))) is True


# -- the LIRS traces ------------------------------------------------------------------

LIRS = [
    "2_pools",
    "backf",
    "cpp",
    "cs",
    "gli",
    "loop",
    "multi1",
    "multi2",
    "multi3",
    "ps",
    "scan",
    "sprite",
    "zigzag",
]


def lirs(shared_data, name):
    return read_lines(shared_data / "cache" / "lirs" / f"{name}.trace.gz")


@pytest.mark.parametrize("name", LIRS)
def test_native_matches_reference_on_lirs_prefixes(shared_data, name):
    keys = lirs(shared_data, name)[:2500]
    for config in [
        {"capacity": 100, "k": 2},
        {"capacity": 64, "k": 3, "crp": 2, "rip": 2000, "history": 150},
    ]:
        native, ref = vsched.LRUK(**config), vsched.reference.LRUK(**config)
        assert native.access_many(keys).tolist() == ref.access_many(keys).tolist(), config


def test_native_matches_reference_on_full_multi2_at_800(shared_data):
    keys = lirs(shared_data, "multi2")
    native, ref = vsched.LRUK(800, k=2), vsched.reference.LRUK(800, k=2)
    assert native.access_many(keys).tolist() == ref.access_many(keys).tolist()


def hit_ratio(keys, capacity, **kwargs) -> float:
    return float(vsched.LRUK(capacity, **kwargs).access_many(keys).mean())


def test_lru2_beats_lru_on_two_pools(shared_data):
    keys = lirs(shared_data, "2_pools")
    lru, lru2 = hit_ratio(keys, 100, k=1), hit_ratio(keys, 100, k=2)
    assert lru2 > lru + 0.15, (lru, lru2)  # the paper's two-pool workload


@pytest.mark.parametrize("name", ["sprite", "multi2"])
@pytest.mark.parametrize("capacity", [100, 800])
def test_lru2_with_default_retained_history_tracks_lru(shared_data, name, capacity):
    keys = lirs(shared_data, name)
    lru, lru2 = hit_ratio(keys, capacity, k=1), hit_ratio(keys, capacity, k=2)
    assert lru2 >= lru - 0.05, (lru, lru2)


def test_lru2_without_retained_history_collapses_on_sprite(shared_data):
    keys = lirs(shared_data, "sprite")
    lru, frozen = hit_ratio(keys, 800, k=1), hit_ratio(keys, 800, k=2, rip=0)
    assert lru > 0.85 and frozen < lru - 0.25, (lru, frozen)
    assert hit_ratio(keys, 800, k=2, history=0) == frozen  # same thing, said differently


def test_memory_per_tracked_key_at_k2():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, 300_000, dtype=np.uint64)
    cache = vsched.LRUK(30_000, k=2)
    cache.access_many(keys)
    assert cache.retained + len(cache) == 300_000
    assert cache.memory_bytes() / 300_000 <= 64


@pytest.mark.parametrize("name", ["web07", "orm-busy"])
def test_native_matches_reference_on_cache2k_prefixes(shared_data, name):
    from vsched.traces import read_cache2k

    keys = read_cache2k(shared_data / "cache" / "cache2k" / f"{name}.trace.xz", limit=4000)
    native, ref = (
        vsched.LRUK(200, k=2, crp=1, history=400),
        vsched.reference.LRUK(200, k=2, crp=1, history=400),
    )
    assert native.access_many(keys).tolist() == ref.access_many(keys).tolist()


# -- checkpoints: the key index must list exactly the tracked keys -------------

BUCKETS_AT = 118  # byte offset of the bucket vector's elements in an LRUK checkpoint (format 1)


def _buckets(payload: bytes) -> tuple[int, np.ndarray]:
    count = int(np.frombuffer(payload, np.uint64, 1, BUCKETS_AT - 8)[0])
    return count, np.frombuffer(payload, np.uint32, count, BUCKETS_AT).copy()


def _with_buckets(payload: bytes, buckets: np.ndarray) -> bytes:
    return payload[:BUCKETS_AT] + buckets.tobytes() + payload[BUCKETS_AT + 4 * len(buckets):]


@pytest.mark.parametrize("seed", range(6))
def test_checkpoint_whose_index_misses_or_repeats_a_tracked_key_is_refused(seed):
    rng = np.random.default_rng(seed)
    cache = vsched.LRUK(int(rng.integers(2, 12)), k=int(rng.integers(1, 4)), history=int(rng.integers(0, 30)))
    cache.access_many(rng.integers(0, 60, 400).astype(np.uint64))
    payload = cache._core._save()
    count, buckets = _buckets(payload)
    assert count == len(buckets) >= 16 and cache._core.tracked == np.count_nonzero(buckets)
    assert vsched._core.LRUK._load(_with_buckets(payload, buckets))._save() == payload  # the offset is right
    used = np.flatnonzero(buckets)
    missing = buckets.copy()
    missing[rng.choice(used)] = 0  # a tracked key no longer indexed
    repeated = buckets.copy()
    repeated[rng.choice(np.flatnonzero(buckets == 0))] = buckets[rng.choice(used)]  # one slot indexed twice
    for bad in (missing, repeated):
        with pytest.raises(ValueError, match="corrupt LRUK checkpoint"):
            vsched._core.LRUK._load(_with_buckets(payload, bad))
