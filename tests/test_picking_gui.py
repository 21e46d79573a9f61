"""The Picking panel driven as a user would: mouse edits with undo, filters, import/export, truth, auto-pick,
journal recovery."""

from __future__ import annotations


import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cryogui.cli.pick import write_micrograph_set
from cryogui.io.coords import read_picks

pytestmark = pytest.mark.gui
pg.setConfigOptions(imageAxisOrder="row-major")


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("picksim")
    write_micrograph_set(d / "micrographs", count=2, shape=(384, 384), diameter_px=40, n_particles=20,
                            apix=2.0, seed=3)
    return d


def _make_panel(open_panel, qtbot):
    from cryogui.views.picking import PickingPanel

    p = open_panel(PickingPanel, (1200, 800))
    p.activateWindow()
    p.view.setFocus()
    qtbot.waitUntil(p.isActiveWindow, timeout=3000)
    return p


@pytest.fixture
def panel(qtbot, open_panel, sim_dir):
    p = _make_panel(open_panel, qtbot)
    p.add_micrographs(sorted((sim_dir / "micrographs").glob("*.mrc")))
    p.store.set_picks(p.current, {"x": [100.0, 200.0, 300.0], "y": [100.0, 150.0, 300.0],
                                  "score": [0.9, 0.7, 0.2], "diameter": [40.0, 40.0, 40.0]})
    qtbot.waitUntil(lambda: p.view.image.image is not None, timeout=20_000)   # read by a job

    def _range_settled():  # pyqtgraph sets the view range lazily: under load it can lag the image
        (x0, x1), (y0, y1) = p.view.vb.viewRange()
        return x0 <= 0 and x1 >= 383 and y0 <= 0 and y1 >= 383

    qtbot.waitUntil(_range_settled, timeout=10_000)
    qtbot.wait(80)
    yield p
    p.shutdown()
    p.jobs.shutdown(5000)


def _widget_pos(panel, x, y):
    view = panel.view
    scene = panel.view.vb.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return view.mapFromScene(scene)


def _send(panel, kind, pos, buttons):
    vp = panel.view.viewport()
    gpos = vp.mapToGlobal(pos)
    button = Qt.LeftButton if kind != QEvent.MouseMove else Qt.NoButton
    ev = QMouseEvent(kind, QPointF(pos), QPointF(gpos), button, buttons, Qt.NoModifier)
    QApplication.sendEvent(vp, ev)


def _click(qtbot, panel, x, y):
    pos = _widget_pos(panel, x, y)
    _send(panel, QEvent.MouseButtonPress, pos, Qt.LeftButton)
    _send(panel, QEvent.MouseButtonRelease, pos, Qt.NoButton)
    qtbot.wait(50)


def _drag(qtbot, panel, a, b, steps=6):
    p0 = _widget_pos(panel, *a)
    p1 = _widget_pos(panel, *b)
    _send(panel, QEvent.MouseButtonPress, p0, Qt.LeftButton)
    for k in range(1, steps + 1):
        t = k / steps
        p = p0 + (p1 - p0) * t
        _send(panel, QEvent.MouseMove, p, Qt.LeftButton)
        qtbot.wait(10)
    _send(panel, QEvent.MouseButtonRelease, p1, Qt.NoButton)
    qtbot.wait(60)


def _xy(panel):
    a = panel.store.arrays(panel.current)
    return list(zip(a["x"].round(0).tolist(), a["y"].round(0).tolist()))


def _undo_keys(qtbot, panel, redo=False):
    mod = Qt.ControlModifier | (Qt.ShiftModifier if redo else Qt.NoModifier)
    qtbot.keyClick(panel.view, Qt.Key_Z, mod)
    qtbot.wait(50)


def test_click_adds_and_undo_redo(qtbot, panel):
    assert panel.objectName() == "panel_picking"
    _click(qtbot, panel, 50, 250)
    pts = _xy(panel)
    assert len(pts) == 4 and abs(pts[-1][0] - 50) <= 2 and abs(pts[-1][1] - 250) <= 2
    assert len(panel.view.picks.data) == 3            # threshold 0.5 hides the 0.2 pick; the new one is manual
    _undo_keys(qtbot, panel)
    assert len(_xy(panel)) == 3
    _undo_keys(qtbot, panel, redo=True)
    assert len(_xy(panel)) == 4


def test_delete_mode_click_removes_and_undo(qtbot, panel):
    qtbot.keyClick(panel.view, Qt.Key_D)
    assert panel.view.vb.mode == "delete"
    _click(qtbot, panel, 205, 152)                     # inside the circle of the pick at (200, 150)
    assert _xy(panel) == [(100, 100), (300, 300)]
    _click(qtbot, panel, 20, 20)                       # nothing there: nothing happens
    assert len(_xy(panel)) == 2
    _undo_keys(qtbot, panel)
    assert _xy(panel) == [(100, 100), (200, 150), (300, 300)]


def test_drag_moves_a_pick_and_undo(qtbot, panel):
    _drag(qtbot, panel, (100, 100), (140, 120))
    pts = _xy(panel)
    assert abs(pts[0][0] - 140) <= 2 and abs(pts[0][1] - 120) <= 2 and len(pts) == 3
    _undo_keys(qtbot, panel)
    assert _xy(panel)[0] == (100, 100)


def test_drag_on_empty_space_pans_not_adds(qtbot, panel):
    before = panel.view.vb.viewRange()
    _drag(qtbot, panel, (30, 330), (80, 360))
    assert len(_xy(panel)) == 3
    assert panel.view.vb.viewRange() != before


def test_rubber_band_select_delete_and_undo(qtbot, panel):
    qtbot.keyClick(panel.view, Qt.Key_S)
    _drag(qtbot, panel, (80, 80), (220, 170))
    assert sorted(panel.selection.tolist()) == [0, 1]
    assert len(panel.view.selected.data) == 2
    qtbot.keyClick(panel.view, Qt.Key_Delete)
    qtbot.wait(50)
    assert _xy(panel) == [(300, 300)]
    _undo_keys(qtbot, panel)
    assert len(_xy(panel)) == 3


def test_threshold_and_size_filters_update_counts(qtbot, panel):
    panel.threshold.setValue(10)
    qtbot.wait(80)
    assert len(panel.view.picks.data) == 3
    assert panel.table.item(0, 1).text() == "3"
    panel.threshold.setValue(80)
    qtbot.wait(80)
    assert len(panel.view.picks.data) == 1 and panel.table.item(0, 1).text() == "1"
    panel.threshold.setValue(0)
    panel.store.set_picks(panel.current, {"x": [10.0, 50.0], "y": [10.0, 50.0], "score": [0.9, 0.9],
                                          "diameter": [20.0, 60.0]})
    panel.size_range.setValue((30, 80))
    qtbot.wait(80)
    assert len(panel.view.picks.data) == 1
    assert "1 of 2" in panel.count_label.text()


def test_next_previous_reviewed_and_good_flags(qtbot, panel):
    first = panel.current
    qtbot.keyClick(panel.view, Qt.Key_N)
    assert panel.current != first and panel.store.flags[first]["reviewed"] is True
    qtbot.keyClick(panel.view, Qt.Key_B)
    qtbot.wait(60)
    assert panel.store.flags[panel.current]["good"] is False
    assert panel.table.item(1, 2).text() == "bad" and panel.table.item(0, 3).text() == "yes"
    qtbot.keyClick(panel.view, Qt.Key_P)
    assert panel.current == first
    panel.undo()                                        # undo the bad flag... (reviewed mark of mic 2 is newer)
    panel.undo()
    assert panel.store.flags.get(panel.order[1], {}).get("good") is None


def test_export_import_all_formats(qtbot, panel, tmp_path):
    for ext in (".star", ".cbox", ".box", ".txt", ".csv"):
        out = panel.export_picks(tmp_path / f"filtered{ext}", filtered=True)
        back = read_picks(out[0], default_box=64)
        assert len(back) == 2, ext                      # the 0.2 pick is filtered out
        np.testing.assert_allclose(sorted(back.x), [100, 200], atol=0.05)
    out = panel.export_picks(tmp_path / "all.star", filtered=False)
    assert len(read_picks(out[0])) == 3
    panel.store.set_picks(panel.current, {"x": [], "y": []})
    assert panel.import_picks(tmp_path / "all.star") == 3
    qtbot.wait(60)
    assert len(_xy(panel)) == 3


@pytest.mark.shared_data
def test_real_micrograph_with_relion_picks(qtbot, open_panel, shared_data):
    p = _make_panel(open_panel, qtbot)
    try:
        assert p.open_path(shared_data / "micrographs" / "Ucsf_stack_1142_DW.mrc", "micrograph")
        assert p.open_path(shared_data / "micrographs" / "Ucsf_stack_1142_DW_autopick.star", "coords")
        qtbot.waitUntil(lambda: p.view.image.image is not None, timeout=20_000)
        assert p.store.count("Ucsf_stack_1142_DW") == 45
        assert p.view.image.image.shape == (927, 959)         # read and filtered by a job, off the GUI thread
        assert p.open_path(shared_data / "picks" / "TcdA1-0018_frames_sum.cbox", "coords")
        assert p.store.count("TcdA1-0018_frames_sum") == 120
        assert not p.errors
    finally:
        p.shutdown()
        p.jobs.shutdown(5000)


def test_truth_metrics_live(qtbot, panel, sim_dir):
    truth = read_picks(sim_dir / "micrographs" / "truth.star")
    t0 = truth[truth.micrograph == "mic_000.mrc"]
    # picks: the first 5 truth positions (confident) plus 2 false ones
    x = list(t0.x[:5]) + [5.0, 370.0]
    y = list(t0.y[:5]) + [370.0, 5.0]
    panel.store.set_picks(panel.current, {"x": x, "y": y, "score": [0.9] * 5 + [0.8, 0.3],
                                          "diameter": [40.0] * 7})
    panel.load_truth(sim_dir / "micrographs" / "truth.star")
    qtbot.wait(80)
    m = panel.metrics
    assert (m["tp"], m["fp"], m["fn"]) == (5, 1, len(t0) - 5)
    assert "precision 0.833" in panel.metrics_label.text()
    assert len(panel.view.misses.data) == len(t0) - 5
    pens = [pt.pen().color().getRgb()[:3] for pt in panel.view.picks.points()]
    assert pens.count((40, 220, 60)) == 5 and pens.count((255, 50, 50)) == 1
    rx, ry = panel.pr_curve.getData()
    assert len(rx) == 7
    panel.threshold.setValue(85)
    qtbot.wait(80)
    assert panel.metrics["fp"] == 0 and panel.metrics["precision"] == 1.0


def test_autopick_job_current(qtbot, panel):
    panel.threshold.setValue(50)
    handle = panel.run_autopick(all_micrographs=False)
    qtbot.waitUntil(lambda: handle.state in ("done", "failed", "cancelled"), timeout=60_000)
    qtbot.wait(100)
    assert handle.state == "done" and not panel.errors
    a = panel.store.arrays(panel.current)
    assert (a["score"] >= 0.5).sum() >= 15
    assert np.nanmedian(a["diameter"][a["score"] >= 0.5]) > 25
    panel.undo()                                        # the auto-pick is one undoable step
    assert panel.store.count(panel.current) == 3


def test_journal_recovery_offer(qtbot, tmp_path, open_panel):
    from cryogui.models.picks import PickStore, new_journal_path

    j = new_journal_path().with_name("picks-crashed-1.jsonl")
    crashed = PickStore(j)
    crashed.set_picks("mic_000", {"x": [1.0, 2.0], "y": [3.0, 4.0]})
    crashed.add("mic_000", 7, 8)
    crashed._journal.close()                           # the process died: the journal stays
    import os
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    j.write_text(j.read_text().replace(f'"pid":{os.getpid()}', f'"pid":{dead.pid}'))
    p = _make_panel(open_panel, qtbot)
    try:
        assert p.banner.isVisible() and "3 picks" in p.banner_label.text()
        qtbot.mouseClick(p.restore_btn, Qt.LeftButton)
        assert not p.banner.isVisible() and not j.exists()
        assert p.store.arrays("mic_000")["x"].tolist() == [1.0, 2.0, 7.0]
    finally:
        p.shutdown()
        p.jobs.shutdown(5000)


def test_finetune_job_shows_live_loss(qtbot, panel):
    from cryogui.core.picking.learned import WEIGHTS

    if not WEIGHTS.exists():
        pytest.skip("no shipped weights")
    handle = panel.run_finetune(steps=5)
    qtbot.waitUntil(lambda: handle.state in ("done", "failed", "cancelled"), timeout=60_000)
    qtbot.wait(100)
    assert handle.state == "done" and not panel.errors
    x, y = panel.loss_curve.getData()
    assert len(x) == 5 and np.isfinite(y).all()
    assert panel._learned_model is not None and panel.method.currentIndex() == 1
