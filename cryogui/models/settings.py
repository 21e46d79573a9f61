"""User settings in a JSON file under the user's config folder (recent files, window state, panel options).

Written atomically; a corrupt file is set aside (``settings.json.bad``) and defaults are used.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cryogui.io.atomic import write_text_atomic
from cryogui.models.paths import config_dir

log = logging.getLogger("cryogui.settings")
MAX_RECENT = 12


class Settings:
    def __init__(self, path: Path | None = None):
        self.path = path or (config_dir() / "settings.json")
        self._data: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        if not self.path.exists():
            self._data = {}
            return
        try:
            self._data = json.loads(self.path.read_text())
            if not isinstance(self._data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            log.warning("settings file %s is unreadable (%s): using defaults", self.path, exc)
            try:
                self.path.replace(self.path.with_suffix(".json.bad"))
            except OSError:
                pass
            self._data = {}

    def save(self) -> None:
        write_text_atomic(self.path, json.dumps(self._data, indent=1))

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def recent_files(self) -> list[str]:
        return [p for p in self._data.get("recent_files", []) if isinstance(p, str)]

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        recent = [r for r in self.recent_files() if r != p]
        recent.insert(0, p)
        self._data["recent_files"] = recent[:MAX_RECENT]
        return self._data["recent_files"]
