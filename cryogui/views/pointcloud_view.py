"""Parts of the Point cloud panel: its controls column, and one method's picture -- 2D (pyqtgraph image, points,
Voronoi cells) or 3D (vispy isosurface and markers) -- with a caption line."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from cryogui.core.pointcloud.job import cell_boundaries_rgba
from cryogui.views.widgets import button_row, slider

COLORS = {"trn": (255, 90, 40), "cvt": (30, 200, 255)}
NAMES = {"trn": "TRN", "cvt": "CVT"}


def qimage_to_array(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format_RGBA8888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=h * bpl).reshape(h, bpl // 4, 4)
    return arr[:, :w, :3].copy()


class MethodView(QWidget):
    """One method's picture: 2D (pyqtgraph) or 3D (vispy), with a caption line."""

    def __init__(self, method: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.method = method
        self.setObjectName(f"pointcloud_view_{method}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(f"<b>{NAMES[method]}</b>")
        lay.addWidget(self.caption)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack, 1)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.cells = pg.ImageItem()
        self.scatter = pg.ScatterPlotItem(pen=pg.mkPen(20, 20, 20, 200, width=0.6), brush=pg.mkBrush(*COLORS[method]),
                                          size=6, pxMode=True)
        for item in (self.image, self.cells, self.scatter):
            self.plot.addItem(item)
        self.stack.addWidget(self.plot)
        self.canvas = None
        self.gl_error = ""
        self._view3d = None
        self._iso = None
        self._markers = None
        self._data3d = None
        self._range3d = (0.0, 0.0)
        self.points: np.ndarray | None = None
        self._rect = QRectF(0, 0, 1, 1)

    # ---- density ------------------------------------------------------------------------------------------------
    def set_density(self, data: np.ndarray, spacing: np.ndarray, origin: np.ndarray, level: float) -> None:
        self.points = None
        if data.ndim == 2:
            self.stack.setCurrentIndex(0)
            h, w = data.shape
            self.image.setImage(data, autoLevels=False, levels=(float(data.min()), float(data.max()) or 1.0))
            rect = QRectF(origin[0] - spacing[0] / 2, origin[1] - spacing[1] / 2, w * spacing[0], h * spacing[1])
            self.image.setRect(rect)
            self._rect = rect
            self.cells.clear()
            self.scatter.clear()
            self.plot.setRange(rect, padding=0.02)
            return
        if not self._ensure_3d():
            return
        from vispy.visuals.transforms import STTransform

        self._data3d = np.ascontiguousarray(np.asarray(data, dtype=np.float32).T)  # (x, y, z) index order
        self._range3d = (float(self._data3d.min()), float(self._data3d.max()))
        self._iso.set_data(self._data3d)
        self._set_iso_level(level)
        self._iso.transform = STTransform(scale=tuple(float(s) for s in spacing),
                                          translate=tuple(float(o) for o in origin))
        self._markers.set_data(np.zeros((0, 3), np.float32))
        extent = np.array(data.shape[::-1]) * spacing
        centre = origin + extent / 2
        self._view3d.camera.center = tuple(centre)
        self._view3d.camera.scale_factor = float(extent.max()) * 0.8
        self.canvas.update()

    def set_level(self, level: float) -> None:
        if self._iso is not None and self._data3d is not None and self.stack.currentIndex() == 1:
            self._set_iso_level(level)
            self.canvas.update()

    def _set_iso_level(self, level: float) -> None:
        """vispy fails to draw an empty isosurface: hide it when the level is outside the data range."""
        lo, hi = self._range3d
        inside = lo < float(level) < hi
        self._iso.visible = inside
        if inside:
            self._iso.level = float(level)

    def _ensure_3d(self) -> bool:
        if self.canvas is not None:
            self.stack.setCurrentIndex(1)
            return True
        if self.gl_error:
            self.stack.setCurrentIndex(1)
            return False
        try:
            from vispy import scene

            canvas = scene.SceneCanvas(keys=None, show=False, bgcolor="white", size=(400, 400))
            view = canvas.central_widget.add_view()
            view.camera = scene.cameras.TurntableCamera(fov=40, elevation=20, azimuth=30)
            iso = scene.visuals.Isosurface(None, level=0.5, color=(0.55, 0.6, 0.7, 0.35),
                                           shading="smooth", parent=view.scene)
            iso.set_gl_state("translucent", depth_test=False, cull_face=False)
            iso.visible = False
            markers = scene.visuals.Markers(parent=view.scene)
            markers.set_gl_state("translucent", depth_test=False)
            markers.order = 1
            self.canvas, self._view3d, self._iso, self._markers = canvas, view, iso, markers
            self.stack.addWidget(canvas.native)
        except Exception as exc:  # no OpenGL context: say so instead of crashing
            self.gl_error = f"3D view unavailable (OpenGL: {type(exc).__name__}: {exc})"
            lab = QLabel(self.gl_error)
            lab.setWordWrap(True)
            self.stack.addWidget(lab)
        self.stack.setCurrentIndex(1)
        return self.canvas is not None

    def link_camera(self, other: "MethodView") -> None:
        if self._view3d is not None and other._view3d is not None:
            self._view3d.camera.link(other._view3d.camera)

    # ---- points -------------------------------------------------------------------------------------------------
    def set_points(self, points: np.ndarray, weights: np.ndarray | None = None,
                   labels: np.ndarray | None = None) -> None:
        self.points = points
        sizes = 6.0
        if weights is not None and len(weights) and weights.max() > 0:
            sizes = 3.0 + 7.0 * np.sqrt(weights / weights.max())
        if points.shape[1] == 2:
            self.scatter.setData(x=points[:, 0], y=points[:, 1], size=sizes)
            if labels is not None:
                self.cells.setImage(cell_boundaries_rgba(labels, color=(255, 255, 255), alpha=170), autoLevels=False,
                                    levels=(0, 255))
                self.cells.setRect(self._rect)  # after setImage: the rect scales by the image size
            return
        if self._markers is not None:
            self._markers.set_data(points.astype(np.float32), face_color=np.array(COLORS[self.method] + (255,)) / 255,
                                   edge_color=(0.1, 0.1, 0.1, 0.8), edge_width=0.5, size=sizes)
            self.canvas.update()

    def clear_points(self) -> None:
        self.points = None
        self.scatter.clear()
        self.cells.clear()
        if self._markers is not None:
            self._markers.set_data(np.zeros((0, 3), np.float32))
            self.canvas.update()

    def frame(self) -> np.ndarray:
        """The current picture as RGB uint8 (for the animation)."""
        if self.stack.currentIndex() == 1 and self.canvas is not None:
            return np.asarray(self.canvas.render())[..., :3].copy()
        return qimage_to_array(self.plot.grab().toImage())


def render_frames(views: list[MethodView], frames: list[list], count: int, progress=None) -> list[np.ndarray] | None:
    """Replay recorded ``(points, weights, labels)`` frames through the views, side by side: ``count`` RGB images
    (None when the progress dialog was cancelled)."""
    images = []
    for i in range(count):
        row = []
        for view, fr in zip(views, frames):
            j = min(len(fr) - 1, int(round(i * (len(fr) - 1) / max(1, count - 1))))
            view.set_points(*fr[j])
            row.append(view.frame())
        h = min(a.shape[0] for a in row)
        images.append(np.concatenate([a[:h] for a in row], axis=1))
        if progress is not None:
            progress.setValue(i + 1)
            if progress.wasCanceled():
                return None
    return images


def _spin(lo, hi, val, name):
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(val)
    s.setObjectName(name)
    return s


def _dspin(val, name, hi=1.0):
    s = QDoubleSpinBox()
    s.setDecimals(3)
    s.setRange(0.001, hi)
    s.setSingleStep(0.05)
    s.setValue(val)
    s.setObjectName(name)
    return s


def build_controls(panel, methods) -> QWidget:
    """The Point cloud panel's left column; widgets become attributes of ``panel``, signals go to its slots."""
    controls = QWidget()
    form_lay = QVBoxLayout(controls)
    form_lay.setContentsMargins(2, 2, 2, 2)

    g = QGroupBox("Density")
    f = QFormLayout(g)
    panel.source_box = QComboBox()
    panel.source_box.setObjectName("pc_source")
    panel.source_box.currentIndexChanged.connect(panel._select_source)
    f.addRow(panel.source_box)
    panel.open_btn = QPushButton("Open map…")
    panel.open_btn.clicked.connect(panel._open_dialog)
    f.addRow(panel.open_btn)
    panel.threshold = QDoubleSpinBox()
    panel.threshold.setObjectName("pc_threshold")
    panel.threshold.setDecimals(4)
    panel.threshold.setRange(-1e9, 1e9)
    panel.threshold.valueChanged.connect(panel._threshold_changed)
    panel.thr_slider = QSlider(Qt.Horizontal)
    panel.thr_slider.setRange(0, 1000)
    panel.thr_slider.valueChanged.connect(panel._slider_changed)
    f.addRow("Threshold", panel.threshold)
    f.addRow(panel.thr_slider)
    panel.info = QLabel("")
    panel.info.setWordWrap(True)
    f.addRow(panel.info)
    form_lay.addWidget(g)

    g = QGroupBox("Method")
    f = QFormLayout(g)
    panel.use = {m: QCheckBox(NAMES[m]) for m in methods}
    row = QHBoxLayout()
    for m in methods:
        panel.use[m].setChecked(True)
        panel.use[m].setObjectName(f"pc_use_{m}")
        row.addWidget(panel.use[m])
    f.addRow("Run", row)
    panel.n_points = _spin(1, 10_000_000, 200, "pc_points")
    f.addRow("Points n", panel.n_points)
    panel.seed = _spin(0, 2**31 - 1, 0, "pc_seed")
    f.addRow("Seed", panel.seed)
    panel.trn_steps = _spin(0, 1_000_000_000, 0, "pc_trn_steps")
    panel.trn_steps.setSpecialValueText("auto (20 n)")
    panel.trn_steps.setSingleStep(1000)
    f.addRow("TRN samples t_f", panel.trn_steps)
    panel.eps0, panel.epsf = _dspin(0.5, "pc_eps0"), _dspin(0.05, "pc_epsf")
    panel.lam0, panel.lamf = _dspin(1.0, "pc_lam0", 1000.0), _dspin(0.5, "pc_lamf", 1000.0)
    for lab, a, b in (("TRN ε₀ → ε_f", panel.eps0, panel.epsf), ("TRN λ₀ → λ_f", panel.lam0, panel.lamf)):
        r = QHBoxLayout()
        r.addWidget(a)
        r.addWidget(b)
        f.addRow(lab, r)
    panel.trn_mode = QComboBox()
    panel.trn_mode.addItems(["exact", "fast"])
    panel.trn_mode.setObjectName("pc_trn_mode")
    f.addRow("TRN mode", panel.trn_mode)
    panel.cvt_iters = _spin(1, 100_000, 50, "pc_cvt_iterations")
    f.addRow("CVT iterations", panel.cvt_iters)
    form_lay.addWidget(g)

    g = QGroupBox("Run")
    v = QVBoxLayout(g)
    row, (panel.run_btn, panel.step_btn, panel.pause_btn, panel.cancel_btn) = button_row(
        ("Run", panel.run, "pc_run"), ("Step", panel.step, "pc_step"), ("Pause", panel.toggle_pause, "pc_pause"),
        ("Cancel", panel.cancel, "pc_cancel"))
    v.addLayout(row)
    row = QHBoxLayout()
    row.addWidget(QLabel("Speed"))
    panel.speed = slider(0, 100, 100, panel._apply_delay,
                         "100 = full speed; lower values pause up to 1 s between frames", "pc_speed")
    row.addWidget(panel.speed)
    v.addLayout(row)
    panel.status_label = QLabel("Ready.")
    panel.status_label.setObjectName("pc_status")
    panel.status_label.setWordWrap(True)
    v.addWidget(panel.status_label)
    form_lay.addWidget(g)

    g = QGroupBox("Export")
    v = QVBoxLayout(g)
    row = QHBoxLayout()
    panel.export_which = QComboBox()
    panel.export_which.addItems([NAMES[m] for m in methods])
    row.addWidget(panel.export_which)
    panel.export_btn = QPushButton("Export cloud…")
    panel.export_btn.clicked.connect(panel._export_cloud_dialog)
    row.addWidget(panel.export_btn)
    v.addLayout(row)
    panel.anim_btn = QPushButton("Export animation (GIF)…")
    panel.anim_btn.clicked.connect(panel._export_animation_dialog)
    v.addWidget(panel.anim_btn)
    help_btn = QPushButton("How this works")
    help_btn.clicked.connect(panel._show_help)
    v.addWidget(help_btn)
    form_lay.addWidget(g)
    form_lay.addStretch(1)
    return controls
