"""Instructions and cache misses per VM of the host-scale benchmarks, counted by callgrind.

Counts do not depend on the machine's load, unlike times. For each size, one process under
``valgrind --tool=callgrind --cache-sim=yes`` builds the host of ``benchmarks/host_scale_cpu.py``
(``_host`` and ``_admit_all`` of ``bench_host_scale.py``, the same demand and accesses), runs
two untimed ticks, then collects the costs of ``--ticks`` more ticks only (or of the admission
only, ``admit``): a marker library (compiled here from callgrind's client requests, which needs
valgrind's headers and a C compiler) switches the collection on and off around them. Printed per
VM per tick: instructions, L1d misses and last-level misses, split into the calls a tick makes
(inclusive costs) and the rest (Python, NumPy, bindings), with the ratio of the largest size to
the smallest; and the scheduler's decisions and its ``run``'s costs per decision:

    python benchmarks/host_scale_callgrind.py sliced --sizes 1000 3000 10000
    python benchmarks/host_scale_callgrind.py sliced --sizes 1000 10000 --ll 33554432
    python benchmarks/host_scale_callgrind.py fluid admit

``--ll`` is the simulated last-level cache in bytes (default 2 MiB, this machine's L2 per core;
the L3 is 32 MiB). About 1 minute per 1,000 VMs per tick kind on this machine.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw"]
_MARKER = r"""
#include <valgrind/callgrind.h>
void vsched_collect_on(void) { CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT; }
void vsched_collect_off(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS_AT("measured"); }
"""
# (label, substring of the outermost function of that call); the rest of the tick is what is left.
_CALLS = [
    ("CpuScheduler.run", "vsched::CpuScheduler::run(long"),
    ("CpuScheduler.stats (2 calls)", "stats_py(vsched::CpuScheduler const&)"),
    ("CpuScheduler.set_limits", "vsched::CpuScheduler::set_limits("),
    ("CpuScheduler.add_work", "vsched::CpuScheduler::add_work("),
    ("CpuScheduler.clear_all_work", "vsched::CpuScheduler::clear_all_work("),
    ("MemoryManager.access", "access_batch(vsched::MemoryManager&"),
    ("MemoryManager.stats", "::stats(vsched::MemoryManager const&)"),
    ("Reallocator.observe", "vsched::Reallocator::observe("),
    ("fair share (fluid)", "fair_share_py("),
]


def _child(vms: int, what: str, ticks: int, marker: str) -> None:
    """Runs inside valgrind: build the host, collect the measured calls only."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from benchmarks.bench_host_scale import _admit_all, _host

    collect = ctypes.CDLL(marker)
    host = _host("native", vms, "fluid" if what == "admit" else what)
    if what == "admit":
        collect.vsched_collect_on()
        _admit_all(host, vms)
        collect.vsched_collect_off()
        return
    _admit_all(host, vms)
    rng = np.random.default_rng(1)  # the demand and accesses of HostTick.setup
    demand = rng.random(vms) * (1 + np.arange(vms) % 3) * 0.4
    memory = [{"vm": np.repeat(np.arange(vms), 4), "gpn": rng.integers(0, 64, 4 * vms)}]
    host.step(demand, memory)
    host.step(demand, memory)
    scheduler = host.scheduler
    before = scheduler.decisions if scheduler is not None else 0
    collect.vsched_collect_on()
    for _ in range(ticks):
        host.step(demand, memory)
    collect.vsched_collect_off()
    print("decisions", (scheduler.decisions - before) if scheduler is not None else 0)


def _inclusive(path: str) -> tuple[list[int], list[tuple[str, list[int]]]]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--show=" + ",".join(EVENTS), path],
                         capture_output=True, text=True, check=True).stdout
    total, rows = [0] * len(EVENTS), []
    for line in out.splitlines():
        if not re.match(r"\s*[\d,]+ ", line):
            continue
        rest, values = line, []
        for _ in EVENTS:
            match = re.match(r"\s*(\.|[\d,]+)(\s+\([^)]*\))?", rest)
            assert match is not None
            values.append(0 if match.group(1) == "." else int(match.group(1).replace(",", "")))
            rest = rest[match.end():]
        name = rest.strip()
        if name == "PROGRAM TOTALS":
            total = values
        elif not any(skip in name for skip in ("initialize<", "function_ref<", "call_impl<")):
            rows.append((name, values))
    return total, rows


def _measure(vms: int, what: str, ticks: int, ll: int, marker: str, workdir: str) -> dict[str, object]:
    out_file = os.path.join(workdir, f"{what}{vms}.out")
    command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--cache-sim=yes", f"--LL={ll},16,64",
               f"--callgrind-out-file={out_file}", sys.executable, __file__, "--child", str(vms), what, str(ticks), marker]
    log = subprocess.run(command, capture_output=True, text=True, check=True)
    decisions = [int(line.split()[1]) for line in log.stdout.splitlines() if line.startswith("decisions")]
    total, rows = _inclusive(out_file + ".1")
    parts: dict[str, list[int]] = {}
    for label, pattern in _CALLS:
        hits = [values for name, values in rows if pattern in name]
        if hits:
            parts[label] = [max(values[k] for values in hits) for k in range(len(EVENTS))]  # the outermost entry
    parts["rest: Python, NumPy, bindings"] = [total[k] - sum(p[k] for p in parts.values()) for k in range(len(EVENTS))]
    parts["whole " + ("admission" if what == "admit" else "tick")] = total
    return {"parts": parts, "decisions": decisions[0] if decisions else 0}


def _table(what: str, sizes: list[int], results: dict[int, dict[str, object]], per: int) -> None:
    labels = list(dict.fromkeys(label for vms in sizes for label in results[vms]["parts"]))  # type: ignore[union-attr]
    for title, pick in (("instructions", lambda v: v[0]), ("L1d misses", lambda v: v[1] + v[2]),
                        ("last-level misses", lambda v: v[3] + v[4])):
        print(f"\n{what}: {title} per VM" + (" per tick" if what != "admit" else ""))
        print(f"{'':34s}" + "".join(f"{vms:>11d}" for vms in sizes) + "    ratio")
        for label in labels:
            row = [pick(results[vms]["parts"].get(label, [0] * 5)) / vms / per for vms in sizes]  # type: ignore[union-attr]
            if not any(row):
                continue
            ratio = f"{row[-1] / row[0]:8.2f}x" if row[0] else ""
            print(f"{label:34s}" + "".join(f"{value:11.1f}" for value in row) + ratio)
    if what == "sliced":
        print(f"\n{'CpuScheduler.run per decision':34s}" + "".join(f"{vms:>11d}" for vms in sizes))
        print(f"{'decisions per VM per tick':34s}" + "".join(f"{results[vms]['decisions'] / vms / per:11.2f}" for vms in sizes))
        for title, pick in (("instructions", lambda v: v[0]), ("L1d misses", lambda v: v[1] + v[2]),
                            ("last-level misses", lambda v: v[3] + v[4])):
            row = [pick(results[vms]["parts"]["CpuScheduler.run"]) / max(1, results[vms]["decisions"]) for vms in sizes]  # type: ignore[index, operator]
            print(f"{title:34s}" + "".join(f"{value:11.2f}" for value in row) + f"{row[-1] / row[0]:8.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=["admit", "fluid", "sliced"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 3_000, 10_000])
    parser.add_argument("--ticks", type=int, default=3, help="measured ticks per size (after 2 untimed ones)")
    parser.add_argument("--ll", type=int, default=2 << 20, help="simulated last-level cache, bytes (default 2 MiB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        source, marker = os.path.join(workdir, "marker.c"), os.path.join(workdir, "marker.so")
        Path(source).write_text(_MARKER)
        subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", marker, source], check=True)
        for what in args.what:
            results = {vms: _measure(vms, what, args.ticks, args.ll, marker, workdir) for vms in args.sizes}
            _table(what, args.sizes, results, 1 if what == "admit" else args.ticks)


if __name__ == "__main__":
    main()
