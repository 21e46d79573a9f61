"""Help > Tour: a step-by-step walk through the five panels on the demo data, driven by the real panels.

Each :class:`TourStep` says what the method does (``html``), which control to press (``control``: framed when the
step is shown), what to look at (``expect``), performs the step on the real panel (``action``: raise the dock, set
the parameters, press the button) and tells whether the expected result is on screen (``check``).  The test suite
runs every step end to end.  ``sizes`` keeps the problems small enough for a laptop; a test makes them smaller.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction

from cryogui.views.tour import TourView, flash

log = logging.getLogger("cryogui.app")

DEFAULT_SIZES = {"points": 200, "trn_steps": 0, "cvt_iters": 50,
                 "gauss_n": 150, "gauss_iters": 150, "motion_n": 300, "recover_steps": 600}


@dataclass
class TourStep:
    title: str
    html: str
    expect: str
    action: Callable[[object], None]
    check: Callable[[object], bool]
    panel_id: str | None = None
    control: Callable[[object], object] | None = None  # the widget to frame
    extra: dict = field(default_factory=dict)


def _busy(window, prefix: str) -> bool:
    return any(h.key.startswith(prefix) for h in window.jobs.active())


def _raise(window, panel_id: str):
    window.docks[panel_id].show()
    window.docks[panel_id].raise_()
    return window.panels[panel_id]


class Tour:
    def __init__(self, window, demo_dir: Path | None = None, sizes: dict | None = None):
        from cryogui.models.paths import demo_dir as default_demo_dir

        self.window = window
        self.demo_dir = Path(demo_dir) if demo_dir else default_demo_dir()
        self.sizes = {**DEFAULT_SIZES, **(sizes or {})}
        self.steps = self._build()
        self.view: TourView | None = None

    # ---- driving --------------------------------------------------------------------------------------------
    def show_step(self, i: int) -> None:
        """Raise the step's panel and frame the control to press."""
        step = self.steps[i]
        if step.panel_id:
            _raise(self.window, step.panel_id)
        if step.control is not None:
            QTimer.singleShot(80, lambda: flash(step.control(self.window)))

    def run_step(self, i: int) -> None:
        step = self.steps[i]
        self.show_step(i)
        log.info("tour: step %d (%s)", i + 1, step.title)
        try:
            step.action(self.window)
        except Exception as exc:  # noqa: BLE001 - a tour step never takes the app down
            log.exception("tour step %s failed", step.title)
            self.window.show_error("Tour", f"The step '{step.title}' could not run: {exc}", "")

    def check(self, i: int) -> bool:
        return bool(self.steps[i].check(self.window))

    def open(self) -> TourView:
        if self.view is None:
            self.view = TourView(self.steps, self.show_step, self.run_step, self.check, parent=self.window)
        self.view.show()
        self.view.raise_()
        return self.view

    # ---- the steps ------------------------------------------------------------------------------------------
    def _load_demo(self, window) -> None:
        if window.session.items("map") and window.session.items("micrograph"):
            return
        from cryogui.demo import demo_is_complete, demo_job

        if demo_is_complete(self.demo_dir):
            window.load_demo(self.demo_dir)
        elif not _busy(window, "app.demo"):
            window.jobs.start("app.demo", "Preparing demo data", lambda: demo_job(self.demo_dir),
                              on_result=lambda _: window.load_demo(self.demo_dir))

    def _pick(self, window) -> None:
        p = _raise(window, "picking")
        if not p.order:
            p.load_demo(self.demo_dir)
        if p.current is None and p.order:
            p.set_current(p.order[0])
        p.method.setCurrentIndex(0)
        p.diameter_hint.setValue(0)  # "find from data"
        p.pick_btn.click()

    def _threshold(self, window) -> None:
        p = _raise(window, "picking")
        p.threshold.setValue(70)

    def _pointcloud(self, window) -> None:
        p = _raise(window, "pointcloud")
        p.source_box.setCurrentIndex(0)
        p.n_points.setValue(self.sizes["points"])
        p.trn_steps.setValue(self.sizes["trn_steps"])  # 0: the default, 20 samples per point
        p.cvt_iters.setValue(self.sizes["cvt_iters"])
        for box in p.use.values():
            box.setChecked(True)
        p.run_btn.click()

    def _gaussfit(self, window) -> None:
        p = _raise(window, "gaussfit")
        if p.map_vol is None and (self.demo_dir / "maps" / "demo_map.mrc").exists():
            p.set_map(self.demo_dir / "maps" / "demo_map.mrc")
        p.target_kind.setCurrentIndex(0)
        p.init_combo.setCurrentIndex(0)
        p.n_spin.setValue(self.sizes["gauss_n"])
        p.iter_spin.setValue(self.sizes["gauss_iters"])
        p.run_btn.click()

    def _motion_load(self, window) -> None:
        p = _raise(window, "motion")
        if p.inputs is None:
            if not _busy(window, "motion.load"):
                p.load_simulation(n=self.sizes["motion_n"],
                                  out_dir=Path(tempfile.mkdtemp(prefix="cryogui_tour_motion_")))
            return
        model = p.inputs.get("model")
        if model is not None and p.model is not model:  # e.g. a map fit arrived from the Gaussian fit panel
            p.set_model(model, Path(p.inputs.get("model_path") or "model.json").name)

    def _motion_run(self, window) -> None:
        p = _raise(window, "motion")
        p.modes.setValue(2)
        p.nonlinear.setChecked(False)
        p.focus.setChecked(False)
        p.run_btn.click()

    def _poses_load(self, window) -> None:
        p = _raise(window, "poses")
        if p.dirs is None or p.volume is None:
            p.load_demo(self.demo_dir)
        elif p.density is None and not _busy(window, "poses.density"):
            width = p.bw.value()  # the density of directions is recomputed when its width changes
            p.bw.setValue(width + 1)
            p.bw.setValue(width)

    def _poses_recover(self, window) -> None:
        p = _raise(window, "poses")
        p.dist_combo.setCurrentText("exact")
        p.rec_steps.setValue(self.sizes["recover_steps"])
        p.speed.setValue(0)
        p.rec_btn.click()

    def _build(self) -> list[TourStep]:
        def idle(prefix):
            return lambda w: not _busy(w, prefix)

        def pick_check(w):
            p = w.panels["picking"]
            return idle("picking.autopick")(w) and p.current is not None and p.store.count(p.current) > 0

        def thr_check(w):
            p = w.panels["picking"]
            if p.current is None or not p.store.count(p.current):
                return False
            return p.threshold_value() >= 0.7 and 0 <= int(p.current_mask().sum()) <= p.store.count(p.current)

        return [
            TourStep(
                "Welcome: the demo data set",
                "<p>cryogui has five panels, one method each. This tour runs each method on the simulated demo "
                "data (a 64&sup3; map at 4 &Aring;/px, micrographs with known particle positions, and a particle "
                "stack with poses and CTF): <b>Run this step</b> does what the text says on the real panel; "
                "<b>Next</b> moves on. You can also press the framed control yourself.</p>"
                "<p>Every figure can be saved for a paper with <i>File &gt; Export figure...</i>, and a running "
                "method recorded with <i>File &gt; Record animation...</i>.</p>",
                "the Jobs strip at the bottom: each method runs there in the background, the window stays live.",
                self._load_demo,
                lambda w: bool(w.session.items("map")) and bool(w.session.items("micrograph"))),
            TourStep(
                "Picking: auto-pick without a particle size",
                "<p>The picker searches blobs over scales: the micrograph is smoothed with Gaussians of growing "
                "&sigma; and the scale-normalised Laplacian &sigma;&sup2;&nabla;&sup2;G<sub>&sigma;</sub>*I peaks "
                "at a particle's centre when &sigma; &asymp; r/&radic;2. The most common peak scale gives the "
                "particle diameter, so you never type it in.</p><p>Press <b>Pick this</b>.</p>",
                "circles appear on the particles; the score histogram and the size range fill in; with the demo's "
                "truth loaded, the precision/recall curve shows how well the picks match.",
                self._pick, pick_check, "picking", lambda w: w.panels["picking"].pick_btn),
            TourStep(
                "Picking: curate with the confidence threshold",
                "<p>Each pick has a confidence score. Raising the threshold keeps fewer, surer picks (higher "
                "precision, lower recall); the yellow dot on the precision/recall curve moves with the slider. "
                "Click a circle to select it, drag to move it, Delete removes it; Undo/Redo keep the history.</p>",
                "the picks below the threshold fade out and the count under the histogram drops.",
                self._threshold, thr_check, "picking", lambda w: w.panels["picking"].threshold),
            TourStep(
                "Point cloud: TRN and CVT",
                "<p>Both place n points that summarise a density &rho;. <b>TRN</b> (neural gas) draws samples "
                "x ~ &rho; and moves the k-th nearest point by &epsilon;e<sup>-k/&lambda;</sup>(x - p<sub>k</sub>), "
                "with &epsilon; and &lambda; shrinking over time. <b>CVT</b> (Lloyd) moves each point to the "
                "&rho;-weighted centroid of its Voronoi cell. Both lower the quantisation energy "
                "E = &int;&rho;(x) min<sub>i</sub>|x - p<sub>i</sub>|&sup2; dx.</p><p>Press <b>Run</b>.</p>",
                "the two views fill with points; the energy plot shows both curves falling below the dashed "
                "level of random samples.",
                self._pointcloud,
                lambda w: idle("pointcloud.")(w) and {"trn", "cvt"} <= set(w.panels["pointcloud"].results),
                "pointcloud", lambda w: w.panels["pointcloud"].run_btn),
            TourStep(
                "Gaussian fit: a map as a sum of Gaussians",
                "<p>The map is modelled as V(x) = &Sigma;<sub>i</sub> a<sub>i</sub> exp(-|x - &mu;<sub>i</sub>|&sup2;"
                "/2&sigma;<sub>i</sub>&sup2;); positions, amplitudes and widths are fitted by gradient descent "
                "(Adam) on the squared difference to the map. With particles as the target the same model is "
                "projected at each particle's pose, multiplied by the CTF and compared with the image.</p>"
                "<p>Press <b>Run</b>.</p>",
                "the loss curve falls; the 3D view shows the Gaussians settling into the map's isosurface.",
                self._gaussfit,
                lambda w: idle("gaussfit.")(w) and w.panels["gaussfit"].model is not None,
                "gaussfit", lambda w: w.panels["gaussfit"].run_btn),
            TourStep(
                "Eigen-motion: particles and a Gaussian model",
                "<p>The eigen-motion panel needs particles and a Gaussian model of the consensus map. The tour "
                "uses the swinging-arm test set: particle images of a model whose arm moves, with the model that "
                "generated them.</p><p>(Open your own with <b>Open particle STAR...</b> and <b>Open model "
                "JSON...</b>.)</p>",
                "the status line gives the number of particles; the 3D view shows the model's Gaussians.",
                self._motion_load,
                lambda w: idle("motion.load")(w) and w.panels["motion"].inputs is not None
                and w.panels["motion"].model is not None,
                "motion", lambda w: w.panels["motion"].open_star_btn),
            TourStep(
                "Eigen-motion: gradients, PCA, per-particle coordinates",
                "<p>For each particle the gradient of its FRC with the model's projection with respect to the "
                "Gaussian positions says how the model would have to move to match that particle better. PCA of "
                "these gradients gives the eigen-motions; each particle's coordinate along a mode is its "
                "projection on it.</p><p>Press <b>Run analysis</b>.</p>",
                "the eigenvalue spectrum (the first bars dominate when there is one motion), the arrows on the "
                "Gaussians, and the histogram of per-particle coordinates; drag the sliders to move the model.",
                self._motion_run,
                lambda w: idle("motion.run")(w) and w.panels["motion"].result is not None,
                "motion", lambda w: w.panels["motion"].run_btn),
            TourStep(
                "Poses: the sphere of viewing directions",
                "<p>Each particle's pose (RELION rot, tilt, psi) gives a viewing direction on the unit sphere; the "
                "map shows them on an equal-area (Hammer) projection coloured by their density, so preferred "
                "orientations stand out.</p>",
                "the pose sphere filled with the demo particles' directions.",
                self._poses_load,
                lambda w: w.panels["poses"].dirs is not None and w.panels["poses"].density is not None,
                "poses", lambda w: w.panels["poses"].set_combo),
            TourStep(
                "Poses: recover orientations from distances",
                "<p>Given distances d<sub>ij</sub> between pairs of particles' orientations (exact here; learned "
                "from the images by a Siamese network with <b>Learn distances</b>), the orientations are "
                "recovered by minimising &Sigma;(d(q<sub>i</sub>, q<sub>j</sub>) - d<sub>ij</sub>)&sup2; over unit "
                "quaternions, then aligned to the truth to measure the error.</p><p>Press <b>Recover</b>.</p>",
                "the recovered directions gather on the sphere and the median error curve falls.",
                self._poses_recover,
                lambda w: idle("poses.recover")(w) and w.panels["poses"].recovered is not None,
                "poses", lambda w: w.panels["poses"].rec_btn),
            TourStep(
                "Your turn",
                "<p>That is the tour. Each panel has <i>Help &gt; How this works</i> with the equations and what "
                "every control does. Open your own data from the <i>File</i> menu (micrographs, maps, STAR, "
                "cryoSPARC .cs, coordinates) and export any view with <i>File &gt; Export figure...</i>.</p>",
                "", lambda w: None, lambda w: True),
        ]


def install_tour(window, demo_dir: Path | None = None) -> QAction:
    """Add Help > Tour to the main window (the first entry of the Help menu)."""
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    help_menu = menus.get("Help") or window.menuBar().addMenu("&Help")
    act = QAction("&Tour...", window)
    act.setObjectName("action_tour")
    tour = Tour(window, demo_dir)
    act.triggered.connect(lambda _=False: tour.open())
    first = help_menu.actions()[0] if help_menu.actions() else None
    if first is not None:
        help_menu.insertAction(first, act)
    else:
        help_menu.addAction(act)
    window.tour = tour
    return act
