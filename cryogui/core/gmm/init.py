"""Starting models for a fit: random samples of the target density, a point cloud (TRN/CVT), or a saved model."""

from __future__ import annotations

import numpy as np

from cryogui.core.gmm.model import GaussianModel
from cryogui.errors import InputError


def _width_for(volume_A3: float, n: int, apix: float) -> float:
    """A width that tiles ``volume_A3`` with ``n`` Gaussians (half the mean spacing), at least 0.7 pixel."""
    return float(max(0.7 * apix, 0.5 * (volume_A3 / max(n, 1)) ** (1.0 / 3.0)))


def density_weights(target: np.ndarray) -> np.ndarray:
    """Sampling weights from a map: the part above ``mean + std`` (the protein, not the solvent)."""
    t = np.asarray(target, dtype=np.float64)
    thr = t.mean() + t.std()
    w = np.clip(t - thr, 0, None)
    if w.sum() <= 0:
        w = np.clip(t - t.mean(), 0, None)
    if w.sum() <= 0:
        raise InputError("the target map has no positive density to fit")
    return w


def init_from_map(target: np.ndarray, apix: float, n: int, *, seed: int = 0, anisotropic: bool = False,
                  origin=(0.0, 0.0, 0.0)) -> GaussianModel:
    """``n`` Gaussians at positions drawn from the map's density (voxel centres + jitter), widths that tile the
    occupied volume, amplitudes from the map values there."""
    rng = np.random.default_rng(seed)
    box = target.shape[0]
    w = density_weights(target)
    flat = w.ravel() / w.sum()
    idx = rng.choice(flat.size, size=n, replace=flat.size < n or np.count_nonzero(flat) < n, p=flat)
    z, y, x = np.unravel_index(idx, target.shape)
    pos = (np.stack([x, y, z], axis=1) - box // 2 + rng.uniform(-0.5, 0.5, (n, 3))) * apix
    occupied = np.count_nonzero(w) * apix**3
    sigma = _width_for(occupied, n, apix)
    amp = np.asarray(target)[z, y, x].astype(np.float64) * 0.5
    model = GaussianModel(pos, amp, sigmas=np.full(n, sigma), box=box, apix=apix, origin=tuple(origin),
                          meta={"init": "random"})
    return model.to_anisotropic() if anisotropic else model


def init_from_points(points, target: np.ndarray | None, apix: float, box: int, *, anisotropic: bool = False,
                     origin=(0.0, 0.0, 0.0), source: str = "points") -> GaussianModel:
    """Gaussians at given points ``(n, 3)`` in Angstrom from the map centre (a TRN/CVT point cloud)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(f"a point cloud for initialisation must be (n, 3), got shape {pts.shape}")
    n = len(pts)
    if target is not None:
        w = density_weights(target)
        occupied = np.count_nonzero(w) * apix**3
        idx = np.clip(np.round(pts / apix).astype(int) + box // 2, 0, box - 1)
        amp = np.asarray(target)[idx[:, 2], idx[:, 1], idx[:, 0]].astype(np.float64) * 0.5
        amp = np.where(amp > 0, amp, np.abs(amp).mean() + 1e-6)
    else:
        extent = np.ptp(pts, axis=0).prod() if n > 3 else (box * apix / 2) ** 3
        occupied = max(extent * 0.5, apix**3 * n)
        amp = np.ones(n)
    model = GaussianModel(pts, amp, sigmas=np.full(n, _width_for(occupied, n, apix)), box=box, apix=apix,
                          origin=tuple(origin), meta={"init": source})
    return model.to_anisotropic() if anisotropic else model


def init_in_ball(n: int, apix: float, box: int, *, radius_A: float | None = None, seed: int = 0,
                 anisotropic: bool = False) -> GaussianModel:
    """``n`` Gaussians uniformly in a ball (particle fits without a starting map); amplitudes 1 (rescaled later)."""
    rng = np.random.default_rng(seed)
    r = radius_A or box * apix * 0.3
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = d * r * rng.uniform(0, 1, (n, 1)) ** (1 / 3)
    vol = 4 / 3 * np.pi * r**3
    model = GaussianModel(pos, np.ones(n), sigmas=np.full(n, _width_for(vol, n, apix)), box=box, apix=apix,
                          meta={"init": "random"})
    return model.to_anisotropic() if anisotropic else model


def prepare_start(init, n: int, *, target: np.ndarray | None, apix: float, box: int, anisotropic: bool,
                  seed: int = 0, origin=(0.0, 0.0, 0.0)) -> GaussianModel:
    """Resolve the ``init`` argument of the fits: ``"random"``, an ``(n, 3)`` array of points, or a
    :class:`GaussianModel` (a saved model; converted to the requested iso/aniso kind)."""
    if isinstance(init, GaussianModel):
        m = init.to_anisotropic() if anisotropic else (init.to_isotropic() if init.anisotropic else init)
        m.box, m.apix = box, apix
        return m
    if isinstance(init, str):
        if init != "random":
            raise InputError(f"unknown initialisation {init!r}: use 'random', a point cloud or a saved model")
        if target is not None:
            return init_from_map(target, apix, n, seed=seed, anisotropic=anisotropic, origin=origin)
        return init_in_ball(n, apix, box, seed=seed, anisotropic=anisotropic)
    return init_from_points(init, target, apix, box, anisotropic=anisotropic, origin=origin)


def pointcloud_start(method: str, target: np.ndarray, apix: float, n: int, *, seed: int = 0):
    """Job generator: a TRN or CVT point cloud of the target (the point-cloud panel's code), as ``(n, 3)`` points in
    this module's frame (Angstrom from the centre voxel).  Yields the point cloud's own snapshots."""
    from cryogui.core.pointcloud.cvt import run_cvt
    from cryogui.core.pointcloud.density import density_from_array
    from cryogui.core.pointcloud.trn import run_trn

    if method not in ("trn", "cvt"):
        raise InputError(f"unknown point-cloud initialisation {method!r}: use 'trn' or 'cvt'")
    box = target.shape[0]
    thr = float(np.mean(target) + np.std(target))
    density = density_from_array(target, spacing=apix, origin=(-(box // 2) * apix,) * 3, threshold=thr,
                                 name="target map")
    gen = run_trn(density, n, seed=seed) if method == "trn" else run_cvt(density, n, seed=seed, iterations=20)
    while True:
        try:
            snap = next(gen)
        except StopIteration as stop:
            return np.asarray(stop.value.points, dtype=np.float64)
        yield snap
