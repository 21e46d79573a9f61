"""Gaussian-mixture rendering: analytic projections, voxel projections, fast vs reference paths, gradients, CTF,
FSC/FRC and recovery metrics."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from cryogui.core.ctf import CTFParams, ctf_2d, electron_wavelength
from cryogui.core.gmm import metrics
from cryogui.core.gmm import render as R
from cryogui.core.gmm.model import GaussianModel, GMMTensors
from cryogui.core.projector import project
from cryogui.core.rotations import euler_to_matrix, random_rotations

torch.set_num_threads(1)


def _random_model(n=20, box=32, apix=2.0, aniso=False, seed=0):
    rng = np.random.default_rng(seed)
    kw = dict(scales=rng.uniform(2, 5, (n, 3)), quats=rng.normal(size=(n, 4))) if aniso else \
        dict(sigmas=rng.uniform(2.5, 5, n))
    return GaussianModel(rng.normal(0, 7, (n, 3)), rng.uniform(0.5, 1.5, n), box=box, apix=apix, **kw)


def test_single_gaussian_projection_matches_analytic_formula():
    box, apix, sigma, amp = 32, 2.0, 4.0, 1.5
    p = np.array([6.0, -4.0, 3.0])
    m = GaussianModel(p[None], [amp], sigmas=[sigma], box=box, apix=apix)
    ang = np.array([[30.0, 60.0, -20.0]])
    shift = np.array([[3.0, -5.0]])
    img = R.project_model(m, euler_to_matrix(ang), shift, device="cpu")[0]
    a = euler_to_matrix(ang)[0]
    c = (a @ p)[:2] - shift[0]  # RELION: origin is subtracted
    x = (np.arange(box) - box // 2) * apix
    yy, xx = np.meshgrid(x, x, indexing="ij")
    expect = amp * math.sqrt(2 * math.pi) * sigma / apix * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2)
                                                                  / (2 * sigma**2))
    np.testing.assert_allclose(img, expect, atol=1e-4 * expect.max())
    # the integral of the image is the Gaussian's mass divided by the pixel volume
    mass = amp * (2 * math.pi) ** 1.5 * sigma**3 / apix**3
    assert img.sum() == pytest.approx(mass, rel=1e-3)


def test_anisotropic_projection_matches_numerical_line_integral():
    box, apix = 24, 2.0
    m = _random_model(1, box, apix, aniso=True, seed=3)
    m.positions[:] = [[2.0, -1.0, 1.5]]
    mat = euler_to_matrix([[40.0, 70.0, 10.0]])
    img = R.project_model(m, mat, device="cpu")[0]
    # brute force: integrate the 3D Gaussian along the beam, z sampled finely
    a = mat[0]
    inv = np.linalg.inv(m.covariances()[0])
    x = (np.arange(box) - box // 2) * apix
    zs = np.linspace(-30, 30, 1201)
    yy, xx, zz = np.meshgrid(x, x, zs, indexing="ij")
    r_img = np.stack([xx, yy, zz], -1)
    r_ref = r_img @ a - m.positions[0]  # A^T r - p  (row vector times A)
    q = np.einsum("...i,ij,...j->...", r_ref, inv, r_ref)
    expect = m.amplitudes[0] * np.trapezoid(np.exp(-0.5 * q), zs, axis=-1) / apix
    np.testing.assert_allclose(img, expect, atol=2e-3 * expect.max())


@pytest.mark.parametrize("aniso", [False, True])
def test_gaussian_projection_matches_voxel_projector(aniso):
    box, apix = 32, 2.0
    m = _random_model(15, box, apix, aniso=aniso)
    vol = R.render_model(m, device="cpu")
    mats = euler_to_matrix([[0, 0, 0], [30, 60, -20], [-100, 120, 45]])
    shifts = np.array([[0.0, 0.0], [2.0, -4.0], [-3.0, 1.0]])
    pv = project(vol, mats, apix, shifts, device="cpu")
    pg = R.project_model(m, mats, shifts, device="cpu")
    # trilinear interpolation in the voxel projector blurs slightly: a few percent of the peak
    assert np.abs(pv - pg).max() < 0.05 * pg.max()
    assert pv.sum() == pytest.approx(pg.sum(), rel=0.01)
    assert metrics.correlation(pv, pg) > 0.999


def test_fast_paths_match_dense_reference_batched_positions():
    box, apix, b = 32, 2.0, 4
    m = _random_model(25, box, apix, aniso=True, seed=1)
    mats = torch.tensor(random_rotations(b, seed=2), dtype=torch.float32)
    shifts = torch.randn(b, 2)
    rng = np.random.default_rng(5)
    pos = torch.tensor(m.positions[None] + rng.normal(0, 1.0, (b, 25, 3)), dtype=torch.float32)  # per particle
    amp = torch.tensor(np.tile(m.amplitudes, (b, 1)), dtype=torch.float32)
    cov = torch.tensor(m.covariances(), dtype=torch.float32)
    fast = R.project_aniso(pos, amp, cov, mats, shifts, box=box, apix=apix)
    dense = R.project_dense(pos, amp, cov, mats, shifts, box=box, apix=apix)
    assert (fast - dense).abs().max() < 2e-3 * dense.abs().max()
    sig = torch.tensor(m.sigmas, dtype=torch.float32)
    fast_i = R.project_iso(pos, amp, sig, mats, shifts, box=box, apix=apix)
    dense_i = R.project_dense(pos, amp, sig, mats, shifts, box=box, apix=apix)
    assert (fast_i - dense_i).abs().max() < 1e-4 * dense_i.abs().max()
    # each particle's image depends on its own positions: moving particle 0's Gaussians changes only image 0
    pos2 = pos.clone()
    pos2[0] += 3.0
    moved = R.project_iso(pos2, amp, sig, mats, shifts, box=box, apix=apix)
    assert (moved[0] - fast_i[0]).abs().max() > 0.1 * fast_i[0].max()
    assert torch.equal(moved[1:], fast_i[1:])


def test_volume_footprint_paths_match_dense():
    box, apix = 32, 2.0
    m = _random_model(20, box, apix)
    m.sigmas[0] = 30.0  # one wide Gaussian goes through the dense path
    g = GMMTensors(m, requires_grad=False)
    foot = R.render_volume_iso(g.pos, g.amp, g.sigma, box=box, apix=apix)
    dense = R.render_volume_iso(g.pos, g.amp, g.sigma, box=box, apix=apix, truncate=0)
    assert (foot - dense).abs().max() < 2e-3 * dense.max()
    aniso = R.render_model(m.to_anisotropic(), device="cpu")
    assert np.abs(aniso - dense.numpy()).max() < 5e-3 * float(dense.max())
    # the grid is centred at box//2: a Gaussian at the origin peaks at voxel (16, 16, 16)
    one = GaussianModel([[0.0, 0.0, 0.0]], [1.0], sigmas=[3.0], box=box, apix=apix)
    v = R.render_model(one, device="cpu")
    assert np.unravel_index(v.argmax(), v.shape) == (16, 16, 16)
    assert v.max() == pytest.approx(1.0, rel=1e-5)


def test_gradients_match_finite_differences():
    box, apix = 8, 2.5
    m = _random_model(3, box, apix, aniso=True, seed=4)
    m.positions *= 0.3
    mats = torch.tensor(random_rotations(2, seed=1), dtype=torch.float64)
    shifts = torch.tensor([[1.0, -0.5], [0.0, 0.7]], dtype=torch.float64)
    pos = torch.tensor(m.positions, dtype=torch.float64, requires_grad=True)
    amp = torch.tensor(m.amplitudes, dtype=torch.float64, requires_grad=True)
    sig = torch.tensor(m.sigmas, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, a, s: R.project_iso(p, a, s, mats, shifts, box=box, apix=apix), (pos, amp, sig), eps=1e-6,
        atol=1e-5)
    from cryogui.core.gmm.model import covariance_from_scales
    ls = torch.tensor(np.log(m.scales), dtype=torch.float64, requires_grad=True)
    q = torch.tensor(m.quats, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, a, l_, q_: R.project_aniso(p, a, covariance_from_scales(l_, q_), mats, shifts, box=box, apix=apix,
                                             half_width=box // 2),
        (pos, amp, ls, q), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(
        lambda p, a, s: R.render_volume_iso(p, a, s, box=box, apix=apix), (pos, amp, sig), eps=1e-6, atol=1e-5)
    # FRC (what the eigen-motion panel differentiates) w.r.t. positions, batched over particles
    target = R.project_iso(pos.detach() + 0.5, amp.detach(), sig.detach(), mats, shifts, box=box, apix=apix)
    assert torch.autograd.gradcheck(
        lambda p: metrics.frc(R.project_iso(p, amp.detach(), sig.detach(), mats, shifts, box=box, apix=apix),
                              target)[:, 1:4].sum(), (pos,), eps=1e-6, atol=1e-5)


def test_ctf_known_values():
    assert electron_wavelength(300.0) == pytest.approx(0.019687, abs=2e-6)
    assert electron_wavelength(200.0) == pytest.approx(0.025079, abs=2e-6)
    box, apix, df = 128, 1.0, 20000.0
    p = CTFParams(np.array([df]), np.array([df]), np.array([0.0]), voltage=300.0, cs=2.7, amplitude_contrast=0.1)
    c = ctf_2d(p, box, apix, rfft=True, device="cpu", dtype=torch.float64)[0]
    assert float(c[0, 0]) == pytest.approx(0.1, abs=1e-9)  # amplitude contrast at zero frequency, positive
    # along x: CTF(s) = sin(pi lam df s^2 - pi/2 Cs lam^3 s^4 + asin(Q0))  (RELION sign: positive at low s)
    lam = electron_wavelength(300.0)
    s = np.arange(box // 2 + 1) / (box * apix)
    chi = np.pi * lam * df * s**2 - np.pi / 2 * 2.7e7 * lam**3 * s**4 + np.arcsin(0.1)
    np.testing.assert_allclose(c[0].numpy(), np.sin(chi), atol=1e-6)
    # astigmatism: the defocus U acts along the defocus angle
    pa = CTFParams(np.array([25000.0]), np.array([15000.0]), np.array([0.0]))
    ca = ctf_2d(pa, box, apix, rfft=True, device="cpu", dtype=torch.float64)[0]
    chi_u = np.pi * lam * 25000 * s**2 - np.pi / 2 * 2.7e7 * lam**3 * s**4 + np.arcsin(0.1)
    np.testing.assert_allclose(ca[0].numpy(), np.sin(chi_u), atol=1e-6)


def test_fsc_known_cases():
    rng = np.random.default_rng(0)
    box, apix = 32, 2.0
    a = rng.normal(size=(box,) * 3)
    freqs, curve = metrics.fsc(a, a, apix)
    np.testing.assert_allclose(curve, 1.0, atol=1e-9)
    assert metrics.resolution_at(freqs, curve, 0.143) == pytest.approx(2 * apix)  # Nyquist
    # independent noise: FSC near 0 beyond the first shells, resolution is poor
    b = rng.normal(size=(box,) * 3)
    _, c2 = metrics.fsc(a, b, apix)
    assert np.abs(c2[3:]).max() < 0.25
    # a low-pass copy: FSC 1 below shell 8, 0 above -> resolution ~ box * apix / 8 = 8 A
    fa = np.fft.fftn(a)
    k = np.fft.fftfreq(box) * box
    r = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    lp = np.real(np.fft.ifftn(np.where(np.round(r) <= 8, fa, 0)))
    res = metrics.fsc_resolution(a, lp, apix)
    assert 7.0 < res["fsc05_A"] < 8.5 and 7.0 < res["fsc0143_A"] < 8.5
    assert res["fsc"][5] == pytest.approx(1.0, abs=1e-6) and abs(res["fsc"][12]) < 0.1


def test_frc_and_correlation_and_recovery():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(3, 16, 16)))
    np.testing.assert_allclose(metrics.frc(x, x).numpy(), 1.0, atol=1e-9)
    np.testing.assert_allclose(metrics.frc(x, -x).numpy(), -1.0, atol=1e-9)
    assert metrics.correlation(x.numpy(), 2 * x.numpy() + 1) == pytest.approx(1.0)
    true = rng.normal(0, 20, (30, 3))
    perm = rng.permutation(30)
    rec = metrics.recovery(true, true[perm] + np.array([0.0, 0.0, 1.5]))
    assert rec["rmsd_A"] == pytest.approx(1.5, abs=1e-9)
    assert np.array_equal(perm[rec["fit_index"]], rec["true_index"])


def test_core_gmm_imports_no_qt():
    code = ("import sys, cryogui.core.gmm.fit, cryogui.core.gmm.sanity, cryogui.io.gmm_json, cryogui.cli.fit;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','vispy','superqt')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
