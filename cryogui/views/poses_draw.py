"""Selection, export and redrawing of the Poses panel's pictures from its state (:meth:`redraw`, called by the
panel's ~30 Hz redraw timer with the parts that changed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from cryogui.views.poses_plots import density_colors, set_histogram


class PosesDrawing:
    """Mixin of :class:`cryogui.views.poses.PosesPanel`: selection, export, and ``redraw`` (draws the parts
    named to ``schedule_redraw``)."""

    # ---- selection, export ---------------------------------------------------------------------------------------
    def select_particle(self, i: int) -> None:
        from cryogui.core.rotations import quaternion_to_matrix

        if self.quats is None or not 0 <= i < len(self.quats):
            return
        self.selected = int(i)
        a = quaternion_to_matrix(self.quats[i])
        self.mapview.set_pose(a)
        self.sphere.set_selected(self.dirs[i])
        self.hammer.set_selected(self.dirs[i])
        rot, tilt, psi = self._angles(i)
        self.mapview.caption.setText(f"Map at particle {i + 1}: rot {rot:.1f}, tilt {tilt:.1f}, psi {psi:.1f}")

    def _angles(self, i):
        from cryogui.core.rotations import quaternion_to_euler

        return quaternion_to_euler(self.quats[i])

    def export_star(self, path: Path) -> Path:
        """Recovered poses (aligned to the truth when known) as a RELION STAR file; a generated set also writes
        its stack beside it."""
        from cryogui.io.poses_files import write_projection_set
        from cryogui.core.rotations import quaternion_to_euler
        from cryogui.errors import InputError
        from cryogui.io.star import write_particles

        q = self.align.q_aligned if self.align is not None else self.recovered
        if q is None:
            raise InputError("nothing recovered yet: run Recover first")
        ang = quaternion_to_euler(q)
        path = Path(path)
        if self.pset is not None:
            df = self.pset.df.copy()
            df["rlnAngleRot"], df["rlnAngleTilt"], df["rlnAnglePsi"] = ang[:, 0], ang[:, 1], ang[:, 2]
            return write_particles(path, self.pset, df)
        table = self.table.copy()
        table["rlnAngleRot"], table["rlnAngleTilt"], table["rlnAnglePsi"] = ang[:, 0], ang[:, 1], ang[:, 2]
        return write_projection_set(path.with_suffix(".mrcs"), self.images, table, self.apix)

    def _export_dialog(self) -> None:
        from cryogui.errors import InputError

        path, _ = QFileDialog.getSaveFileName(self, "Export recovered poses", "recovered.star", "STAR (*.star)")
        if not path:
            return
        try:
            out = self.export_star(Path(path))
            self.ctx.status(f"wrote {out}")
            self.status_label.setText(f"wrote {out}")
        except (InputError, OSError) as exc:
            self.ctx.show_error("Export", str(exc), "")

    # ---- drawing ------------------------------------------------------------------------------------------------
    def redraw(self, dirty: set[str]) -> None:
        if "points" in dirty:
            n = 0 if self.dirs is None else len(self.dirs)
            colors = density_colors(self.density, n) if self.density is not None else None
            size = 6.0 if n < 2000 else 4.0
            self.sphere.set_points(self.dirs, colors, size=size)
            self.hammer.set_points(self.dirs, colors)
            if self.density is not None and len(self.density):
                self.sphere.caption.setText(f"Pose sphere: {n} directions, density {self.density.min():.2f} - "
                                            f"{self.density.max():.2f} x uniform (orange: recovered)")
        if "psi" in dirty:
            set_histogram(self.psi_item, self.psi, 36, (-180, 180))
        if "train" in dirty:
            if self.loss_hist:
                s, v = np.array(self.loss_hist).T
                self.loss_curve.setData(s, np.maximum(v, 1e-8))
            else:
                self.loss_curve.setData([], [])
            if self.val_hist:
                s, v = np.array(self.val_hist).T
                self.val_curve.setData(s, np.maximum(v, 1e-8))
            else:
                self.val_curve.setData([], [])
            if self.scatter_pts is not None:
                self.pair_scatter.setData(x=self.scatter_pts[0], y=self.scatter_pts[1])
            else:
                self.pair_scatter.clear()
        if "recovered" in dirty:
            self.sphere.set_recovered(self.rec_dirs, size=4.0)
            self.hammer.set_recovered(self.rec_dirs)
            if self.align is not None:
                k = min(len(self.dirs), 600)
                idx = np.linspace(0, len(self.dirs) - 1, k).astype(int)
                self.sphere.set_lines(self.dirs[idx], self.rec_dirs[idx])
            else:
                self.sphere.set_lines(None, None)
        if "errors" in dirty:
            if self.err_hist:
                s, v = np.array(self.err_hist).T
                self.err_curve.setData(s, v)
            else:
                self.err_curve.setData([], [])
            if self.align is not None:
                err = np.rad2deg(self.align.errors)
                set_histogram(self.errh_item, err, 40, (0, max(1.0, float(np.percentile(err, 99)))))
                self.summary.setText(
                    f"<b>After alignment</b> ({len(err)} particles)<br>median {self.align.median_rad:.4f} rad "
                    f"({self.align.median_deg:.2f} deg)<br>mean {self.align.mean_rad:.4f} rad "
                    f"({self.align.mean_deg:.2f} deg)<br>mirror: {self.align.mirror}")
            else:
                set_histogram(self.errh_item, None, 1, (0, 1))
                self.summary.setText("")
