"""The Picking view's circle item (one graphics item painting all circles of a point set): data API, geometry
updates, and what it draws at small (pixmap copies) and large (ellipses) zooms, after panning and with a fill."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF

from cryogui.views.picking_view import CircleSet

pytestmark = pytest.mark.gui
pg.setConfigOptions(imageAxisOrder="row-major")

RED = (255, 0, 0, 255)
GREEN = (0, 200, 0, 255)


@pytest.fixture
def scene(qtbot):
    w = pg.GraphicsLayoutWidget()
    w.setBackground("k")
    vb = w.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    w.resize(400, 400)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    item = CircleSet(width=2)
    vb.addItem(item)
    return w, vb, item


def _settle(qtbot, vb, rect):
    vb.setRange(rect, padding=0)
    qtbot.waitUntil(lambda: vb.viewRect().contains(rect), timeout=3000)
    qtbot.wait(30)


def _colour_near(w, vb, x, y, radius_px=3):
    """Set of RGB colours in the grabbed widget within radius_px of the view point (x, y)."""
    img = w.grab().toImage()
    p = vb.mapViewToDevice(QPointF(x, y))
    cx, cy = int(round(p.x())), int(round(p.y()))
    out = set()
    for dy in range(-radius_px, radius_px + 1):
        for dx in range(-radius_px, radius_px + 1):
            if 0 <= cx + dx < img.width() and 0 <= cy + dy < img.height():
                c = img.pixelColor(cx + dx, cy + dy)
                out.add((c.red(), c.green(), c.blue()))
    return out


def test_data_and_points_keep_the_callers_order(scene):
    _, _, item = scene
    x, y = np.array([10.0, 20, 30, 40, 50]), np.array([5.0, 6, 7, 8, 9])
    colors = np.array([GREEN, RED, GREEN, RED, RED], dtype=np.uint8)
    item.set_data(x, y, [4, 6, 8, 10, 12], colors)
    assert len(item.data) == 5 and len(item) == 5
    np.testing.assert_allclose(item.data["x"], x)
    np.testing.assert_allclose(item.data["size"], [4, 6, 8, 10, 12])
    pens = [pt.pen().color().getRgb() for pt in item.points()]
    assert pens == [GREEN, RED, GREEN, RED, RED]
    assert [pt.pos().x() for pt in item.points()] == list(x)
    assert len(item._groups) == 2                      # one pen per colour when painting
    item.set_data([], [], [])
    assert len(item.data) == 0 and item.boundingRect().isEmpty()


def test_geometry_changes_only_when_the_extent_changes(scene, monkeypatch):
    _, _, item = scene
    item.set_data([10.0, 50.0], [10.0, 30.0], [10.0, 20.0])
    calls = []
    orig = item.prepareGeometryChange
    monkeypatch.setattr(item, "prepareGeometryChange", lambda: (calls.append(1), orig()))
    item.set_data([10.0, 50.0], [10.0, 30.0], [10.0, 20.0], np.array([RED, GREEN], dtype=np.uint8))
    assert calls == []                                  # recoloured: same extent
    item.set_data([10.0, 90.0], [10.0, 30.0], [10.0, 20.0])
    assert calls == [1]
    b = item.boundingRect()
    assert b.contains(QRectF(5, 5, 95, 35))             # x 5..100, y 5..40 plus a pen margin


def test_draws_coloured_outlines_small_and_large(qtbot, scene):
    w, vb, item = scene
    x, y = np.array([100.0, 300.0]), np.array([100.0, 200.0])
    item.set_data(x, y, [60.0, 60.0], np.array([RED, GREEN], dtype=np.uint8))
    _settle(qtbot, vb, QRectF(60, 60, 80, 80))           # ~300 screen px circle: drawn as an ellipse
    assert (255, 0, 0) in _colour_near(w, vb, 130, 100)
    assert _colour_near(w, vb, 100, 100) == {(0, 0, 0)}  # outline only, no fill
    _settle(qtbot, vb, QRectF(260, 160, 80, 80))         # panned: the other circle is drawn (view cache dropped)
    assert (0, 200, 0) in _colour_near(w, vb, 300, 170)
    _settle(qtbot, vb, QRectF(0, 0, 400, 400))          # ~30 screen px circles: pixmap copies
    assert (255, 0, 0) in _colour_near(w, vb, 130, 100)
    assert (0, 200, 0) in _colour_near(w, vb, 300, 170)
    assert _colour_near(w, vb, 100, 100) == {(0, 0, 0)}


def test_filled_and_dashed_sets(qtbot, scene):
    w, vb, _ = scene
    sel = CircleSet(color="w", width=3, brush=(255, 255, 255, 60))
    dashed = CircleSet(color=(255, 170, 0), width=2, style=pg.QtCore.Qt.DashLine)
    vb.addItem(sel)
    vb.addItem(dashed)
    sel.set_data([100.0], [100.0], [80.0])
    dashed.set_data([300.0], [300.0], [80.0])
    _settle(qtbot, vb, QRectF(0, 0, 400, 400))
    centre = _colour_near(w, vb, 100, 100, radius_px=1)
    assert all(0 < c[0] < 255 and c[0] == c[1] == c[2] for c in centre)     # translucent white fill
    assert (255, 255, 255) in _colour_near(w, vb, 140, 100)
    # dashes: along the orange circle some outline pixels are orange and some gaps are black
    img = w.grab().toImage()
    hits = []
    for a in np.linspace(0, 2 * np.pi, 240, endpoint=False):
        p = vb.mapViewToDevice(QPointF(300 + 40 * np.cos(a), 300 + 40 * np.sin(a)))
        c = img.pixelColor(int(round(p.x())), int(round(p.y())))
        hits.append(c.red() > 200 and 120 < c.green() < 220 and c.blue() < 60)
    assert 0.2 < np.mean(hits) < 0.95
