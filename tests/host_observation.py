"""Everything observable about a host and its engines, for "a refused call changes nothing" checks."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np


def observe(host: Any) -> dict[str, Any]:
    """A plain snapshot: the host's VMs and caps, and every engine's public state."""
    snapshot: dict[str, Any] = {
        "vms": host.vms,
        "tick": host.tick,
        "next_id": host._next_id,
        "caps": host.caps(),
        "exports": [_plain(host.export_vm(vm).__dict__) for vm in host.vms],
        "memory": _plain(host.memory.stats()),
        "realloc_vms": host.reallocator.vms,
        "entitlements": host.reallocator.entitlements(),
        "base": host.reallocator.base(),
        "estimates": host.reallocator.estimates(),
        "lending": host.reallocator.lending,
        "columns": {name: host._layout.column(name).copy() for name in host._layout._columns},
        "sums": (host._layout.total_vcpus, host._layout.total_pages, host._layout.reserved_frames,
                 host._layout.reserved_cpu),
    }
    # the engines' whole state, including what no public call shows (e.g. the next id to hand out)
    snapshot["checkpoints"] = [pickle.dumps(engine.__getstate__()) for engine in (host.memory, host.reallocator)]
    if host.net is not None:
        snapshot["net"] = (host.net.vms, pickle.dumps(host.net.__getstate__()))
    if host.scheduler is not None:
        snapshot["scheduler"] = (_plain(host.scheduler.stats()), _plain(host.scheduler.vcpu_stats()),
                                 host.scheduler.now, host.scheduler.decisions)
    return snapshot


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            assert np.array_equal(a, b), key
        elif key == "columns":
            for name in a:
                assert np.array_equal(a[name], b[name]), name
        else:
            assert a == b, key
