"""Publication figures from any panel: every pyqtgraph plot/image view as PNG (at a chosen width) and SVG, every vispy
canvas as PNG, the whole panel as PNG, and a running method recorded as a GIF (MP4 when imageio-ffmpeg is there).

Panels are not changed for this: their figures are found by walking the widget tree (``find_figures``).
"""

from __future__ import annotations

import logging
import re
import tempfile
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers the exporters
from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from cryogui.errors import InputError

log = logging.getLogger("cryogui.views")


@dataclass
class Figure:
    """One exportable view of a panel: ``kind`` is "plot" (a pyqtgraph item), "canvas" (vispy) or "panel"."""

    name: str
    kind: str
    item: object  # pg.PlotItem / pg.ViewBox / QGraphicsScene, a vispy SceneCanvas, or the panel QWidget
    widget: QWidget

    @property
    def formats(self) -> tuple[str, ...]:
        return ("png", "svg") if self.kind == "plot" else ("png",)


def _slug(text: str) -> str:
    s = re.sub(r"<[^>]+>", "", text or "")
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s[:40]


def _plot_name(item, widget: QWidget, index: int) -> str:
    title = ""
    if isinstance(item, pg.PlotItem) and item.titleLabel is not None:
        title = item.titleLabel.text
    for side in ("left", "bottom"):  # untitled plots are named after their axes
        if not title and isinstance(item, pg.PlotItem):
            axis = item.getAxis(side)
            title = axis.labelText if axis is not None and axis.isVisible() else ""
    base = _slug(title) or _slug(widget.objectName()) or type(widget).__name__.lower()
    return f"{base}_{index}"


def _is_visible(widget: QWidget, panel: QWidget) -> bool:
    return widget.isVisibleTo(panel) and widget.width() > 4 and widget.height() > 4


def find_figures(panel: QWidget) -> list[Figure]:
    """Every pyqtgraph plot/image view and vispy canvas shown in ``panel``, then the panel itself."""
    figures: list[Figure] = []
    names: set[str] = set()

    def add(name, kind, item, widget):
        stem, k = name, 1
        while name in names:
            k += 1
            name = f"{stem}_{k}"
        names.add(name)
        figures.append(Figure(name, kind, item, widget))

    index = 0
    for view in panel.findChildren(pg.GraphicsView):
        if not _is_visible(view, panel):
            continue
        scene = view.scene()
        items = [it for it in scene.items() if isinstance(it, pg.PlotItem)]
        if not items:  # a bare ViewBox holding an image (micrographs, map slices)
            items = [it for it in scene.items() if isinstance(it, pg.ViewBox) and
                     not isinstance(it.parentItem(), pg.PlotItem)]
        for it in items:
            index += 1
            add(_plot_name(it, view, index), "plot", it, view)
    for widget in panel.findChildren(QWidget):
        canvas = getattr(widget, "_vispy_canvas", None)
        if canvas is not None and _is_visible(widget, panel):
            add(f"{_slug(widget.parentWidget().objectName() if widget.parentWidget() else '') or 'view3d'}_3d",
                "canvas", canvas, widget)
    add("panel", "panel", panel, panel)
    return figures


# ---- PNG / SVG ------------------------------------------------------------------------------------------------
def _scaled_height(src_w: float, src_h: float, width: int) -> int:
    return max(1, int(round(width * src_h / max(src_w, 1.0))))


def render_canvas(canvas, width: int) -> QImage:
    """A vispy canvas rendered offscreen at ``width`` px (the height keeps the on-screen aspect)."""
    w0, h0 = canvas.size
    height = _scaled_height(w0, h0, width)
    rgba = np.ascontiguousarray(canvas.render(size=(width, height), alpha=True))
    img = QImage(rgba.data, rgba.shape[1], rgba.shape[0], 4 * rgba.shape[1], QImage.Format_RGBA8888)
    return img.copy()


def render_panel(panel: QWidget, width: int | None = None) -> QImage:
    """The whole panel at ``width`` px: Qt and pyqtgraph widgets painted at that scale, vispy canvases rendered
    offscreen at the same scale and placed where they sit on screen."""
    w0, h0 = max(1, panel.width()), max(1, panel.height())
    width = int(width or w0)
    scale = width / w0
    img = QImage(width, _scaled_height(w0, h0, width), QImage.Format_ARGB32)
    img.fill(Qt.white)
    painter = QPainter(img)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.SmoothPixmapTransform)
    try:
        painter.scale(scale, scale)
        panel.render(painter, QPoint(0, 0))
        painter.resetTransform()
        _draw_canvases(painter, panel, scale)
    finally:
        painter.end()
    return img


def _draw_canvases(painter: QPainter, panel: QWidget, scale: float) -> None:
    for widget in panel.findChildren(QWidget):
        canvas = getattr(widget, "_vispy_canvas", None)
        if canvas is None or not _is_visible(widget, panel):
            continue
        try:
            sub = render_canvas(canvas, max(1, int(round(widget.width() * scale))))
        except Exception as exc:  # no GL context: the grabbed pixels stay
            log.warning("figure export: a 3D view could not be rendered (%s)", exc)
            continue
        pos = widget.mapTo(panel, QPoint(0, 0))
        painter.drawImage(int(round(pos.x() * scale)), int(round(pos.y() * scale)), sub)


def export_png(fig: Figure, path: str | Path, width: int = 2400) -> Path:
    """Write ``fig`` as a PNG exactly ``width`` px wide."""
    path = Path(path)
    width = int(width)
    if width < 16 or width > 20000:
        raise InputError(f"figure width {width} px: choose between 16 and 20000 px")
    if fig.kind == "plot":
        exporter = pg.exporters.ImageExporter(fig.item)
        exporter.parameters()["width"] = width  # the height follows the aspect
        img = exporter.export(toBytes=True)
    elif fig.kind == "canvas":
        img = render_canvas(fig.item, width)
    else:
        img = render_panel(fig.item, width)
    if img is None or img.isNull():
        raise InputError(f"{path}: nothing to export from {fig.name}")
    if img.width() != width:  # pyqtgraph rounds the scene size: land on the width that was asked for
        img = img.scaledToWidth(width, Qt.SmoothTransformation)
    _save_image(img, path)
    return path


def _save_image(img: QImage, path: Path) -> None:
    from cryogui.io.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if not img.save(str(tmp), "PNG"):
            raise InputError(f"{path}: could not write the PNG (check the folder and the disk)")


@contextmanager
def _svg_close_path_fix():
    """pyqtgraph 0.14's SVG exporter rewrites each path's coordinates token by token and fails on the close-path
    command "Z" that Qt 6 writes (rectangles, filled areas).  Set those tokens aside while it runs, then put them
    back in the same places."""
    import sys

    module = sys.modules["pyqtgraph.exporters.SVGExporter"]
    original = module.correctCoordinates

    def tolerant(node, defs, item, options):
        kept = []
        for el in node.getElementsByTagName("path"):
            tokens = el.getAttribute("d").strip().split(" ")
            loose = [(i, t) for i, t in enumerate(tokens) if t and "," not in t]
            if loose:
                el.setAttribute("d", " ".join(t for t in tokens if t and "," in t))
                kept.append((el, loose))
        original(node, defs, item, options)
        for el, loose in kept:
            tokens = [t for t in el.getAttribute("d").strip().split(" ") if t]
            for i, t in loose:
                tokens.insert(min(i, len(tokens)), t)
            el.setAttribute("d", " ".join(tokens))

    module.correctCoordinates = tolerant
    try:
        yield
    finally:
        module.correctCoordinates = original


def export_svg(fig: Figure, path: str | Path) -> Path:
    """Write a pyqtgraph figure as SVG (vector: lines, points and text stay sharp at any size)."""
    from cryogui.io.atomic import atomic_path

    path = Path(path)
    if fig.kind != "plot":
        raise InputError(f"{fig.name}: SVG is only available for 2D plots (3D views and panels export as PNG)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _svg_close_path_fix():
        text = pg.exporters.SVGExporter(fig.item).export(toBytes=True)
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    ET.fromstring(text)  # never write an SVG that does not parse
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def export_figures(panel: QWidget, out_dir: str | Path, width: int = 2400, formats=("png", "svg"),
                   names: list[str] | None = None, prefix: str = "") -> list[Path]:
    """Export the chosen figures of ``panel`` (all when ``names`` is None) into ``out_dir``; returns the files."""
    out_dir = Path(out_dir)
    written = []
    for fig in find_figures(panel):
        if names is not None and fig.name not in names:
            continue
        stem = f"{prefix}{fig.name}"
        if "png" in formats:
            written.append(export_png(fig, out_dir / f"{stem}.png", width))
        if "svg" in formats and "svg" in fig.formats:
            written.append(export_svg(fig, out_dir / f"{stem}.svg"))
    return written


# ---- recording ------------------------------------------------------------------------------------------------
def ffmpeg_available() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, :3 * w].reshape(h, w, 3).copy()


class Recorder(QObject):
    """Grabs a widget on a timer while a method runs and writes the frames as GIF or MP4.

    Stops by itself when ``handle`` (a JobHandle) finishes, after ``max_frames``, or on ``stop()``; then writes
    ``path`` and emits ``saved(path)`` (or ``failed(message)``).
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(self, widget: QWidget, path: str | Path, fps: float = 8.0, width: int | None = 900,
                 max_frames: int = 400, handle=None, grab: Callable[[QWidget, int | None], QImage] | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.widget = widget
        self.path = Path(path)
        if self.path.suffix.lower() not in (".gif", ".mp4"):
            raise InputError(f"{self.path}: record to a .gif or .mp4 file")
        if self.path.suffix.lower() == ".mp4" and not ffmpeg_available():
            raise InputError(f"{self.path}: MP4 needs the imageio-ffmpeg package; record a .gif instead")
        self.fps = float(fps)
        self.width = width
        self.max_frames = int(max_frames)
        self.frames: list[np.ndarray] = []
        self._grab = grab or render_panel
        self._timer = QTimer(self)
        self._timer.setInterval(max(20, int(1000 / self.fps)))
        self._timer.timeout.connect(self.grab_frame)
        self.handle = handle
        self.active = False
        if handle is not None:
            handle.finished.connect(lambda _state: QTimer.singleShot(0, self.stop))

    def start(self) -> None:
        self.active = True
        self._capture()
        self._timer.start()
        if self.handle is not None and not self.handle.is_active:  # it finished before we were told
            QTimer.singleShot(0, self.stop)

    def grab_frame(self) -> None:
        """One frame (the timer's slot); stops the recording at ``max_frames``."""
        if not self.active:
            return
        if not self._capture() or len(self.frames) >= self.max_frames:
            self.stop()

    def _capture(self) -> bool:
        try:
            frame = qimage_to_rgb(self._grab(self.widget, self.width))
        except RuntimeError:  # the widget went away
            return False
        if self.frames and frame.shape != self.frames[0].shape:  # the panel was resized: keep the first size
            h0, w0 = self.frames[0].shape[:2]
            q = QImage(frame.data, frame.shape[1], frame.shape[0], 3 * frame.shape[1], QImage.Format_RGB888)
            frame = qimage_to_rgb(q.scaled(w0, h0, Qt.IgnoreAspectRatio, Qt.SmoothTransformation))
        self.frames.append(frame)
        return True

    def stop(self) -> Path | None:
        """Stop grabbing (one last frame: the finished state), write the file and emit ``saved``."""
        if not self.active:
            return None
        self.active = False
        self._timer.stop()
        if len(self.frames) < self.max_frames:
            self._capture()
        try:
            path = self.write()
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self.failed.emit(str(exc))
            return None
        self.saved.emit(str(path))
        return path

    def write(self) -> Path:
        import imageio.v2 as imageio

        from cryogui.io.atomic import atomic_path

        if not self.frames:
            raise InputError(f"{self.path}: no frames were recorded")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = self.path.suffix.lower()
        with atomic_path(self.path) as tmp:
            if suffix == ".gif":
                imageio.mimsave(str(tmp), self.frames, format="GIF", duration=1000.0 / self.fps, loop=0)  # ms
            else:
                with tempfile.TemporaryDirectory() as d:  # ffmpeg picks the container from the name
                    movie = Path(d) / "movie.mp4"
                    even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in self.frames]
                    imageio.mimsave(str(movie), even, fps=self.fps)
                    Path(tmp).write_bytes(movie.read_bytes())
        log.info("recorded %d frames to %s", len(self.frames), self.path)
        return self.path
