"""Small job generators the Eigen-motion panel runs in the background (each yields Snapshots, returns a result):
the simulated test set, the map at a trajectory position, the reconstruction from a coordinate range, and a
Gaussian model fitted on the spot to the particles."""

from __future__ import annotations

import numpy as np

from cryogui.core.gmm.model import GaussianModel
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.motion.gradients import ParticleData
from cryogui.core.motion.trajectory import model_at, refit_subset, render_at, select_range
from cryogui.errors import InputError


def simulate_job(**kwargs):
    """The seed's swinging-arm set (see :func:`cryogui.core.motion.simulate.simulate_motion`)."""
    from cryogui.core.motion.simulate import simulate_motion

    yield Snapshot(0, 1, message="simulating particles")
    sim = simulate_motion(**kwargs)
    yield Snapshot(1, 1, message="simulated")
    return sim


def map_views(volume: np.ndarray) -> dict:
    """Projections of a (z, y, x) map along z and y and its central z slice, for 2D display."""
    v = np.asarray(volume, dtype=np.float32)
    return {"along_z": v.sum(axis=0), "along_y": v.sum(axis=1), "slice_z": v[v.shape[0] // 2].copy()}


def map_at_job(model: GaussianModel, vectors: np.ndarray, c, kind: str = "position", box=None, apix=None):
    """The model rendered at coordinates ``c``: returns ``{"c", "volume", **map_views}``."""
    yield Snapshot(0, 1, message="rendering")
    vol = render_at(model, vectors, c, kind, box=box, apix=apix)
    return {"c": np.atleast_1d(np.asarray(c, dtype=float)), "volume": vol, **map_views(vol)}


def reconstruct_range_job(model: GaussianModel, data: ParticleData, vectors: np.ndarray, coords: np.ndarray,
                          lo: float, hi: float, mode: int = 0, kind: str = "position", steps: int = 40,
                          max_particles: int = 400):
    """Reconstruction from the particles whose coordinate on ``mode`` lies in ``[lo, hi]``: a short refit of the
    model, starting at the range's mean coordinates, rendered.  Returns ``{"indices", "model", "volume", ...}``."""
    idx = select_range(coords, lo, hi, mode)
    if len(idx) < 3:
        raise InputError(f"only {len(idx)} particle(s) have a coordinate in [{lo:.2f}, {hi:.2f}]: widen the range")
    start = model_at(model, vectors, np.asarray(coords)[idx].mean(axis=0), kind)
    gen = refit_subset(start, data.subset(idx), steps=steps, max_particles=max_particles)
    while True:
        try:
            step, total = next(gen)
        except StopIteration as stop:
            refit = stop.value
            break
        yield Snapshot(step, total, points=freeze(start.positions), message=f"refit {step}/{total}")
    from cryogui.core.gmm.render import render_model

    vol = render_model(refit, box=data.box, apix=data.apix)
    return {"indices": idx, "model": refit, "volume": vol, "lo": lo, "hi": hi, "mode": mode, **map_views(vol)}


def fit_model_job(data: ParticleData, n_gaussians: int, epochs: int = 4, seed: int = 0):
    """A Gaussian model fitted to the particles on the spot (the Gaussian-fit method, isotropic)."""
    from cryogui.core.gmm.fit import fit_particles

    gen = fit_particles(data.images, data.mats, data.shifts_A, data.ctf, data.apix, n_gaussians, epochs=epochs,
                        seed=seed)
    while True:
        try:
            snap = next(gen)
        except StopIteration as stop:
            res = stop.value
            break
        yield Snapshot(snap.step, snap.total, metrics=dict(snap.metrics), message=f"fitting model: {snap.message}")
    model = res.model.to_isotropic() if res.model.anisotropic else res.model
    model.box, model.apix = data.box, data.apix
    return model
