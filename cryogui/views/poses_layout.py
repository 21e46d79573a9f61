"""The widgets of the Poses panel (layout only; the behaviour lives in :mod:`cryogui.views.poses` and
:mod:`cryogui.views.poses_draw`)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from cryogui.views.poses_plots import HammerPlot, MapView, SphereView, curve_plot, histogram_plot
from cryogui.views.widgets import button, button_row, form_group, slider


def _spin(lo, hi, val, step=1.0, decimals=0, suffix=""):
    w = QDoubleSpinBox() if decimals else QSpinBox()
    w.setRange(lo, hi)
    w.setValue(val)
    w.setSingleStep(step)
    if decimals:
        w.setDecimals(decimals)
    if suffix:
        w.setSuffix(suffix)
    return w


def build_ui(self) -> None:
    """Create the panel's widgets as attributes of ``self`` (a PosesPanel) and connect them to its slots."""
    split, ctl = self.split_layout(scroll_width=340)
    cl = ctl.layout()

    f = form_group(cl, "Particle set")
    self.set_combo = QComboBox()
    self.set_combo.setObjectName("poses_set_combo")
    self.set_combo.activated.connect(self._choose_set)
    self._sets: list = []
    f.addRow(self.set_combo)
    self.open_btn = button("Open STAR / .cs ...", self._open_dialog)
    f.addRow(self.open_btn)
    self.info = QLabel("No particles yet: open a STAR or .cs file, or generate projections.")
    self.info.setWordWrap(True)
    f.addRow(self.info)
    self.bw = _spin(2, 45, 10, 1, suffix=" deg")
    self.bw.setToolTip("kernel width of the density of viewing directions")
    self.bw.valueChanged.connect(lambda _: self._start_density())
    f.addRow("Density width", self.bw)

    f = form_group(cl, "Projection generator")
    self.map_combo = QComboBox()
    self._maps: list = []
    self.map_combo.activated.connect(self._choose_map)
    f.addRow("Map", self.map_combo)
    self.n_spin = _spin(10, 100000, 500, 100)
    f.addRow("N", self.n_spin)
    self.shift = [_spin(-360, 360, 0, 5, 1) for _ in range(3)]
    self.cov = [_spin(0, 360, v, 5, 1) for v in (360, 180, 360)]
    for name, ws in (("Shift rot/tilt/psi", self.shift), ("Coverage", self.cov)):
        row = QHBoxLayout()
        for w in ws:
            row.addWidget(w)
        f.addRow(name, row)
    self.snr = _spin(0, 100, 0, 0.1, 2)
    self.snr.setSpecialValueText("no noise")
    f.addRow("SNR", self.snr)
    self.ctf_box = QCheckBox("CTF")
    self.seed = _spin(0, 10**6, 0)
    row = QHBoxLayout()
    row.addWidget(self.ctf_box)
    row.addWidget(QLabel("seed"))
    row.addWidget(self.seed)
    f.addRow(row)
    self.gen_btn = button("Generate", self.start_generate)
    f.addRow(self.gen_btn)

    f = form_group(cl, "1. Learn distances (Siamese)")
    self.train_steps = _spin(10, 100000, 600, 100)
    f.addRow("Steps", self.train_steps)
    self.train_btn = button("Learn distances", self.start_train)
    f.addRow(self.train_btn)

    f = form_group(cl, "2. Recover orientations")
    self.dist_combo = QComboBox()
    self.dist_combo.addItems(["exact", "learned", "image"])
    f.addRow("Distances", self.dist_combo)
    self.rec_steps = _spin(10, 100000, 1500, 100)
    f.addRow("Steps", self.rec_steps)
    self.rec_btn = button("Recover", self.start_recover)
    f.addRow(self.rec_btn)

    f = form_group(cl, "Job")
    row, (self.pause_btn, self.step_btn, self.cancel_btn) = button_row(
        ("Pause", self._pause), ("Step", self._step), ("Cancel", self._cancel))
    f.addRow(row)
    self.speed = slider(0, 100, 0, self._set_delay, "slow down between snapshots (0 = full speed)")
    f.addRow("Slow down", self.speed)
    self.export_btn = button("Export STAR ...", self._export_dialog)
    f.addRow(self.export_btn)
    self.help_btn = button("How this works", self._show_help)
    f.addRow(self.help_btn)
    self.status_label = QLabel("")
    self.status_label.setWordWrap(True)
    cl.addWidget(self.status_label)
    cl.addStretch(1)

    plots = QWidget()
    grid = QGridLayout(plots)
    grid.setContentsMargins(2, 2, 2, 2)
    self.sphere = SphereView("Pose sphere (colour: density; orange: recovered)")
    self.hammer = HammerPlot()
    self.hammer.point_clicked.connect(self.select_particle)
    self.mapview = MapView("Map at the selected pose (seen along the beam)")
    self.psi_plot, self.psi_item = histogram_plot("In-plane angle psi", "psi (deg)")
    self.loss_plot = curve_plot("Distance learning loss", "step", "MSE (rad^2)", log_y=True)
    self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((30, 90, 200), width=2), name="train")
    self.val_curve = self.loss_plot.plot([], [], pen=pg.mkPen((220, 80, 20), width=2), name="held-out")
    self.scatter_plot = curve_plot("Predicted vs true distance", "true (rad)", "predicted (rad)")
    self.scatter_plot.plot([0, np.pi], [0, np.pi], pen=pg.mkPen((150, 150, 150), style=Qt.DashLine))
    self.pair_scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(30, 90, 200, 90))
    self.scatter_plot.addItem(self.pair_scatter)
    self.err_plot = curve_plot("Recovery: median error after alignment", "step", "rad")
    self.err_curve = self.err_plot.plot([], [], pen=pg.mkPen((200, 40, 40), width=2), symbol="o",
                                        symbolSize=4, name="median error")
    self.errh_plot, self.errh_item = histogram_plot("Per-particle error after alignment", "error (deg)")
    grid.addWidget(self.sphere, 0, 0)
    grid.addWidget(self.hammer, 0, 1)
    grid.addWidget(self.mapview, 0, 2)
    grid.addWidget(self.psi_plot, 1, 0)
    grid.addWidget(self.loss_plot, 1, 1)
    grid.addWidget(self.scatter_plot, 1, 2)
    grid.addWidget(self.err_plot, 2, 0)
    grid.addWidget(self.errh_plot, 2, 1)
    self.summary = QLabel("")
    self.summary.setWordWrap(True)
    self.summary.setAlignment(Qt.AlignTop | Qt.AlignLeft)
    grid.addWidget(self.summary, 2, 2)
    for r in range(3):
        grid.setRowStretch(r, 3 if r == 0 else 2)
    split.addWidget(plots)
    split.setStretchFactor(1, 1)
