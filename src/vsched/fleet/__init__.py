"""A fleet of hosts: placement, DRS-like balancing with pre-copy live
migration, host failures (``docs/fleet.md``).

Pure-Python orchestration over :class:`vsched.Host` (native or reference
engines), vectorised numpy over compact host summaries; hosts are stepped
through one function, :func:`step_hosts`, so that a distributed backend can
step shards of hosts and merge their summaries by host id: ``Fleet(...,
backend="ray" | "dask", shards=N)`` does (:mod:`.backends`).
"""

from __future__ import annotations

from .backends import BACKENDS, ShardLostError
from .balance import Candidates, Move, drs_pass, host_loads, imbalance
from .consolidation import Plan, consolidation_pass
from .fleet import STATES, Fleet, FleetInvariantError
from .hosts import HostInput, HostSummary, step_hosts
from .migration import MigrationCost, move_vm, precopy, precopy_closed_form, precopy_estimate
from .placement import POLICIES, RULES, HostSummaries, VmNeeds, feasible, place
from .run import FleetRun
from .shard import ShardStateError
from .spec import BalancePolicy, ConsolidationPolicy, FailureModel, HostSpec, MigrationModel, PowerModel, VmSpec
from .workload import NEVER, FleetWorkload, GuestMemory, synthetic_fleet, trace_fleet

__all__ = [
    "BACKENDS", "NEVER", "POLICIES", "RULES", "STATES",
    "BalancePolicy", "Candidates", "ConsolidationPolicy", "FailureModel", "Fleet", "FleetInvariantError", "FleetRun",
    "FleetWorkload", "GuestMemory", "HostInput", "HostSpec", "HostSummaries", "HostSummary", "MigrationCost",
    "MigrationModel", "Move", "Plan", "PowerModel", "ShardLostError", "ShardStateError", "VmNeeds", "VmSpec",
    "consolidation_pass", "drs_pass", "feasible", "host_loads", "imbalance", "move_vm", "place", "precopy",
    "precopy_closed_form",
    "precopy_estimate", "step_hosts", "synthetic_fleet", "trace_fleet",
]
