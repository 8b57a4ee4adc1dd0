"""LRU-K: access_many on a Zipf(0.9) trace, per-call access(), memory per key (native vs reference).

Size = references; the trace has size/10 distinct keys and the cache holds
size/100 (the issue's point: 10 M references, 1 M keys, capacity 100,000).
"""

from __future__ import annotations

from .common import IMPLS, module, sizes, skip_reference_above
from .page_workloads import zipf_keys

SIZES = sizes([100_000, 1_000_000, 10_000_000], [1_000])


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

    params = [sizes([1_000_000, 10_000_000], [10_000])]
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

    params = [IMPLS, sizes([10_000, 100_000], [1_000])]
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


class LRUKThreads:
    """Two caches fed the same trace, one after the other in one thread vs each in its own thread
    (access_many releases the GIL): the ratio of the two times is the parallel speed-up."""

    params = [sizes([1_000_000], [1_000])]
    param_names = ["refs"]
    timeout = 300
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, refs):
        import vsched

        self.keys = zipf_keys(refs, refs // 10)
        self.caches = [vsched.LRUK(refs // 100) for _ in range(2)]

    def time_two_caches_one_thread(self, refs):
        for cache in self.caches:
            cache.access_many(self.keys)

    def time_two_caches_two_threads(self, refs):
        import threading

        threads = [threading.Thread(target=c.access_many, args=(self.keys,)) for c in self.caches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class LibCacheSimSameTrace:
    """libCacheSim's LRU and LRUK on the same Zipf trace, only if `import libcachesim` works.

    libCacheSim replays a trace from a file through its C++ reader
    (`process_trace`), so the trace is written once as plain text (one key per
    line) in setup_cache; compare with LRUKAccessMany at the same size. Not a
    dependency: the suite is skipped without it.
    """

    params = [["LRU", "LRUK"], sizes([1_000_000, 10_000_000], [10_000])]
    param_names = ["policy", "refs"]
    timeout = 900
    number = 1
    repeat = 1
    warmup_time = 0

    def setup_cache(self):
        try:
            import libcachesim  # noqa: F401
        except ImportError:
            return {}  # not None: asv would then not pass the cache to setup
        paths = {}
        for refs in self.params[1]:
            path = f"zipf-{refs}.txt"
            with open(path, "w") as f:
                f.write("\n".join(map(str, zipf_keys(refs, refs // 10).tolist())))
                f.write("\n")
            paths[refs] = path
        return paths

    def setup(self, paths, policy, refs):
        if not paths:
            raise NotImplementedError("libcachesim not installed")
        import libcachesim as lcs

        self.cache = getattr(lcs, policy)(cache_size=refs // 100)
        self.reader = lcs.TraceReader(paths[refs], lcs.TraceType.PLAIN_TXT_TRACE)

    def time_process_trace(self, paths, policy, refs):
        self.cache.process_trace(self.reader)

    def track_miss_ratio(self, paths, policy, refs):
        return self.cache.process_trace(self.reader)[0]

    track_miss_ratio.unit = "ratio"
