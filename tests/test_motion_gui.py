"""The Eigen-motion panel as a user drives it: load particles + model, run, read the spectrum and the flexibility
colours, move a slider (the moving domain moves), select a coordinate range, export it, reconstruct it.
Needs Xvfb for the vispy view (``make test`` provides it)."""

from __future__ import annotations


import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from cryogui.core.motion.simulate import simulate_motion
from cryogui.io.motion import write_simulation
from cryogui.io.star import load_images, read_particles

pytestmark = pytest.mark.gui
pg.setConfigOptions(imageAxisOrder="row-major")


@pytest.fixture(scope="module")
def simset(tmp_path_factory):
    out = tmp_path_factory.mktemp("motion_gui")
    sim = simulate_motion(80, 5, snr=None, box=32, apix=6.0, n_gaussians=24, max_angle_deg=20, seed=2)
    write_simulation(out, sim)
    return out, sim


@pytest.fixture
def panel(open_panel):
    from cryogui.views.motion import EigenMotionPanel

    return open_panel(EigenMotionPanel, (1400, 900))


def test_run_slider_histogram_export_reconstruct(panel, qtbot, simset, tmp_path):
    out, sim = simset
    assert panel.objectName() == "panel_motion" and "FRC" in panel.help_html()
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)  # nothing loaded yet: a clear message, no crash
    assert panel.errors and "Load particles" in panel.errors[-1]
    panel.errors.clear()

    panel.load_star(out / "particles.star")
    qtbot.waitUntil(lambda: panel.inputs is not None and panel.model is not None, timeout=30_000)
    assert "80 particles" in panel.status.text() and "24 Gaussians" in panel.model_label.text()
    panel.modes.setValue(2)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60_000)
    qtbot.wait(100)
    assert not panel.errors
    r = panel.result
    assert len(panel.sliders) == 2 and panel.mode_sel.count() == 2
    assert "Spearman" in panel.status.text()  # ground truth found beside the STAR file
    heights = panel.spectrum_bars.opts["height"]
    np.testing.assert_allclose(heights[:2], 100 * r.explained_variance, rtol=1e-6)
    colors = panel.view3d.colors  # flexibility colour: the arm is hotter than the body
    assert len(colors) == 24
    assert r.flexibility[sim.moving].mean() > 2 * r.flexibility[~sim.moving].mean()

    # the slider moves the domain that moves in the ground truth
    panel.sliders[0].setValue(60)
    qtbot.wait(100)
    moved = np.linalg.norm(panel.view3d.positions - sim.model.positions, axis=1)
    assert moved[sim.moving].mean() > 5 * max(moved[~sim.moving].mean(), 1e-6)
    assert moved.max() == pytest.approx(0.6 * r.c_range, rel=1e-3)
    qtbot.waitUntil(lambda: panel.map_at is not None and panel.map_at["c"][0] == pytest.approx(panel.c[0]),
                    timeout=30_000)
    qtbot.wait(100)
    img = panel.map_plots["model"].image
    assert img is not None and img.shape == (32, 32)

    # a coordinate range: count, export as RELION STAR, reconstruct
    panel.region.setRegion((-100.0, 0.0))
    qtbot.wait(100)
    sel = panel.selected_indices()
    assert len(sel) == int((r.coords[:, 0] <= 0).sum()) and len(sel) > 5
    assert panel.count_label.text().startswith(f"{len(sel)} particles")
    path = panel.export_range(tmp_path / "range.star")
    back = read_particles(path)
    assert len(back) == len(sel) and "cryoguiMotion1" in back.df
    assert load_images(back, [0]).shape == (1, 32, 32)
    qtbot.mouseClick(panel.recon_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.recon is not None, timeout=60_000)
    qtbot.wait(100)
    assert len(panel.recon["indices"]) == len(sel)
    assert panel.map_plots["recon"].image is not None

    # play moves the selected slider
    before = panel.sliders[0].value()
    panel.play_btn.setChecked(True)
    qtbot.wait(300)
    panel.play_btn.setChecked(False)
    assert panel.sliders[0].value() != before


def test_focus_box_restricts_the_analysis(panel, qtbot, simset):
    out, sim = simset
    panel.load_star(out / "particles.star")
    qtbot.waitUntil(lambda: panel.inputs is not None and panel.model is not None, timeout=30_000)
    hinge_x = float(sim.hinge[0])
    panel.box_spins[0][0].setValue(hinge_x)  # x from the hinge outwards: the arm only
    panel.box_spins[0][1].setValue(500.0)
    panel.focus.setChecked(True)
    idx = panel.focus_indices()
    assert set(idx) == set(np.nonzero(sim.model.positions[:, 0] >= hinge_x)[0]) and 0 < len(idx) < 24
    panel.modes.setValue(1)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60_000)
    qtbot.wait(100)
    outside = np.setdiff1d(np.arange(24), idx)
    assert np.all(panel.result.vectors[0][outside] == 0)
    np.testing.assert_allclose(panel.view3d.colors[outside, 3], 0.35)  # greyed out
