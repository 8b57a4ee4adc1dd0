"""The warm-started division used by the reallocator is bit-identical to the kernel.

WarmFairShare has no Python binding (it is an internal of the reallocator), so
this builds the C++ fuzz driver csrc/tests/warm_fair_share_fuzz.cpp against the
core sources and runs it. Skipped without a C++ compiler.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_warm_fair_share_matches_kernel_bit_for_bit(tmp_path):
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / "warm_fair_share_fuzz"
    sources = [
        ROOT / "csrc" / "tests" / "warm_fair_share_fuzz.cpp",
        ROOT / "csrc" / "core" / "warm_fair_share.cpp",
        ROOT / "csrc" / "core" / "fair_share.cpp",
        ROOT / "csrc" / "core" / "errors.cpp",
    ]
    build = subprocess.run(
        [compiler, "-O2", "-std=c++17", "-ffp-contract=off", "-fno-fast-math"]
        + [f"-I{ROOT / 'csrc' / 'include'}"]
        + [str(s) for s in sources]
        + ["-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "100000"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "mismatches 0 error_mismatches 0" in run.stdout
