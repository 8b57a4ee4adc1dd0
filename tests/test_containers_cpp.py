"""The shared containers' own C++ tests (tests/cpp/*_test.cpp).

Each driver checks one header of csrc/include/vsched/containers/ (or one of
OTHER_CONTAINERS) against a
standard-library oracle over many random operation sequences and exits 0 only
if every check held. They are compiled here with the compiler flags, C++
standard and include path that setup.py builds the extension with (read from
setup.py, which builds nothing when imported under another name). Skipped
without a C++ compiler.
"""

from __future__ import annotations

import os
import runpy
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = sorted(p.stem for p in (ROOT / "tests" / "cpp").glob("*_test.cpp"))
# Containers that live beside their one user rather than in containers/.
OTHER_CONTAINERS = ["waiting_queue"]  # csrc/include/vsched/scheduler/waiting_queue.hpp


def _compiler() -> list[str] | None:
    """The C++ compiler setup.py would use: $CXX, else Python's, else c++ / g++ / clang++."""
    for candidate in (os.environ.get("CXX"), sysconfig.get_config_var("CXX")):
        if candidate:
            words = shlex.split(candidate)
            if shutil.which(words[0]):
                return words
    found = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    return [found] if found else None


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    compiler = _compiler()
    if compiler is None:
        pytest.skip("no C++ compiler")
    flags = runpy.run_path(str(ROOT / "setup.py"), run_name="vsched_build_flags")
    out = tmp_path_factory.mktemp("containers_cpp")
    includes = [f"-I{ROOT / d}" for d in flags["INCLUDE_DIRS"]] + [f"-I{ROOT / 'tests' / 'cpp'}"]
    jobs = {}
    for name in DRIVERS:  # compile all drivers at once: the machine may be slow
        exe = out / name
        cmd = [*compiler, f"-std=c++{flags['CXX_STD']}", *flags["compile_flags"], *includes,
               str(ROOT / "tests" / "cpp" / f"{name}.cpp"), "-o", str(exe), *flags["link_flags"]]
        jobs[name] = (exe, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (exe, proc) in jobs.items():
        stdout, stderr = proc.communicate(timeout=600)
        results[name] = (exe, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def test_every_container_has_a_driver():
    headers = [p.stem for p in (ROOT / "csrc" / "include" / "vsched" / "containers").glob("*.hpp")]
    headers += [name for name in OTHER_CONTAINERS]
    assert sorted(f"{h}_test" for h in headers) == DRIVERS


@pytest.mark.parametrize("name", DRIVERS)
def test_container_driver(built, name):
    exe, build = built[name]
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"{name.removesuffix('_test')}: ok"
