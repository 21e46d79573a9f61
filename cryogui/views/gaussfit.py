"""The Gaussian-fit panel: fit a 3D Gaussian mixture to a map, or to particle images with known poses and CTF, and
watch it learn (loss curves, FSC, the Gaussians in 3D, observed/rendered/residual images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from cryogui.views.base import PanelBase
from cryogui.views.gaussfit_layout import build_ui
from cryogui.views.gaussfit_view import HELP


class GaussianFitPanel(PanelBase):
    panel_id = "gaussfit"
    title = "Gaussian fit"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        from cryogui.core.gmm.fit import FitControl

        self.control = FitControl()
        self.map_vol = None  # cryogui.io.mrc.Volume
        self.star_path: Path | None = None
        self.init_model = None
        self.handle = None
        self.model = None  # the last result's GaussianModel
        self.result = None
        self.last = None  # latest snapshot
        self._sanity = False
        build_ui(self)  # the widgets (cryogui.views.gaussfit_layout)
        self._update_enabled()
        ctx.session.subscribe(self._on_session)

    # ---- inputs --------------------------------------------------------------------------------------------------
    def help_html(self) -> str:
        return HELP

    def _show_help(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Gaussian fit: how this works")
        box.setText(HELP)
        box.setTextFormat(Qt.RichText)
        box.open()

    def set_map(self, path: Path, quiet: bool = False) -> bool:
        """Use a map as the fit target.  ``quiet``: a map this panel cannot fit (opened for another panel) is
        noted in the status bar instead of a dialog."""
        from cryogui.errors import InputError
        from cryogui.io.mrc import read_mrc

        try:
            vol = read_mrc(path)
        except InputError as exc:
            self.ctx.show_error("Cannot open map", str(exc), "")
            return False
        if vol.data.ndim != 3 or vol.is_stack or len(set(vol.data.shape)) != 1 or not vol.apix:
            message = (f"{path}: a cubic 3D map with a pixel size is needed "
                       f"(got shape {vol.data.shape}, pixel size {vol.apix})")
            if quiet:
                self.ctx.status(f"Gaussian fit: {Path(path).name} is not a cubic map; not used as the target")
            else:
                self.ctx.show_error("Not a cubic map", message, "")
            return False
        self.map_vol = vol
        self.map_label.setText(f"{Path(path).name} ({vol.data.shape[0]}^3, {vol.apix:.2f} A/px)")
        self.view3d.set_target(np.asarray(vol.data))
        return True

    def set_particles(self, path: Path) -> bool:
        self.star_path = Path(path)
        self.star_label.setText(self.star_path.name)
        return True

    def load_demo(self, demo_dir: Path) -> None:
        demo_dir = Path(demo_dir)
        if (demo_dir / "maps" / "demo_map.mrc").exists():
            self.set_map(demo_dir / "maps" / "demo_map.mrc")
        if (demo_dir / "particles" / "particles.star").exists():
            self.set_particles(demo_dir / "particles" / "particles.star")

    def open_path(self, path: Path, kind: str) -> bool:
        path = Path(path)
        if kind == "map":
            return self.set_map(path, quiet=True)
        if kind == "particles" and path.suffix.lower() == ".star":
            return self.set_particles(path)
        return False

    def _on_session(self, kind, item) -> None:
        if kind == "map" and self.map_vol is None and item.path is not None:
            self.set_map(item.path, quiet=True)
        elif kind == "particles" and self.star_path is None and item.path is not None:
            self.set_particles(item.path)

    def _ask_map(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Target map", "", "Maps (*.mrc *.map)")
        if path:
            self.set_map(Path(path))

    def _ask_star(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Particles", "", "STAR files (*.star)")
        if path:
            self.set_particles(Path(path))

    def _init_chosen(self, index: int) -> None:
        if self.init_combo.currentText().startswith("saved"):
            path, _ = QFileDialog.getOpenFileName(self, "Start from a saved model", "", "Models (*.json)")
            if not path or not self._load_init_model(Path(path)):
                self.init_combo.setCurrentIndex(0)

    def _load_init_model(self, path: Path) -> bool:
        from cryogui.errors import InputError
        from cryogui.io.gmm_json import load_model

        try:
            self.init_model = load_model(path)
        except InputError as exc:
            self.ctx.show_error("Cannot read model", str(exc), "")
            return False
        self.init_combo.setCurrentIndex(3)
        self.init_combo.setItemText(3, f"model: {path.name}")
        return True

    def _lr_changed(self, value: float) -> None:
        self.control.lr = float(value)  # read by the running fit at its next step

    def _target_changed(self, index: int) -> None:
        self.lr_spin.setValue(0.03 if index == 1 else 0.1)  # particle fits like a gentler step
        self._update_enabled()

    def _update_enabled(self) -> None:
        particles = self.target_kind.currentIndex() == 1
        self.iter_spin.setEnabled(not particles)
        self.epoch_spin.setEnabled(particles)
        self.batch_spin.setEnabled(particles)
        self.ctf_check.setEnabled(particles)
        running = self.handle is not None and self.handle.is_active
        self.run_btn.setEnabled(not running)
        self.sanity_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running)
        self.cancel_btn.setEnabled(running)
        for b in (self.export_json_btn, self.export_map_btn, self.export_cmm_btn):
            b.setEnabled(self.model is not None)

    # ---- running -------------------------------------------------------------------------------------------------
    def _init_arg(self):
        text = self.init_combo.currentText()
        if text.startswith("model") and self.init_model is not None:
            return self.init_model
        return text if text in ("random", "trn", "cvt") else "random"

    def run_fit(self) -> None:
        from cryogui.core.gmm.fit import fit_map

        n = self.n_spin.value()
        aniso = self.aniso.currentIndex() == 1
        init = self._init_arg()
        self.control.lr = self.lr_spin.value()
        self.control.batch_size = self.batch_spin.value()
        control = self.control
        if self.target_kind.currentIndex() == 0:
            if self.map_vol is None:
                self.ctx.show_error("No target map", "Choose a map to fit (Map... button or the File menu).", "")
                return
            vol = self.map_vol
            data, apix, origin, iters = np.array(vol.data, dtype=np.float32), float(vol.apix), vol.origin, \
                self.iter_spin.value()

            def factory():
                return fit_map(data, apix, n, iterations=iters, anisotropic=aniso, init=init, control=control,
                               origin=origin, report_every=5)
            title = f"Gaussian fit: {n} to {Path(vol.path or 'map').name}"
        else:
            if self.star_path is None:
                self.ctx.show_error("No particles", "Choose a particle STAR file (Particles... button).", "")
                return
            star, epochs, use_ctf = self.star_path, self.epoch_spin.value(), self.ctf_check.isChecked()
            ref = None if self.map_vol is None else np.array(self.map_vol.data, dtype=np.float32)

            def factory():
                return particle_fit_job(star, n, epochs=epochs, anisotropic=aniso, init=init, control=control,
                                        use_ctf=use_ctf, reference=ref)
            title = f"Gaussian fit: {n} to {star.name}"
        self._start(factory, title)

    def run_sanity(self) -> None:
        from cryogui.core.gmm.sanity import run_sanity

        control = self.control
        control.lr = min(self.lr_spin.value(), 0.05)

        def factory():
            return run_sanity(n_gaussians=12, n_images=300, epochs=8, control=control)
        self._start(factory, "Gaussian fit: milestones 3-4", sanity=True)

    def _start(self, factory, title, sanity=False) -> None:
        self.last = None
        self.result = None
        self._sanity = sanity
        self.status.setText("starting...")
        self.strip.setVisible(self.target_kind.currentIndex() == 1 or sanity)
        self.handle = self.ctx.jobs.start(key="gaussfit.run", title=title, factory=factory,
                                          on_snapshot=self._on_snapshot, on_result=self._on_result,
                                          on_finished=self._on_finished)
        self.pause_btn.setText("Pause")
        self._update_enabled()

    def _toggle_pause(self) -> None:
        if self.handle is None:
            return
        if self.handle.state == "paused":
            self.handle.resume()
            self.pause_btn.setText("Pause")
        else:
            self.handle.pause()
            self.pause_btn.setText("Resume")

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _on_snapshot(self, snap) -> None:
        self.last = snap
        self.schedule_redraw()

    def _on_result(self, value) -> None:
        self.result = value
        if hasattr(value, "model"):
            self.model = value.model
            self.status.setText(value.message + f" ({value.seconds:.1f} s)")
            # other panels (eigen-motion) can use the fitted model from the session
            self.ctx.session.add("model", self.model, name=f"Gaussian fit ({len(self.model.positions)} Gaussians)")
        elif isinstance(value, dict) and "perturbed" in value:
            r, p = value["random"], value["perturbed"]
            self.model = p["model"]
            self.status.setText(
                f"Milestone 3 (random start): position RMSD {r['rmsd_A']:.2f} A. Milestone 4 (truth + noise, "
                f"start RMSD {p['start_rmsd_A']:.2f} A): RMSD {p['rmsd_A']:.2f} A, amplitude error "
                f"{100 * p['amplitude_rel_rms']:.1f}% ({value['seconds']:.0f} s)")

    def _on_finished(self, state: str) -> None:
        if state == "cancelled":
            self.status.setText("cancelled")
        elif state == "failed":
            self.status.setText("failed (see the log)")
        self._update_enabled()
        self.schedule_redraw()

    def redraw(self, parts: set[str]) -> None:
        if self.last is None:
            return
        s = self.last
        d = s.data
        if "train_loss" in d and len(d["train_loss"]):
            self.train_curve.setData(d["loss_steps"], np.maximum(d["train_loss"], 1e-12))
        if "val_loss" in d and len(d["val_loss"]):
            self.val_curve.setData(d["val_steps"], np.maximum(d["val_loss"], 1e-12))
        elif "train_loss" in d:
            self.val_curve.setData([], [])
        if "fsc" in d:
            f, c = np.asarray(d["fsc_freq"]), np.asarray(d["fsc"])
            self.fsc_curve.setData(f[1:], c[1:])
            from cryogui.core.gmm.metrics import resolution_at

            self.fsc_text.setText(f"0.5: {resolution_at(f, c, 0.5):.1f} A   0.143: {resolution_at(f, c, 0.143):.1f} A")
            self.fsc_text.setPos(f[-1], 1.02)
        if s.points is not None and "amplitudes" in d:
            box, apix = self._grid()
            self.view3d.set_gaussians(s.points, d["amplitudes"], d["sigmas"], box, apix)
        if "strip" in d:
            self.strip.set_strip(np.asarray(d["strip"]))
        if self.handle is None or self.handle.is_active:
            m = " ".join(f"{k} {v:.4g}" for k, v in s.metrics.items() if k in ("loss", "val_loss", "correlation"))
            self.status.setText(f"{s.message}   {m}")

    def _grid(self) -> tuple[int, float]:
        if self._sanity:
            return 32, 2.0
        if self.map_vol is not None:
            return int(self.map_vol.data.shape[0]), float(self.map_vol.apix)
        return 64, 1.0

    # ---- export --------------------------------------------------------------------------------------------------
    def export(self, kind: str, path: Path) -> Path:
        """Write the current model as ``json``, ``mrc`` (rendered; box/pixel size from the export fields or the
        target's) or ``cmm`` markers."""
        from cryogui.core.gmm.model import placed_grid
        from cryogui.core.gmm.render import render_model
        from cryogui.io.gmm_json import save_model, write_cmm
        from cryogui.io.mrc import write_mrc

        if self.model is None:
            raise RuntimeError("no model to export yet")
        if kind == "json":
            return save_model(path, self.model)
        if kind == "cmm":
            return write_cmm(path, self.model)
        b, a, origin = placed_grid(self.model, self.box_spin.value() or None, self.apix_spin.value() or None)
        return write_mrc(path, render_model(self.model, b, a), a, origin)

    def _export(self, kind: str) -> None:
        filt = {"json": "Model (*.json)", "mrc": "Map (*.mrc)", "cmm": "ChimeraX markers (*.cmm)"}[kind]
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"gaussians.{kind}", filt)
        if not path:
            return
        try:
            self.export(kind, Path(path))
            self.ctx.status(f"wrote {path}")
        except (OSError, ValueError) as exc:
            self.ctx.show_error("Export failed", f"{path}: {exc}", "")

    # ---- workspace (issue 8): what File > Save workspace keeps of this panel -----------------------------------
    _STATE_SPINS = ("n_spin", "lr_spin", "iter_spin", "epoch_spin", "batch_spin", "box_spin", "apix_spin")
    _STATE_COMBOS = ("target_kind", "aniso", "init_combo")

    def save_state(self, arrays: dict) -> dict:
        from cryogui.core.gmm.fit import FitResult

        mp = getattr(self.map_vol, "path", None)
        map_path = Path(mp).resolve() if mp and Path(mp).exists() else None
        return {"map": map_path, "star": Path(self.star_path).resolve() if self.star_path else None,
                "spins": {n: getattr(self, n).value() for n in self._STATE_SPINS},
                "combos": {n: getattr(self, n).currentIndex() for n in self._STATE_COMBOS},
                "init_text": self.init_combo.currentText(),
                "ctf": self.ctf_check.isChecked(), "log": self.log_check.isChecked(),
                "model": self.model, "init_model": self.init_model,
                "result": self.result if isinstance(self.result, FitResult) else None,
                "last": self.last, "status": self.status.text()}

    def restore_state(self, state: dict, arrays: dict) -> None:
        if state.get("map") and Path(state["map"]).exists():
            self.set_map(Path(state["map"]), quiet=True)
        if state.get("star") and Path(state["star"]).exists():
            self.set_particles(Path(state["star"]))
        for n, i in state.get("combos", {}).items():
            combo = getattr(self, n)
            combo.blockSignals(n == "init_combo")  # choosing "saved model" would open a file dialog
            combo.setCurrentIndex(int(i))
            combo.blockSignals(False)
        if state.get("init_model") is not None and state.get("init_text"):
            self.init_combo.setItemText(self.init_combo.currentIndex(), state["init_text"])
        for n, v in state.get("spins", {}).items():
            getattr(self, n).setValue(v)
        self.ctf_check.setChecked(bool(state.get("ctf", self.ctf_check.isChecked())))
        self.log_check.setChecked(bool(state.get("log", self.log_check.isChecked())))
        self.init_model = state.get("init_model")
        self.result = state.get("result")
        self.model = state.get("model")
        self.last = state.get("last")
        self.status.setText(state.get("status", ""))
        self._update_enabled()
        self.schedule_redraw()


def particle_fit_job(star: Path, n: int, *, epochs: int, anisotropic: bool, init, control, use_ctf: bool,
                     reference: np.ndarray | None):
    """Job generator (runs in the worker thread): read the particles, then fit (errors reach the user as a dialog)."""
    from cryogui.core.gmm.fit import fit_particles
    from cryogui.core.jobs import Snapshot
    from cryogui.io.gmm_json import load_particle_data

    yield Snapshot(0, 0, message=f"reading {Path(star).name}...")
    images, mats, shifts, ctf, apix, _ = load_particle_data(str(star), use_ctf)
    if reference is not None and reference.shape[0] != images.shape[-1]:
        reference = None  # the map is not on the particles' grid: no FSC
    if isinstance(init, str) and init in ("trn", "cvt"):
        if reference is None:
            from cryogui.errors import InputError

            raise InputError(f"a {init.upper()} start for a particle fit needs a reference map on the particles' grid")
        from cryogui.core.gmm.init import pointcloud_start

        init = yield from pointcloud_start(init, reference, apix, n)
    result = yield from fit_particles(images, mats, shifts, ctf, apix, n, epochs=epochs,
                                      batch_size=control.batch_size, anisotropic=anisotropic, init=init,
                                      reference=reference, lr=control.lr, control=control)
    return result
