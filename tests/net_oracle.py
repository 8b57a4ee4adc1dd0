"""Independent oracle for the fluid NetScheduler: strict-priority water-filling in exact rationals.

Written from the rules of docs/engines/network.md (N1-N4), not from the engine:
every quantity is a ``fractions.Fraction``, and each band's weighted max-min
division is found by walking its breakpoints in order (progressive filling)
rather than by the kernel's bisection.
"""

from __future__ import annotations

from fractions import Fraction
import math


def water_fill(capacity: Fraction, ceiling: list, floor: list, shares: list) -> list:
    """Weighted max-min division of `capacity` with floors and ceilings (exact)."""
    if sum(ceiling, Fraction(0)) <= capacity:
        return list(ceiling)
    if sum(floor, Fraction(0)) >= capacity:
        return list(floor)
    # Raise the level through the breakpoints until the allocation reaches the capacity.
    points = sorted({f / w for f, w in zip(floor, shares)} | {u / w for u, w in zip(ceiling, shares)})

    def total(level: Fraction) -> Fraction:
        return sum((min(u, max(f, level * w)) for u, f, w in zip(ceiling, floor, shares)), Fraction(0))

    lower = Fraction(0)
    for point in points:
        if total(point) >= capacity:
            break
        lower = point
    # On [lower, point] the allocation is linear: growing VMs are those strictly between floor and ceiling.
    fixed = Fraction(0)
    growing = Fraction(0)
    for u, f, w in zip(ceiling, floor, shares):
        if f / w > lower:
            fixed += f
        elif u / w <= lower:
            fixed += u
        else:
            growing += w
    level = (capacity - fixed) / growing
    return [min(u, max(f, level * w)) for u, f, w in zip(ceiling, floor, shares)]


def strict_priority(link: float, caps: list, minimums: list, vms: list, demand: list) -> list:
    """vms: (band, shares, reservation, limit or None) per VM; returns the exact rate of each VM."""
    n_bands = len(caps)
    ceiling = [Fraction(d) if lim is None or math.isinf(lim) else min(Fraction(d), Fraction(lim))
               for d, (_, _, _, lim) in zip(demand, vms)]
    floor = [min(Fraction(r), u) for u, (_, _, r, _) in zip(ceiling, vms)]
    members = [[i for i, vm in enumerate(vms) if vm[0] == k] for k in range(n_bands)]
    exact_caps = [None if math.isinf(c) else Fraction(c) for c in caps]

    def setaside(k: int) -> Fraction:
        floors = sum((floor[i] for i in members[k]), Fraction(0))
        wanted = sum((ceiling[i] for i in members[k]), Fraction(0))
        if exact_caps[k] is not None:
            wanted = min(wanted, exact_caps[k])
        return max(floors, min(Fraction(minimums[k]), wanted))

    out = [Fraction(0)] * len(vms)
    left = Fraction(link)
    for k in range(n_bands):
        keep_for_lower = sum((setaside(j) for j in range(k + 1, n_bands)), Fraction(0))
        capacity = max(setaside(k), left - keep_for_lower)
        if exact_caps[k] is not None:
            capacity = min(capacity, exact_caps[k])
        m = members[k]
        rates = water_fill(capacity, [ceiling[i] for i in m], [floor[i] for i in m],
                           [Fraction(vms[i][1]) for i in m])
        for i, a in zip(m, rates):
            out[i] = a
        left -= sum(rates, Fraction(0))
    return out
