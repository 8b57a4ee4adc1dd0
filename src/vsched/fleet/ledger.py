"""The coordinator's admission ledger of a host held by a shard (``docs/fleet.md``, rule F19).

A sharded backend cannot ask a remote host whether it takes a VM without a
round trip per placement. The coordinator therefore keeps, per host, a
:class:`vsched.Host` over engines that only hand out ids: the same admission
code (rule H3, exact reservation sums included) runs on the same sequence of
adds and removes as the real host, so it refuses exactly when the real host
would and predicts the id the real host gives (ids count up, never reused).
"""

from __future__ import annotations

from typing import Any

from ..host import Host
from .spec import HostSpec

__all__ = ["ledger_host"]


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
    """An engine set whose engines keep no state but ids: admission is all the ledger runs."""

    IMPLEMENTATION = "ledger"
    CpuScheduler = MemoryManager = Reallocator = _Ids

    @staticmethod
    def fair_share(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("an admission ledger does not run ticks")


def ledger_host(spec: HostSpec, tick_seconds: int) -> Host:
    """A host of `spec` that admits, numbers and removes VMs like the real one, and nothing else."""
    return spec.build(Host, tick_seconds, engines=_LedgerEngines())
