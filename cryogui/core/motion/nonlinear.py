"""An optional non-linear trajectory: a small autoencoder on the per-particle gradient vectors.

PCA finds the best *linear* subspace of the gradient vectors (the seed's stated limitation: linear, short
trajectories).  Here an encoder ``z = E(g)`` (3K -> 64 -> d, tanh) and a decoder ``g' = D(z)`` (d -> 64 -> 3K) are
trained to reconstruct the (per-particle normalised, centred) gradient vectors, ``min mean |g - D(E(g))|^2``.  With
the same latent dimension d as the number of PCA modes, the two are compared on the same data by the fraction of
variance they explain.  ``z`` is each particle's non-linear coordinate; ``D(z)`` along a path in z is a curved
trajectory of motion directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class AutoencoderResult:
    latent: np.ndarray  # (n, d)
    explained_variance: float  # 1 - residual / total, autoencoder
    pca_explained_variance: float  # same for PCA with d components on the same data
    decoded_path: np.ndarray  # (steps, K, 3): D(z) along the first latent axis (other axes at their median)
    path_z: np.ndarray  # (steps,)
    loss_history: np.ndarray


def _prepare(grad: np.ndarray, focus, normalize: bool = True) -> np.ndarray:
    g = np.asarray(grad, dtype=np.float64)
    n = g.shape[0]
    if focus is not None:
        g = g[:, np.asarray(focus)]
    x = g.reshape(n, -1)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-20)
    return x - x.mean(axis=0)


def fit_autoencoder(grad: np.ndarray, latent_dim: int = 1, *, focus=None, epochs: int = 200, hidden: int = 64,
                    lr: float = 3e-3, seed: int = 0, device=None, path_steps: int = 11,
                    normalize_particles: bool = True):
    """Generator: yields ``(epoch, epochs, loss)``; returns an :class:`AutoencoderResult`.

    ``normalize_particles`` as in :func:`cryogui.core.motion.pca.eigen_motions` (each vector to unit norm first)."""
    x_np = _prepare(grad, focus, normalize_particles)
    n, dim = x_np.shape
    total = float((x_np**2).sum()) or 1.0
    # PCA with the same number of components on the same data
    s = torch.linalg.svdvals(torch.from_numpy(x_np)).numpy()
    pca_ev = float((s[:latent_dim] ** 2).sum() / total)
    gen = torch.Generator().manual_seed(seed)
    scale = float(np.sqrt((x_np**2).sum(1).mean())) or 1.0
    x = torch.as_tensor(x_np / scale, dtype=torch.float32, device=device)
    with torch.enable_grad():
        torch.manual_seed(seed)
        enc = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, latent_dim))
        dec = torch.nn.Sequential(torch.nn.Linear(latent_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, dim))
        enc.to(device)
        dec.to(device)
        opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=lr)
        batch = min(256, n)
        hist = []
        for ep in range(epochs):
            perm = torch.randperm(n, generator=gen)
            ep_loss = 0.0
            for b0 in range(0, n, batch):
                xb = x[perm[b0:b0 + batch].to(x.device)]
                opt.zero_grad()
                loss = ((dec(enc(xb)) - xb) ** 2).sum(1).mean()
                loss.backward()
                opt.step()
                ep_loss += float(loss.detach()) * len(xb)
            hist.append(ep_loss / n)
            yield ep + 1, epochs, hist[-1]
    with torch.no_grad():
        z = enc(x)
        resid = float(((dec(z) - x) ** 2).sum()) * scale**2
        zn = z.cpu().numpy()
        lo, hi = np.percentile(zn[:, 0], [2, 98])
        path = np.linspace(lo, hi, path_steps)
        zp = np.tile(np.median(zn, axis=0), (path_steps, 1))
        zp[:, 0] = path
        decoded = dec(torch.as_tensor(zp, dtype=torch.float32, device=x.device)).cpu().numpy() * scale
    per = 3 if np.asarray(grad).ndim == 3 else 1
    return AutoencoderResult(zn, 1.0 - resid / total, pca_ev, decoded.reshape(path_steps, -1, per), path,
                             np.asarray(hist))
