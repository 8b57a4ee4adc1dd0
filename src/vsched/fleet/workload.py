"""What a fleet runs: VMs with arrival and departure ticks and CPU series, and
the guest memory behaviour each VM shows wherever it is placed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import workloads
from ..workloads import fingerprint
from .spec import VmSpec

__all__ = ["FleetWorkload", "GuestMemory", "synthetic_fleet", "trace_fleet"]

NEVER = np.iinfo(np.int64).max


@dataclass
class FleetWorkload:
    """``vms[i]`` arrives at tick ``arrival[i]`` and departs at ``departure[i]``
    (NEVER = stays); its CPU demand at tick t is ``cpu[t, i] x vcpus`` cores
    (``cpu`` as utilisation fractions, ticks x VMs)."""

    vms: list[VmSpec]
    cpu: np.ndarray
    arrival: np.ndarray
    departure: np.ndarray
    source: str = "synthetic"

    def __post_init__(self) -> None:
        self.cpu = np.asarray(self.cpu, dtype=float)
        self.arrival = np.asarray(self.arrival, dtype=np.int64)
        self.departure = np.asarray(self.departure, dtype=np.int64)
        n = len(self.vms)
        if self.cpu.ndim != 2 or self.cpu.shape[1] != n:
            raise ValueError(f"cpu has shape {self.cpu.shape}, expected (ticks, {n})")
        for name, array in (("arrival", self.arrival), ("departure", self.departure)):
            if array.shape != (n,):
                raise ValueError(f"{name} has shape {array.shape}, expected ({n},)")
        if n and (self.arrival.min() < 0 or np.any(self.departure <= self.arrival)):
            bad = int(np.flatnonzero((self.arrival < 0) | (self.departure <= self.arrival))[0])
            raise ValueError(f"vm {bad}: arrival {self.arrival[bad]} must be >= 0 and before departure {self.departure[bad]}")
        if not np.all(np.isfinite(self.cpu)) or np.any((self.cpu < 0) | (self.cpu > 1)):
            raise ValueError("cpu must hold utilisation fractions in [0, 1]")

    @property
    def ticks(self) -> int:
        return int(self.cpu.shape[0])


def _population(
    n: int, ticks: int, rng: np.random.Generator, initial: float, mean_life_ticks: float | None,
    pages: int, domains: int,
) -> tuple[list[VmSpec], np.ndarray, np.ndarray]:
    vcpus = rng.choice([1, 2, 4], size=n, p=[0.6, 0.3, 0.1])
    domain = rng.integers(0, domains, n)
    early = rng.random(n) < initial
    arrival = np.where(early, 0, rng.integers(0, max(ticks, 1), n))
    if mean_life_ticks is None:
        departure = np.full(n, NEVER, dtype=np.int64)
    else:
        life = np.ceil(rng.exponential(mean_life_ticks, n)).astype(np.int64) + 1
        departure = np.where(life + arrival < ticks, arrival + life, NEVER)
    vms = [VmSpec(int(v), pages, domain=int(d)) for v, d in zip(vcpus, domain)]
    return vms, arrival.astype(np.int64), departure.astype(np.int64)


def synthetic_fleet(
    vms: int, ticks: int = workloads.SAMPLES_PER_DAY, seed: int = 0, initial: float = 0.8,
    mean_life_hours: float | None = 12.0, pages: int = 256, domains: int = 8, diurnal: bool = True,
) -> FleetWorkload:
    """``vms`` VMs of 1/2/4 vCPUs (60/30/10 %) in ``domains`` sharing domains:
    ``initial`` of them present at tick 0, the rest arriving uniformly over
    the run; lifetimes exponential of mean ``mean_life_hours`` (None = no
    departures). CPU from :func:`vsched.workloads.synthetic_cpu`."""
    if vms < 0 or ticks < 1:
        raise ValueError(f"vms must be >= 0 and ticks >= 1, got vms={vms}, ticks={ticks}")
    rng = np.random.default_rng([seed, 5])
    life = None if mean_life_hours is None else mean_life_hours * 3600 / workloads.TICK_SECONDS
    specs, arrival, departure = _population(vms, ticks, rng, initial, life, pages, domains)
    cpu = workloads.synthetic_cpu(vms, ticks, seed=seed, diurnal=diurnal).cpu
    return FleetWorkload(specs, cpu, arrival, departure, source=f"synthetic(vms={vms}, seed={seed})")


def trace_fleet(
    trace: workloads.Trace, vms: int | None = None, ticks: int | None = None, seed: int = 0, initial: float = 0.8,
    mean_life_hours: float | None = 12.0, pages: int = 256, domains: int = 8,
) -> FleetWorkload:
    """A fleet workload from a real trace (PlanetLab or Google-derived): its
    VMs' columns shuffled (seeded) and, when more VMs are asked for than the
    trace has, reused with a random time offset each."""
    ticks = trace.ticks if ticks is None else ticks
    vms = trace.vms if vms is None else vms
    rng = np.random.default_rng([seed, 6])
    columns = rng.permutation(max(vms, trace.vms))[:vms] % trace.vms
    offsets = np.where(np.arange(vms) < trace.vms, 0, rng.integers(0, trace.ticks, vms))
    rows = (np.arange(ticks)[:, None] + offsets[None, :]) % trace.ticks
    cpu = trace.cpu[rows, columns[None, :]]
    life = None if mean_life_hours is None else mean_life_hours * 3600 / workloads.TICK_SECONDS
    specs, arrival, departure = _population(vms, ticks, rng, initial, life, pages, domains)
    return FleetWorkload(specs, cpu, arrival, departure, source=f"{trace.source} (shuffled, seed={seed})")


@lru_cache(maxsize=1024)
def _template(domain: int, pages: int) -> np.ndarray:
    """The content of a domain's template pages 0..pages-1 (the same for every VM of the domain:
    computed once per domain and size; read-only because it is shared)."""
    gpn = np.arange(pages, dtype=np.uint64)
    template = fingerprint((np.uint64(domain) << np.uint64(32)) | gpn)
    template.flags.writeable = False
    return template


@dataclass(frozen=True)
class GuestMemory:
    """Guest memory behaviour of every VM, wherever it runs (cf.
    :class:`vsched.workloads.MemoryWorkload`): at boot each page is written
    once -- ``zero_fraction`` zero pages, ``unique_fraction`` the VM's own,
    the rest its domain's template (so VMs of one domain share); then each
    tick ``accesses x utilisation`` references, ``hot_share`` to the first
    ``hot_fraction`` of pages, ``write_fraction`` of them writes of fresh
    content. Deterministic for (seed, tick, the running VMs)."""

    accesses: int = 16
    hot_fraction: float = 0.1
    hot_share: float = 0.8
    write_fraction: float = 0.1
    zero_fraction: float = 0.15
    unique_fraction: float = 0.10

    def __post_init__(self) -> None:
        if isinstance(self.accesses, bool) or not isinstance(self.accesses, int) or self.accesses < 0:
            raise ValueError(f"accesses = {self.accesses!r}: must be an integer >= 0")
        for name in ("hot_fraction", "hot_share", "write_fraction", "zero_fraction", "unique_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} = {value!r}: must be in [0, 1]")

    def boot(self, seed: int, vm: int, pages: int, domain: int, host_vm: int) -> dict[str, np.ndarray]:
        """The boot image of fleet VM `vm` as one batch (`host_vm`: its id on its host)."""
        rng = np.random.default_rng([seed, 3, vm])
        gpn = np.arange(pages, dtype=np.int64)
        kind = rng.random(pages)
        template = _template(domain, pages)
        own = fingerprint((np.uint64(1) << np.uint64(63)) | (np.uint64(vm) << np.uint64(24)) | gpn.astype(np.uint64))
        content = np.where(kind < self.zero_fraction, np.uint64(0), template)
        content = np.where((kind >= self.zero_fraction) & (kind < self.zero_fraction + self.unique_fraction), own, content)
        return {"vm": np.full(pages, host_vm, dtype=np.int64), "gpn": gpn, "content": content}

    def references(self, activity: np.ndarray) -> np.ndarray:
        """How many references each VM makes this tick: ``round(accesses x utilisation)``."""
        return np.round(np.clip(activity, 0, 1) * self.accesses).astype(np.int64)

    def tick(self, seed: int, t: int, vms: np.ndarray, pages: np.ndarray, activity: np.ndarray,
             first: int = 0, total: int | None = None) -> dict[str, np.ndarray]:
        """Tick t's references of fleet VMs `vms` (with their page counts and
        utilisation), as one batch whose ``vm`` is the position in `vms`.

        The tick's uniforms are one stream ``(seed, 4, t)`` drawn as 4 rows of
        `total` (all the fleet's references, in fleet order); `vms` own the
        references ``first ..`` of each row. A shard thus draws exactly its part
        of the fleet's batch by advancing the stream (rule F21)."""
        counts = self.references(activity)
        index = np.repeat(np.arange(vms.size, dtype=np.int64), counts)
        total = index.size if total is None else total
        rng = np.random.default_rng([seed, 4, t])
        u = np.empty((4, index.size))
        for row in range(4):  # PCG64: one 64-bit step per double, so advance() skips exactly
            rng.bit_generator.advance(first if row == 0 else total - index.size)
            u[row] = rng.random(index.size)
        size = pages[index]
        hot = np.maximum(1, (self.hot_fraction * size).astype(np.int64))
        gpn = np.where(u[0] < self.hot_share, (u[1] * hot).astype(np.int64), (u[1] * size).astype(np.int64))
        write = u[2] < self.write_fraction
        # fresh content per (vm, tick, reference): unique across the run
        serial = np.arange(index.size, dtype=np.uint64) - np.repeat(np.cumsum(counts) - counts, counts).astype(np.uint64)
        content = fingerprint(
            (np.uint64(3) << np.uint64(62)) | (vms[index].astype(np.uint64) << np.uint64(36))
            | (np.uint64(t) << np.uint64(16)) | serial
        )
        return {"vm": index, "gpn": gpn, "content": content, "write": write}
