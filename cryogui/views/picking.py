"""The Picking dock: review, curate and auto-pick particles on micrographs without knowing their size.

Left: micrograph list, display, filters (with histograms), editing, auto-pick, truth metrics and PR curve.
Right: the micrograph with picks as circles (see :mod:`cryogui.views.picking_view`).  Picks live in a Qt-free
:class:`cryogui.models.picks.PickStore` (undo/redo, journal); auto-picking runs as a job (key ``picking.autopick``);
the view redraws from the panel's 30 Hz redraw timer when something changed (:mod:`cryogui.views.picking_draw`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton, QRadioButton, QSlider,
                               QTableWidget, QVBoxLayout, QWidget)
from superqt import QDoubleRangeSlider

from cryogui.errors import InputError
from cryogui.io.coords import write_picks
from cryogui.models.picks import PickStore, new_journal_path
from cryogui.views.base import PanelBase
from cryogui.views.picking_draw import PickingDrawing
from cryogui.views.picking_help import HELP_HTML
from cryogui.views.picking_logic import PickingLogic
from cryogui.views.picking_view import MicrographView

EXPORT_FORMATS = PickingLogic.EXPORT_FORMATS


class PickingPanel(PickingLogic, PickingDrawing, PanelBase):
    panel_id = "picking"
    title = "Picking"

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.mics: dict[str, dict] = {}          # key -> {"path", "apix", "shape"}
        self.order: list[str] = []
        self.current: str | None = None
        self.truth = None                        # io table
        self.metrics: dict | None = None
        self.selection = np.zeros(0, dtype=np.int64)
        self._display_cache: dict[str, tuple] = {}
        self._display_request = None
        self._shown = None
        self._preview = None                     # (index, x, y) while dragging
        self._job = None
        self._learned_model = None               # the fine-tuned learned picker, once there is one
        self.store = PickStore(new_journal_path())
        self.store.subscribe(self._on_store_changed)
        self._build()
        self._shortcuts()
        ctx.session.subscribe(self._on_session)
        for item in ctx.session.items("micrograph"):
            self._on_session("micrograph", item)
        self._offer_recovery()

    # ---- layout ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        split, left = self.split_layout(margins=2, scroll_width=330, h_scroll=True)
        v = left.layout()
        v.setContentsMargins(4, 4, 4, 4)

        self.banner = QFrame()
        self.banner.setStyleSheet("QFrame { background: #5a4a10; border-radius: 4px; }")
        bl = QHBoxLayout(self.banner)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.restore_btn = QPushButton("Restore")
        self.discard_btn = QPushButton("Discard")
        self.restore_btn.clicked.connect(lambda: self.restore_journal(self._journals[0]))
        self.discard_btn.clicked.connect(self.discard_journals)
        bl.addWidget(self.banner_label, 1)
        bl.addWidget(self.restore_btn)
        bl.addWidget(self.discard_btn)
        self.banner.hide()
        v.addWidget(self.banner)

        files = QHBoxLayout()
        for text, slot in (("Micrographs...", self._open_micrographs_dialog), ("Import picks...", self._import_dialog),
                           ("Truth...", self._truth_dialog)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            files.addWidget(b)
        v.addLayout(files)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Micrograph", "Picks", "Good", "Seen"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(0, 150)
        for c in (1, 2, 3):
            self.table.setColumnWidth(c, 48)
        self.table.setMaximumHeight(150)
        self.table.currentCellChanged.connect(lambda r, c, pr, pc: self._row_selected(r))
        self.table.cellClicked.connect(self._cell_clicked)
        v.addWidget(self.table)

        disp = QGroupBox("Display")
        f = QFormLayout(disp)
        self.contrast = QSlider(Qt.Horizontal)
        self.contrast.setRange(5, 60)
        self.contrast.setValue(10)
        self.contrast.valueChanged.connect(lambda _: self.schedule_redraw("levels"))
        self.invert = QCheckBox("Invert (protein white)")
        self.invert.toggled.connect(lambda _: self.schedule_redraw("levels"))
        self.lowpass = QDoubleSpinBox()
        self.lowpass.setRange(0, 500)
        self.lowpass.setValue(20)
        self.lowpass.setSuffix(" A")
        self.lowpass.setSpecialValueText("off")
        self.highpass = QDoubleSpinBox()
        self.highpass.setRange(0, 5000)
        self.highpass.setSuffix(" A")
        self.highpass.setSpecialValueText("off")
        self.apix = QDoubleSpinBox()
        self.apix.setRange(0.1, 50)
        self.apix.setDecimals(3)
        self.apix.setValue(1.0)
        self.apix.setSuffix(" A/px")
        for w in (self.lowpass, self.highpass, self.apix):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._filters_changed)
        f.addRow("Contrast", self.contrast)
        f.addRow(self.invert)
        f.addRow("Low-pass", self.lowpass)
        f.addRow("High-pass", self.highpass)
        f.addRow("Pixel size", self.apix)
        v.addWidget(disp)

        filt = QGroupBox("Filters")
        f2 = QFormLayout(filt)
        self.threshold = QSlider(Qt.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setValue(50)
        self.threshold.valueChanged.connect(self._filters_moved)
        self.threshold_label = QLabel("0.50")
        row = QHBoxLayout()
        row.addWidget(self.threshold, 1)
        row.addWidget(self.threshold_label)
        f2.addRow("Confidence", row)
        self.score_hist = self._small_plot()
        self.thr_line = pg.InfiniteLine(0.5, pen=pg.mkPen("y", width=2))
        self.score_hist.addItem(self.thr_line)
        f2.addRow(self.score_hist)
        self.size_range = QDoubleRangeSlider(Qt.Horizontal)
        self.size_range.setRange(0, 400)
        self.size_range.setValue((0, 400))
        self.size_range.valueChanged.connect(self._filters_moved)
        self.size_label = QLabel("0-400 px")
        f2.addRow("Diameter", self.size_range)
        f2.addRow("", self.size_label)
        self.size_hist = self._small_plot()
        self.size_lines = [pg.InfiniteLine(0, pen=pg.mkPen("y", width=2)),
                           pg.InfiniteLine(400, pen=pg.mkPen("y", width=2))]
        for ln in self.size_lines:
            self.size_hist.addItem(ln)
        f2.addRow(self.size_hist)
        self.circle_mode = QComboBox()
        self.circle_mode.addItems(["Estimated diameter", "Box size"])
        self.box_size = QDoubleSpinBox()
        self.box_size.setRange(4, 2000)
        self.box_size.setValue(64)
        self.box_size.setSuffix(" px")
        self.circle_mode.currentIndexChanged.connect(lambda _: self.schedule_redraw("picks"))
        self.box_size.valueChanged.connect(lambda _: self.schedule_redraw("picks"))
        self.count_label = QLabel()
        f2.addRow("Circles", self.circle_mode)
        f2.addRow("Box", self.box_size)
        f2.addRow(self.count_label)
        v.addWidget(filt)

        edit = QGroupBox("Edit")
        e = QVBoxLayout(edit)
        modes = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        self.mode_buttons = {}
        for i, (mode, text) in enumerate((("add", "Add / move (A)"), ("delete", "Delete (D)"),
                                          ("select", "Select (S)"))):
            b = QRadioButton(text)
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            modes.addWidget(b)
            b.toggled.connect(lambda on, m=mode: on and self.set_mode(m))
        self.mode_buttons["add"].setChecked(True)
        e.addLayout(modes)
        row = QHBoxLayout()
        self.undo_btn = QPushButton("Undo")
        self.redo_btn = QPushButton("Redo")
        self.del_btn = QPushButton("Delete selected")
        self.undo_btn.clicked.connect(self.undo)
        self.redo_btn.clicked.connect(self.redo)
        self.del_btn.clicked.connect(self.delete_selected)
        for b in (self.undo_btn, self.redo_btn, self.del_btn):
            row.addWidget(b)
        e.addLayout(row)
        row = QHBoxLayout()
        self.good_btn = QPushButton("Good (G)")
        self.bad_btn = QPushButton("Bad (B)")
        self.good_btn.clicked.connect(lambda: self.set_good(True))
        self.bad_btn.clicked.connect(lambda: self.set_good(False))
        row.addWidget(self.good_btn)
        row.addWidget(self.bad_btn)
        e.addLayout(row)
        v.addWidget(edit)

        auto = QGroupBox("Auto-pick (no size needed)")
        a = QFormLayout(auto)
        self.method = QComboBox()
        self.method.addItems(["Scale-space (default)", "Learned (torch)"])
        self.diameter_hint = QDoubleSpinBox()
        self.diameter_hint.setRange(0, 2000)
        self.diameter_hint.setSpecialValueText("find from data")
        self.diameter_hint.setSuffix(" px")
        a.addRow("Method", self.method)
        a.addRow("Diameter", self.diameter_hint)
        row = QHBoxLayout()
        self.pick_btn = QPushButton("Pick this")
        self.pick_all_btn = QPushButton("Pick all")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.pick_btn.clicked.connect(lambda: self.run_autopick(all_micrographs=False))
        self.pick_all_btn.clicked.connect(lambda: self.run_autopick(all_micrographs=True))
        self.cancel_btn.clicked.connect(self.cancel_autopick)
        for b in (self.pick_btn, self.pick_all_btn, self.cancel_btn):
            row.addWidget(b)
        a.addRow(row)
        self.job_label = QLabel("")
        self.job_label.setWordWrap(True)
        a.addRow(self.job_label)
        row = QHBoxLayout()
        self.finetune_btn = QPushButton("Fine-tune learned picker")
        self.finetune_btn.setToolTip("Train the learned picker further on the curated picks (those that pass "
                                     "the filters) of every micrograph that has picks")
        self.finetune_btn.clicked.connect(lambda: self.run_finetune())
        row.addWidget(self.finetune_btn)
        a.addRow(row)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setFixedHeight(90)
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((255, 160, 60), width=2))
        a.addRow(self.loss_plot)
        v.addWidget(auto)

        out = QGroupBox("Export")
        o = QFormLayout(out)
        self.export_fmt = QComboBox()
        self.export_fmt.addItems(list(EXPORT_FORMATS))
        self.export_filtered = QCheckBox("Only picks that pass the filters")
        self.export_filtered.setChecked(True)
        exp_btn = QPushButton("Export picks...")
        exp_btn.clicked.connect(self._export_dialog)
        o.addRow("Format", self.export_fmt)
        o.addRow(self.export_filtered)
        o.addRow(exp_btn)
        v.addWidget(out)

        truth = QGroupBox("Ground truth")
        t = QVBoxLayout(truth)
        self.metrics_label = QLabel("No truth loaded.")
        self.metrics_label.setWordWrap(True)
        t.addWidget(self.metrics_label)
        self.pr_plot = pg.PlotWidget()
        self.pr_plot.setFixedHeight(150)
        self.pr_plot.setLabel("bottom", "recall")
        self.pr_plot.setLabel("left", "precision")
        self.pr_plot.setXRange(0, 1.02)
        self.pr_plot.setYRange(0, 1.02)
        self.pr_curve = self.pr_plot.plot([], [], pen=pg.mkPen((120, 200, 255), width=2))
        self.pr_point = pg.ScatterPlotItem(size=10, brush=pg.mkBrush("y"))
        self.pr_plot.addItem(self.pr_point)
        t.addWidget(self.pr_plot)
        v.addWidget(truth)

        help_btn = QPushButton("How this works")
        help_btn.clicked.connect(self._show_help)
        v.addWidget(help_btn)
        v.addStretch(1)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.view = MicrographView(self)
        rv.addWidget(self.view, 1)
        self.status_label = QLabel("Open micrographs (File menu or the Micrographs... button).")
        rv.addWidget(self.status_label)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([340, 900])
        self.set_mode("add")

    def _small_plot(self) -> pg.PlotWidget:
        p = pg.PlotWidget()
        p.setFixedHeight(70)
        p.hideAxis("left")
        p.setMouseEnabled(False, False)
        p.hideButtons()
        item = p.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(100, 150, 220, 150))
        p._hist_item = item
        return p

    def _shortcuts(self) -> None:
        def sc(keys, slot):
            s = QShortcut(QKeySequence(keys), self)
            s.setContext(Qt.WidgetWithChildrenShortcut)
            s.activated.connect(slot)

        sc("Ctrl+Z", self.undo)
        sc("Ctrl+Shift+Z", self.redo)
        sc("Ctrl+Y", self.redo)
        for key in ("Delete", "Backspace"):
            sc(key, self.delete_selected)
        for key in ("N", "PgDown"):
            sc(key, lambda: self.step_micrograph(1))
        for key in ("P", "PgUp"):
            sc(key, lambda: self.step_micrograph(-1))
        sc("A", lambda: self.mode_buttons["add"].setChecked(True))
        sc("D", lambda: self.mode_buttons["delete"].setChecked(True))
        sc("S", lambda: self.mode_buttons["select"].setChecked(True))
        sc("G", lambda: self.set_good(True))
        sc("B", lambda: self.set_good(False))

    def help_html(self) -> str:
        return HELP_HTML

    def load_demo(self, demo_dir: Path) -> None:
        demo_dir = Path(demo_dir)
        mics = sorted((demo_dir / "micrographs").glob("*.mrc"))
        if not mics:
            return
        self.add_micrographs(mics)
        truth = demo_dir / "micrographs" / "truth.star"
        if truth.exists():
            self.load_truth(truth)
        if all(self.store.count(k) == 0 for k in self.order):
            self.run_autopick(all_micrographs=True)

    def open_path(self, path: Path, kind: str) -> bool:
        if kind == "micrograph":
            self.add_micrographs([Path(path)])
            return True
        if kind in ("coords", "cs"):
            try:
                self.import_picks(Path(path))
            except InputError as exc:
                self.ctx.show_error("Could not import picks", str(exc), "")
                return False
            return True
        return False

    def shutdown(self) -> None:
        super().shutdown()
        try:
            from cryogui.models.paths import data_dir

            if len(self.store.table()):
                write_picks(data_dir() / "autosave" / "picks-autosave.star", self.store.table())
            self.store.close_journal(clean=True)
        except Exception:  # never block closing
            self.ctx.log.exception("picking: autosave on close failed; the journal is kept")
            self.store.close_journal(clean=False)


    # ---- workspace (issue 8): what File > Save workspace keeps of this panel -----------------------------------
    def save_state(self, arrays: dict) -> dict:
        from cryogui.models.workspace import pickstore_state

        truth = None
        if self.truth is not None:
            from pandas.api.types import is_numeric_dtype

            truth = {c: (self.truth[c].to_numpy(dtype=np.float64) if is_numeric_dtype(self.truth[c])
                         else self.truth[c].astype(str).tolist())
                     for c in self.truth.columns if c != "key"}
        lo, hi = self.size_range_value()
        return {"micrographs": [Path(self.mics[k]["path"]).resolve() for k in self.order], "current": self.current,
                "store": pickstore_state(self.store), "truth": truth,
                "controls": {"threshold": self.threshold.value(), "size_range": [lo, hi],
                             "contrast": self.contrast.value(), "invert": self.invert.isChecked(),
                             "lowpass": self.lowpass.value(), "highpass": self.highpass.value(),
                             "apix": self.apix.value(), "circle_mode": self.circle_mode.currentIndex(),
                             "box_size": self.box_size.value(), "method": self.method.currentIndex(),
                             "diameter_hint": self.diameter_hint.value(), "export_format":
                             self.export_fmt.currentIndex(), "export_filtered": self.export_filtered.isChecked()},
                "learned_model": self._tuned_state()}

    def _tuned_state(self):
        """The fine-tuned learned picker's weights (None until there is one)."""
        if self._learned_model is None:
            return None
        from cryogui.core.picking.learned import model_state

        return model_state(self._learned_model)

    def restore_state(self, state: dict, arrays: dict) -> None:
        import pandas as pd

        from cryogui.models.workspace import restore_pickstore

        self.add_micrographs([p for p in state.get("micrographs", []) if Path(p).exists()])
        c = state.get("controls", {})
        for w, key in ((self.contrast, "contrast"), (self.lowpass, "lowpass"), (self.highpass, "highpass"),
                       (self.box_size, "box_size"), (self.diameter_hint, "diameter_hint")):
            if key in c:
                w.setValue(c[key])
        for w, key in ((self.circle_mode, "circle_mode"), (self.method, "method"),
                       (self.export_fmt, "export_format")):
            if key in c:
                w.setCurrentIndex(int(c[key]))
        self.invert.setChecked(bool(c.get("invert", self.invert.isChecked())))
        self.export_filtered.setChecked(bool(c.get("export_filtered", self.export_filtered.isChecked())))
        cur = state.get("current")
        if cur in self.mics:
            self.current = None  # switching here must not flag the previous micrograph as reviewed (an undo step)
            self.set_current(cur)
        if "store" in state:
            restore_pickstore(self.store, state["store"])
        if state.get("learned_model") is not None:  # the fine-tuned picker: the curation it learned from is kept
            from cryogui.core.picking.learned import model_from_state
            from cryogui.errors import InputError

            try:
                self._learned_model = model_from_state(state["learned_model"])
            except InputError as exc:
                self.ctx.show_error("Picking", f"The workspace's fine-tuned picker cannot be used: {exc}", "")
        if "apix" in c:
            self.apix.setValue(c["apix"])
        self._update_size_slider()
        if "size_range" in c:
            self.size_range.setValue(tuple(c["size_range"]))
        if "threshold" in c:
            self.threshold.setValue(int(c["threshold"]))
        if state.get("truth") is not None:
            self.truth = pd.DataFrame({k: list(v) if isinstance(v, list) else v for k, v in state["truth"].items()})
            from cryogui.io.coords import micrograph_key

            self.truth["key"] = self.truth["micrograph"].map(micrograph_key)
        self._filters_moved()
        self.schedule_redraw("image", "picks", "hist", "list")
