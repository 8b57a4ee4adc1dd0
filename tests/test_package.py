"""The package as a user meets it: version, command line, typing stubs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vsched
import vsched.reference


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vsched", *args], capture_output=True, text=True, timeout=300)


def test_version_everywhere():
    assert vsched.__version__ and vsched.__version__ != "0.0.0+unknown"
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"vsched {vsched.__version__}"


def test_reference_has_the_same_public_names():
    native = {name for name in vsched.__all__ if not name.startswith("_")} - {"IMPLEMENTATION", "reference"}
    missing = [name for name in native if not hasattr(vsched.reference, name)]
    # Pure-Python helpers shared by both (readers, metrics) may be re-exported or not; engines must be.
    assert not missing, f"reference lacks {missing}"
    assert vsched.IMPLEMENTATION == "native" and vsched.reference.IMPLEMENTATION == "reference"


def test_simulate_json_is_consistent():
    result = _run("simulate", "--vms", "60", "--pcpus", "12", "--hours", "2", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["scenario"]["vms_offered"] == 60 and summary["scenario"]["pcpus"] == 12
    assert summary["admission"]["admitted"] + summary["admission"]["refused"] == 60
    for policy in ("lend", "static", "off"):
        assert 0.0 <= summary["cpu"][policy]["all"]["unmet_demand"] <= 1.0


@pytest.mark.parametrize("args", [["simulate", "--vms", "0"], ["simulate", "--pcpus", "-1"], ["simulate", "--hours", "x"]])
def test_bad_options_exit_2_with_one_clear_line(args):
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.strip(), "an error message is expected"


def test_console_script_installed():
    scripts = Path(sys.executable).parent
    exe = scripts / ("vsched.exe" if os.name == "nt" else "vsched")
    if not exe.exists():
        pytest.skip("console script not on this interpreter's bin dir")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "vsched" in result.stdout


def test_committed_stub_matches_the_extension():
    pytest.importorskip("mypy")
    stub = Path(vsched.__file__).with_name("_core.pyi")
    assert stub.exists(), "src/vsched/_core.pyi must be committed (regenerate with .ci/stubs)"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "vsched._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_shipped():
    assert Path(vsched.__file__).with_name("py.typed").exists()
