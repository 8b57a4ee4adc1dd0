"""Pure-Python reference engines: same public names and results as ``vsched``.

They are the test oracle for the native core and the baseline its benchmarks
are measured against. Slow by design: obviously correct first.
"""

from __future__ import annotations

from .. import traces  # shared pure-Python reader, re-exported so both namespaces match
from ..errors import AdmissionError
from .allocation import fair_share
from .lruk import LRUK
from .memory import MemoryManager, Outcome, PageState

IMPLEMENTATION = "reference"

__all__ = ["IMPLEMENTATION", "LRUK", "AdmissionError", "MemoryManager", "Outcome", "PageState", "fair_share", "traces"]
