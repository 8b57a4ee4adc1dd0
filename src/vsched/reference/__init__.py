"""Pure-Python reference engines: same public names and results as ``vsched``.

They are the test oracle for the native core and the baseline its benchmarks
are measured against. Slow by design: obviously correct first.
"""

from __future__ import annotations

from ..errors import AdmissionError
from .allocation import fair_share
from .scheduler import FOREVER, CpuScheduler

IMPLEMENTATION = "reference"

__all__ = ["FOREVER", "IMPLEMENTATION", "AdmissionError", "CpuScheduler", "fair_share"]
