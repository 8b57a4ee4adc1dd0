"""vsched.Cache: access_many per policy on a Zipf(0.9) trace (native vs reference).

Size = references; the trace has size/10 distinct keys and the cache holds
size/100, as in bench_lruk (so "lruk" here and LRUKAccessMany measure the same
cache, the difference being the policy interface's cost).
"""

from __future__ import annotations

from .common import IMPLS, module, sizes, skip_reference_above
from .page_workloads import zipf_keys

SIZES = sizes([100_000, 1_000_000], [1_000])
POLICIES = ["lru", "clock", "arc", "lirs", "lruk"]


class CacheAccessMany:
    params = [IMPLS, POLICIES, SIZES]
    param_names = ["impl", "policy", "refs"]
    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, impl, policy, refs):
        skip_reference_above(impl, refs, 100_000)
        self.Cache = module(impl).Cache
        self.keys = zipf_keys(refs, refs // 10)
        self.capacity = refs // 100

    def time_access_many(self, impl, policy, refs):
        self.Cache(self.capacity, policy).access_many(self.keys)

    def track_hit_ratio(self, impl, policy, refs):
        return float(self.Cache(self.capacity, policy).access_many(self.keys).mean())

    track_hit_ratio.unit = "ratio"
