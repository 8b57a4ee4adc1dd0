"""Independent fluid oracle for the scheduler tests (plain numpy, no engine code).

Weighted max-min water-filling with floors and ceilings, found by bisection on
the water level: VM i gets clip(lam * w_i, min(r_i, u_i), u_i) with
u_i = min(demand_i, limit_i) and lam such that the sum equals the capacity.
"""

from __future__ import annotations

import numpy as np


def fluid_share(capacity: float, demand, shares, reservation, limit) -> np.ndarray:
    d = np.asarray(demand, dtype=float)
    w = np.asarray(shares, dtype=float)
    u = np.minimum(d, np.asarray(limit, dtype=float))
    f = np.minimum(np.asarray(reservation, dtype=float), u)
    if u.sum() <= capacity:
        return u
    lo, hi = 0.0, float(np.max(u / w)) + 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(mid * w, f, u).sum() <= capacity:
            lo = mid
        else:
            hi = mid
    return np.clip(lo * w, f, u)
