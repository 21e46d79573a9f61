"""Local density of viewing directions on the sphere, and equal-area maps of the sphere.

Density: a von Mises-Fisher kernel estimate ``rho(u) = mean_j C(k) exp(k (<u, v_j> - 1))`` with
``C(k) = k / (2 pi (1 - exp(-2 k)))`` (per steradian), reported relative to the uniform density ``1 / (4 pi)``, so
1 means "as dense as a uniform distribution".  The concentration follows from a bandwidth in degrees,
``k = 1 / sigma^2``.

Hammer (Hammer-Aitoff) projection of longitude ``l`` in (-pi, pi] and latitude ``b``:

    x = 2 sqrt(2) cos b sin(l / 2) / sqrt(1 + cos b cos(l / 2)),   y = sqrt(2) sin b / sqrt(1 + cos b cos(l / 2))

which is equal-area: a uniform set of directions fills the ellipse |x| <= 2 sqrt 2, |y| <= sqrt 2 evenly.
"""

from __future__ import annotations

import numpy as np


def direction_density(dirs, bandwidth_deg: float = 10.0, max_reference: int = 20000, chunk: int = 2048,
                      seed: int = 0) -> np.ndarray:
    """Relative density (1 = uniform) at each unit direction of ``dirs`` ``(n, 3)``."""
    d = np.asarray(dirs, dtype=np.float64).reshape(-1, 3)
    n = len(d)
    if n == 0:
        return np.zeros(0)
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    ref = d
    if n > max_reference:
        ref = d[np.random.default_rng(seed).choice(n, max_reference, replace=False)]
    k = 1.0 / np.deg2rad(bandwidth_deg) ** 2
    c = k / (2 * np.pi * (-np.expm1(-2 * k)))
    out = np.empty(n)
    for s in range(0, n, chunk):
        dots = d[s:s + chunk] @ ref.T
        out[s:s + chunk] = c * np.mean(np.exp(k * (dots - 1.0)), axis=1)
    return out * 4 * np.pi


def lonlat(dirs) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in (-pi, pi] and latitude in [-pi/2, pi/2] of unit directions (z is the pole)."""
    d = np.asarray(dirs, dtype=np.float64).reshape(-1, 3)
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return np.arctan2(d[:, 1], d[:, 0]), np.arcsin(np.clip(d[:, 2], -1.0, 1.0))


def hammer(lon, lat) -> np.ndarray:
    """Hammer projection ``(n, 2)`` of longitude/latitude in radians."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    den = np.sqrt(1.0 + np.cos(lat) * np.cos(lon / 2))
    x = 2 * np.sqrt(2) * np.cos(lat) * np.sin(lon / 2) / den
    y = np.sqrt(2) * np.sin(lat) / den
    return np.stack([x, y], axis=-1)


def hammer_dirs(dirs) -> np.ndarray:
    return hammer(*lonlat(dirs))


def hammer_graticule(step_deg: float = 30.0, samples: int = 91) -> list[np.ndarray]:
    """Meridians and parallels as polylines ``(m, 2)`` in Hammer coordinates (the outline is the +-180 meridian)."""
    lines = []
    lat = np.linspace(-np.pi / 2, np.pi / 2, samples)
    for lon_d in np.arange(-180.0, 180.0 + 1e-9, step_deg):
        lon = np.full_like(lat, np.deg2rad(np.clip(lon_d, -179.999, 179.999)))
        lines.append(hammer(lon, lat))
    lon = np.linspace(-np.pi * 0.99999, np.pi * 0.99999, samples)
    for lat_d in np.arange(-90.0 + step_deg, 90.0 - 1e-9, step_deg):
        lines.append(hammer(lon, np.full_like(lon, np.deg2rad(lat_d))))
    return lines


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniform unit directions (a Fibonacci lattice), for tests and reference grids."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
