"""Particle images: projections of a map at known poses, with CTF and noise at a chosen SNR.

Images follow RELION's particle-stack convention: protein white (the CTF is positive at low frequency), centred at
``box // 2``.  The SNR is the ratio of the signal variance (over the whole stack) to the noise variance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cryogui.core.ctf import CTFParams, apply_ctf
from cryogui.core.projector import project
from cryogui.core.rotations import euler_to_matrix, matrix_to_euler, random_rotations


def random_ctf(n: int, rng: np.random.Generator, defocus_range=(15000.0, 35000.0), astigmatism: float = 300.0):
    du = rng.uniform(*defocus_range, size=n)
    dv = du - rng.uniform(0, astigmatism, size=n)
    ang = rng.uniform(0, 180, size=n)
    return du, dv, ang


def simulate_particles(volume: np.ndarray, apix: float, n: int, snr: float | None = 1.0, ctf: bool = True,
                       seed: int = 0, angles: np.ndarray | None = None, defocus_range=(15000.0, 35000.0),
                       max_shift_A: float = 0.0, voltage: float = 300.0, cs: float = 2.7,
                       amplitude_contrast: float = 0.1, device=None) -> tuple[np.ndarray, pd.DataFrame]:
    """``n`` particle images of ``volume`` (z, y, x) at random (or given, degrees ``(n, 3)``) RELION angles.

    Returns ``(stack (n, box, box) float32, table)``; the table has rlnAngleRot/Tilt/Psi, rlnOriginX/YAngst,
    rlnDefocusU/V/Angle, rlnVoltage, rlnSphericalAberration, rlnAmplitudeContrast (image names are added by the
    writer).  ``snr=None`` gives noiseless images.
    """
    rng = np.random.default_rng(seed)
    if angles is None:
        mats = random_rotations(n, seed=seed)
        angles = matrix_to_euler(mats)
    else:
        angles = np.asarray(angles, dtype=np.float64).reshape(n, 3)
        mats = euler_to_matrix(angles)
    shifts = rng.uniform(-max_shift_A, max_shift_A, size=(n, 2)) if max_shift_A > 0 else np.zeros((n, 2))
    images = project(volume, mats, apix=apix, shifts_A=shifts, device=device)
    du, dv, ang = random_ctf(n, rng, defocus_range)
    params = CTFParams(du, dv, ang, voltage=voltage, cs=cs, amplitude_contrast=amplitude_contrast)
    if ctf:
        images = apply_ctf(torch.from_numpy(images), params, apix).numpy()
    if snr is not None and snr > 0:
        signal_var = float(np.var(images))
        images = images + rng.normal(scale=np.sqrt(signal_var / snr), size=images.shape)
    table = pd.DataFrame({
        "rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2],
        "rlnOriginXAngst": shifts[:, 0], "rlnOriginYAngst": shifts[:, 1],
        "rlnDefocusU": du, "rlnDefocusV": dv, "rlnDefocusAngle": ang,
        "rlnVoltage": voltage, "rlnSphericalAberration": cs, "rlnAmplitudeContrast": amplitude_contrast,
    })
    if not ctf:
        table = table.drop(columns=["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"])
    return images.astype(np.float32), table
