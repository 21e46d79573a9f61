"""File > Export figure... and File > Record animation...: publication figures of the current panel.

``install_figures(window)`` adds both actions to the File menu.  The work is done by
:mod:`cryogui.views.figure_export`; this module holds the two small non-modal dialogs and picks the current panel.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSpinBox,
                               QVBoxLayout)

from cryogui.errors import InputError
from cryogui.views.figure_export import Recorder, export_png, export_svg, ffmpeg_available, find_figures

log = logging.getLogger("cryogui.app")


def current_panel_id(window) -> str:
    """The panel the user is looking at: a visible dock whose panel is on screen (tabbed docks hide the rest)."""
    for pid, panel in window.panels.items():
        if panel.isVisible() and not window.docks[pid].visibleRegion().isEmpty():
            return pid
    for pid, panel in window.panels.items():
        if panel.isVisible():
            return pid
    return next(iter(window.panels))


def _default_dir(window) -> Path:
    return Path(window.settings.get("figure_dir", str(Path.home() / "cryogui-figures")))


class ExportFigureDialog(QDialog):
    """Tick the views to export, choose the width and the formats, press Export."""

    def __init__(self, window, panel_id: str):
        super().__init__(window)
        self.window_ = window
        self.panel = window.panels[panel_id]
        self.panel_id = panel_id
        self.setObjectName("export_figure_dialog")
        self.setWindowTitle(f"Export figure: {self.panel.title}")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Views of this panel (2D plots also as SVG; 3D views and the panel as PNG):"))
        self.list = QListWidget()
        self.figures = find_figures(self.panel)
        for fig in self.figures:
            item = QListWidgetItem(f"{fig.name}  ({fig.kind}: {', '.join(fig.formats).upper()})")
            item.setData(Qt.UserRole, fig.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked)
            self.list.addItem(item)
        lay.addWidget(self.list)
        form = QFormLayout()
        self.width_spin = QSpinBox()
        self.width_spin.setRange(200, 12000)
        self.width_spin.setSingleStep(200)
        self.width_spin.setValue(int(window.settings.get("figure_width", 2400)))
        self.width_spin.setSuffix(" px")
        self.width_spin.setToolTip("2400 px is 20 cm at 300 dpi (a full-width journal figure)")
        form.addRow("PNG width", self.width_spin)
        row = QHBoxLayout()
        self.png_box, self.svg_box = QCheckBox("PNG"), QCheckBox("SVG")
        self.png_box.setChecked(True)
        self.svg_box.setChecked(True)
        row.addWidget(self.png_box)
        row.addWidget(self.svg_box)
        row.addStretch(1)
        form.addRow("Formats", row)
        row = QHBoxLayout()
        self.dir_edit = QLineEdit(str(_default_dir(window)))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row.addWidget(self.dir_edit)
        row.addWidget(browse)
        form.addRow("Folder", row)
        lay.addLayout(form)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.export_btn = buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.close)
        lay.addWidget(buttons)
        self.resize(520, 420)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for the figures", self.dir_edit.text())
        if d:
            self.dir_edit.setText(d)

    def chosen(self) -> list[str]:
        return [self.list.item(i).data(Qt.UserRole) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.Checked]

    def export(self) -> list[Path]:
        out = Path(self.dir_edit.text()).expanduser()
        width = self.width_spin.value()
        names = set(self.chosen())
        written: list[Path] = []
        try:
            for fig in self.figures:
                if fig.name not in names:
                    continue
                stem = f"{self.panel_id}_{fig.name}"
                if self.png_box.isChecked():
                    written.append(export_png(fig, out / f"{stem}.png", width))
                if self.svg_box.isChecked() and "svg" in fig.formats:
                    written.append(export_svg(fig, out / f"{stem}.svg"))
        except (InputError, OSError) as exc:
            self.window_.show_error("Export figure", str(exc), "")
            return written
        self.window_.settings.set("figure_dir", str(out))
        self.window_.settings.set("figure_width", width)
        self.status.setText(f"Wrote {len(written)} file(s) to {out}")
        self.window_.status(f"Exported {len(written)} figure file(s) to {out}")
        log.info("exported %s", ", ".join(p.name for p in written))
        return written


class RecordDialog(QDialog):
    """Record the current panel while its method runs: Start, then run the method (or start it first)."""

    def __init__(self, window, panel_id: str):
        super().__init__(window)
        self.window_ = window
        self.panel = window.panels[panel_id]
        self.panel_id = panel_id
        self.recorder: Recorder | None = None
        self.setObjectName("record_dialog")
        self.setWindowTitle(f"Record animation: {self.panel.title}")
        form = QFormLayout(self)
        row = QHBoxLayout()
        ext = "mp4" if ffmpeg_available() else "gif"
        self.path_edit = QLineEdit(str(_default_dir(window) / f"{panel_id}.{ext}"))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit)
        row.addWidget(browse)
        form.addRow("File", row)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 30)
        self.fps.setValue(8)
        form.addRow("Frames per second", self.fps)
        self.width_spin = QSpinBox()
        self.width_spin.setRange(200, 4000)
        self.width_spin.setValue(900)
        self.width_spin.setSuffix(" px")
        form.addRow("Width", self.width_spin)
        self.follow = QCheckBox("Stop when the panel's running job finishes")
        self.follow.setChecked(True)
        form.addRow(self.follow)
        row = QHBoxLayout()
        self.start_btn, self.stop_btn = QPushButton("Start"), QPushButton("Stop and save")
        self.stop_btn.setEnabled(False)
        self.start_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        row.addWidget(self.start_btn)
        row.addWidget(self.stop_btn)
        form.addRow(row)
        self.status = QLabel("GIF always; MP4 when imageio-ffmpeg is installed." if ext == "gif" else "")
        self.status.setWordWrap(True)
        form.addRow(self.status)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Record to", self.path_edit.text(),
                                              "Animations (*.gif *.mp4)")
        if path:
            self.path_edit.setText(path)

    def start(self) -> Recorder | None:
        handle = None
        if self.follow.isChecked():
            active = [h for h in self.window_.jobs.active() if h.key.startswith(self.panel_id + ".")]
            handle = active[-1] if active else None
        try:
            self.recorder = Recorder(self.panel, Path(self.path_edit.text()).expanduser(), fps=self.fps.value(),
                                     width=self.width_spin.value(), handle=handle, parent=self)
        except InputError as exc:
            self.window_.show_error("Record animation", str(exc), "")
            return None
        self.recorder.saved.connect(self._saved)
        self.recorder.failed.connect(lambda msg: self.window_.show_error("Record animation", msg, ""))
        self.recorder.start()
        self.start_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.status.setText("Recording" + (f" until '{handle.title}' finishes" if handle else ": press Stop")
                            + "...")
        return self.recorder

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name): closing while recording keeps what was recorded
        self.stop()
        super().closeEvent(event)

    def _saved(self, path: str) -> None:
        n = len(self.recorder.frames) if self.recorder else 0
        self.status.setText(f"Saved {n} frames to {path}")
        self.window_.status(f"Recorded {n} frames to {path}")
        self.start_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)


def _show(window, dialog: QDialog) -> QDialog:
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.show()
    return dialog


def open_export_dialog(window, panel_id: str | None = None) -> ExportFigureDialog:
    return _show(window, ExportFigureDialog(window, panel_id or current_panel_id(window)))


def open_record_dialog(window, panel_id: str | None = None) -> RecordDialog:
    return _show(window, RecordDialog(window, panel_id or current_panel_id(window)))


def install_figures(window) -> tuple[QAction, QAction]:
    """Add File > Export figure... and File > Record animation... (before Quit)."""
    file_menu = window.menuBar().actions()[0].menu()
    quit_act = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
    export_act = QAction("Export &figure...", window)
    export_act.setObjectName("action_export_figure")
    export_act.setShortcut(QKeySequence("Ctrl+Shift+E"))
    export_act.triggered.connect(lambda _=False: open_export_dialog(window))
    record_act = QAction("Record a&nimation...", window)
    record_act.setObjectName("action_record_animation")
    record_act.triggered.connect(lambda _=False: open_record_dialog(window))
    if quit_act is not None:
        file_menu.insertAction(quit_act, export_act)
        file_menu.insertAction(quit_act, record_act)
        file_menu.insertSeparator(quit_act)
    else:
        file_menu.addAction(export_act)
        file_menu.addAction(record_act)
    window.figure_actions = (export_act, record_act)
    return export_act, record_act
