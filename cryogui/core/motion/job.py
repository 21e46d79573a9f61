"""The whole eigen-motion pipeline as one job generator (GUI, CLI and tests share it).

1. per-particle FRC gradients w.r.t. Gaussian positions and amplitudes (:mod:`.gradients`);
2. flexibility per Gaussian and PCA eigen-motions, optionally focused on a subset (:mod:`.pca`);
3. per-particle coordinates along the modes, jointly (:mod:`.conformation`);
4. optionally, an autoencoder on the same gradients, compared with PCA (:mod:`.nonlinear`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cryogui.core.device import get_device
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.motion.conformation import fit_coordinates
from cryogui.core.motion.gradients import ParticleData, check_model_fits, default_ring_limit, particle_gradients
from cryogui.core.motion.nonlinear import AutoencoderResult, fit_autoencoder
from cryogui.core.motion.pca import eigen_motions, flexibility
from cryogui.errors import InputError


@dataclass
class MotionResult:
    model: GaussianModel
    kind: str  # "position" | "amplitude"
    flexibility: np.ndarray  # (K,)
    vectors: np.ndarray  # (m, K, 3) or (m, K)
    explained_variance: np.ndarray  # (m,)
    eigenvalues: np.ndarray  # full spectrum
    coords: np.ndarray  # (n, m) per-particle coordinates (Angstrom of the most mobile Gaussian)
    pca_scores: np.ndarray  # (n, m)
    frc_before: np.ndarray  # (n,) FRC against the consensus model
    frc_after: np.ndarray  # (n,) FRC at the fitted coordinates
    focus: np.ndarray  # (K,) bool
    c_range: float
    rings: int
    seconds: dict = field(default_factory=dict)
    autoencoder: AutoencoderResult | None = None
    grad_pos: np.ndarray | None = None  # (n, K, 3), kept for display / reuse

    @property
    def n_modes(self) -> int:
        return int(self.vectors.shape[0])

    def summary(self) -> dict:
        out = {"modes": self.n_modes, "kind": self.kind, "explained_variance": [float(v) for v in
                                                                              self.explained_variance],
               "particles": int(len(self.coords)), "gaussians": int(len(self.model)),
               "focus_gaussians": int(self.focus.sum()), "mean_frc_before": float(self.frc_before.mean()),
               "mean_frc_after": float(self.frc_after.mean()), "seconds": float(sum(self.seconds.values())),
               "seconds_by_stage": {k: float(v) for k, v in self.seconds.items()}}
        if self.autoencoder is not None:
            out["autoencoder_explained_variance"] = self.autoencoder.explained_variance
            out["pca_same_dim_explained_variance"] = self.autoencoder.pca_explained_variance
        return out


def default_c_range(model: GaussianModel, apix: float) -> float:
    """Search range of the coordinates in Angstrom: four median Gaussian widths (at least three pixels)."""
    return float(max(4.0 * np.median(model.sigmas), 3.0 * apix))


def check_inputs(model: GaussianModel, data: ParticleData, n_modes: int, kind: str) -> None:
    check_model_fits(model, data)
    if kind not in ("position", "amplitude"):
        raise InputError(f"kind must be 'position' or 'amplitude', not {kind!r}")
    if n_modes < 1:
        raise InputError(f"--modes {n_modes}: at least 1")
    need = max(8, 2 * n_modes + 1)
    if len(data) < need:
        raise InputError(f"{len(data)} particles are too few for {n_modes} mode(s): need at least {need}")


def run_motion_analysis(model: GaussianModel, data: ParticleData, *, n_modes: int = 3, kind: str = "position",
                        focus=None, c_range: float | None = None, grid: int = 11, steps: int = 3,
                        coord_modes: int | None = None, nonlinear: bool = False, ae_epochs: int = 150,
                        batch: int = 128, res_A: float | None = None, keep_gradients: bool = True,
                        device=None, seed: int = 0):
    """Generator of :class:`Snapshot`; returns a :class:`MotionResult`.

    ``coord_modes``: how many modes get per-particle coordinates fitted jointly (default all ``n_modes``).
    Snapshots carry ``points`` = Gaussian positions and ``data`` with ``flexibility``, and once known
    ``eigenvalues``, ``vectors``, ``coords``.
    """
    if model.anisotropic:  # the analysis moves centres of isotropic Gaussians (mean width of each)
        model = model.to_isotropic()
    check_inputs(model, data, n_modes, kind)
    device = device or get_device()
    rings = default_ring_limit(model, data.box, data.apix, res_A)
    if kind == "amplitude":
        c_range = float(c_range) if c_range else float(np.abs(model.amplitudes).max())
    else:
        c_range = float(c_range) if c_range else default_c_range(model, data.apix)
    coord_modes = n_modes if coord_modes is None else max(0, min(n_modes, coord_modes))
    n = len(data)
    n_batches = -(-n // batch)
    total = n_batches * (2 if coord_modes else 1) + 1 + (1 if nonlinear else 0)
    seconds = {}
    pts = freeze(model.positions)
    t0 = time.perf_counter()
    gen = particle_gradients(model, data, rings=rings, batch=batch, device=device)
    step = 0
    while True:
        try:
            done, _ = next(gen)
        except StopIteration as stop:
            grads = stop.value
            break
        step += 1
        yield Snapshot(step, total, points=pts, message=f"gradients {done}/{n} particles")
    seconds["gradients"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = grads.grad_pos if kind == "position" else grads.grad_amp
    flex = flexibility(g)
    pca = eigen_motions(g, n_modes, focus=focus)
    seconds["pca"] = time.perf_counter() - t0
    step += 1
    yield Snapshot(step, total, points=pts, metrics={"explained_1": float(pca.explained_variance[0])},
                   data={"flexibility": freeze(flex), "eigenvalues": freeze(pca.eigenvalues[:50]),
                         "vectors": freeze(pca.vectors), "explained": freeze(pca.explained_variance)},
                   message="PCA done")
    coords = np.zeros((n, n_modes), np.float32)
    frc_after = grads.frc.copy()
    if coord_modes:
        t0 = time.perf_counter()
        gen = fit_coordinates(model, data, pca.vectors[:coord_modes], c_range=c_range, grid=grid, steps=steps,
                              kind=kind, rings=rings, batch=batch, device=device)
        while True:
            try:
                done, _ = next(gen)
            except StopIteration as stop:
                c, frc_after = stop.value
                break
            step += 1
            yield Snapshot(step, total, points=pts, message=f"coordinates {done}/{n} particles",
                           data={"flexibility": freeze(flex)})
        coords[:, :coord_modes] = c
        seconds["coordinates"] = time.perf_counter() - t0
    ae = None
    if nonlinear:
        t0 = time.perf_counter()
        gen = fit_autoencoder(g, latent_dim=min(n_modes, 2), focus=pca.focus, epochs=ae_epochs, seed=seed,
                              device=device)
        while True:
            try:
                ep, eps, loss = next(gen)
            except StopIteration as stop:
                ae = stop.value
                break
            if ep % 10 == 0:
                yield Snapshot(step, total, points=pts, metrics={"ae_loss": loss},
                               message=f"autoencoder epoch {ep}/{eps}")
        step += 1
        seconds["autoencoder"] = time.perf_counter() - t0
    result = MotionResult(model=model, kind=kind, flexibility=flex, vectors=pca.vectors,
                          explained_variance=pca.explained_variance, eigenvalues=pca.eigenvalues, coords=coords,
                          pca_scores=pca.scores, frc_before=grads.frc, frc_after=frc_after, focus=pca.focus,
                          c_range=c_range, rings=rings, seconds=seconds, autoencoder=ae,
                          grad_pos=grads.grad_pos if keep_gradients else None)
    yield Snapshot(total, total, points=pts, metrics={"mean_frc_after": float(frc_after.mean())},
                   data={"flexibility": freeze(flex), "coords": freeze(coords)}, message="done")
    return result
