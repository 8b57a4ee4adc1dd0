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
# Doubles suffice when the capacity, every non-zero ceiling and floor and every
# share lie in [2^-256, 2^256] (docs/engines/fair_share.md, "Extreme magnitudes").
LOWEST = 2.0**-256
HIGHEST = 2.0**256


def _check(name: str, values: list[float], *, allow_zero: bool, allow_inf: bool) -> None:
    for i, v in enumerate(values):
        bad = math.isnan(v) or (not allow_inf and math.isinf(v)) or v < 0.0 or (not allow_zero and v == 0.0)
        if bad:
            rule = ">= 0 (inf for no limit)" if allow_inf else ("finite and >= 0" if allow_zero else "finite and > 0")
            raise ValueError(f"{name}[{i}] = {v!r}: {name} must be {rule}")


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def floors_exceed(sum_f: float, capacity: float) -> bool:
    """The floors exceed the capacity beyond the rounding slack, or their sum overflowed."""
    return sum_f > capacity + FLOOR_SLACK * capacity or sum_f == math.inf


def doubles_suffice(capacity: float, u: list[float], f: list[float], w: list[float]) -> bool:
    """Every non-zero amount and every share in [LOWEST, HIGHEST] (the native MagnitudeRange)."""
    smallest = min([x for x in (capacity, *u, *f) if x > 0.0] + w, default=math.inf)
    largest = max([capacity, *u, *f, *w])
    return smallest >= LOWEST and largest <= HIGHEST


# -- levels beyond the range of doubles -------------------------------------------
# A level is (m, e) = m * 2^e with m in [0.5, 1), or (0.0, 0). Every operation
# rounds once, exactly as the native WideLevel (csrc/core/fair_share.cpp).

Level = tuple  # (mantissa, exponent)
_ZERO: Level = (0.0, 0)


def _normalized(m: float, e: int) -> Level:
    if m == 0.0:
        return _ZERO
    mantissa, k = math.frexp(m)
    return (mantissa, e + k)


def _ratio(amount: float, share: float) -> Level:
    """amount / share (share > 0)."""
    if amount == 0.0:
        return _ZERO
    ma, ea = math.frexp(amount)
    mb, eb = math.frexp(share)
    return _normalized(ma / mb, ea - eb)


def _ratio_wide(amount: float, shares: Level) -> Level:
    """amount / shares (a non-zero level)."""
    if amount == 0.0:
        return _ZERO
    ma, ea = math.frexp(amount)
    return _normalized(ma / shares[0], ea - shares[1])


def _times(level: Level, share: float) -> float:
    """level * share rounded to a double (0 below, inf above the doubles' range)."""
    if level[0] == 0.0:
        return 0.0
    ms, es = math.frexp(share)
    pm, pe = _normalized(level[0] * ms, level[1] + es)
    if pe > 1024:
        return math.inf
    if pe < -1080:
        return 0.0
    return math.ldexp(pm, pe)


def _add(level: Level, share: float) -> Level:
    """level + share, rounded once."""
    ms, es = math.frexp(share)
    if level[0] == 0.0:
        return (ms, es)
    d = level[1] - es
    if d > 60:
        return level
    if d < -60:
        return (ms, es)
    if d >= 0:
        return _normalized(level[0] + math.ldexp(ms, -d), level[1])
    return _normalized(math.ldexp(level[0], d) + ms, es)


def _order(level: Level) -> tuple:
    """Sort key: 0 first, then by exponent and mantissa."""
    return (level[0] != 0.0, level[1], level[0])


def _wide_levels(capacity: float, u: list[float], f: list[float], w: list[float]) -> np.ndarray:
    """The water-filling with levels kept as (mantissa, exponent): the native solve_wide."""
    n = len(u)

    def level_sum(lam: Level) -> float:
        s = 0.0
        for i in range(n):
            s += _clamp(_times(lam, w[i]), f[i], u[i])
        return s

    candidates = [_ZERO]
    for i in range(n):
        if f[i] < u[i]:
            candidates.append(_ratio(f[i], w[i]))
            candidates.append(_ratio(u[i], w[i]))
    candidates.sort(key=_order)
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi) // 2
        if level_sum(candidates[mid]) <= capacity:
            lo = mid + 1
        else:
            hi = mid
    lam_lo = candidates[lo - 1]
    lam_hi = candidates[lo] if lo < len(candidates) else None  # None: +inf

    fixed = 0.0
    growing = _ZERO
    for i in range(n):
        if not f[i] < u[i]:
            fixed += f[i]
        elif _order(_ratio(u[i], w[i])) <= _order(lam_lo):
            fixed += u[i]
        elif lam_hi is not None and _order(lam_hi) <= _order(_ratio(f[i], w[i])):
            fixed += f[i]
        else:
            growing = _add(growing, w[i])
    lam = lam_lo if growing[0] == 0.0 else _ratio_wide(max(0.0, capacity - fixed), growing)
    if _order(lam) < _order(lam_lo):
        lam = lam_lo
    if lam_hi is not None and _order(lam_hi) < _order(lam):
        lam = lam_hi
    return np.array([_clamp(_times(lam, w[i]), f[i], u[i]) for i in range(n)], dtype=np.float64)


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
    if floors_exceed(sum_f, capacity):
        raise AdmissionError(
            f"reservations exceed capacity by {sum_f - capacity!r}: the floors min(reservation, "
            f"demand, limit) sum to {sum_f!r} > capacity {capacity!r}"
        )

    if sum_f >= capacity:
        return np.array(f, dtype=np.float64)
    if not doubles_suffice(capacity, u, f, w):
        return _wide_levels(capacity, u, f, w)

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

    # Bisect for the first candidate with S > C. In exact arithmetic it exists
    # (S(max) = sum(u) > C); in floating point every term may round below its
    # ceiling, and then lam_hi = +inf.
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi) // 2
        if level_sum(candidates[mid]) <= capacity:
            lo = mid + 1
        else:
            hi = mid
    lam_hi = candidates[lo] if lo < len(candidates) else math.inf
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
    lam = min(lam_hi, max(lam_lo, lam))  # the exact level lies in the bracket; keep the rounded one there
    return np.array([_clamp(lam * w[i], f[i], u[i]) for i in range(n)], dtype=np.float64)
