"""The fair-share kernel: differential (native vs reference), invariants by
independent math, and bad input on both implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import vsched
import vsched.reference
from vsched import AdmissionError

# ---------------------------------------------------------------- strategies

# Values drawn from a small set produce ties; the wide ones exercise scale.
_small = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.0])
_amount = st.one_of(_small, st.floats(0.0, 64.0, allow_nan=False))
_shares = st.one_of(
    st.sampled_from([1.0, 500.0, 1000.0, 2000.0]),
    st.floats(1e-6, 1e6, allow_nan=False),
    st.sampled_from([1e-6, 1e6]),  # huge and tiny
)


@st.composite
def problems(draw, max_n: int = 24):
    """A feasible division problem (floors fit in the capacity)."""
    n = draw(st.integers(0, max_n))
    demand = np.array(draw(st.lists(_amount, min_size=n, max_size=n)), dtype=float)
    shares = np.array(draw(st.lists(_shares, min_size=n, max_size=n)), dtype=float)
    mode = draw(st.sampled_from(["plain", "capped", "reserved", "mixed", "zero-demand"]))
    reservation = np.array(draw(st.lists(_amount, min_size=n, max_size=n)), dtype=float) / 8
    limit = np.array(draw(st.lists(st.one_of(_amount, st.just(math.inf)), min_size=n, max_size=n)), dtype=float)
    if mode == "capped":  # every VM capped below its demand
        limit = demand * 0.5
    elif mode == "reserved":  # every VM reserved at (or above) its demand
        reservation = demand.copy()
    elif mode == "zero-demand":
        demand[: n // 2] = 0.0
    use_reservation = mode in ("reserved", "mixed") or draw(st.booleans())
    use_limit = mode in ("capped", "mixed") or draw(st.booleans())
    if not use_reservation:
        reservation = None
    if not use_limit:
        limit = None
    ceiling, floors = _ceiling_floor(demand, reservation, limit)
    # Capacity somewhere between the floors and beyond the ceilings.
    fraction = draw(st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0, 1.5]))
    capacity = float(floors.sum() + fraction * max(0.0, ceiling.sum() - floors.sum()))
    if draw(st.booleans()):
        capacity = float(np.nextafter(capacity, math.inf)) * (1 + 1e-12)
    return capacity, demand, shares, reservation, limit


def _ceiling_floor(demand, reservation, limit):
    n = len(demand)
    limit = np.full(n, math.inf) if limit is None else np.asarray(limit, float)
    reservation = np.zeros(n) if reservation is None else np.asarray(reservation, float)
    ceiling = np.minimum(demand, limit)
    return ceiling, np.minimum(reservation, ceiling)


def _oracle(capacity, demand, shares, reservation, limit):
    """Water level found by plain bisection on the definition (independent of both engines)."""
    ceiling, floor = _ceiling_floor(demand, reservation, limit)
    if ceiling.sum() <= capacity:
        return ceiling
    lo, hi = 0.0, float(np.max(ceiling / shares)) if len(shares) else 0.0
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if np.clip(mid * shares, floor, ceiling).sum() <= capacity:
            lo = mid
        else:
            hi = mid
    return np.clip(lo * shares, floor, ceiling)


def _scale(capacity, demand):
    return max(1.0, capacity, float(np.sum(demand)))


# ---------------------------------------------------------------- differential


@settings(max_examples=600)
@given(problems())
def test_native_matches_reference(problem):
    capacity, demand, shares, reservation, limit = problem
    native = vsched.fair_share(capacity, demand, shares, reservation, limit)
    reference = vsched.reference.fair_share(capacity, demand, shares, reservation, limit)
    assert native.dtype == np.float64 and native.shape == demand.shape
    np.testing.assert_allclose(native, reference, rtol=1e-9, atol=1e-12 * _scale(capacity, demand))


@settings(max_examples=200)
@given(problems(max_n=12), st.floats(1.01, 10.0))
def test_infeasible_floors_raise_on_both(problem, factor):
    _, demand, shares, reservation, limit = problem
    ceiling, floor = _ceiling_floor(demand, reservation, limit)
    assume(floor.sum() > 0)
    capacity = float(floor.sum() / factor)
    for module in (vsched, vsched.reference):
        with pytest.raises(AdmissionError, match="exceed capacity by"):
            module.fair_share(capacity, demand, shares, reservation, limit)


# ---------------------------------------------------------------- invariants


@settings(max_examples=300)
@given(problems())
def test_invariants_against_independent_math(problem):
    capacity, demand, shares, reservation, limit = problem
    for module in (vsched, vsched.reference):
        a = module.fair_share(capacity, demand, shares, reservation, limit)
        ceiling, floor = _ceiling_floor(demand, reservation, limit)
        scale = _scale(capacity, demand)
        tol = 1e-9 * scale
        # Floors and ceilings.
        assert np.all(a >= floor - tol) and np.all(a <= ceiling + tol)
        # Conservation: everything up to the capacity is handed out.
        assert abs(a.sum() - min(capacity, ceiling.sum())) <= tol
        # Equal ratio for every VM strictly between floor and ceiling.
        free = (a > floor + tol) & (a < ceiling - tol)
        if free.sum() >= 2:
            ratio = a[free] / shares[free]
            assert np.ptp(ratio) <= 1e-9 * max(ratio.max(), 1e-300) + tol / shares[free].min()
        # The same division as plain bisection on the definition.
        np.testing.assert_allclose(a, _oracle(capacity, demand, shares, reservation, limit), rtol=1e-7, atol=1e-7 * scale)


@settings(max_examples=200)
@given(problems(), st.floats(0.0, 5.0))
def test_more_capacity_never_lowers_anyone(problem, extra):
    capacity, demand, shares, reservation, limit = problem
    for module in (vsched, vsched.reference):
        before = module.fair_share(capacity, demand, shares, reservation, limit)
        after = module.fair_share(capacity + extra, demand, shares, reservation, limit)
        assert np.all(after >= before - 1e-9 * _scale(capacity + extra, demand))


def test_known_division(impl):
    # Worked by hand: capacity 6 among shares 1:2:3 with demand 10 each -> 1, 2, 3.
    np.testing.assert_allclose(impl.fair_share(6, [10, 10, 10], [1, 2, 3]), [1, 2, 3])
    # VM 0 capped at 0.5: the other two split 5.5 as 2:3.
    np.testing.assert_allclose(impl.fair_share(6, [10, 10, 10], [1, 2, 3], limit=[0.5, np.inf, np.inf]), [0.5, 2.2, 3.3])
    # VM 0 reserved 3: it keeps 3, the rest is 3 split 2:3.
    np.testing.assert_allclose(impl.fair_share(6, [10, 10, 10], [1, 2, 3], reservation=[3, 0, 0]), [3, 1.2, 1.8])
    # Uncontended: demand is met.
    np.testing.assert_allclose(impl.fair_share(100, [1, 2, 3], [1, 1, 1]), [1, 2, 3])


def test_empty_input_gives_empty_result(impl):
    out = impl.fair_share(4.0, [], [])
    assert out.shape == (0,) and out.dtype == np.float64


def test_admission_error_says_by_how_much(impl):
    with pytest.raises(AdmissionError, match=r"by 2\.0"):
        impl.fair_share(1.0, [2.0, 2.0], [1.0, 1.0], reservation=[1.5, 1.5])
    assert issubclass(AdmissionError, ValueError)


def test_large_problem_matches_reference():
    rng = np.random.default_rng(7)
    n = 5_000
    demand = rng.uniform(0, 4, n)
    shares = rng.choice([500.0, 1000.0, 2000.0], n)
    reservation = rng.uniform(0, 0.1, n)
    limit = np.where(rng.random(n) < 0.3, rng.uniform(0.5, 3, n), np.inf)
    capacity = float(demand.sum() / 3)
    native = vsched.fair_share(capacity, demand, shares, reservation, limit)
    reference = vsched.reference.fair_share(capacity, demand, shares, reservation, limit)
    assert np.array_equal(native, reference)  # same arithmetic in the same order


# ---------------------------------------------------------------- bad input

GOOD = dict(capacity=4.0, demand=[1.0, 2.0, 3.0], shares=[1.0, 1.0, 2.0], reservation=[0.0, 0.5, 0.0], limit=[1.0, np.inf, 2.0])

BAD_VALUES = [
    ("capacity", float("nan"), ValueError),
    ("capacity", -1.0, ValueError),
    ("capacity", float("inf"), ValueError),
    ("capacity", "4", TypeError),
    ("capacity", True, TypeError),
    ("demand", [1.0, float("nan"), 3.0], ValueError),
    ("demand", [1.0, float("inf"), 3.0], ValueError),
    ("demand", [1.0, -2.0, 3.0], ValueError),
    ("demand", [[1.0, 2.0, 3.0]], ValueError),
    ("demand", ["a", "b", "c"], TypeError),
    ("demand", [1 + 1j, 2, 3], TypeError),
    ("demand", [True, False, True], TypeError),
    ("shares", [1.0, 0.0, 2.0], ValueError),
    ("shares", [1.0, -1.0, 2.0], ValueError),
    ("shares", [1.0, float("inf"), 2.0], ValueError),
    ("shares", [1.0, 1.0], ValueError),
    ("shares", np.ones((3, 1)), ValueError),
    ("reservation", [0.0, float("nan"), 0.0], ValueError),
    ("reservation", [0.0, -0.5, 0.0], ValueError),
    ("reservation", [0.0, float("inf"), 0.0], ValueError),
    ("reservation", [0.0, 0.0, 0.0, 0.0], ValueError),
    ("limit", [1.0, float("nan"), 2.0], ValueError),
    ("limit", [1.0, -1.0, 2.0], ValueError),
    ("limit", [1.0], ValueError),
    ("limit", [object(), 1, 2], TypeError),
]


@pytest.mark.parametrize(("argument", "value", "error"), BAD_VALUES, ids=lambda v: repr(v)[:30])
def test_bad_input_is_refused_and_inputs_untouched(impl, argument, value, error):
    kwargs = {k: (np.array(v) if isinstance(v, list) else v) for k, v in GOOD.items()}
    kwargs[argument] = value
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    with pytest.raises(error, match=argument):
        impl.fair_share(**kwargs)
    for name, original in before.items():
        if isinstance(original, np.ndarray):
            assert np.array_equal(kwargs[name], original, equal_nan=True), f"{name} was modified"


def test_same_exception_type_on_both():
    for argument, value, error in BAD_VALUES:
        raised = []
        for module in (vsched, vsched.reference):
            kwargs = dict(GOOD)
            kwargs[argument] = value
            with pytest.raises(Exception) as info:
                module.fair_share(**kwargs)
            raised.append(type(info.value))
        assert raised[0] is raised[1] is error, (argument, value, raised)


def test_integer_and_float32_inputs_accepted(impl):
    out = impl.fair_share(3, np.array([1, 2, 3], dtype=np.int32), np.array([1, 1, 1], dtype=np.float32))
    np.testing.assert_allclose(out, [1, 1, 1])


def test_native_releases_the_gil():
    # A second Python thread keeps running while a large division is solved.
    import threading

    n = 400_000
    rng = np.random.default_rng(0)
    demand, shares = rng.uniform(0, 2, n), rng.uniform(1, 3, n)
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    thread = threading.Thread(target=count)
    thread.start()
    try:
        for _ in range(5):
            vsched.fair_share(float(demand.sum() / 3), demand, shares)
    finally:
        stop.set()
        thread.join()
    assert ticks > 0
