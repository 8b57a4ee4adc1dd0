"""What :meth:`vsched.Host.export_vm` returns and :meth:`vsched.Host.import_vm` takes.

Plain, picklable data, the same for both engine sets (docs/host.md, rule H6).
Imports no ``_core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["VM_STATE_FORMAT", "VmState"]

# Bump when a field changes meaning.
VM_STATE_FORMAT = 1


@dataclass(frozen=True)
class VmState:
    """One VM with its history, ready to be admitted by another host.

    ``reservation`` is None when it was the host's default (re-derived at the
    destination); ``realloc`` is the reallocator's ``export_vm`` (window
    samples, saturation, estimator state) and ``memory`` the memory
    manager's (each guest page's state and content, the VM's counters).
    ``net`` is the VM's network parameters (``band``, ``shares``,
    ``reservation``, ``limit`` in bps) on a host with a NIC, else None.
    """

    format: int
    vcpus: int
    memory_pages: int
    shares: int
    reservation: float | None
    limit: float | None
    domain: int
    realloc: dict[str, Any]
    memory: dict[str, Any]
    net: dict[str, Any] | None = None
