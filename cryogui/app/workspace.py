"""Workspaces in the window: File > Save workspace (Ctrl+S) / Save workspace as... / Open workspace... / Recent
workspaces, an autosave every two minutes, and the offer to restore the autosave after a crash.

State is collected on the GUI thread (each panel's ``save_state(arrays)``: small JSON plus numpy arrays) and written
by a job (``workspace.save``), so the window never waits for the disk.  Opening re-opens the session's files, gives
each panel its state back (``restore_state(state, arrays)``) and restores the dock layout; files that have moved are
named in one message while the rest is loaded.

The application calls :func:`install_workspace` once after building the window, and :func:`maybe_offer_restore`
once it is shown.
"""

from __future__ import annotations

import base64
import logging
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from cryogui import __version__
from cryogui.errors import InputError
from cryogui.models.paths import data_dir
from cryogui.models.workspace import (MissingFiles, Workspace, encode, load_workspace, save_workspace,
                                      workspace_folder)

log = logging.getLogger("cryogui.workspace")
AUTOSAVE_MS = 120_000
MAX_RECENT = 8


def autosave_folder() -> Path:
    return data_dir() / "autosave" / "autosave.cryogui"


def clean_exit_marker() -> Path:
    return data_dir() / "autosave" / "clean-exit"


# ---- collecting and applying state (GUI thread) -------------------------------------------------------------------
def collect_workspace(window) -> Workspace:
    """Every panel's state, the session's files and the dock layout, as a :class:`Workspace` (GUI thread)."""
    ws = Workspace(app_version=__version__, saved=time.time())
    problems: list[str] = []
    window._workspace_problems = problems  # shown by WorkspaceController.save
    for pid, panel in window.panels.items():
        save = getattr(panel, "save_state", None)
        if save is None:
            continue
        arrays: dict = {}
        try:
            state = save(arrays)
            ws.panels[pid] = encode(state, arrays, pid)
        except Exception as exc:  # one panel's bug must not lose the others' work
            log.exception("panel %s could not save its state", pid)
            problems.append(f"{panel.title}: {type(exc).__name__}: {exc}")
            continue
        for k, a in arrays.items():
            key = k if k.startswith(f"{pid}.") else f"{pid}.{k}"
            ws.arrays[key] = a
        # arrays the panel put in directly keep their (prefixed) names; encode() referred to the same keys
    seen = set()
    for item in window.session.items():
        if item.path is None or not Path(item.path).exists():
            continue
        key = (item.kind, str(item.path))
        if key not in seen:
            seen.add(key)
            ws.files.append({"kind": item.kind, "path": {"$path": str(Path(item.path).resolve())}})
    ws.layout = base64.b64encode(bytes(window.saveState())).decode()
    return ws


def apply_workspace(window, ws: Workspace, missing: list[str], source: Path) -> None:
    """Open the files, restore each panel, then the layout; raise MissingFiles at the end if some had moved."""
    from cryogui.models.workspace import decode

    paths = [Path(f["path"]) for f in ws.files if isinstance(f.get("path"), str) and Path(f["path"]).exists()]
    if paths:
        window.open_paths(paths)
    problems = []
    for pid, state in ws.panels.items():
        panel = window.panels.get(pid)
        if panel is None or not hasattr(panel, "restore_state"):
            log.warning("workspace %s: no panel %r to restore", source, pid)
            continue
        try:
            panel.restore_state(decode(state, ws.arrays), ws.arrays)
        except Exception as exc:
            log.exception("panel %s could not restore its state", pid)
            problems.append(f"{panel.title}: {exc}")
    if ws.layout:
        try:
            window.restoreState(QByteArray(base64.b64decode(ws.layout)))
        except (ValueError, TypeError):
            log.warning("workspace %s: unreadable dock layout", source)
    if problems:
        raise InputError(f"{source}: some panels could not be restored:\n" + "\n".join(problems))
    if missing:
        raise MissingFiles(source, missing)


def _write_job(folder: Path, ws: Workspace):
    yield from ()
    return save_workspace(folder, ws)


class WorkspaceController(QObject):
    """The File menu entries, the autosave timer and the clean-exit marker of one window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.current: Path | None = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._build_menu()
        window.installEventFilter(self)

    # ---- menu ---------------------------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        w = self.window
        file_menu = w.menuBar().actions()[0].menu()
        first = file_menu.actions()[0] if file_menu.actions() else None
        self.save_action = QAction("Save &workspace", w)
        self.save_action.setShortcut(QKeySequence.Save)
        self.save_action.triggered.connect(lambda: self.save())
        self.save_as_action = QAction("Save workspace &as...", w)
        self.save_as_action.setShortcut(QKeySequence("Ctrl+Shift+W"))
        self.save_as_action.triggered.connect(lambda: self.save_as())
        self.open_action = QAction("Open wor&kspace...", w)
        self.open_action.triggered.connect(lambda: self.open_dialog())
        for act in (self.open_action, self.save_action, self.save_as_action):
            act.setObjectName(f"workspace_{act.text().split()[0].strip('&').lower()}")
            file_menu.insertAction(first, act)
        self.recent_menu = file_menu.addMenu("Recent &workspaces")
        if first is not None:
            file_menu.insertMenu(first, self.recent_menu)
        file_menu.insertSeparator(first)
        self.refresh_recent()

    def recent(self) -> list[str]:
        return [p for p in self.window.settings.get("recent_workspaces", []) if isinstance(p, str)]

    def _add_recent(self, folder: Path) -> None:
        p = str(Path(folder).resolve())
        rec = [p] + [r for r in self.recent() if r != p]
        self.window.settings.set("recent_workspaces", rec[:MAX_RECENT])
        self.refresh_recent()

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent():
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, path=p: self.open(Path(path)))
        self.recent_menu.setEnabled(bool(self.recent()))

    # ---- saving -------------------------------------------------------------------------------------------------
    def save(self, folder: Path | None = None, background: bool = False) -> Path | None:
        """Save to ``folder`` (or the current workspace; asks for a name when there is none)."""
        folder = folder or self.current
        if folder is None:
            return self.save_as()
        folder = workspace_folder(folder)
        ws = collect_workspace(self.window)
        if background:
            self.window.jobs.start("workspace.save", f"Saving workspace {folder.name}",
                                   lambda: _write_job(folder, ws),
                                   on_result=lambda p: self.window.status(f"Workspace saved to {p}"))
        else:
            try:
                save_workspace(folder, ws)
            except (OSError, ValueError, TypeError) as exc:
                self.window.show_error("Could not save the workspace", f"{folder}: {exc}", traceback.format_exc())
                return None
            self.window.status(f"Workspace saved to {folder}")
        problems = getattr(self.window, "_workspace_problems", [])
        if problems:
            self.window.show_error("Workspace saved without some panels",
                                   "These panels could not save their state (see the log):\n" + "\n".join(problems))
        self.current = folder
        self._add_recent(folder)
        self.window.setWindowTitle(f"cryogui {__version__} - {folder.stem}")
        return folder

    def save_as(self) -> Path | None:
        start = str(self.current.parent if self.current else self.window.settings.get("last_dir", str(Path.home())))
        path, _ = QFileDialog.getSaveFileName(self.window, "Save workspace as", start, "cryogui workspace (*.cryogui)")
        if not path:
            return None
        return self.save(Path(path))

    def autosave(self) -> None:
        """Write the autosave copy in the background (skipped while a previous write is still going)."""
        h = self.window.jobs.get("workspace.autosave")
        if h is not None and h.is_active:
            return
        try:
            ws = collect_workspace(self.window)
        except Exception:
            log.exception("autosave: collecting the state failed")
            return
        folder = autosave_folder()
        self.window.jobs.start("workspace.autosave", "Autosave", lambda: _write_job(folder, ws))

    # ---- opening ------------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = self.window.settings.get("last_dir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self.window, "Open workspace (a NAME.cryogui folder)", start)
        if path:
            self.open(Path(path))

    def open(self, folder: Path, remember: bool = True) -> bool:
        """Open a workspace; True when it was read (moved files are reported, the rest is loaded)."""
        folder = Path(folder)
        try:
            ws, missing = load_workspace(folder)
        except InputError as exc:
            self.window.show_error("Could not open the workspace", str(exc))
            return False
        try:
            apply_workspace(self.window, ws, missing, folder)
        except InputError as exc:
            self.window.show_error("Workspace opened with problems", str(exc))
        if remember:
            self.current = folder
            self._add_recent(folder)
            self.window.setWindowTitle(f"cryogui {__version__} - {folder.stem}")
        self.window.status(f"Workspace {folder.name} opened")
        return True

    # ---- clean exit ---------------------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if obj is self.window and event.type() == QEvent.Close:
            self.autosave_timer.stop()
            h = self.window.jobs.get("workspace.autosave")
            if h is not None and h.is_active:
                h.cancel()
            try:
                marker = clean_exit_marker()
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(time.time()))
            except OSError:
                log.warning("could not record the clean exit")
        return False


def install_workspace(window) -> WorkspaceController:
    """Add the workspace menu entries and the autosave to ``window`` (``window.workspace`` afterwards)."""
    ctl = WorkspaceController(window)
    window.workspace = ctl
    return ctl


def crash_autosave() -> Path | None:
    """The autosave folder when it is newer than the last clean exit (the previous run crashed), else None."""
    doc = autosave_folder() / "workspace.json"
    if not doc.exists():
        return None
    marker = clean_exit_marker()
    if marker.exists() and marker.stat().st_mtime >= doc.stat().st_mtime:
        return None
    return autosave_folder()


def maybe_offer_restore(window, ask=None) -> bool:
    """After a crash, ask whether to restore the autosave; ``ask(text) -> bool`` replaces the dialog (tests).

    Returns True when the autosave was restored."""
    folder = crash_autosave()
    if folder is None:
        return False
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime((folder / "workspace.json").stat().st_mtime))
    text = (f"cryogui did not close cleanly last time. An autosaved workspace from {when} was found.\n"
            "Restore it?")
    if ask is None:
        answer = QMessageBox.question(window, "Restore autosaved work?", text,
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        ok = answer == QMessageBox.Yes
    else:
        ok = bool(ask(text))
    ctl = getattr(window, "workspace", None)
    if ok:
        if ctl is not None:
            ctl.open(folder, remember=False)
        else:
            load_and_apply(window, folder)
    # asked once: mark the autosave as seen so the question is not asked again for the same crash
    marker = clean_exit_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(time.time()))
    return ok


def load_and_apply(window, folder: Path) -> None:
    ws, missing = load_workspace(folder)
    apply_workspace(window, ws, missing, folder)
