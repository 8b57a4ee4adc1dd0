"""The VMs ``vsched simulate`` offers to its host: sizes, classes and domains.

The built-in scenario follows the consolidation figures of a dense
virtualization server: thousands of small VMs on one host, 4 to 8 vCPUs per
core, 15 % of the memory kept free and a 15 % minimum CPU guarantee. VMs have
1, 2 or 4 vCPUs (60 / 30 / 10 %); a *critical* class (5 % of the VMs by
default) has ESXi "high" shares (2000 per vCPU) and a larger reservation, the
rest are *best-effort* VMs with the host's defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VCPU_SIZES = (1, 2, 4)
VCPU_MIX = (0.6, 0.3, 0.1)
CRITICAL_SHARES_PER_VCPU = 2000  # ESXi "high"; best-effort VMs keep "normal" (1000)


@dataclass
class OfferedVms:
    """Per offered VM, in offer order: vCPUs, sharing domain, class, shares, reservation (cores)."""

    vcpus: np.ndarray
    domains: np.ndarray
    critical: np.ndarray  # bool
    shares: np.ndarray
    reservations: np.ndarray

    def __len__(self) -> int:
        return int(self.vcpus.size)


def offer(vms: int, seed: int, domains: int, critical_fraction: float, critical_reservation: float,
          min_guarantee: float) -> OfferedVms:
    """Draw the offered VMs (deterministic for a seed)."""
    rng = np.random.default_rng([seed, 7])
    vcpus = rng.choice(np.array(VCPU_SIZES), size=vms, p=VCPU_MIX).astype(np.int64)
    vm_domains = rng.integers(0, domains, vms)
    critical = rng.random(vms) < critical_fraction
    shares = np.where(critical, CRITICAL_SHARES_PER_VCPU, 1000) * vcpus
    reservations = np.where(critical, critical_reservation, min_guarantee) * vcpus
    return OfferedVms(vcpus, vm_domains, critical, shares.astype(np.int64), reservations.astype(float))


def what_admits_all(offered: OfferedVms, pages: int, pcpus: int, frames: int, max_vcpu_ratio: float,
                    memory_reserve: float, min_guarantee: float) -> dict[str, str]:
    """For each admission rule the offered VMs break taken together, the flags that would admit them all."""
    advice: dict[str, str] = {}
    vcpus = int(offered.vcpus.sum())
    if vcpus > max_vcpu_ratio * pcpus:
        advice["vCPU ratio"] = (
            f"the {len(offered)} VMs have {vcpus} vCPUs: --pcpus {math.ceil(vcpus / max_vcpu_ratio)} "
            f"or --max-vcpu-ratio {math.ceil(100 * vcpus / pcpus) / 100:g} would admit them all"
        )
    reserved = float(offered.reservations.sum())
    if reserved > pcpus * (1 + 1e-9):
        best_effort_vcpus = int(offered.vcpus[~offered.critical].sum())
        critical_cores = float(offered.reservations[offered.critical].sum())
        lower = (pcpus - critical_cores) / best_effort_vcpus if best_effort_vcpus else 0.0
        alternative = f" or --min-guarantee {math.floor(1000 * lower) / 1000:g}" if lower > 0 else ""
        advice["CPU reservations"] = (
            f"the {len(offered)} VMs reserve {reserved:.1f} cores: --pcpus {math.ceil(reserved - 1e-9)}"
            f"{alternative} would admit them all"
        )
    reserved_frames = len(offered) * math.ceil(min_guarantee * pages)
    if reserved_frames > (1 - memory_reserve) * frames:
        advice["memory reserve"] = (
            f"the {len(offered)} VMs reserve {reserved_frames} frames: --memory "
            f"{math.ceil(reserved_frames / (1 - memory_reserve))} would admit them all"
        )
    return advice
