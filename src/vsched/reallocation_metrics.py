"""Quality of a reallocation replay: ``realloc_metrics`` (pure numpy).

A metric, not an engine: one implementation serves both ``vsched`` and
``vsched.reference`` (both export it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validate import as_float

__all__ = ["ReallocMetrics", "realloc_metrics"]


@dataclass(frozen=True)
class ReallocMetrics:
    """Figures of one replay (see :func:`realloc_metrics` for the definitions)."""

    unmet_demand: float
    relative_slack: float
    reallocations: int
    reallocations_per_vm_hour: float
    woken_donors: int
    reaction_ticks_mean: float
    reaction_ticks_max: float
    unresolved: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _matrix(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (ticks x VMs), got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    bad = ~np.isfinite(array) | (array < 0.0)
    if bad.any():
        t, i = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{name}[{t}, {i}] = {float(array[t, i])!r}: {name} must be finite and >= 0")
    return array


def realloc_metrics(
    demand: Any,
    entitlement: Any,
    base: Any = None,
    *,
    tick_seconds: float = 300.0,
    tolerance: float = 1e-9,
) -> ReallocMetrics:
    """Score a replay: `demand` d and `entitlement` x are ticks x VMs arrays.

    x[t, i] must be the entitlement *in force during* tick t (for a reallocator
    fed with ``observe_many``, that is the row returned for tick t - 1, and
    ``entitlements()`` before the replay for tick 0). `base` (one value per VM,
    e.g. ``Reallocator.base()``) is needed for the reaction time only.

    - unmet_demand = sum((d - x)+) / sum(d)        (0 if sum(d) = 0)
    - relative_slack = sum((x - d)+) / sum(x)      (0 if sum(x) = 0)
    - reallocations: pairs (t >= 1, i) with |x[t,i] - x[t-1,i]| >
      tolerance * max(|x[t,i]|, |x[t-1,i]|); per VM-hour it is divided by
      VMs * ticks * tick_seconds / 3600.
    - VM i is *short* at tick t when x[t,i] < min(b_i, d[t,i]) * (1 - tolerance):
      it holds less than its base and less than it demands (it lent its share
      and now wants it back). A *woken donor* episode starts at a short tick
      whose previous tick (if any) was not short, and is resolved at the first
      later tick that is not short; its reaction time is the number of ticks in
      between (1 = back at the very next tick). Episodes still open at the end
      are counted as `unresolved` and left out of the mean and max (NaN when
      no episode was resolved, or when `base` is None).
    """
    d = _matrix("demand", demand)
    x = _matrix("entitlement", entitlement)
    if d.shape != x.shape:
        raise ValueError(f"entitlement has shape {x.shape}, expected {d.shape} (the shape of demand)")
    tick_seconds = as_float("tick_seconds", tick_seconds)
    tolerance = as_float("tolerance", tolerance)
    if not math.isfinite(tick_seconds) or not tick_seconds > 0.0:
        raise ValueError(f"tick_seconds = {tick_seconds!r}: tick_seconds must be finite and > 0")
    if not math.isfinite(tolerance) or not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance = {tolerance!r}: tolerance must be in [0, 1)")
    ticks, vms = d.shape
    b = None
    if base is not None:
        b_arr = np.asarray(base)
        if b_arr.dtype.kind not in "iuf":
            raise TypeError(f"base must be a numeric array, got dtype {b_arr.dtype}")
        if b_arr.shape != (vms,):
            raise ValueError(f"base has shape {b_arr.shape}, expected ({vms},) (one value per VM)")
        b = b_arr.astype(np.float64)
        if not (np.isfinite(b) & (b >= 0.0)).all():
            raise ValueError("base must be finite and >= 0")

    total_demand = float(d.sum())
    total_entitlement = float(x.sum())
    unmet = float(np.maximum(d - x, 0.0).sum()) / total_demand if total_demand > 0.0 else 0.0
    slack = float(np.maximum(x - d, 0.0).sum()) / total_entitlement if total_entitlement > 0.0 else 0.0

    if ticks >= 2:
        change = np.abs(x[1:] - x[:-1])
        scale = np.maximum(np.abs(x[1:]), np.abs(x[:-1]))
        reallocations = int(np.count_nonzero(change > tolerance * scale))
    else:
        reallocations = 0
    vm_hours = vms * ticks * tick_seconds / 3600.0
    per_vm_hour = reallocations / vm_hours if vm_hours > 0.0 else 0.0

    episodes = 0
    unresolved = 0
    reactions: list[np.ndarray] = []
    if b is not None:
        short = x < np.minimum(b[None, :], d) * (1.0 - tolerance)
        open_since = np.full(vms, -1, dtype=np.int64)
        for t in range(ticks):
            resolved = (open_since >= 0) & ~short[t]
            reactions.append(t - open_since[resolved])
            open_since[resolved] = -1
            starting = short[t] & (open_since < 0)
            episodes += int(np.count_nonzero(starting))
            open_since[starting] = t
        unresolved = int(np.count_nonzero(open_since >= 0))
    times = np.concatenate(reactions) if reactions else np.empty(0)
    return ReallocMetrics(
        unmet_demand=unmet,
        relative_slack=slack,
        reallocations=reallocations,
        reallocations_per_vm_hour=per_vm_hour,
        woken_donors=episodes,
        reaction_ticks_mean=float(times.mean()) if times.size else math.nan,
        reaction_ticks_max=float(times.max()) if times.size else math.nan,
        unresolved=unresolved,
    )
