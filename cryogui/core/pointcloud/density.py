"""A probability density on a pixel / voxel grid, in the map's own Angstrom frame, and sampling from it.

A grid value ``v`` at array index ``(z, y, x)`` (or ``(y, x)`` for an image) becomes the weight ``max(v, 0)`` when
``v > threshold`` and 0 otherwise; the weights are normalised to sum to 1.  The voxel centre lies at
``origin + index * voxel_size`` with coordinates ordered ``(x, y[, z])`` -- the frame in which ChimeraX places the
map (header origin if set, otherwise nstart x voxel size; :class:`cryogui.io.mrc.Volume` already holds that origin).
Every point cloud in this package lives in that frame, in Angstrom.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cryogui.errors import InputError


@dataclass
class Density:
    """A normalised density: ``coords`` (m, d) voxel centres (Angstrom) with ``weights`` (m,) summing to 1.

    ``grid`` keeps the thresholded, normalised weights at their array positions (for display and CVT labels);
    ``image`` is the original data (for display).  ``spacing`` and ``origin`` are in ``(x, y[, z])`` order.
    """

    grid: np.ndarray
    image: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    flat_index: np.ndarray
    coords: np.ndarray
    weights: np.ndarray
    threshold: float
    name: str = "density"
    extra: dict = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return self.grid.ndim

    @property
    def n_support(self) -> int:
        """Number of voxels (pixels) carrying weight."""
        return int(self.weights.size)

    @property
    def centre(self) -> np.ndarray:
        """Density-weighted centre of mass (Angstrom)."""
        return self.weights @ self.coords

    def index_to_coords(self, index_xyz: np.ndarray) -> np.ndarray:
        """Array indices given as ``(x, y[, z])`` (column first) -> Angstrom in the map frame."""
        return self.origin + np.asarray(index_xyz, dtype=np.float64) * self.spacing

    def coords_to_index(self, coords: np.ndarray) -> np.ndarray:
        """Angstrom -> fractional array indices ``(x, y[, z])``."""
        return (np.asarray(coords, dtype=np.float64) - self.origin) / self.spacing

    def sample(self, n: int, rng: np.random.Generator, jitter: bool = True) -> np.ndarray:
        """``n`` points drawn from the density: a voxel by its weight, then (``jitter``) uniformly inside it."""
        cdf = self.extra.get("cdf")
        if cdf is None:
            cdf = np.cumsum(self.weights)
            cdf /= cdf[-1]
            self.extra["cdf"] = cdf
        pick = np.searchsorted(cdf, rng.random(n), side="right")
        pick = np.minimum(pick, self.weights.size - 1)
        pts = self.coords[pick]
        if jitter:
            pts = pts + (rng.random((n, self.ndim)) - 0.5) * self.spacing
        return pts

    def check_points(self, n_points: int, what: str = "--points") -> int:
        """Validate a requested number of points against the support of the density."""
        try:
            n = int(n_points)
        except (TypeError, ValueError):
            raise InputError(f"{what}: {n_points!r} is not a whole number") from None
        if n < 1:
            raise InputError(f"{what}: need at least 1 point, got {n}")
        if n > self.n_support:
            raise InputError(f"{what}: {n} points requested but only {self.n_support} "
                             f"{'pixels' if self.ndim == 2 else 'voxels'} of {self.name} are above the threshold "
                             f"{self.threshold:g}")
        return n

    def labels_image(self, labels_support: np.ndarray, fill: int = -1) -> np.ndarray:
        """Scatter a per-support-voxel label array back onto the grid (``fill`` where the density is zero)."""
        out = np.full(self.grid.size, fill, dtype=np.int32)
        out[self.flat_index] = labels_support
        return out.reshape(self.grid.shape)


def density_from_array(data: np.ndarray, spacing=1.0, origin=None, threshold: float | None = None,
                       name: str = "map") -> Density:
    """Build a :class:`Density` from a 2D image ``(y, x)`` or a 3D map ``(z, y, x)``.

    ``spacing``: scalar or per-axis ``(x, y[, z])`` Angstrom; ``origin``: ``(x, y[, z])`` Angstrom of index 0
    (extra components are ignored for 2D).  ``threshold``: voxels at or below it carry no weight (default 0: the
    positive part of the map).  Raises :class:`InputError` for NaN/inf values, an empty map, no positive density,
    or a threshold at or above the maximum.
    """
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise InputError(f"{name}: a point cloud needs a 2D image or a 3D map, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name}: the map is empty")
    if arr.dtype.kind == "c":
        raise InputError(f"{name}: complex data is not a density")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: the map contains NaN or infinite values")
    d = arr.ndim
    sp = np.asarray(spacing, dtype=np.float64).ravel()
    sp = np.full(d, sp[0]) if sp.size == 1 else sp[:d].copy()
    if not np.all(sp > 0):
        raise InputError(f"{name}: the voxel size must be positive, got {tuple(sp)}")
    org = np.zeros(d) if origin is None else np.asarray(origin, dtype=np.float64).ravel()[:d].copy()
    vmax = float(arr.max())
    if vmax <= 0:
        raise InputError(f"{name}: the map has no positive density (maximum {vmax:g}); nothing to represent")
    thr = 0.0 if threshold is None else float(threshold)
    if not np.isfinite(thr):
        raise InputError(f"{name}: the threshold must be a finite number, got {threshold!r}")
    if thr >= vmax:
        raise InputError(f"{name}: threshold {thr:g} is at or above the map's maximum {vmax:g}")
    w = np.where(arr > thr, np.maximum(arr, 0.0), 0.0)
    total = float(w.sum())
    if total <= 0:
        raise InputError(f"{name}: no positive density above threshold {thr:g}")
    w /= total
    flat = np.flatnonzero(w.ravel() > 0)
    idx = np.unravel_index(flat, arr.shape)  # (z, y, x) or (y, x)
    index_xyz = np.stack(idx[::-1], axis=1).astype(np.float64)
    coords = org + index_xyz * sp
    return Density(grid=w, image=np.asarray(data), spacing=sp, origin=org, flat_index=flat, coords=coords,
                   weights=w.ravel()[flat].copy(), threshold=thr, name=name)


def density_from_volume(vol, threshold: float | None = None, name: str | None = None) -> Density:
    """:class:`Density` from a :class:`cryogui.io.mrc.Volume` (map or single image), in the map's frame."""
    data = np.asarray(vol.data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    nm = name or (str(vol.path) if getattr(vol, "path", None) else "map")
    if data.ndim == 3 and getattr(vol, "is_stack", False):
        raise InputError(f"{nm}: is a particle stack, not a map or an image")
    vs = getattr(vol, "voxel_size", None)
    apix = getattr(vol, "apix", None)
    spacing = vs if vs else (apix if apix else 1.0)
    return density_from_array(data, spacing=spacing, origin=getattr(vol, "origin", None), threshold=threshold,
                              name=nm)


def gaussian_example_2d(size: int = 200) -> Density:
    """The seed's 2D example: the normal density with mean 0 and covariance [[0.5, 0.25], [0.25, 0.5]] restricted
    to the square [-1, 1]^2, on a ``size`` x ``size`` pixel grid (pixel centres span the square; unit = 1)."""
    step = 2.0 / size
    ax = -1.0 + step * (np.arange(size) + 0.5)
    X, Y = np.meshgrid(ax, ax)  # rows = y, columns = x
    cov_inv = np.linalg.inv(np.array([[0.5, 0.25], [0.25, 0.5]]))
    q = cov_inv[0, 0] * X * X + 2 * cov_inv[0, 1] * X * Y + cov_inv[1, 1] * Y * Y
    img = np.exp(-0.5 * q) / (2 * np.pi * np.sqrt(np.linalg.det(np.array([[0.5, 0.25], [0.25, 0.5]]))))
    return density_from_array(img.astype(np.float32), spacing=step, origin=(ax[0], ax[0]), name="2D Gaussian (seed)")
