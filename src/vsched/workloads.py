"""Workloads: a seeded synthetic generator calibrated to real VMs, and loaders
for the PlanetLab and Google-derived traces.

All CPU series are *utilisation fractions of the VM's size* in [0, 1]
(PlanetLab's "CPU %" / 100; a 4-vCPU VM at 0.5 demands 2 cores). Memory series
(gcd) are fractions of the VM's memory. Arrays are ``ticks x vms`` float64.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "MemoryWorkload",
    "Trace",
    "TraceError",
    "fingerprint",
    "load_gcd",
    "load_planetlab",
    "load_trace",
    "synthetic_cpu",
]

TICK_SECONDS = 300  # both real traces sample every five minutes
SAMPLES_PER_DAY = 288


class TraceError(ValueError):
    """A trace file or folder that cannot be read; the message names the file and line."""


@dataclass
class Trace:
    """A replayable workload: one column per VM, one row per tick."""

    names: list[str]
    cpu: np.ndarray  # ticks x vms, fraction of VM size in [0, 1]
    memory: np.ndarray | None = None  # ticks x vms, fraction of VM memory in [0, 1]
    tick_seconds: int = TICK_SECONDS
    source: str = "synthetic"
    notes: list[str] = field(default_factory=list)

    @property
    def ticks(self) -> int:
        return int(self.cpu.shape[0])

    @property
    def vms(self) -> int:
        return int(self.cpu.shape[1])


# ---------------------------------------------------------------- synthetic


def synthetic_cpu(vms: int, ticks: int, seed: int = 0, diurnal: bool = False) -> Trace:
    """Bursty, mostly idle VM CPU utilisation calibrated to PlanetLab.

    Each VM has a long-run mean drawn from a lognormal (median 7 %,
    sigma 1.1, capped at 80 %: PlanetLab's per-VM means have median 6.8 %,
    p10 1.6 %, p90 34 % -- most VMs idle, a few busy). Each sample is that
    mean times Gamma(1.5) noise of mean 1 (coefficient of variation 0.8;
    samples independent, as PlanetLab's lag-1 autocorrelation is ~0.05), and
    with probability 1 % a burst lifts it to U(15 %, 50 %). With ``diurnal``
    the means swing +-50 % over the day (peak 14:00).
    Over 3,000 VMs x 288 ticks this gives mean ~11.7 %, p95 ~47 %, ~83 % of
    samples under 20 % (PlanetLab: 11.1 %, 43 %, 82.7 %); tested.
    """
    if vms < 0 or ticks < 0:
        raise ValueError(f"vms and ticks must be >= 0, got vms={vms}, ticks={ticks}")
    rng = np.random.default_rng(seed)
    mean = np.minimum(rng.lognormal(math.log(0.07), 1.1, vms), 0.8)
    noise = rng.gamma(1.5, 1 / 1.5, (ticks, vms))
    cpu = noise * mean[None, :]
    if diurnal:
        hours = np.arange(ticks) * TICK_SECONDS / 3600.0
        cpu *= (1.0 + 0.5 * np.sin(2 * math.pi * (hours - 8.0) / 24.0))[:, None]
    burst = rng.random((ticks, vms)) < 0.01
    cpu = np.where(burst, np.maximum(cpu, rng.uniform(0.15, 0.5, (ticks, vms))), cpu)
    return Trace(
        names=[f"vm{i:05d}" for i in range(vms)],
        cpu=np.clip(cpu, 0.0, 1.0),
        source=f"synthetic(seed={seed}, diurnal={diurnal})",
    )


# ---------------------------------------------------------------- loaders


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise TraceError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise TraceError(f"{folder}: no trace files in it")
    return files


def load_planetlab(folder: str | os.PathLike) -> Trace:
    """One PlanetLab day: a folder with one file per VM (names may contain
    spaces), each 288 lines of one integer CPU % in 0..100."""
    folder = Path(folder)
    files = _files(folder)
    cpu = np.empty((SAMPLES_PER_DAY, len(files)))
    for column, path in enumerate(files):
        lines = path.read_text(encoding="ascii", errors="replace").split()
        if len(lines) != SAMPLES_PER_DAY:
            raise TraceError(f"{path}: expected {SAMPLES_PER_DAY} samples, found {len(lines)}")
        for row, text in enumerate(lines):
            try:
                value = int(text)
            except ValueError:
                raise TraceError(f"{path}:{row + 1}: {text!r} is not an integer CPU %") from None
            if not 0 <= value <= 100:
                raise TraceError(f"{path}:{row + 1}: CPU {value} % is outside 0..100")
            cpu[row, column] = value / 100.0
    return Trace(names=[p.name for p in files], cpu=cpu, source=f"planetlab:{folder}")


def load_gcd(folder: str | os.PathLike, memory_over_100: str = "clamp") -> Trace:
    """Google-derived VMs: one file per VM, 288 lines ``cpu_percent memory_percent``.

    Some memory samples exceed 100 % (up to 215 % in the shipped data). With
    ``memory_over_100="clamp"`` they are clamped to 100 % and a note says how
    many; with ``"reject"`` a TraceError names the first one.
    """
    if memory_over_100 not in ("clamp", "reject"):
        raise ValueError(f"memory_over_100 must be 'clamp' or 'reject', got {memory_over_100!r}")
    folder = Path(folder)
    files = _files(folder)
    cpu = np.empty((SAMPLES_PER_DAY, len(files)))
    memory = np.empty((SAMPLES_PER_DAY, len(files)))
    clamped = 0
    for column, path in enumerate(files):
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        lines = [line for line in lines if line.strip()]
        if len(lines) != SAMPLES_PER_DAY:
            raise TraceError(f"{path}: expected {SAMPLES_PER_DAY} samples, found {len(lines)}")
        for row, line in enumerate(lines):
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError
                cpu_pct, mem_pct = float(parts[0]), float(parts[1])
            except ValueError:
                raise TraceError(f"{path}:{row + 1}: expected 'cpu_percent memory_percent', got {line!r}") from None
            if not (math.isfinite(cpu_pct) and math.isfinite(mem_pct)) or cpu_pct < 0 or mem_pct < 0:
                raise TraceError(f"{path}:{row + 1}: values must be finite and >= 0, got {line!r}")
            if cpu_pct > 100:
                raise TraceError(f"{path}:{row + 1}: CPU {cpu_pct} % is above 100 %")
            if mem_pct > 100:
                if memory_over_100 == "reject":
                    raise TraceError(f"{path}:{row + 1}: memory {mem_pct} % is above 100 % (use memory_over_100='clamp')")
                clamped += 1
                mem_pct = 100.0
            cpu[row, column] = cpu_pct / 100.0
            memory[row, column] = mem_pct / 100.0
    notes = [f"{clamped} memory samples above 100 % clamped to 100 %"] if clamped else []
    return Trace(names=[p.name for p in files], cpu=cpu, memory=memory, source=f"gcd:{folder}", notes=notes)


def load_trace(spec: str) -> Trace:
    """``planetlab:DIR`` or ``gcd:DIR`` (the command line's --trace)."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in ("planetlab", "gcd") or not path:
        raise TraceError(f"--trace {spec!r}: expected planetlab:DIR or gcd:DIR")
    return load_planetlab(path) if kind == "planetlab" else load_gcd(path)


# ---------------------------------------------------------------- memory

_MASK64 = (1 << 64) - 1


def fingerprint(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-mixed 64-bit content fingerprint per input
    (never 0 for the inputs used here in practice; 0 is the zero page)."""
    # z = mix(values + golden ratio) modulo 2**64; mixed in place in one copy
    # (uint64 arithmetic wraps), as the temporaries cost more than the mixing.
    z = np.array(values, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    z[z == 0] = 1
    return z


class MemoryWorkload:
    """Guest memory behaviour for a host of `vms` VMs of `pages` pages each.

    * **Templates**: VM i is cloned from template ``i % templates``. At boot
      every page is written once: ``zero_fraction`` of them hold the zero page
      (content 0), ``unique_fraction`` hold content of the VM's own, the rest
      the template's content for that page -- so VMs of one template share
      most of their memory.
    * **Hot working set**: each tick a VM makes ``accesses`` references
      (scaled by its CPU activity when given); ``hot_share`` of them go to the
      first ``hot_fraction`` of its pages, the rest anywhere.
    * **Writes that break sharing**: ``write_fraction`` of the references are
      writes of fresh content (a copy-on-write break where the page was shared).

    Batches are dicts ``{"vm", "gpn", "content", "write"}`` with VMs
    0 .. vms-1 (``write`` absent = all writes): the ids a fresh
    :class:`vsched.Host` gives its first VMs, as :meth:`vsched.Host.step` and
    :meth:`vsched.MemoryManager.access` take them.
    Deterministic for a seed.
    """

    def __init__(
        self,
        vms: int,
        pages: int,
        templates: int = 10,
        seed: int = 0,
        zero_fraction: float = 0.15,
        unique_fraction: float = 0.10,
        hot_fraction: float = 0.10,
        hot_share: float = 0.80,
        write_fraction: float = 0.10,
        accesses: int = 256,
    ) -> None:
        if vms < 0 or pages < 1 or templates < 1 or accesses < 0:
            raise ValueError("vms >= 0, pages >= 1, templates >= 1 and accesses >= 0 are required")
        for name, value in (
            ("zero_fraction", zero_fraction),
            ("unique_fraction", unique_fraction),
            ("hot_fraction", hot_fraction),
            ("hot_share", hot_share),
            ("write_fraction", write_fraction),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} = {value!r}: must be in [0, 1]")
        self.vms, self.pages, self.templates, self.seed = vms, pages, templates, seed
        self.zero_fraction, self.unique_fraction = zero_fraction, unique_fraction
        self.hot_pages = max(1, int(hot_fraction * pages))
        self.hot_share, self.write_fraction, self.accesses = hot_share, write_fraction, accesses
        self._writes = 0  # counter making every fresh write's content unique

    def boot(self) -> list[dict[str, np.ndarray]]:
        """Every VM writes its initial image (one batch of vms x pages writes)."""
        rng = np.random.default_rng([self.seed, 0])
        vms, pages = self.vms, self.pages
        vm = np.repeat(np.arange(vms, dtype=np.int64), pages)
        gpn = np.tile(np.arange(pages, dtype=np.int64), vms)
        kind = rng.random(vm.size)
        # Template content depends on (template, gpn) only: fingerprint one
        # image per template and repeat the images, VM i taking i % templates.
        images = min(self.templates, vms)
        template_gpn = (np.arange(images, dtype=np.uint64)[:, None] << np.uint64(32)) | np.arange(
            pages, dtype=np.uint64
        )[None, :]
        content = np.tile(fingerprint(template_gpn), (-(-vms // images) if vms else 0, 1))[:vms].reshape(-1)
        # VM-own content only where it is used.
        own = np.flatnonzero((kind >= self.zero_fraction) & (kind < self.zero_fraction + self.unique_fraction))
        content[own] = fingerprint(
            (np.uint64(1) << np.uint64(63)) | (vm[own].astype(np.uint64) << np.uint64(32)) | gpn[own].astype(np.uint64)
        )
        content[kind < self.zero_fraction] = 0
        return [{"vm": vm, "gpn": gpn, "content": content}]

    def tick(self, t: int, activity: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
        """Tick t's references: one batch, reads and writes interleaved
        (``write`` marks the writes; reads ignore their ``content``).

        ``activity`` (per VM, 0..1, e.g. CPU utilisation) scales each VM's
        number of references; None means every VM makes ``accesses``.
        """
        rng = np.random.default_rng([self.seed, 1, t])
        if activity is None:
            counts = np.full(self.vms, self.accesses, dtype=np.int64)
        else:
            counts = np.round(np.clip(np.asarray(activity, float), 0, 1) * self.accesses).astype(np.int64)
        vm = np.repeat(np.arange(self.vms, dtype=np.int64), counts)
        hot = rng.random(vm.size) < self.hot_share
        gpn = np.where(hot, rng.integers(0, self.hot_pages, vm.size), rng.integers(0, self.pages, vm.size))
        write = rng.random(vm.size) < self.write_fraction
        fresh = np.arange(self._writes, self._writes + vm.size, dtype=np.uint64)
        self._writes += vm.size
        content = fingerprint((np.uint64(3) << np.uint64(62)) | fresh)
        return [{"vm": vm, "gpn": gpn, "content": content, "write": write}]
