"""One method's picture in the Point cloud panel: 2D (pyqtgraph image, points, Voronoi cells) or 3D (vispy
isosurface and markers), with a caption line."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from cryogui.core.pointcloud.job import cell_boundaries_rgba

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
        self._iso.set_data(self._data3d)
        self._iso.level = float(level)
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
            self._iso.level = float(level)
            self.canvas.update()

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
