"""Eigen-motion core: FRC and its gradient, PCA of planted motions, per-particle coordinates, trajectory."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from cryogui.core.ctf import CTFParams, apply_ctf
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import project_iso
from cryogui.core.jobs import run_job
from cryogui.core.motion.conformation import fit_coordinates
from cryogui.core.motion.gradients import (ParticleData, Scorer, check_model_fits, image_plane_gradients,
                                           mean_frc, particle_gradients)
from cryogui.core.motion.job import run_motion_analysis
from cryogui.core.motion.nonlinear import fit_autoencoder
from cryogui.core.motion.pca import cosine_similarity, eigen_motions, flexibility
from cryogui.core.motion.simulate import positions_at, simulate_motion
from cryogui.core.motion.trajectory import model_at, refit_subset, render_at, select_range
from cryogui.core.rotations import euler_to_matrix, random_rotations
from cryogui.errors import InputError

torch.set_num_threads(1)


def _data(sim, apix=4.0):
    df = sim.table
    ctf = CTFParams(df.rlnDefocusU.to_numpy(), df.rlnDefocusV.to_numpy(), df.rlnDefocusAngle.to_numpy())
    mats = euler_to_matrix(df[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
    return ParticleData(sim.stack, mats, df[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy(), ctf, apix)


def _drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.fixture(scope="module")
def small():
    return simulate_motion(24, 3, snr=1.0, box=32, apix=4.0, n_gaussians=24, seed=3)


@pytest.mark.parametrize("box", [32, 33])
def test_fast_frc_matches_real_space_reference(box):
    sim = simulate_motion(12, 3, snr=1.0, box=box, apix=4.0, n_gaussians=16, seed=1)
    data = _data(sim)
    sc = Scorer(sim.model, data, rings=6)
    imgs, mats, shifts, ctf = sc.batch(slice(0, 12))
    fast = sc.score(sc.pos, sc.amp, imgs, mats, shifts, ctf)
    ref_img = apply_ctf(project_iso(sc.pos, sc.amp, sc.sigma, mats, shifts, box=box, apix=4.0), data.ctf, 4.0)
    ref = mean_frc(ref_img, torch.as_tensor(sim.stack), 6)
    assert torch.allclose(fast, ref, atol=1e-4)
    assert float(fast.min()) > 0.1  # the model does explain the particles


def test_frc_gradient_matches_finite_differences(small):
    data = _data(small)
    model = small.model
    res = _drain(particle_gradients(model, data, rings=6, batch=10, dtype=torch.float64))
    assert res.grad_pos.shape == (24, 24, 3) and res.grad_amp.shape == (24, 24)
    sc = Scorer(model, data, rings=6, dtype=torch.float64)
    rng = np.random.default_rng(0)
    eps = 1e-3
    for _ in range(6):
        i, j, ax = int(rng.integers(24)), int(rng.integers(24)), int(rng.integers(3))
        imgs, mats, shifts, ctf = sc.batch(slice(i, i + 1))

        def f(dp=0.0, da=0.0):
            pos = sc.pos.clone()
            pos[j, ax] += dp
            amp = sc.amp.clone()
            amp[j] += da
            return float(sc.score(pos, amp, imgs, mats, shifts, ctf)[0])
        num = (f(dp=eps) - f(dp=-eps)) / (2 * eps)
        assert res.grad_pos[i, j, ax] == pytest.approx(num, rel=1e-3, abs=1e-7)
        num_a = (f(da=eps) - f(da=-eps)) / (2 * eps)
        assert res.grad_amp[i, j] == pytest.approx(num_a, rel=1e-3, abs=1e-7)


def test_gradients_lie_in_each_projection_plane(small):
    data = _data(small)
    res = _drain(particle_gradients(small.model, data, rings=6))
    beam = data.mats[:, 2, :]  # third row of A: the beam direction in the reference frame
    along = np.abs(np.einsum("nkj,nj->nk", res.grad_pos, beam))
    assert along.max() < 1e-3 * np.abs(res.grad_pos).max()
    g2 = image_plane_gradients(res.grad_pos, data.mats)
    np.testing.assert_allclose(np.linalg.norm(g2, axis=-1), np.linalg.norm(res.grad_pos, axis=-1), rtol=1e-3,
                               atol=1e-9)


def test_pca_recovers_planted_motion_from_projected_gradients():
    rng = np.random.default_rng(0)
    k, n = 20, 400
    v = np.zeros((k, 3))
    v[12:] = rng.normal(size=(8, 3))  # only 8 Gaussians move
    mats = random_rotations(n, seed=2)
    c = rng.uniform(-1, 1, n)
    proj = np.eye(3)[None] - mats[:, 2, :, None] * mats[:, 2, None, :]  # projection onto each image plane
    grad = c[:, None, None] * np.einsum("nij,kj->nki", proj, v) + 1e-3 * rng.normal(size=(n, k, 3))
    pca = eigen_motions(grad, 2, normalize_particles=False)
    assert cosine_similarity(pca.vectors[0], v) > 0.9
    assert pca.explained_variance[0] > 0.5
    assert abs(spearmanr(pca.scores[:, 0], c).correlation) > 0.95
    assert np.linalg.norm(pca.vectors[0], axis=1).max() == pytest.approx(1.0)
    flex = flexibility(grad)
    assert flex[12:].min() > 10 * flex[:12].max()
    focused = eigen_motions(grad, 1, focus=np.arange(12, 20), normalize_particles=False)
    assert np.all(focused.vectors[0, :12] == 0) and cosine_similarity(focused.vectors[0], v) > 0.9
    with pytest.raises(InputError):
        eigen_motions(grad[:2], 2)


def test_pipeline_finds_the_swinging_arm_noiseless():
    sim = simulate_motion(160, 5, snr=None, box=32, apix=6.0, n_gaussians=32, seed=0, max_angle_deg=20)
    result = run_job(run_motion_analysis(sim.model, _data(sim, 6.0), n_modes=2, coord_modes=1, grid=9, steps=5,
                                         device=torch.device("cpu"))).value
    assert result.vectors.shape == (2, 32, 3)
    assert cosine_similarity(result.vectors[0], sim.displacement) > 0.7
    assert result.flexibility[sim.moving].mean() > 2 * result.flexibility[~sim.moving].mean()
    assert abs(spearmanr(result.coords[:, 0], sim.truth["motion"]).correlation) > 0.9
    assert result.frc_after.mean() > result.frc_before.mean()
    assert result.explained_variance[0] >= result.explained_variance[1]


def test_coordinate_of_particles_rendered_at_known_c():
    sim = simulate_motion(6, 1, snr=None, box=32, apix=4.0, n_gaussians=24, seed=4)
    model = sim.model
    v = sim.displacement / np.linalg.norm(sim.displacement, axis=1).max()
    c_true = np.array([-6.0, -2.5, 0.0, 1.5, 4.0, 7.0])
    data = _data(sim)
    pos = torch.as_tensor(model.positions[None] + c_true[:, None, None] * v[None], dtype=torch.float32)
    img = project_iso(pos, torch.as_tensor(model.amplitudes, dtype=torch.float32),
                      torch.as_tensor(model.sigmas, dtype=torch.float32), data.mats, data.shifts_A, box=32, apix=4.0)
    data.images = apply_ctf(img, data.ctf, 4.0).numpy()
    coords, frc = _drain(fit_coordinates(model, data, v[None], c_range=10.0, grid=11, steps=30))
    np.testing.assert_allclose(coords[:, 0], c_true, atol=0.3)
    assert frc.min() > 0.99
    coarse, _ = _drain(fit_coordinates(model, data, v[None], c_range=10.0, grid=11, steps=0))  # grid + parabola
    np.testing.assert_allclose(coarse[:, 0], c_true, atol=0.8)
    assert np.abs(coarse[:, 0] - c_true).mean() < np.abs(np.round(c_true / 2) * 2 - c_true).mean() + 0.2


def test_bad_inputs_are_input_errors(small):
    data = _data(small)
    wrong_box = GaussianModel(small.model.positions, small.model.amplitudes, sigmas=small.model.sigmas, box=64,
                              apix=4.0)
    with pytest.raises(InputError, match="box"):
        check_model_fits(wrong_box, data)
    wrong_apix = GaussianModel(small.model.positions, small.model.amplitudes, sigmas=small.model.sigmas, box=32,
                               apix=2.0)
    with pytest.raises(InputError, match="A/px"):
        next(run_motion_analysis(wrong_apix, data))
    with pytest.raises(InputError, match="too few"):
        next(run_motion_analysis(small.model, data.subset(np.arange(6)), n_modes=3))
    with pytest.raises(InputError):
        ParticleData(np.zeros((3, 8, 9)), np.zeros((3, 3, 3)), None, None, 1.0)


def test_autoencoder_compared_with_pca_on_same_data():
    rng = np.random.default_rng(1)
    n, k = 300, 10
    t = rng.uniform(-1, 1, n)
    v1, v2 = rng.normal(size=(k, 3)), rng.normal(size=(k, 3))
    grad = t[:, None, None] * v1 + (t**2)[:, None, None] * v2 + 0.01 * rng.normal(size=(n, k, 3))
    ae = _drain(fit_autoencoder(grad, 1, epochs=150, seed=0, normalize_particles=False))
    assert ae.latent.shape == (n, 1) and ae.decoded_path.shape[1:] == (k, 3)
    assert 0 < ae.pca_explained_variance < 1
    # a curved one-parameter trajectory: the non-linear latent explains more than one linear component
    assert ae.explained_variance > ae.pca_explained_variance
    assert abs(spearmanr(ae.latent[:, 0], t).correlation) > 0.8


def test_trajectory_model_render_and_refit():
    sim = simulate_motion(60, 3, snr=None, box=32, apix=4.0, n_gaussians=24, seed=5)
    v = sim.displacement / np.linalg.norm(sim.displacement, axis=1).max()
    moved = model_at(sim.model, v[None], [3.0])
    np.testing.assert_allclose(moved.positions, sim.model.positions + 3.0 * v)
    vol0 = render_at(sim.model, v[None], [0.0], device=torch.device("cpu"))
    vol1 = render_at(sim.model, v[None], [8.0], device=torch.device("cpu"))
    assert vol0.shape == (32, 32, 32) and np.abs(vol1 - vol0).max() > 0.1 * vol0.max()
    np.testing.assert_allclose(positions_at(sim.model, sim.moving, sim.hinge, 0.0, 15), sim.model.positions)
    data = _data(sim)
    idx = np.nonzero(sim.truth["motion"].to_numpy() == 1.0)[0]
    sub = data.subset(idx)
    sc = Scorer(sim.model, sub, rings=8)
    before = float(sc.score(sc.pos, sc.amp, *sc.batch(slice(0, len(sub)))).mean())
    refit = _drain(refit_subset(sim.model, sub, steps=30))
    sc2 = Scorer(refit, sub, rings=8)
    after = float(sc2.score(sc2.pos, sc2.amp, *sc2.batch(slice(0, len(sub)))).mean())
    assert after > before
    # the arm moved towards its t = 1 position, the body stayed
    target = positions_at(sim.model, sim.moving, sim.hinge, 1.0, 15)
    err0 = np.linalg.norm(sim.model.positions[sim.moving] - target[sim.moving], axis=1).mean()
    err1 = np.linalg.norm(refit.positions[sim.moving] - target[sim.moving], axis=1).mean()
    assert err1 < err0
    assert list(select_range(np.array([[-2.0], [0.5], [1.5], [3.0]]), 0.0, 2.0)) == [1, 2]


def test_simulation_ground_truth():
    sim = simulate_motion(50, 11, snr=1.0, box=32, apix=4.0, n_gaussians=20, seed=7)
    assert sim.stack.shape == (50, 32, 32) and sim.stack.dtype == np.float32
    assert set(sim.truth["class"]) <= set(range(11))
    np.testing.assert_allclose(sim.truth["motion"], np.linspace(-1, 1, 11)[sim.truth["class"]])
    assert np.all(sim.displacement[~sim.moving] == 0) and np.abs(sim.displacement[sim.moving]).max() > 1
    assert {"rlnAngleRot", "rlnDefocusU", "rlnOriginXAngst"} <= set(sim.table.columns)
    assert sim.table["rlnDefocusU"].between(20000, 35000).all()
    with pytest.raises(InputError):
        simulate_motion(0)


def test_line_search_recurrence_matches_direct_scores(small):
    data = _data(small)
    sc = Scorer(small.model, data, rings=6)
    imgs, mats, shifts, ctf = sc.batch(slice(0, 12))
    v = torch.as_tensor(small.displacement / np.abs(small.displacement).max(), dtype=torch.float32)
    values = torch.linspace(-8, 8, 9)
    fast = sc.line_scores(sc.pos, sc.amp, v, values, imgs, mats, shifts, ctf)
    direct = torch.stack([sc.score(sc.pos + val * v, sc.amp, imgs, mats, shifts, ctf) for val in values])
    assert torch.allclose(fast, direct, atol=1e-4)
    assert float((fast.max(0).values - fast.min(0).values).min()) > 1e-3  # the scores do vary along the line
