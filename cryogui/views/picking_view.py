"""The micrograph view of the Picking panel: image, picks as circles, mouse editing.

Coordinates: the image item spans (0, 0)-(nx, ny) in original micrograph pixels whatever the display binning, so
pixel ``i`` covers ``[i, i + 1)`` and a pick centred on pixel column ``x`` is drawn at ``x + 0.5``.

Circles are drawn by :class:`CircleSet`, one graphics item per point set that keeps the arrays and paints every
visible circle in one ``paint()`` with one cosmetic pen per colour (a ``ScatterPlotItem`` with data-scaled symbols
took ~200 ms to redraw 2,000 picks on a 4096 px micrograph; this takes a few tens of ms, see
``tests/benchmarks/bench_picking.py``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsRectItem

MODES = ("add", "delete", "select")


class _Spot:
    """One circle of a :class:`CircleSet` as ``ScatterPlotItem.points()`` gave it (``pos()``, ``size()``, ``pen()``)."""

    __slots__ = ("_x", "_y", "_size", "_pen")

    def __init__(self, x, y, size, pen):
        self._x, self._y, self._size, self._pen = x, y, size, pen

    def pos(self) -> QPointF:
        return QPointF(self._x, self._y)

    def size(self) -> float:
        return self._size

    def pen(self) -> QPen:
        return self._pen


class CircleSet(pg.GraphicsObject):
    """Circles in data coordinates (centre x, y and diameter ``size``, so they scale with the zoom) outlined by a
    cosmetic pen of ``width`` screen pixels, one colour per circle (RGBA rows) or ``color`` for all, optional fill.

    ``set_data`` stores the arrays, sorts the circles by colour once and asks for a repaint; the geometry (and the
    view's bounds) is only invalidated when the circles' extent changes.  ``paint`` skips circles outside the
    visible part of the view and draws the rest sorted by colour: at zooms where a circle is at most ``SPRITE_MAX``
    screen pixels across, as copies of a pixmap drawn once per (colour, diameter), else as ellipses.  The item takes
    no mouse events: clicks and drags on circles go to the view box, which hit-tests the picks itself.
    """

    def __init__(self, color=(0, 255, 0), width: float = 2.0, style=Qt.SolidLine, brush=None, parent=None):
        super().__init__(parent)
        self._width = float(width)
        self._style = style
        self._color = tuple(int(c) for c in pg.mkColor(color).getRgb())
        self._brush = pg.mkBrush(brush) if brush is not None else None
        self._pens: dict[int, QPen] = {}
        self._sprites: dict[tuple, QPixmap] = {}
        self._bounds = None                # circles' extent (QRectF, data coordinates); None when empty
        self._pad = 0.0                    # pen half-width plus a pixel, in data units at the current zoom
        self.set_data([], [], [])

    # ---- data ---------------------------------------------------------------------------------------------
    def set_data(self, x, y, size, colors=None) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        n = len(x)
        size = np.broadcast_to(np.asarray(size, dtype=np.float64), (n,)) if n else np.zeros(0)
        if colors is None or n == 0:
            keys = np.full(n, self._pack(self._color), dtype=np.uint32)
        else:
            c = np.asarray(colors)
            c = np.broadcast_to(c, (n, c.shape[-1])).astype(np.uint32)
            if c.shape[1] == 3:
                c = np.concatenate([c, np.full((n, 1), 255, np.uint32)], axis=1)
            keys = (c[:, 0] << 24) | (c[:, 1] << 16) | (c[:, 2] << 8) | c[:, 3]
        order = np.argsort(keys, kind="stable")
        keys_sorted = keys[order]
        starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]]) if n else np.zeros(0, int)
        self._x, self._y, self._r = x[order], y[order], 0.5 * np.abs(size[order])
        self._keys = keys_sorted
        self._groups = [(int(keys_sorted[s]), int(s), int(e)) for s, e in zip(starts, np.r_[starts[1:], n])]
        self._index = order                      # sorted position -> caller's index
        ok = np.isfinite(self._x) & np.isfinite(self._y) & np.isfinite(self._r)
        if ok.any():
            xs, ys, rs = self._x[ok], self._y[ok], self._r[ok]
            b = QRectF(float((xs - rs).min()), float((ys - rs).min()), 0, 0)
            b.setRight(float((xs + rs).max()))
            b.setBottom(float((ys + rs).max()))
        else:
            b = None
        if b != self._bounds:
            self.prepareGeometryChange()
            self._bounds = b
            self.informViewBoundsChanged()
        self.update()

    def __len__(self) -> int:
        return len(self._x)

    @property
    def data(self) -> np.ndarray:
        """Record array (x, y, size) in the caller's order, like ``ScatterPlotItem.data`` (``len()`` works)."""
        out = np.zeros(len(self._x), dtype=[("x", "f8"), ("y", "f8"), ("size", "f8")])
        inv = np.empty_like(self._index)
        inv[self._index] = np.arange(len(self._index))
        out["x"], out["y"], out["size"] = self._x[inv], self._y[inv], 2 * self._r[inv]
        return out

    def points(self) -> list[_Spot]:
        pens = np.empty(len(self._x), dtype=object)
        for key, s, e in self._groups:
            pens[s:e] = [self._pen(key)] * (e - s)
        spots = [_Spot(float(self._x[i]), float(self._y[i]), float(2 * self._r[i]), pens[i])
                 for i in range(len(self._x))]
        out = [None] * len(spots)
        for sorted_pos, caller in enumerate(self._index):
            out[caller] = spots[sorted_pos]
        return out

    @staticmethod
    def _pack(rgba) -> int:
        r, g, b, a = (list(rgba) + [255])[:4]
        return (int(r) << 24) | (int(g) << 16) | (int(b) << 8) | int(a)

    def _pen(self, key: int) -> QPen:
        pen = self._pens.get(key)
        if pen is None:
            pen = QPen(QColor((key >> 24) & 255, (key >> 16) & 255, (key >> 8) & 255, key & 255))
            pen.setWidthF(self._width)
            pen.setCosmetic(True)
            pen.setStyle(self._style)
            self._pens[key] = pen
        return pen

    # ---- geometry -----------------------------------------------------------------------------------------
    def dataBounds(self, ax, frac=1.0, orthoRange=None):  # noqa: N802 (pyqtgraph name)
        if self._bounds is None:
            return None, None
        if ax == 0:
            return self._bounds.left(), self._bounds.right()
        return self._bounds.top(), self._bounds.bottom()

    def pixelPadding(self) -> float:  # noqa: N802 (pyqtgraph name)
        return self._width

    def viewTransformChanged(self, *args):  # noqa: N802 (pyqtgraph name)
        super().viewTransformChanged()           # drops the cached view rectangle used to skip hidden circles
        pad = self._pixel_pad()
        if pad > self._pad or pad < 0.5 * self._pad:      # geometry changes only when the margin must grow
            self.prepareGeometryChange()
            self._pad = 1.25 * pad

    def _pixel_pad(self) -> float:
        try:
            px, py = self.pixelVectors()
        except Exception:
            px = py = None
        if px is None:
            return 0.0
        return (self._width / 2 + 2) * max(px.length(), py.length())     # pen, sprite rounding

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        if self._bounds is None:
            return QRectF()
        p = self._pad
        return self._bounds.adjusted(-p, -p, p, p)

    # ---- painting -----------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not len(self._x):
            return
        vis = np.isfinite(self._x) & np.isfinite(self._y) & np.isfinite(self._r)
        view = self.viewRect()
        if view is not None:
            vis &= ((self._x + self._r >= view.left()) & (self._x - self._r <= view.right())
                    & (self._y + self._r >= view.top()) & (self._y - self._r <= view.bottom()))
        if not vis.any():
            return
        aa = bool(pg.getConfigOption("antialias"))
        painter.setRenderHint(QPainter.Antialiasing, aa)
        t = painter.transform()
        sx, sy = t.m11(), t.m22()
        plain = t.m12() == 0 and t.m21() == 0 and t.m13() == 0 and t.m23() == 0     # scale + shift only
        if plain and sx > 0 and abs(abs(sy) / sx - 1) < 1e-3:
            self._paint_sprites(painter, vis, t, aa, widget)
        else:
            self._paint_ellipses(painter, vis)

    def _paint_ellipses(self, painter: QPainter, vis: np.ndarray) -> None:
        """Each circle as an ellipse in data coordinates (any view transform, very large circles)."""
        painter.setBrush(self._brush if self._brush is not None else Qt.NoBrush)
        left, top, d = (self._x - self._r).tolist(), (self._y - self._r).tolist(), (2 * self._r).tolist()
        draw = painter.drawEllipse
        for key, s, e in self._groups:
            idx = np.flatnonzero(vis[s:e])
            if len(idx):
                painter.setPen(self._pen(key))
                for i in (idx + s).tolist():
                    draw(QRectF(left[i], top[i], d[i], d[i]))

    def _paint_sprites(self, painter: QPainter, vis: np.ndarray, t, aa: bool, widget) -> None:
        """Zoom without rotation: circles up to SPRITE_MAX screen pixels across are copies of one pre-drawn pixmap
        per (colour, whole-pixel diameter), placed at the nearest pixel (a wide cosmetic pen costs Qt a stroker pass
        per ellipse; a pixmap copy is a memcpy); larger ones are drawn as ellipses."""
        dpr = float(widget.devicePixelRatioF()) if widget is not None else 1.0
        cx = self._x * t.m11() + t.dx()
        cy = self._y * t.m22() + t.dy()
        dd = np.rint(2 * self._r * t.m11() * dpr).astype(np.int64)
        small = vis & (dd <= self.SPRITE_MAX * dpr)
        if (vis & ~small).any():
            self._paint_ellipses(painter, vis & ~small)
        if not small.any():
            return
        half = (dd + np.ceil(self._width * dpr) + 2).astype(np.int64) // 2      # sprite half side, device px
        px = np.rint(cx - half / dpr).astype(np.int64).tolist()
        py = np.rint(cy - half / dpr).astype(np.int64).tolist()
        ddl = dd.tolist()
        painter.save()
        painter.resetTransform()
        draw = painter.drawPixmap
        keys = self._keys.tolist()
        local: dict = {}                    # (colour, diameter) -> sprite, for this paint
        for i in np.flatnonzero(small).tolist():      # sorted by colour already: few pen/pixmap changes
            ck = (keys[i], ddl[i])
            pm = local.get(ck)
            if pm is None:
                pm = local[ck] = self._sprite(ck[0], ck[1], dpr, aa)
            draw(px[i], py[i], pm)
        painter.restore()

    SPRITE_MAX = 96

    def _sprite(self, key: int, d: int, dpr: float, aa: bool) -> QPixmap:
        ck = (key, d, dpr, aa)
        pm = self._sprites.get(ck)
        if pm is None:
            if len(self._sprites) > 4096:
                self._sprites.clear()
            side = 2 * ((d + int(np.ceil(self._width * dpr)) + 2) // 2)
            pm = QPixmap(side, side)
            pm.fill(Qt.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.Antialiasing, aa)
            pen = QPen(self._pen(key))
            pen.setWidthF(self._width * dpr)
            p.setPen(pen)
            p.setBrush(self._brush if self._brush is not None else Qt.NoBrush)
            p.drawEllipse(QRectF((side - d) / 2, (side - d) / 2, d, d))
            p.end()
            pm.setDevicePixelRatio(dpr)
            self._sprites[ck] = pm
        return pm


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
        self.picks = CircleSet(width=2)
        self.picks.setZValue(5)
        self.selected = CircleSet(color="w", width=3, brush=(255, 255, 255, 40))
        self.selected.setZValue(6)
        self.misses = CircleSet(color=(255, 170, 0), width=2, style=Qt.DashLine)
        self.misses.setZValue(4)
        for item in (self.picks, self.selected, self.misses):
            self.vb.addItem(item)
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

    def set_picks(self, x, y, size, colors: np.ndarray) -> None:
        self.picks.set_data(np.asarray(x, float) + 0.5, np.asarray(y, float) + 0.5, size, colors)

    def set_selected(self, x, y, size) -> None:
        self.selected.set_data(np.asarray(x, float) + 0.5, np.asarray(y, float) + 0.5, size)

    def set_misses(self, x, y, size) -> None:
        self.misses.set_data(np.asarray(x, float) + 0.5, np.asarray(y, float) + 0.5, size)
