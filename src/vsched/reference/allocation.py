"""Pure-Python fair-share kernel: the oracle for ``vsched.fair_share``.

Same rules as the native core (see ``csrc/core/fair_share.cpp`` for the
formulas): ceiling u_i = min(d_i, l_i), floor f_i = min(r_i, u_i), and above
capacity a_i = clamp(lam * w_i, f_i, u_i) with sum(a) = capacity.

This version sorts the breakpoints and bisects them; the native one selects
them without sorting. Both evaluate S(lam) by the same sum in index order and
solve the same linear equation on the bracketing segment, so they agree bit for
bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validate import as_float, as_vector
from ..errors import AdmissionError

__all__ = ["fair_share"]

FLOOR_SLACK = 1e-9  # relative rounding slack when checking that the floors fit


def _check(name: str, values: list[float], *, allow_zero: bool, allow_inf: bool) -> None:
    for i, v in enumerate(values):
        bad = math.isnan(v) or (not allow_inf and math.isinf(v)) or v < 0.0 or (not allow_zero and v == 0.0)
        if bad:
            rule = ">= 0 (inf for no limit)" if allow_inf else ("finite and >= 0" if allow_zero else "finite and > 0")
            raise ValueError(f"{name}[{i}] = {v!r}: {name} must be {rule}")


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def fair_share(
    capacity: float,
    demand: Any,
    shares: Any,
    reservation: Any = None,
    limit: Any = None,
) -> np.ndarray:
    """Reference twin of :func:`vsched.fair_share` (same arguments, result, errors)."""
    capacity = as_float("capacity", capacity)
    d = as_vector("demand", demand).tolist()
    n = len(d)
    w = as_vector("shares", shares, n).tolist()
    r = [0.0] * n if reservation is None else as_vector("reservation", reservation, n).tolist()
    lim = [math.inf] * n if limit is None else as_vector("limit", limit, n).tolist()

    if not math.isfinite(capacity) or capacity < 0.0:
        raise ValueError(f"capacity = {capacity!r}: capacity must be finite and >= 0")
    _check("demand", d, allow_zero=True, allow_inf=False)
    _check("shares", w, allow_zero=False, allow_inf=False)
    if reservation is not None:
        _check("reservation", r, allow_zero=True, allow_inf=False)
    if limit is not None:
        _check("limit", lim, allow_zero=True, allow_inf=True)

    u = [min(d[i], lim[i]) for i in range(n)]
    f = [min(r[i], u[i]) for i in range(n)]
    sum_u = 0.0
    sum_f = 0.0
    for i in range(n):
        sum_u += u[i]
        sum_f += f[i]
    if sum_u <= capacity:
        return np.array(u, dtype=np.float64)
    # Floors may exceed the capacity by a relative 1e-9 (rounding in how the
    # caller summed them); within that slack the floors are the answer.
    if sum_f > capacity + FLOOR_SLACK * capacity:
        raise AdmissionError(
            f"reservations exceed capacity by {sum_f - capacity!r}: the floors min(reservation, "
            f"demand, limit) sum to {sum_f!r} > capacity {capacity!r}"
        )

    if sum_f >= capacity:
        return np.array(f, dtype=np.float64)

    def level_sum(lam: float) -> float:
        s = 0.0
        for i in range(n):
            s += _clamp(lam * w[i], f[i], u[i])
        return s

    candidates = [0.0]
    for i in range(n):
        if f[i] < u[i]:
            candidates.append(f[i] / w[i])
            candidates.append(u[i] / w[i])
    candidates.sort()

    # Bisect for the first candidate with S > C (it exists: S(max) = sum(u) > C).
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi) // 2
        if level_sum(candidates[mid]) <= capacity:
            lo = mid + 1
        else:
            hi = mid
    lam_hi = candidates[lo]
    lam_lo = candidates[lo - 1]  # candidates[0] = 0 has S(0) = sum(f) <= C

    fixed = 0.0
    growing = 0.0
    for i in range(n):
        if not f[i] < u[i]:
            fixed += f[i]
        elif u[i] / w[i] <= lam_lo:
            fixed += u[i]
        elif f[i] / w[i] >= lam_hi:
            fixed += f[i]
        else:
            growing += w[i]
    lam = (capacity - fixed) / growing if growing > 0.0 else lam_lo
    return np.array([_clamp(lam * w[i], f[i], u[i]) for i in range(n)], dtype=np.float64)
