"""Argument types and packet-run statistics shared by both NetScheduler twins.

Only *types and shapes* are checked here; each implementation checks values
itself, so the reference stays an independent oracle for the native checks.
The statistics of a packet run (``PacketRun``) are computed once, here, from
the per-packet times both engines return. Imports no ``_core``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import as_float, as_int, as_int_vector, as_vector

__all__ = ["NetGuard", "PacketRun", "check_vm_types", "demand_vector", "guard_vectors", "packet_arrays", "packet_run"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class NetGuard:
    """Starvation guard of a NetScheduler, one entry per band (docs/engines/network.md, N3).

    ``caps[k]``: band k never gets more than this many bps (``None`` or inf: no cap).
    ``minimums[k]``: this many bps are kept for band k (up to what it wants)
    before any higher band is served (0: none). Either may be ``None``: no caps
    / no minimums. A minimum for the lowest band alone is ``minimums=(0, 0, m)``.
    """

    caps: tuple | list | None = None
    minimums: tuple | list | None = None


def _int64(name: str, value: Any) -> int:
    number = as_int(name, value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{name} = {number}: {name} is outside the int64 range")
    return number


def guard_vectors(guard: Any, bands: Any) -> tuple[int, list[float], list[float]]:
    """(bands, caps, minimums): the guard as two lists (empty: none); TypeError / ValueError on shape."""
    nbands = _int64("bands", bands)
    if guard is None:
        return nbands, [], []
    if not isinstance(guard, NetGuard):
        raise TypeError(f"guard must be a vsched.NetGuard or None, got {type(guard).__name__}")
    out = []
    for name, values, none_means in (("caps", guard.caps, math.inf), ("minimums", guard.minimums, 0.0)):
        if values is None:
            out.append([])
            continue
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"guard {name} must be a sequence, got {type(values).__name__}")
        if len(values) != nbands:
            raise ValueError(f"guard {name} has length {len(values)}, expected {nbands} (one per band)")
        out.append([none_means if v is None else as_float(f"guard {name}[{k}]", v) for k, v in enumerate(values)])
    return nbands, out[0], out[1]


def check_vm_types(band: Any, shares: Any, reservation: Any, limit: Any) -> tuple[int, int, float, float | None]:
    """Type checks of a VM's parameters (values are checked by each implementation)."""
    return (
        _int64("band", band),
        _int64("shares", shares),
        as_float("reservation", reservation),
        None if limit is None else as_float("limit", limit),
    )


def vm_key(value: Any) -> int:
    """A VM id: an int (TypeError otherwise); one outside int64 is on no host (KeyError)."""
    vm = as_int("vm", value)
    if not _INT64_MIN <= vm <= _INT64_MAX:
        raise KeyError(f"vm {vm} is not on this host")
    return vm


def demand_vector(value: Any, n: int) -> np.ndarray:
    """One offered load per VM (bps): a numeric 1-D array of length `n` (types, shape, representability)."""
    array = as_vector("demand_bps", value)
    if array.shape[0] != n:
        raise ValueError(f"demand_bps has length {array.shape[0]}, expected {n} (one per VM)")
    return array


def packet_arrays(vm: Any, arrival_ns: Any, size_bytes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three per-packet arrays as int64, of one length (types, shapes, the int64 field).

    An element outside int64 is an id no VM has (KeyError) in `vm`, a bad value
    (ValueError) in the others (docs/design.md, "Errors").
    """
    arrays = (as_int_vector("vm", vm, KeyError), as_int_vector("arrival_ns", arrival_ns),
              as_int_vector("size_bytes", size_bytes))  # fmt: skip
    for name, array in zip(("arrival_ns", "size_bytes"), arrays[1:]):
        if array.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"{name} has length {array.shape[0]}, expected {arrays[0].shape[0]} (one per packet)")
    return arrays


def packet_options(queue_bytes: Any, quantum_bytes: Any, burst_bytes: Any) -> tuple[int, int, int]:
    return (_int64("queue_bytes", queue_bytes), _int64("quantum_bytes", quantum_bytes), _int64("burst_bytes", burst_bytes))


@dataclass(frozen=True)
class PacketRun:
    """What a packet run did. Per packet (input order): ``start_ns`` (start of
    transmission) and ``finish_ns``, -1 for a dropped packet. Per VM (``vms``
    order): packets and bytes sent, packets dropped, throughput over the run
    (bytes sent · 8e9 / ``duration_ns``, the span from the first arrival to
    the last finish), and queueing delay (start − arrival, ns) median, 99th
    percentile (linear interpolation between ranks) and maximum (NaN: none sent).
    """

    vms: list
    start_ns: np.ndarray
    finish_ns: np.ndarray
    duration_ns: int
    sent_packets: np.ndarray
    sent_bytes: np.ndarray
    dropped_packets: np.ndarray
    throughput_bps: np.ndarray
    delay_p50_ns: np.ndarray
    delay_p99_ns: np.ndarray
    delay_max_ns: np.ndarray


def packet_run(vms: list, start_ns: np.ndarray, finish_ns: np.ndarray, duration_ns: int, sent_packets: Any,
               sent_bytes: Any, dropped_packets: Any, throughput_bps: Any, delay_p50_ns: Any, delay_p99_ns: Any,
               delay_max_ns: Any) -> PacketRun:
    """A PacketRun from what an engine computed (docs/engines/network.md, N11)."""
    return PacketRun(
        vms=list(vms),
        start_ns=np.asarray(start_ns, dtype=np.int64),
        finish_ns=np.asarray(finish_ns, dtype=np.int64),
        duration_ns=int(duration_ns),
        sent_packets=np.asarray(sent_packets, dtype=np.int64),
        sent_bytes=np.asarray(sent_bytes, dtype=np.int64),
        dropped_packets=np.asarray(dropped_packets, dtype=np.int64),
        throughput_bps=np.asarray(throughput_bps, dtype=np.float64),
        delay_p50_ns=np.asarray(delay_p50_ns, dtype=np.float64),
        delay_p99_ns=np.asarray(delay_p99_ns, dtype=np.float64),
        delay_max_ns=np.asarray(delay_max_ns, dtype=np.float64),
    )
