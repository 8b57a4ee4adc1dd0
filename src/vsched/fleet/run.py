"""What a fleet run returns: per-host and fleet time series, per-VM totals,
the event log, and the fleet metrics (``docs/fleet.md``, "Metrics")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FleetRun"]

HOST_SERIES = ("load", "used", "frames_used", "saving", "vms", "power", "demand", "unmet", "up")
FLEET_SERIES = ("imbalance", "active_hosts", "demand", "unmet", "energy_wh", "memory_saving",
                "pending", "running", "migrating", "refused", "departed")


@dataclass
class FleetRun:
    """``hosts[name]``: hosts x ticks; ``fleet[name]``: ticks; ``vms[name]``:
    one entry per VM ever submitted (fleet id order); ``events``: the log."""

    hosts: dict[str, np.ndarray]
    fleet: dict[str, np.ndarray]
    vms: dict[str, np.ndarray]
    events: list[dict[str, Any]] = field(default_factory=list)
    tick_seconds: int = 300

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FleetRun):
            return NotImplemented
        same = lambda a, b: a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        return (same(self.hosts, other.hosts) and same(self.fleet, other.fleet) and same(self.vms, other.vms)
                and self.events == other.events and self.tick_seconds == other.tick_seconds)

    def summary(self) -> dict[str, Any]:
        """Fleet metrics: unmet demand, ready % over VMs, imbalance, active
        hosts, migrations, refusals by rule, energy, sharing, failures."""
        vms, fleet = self.vms, self.fleet
        ran = vms["ticks_running"] > 0
        ready = vms["ready_pct_mean"][ran]
        demand = float(vms["demand"].sum())
        migrated = [e for e in self.events if e["event"] == "migrated"]
        refusals: dict[str, int] = {}
        for e in self.events:
            if e["event"] == "refused":
                refusals[e["rule"]] = refusals.get(e["rule"], 0) + 1
        pct = lambda a, q: float(np.percentile(a, q)) if a.size else 0.0
        downtimes = np.array([e["downtime"] for e in migrated])
        return {
            "vms": int(vms["state"].size),
            "ticks": int(fleet["imbalance"].size),
            "unmet_demand": float(vms["unmet"].sum()) / demand if demand else 0.0,
            "ready_pct_mean": float(ready.mean()) if ready.size else 0.0,
            "ready_pct_p95": pct(ready, 95),
            "ready_pct_p99": pct(ready, 99),
            "imbalance_mean": float(fleet["imbalance"].mean()) if fleet["imbalance"].size else 0.0,
            "imbalance_max": float(fleet["imbalance"].max()) if fleet["imbalance"].size else 0.0,
            "active_hosts_mean": float(fleet["active_hosts"].mean()) if fleet["active_hosts"].size else 0.0,
            "migrations": len(migrated),
            "migrations_failed": sum(e["event"] in ("migration_failed", "migration_aborted") for e in self.events),
            "migrated_gb": float(sum(e["bytes"] for e in migrated)) / 1e9,
            "migration_seconds_mean": float(np.mean([e["duration"] for e in migrated])) if migrated else 0.0,
            "downtime_ms_mean": 1e3 * float(downtimes.mean()) if downtimes.size else 0.0,
            "downtime_ms_max": 1e3 * float(downtimes.max()) if downtimes.size else 0.0,
            "placed": sum(e["event"] == "placed" for e in self.events),
            "refused": sum(refusals.values()),
            "refusals_by_rule": refusals,
            "host_failures": sum(e["event"] == "host_failed" for e in self.events),
            "vm_restarts": sum(e["event"] == "vm_restarted" for e in self.events),
            "lost_vm_minutes": float(vms["lost_ticks"].sum()) * self.tick_seconds / 60.0,
            "hosts_powered_off": sum(e["event"] == "host_powered_off" for e in self.events),
            "hosts_powered_on": sum(e["event"] == "host_powered_on" for e in self.events),
            "energy_kwh": float(fleet["energy_wh"].sum()) / 1e3,
            "memory_saving_mean": float(fleet["memory_saving"].mean()) if fleet["memory_saving"].size else 0.0,
        }
