"""Per-particle FRC between a particle and the CTF-modulated projection of a Gaussian model, and its gradient.

For particle i with pose A_i, origin shift t_i and CTF h_i, the model projection is

    P_i = h_i * sum_j A_j sqrt(2 pi) sigma_j / apix * exp(-|u - (A_i p_j)[:2] + t_i|^2 / (2 sigma_j^2))

and the score is the mean Fourier ring correlation over rings 1..R (R set by a resolution limit):

    FRC_i = 1/R sum_r Re<F(I_i), F(P_i)>_r / sqrt(|F(I_i)|^2_r |F(P_i)|^2_r)

``Grad_ij = dFRC_i / dp_j`` (3 numbers per Gaussian) comes from autograd on per-particle copies of the positions
``(B, K, 3)``.  Because the projection only sees ``(A_i p_j)[:2]``, each gradient lies in particle i's projection
plane (orthogonal to its beam direction): the 2D image-plane gradient gathered in 3D is ``A_i[:2]^T g2d``.  The
gradient w.r.t. amplitudes ``dFRC_i / dA_j`` is returned too (compositional heterogeneity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from cryogui.core.ctf import CTFParams, ctf_2d
from cryogui.core.gmm.metrics import frc
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import project_iso
from cryogui.errors import InputError


@dataclass
class ParticleData:
    """What the analysis needs of a particle set: images, poses (RELION matrices), origins, CTF and pixel size."""

    images: np.ndarray  # (n, b, b) float32
    mats: np.ndarray  # (n, 3, 3)
    shifts_A: np.ndarray  # (n, 2)
    ctf: CTFParams | None
    apix: float

    def __post_init__(self):
        self.images = np.asarray(self.images, dtype=np.float32)
        if self.images.ndim != 3 or self.images.shape[1] != self.images.shape[2]:
            raise InputError(f"particle images must be a stack of square images, got shape {self.images.shape}")
        n = len(self.images)
        self.mats = np.asarray(self.mats, dtype=np.float64).reshape(-1, 3, 3)
        self.shifts_A = np.zeros((n, 2)) if self.shifts_A is None else \
            np.asarray(self.shifts_A, dtype=np.float64).reshape(-1, 2)
        if len(self.mats) != n or len(self.shifts_A) != n:
            raise InputError(f"{n} images but {len(self.mats)} poses and {len(self.shifts_A)} origin shifts")
        if self.ctf is not None and len(self.ctf) != n:
            raise InputError(f"{n} images but {len(self.ctf)} CTF entries")
        if not self.apix or self.apix <= 0:
            raise InputError("the particles have no pixel size")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def box(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, idx) -> ParticleData:
        from cryogui.core.gmm.render import subset_ctf

        idx = np.asarray(idx)
        return ParticleData(self.images[idx], self.mats[idx], self.shifts_A[idx],
                            None if self.ctf is None else subset_ctf(self.ctf, idx), self.apix)


def check_model_fits(model: GaussianModel, data: ParticleData) -> None:
    """InputError when the model's grid (box, pixel size) does not match the particles'."""
    if model.apix and abs(float(model.apix) - data.apix) > 0.01 * data.apix:
        raise InputError(f"the Gaussian model was made at {model.apix:.3f} A/px but the particles are at "
                         f"{data.apix:.3f} A/px")
    if model.box and int(model.box) != data.box:
        raise InputError(f"the Gaussian model's box is {model.box} px but the particles are {data.box} px")
    if len(model) < 1:
        raise InputError("the Gaussian model has no Gaussians")


def default_ring_limit(model: GaussianModel, box: int, apix: float, res_A: float | None = None) -> int:
    """Number of Fourier rings used by the score: up to ``res_A`` (default: where the mean Gaussian's transform
    falls to 5%, ``f = sqrt(ln 20 / (2 pi^2 sigma^2))``), at most Nyquist."""
    if res_A is None:
        sig = float(np.median(model.sigmas))
        f = math.sqrt(math.log(20.0) / (2 * math.pi**2 * sig**2))
    else:
        f = 1.0 / max(res_A, 2 * apix)
    return int(max(2, min(box // 2, math.floor(f * box * apix))))


def mean_frc(pred: torch.Tensor, images: torch.Tensor, rings: int) -> torch.Tensor:
    """Mean FRC over rings 1..rings per image pair ``(B,)`` (differentiable)."""
    return frc(pred, images)[:, 1:rings + 1].mean(dim=1)


class Scorer:
    """Scores batches of particles against displaced / reweighted models: the mean FRC over rings 1..R.

    Fast path of the same FRC as :func:`mean_frc` on real-space projections (:func:`project_iso` + CTF): the
    projection of an isotropic Gaussian has the analytic transform

        F_j(s) = A_j sqrt(2 pi) sigma_j / apix * 2 pi sigma_j^2 / apix^2 * exp(-2 pi^2 sigma_j^2 |s|^2 - 2 pi i s.c_j)

    (the DFT of the sampled image, centre at pixel box//2), separable in s_x and s_y, so only the coefficients of
    rings 1..R are computed (a complex batched matrix product ``(B, 2R+1, K) @ (B, K, R+1)``), the CTF multiplies
    them, and the ring sums are one product with a one-hot ring matrix.  The particles' transforms are taken once.
    """

    def __init__(self, model: GaussianModel, data: ParticleData, *, rings: int, device=None,
                 dtype=torch.float32):
        self.device = device or torch.device("cpu")
        kw = dict(device=self.device, dtype=dtype)
        self.pos = torch.tensor(model.positions, **kw)
        self.amp = torch.tensor(model.amplitudes, **kw)
        self.sigma = torch.tensor(model.sigmas, **kw)
        self.data = data
        box, apix = data.box, data.apix
        self.rings = int(min(rings, box // 2))
        self.kw = kw
        r_ = self.rings
        ky = torch.arange(-r_, r_ + 1, device=self.device)
        kx = torch.arange(0, r_ + 1, device=self.device)
        self.iy, self.ix = ky % box, kx
        ring = torch.round(torch.sqrt((ky[:, None] ** 2 + kx[None, :] ** 2).to(dtype))).long()
        keep = (ring >= 1) & (ring <= r_)
        # the rfft2 half plane: row ky = -R..R (mod box) at kx = 0 appears twice in the full-plane FRC sum
        self.sel = keep.reshape(-1).nonzero().squeeze(1)
        self.onehot = torch.nn.functional.one_hot(ring.reshape(-1)[self.sel] - 1, r_).to(dtype)  # (P, R)
        self.sy = ky.to(dtype) / (box * apix)
        self.sx = kx.to(dtype) / (box * apix)
        ph = -2 * math.pi * (ky[:, None] + kx[None, :]).to(torch.float64) * (box // 2) / box
        self.phase0 = torch.polar(torch.ones_like(ph), ph).to(torch.complex64 if dtype == torch.float32
                                                              else torch.complex128).reshape(-1)[self.sel]
        self.norm = math.sqrt(2 * math.pi) * 2 * math.pi / apix**3

    def batch(self, sl: slice):
        """Tensors of one batch: particle transforms (selected coefficients) with their ring powers, poses, shifts,
        CTF (selected coefficients, or None)."""
        d = self.data
        imgs = torch.as_tensor(np.ascontiguousarray(d.images[sl]), **self.kw)
        b = imgs.shape[0]
        fi = torch.fft.rfft2(imgs)[:, self.iy][:, :, self.ix].reshape(b, -1)[:, self.sel]
        pi = (fi.real**2 + fi.imag**2) @ self.onehot
        mats = torch.as_tensor(np.array(d.mats[sl]), **self.kw)
        shifts = torch.as_tensor(np.array(d.shifts_A[sl]), **self.kw)
        ctf = None
        if d.ctf is not None:
            full = ctf_2d(_sub(d.ctf, sl, len(d)), d.box, d.apix, rfft=True, device=self.device,
                          dtype=self.kw["dtype"])
            ctf = full[:, self.iy][:, :, self.ix].reshape(b, -1)[:, self.sel]
        return (fi, pi), mats, shifts, ctf

    def centres(self, pos, mats, shifts) -> torch.Tensor:
        """Projected centres ``(B, K, 2)`` in Angstrom from the image centre (RELION: ``(A p)[:2] - origin``)."""
        b = mats.shape[0]
        p = pos if pos.ndim == 3 else pos[None].expand(b, -1, -1)
        return torch.einsum("bij,bkj->bki", mats[:, :2, :], p) - shifts[:, None, :]

    def factors(self, c, amp):
        """The separable factors ``(ey (B, K, Ky), ex (B, K, Kx))`` of the transforms for centres ``c``."""
        b = c.shape[0]
        a = amp if amp.ndim == 2 else amp[None].expand(b, -1)
        w = a * self.sigma**3 * self.norm  # (B, K)
        g2 = -2 * math.pi**2 * self.sigma[:, None] ** 2
        ex = torch.polar(torch.exp(g2 * self.sx**2)[None].expand(b, -1, -1), -2 * math.pi * c[..., 0:1] * self.sx)
        ey = torch.polar(torch.exp(g2 * self.sy**2)[None] * w[..., None], -2 * math.pi * c[..., 1:2] * self.sy)
        return ey, ex

    def frc_of(self, ey, ex, imgs, ctf) -> torch.Tensor:
        """Mean FRC over rings 1..R from separable factors."""
        b = ey.shape[0]
        fp = torch.bmm(ey.transpose(1, 2), ex).reshape(b, -1)[:, self.sel] * self.phase0
        if ctf is not None:
            fp = fp * ctf
        fi, pi = imgs
        num = (fi.real * fp.real + fi.imag * fp.imag) @ self.onehot
        pp = (fp.real**2 + fp.imag**2) @ self.onehot
        return (num / torch.sqrt(pi * pp + 1e-20)).mean(dim=1)

    def transform(self, pos, amp, mats, shifts) -> torch.Tensor:
        """Selected Fourier coefficients ``(B, P)`` of the projections (no CTF)."""
        ey, ex = self.factors(self.centres(pos, mats, shifts), amp)
        b = ey.shape[0]
        return torch.bmm(ey.transpose(1, 2), ex).reshape(b, -1)[:, self.sel] * self.phase0

    def score(self, pos, amp, imgs, mats, shifts, ctf) -> torch.Tensor:
        """Mean FRC over rings 1..R per particle ``(B,)``; ``imgs`` is what :meth:`batch` returned first."""
        ey, ex = self.factors(self.centres(pos, mats, shifts), amp)
        return self.frc_of(ey, ex, imgs, ctf)

    def line_scores(self, pos, amp, direction, values, imgs, mats, shifts, ctf) -> torch.Tensor:
        """Scores ``(G, B)`` of the models ``pos + v * direction`` for evenly spaced ``values`` (no gradient):
        the phase factors of consecutive values differ by a fixed factor, so one complex multiply per step
        replaces the trigonometry."""
        c0 = self.centres(pos, mats, shifts)
        b = mats.shape[0]
        d = direction if direction.ndim == 3 else direction[None].expand(b, -1, -1)
        wdir = torch.einsum("bij,bkj->bki", mats[:, :2, :], d)  # (B, K, 2) image-plane motion per unit c
        ey, ex = self.factors(c0 + values[0] * wdir, amp)
        out = torch.empty(len(values), b, device=c0.device, dtype=c0.dtype)
        if len(values) > 1:
            step = values[1] - values[0]
            rx = torch.polar(torch.ones_like(ex.real), -2 * math.pi * step * wdir[..., 0:1] * self.sx)
            ry = torch.polar(torch.ones_like(ey.real), -2 * math.pi * step * wdir[..., 1:2] * self.sy)
        for g in range(len(values)):
            if g:
                ex, ey = ex * rx, ey * ry
            out[g] = self.frc_of(ey, ex, imgs, ctf)
        return out


def _sub(ctf: CTFParams, sl: slice, n: int) -> CTFParams:
    from cryogui.core.gmm.render import subset_ctf

    return subset_ctf(ctf, np.arange(n)[sl])


@dataclass
class GradientResult:
    grad_pos: np.ndarray  # (n, K, 3) dFRC/dp, in each particle's projection plane, per Angstrom
    grad_amp: np.ndarray  # (n, K) dFRC/dA
    frc: np.ndarray  # (n,) mean FRC of each particle against the model
    rings: int


def particle_gradients(model: GaussianModel, data: ParticleData, *, rings: int | None = None, batch: int = 128,
                       device=None, dtype=torch.float32):
    """Generator over batches: yields ``(done, total)`` after each batch and returns a :class:`GradientResult`.

    Batched over particles: each batch gets its own copy of the positions ``(B, K, 3)`` and amplitudes ``(B, K)``
    so one backward pass of ``sum_i FRC_i`` gives every particle's gradient at once.
    """
    check_model_fits(model, data)
    rings = rings or default_ring_limit(model, data.box, data.apix)
    sc = Scorer(model, data, rings=rings, device=device, dtype=dtype)
    n, k = len(data), len(model)
    gp = np.zeros((n, k, 3), dtype=np.float32)
    ga = np.zeros((n, k), dtype=np.float32)
    fr = np.zeros(n, dtype=np.float32)
    with torch.enable_grad():
        for s in range(0, n, batch):
            sl = slice(s, min(n, s + batch))
            imgs, mats, shifts, ctf = sc.batch(sl)
            b = mats.shape[0]
            pos = sc.pos[None].expand(b, -1, -1).clone().requires_grad_(True)
            amp = sc.amp[None].expand(b, -1).clone().requires_grad_(True)
            f = sc.score(pos, amp, imgs, mats, shifts, ctf)
            g_pos, g_amp = torch.autograd.grad(f.sum(), (pos, amp))
            gp[sl] = g_pos.detach().cpu().numpy()
            ga[sl] = g_amp.detach().cpu().numpy()
            fr[sl] = f.detach().cpu().numpy()
            yield sl.stop, n
    return GradientResult(gp, ga, fr, rings)


def image_plane_gradients(grad_pos: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """The 2D gradients on each particle's projection plane ``(n, K, 2)``: ``A_i[:2] @ g_ij`` (x = column, y = row)."""
    return np.einsum("nij,nkj->nki", np.asarray(mats)[:, :2, :], grad_pos)
