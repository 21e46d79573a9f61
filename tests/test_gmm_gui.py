"""The Gaussian-fit panel as a user drives it: a tiny map fit (loss curve, FSC, 3D markers, export), a tiny particle
fit (validation loss, image strip), live learning rate, pause/resume/cancel.  Needs Xvfb for the vispy view."""

from __future__ import annotations

import json

import pandas as pd
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from cryogui.core.gmm.render import project_model, render_model
from cryogui.core.gmm.sanity import truth_model
from cryogui.core.rotations import matrix_to_euler, random_rotations
from cryogui.io.mrc import read_mrc, write_mrc
from cryogui.io.star import particles_to_blocks, write_star

pytestmark = pytest.mark.gui
pg.setConfigOptions(imageAxisOrder="row-major")


@pytest.fixture
def panel(open_panel):
    from cryogui.views.gaussfit import GaussianFitPanel

    return open_panel(GaussianFitPanel, (1300, 900))


@pytest.fixture
def tiny(tmp_path):
    truth = truth_model(8, 24, 2.0, seed=3)
    write_mrc(tmp_path / "map.mrc", render_model(truth, device="cpu"), 2.0)
    n = 80
    mats = random_rotations(n, seed=1)
    write_mrc(tmp_path / "stack.mrcs", project_model(truth, mats, box=24, apix=2.0, device="cpu"), 2.0)
    ang = matrix_to_euler(mats)
    df = pd.DataFrame({"rlnImageName": [f"{i + 1}@stack.mrcs" for i in range(n)], "rlnAngleRot": ang[:, 0],
                       "rlnAngleTilt": ang[:, 1], "rlnAnglePsi": ang[:, 2], "rlnOriginXAngst": 0.0,
                       "rlnOriginYAngst": 0.0})
    write_star(tmp_path / "p.star", particles_to_blocks(df, 2.0, 24))
    return tmp_path


def _wait_done(qtbot, panel, timeout=60_000):
    qtbot.waitUntil(lambda: panel.handle is not None and not panel.handle.is_active, timeout=timeout)
    qtbot.wait(100)  # the redraw timer


def test_map_fit_runs_and_exports(panel, qtbot, tiny, tmp_path):
    assert panel.open_path(tiny / "map.mrc", "map")
    assert "24^3" in panel.map_label.text()
    panel.n_spin.setValue(8)
    panel.iter_spin.setValue(60)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    _wait_done(qtbot, panel)
    assert panel.handle.state == "done" and not panel.errors
    x, y = panel.train_curve.getData()
    assert len(x) == 60 and y[-1] < 0.3 * y[0]  # the loss curve fell
    fx, fy = panel.fsc_curve.getData()
    assert len(fx) == 12 and fy[0] > 0.9
    assert panel.view3d.n_points == 8
    assert "finished" in panel.status.text()
    assert panel.export_json_btn.isEnabled()
    panel.export("json", tmp_path / "out.json")
    panel.box_spin.setValue(32)
    panel.export("mrc", tmp_path / "out.mrc")
    panel.export("cmm", tmp_path / "out.cmm")
    assert json.loads((tmp_path / "out.json").read_text())["format"] == "cryogui-gmm"
    vol = read_mrc(tmp_path / "out.mrc")
    assert vol.data.shape == (32, 32, 32) and vol.apix == pytest.approx(2.0)
    assert (tmp_path / "out.cmm").read_text().count("<marker ") == 8
    if panel.view3d.canvas is not None:  # vispy drew something besides the white background
        img = panel.view3d.render_rgb()
        assert img.std() > 1.0


def test_particle_fit_shows_strip_and_validation(panel, qtbot, tiny):
    panel.open_path(tiny / "map.mrc", "map")
    panel.open_path(tiny / "p.star", "particles")
    panel.target_kind.setCurrentIndex(1)
    assert panel.lr_spin.value() == pytest.approx(0.03)
    panel.ctf_check.setChecked(False)  # this STAR has no CTF columns
    panel.n_spin.setValue(8)
    panel.epoch_spin.setValue(3)
    panel.batch_spin.setValue(16)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    _wait_done(qtbot, panel)
    assert panel.handle.state == "done", panel.errors
    vx, vy = panel.val_curve.getData()
    assert len(vx) == 3 and vy[-1] < vy[0]
    assert panel.strip.shown == 4
    obs = panel.strip.items[0][0].image
    assert obs.shape == (24, 24) and obs.std() > 0
    assert panel.fsc_curve.getData()[0] is not None


def test_missing_ctf_is_reported_not_crashed(panel, qtbot, tiny):
    panel.open_path(tiny / "p.star", "particles")
    panel.target_kind.setCurrentIndex(1)
    panel.ctf_check.setChecked(True)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    _wait_done(qtbot, panel)
    assert panel.handle.state == "failed"
    assert any("CTF" in e for e in panel.errors)
    assert panel.run_btn.isEnabled()


def test_live_learning_rate_pause_resume_cancel(panel, qtbot, tiny):
    panel.open_path(tiny / "map.mrc", "map")
    panel.n_spin.setValue(8)
    panel.iter_spin.setValue(100_000)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.last is not None and panel.last.step >= 5, timeout=30_000)
    panel.lr_spin.setValue(0.02)
    assert panel.control.lr == pytest.approx(0.02)  # the running fit reads it at its next step
    qtbot.mouseClick(panel.pause_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.handle.state == "paused", timeout=10_000)
    assert panel.pause_btn.text() == "Resume"
    step = panel.last.step
    qtbot.wait(400)
    assert panel.last.step <= step + 5  # at most the snapshot already in flight
    qtbot.mouseClick(panel.pause_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.last.step > step + 5, timeout=20_000)
    assert abs(panel.last.metrics["lr"] - 0.02) < 0.02  # decayed from the new base rate, not from 0.1
    qtbot.mouseClick(panel.cancel_btn, Qt.LeftButton)
    _wait_done(qtbot, panel)
    assert panel.handle.state == "cancelled" and panel.status.text() == "cancelled"
    assert panel.run_btn.isEnabled() and not panel.cancel_btn.isEnabled()
