"""THE workspace test of issue 8: work in all five panels survives save, close and reopen in a new window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project folder: two micrographs with truth, a 24^3 map and 24 particles (STAR + stack)."""
    from cryogui.core.simulate.maps import demo_map
    from cryogui.core.simulate.micrographs import simulate_micrograph
    from cryogui.io.coords import write_picks
    from cryogui.io.mrc import write_mrc
    from cryogui.io.star import write_particle_stack

    root = tmp_path_factory.mktemp("project")
    data = root / "data"
    data.mkdir()
    truths = []
    for i in range(2):
        img, truth = simulate_micrograph((192, 192), diameter_px=24, n_particles=6, apix=2.0, seed=i,
                                         contamination=False, ice_gradient=False)
        write_mrc(data / f"mic{i}.mrc", img, 2.0)
        truth["micrograph"] = f"mic{i}.mrc"
        truths.append(truth)
    write_picks(data / "truth.star", pd.concat(truths, ignore_index=True))
    vol = demo_map(box=24, apix=8.0)
    write_mrc(data / "map.mrc", vol.data, 8.0)
    from cryogui.core.simulate.particles import simulate_particles

    stack, table = simulate_particles(vol.data, 8.0, 24, snr=None, ctf=False, seed=1)
    write_particle_stack(data / "particles.star", stack, table, 8.0)
    return root


def _window(qtbot):
    from cryogui.app.application import build_window, make_app
    from cryogui.app.workspace import install_workspace

    make_app()
    w = build_window()
    install_workspace(w)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _close(w):
    w.close()
    w.jobs.shutdown(5000)


def _motion_result(model, n=30, m=2):
    from cryogui.core.motion.job import MotionResult

    rng = np.random.default_rng(3)
    k = len(model.positions)
    return MotionResult(model=model, kind="position", flexibility=rng.random(k), vectors=rng.normal(size=(m, k, 3)),
                        explained_variance=np.array([0.6, 0.25]), eigenvalues=np.array([3.0, 1.2, 0.4]),
                        coords=rng.normal(size=(n, m)), pca_scores=rng.normal(size=(n, m)),
                        frc_before=rng.random(n), frc_after=rng.random(n), focus=np.ones(k, bool), c_range=12.0,
                        rings=8, seconds={"total": 1.0})


def test_work_in_all_five_panels_survives_save_close_and_reopen(qtbot, project, tmp_path):
    import pyqtgraph as pg

    from cryogui.core.gmm.fit import FitResult
    from cryogui.core.gmm.model import GaussianModel
    from cryogui.core.pointcloud.result import PointCloudResult
    from cryogui.core.poses.align import AlignResult

    pg.setConfigOptions(imageAxisOrder="row-major")
    data = project / "data"
    w = _window(qtbot)
    w.open_paths([data / "mic0.mrc", data / "mic1.mrc", data / "map.mrc", data / "particles.star"])

    # picking: picks on two micrographs, edits (with undo and redo left to do), thresholds, truth
    pk = w.panels["picking"]
    pk.load_truth(data / "truth.star")
    pk.store.set_picks("mic0", {"x": [20.0, 60.0, 100.0], "y": [30.0, 70.0, 110.0], "score": [0.9, 0.4, 0.7],
                                "diameter": [24.0, 22.0, 30.0]})
    pk.store.set_picks("mic1", {"x": [50.0], "y": [50.0], "score": [0.8], "diameter": [25.0]})
    pk.store.add("mic0", 150.0, 150.0)
    pk.store.move("mic0", [0], [25.0], [35.0])
    pk.store.remove("mic0", [1])
    pk.set_current("mic1")  # (marks mic0 reviewed: an edit too)
    pk.store.undo()  # the reviewed flag ...
    pk.store.undo()  # ... and the removal, both can be redone
    pk.threshold.setValue(63)
    pk.lowpass.setValue(12.0)
    from cryogui.core.picking.learned import PickerNet

    pk._learned_model = PickerNet(width=8)  # as if fine-tuned on this curation
    tuned_before = {k: v.detach().numpy().copy() for k, v in pk._learned_model.state_dict().items()}
    pk.invert.setChecked(True)
    picks_before = pk.store.table().copy()
    undo_before, redo_before = [list(x) for x in pk.store._undo], [list(x) for x in pk.store._redo]

    # point cloud: a TRN and a CVT result with weights and energy curves
    pc = w.panels["pointcloud"]
    rng = np.random.default_rng(0)
    pc.n_points.setValue(37)
    pc._n_run = 37
    for m in ("trn", "cvt"):
        pc.results[m] = PointCloudResult(method=m, points=rng.normal(size=(37, 2)), weights=rng.random(37),
                                         energy=0.12, iterations=10, history=[(1, 0.5), (10, 0.12)],
                                         params={"seed": 0})
        pc.energy[m] = ([1.0, 10.0], [0.5, 0.12])
    pc._random_energy = 0.9

    # gaussian fit: a model with its loss history
    gf = w.panels["gaussfit"]
    model = GaussianModel(positions=rng.normal(scale=10, size=(9, 3)), amplitudes=rng.random(9),
                          sigmas=np.full(9, 6.0), box=24, apix=8.0)
    assert gf.map_vol is not None
    gf.n_spin.setValue(9)
    gf._on_result(FitResult(model=model, loss=0.01, history={"loss": np.linspace(1, 0.01, 20)}, message="fit done",
                            seconds=2.0))

    # eigen-motion: a result with per-particle coordinates, sliders moved
    mo = w.panels["motion"]
    mo.set_model(model, "fit")
    mo._analysed(_motion_result(model))
    mo.sliders[0].setValue(40)
    coords_before = mo.result.coords.copy()
    c_before = mo.c.copy()

    # poses: the particle set, recovered orientations and the error curve
    po = w.panels["poses"]
    qtbot.waitUntil(lambda: po.quats is not None, timeout=10000)
    n = len(po.quats)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    po.recovered = q
    po.align = AlignResult(q_aligned=q, errors=rng.random(n), mirror=False, transform=np.eye(4), median_rad=0.1,
                           mean_rad=0.12, other_median_rad=float("nan"))
    po.err_hist = [(10, 0.5), (20, 0.2), (30, 0.1)]
    po.n_spin.setValue(321)
    from cryogui.core.poses.siamese import EmbeddingNet, SiameseConfig, TrainedDistance

    cfg = SiameseConfig(size=16, width=4, embed_dim=6, steps=7)
    po.model = TrainedDistance(EmbeddingNet(16, 6, 4, cfg.head), cfg, 24, [0.5, 0.3], [0.6])
    probe = rng.normal(size=(3, 24, 24)).astype(np.float32)
    emb_before = po.model.embed(probe)

    # layout: the user closed the Log dock
    w.docks["log"].hide()
    assert w.docks["jobs"].isVisible()
    folder = w.workspace.save(project / "session1")
    assert folder.name == "session1.cryogui" and (folder / "workspace.json").exists()
    _close(w)

    w2 = _window(qtbot)
    assert w2.workspace.open(folder)
    pk2 = w2.panels["picking"]
    pd.testing.assert_frame_equal(pk2.store.table(), picks_before)
    assert pk2.store._undo == undo_before and pk2.store._redo == redo_before
    assert pk2.current == "mic1" and pk2.threshold.value() == 63 and pk2.lowpass.value() == 12.0
    assert pk2.invert.isChecked() and pk2.truth is not None and len(pk2.truth) == 12
    assert pk2.store.count("mic0") == 4 and pk2.store.can_redo
    assert pk2.store.redo()  # the history works, not only looks right
    tuned = pk2._learned_model.state_dict()
    assert set(tuned) == set(tuned_before)
    for k, v in tuned_before.items():
        np.testing.assert_array_equal(tuned[k].numpy(), v)
    assert pk2.store.count("mic0") == 3

    pc2 = w2.panels["pointcloud"]
    assert pc2.n_points.value() == 37
    for m in ("trn", "cvt"):
        np.testing.assert_array_equal(pc2.results[m].points, pc.results[m].points)
        np.testing.assert_array_equal(pc2.results[m].weights, pc.results[m].weights)
        assert pc2.energy[m][1] == [0.5, 0.12]

    gf2 = w2.panels["gaussfit"]
    np.testing.assert_array_equal(gf2.model.positions, model.positions)
    np.testing.assert_array_equal(gf2.result.history["loss"], np.linspace(1, 0.01, 20))
    assert gf2.n_spin.value() == 9 and gf2.map_vol is not None

    mo2 = w2.panels["motion"]
    np.testing.assert_array_equal(mo2.result.coords, coords_before)
    np.testing.assert_allclose(mo2.c, c_before)
    assert mo2.sliders[0].value() == 40

    po2 = w2.panels["poses"]
    np.testing.assert_array_equal(po2.recovered, q)
    np.testing.assert_array_equal(po2.align.q_aligned, q)
    assert po2.err_hist == [(10, 0.5), (20, 0.2), (30, 0.1)] and po2.n_spin.value() == 321
    assert po2.quats is not None and len(po2.quats) == n
    # the trained distance network came back: same settings, same embeddings
    assert po2.model is not None and po2.model.config == cfg and po2.model.losses == [0.5, 0.3]
    np.testing.assert_allclose(po2.model.embed(probe), emb_before, rtol=1e-5, atol=1e-6)

    assert not w2.docks["log"].isVisible() and w2.docks["jobs"].isVisible()
    assert str(w2.workspace.recent()[0]).endswith("session1.cryogui")
    _close(w2)


def test_moved_file_is_named_and_the_rest_loads(qtbot, project, tmp_path):
    import shutil

    from PySide6.QtWidgets import QMessageBox

    p = tmp_path / "proj"
    (p / "d").mkdir(parents=True)
    shutil.copy(project / "data" / "mic0.mrc", p / "d" / "a.mrc")
    shutil.copy(project / "data" / "mic1.mrc", p / "d" / "b.mrc")
    w = _window(qtbot)
    w.open_paths([p / "d" / "a.mrc", p / "d" / "b.mrc"])
    w.panels["picking"].store.set_picks("b", {"x": [5.0], "y": [6.0]})
    folder = w.workspace.save(p / "ws")
    menu = [a.text() for a in w.menuBar().actions()[0].menu().actions()]
    assert {"Open wor&kspace...", "Save &workspace", "Save workspace &as...", "Recent &workspaces"} <= set(menu)
    assert w.workspace.save_action.shortcut().toString() == "Ctrl+S"
    w.panels["picking"].store.add("b", 9.0, 9.0)
    w.workspace.save_action.trigger()  # File > Save workspace writes to the current workspace
    _close(w)
    (p / "d" / "a.mrc").unlink()
    w2 = _window(qtbot)
    assert w2.workspace.open(folder)
    boxes = [b.text() for b in w2.findChildren(QMessageBox) if b.objectName() == "error_dialog"]
    assert any("a.mrc" in t and "moved" in t for t in boxes)
    assert list(w2.panels["picking"].mics) == ["b"]
    assert w2.panels["picking"].store.count("b") == 2
    _close(w2)


def test_autosave_after_a_crash_is_offered_and_restored(qtbot, project):
    from cryogui.app.workspace import autosave_folder, crash_autosave, maybe_offer_restore

    w = _window(qtbot)
    w.panels["pointcloud"].n_points.setValue(55)
    w.workspace.autosave()
    qtbot.waitUntil(lambda: (autosave_folder() / "workspace.json").exists(), timeout=10000)
    w.jobs.shutdown(3000)  # no close event: as if the process had been killed
    assert crash_autosave() is not None
    w2 = _window(qtbot)
    asked = []
    assert maybe_offer_restore(w2, ask=lambda text: asked.append(text) or True)
    assert asked and "did not close cleanly" in asked[0]
    assert w2.panels["pointcloud"].n_points.value() == 55
    assert crash_autosave() is None  # asked once per crash
    _close(w2)
    assert not maybe_offer_restore(_window(qtbot), ask=lambda text: pytest.fail("asked after a clean exit"))


def test_the_version_1_fixture_opens_in_the_window(qtbot):
    from pathlib import Path

    from PySide6.QtWidgets import QMessageBox

    fixture = Path(__file__).parent / "data" / "workspace_v1" / "demo.cryogui"
    w = _window(qtbot)
    assert w.workspace.open(fixture, remember=False)
    boxes = [b.text() for b in w.findChildren(QMessageBox) if b.objectName() == "error_dialog"]
    assert len(boxes) == 1 and "mic_a.mrc" in boxes[0]  # the one file it names is not there: said, not fatal
    pk = w.panels["picking"]
    assert pk.store.count("mic_a") == 2 and pk.store.can_redo and pk.threshold.value() == 42
    np.testing.assert_array_equal(w.panels["pointcloud"].results["trn"].points, np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(w.panels["gaussfit"].model.amplitudes, [1.0, 2.0, 3.0])
    _close(w)
