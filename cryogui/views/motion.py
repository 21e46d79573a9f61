"""The Eigen-motion dock: per-particle FRC gradients of a Gaussian model, PCA eigen-motions, trajectory sliders.

Left: inputs (particle STAR + stack, Gaussian model from a JSON file, the session, or fitted on the spot; or the
simulated swinging-arm test set), analysis settings (modes, kind, range, non-linear, focus box) and the run.
Right: the Gaussians in 3D coloured by flexibility with the arrows of the selected mode, the eigenvalue spectrum,
one slider per mode (Play/Loop), the histogram of per-particle coordinates with a range selector (export as STAR,
reconstruct), and the map at the slider beside the reconstruction from the particles in the range.
Jobs (keys ``motion.*``) run through the job manager; drawing (:mod:`cryogui.views.motion_draw`) happens on the
panel's 30 Hz redraw timer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QFileDialog, QLabel, QSlider, QTextBrowser, QVBoxLayout, QWidget

from cryogui.errors import InputError
from cryogui.views.base import PanelBase
from cryogui.views.motion_draw import MotionDrawing
from cryogui.views.motion_layout import build_ui
from cryogui.views.motion_view import HELP_HTML, flexibility_colors

SLIDER_STEPS = 100


def _load_job(star: Path, model_path: Path | None):
    """Worker-thread loading of a particle STAR (and a model JSON / truth CSV found beside it)."""
    from cryogui.core.jobs import Snapshot
    from cryogui.io.motion import load_model, load_particle_data

    yield Snapshot(0, 1, message=f"reading {star.name}")
    pset, data = load_particle_data(star)
    model = load_model(model_path) if model_path is not None else None
    truth = None
    tpath = star.parent / "truth.csv"
    if tpath.exists():
        import pandas as pd

        t = pd.read_csv(tpath)
        truth = t["motion"].to_numpy() if "motion" in t and len(t) == len(pset) else None
    return {"path": star, "pset": pset, "data": data, "model": model, "model_path": model_path, "truth": truth}


def _simulate_job(out_dir: Path, n: int, seed: int = 0):
    from cryogui.core.motion.tasks import simulate_job
    from cryogui.io.motion import write_simulation

    sim = yield from simulate_job(n_particles=n, n_classes=11, snr=1.0, box=64, apix=4.0, n_gaussians=96, seed=seed)
    paths = write_simulation(out_dir, sim)
    result = yield from _load_job(Path(paths["star"]), Path(paths["model"]))
    return result


class EigenMotionPanel(MotionDrawing, PanelBase):
    panel_id = "motion"
    title = "Eigen-motion"

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.inputs: dict | None = None  # path, pset, data, model, truth
        self.model = None
        self.result = None
        self.c = np.zeros(0)
        self.recon: dict | None = None
        self.map_at: dict | None = None
        self._autorun = False
        self._map_pending = False
        build_ui(self)
        self._play = QTimer(self)
        self._play.setInterval(50)
        self._play.timeout.connect(self._play_tick)
        self._play_dir = 1
        ctx.session.subscribe(self._on_session)
        for item in ctx.session.items():
            self._on_session(item.kind, item)

    # ---- inputs -------------------------------------------------------------------------------------------------
    def _on_session(self, kind: str, item) -> None:
        from cryogui.core.gmm.model import GaussianModel

        if kind == "particles" and item.path is not None:
            if self.particles_box.findData(str(item.path)) < 0:
                self.particles_box.addItem(f"{item.name} (session)", str(item.path))
        elif isinstance(getattr(item, "obj", None), GaussianModel):
            self.set_model(item.obj, f"{item.name} (session)")

    def _particles_chosen(self, index: int) -> None:
        data = self.particles_box.itemData(index)
        if data == "sim":
            self.load_simulation()
        elif data:
            self.load_star(Path(data))

    def _open_star_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Particle STAR file", "", "STAR files (*.star);;All files (*)")
        if path:
            self.load_star(Path(path))

    def _open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Gaussian model", "", "Model JSON (*.json);;All files (*)")
        if path:
            from cryogui.io.motion import load_model

            try:
                self.set_model(load_model(path), Path(path).name)
            except InputError as exc:
                self.ctx.show_error("Gaussian model", str(exc), "")

    def open_path(self, path: Path, kind: str) -> bool:
        path = Path(path)
        if path.suffix.lower() == ".json":
            from cryogui.io.motion import load_model

            try:
                self.set_model(load_model(path), path.name)
                return True
            except InputError:
                return False
        return False

    def load_star(self, path: Path, model_path: Path | None = None) -> None:
        if model_path is None and (path.parent / "model.json").exists():
            model_path = path.parent / "model.json"
        self.ctx.jobs.start("motion.load", f"load {path.name}", lambda: _load_job(path, model_path),
                            on_result=self._loaded, on_snapshot=self._progress)

    def load_simulation(self, n: int = 800, out_dir: Path | None = None) -> None:
        out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="cryogui_motion_"))
        self.status.setText("Simulating the swinging-arm test set…")
        self.ctx.jobs.start("motion.load", "simulate motion test set", lambda: _simulate_job(out, n),
                            on_result=self._loaded, on_snapshot=self._progress)

    def _loaded(self, res: dict) -> None:
        self.inputs = res
        if self.particles_box.findData(str(res["path"])) < 0:
            self.particles_box.addItem(res["path"].name, str(res["path"]))
        self.particles_box.setCurrentIndex(self.particles_box.findData(str(res["path"])))
        d = res["data"]
        self.status.setText(f"{len(d)} particles, {d.box} px at {d.apix:.3g} Å/px"
                            + (" (with ground truth)" if res["truth"] is not None else ""))
        if res["model"] is not None:
            self.set_model(res["model"], res["model_path"].name)
        half = d.box * d.apix / 2
        for pair in self.box_spins:
            for s in pair:
                s.setRange(-half, half)
        if self._autorun and self.model is not None:
            self._autorun = False
            self.run()

    def set_model(self, model, name: str) -> None:
        self.model = model
        self.result = None
        self.model_label.setText(f"{name}: {len(model)} Gaussians, box {model.box}, {model.apix or 0:.3g} Å/px")
        self.view3d.set_model(model.positions, model.sigmas, float(model.apix or 1.0))
        self.view3d.set_colors(np.tile([0.35, 0.45, 0.8, 0.9], (len(model), 1)))
        self.view3d.set_arrows(np.zeros((0, 3)), np.zeros((0, 3)), 1.0)
        self._focus_changed()

    def fit_model(self) -> None:
        if self.inputs is None:
            self.ctx.show_error("Fit on the spot", "Load particles first.", "")
            return
        from cryogui.core.motion.tasks import fit_model_job

        data, n = self.inputs["data"], self.fit_n.value()
        self.ctx.jobs.start("motion.fit", f"fit {n} Gaussians", lambda: fit_model_job(data, n),
                            on_result=lambda m: self.set_model(m, f"fitted ({n})"), on_snapshot=self._progress)

    # ---- focus --------------------------------------------------------------------------------------------------
    def focus_box(self):
        lo = np.array([min(p[0].value(), p[1].value()) for p in self.box_spins])
        hi = np.array([max(p[0].value(), p[1].value()) for p in self.box_spins])
        return lo, hi

    def focus_indices(self):
        if not self.focus.isChecked() or self.model is None:
            return None
        lo, hi = self.focus_box()
        return np.nonzero(np.all((self.model.positions >= lo) & (self.model.positions <= hi), axis=1))[0]

    def _focus_changed(self, *_) -> None:
        if self.focus.isChecked():
            self.view3d.set_box(*self.focus_box())
        else:
            self.view3d.set_box(None, None)
        self.schedule_redraw("colors")

    # ---- run ----------------------------------------------------------------------------------------------------
    def run(self) -> None:
        if self.inputs is None or self.model is None:
            self.ctx.show_error("Eigen-motion", "Load particles and a Gaussian model first.", "")
            return
        from cryogui.core.motion.job import run_motion_analysis

        focus = self.focus_indices()
        if focus is not None and len(focus) == 0:
            self.ctx.show_error("Eigen-motion", "The focus box holds no Gaussians.", "")
            return
        model, data = self.model, self.inputs["data"]
        kw = dict(n_modes=self.modes.value(), kind=self.kind.currentText(), focus=focus,
                  c_range=self.c_range.value() or None, nonlinear=self.nonlinear.isChecked())
        self.status.setText("Running…")
        self.ctx.jobs.start("motion.run", f"eigen-motion ({len(data)} particles)",
                            lambda: run_motion_analysis(model, data, **kw), on_snapshot=self._progress,
                            on_result=self._analysed)

    def cancel(self) -> None:
        for h in self.ctx.jobs.active():
            if h.key.startswith("motion."):
                h.cancel()

    def _progress(self, snap) -> None:
        self.progress.setValue(int(1000 * snap.fraction))
        if snap.message:
            self.status.setText(snap.message)
        if "flexibility" in snap.data and self.model is not None and len(snap.data["flexibility"]) == len(self.model):
            self.view3d.set_colors(flexibility_colors(snap.data["flexibility"]))

    def _analysed(self, result) -> None:
        self.result = result
        self.c = np.zeros(result.n_modes)
        self._build_sliders()
        self.mode_sel.blockSignals(True)
        self.mode_sel.clear()
        for m in range(result.n_modes):
            self.mode_sel.addItem(f"mode {m + 1} ({100 * result.explained_variance[m]:.1f}%)")
        self.mode_sel.blockSignals(False)
        r = result.c_range
        self.region.setRegion((-r / 5, r / 5))
        s = result.summary()
        text = (f"{s['particles']} particles, {s['modes']} mode(s); explained "
                f"{', '.join(f'{100 * v:.1f}%' for v in result.explained_variance)}; mean FRC "
                f"{s['mean_frc_before']:.3f} → {s['mean_frc_after']:.3f}; {s['seconds']:.1f} s")
        truth = self.inputs.get("truth") if self.inputs else None
        if truth is not None:
            from scipy.stats import spearmanr

            text += f"; Spearman ρ(c₁, true motion) = {spearmanr(result.coords[:, 0], truth).correlation:+.3f}"
        if result.autoencoder is not None:
            text += (f"; autoencoder explains {100 * result.autoencoder.explained_variance:.1f}% vs PCA "
                     f"{100 * result.autoencoder.pca_explained_variance:.1f}%")
        self.status.setText(text)
        self.progress.setValue(1000)
        self.schedule_redraw("colors", "arrows", "spectrum", "hist", "positions", "map")

    def _build_sliders(self) -> None:
        for w in self.sliders + self.slider_labels:
            w.setParent(None)
            w.deleteLater()
        self.sliders, self.slider_labels = [], []
        for m in range(self.result.n_modes):
            s = QSlider(Qt.Horizontal)
            s.setObjectName(f"motion_slider_{m + 1}")
            s.setRange(-SLIDER_STEPS, SLIDER_STEPS)
            s.valueChanged.connect(lambda v, m=m: self._slider_moved(m, v))
            s.sliderReleased.connect(lambda m=m: self._centre_region(m))
            lab = QLabel(f"mode {m + 1}: c = 0.0 Å")
            lab.setMinimumWidth(150)
            self.slider_grid.addWidget(lab, m, 0)
            self.slider_grid.addWidget(s, m, 1)
            self.sliders.append(s)
            self.slider_labels.append(lab)

    def _slider_moved(self, m: int, value: int) -> None:
        if self.result is None:
            return
        self.c[m] = value / SLIDER_STEPS * self.result.c_range
        self.slider_labels[m].setText(f"mode {m + 1}: c = {self.c[m]:+.1f} Å")
        self.schedule_redraw("positions", "map", "hist")

    def _centre_region(self, m: int) -> None:
        if m == self.mode_sel.currentIndex():
            lo, hi = self.region.getRegion()
            w = (hi - lo) / 2
            self.region.setRegion((self.c[m] - w, self.c[m] + w))

    def _toggle_play(self, on: bool) -> None:
        if on and self.sliders:
            self._play.start()
        else:
            self._play.stop()
            self.play_btn.setChecked(False)

    def _play_tick(self) -> None:
        m = self.mode_sel.currentIndex()
        if m < 0 or m >= len(self.sliders):
            self._toggle_play(False)
            return
        s = self.sliders[m]
        v = s.value() + 5 * self._play_dir
        if v > SLIDER_STEPS or v < -SLIDER_STEPS:
            if not self.loop.isChecked():
                self._toggle_play(False)
                return
            self._play_dir *= -1
            v = max(-SLIDER_STEPS, min(SLIDER_STEPS, v))
        s.setValue(v)

    def selected_indices(self) -> np.ndarray:
        if self.result is None:
            return np.zeros(0, int)
        from cryogui.core.motion.trajectory import select_range

        lo, hi = self.region.getRegion()
        return select_range(self.result.coords, lo, hi, max(0, self.mode_sel.currentIndex()))

    def reconstruct_range(self) -> None:
        if self.result is None:
            return
        from cryogui.core.motion.tasks import reconstruct_range_job

        lo, hi = self.region.getRegion()
        m = max(0, self.mode_sel.currentIndex())
        r, data = self.result, self.inputs["data"]
        self.ctx.jobs.start("motion.recon", f"reconstruct c in [{lo:.1f}, {hi:.1f}]",
                            lambda: reconstruct_range_job(r.model, data, r.vectors, r.coords, lo, hi, m, r.kind),
                            on_result=self._reconstructed, on_snapshot=self._progress)

    def _reconstructed(self, res: dict) -> None:
        self.recon = res
        self.status.setText(f"Reconstruction from {len(res['indices'])} particles with c in "
                            f"[{res['lo']:.1f}, {res['hi']:.1f}] Å (mode {res['mode'] + 1})")
        self.schedule_redraw("map")

    def _request_map(self) -> None:
        if self.result is None:
            return
        h = self.ctx.jobs.get("motion.map")
        if h is not None and h.is_active:
            self._map_pending = True
            return
        from cryogui.core.motion.tasks import map_at_job

        r, c = self.result, self.c.copy()
        self.ctx.jobs.start("motion.map", "map at slider", lambda: map_at_job(r.model, r.vectors, c, r.kind),
                            on_result=self._map_ready, max_rate=None)

    def _map_ready(self, res: dict) -> None:
        self.map_at = res
        self.schedule_redraw("images")
        if self._map_pending:
            self._map_pending = False
            self.schedule_redraw("map")

    # ---- hooks --------------------------------------------------------------------------------------------------
    def help_html(self) -> str:
        return HELP_HTML

    def show_help(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("How this works: Eigen-motion")
        lay = QVBoxLayout(dlg)
        text = QTextBrowser()
        text.setHtml(HELP_HTML)
        lay.addWidget(text)
        dlg.resize(620, 560)
        dlg.show()

    def load_demo(self, demo_dir: Path) -> None:
        out = Path(demo_dir) / "motion"
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError:
            out = None
        if out is not None and (out / "particles.star").exists() and (out / "model.json").exists():
            self.load_star(out / "particles.star", out / "model.json")
        else:
            self.load_simulation(n=800, out_dir=out)
        self._autorun = True

    def shutdown(self) -> None:
        self._play.stop()
        super().shutdown()

    # ---- workspace (issue 8): what File > Save workspace keeps of this panel -----------------------------------
    def save_state(self, arrays: dict) -> dict:
        inp = self.inputs or {}
        return {"star": Path(inp["path"]).resolve() if inp.get("path") else None,
                "model_path": Path(inp["model_path"]).resolve() if inp.get("model_path") else None,
                "model": self.model, "model_name": self.model_label.text().split(":")[0],
                "result": self.result, "c": np.asarray(self.c, dtype=np.float64),
                "sliders": [s.value() for s in self.sliders], "mode": self.mode_sel.currentIndex(),
                "region": [float(v) for v in self.region.getRegion()],
                "params": {"fit_n": self.fit_n.value(), "modes": self.modes.value(), "c_range": self.c_range.value(),
                           "kind": self.kind.currentIndex(), "nonlinear": self.nonlinear.isChecked(),
                           "focus": self.focus.isChecked(), "loop": self.loop.isChecked(),
                           "box": [[s.value() for s in pair] for pair in self.box_spins]}}

    def restore_state(self, state: dict, arrays: dict) -> None:
        p = state.get("params", {})
        for name in ("fit_n", "modes", "c_range"):
            if name in p:
                getattr(self, name).setValue(p[name])
        if "kind" in p:
            self.kind.setCurrentIndex(int(p["kind"]))
        for name in ("nonlinear", "focus", "loop"):
            if name in p:
                getattr(self, name).setChecked(bool(p[name]))
        star = state.get("star")
        if star and Path(star).exists():  # the particle images come back in the background; the analysis now
            mp = state.get("model_path")
            mp = Path(mp) if mp and Path(mp).exists() else None

            def loaded(res, star=Path(star)):
                self.inputs = res
                if self.particles_box.findData(str(star)) < 0:
                    self.particles_box.addItem(star.name, str(star))
                self.particles_box.blockSignals(True)
                self.particles_box.setCurrentIndex(self.particles_box.findData(str(star)))
                self.particles_box.blockSignals(False)

            self.ctx.jobs.start("motion.load", f"load {Path(star).name}", lambda s=Path(star): _load_job(s, mp),
                                on_result=loaded)
        if state.get("model") is not None:
            self.set_model(state["model"], state.get("model_name") or "model (workspace)")
        for pair, vals in zip(self.box_spins, p.get("box", [])):
            for s, v in zip(pair, vals):
                s.setValue(v)
        if state.get("result") is not None:
            self._analysed(state["result"])
            for s, v in zip(self.sliders, state.get("sliders", [])):
                s.setValue(int(v))
            if 0 <= state.get("mode", -1) < self.mode_sel.count():
                self.mode_sel.setCurrentIndex(int(state["mode"]))
            if state.get("region"):
                self.region.setRegion(tuple(state["region"]))
            self.schedule_redraw("colors", "arrows", "spectrum", "hist", "positions", "map")
