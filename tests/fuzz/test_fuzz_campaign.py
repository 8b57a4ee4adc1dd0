"""The short fuzz campaign of the default suite (docs/robustness.md).

Random call sequences on every engine, native and reference side by side,
each in a worker subprocess under a time limit (a hang or a crash is a
finding, as is any disagreement between the twins or a broken error
contract). ``VSCHED_FUZZ_SEQUENCES`` sets how many (default 150, about 30 s
on the shared machine); the long campaign is ``.ci/fuzz``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from campaign import ENGINE_NAMES, campaign, summary  # noqa: E402


def test_short_campaign_finds_nothing():
    sequences = int(os.environ.get("VSCHED_FUZZ_SEQUENCES", "150"))
    report = campaign(sequences, length=40, limit=60.0, start=int(os.environ.get("VSCHED_FUZZ_START", "0")))
    print(summary(report))
    assert report["sequences"] == sequences
    assert all(report["per_engine"][name]["calls"] > 0 for name in ENGINE_NAMES)
    assert report["calls"] > 10 * sequences
    assert report["refused"] > 0  # bad values are drawn, and refused alike by both twins
    assert not report["findings"], summary(report) + "\n\n" + report["findings"][0]["reproducer"]
