"""Gaussian-mixture fits: to a map, to particles (sanity milestones 3-4), cancel, divergence, density control, I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryogui.core.ctf import CTFParams
from cryogui.core.gmm import metrics
from cryogui.core.gmm.fit import FitControl, density_control, fit_map, fit_particles
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import project_model, render_model
from cryogui.core.gmm.sanity import run_sanity, truth_model
from cryogui.core.jobs import run_job
from cryogui.core.rotations import random_rotations
from cryogui.errors import InputError
from cryogui.io.gmm_json import load_model, read_cmm_positions, save_model, write_cmm

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small_map():
    truth = truth_model(10, box=24, apix=2.0, seed=1)
    return truth, render_model(truth, device="cpu")


def test_fit_map_recovers_small_mixture(small_map):
    truth, target = small_map
    snaps = []
    res = run_job(fit_map(target, 2.0, 10, iterations=150, lr=0.1, seed=0, report_every=25, device="cpu"),
                  snaps.append).value
    assert not res.diverged
    assert metrics.correlation(res.rendered, target) > 0.97
    losses = res.history["train"]
    assert losses[-1] < 0.2 * losses[0]
    # snapshots carry what the panel draws: positions, loss history, FSC curve
    s = snaps[-1]
    assert s.points.shape == (10, 3) and len(s.data["train_loss"]) == s.step and s.data["fsc"].shape == (13,)
    assert s.metrics["correlation"] > 0.9


def test_fit_map_anisotropic_and_point_cloud_init(small_map):
    truth, target = small_map
    rng = np.random.default_rng(0)
    pts = truth.positions + rng.normal(0, 1.0, truth.positions.shape)
    res = run_job(fit_map(target, 2.0, 10, iterations=60, anisotropic=True, init=pts, density_every=-1,
                          device="cpu")).value
    assert res.model.anisotropic and len(res.model) == 10
    assert metrics.correlation(res.rendered, target) > 0.97
    assert metrics.recovery(truth.positions, res.model.positions)["rmsd_A"] < \
        metrics.recovery(truth.positions, pts)["rmsd_A"]


def test_fit_map_bad_input():
    with pytest.raises(InputError, match="NaN"):
        next(fit_map(np.full((8, 8, 8), np.nan, np.float32), 1.0, 3))
    with pytest.raises(InputError, match="cube"):
        next(fit_map(np.zeros((8, 8, 4), np.float32), 1.0, 3))


def test_cancel_mid_run(small_map):
    _, target = small_map
    seen = []
    gen = fit_map(target, 2.0, 10, iterations=10_000, report_every=2, device="cpu")
    result = run_job(gen, seen.append, should_stop=lambda: len(seen) >= 3)
    assert result.value is None and result.n_snapshots == 3 and seen[-1].step == 6
    with pytest.raises(StopIteration):
        next(gen)  # closed: it computes nothing more


def test_divergence_stops_and_keeps_best(small_map):
    _, target = small_map
    ctl = FitControl(lr=0.05)
    gen = fit_map(target, 2.0, 10, iterations=400, control=ctl, report_every=5, device="cpu")
    snaps = []
    while True:
        try:
            snaps.append(next(gen))
        except StopIteration as stop:
            res = stop.value
            break
        if len(snaps) == 4:
            ctl.lr = 1e6  # the user drags the learning rate far too high while it runs
    assert res.diverged and "diverged" in res.message and "best" in res.message
    assert "diverged" in snaps[-1].message and snaps[-1].step < 400
    assert np.all(np.isfinite(res.model.positions)) and res.loss <= min(s.metrics["loss"] for s in snaps[:4])
    assert metrics.correlation(render_model(res.model, device="cpu"), target) > 0.8


def test_density_control_keeps_count_and_replaces_weak():
    m = GaussianModel(np.arange(30, dtype=float).reshape(10, 3), np.r_[np.ones(8), 1e-5, 1e-5],
                      sigmas=np.r_[np.full(5, 4.0), np.full(5, 1.0)])
    grad = np.r_[10.0, np.zeros(4), 5.0, np.zeros(4)]
    new, counts = density_control(m, grad, max_replace=0.5)
    assert len(new) == 10 and counts == {"pruned": 2, "split": 1, "cloned": 1}
    assert np.abs(new.amplitudes).min() > 0.1
    assert new.sigmas[0] < 4.0  # split children are narrower
    assert new.amplitudes[5] == pytest.approx(0.5)  # a clone halves the amplitude


def test_fit_particles_with_ctf_and_shifts():
    truth = truth_model(8, box=24, apix=2.0, seed=2)
    n = 160
    mats = random_rotations(n, seed=3)
    rng = np.random.default_rng(4)
    shifts = rng.normal(0, 2.0, (n, 2))
    ctf = CTFParams(rng.uniform(8000, 15000, n), rng.uniform(8000, 15000, n), rng.uniform(0, 180, n),
                    voltage=300.0, cs=2.7, amplitude_contrast=0.1)
    images = project_model(truth, mats, shifts, ctf, device="cpu")
    start = GaussianModel(truth.positions + rng.normal(0, 1.5, truth.positions.shape), truth.amplitudes * 0.8,
                          sigmas=truth.sigmas * 1.2)
    snaps = []
    res = run_job(fit_particles(images, mats, shifts, ctf, 2.0, 8, epochs=6, batch_size=32, init=start,
                                reference=render_model(truth, device="cpu"), lr=0.03, device="cpu"),
                  snaps.append).value
    rec = metrics.recovery(truth.positions, res.model.positions)
    start_rec = metrics.recovery(truth.positions, start.positions)
    assert rec["rmsd_A"] < 0.5 * start_rec["rmsd_A"]
    assert res.history["val"][-1] < 0.3 * res.history["val"][0] or res.history["val"][-1] < 0.01
    last = snaps[-1]
    assert last.data["strip"].shape == (3, 4, 24, 24)  # observed / rendered / residual
    assert "fsc" in last.data and last.metrics["correlation"] > 0.9
    with pytest.raises(InputError, match="poses"):
        next(fit_particles(images, mats[:10], shifts, ctf, 2.0, 8))


def test_sanity_milestones_recover_truth():
    out = run_job(run_sanity(n_gaussians=6, n_images=120, box=24, apix=2.0, epochs=6, noise_A=2.0,
                             device="cpu")).value
    pert = out["perturbed"]
    assert pert["rmsd_A"] < 0.5 * pert["start_rmsd_A"]
    assert np.isfinite(out["random"]["rmsd_A"])


def test_model_json_and_cmm_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    m = GaussianModel(rng.normal(size=(5, 3)), rng.uniform(1, 2, 5), scales=rng.uniform(1, 3, (5, 3)),
                      quats=rng.normal(size=(5, 4)), box=32, apix=1.5, origin=(10.0, 0.0, -5.0), meta={"k": 1})
    save_model(tmp_path / "m.json", m)
    back = load_model(tmp_path / "m.json")
    np.testing.assert_allclose(back.positions, m.positions, atol=1e-5)
    np.testing.assert_allclose(back.covariances(), m.covariances(), rtol=1e-6)
    assert back.box == 32 and back.apix == 1.5 and back.origin == (10.0, 0.0, -5.0)
    write_cmm(tmp_path / "m.cmm", m)
    pts = read_cmm_positions(tmp_path / "m.cmm")
    np.testing.assert_allclose(pts, m.positions + np.array([10.0, 0.0, -5.0]) + 16 * 1.5, atol=1e-3)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="bad.json"):
        load_model(tmp_path / "bad.json")
