"""The text summary ``vsched simulate`` prints (the JSON result, read aloud)."""

from __future__ import annotations

from typing import Any, TextIO

from .simulate import POLICIES, POLICY_LABELS
from .simulate_net import print_summary as print_network


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def _unmet_comparison(lend: float, static: float) -> str:
    """How lending compares with static entitlements, without dividing by zero."""
    if lend == 0 and static == 0:
        return "no demand is left unmet, with or without reallocation"
    if lend == 0:
        return f"with reallocation no demand is left unmet (static entitlements: {_pct(static)})"
    if static == 0:
        return f"static entitlements leave no demand unmet, reallocation leaves {_pct(lend)}"
    if abs(static - lend) <= 0.05 * max(static, lend):
        return (f"reallocation and static entitlements leave about the same unmet demand "
                f"({_pct(lend)} and {_pct(static)})")
    if lend < static:
        return f"reallocation cuts unmet demand {static / lend:.1f}x against static entitlements"
    return f"reallocation leaves {lend / static:.2f}x the unmet demand of static entitlements"


def print_summary(result: dict[str, Any], out: TextIO) -> None:
    sc, adm, cpu, mem = result["scenario"], result["admission"], result["cpu"], result["memory"]

    def say(line: str = "") -> None:
        out.write(line + "\n")

    hours = sc["ticks"] * sc["tick_seconds"] / 3600
    say(f"vsched {result['vsched_version']} simulate: {sc['source']}, {sc['ticks']} ticks of {sc['tick_seconds']} s "
        f"({hours:g} h), {sc['fidelity']} CPU model, {sc['engines']} engines")
    evicted_by = "" if sc.get("memory_policy", "lruk") == "lruk" else f" ({sc['memory_policy']} eviction)"
    say(f"  host        {sc['pcpus']} pCPUs, {sc['frames']} frames{evicted_by}; at most {sc['max_vcpu_ratio']:g} vCPUs per pCPU, "
        f"{sc['memory_reserve']:.0%} of frames kept unreserved, {sc['min_guarantee']:g} cores reserved per vCPU "
        f"({sc['critical_reservation']:g} for critical VMs)")
    for note in sc["notes"]:
        say(f"  note        {note}")
    ratio = adm["vcpus_admitted"] / sc["pcpus"]
    say(f"  admission   {adm['admitted']} of {sc['vms_offered']} VMs admitted ({adm['critical_admitted']} critical; "
        f"{adm['vcpus_admitted']} vCPUs, {ratio:.2f} per pCPU), {adm['refused']} refused")
    for rule, count in adm["refused_by_rule"].items():
        say(f"              {count} refused by the {rule} rule")
    for advice in adm["to_admit_all"].values():
        say(f"              {advice}")
    cpu_rules = {"vCPU ratio", "CPU reservations"} & set(adm["to_admit_all"])
    if len(cpu_rules) > 1:
        say(f"              --pcpus {adm['pcpus_to_admit_all']} alone satisfies both CPU rules")
    reserved = adm["reserved_cores"] / sc["pcpus"]
    say(f"              reservations hold {_pct(reserved)} of the pCPUs: lending can move at most the other "
        f"{_pct(max(0.0, 1 - reserved))}" + (" (a lower --min-guarantee or more --pcpus leaves more to lend)"
                                              if reserved > 0.8 else ""))
    lend = cpu["lend"]
    say(f"  CPU load    demand / pCPUs: mean {_pct(lend['mean_load'])}, peak {_pct(lend['peak_load'])}; "
        f"the reallocator lent during {lend['lending_ticks']} of {sc['ticks']} ticks")
    say("  CPU                                unmet      ready mean / p99     limited   reservation met")
    for policy in POLICIES:
        say(f"    {POLICY_LABELS[policy]}")
        for part, label in (("critical", "critical"), ("best_effort", "best-effort")):
            c = cpu[policy][part]
            if c["vms"] == 0:
                say(f"      {label:<12} (no VMs)")
                continue
            say(f"      {label:<12} {c['vms']:>6} VMs {_pct(c['unmet_demand']):>10}   {_pct(c['ready_mean']):>8} / "
                f"{_pct(c['ready_p99']):<9} {_pct(c['limited_mean']):>9}   {_pct(c['reservation_met']):>9}")
    say(f"    {_unmet_comparison(cpu['lend']['all']['unmet_demand'], cpu['static']['all']['unmet_demand'])}")
    if sc["fidelity"] == "fluid":
        say("    (fluid model: ready = capped demand the pCPUs could not serve; limited = demand above the cap)")
    else:
        say("    (sliced model: run / ready / limited time of the EEVDF scheduler over 1 s of every tick)")
    pressure = mem["pressure_ticks"]
    say(f"  memory      saved by sharing: {_pct(mem['saving_mean'])} of resident pages on average "
        f"({_pct(mem['saving_final'])} at the end); frames used at most {mem['frames_used_max']} of {sc['frames']}"
        + (f", all of them during {pressure} ticks" if pressure else ""))
    say(f"              major faults {mem['major_faults']}, COW breaks {mem['cow_breaks']}, "
        f"pages swapped at the end {mem['swapped_final']}")
    if "network" in result:
        print_network(result["network"], say)
    say("  wall time   " + ", ".join(f"{POLICY_LABELS[p]} {s:.1f} s" for p, s in result["seconds"].items()))
