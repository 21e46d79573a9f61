"""Nearest-point assignment and the semidiscrete quantisation energy of a point cloud against a density.

    E(P) = sum_v w_v min_i |x_v - p_i|^2          (Angstrom^2; w normalised to sum 1, x_v the voxel centres)

This is the objective that CVT (Lloyd) minimises, and for a weighted cloud with the cell masses as weights it is the
squared semidiscrete Wasserstein-2 distance between the density and the cloud.  The nearest-point search never
builds the voxel x point matrix: a k-d tree on the points (CPU) or chunks of at most ~16 M distances (CUDA).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from cryogui.core.pointcloud.density import Density

_CHUNK_ELEMENTS = 1 << 24


def _workers() -> int:
    return max(1, torch.get_num_threads())


def nearest(points: np.ndarray, queries: np.ndarray, device: torch.device | str | None = None,
            backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """For each query, the squared distance to the nearest point and its index.

    ``backend``: ``"kdtree"`` (scipy cKDTree, CPU), ``"torch"`` (chunked distances on ``device``), or ``"auto"``
    (torch on CUDA, the k-d tree otherwise).
    """
    points = np.asarray(points, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if backend == "auto":
        backend = "torch" if dev.type == "cuda" else "kdtree"
    if backend == "kdtree":
        dist, idx = cKDTree(points).query(queries, k=1, workers=_workers())
        return dist * dist, idx.astype(np.int64)
    if backend != "torch":
        raise ValueError(f"unknown nearest-point backend {backend!r}")
    return _nearest_torch(points, queries, dev)


def _nearest_torch(points: np.ndarray, queries: np.ndarray, dev: torch.device) -> tuple[np.ndarray, np.ndarray]:
    shift = points.mean(axis=0)  # centre the coordinates: smaller numbers, less float32 cancellation
    dtype = torch.float32 if dev.type == "cuda" else torch.float64
    P = torch.as_tensor(points - shift, dtype=dtype, device=dev)
    p2 = (P * P).sum(1)
    rows = max(1, _CHUNK_ELEMENTS // max(1, len(points)))
    d2_out = np.empty(len(queries))
    idx_out = np.empty(len(queries), dtype=np.int64)
    for a in range(0, len(queries), rows):
        Q = torch.as_tensor(queries[a:a + rows] - shift, dtype=dtype, device=dev)
        d2 = (Q * Q).sum(1, keepdim=True) + p2[None, :] - 2.0 * (Q @ P.T)
        m, i = d2.min(dim=1)
        # exact distance to the chosen point (the expanded form above may lose digits)
        exact = ((Q - P[i]) ** 2).sum(1)
        d2_out[a:a + rows] = exact.double().cpu().numpy()
        idx_out[a:a + rows] = i.cpu().numpy()
    return d2_out, idx_out


def energy(density: Density, points: np.ndarray, device=None, backend: str = "auto") -> float:
    """Quantisation energy E(P) of ``points`` (n, d) against ``density``, in Angstrom^2."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != density.ndim or len(pts) == 0:
        raise ValueError(f"points must be (n, {density.ndim}), got {pts.shape}")
    d2, _ = nearest(pts, density.coords, device=device, backend=backend)
    return float(density.weights @ d2)


def energy_brute_force(density: Density, points: np.ndarray) -> float:
    """The same energy from the full voxel x point distance matrix (small problems only; tests and checks)."""
    diff = density.coords[:, None, :] - np.asarray(points, dtype=np.float64)[None, :, :]
    return float(density.weights @ (diff ** 2).sum(-1).min(axis=1))


def random_energy(density: Density, n_points: int, seed: int = 0, repeats: int = 3, device=None) -> float:
    """Mean energy of ``repeats`` clouds of ``n_points`` plain random samples from the density: the reference a
    point-cloud method should beat."""
    rng = np.random.default_rng(seed + 7919)
    vals = [energy(density, density.sample(n_points, rng), device=device) for _ in range(max(1, repeats))]
    return float(np.mean(vals))
