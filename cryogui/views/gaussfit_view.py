"""Drawing pieces of the Gaussian-fit panel: the 3D view (target isosurface + Gaussians) and the image strip."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

ROW_NAMES = ("observed", "rendered", "residual")

HELP = """
<h3>Gaussian fit: how this works</h3>
<p>The map is written as a sum of Gaussians, <i>V(r) = &Sigma;<sub>k</sub> a<sub>k</sub>
exp(-&frac12; (r-p<sub>k</sub>)<sup>T</sup> &Sigma;<sub>k</sub><sup>-1</sup> (r-p<sub>k</sub>))</i>, with positions
p<sub>k</sub> (&Aring;), amplitudes a<sub>k</sub> and widths: isotropic (&Sigma; = &sigma;<sup>2</sup>I) or anisotropic
(&Sigma; = R diag(s<sup>2</sup>) R<sup>T</sup>, scale + rotation, positive definite by construction).</p>
<p><b>Projection.</b> The line integral of a 3D Gaussian is a 2D Gaussian: at pose A (RELION rot/tilt/psi) a Gaussian
lands at (A p)<sub>1,2</sub> minus the origin shift, with covariance (A &Sigma; A<sup>T</sup>)<sub>2&times;2</sub>.
An image is I<sub>i</sub> = CTF<sub>i</sub> * &Gamma;(V, A<sub>i</sub>) + noise. Isotropic images are separable, so a
batch is one matrix product; anisotropic ones are drawn on small footprints.</p>
<p><b>Fitting.</b> Adam minimises the squared error (normalised by the target's variance): to the map voxels, or to
particle images in mini-batches with a held-out validation set. Every few hundred steps, <i>density control</i>
prunes Gaussians with negligible amplitude and re-uses them to split (wide) or clone (narrow) those with the largest
position gradients. A fit whose loss explodes stops itself and keeps the best model.</p>
<p><b>Controls.</b> <i>Target</i>: a map, or particles (STAR + stack; the map is then the reference for FSC).
<i>Gaussians</i>: N. <i>Widths</i>: isotropic / anisotropic. <i>Start</i>: random samples of the density, a TRN or CVT
point cloud of it, or a saved model. <i>Learning rate</i>: changes take effect at once, also while running.
<i>Batch</i>: particles per step. <i>CTF</i>: apply each particle's CTF to the rendered images.
<i>Milestones 3-4</i>: the seed's sanity check: fit synthetic images of a known mixture from a random start and from
the truth plus noise, and report how well positions are recovered (RMSD after one-to-one matching).</p>
<p><b>Plots.</b> Loss (training, validation) per step; FSC against the target or reference map (0.5 and 0.143 lines);
the Gaussians in 3D coloured by amplitude and sized by width, over the target's isosurface; for particle fits,
observed / rendered / residual images of a few validation particles.</p>
"""


def amplitude_colors(amps: np.ndarray) -> np.ndarray:
    """RGBA float colours from a viridis-like ramp over the amplitudes' 2-98 percentile range."""
    a = np.asarray(amps, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 4), np.float32)
    lo, hi = np.percentile(a, [2, 98]) if a.size > 2 else (a.min(), a.max())
    t = np.clip((a - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    cmap = pg.colormap.get("viridis")
    return (cmap.map(t, mode="float")).astype(np.float32)


class Gaussians3D(QWidget):
    """vispy scene: the target's isosurface (translucent grey) and the Gaussians as markers coloured by amplitude and
    sized by width.  Shows a label instead when no OpenGL context can be made."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._stack = QStackedLayout(self)
        self.canvas = None
        self.error = ""
        self._box = 64
        try:
            from vispy import scene

            canvas = scene.SceneCanvas(keys=None, show=False, bgcolor="white", size=(420, 380))
            view = canvas.central_widget.add_view()
            view.camera = scene.cameras.TurntableCamera(fov=35, elevation=20, azimuth=40)
            iso = scene.visuals.Isosurface(None, level=0.5, color=(0.7, 0.75, 0.85, 0.18), shading="smooth",
                                           parent=view.scene)
            iso.set_gl_state("translucent", depth_test=False, cull_face=False)
            iso.order = 2  # drawn over the markers, translucent, so both read
            markers = scene.visuals.Markers(parent=view.scene, scaling="scene")
            markers.set_gl_state("translucent", depth_test=True)
            markers.order = 1
            self.canvas, self.view, self.iso, self.markers = canvas, view, iso, markers
            self._stack.addWidget(canvas.native)
        except Exception as exc:  # no OpenGL: say so instead of crashing
            self.error = f"3D view unavailable (OpenGL: {type(exc).__name__}: {exc})"
            lab = QLabel(self.error)
            lab.setWordWrap(True)
            self._stack.addWidget(lab)
        self.n_points = 0

    def _frame(self, box: int) -> None:
        if self.canvas is None:
            return
        self._box = box
        self.view.camera.center = (box / 2, box / 2, box / 2)
        self.view.camera.scale_factor = box * 0.85

    def set_target(self, data: np.ndarray | None, level: float | None = None) -> None:
        """Isosurface of a map ``(z, y, x)`` in voxel coordinates (None hides it)."""
        if self.canvas is None:
            return
        if data is None:
            self.iso.visible = False
        else:
            arr = np.asarray(data, dtype=np.float32)
            lo, hi = float(arr.min()), float(arr.max())
            if level is None:
                level = float(arr.mean() + 2.0 * arr.std())
            if not lo < level < hi:
                level = 0.5 * (lo + hi)
            self.iso.set_data(np.ascontiguousarray(arr.transpose(2, 1, 0)))  # vertices in (x, y, z) order
            self.iso.level = level
            self.iso.color = (0.62, 0.68, 0.8, 0.22)  # set after the data: vispy resets the mesh colour
            self.iso.visible = lo < hi  # vispy cannot draw an empty isosurface (constant map)
            self._frame(arr.shape[0])
        self.canvas.update()

    def set_gaussians(self, pos_A: np.ndarray, amps: np.ndarray, sigmas: np.ndarray, box: int, apix: float) -> None:
        """Markers at the Gaussian centres (Angstrom from the centre voxel -> voxel coordinates)."""
        self.n_points = int(len(pos_A))
        if self.canvas is None:
            return
        if self._box != box:
            self._frame(box)
        pts = (np.asarray(pos_A) / apix + box // 2).astype(np.float32)
        size = np.clip(0.8 * np.asarray(sigmas) / apix, 0.4, box / 8).astype(np.float32)  # diameter, voxels
        colors = amplitude_colors(amps)
        colors[:, 3] = 0.9
        self.markers.set_data(pts, face_color=colors, edge_width=0, size=size)
        self.canvas.update()

    def render_rgb(self) -> np.ndarray | None:
        if self.canvas is None:
            return None
        return np.asarray(self.canvas.render())[..., :3]


class ImageStrip(pg.GraphicsLayoutWidget):
    """Observed / rendered / residual images of a few particles (rows), one ImageItem each, shared levels per
    particle so that the residual reads against the observation."""

    def __init__(self, n: int = 4, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.n = n
        self.items: list[list[pg.ImageItem]] = []
        for r, name in enumerate(ROW_NAMES):
            row = []
            label = self.addLabel(name, row=r, col=0, angle=-90, color="#333")
            label.setMaximumWidth(18)
            for c in range(n):
                vb = self.addViewBox(row=r, col=c + 1, lockAspect=True, enableMouse=False)
                vb.setMenuEnabled(False)
                img = pg.ImageItem()
                vb.addItem(img)
                row.append(img)
            self.items.append(row)
        self.shown = 0

    def set_strip(self, strip: np.ndarray) -> None:
        """``strip`` is ``(3, k, b, b)``: observed, rendered, residual for k particles."""
        k = min(self.n, strip.shape[1])
        for c in range(k):
            obs = strip[0, c]
            lo, hi = np.percentile(obs, [1, 99])
            for r in range(3):
                self.items[r][c].setImage(strip[r, c], levels=(lo, hi))
        self.shown = k
