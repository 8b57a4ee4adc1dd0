"""The coordinator's admission ledger of a host held by a shard (``docs/fleet.md``, rule F19).

A sharded backend cannot ask a remote host whether it takes a VM without a
round trip per placement. The coordinator therefore keeps, per host, a
ledger that runs the host's own admission code (``Host._record`` and
``Host._admit``, rule H3, exact reservation sums included) on the same
sequence of adds and removes as the real host, so it refuses exactly when the
real host would, with the same message, and predicts the id the real host
gives (ids count up, never reused). It keeps nothing else: the VMs' records
and the admission sums, so that an add or a remove costs a few microseconds
(the fleet's churn runs through it every tick).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from .._host_layout import VmRecord, exact
from ..host import Host
from .spec import HostSpec

__all__ = ["Ledger", "ledger_host"]


class _Ids:
    """An engine that only numbers VMs 0, 1, 2, ... as the real engines do (never reused)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._next = 0

    def add_vm(self, *args: Any, **kwargs: Any) -> int:
        self._next += 1
        return self._next - 1

    def remove_vm(self, vm: int) -> None:
        pass

    def import_vm(self, *args: Any, **kwargs: Any) -> int:
        return self.add_vm()


class _LedgerEngines:
    """An engine set whose engines keep no state but ids: the host built over it only admits."""

    IMPLEMENTATION = "ledger"
    CpuScheduler = MemoryManager = Reallocator = _Ids

    @staticmethod
    def fair_share(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("an admission ledger does not run ticks")


# (id(spec), tick) -> (spec kept alive, host, its records by add_vm's arguments: see Ledger.add_vm)
_TEMPLATES: dict[tuple[int, int], tuple[HostSpec, Host, dict[tuple[Any, ...], tuple[Any, ...]]]] = {}
_FIELDS = tuple(f.name for f in fields(VmRecord))


def _template(spec: HostSpec, tick_seconds: int) -> tuple[Host, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """A host of `spec` over the id engines: its parameters, validated by Host itself, built once
    per spec object (a fleet's hosts usually share one; HostSpec holds a dict, so is not hashable)."""
    key = (id(spec), tick_seconds)
    if key not in _TEMPLATES:
        if len(_TEMPLATES) >= 256:
            _TEMPLATES.clear()
        _TEMPLATES[key] = (spec, spec.build(Host, tick_seconds, engines=_LedgerEngines()), {})
    return _TEMPLATES[key][1], _TEMPLATES[key][2]


_EXACT: dict[float, int] = {}  # reservation -> exact(reservation): a fleet has a handful of values


def _exact(value: float) -> int:
    if value not in _EXACT:
        if len(_EXACT) >= 4096:
            _EXACT.clear()
        _EXACT[value] = exact(value)
    return _EXACT[value]


class _Sums:
    """What ``Host._admit`` reads of a host's layout: the admission sums and the records in VM order."""

    def __init__(self) -> None:
        self.records: dict[int, VmRecord] = {}  # by id; insertion order = ascending ids (never reused)
        self.exact_reservations: dict[int, int] = {}
        self.total_vcpus = 0
        self.total_pages = 0
        self.reserved_frames = 0
        self.reserved_cpu = 0  # exact (see `exact`), as the host's layout keeps it

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> np.ndarray:
        """The two columns the admission's slow path reads (near the CPU bound), in VM order."""
        if name == "reservations":
            return np.array([r.reservation for r in self.records.values()], dtype=np.float64)
        if name == "sched_ids":
            return np.array([r.sched_id for r in self.records.values()], dtype=np.int64)
        raise KeyError(name)

    def position(self, vm: int) -> int:
        return list(self.records).index(vm)


class Ledger:
    """One host's admission, ids and VM records, nothing else (rule F19).

    ``add_vm`` / ``remove_vm`` / ``vms`` behave as the host's: the same checks in the same
    order (the methods below *are* Host's), the same AdmissionError messages, the same ids.
    """

    # Host's own admission code, bound to this object: it reads only the attributes set in
    # __init__ (the host's parameters) and `_layout`'s sums and records.
    _record = Host._record
    _admit = Host._admit
    _engines_admit = Host._engines_admit
    _memory_reservation = Host._memory_reservation

    def __init__(self, spec: HostSpec, tick_seconds: int) -> None:
        host, self._records = _template(spec, tick_seconds)
        self.pcpus, self.memory_frames = host.pcpus, host.memory_frames
        self.max_vcpu_ratio, self.memory_reserve = host.max_vcpu_ratio, host.memory_reserve
        self.min_guarantee = host.min_guarantee
        self._exact_bound = host._exact_bound
        self.sliced = host.scheduler is not None
        self.scheduler = host.scheduler  # read by the admission only as "is there a scheduler"
        self._layout = _Sums()
        self._next_id = 0

    @property
    def vms(self) -> list[int]:
        """Live VM ids, ascending (the host's VM order)."""
        return list(self._layout.records)

    def __len__(self) -> int:
        return len(self._layout)

    def record(self, vm: int) -> VmRecord:
        return self._layout.records[vm]

    def add_vm(self, vcpus: int, memory_pages: int, shares: int | None = None, reservation: float | None = None,
               limit: float | None = None, domain: int = 0) -> int:
        """Admit as the host would (AdmissionError, nothing changes) and return the id it would give."""
        # Host's methods on a Ledger: they read only what __init__ sets (mypy cannot see that).
        # A fleet adds a handful of kinds of VM: the record Host._record makes of plain-typed
        # arguments is kept per host spec and made again from its fields (its checks passed).
        key = (vcpus, memory_pages, shares, reservation, limit, domain)
        plain = (type(vcpus) is int and type(memory_pages) is int and type(domain) is int
                 and (shares is None or type(shares) is int)  # floats: not 0.0, which would stand for -0.0 too
                 and (reservation is None or (type(reservation) is float and reservation != 0.0))
                 and (limit is None or (type(limit) is float and limit != 0.0)))
        made = self._records.get(key) if plain else None
        if made is None:
            record = self._record(vcpus, memory_pages, shares, reservation, limit, domain)  # type: ignore[misc]
            if plain:
                if len(self._records) >= 4096:
                    self._records.clear()
                self._records[key] = tuple(getattr(record, name) for name in _FIELDS)
        else:
            record = VmRecord(*made)
        self._admit(record)  # type: ignore[misc]
        vm = self._next_id
        self._next_id += 1
        # the id engines number a sliced host's scheduler VMs in the same sequence as the host's ids
        record.sched_id = vm if self.sliced else -1
        layout = self._layout
        layout.records[vm] = record
        reserved = _exact(record.reservation)
        layout.exact_reservations[vm] = reserved
        layout.total_vcpus += record.vcpus
        layout.total_pages += record.memory_pages
        layout.reserved_frames += record.memory_reservation
        layout.reserved_cpu += reserved
        return vm

    def remove_vm(self, vm: int) -> None:
        layout = self._layout
        record = layout.records.pop(vm)  # KeyError: not on this host
        layout.total_vcpus -= record.vcpus
        layout.total_pages -= record.memory_pages
        layout.reserved_frames -= record.memory_reservation
        layout.reserved_cpu -= layout.exact_reservations.pop(vm)


def ledger_host(spec: HostSpec, tick_seconds: int) -> Ledger:
    """The ledger of an empty host of `spec`: admits, numbers and removes VMs like the real one."""
    return Ledger(spec, tick_seconds)
