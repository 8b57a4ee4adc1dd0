"""fair_share at extreme magnitudes: native == reference bit for bit, and both
equal exact rational water-filling (fractions.Fraction) within the documented
bound, on random cases drawn over the whole range of finite doubles (tiny and
huge capacities, demands, shares, reservations and limits, subnormals).

CI draws a few thousand cases; ``VSCHED_LONG=1`` draws 100,000. Run with
``-s`` to see the distribution of the error margin (docs/engines/fair_share.md,
"Extreme magnitudes").
"""

from __future__ import annotations

import math
import os
import sys
from fractions import Fraction

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched.reference import allocation as reference_allocation

LONG = os.environ.get("VSCHED_LONG") == "1"
CASES = 100_000 if LONG else 3_000
EPS = Fraction(1, 2**53)
TINY = Fraction(1, 2**1074)  # the smallest subnormal
DBL_MAX = sys.float_info.max
SLACK = Fraction(1e-9)  # the kernel's floor slack, as the double it uses


def exact_fair_share(capacity, demand, shares, reservation, limit):
    """Weighted max-min water-filling in exact rational arithmetic.

    Returns ("ok", allocation), ("infeasible", None) when the floors exceed
    capacity * (1 + 1e-9), or ("either", allocation) within 1e-12 of that
    boundary (where a rounded sum may decide either way).
    """
    n = len(demand)
    c = Fraction(capacity)
    d = [Fraction(x) for x in demand]
    w = [Fraction(x) for x in shares]
    r = [Fraction(0)] * n if reservation is None else [Fraction(x) for x in reservation]
    u = [d[i] if limit is None or math.isinf(limit[i]) else min(d[i], Fraction(limit[i])) for i in range(n)]
    f = [min(r[i], u[i]) for i in range(n)]
    if sum(u) <= c:
        return "ok", u
    floors = sum(f)
    threshold = c * (1 + SLACK)
    verdict = "ok"
    if floors > threshold * (1 + Fraction(1, 10**12)):
        return "infeasible", None
    if floors > threshold * (1 - Fraction(1, 10**12)):
        verdict = "either"
    if floors >= c:
        return verdict, f

    def level_sum(lam):
        return sum(min(u[i], max(f[i], lam * w[i])) for i in range(n))

    levels = sorted({Fraction(0)} | {f[i] / w[i] for i in range(n) if f[i] < u[i]} | {u[i] / w[i] for i in range(n) if f[i] < u[i]})
    lo, hi = 0, len(levels)
    while lo < hi:  # first level with S > C (exists: S(max) = sum(u) > C)
        mid = (lo + hi) // 2
        if level_sum(levels[mid]) <= c:
            lo = mid + 1
        else:
            hi = mid
    lam_lo, lam_hi = levels[lo - 1], levels[lo]
    fixed = Fraction(0)
    growing = Fraction(0)
    for i in range(n):
        if not f[i] < u[i]:
            fixed += f[i]
        elif u[i] / w[i] <= lam_lo:
            fixed += u[i]
        elif f[i] / w[i] >= lam_hi:
            fixed += f[i]
        else:
            growing += w[i]
    lam = (c - fixed) / growing
    return verdict, [min(u[i], max(f[i], lam * w[i])) for i in range(n)]


# ------------------------------------------------------------------ random cases

_SPECIAL = [
    5e-324,
    1e-323,
    2.2250738585072014e-308,  # smallest normal
    2.225073858507201e-308,  # largest subnormal
    2.0**-256,
    float(np.nextafter(2.0**-256, 0.0)),
    2.0**256,
    float(np.nextafter(2.0**256, math.inf)),
    1.0,
    0.1,
    3.0,
    DBL_MAX,
    DBL_MAX / 2,
    DBL_MAX / 7,
]


def _magnitude(rng, base: int, spread: int, specials: bool = True) -> float:
    """A positive double near 2**base (within 2**±spread), or a special value."""
    pick = rng.random()
    if pick < 0.12 and specials:
        return float(rng.choice(_SPECIAL))
    exponent = int(np.clip(base + rng.integers(-spread, spread + 1), -1074, 1023))
    value = math.ldexp(rng.uniform(0.5, 1.0), exponent + 1)
    if pick < 0.2:
        value = math.ldexp(float(rng.integers(1, 8)), min(exponent, 1020))  # ties and short mantissas
    return min(value, DBL_MAX) if math.isfinite(value) else DBL_MAX


def random_case(rng):
    n = int(rng.integers(1, 7))
    if rng.random() < 0.3:
        # Large and small but inside [2^-256, 2^256]: the double path.
        spread, share_spread = int(rng.choice([0, 3, 20])), int(rng.choice([0, 3, 20]))
        base, share_base = int(rng.integers(-220, 220)), int(rng.integers(-220, 220))
        specials = False
    else:
        spread = int(rng.choice([0, 3, 40, 300, 1100, 2100]))
        base = int(rng.integers(-1074, 1024))
        share_base = int(rng.integers(-1074, 1024))
        share_spread = int(rng.choice([0, 3, 40, 300, 1100, 2100]))
        specials = True
    magnitude = lambda b, s: _magnitude(rng, b, s, specials)  # noqa: E731
    demand = [0.0 if rng.random() < 0.1 else magnitude(base, spread) for _ in range(n)]
    shares = [magnitude(share_base, share_spread) for _ in range(n)]
    reservation = None
    if rng.random() < 0.6:
        reservation = [
            0.0 if rng.random() < 0.3 else min(d, magnitude(base, spread)) * float(rng.choice([1.0, 0.5, 1e-3]))
            for d in demand
        ]
    limit = None
    if rng.random() < 0.5:
        limit = [math.inf if rng.random() < 0.3 else magnitude(base, spread) for _ in range(n)]
    # Capacity: a fraction of the ceilings above the floors (mostly contended),
    # exactly the floors, or drawn on its own.
    ceiling = [d if limit is None else min(d, lim) for d, lim in zip(demand, limit or [math.inf] * n)]
    floors = [0.0] * n if reservation is None else [min(r, c) for r, c in zip(reservation, ceiling)]
    sum_u = float(sum(Fraction(x) for x in ceiling)) if sum(Fraction(x) for x in ceiling) <= DBL_MAX else DBL_MAX
    sum_f = float(min(sum(Fraction(x) for x in floors), Fraction(DBL_MAX)))
    how = rng.random()
    if how < 0.55:
        capacity = sum_f + float(rng.choice([1e-300, 1e-12, 0.1, 0.5, 0.9, 0.999999])) * max(0.0, sum_u - sum_f)
    elif how < 0.65:
        capacity = sum_f
    elif how < 0.7:
        capacity = 0.0
    else:
        capacity = magnitude(base, spread + 10)
    capacity = min(capacity, DBL_MAX) if math.isfinite(capacity) else DBL_MAX
    return capacity, demand, shares, reservation, limit


def _arrays(case):
    capacity, demand, shares, reservation, limit = case
    as_array = lambda v: None if v is None else np.array(v, dtype=np.float64)  # noqa: E731
    return capacity, as_array(demand), as_array(shares), as_array(reservation), as_array(limit)


def _run(module, case):
    try:
        return "ok", module.fair_share(*_arrays(case))
    except vsched.AdmissionError:
        return "infeasible", None


def check_case(case) -> float | None:
    """Asserts every guarantee on one case; returns the worst error / bound (None if infeasible)."""
    native, reference = _run(vsched, case), _run(vsched.reference, case)
    assert native[0] == reference[0], (case, native, reference)
    if native[0] == "ok":
        assert native[1].tobytes() == reference[1].tobytes(), (case, native[1], reference[1])
    verdict, exact = exact_fair_share(*case)
    if verdict != "either":
        assert native[0] == verdict, (case, native, verdict)
    if native[0] != "ok":
        return None
    capacity, demand, shares, reservation, limit = case
    n = len(demand)
    a = [Fraction(x) for x in native[1].tolist()]
    ceiling = [Fraction(d) if limit is None or math.isinf(limit[i]) else min(Fraction(d), Fraction(limit[i])) for i, d in enumerate(demand)]
    floor = [Fraction(0)] * n if reservation is None else [min(Fraction(reservation[i]), ceiling[i]) for i in range(n)]
    assert all(floor[i] <= a[i] <= ceiling[i] for i in range(n)), case  # exact: the last step is a clamp
    bound = 4 * (n + 1) * (EPS * Fraction(capacity) + TINY)
    worst = max(abs(a[i] - exact[i]) for i in range(n))
    if exact is not None and sum(floor) <= Fraction(capacity):
        assert sum(a) <= Fraction(capacity) + bound, case
    assert worst <= bound, (case, float(worst), float(bound))
    return float(worst / bound)


def _campaign(seed: int, cases: int) -> tuple[np.ndarray, int, int]:
    rng = np.random.default_rng(seed)
    margins, infeasible, wide = [], 0, 0
    for _ in range(cases):
        case = random_case(rng)
        capacity, demand, shares, reservation, limit = case
        ceiling = [min(d, lim) for d, lim in zip(demand, limit or [math.inf] * len(demand))]
        floors = [0.0] * len(demand) if reservation is None else [min(r, c) for r, c in zip(reservation, ceiling)]
        wide += not reference_allocation.doubles_suffice(capacity, ceiling, floors, shares)
        margin = check_case(case)
        if margin is None:
            infeasible += 1
        else:
            margins.append(margin)
    return np.array(margins), infeasible, wide


def test_random_extreme_magnitudes_against_exact_water_filling():
    margins, infeasible, wide = _campaign(seed=18, cases=CASES)
    # Both paths and the refusals were exercised.
    assert len(margins) > CASES // 2 and infeasible > 0 and CASES // 3 < wide < CASES - CASES // 5
    print(
        f"\n{CASES} cases ({infeasible} infeasible, {wide} beyond [2^-256, 2^256]): error / bound "
        f"median {np.median(margins):.3g}, p99 {np.quantile(margins, 0.99):.3g}, worst {margins.max():.3g}"
    )


@pytest.mark.parametrize(
    "case",
    [
        (2e-172, [4.5e-112], [1.5e273], None, None),  # the only VM gets all the capacity
        (1.0, [1.0, 1.0], [1e308, 1e308], None, None),  # the sum of the shares overflows
        (1e-300, [1.0], [1e300], None, None),  # the level underflows
        (0.5, [1e-300, 1.0], [1e300, 1e-300], None, None),  # share ratio 1e600
        (DBL_MAX, [DBL_MAX, DBL_MAX], [1.0, 3.0], None, None),  # the ceilings' sum overflows
        (5e-324, [5e-324, 5e-324], [1.0, 1.0], None, None),  # subnormal capacity
        (1e-310, [1.0, 2.0, 1e-320], [5e-324, 1e-323, 1e300], [1e-311, 0.0, 0.0], None),
        (1.0, [3.0, 3.0], [1.0, 1.0], None, [DBL_MAX, 0.25]),
    ],
)
def test_known_extreme_cases(case):
    assert check_case(case) is not None


def test_floors_whose_sum_overflows_are_refused(impl):
    with pytest.raises(vsched.AdmissionError):
        impl.fair_share(DBL_MAX, [DBL_MAX, DBL_MAX], [1.0, 1.0], reservation=[DBL_MAX, DBL_MAX])


def test_wide_levels_equal_doubles_inside_the_range():
    """Inside [2^-256, 2^256] the reference's wide-level path gives the double path's bits,
    so which one runs is a matter of speed only."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        u = (rng.uniform(0, 4, n) * rng.choice([1.0, 1e-30, 1e30], n)).tolist()
        f = [x * float(rng.choice([0.0, 0.3, 1.0])) for x in u]
        w = rng.uniform(1, 3000, n).tolist()
        capacity = sum(f) + float(rng.uniform(0.1, 0.9)) * (sum(u) - sum(f))
        if not sum(u) > capacity or sum(f) >= capacity:
            continue
        assert reference_allocation.doubles_suffice(capacity, u, f, w)
        fast = reference_allocation.fair_share(capacity, u, w, f)
        slow = reference_allocation._wide_levels(capacity, u, f, w)
        assert fast.tobytes() == slow.tobytes()
