"""Writing and reading a workspace folder atomically (the format itself is :mod:`cryogui.models.workspace`).

A workspace ``NAME.cryogui/`` holds ``workspace.json`` and ``arrays/<panel>.npz``.  Writing never leaves a
half-written workspace: everything goes into a temporary sibling folder (fsync'ed), the old folder is renamed aside,
the new one renamed into place, and only then is the old one deleted.  If the process dies between the two renames,
:func:`read_workspace_folder` finds the set-aside copy and reads that.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cryogui.errors import FormatError, InputError

DOC = "workspace.json"
ARRAYS = "arrays"
OLD_SUFFIX = ".old"


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_workspace_folder(folder: str | Path, doc: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``doc`` (JSON) and ``arrays`` (grouped by the key's first dotted part) to ``folder`` atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        (tmp / ARRAYS).mkdir()
        groups: dict[str, dict[str, np.ndarray]] = {}
        for k, a in arrays.items():
            groups.setdefault(k.split(".", 1)[0], {})[k] = np.asarray(a)
        for group, arrs in groups.items():
            path = tmp / ARRAYS / f"{group}.npz"
            with open(path, "wb") as fh:
                np.savez_compressed(fh, **arrs)
            _fsync_file(path)
        text = json.dumps(doc, indent=1, allow_nan=False)
        (tmp / DOC).write_text(text, encoding="utf-8")
        _fsync_file(tmp / DOC)
        _fsync_dir(tmp / ARRAYS)
        _fsync_dir(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        old = folder.with_name(folder.name + OLD_SUFFIX)
        if old.exists():
            shutil.rmtree(old)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        _fsync_dir(folder.parent)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def read_workspace_folder(folder: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(doc, arrays)`` of a workspace folder (or of its set-aside copy after a crash mid-save)."""
    folder = Path(folder)
    if folder.name == DOC:
        folder = folder.parent
    if not (folder / DOC).exists():
        old = folder.with_name(folder.name + OLD_SUFFIX)
        if (old / DOC).exists():
            folder = old
        elif folder.exists():
            raise InputError(f"{folder}: not a cryogui workspace (no {DOC} inside)")
        else:
            raise InputError(f"{folder}: no such workspace")
    try:
        doc = json.loads((folder / DOC).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(folder / DOC, f"unreadable workspace description ({exc})") from exc
    if not isinstance(doc, dict):
        raise FormatError(folder / DOC, "is not a JSON object")
    arrays: dict[str, np.ndarray] = {}
    for path in sorted((folder / ARRAYS).glob("*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                for k in z.files:
                    arrays[k] = z[k]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise FormatError(path, f"unreadable workspace arrays ({exc})") from exc
    return doc, arrays
