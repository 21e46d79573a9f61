"""The seed's test case: a two-domain Gaussian model whose arm swings about a hinge, in K discrete classes.

A body (ellipsoid) and an arm (a rod from a hinge) are filled with isotropic Gaussians.  Class c has the motion
parameter ``t_c`` evenly spaced in [-1, 1]; at t the arm is rotated by ``t * max_angle`` about the z axis through the
hinge (a planar motion, as in the seed).  Particles get a class at random, a random pose, a small origin shift, a CTF
(defocus 2-3.5 um by default) and Gaussian noise at the requested SNR (signal variance over the stack / noise
variance).  The ground truth is the class and motion parameter per particle and the displacement field
``d p_j / d t`` at t = 0 (zero on the body).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cryogui.core.ctf import CTFParams, apply_ctf
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import project_iso
from cryogui.core.rotations import matrix_to_euler, random_rotations
from cryogui.core.simulate.particles import random_ctf
from cryogui.errors import InputError


@dataclass
class MotionSimulation:
    stack: np.ndarray  # (n, box, box) float32, protein white
    table: pd.DataFrame  # rln columns (angles, origins in Angstrom, CTF, optics)
    model: GaussianModel  # the consensus (t = 0) model
    truth: pd.DataFrame  # class, motion per particle
    displacement: np.ndarray  # (K, 3) d positions / d t at t = 0 (Angstrom per unit t)
    moving: np.ndarray  # (K,) bool: Gaussians of the moving domain
    hinge: np.ndarray  # (3,)
    max_angle_deg: float


def _fill(rng, n, centre, semi_axes):
    pts = []
    while len(pts) < n:
        u = rng.uniform(-1, 1, size=(4 * n, 3))
        u = u[(u**2).sum(1) <= 1]
        pts.extend(u.tolist())
    return np.asarray(pts[:n]) * np.asarray(semi_axes) + np.asarray(centre)


def motion_model(n_gaussians: int = 128, box: int = 64, apix: float = 4.0, seed: int = 0, arm_fraction=0.4):
    """The rest (t = 0) model, the moving mask and the hinge, scaled to the box (particle about 55% of it)."""
    if n_gaussians < 8:
        raise InputError("--gaussians: at least 8 Gaussians")
    rng = np.random.default_rng(seed)
    size = 0.55 * box * apix  # particle extent in Angstrom
    n_arm = max(3, int(round(arm_fraction * n_gaussians)))
    n_body = n_gaussians - n_arm
    body = _fill(rng, n_body, (-0.18 * size, 0, 0), (0.28 * size, 0.2 * size, 0.2 * size))
    hinge = np.array([0.08 * size, 0.0, 0.0])
    arm = _fill(rng, n_arm, hinge + (0.2 * size, 0.0, 0.0), (0.2 * size, 0.08 * size, 0.08 * size))
    pos = np.concatenate([body, arm])
    moving = np.zeros(n_gaussians, bool)
    moving[n_body:] = True
    vol_per = (4 / 3 * np.pi * (0.28 * 0.2 * 0.2 + 0.2 * 0.08 * 0.08) * size**3) / n_gaussians
    sigma = max(1.0 * apix, 0.6 * vol_per ** (1 / 3))
    model = GaussianModel(pos, np.ones(n_gaussians), sigmas=np.full(n_gaussians, sigma), box=box, apix=apix,
                          meta={"source": "simulate motion", "seed": seed})
    return model, moving, hinge


def positions_at(model: GaussianModel, moving: np.ndarray, hinge: np.ndarray, t, max_angle_deg: float):
    """Positions ``(..., K, 3)`` at motion parameter(s) ``t``: the arm rotated by ``t * max_angle`` about z."""
    t = np.asarray(t, dtype=np.float64)
    ang = np.deg2rad(max_angle_deg) * t[..., None]
    c, s = np.cos(ang), np.sin(ang)
    d = model.positions[moving] - hinge
    x = c * d[None, :, 0] - s * d[None, :, 1] if t.ndim else c * d[:, 0] - s * d[:, 1]
    y = s * d[None, :, 0] + c * d[None, :, 1] if t.ndim else s * d[:, 0] + c * d[:, 1]
    out = np.broadcast_to(model.positions, t.shape + model.positions.shape).copy()
    out[..., moving, 0] = x + hinge[0]
    out[..., moving, 1] = y + hinge[1]
    return out


def simulate_motion(n_particles: int = 3000, n_classes: int = 11, snr: float | None = 1.0, box: int = 64,
                    apix: float = 4.0, n_gaussians: int = 128, max_angle_deg: float = 15.0, seed: int = 0,
                    defocus_range=(20000.0, 35000.0), max_shift_A: float = 4.0, batch: int = 256,
                    device=None) -> MotionSimulation:
    """Particles of the swinging-arm model (see the module docstring); ``snr=None`` or 0: noiseless."""
    if n_particles < 1:
        raise InputError("--particles must be at least 1")
    if n_classes < 1:
        raise InputError("--classes must be at least 1")
    if box < 16:
        raise InputError(f"--box {box}: at least 16 pixels")
    rng = np.random.default_rng(seed)
    model, moving, hinge = motion_model(n_gaussians, box, apix, seed)
    levels = np.linspace(-1, 1, n_classes) if n_classes > 1 else np.zeros(1)
    cls = rng.integers(0, n_classes, size=n_particles)
    t = levels[cls]
    mats = random_rotations(n_particles, seed=seed + 1)
    angles = matrix_to_euler(mats)
    shifts = rng.uniform(-max_shift_A, max_shift_A, size=(n_particles, 2)) if max_shift_A > 0 else \
        np.zeros((n_particles, 2))
    du, dv, ang = random_ctf(n_particles, rng, defocus_range)
    params = CTFParams(du, dv, ang)
    sig = torch.tensor(model.sigmas, dtype=torch.float32, device=device)
    amp = torch.tensor(model.amplitudes, dtype=torch.float32, device=device)
    out = []
    with torch.no_grad():
        for s in range(0, n_particles, batch):
            sl = slice(s, min(n_particles, s + batch))
            pos = torch.tensor(positions_at(model, moving, hinge, t[sl], max_angle_deg), dtype=torch.float32,
                               device=device)
            img = project_iso(pos, amp, sig, mats[sl], shifts[sl], box=box, apix=apix)
            sub = CTFParams(du[sl], dv[sl], ang[sl])
            out.append(apply_ctf(img, sub, apix).cpu().numpy())
    images = np.concatenate(out).astype(np.float64)
    if snr is not None and snr > 0:
        images = images + rng.normal(scale=np.sqrt(float(np.var(images)) / snr), size=images.shape)
    table = pd.DataFrame({
        "rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2],
        "rlnOriginXAngst": shifts[:, 0], "rlnOriginYAngst": shifts[:, 1],
        "rlnDefocusU": du, "rlnDefocusV": dv, "rlnDefocusAngle": ang,
        "rlnVoltage": params.voltage, "rlnSphericalAberration": params.cs,
        "rlnAmplitudeContrast": params.amplitude_contrast})
    truth = pd.DataFrame({"particle": np.arange(1, n_particles + 1), "class": cls, "motion": t})
    disp = np.zeros_like(model.positions)
    d = model.positions[moving] - hinge
    w = np.deg2rad(max_angle_deg)
    disp[moving, 0] = -w * d[:, 1]
    disp[moving, 1] = w * d[:, 0]
    return MotionSimulation(images.astype(np.float32), table, model, truth, disp, moving, hinge, max_angle_deg)
