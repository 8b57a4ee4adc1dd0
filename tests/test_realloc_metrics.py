"""realloc_metrics: definitions checked on hand-computed replays."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vsched
import vsched.reference


def test_exported_by_both():
    assert vsched.realloc_metrics is vsched.reference.realloc_metrics


def test_hand_computed():
    demand = [[1.0, 2.0], [3.0, 0.0]]
    entitlement = [[0.5, 2.0], [1.0, 1.0]]
    m = vsched.realloc_metrics(demand, entitlement, base=[1.0, 1.0], tick_seconds=300.0)
    # unmet: (0.5 + 0 + 2 + 0) / 6; slack: (0 + 0 + 0 + 1) / 4.5
    assert math.isclose(m.unmet_demand, 2.5 / 6)
    assert math.isclose(m.relative_slack, 1 / 4.5)
    # Both VMs change once; 2 VMs x 2 ticks x 5 min = 1/3 VM-hour.
    assert m.reallocations == 2
    assert math.isclose(m.reallocations_per_vm_hour, 6.0)
    # VM 0 is short at tick 0 (0.5 < min(1, 1)) and back at tick 1 (1 >= min(1, 3)).
    assert (m.woken_donors, m.reaction_ticks_mean, m.reaction_ticks_max, m.unresolved) == (1, 1.0, 1.0, 0)


def test_reaction_episodes():
    # One VM, base 1. Short at ticks 1-3 (resolved at 4: 3 ticks), fine at 4-5,
    # short again from 6 to the end (unresolved). Demand below entitlement is never short.
    x = np.array([1.0, 0.2, 0.2, 0.5, 1.0, 0.1, 0.3, 0.3])[:, None]
    d = np.array([0.5, 0.9, 0.9, 0.9, 2.0, 0.05, 0.9, 0.9])[:, None]
    m = vsched.realloc_metrics(d, x, base=[1.0])
    assert (m.woken_donors, m.unresolved) == (2, 1)
    assert (m.reaction_ticks_mean, m.reaction_ticks_max) == (3.0, 3.0)
    # Holding min(base, demand) is enough: the demand was met.
    m = vsched.realloc_metrics([[0.3], [0.3]], [[0.3], [0.3]], base=[1.0])
    assert m.woken_donors == 0 and math.isnan(m.reaction_ticks_mean)


def test_without_base_and_degenerate():
    m = vsched.realloc_metrics(np.zeros((3, 2)), np.zeros((3, 2)))
    assert (m.unmet_demand, m.relative_slack, m.reallocations, m.reallocations_per_vm_hour) == (
        0.0,
        0.0,
        0,
        0.0,
    )
    assert math.isnan(m.reaction_ticks_max) and m.woken_donors == 0
    assert vsched.realloc_metrics(np.zeros((0, 0)), np.zeros((0, 0))).reallocations_per_vm_hour == 0.0
    # Changes within the relative tolerance are not reallocations.
    m = vsched.realloc_metrics([[1.0], [1.0]], [[1.0], [1.0 + 1e-12]])
    assert m.reallocations == 0
    assert set(m.as_dict()) >= {"unmet_demand", "relative_slack", "reaction_ticks_mean"}


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (([[1.0]], [[1.0, 2.0]]), {}, ValueError),
        (([1.0], [1.0]), {}, ValueError),
        (([[1.0]], [[math.nan]]), {}, ValueError),
        (([[-1.0]], [[1.0]]), {}, ValueError),
        (([["a"]], [[1.0]]), {}, TypeError),
        (([[1.0]], [[1.0]]), dict(base=[1.0, 2.0]), ValueError),
        (([[1.0]], [[1.0]]), dict(base=[-1.0]), ValueError),
        (([[1.0]], [[1.0]]), dict(tick_seconds=0.0), ValueError),
        (([[1.0]], [[1.0]]), dict(tolerance=-1e-9), ValueError),
    ],
)
def test_bad_input(args, kwargs, error):
    with pytest.raises(error):
        vsched.realloc_metrics(*args, **kwargs)
