"""Reallocator: rules, invariants (by independent math) and bad input, on both implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsched

ESTIMATORS = ["max", "mean", "percentile", "ewma"]


def snapshot(r) -> tuple:
    """Everything observable about a reallocator."""
    return (
        list(r.vms),
        r.entitlements().tolist(),
        r.base().tolist(),
        r.estimates().tolist(),
        r.load,
        r.lending,
    )


def independent_load(history: list[np.ndarray], window: int, capacity: float) -> float:
    """Sum over VMs of the mean of their last `window` samples, over capacity (numpy, from scratch)."""
    if not history:
        return 0.0
    recent = np.array(history[-window:])
    return float(recent.mean(axis=0).sum() / capacity)


# -- construction and VMs ------------------------------------------------------


def test_defaults_and_ids(impl):
    r = impl.Reallocator(4.0)
    assert (r.capacity, r.window, r.threshold, r.estimator, r.percentile, r.headroom) == (
        4.0,
        12,
        0.75,
        "max",
        95.0,
        0.10,
    )
    a, b, c = r.add_vm(1.0), r.add_vm(2.0, shares=2000), r.add_vm(1.0, reservation=0.5, limit=0.8)
    assert (a, b, c) == (0, 1, 2) and r.vms == [0, 1, 2] and len(r) == 3
    r.remove_vm(b)
    assert r.vms == [0, 2]
    assert r.add_vm(1.0) == 3  # ids are never reused
    assert r.vms == [0, 2, 3]


def test_base_is_the_contended_fair_share(impl):
    r = impl.Reallocator(3.0)
    r.add_vm(2.0, shares=1000)
    r.add_vm(2.0, shares=3000)
    r.add_vm(2.0, shares=1000, reservation=1.0)
    # By hand: reservation 1 for VM 2, the other 2 by shares 1:3 -> 0.5, 1.5,
    # VM 2 at lambda*1000 = 0.5 < its floor 1 keeps 1.
    np.testing.assert_allclose(r.base(), [0.5, 1.5, 1.0], rtol=1e-12)


def test_before_any_observation_entitlement_is_base(impl):
    r = impl.Reallocator(2.0)
    for size in (1.0, 0.5, 2.0):
        r.add_vm(size)
    assert r.load == 0.0 and not r.lending
    assert r.entitlements().tolist() == r.base().tolist() == r.estimates().tolist()


# -- estimators against numpy ----------------------------------------------------


def _ewma(samples: list[float], alpha: float) -> float:
    """Closed form: sum_k alpha (1-alpha)^k x_{t-k}, the first sample weighted (1-alpha)^(t-1)."""
    t = len(samples)
    total = (1 - alpha) ** (t - 1) * samples[0]
    for k in range(t - 1):
        total += alpha * (1 - alpha) ** k * samples[t - 1 - k]
    return total


@settings(max_examples=40)
@given(
    estimator=st.sampled_from(ESTIMATORS),
    window=st.integers(1, 9),
    percentile=st.sampled_from([0.0, 10.0, 33.3, 50.0, 62.5, 95.0, 100.0]),
    samples=st.lists(st.floats(0.0, 50.0, allow_subnormal=False), min_size=1, max_size=30),
)
def test_estimators_match_numpy(estimator, window, percentile, samples):
    for module in (vsched, vsched.reference):
        # One VM far below its entitlement: never saturated, never clamped.
        r = module.Reallocator(
            1000.0, window=window, estimator=estimator, percentile=percentile, headroom=0.0
        )
        r.add_vm(1000.0)
        for k, sample in enumerate(samples):
            r.observe([sample])
            recent = np.array(samples[max(0, k + 1 - window) : k + 1])
            expected = {
                "max": recent.max(),
                "mean": recent.mean(),
                "percentile": np.percentile(recent, percentile),
                "ewma": _ewma(samples[: k + 1], 2.0 / (window + 1)),
            }[estimator]
            got = r.estimates()[0]
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9), (
                module.IMPLEMENTATION,
                k,
                got,
                expected,
            )
            assert math.isclose(r.load, recent.mean() / 1000.0, rel_tol=1e-9, abs_tol=1e-15)


def test_headroom_and_clamp(impl):
    r = impl.Reallocator(100.0, window=3, headroom=0.5)
    r.add_vm(10.0)
    r.add_vm(10.0, limit=2.0)
    r.observe([1.0, 1.8])  # 1.8 * 1.5 = 2.7 > limit 2
    np.testing.assert_allclose(r.estimates(), [1.5, 2.0], rtol=1e-12)


# -- the 75 % gate, from both sides ---------------------------------------------------


@pytest.mark.parametrize(
    ("total_usage", "lends"),
    [(5.9, True), (5.999999, True), (6.0, False), (6.1, False), (7.9, False)],
)
def test_gate_at_threshold(impl, total_usage, lends):
    capacity = 8.0
    r = impl.Reallocator(capacity, window=1)
    for _ in range(8):
        r.add_vm(4.0)
    # VMs 1 and 2 use half each (so the sum is exact), the others idle.
    usage = np.zeros(8)
    usage[1:3] = total_usage / 2
    r.observe(usage)
    assert r.load == total_usage / capacity
    assert r.lending is lends
    x = r.entitlements()
    if lends:
        assert x[0] < r.base()[0]  # an idle VM lends
        assert x[1] > r.base()[1] and x[2] > r.base()[2]  # the busy ones borrow
    else:
        assert x.tolist() == r.base().tolist()


def test_threshold_zero_never_lends(impl):
    r = impl.Reallocator(4.0, threshold=0.0)
    for _ in range(4):
        r.add_vm(2.0)
    r.observe([0.0, 0.0, 0.0, 0.0])
    assert r.load == 0.0 and not r.lending and r.entitlements().tolist() == r.base().tolist()


# -- woken donor -------------------------------------------------------------------------


def test_woken_donor_gets_base_back_next_tick(impl):
    r = impl.Reallocator(2.0, window=12)
    for _ in range(4):
        r.add_vm(1.0)
    for _ in range(12):
        r.observe([0.0, 0.3, 0.3, 0.3])
    base = r.base()
    x = r.entitlements()
    assert r.lending and x[0] < base[0]
    # VM 0 wakes: it uses all it is given (its real demand is hidden by the cap).
    r.observe([x[0], 0.3, 0.3, 0.3])
    assert r.entitlements()[0] >= base[0] * (1 - 1e-12)
    # A sample just below the entitlement (within 1e-9) also counts as saturated.
    r2 = impl.Reallocator(2.0, window=12)
    for _ in range(4):
        r2.add_vm(1.0)
    for _ in range(12):
        r2.observe([0.0, 0.3, 0.3, 0.3])
    x = r2.entitlements()
    r2.observe([x[0] * (1 - 1e-10), 0.3, 0.3, 0.3])
    assert r2.entitlements()[0] >= base[0] * (1 - 1e-12)


def test_observe_many_capped_is_the_closed_loop(impl):
    rng = np.random.default_rng(5)
    demand = rng.uniform(0.0, 1.0, (30, 6)) * rng.uniform(0.0, 1.0, 6)
    a = impl.Reallocator(3.0, window=4, estimator="percentile", percentile=80.0)
    b = impl.Reallocator(3.0, window=4, estimator="percentile", percentile=80.0)
    for r in (a, b):
        for k in range(6):
            r.add_vm(1.0, shares=1000 + 500 * k)
    got = a.observe_many(demand, cap_at_entitlement=True)
    for t in range(30):
        b.observe(np.minimum(demand[t], b.entitlements()))
        assert got[t].tolist() == b.entitlements().tolist()
    assert snapshot(a) == snapshot(b)


# -- invariants on random hosts ------------------------------------------------------------------


@st.composite
def hosts(draw):
    n = draw(st.integers(1, 8))
    capacity = draw(st.floats(0.5, 8.0))
    vms = []
    floors = 0.0
    for _ in range(n):
        size = draw(st.floats(0.0, 3.0))
        reservation = draw(st.sampled_from([0.0, 0.0, min(size, 0.3)]))
        if floors + reservation > capacity:
            reservation = 0.0
        floors += reservation
        limit = draw(st.sampled_from([None, None, max(reservation, size / 2)]))
        vms.append((size, draw(st.integers(1, 4000)), reservation, limit))
    config = dict(
        window=draw(st.integers(1, 6)),
        threshold=draw(st.sampled_from([0.0, 0.5, 0.75, 1.0, 3.0])),
        estimator=draw(st.sampled_from(ESTIMATORS)),
        percentile=draw(st.sampled_from([0.0, 50.0, 95.0, 100.0])),
        headroom=draw(st.sampled_from([0.0, 0.1, 1.0])),
    )
    ticks = draw(st.lists(st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n), min_size=1, max_size=12))
    return capacity, vms, config, ticks


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=hosts())
def test_invariants_by_independent_math(impl, host):  # impl is stateless: safe to share
    capacity, vms, config, ticks = host
    r = impl.Reallocator(capacity, **config)
    for size, shares, reservation, limit in vms:
        r.add_vm(size, shares=shares, reservation=reservation, limit=limit)
    size = np.array([v[0] for v in vms])
    reservation = np.array([v[2] for v in vms])
    ceiling = np.minimum(size, [math.inf if v[3] is None else v[3] for v in vms])
    base = r.base()
    history: list[np.ndarray] = []
    for usage in ticks:
        before = r.entitlements()
        r.observe(usage)
        history.append(np.array(usage))
        x = r.entitlements()
        eps = 1e-9 * max(1.0, capacity)
        assert x.sum() <= capacity + eps
        assert (x >= reservation - eps).all() and (x <= ceiling + eps).all()
        load = independent_load(history, config["window"], capacity)
        assert math.isclose(r.load, load, rel_tol=1e-9, abs_tol=1e-12)
        if load >= config["threshold"] * (1 + 1e-9):
            assert not r.lending and x.tolist() == base.tolist()
        elif load < config["threshold"] * (1 - 1e-9):
            assert r.lending
            # Work conserving: everything up to the ceilings is handed out.
            assert math.isclose(x.sum(), min(capacity, ceiling.sum()), rel_tol=1e-9, abs_tol=1e-9)
        saturated = np.array(usage) >= before * (1 - 1e-9)
        assert (x[saturated] >= base[saturated] * (1 - 1e-9) - 1e-12).all()
        # Idempotent: asking again or re-setting the same parameters changes nothing.
        state = snapshot(r)
        for vm, (size_i, shares_i, reservation_i, limit_i) in zip(r.vms, vms):
            r.set_vm(vm, size_i, shares=shares_i, reservation=reservation_i, limit=limit_i)
        assert snapshot(r) == state


# -- admission and bad input: exception and state unchanged -----------------------------------


def _busy_host(module):
    r = module.Reallocator(4.0, window=3)
    r.add_vm(2.0, reservation=1.0)
    r.add_vm(2.0, shares=2000)
    r.add_vm(1.0, limit=0.5)
    r.observe([0.5, 0.1, 0.5])
    return r


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(capacity=0.0), ValueError),
        (dict(capacity=-1.0), ValueError),
        (dict(capacity=math.inf), ValueError),
        (dict(capacity="4"), TypeError),
        (dict(capacity=4.0, window=0), ValueError),
        (dict(capacity=4.0, window=2.0), TypeError),
        (dict(capacity=4.0, window=10**30), ValueError),
        (dict(capacity=4.0, threshold=math.nan), ValueError),
        (dict(capacity=4.0, threshold=-0.1), ValueError),
        (dict(capacity=4.0, estimator="median"), ValueError),
        (dict(capacity=4.0, estimator=1), TypeError),
        (dict(capacity=4.0, percentile=100.5), ValueError),
        (dict(capacity=4.0, percentile=math.nan), ValueError),
        (dict(capacity=4.0, headroom=-0.5), ValueError),
        (dict(capacity=4.0, headroom=math.inf), ValueError),
    ],
)
def test_bad_constructor(impl, kwargs, error):
    with pytest.raises(error):
        impl.Reallocator(**kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((math.nan,), {}, ValueError),
        ((-1.0,), {}, ValueError),
        ((math.inf,), {}, ValueError),
        (("1",), {}, TypeError),
        ((1.0,), dict(shares=0), ValueError),
        ((1.0,), dict(shares=2**53 + 1), ValueError),
        ((1.0,), dict(shares=2**70), ValueError),
        ((1.0,), dict(shares=1.5), TypeError),
        ((1.0,), dict(shares=True), TypeError),
        ((1.0,), dict(reservation=-0.1), ValueError),
        ((1.0,), dict(reservation=math.nan), ValueError),
        ((1.0,), dict(limit=-1.0), ValueError),
        ((1.0,), dict(limit=math.nan), ValueError),
        ((1.0,), dict(reservation=1.5), vsched.AdmissionError),  # above the size
        ((1.0,), dict(reservation=0.5, limit=0.4), vsched.AdmissionError),  # limit below it
        ((3.5,), dict(reservation=3.0 + 1e-7), vsched.AdmissionError),  # floors 4 + 1e-7 > 4 (1 + 1e-9)
    ],
)
def test_bad_add_vm_changes_nothing(impl, args, kwargs, error):
    r = _busy_host(impl)
    state = snapshot(r)
    with pytest.raises(error):
        r.add_vm(*args, **kwargs)
    assert snapshot(r) == state
    assert r.add_vm(1.0) == 3  # no id was consumed


def test_exact_fit_in_decimal_is_admitted(impl):
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 in floats: within the 1e-9 slack.
    r = impl.Reallocator(0.3)
    for _ in range(3):
        r.add_vm(1.0, reservation=0.1)
    r.observe([0.0, 0.0, 1.0])
    assert r.entitlements().tolist() == [0.1, 0.1, 0.1] == r.base().tolist()
    with pytest.raises(vsched.AdmissionError):
        r.add_vm(1.0, reservation=1e-9)


def test_admission_sum_and_set_vm(impl):
    r = _busy_host(impl)
    assert r.add_vm(3.0, reservation=3.0) == 3  # floors 1 + 3 = 4 = capacity: admitted
    state = snapshot(r)
    with pytest.raises(vsched.AdmissionError):
        r.set_vm(1, 2.0, reservation=0.1)  # floors would be 4.1
    with pytest.raises(vsched.AdmissionError):
        r.add_vm(1.0, reservation=1e-7)
    assert snapshot(r) == state
    r.set_vm(0, 2.0, reservation=0.5)  # lowering is always fine
    r.set_vm(1, 2.0, reservation=0.5)
    assert r.base()[1] >= 0.5


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda r: r.set_vm(99, 1.0), KeyError),
        (lambda r: r.set_vm(2**80, 1.0), KeyError),
        (lambda r: r.set_vm("0", 1.0), TypeError),
        (lambda r: r.set_vm(0, -1.0), ValueError),
        (lambda r: r.set_vm(0, 0.5, reservation=1.0), vsched.AdmissionError),  # reservation > size
        (lambda r: r.remove_vm(99), KeyError),
        (lambda r: r.remove_vm(-1), KeyError),
        (lambda r: r.remove_vm(1.0), TypeError),
        (lambda r: r.observe([0.1, 0.2]), ValueError),  # wrong length
        (lambda r: r.observe([0.1, 0.2, 0.3, 0.4]), ValueError),
        (lambda r: r.observe([[0.1, 0.2, 0.3]]), ValueError),
        (lambda r: r.observe([0.1, math.nan, 0.3]), ValueError),
        (lambda r: r.observe([0.1, 0.2, math.inf]), ValueError),
        (lambda r: r.observe([0.1, -0.2, 0.3]), ValueError),
        (lambda r: r.observe(["a", "b", "c"]), TypeError),
        (lambda r: r.observe([True, False, True]), TypeError),
        (lambda r: r.observe_many([0.1, 0.2, 0.3]), ValueError),
        (lambda r: r.observe_many(np.zeros((4, 2))), ValueError),
        (lambda r: r.observe_many([[0.1, 0.2, 0.3], [0.1, -1.0, 0.3]]), ValueError),
        (lambda r: r.observe_many([[0.1, 0.2, 0.3], [0.1, 0.2, math.nan]]), ValueError),
        (lambda r: r.observe_many(np.zeros((2, 3)), cap_at_entitlement=1), TypeError),
    ],
)
def test_bad_calls_change_nothing(impl, call, error):
    r = _busy_host(impl)
    twin = _busy_host(impl)
    state = snapshot(r)
    with pytest.raises(error):
        call(r)
    assert snapshot(r) == state
    # No window was shifted: the same next ticks give the same results as on a twin.
    for usage in ([0.9, 0.0, 0.2], [2.0, 0.0, 0.5], [0.0, 0.0, 0.0]):
        r.observe(usage)
        twin.observe(usage)
        assert snapshot(r) == snapshot(twin)


def test_empty_host_and_empty_batch(impl):
    r = impl.Reallocator(1.0)
    r.observe(np.zeros(0))
    assert r.observe_many(np.zeros((5, 0))).shape == (5, 0)
    assert r.entitlements().shape == (0,) and r.load == 0.0 and not r.lending
    r.add_vm(1.0)
    assert r.observe_many(np.zeros((0, 1))).shape == (0, 1)
    assert r.entitlements().tolist() == [1.0]


def test_set_vm_keeps_window_and_remove_drops_it(impl):
    r = impl.Reallocator(10.0, window=4, headroom=0.0)
    r.add_vm(5.0)
    r.add_vm(5.0)
    r.observe([2.0, 1.0])
    r.set_vm(0, 4.0, shares=3000)
    assert r.estimates()[0] == 2.0  # the window survived
    r.remove_vm(0)
    assert r.vms == [1] and r.estimates().tolist() == [1.0]
    vm = r.add_vm(5.0)
    # A new VM starts with an empty window: its estimate is its base.
    assert r.estimates()[r.vms.index(vm)] == r.base()[r.vms.index(vm)]


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("window", [1, 5, 12, 80])  # 80: past the native sorted-window lane (<= 64)
def test_estimators_match_numpy_under_churn(impl, estimator, window):
    """VMs join and leave at random ticks (more than the 64 columns first
    allocated, freed columns reused): each VM's estimate is still numpy's
    statistic over its own last `window` samples, whatever the block phase."""
    rng = np.random.default_rng(window)
    r = impl.Reallocator(1e6, window=window, estimator=estimator, percentile=80.0, headroom=0.0)
    history: dict[int, list[float]] = {}
    peak = 0
    for tick in range(3 * window + 40):
        for _ in range(int(rng.integers(0, 12 if len(history) < 100 else 3))):
            history[r.add_vm(1e6)] = []
        if history and rng.random() < 0.5:
            for vm in rng.choice(list(history), size=min(len(history), int(rng.integers(1, 6))), replace=False):
                r.remove_vm(int(vm))
                del history[int(vm)]
        usage = rng.choice([0.0, 1.0, 2.0, 7.5], size=len(r.vms)) * rng.random(len(r.vms))
        r.observe(usage)
        for vm, u in zip(r.vms, usage):
            history[vm].append(float(u))
        estimates = r.estimates()
        peak = max(peak, len(r.vms))
        for i, vm in enumerate(r.vms):
            recent = np.array(history[vm][-window:])
            expected = {
                "max": recent.max(),
                "mean": recent.mean(),
                "percentile": np.percentile(recent, 80.0),
                "ewma": _ewma(history[vm], 2.0 / (window + 1)),
            }[estimator]
            assert math.isclose(estimates[i], expected, rel_tol=1e-9, abs_tol=1e-12), (tick, vm, estimator)
    assert peak > 64  # the scenario did outgrow the first columns
