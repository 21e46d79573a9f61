"""Per-particle conformation: the coordinate ``c_i`` along the eigen-motions that best explains each particle.

    map_i(x) = sum_j A_j exp(-|x - (p_j + sum_m c_im v_mj)|^2 / (2 sigma_j^2))

``c_i`` maximises the FRC between particle i and the CTF-modulated projection of map_i.  Batched over particles:
a coarse search along each mode in turn (the best grid value refined by a parabola through its neighbours, then a
finer five-point search around it, so that gradient descent starts in the right basin), then joint gradient
ascent (Adam) on all modes, with the coordinates kept inside the search range.  With ``kind="amplitude"`` the
vectors move the amplitudes, ``A_j + sum_m c_im v_mj`` (compositional heterogeneity).
"""

from __future__ import annotations

import numpy as np
import torch

from cryogui.core.gmm.model import GaussianModel
from cryogui.core.motion.gradients import ParticleData, Scorer, check_model_fits, default_ring_limit


def _moved(sc: Scorer, vec: torch.Tensor, c: torch.Tensor, kind: str):
    """Positions and amplitudes of the model moved by coordinates ``c`` (B, m) along ``vec`` (m, K, 3|)."""
    if kind == "amplitude":
        return sc.pos, sc.amp[None] + torch.einsum("bm,mk->bk", c, vec)
    return sc.pos[None] + torch.einsum("bm,mkd->bkd", c, vec), sc.amp


def fit_coordinates(model: GaussianModel, data: ParticleData, vectors: np.ndarray, *, c_range: float = 10.0,
                    grid: int = 11, steps: int = 3, lr: float | None = None, kind: str = "position",
                    rings: int | None = None, batch: int = 128, device=None):
    """Generator: yields ``(done, total)`` per batch, returns ``(coords (n, m), frc (n,))``.

    vectors ``(m, K, 3)`` (positions) or ``(m, K)`` (amplitudes); coordinates are searched in ``[-c_range, c_range]``
    on ``grid`` points per mode, then refined by ``steps`` Adam steps.
    """
    check_model_fits(model, data)
    rings = rings or default_ring_limit(model, data.box, data.apix)
    sc = Scorer(model, data, rings=rings, device=device)
    vec = torch.as_tensor(np.asarray(vectors), **sc.kw)
    if kind == "position" and vec.ndim == 2:
        vec = vec[None]
    if kind == "amplitude" and vec.ndim == 1:
        vec = vec[None]
    m = vec.shape[0]
    n = len(data)
    lr = lr if lr is not None else 0.05 * c_range
    values = torch.linspace(-c_range, c_range, max(2, grid), **sc.kw)
    coords = np.zeros((n, m), dtype=np.float32)
    scores = np.zeros(n, dtype=np.float32)
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        imgs, mats, shifts, ctf = sc.batch(sl)
        b = mats.shape[0]
        c = torch.zeros(b, m, **sc.kw)
        with torch.no_grad():
            for mode in range(m):
                if kind == "position":  # fast line search: phase recurrence along the mode
                    trial = c.clone()
                    trial[:, mode] = 0
                    pos, amp = _moved(sc, vec, trial, kind)
                    table = sc.line_scores(pos, amp, vec[mode], values, imgs, mats, shifts, ctf)
                    c[:, mode] = _parabolic_peak(table, values)
                    # finer search around each particle's value: offsets of a quarter grid step
                    fine = (values[1] - values[0]) * torch.linspace(-0.5, 0.5, 5, **sc.kw)
                    pos, amp = _moved(sc, vec, c, kind)
                    table = sc.line_scores(pos, amp, vec[mode], fine, imgs, mats, shifts, ctf)
                    c[:, mode] = (c[:, mode] + _parabolic_peak(table, fine)).clamp(-c_range, c_range)
                    continue
                else:
                    table = torch.empty(len(values), b, **sc.kw)
                    for gi, v in enumerate(values):
                        trial = c.clone()
                        trial[:, mode] = v
                        pos, amp = _moved(sc, vec, trial, kind)
                        table[gi] = sc.score(pos, amp, imgs, mats, shifts, ctf)
                c[:, mode] = _parabolic_peak(table, values)
        if steps > 0:
            with torch.enable_grad():
                cp = c.clone().requires_grad_(True)
                opt = torch.optim.Adam([cp], lr=lr)
                for _ in range(steps):
                    opt.zero_grad()
                    pos, amp = _moved(sc, vec, cp, kind)
                    loss = -sc.score(pos, amp, imgs, mats, shifts, ctf).sum()
                    loss.backward()
                    opt.step()
                    with torch.no_grad():
                        cp.clamp_(-c_range, c_range)
                c = cp.detach()
        with torch.no_grad():
            pos, amp = _moved(sc, vec, c, kind)
            f = sc.score(pos, amp, imgs, mats, shifts, ctf)
        coords[sl] = c.cpu().numpy()
        scores[sl] = f.cpu().numpy()
        yield sl.stop, n
    return coords, scores


def _parabolic_peak(table: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per column of ``table`` (grid, B): the grid value of the best score, refined by the vertex of the parabola
    through it and its two neighbours (kept within half a grid step)."""
    g = table.shape[0]
    best = table.argmax(dim=0)
    out = values[best]
    if g < 3:
        return out
    k = best.clamp(1, g - 2)
    cols = torch.arange(table.shape[1], device=table.device)
    f0, f1, f2 = table[k - 1, cols], table[k, cols], table[k + 1, cols]
    den = f0 - 2 * f1 + f2
    delta = torch.where(den < 0, 0.5 * (f0 - f2) / den.clamp(max=-1e-12), torch.zeros_like(den))
    step = values[1] - values[0]
    refined = values[k] + delta.clamp(-0.5, 0.5) * step
    interior = (best > 0) & (best < g - 1)
    return torch.where(interior, refined, out)
