"""The workspace format (Qt-free): everything a user built, saved as a folder ``NAME.cryogui/``.

``workspace.json`` holds ``{"format": "cryogui-workspace", "version": N, "app_version", "saved", "layout",
"files": [{"kind", "path"}], "panels": {panel_id: state}}``; arrays live in ``arrays/<panel_id>.npz`` (one file per
panel, keys prefixed with the panel id, no pickles).  Panel states are plain JSON in which a few values are tagged:

* ``{"$array": key}``: a numpy array stored in the npz files under ``key``;
* ``{"$path": "..."}``: a file path, stored relative to the workspace folder when it lies under the folder's parent
  (so a project folder can be moved as a whole) and absolute otherwise;
* ``{"$dataclass": "cryogui.module.Class", "fields": {...}}``: a result dataclass of cryogui (rebuilt on load; only
  classes of the ``cryogui`` package are ever imported).

:func:`encode` / :func:`decode` convert between live objects and this form.  Opening a workspace written by an older
version goes through :data:`MIGRATIONS` (``version -> function(doc) -> doc of version + 1``).  Files that have moved
are listed in :class:`MissingFiles` (an InputError naming them) while everything else is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cryogui.errors import InputError
from cryogui.io.workspace import read_workspace_folder, write_workspace_folder

FORMAT = "cryogui-workspace"
VERSION = 1
SUFFIX = ".cryogui"
# version -> a function turning a document of that version into one of version + 1 (none needed yet)
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


class MissingFiles(InputError):
    """Some files a workspace refers to are not where they were; everything else was loaded."""

    def __init__(self, workspace: Path, paths: list[str]):
        self.paths = list(paths)
        shown = "\n".join(f"  {p}" for p in self.paths[:10])
        more = f"\n  ... and {len(self.paths) - 10} more" if len(self.paths) > 10 else ""
        super().__init__(f"{workspace}: {len(self.paths)} file(s) it refers to have moved or been deleted "
                         f"(the rest of the workspace was loaded):\n{shown}{more}")


@dataclasses.dataclass
class Workspace:
    """A workspace in memory: per-panel states (tagged JSON), arrays, the session's files and the dock layout."""

    panels: dict[str, dict] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    files: list[dict] = dataclasses.field(default_factory=list)  # [{"kind": ..., "path": {"$path": ...}}]
    layout: str = ""  # QMainWindow.saveState() as base64
    app_version: str = ""
    saved: float = 0.0
    version: int = VERSION


def workspace_folder(path: str | Path) -> Path:
    """``NAME`` or ``NAME.cryogui`` -> ``NAME.cryogui`` (what File > Save workspace as... writes)."""
    p = Path(path)
    return p if p.name.endswith(SUFFIX) else p.with_name(p.name + SUFFIX)


# ---- encoding live objects ---------------------------------------------------------------------------------------
def encode(obj: Any, arrays: dict, key: str) -> Any:
    """``obj`` as tagged JSON; numpy arrays go into ``arrays`` under ``key`` (+ a suffix per nesting level)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else {"$float": repr(v)}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"{key}: object arrays cannot be saved in a workspace")
        k = key
        n = 1
        while k in arrays:
            n += 1
            k = f"{key}~{n}"
        arrays[k] = np.array(obj, copy=True)
        return {"$array": k}
    if isinstance(obj, Path):
        return {"$path": str(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        if not cls.__module__.startswith("cryogui."):
            raise TypeError(f"{key}: only cryogui dataclasses can be saved, not {cls.__qualname__}")
        fields = {f.name: encode(getattr(obj, f.name), arrays, f"{key}.{f.name}") for f in dataclasses.fields(obj)
                  if f.init}
        return {"$dataclass": f"{cls.__module__}.{cls.__qualname__}", "fields": fields}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{key}: dictionary keys must be strings ({k!r})")
            out[k] = encode(v, arrays, f"{key}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        out = [encode(v, arrays, f"{key}.{i}") for i, v in enumerate(obj)]
        return {"$tuple": out} if isinstance(obj, tuple) else out
    raise TypeError(f"{key}: cannot save a {type(obj).__name__} in a workspace")


def decode(obj: Any, arrays: dict) -> Any:
    """The inverse of :func:`encode` (paths come back as absolute strings: see :func:`load_workspace`)."""
    if isinstance(obj, list):
        return [decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$array" in obj:
        k = obj["$array"]
        if k not in arrays:
            raise InputError(f"workspace: the array {k!r} is missing from arrays/")
        return arrays[k]
    if "$float" in obj:
        return float(obj["$float"])
    if "$tuple" in obj:
        return tuple(decode(v, arrays) for v in obj["$tuple"])
    if "$path" in obj:
        return obj["$path"]
    if "$dataclass" in obj:
        name = obj["$dataclass"]
        mod, _, cls_name = name.rpartition(".")
        if not mod.startswith("cryogui."):
            raise InputError(f"workspace: refuses to build {name!r} (not a cryogui class)")
        try:
            cls = getattr(importlib.import_module(mod), cls_name)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"workspace: {name} no longer exists in this version ({exc})") from exc
        fields = {k: decode(v, arrays) for k, v in obj["fields"].items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in fields.items() if k in known})
    return {k: decode(v, arrays) for k, v in obj.items()}


# ---- paths -------------------------------------------------------------------------------------------------------
def _map_paths(obj: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(obj, list):
        return [_map_paths(v, fn) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"$path"}:
            return {"$path": fn(obj["$path"])}
        return {k: _map_paths(v, fn) for k, v in obj.items()}
    return obj


def _relative(path: str, folder: Path) -> str:
    """Relative to the workspace folder when the file lies under the folder's parent (a project moved whole)."""
    p = Path(path)
    if not p.is_absolute():
        p = Path.cwd() / p
    p = Path(os.path.normpath(p))
    base = Path(os.path.normpath(folder.resolve().parent))
    try:
        p.relative_to(base)
    except ValueError:
        return str(p)
    return os.path.relpath(p, folder.resolve())


def _absolute(path: str, folder: Path) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else Path(os.path.normpath(folder.resolve() / p)))


# ---- saving and loading --------------------------------------------------------------------------------------------
def save_workspace(folder: str | Path, ws: Workspace) -> Path:
    """Write ``ws`` to ``folder`` atomically (a failure leaves any previous workspace there as it was)."""
    folder = workspace_folder(folder)
    doc = {"format": FORMAT, "version": VERSION, "app_version": ws.app_version, "saved": ws.saved or time.time(),
           "layout": ws.layout,
           "files": _map_paths(ws.files, lambda p: _relative(p, folder)),
           "panels": _map_paths(ws.panels, lambda p: _relative(p, folder))}
    for k in ws.arrays:
        pid = k.split(".", 1)[0]
        if pid not in ws.panels:
            raise ValueError(f"array key {k!r} does not start with a saved panel's id")
    return write_workspace_folder(folder, doc, ws.arrays)


def migrate(doc: dict, source: Path) -> dict:
    if doc.get("format") != FORMAT:
        raise InputError(f"{source}: not a cryogui workspace (format {doc.get('format')!r})")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"{source}: unreadable workspace version {version!r}")
    if version > VERSION:
        raise InputError(f"{source}: written by a newer cryogui (workspace version {version}, this one reads up to "
                         f"{VERSION}; app {doc.get('app_version', '?')}): please update cryogui")
    while version < VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
        doc["version"] = version
    return doc


def load_workspace(folder: str | Path) -> tuple[Workspace, list[str]]:
    """Read a workspace; returns it (paths made absolute) and the files it refers to that no longer exist.

    Raise :class:`MissingFiles` from the caller after restoring the rest, so the user sees which files moved.
    """
    folder = Path(folder)
    doc, arrays = read_workspace_folder(folder)
    doc = migrate(doc, folder)
    missing: list[str] = []

    def resolve(p: str) -> str:
        a = _absolute(p, folder)
        if not Path(a).exists() and a not in missing:
            missing.append(a)
        return a

    files = _map_paths(doc.get("files", []), resolve)
    panels = _map_paths(doc.get("panels", {}), resolve)
    ws = Workspace(panels=panels, arrays=arrays, files=files, layout=doc.get("layout", ""),
                   app_version=doc.get("app_version", ""), saved=float(doc.get("saved", 0.0)), version=VERSION)
    return ws, missing


# ---- the pick store (its undo history is part of the curation) ---------------------------------------------------
def pickstore_state(store) -> dict:
    """Picks, flags and the undo/redo stacks of a :class:`cryogui.models.picks.PickStore` (all JSON already)."""
    return store.to_state()


def restore_pickstore(store, state: dict) -> None:
    """Put a saved curation (with its undo/redo history) into ``store`` and tell its listeners."""
    store.load_state(state)
