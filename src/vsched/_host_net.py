"""The host's NIC: one NetScheduler, the VMs' network parameters and the network part of a tick.

Kept apart from ``host.py`` so that a host without a NIC (``nic_bps=None``)
runs exactly the code it ran before. The rules are H9-H11 in docs/host.md;
the engine's own rules N1-N11 in docs/engines/network.md. Imports no ``_core``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import as_float, as_int
from .errors import AdmissionError

__all__ = ["NET_METRICS", "NET_TOTALS", "HostNic", "NetParams"]

# Per-VM network metrics recorded every tick when the host has a NIC (ticks x VMs).
NET_METRICS = {
    "net_demand": "bps the VM offered",
    "net_used": "bps the VM received (fluid allocation of the NIC)",
    "net_unmet": "bps offered but not received",
    "net_starved": "1 when the VM offered traffic and received none (strict priority starvation), else 0",
    "net_drops": "packets tail-dropped over the tick: those offered beyond the VM's rate, less one full queue",
    "net_delay_p99": "99th percentile queueing delay of the sampled window (s; NaN when nothing was sent)",
}
NET_TOTALS = {
    "net_load": "sum of offered bps / NIC bps",
    "net_utilization": "sum of received bps / NIC bps",
}

_PHASE = 2654435761  # Knuth's multiplicative hash: spreads the VMs' first packets over a period


@dataclass(frozen=True)
class NetParams:
    """One VM's network parameters (band, shares, reservation and limit in bps)."""

    band: int
    shares: int
    reservation: float
    limit: float | None


class HostNic:
    """The NIC of a host: a NetScheduler whose VM order is the host's VM order.

    Net ids are handed out in the host's admission order and never reused, so
    the scheduler's id order is the host's VM order (rule H1) without a map.
    """

    def __init__(self, engines: Any, nic_bps: Any, bands: Any, guard: Any, sample_ns: Any, packet_bytes: Any,
                 queue_bytes: Any) -> None:
        if not hasattr(engines, "NetScheduler"):
            raise TypeError("engines has no NetScheduler: a Host with nic_bps needs one (vsched, vsched.reference)")
        self.sample_ns = as_int("net_sample_ns", sample_ns)
        if not 0 <= self.sample_ns <= 2**31:
            raise ValueError(f"net_sample_ns = {self.sample_ns}: must be in [0, 2**31] (0: no packet sample)")
        self.packet_bytes = as_int("net_packet_bytes", packet_bytes)
        if not 64 <= self.packet_bytes <= 65536:
            raise ValueError(f"net_packet_bytes = {self.packet_bytes}: must be in [64, 65536]")
        self.queue_bytes = as_int("net_queue_bytes", queue_bytes)
        if not self.packet_bytes <= self.queue_bytes <= 2**40:
            raise ValueError(f"net_queue_bytes = {self.queue_bytes}: must be in [net_packet_bytes, 2**40]")
        self.net = engines.NetScheduler(nic_bps, bands=bands, guard=guard)

    # ------------------------------------------------------------ VMs

    def params(self, band: Any, shares: Any, reservation: Any, limit: Any) -> NetParams:
        """Types and defaults (band None: the lowest band, best effort); values are the engine's to check."""
        band = self.net.bands - 1 if band is None else as_int("net_band", band)
        shares = 1000 if shares is None else as_int("net_shares", shares)
        reservation = 0.0 if reservation is None else as_float("net_reservation", reservation)
        limit = None if limit is None else as_float("net_limit", limit)
        return NetParams(band, shares, reservation, limit)

    def add(self, p: NetParams) -> int:
        """Admit the VM's network part (first of the engines: a refusal changes nothing)."""
        return int(self._engine_call(self.net.add_vm, band=p.band, shares=p.shares, reservation=p.reservation,
                                     limit=p.limit))

    def set(self, net_id: int, p: NetParams) -> None:
        """Replace the VM's network parameters (the engine's admission; a refusal changes nothing)."""
        self._engine_call(self.net.set_vm, net_id, band=p.band, shares=p.shares, reservation=p.reservation,
                          limit=p.limit)

    @staticmethod
    def _engine_call(method: Any, *args: Any, **kwargs: Any) -> Any:
        """The engine's refusals, naming the network as their source."""
        try:
            return method(*args, **kwargs)
        except AdmissionError as refusal:
            raise AdmissionError(f"network: {refusal}") from None
        except (TypeError, ValueError) as error:
            raise type(error)(f"network: {error}") from None

    def remove(self, net_id: int) -> None:
        self.net.remove_vm(net_id)

    # ------------------------------------------------------------ the tick

    def validated_demand(self, net_demand: Any, n: int) -> np.ndarray:
        """bps offered per VM (VM order), finite and >= 0; None = nothing offered."""
        if net_demand is None:
            return np.zeros(n)
        demand = np.asarray(net_demand)
        if demand.dtype.kind not in "iuf":
            raise TypeError(f"net_demand must be a numeric array, got dtype {demand.dtype}")
        if demand.shape != (n,):
            raise ValueError(f"net_demand has shape {demand.shape}, expected ({n},) (one entry per VM, in VM order)")
        demand = demand.astype(float)  # a copy
        bad = np.flatnonzero(~np.isfinite(demand) | (demand < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"net_demand[{i}] = {demand[i]!r}: must be finite and >= 0 (bps)")
        return demand

    def sample_packets(self, ids: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sampled window's packets (rule H10) as (VM position, arrival, size): VM j offers
        o_j = min(d_j, NIC) as packets of S bytes every P_j = min(floor(S·8e9 / o_j), 2^31) ns
        from phase_j = floor(h_j·P_j / 2^32), h_j = id_j·2654435761 mod 2^32; arrivals phase_j + k·P_j
        below W, merged in arrival order (ties: VM order)."""
        sending, period = self.periods(demand)
        if sending.size == 0 or self.sample_ns == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        hashed = (ids[sending].astype(np.uint64) * np.uint64(_PHASE)) % np.uint64(2**32)
        phase = (hashed.astype(np.int64) * period) >> 32  # < 2^32 · 2^31: exact in int64
        window = self.sample_ns
        count = np.where(phase < window, (window - 1 - phase) // period + 1, 0)
        owner = np.repeat(np.arange(sending.size), count)
        k = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        arrival = phase[owner] + k * period[owner]
        # Arrival order, ties in VM order: one sort of the unique keys arrival·m + owner (< 2^31 · 2^31),
        # several times faster than a stable argsort.
        m = np.int64(sending.size)
        key = np.sort(arrival * m + owner)
        arrival = key // m
        return sending[key - arrival * m], arrival, np.full(owner.size, self.packet_bytes, dtype=np.int64)

    def periods(self, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The VMs that offer traffic (positions) and their packet periods P_j (ns, rule H10)."""
        offered = np.minimum(demand, self.net.link_bps)  # the engine applies limits and reservations (N12)
        sending = np.flatnonzero(offered > 0)
        period = np.minimum(np.floor(self.packet_bytes * 8e9 / offered[sending]), 2.0**31).astype(np.int64)
        return sending, np.maximum(period, 1)

    def drops(self, demand: np.ndarray, used: np.ndarray, tick_seconds: int) -> np.ndarray:
        """Packets the tick's traffic drops (rule H10): none for a VM that gets what it offers; else
        tick / P_j offered, used_j·tick / (8 S) sent, less the floor(Q / S) its queue holds (it fills
        once, then every packet beyond the VM's rate is dropped)."""
        drops = np.zeros(demand.shape[0])
        sending, period = self.periods(demand)
        short = used[sending] < np.minimum(demand[sending], self.net.link_bps) * (1 - 1e-9)
        sending, period = sending[short], period[short]
        offered = tick_seconds * 1e9 / period
        sent = used[sending] * tick_seconds / (8.0 * self.packet_bytes)
        drops[sending] = np.maximum(offered - sent - self.queue_bytes // self.packet_bytes, 0.0)
        return drops

    def tick(self, ids: np.ndarray, demand: np.ndarray, tick_seconds: int) -> dict[str, np.ndarray]:
        """The network part of one tick (rules H9-H10): fluid rates, then the sampled packets."""
        net = self.net
        used = np.asarray(net.allocate(demand), dtype=float)
        starved = np.asarray(net.starved(), dtype=float)
        n = demand.shape[0]
        # A full tick of packets costs too much (a 25 Gbps NIC offers ~6e8 packets in 300 s); its drops
        # are those of the fluid rates (the packet engine's long-run throughput, N11), see drops().
        drops = self.drops(demand, used, tick_seconds)
        delay = np.full(n, math.nan)
        position, arrival, size = self.sample_packets(ids, demand)
        if position.size:
            net_vms = np.asarray(net.vms, dtype=np.int64)  # the host's VM order (see the class)
            run = net.simulate_packets(net_vms[position], arrival, size, queue_bytes=self.queue_bytes,
                                       quantum_bytes=self.packet_bytes)
            delay = run.delay_p99_ns / 1e9
        nic = net.link_bps
        return {
            "net_demand": demand,
            "net_used": used,
            "net_unmet": np.maximum(demand - used, 0.0),
            "net_starved": starved,
            "net_drops": drops,
            "net_delay_p99": delay,
            "net_load": np.array(demand.sum() / nic),
            "net_utilization": np.array(used.sum() / nic),
        }
