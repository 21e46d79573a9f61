"""Drawing and export of the Eigen-motion panel: :meth:`redraw` (called by the panel's ~30 Hz redraw timer with
the parts that changed) draws the results into the widgets of :mod:`cryogui.views.motion_layout`; the dialogs
write the particles in the selected range, the per-particle coordinates and the eigen-motion vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from cryogui.errors import InputError
from cryogui.views.motion_view import flexibility_colors


class MotionDrawing:
    """Mixin of :class:`cryogui.views.motion.EigenMotionPanel`: ``redraw`` and the export dialogs."""

    # ---- drawing ------------------------------------------------------------------------------------------------
    def redraw(self, dirty: set[str]) -> None:
        r = self.result
        mode = max(0, self.mode_sel.currentIndex())
        if "colors" in dirty and self.model is not None:
            focus = np.zeros(len(self.model), bool)
            idx = self.focus_indices()
            focus[idx if idx is not None else slice(None)] = True
            flex = r.flexibility if r is not None and len(r.flexibility) == len(self.model) else \
                np.zeros(len(self.model))
            self.view3d.set_colors(flexibility_colors(flex, focus))
        if r is None:
            return
        if "positions" in dirty or "arrows" in dirty:
            pos = r.model.positions + (np.tensordot(self.c, r.vectors, axes=1) if r.kind == "position" else 0)
            self.view3d.set_positions(pos)
            vec = r.vectors[mode] if r.kind == "position" else np.zeros((len(pos), 3))
            self.view3d.set_arrows(pos, vec, 0.5 * r.c_range)
        if "spectrum" in dirty:
            ev = r.eigenvalues[:20] / max(r.eigenvalues.sum(), 1e-30) * 100
            brushes = [(220, 120, 40) if i < r.n_modes else (150, 170, 200) for i in range(len(ev))]
            self.spectrum_bars.setOpts(x=np.arange(1, len(ev) + 1), height=ev, width=0.7, brushes=brushes)
        if "hist" in dirty:
            edges = np.linspace(-r.c_range, r.c_range, 41)
            h, _ = np.histogram(r.coords[:, mode], bins=edges)
            self.hist_bars.setOpts(x=0.5 * (edges[1:] + edges[:-1]), height=h, width=edges[1] - edges[0])
            self.slider_line.setValue(self.c[mode] if mode < len(self.c) else 0)
            dirty.add("count")
        if "count" in dirty:
            self.count_label.setText(f"{len(self.selected_indices())} particles in range")
        if "map" in dirty:
            self._request_map()
        if "images" in dirty or "map" in dirty:
            self._show_maps()

    def _show_maps(self) -> None:
        views = [(self.map_plots["model"], self.map_at), (self.map_plots["recon"], self.recon)]
        for item, res in views:
            if res is None:
                item.clear()
                continue
            img = res["along_z"]
            lo, hi = np.percentile(img, [1, 99.8])
            item.setImage(img, autoLevels=False, levels=(float(lo), float(hi) if hi > lo else float(lo) + 1))

    # ---- export -------------------------------------------------------------------------------------------------
    def export_range(self, path: Path) -> Path:
        from cryogui.io.motion import write_subset_star

        return write_subset_star(path, self.inputs["pset"], self.selected_indices(), self.result.coords)

    def _export_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export particles in range", "subset.star", "STAR (*.star)")
        if path:
            try:
                out = self.export_range(Path(path))
                self.ctx.status(f"{len(self.selected_indices())} particles written to {out}")
            except InputError as exc:
                self.ctx.show_error("Export range", str(exc), "")

    def _save_star_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save motion STAR", "motion.star", "STAR (*.star)")
        if path:
            from cryogui.io.motion import write_motion_star

            write_motion_star(path, self.inputs["pset"], self.result.coords)

    def _save_vectors_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save eigen-motion vectors", "motion.json", "JSON (*.json)")
        if path:
            from cryogui.io.motion import write_vectors_json

            write_vectors_json(path, self.result)
