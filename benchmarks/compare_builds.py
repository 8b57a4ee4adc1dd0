"""Two builds of vsched side by side in one run, on the asv benchmarks' own setup and timed calls.

Each sample is a fresh process that imports the asv benchmark class from this
checkout's ``benchmarks/benchmarks``, puts one build's ``src`` first on the path,
runs the class's ``setup(*params)`` and then times the benchmark method with
``time.process_time()`` (one call for classes with ``number = 1``, else calls
until 0.2 s, reporting the time per call) (CPU time: steadier than wall time on a
shared machine). Samples alternate between the builds (A B A B ...), so both
see the same load. Prints, per benchmark, the median and minimum of each build
and the ratio of the medians (B / A).

The other build is an unpacked and built copy of another commit, e.g.::

    mkdir /tmp/before && git archive main | tar -x -C /tmp/before
    (cd /tmp/before && python setup.py build_ext --inplace -q)
    python benchmarks/compare_builds.py /tmp/before/src src --repeat 5 \\
        "bench_cache:CacheAccessMany.time_access_many:native,lru,1000000"

A benchmark is ``module:Class.method:param,param,...`` (integers are passed as
ints), or ``module:Class.method`` for a class without parameters. Without
benchmarks the default list (the suites whose containers are shared: LRU-K, the
memory manager, the key caches and the reallocator) runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

DEFAULT = [
    "bench_lruk:LRUKAccessMany.time_access_many_k2:native,1000000",
    "bench_lruk:LRUKAccessMany.time_access_many_k1:native,1000000",
    "bench_lruk:LRUKAccessPerCall.time_access_per_call:native,100000",
    *(f"bench_cache:CacheAccessMany.time_access_many:native,{p},1000000" for p in ["lru", "clock", "arc", "lirs", "lruk"]),
    "bench_memory:MemoryManagerAccess.time_access:native,100x1024/20k/frames2k",
    "bench_memory:MemoryManagerAccess.time_access:native,1000x65536/10M/frames1M",
    "bench_memory:MemoryManagerChurn.time_1000_cycles:native,100000",
    "bench_realloc:Observe.time_observe_tick:native,10000,288,max",
    "bench_realloc:Observe.time_observe_tick:native,10000,288,percentile",
    "bench_realloc:AddVm.time_add_vm:native,288,max,64",
]


def _param(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _sample(src: str, spec: str) -> float:
    """One sample in a fresh process: setup, then the CPU seconds of one timed call."""
    code = (
        "import importlib, json, sys, time\n"
        f"sys.path[:0] = [{src!r}, {str(HERE)!r}]\n"
        "module, name, params = json.loads(sys.argv[1])\n"
        "cls_name, method = name.split('.')\n"
        "bench = getattr(importlib.import_module('benchmarks.' + module), cls_name)()\n"
        "bench.setup(*params)\n"
        "timed, calls = getattr(bench, method), 0\n"
        "started = time.process_time()\n"
        "while True:  # number = 1 classes: one call; others: calls until 0.2 s, as asv picks number\n"
        "    timed(*params)\n"
        "    calls += 1\n"
        "    spent = time.process_time() - started\n"
        "    if getattr(bench, 'number', 0) == 1 or spent >= 0.2:\n"
        "        break\n"
        "print(spent / calls)\n"
    )
    module, name, *params = spec.split(":")
    args = [module, name, [_param(p) for p in params[0].split(",")] if params and params[0] else []]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{spec} with {src} failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="src directory of build A (e.g. the version before)")
    parser.add_argument("b", help="src directory of build B (e.g. this checkout's src)")
    parser.add_argument("benchmarks", nargs="*", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=5, help="samples per build and benchmark")
    args = parser.parse_intermixed_args()
    a, b = str(Path(args.a).resolve()), str(Path(args.b).resolve())
    print(f"A = {a}\nB = {b}\nCPU ms per call, {args.repeat} samples each, alternating A/B")
    print(f"{'benchmark':<78} {'A median':>9} {'B median':>9} {'A min':>9} {'B min':>9} {'B/A':>6}")
    for spec in args.benchmarks:
        times: dict[str, list[float]] = {a: [], b: []}
        for i in range(args.repeat):
            for src in (a, b) if i % 2 == 0 else (b, a):
                times[src].append(_sample(src, spec))
        ma, mb = statistics.median(times[a]), statistics.median(times[b])
        cells = " ".join(f"{1e3 * t:9.4g}" for t in (ma, mb, min(times[a]), min(times[b])))
        print(f"{spec:<78} {cells} {mb / ma:6.3f}", flush=True)


if __name__ == "__main__":
    main()
