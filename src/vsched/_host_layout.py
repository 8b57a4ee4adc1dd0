"""The host's per-VM records and arrays, kept up to date one VM at a time.

Every per-VM array is in *VM order*: ascending host VM id (ids are handed out
in increasing order and never reused, so appending keeps the order and a
position is found by binary search). Appends are amortised O(1) (capacity
doubling); a removal shifts the arrays once (one memmove, no Python loop).
The admission sums are kept beside them, so admission never walks the VMs.
Imports no ``_core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["VmRecord", "VmLayout", "exact"]

_EXACT_SCALE = 1074  # every finite float times 2**1074 is an integer


def exact(value: float) -> int:
    """`value` * 2**1074 as an int: floats summed this way have no rounding at all."""
    numerator, denominator = float(value).as_integer_ratio()
    return numerator * ((1 << _EXACT_SCALE) // denominator)


@dataclass
class VmRecord:
    """One VM's parameters and its ids inside each engine (internal: users see only the host id)."""

    vcpus: int
    memory_pages: int
    shares: int
    reservation: float
    reservation_is_default: bool
    limit: float | None
    domain: int
    memory_reservation: int
    memory_id: int
    sched_id: int  # -1 on a fluid host
    realloc_id: int = -1
    net: Any = None  # NetParams on a host with a NIC (vsched._host_net), else None
    net_id: int = -1

    @property
    def own_cap(self) -> float:
        """min(limit, vcpus): the cap when the reallocator does not cap."""
        return float(self.vcpus) if self.limit is None else min(self.limit, float(self.vcpus))


# Columns kept per VM: name -> dtype.
_COLUMNS: dict[str, Any] = {
    "ids": np.int64,
    "vcpus": np.int64,
    "pages": np.int64,
    "shares": np.float64,
    "reservations": np.float64,
    "own_caps": np.float64,
    "memory_ids": np.int64,
    "sched_ids": np.int64,
    "major_seen": np.int64,  # the VM's cumulative major faults at the end of the previous tick
    "cow_seen": np.int64,  # its cumulative copy-on-write breaks then
}


class VmLayout:
    """Per-VM columns in VM order, the records by id, and the admission sums."""

    def __init__(self) -> None:
        self.records: dict[int, VmRecord] = {}
        self._size = 0
        self._columns = {name: np.zeros(8, dtype=dtype) for name, dtype in _COLUMNS.items()}
        self.total_vcpus = 0
        self.total_pages = 0
        self.reserved_frames = 0
        self.reserved_cpu = 0  # exact (see `exact`): no drift however many VMs come and go
        self._vcpu_map: tuple[np.ndarray, np.ndarray] | None = None
        self._lookup: np.ndarray | None = None  # id -> position (-1: not here), built when asked

    def __len__(self) -> int:
        return self._size

    def column(self, name: str) -> np.ndarray:
        """A view of one column (length = number of VMs); do not keep it across changes."""
        return self._columns[name][: self._size]

    def position(self, vm: int) -> int:
        """Where VM `vm` (known to be here) sits in VM order."""
        return int(np.searchsorted(self.column("ids"), vm))

    def positions(self, vms: np.ndarray) -> tuple[np.ndarray, int]:
        """(positions, missing) of many ids: missing is the index in `vms` of the first id that is
        not a live VM (-1: all are). O(len(vms)): a table from id to position, rebuilt (O(VMs), in
        numpy) after a change; a batch of live ids costs a few passes over it, no masks."""
        if self._lookup is None:
            ids = self.column("ids")
            self._lookup = np.full(int(ids[-1]) + 2 if ids.size else 1, -1, dtype=np.int64)
            self._lookup[ids] = np.arange(ids.size, dtype=np.int64)
        table = self._lookup
        if vms.size == 0:
            return np.zeros(0, dtype=np.int64), -1
        if int(vms.min()) >= 0 and int(vms.max()) < table.size:
            at = table.take(vms)
            if int(at.min()) >= 0:
                return at, -1
        else:
            at = table.take(np.where((vms >= 0) & (vms < table.size), vms, table.size - 1))  # the last entry is -1
        return at, int(np.flatnonzero(at < 0)[0])

    def _row(self, vm: int, record: VmRecord, major: int, cow: int) -> dict[str, Any]:
        return {
            "ids": vm,
            "vcpus": record.vcpus,
            "pages": record.memory_pages,
            "shares": float(record.shares),
            "reservations": record.reservation,
            "own_caps": record.own_cap,
            "memory_ids": record.memory_id,
            "sched_ids": record.sched_id,
            "major_seen": major,
            "cow_seen": cow,
        }

    def _count(self, record: VmRecord, sign: int) -> None:
        self.total_vcpus += sign * record.vcpus
        self.total_pages += sign * record.memory_pages
        self.reserved_frames += sign * record.memory_reservation
        self.reserved_cpu += sign * exact(record.reservation)
        self._vcpu_map = None
        self._lookup = None

    def append(self, vm: int, record: VmRecord, major: int = 0, cow: int = 0) -> None:
        """Add VM `vm` (larger than every id here) at the end of VM order."""
        if self._size == self._columns["ids"].shape[0]:
            for name, array in self._columns.items():
                grown = np.zeros(2 * array.shape[0], dtype=array.dtype)
                grown[: self._size] = array[: self._size]
                self._columns[name] = grown
        for name, value in self._row(vm, record, major, cow).items():
            self._columns[name][self._size] = value
        self._size += 1
        self.records[vm] = record
        self._count(record, +1)

    def remove(self, vm: int) -> None:
        at = self.position(vm)
        for array in self._columns.values():
            array[at : self._size - 1] = array[at + 1 : self._size]
        self._size -= 1
        self._count(self.records.pop(vm), -1)

    def replace(self, vm: int, record: VmRecord, major: int, cow: int) -> None:
        """VM `vm` now has `record` (a resize)."""
        at = self.position(vm)
        self._count(self.records[vm], -1)
        for name, value in self._row(vm, record, major, cow).items():
            self._columns[name][at] = value
        self.records[vm] = record
        self._count(record, +1)

    def vcpu_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(scheduler VM id, index within its VM) of every vCPU in VM order; rebuilt after a change."""
        if self._vcpu_map is None:
            vcpus = self.column("vcpus")
            owners = np.repeat(self.column("sched_ids"), vcpus)
            starts = np.repeat(np.cumsum(vcpus) - vcpus, vcpus)
            self._vcpu_map = (owners, np.arange(owners.size, dtype=np.int64) - starts)
        return self._vcpu_map

    # pickling: the arrays trimmed to their size, the rest as is
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_columns"] = {name: self.column(name).copy() for name in self._columns}
        state["_vcpu_map"] = state["_lookup"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name, array in list(self._columns.items()):
            grown = np.zeros(max(8, 2 * array.shape[0]), dtype=array.dtype)
            grown[: array.shape[0]] = array
            self._columns[name] = grown
