"""Network QoS for a host's NIC: strict priority across bands, shares / reservations / limits within one."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._net_args import (
    NetGuard,
    PacketRun,
    check_vm_types,
    demand_vector,
    guard_vectors,
    packet_arrays,
    packet_options,
    packet_run,
    vm_key,
)
from ._state import Checkpointable
from ._validate import as_float

__all__ = ["NetGuard", "NetScheduler", "PacketRun"]


class NetScheduler(Checkpointable):
    """Divides a link of ``link_bps`` among VMs in ``bands`` strict-priority bands.

    Band 0 is served first. VM i has a band, shares (integer in [1, 2**32]),
    a reservation (bps, a floor) and a limit (bps, ``None`` = none).

    - Admission (``add_vm``/``set_vm`` raise :class:`vsched.AdmissionError`,
      nothing changed): limit >= reservation; the reservations of each band
      fit its cap; sum over bands of max(reservations, minimum) fits the link
      (each sum in id order, with the fair-share kernel's 1e-9 slack).
    - Fluid (``allocate``): per band k from the highest, capacity
      C_k = min(cap_k, max(G_k, R_k - B_k)) where R_k is what the higher bands
      left, G_k = max(F_k, min(m_k, U_k, cap_k)) the band's set-aside (F_k its
      floors, U_k its ceilings, m_k its guard minimum) and B_k the set-asides
      of all lower bands; within the band ``vsched.fair_share(C_k, demand,
      shares, reservation, limit)``.
    - Starvation: a VM that wants bandwidth (min(demand, limit) > 0) and gets
      none is starved (``starved()``, ``starved_ticks()``); a guard
      (:class:`NetGuard`) caps bands or keeps minimums for lower bands.
    - Packets (``simulate_packets``): per-VM FIFO queues with tail drop, SPQ
      across bands, deficit round robin within one, the guard as token
      buckets; a pure function of the configuration and the packets.

    One object, one thread at a time (:class:`vsched.InUseError`); pickling
    and copying give independent objects that continue bit for bit. Native
    and reference agree bit for bit. See docs/engines/network.md.
    """

    _implementation = "native"

    def __init__(self, link_bps: float, bands: int = 3, guard: NetGuard | None = None) -> None:
        link = as_float("link_bps", link_bps)
        nbands, caps, minimums = guard_vectors(guard, bands)
        self._core = _core.NetScheduler(link, nbands, caps, minimums)

    def add_vm(self, band: int = 0, shares: int = 1000, reservation: float = 0.0, limit: float | None = None) -> int:
        """Admit a VM; returns its id (0, 1, 2, ..., never reused). AdmissionError if a guarantee would break."""
        return int(self._core.add_vm(*check_vm_types(band, shares, reservation, limit)))

    def set_vm(
        self, vm: int, band: int = 0, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> None:
        """Replace every parameter of VM `vm` (unnamed ones take the add_vm defaults)."""
        vm_id = vm_key(vm)
        self._core.set_vm(vm_id, *check_vm_types(band, shares, reservation, limit))

    def remove_vm(self, vm: int) -> None:
        """Remove VM `vm`; KeyError if it is not on this host."""
        self._core.remove_vm(vm_key(vm))

    def band_of(self, vm: int) -> int:
        """The band of VM `vm` (KeyError if unknown)."""
        return int(self._core.band_of(vm_key(vm)))

    @property
    def vms(self) -> list[int]:
        """VM ids in the order of every array in and out."""
        return list(self._core.vms())

    def allocate(self, demand_bps: Any) -> np.ndarray:
        """One fluid tick: the rate (bps) of each VM given its offered load, in ``vms`` order."""
        return self._core.allocate(demand_vector(demand_bps, len(self._core)))

    def starved(self) -> np.ndarray:
        """Of the last ``allocate``: True for each VM that wanted bandwidth and got none."""
        return self._core.starved()

    def starved_ticks(self) -> np.ndarray:
        """Ticks each VM has been starved since it was added (int64)."""
        return self._core.starved_ticks()

    def simulate_packets(
        self,
        vm: Any,
        arrival_ns: Any,
        size_bytes: Any,
        queue_bytes: int = 262144,
        quantum_bytes: int = 1500,
        burst_bytes: int = 0,
    ) -> PacketRun:
        """Send the packets (VM id, arrival, size per packet, in arrival order) over the link.

        ``queue_bytes``: each VM's queue limit (tail drop); ``quantum_bytes``:
        the DRR quantum of a VM with 1000 shares (proportional to shares);
        ``burst_bytes``: the depth of the guard's token buckets (0: the
        largest packet). Nothing changes; Ctrl-C stops the run.
        """
        vm_a, arrival_a, size_a = packet_arrays(vm, arrival_ns, size_bytes)
        options = packet_options(queue_bytes, quantum_bytes, burst_bytes)
        start, finish = self._core.simulate_packets(vm_a, arrival_a, size_a, *options)
        return packet_run(self.vms, vm_a, arrival_a, size_a, start, finish)

    def _checkpoint(self) -> Any:
        return {"state": self._core._save()}

    def _restore(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("state"), bytes):
            raise ValueError("not a checkpoint of a native NetScheduler (no state bytes)")
        self._core = _core.NetScheduler._load(payload["state"])

    @property
    def link_bps(self) -> float:
        return float(self._core.link_bps)

    @property
    def bands(self) -> int:
        return int(self._core.bands)

    @property
    def guard(self) -> NetGuard:
        """The guard in force (caps as inf when none, minimums as 0)."""
        return NetGuard(caps=tuple(self._core.caps), minimums=tuple(self._core.minimums))

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return f"NetScheduler(link_bps={self.link_bps!r}, bands={self.bands}, guard={self.guard!r}; {len(self)} VMs)"
