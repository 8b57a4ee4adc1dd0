"""The fair-share kernel: weighted max-min division of one capacity."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import as_float, as_vector

__all__ = ["fair_share"]


def fair_share(
    capacity: float,
    demand: Any,
    shares: Any,
    reservation: Any = None,
    limit: Any = None,
) -> np.ndarray:
    """Divide `capacity` among VMs by weighted max-min fairness.

    For VM i the ceiling is ``u_i = min(demand_i, limit_i)`` (a missing or
    infinite limit means none) and the floor ``f_i = min(reservation_i, u_i)``.
    If ``sum(u) <= capacity`` every VM gets ``u_i``. Otherwise VM i gets
    ``min(u_i, max(f_i, lam * shares_i))`` with the water level ``lam`` chosen
    so the allocations sum to `capacity`; every VM strictly between its floor
    and ceiling then has the same ``allocation / shares``.

    Returns a new float64 array, one entry per VM (empty input, empty result).

    Raises:
        vsched.AdmissionError: the floors alone exceed `capacity` by more than a
            relative 1e-9 rounding slack (the message says by how much).
        TypeError: a non-numeric argument.
        ValueError: NaN, infinite demand/shares/reservation, negative values,
            shares <= 0, arrays that are not 1-D or differ in length.
    """
    capacity = as_float("capacity", capacity)
    demand_a = as_vector("demand", demand)
    n = demand_a.shape[0]
    shares_a = as_vector("shares", shares, n)
    reservation_a = None if reservation is None else as_vector("reservation", reservation, n)
    limit_a = None if limit is None else as_vector("limit", limit, n)
    return _core.fair_share(capacity, demand_a, shares_a, reservation_a, limit_a)
