"""A 3D Gaussian mixture model of a density map.

The density at a point r (Angstrom, relative to the centre of the frame, see below) is

    V(r) = sum_k a_k exp(-1/2 (r - p_k)^T Sigma_k^-1 (r - p_k))

with positions ``p_k`` in Angstrom, peak amplitudes ``a_k`` (map units) and either isotropic widths
(``Sigma_k = sigma_k^2 I``, ``sigma_k`` in Angstrom) or anisotropic covariances kept positive definite by construction,
``Sigma_k = R(q_k) diag(s_k^2) R(q_k)^T`` (scales ``s_k`` in Angstrom and unit quaternions ``q_k = (w, x, y, z)``, as in
3D Gaussian splatting).

Frame: positions are (x, y, z) in Angstrom relative to the voxel ``box // 2`` of the map the model was fitted to
(RELION's centre), so that a pose A puts a Gaussian at image position ``(A @ p)[:2]`` from the image centre.
``box``, ``apix`` and ``origin`` remember that map's grid (origin: Angstrom of voxel (0, 0, 0), as in MRC headers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from cryogui.errors import InputError


@dataclass
class GaussianModel:
    """Numpy form of a Gaussian mixture (what is saved, exported and shown)."""

    positions: np.ndarray  # (n, 3) Angstrom, x y z from the frame centre
    amplitudes: np.ndarray  # (n,) peak values, map units
    sigmas: np.ndarray | None = None  # (n,) Angstrom (isotropic)
    scales: np.ndarray | None = None  # (n, 3) Angstrom (anisotropic)
    quats: np.ndarray | None = None  # (n, 4) w x y z (anisotropic)
    box: int | None = None
    apix: float | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        n = len(self.positions)
        self.amplitudes = np.asarray(self.amplitudes, dtype=np.float64).reshape(n)
        if self.scales is not None:
            self.scales = np.asarray(self.scales, dtype=np.float64).reshape(n, 3)
            q = np.ones((n, 4)) * np.array([1.0, 0, 0, 0]) if self.quats is None else \
                np.asarray(self.quats, dtype=np.float64).reshape(n, 4)
            self.quats = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            if self.sigmas is None:
                self.sigmas = np.cbrt(np.prod(self.scales, axis=1))
        if self.sigmas is None:
            raise InputError("a Gaussian model needs widths (sigmas or scales)")
        self.sigmas = np.asarray(self.sigmas, dtype=np.float64).reshape(n)
        bad = [name for name, a in (("positions", self.positions), ("amplitudes", self.amplitudes),
                                    ("sigmas", self.sigmas)) if not np.all(np.isfinite(a))]
        if bad:
            raise InputError(f"Gaussian model has non-finite {', '.join(bad)}")
        if np.any(self.sigmas <= 0):
            raise InputError("Gaussian model has a width <= 0")

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def anisotropic(self) -> bool:
        return self.scales is not None

    def covariances(self) -> np.ndarray:
        """``(n, 3, 3)`` covariance matrices in Angstrom^2."""
        if not self.anisotropic:
            return self.sigmas[:, None, None] ** 2 * np.eye(3)[None]
        r = quat_to_matrix_np(self.quats)
        return np.einsum("nij,nj,nkj->nik", r, self.scales**2, r)

    def subset(self, keep) -> GaussianModel:
        keep = np.asarray(keep)
        return replace(self, positions=self.positions[keep], amplitudes=self.amplitudes[keep],
                       sigmas=self.sigmas[keep],
                       scales=None if self.scales is None else self.scales[keep],
                       quats=None if self.quats is None else self.quats[keep], meta=dict(self.meta))

    def to_isotropic(self) -> GaussianModel:
        return replace(self, scales=None, quats=None, meta=dict(self.meta))

    def to_anisotropic(self) -> GaussianModel:
        if self.anisotropic:
            return self
        n = len(self)
        return replace(self, scales=np.repeat(self.sigmas[:, None], 3, axis=1),
                       quats=np.tile([1.0, 0, 0, 0], (n, 1)), meta=dict(self.meta))

    def integrated_mass(self) -> np.ndarray:
        """Integral of each Gaussian (map units x Angstrom^3)."""
        det = np.prod(self.scales, axis=1) if self.anisotropic else self.sigmas**3
        return self.amplitudes * (2 * np.pi) ** 1.5 * det


def quat_to_matrix_np(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Torch, differentiable: quaternions ``(..., 4)`` (normalised here) to rotation matrices ``(..., 3, 3)``."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def covariance_from_scales(log_scales: torch.Tensor, quats: torch.Tensor) -> torch.Tensor:
    """``R diag(exp(2 log_s)) R^T``: positive definite by construction, differentiable."""
    r = quat_to_matrix(quats)
    s2 = torch.exp(2 * log_scales)
    return (r * s2[..., None, :]) @ r.transpose(-1, -2)


class GMMTensors:
    """The trainable torch form of a :class:`GaussianModel`: ``pos`` (n, 3), ``amp`` (n,), and ``log_sigma`` (n,)
    or ``log_scales`` (n, 3) + ``quat`` (n, 4).  ``params()`` lists the leaves for an optimiser."""

    def __init__(self, model: GaussianModel, device=None, dtype=torch.float32, requires_grad: bool = True):
        kw = dict(device=device, dtype=dtype)
        self.anisotropic = model.anisotropic
        self.pos = torch.tensor(model.positions, **kw).requires_grad_(requires_grad)
        self.amp = torch.tensor(model.amplitudes, **kw).requires_grad_(requires_grad)
        if self.anisotropic:
            self.log_scales = torch.tensor(np.log(model.scales), **kw).requires_grad_(requires_grad)
            self.quat = torch.tensor(model.quats, **kw).requires_grad_(requires_grad)
            self.log_sigma = None
        else:
            self.log_sigma = torch.tensor(np.log(model.sigmas), **kw).requires_grad_(requires_grad)
            self.log_scales = self.quat = None
        self.box, self.apix, self.origin, self.meta = model.box, model.apix, model.origin, dict(model.meta)

    def __len__(self) -> int:
        return self.pos.shape[0]

    def params(self) -> dict[str, torch.Tensor]:
        if self.anisotropic:
            return {"pos": self.pos, "amp": self.amp, "log_scales": self.log_scales, "quat": self.quat}
        return {"pos": self.pos, "amp": self.amp, "log_sigma": self.log_sigma}

    @property
    def sigma(self) -> torch.Tensor:
        if self.anisotropic:
            return torch.exp(self.log_scales.mean(dim=-1))
        return torch.exp(self.log_sigma)

    def covariance(self) -> torch.Tensor:
        if self.anisotropic:
            return covariance_from_scales(self.log_scales, self.quat)
        s2 = torch.exp(2 * self.log_sigma)
        return s2[:, None, None] * torch.eye(3, device=s2.device, dtype=s2.dtype)

    def to_model(self) -> GaussianModel:
        def np_(t):
            return t.detach().cpu().double().numpy()
        if self.anisotropic:
            return GaussianModel(np_(self.pos), np_(self.amp), scales=np.exp(np_(self.log_scales)),
                                 quats=np_(self.quat), box=self.box, apix=self.apix, origin=self.origin,
                                 meta=dict(self.meta))
        return GaussianModel(np_(self.pos), np_(self.amp), sigmas=np.exp(np_(self.log_sigma)), box=self.box,
                             apix=self.apix, origin=self.origin, meta=dict(self.meta))


def placed_grid(model, box: int | None, apix: float | None):
    """Box, pixel size and origin for rendering ``model`` so that it stays where it was in space."""
    b = int(box or model.box or 64)
    a = float(apix or model.apix or 1.0)
    centre = np.asarray(model.origin, float) + (int(model.box or b) // 2) * float(model.apix or a)
    return b, a, tuple(centre - (b // 2) * a)
