"""Synthetic workloads shared by the LRU-K and memory-manager suites (deterministic, seeded)."""

from __future__ import annotations

import numpy as np


def zipf_keys(refs: int, keys: int, s: float = 0.9, seed: int = 42) -> np.ndarray:
    """`refs` references over `keys` keys, P(rank r) ~ 1 / r**s, ranks scattered over the key space."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, keys + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, rng.random(refs)), keys - 1)
    return rng.permutation(keys).astype(np.uint64)[ranks]


def cloned_vm_accesses(vms: int, pages: int, accesses: int, templates: int = 10, seed: int = 42):
    """Mixed reads and writes of `vms` VMs cloned from `templates` images.

    Page popularity inside a VM is skewed (gpn = pages * u**3). 60 % of the
    accesses write: 50 % write the template's content for that page (a clone
    filling its memory), 10 % write new unique content (divergence); 40 % read.
    Returns (vm, gpn, content, write) arrays.
    """
    rng = np.random.default_rng(seed)
    vm = rng.integers(0, vms, accesses)
    gpn = np.minimum((pages * rng.random(accesses) ** 3).astype(np.int64), pages - 1)
    template = (vm % templates).astype(np.uint64)
    template_content = (template * np.uint64(1_000_003) + gpn.astype(np.uint64)) * np.uint64(
        0x9E3779B97F4A7C15
    ) | np.uint64(1)
    kind = rng.random(accesses)
    write = kind < 0.6
    content = np.where(kind < 0.1, rng.integers(1, 2**63, accesses, dtype=np.uint64), template_content)
    return vm, gpn, content, write
