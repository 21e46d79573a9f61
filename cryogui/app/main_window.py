"""The main window: five docked panels, the jobs area and log, menus, status bar, saved layout."""

from __future__ import annotations

import base64
import logging
import traceback
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QPlainTextEdit,
                               QTabWidget, QTextBrowser, QVBoxLayout, QDialog, QWidget)

from cryogui import __version__
from cryogui.app.registry import PANELS
from cryogui.errors import InputError
from cryogui.models.session import Session
from cryogui.models.settings import Settings
from cryogui.views.base import AppContext, PanelBase
from cryogui.views.jobs_view import JobsView
from cryogui.workers.jobs import JobManager

log = logging.getLogger("cryogui.app")

FILE_FILTERS = {
    "micrographs": "Micrographs (*.mrc *.mrcs *.rec);;All files (*)",
    "map": "Maps (*.mrc *.map *.rec);;All files (*)",
    "star": "STAR and cryoSPARC files (*.star *.cs);;All files (*)",
    "coords": "Coordinates (*.star *.box *.cbox *.txt *.csv *.cs);;All files (*)",
    "model": "Gaussian models (*.json);;All files (*)",
}


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, log_handler=None, device_text: str = "CPU"):
        super().__init__()
        self.setObjectName("cryogui_main_window")
        self.setWindowTitle(f"cryogui {__version__}")
        self.settings = settings or Settings()
        self.session = Session()
        self.jobs = JobManager(self, error_reporter=self.show_error)
        self.ctx = AppContext(jobs=self.jobs, session=self.session, settings=self.settings, log=log,
                              show_error=self.show_error, status=self.status)
        self.panels: dict[str, PanelBase] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._dialogs: list[QWidget] = []  # keep non-modal dialogs alive
        self.setDockOptions(QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks | QMainWindow.AnimatedDocks)
        self.setDockNestingEnabled(True)
        self._build_panels()
        self._build_bottom(log_handler)
        self._build_menus()
        self._build_status(device_text)
        self.resize(1500, 950)
        self._default_state: QByteArray | None = None
        self._restored = self._restore_layout()

    # ---- construction ---------------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        first: QDockWidget | None = None
        for spec in PANELS:
            try:
                panel = spec.load()(self.ctx)
            except Exception as exc:  # a broken panel must not stop the app: show why in its dock
                log.exception("panel %s failed to start", spec.title)
                panel = _BrokenPanel(self.ctx, spec.panel_id, spec.title, exc)
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(f"dock_{spec.panel_id}")
            dock.setWidget(panel)
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable |
                             QDockWidget.DockWidgetClosable)
            self.addDockWidget(spec.area, dock)
            if first is None:
                first = dock
            else:
                self.tabifyDockWidget(first, dock)
            self.panels[spec.panel_id] = panel
            self.docks[spec.panel_id] = dock
        self.setTabPosition(Qt.RightDockWidgetArea, QTabWidget.North)
        if first is not None:
            first.raise_()

    def _build_bottom(self, log_handler) -> None:
        self.jobs_view = JobsView(self.jobs)
        jobs_dock = QDockWidget("Jobs", self)
        jobs_dock.setObjectName("dock_jobs")
        jobs_dock.setWidget(self.jobs_view)
        self.addDockWidget(Qt.BottomDockWidgetArea, jobs_dock)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log_view")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.sizeHint = lambda: QSize(600, 110)  # type: ignore[method-assign]
        log_dock = QDockWidget("Log", self)
        log_dock.setObjectName("dock_log")
        log_dock.setWidget(self.log_view)
        self.addDockWidget(Qt.BottomDockWidgetArea, log_dock)
        self.tabifyDockWidget(jobs_dock, log_dock)
        jobs_dock.raise_()
        self.docks["jobs"] = jobs_dock
        self.docks["log"] = log_dock
        if log_handler is not None:
            log_handler.emitter.message.connect(self._append_log)

    def _append_log(self, text: str, level: int) -> None:
        if level >= logging.ERROR:
            text = f"<<ERROR>> {text}"
        self.log_view.appendPlainText(text)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for key, label, shortcut in (("micrographs", "Open &micrographs...", "Ctrl+O"),
                                     ("map", "Open m&ap...", "Ctrl+Shift+M"),
                                     ("star", "Open &STAR / particles...", "Ctrl+Shift+S"),
                                     ("coords", "Open &coordinates...", "Ctrl+Shift+C"),
                                     ("model", "Open Gaussian m&odel...", "Ctrl+Shift+G")):
            act = QAction(label, self)
            act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(lambda _=False, k=key: self._open_dialog(k))
            file_menu.addAction(act)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._refresh_recent()
        file_menu.addSeparator()
        quit_act = QAction("&Quit", self)
        quit_act.setShortcut(QKeySequence.Quit)
        quit_act.triggered.connect(self.close)
        file_menu.addAction(quit_act)

        view_menu = bar.addMenu("&View")
        for spec in PANELS:
            act = self.docks[spec.panel_id].toggleViewAction()
            act.setShortcut(QKeySequence(spec.shortcut))
            view_menu.addAction(act)
        view_menu.addSeparator()
        view_menu.addAction(self.docks["jobs"].toggleViewAction())
        view_menu.addAction(self.docks["log"].toggleViewAction())
        view_menu.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view_menu.addAction(reset)

        help_menu = bar.addMenu("&Help")
        how = help_menu.addMenu("&How this works")
        for spec in PANELS:
            act = QAction(spec.title, self)
            act.triggered.connect(lambda _=False, pid=spec.panel_id: self.show_help(pid))
            how.addAction(act)
        about = QAction("&About cryogui", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _build_status(self, device_text: str) -> None:
        self.device_label = QLabel(f"Compute: {device_text}")
        self.device_label.setObjectName("device_label")
        self.jobs_label = QLabel("No jobs running")
        self.jobs_label.setObjectName("jobs_label")
        self.statusBar().addPermanentWidget(self.jobs_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.jobs.job_added.connect(lambda h: self._update_jobs_label())
        self.jobs.job_finished.connect(lambda h: self._update_jobs_label())

    def _update_jobs_label(self) -> None:
        active = self.jobs.active()
        self.jobs_label.setText(f"{len(active)} job(s) running: " + ", ".join(h.title for h in active[:3])
                                if active else "No jobs running")

    # ---- services for panels ------------------------------------------------------------------------------
    def status(self, message: str, msecs: int = 6000) -> None:
        self.statusBar().showMessage(message, msecs)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-blocking dialog plus a log entry; never a crash."""
        log.error("%s: %s", title, message)
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setObjectName("error_dialog")
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _=0, b=box: self._dialogs.remove(b) if b in self._dialogs else None)
        self._dialogs.append(box)
        box.open()

    def show_help(self, panel_id: str) -> None:
        panel = self.panels[panel_id]
        dlg = QDialog(self)
        dlg.setObjectName(f"help_{panel_id}")
        dlg.setWindowTitle(f"How this works: {panel.title}")
        lay = QVBoxLayout(dlg)
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        text.setHtml(panel.help_html())
        lay.addWidget(text)
        dlg.resize(640, 560)
        self._dialogs.append(dlg)
        dlg.finished.connect(lambda _=0, d=dlg: self._dialogs.remove(d) if d in self._dialogs else None)
        dlg.show()

    def show_about(self) -> None:
        import torch

        QMessageBox.about(self, "About cryogui",
                          f"<b>cryogui {__version__}</b><br>cryo-EM analysis, teaching demos and curation of "
                          f"particle picks.<br>torch {torch.__version__}; {self.device_label.text()}")

    # ---- files ----------------------------------------------------------------------------------------------
    def _open_dialog(self, key: str) -> None:
        start = self.settings.get("last_dir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(self, "Open files", start, FILE_FILTERS[key])
        if paths:
            self.settings.set("last_dir", str(Path(paths[0]).parent))
            self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths: list[Path]) -> list[str]:
        """Open files of any supported kind.  Bad files get a dialog; nothing already loaded is lost.

        Returns the kinds of the files that were opened.
        """
        from cryogui.app.loading import load_into_session

        kinds = []
        errors = []
        for path in paths:
            try:
                item = load_into_session(self.session, Path(path))
            except InputError as exc:
                errors.append(str(exc))
                continue
            except Exception as exc:  # a reader bug: report, keep running
                log.exception("opening %s failed", path)
                errors.append(f"{path}: unexpected error ({type(exc).__name__}: {exc})")
                continue
            kinds.append(item.kind)
            self.settings.add_recent(path)
            for panel in self.panels.values():
                try:
                    if panel.open_path(Path(path), item.kind):
                        self.docks[panel.panel_id].raise_()
                except Exception as exc:
                    log.exception("panel %s could not take %s", panel.title, path)
                    errors.append(f"{path}: the {panel.title} panel failed to show it ({exc})")
            self.status(f"Opened {Path(path).name} ({item.kind})")
        self._refresh_recent()
        if errors:
            self.show_error("Could not open file" if len(errors) == 1 else "Could not open files",
                            "\n".join(errors[:10]))
        return kinds

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for p in recent:
            act = QAction(p, self)
            act.triggered.connect(lambda _=False, path=p: self.open_paths([Path(path)]))
            self.recent_menu.addAction(act)
        self.recent_menu.setEnabled(bool(recent))

    def load_demo(self, demo_dir: Path) -> None:
        """Open the demo data set in the session and let every panel show its part."""
        demo_dir = Path(demo_dir)
        files = [demo_dir / "maps" / "demo_map.mrc", demo_dir / "particles" / "particles.star"]
        files += sorted((demo_dir / "micrographs").glob("*.mrc"))
        files += sorted((demo_dir / "real").glob("*.mrc"))
        from cryogui.app.loading import load_into_session

        for f in files:
            if f.exists():
                try:
                    load_into_session(self.session, f)
                except InputError as exc:
                    log.error("demo file %s: %s", f, exc)
        for panel in self.panels.values():
            try:
                panel.load_demo(demo_dir)
            except Exception as exc:
                log.exception("panel %s could not load the demo data", panel.title)
                self.show_error(f"{panel.title}: demo data", str(exc), traceback.format_exc())
        self.status(f"Demo data from {demo_dir}")

    # ---- layout ---------------------------------------------------------------------------------------------
    def _apply_default_sizes(self) -> None:
        """Panels get the room; the jobs/log strip at the bottom stays short."""
        h = max(300, self.height())
        self.resizeDocks([self.docks[PANELS[0].panel_id], self.docks["jobs"]], [int(h * 0.8), int(h * 0.16)],
                         Qt.Vertical)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._default_state is None:
            self._default_state = self.saveState()
            if not self._restored:
                QTimer.singleShot(0, self._apply_default_sizes)

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        if self._default_state is not None:
            self.restoreState(self._default_state)
        self._apply_default_sizes()
        self.docks[PANELS[0].panel_id].raise_()

    def _restore_layout(self) -> bool:
        geo, state = self.settings.get("window_geometry"), self.settings.get("window_state")
        ok = False
        try:
            if geo:
                self.restoreGeometry(QByteArray(base64.b64decode(geo)))
            if state:
                ok = bool(self.restoreState(QByteArray(base64.b64decode(state))))
        except (ValueError, TypeError):
            log.warning("saved window layout unreadable: using the default")
        return ok

    def save_layout(self) -> None:
        self.settings.set("window_geometry", base64.b64encode(bytes(self.saveGeometry())).decode())
        self.settings.set("window_state", base64.b64encode(bytes(self.saveState())).decode())
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.save_layout()
        for panel in self.panels.values():
            try:
                panel.shutdown()
            except Exception:
                log.exception("panel %s failed to shut down", panel.title)
        if not self.jobs.shutdown(timeout_ms=5000):
            log.warning("some jobs did not stop within 5 s")
        super().closeEvent(event)


class _BrokenPanel(PanelBase):
    def __init__(self, ctx: AppContext, panel_id: str, title: str, exc: Exception):
        self.panel_id = panel_id
        self.title = title
        super().__init__(ctx)
        lay = QVBoxLayout(self)
        label = QLabel(f"The {title} panel failed to start:\n{type(exc).__name__}: {exc}\n(see the log)")
        label.setWordWrap(True)
        lay.addWidget(label)
