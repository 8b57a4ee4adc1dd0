"""`vsched fleet` end to end (small flags keep it to seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SMALL = ("--hosts", "6", "--vms", "300", "--hours", "4", "--pcpus", "8", "--memory", "20000")


def fleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vsched", "fleet", *args], capture_output=True, text=True, timeout=600)


def test_json_summary_accounts_for_every_vm():
    result = fleet(*SMALL, "--failures", "1", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    s = out["summary"]
    assert s["vms"] == out["scenario"]["vms_offered"] == 300
    assert s["placed"] + s["refused"] == 300
    assert s["host_failures"] == 1 and s["vm_restarts"] > 0
    assert 0 <= s["unmet_demand"] < 1 and s["ready_pct_p99"] >= s["ready_pct_p95"] >= 0


def test_text_summary_and_planetlab_trace(shared_data):
    day = shared_data / "planetlab" / "20110303"
    if not day.is_dir():
        pytest.skip("PlanetLab day not present")
    result = fleet(*SMALL, "--trace", f"planetlab:{day}", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "planetlab" in result.stdout and "migrations" in result.stdout


@pytest.mark.parametrize("flags, word", [
    (("--hours", "inf"), "--hours"), (("--hosts", "0"), "--hosts"), (("--threshold", "9"), "--threshold"),
    (("--seed", "-1"), "--seed"), (("--placement", "random"), "placement"), (("--trace", "nope:x"), "trace"),
    (("--plot", "/nonexistent/dir/x.png"), "--plot"), (("--vms", "-3"), "--vms"),
    (("--max-hosts-off", "2"), "--consolidate"), (("--consolidate", "--max-hosts-off", "0"), "--max-hosts-off"),
])
def test_bad_flags_exit_2_with_one_line(flags, word):
    result = fleet(*flags)
    assert result.returncode == 2
    assert word in result.stderr and len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fleet.png"
    result = fleet("--hosts", "3", "--vms", "60", "--hours", "2", "--pcpus", "8", "--plot", str(target), "--json")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_consolidate_powers_hosts_off_and_saves_energy():
    # 8 hosts of 8 pCPUs for 160 VMs: light enough that consolidation empties hosts (rules F14-F17)
    light = ("--hosts", "8", "--vms", "160", "--hours", "6", "--pcpus", "8", "--memory", "20000", "--failures", "0",
             "--json")
    plain, packed = (json.loads(fleet(*light, *extra).stdout) for extra in ((), ("--consolidate",)))
    assert plain["summary"]["hosts_powered_off"] == 0 and not plain["scenario"]["consolidate"]
    s = packed["summary"]
    assert packed["scenario"]["consolidate"] and packed["scenario"]["max_hosts_off"] == 1
    assert s["hosts_powered_off"] > 0 and s["active_hosts_mean"] < plain["summary"]["active_hosts_mean"]
    assert s["energy_kwh"] < plain["summary"]["energy_kwh"]
    assert s["placed"] + s["refused"] == 160
