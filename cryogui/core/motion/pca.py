"""Statistics on the per-particle gradient vectors: flexibility per Gaussian and PCA eigen-motions.

* Flexibility of Gaussian j: the mean gradient amplitude ``f_j = 1/n sum_i |Grad_ij|`` (large where the model
  disagrees with the particles in a way that moving the Gaussian would fix).
* Eigen-motions: each particle gives one vector ``g_i`` of length 3K (all its Gaussians' gradients).  PCA of the
  centred matrix ``G`` (n x 3K) by SVD, ``G - mean = U S V^T``: the rows of ``V^T`` are eigen-motion vectors (one 3D
  vector per Gaussian), ``S^2 / sum S^2`` their explained variance.  Each vector is scaled so that its largest
  Gaussian displacement is 1 Angstrom: a coordinate ``c`` then moves the most mobile Gaussian by ``c`` Angstrom.
* Focus: with a subset of Gaussians, the other columns are dropped before the PCA and their vector entries are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cryogui.errors import InputError


def flexibility(grad: np.ndarray) -> np.ndarray:
    """Mean gradient amplitude per Gaussian ``(K,)`` from ``(n, K, 3)`` position gradients (or ``(n, K)``)."""
    g = np.asarray(grad, dtype=np.float64)
    return (np.linalg.norm(g, axis=-1) if g.ndim == 3 else np.abs(g)).mean(axis=0)


@dataclass
class PCAResult:
    vectors: np.ndarray  # (m, K, 3) or (m, K): eigen-motion vectors, max per-Gaussian norm 1
    explained_variance: np.ndarray  # (m,) fraction of the total variance
    eigenvalues: np.ndarray  # (min(n, 3K),) full spectrum (variances), for the spectrum plot
    scores: np.ndarray  # (n, m) projections of the centred gradients on the unit-norm eigenvectors
    mean: np.ndarray  # (K, 3) or (K,) mean gradient
    focus: np.ndarray  # (K,) bool


def eigen_motions(grad: np.ndarray, n_modes: int, focus=None, normalize_particles: bool = True) -> PCAResult:
    """PCA of per-particle gradients ``(n, K, 3)`` (positions) or ``(n, K)`` (amplitudes) into ``n_modes`` vectors.

    ``focus``: boolean mask or indices of Gaussians to analyse (default all).  ``normalize_particles`` divides each
    particle's gradient vector by its norm first, so a few particles with steep FRC do not dominate.
    """
    g = np.asarray(grad, dtype=np.float64)
    n, k = g.shape[:2]
    mask = np.ones(k, bool)
    if focus is not None:
        f = np.asarray(focus)
        mask = f.astype(bool) if f.dtype == bool and len(f) == k else np.isin(np.arange(k), f)
        if not mask.any():
            raise InputError("the focus region holds no Gaussians")
    per = 3 if g.ndim == 3 else 1
    x = g[:, mask].reshape(n, -1)
    if normalize_particles:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-20)
    if n_modes < 1:
        raise InputError("the number of modes must be at least 1")
    if n < n_modes + 1 or n_modes > x.shape[1]:
        raise InputError(f"{n} particles and {x.shape[1]} gradient components cannot give {n_modes} modes")
    mean = x.mean(axis=0)
    s, vt = _principal_axes(x - mean)
    var = s**2 / max(1, n - 1)
    total = var.sum() if var.sum() > 0 else 1.0
    scores = (x - mean) @ vt[:n_modes].T
    vec_full = np.zeros((n_modes, k, per))
    for m in range(n_modes):
        v = vt[m].reshape(-1, per)
        # sign: the largest-moving Gaussian's component along +x... keep a deterministic sign
        big = np.argmax(np.linalg.norm(v, axis=1))
        sign = 1.0 if v[big][np.argmax(np.abs(v[big]))] >= 0 else -1.0
        scale = np.linalg.norm(v, axis=1).max()
        vec_full[m, mask] = sign * v / max(scale, 1e-20)
        scores[:, m] *= sign
    mean_full = np.zeros((k, per))
    mean_full[mask] = mean.reshape(-1, per)
    if per == 1:
        vec_full, mean_full = vec_full[..., 0], mean_full[..., 0]
    return PCAResult(vec_full, var[:n_modes] / total, var, scores, mean_full, mask)


def _principal_axes(xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values and right singular vectors of a centred matrix, from the eigen-decomposition of the smaller
    of its two Gram matrices (torch, so it follows torch's thread setting)."""
    x = torch.from_numpy(np.ascontiguousarray(xc))
    n, d = x.shape
    if d <= n:
        evals, evecs = torch.linalg.eigh(x.T @ x)
        order = torch.argsort(evals, descending=True)
        s = evals[order].clamp_min(0).sqrt()
        vt = evecs[:, order].T
    else:
        evals, u = torch.linalg.eigh(x @ x.T)
        order = torch.argsort(evals, descending=True)
        s = evals[order].clamp_min(0).sqrt()
        vt = (u[:, order].T @ x) / s.clamp_min(1e-30)[:, None]
    return s.numpy(), vt.numpy()


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """|cos| between two displacement fields of the same shape (flattened)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(abs(a @ b) / den) if den > 0 else 0.0
