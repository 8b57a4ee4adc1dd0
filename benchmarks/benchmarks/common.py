"""Helpers shared by the asv suites: pick the implementation by name."""

from __future__ import annotations

import os
from pathlib import Path

import vsched
import vsched.reference

IMPLS = ["native", "reference"]

# Real traces: shared/data beside the checkout, or wherever VSCHED_SHARED_DATA points (as for the tests).
SHARED_DATA = Path(os.environ.get("VSCHED_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))

# CI sets VSCHED_BENCH_SMOKE=1 to run every suite once at toy sizes, so the
# suite cannot rot without costing minutes; real measurements never set it.
SMOKE = os.environ.get("VSCHED_BENCH_SMOKE") == "1"


def sizes(full: list, smoke: list) -> list:
    """The parameter sizes to benchmark: `full` normally, `smoke` in CI's smoke pass."""
    return smoke if SMOKE else full


def module(impl: str):
    return vsched if impl == "native" else vsched.reference


def skip_reference_above(impl: str, size: int, largest: int) -> None:
    """asv skips a parameter combination whose setup raises NotImplementedError.

    The pure-Python reference is run on reduced sizes only: it would take
    minutes per sample at full scale.
    """
    if impl == "reference" and size > largest:
        raise NotImplementedError(f"reference not run above {largest}")
