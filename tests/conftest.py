"""Shared fixtures.  ``shared_data`` points at ../shared/data and skips cleanly when it is absent (a user's fresh
checkout has no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CRYOGUI_THREADS", "2")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRYOGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Settings, logs and journals go to a temporary home, never the developer's own."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("CRYOGUI_HOME", str(home))
    yield
