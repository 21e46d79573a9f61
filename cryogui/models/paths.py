"""Where cryogui keeps its settings, logs and journals (platformdirs; ``CRYOGUI_HOME`` overrides, for tests)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def _base(kind: str) -> Path:
    home = os.environ.get("CRYOGUI_HOME")
    if home:
        p = Path(home) / kind
    else:
        p = Path({"config": platformdirs.user_config_dir, "log": platformdirs.user_log_dir,
                  "data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir}[kind]("cryogui"))
    p.mkdir(parents=True, exist_ok=True)
    return p


def config_dir() -> Path:
    return _base("config")


def log_dir() -> Path:
    return _base("log")


def data_dir() -> Path:
    return _base("data")


def cache_dir() -> Path:
    return _base("cache")


def demo_dir() -> Path:
    """Where ``cryogui`` with no arguments writes (once) and opens the demo data set."""
    return data_dir() / "demo"
