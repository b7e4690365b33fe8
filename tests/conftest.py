"""Shared test fixtures: where the (optional) real mocap data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The directory holding bandai/; tests that need it skip cleanly when it is absent."""
    if not (SHARED_DATA / "bandai" / "bandai_h36m17.npz").is_file():
        pytest.skip(f"real mocap data not found under {SHARED_DATA}")
    return SHARED_DATA
