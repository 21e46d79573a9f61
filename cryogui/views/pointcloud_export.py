"""Exporting from the Point cloud panel: the TRN or CVT cloud as ChimeraX markers / PDB pseudo-atoms / CSV, and the
recorded frames of every method replayed through its view into a GIF or MP4."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from cryogui.errors import InputError
from cryogui.views.pointcloud_view import NAMES, render_frames

METHODS = ("trn", "cvt")


class PointCloudExport:
    """Mixin of :class:`cryogui.views.pointcloud.PointCloudPanel`: the export dialogs and what they write."""

    # ---- export -------------------------------------------------------------------------------------------------
    def _export_method(self) -> str:
        return METHODS[self.export_which.currentIndex()]

    def cloud_for_export(self, method: str):
        if method in self.results:
            r = self.results[method]
            return r.points, r.weights
        snap = self.latest.get(method)
        if snap is None:
            raise InputError(f"no {NAMES[method]} cloud yet: press Run first")
        return snap.points, snap.data.get("weights")

    def _export_cloud_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export point cloud", str(Path.home() / "cloud.cmm"),
                                              "ChimeraX markers (*.cmm);;PDB pseudo-atoms (*.pdb);;CSV (*.csv)")
        if path:
            self.export_cloud(Path(path), self._export_method())

    def export_cloud(self, path: Path, method: str) -> bool:
        from cryogui.io.pointcloud import write_cloud

        try:
            pts, w = self.cloud_for_export(method)
            write_cloud(path, pts, w)
        except (InputError, OSError) as exc:
            self.ctx.show_error("Export point cloud", str(exc), "")
            return False
        self._set_status(f"Wrote {len(pts)} {NAMES[method]} points to {path}")
        return True

    def _export_animation_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export animation", str(Path.home() / "pointcloud.gif"),
                                              "GIF (*.gif);;MP4 (*.mp4)")
        if path:
            self.export_animation(Path(path))

    def export_animation(self, path: Path, max_frames: int = 80, fps: float = 10.0) -> bool:
        """Replay the recorded frames of every method through its view, side by side, into a GIF/MP4."""
        from cryogui.io.pointcloud import write_animation

        methods = [m for m in METHODS if self.frames[m]]
        if not methods:
            self.ctx.show_error("Export animation", "no frames recorded yet: press Run first", "")
            return False
        count = min(max_frames, max(len(self.frames[m]) for m in methods))
        progress = QProgressDialog("Rendering frames…", "Cancel", 0, count, self)
        progress.setWindowModality(Qt.WindowModal)
        images = render_frames([self.views[m] for m in methods], [self.frames[m] for m in methods], count,
                               progress)
        progress.close()
        self.schedule_redraw(*methods)
        if images is None:
            return False
        try:
            write_animation(path, images, fps=fps)
        except (InputError, OSError) as exc:
            self.ctx.show_error("Export animation", str(exc), "")
            return False
        self._set_status(f"Wrote {len(images)} frames to {path}")
        return True
