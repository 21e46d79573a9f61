"""Centroidal Voronoi tessellation of a density by Lloyd iterations on its voxel (pixel) grid.

Each iteration assigns every voxel v carrying weight w_v to its nearest point (its Voronoi cell V_i), then moves each
point to the weighted centroid of its cell:

    m_i = sum_{v in V_i} w_v,        p_i <- (1 / m_i) sum_{v in V_i} w_v x_v        (a point with m_i = 0 stays).

The energy E = sum_v w_v min_i |x_v - p_i|^2 never increases (the centroid minimises the cell's second moment, and
re-assigning to the nearest point can only lower each term).  The masses m_i make the result a weighted point cloud:
the semidiscrete optimal-transport approximation of the density.  The assignment uses a k-d tree on the points (CPU)
or chunked torch distances (CUDA), never the voxel x point matrix.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np

from cryogui.core.device import get_device
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.pointcloud.density import Density
from cryogui.core.pointcloud.energy import nearest
from cryogui.core.pointcloud.result import PointCloudResult
from cryogui.errors import InputError

CVT_DEFAULT_ITERATIONS = 50


def lloyd_update(density: Density, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell masses and the moved points (weighted centroids; empty cells keep their point)."""
    n, d = points.shape
    w = density.weights
    mass = np.bincount(labels, weights=w, minlength=n)
    moved = points.copy()
    full = mass > 0
    for k in range(d):
        s = np.bincount(labels, weights=w * density.coords[:, k], minlength=n)
        moved[full, k] = s[full] / mass[full]
    return mass, moved


def run_cvt(density: Density, n_points: int, *, iterations: int = CVT_DEFAULT_ITERATIONS, seed: int = 0,
            init_points: np.ndarray | None = None, tol: float = 1e-3, report_every: int = 1, device=None,
            backend: str = "auto", cells: bool | None = None) -> Generator[Snapshot, None, PointCloudResult]:
    """CVT point cloud by Lloyd iterations.  Snapshot ``k`` holds the points after k updates, their energy
    (``metrics["energy"]``, Angstrom^2), the cell masses (``data["weights"]``) and, for 2D (or ``cells=True``), the
    cell label of every pixel (``data["labels"]``, -1 outside the density).  Stops early when no point moves by more
    than ``tol`` x the voxel size.  The initial cloud is ``density.sample(n, default_rng(seed))``."""
    n = density.check_points(n_points)
    try:
        iterations = int(iterations)
    except (TypeError, ValueError):
        raise InputError(f"--iterations: {iterations!r} is not a whole number") from None
    if iterations < 1:
        raise InputError(f"--iterations: CVT needs at least 1 Lloyd iteration, got {iterations}")
    rng = np.random.default_rng(seed)
    pts = density.sample(n, rng) if init_points is None else np.array(init_points, dtype=np.float64)
    if pts.shape != (n, density.ndim):
        raise InputError(f"initial points must have shape ({n}, {density.ndim}), got {pts.shape}")
    dev = device if device is not None else get_device()
    want_cells = density.ndim == 2 if cells is None else bool(cells)
    step_tol = tol * float(np.min(density.spacing))
    history: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    converged = False
    k = 0
    while True:
        d2, labels = nearest(pts, density.coords, device=dev, backend=backend)
        e = float(density.weights @ d2)
        history.append((k, e))
        mass, moved = lloyd_update(density, pts, labels)
        shift = float(np.sqrt(((moved - pts) ** 2).sum(1).max()))
        last = k == iterations or shift <= step_tol
        if last or k % max(1, report_every) == 0:
            data = {"weights": freeze(mass)}
            if want_cells:
                data["labels"] = freeze(density.labels_image(labels.astype(np.int32)))
            yield Snapshot(k, iterations, points=freeze(pts),
                           metrics={"energy": e, "max_shift": shift, "seconds": time.perf_counter() - t0},
                           data=data, message=f"Lloyd iteration {k}/{iterations}")
        if last:
            converged = shift <= step_tol
            break
        pts = moved
        k += 1
    return PointCloudResult("cvt", pts, mass, e, k, history, params={"seed": seed, "tol": tol},
                            converged=converged)
