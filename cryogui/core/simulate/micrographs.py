"""Simulated micrographs with known particle positions (deterministic for a given seed).

A micrograph is a field of vitreous ice seen in projection: protein is dark (negative contrast, raw-micrograph
convention).  Each particle is a small cluster of 2D Gaussians (a projected multi-domain blob) of a chosen diameter.
Optional nuisances that a picker must not pick: a smooth ice-thickness gradient, dark ice-contamination blobs several
times larger than a particle, and a carbon support film whose edge crosses the image.

The SNR is per particle: the mean square of the particle signal inside its disk over the noise variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _particle_patch(diameter: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A dark particle of the given diameter (px): a few Gaussian domains inside a disk.  Returns (patch, half)."""
    r = diameter / 2.0
    half = int(np.ceil(r * 1.25)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    n_dom = int(rng.integers(3, 6))
    # envelope: a projected sphere (thickness sqrt(r^2 - rho^2)) with a soft 1-2 px rim
    rho2 = xx ** 2 + yy ** 2
    patch = np.sqrt(np.clip(r * r - rho2, 0, None)) / r
    # internal domains (texture), inside the envelope
    for _ in range(n_dom):
        ang = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(0.2, 0.55) * r
        cx, cy = dist * np.cos(ang), dist * np.sin(ang)
        s = rng.uniform(0.15, 0.25) * r
        patch += rng.uniform(0.2, 0.4) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s ** 2)) * (rho2 < r * r)
    patch /= patch.max()
    return -patch, half


def _disk_mask(shape, x, y, radius) -> np.ndarray:
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2


def simulate_micrograph(shape: tuple[int, int] = (1024, 1024), diameter_px: float = 60, n_particles: int = 80,
                        snr: float = 0.3, apix: float = 1.5, seed: int = 0, contamination: bool = True,
                        ice_gradient: bool = True, sizes: Sequence[float] | None = None,
                        size_jitter: float = 0.05) -> tuple[np.ndarray, pd.DataFrame]:
    """A simulated micrograph ``(y, x)`` float32 with protein dark, and its truth table.

    shape:        image size (rows, columns).
    diameter_px:  particle diameter in pixels (used when ``sizes`` is None).
    sizes:        several diameters (px): each particle draws one of them (a mixed-size data set).
    size_jitter:  relative spread of each particle's diameter around its nominal size.
    snr:          per-particle SNR (mean square of the particle signal inside its disk / noise variance).
    apix:         pixel size in Angstrom (only recorded in the truth table's attributes, the caller writes it).
    contamination: add 1-2 dark ice blobs (3-5 particle diameters) and a carbon edge; no particle is placed on them.
    ice_gradient: add a smooth thickness ramp across the field.

    The truth DataFrame has columns ``x``, ``y`` (centre, px; x = column, y = row) and ``diameter`` (px).  Particles
    that did not fit (too crowded) are left out, so it may hold fewer than ``n_particles`` rows.
    """
    ny, nx = int(shape[0]), int(shape[1])
    if ny < 16 or nx < 16:
        raise ValueError(f"micrograph shape {shape} is too small")
    if diameter_px <= 2:
        raise ValueError(f"diameter_px must be > 2 (got {diameter_px})")
    if snr is None or snr <= 0:
        raise ValueError(f"snr must be > 0 (got {snr})")
    rng = np.random.default_rng(seed)
    nominal = [float(diameter_px)] if sizes is None else [float(s) for s in sizes]
    dmax = max(nominal)

    forbidden = np.zeros((ny, nx), dtype=bool)
    nuisance = np.zeros((ny, nx), dtype=np.float32)
    if contamination:
        # carbon film: one side of a straight edge, slightly darker and textured
        yy, xx = np.mgrid[:ny, :nx].astype(np.float32)
        side = int(rng.integers(4))
        frac = rng.uniform(0.08, 0.15)
        tilt = rng.uniform(-0.15, 0.15)
        if side == 0:
            dist = xx - (frac * nx + tilt * (yy - ny / 2))
        elif side == 1:
            dist = (nx * (1 - frac) + tilt * (yy - ny / 2)) - xx
        elif side == 2:
            dist = yy - (frac * ny + tilt * (xx - nx / 2))
        else:
            dist = (ny * (1 - frac) + tilt * (xx - nx / 2)) - yy
        carbon = 1.0 / (1.0 + np.exp(np.clip(dist / 1.5, -50, 50)))          # 1 on the carbon side, soft 1-2 px edge
        nuisance -= (1.2 * carbon).astype(np.float32)
        forbidden |= dist < 0.6 * dmax + 4
        n_blobs = int(rng.integers(1, 3))
        for _ in range(n_blobs):
            rad = rng.uniform(1.0, 1.8) * dmax
            bx, by = rng.uniform(0.25, 0.75) * nx, rng.uniform(0.25, 0.75) * ny
            rr = np.sqrt((xx - bx) ** 2 + (yy - by) ** 2)
            blob = 1.0 / (1.0 + np.exp(np.clip((rr - rad) / 2.0, -50, 50)))
            nuisance -= (3.0 * blob).astype(np.float32)
            forbidden |= rr < rad + 0.6 * dmax + 2
        del yy, xx

    signal = np.zeros((ny, nx), dtype=np.float32)
    rows = []
    attempts = 0
    placed_xy: list[tuple[float, float, float]] = []
    while len(rows) < n_particles and attempts < n_particles * 60:
        attempts += 1
        d = float(nominal[int(rng.integers(len(nominal)))]) * float(1 + size_jitter * rng.standard_normal())
        d = max(d, 3.0)
        margin = d / 2 + 2
        x = rng.uniform(margin, nx - 1 - margin)
        y = rng.uniform(margin, ny - 1 - margin)
        if forbidden[int(round(y)), int(round(x))]:
            continue
        if any((x - px) ** 2 + (y - py) ** 2 < (0.55 * (d + pd_)) ** 2 for px, py, pd_ in placed_xy):
            continue
        patch, half = _particle_patch(d, rng)
        ix, iy = int(round(x)), int(round(y))
        y0, y1 = iy - half, iy + half + 1
        x0, x1 = ix - half, ix + half + 1
        py0, px0 = max(0, -y0), max(0, -x0)
        py1 = patch.shape[0] - max(0, y1 - ny)
        px1 = patch.shape[1] - max(0, x1 - nx)
        signal[max(0, y0):min(ny, y1), max(0, x0):min(nx, x1)] += patch[py0:py1, px0:px1]
        placed_xy.append((x, y, d))
        rows.append((float(ix), float(iy), d))

    truth = pd.DataFrame(rows, columns=["x", "y", "diameter"])
    # noise level from the per-particle SNR
    if len(rows):
        ms = []
        for x, y, d in rows[:50]:
            m = _disk_mask((ny, nx), x, y, d / 2)
            ms.append(float(np.mean(signal[m] ** 2)))
        sig_ms = float(np.mean(ms))
    else:
        sig_ms = 0.25
    noise_sigma = np.sqrt(sig_ms / snr)
    image = signal + noise_sigma * rng.standard_normal((ny, nx)).astype(np.float32)
    # nuisances scale with the particle contrast so that they look alike at any SNR
    image += nuisance * np.float32(np.sqrt(sig_ms) * 1.5)
    if ice_gradient:
        gy, gx = rng.uniform(-1, 1, size=2)
        yy, xx = np.ogrid[:ny, :nx]
        ramp = (gx * (xx / nx - 0.5) + gy * (yy / ny - 0.5)).astype(np.float32)
        image += ramp * np.float32(2.0 * np.sqrt(sig_ms))
    image = image.astype(np.float32)
    truth.attrs["apix"] = float(apix)
    return image, truth
