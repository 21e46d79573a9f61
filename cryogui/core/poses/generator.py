"""The projection generator (the seed's ``generator.py``): N projections of a map at Euler angles drawn inside a
start (``shift``) and a range (``coverage``) per ZYZ angle, with optional CTF and noise at a chosen SNR.

Angles are RELION rot/tilt/psi in degrees.  rot and psi are uniform in ``[shift, shift + coverage]``; the tilt is
drawn so that viewing directions are uniform on the sphere inside the band (``cos(tilt)`` uniform between
``cos(shift)`` and ``cos(shift + coverage)``) unless ``uniform_tilt=True`` (the seed's plain uniform tilt, which
crowds the poles).  Coverage (360, 180, 360) with shift 0 is the whole of SO(3), uniformly.

The SNR is the variance of the (CTF-modulated) signal over the stack divided by the noise variance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cryogui.core.ctf import CTFParams, apply_ctf
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.projector import project_batches
from cryogui.core.rotations import euler_to_matrix, viewing_direction
from cryogui.errors import InputError


@dataclass(frozen=True)
class GeneratorConfig:
    n: int = 1000
    angle_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angle_coverage: tuple[float, float, float] = (360.0, 180.0, 360.0)
    snr: float | None = None  # None or <= 0: noiseless
    ctf: bool = False
    seed: int = 0
    uniform_tilt: bool = False
    defocus_range: tuple[float, float] = (15000.0, 35000.0)
    voltage: float = 300.0
    cs: float = 2.7
    amplitude_contrast: float = 0.1

    def check(self) -> None:
        if int(self.n) < 1:
            raise InputError(f"number of projections must be >= 1, got {self.n}")
        if len(self.angle_shift) != 3 or len(self.angle_coverage) != 3:
            raise InputError("angle shift and coverage need three values each (rot, tilt, psi)")
        if any(c < 0 for c in self.angle_coverage):
            raise InputError(f"angle coverage must be >= 0, got {tuple(self.angle_coverage)}")
        t0, t1 = self.angle_shift[1], self.angle_shift[1] + self.angle_coverage[1]
        if t0 < 0 or t1 > 180 + 1e-9:
            raise InputError(f"tilt range [{t0:g}, {t1:g}] must lie inside [0, 180] degrees")
        if self.snr is not None and not np.isfinite(self.snr):
            raise InputError(f"SNR must be a finite number, got {self.snr}")


def sample_angles(cfg: GeneratorConfig) -> np.ndarray:
    """``(n, 3)`` rot/tilt/psi in degrees inside the configured ranges."""
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    n = int(cfg.n)
    s, c = np.asarray(cfg.angle_shift, float), np.asarray(cfg.angle_coverage, float)
    rot = s[0] + c[0] * rng.random(n)
    psi = s[2] + c[2] * rng.random(n)
    if cfg.uniform_tilt:
        tilt = s[1] + c[1] * rng.random(n)
    else:
        c0, c1 = np.cos(np.deg2rad(s[1])), np.cos(np.deg2rad(s[1] + c[1]))
        tilt = np.rad2deg(np.arccos(np.clip(c0 + (c1 - c0) * rng.random(n), -1.0, 1.0)))
    return np.stack([rot, tilt, psi], axis=1)


def random_ctf_table(n: int, cfg: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    du = rng.uniform(*cfg.defocus_range, size=n)
    dv = du - rng.uniform(0, 300.0, size=n)
    return pd.DataFrame({"rlnDefocusU": du, "rlnDefocusV": dv, "rlnDefocusAngle": rng.uniform(0, 180, size=n)})


def generate_projections(volume: np.ndarray, apix: float, cfg: GeneratorConfig, batch: int = 64,
                         device=None) -> Iterator[Snapshot]:
    """Job: project ``volume`` (z, y, x) at angles from :func:`sample_angles`.

    Snapshots carry the viewing directions made so far as ``points`` (the sphere filling) and the latest image in
    ``data["image"]``.  Returns ``(stack (n, b, b) float32, table)`` with rln angle/CTF columns.
    """
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim != 3 or len(set(vol.shape)) != 1:
        raise InputError(f"the map must be a cubic 3D array, got shape {vol.shape}")
    if not apix or apix <= 0:
        raise InputError(f"pixel size must be > 0, got {apix}")
    angles = sample_angles(cfg)
    n = len(angles)
    mats = euler_to_matrix(angles)
    dirs = viewing_direction(mats)
    rng = np.random.default_rng(cfg.seed + 1)
    table = pd.DataFrame({"rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2],
                          "rlnOriginXAngst": 0.0, "rlnOriginYAngst": 0.0})
    params = None
    if cfg.ctf:
        table = pd.concat([table, random_ctf_table(n, cfg, rng)], axis=1)
        params = CTFParams(np.array(table["rlnDefocusU"], dtype=float), np.array(table["rlnDefocusV"], dtype=float),
                           np.array(table["rlnDefocusAngle"], dtype=float), voltage=cfg.voltage, cs=cfg.cs,
                           amplitude_contrast=cfg.amplitude_contrast)
    box = vol.shape[0]
    stack = np.empty((n, box, box), dtype=np.float32)
    with torch.no_grad():
        for start, imgs in project_batches(vol, mats, apix=apix, batch=batch, device=device):
            stop = start + len(imgs)
            if params is not None:
                sub = CTFParams(params.defocus_u[start:stop], params.defocus_v[start:stop],
                                params.defocus_angle[start:stop], voltage=params.voltage, cs=params.cs,
                                amplitude_contrast=params.amplitude_contrast)
                imgs = apply_ctf(torch.from_numpy(imgs), sub, apix).numpy()
            stack[start:stop] = imgs
            yield Snapshot(stop, n, points=freeze(dirs[:stop]), data={"image": freeze(imgs[-1])},
                           message=f"projected {stop}/{n}")
    if cfg.snr is not None and cfg.snr > 0:
        sigma = float(np.sqrt(np.var(stack) / cfg.snr))
        stack += rng.normal(scale=sigma, size=stack.shape).astype(np.float32)
    if cfg.ctf:
        table["rlnVoltage"] = cfg.voltage
        table["rlnSphericalAberration"] = cfg.cs
        table["rlnAmplitudeContrast"] = cfg.amplitude_contrast
    return stack, table
