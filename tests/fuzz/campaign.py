"""The fuzz campaign: many seeded sequences on every engine, each under a time limit.

Sequences run in a worker subprocess; the parent reads its progress and kills
it when one sequence runs past ``--limit`` seconds (a hang, even in a native
loop that ignores signals) or when it dies (a crash, an ASan report). Either
is a finding; the worker is restarted at the next seed. Every finding carries
its seed and a reproducer (the calls up to the one that failed).

    python tests/fuzz/campaign.py --sequences 2000 --length 60 --limit 30 --report fuzz.json

``VSCHED_FUZZ_SEQUENCES`` sets the default number of sequences.
docs/robustness.md describes the campaign and reports its results.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fuzz_engines  # noqa: E402
from fuzz_engines import ENGINES, Call  # noqa: E402

ENGINE_NAMES = sorted(ENGINES)


def engine_of(seed: int) -> str:
    return ENGINE_NAMES[seed % len(ENGINE_NAMES)]


def worker(first: int, last: int, length: int) -> None:
    """Run seeds first..last-1, one JSON line per event on stdout."""
    from fuzz_runner import Finding, run_sequence

    def emit(**event: object) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def on_call(call: Call) -> None:
        emit(event="call", text=call.render(engine))

    for seed in range(first, last):
        engine = engine_of(seed)
        emit(event="start", seed=seed, engine=engine)
        try:
            counts = run_sequence(engine, seed, length, on_call)
            emit(event="done", seed=seed, **counts)
        except Finding as finding:
            emit(event="finding", seed=seed, kind=finding.kind, detail=finding.detail, calls=len(finding.calls))


def campaign(sequences: int, length: int, limit: float, start: int = 0, include_known: bool = False,
             python: str = sys.executable, log=None) -> dict:  # fmt: skip
    """Run `sequences` seeds from `start`; returns counts and findings (plain data)."""
    totals = Counter({"sequences": 0, "calls": 0, "refused": 0})
    per_engine: dict[str, Counter] = {name: Counter() for name in ENGINE_NAMES}
    findings: list[dict] = []
    seed, end = start, start + sequences
    env = dict(os.environ, VSCHED_FUZZ_INCLUDE_KNOWN="1" if include_known else "")
    began = time.monotonic()
    while seed < end:
        with tempfile.TemporaryFile() as stderr_file:
            seed = _run_worker(python, seed, end, length, limit, env, stderr_file, totals, per_engine, findings, log)
    return {
        "sequences": totals["sequences"],
        "calls": totals["calls"],
        "refused": totals["refused"],
        "seconds": round(time.monotonic() - began, 1),
        "per_engine": {name: dict(counts) for name, counts in per_engine.items()},
        "length": length,
        "limit_s": limit,
        "start": start,
        "avoided": [] if include_known else sorted(fuzz_engines.KNOWN),
        "findings": findings,
    }


def _run_worker(python, seed, end, length, limit, env, stderr_file, totals, per_engine, findings, log) -> int:
    """Run one worker from `seed` until it finishes, hangs or dies; returns the next seed to run."""
    proc = subprocess.Popen(
        [python, str(Path(__file__).resolve()), "--worker", str(seed), str(end), str(length)],
        stdout=subprocess.PIPE, stderr=stderr_file, env=env, bufsize=0,
    )  # fmt: skip
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    current: dict | None = None
    calls: list[str] = []
    deadline = time.monotonic() + limit
    pending = b""

    def count(engine: str) -> None:
        totals["sequences"] += 1
        per_engine[engine]["sequences"] += 1

    try:
        while True:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                if current is not None and time.monotonic() >= deadline:
                    proc.kill()
                    proc.wait()
                    findings.append(_finding(current, "hang", f"no result within {limit:g} s", calls))
                    count(current["engine"])
                    return current["seed"] + 1
                deadline = time.monotonic() + limit  # between sequences: nothing is timed
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the worker ended: all seeds done, or it died
                proc.wait()
                if current is None:
                    return end
                stderr_file.seek(0)
                stderr = stderr_file.read().decode(errors="replace")[-3000:]
                detail = f"worker died with code {proc.returncode}: {_last_line(stderr)}"
                findings.append(_finding(current, "crash", detail, calls, stderr))
                count(current["engine"])
                return current["seed"] + 1
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = json.loads(line)
                kind = event.pop("event")
                if kind == "start":
                    current, calls, deadline = event, [], time.monotonic() + limit
                    continue
                if kind == "call":
                    calls.append(event["text"])
                    continue
                assert current is not None
                count(current["engine"])
                engine_counts = per_engine[current["engine"]]
                if kind == "done":
                    for key in ("calls", "refused"):
                        totals[key] += event[key]
                        engine_counts[key] += event[key]
                else:
                    totals["calls"] += event["calls"]
                    engine_counts["calls"] += event["calls"]
                    findings.append(_finding(current, event["kind"], event["detail"], calls))
                current = None
                if log is not None and totals["sequences"] % 200 == 0:
                    log(f"{totals['sequences']} sequences, {totals['calls']} calls, {len(findings)} findings")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _finding(current: dict, kind: str, detail: str, calls: list[str], stderr: str = "") -> dict:
    lines = ["import pickle", "import numpy as np", "import vsched as m  # or: import vsched.reference as m"]
    found = {"seed": current["seed"], "engine": current["engine"], "kind": kind, "detail": detail,
             "reproducer": "\n".join(lines + calls)}  # fmt: skip
    if stderr:
        found["stderr"] = stderr
    return found


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def summary(report: dict) -> str:
    """Findings grouped by (engine, kind, what failed), with one seed each."""
    groups: dict[tuple, list[dict]] = {}
    for found in report["findings"]:
        groups.setdefault((found["engine"], found["kind"], found["detail"][:70]), []).append(found)
    lines = [f"{report['sequences']} sequences, {report['calls']} calls ({report['refused']} refused) in "
             f"{report['seconds']} s; {len(report['findings'])} findings in {len(groups)} groups"]  # fmt: skip
    for (engine, kind, _), items in sorted(groups.items(), key=lambda item: -len(item[1])):
        first = items[0]
        lines.append(f"  {len(items):5d} x {engine} {kind}: {first['detail'][:150]} (seed {first['seed']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=int(os.environ.get("VSCHED_FUZZ_SEQUENCES", "500")))
    parser.add_argument("--length", type=int, default=60, help="calls per sequence after the constructor")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds one sequence may take")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--include-known", action="store_true", help="also draw the known open problems")
    parser.add_argument("--report", type=Path, help="write the full report (JSON) here")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if os.environ.get("VSCHED_FUZZ_INCLUDE_KNOWN"):
            fuzz_engines.AVOID.clear()
        worker(*args.worker)
        return 0
    report = campaign(args.sequences, args.length, args.limit, args.start, args.include_known,
                      log=lambda text: print(text, file=sys.stderr, flush=True))  # fmt: skip
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    print(summary(report))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
