"""Alignment of one set of orientations to another (the seed's evaluation protocol).

Orientations recovered from pairwise angular distances are only defined up to what those distances cannot see.
The distance ``d(q_i, q_j) = 2 arccos |<q_i, q_j>|`` depends on unit quaternions only through their 4D inner
products, so it is unchanged by any orthogonal map ``Q`` of R^4 applied to all quaternions at once:

* ``det Q = +1`` (SO(4)) is a *global rotation*: ``q -> a q b`` with unit quaternions a, b, i.e. a rotation of
  the reference frame and one of the image frame (``A -> L A R``);
* ``det Q = -1`` is a *mirror*: the former composed with conjugation ``q -> q*`` (``A -> A^T``).

:func:`align_orientations` finds the best ``Q`` (least squares over ``+-q``, alternating sign choice and an
orthogonal Procrustes step, from several random starts) with and without the mirror, and reports per-particle
errors ``2 arccos |<q_true, Q q_est>|`` with their mean and median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryogui.core.rotations import canonical_quaternion, quaternion_to_matrix
from cryogui.errors import InputError


@dataclass
class AlignResult:
    q_aligned: np.ndarray  # (n, 4) the estimated orientations mapped into the true frame
    errors: np.ndarray  # (n,) radians
    mirror: bool
    transform: np.ndarray  # (4, 4) orthogonal, applied as q_aligned = q_est @ transform.T
    median_rad: float
    mean_rad: float
    other_median_rad: float  # the best median with the other choice of mirror (nan when not tried)

    @property
    def median_deg(self) -> float:
        return float(np.rad2deg(self.median_rad))

    @property
    def mean_deg(self) -> float:
        return float(np.rad2deg(self.mean_rad))

    @property
    def mats_aligned(self) -> np.ndarray:
        return quaternion_to_matrix(self.q_aligned)

    def summary(self) -> dict:
        return {"n": int(len(self.errors)), "median_rad": float(self.median_rad), "mean_rad": float(self.mean_rad),
                "median_deg": self.median_deg, "mean_deg": self.mean_deg, "mirror": bool(self.mirror),
                "other_median_rad": float(self.other_median_rad)}


def _errors(q_true: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 2 * np.arccos(np.clip(np.abs(np.sum(q_true * q, axis=1)), 0.0, 1.0))


def _random_orthogonal(rng: np.random.Generator, det: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(4, 4)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) * det < 0:
        q[:, 0] = -q[:, 0]
    return q


def _fit(q_true, q_est, det: int, restarts: int, iters: int, rng, init=None) -> tuple[np.ndarray, float]:
    best, best_med = None, np.inf
    starts = ([init] if init is not None and np.linalg.det(init) * det > 0 else []) + [None] * restarts
    for r, Q in enumerate(starts):
        if Q is None:
            Q = np.eye(4) if r == 0 else _random_orthogonal(rng, det)
        if np.linalg.det(Q) * det < 0:
            Q = np.diag([1.0, 1.0, 1.0, -1.0])
        prev = None
        for _ in range(iters):
            p = q_est @ Q.T
            s = np.where(np.sum(p * q_true, axis=1) < 0, -1.0, 1.0)
            if prev is not None and np.array_equal(s, prev):
                break
            prev = s
            h = q_est.T @ (q_true * s[:, None])  # maximise tr(Q h)
            u, _, vt = np.linalg.svd(h)
            d = np.ones(4)
            d[3] = det * np.sign(np.linalg.det(vt.T @ u.T))
            Q = vt.T @ np.diag(d) @ u.T
        med = float(np.median(_errors(q_true, q_est @ Q.T)))
        if med < best_med:
            best, best_med = Q, med
    return best, best_med


def align_orientations(q_true, q_est, mirror: bool | None = None, restarts: int = 12, iters: int = 60,
                       seed: int = 0, init=None) -> AlignResult:
    """Best global orthogonal map of ``q_est`` onto ``q_true`` (both ``(n, 4)``, w x y z).

    ``mirror``: None tries both and keeps the better; True/False forces the choice.  ``init``: a 4x4 transform
    to start from as well (the previous alignment, when following a running optimisation).
    """
    q_true = canonical_quaternion(np.asarray(q_true, dtype=np.float64))
    q_est = canonical_quaternion(np.asarray(q_est, dtype=np.float64))
    if q_true.shape != q_est.shape or q_true.ndim != 2 or q_true.shape[1] != 4:
        raise InputError(f"alignment needs two (n, 4) quaternion sets of the same size, got {q_true.shape} and "
                         f"{q_est.shape}")
    if len(q_true) == 0:
        raise InputError("alignment needs at least one orientation")
    rng = np.random.default_rng(seed)
    fits = {}
    for m in ((False, True) if mirror is None else (bool(mirror),)):
        fits[m] = _fit(q_true, q_est, -1 if m else 1, restarts, iters, rng, init)
    use = min(fits, key=lambda m: fits[m][1])
    Q = fits[use][0]
    other = fits.get(not use, (None, np.nan))[1]
    qa = canonical_quaternion(q_est @ Q.T)
    err = _errors(q_true, qa)
    return AlignResult(q_aligned=qa, errors=err, mirror=use, transform=Q, median_rad=float(np.median(err)),
                       mean_rad=float(np.mean(err)), other_median_rad=float(other))
