"""The pictures of the Poses panel: a vispy pose sphere and map, pyqtgraph Hammer map, histograms and curves.

Views only draw arrays they are given (no torch, no long work)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cryogui.core.poses.density import hammer_dirs, hammer_graticule
from cryogui.views.widgets import SparseLogAxis

TRUE_RGBA = (0.15, 0.35, 0.85, 1.0)
REC_RGBA = (0.95, 0.45, 0.05, 1.0)


def density_colors(rho: np.ndarray | None, n: int) -> np.ndarray:
    """RGBA floats ``(n, 4)`` from relative densities (viridis over the 2nd-98th percentiles)."""
    if rho is None or len(rho) != n or n == 0:
        return np.tile(np.array(TRUE_RGBA, np.float32), (n, 1))
    lo, hi = np.percentile(rho, [2, 98])
    t = np.clip((rho - lo) / max(hi - lo, 1e-9), 0, 1)
    return pg.colormap.get("viridis").map(t, mode="float").astype(np.float32)


class _VispyBox(QWidget):
    """A vispy SceneCanvas in a widget, or a label when no OpenGL context can be made."""

    def __init__(self, caption: str, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(caption)
        lay.addWidget(self.caption)
        self.canvas = None
        self.view = None
        self.gl_error = ""
        try:
            from vispy import scene

            self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor="white", size=(300, 300))
            self.view = self.canvas.central_widget.add_view()
            self.build(scene)
            lay.addWidget(self.canvas.native, 1)
        except Exception as exc:  # no OpenGL: say so, do not crash
            self.canvas = None
            self.gl_error = f"3D view unavailable (OpenGL: {type(exc).__name__}: {exc})"
            lab = QLabel(self.gl_error)
            lab.setWordWrap(True)
            lay.addWidget(lab, 1)

    def build(self, scene) -> None:  # pragma: no cover - overridden
        pass

    def update_canvas(self) -> None:
        if self.canvas is not None:
            self.canvas.update()


class SphereView(_VispyBox):
    """Viewing directions on the unit sphere (one Markers visual per set), lines from true to recovered."""

    def build(self, scene) -> None:
        self.view.camera = scene.cameras.TurntableCamera(fov=35, elevation=25, azimuth=40, distance=4.2)
        sphere = scene.visuals.Sphere(radius=0.985, method="latitude", rows=24, cols=48,
                                      color=(0.9, 0.9, 0.93, 1.0), edge_color=(0.75, 0.75, 0.8, 0.6),
                                      parent=self.view.scene)
        sphere.order = -1
        self.axes = scene.visuals.XYZAxis(parent=self.view.scene)
        self.axes.transform = scene.transforms.STTransform(scale=(1.25, 1.25, 1.25))
        self.markers = scene.visuals.Markers(parent=self.view.scene)
        self.rec_markers = scene.visuals.Markers(parent=self.view.scene)
        self.sel_marker = scene.visuals.Markers(parent=self.view.scene)
        self.lines = scene.visuals.Line(connect="segments", color=(0.2, 0.2, 0.2, 0.5), parent=self.view.scene)
        for v in (self.markers, self.rec_markers, self.sel_marker):
            v.set_gl_state("translucent", depth_test=True)
        self._empty()

    def _empty(self) -> None:
        z = np.zeros((1, 3), np.float32)
        for m in (self.markers, self.rec_markers, self.sel_marker):
            m.set_data(z, size=0.0)
            m.visible = False
        self.lines.visible = False

    def set_points(self, dirs: np.ndarray | None, colors: np.ndarray | None = None, size: float = 5.0) -> None:
        if self.canvas is None:
            return
        if dirs is None or len(dirs) == 0:
            self.markers.visible = False
        else:
            face = colors if colors is not None else np.array(TRUE_RGBA, np.float32)
            self.markers.set_data(np.asarray(dirs, np.float32) * 1.01, face_color=face, edge_width=0, size=size)
            self.markers.visible = True
        self.update_canvas()

    def set_recovered(self, dirs: np.ndarray | None, size: float = 5.0) -> None:
        if self.canvas is None:
            return
        if dirs is None or len(dirs) == 0:
            self.rec_markers.visible = False
        else:
            self.rec_markers.set_data(np.asarray(dirs, np.float32) * 1.02, face_color=REC_RGBA, edge_width=0,
                                      size=size)
            self.rec_markers.visible = True
        self.update_canvas()

    def set_lines(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        if self.canvas is None:
            return
        if a is None or b is None or len(a) == 0:
            self.lines.visible = False
        else:
            seg = np.empty((2 * len(a), 3), np.float32)
            seg[0::2], seg[1::2] = a * 1.01, b * 1.02
            self.lines.set_data(pos=seg, connect="segments")
            self.lines.visible = True
        self.update_canvas()

    def set_selected(self, d: np.ndarray | None) -> None:
        if self.canvas is None:
            return
        if d is None:
            self.sel_marker.visible = False
        else:
            self.sel_marker.set_data(np.asarray(d, np.float32).reshape(1, 3) * 1.04, face_color=(1, 0, 0, 1),
                                     edge_color="black", size=14)
            self.sel_marker.visible = True
        self.update_canvas()


class MapView(_VispyBox):
    """The map's isosurface turned by a pose A, seen along the beam (z): what that particle image shows."""

    def build(self, scene) -> None:
        self.view.camera = scene.cameras.TurntableCamera(fov=0, elevation=90, azimuth=0, distance=None)
        self.iso = scene.visuals.Isosurface(None, level=0.5, color=(0.55, 0.65, 0.8, 1.0), shading="smooth",
                                            parent=self.view.scene)
        self._scene = scene
        self.box = 0

    def set_volume(self, data: np.ndarray | None, level: float | None = None) -> None:
        if self.canvas is None or data is None:
            return
        vol = np.asarray(data, np.float32)
        lo, hi = float(vol.min()), float(vol.max())
        if level is None:
            level = float(np.percentile(vol, 97))
        if not lo < level < hi:  # a sparse or binary map: the percentile sits on the maximum
            level = 0.5 * (lo + hi)
        self.iso.visible = lo < hi  # vispy cannot draw an empty isosurface (constant map)
        self.iso.set_data(np.ascontiguousarray(vol.transpose(2, 1, 0)))  # vispy indexes (x, y, z)
        self.iso.level = level
        self.box = vol.shape[0]
        self.view.camera.set_range(x=(-self.box / 2, self.box / 2), y=(-self.box / 2, self.box / 2),
                                   z=(-self.box / 2, self.box / 2))
        self.view.camera.scale_factor = 1.2 * self.box
        self.set_pose(np.eye(3))

    def set_pose(self, a: np.ndarray) -> None:
        if self.canvas is None or not self.box:
            return
        from vispy.visuals.transforms import MatrixTransform

        c = self.box // 2
        m = np.eye(4)
        m[:3, :3] = np.asarray(a, float).T  # row vectors: p' = p @ A^T = (A p)^T
        m[3, :3] = -np.full(3, c) @ np.asarray(a, float).T
        tr = MatrixTransform()
        tr.matrix = m
        self.iso.transform = tr
        self.update_canvas()


class HammerPlot(pg.PlotWidget):
    """Equal-area (Hammer) map of viewing directions; clicking a point selects that particle."""

    point_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setTitle("Viewing directions (Hammer equal-area)", size="9pt")
        for line in hammer_graticule(30.0):
            self.plot(line[:, 0], line[:, 1], pen=pg.mkPen((190, 190, 200), width=1))
        self.scatter = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(40, 90, 220, 200))
        self.rec_scatter = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(240, 115, 15, 200))
        self.sel = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k", width=1.5), brush=pg.mkBrush(255, 0, 0))
        for it in (self.scatter, self.rec_scatter, self.sel):
            self.addItem(it)
        self.scatter.sigClicked.connect(self._clicked)
        self.setRange(xRange=(-2.9, 2.9), yRange=(-1.5, 1.5), padding=0.02)

    def _clicked(self, item, points, ev=None) -> None:
        if len(points):
            self.point_clicked.emit(int(points[0].data()))

    def set_points(self, dirs: np.ndarray | None, colors: np.ndarray | None = None) -> None:
        if dirs is None or len(dirs) == 0:
            self.scatter.clear()
            return
        xy = hammer_dirs(dirs)
        brush = None
        if colors is not None:
            c = (np.asarray(colors) * 255).astype(np.uint8)
            brush = [pg.mkBrush(*row) for row in c]
        self.scatter.setData(x=xy[:, 0], y=xy[:, 1], data=np.arange(len(xy)),
                             brush=brush if brush is not None else pg.mkBrush(40, 90, 220, 200))

    def set_recovered(self, dirs: np.ndarray | None) -> None:
        if dirs is None or len(dirs) == 0:
            self.rec_scatter.clear()
            return
        xy = hammer_dirs(dirs)
        self.rec_scatter.setData(x=xy[:, 0], y=xy[:, 1])

    def set_selected(self, d: np.ndarray | None) -> None:
        if d is None:
            self.sel.clear()
        else:
            xy = hammer_dirs(np.asarray(d).reshape(1, 3))
            self.sel.setData(x=xy[:, 0], y=xy[:, 1])


def histogram_plot(title: str, xlabel: str) -> tuple[pg.PlotWidget, pg.PlotDataItem]:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, size="9pt")
    w.setLabel("bottom", xlabel)
    w.setLabel("left", "count")
    item = w.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(60, 110, 200, 150),
                  pen=pg.mkPen((30, 60, 150)))
    return w, item


def set_histogram(item: pg.PlotDataItem, values: np.ndarray, bins: int, rng: tuple[float, float]) -> None:
    if values is None or len(values) == 0:
        item.clear()  # an empty plot keeps its default axes (a lone zero bar autoscaled to a +-0.5 axis)
        return
    h, e = np.histogram(values, bins=bins, range=rng)
    item.setData(e, h, stepMode="center", fillLevel=0)


def curve_plot(title: str, xlabel: str, ylabel: str, log_y: bool = False) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w", axisItems={"left": SparseLogAxis("left")} if log_y else None)
    w.setTitle(title, size="9pt")
    w.setLabel("bottom", xlabel)
    w.setLabel("left", ylabel)
    w.showGrid(x=True, y=True, alpha=0.3)
    if log_y:
        w.setLogMode(y=True)
    w.addLegend(offset=(-5, 5), labelTextSize="8pt")
    return w
