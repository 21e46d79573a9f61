"""The Point cloud dock: TRN and CVT point clouds of a 2D image or 3D map, side by side, animated as they converge.

Controls on the left; on the right one view per method (pyqtgraph image + points (+ Voronoi cells for CVT) in 2D, a
vispy isosurface + markers in 3D) and the live energy curves with the random-sampling reference.  Work runs through
the job manager (keys ``pointcloud.trn`` / ``pointcloud.cvt``); the views redraw from the panel's 30 Hz redraw
timer; exporting clouds and animations lives in :mod:`cryogui.views.pointcloud_export`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from cryogui.core.pointcloud.job import HELP_HTML, default_threshold, pointcloud_job, sweeps
from cryogui.errors import InputError
from cryogui.views.base import PanelBase
from cryogui.views.pointcloud_export import METHODS, PointCloudExport
from cryogui.views.pointcloud_view import COLORS, NAMES, MethodView, build_controls

MAX_FRAMES = 240


class PointCloudPanel(PointCloudExport, PanelBase):
    panel_id = "pointcloud"
    title = "Point cloud"

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self._sources: list[dict] = []
        self._source: dict | None = None
        self.handles: dict = {}
        self.latest: dict = {}
        self.results: dict = {}
        self.energy: dict = {m: ([], []) for m in METHODS}
        self.frames: dict = {m: [] for m in METHODS}
        self._n_run = 0
        self._random_energy: float | None = None
        self._build()
        self._add_source("2D Gaussian (seed example, [-1,1]^2)", builtin="gaussian2d")
        self._add_source("Demo map (3D, simulated)", builtin="demo")
        ctx.session.subscribe(self._on_session)
        for item in ctx.session.items("map"):
            self._on_session("map", item)
        self.source_box.setCurrentIndex(0)
        self._select_source(0)

    # ---- layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        controls = build_controls(self, METHODS)
        width = controls.sizeHint().width()
        controls.setMinimumWidth(width)
        split, _ = self.split_layout(controls, margins=2, scroll_width=width + 16)

        right = QSplitter(Qt.Vertical)
        views = QWidget()
        hl = QHBoxLayout(views)
        hl.setContentsMargins(0, 0, 0, 0)
        self.views = {m: MethodView(m) for m in METHODS}
        for m in METHODS:
            hl.addWidget(self.views[m])
        right.addWidget(views)
        self.energy_plot = pg.PlotWidget()
        self.energy_plot.setObjectName("pc_energy")
        self.energy_plot.setBackground("w")
        self.energy_plot.setLabel("left", "energy (Å²)")
        self.energy_plot.setLabel("bottom", "CVT: Lloyd iterations · TRN: samples per point t/n")
        self.energy_plot.addLegend(offset=(-10, 10))
        self.curves = {m: self.energy_plot.plot([], [], pen=pg.mkPen(COLORS[m], width=2), name=NAMES[m],
                                                symbol="o" if m == "cvt" else None, symbolSize=4,
                                                symbolBrush=COLORS[m]) for m in METHODS}
        self.random_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen((90, 90, 90), width=1.5,
                                                                                  style=Qt.DashLine),
                                           label="random samples", labelOpts={"position": 0.6, "color": (60, 60, 60)})
        self.random_line.setVisible(False)
        self.energy_plot.addItem(self.random_line)
        right.addWidget(self.energy_plot)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([controls.sizeHint().width() + 16, 900])

    # ---- sources ------------------------------------------------------------------------------------------------
    def _add_source(self, label: str, **src) -> int:
        src["label"] = label
        for i, old in enumerate(self._sources):
            if old.get("path") and old.get("path") == src.get("path"):
                self._sources[i] = src
                return i
        self._sources.append(src)
        self.source_box.addItem(label)
        return len(self._sources) - 1

    def _load(self, src: dict) -> dict:
        if "data" in src:
            return src
        if src.get("builtin") == "gaussian2d":
            from cryogui.core.pointcloud.density import gaussian_example_2d

            d = gaussian_example_2d(200)
            src.update(data=d.image, spacing=d.spacing, origin=d.origin)
        elif src.get("builtin") == "demo":
            from cryogui.core.simulate.maps import demo_map

            self._from_volume(src, demo_map())
        elif "file" in src:
            from cryogui.io.mrc import read_mrc

            self._from_volume(src, read_mrc(src["file"]))
        return src

    @staticmethod
    def _from_volume(src: dict, vol) -> None:
        data = np.asarray(vol.data, dtype=np.float32)
        if data.ndim == 3 and data.shape[0] == 1:
            data = data[0]
        d = data.ndim
        vs = vol.voxel_size or ((vol.apix,) * 3 if vol.apix else (1.0, 1.0, 1.0))
        src.update(data=data, spacing=np.asarray(vs[:d], dtype=np.float64),
                   origin=np.asarray(vol.origin[:d], dtype=np.float64))

    def _on_session(self, kind: str, item) -> None:
        if kind == "micrograph" and isinstance(item.obj, (str, Path)):  # a 2D image, read when chosen
            self._add_source(f"{item.name} (2D image)", path=str(item.path or item.obj), file=str(item.obj))
            return
        if kind != "map" or getattr(item.obj, "data", None) is None:
            return
        if getattr(item.obj, "is_stack", False):
            return
        src = {"path": str(item.path) if item.path else item.name}
        self._from_volume(src, item.obj)
        idx = self._add_source(f"{item.name} ({'x'.join(map(str, item.obj.data.shape))})", **src)
        if idx == self.source_box.currentIndex():
            self._select_source(idx)

    def _select_source(self, index: int) -> None:
        if index < 0 or index >= len(self._sources):
            return
        try:
            src = self._load(self._sources[index])
        except InputError as exc:
            self.ctx.show_error("Point cloud: density", str(exc), "")
            return
        self.cancel()
        self._source = src
        data = src["data"]
        self._vmin, self._vmax = float(data.min()), float(data.max())
        self.threshold.blockSignals(True)
        self.threshold.setRange(self._vmin - 1.0, self._vmax)
        self.threshold.setSingleStep(max(1e-4, (self._vmax - self._vmin) / 100))
        self.threshold.setValue(default_threshold(data))
        self.threshold.blockSignals(False)
        self._sync_slider()
        for m in METHODS:
            self.views[m].set_density(data, src["spacing"], src["origin"], self.threshold.value())
        if data.ndim == 3:
            self.views["cvt"].link_camera(self.views["trn"])
        self._reset_run_state()
        self.info.setText(f"{'x'.join(map(str, data.shape))}, {src['spacing'][0]:.4g} Å/px, origin "
                          f"({', '.join(f'{o:.4g}' for o in src['origin'])}) Å")

    def _sync_slider(self) -> None:
        span = self._vmax - self._vmin
        self.thr_slider.setEnabled(span > 0)
        frac = (self.threshold.value() - self._vmin) / span if span > 0 else 0.0
        self.thr_slider.blockSignals(True)
        self.thr_slider.setValue(int(round(1000 * min(1.0, max(0.0, frac)))))
        self.thr_slider.blockSignals(False)

    def _slider_changed(self, v: int) -> None:
        self.threshold.setValue(self._vmin + (self._vmax - self._vmin) * v / 1000.0)

    def _threshold_changed(self, value: float) -> None:
        self._sync_slider()
        for m in METHODS:
            self.views[m].set_level(value)

    def _open_dialog(self) -> None:
        start = self.ctx.settings.get("last_dir", str(Path.home())) if self.ctx.settings else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a map or image", start,
                                              "MRC maps (*.mrc *.map *.mrcs *.rec);;All files (*)")
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> bool:
        from cryogui.io.mrc import read_mrc

        try:
            vol = read_mrc(path)
        except InputError as exc:
            self.ctx.show_error("Point cloud: could not open the map", str(exc), "")
            return False
        self.ctx.session.add("map", vol, path=path)  # our subscription adds it to the list
        idx = next(i for i, s in enumerate(self._sources) if s.get("path") == str(path))
        self.source_box.setCurrentIndex(idx)
        return True

    def open_path(self, path: Path, kind: str) -> bool:
        if kind != "map":
            return False
        for i, s in enumerate(self._sources):
            if s.get("path") == str(path):
                self.source_box.setCurrentIndex(i)
                return True
        return False

    def load_demo(self, demo_dir: Path) -> None:
        """Show the seed's 2D example and run TRN and CVT on it (n = 200): the picture the blog post draws."""
        self.source_box.setCurrentIndex(0)
        self.n_points.setValue(200)
        self.run()

    # ---- running ------------------------------------------------------------------------------------------------
    def _reset_run_state(self) -> None:
        self.latest.clear()
        self.results.clear()
        self._random_energy = None
        self.random_line.setVisible(False)
        for m in METHODS:
            self.energy[m] = ([], [])
            self.frames[m] = []
            self.curves[m].setData([], [])
            self.views[m].clear_points()
            self.views[m].caption.setText(f"<b>{NAMES[m]}</b>")

    def params(self, method: str) -> dict:
        seed = self.seed.value()
        if method == "trn":
            n = self.n_points.value()
            steps = self.trn_steps.value() or None
            total = steps or 20 * n
            return {"steps": steps, "eps0": self.eps0.value(), "epsf": self.epsf.value(), "lam0": self.lam0.value(),
                    "lamf": self.lamf.value(), "mode": self.trn_mode.currentText(), "seed": seed,
                    "report_every": max(1, total // 150)}
        return {"iterations": self.cvt_iters.value(), "seed": seed}

    def run(self, paused: bool = False) -> None:
        if self._source is None:
            return
        methods = [m for m in METHODS if self.use[m].isChecked()]
        if not methods:
            self._set_status("Tick TRN and/or CVT first.", error=True)
            return
        self.cancel()
        self._reset_run_state()
        self._n_run = self.n_points.value()
        src = self._source
        thr = self.threshold.value()
        for m in methods:
            p = self.params(m)
            name = src.get("path") or src["label"]

            def factory(m=m, p=p):
                return pointcloud_job(src["data"], src["spacing"], src["origin"], thr, m, self._n_run, p, name)

            h = self.ctx.jobs.start(key=f"pointcloud.{m}", title=f"{NAMES[m]} {self._n_run} points", factory=factory,
                                    on_snapshot=lambda s, m=m: self._on_snapshot(m, s),
                                    on_result=lambda r, m=m: self._on_result(m, r),
                                    on_error=lambda msg, tb, m=m: self._on_error(m, msg),
                                    on_finished=lambda state, m=m: self._on_finished(m, state))
            self.handles[m] = h
            h.set_delay(self._delay())
            if paused:
                h.step()
        self._set_status(f"Running {', '.join(NAMES[m] for m in methods)} with n = {self._n_run}…")
        self.pause_btn.setText("Pause")

    def active_handles(self) -> list:
        return [h for h in self.handles.values() if h is not None and h.is_active]

    def step(self) -> None:
        active = self.active_handles()
        if not active:
            self.run(paused=True)
            return
        for h in active:
            h.step()
        self.pause_btn.setText("Resume")

    def toggle_pause(self) -> None:
        active = self.active_handles()
        if not active:
            return
        if any(h.state == "paused" for h in active):
            for h in active:
                h.resume()
            self.pause_btn.setText("Pause")
        else:
            for h in active:
                h.pause()
            self.pause_btn.setText("Resume")

    def cancel(self) -> None:
        for h in self.active_handles():
            h.cancel()

    def _delay(self) -> float:
        v = self.speed.value()
        return 0.0 if v >= 100 else ((100 - v) / 100.0) ** 2

    def _apply_delay(self) -> None:
        for h in self.active_handles():
            h.set_delay(self._delay())

    # ---- job callbacks (GUI thread) ---------------------------------------------------------------------------
    def _on_snapshot(self, method: str, snap) -> None:
        self.latest[method] = snap
        e = snap.metrics.get("energy")
        if e is not None:
            xs, ys = self.energy[method]
            xs.append(sweeps(snap.step, method, self._n_run))
            ys.append(e)
        if "random_energy" in snap.metrics:
            self._random_energy = snap.metrics["random_energy"]
        frames = self.frames[method]
        frames.append((snap.points, snap.data.get("weights"), snap.data.get("labels")))
        if len(frames) > MAX_FRAMES:
            del frames[1::2]
        self.schedule_redraw(method)

    def _on_result(self, method: str, res) -> None:
        self.results[method] = res
        if res.history:
            self.energy[method] = ([sweeps(s, method, self._n_run) for s, _ in res.history],
                                   [e for _, e in res.history])
        self.schedule_redraw(method)

    def _on_error(self, method: str, message: str) -> None:
        self._set_status(f"{NAMES[method]}: {message}", error=True)

    def _on_finished(self, method: str, state: str) -> None:
        if state == "done" and method in self.results:
            parts = []
            for m, r in self.results.items():
                ratio = f" = {r.energy / self._random_energy:.2f} × random" if self._random_energy else ""
                parts.append(f"{NAMES[m]} done: E = {r.energy:.4g} Å²{ratio}")
            self._set_status("\n".join(parts))
        elif state == "cancelled":
            self._set_status(f"{NAMES[method]} cancelled.")
        if not self.active_handles():
            self.pause_btn.setText("Pause")

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #c0392b;" if error else "")
        self.status_label.setText(text)
        self.ctx.status(f"Point cloud: {text}")

    def redraw(self, dirty: set[str]) -> None:
        for m in dirty:
            snap = self.latest.get(m)
            res = self.results.get(m)
            if res is not None:
                self.views[m].set_points(res.points, res.weights,
                                         snap.data.get("labels") if snap is not None else None)
            elif snap is not None:
                self.views[m].set_points(snap.points, snap.data.get("weights"), snap.data.get("labels"))
            xs, ys = self.energy[m]
            self.curves[m].setData(np.asarray(xs, float), np.asarray(ys, float))
            if snap is not None:
                e = res.energy if res is not None else snap.metrics.get("energy", float("nan"))
                rnd = snap.metrics.get("random_energy")
                ratio = f" ({e / rnd:.2f} × random)" if rnd else ""
                unit = "iteration" if m == "cvt" else "sample"
                step = res.iterations if res is not None else snap.step
                self.views[m].caption.setText(f"<b>{NAMES[m]}</b> &nbsp; {unit} {step}/{snap.total} &nbsp; "
                                              f"E = {e:.4g} Å²{ratio}")
        if self._random_energy is not None:
            self.random_line.setValue(self._random_energy)
            self.random_line.setVisible(True)

    # ---- help ---------------------------------------------------------------------------------------------------
    def help_html(self) -> str:
        return HELP_HTML

    def _show_help(self) -> None:
        dlg = QDialog(self)
        dlg.setObjectName("help_pointcloud_panel")
        dlg.setWindowTitle("How this works: point clouds")
        lay = QVBoxLayout(dlg)
        text = QTextBrowser()
        text.setHtml(self.help_html())
        lay.addWidget(text)
        dlg.resize(620, 560)
        dlg.show()

    # ---- workspace (issue 8): what File > Save workspace keeps of this panel -----------------------------------
    def save_state(self, arrays: dict) -> dict:
        src = self._source or {}
        source = {"label": src.get("label", ""), "builtin": src.get("builtin"),
                  "path": Path(src["path"]).resolve() if src.get("path") and Path(src["path"]).exists() else None,
                  "file": Path(src["file"]).resolve() if src.get("file") else None}
        spins = {name: getattr(self, name).value() for name in ("n_points", "seed", "trn_steps", "eps0", "epsf",
                                                                 "lam0", "lamf", "cvt_iters", "threshold")}
        return {"source": source, "params": spins, "trn_mode": self.trn_mode.currentText(),
                "use": {m: self.use[m].isChecked() for m in METHODS}, "n_run": self._n_run,
                "results": dict(self.results), "random_energy": self._random_energy,
                "energy": {m: (np.asarray(xs, float), np.asarray(ys, float)) for m, (xs, ys) in self.energy.items()}}

    def restore_state(self, state: dict, arrays: dict) -> None:
        src = state.get("source", {})
        index = -1
        for i, s in enumerate(self._sources):
            if (src.get("builtin") and s.get("builtin") == src["builtin"]) or \
                    (src.get("path") and s.get("path") and Path(s["path"]).resolve() == Path(src["path"])):
                index = i
        if index < 0 and src.get("file") and Path(src["file"]).exists():
            self.open_file(Path(src["file"]))
            index = self.source_box.currentIndex()
        if index >= 0:
            self.source_box.blockSignals(True)
            self.source_box.setCurrentIndex(index)
            self.source_box.blockSignals(False)
            self._select_source(index)
        for name, value in state.get("params", {}).items():
            getattr(self, name).setValue(value)
        self.trn_mode.setCurrentText(state.get("trn_mode", self.trn_mode.currentText()))
        for m, on in state.get("use", {}).items():
            if m in self.use:
                self.use[m].setChecked(bool(on))
        self._n_run = int(state.get("n_run", 0))
        self.results = {m: r for m, r in state.get("results", {}).items() if m in METHODS}
        rnd = state.get("random_energy")
        self._random_energy = float(rnd) if rnd is not None and np.isfinite(rnd) else None
        for m, (xs, ys) in state.get("energy", {}).items():
            if m in METHODS:
                self.energy[m] = (list(np.asarray(xs, float)), list(np.asarray(ys, float)))
        self.schedule_redraw(*METHODS)
