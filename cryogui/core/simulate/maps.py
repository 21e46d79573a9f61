"""Synthetic 3D density maps: a multi-domain "protein" built from Gaussians, with a known pixel size."""

from __future__ import annotations

import numpy as np

from cryogui.core.volume import Volume


def gaussian_map(centres_A: np.ndarray, sigmas_A, amplitudes, box: int, apix: float) -> np.ndarray:
    """Sum of isotropic Gaussians A_j exp(-|x - p_j|^2 / (2 s_j^2)) on a ``box^3`` grid (z, y, x).

    Positions are in Angstrom relative to the box centre (voxel ``box // 2``).  Evaluated separably per Gaussian,
    truncated at 4 sigma.
    """
    centres = np.atleast_2d(np.asarray(centres_A, dtype=np.float64))
    n = len(centres)
    sig = np.broadcast_to(np.asarray(sigmas_A, dtype=np.float64), (n,))
    amp = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), (n,))
    ax = (np.arange(box) - box // 2) * apix
    vol = np.zeros((box, box, box), dtype=np.float64)
    for c, s, a in zip(centres, sig, amp):
        gx = np.exp(-((ax - c[0]) ** 2) / (2 * s * s))
        gy = np.exp(-((ax - c[1]) ** 2) / (2 * s * s))
        gz = np.exp(-((ax - c[2]) ** 2) / (2 * s * s))
        vol += a * gz[:, None, None] * gy[None, :, None] * gx[None, None, :]
    return vol.astype(np.float32)


def demo_domains(seed: int = 0, radius_A: float = 70.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Atoms-like Gaussian centres of an asymmetric three-domain particle (about ``2 * radius_A`` across).

    Returns ``(centres_A (n, 3), sigmas_A (n,), amplitudes (n,), domain_index (n,))``.  Domain 2 is the mobile arm
    the motion simulator moves.
    """
    rng = np.random.default_rng(seed)
    domains = [
        (np.array([-0.25, -0.10, 0.00]) * radius_A, np.array([0.45, 0.35, 0.30]) * radius_A, 220),  # body
        (np.array([0.30, 0.20, 0.05]) * radius_A, np.array([0.25, 0.22, 0.22]) * radius_A, 110),  # head
        (np.array([0.05, -0.55, 0.25]) * radius_A, np.array([0.12, 0.30, 0.12]) * radius_A, 70),  # arm
    ]
    cs, ds = [], []
    for k, (centre, radii, count) in enumerate(domains):
        pts = rng.normal(size=(count * 3, 3))
        pts = pts[np.linalg.norm(pts, axis=1) < 1.6][:count]
        cs.append(centre + pts * radii * 0.8)
        ds.append(np.full(len(pts), k))
    centres = np.concatenate(cs)
    dom = np.concatenate(ds)
    sig = rng.uniform(3.5, 5.0, size=len(centres))
    amp = rng.uniform(0.8, 1.2, size=len(centres))
    return centres, sig, amp, dom


def demo_map(box: int = 64, apix: float = 4.0, seed: int = 0) -> Volume:
    """The demo map: an asymmetric three-domain particle, normalised to a maximum of 1, origin at the box corner."""
    centres, sig, amp, _ = demo_domains(seed, radius_A=0.42 * box * apix)
    vol = gaussian_map(centres, sig * apix / 4.0 + 2.0, amp, box, apix)
    vol /= max(float(vol.max()), 1e-12)
    return Volume(data=vol, apix=float(apix), origin=(0.0, 0.0, 0.0), voxel_size=(apix, apix, apix))
