"""Shared fixtures: every behaviour test runs on the native core and on the reference."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import vsched
import vsched.reference

# CI: no deadline (the machine is shared and noisy; speed is measured by asv,
# never by tests) and derandomized so a red run can be replayed exactly.
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IMPLEMENTATIONS = {"native": vsched, "reference": vsched.reference}

# Real traces live beside the project (never copied into it); tests that need
# them skip when they are absent.
SHARED_DATA = Path(os.environ.get("VSCHED_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(params=sorted(IMPLEMENTATIONS), ids=lambda name: name)
def impl(request):
    """The module under test: ``vsched`` (native) or ``vsched.reference``."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (point VSCHED_SHARED_DATA at it)")
    return SHARED_DATA
