"""LRU-K: access_many on a Zipf(0.9) trace, per-call access(), memory per key (native vs reference).

Size = references; the trace has size/10 distinct keys and the cache holds
size/100 (the issue's point: 10 M references, 1 M keys, capacity 100,000).
"""

from __future__ import annotations

from .common import IMPLS, module, skip_reference_above
from .workloads import zipf_keys

SIZES = [100_000, 1_000_000, 10_000_000]


class LRUKAccessMany:
    params = [IMPLS, SIZES]
    param_names = ["impl", "refs"]
    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, impl, refs):
        skip_reference_above(impl, refs, 100_000)
        self.LRUK = module(impl).LRUK
        self.keys = zipf_keys(refs, refs // 10)
        self.capacity = refs // 100

    def time_access_many_k2(self, impl, refs):
        self.LRUK(self.capacity, k=2).access_many(self.keys)

    def time_access_many_k1(self, impl, refs):
        self.LRUK(self.capacity, k=1).access_many(self.keys)

    def track_hit_ratio_k2(self, impl, refs):
        return float(self.LRUK(self.capacity, k=2).access_many(self.keys).mean())

    track_hit_ratio_k2.unit = "ratio"


class LRUKMemory:
    """Bytes per tracked key (native structures; the reference does not count its own)."""

    params = [[1_000_000, 10_000_000]]
    param_names = ["refs"]
    timeout = 600

    def setup(self, refs):
        import vsched

        self.cache = vsched.LRUK(refs // 100, k=2)
        self.cache.access_many(zipf_keys(refs, refs // 10))

    def track_bytes_per_key_k2(self, refs):
        return self.cache.memory_bytes() / (len(self.cache) + self.cache.retained)

    track_bytes_per_key_k2.unit = "bytes"


class LRUKAccessPerCall:
    """One Python call per reference (capacity 1,000, Zipf over 10x the calls' keys)."""

    params = [IMPLS, [10_000, 100_000]]
    param_names = ["impl", "calls"]
    timeout = 300
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, impl, calls):
        skip_reference_above(impl, calls, 10_000)
        self.LRUK = module(impl).LRUK
        self.keys = zipf_keys(calls, calls // 10).tolist()

    def time_access_per_call(self, impl, calls):
        access = self.LRUK(1_000, k=2).access
        for key in self.keys:
            access(key)


class LibCacheSimSameTrace:
    """libCacheSim's LRU and LRUK on the same trace, only if `import libcachesim` works."""

    params = [["LRU", "LRUK"], [1_000_000]]
    param_names = ["policy", "refs"]
    timeout = 600
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self, policy, refs):
        try:
            import libcachesim as lcs
        except ImportError:
            raise NotImplementedError("libcachesim not installed") from None
        if not hasattr(lcs, policy):
            raise NotImplementedError(f"libcachesim has no {policy}")
        self.lcs = lcs
        self.cache_class = getattr(lcs, policy)
        self.keys = zipf_keys(refs, refs // 10).tolist()
        self.capacity = refs // 100

    def time_get(self, policy, refs):
        cache = self.cache_class(cache_size=self.capacity)
        request = self.lcs.Request()
        request.obj_size = 1
        for key in self.keys:
            request.obj_id = key
            cache.get(request)
