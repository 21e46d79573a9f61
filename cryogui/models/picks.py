"""Curated picks of many micrographs (Qt-free): every edit undoable, every edit journalled to disk.

A :class:`PickStore` holds, per micrograph key (:func:`cryogui.io.coords.micrograph_key`), arrays x, y, score,
diameter (centres in pixels; NaN score = a manual pick, which passes any threshold) and flags (good/bad, reviewed).

Edits are operations (``set``, ``add``, ``remove``, ``move``, ``flag``).  Applying one pushes its inverse on the undo
stack; undo applies the inverse and pushes the original on the redo stack.  Every applied operation (including
those done by undo and redo) is appended to a journal file, one JSON line, flushed and fsync'ed, so that a killed
application loses nothing: replaying the journal from an empty store rebuilds the curation.  A clean close
(:meth:`PickStore.close_journal` with ``clean=True``) deletes the journal; a journal left behind is what the next
start offers to restore (:func:`find_journals`, :meth:`PickStore.recover`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cryogui.io.coords import COLUMNS, micrograph_key

FIELDS = ("x", "y", "score", "diameter")
JOURNAL_GLOB = "picks-*.jsonl"


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1)


def _list(a: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64)]


def _from_list(v) -> np.ndarray:
    return np.array([np.nan if e is None else e for e in v], dtype=np.float64)


class PickStore:
    def __init__(self, journal: str | Path | None = None):
        self._data: dict[str, dict[str, np.ndarray]] = {}
        self.flags: dict[str, dict] = {}
        self._undo: list[list[dict]] = []
        self._redo: list[list[dict]] = []
        self._listeners: list[Callable[[str], None]] = []
        self._journal_path: Path | None = None
        self._journal = None
        self.revision = 0
        if journal is not None:
            self.open_journal(journal)

    # ---- reading -------------------------------------------------------------------------------------------
    def micrographs(self) -> list[str]:
        return sorted(set(self._data) | set(self.flags))

    def arrays(self, mic: str) -> dict[str, np.ndarray]:
        """x, y, score, diameter of one micrograph (views: do not modify)."""
        d = self._data.get(micrograph_key(mic))
        if d is None:
            return {f: np.zeros(0) for f in FIELDS}
        return d

    def count(self, mic: str) -> int:
        return len(self.arrays(mic)["x"])

    def table(self, mic: str | None = None) -> pd.DataFrame:
        """Picks as the io table (one micrograph, or all)."""
        mics = [micrograph_key(mic)] if mic is not None else sorted(self._data)
        frames = []
        for m in mics:
            a = self.arrays(m)
            frames.append(pd.DataFrame({"micrograph": m, **{f: a[f] for f in FIELDS}}))
        if not frames:
            return pd.DataFrame({c: pd.Series([], dtype=object if c == "micrograph" else float) for c in COLUMNS})
        return pd.concat(frames, ignore_index=True)[COLUMNS]

    def mask(self, mic: str, threshold: float | None = None, size_range: tuple[float, float] | None = None):
        """Which picks pass the confidence threshold and size range (NaN score/diameter always pass)."""
        a = self.arrays(mic)
        keep = np.ones(len(a["x"]), dtype=bool)
        if threshold is not None:
            keep &= ~(a["score"] < threshold)
        if size_range is not None:
            d = a["diameter"]
            keep &= ~((d < size_range[0]) | (d > size_range[1]))
        return keep

    def filtered_table(self, threshold=None, size_range=None, mic: str | None = None) -> pd.DataFrame:
        t = self.table(mic)
        if len(t) == 0:
            return t
        keep = np.concatenate([self.mask(m, threshold, size_range) for m in
                               ([micrograph_key(mic)] if mic is not None else sorted(self._data))])
        return t[keep].reset_index(drop=True)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """``callback(micrograph_key)`` after every change."""
        self._listeners.append(callback)

    # ---- edits ---------------------------------------------------------------------------------------------
    def set_picks(self, mic: str, table: pd.DataFrame | dict, label: str = "set") -> None:
        """Replace all picks of a micrograph (auto-pick result, import)."""
        n = len(table["x"])
        new = {f: (_arr(table[f]) if f in table else np.full(n, np.nan)) for f in FIELDS}
        self._do([{"op": "set", "mic": micrograph_key(mic), **{f: _list(new[f]) for f in FIELDS}}])

    def add(self, mic: str, x: float, y: float, score: float = np.nan, diameter: float = np.nan) -> int:
        m = micrograph_key(mic)
        idx = self.count(m)
        self._do([{"op": "add", "mic": m, "idx": [idx], "x": [float(x)], "y": [float(y)],
                   "score": _list([score]), "diameter": _list([diameter])}])
        return idx

    def remove(self, mic: str, indices) -> None:
        idx = sorted({int(i) for i in np.atleast_1d(indices)})
        if not idx:
            return
        self._do([{"op": "remove", "mic": micrograph_key(mic), "idx": idx}])

    def move(self, mic: str, indices, x, y) -> None:
        """Move picks ``indices`` to new centres (arrays of the same length)."""
        idx = [int(i) for i in np.atleast_1d(indices)]
        if not idx:
            return
        self._do([{"op": "move", "mic": micrograph_key(mic), "idx": idx, "x": _list(np.atleast_1d(x)),
                   "y": _list(np.atleast_1d(y))}])

    def set_flag(self, mic: str, **flags) -> None:
        """``good=True|False|None``, ``reviewed=True|False`` for a micrograph (undoable)."""
        self._do([{"op": "flag", "mic": micrograph_key(mic), "flags": dict(flags)}])

    def undo(self) -> bool:
        if not self._undo:
            return False
        inv = self._undo.pop()
        redo = [self._apply(op) for op in inv]
        self._redo.append(redo[::-1])
        self._journal_ops(inv)
        self._changed(inv)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        ops = self._redo.pop()
        inv = [self._apply(op) for op in ops]
        self._undo.append(inv[::-1])
        self._journal_ops(ops)
        self._changed(ops)
        return True

    def _do(self, ops: list[dict]) -> None:
        inv = [self._apply(op) for op in ops]
        self._undo.append(inv[::-1])
        self._redo.clear()
        self._journal_ops(ops)
        self._changed(ops)

    def _changed(self, ops) -> None:
        self.revision += 1
        for m in {op["mic"] for op in ops}:
            for cb in list(self._listeners):
                cb(m)

    # ---- the operations and their inverses -----------------------------------------------------------------
    def _apply(self, op: dict) -> dict:
        """Apply one operation; return its inverse."""
        m = op["mic"]
        kind = op["op"]
        cur = self._data.get(m)
        if cur is None:
            cur = {f: np.zeros(0) for f in FIELDS}
        if kind == "set":
            inv = {"op": "set", "mic": m, **{f: _list(cur[f]) for f in FIELDS}}
            self._data[m] = {f: _from_list(op[f]) for f in FIELDS}
            return inv
        if kind == "add":
            idx = np.asarray(op["idx"], dtype=np.int64)
            new = {f: cur[f].copy() for f in FIELDS}
            for k, i in enumerate(idx):           # indices ascending, in the final array
                for f in FIELDS:
                    new[f] = np.insert(new[f], int(i), _from_list([op[f][k]])[0])
            self._data[m] = new
            return {"op": "remove", "mic": m, "idx": [int(i) for i in idx]}
        if kind == "remove":
            idx = np.asarray(op["idx"], dtype=np.int64)
            if len(idx) and (idx.max() >= len(cur["x"]) or idx.min() < 0):
                raise IndexError(f"pick index out of range for {m}")
            inv = {"op": "add", "mic": m, "idx": [int(i) for i in idx],
                   **{f: _list(cur[f][idx]) for f in FIELDS}}
            keep = np.ones(len(cur["x"]), dtype=bool)
            keep[idx] = False
            self._data[m] = {f: cur[f][keep] for f in FIELDS}
            return inv
        if kind == "move":
            idx = np.asarray(op["idx"], dtype=np.int64)
            inv = {"op": "move", "mic": m, "idx": [int(i) for i in idx], "x": _list(cur["x"][idx]),
                   "y": _list(cur["y"][idx])}
            new = {f: cur[f].copy() for f in FIELDS}
            new["x"][idx] = _from_list(op["x"])
            new["y"][idx] = _from_list(op["y"])
            self._data[m] = new
            return inv
        if kind == "flag":
            old = self.flags.get(m)
            inv = {"op": "flag", "mic": m, "flags": dict(old or {}), "replace": True}
            new = dict(op["flags"]) if op.get("replace") else {**(old or {}), **op["flags"]}
            if new:
                self.flags[m] = new
            else:
                self.flags.pop(m, None)
            return inv
        raise ValueError(f"unknown pick operation {kind!r}")

    # ---- journal -------------------------------------------------------------------------------------------
    def to_state(self) -> dict:
        """Picks, flags and the undo/redo stacks as plain JSON (workspaces save the whole curation history)."""
        return {"data": {m: {f: [None if not np.isfinite(v) else float(v) for v in a] for f, a in d.items()}
                         for m, d in self._data.items()},
                "flags": dict(self.flags), "undo": list(self._undo), "redo": list(self._redo)}

    def load_state(self, state: dict) -> None:
        """Replace everything with a saved :meth:`to_state` and tell the listeners; the journal restarts from it."""
        self._data = {m: {f: np.array([np.nan if v is None else v for v in a], dtype=np.float64)
                          for f, a in d.items()} for m, d in state.get("data", {}).items()}
        self.flags = dict(state.get("flags", {}))
        self._undo = [list(ops) for ops in state.get("undo", [])]
        self._redo = [list(ops) for ops in state.get("redo", [])]
        self.revision += 1
        jp = self.journal_path
        if jp is not None:  # the journal records the restored state, so a crash from here on loses nothing
            self.open_journal(jp)
        for m in sorted(set(self._data) | set(self.flags)):
            for cb in list(self._listeners):
                cb(m)

    @property
    def journal_path(self) -> Path | None:
        return self._journal_path

    def open_journal(self, path: str | Path) -> None:
        """Start journalling to ``path`` (appending); the current state is written first as ``set`` operations."""
        self.close_journal(clean=False)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._journal_path = path
        self._journal = open(path, "a", encoding="utf-8")
        if path.stat().st_size == 0:
            self._write({"journal": 1, "created": time.time(), "pid": os.getpid()})
        ops = [{"op": "set", "mic": m, **{f: _list(self._data[m][f]) for f in FIELDS}} for m in sorted(self._data)]
        ops += [{"op": "flag", "mic": m, "flags": fl} for m, fl in sorted(self.flags.items())]
        self._journal_ops(ops)

    def close_journal(self, clean: bool = True) -> None:
        """Stop journalling; ``clean`` (the user's work is saved or deliberately dropped) deletes the file."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
            if clean and self._journal_path is not None:
                self._journal_path.unlink(missing_ok=True)
        self._journal_path = None

    def _write(self, rec: dict) -> None:
        self._journal.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def _journal_ops(self, ops) -> None:
        if self._journal is None or not ops:
            return
        for op in ops:
            self._write(op)
        self._journal.flush()
        os.fsync(self._journal.fileno())

    @classmethod
    def recover(cls, path: str | Path) -> PickStore:
        """A store rebuilt by replaying a journal (a torn last line, from a kill mid-write, is ignored).  The
        new store has an empty undo history and no journal open."""
        store = cls()
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break
                if "op" in rec:
                    store._apply(rec)
        return store


def journal_dir() -> Path:
    from cryogui.models.paths import data_dir

    p = data_dir() / "journals"
    p.mkdir(parents=True, exist_ok=True)
    return p


def new_journal_path() -> Path:
    return journal_dir() / f"picks-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def find_journals(exclude: Path | None = None) -> list[Path]:
    """Journals left by sessions that did not close cleanly and hold at least one edit (newest first).

    Journals of processes still running (another open window) are left alone; empty ones of dead processes are
    removed."""
    out = []
    for p in journal_dir().glob(JOURNAL_GLOB):
        if exclude is not None and p.resolve() == Path(exclude).resolve():
            continue
        try:
            with open(p, encoding="utf-8") as fh:
                first = fh.readline()
                has_ops = '"op"' in first or any('"op"' in line for line in fh)
        except OSError:
            continue
        try:
            pid = int(json.loads(first).get("pid", -1))
        except (ValueError, AttributeError):
            pid = -1
        if _alive(pid):
            continue
        if has_ops:
            out.append(p)
        else:
            p.unlink(missing_ok=True)
    return sorted(out, key=lambda q: q.stat().st_mtime, reverse=True)
