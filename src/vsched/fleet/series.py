"""Per-VM series kept where the hosts run, written to Parquet by each shard (``docs/fleet.md``, rule F24).

A day of 100,000 VMs is 29 M VM-ticks: the coordinator keeps only per-host and fleet
series (the per-VM totals stay with the hosts too, :mod:`.totals`); with ``Fleet(..., vm_series=True)`` the pool that steps
the hosts (the serial pool, or each shard) also keeps, per tick and VM on a host,
its demand, CPU used and ready % as float32, and ``Fleet.export_parquet`` has
each shard write its own file (pyarrow, the ``parquet`` extra, imported only then).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .packed import TickInputs, TickSummaries

__all__ = ["COLUMNS", "VmSeries", "series_file", "needs_pyarrow"]

# column -> dtype. float32 keeps 24 bits: demand and used (cores, <= the VM's vCPUs) to ~1e-7
# relative, ready % to ~1e-5 points; ids and ticks stay exact.
COLUMNS = {"tick": np.int32, "vm": np.int64, "host": np.int32, "demand": np.float32, "used": np.float32,
           "ready_pct": np.float32}


def needs_pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise ImportError('export_parquet needs pyarrow: pip install "vsched[parquet]"') from None
    return pyarrow


def series_file(directory: str, shard: int) -> str:
    """Shard `shard`'s file in `directory` (the serial pool is shard 0)."""
    return os.path.join(directory, f"vm-series-{shard:03d}.parquet")


class VmSeries:
    """The per-VM rows of the ticks stepped here, one block per tick (VMs in host, then host VM order)."""

    def __init__(self) -> None:
        self._blocks: list[dict[str, np.ndarray]] = []

    def record(self, inputs: TickInputs, summaries: TickSummaries, hosts: np.ndarray | None = None) -> None:
        """One tick: `inputs` of these hosts (fleet ids in ``vms``) and their packed summaries;
        `hosts`: the hosts' fleet ids (default: ``inputs.first`` on)."""
        assert inputs.vms is not None
        if hosts is None:
            hosts = inputs.first + np.arange(inputs.sizes.size, dtype=np.int64)
        self._blocks.append({
            "tick": np.full(inputs.vms.size, inputs.tick, dtype=COLUMNS["tick"]),
            "vm": inputs.vms.astype(COLUMNS["vm"]),
            "host": np.repeat(hosts, inputs.sizes).astype(COLUMNS["host"]),  # hosts that are down hold no VM
            "demand": summaries.demand.astype(COLUMNS["demand"]),
            "used": summaries.used.astype(COLUMNS["used"]),
            "ready_pct": summaries.ready_pct.astype(COLUMNS["ready_pct"]),
        })

    def columns(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate([b[name] for b in self._blocks]) if self._blocks else np.zeros(0, dtype)
                for name, dtype in COLUMNS.items()}

    def write_parquet(self, path: str) -> int:
        """Write every row to `path` (one Parquet file); returns the row count."""
        pa = needs_pyarrow()
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        columns = self.columns()
        pq.write_table(pa.table(columns), path)
        return int(columns["tick"].size)
