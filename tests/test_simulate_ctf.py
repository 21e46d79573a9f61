from __future__ import annotations

import numpy as np
import pytest
import torch

from cryogui.core.ctf import CTFParams, ctf_2d, electron_wavelength
from cryogui.core.simulate.maps import demo_map
from cryogui.core.simulate.particles import simulate_particles


def test_wavelengths_known_values():
    assert electron_wavelength(300) == pytest.approx(0.019687, abs=2e-6)
    assert electron_wavelength(200) == pytest.approx(0.025079, abs=2e-6)


def test_ctf_zero_frequency_and_first_zero():
    q0 = 0.1
    p = CTFParams(np.array([20000.0]), np.array([20000.0]), np.array([0.0]), voltage=300, cs=0.0,
                  amplitude_contrast=q0)
    box, apix = 256, 1.0
    ctf = ctf_2d(p, box, apix, rfft=True)[0].double().numpy()
    assert ctf[0, 0] == pytest.approx(q0, abs=1e-4)  # sin(atan(q0 / sqrt(1 - q0^2))) = q0
    lam = electron_wavelength(300)
    k3 = np.arctan(q0 / np.sqrt(1 - q0 * q0))
    s_zero = np.sqrt((np.pi - k3) / (np.pi * lam * 20000.0))
    s = np.fft.rfftfreq(box, d=apix)
    row = ctf[0]
    first_sign_change = np.argmax(np.sign(row[1:]) != np.sign(row[:-1]))
    assert s[first_sign_change] <= s_zero <= s[first_sign_change + 1]
    assert row[1] > 0  # positive at low frequency: protein stays white


def test_ctf_astigmatism_direction():
    p = CTFParams(np.array([25000.0]), np.array([15000.0]), np.array([0.0]), cs=2.7)
    c = ctf_2d(p, 128, 2.0, rfft=False)[0].numpy()
    # stronger defocus along x (angle 0 = defocus U): rings closer together along x than along y
    zx = np.sum(np.diff(np.sign(c[0, :64])) != 0)
    zy = np.sum(np.diff(np.sign(c[:64, 0])) != 0)
    assert zx > zy


def test_demo_map_is_deterministic_and_asymmetric():
    a, b = demo_map(seed=0), demo_map(seed=0)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.apix == 4.0 and a.shape == (64, 64, 64)
    assert a.data.max() == pytest.approx(1.0)
    assert not np.allclose(a.data, a.data[::-1, ::-1, ::-1], atol=0.05)
    assert not np.allclose(a.data, demo_map(seed=1).data)


def test_simulated_particles_snr_and_ctf_columns():
    vol = demo_map(box=32, apix=8.0)
    clean, t_clean = simulate_particles(vol.data, 8.0, 40, snr=None, seed=3, device="cpu")
    noisy, t_noisy = simulate_particles(vol.data, 8.0, 40, snr=0.5, seed=3, device="cpu")
    np.testing.assert_allclose(t_clean["rlnAngleRot"], t_noisy["rlnAngleRot"])
    noise = noisy - clean
    assert np.var(clean) / np.var(noise) == pytest.approx(0.5, rel=0.1)
    assert {"rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"} <= set(t_clean.columns)
    assert t_clean["rlnDefocusU"].between(15000, 35000).all()
    # protein white: the mean of the centre of CTF-free projections is positive
    free, _ = simulate_particles(vol.data, 8.0, 5, snr=None, ctf=False, seed=3, device="cpu")
    assert free[:, 12:20, 12:20].mean() > 0
