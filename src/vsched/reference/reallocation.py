"""Pure-Python sliding-window reallocator: the oracle for ``vsched.Reallocator``.

Same rules (see the docstring of :class:`vsched.Reallocator`). Each VM's window
is a plain list, oldest sample first; ``max`` and ``percentile`` are computed
from scratch over it (the native core keeps block prefix/suffix maxima, sorted windows
and rank bands instead), so agreement checks those structures. The running sum and
the EWMA do the same float operations in the same order as the core, and the
divisions use ``vsched.reference.allocation.fair_share``, so native and
reference agree bit for bit.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from .._state import Checkpointable
from ..errors import AdmissionError
from .._realloc_args import (
    VM_STATE_FORMAT,
    VmState,
    check_types,
    check_vm_types,
    usage_matrix,
    usage_vector,
    vm_key,
    vm_state_args,
)
from ..reallocation_metrics import ReallocMetrics, realloc_metrics
from .allocation import fair_share, floors_exceed

__all__ = ["ESTIMATORS", "ReallocMetrics", "Reallocator", "VmState", "realloc_metrics"]

_MAX_WINDOW = 1_000_000
_MAX_SHARES = 2**53
_SATURATION = 1.0 - 1e-9  # a sample this close below the entitlement has reached it


class _Vm:
    """One VM: parameters, window (oldest first) and saturation flag."""

    def __init__(self, size: float, shares: float, reservation: float, limit: float) -> None:
        self.size = size
        self.shares = shares
        self.reservation = reservation
        self.limit = limit
        self.window: list[float] = []
        self.total = 0  # samples pushed since the VM was added
        self.sum = 0.0  # running sum of the window
        self.ewma = 0.0
        self.saturated = False
        self.extra: dict[str, Any] = {}  # state of an estimator with a push hook

    @property
    def ceiling(self) -> float:
        return min(self.size, self.limit)

    def plain(self) -> list:
        """Everything as plain data (a checkpoint row)."""
        return [self.size, self.shares, self.reservation, self.limit, list(self.window), self.total, self.sum,
                self.ewma, self.saturated, {k: list(v) if isinstance(v, list) else v for k, v in self.extra.items()}]

    @classmethod
    def from_plain(cls, row: list) -> _Vm:
        state = cls(*row[:4])
        state.window, state.total, state.sum, state.ewma, state.saturated = list(row[4]), *row[5:9]
        extra = row[9] if len(row) > 9 else {}
        state.extra = {k: list(v) if isinstance(v, list) else v for k, v in dict(extra).items()}
        return state


def _percentile(values: list[float], quantile: float) -> float:
    """numpy.percentile(values, 100 * quantile) with the default linear method."""
    ordered = sorted(values)
    h = float(len(ordered) - 1) * quantile
    lo = math.floor(h)
    gamma = h - lo
    below = ordered[lo]
    above = ordered[lo + 1] if lo + 1 < len(ordered) else below
    diff = above - below
    return above - diff * (1.0 - gamma) if gamma >= 0.5 else below + diff * gamma


# -- the estimators ------------------------------------------------------------
# One class per estimator (the native registry has one struct each, in the same
# order: csrc/include/vsched/usage_window.hpp). ``statistic`` is computed from
# scratch over the VM's window (oldest first) and state; an estimator whose
# state is not a function of the window sets ``keeps_state`` and says how to
# export and import it (``fields`` / ``check_fields`` / ``restore``).


class _Max:
    keeps_state = False

    @staticmethod
    def statistic(vm: _Vm, r: Reallocator) -> float:
        return max(vm.window)


class _Mean:
    keeps_state = False

    @staticmethod
    def statistic(vm: _Vm, r: Reallocator) -> float:
        return vm.sum / float(len(vm.window))


class _Percentile:
    keeps_state = False

    @staticmethod
    def statistic(vm: _Vm, r: Reallocator) -> float:
        return _percentile(vm.window, r._quantile)


class _Ewma:
    """ewma_1 = x_1, ewma_t = ewma_{t-1} + alpha (x_t - ewma_{t-1}) (kept by _push for every VM)."""

    keeps_state = True

    @staticmethod
    def statistic(vm: _Vm, r: Reallocator) -> float:
        return vm.ewma

    @staticmethod
    def fields(vm: _Vm) -> dict:
        return {"ewma": vm.ewma}

    @staticmethod
    def check_fields(fields: dict[str, list[float]]) -> None:
        if "ewma" not in fields or len(fields["ewma"]) != 1:
            raise ValueError("estimator_state must hold 'ewma' (a float) for the ewma estimator")
        value = fields["ewma"][0]
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"estimator_state['ewma'] = {value!r}: it must be finite and >= 0")

    @staticmethod
    def restore(vm: _Vm, fields: dict[str, list[float]]) -> None:
        vm.ewma = fields["ewma"][0]


class _DecayedHistogram:
    """Percentile of an exponentially decayed histogram (the rule: docs/engines/reallocator.md).

    Mirrors csrc/core/decayed_histogram.cpp operation for operation: 200
    buckets, width_0 = 0.01, width_{i+1} = 1.05 width_i; sample weights
    w_t = w_{t-1} 2^(1/W) (the first 1), everything times 2^-64 once w_t > 2^64;
    the statistic is the upper edge of the lowest weighted bucket whose
    cumulative weight reaches p * total.
    """

    keeps_state = True
    buckets = 200
    _edges_cache: list[float] | None = None

    @classmethod
    def edges(cls) -> list[float]:
        if cls._edges_cache is None:
            edges, width = [0.0], 0.01
            for _ in range(cls.buckets):
                edges.append(edges[-1] + width)
                width = width * 1.05
            cls._edges_cache = edges
        return cls._edges_cache

    @classmethod
    def empty(cls) -> dict:
        return {"histogram": [0.0] * cls.buckets, "total": 0.0, "weight": 0.0}

    @classmethod
    def push(cls, vm: _Vm, sample: float, r: Reallocator) -> None:
        state = vm.extra or cls.empty()
        vm.extra = state
        hist = state["histogram"]
        w = 1.0 if state["weight"] == 0.0 else state["weight"] * r._growth
        if w > 2.0**64:
            for i in range(cls.buckets):
                hist[i] = hist[i] * 2.0**-64
            state["total"] = state["total"] * 2.0**-64
            w = w * 2.0**-64
        i = min(bisect.bisect_right(cls.edges(), sample) - 1, cls.buckets - 1)
        hist[i] = hist[i] + w
        state["total"] = state["total"] + w
        state["weight"] = w

    @classmethod
    def statistic(cls, vm: _Vm, r: Reallocator) -> float:
        state = vm.extra or cls.empty()
        hist = state["histogram"]
        weighted = [i for i, x in enumerate(hist) if x > 0.0]
        if not weighted:
            return 0.0
        threshold = r._quantile * state["total"]
        cumulative = 0.0
        for i in range(cls.buckets):
            cumulative = cumulative + hist[i]
            if hist[i] > 0.0 and cumulative >= threshold:
                return cls.edges()[i + 1]
        return cls.edges()[weighted[-1] + 1]

    @classmethod
    def fields(cls, vm: _Vm) -> dict:
        state = vm.extra or cls.empty()
        return {"histogram": list(state["histogram"]), "total": state["total"], "weight": state["weight"]}

    @classmethod
    def check_fields(cls, fields: dict[str, list[float]]) -> None:
        if (len(fields.get("histogram", ())) != cls.buckets or len(fields.get("total", ())) != 1
                or len(fields.get("weight", ())) != 1):
            raise ValueError(f"estimator_state must hold 'histogram' ({cls.buckets} floats), 'total' and 'weight' "
                             "for the decayed_histogram estimator")
        for x in fields["histogram"]:
            if not math.isfinite(x) or x < 0.0:
                raise ValueError(f"estimator_state['histogram'] holds {x!r}: weights must be finite and >= 0")
        for name in ("total", "weight"):
            x = fields[name][0]
            if not math.isfinite(x) or x < 0.0:
                raise ValueError(f"estimator_state['{name}'] = {x!r}: it must be finite and >= 0")

    @classmethod
    def restore(cls, vm: _Vm, fields: dict[str, list[float]]) -> None:
        vm.extra = {"histogram": [float(x) for x in fields["histogram"]], "total": fields["total"][0],
                    "weight": fields["weight"][0]}


# The registry: one line per estimator, in the native registry's order.
_REGISTRY: dict[str, Any] = {
    "max": _Max,
    "mean": _Mean,
    "percentile": _Percentile,
    "ewma": _Ewma,
    "decayed_histogram": _DecayedHistogram,
}
#: The usage estimators, in registry order (the same tuple as ``vsched.ESTIMATORS``).
ESTIMATORS: tuple[str, ...] = tuple(_REGISTRY)


class Reallocator(Checkpointable):
    """Reference twin of :class:`vsched.Reallocator` (same arguments, results, errors).

    Pure Python: no InUseError (the GIL serialises calls), and Ctrl-C may stop
    ``observe_many`` inside a tick (the native one stops between ticks).
    """

    _implementation = "reference"

    def __init__(
        self,
        capacity: float,
        window: int = 12,
        threshold: float = 0.75,
        estimator: str = "max",
        percentile: float = 95.0,
        headroom: float = 0.10,
    ) -> None:
        capacity, window, threshold, estimator, percentile, headroom = check_types(
            capacity, window, threshold, estimator, percentile, headroom
        )
        if not math.isfinite(capacity) or not capacity > 0.0:
            raise ValueError(f"capacity = {capacity!r}: capacity must be finite and > 0")
        if not 1 <= window <= _MAX_WINDOW:
            raise ValueError(f"window = {window}: window must be in [1, {_MAX_WINDOW}]")
        if not math.isfinite(threshold) or threshold < 0.0:
            raise ValueError(f"threshold = {threshold!r}: threshold must be finite and >= 0")
        if estimator not in _REGISTRY:
            choices = ", ".join(f"'{name}'" for name in ESTIMATORS)
            raise ValueError(f"estimator = '{estimator}': estimator must be one of {choices}")
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile = {percentile!r}: percentile must be in [0, 100]")
        if not math.isfinite(headroom) or headroom < 0.0:
            raise ValueError(f"headroom = {headroom!r}: headroom must be finite and >= 0")
        self._capacity = capacity
        self._window = window
        self._threshold = threshold
        self._estimator = estimator
        self._percentile = percentile
        self._headroom = headroom
        self._quantile = percentile / 100.0
        self._alpha = 2.0 / (float(window) + 1.0)  # EWMA span convention
        self._growth = 2.0 ** (1.0 / float(window))  # decayed_histogram: half-life W (libm pow, as the core)
        self._vms: dict[int, _Vm] = {}  # insertion order = vms order
        self._next_id = 0
        self._ticks = 0  # observed ticks: every W of them the sums are recomputed
        # Results are a pure function of the state: cached until it changes.
        self._base: np.ndarray | None = None
        self._entitlements: np.ndarray | None = None

    def _changed(self, params: bool) -> None:
        self._entitlements = None
        if params:
            self._base = None

    # -- VMs -----------------------------------------------------------------

    def _check_params(self, size: float, shares: int, reservation: float, limit: float | None) -> tuple:
        lim = math.inf if limit is None else limit
        if not math.isfinite(size) or size < 0.0:
            raise ValueError(f"size = {size!r}: size must be finite and >= 0")
        if not 1 <= shares <= _MAX_SHARES:
            raise ValueError(f"shares = {shares}: shares must be an integer in [1, 2**53]")
        if not math.isfinite(reservation) or reservation < 0.0:
            raise ValueError(f"reservation = {reservation!r}: reservation must be finite and >= 0")
        if math.isnan(lim) or lim < 0.0:
            raise ValueError(f"limit = {lim!r}: limit must be >= 0 (None or inf for no limit)")
        if reservation > size:
            raise AdmissionError(
                f"reservation {reservation!r} exceeds size {size!r} by {reservation - size!r}: "
                "a VM cannot be guaranteed more than it can use"
            )
        if lim < reservation:
            raise AdmissionError(
                f"limit {lim!r} is below reservation {reservation!r} by {reservation - lim!r}"
            )
        return size, float(shares), reservation, lim

    def _check_admission(self, vm: int | None, reservation: float) -> None:
        """sum(r) <= capacity * (1 + 1e-9), summed in vms order.

        VM `vm` (None: a new last one) counts with `reservation`.
        """
        floors = 0.0
        for key, state in self._vms.items():
            floors += reservation if key == vm else state.reservation
        if vm is None:
            floors += reservation
        if floors_exceed(floors, self._capacity):
            raise AdmissionError(
                f"reservations exceed capacity by {floors - self._capacity!r}: they would sum to "
                f"{floors!r} > capacity {self._capacity!r}"
            )

    def add_vm(
        self, size: float, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> int:
        params = self._check_params(*check_vm_types(size, shares, reservation, limit))
        if params[2] > 0.0:  # a zero reservation cannot raise the sum
            self._check_admission(None, params[2])
        return self._admit(_Vm(*params))

    def _admit(self, state: _Vm) -> int:
        vm = self._next_id
        self._vms[vm] = state
        self._next_id += 1
        self._changed(params=True)
        return vm

    def export_vm(self, vm: int) -> VmState:
        key = vm_key(vm)
        if key not in self._vms:
            raise KeyError(f"vm {key} is not on this host")
        state = self._vms[key]
        estimator = _REGISTRY[self._estimator]
        return {
            "vsched_vm": VM_STATE_FORMAT,
            "size": state.size,
            "shares": int(state.shares),
            "reservation": state.reservation,
            "limit": None if math.isinf(state.limit) else state.limit,
            "samples": list(state.window),
            "window_sum": state.sum,
            "samples_seen": state.total,
            "window": self._window,
            "saturated": state.saturated,
            "estimator": self._estimator,
            "estimator_state": estimator.fields(state) if estimator.keeps_state else {},
        }

    def import_vm(self, state: VmState) -> int:
        (size, shares, reservation, limit, samples, window_sum, seen, window, saturated, estimator,
         fields) = vm_state_args(state)
        params = self._check_params(size, shares, reservation, limit)
        samples_list = samples.tolist()
        for i, x in enumerate(samples_list):
            if not math.isfinite(x) or x < 0.0:
                raise ValueError(f"samples[{i}] = {x!r}: samples must be finite and >= 0")
        if math.isnan(window_sum) or window_sum < 0.0:
            raise ValueError(f"window_sum = {window_sum!r}: it must be >= 0")
        if len(samples_list) > seen or (not samples_list) != (seen == 0):
            raise ValueError(f"samples_seen = {seen} does not fit {len(samples_list)} samples in the window")
        if window < 1 or len(samples_list) > window:
            raise ValueError(f"window = {window} does not fit {len(samples_list)} samples in the window")
        mine = _REGISTRY[self._estimator]
        if mine.keeps_state:
            if estimator != self._estimator:
                raise ValueError(
                    f"cannot import into a '{self._estimator}' reallocator a VM exported from a '{estimator}' "
                    "one: its estimator state is not a function of the window and was not kept there"
                )
            mine.check_fields(fields)
        if params[2] > 0.0:
            self._check_admission(None, params[2])
        vm = _Vm(*params)
        vm.window = samples_list[-self._window :] if samples_list else []
        vm.total = seen
        vm.saturated = saturated
        if window == self._window:
            vm.sum = window_sum  # the source's running sum, drift included
        else:
            exact = 0.0  # summed oldest first, as at the end of a block
            for value in vm.window:
                exact += value
            vm.sum = exact
        if mine.keeps_state:
            mine.restore(vm, fields)
        return self._admit(vm)

    # -- checkpoints -------------------------------------------------------------

    def _checkpoint(self) -> Any:
        return {
            "config": [self._capacity, self._window, self._threshold, self._estimator, self._percentile,
                       self._headroom],
            "next_id": self._next_id,
            "ticks": self._ticks,
            "vms": [[vm, *state.plain()] for vm, state in self._vms.items()],
        }

    def _restore(self, payload: Any) -> None:
        try:
            self.__init__(*payload["config"])  # type: ignore[misc]  # validates the configuration
            self._next_id = int(payload["next_id"])
            self._ticks = int(payload["ticks"])
            self._vms = {int(row[0]): _Vm.from_plain(row[1:]) for row in payload["vms"]}
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"corrupt checkpoint of a reference Reallocator: {error!r}") from None

    def set_vm(
        self, vm: int, size: float, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> None:
        key = vm_key(vm)
        types = check_vm_types(size, shares, reservation, limit)  # types first, then values
        if key not in self._vms:
            raise KeyError(f"vm {key} is not on this host")
        state = self._vms[key]
        new_size, new_shares, new_reservation, new_limit = self._check_params(*types)
        if new_reservation > state.reservation:  # only a growing reservation can break the sum
            self._check_admission(key, new_reservation)
        state.size, state.shares, state.reservation, state.limit = (
            new_size,
            new_shares,
            new_reservation,
            new_limit,
        )
        self._changed(params=True)

    def remove_vm(self, vm: int) -> None:
        key = vm_key(vm)
        if key not in self._vms:
            raise KeyError(f"vm {key} is not on this host")
        del self._vms[key]
        self._changed(params=True)

    @property
    def vms(self) -> list[int]:
        return list(self._vms)

    def __len__(self) -> int:
        return len(self._vms)

    # -- windows -------------------------------------------------------------

    def _push(self, state: _Vm, sample: float) -> None:
        full = len(state.window) == self._window
        evicted = state.window.pop(0) if full else 0.0
        state.window.append(sample)
        state.total += 1
        if full:
            state.sum = (state.sum - evicted) + sample
        else:
            state.sum = state.sum + sample
        state.ewma = sample if state.total == 1 else state.ewma + self._alpha * (sample - state.ewma)
        push = getattr(_REGISTRY[self._estimator], "push", None)
        if push is not None:
            push(state, sample, self)

    def _statistic(self, state: _Vm) -> float:
        return _REGISTRY[self._estimator].statistic(state, self)

    # -- the rules -------------------------------------------------------------

    def _lists(self) -> tuple[list[_Vm], list[float], list[float], list[float], list[float]]:
        states = list(self._vms.values())
        return (
            states,
            [s.size for s in states],
            [s.shares for s in states],
            [s.reservation for s in states],
            [s.limit for s in states],
        )

    def base(self) -> np.ndarray:
        if self._base is None:
            _, size, shares, reservation, limit = self._lists()
            self._base = fair_share(self._capacity, size, shares, reservation, limit)
        return self._base.copy()

    @property
    def load(self) -> float:
        mean_sum = 0.0
        for state in self._vms.values():
            if state.window:
                mean_sum += state.sum / float(len(state.window))
        return mean_sum / self._capacity

    @property
    def lending(self) -> bool:
        return any(state.window for state in self._vms.values()) and self.load < self._threshold

    def estimates(self) -> np.ndarray:
        base = self.base().tolist()
        factor = 1.0 + self._headroom
        out = []
        for i, state in enumerate(self._vms.values()):
            if not state.window:
                out.append(base[i])
                continue
            e = min(state.ceiling, max(0.0, self._statistic(state) * factor))
            if state.saturated:
                e = max(e, base[i])
            out.append(e)
        return np.array(out, dtype=np.float64)

    def entitlements(self) -> np.ndarray:
        if self._entitlements is None:
            self._entitlements = self._compute_entitlements()
        return self._entitlements.copy()

    def _compute_entitlements(self) -> np.ndarray:
        states, _, shares, reservation, limit = self._lists()
        if not self.lending:
            return self.base()
        estimates = self.estimates().tolist()
        demand = [max(e, r) for e, r in zip(estimates, reservation)]
        first = [min(d, lim) for d, lim in zip(demand, limit)]
        wanted = 0.0
        for p in first:
            wanted += p
        if not wanted <= self._capacity:
            # Contended: pass 1 hands out the whole capacity, nothing is left.
            return fair_share(self._capacity, demand, shares, reservation, limit)
        left = self._capacity - wanted
        if not left > 0.0:
            return np.array(first, dtype=np.float64)
        ceiling = [s.ceiling for s in states]
        second = fair_share(left, [c - p for c, p in zip(ceiling, first)], shares).tolist()
        return np.array([min(c, p + q) for c, p, q in zip(ceiling, first, second)], dtype=np.float64)

    # -- observations ------------------------------------------------------------

    @staticmethod
    def _check_usage(rows: np.ndarray) -> None:
        bad = ~np.isfinite(rows) | (rows < 0.0)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            value = float(rows[where])
            label = ", ".join(str(i) for i in where)
            raise ValueError(f"usage[{label}] = {value!r}: usage must be finite and >= 0")

    def _tick(self, usage: list[float], cap_at_entitlement: bool) -> None:
        entitlement = self.entitlements().tolist()  # in force during this tick
        for state, u, x in zip(self._vms.values(), usage, entitlement):
            sample = min(u, x) if cap_at_entitlement else u
            state.saturated = sample >= x * _SATURATION
            self._push(state, sample)
        self._ticks += 1
        if self._ticks % self._window == 0:
            # Every W ticks (counted since the reallocator was made, so for all
            # VMs at once) each running sum is recomputed exactly, oldest first.
            for state in self._vms.values():
                exact = 0.0
                for value in state.window:
                    exact += value
                state.sum = exact
        self._changed(params=False)

    def observe(self, usage: Any) -> None:
        row = usage_vector(usage, len(self._vms))
        self._check_usage(row)
        self._tick(row.tolist(), False)

    def observe_many(self, usage: Any, cap_at_entitlement: bool = False) -> np.ndarray:
        if not isinstance(cap_at_entitlement, (bool, np.bool_)):
            raise TypeError(f"cap_at_entitlement must be a bool, got {type(cap_at_entitlement).__name__}")
        rows = usage_matrix(usage, len(self._vms))
        self._check_usage(rows)
        out = np.empty(rows.shape, dtype=np.float64)
        for t in range(rows.shape[0]):
            self._tick(rows[t].tolist(), bool(cap_at_entitlement))
            out[t] = self.entitlements()
        return out

    # -- configuration -------------------------------------------------------------

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def window(self) -> int:
        return self._window

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def estimator(self) -> str:
        return self._estimator

    @property
    def percentile(self) -> float:
        return self._percentile

    @property
    def headroom(self) -> float:
        return self._headroom

    def __repr__(self) -> str:
        return (
            f"Reallocator(capacity={self._capacity!r}, window={self._window}, threshold={self._threshold!r}, "
            f"estimator={self._estimator!r}, percentile={self._percentile!r}, headroom={self._headroom!r}; "
            f"{len(self)} VMs)"
        )
