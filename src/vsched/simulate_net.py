"""The network part of ``vsched simulate``: the host's NIC under a traffic peak, critical vs best-effort.

Critical VMs are in band 0 (strict priority, served first), best-effort VMs in
the lowest band; both keep their CPU shares as network shares. A VM offers
``--net-per-core`` bps per core of CPU it demands (so network load follows the
day's CPU load), and between 13:00 and 15:00 best-effort VMs offer
``--net-peak`` times that: a traffic peak above the NIC. The NIC is modelled on
the first replay only (lending), as memory is: it does not depend on the CPU
policy. Rules: docs/host.md (H9-H11) and docs/engines/network.md.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from .host import HostRun

PEAK_HOURS = (13.0, 15.0)  # best-effort traffic peak, hours of the day
CRITICAL_BAND = 0

UNITS = {
    "nic_bps": "bits per second",
    "net_per_core": "bits per second offered per demanded core",
    "net_peak": "factor on best-effort traffic during the peak hours",
    "peak_hours": "hours of the day",
    "net_mean_load": "fraction: offered bps / NIC, mean over ticks",
    "net_peak_load": "fraction: offered bps / NIC, highest tick",
    "received": "fraction of the offered bits delivered",
    "received_at_peak": "fraction of the offered bits delivered during the peak hours",
    "starved": "fraction of VM-ticks that offered traffic and received none",
    "delay_p99": "seconds: 99th percentile over VM-ticks of each tick's p99 queueing delay",
    "delay_p99_at_peak": "seconds: the same over the peak hours",
    "drops": "count of packets dropped over the day (at the fluid rates, less one full queue per tick)",
}


def add_arguments(add: Callable[..., Any], number: Callable[..., Any]) -> None:
    add("--nic", type=number(0.0, 2.0**50, False, False), default=25e9,
        help="NIC bits per second (default 25e9; 0: no network model)")
    add("--net-per-core", type=number(0.0, 1e12, False, False), default=None,
        help="bps a VM offers per core of CPU it demands (default --nic / --pcpus: network load follows CPU load)")
    add("--net-peak", type=number(0.0, 1000.0, False, False), default=2.0,
        help="best-effort traffic multiplied by this from 13:00 to 15:00 (default 2)")


def enabled(args: argparse.Namespace) -> bool:
    return args.nic > 0


def host_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"nic_bps": args.nic}


def vm_options(critical: bool, shares: int) -> dict[str, Any]:
    """Critical VMs in band 0; best-effort VMs in the host's default (the lowest band)."""
    return {"net_band": CRITICAL_BAND if critical else None, "net_shares": shares}


def peak_ticks(ticks: int, tick_seconds: int) -> np.ndarray:
    hour = (np.arange(ticks) * tick_seconds / 3600.0) % 24.0
    return (hour >= PEAK_HOURS[0]) & (hour < PEAK_HOURS[1])


def demand(args: argparse.Namespace, cpu_demand: np.ndarray, critical: np.ndarray, tick_seconds: int) -> np.ndarray:
    """ticks x VMs of bps offered: per-core rate x cores demanded, best-effort x peak in the peak hours."""
    per_core = args.nic / args.pcpus if args.net_per_core is None else args.net_per_core
    offered = cpu_demand * per_core
    peak = peak_ticks(cpu_demand.shape[0], tick_seconds)
    offered[np.ix_(peak, ~critical)] *= args.net_peak
    return offered


def _class(run: HostRun, columns: np.ndarray, peak: np.ndarray) -> dict[str, Any]:
    m = run.metrics
    offered, used = m["net_demand"][:, columns], m["net_used"][:, columns]
    delay = m["net_delay_p99"][:, columns]

    def p99(values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        return float(np.percentile(values, 99)) if values.size else 0.0

    def received(rows: np.ndarray) -> float:
        total = float(offered[rows].sum())
        return float(used[rows].sum()) / total if total > 0 else 1.0

    everything = np.ones(offered.shape[0], dtype=bool)
    wanted = offered > 0
    return {
        "vms": int(columns.size),
        "received": received(everything),
        "received_at_peak": received(peak),
        "starved": float((m["net_starved"][:, columns] > 0).sum() / wanted.sum()) if wanted.any() else 0.0,
        "delay_p99": p99(delay),
        "delay_p99_at_peak": p99(delay[peak]),
        "drops": int(round(float(m["net_drops"][:, columns].sum()))),
    }


def summary(args: argparse.Namespace, run: HostRun, critical: np.ndarray, tick_seconds: int) -> dict[str, Any]:
    everyone = np.arange(critical.size)
    load = run.totals["net_load"]
    peak = peak_ticks(load.size, tick_seconds)
    return {
        "nic_bps": float(args.nic),
        "net_per_core": float(args.nic / args.pcpus if args.net_per_core is None else args.net_per_core),
        "net_peak": float(args.net_peak),
        "peak_hours": list(PEAK_HOURS),
        "net_mean_load": float(load.mean()) if load.size else 0.0,
        "net_peak_load": float(load.max()) if load.size else 0.0,
        "critical": _class(run, everyone[critical], peak),
        "best_effort": _class(run, everyone[~critical], peak),
    }


def _us(seconds: float) -> str:
    return f"{1e6 * seconds:.1f} us"


def print_summary(net: dict[str, Any], say: Callable[[str], None]) -> None:
    def pct(x: float) -> str:
        return f"{100 * x:.2f} %"

    say(f"  network     NIC {net['nic_bps'] / 1e9:g} Gbps, offered / NIC: mean {pct(net['net_mean_load'])}, "
        f"peak {pct(net['net_peak_load'])} (best-effort x {net['net_peak']:g} from "
        f"{net['peak_hours'][0]:g}:00 to {net['peak_hours'][1]:g}:00)")
    say("                              received   at the peak   delay p99 / at the peak          drops   starved")
    for part, label in (("critical", "critical (band 0)"), ("best_effort", "best-effort")):
        c = net[part]
        if c["vms"] == 0:
            say(f"    {label:<18} (no VMs)")
            continue
        say(f"    {label:<18} {c['vms']:>5} {pct(c['received']):>10}   {pct(c['received_at_peak']):>10}   "
            f"{_us(c['delay_p99']):>12} / {_us(c['delay_p99_at_peak']):<12} {c['drops']:>11}   "
            f"{pct(c['starved']):>7}")
    say("    (strict priority: band 0 goes before every other band; delays and drops from 10 ms of packets per tick)")
