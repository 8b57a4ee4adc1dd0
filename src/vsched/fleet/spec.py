"""What a fleet is made of: host and VM specifications, the migration,
failure and balancing parameters. Plain validated data; the rules that use
them are in ``docs/fleet.md``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .._validate import as_float, as_int

__all__ = ["BalancePolicy", "ConsolidationPolicy", "FailureModel", "HostSpec", "MigrationModel", "PowerModel", "VmSpec"]

MIB = 1 << 20


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    value = as_int(name, value)
    if value < minimum:
        raise ValueError(f"{name} = {value}: must be >= {minimum}")
    return value


def _nonnegative(name: str, value: Any, finite: bool = True) -> float:
    value = as_float(name, value)
    if math.isnan(value) or value < 0 or (finite and math.isinf(value)):
        raise ValueError(f"{name} = {value!r}: must be {'finite and ' if finite else ''}>= 0")
    return value


@dataclass(frozen=True)
class HostSpec:
    """One host model: the arguments of :class:`vsched.Host` that a fleet varies.

    ``extra`` holds any other ``Host`` keyword (e.g. ``realloc_window``).
    Validation of the host's own rules happens when the host is built.
    """

    pcpus: int = 64
    memory_frames: int = 65_536
    max_vcpu_ratio: float = 4.0
    memory_reserve: float = 0.15
    min_guarantee: float = 0.05
    fidelity: str = "fluid"
    reallocation: str = "lend"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pcpus", _positive_int("pcpus", self.pcpus))
        object.__setattr__(self, "memory_frames", _positive_int("memory_frames", self.memory_frames))
        object.__setattr__(self, "max_vcpu_ratio", _nonnegative("max_vcpu_ratio", self.max_vcpu_ratio))
        if self.max_vcpu_ratio <= 0:
            raise ValueError(f"max_vcpu_ratio = {self.max_vcpu_ratio!r}: must be > 0")
        if not isinstance(self.extra, dict):
            raise TypeError(f"extra must be a dict of Host keywords, got {type(self.extra).__name__}")

    def host_kwargs(self) -> dict[str, Any]:
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("pcpus", "memory_frames", "extra")}
        kwargs.update(self.extra)
        return kwargs

    def build(self, host_class: Any, tick_seconds: int, **more: Any) -> Any:
        """A new, empty host of this spec: ``host_class`` is ``vsched.Host`` or the reference's;
        ``more`` adds Host keywords (the admission ledger's engines)."""
        return host_class(self.pcpus, self.memory_frames, tick_seconds=tick_seconds, **self.host_kwargs(), **more)

    # The admission capacities a placement filter checks (same rules as Host._admit).
    @property
    def vcpu_capacity(self) -> float:
        return self.max_vcpu_ratio * self.pcpus

    @property
    def frame_capacity(self) -> float:
        return (1.0 - self.memory_reserve) * self.memory_frames


@dataclass(frozen=True)
class VmSpec:
    """A VM as submitted to the fleet (the arguments of :meth:`vsched.Host.add_vm`)."""

    vcpus: int = 1
    memory_pages: int = 256
    shares: int | None = None
    reservation: float | None = None
    limit: float | None = None
    domain: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vcpus", _positive_int("vcpus", self.vcpus))
        object.__setattr__(self, "memory_pages", _positive_int("memory_pages", self.memory_pages))
        object.__setattr__(self, "domain", _positive_int("domain", self.domain, minimum=0))
        if self.shares is not None:
            object.__setattr__(self, "shares", _positive_int("shares", self.shares))
        if self.reservation is not None:
            object.__setattr__(self, "reservation", _nonnegative("reservation", self.reservation))
        if self.limit is not None:
            object.__setattr__(self, "limit", _nonnegative("limit", self.limit))

    def reservation_on(self, host: HostSpec) -> float:
        """Cores this VM reserves on `host` (default: the host's min_guarantee x vcpus)."""
        return host.min_guarantee * self.vcpus if self.reservation is None else self.reservation

    def frames_reserved_on(self, host: HostSpec) -> int:
        return math.ceil(host.min_guarantee * self.memory_pages)

    def add_kwargs(self) -> dict[str, Any]:
        return {"shares": self.shares, "reservation": self.reservation, "limit": self.limit, "domain": self.domain}


@dataclass(frozen=True)
class MigrationModel:
    """Pre-copy live migration (``docs/fleet.md``, rules F5-F7).

    Defaults are QEMU's: 128 MiB/s bandwidth, 300 ms downtime limit.
    ``page_bytes`` is what one simulated guest page stands for (4 KiB by
    default; a scaled-down model may let one page stand for more).
    ``cpu_overhead`` cores are charged to the VM on its source host while
    it is copied; ``max_rounds`` bounds the dirty-page rounds.
    """

    bandwidth: float = 128 * MIB  # bytes per second
    max_downtime: float = 0.3  # seconds
    max_rounds: int = 30
    page_bytes: int = 4096
    cpu_overhead: float = 0.1  # cores, on the source, while copying

    def __post_init__(self) -> None:
        object.__setattr__(self, "bandwidth", _nonnegative("bandwidth", self.bandwidth))
        if self.bandwidth <= 0:
            raise ValueError(f"bandwidth = {self.bandwidth!r}: must be > 0 bytes per second")
        object.__setattr__(self, "max_downtime", _nonnegative("max_downtime", self.max_downtime))
        object.__setattr__(self, "max_rounds", _positive_int("max_rounds", self.max_rounds, minimum=0))
        object.__setattr__(self, "page_bytes", _positive_int("page_bytes", self.page_bytes))
        object.__setattr__(self, "cpu_overhead", _nonnegative("cpu_overhead", self.cpu_overhead))


@dataclass(frozen=True)
class FailureModel:
    """Host failures: seeded exponential times between failures per host
    (``mtbf_hours``, None = none drawn) and/or a fixed list of
    ``(tick, host)`` failures; a failed host is back, empty, after
    ``repair_ticks``; its VMs are restarted through placement after
    ``restart_delay_ticks`` (``docs/fleet.md``, rules F10-F12)."""

    mtbf_hours: float | None = None
    repair_ticks: int = 24
    restart_delay_ticks: int = 1
    schedule: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.mtbf_hours is not None:
            value = _nonnegative("mtbf_hours", self.mtbf_hours)
            if value <= 0:
                raise ValueError(f"mtbf_hours = {value!r}: must be > 0 (None for no random failures)")
            object.__setattr__(self, "mtbf_hours", value)
        object.__setattr__(self, "repair_ticks", _positive_int("repair_ticks", self.repair_ticks))
        object.__setattr__(self, "restart_delay_ticks", _positive_int("restart_delay_ticks", self.restart_delay_ticks, 0))
        schedule = []
        for number, item in enumerate(self.schedule):
            try:
                tick, host = item
            except (TypeError, ValueError):
                raise ValueError(f"schedule[{number}] = {item!r}: expected (tick, host)") from None
            schedule.append((_positive_int(f"schedule[{number}] tick", tick, 0), _positive_int(f"schedule[{number}] host", host, 0)))
        object.__setattr__(self, "schedule", tuple(schedule))


@dataclass(frozen=True)
class BalancePolicy:
    """The DRS-like pass (``docs/fleet.md``, rules F8-F9): every ``interval``
    ticks; ``threshold`` 1 (conservative: never balances) .. 5 (aggressive)
    sets the target imbalance; at most ``max_moves`` migrations per pass;
    a move must lower the imbalance by at least ``min_goodness``."""

    interval: int = 1
    threshold: int = 3
    max_moves: int = 8
    min_goodness: float = 0.0001
    source_hosts: int = 8  # most loaded hosts whose VMs are candidates
    destination_hosts: int = 4  # least loaded hosts tried as destinations
    score_weight: float = 1.0  # how much a VM's ready % / swapped memory favours moving it

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", _positive_int("interval", self.interval))
        threshold = _positive_int("threshold", self.threshold)
        if threshold > 5:
            raise ValueError(f"threshold = {threshold}: must be in 1..5")
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "max_moves", _positive_int("max_moves", self.max_moves, 0))
        object.__setattr__(self, "min_goodness", _nonnegative("min_goodness", self.min_goodness))
        object.__setattr__(self, "source_hosts", _positive_int("source_hosts", self.source_hosts))
        object.__setattr__(self, "destination_hosts", _positive_int("destination_hosts", self.destination_hosts))
        object.__setattr__(self, "score_weight", _nonnegative("score_weight", self.score_weight))

    @property
    def target(self) -> float:
        """Target standard deviation of host loads: rule F8 (threshold 1: no target)."""
        return math.inf if self.threshold == 1 else 0.2 * 2.0 ** -(self.threshold - 2)


@dataclass(frozen=True)
class PowerModel:
    """Linear host power: idle + (peak - idle) x CPU utilisation, watts, for a host that is up;
    ``off_watts`` for a host the consolidation pass powered off (standby)."""

    idle_watts: float = 200.0
    peak_watts: float = 400.0
    off_watts: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "idle_watts", _nonnegative("idle_watts", self.idle_watts))
        object.__setattr__(self, "peak_watts", _nonnegative("peak_watts", self.peak_watts))
        object.__setattr__(self, "off_watts", _nonnegative("off_watts", self.off_watts))
        if self.peak_watts < self.idle_watts:
            raise ValueError(f"peak_watts = {self.peak_watts!r}: must be >= idle_watts {self.idle_watts!r}")


@dataclass(frozen=True)
class ConsolidationPolicy:
    """The consolidation (power management) pass (``docs/fleet.md``, rules F14-F17): every
    ``interval`` ticks, power hosts on when the fleet's entitled demand over the powered-on
    capacity exceeds ``high``; otherwise evacuate up to ``max_hosts_off`` hosts whose load is
    under ``low`` onto the others (each destination kept at most ``high``) and power them off
    once empty, keeping at least ``min_hosts`` hosts on."""

    interval: int = 12
    low: float = 0.25
    high: float = 0.8
    min_hosts: int = 1
    max_hosts_off: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", _positive_int("interval", self.interval))
        object.__setattr__(self, "low", _nonnegative("low", self.low))
        object.__setattr__(self, "high", _nonnegative("high", self.high))
        if not self.low < self.high <= 1.0:
            raise ValueError(f"low = {self.low!r}, high = {self.high!r}: need 0 <= low < high <= 1")
        object.__setattr__(self, "min_hosts", _positive_int("min_hosts", self.min_hosts))
        object.__setattr__(self, "max_hosts_off", _positive_int("max_hosts_off", self.max_hosts_off))
