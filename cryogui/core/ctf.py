"""The contrast transfer function, RELION's convention.

CTF(s) = -sin(chi(s)) * exp(-B |s|^2 / 4) with
chi = pi * lambda * dz(s) * |s|^2 - pi/2 * Cs * lambda^3 * |s|^4 ... written with RELION's signs: the defocus is
positive for underfocus, and the CTF is positive at low frequency, so a particle with positive (white) density
stays white after multiplication (RELION's "protein white" stacks).

Units: defocus in Angstrom, voltage in kV, Cs in mm, frequencies in 1/Angstrom, B-factor in Angstrom^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def electron_wavelength(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Angstrom."""
    v = voltage_kv * 1e3
    return 12.2643247 / np.sqrt(v * (1.0 + v * 0.978466e-6))


@dataclass(frozen=True)
class CTFParams:
    """Per-particle CTF parameters (arrays of shape ``(n,)`` or scalars)."""

    defocus_u: np.ndarray
    defocus_v: np.ndarray
    defocus_angle: np.ndarray  # degrees
    voltage: float = 300.0  # kV
    cs: float = 2.7  # mm
    amplitude_contrast: float = 0.1
    bfactor: float = 0.0  # A^2
    phase_shift: float = 0.0  # degrees

    def __len__(self) -> int:
        return int(np.size(self.defocus_u))


def freq_grid(box: int, apix: float, rfft: bool = False, device=None, dtype=torch.float32):
    """Spatial frequencies (1/A) of a ``box x box`` image as tensors ``(sy, sx)`` (``rfft`` for the half grid)."""
    fy = torch.fft.fftfreq(box, d=apix, device=device, dtype=dtype)
    fx = torch.fft.rfftfreq(box, d=apix, device=device, dtype=dtype) if rfft else fy
    sy, sx = torch.meshgrid(fy, fx, indexing="ij")
    return sy, sx


def ctf_2d(params: CTFParams, box: int, apix: float, rfft: bool = True, device=None,
           dtype=torch.float32) -> torch.Tensor:
    """CTF images ``(n, box, box//2+1)`` (``rfft``) or ``(n, box, box)`` for each particle in ``params``."""
    sy, sx = freq_grid(box, apix, rfft=rfft, device=device, dtype=dtype)
    s2 = sx * sx + sy * sy
    ang = torch.atan2(sy, sx)
    du = torch.as_tensor(np.atleast_1d(params.defocus_u), dtype=dtype, device=device)[:, None, None]
    dv = torch.as_tensor(np.atleast_1d(params.defocus_v), dtype=dtype, device=device)[:, None, None]
    az = torch.deg2rad(torch.as_tensor(np.atleast_1d(params.defocus_angle), dtype=dtype, device=device))[:, None, None]
    lam = electron_wavelength(params.voltage)
    cs = params.cs * 1e7
    q0 = params.amplitude_contrast
    k1 = np.pi * lam
    k2 = np.pi / 2 * cs * lam**3
    k3 = np.arctan(q0 / np.sqrt(1 - q0 * q0))
    k5 = np.deg2rad(params.phase_shift)
    # RELION: deltaf = -(avg + dev * cos(2 (ang - az))) with avg = (du + dv) / 2, dev = (du - dv) / 2
    deltaf = -(0.5 * (du + dv) + 0.5 * (du - dv) * torch.cos(2 * (ang - az)))
    chi = k1 * deltaf * s2 + k2 * s2 * s2 - k5 - k3
    ctf = -torch.sin(chi)
    if params.bfactor:
        ctf = ctf * torch.exp(-params.bfactor / 4.0 * s2)
    return ctf


def apply_ctf(images: torch.Tensor, params: CTFParams, apix: float) -> torch.Tensor:
    """Multiply real images ``(n, b, b)`` by their CTF in Fourier space."""
    box = images.shape[-1]
    ctf = ctf_2d(params, box, apix, rfft=True, device=images.device, dtype=images.dtype)
    return torch.fft.irfft2(torch.fft.rfft2(images) * ctf, s=images.shape[-2:])
