"""The session: what the user has loaded, shared by every panel (Qt-free).

Items have a kind: ``"map"`` (an :class:`cryogui.io.mrc.Volume`), ``"micrograph"`` (a Path), ``"particles"`` (an
:class:`cryogui.io.star.ParticleSet`), ``"coords"`` (a Path to a coordinates file), ``"star"`` (a Path to any other
STAR file), ``"model"`` (a :class:`cryogui.core.gmm.model.GaussianModel`, fitted or opened).  Panels subscribe to hear of new items; the main window adds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("cryogui.session")
KINDS = ("map", "micrograph", "particles", "coords", "star", "model")


@dataclass
class Item:
    kind: str
    path: Path | None
    obj: Any
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.name:
            self.name = self.path.name if self.path is not None else self.kind


class Session:
    def __init__(self) -> None:
        self._items: list[Item] = []
        self._subscribers: list[Callable[[str, Item], None]] = []

    def subscribe(self, callback: Callable[[str, Item], None]) -> None:
        self._subscribers.append(callback)

    def add(self, kind: str, obj: Any, path: str | Path | None = None, name: str = "", **meta) -> Item:
        if kind not in KINDS:
            raise ValueError(f"unknown item kind {kind!r}")
        p = Path(path) if path is not None else None
        for old in self._items:  # the same file opened twice replaces the old entry
            if p is not None and old.path == p and old.kind == kind:
                self._items.remove(old)
                break
        item = Item(kind, p, obj, name, dict(meta))
        self._items.append(item)
        for cb in list(self._subscribers):
            try:
                cb(kind, item)
            except Exception:  # one panel's bug must not stop the others from hearing
                log.exception("session subscriber failed for %s", item.name)
        return item

    def items(self, kind: str | None = None) -> list[Item]:
        return [i for i in self._items if kind is None or i.kind == kind]

    def latest(self, kind: str) -> Item | None:
        items = self.items(kind)
        return items[-1] if items else None
