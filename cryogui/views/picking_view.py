"""The micrograph view of the Picking panel: image, picks as circles, mouse editing.

Coordinates: the image item spans (0, 0)-(nx, ny) in original micrograph pixels whatever the display binning, so
pixel ``i`` covers ``[i, i + 1)`` and a pick centred on pixel column ``x`` is drawn at ``x + 0.5``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

MODES = ("add", "delete", "select")


class PickViewBox(pg.ViewBox):
    """Left click adds (add mode) or deletes (delete mode); left drag on a pick moves it; left drag in select mode
    draws a rubber band; elsewhere left drag pans and the wheel zooms."""

    def __init__(self, owner):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.owner = owner
        self.mode = "add"
        self._drag = None
        self._band = QGraphicsRectItem()
        pen = QPen(QColor(255, 255, 255))
        pen.setStyle(Qt.DashLine)
        pen.setCosmetic(True)
        self._band.setPen(pen)
        self._band.setBrush(QColor(255, 255, 255, 30))
        self._band.setZValue(20)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def _pos(self, scene_pos) -> tuple[float, float]:
        p = self.mapSceneToView(scene_pos)
        return p.x() - 0.5, p.y() - 0.5

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt name)
        if ev.button() == Qt.LeftButton:
            ev.accept()
            x, y = self._pos(ev.scenePos())
            self.owner.view_clicked(x, y, self.mode, ev.modifiers())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt name)
        if ev.button() != Qt.LeftButton:
            return super().mouseDragEvent(ev, axis)
        if ev.isStart():
            x0, y0 = self._pos(ev.buttonDownScenePos())
            idx = self.owner.pick_at(x0, y0) if self.mode == "add" else -1
            if idx >= 0:
                self._drag = ("move", idx)
            elif self.mode == "select":
                self._drag = ("band", (x0, y0))
            else:
                self._drag = None
        if self._drag is None:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        x, y = self._pos(ev.scenePos())
        kind, data = self._drag
        if kind == "move":
            if ev.isFinish():
                self.owner.move_commit(data, x, y)
                self._drag = None
            else:
                self.owner.move_preview(data, x, y)
        else:
            x0, y0 = data
            self._band.setRect(QRectF(min(x0, x) + 0.5, min(y0, y) + 0.5, abs(x - x0), abs(y - y0)))
            self._band.show()
            if ev.isFinish():
                self._band.hide()
                self._drag = None
                self.owner.select_rect(min(x0, x), min(y0, y), max(x0, x), max(y0, y))


class MicrographView(pg.GraphicsLayoutWidget):
    """Image plus three point sets: picks (coloured circles), the selection, truth misses."""

    def __init__(self, owner, parent=None):
        super().__init__(parent)
        self.setBackground("k")
        self.vb = PickViewBox(owner)
        self.addItem(self.vb)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.picks = pg.ScatterPlotItem(pxMode=False, symbol="o", brush=None)
        self.picks.setZValue(5)
        self.selected = pg.ScatterPlotItem(pxMode=False, symbol="o", brush=pg.mkBrush(255, 255, 255, 40),
                                           pen=pg.mkPen("w", width=3, cosmetic=True))
        self.selected.setZValue(6)
        self.misses = pg.ScatterPlotItem(pxMode=False, symbol="o", brush=None,
                                         pen=pg.mkPen((255, 170, 0), width=2, style=Qt.DashLine, cosmetic=True))
        self.misses.setZValue(4)
        for item in (self.picks, self.selected, self.misses):
            item.mouseClickEvent = lambda ev: ev.ignore()     # clicks on circles belong to the view box
            self.vb.addItem(item)
        self._pens: dict[tuple, QPen] = {}
        self.shape = (0, 0)

    def set_image(self, img: np.ndarray, shape: tuple[int, int], levels: tuple[float, float],
                  keep_view: bool = False) -> None:
        self.image.setImage(img, levels=levels, autoLevels=False)
        self.image.setRect(QRectF(0, 0, shape[1], shape[0]))
        if not keep_view or self.shape != tuple(shape):
            self.vb.setRange(QRectF(0, 0, shape[1], shape[0]), padding=0.02)
        self.shape = tuple(shape)

    def set_levels(self, levels) -> None:
        self.image.setLevels(levels)

    def _pen(self, rgba) -> QPen:
        key = tuple(int(c) for c in rgba)
        pen = self._pens.get(key)
        if pen is None:
            pen = pg.mkPen(QColor(*key), width=2, cosmetic=True)
            self._pens[key] = pen
        return pen

    def set_picks(self, x, y, size, colors: np.ndarray) -> None:
        if len(x) == 0:
            self.picks.setData([], [])
            return
        pens = [self._pen(c) for c in colors]
        self.picks.setData(x=np.asarray(x) + 0.5, y=np.asarray(y) + 0.5, size=np.asarray(size), pen=pens,
                           brush=None, symbol="o")

    def set_selected(self, x, y, size) -> None:
        self.selected.setData(x=np.asarray(x) + 0.5, y=np.asarray(y) + 0.5, size=np.asarray(size))

    def set_misses(self, x, y, size) -> None:
        self.misses.setData(x=np.asarray(x) + 0.5, y=np.asarray(y) + 0.5, size=np.asarray(size))
