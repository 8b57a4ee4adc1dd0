"""`vsched simulate` end to end, as a user runs it: the scenario, both trace formats,
sliced, the refusal totals and what to change, bad flags, progress and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

# The built-in scenario scaled down (same VM mix, vCPU ratio ~6.3, frames below the day's need).
SMALL_DAY = ("--vms", "400", "--pcpus", "100", "--memory", "100000")


def simulate(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vsched", "simulate", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def checked(*args: str) -> dict:
    result = simulate(*args, "--json", "--no-progress")
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


def leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", key, value


def test_the_day_has_contention_pressure_and_two_classes():
    summary = checked(*SMALL_DAY)
    assert summary["schema_version"] >= 2 and summary["vsched_version"]
    lend, static, off = (summary["cpu"][p] for p in ("lend", "static", "off"))
    # the afternoon asks for more than the pCPUs; the night does not
    assert lend["peak_load"] > 1.0 > lend["mean_load"]
    # memory outgrows the frames: every frame in use for part of the day, and it costs faults
    memory = summary["memory"]
    assert memory["pressure_ticks"] > 0 and memory["major_faults"] > 0
    assert memory["frames_used_max"] == summary["scenario"]["frames"]
    assert memory["saving_mean"] > 0.2 and memory["cow_breaks"] > 0  # template clones share
    assert lend["critical"]["vms"] > 0 and lend["best_effort"]["vms"] > 0
    assert lend["critical"]["vms"] + lend["best_effort"]["vms"] == summary["admission"]["admitted"]
    # without caps the host is work-conserving: nothing capped can do better
    assert off["all"]["unmet_demand"] <= min(lend["all"]["unmet_demand"], static["all"]["unmet_demand"])
    assert off["all"]["ready_mean"] > 0  # the peak queues VMs for pCPUs
    # "lending ticks" belongs to the lending policy only
    assert 0 < lend["lending_ticks"] <= summary["scenario"]["ticks"]
    assert "lending_ticks" not in static and "lending_ticks" not in off


def test_every_metric_has_a_unit_and_shares_are_fractions():
    summary = checked("--vms", "60", "--pcpus", "12", "--hours", "2")
    units = summary["units"]
    for part in ("scenario", "admission", "cpu", "memory", "checks", "network"):
        for path, key, value in leaves(summary[part]):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue  # names, notes, examples and advice are text
            if key not in units:  # a dict keyed by names (rules) has its unit on the dict
                key = next((name for name in reversed(path.split(".")) if name in units), key)
            assert key in units, f"{part}.{path} has no unit"
            if "fraction" in units[key] and not units[key].startswith("fraction:"):
                assert 0.0 <= value <= 1.0, f"{part}.{path} = {value} is not a fraction"
    assert all(key in units for key in ("seconds",))


def test_critical_vms_keep_the_nic_under_a_traffic_peak():
    """Band 0 (critical) receives all it offers, waits ~one packet; best-effort, at 2x in the peak
    hours above the NIC, loses bandwidth, queues and drops; --nic 0 has no network part."""
    summary = checked("--vms", "200", "--pcpus", "50", "--memory", "50000", "--hours", "16")
    net = summary["network"]
    critical, best = net["critical"], net["best_effort"]
    assert net["net_peak_load"] > 1.0 > net["net_mean_load"]
    assert critical["vms"] > 0 and critical["received"] == pytest.approx(1.0, abs=1e-12)
    assert critical["drops"] == 0 and critical["starved"] == 0
    assert best["received_at_peak"] < 0.9 and best["drops"] > 0
    assert critical["delay_p99_at_peak"] * 100 < best["delay_p99_at_peak"]
    tx = 1500 * 8 / net["nic_bps"]
    assert critical["delay_p99_at_peak"] < critical["vms"] * tx  # behind its own band at most
    assert "network" not in checked("--vms", "40", "--pcpus", "8", "--hours", "1", "--nic", "0")


def test_refusals_are_totalled_per_rule_with_what_to_change():
    summary = checked("--vms", "300", "--pcpus", "40", "--hours", "1", "--pages", "64")
    admission = summary["admission"]
    assert admission["refused"] > 20  # more than the examples kept
    assert sum(admission["refused_by_rule"].values()) == admission["refused"]
    assert admission["admitted"] + admission["refused"] == 300
    assert len(admission["refusal_examples"]) == 20
    advice = admission["to_admit_all"]
    assert set(admission["refused_by_rule"]) <= set(advice)  # every rule that bites, and any behind it
    # follow the advice: it must admit every VM
    flag = str(max(int(text.split("--pcpus ")[1].split()[0]) for text in advice.values()))
    assert admission["pcpus_to_admit_all"] == int(flag)
    again = checked("--vms", "300", "--pcpus", flag, "--hours", "1", "--pages", "64")
    assert again["admission"]["refused"] == 0


def test_text_names_rules_totals_and_advice():
    result = simulate("--vms", "300", "--pcpus", "40", "--hours", "1", "--pages", "64", "--no-progress")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ("admission", "refused by the CPU reservations rule", "would admit them all", "critical",
                  "best-effort", "with reallocation", "static entitlements", "saved by sharing", "major faults"):
        assert words in out, words
    assert "first" not in out and "inf" not in out.split()


def test_unmet_comparison_never_divides_by_zero():
    from vsched.simulate_report import _unmet_comparison

    assert "no demand is left unmet" in _unmet_comparison(0.0, 0.0)
    assert "with reallocation no demand is left unmet" in _unmet_comparison(0.0, 0.25)
    assert "static entitlements leave no demand unmet" in _unmet_comparison(0.1, 0.0)
    assert "2.0x" in _unmet_comparison(0.1, 0.2)
    assert "about the same" in _unmet_comparison(0.42, 0.421)


def test_planetlab_trace(shared_data):
    day = shared_data / "planetlab" / "20110303"
    summary = checked("--trace", f"planetlab:{day}", "--vms", "300", "--pcpus", "64", "--hours", "6")
    assert summary["scenario"]["source"].startswith("planetlab:")
    assert summary["scenario"]["vms_offered"] == 300


def test_gcd_trace_clamps_memory_with_a_note(shared_data):
    summary = checked("--trace", f"gcd:{shared_data / 'gcd'}", "--vms", "200", "--pcpus", "64", "--hours", "4")
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
    for part in ("checks", "cpu", "network"):
        for (path, _, a), (_, _, b) in zip(leaves(native[part]), leaves(reference[part])):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"{part}.{path}"


@pytest.mark.parametrize(
    "args, named",
    [
        (["--trace", "planetlab:/nonexistent/day"], "/nonexistent/day"),
        (["--trace", "nonsense"], "--trace"),
        (["--vms", "0"], "--vms"),
        (["--pcpus", "0"], "--pcpus"),
        (["--hours", "-1"], "--hours"),
        (["--hours", "inf"], "--hours"),
        (["--hours", "nan"], "--hours"),
        (["--domains", "0"], "--domains"),
        (["--seed", "-1"], "--seed"),
        (["--accesses", "-1"], "--accesses"),
        (["--min-guarantee", "2"], "--min-guarantee"),
        (["--max-vcpu-ratio", "0"], "--max-vcpu-ratio"),
        (["--memory", "1"], "--memory"),
        (["--plot", "/nonexistent/folder/day.png"], "--plot"),
        (["--fidelity", "exact"], "--fidelity"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_options_one_line_exit_2(args, named):
    # progress stays on: nothing may have started when a flag is refused
    result = simulate(*args, "--vms", "50", "--pages", "64", "--hours", "1") if "--vms" not in args else simulate(*args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr


def test_plain_progress_lines_when_stderr_is_not_a_terminal():
    result = simulate("--vms", "60", "--pcpus", "12", "--hours", "2", "--progress")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = result.stderr.splitlines()
    for phase in ("admitting VMs", "day, with reallocation", "day, static entitlements", "day, no caps"):
        mine = [line for line in lines if line.startswith(phase + ":")]
        assert mine and "100%" in mine[-1] and "left" in mine[-1], phase


def test_ctrl_c_exits_130_with_one_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "vsched", "simulate", "--vms", "400", "--pcpus", "100", "--hours", "168",
         "--accesses", "0", "--progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in process.stderr:  # wait until the day is being replayed
        seen.append(line)
        if line.startswith("day, ") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == "vsched simulate: interrupted"
    assert "Traceback" not in rest


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "day.png"
    result = simulate("--vms", "30", "--pcpus", "8", "--hours", "2", "--plot", str(target), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert target.stat().st_size > 10_000


@pytest.mark.skipif(not os.environ.get("VSCHED_LONG"), reason="the full built-in day; VSCHED_LONG=1 runs it")
def test_the_built_in_day():
    summary = checked()
    assert summary["admission"]["admitted"] >= 2000 * 0.95
    assert summary["cpu"]["lend"]["peak_load"] > 1.0 and summary["memory"]["pressure_ticks"] > 0


def test_a_terminal_gets_a_tqdm_bar_with_an_eta():
    import fcntl
    import pty
    import struct
    import termios
    import threading

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "vsched", "simulate", "--vms", "60", "--pcpus", "12", "--hours", "2"],
            stdout=subprocess.PIPE, stderr=child, text=True, timeout=300, check=False,
        )
    finally:
        os.close(child)
    reader.join(timeout=30)
    os.close(main)
    assert process.returncode == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    for phase in ("admitting VMs", "day, with reallocation", "day, static entitlements", "day, no caps"):
        assert phase in screen, phase
    assert "100%|" in screen and "<00:00" in screen  # tqdm's bar, with its time-left estimate
