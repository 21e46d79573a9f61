"""The 3D picture of the Eigen-motion panel: Gaussians coloured by flexibility (vispy markers), arrows of the
selected eigen-motion (line segments with tip markers), and the focus box (wireframe).  Falls back to a label when
no OpenGL context can be made."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

_EDGES = [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def flexibility_colors(values: np.ndarray, focus: np.ndarray | None = None) -> np.ndarray:
    """RGBA float colours (plasma) for flexibility values; Gaussians outside the focus are grey."""
    v = np.asarray(values, dtype=np.float64)
    span = v.max() - v.min() if len(v) else 0.0
    t = (v - v.min()) / span if span > 0 else np.zeros_like(v)
    rgba = pg.colormap.get("plasma").map(t, mode="float")
    rgba = np.asarray(rgba, dtype=np.float32).reshape(-1, 4)
    rgba[:, 3] = 0.95
    if focus is not None and len(focus) == len(v):
        rgba[~np.asarray(focus, bool)] = (0.6, 0.6, 0.6, 0.35)
    return rgba


class GaussianView3D(QWidget):
    """Markers (one visual) for the Gaussians, one line visual for the arrows, one for the box."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("motion_view3d")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.canvas = None
        self.gl_error = ""
        self.positions = np.zeros((0, 3), np.float32)
        self.colors = np.zeros((0, 4), np.float32)
        self.sizes = 8.0
        self.arrows = np.zeros((0, 2, 3), np.float32)
        try:
            from vispy import scene

            canvas = scene.SceneCanvas(keys=None, show=False, bgcolor="white", size=(420, 360))
            view = canvas.central_widget.add_view()
            view.camera = scene.cameras.TurntableCamera(fov=35, elevation=25, azimuth=-60)
            self._markers = scene.visuals.Markers(parent=view.scene)
            self._markers.set_gl_state("translucent", depth_test=True)
            self._lines = scene.visuals.Line(parent=view.scene, connect="segments", width=3.0, antialias=True)
            self._lines.set_gl_state("translucent", depth_test=False)
            self._lines.order = 2
            self._tips = scene.visuals.Markers(parent=view.scene)
            self._tips.set_gl_state("translucent", depth_test=False)
            self._tips.order = 3
            self._box = scene.visuals.Line(parent=view.scene, connect="segments", width=1.5,
                                           color=(0.1, 0.5, 0.1, 0.9))
            self._axis = scene.visuals.XYZAxis(parent=view.scene)
            self.canvas, self._view = canvas, view
            lay.addWidget(canvas.native)
        except Exception as exc:  # no OpenGL: say so instead of crashing
            self.gl_error = f"3D view unavailable (OpenGL: {type(exc).__name__}: {exc})"
            lab = QLabel(self.gl_error)
            lab.setWordWrap(True)
            lay.addWidget(lab)

    def set_model(self, positions: np.ndarray, sigmas: np.ndarray, apix: float) -> None:
        from vispy.visuals.transforms import STTransform

        self.positions = np.asarray(positions, np.float32)
        if self.canvas is None:
            return
        extent = float(np.abs(self.positions).max() * 2.0) if len(self.positions) else 100.0
        self._view.camera.center = (0.0, 0.0, 0.0)
        self._view.camera.scale_factor = 0.75 * extent
        self._axis.transform = STTransform(scale=(extent / 6,) * 3, translate=(-extent / 2.4,) * 3)
        self.sizes = float(np.clip(1.2 * np.median(sigmas) / max(extent, 1e-6) * 360, 4, 11))
        self._draw()

    def set_colors(self, colors: np.ndarray) -> None:
        self.colors = np.asarray(colors, np.float32)
        self._draw()

    def set_positions(self, positions: np.ndarray) -> None:
        self.positions = np.asarray(positions, np.float32)
        self._draw()

    def set_arrows(self, start: np.ndarray, vec: np.ndarray, scale: float, color=(0.05, 0.55, 0.95, 1.0)) -> None:
        """Arrows from ``start`` along ``vec * scale`` (Gaussians with a negligible vector get none)."""
        start = np.asarray(start, np.float32)
        vec = np.asarray(vec, np.float32) * scale
        length = np.linalg.norm(vec, axis=1)
        keep = length > 0.15 * max(1e-9, float(length.max(initial=0)))  # arrows only where the mode moves
        self.arrows = np.stack([start[keep], start[keep] + vec[keep]], axis=1)
        self._arrow_color = color
        self._draw_arrows()

    def set_box(self, lo, hi) -> None:
        if self.canvas is None:
            return
        if lo is None:
            self._box.set_data(pos=np.zeros((0, 3), np.float32))
        else:
            corners = np.array([[(hi if i & 1 else lo)[0], (hi if i & 2 else lo)[1], (hi if i & 4 else lo)[2]]
                                for i in range(8)], np.float32)
            self._box.set_data(pos=corners[np.array(_EDGES).ravel()])
        self.canvas.update()

    def _draw(self) -> None:
        if self.canvas is None or not len(self.positions):
            return
        colors = self.colors if len(self.colors) == len(self.positions) else (0.3, 0.4, 0.8, 0.9)
        self._markers.set_data(self.positions, face_color=colors, edge_color=(0.1, 0.1, 0.1, 0.6),
                               edge_width=0.5, size=self.sizes)
        self.canvas.update()

    def _draw_arrows(self) -> None:
        if self.canvas is None:
            return
        if len(self.arrows) == 0:
            self._lines.set_data(pos=np.zeros((0, 3), np.float32))
            self._tips.set_data(np.zeros((0, 3), np.float32))
        else:
            self._lines.set_data(pos=self.arrows.reshape(-1, 3), color=self._arrow_color)
            self._tips.set_data(self.arrows[:, 1], face_color=self._arrow_color, edge_width=0,
                                size=max(4.0, 0.55 * self.sizes), symbol="disc")
        self.canvas.update()

    def render(self) -> np.ndarray | None:
        return None if self.canvas is None else np.asarray(self.canvas.render())[..., :3].copy()


HELP_HTML = """
<h3>Eigen-motion: conformational heterogeneity from per-particle FRC gradients</h3>
<p>The consensus map is a sum of Gaussians, <i>map(x) = &Sigma;<sub>j</sub> A<sub>j</sub>
exp(-|x - p<sub>j</sub>|&sup2; / 2&sigma;<sub>j</sub>&sup2;)</i>. Each particle i (known pose and CTF) is compared
with the CTF-modulated projection of the model by the Fourier ring correlation <i>FRC<sub>i</sub></i>
(mean over rings up to the model's resolution).</p>
<p><b>Gradient.</b> <i>Grad<sub>ij</sub> = &part;FRC<sub>i</sub>/&part;p<sub>j</sub></i>: which way Gaussian j
should move to match particle i better. Computed for all particles at once by automatic differentiation; each
gradient lies in the particle's projection plane (a 2D vector on the image, gathered in 3D). With <i>Kind =
amplitude</i>, &part;FRC/&part;A<sub>j</sub> instead (compositional heterogeneity).</p>
<p><b>Flexibility.</b> The colour of each Gaussian is the mean gradient length over particles: large where the
particles disagree with the consensus.</p>
<p><b>Eigen-motions.</b> Each particle gives one vector of length 3&times;(number of Gaussians). PCA of these
vectors gives eigen-motion vectors <i>v<sub>j</sub></i> (arrows) and their explained variance (spectrum). Each
vector is scaled so that its most mobile Gaussian moves 1 &Aring; per unit coordinate.</p>
<p><b>Per-particle coordinate.</b> For each particle, <i>c<sub>i</sub></i> maximises the FRC of the moved model
<i>map<sub>i</sub>(x) = &Sigma;<sub>j</sub> A<sub>j</sub> exp(-|x - (p<sub>j</sub> + c<sub>i</sub>
v<sub>j</sub>)|&sup2; / 2&sigma;<sub>j</sub>&sup2;)</i>: a coarse search, then gradient ascent, all modes jointly.
The histogram shows the coordinates; a range of them selects particles of similar conformation.</p>
<p><b>Controls.</b> <i>Modes</i>: number of eigen-motions. <i>Range</i>: coordinate search range (&Aring;, 0 =
automatic). <i>Non-linear</i>: also trains a small autoencoder on the same gradients and compares its explained
variance with PCA's. <i>Focus box</i>: analyse only the Gaussians inside the box (local motion). Sliders move the
model along each mode (Play/Loop animates the selected one); the left map is the model at the slider position, the
right one the reconstruction (a short refit of the model) from the particles in the histogram's range. <i>Export
range</i> writes those particles as a RELION STAR file with columns cryoguiMotion1..K.</p>
<p>Follows M. Chen &amp; S. Ludtke's Gaussian-model heterogeneity analysis (EMAN2 e2gmm, 2018 slides).</p>
"""
