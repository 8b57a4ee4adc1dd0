"""Helpers shared by the asv suites: pick the implementation by name."""

from __future__ import annotations

import vsched
import vsched.reference

IMPLS = ["native", "reference"]


def module(impl: str):
    return vsched if impl == "native" else vsched.reference


def skip_reference_above(impl: str, size: int, largest: int) -> None:
    """asv skips a parameter combination whose setup raises NotImplementedError.

    The pure-Python reference is run on reduced sizes only: it would take
    minutes per sample at full scale.
    """
    if impl == "reference" and size > largest:
        raise NotImplementedError(f"reference not run above {largest}")
