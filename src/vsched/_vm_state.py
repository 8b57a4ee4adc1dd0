"""What :meth:`vsched.Host.export_vm` returns and :meth:`vsched.Host.import_vm` takes.

Plain, picklable data, the same for both engine sets (docs/host.md, rule H6).
Imports no ``_core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["READABLE_FORMATS", "VM_STATE_FORMAT", "VmState"]

# Bump when a field changes meaning. Format 2 added `scheduler`; a format-1
# state (no scheduler part) is still read: its vCPUs start afresh.
VM_STATE_FORMAT = 2
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True)
class VmState:
    """One VM with its history, ready to be admitted by another host (docs/host.md, rule H6).

    ``format``: the layout's version (``import_vm`` reads formats 1 and 2).
    ``vcpus``, ``memory_pages``, ``shares``, ``limit`` (cores, None = none)
    and ``domain`` (memory sharing domain): the VM's parameters;
    ``reservation`` is None when it was the host's default (re-derived at the
    destination). ``realloc`` is the reallocator's ``export_vm`` (window
    samples, saturation, estimator state), ``memory`` the memory manager's
    (each guest page's state and content, the VM's counters) and
    ``scheduler`` the CPU scheduler's (per vCPU its run / ready / limited /
    wait time and switches) when the VM ran on a sliced host, else None.
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
    scheduler: dict[str, Any] | None = None
    net: dict[str, Any] | None = None
