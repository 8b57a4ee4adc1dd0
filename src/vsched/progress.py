"""Progress on stderr: a tqdm bar on a terminal, plain lines otherwise.

A log file or a pipe gets one line per tenth of the work (with the elapsed
time and an estimate of what is left) instead of a carriage return per update.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class PlainProgress:
    """tqdm's ``update`` / ``close`` protocol, written as whole lines."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO, steps: int = 10) -> None:
        self.total, self.desc, self.unit, self.stream = max(int(total), 1), desc, unit, stream
        self.steps, self.done, self.shown = steps, 0, 0
        self.started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        step = self.steps * min(self.done, self.total) // self.total
        if step > self.shown:
            self.shown = step
            elapsed = time.perf_counter() - self.started
            left = elapsed * (self.total - self.done) / max(self.done, 1)
            self.stream.write(
                f"{self.desc}: {100 * step // self.steps:3d}% ({self.done}/{self.total} {self.unit}), "
                f"{elapsed:.1f} s elapsed, ~{left:.1f} s left\n"
            )
            self.stream.flush()

    def close(self) -> None:
        pass

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int, desc: str, unit: str = "ticks", stream: TextIO | None = None) -> Any:
    """A progress reporter with ``update(n)`` and ``close()`` (also a context manager):
    a tqdm bar with an ETA when ``stream`` (default stderr) is a terminal, plain lines otherwise."""
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=f" {unit}", file=stream, leave=True, dynamic_ncols=True)
    return PlainProgress(total, desc, unit, stream)
