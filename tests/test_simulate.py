"""`vsched simulate` end to end: defaults, both trace formats, sliced, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vsched", "simulate", *args], capture_output=True, text=True, timeout=600
    )


def checked(*args: str) -> dict:
    result = simulate(*args, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    checks, scenario = summary["checks"], summary["scenario"]
    # The invariants, read from the JSON: no VM above its cap (its limit in force),
    # reservations met whenever demanded, frames never exceeded.
    # Sliced: the scheduler's limit allows one slice (3 ms) over limit x T in a
    # window, and the host samples 1 s of each tick.
    cap_slack = 1e-9 if scenario["fidelity"] == "fluid" else 3e6 / 1e9
    assert checks["max_over_cap"] <= cap_slack
    assert checks["max_over_vcpus"] <= 1e-9
    assert checks["max_used_cores"] <= scenario["pcpus"] + 1e-9
    assert checks["frames_used_max"] <= checks["frames"] == scenario["frames"]
    if scenario["fidelity"] == "fluid":
        assert checks["max_reservation_shortfall"] <= 1e-9
    return summary


def test_defaults_tell_the_story():
    summary = checked()
    assert summary["scenario"]["ticks"] == 288 and summary["scenario"]["pcpus"] == 64
    assert summary["admission"]["admitted"] >= 100 and summary["admission"]["refused"] > 0
    cpu = summary["cpu"]
    assert cpu["off"]["unmet_demand"] <= cpu["lend"]["unmet_demand"] < cpu["static"]["unmet_demand"]
    assert summary["memory"]["saving_mean"] > 0.2  # template clones share
    assert summary["memory"]["cow_breaks"] > 0


def test_default_text_summary_reads_well():
    result = simulate("--hours", "2", "--no-progress")
    assert result.returncode == 0, result.stderr
    for words in ("admission", "with reallocation", "static entitlements", "saved by sharing", "major faults"):
        assert words in result.stdout


def test_planetlab_trace(shared_data):
    day = shared_data / "planetlab" / "20110303"
    summary = checked("--trace", f"planetlab:{day}", "--vms", "300", "--hours", "6")
    assert summary["scenario"]["source"].startswith("planetlab:")
    assert summary["scenario"]["vms_offered"] == 300
    assert summary["cpu"]["lend"]["unmet_demand"] < summary["cpu"]["static"]["unmet_demand"]


def test_gcd_trace_clamps_memory_with_a_note(shared_data):
    summary = checked("--trace", f"gcd:{shared_data / 'gcd'}", "--vms", "200", "--hours", "4")
    assert summary["scenario"]["source"].startswith("gcd:")
    assert summary["scenario"]["vms_offered"] == 200


def test_gcd_full_trace_notes_clamping(shared_data):
    summary = checked("--trace", f"gcd:{shared_data / 'gcd'}", "--hours", "1", "--accesses", "4", "--pages", "64")
    assert any("clamped" in note for note in summary["scenario"]["notes"])


def test_sliced_fidelity():
    summary = checked("--fidelity", "sliced", "--vms", "40", "--pcpus", "8", "--hours", "1")
    assert summary["scenario"]["fidelity"] == "sliced"


def test_reference_engines_give_the_same_result():
    args = ("--vms", "24", "--pcpus", "4", "--hours", "1", "--pages", "64")
    native, reference = checked(*args), checked(*args, "--engines", "reference")
    assert native["admission"] == reference["admission"]
    assert native["memory"] == reference["memory"]  # integer counts and shares of them
    for part in ("checks", *(f"cpu.{policy}" for policy in ("lend", "static", "off"))):
        a, b = (summary[part] if "." not in part else summary["cpu"][part[4:]] for summary in (native, reference))
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), part


@pytest.mark.parametrize(
    "args",
    [
        ["--trace", "planetlab:/nonexistent/day"],
        ["--trace", "nonsense"],
        ["--vms", "0"],
        ["--pcpus", "0"],
        ["--hours", "-1"],
        ["--fidelity", "exact"],
        ["--bogus"],
    ],
)
def test_bad_options_one_line_exit_2(args):
    result = simulate(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "day.png"
    result = simulate("--vms", "30", "--pcpus", "8", "--hours", "2", "--plot", str(target))
    assert result.returncode == 0, result.stderr
    assert target.stat().st_size > 10_000
