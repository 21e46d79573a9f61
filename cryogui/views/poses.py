"""The Poses dock: pose spheres of particle sets (RELION STAR or cryoSPARC .cs), the projection generator, Siamese
distance learning and orientation recovery with alignment to the truth (seed: pose recovery from learned
pairwise projection distances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QTextBrowser

from cryogui.views.base import PanelBase
from cryogui.views.poses_draw import PosesDrawing
from cryogui.views.poses_help import HELP
from cryogui.views.poses_layout import build_ui


class PosesPanel(PosesDrawing, PanelBase):
    panel_id = "poses"
    title = "Poses"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.pset = None  # ParticleSet of the current set (None for a generated set)
        self.set_name = ""
        self.images = None  # generated stack (n, b, b)
        self.apix = 1.0
        self.table = None  # generated table
        self.quats = None  # known orientations (n, 4) or None
        self.dirs = None
        self.psi = None
        self.density = None
        self.volume = None
        self.model = None
        self.recovered = None  # (n, 4) as recovered
        self.align = None  # AlignResult
        self.rec_dirs = None
        self.loss_hist: list[tuple[int, float]] = []
        self.val_hist: list[tuple[int, float]] = []
        self.err_hist: list[tuple[int, float]] = []
        self.scatter_pts = None
        self.selected = None
        self.handles: dict = {}
        build_ui(self)  # the widgets (cryogui.views.poses_layout)
        ctx.session.subscribe(self._on_session)

    def help_html(self) -> str:
        return HELP

    def _show_help(self) -> None:
        box = QTextBrowser()
        box.setHtml(HELP)
        box.setWindowTitle("Poses: how this works")
        box.resize(640, 600)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.show()
        self._help_window = box

    # ---- data in ------------------------------------------------------------------------------------------------
    def _on_session(self, kind, item) -> None:
        if kind == "particles":
            self._add_set(item.name, item.obj)
        elif kind == "map":
            self._add_map(item.name, item.obj)

    def _add_set(self, name, pset, show: bool = True) -> None:
        self._sets.append((name, pset))
        self.set_combo.addItem(name)
        if show:
            self.set_combo.setCurrentIndex(self.set_combo.count() - 1)
            self.show_particles(pset, name)

    def _choose_set(self, i: int) -> None:
        if 0 <= i < len(self._sets):
            name, pset = self._sets[i]
            if pset is None:
                return
            self.show_particles(pset, name)

    def _add_map(self, name, vol) -> None:
        self._maps.append((name, vol))
        self.map_combo.addItem(name)
        self.map_combo.setCurrentIndex(self.map_combo.count() - 1)
        self._choose_map(self.map_combo.count() - 1)

    def _choose_map(self, i: int) -> None:
        if 0 <= i < len(self._maps):
            self.volume = self._maps[i][1]
            self.mapview.set_volume(self.volume.data)
            if self.selected is not None:
                self.select_particle(self.selected)

    def open_path(self, path: Path, kind: str) -> bool:
        return False  # the session tells us about particle sets and maps (see _on_session)

    def load_file(self, path: Path) -> bool:
        """Open a STAR or .cs file into this panel (errors as a dialog; nothing already shown is lost)."""
        from cryogui.io.poses_files import read_any_particles
        from cryogui.errors import InputError

        try:
            pset = read_any_particles(path)
            if not pset.has_poses:
                from cryogui.io.poses_files import pose_quaternions

                pose_quaternions(pset)
        except InputError as exc:
            self.ctx.show_error("Poses", str(exc), "")
            return False
        self._add_set(Path(path).name, pset)
        return True

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open particles", "", "Particles (*.star *.cs)")
        if path:
            self.load_file(Path(path))

    def show_particles(self, pset, name: str) -> bool:
        from cryogui.errors import InputError
        from cryogui.io.poses_files import pose_quaternions

        try:
            q = pose_quaternions(pset)
        except InputError as exc:
            self.info.setText(f"{name}: {exc}")
            return False
        self._cancel_all()
        self.pset, self.set_name, self.images, self.table = pset, name, None, None
        self.apix = float(pset.apix or 1.0)
        self._set_truth(q, pset.angles()[:, 2])
        self.info.setText(f"<b>{name}</b>: {len(q)} particles with poses"
                          + (f", {self.apix:.3g} A/px" if pset.apix else ""))
        return True

    def _set_truth(self, q, psi) -> None:
        from cryogui.core.rotations import quaternion_to_matrix, viewing_direction

        self.quats = q
        self.dirs = viewing_direction(quaternion_to_matrix(q))
        self.psi = (np.asarray(psi, dtype=float) + 180.0) % 360.0 - 180.0
        self.density = None
        self.recovered = self.align = self.rec_dirs = None
        self.err_hist = []
        self.selected = None
        self.schedule_redraw("points", "psi", "recovered", "errors")
        self._start_density()

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def _start(self, key, title, factory, **cb):
        h = self.ctx.jobs.start(f"poses.{key}", title, factory, **cb)
        self.handles[key] = h
        self._set_delay(self.speed.value())
        return h

    def active_handles(self) -> list:
        return [h for h in self.handles.values() if h.is_active]

    def _start_density(self) -> None:
        if self.dirs is None:
            return
        from cryogui.core.poses.pipeline import density_job

        dirs = self.dirs.copy()
        bw = float(self.bw.value())

        def done(rho, dirs=dirs):
            if self.dirs is not None and len(self.dirs) == len(dirs) and np.array_equal(self.dirs, dirs):
                self.density = rho
                self.schedule_redraw("points")

        self._start("density", "pose density", lambda: density_job(dirs, bw), on_result=done)

    def start_generate(self) -> None:
        from cryogui.core.poses.generator import GeneratorConfig, generate_projections

        if self.volume is None:
            self.ctx.show_error("Poses", "No map to project: open a map (File menu) or load the demo.", "")
            return
        cfg = GeneratorConfig(n=int(self.n_spin.value()), angle_shift=tuple(w.value() for w in self.shift),
                              angle_coverage=tuple(w.value() for w in self.cov),
                              snr=float(self.snr.value()) or None, ctf=self.ctf_box.isChecked(),
                              seed=int(self.seed.value()))
        vol = np.array(self.volume.data, dtype=np.float32)
        apix = self.volume.apix_or(1.0)
        self._cancel_all()
        self.pset, self.quats, self.density, self.recovered, self.align, self.rec_dirs = (None,) * 6
        self.err_hist = []
        self.schedule_redraw("recovered", "errors")
        self.status_label.setText("generating projections ...")

        def snap(s):
            self.dirs = s.points
            self.schedule_redraw("points")

        def done(res, apix=apix, cfg=cfg):
            from cryogui.core.rotations import euler_to_quaternion

            stack, table = res
            self.images, self.table, self.apix, self.pset = stack, table, apix, None
            ang = table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
            self.set_name = f"generated ({cfg.n})"
            self._sets.append((self.set_name, None))
            self.set_combo.addItem(self.set_name)
            self.set_combo.setCurrentIndex(self.set_combo.count() - 1)
            self._set_truth(euler_to_quaternion(ang), ang[:, 2])
            self.info.setText(f"<b>{self.set_name}</b>: {cfg.n} projections, box {stack.shape[-1]}, "
                              f"{apix:.3g} A/px, SNR {cfg.snr or 'none'}, CTF {'on' if cfg.ctf else 'off'}")
            self.status_label.setText("projections ready: learn distances, or recover")

        self._start("generate", f"project {cfg.n}", lambda: generate_projections(vol, apix, cfg),
                    on_snapshot=snap, on_result=done)

    def start_train(self) -> None:
        from cryogui.core.poses.pipeline import train_job
        from cryogui.core.poses.siamese import SiameseConfig

        if self.quats is None:
            self.ctx.show_error("Poses", "Distance learning needs particles with known poses.", "")
            return
        steps = int(self.train_steps.value())
        cfg = SiameseConfig(steps=steps, report_every=max(5, min(50, steps // 20)))
        q, images = self.quats.copy(), self._image_source()
        self.loss_hist, self.val_hist, self.scatter_pts = [], [], None
        self.schedule_redraw("train")

        def snap(s):
            if "loss" in s.metrics:
                self.loss_hist.append((s.step, s.metrics["loss"]))
            if "val_loss" in s.metrics:
                self.val_hist.append((s.step, s.metrics["val_loss"]))
            if "pred" in s.data:
                self.scatter_pts = (s.data["true"], s.data["pred"])
            self.schedule_redraw("train")

        def done(model):
            self.model = model
            self.dist_combo.setCurrentText("learned")
            self.status_label.setText(f"distance model trained ({steps} steps)")

        self.status_label.setText("learning distances ...")
        self._start("train", f"Siamese {steps} steps", lambda: train_job(q, cfg, images=images),
                    on_snapshot=snap, on_result=done)

    def start_recover(self) -> None:
        from cryogui.core.poses.pipeline import recover_job

        if self.dirs is None:
            self.ctx.show_error("Poses", "No particles: open a particle set or generate projections first.", "")
            return
        kind = self.dist_combo.currentText()
        steps = int(self.rec_steps.value())
        q, images, model = self.quats, self._image_source(), self.model
        self.err_hist, self.align = [], None
        self.schedule_redraw("errors", "recovered")

        def snap(s):
            if s.points is not None:
                self.rec_dirs = s.points
                self.schedule_redraw("recovered")
            if "median_error_rad" in s.metrics:
                self.err_hist.append((s.step, s.metrics["median_error_rad"]))
                self.schedule_redraw("errors")

        def done(res):
            from cryogui.core.poses.align import align_orientations
            from cryogui.core.rotations import quaternion_to_matrix, viewing_direction

            self.recovered = res.quats
            if self.quats is not None and len(self.quats) == len(res.quats):
                self.align = align_orientations(self.quats, res.quats)
                self.rec_dirs = viewing_direction(quaternion_to_matrix(self.align.q_aligned))
                self.status_label.setText(f"recovered ({kind}): median error {self.align.median_rad:.3f} rad "
                                          f"({self.align.median_deg:.1f} deg), mirror {self.align.mirror}")
            else:
                self.rec_dirs = viewing_direction(quaternion_to_matrix(res.quats))
                self.status_label.setText(f"recovered ({kind})")
            self.schedule_redraw("recovered", "errors")

        self.status_label.setText(f"recovering orientations from {kind} distances ...")
        self._start("recover", f"recover ({kind})",
                    lambda: recover_job(kind, quats=q, images=images, model=model, steps=steps,
                                        report_every=max(5, steps // 60)),
                    on_snapshot=snap, on_result=done)

    def _image_source(self):
        """The generated stack, or a reader of the particle set's images (called in the job's thread)."""
        if self.images is not None:
            return self.images
        if self.pset is not None and "rlnImageName" in self.pset.df:
            from cryogui.io.star import load_images

            pset = self.pset
            return lambda: load_images(pset)
        return None

    def _pause(self) -> None:
        for h in self.active_handles():
            if h.state == "paused":
                h.resume()
                self.pause_btn.setText("Pause")
            else:
                h.pause()
                self.pause_btn.setText("Resume")

    def _step(self) -> None:
        for h in self.active_handles():
            h.step()

    def _cancel(self) -> None:
        self._cancel_all()
        self.pause_btn.setText("Pause")

    def _cancel_all(self) -> None:
        for h in self.active_handles():
            h.cancel()

    def _set_delay(self, v: int) -> None:
        for h in self.active_handles():
            h.set_delay(0.5 * v / 100.0)

    def shutdown(self) -> None:
        self._cancel_all()
        super().shutdown()

    # ---- demo ---------------------------------------------------------------------------------------------------
    def load_demo(self, demo_dir: Path) -> None:
        from cryogui.io.mrc import read_mrc

        demo_dir = Path(demo_dir)
        m = demo_dir / "maps" / "demo_map.mrc"
        if m.exists() and not any(n == m.name for n, _ in self._maps):
            self._add_map(m.name, read_mrc(m))
        p = demo_dir / "particles" / "particles.star"
        if p.exists() and not any(n == p.name for n, _ in self._sets):
            self.load_file(p)

    # ---- workspace (issue 8): what File > Save workspace keeps of this panel -----------------------------------
    def save_state(self, arrays: dict) -> dict:
        from cryogui.io.poses_files import distance_model_state

        src = getattr(self.pset, "source", None) if self.pset is not None else None
        images = self.images if self.images is not None and self.images.size <= 4_000_000 else None
        table = None
        if self.table is not None:
            table = {c: self.table[c].to_numpy() for c in self.table.columns
                     if np.issubdtype(self.table[c].dtype, np.number)}
        return {"source": Path(src).resolve() if src and Path(src).exists() else None, "set_name": self.set_name,
                "apix": self.apix, "quats": self.quats, "psi": self.psi, "images": images, "table": table,
                "params": {"n": self.n_spin.value(), "shift": [s.value() for s in self.shift],
                           "cov": [s.value() for s in self.cov], "snr": self.snr.value(), "seed": self.seed.value(),
                           "bw": self.bw.value(), "train_steps": self.train_steps.value(),
                           "rec_steps": self.rec_steps.value(), "speed": self.speed.value()},
                "ctf": self.ctf_box.isChecked(), "distances": self.dist_combo.currentText(),
                "recovered": self.recovered, "align": self.align, "rec_dirs": self.rec_dirs,
                "err_hist": list(self.err_hist), "loss_hist": list(getattr(self, "loss_hist", [])),
                "val_hist": list(getattr(self, "val_hist", [])), "status": self.status_label.text(),
                "model": distance_model_state(self.model) if self.model is not None else None}

    def restore_state(self, state: dict, arrays: dict) -> None:
        import pandas as pd

        from cryogui.errors import InputError
        from cryogui.io.poses_files import distance_model_from_state

        src = state.get("source")
        if src and Path(src).exists():
            for i, (_, pset) in enumerate(self._sets):
                if pset is not None and pset.source and Path(pset.source).resolve() == Path(src):
                    self.set_combo.blockSignals(True)
                    self.set_combo.setCurrentIndex(i)
                    self.set_combo.blockSignals(False)
                    self.show_particles(pset, self._sets[i][0])
                    break
            else:
                self.load_file(Path(src))
        elif state.get("quats") is not None:  # a generated set
            self._cancel_all()
            self.pset = None
            self.images = state.get("images")
            t = state.get("table")
            self.table = pd.DataFrame(t) if t else None
            self.apix = float(state.get("apix") or 1.0)
            self.set_name = state.get("set_name", "")
            self._set_truth(np.asarray(state["quats"]), np.asarray(state["psi"]))
        p = state.get("params", {})
        for name, key in (("n_spin", "n"), ("snr", "snr"), ("seed", "seed"), ("bw", "bw"),
                          ("train_steps", "train_steps"), ("rec_steps", "rec_steps"), ("speed", "speed")):
            if key in p:
                getattr(self, name).setValue(p[key])
        for spins, key in ((self.shift, "shift"), (self.cov, "cov")):
            for s, v in zip(spins, p.get(key, [])):
                s.setValue(v)
        self.ctf_box.setChecked(bool(state.get("ctf", self.ctf_box.isChecked())))
        self.dist_combo.setCurrentText(state.get("distances", self.dist_combo.currentText()))
        self.recovered = state.get("recovered")
        self.align = state.get("align")
        self.rec_dirs = state.get("rec_dirs")
        self.err_hist = [tuple(e) for e in state.get("err_hist", [])]
        self.loss_hist = [tuple(e) for e in state.get("loss_hist", [])]
        self.val_hist = [tuple(e) for e in state.get("val_hist", [])]
        if state.get("status"):
            self.status_label.setText(state["status"])
        if state.get("model") is not None:  # the trained distance network: minutes of training kept
            try:
                self.model = distance_model_from_state(state["model"])
            except InputError as exc:
                self.ctx.show_error("Poses", f"The workspace's distance model cannot be used: {exc}", "")
        self.schedule_redraw("points", "psi", "recovered", "errors", "train")
