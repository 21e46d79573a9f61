"""Centroidal Voronoi tessellation of a density by Lloyd iterations on its voxel (pixel) grid.

Each iteration assigns every voxel v carrying weight w_v to its nearest point (its Voronoi cell V_i), then moves each
point to the weighted centroid of its cell:

    m_i = sum_{v in V_i} w_v,        p_i <- (1 / m_i) sum_{v in V_i} w_v x_v        (a point with m_i = 0 stays).

The energy E = sum_v w_v min_i |x_v - p_i|^2 never increases (the centroid minimises the cell's second moment, and
re-assigning to the nearest point can only lower each term).  The masses m_i make the result a weighted point cloud:
the semidiscrete optimal-transport approximation of the density.  The assignment never builds the voxel x point
matrix: on the CPU a compiled pass over the voxels searches a cell grid of the points and sums the cells' masses and
moments in the same loop (:mod:`cryogui.core.pointcloud.cvt_kernel`); on CUDA chunked torch distances (a k-d tree
where numba cannot load).  After the first iteration only the voxels whose nearest point may have changed are searched
again (Hamerly's bounds: exact, and most voxels are skipped once the points settle).
"""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np
import torch
from scipy.spatial import cKDTree

from cryogui.core.device import get_device
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.pointcloud import cvt_kernel
from cryogui.core.pointcloud.density import Density
from cryogui.core.pointcloud.energy import _workers
from cryogui.core.pointcloud.result import PointCloudResult
from cryogui.errors import InputError

CVT_DEFAULT_ITERATIONS = 50


def lloyd_update(density: Density, points: np.ndarray, labels: np.ndarray,
                 moments: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cell masses and the moved points (weighted centroids; empty cells keep their point).  ``moments`` (masses,
    weighted coordinate sums (n, d)) of the same labels, when already summed, saves the pass over the voxels."""
    n, d = points.shape
    w = density.weights
    if moments is None:
        mass = np.bincount(labels, weights=w, minlength=n)
        sums = np.stack([np.bincount(labels, weights=w * density.coords[:, k], minlength=n) for k in range(d)], 1)
    else:
        mass, sums = moments
    moved = points.copy()
    full = mass > 0
    moved[full] = sums[full] / mass[full, None]
    return mass, moved


class BoundedAssignment:
    """Nearest-point labels of fixed voxels for points that move a little each iteration (Hamerly's bounds).

    Keeps, per voxel, an upper bound u on the distance to its assigned point and a lower bound l on the distance to
    every other point.  After the points move by ``moves`` (n,), u grows by the own point's move and l shrinks by the
    largest move; only voxels with u > l (after tightening u to the exact distance) are searched again (k = 2).  The
    labels are exactly those of a full nearest-point search.
    """

    def __init__(self, coords: np.ndarray, device=None, backend: str = "auto"):
        self.coords = coords
        self.device = device
        self.backend = backend
        self.labels: np.ndarray | None = None
        self.lower: np.ndarray | None = None
        self.queried = 0  # voxels searched in the last update (for benchmarks)
        self.moments = None  # lloyd_update sums the cells itself

    def _search(self, pts: np.ndarray, sel) -> None:
        q = self.coords if sel is None else self.coords[sel]
        if len(pts) == 1:
            lab, low = np.zeros(len(q), dtype=np.int64), np.full(len(q), np.inf)
        elif self.backend == "torch" or (self.backend == "auto" and torch_device_is_cuda(self.device)):
            lab, low = _two_nearest_torch(pts, q, self.device)
        else:
            dist, idx = cKDTree(pts).query(q, k=2, workers=_workers())
            lab, low = idx[:, 0], dist[:, 1]
        if sel is None:
            self.labels, self.lower = lab.astype(np.int64), low
        else:
            self.labels[sel], self.lower[sel] = lab, low
        self.queried = len(q)

    def update(self, pts: np.ndarray, moves: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Squared distance to the nearest point and its index, for every voxel."""
        if self.labels is None or moves is None:
            self._search(pts, None)
        else:
            self.lower = self.lower - float(moves.max())
            d = np.sqrt(((self.coords - pts[self.labels]) ** 2).sum(1))
            sel = np.flatnonzero(d > self.lower)
            self.queried = 0
            if sel.size:
                self._search(pts, sel)
        d2 = ((self.coords - pts[self.labels]) ** 2).sum(1)
        return d2, self.labels


def torch_device_is_cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def _two_nearest_torch(pts: np.ndarray, q: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    shift = pts.mean(axis=0)
    P = torch.as_tensor(pts - shift, dtype=torch.float32, device=device)
    p2 = (P * P).sum(1)
    rows = max(1, (1 << 24) // len(pts))
    labs, lows = [], []
    for a in range(0, len(q), rows):
        Q = torch.as_tensor(q[a:a + rows] - shift, dtype=torch.float32, device=device)
        d2 = (Q * Q).sum(1, keepdim=True) + p2[None, :] - 2.0 * (Q @ P.T)
        v, i = torch.topk(d2, 2, dim=1, largest=False)
        labs.append(i[:, 0].cpu().numpy())
        # a slightly loose lower bound absorbs float32 rounding of the expanded distances
        lows.append(np.sqrt(np.maximum(v[:, 1].double().cpu().numpy(), 0.0)) * (1 - 1e-5) - 1e-4)
    return np.concatenate(labs), np.concatenate(lows)


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
    if backend == "grid" or (backend == "auto" and cvt_kernel.AVAILABLE and not torch_device_is_cuda(dev)):
        assign = cvt_kernel.GridLloyd(density.coords, density.weights, float(np.prod(density.spacing)))
    else:
        assign = BoundedAssignment(density.coords, device=dev, backend=backend)
    moves = None
    while True:
        d2, labels = assign.update(pts, moves)
        e = float(density.weights @ d2)
        history.append((k, e))
        mass, moved = lloyd_update(density, pts, labels, assign.moments)
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
        moves = np.sqrt(((moved - pts) ** 2).sum(1))
        pts = moved
        k += 1
    return PointCloudResult("cvt", pts, mass, e, k, history, params={"seed": seed, "tol": tol},
                            converged=converged)
