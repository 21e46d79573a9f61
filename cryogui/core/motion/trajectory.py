"""Maps along the eigen-motion trajectory.

* :func:`model_at` / :func:`render_at`: the model moved to ``p_j + sum_m c_m v_mj`` (or amplitudes
  ``A_j + sum_m c_m v_mj``), rendered on the particles' grid.
* :func:`refit_subset`: the reconstruction from the particles whose coordinate lies in a range -- a short refit of
  the model (positions and amplitudes, Adam on ``-FRC``) to those particles, starting from the model at the range's
  mean coordinate, then rendered.  This shows what the particles say, not what the linear model assumes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import render_model
from cryogui.core.motion.gradients import ParticleData, Scorer, default_ring_limit


def model_at(model: GaussianModel, vectors: np.ndarray, c, kind: str = "position") -> GaussianModel:
    """The model at coordinates ``c`` (one per mode) along ``vectors`` ``(m, K, 3)`` / ``(m, K)``."""
    vec = np.asarray(vectors, dtype=np.float64)
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    if kind == "amplitude":
        vec = vec.reshape(-1, len(model))
        return replace(model, amplitudes=model.amplitudes + np.tensordot(c, vec[:len(c)], axes=1),
                       meta=dict(model.meta))
    vec = vec.reshape(-1, len(model), 3)
    return replace(model, positions=model.positions + np.tensordot(c, vec[:len(c)], axes=1), meta=dict(model.meta))


def render_at(model: GaussianModel, vectors: np.ndarray, c, kind: str = "position", box: int | None = None,
              apix: float | None = None, device=None) -> np.ndarray:
    """The model at ``c`` rendered as a ``(box, box, box)`` map (z, y, x)."""
    return render_model(model_at(model, vectors, c, kind), box=box, apix=apix, device=device)


def refit_subset(model: GaussianModel, data: ParticleData, *, steps: int = 40, lr: float | None = None,
                 max_particles: int = 400, seed: int = 0, device=None):
    """Generator: a short refit of ``model`` to ``data`` (yields ``(step, steps)``); returns the refitted model.

    Positions and amplitudes move (widths stay), Adam on ``-mean FRC`` over batches of at most ``max_particles``.
    """
    rng = np.random.default_rng(seed)
    rings = default_ring_limit(model, data.box, data.apix)
    if len(data) > max_particles:
        data = data.subset(np.sort(rng.choice(len(data), max_particles, replace=False)))
    sc = Scorer(model, data, rings=rings, device=device)
    lr = lr if lr is not None else 0.1 * float(np.median(model.sigmas))
    imgs, mats, shifts, ctf = sc.batch(slice(0, len(data)))
    with torch.enable_grad():
        pos = sc.pos.clone().requires_grad_(True)
        log_amp_scale = torch.zeros_like(sc.amp).requires_grad_(True)
        opt = torch.optim.Adam([{"params": [pos], "lr": lr}, {"params": [log_amp_scale], "lr": 0.05}])
        for step in range(steps):
            opt.zero_grad()
            amp = sc.amp * torch.exp(log_amp_scale)
            loss = -sc.score(pos, amp, imgs, mats, shifts, ctf).mean()
            loss.backward()
            opt.step()
            yield step + 1, steps
    amp = (sc.amp * torch.exp(log_amp_scale)).detach().cpu().double().numpy()
    return replace(model, positions=pos.detach().cpu().double().numpy(), amplitudes=amp,
                   meta=dict(model.meta, refit_particles=len(data)))


def select_range(coords: np.ndarray, lo: float, hi: float, mode: int = 0) -> np.ndarray:
    """Indices of particles whose coordinate on ``mode`` lies in ``[lo, hi]``."""
    c = np.asarray(coords)[:, mode] if np.ndim(coords) == 2 else np.asarray(coords)
    return np.nonzero((c >= min(lo, hi)) & (c <= max(lo, hi)))[0]
