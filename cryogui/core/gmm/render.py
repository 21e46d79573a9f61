"""Rendering a Gaussian mixture: 3D grids and 2D projections at RELION poses (torch, differentiable).

Conventions (see :mod:`cryogui.core.rotations` and :mod:`cryogui.core.gmm.model`): positions are Angstrom from the map
centre (voxel ``box // 2``); a pose matrix A puts a reference point p at image position ``(A @ p)[:2] + shift`` (in
Angstrom from the image centre, pixel ``box // 2``; x = column, y = row), exactly as :mod:`cryogui.core.projector`.

Projection units match the voxel projector (and ``relion_project``): an image is the *sum of voxels* along the beam,
i.e. the line integral divided by the pixel size.  The line integral of a 3D Gaussian is a 2D Gaussian:

    P(u) = a sqrt(2 pi) sigma / apix * exp(-|u - c|^2 / (2 sigma^2))                       (isotropic)
    P(u) = a (2 pi)^(1/2) sqrt(det S) / sqrt(det S2) / apix * exp(-1/2 d^T S2^-1 d)           (anisotropic)

with ``S2 = (A S A^T)[:2, :2]`` and ``d = u - c``.

Two fast paths, one reference:

* :func:`project_iso` -- isotropic: each Gaussian's image is separable, ``g_y(row) g_x(col)``, so a batch of images is
  one batched matrix product ``(B, H, K) @ (B, K, W)``: memory ``B K (H + W)``, never ``B K H W``.
* :func:`project_aniso` -- anisotropic: each Gaussian is evaluated on a truncated square footprint (``3 sigma``) around
  its centre and scattered into the images with ``index_add``: memory ``B K w^2``.
* :func:`project_dense` -- the reference: every Gaussian at every pixel, chunked over Gaussians (tests, benchmarks).

For the eigen-motion panel: positions may be ``(K, 3)`` (one model) or ``(B, K, 3)`` (per-particle displaced models),
amplitudes ``(K,)`` or ``(B, K)``; everything is differentiable w.r.t. positions, amplitudes and widths, batched over
particles.  :func:`project_images` adds the CTF.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from cryogui.core.ctf import CTFParams, apply_ctf

_SQRT2PI = math.sqrt(2 * math.pi)
# exp(-q) is set to exactly 0 beyond q = 12 (4.9 sigma, 6e-6 of the peak): the far tails would otherwise underflow
# into denormal floats, which make CPU arithmetic (and MKL's batched GEMM) an order of magnitude slower.
_Q_CUT = 12.0


def _gauss(q: torch.Tensor) -> torch.Tensor:
    """``exp(-q)`` truncated to 0 for ``q >= 12`` (no denormals; differentiable)."""
    return torch.exp(-q.clamp_max(_Q_CUT)) * (q < _Q_CUT).to(q.dtype)


def _t(x, device, dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)


def axis_A(box: int, apix: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Coordinates in Angstrom of the voxel/pixel centres along one axis: ``(i - box//2) * apix``."""
    return (torch.arange(box, device=device, dtype=dtype) - box // 2) * apix


def _image_centres(pos, mats, shifts_A):
    """Projected centres ``(B, K, 2)`` in Angstrom from the image centre, and the batch-broadcast positions."""
    b = mats.shape[0]
    p = pos if pos.ndim == 3 else pos[None].expand(b, -1, -1)
    c = torch.einsum("bij,bkj->bki", mats[:, :2, :], p)
    if shifts_A is not None:
        c = c - shifts_A[:, None, :]
    return c, p


def _prep(mats, shifts_A, ref: torch.Tensor):
    mats = _t(mats, ref.device, ref.dtype).reshape(-1, 3, 3)
    shifts = None if shifts_A is None else _t(shifts_A, ref.device, ref.dtype).reshape(-1, 2)
    return mats, shifts


def project_iso(pos: torch.Tensor, amp: torch.Tensor, sigma: torch.Tensor, mats, shifts_A=None, *, box: int,
                apix: float, chunk: int | None = None) -> torch.Tensor:
    """Projections ``(B, box, box)`` of isotropic Gaussians at poses ``mats`` ``(B, 3, 3)`` (fast separable path).

    pos ``(K, 3)`` or ``(B, K, 3)`` Angstrom; amp ``(K,)`` or ``(B, K)``; sigma ``(K,)`` or ``(B, K)`` Angstrom;
    shifts_A ``(B, 2)`` Angstrom or None.  ``chunk`` limits Gaussians per matrix product (memory).
    """
    mats, shifts = _prep(mats, shifts_A, pos)
    b = mats.shape[0]
    k = pos.shape[-2]
    c, _ = _image_centres(pos, mats, shifts)  # (B, K, 2)
    ax = axis_A(box, apix, pos.device, pos.dtype)
    sig = sigma if sigma.ndim == 2 else sigma[None].expand(b, -1)
    a = amp if amp.ndim == 2 else amp[None].expand(b, -1)
    weight = a * sig * (_SQRT2PI / apix)  # (B, K)
    chunk = chunk or max(1, int(2**25 // max(1, b * 2 * box)))
    out = None
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        inv = 0.5 / sig[:, s:e, None] ** 2
        gx = _gauss(((ax[None, None, :] - c[:, s:e, 0:1]) ** 2) * inv)  # (B, k, W)
        gy = _gauss(((ax[None, None, :] - c[:, s:e, 1:2]) ** 2) * inv) * weight[:, s:e, None]  # (B, k, H)
        part = torch.bmm(gy.transpose(1, 2), gx)  # (B, H, W)
        out = part if out is None else out + part
    return out


def projected_covariance(cov: torch.Tensor, mats: torch.Tensor) -> torch.Tensor:
    """``(A S A^T)[:2, :2]`` for covariances ``(K, 3, 3)`` or ``(B, K, 3, 3)`` and poses ``(B, 3, 3)``."""
    a2 = mats[:, None, :2, :]
    return a2 @ cov @ a2.transpose(-1, -2) if cov.ndim == 4 else a2 @ cov[None] @ a2.transpose(-1, -2)


def _aniso_terms(cov, mats, apix):
    s2 = projected_covariance(cov, mats)  # (B, K, 2, 2) A^2
    det3 = torch.linalg.det(cov)
    det2 = s2[..., 0, 0] * s2[..., 1, 1] - s2[..., 0, 1] * s2[..., 1, 0]
    det3 = det3 if det3.ndim == 2 else det3[None]
    norm = _SQRT2PI * torch.sqrt(det3.clamp_min(1e-30)) / torch.sqrt(det2.clamp_min(1e-30)) / apix
    inv = torch.stack([torch.stack([s2[..., 1, 1], -s2[..., 0, 1]], -1),
                       torch.stack([-s2[..., 1, 0], s2[..., 0, 0]], -1)], -2) / det2.clamp_min(1e-30)[..., None, None]
    return s2, norm, inv


def project_aniso(pos: torch.Tensor, amp: torch.Tensor, cov: torch.Tensor, mats, shifts_A=None, *, box: int,
                  apix: float, half_width: int | None = None, chunk: int | None = None) -> torch.Tensor:
    """Projections ``(B, box, box)`` of anisotropic Gaussians (covariances ``(K, 3, 3)`` or ``(B, K, 3, 3)`` A^2),
    each evaluated on a ``(2w+1)^2`` footprint around its centre (``w`` = 3 largest projected sigmas unless
    given) and scattered into the images.  Memory ``B K (2w+1)^2``."""
    mats, shifts = _prep(mats, shifts_A, pos)
    b = mats.shape[0]
    k = pos.shape[-2]
    c, _ = _image_centres(pos, mats, shifts)
    s2, norm, inv = _aniso_terms(cov, mats, apix)
    a = amp if amp.ndim == 2 else amp[None].expand(b, -1)
    weight = a * norm  # (B, K)
    if half_width is None:
        with torch.no_grad():
            big = torch.sqrt(torch.clamp(s2[..., 0, 0], min=0).max().clamp_min(s2[..., 1, 1].max())) / apix
            half_width = int(min(box, math.ceil(3.0 * float(big)) + 1))
    w = int(half_width)
    offs = torch.arange(-w, w + 1, device=pos.device)
    cpx = c / apix + box // 2  # (B, K, 2) pixel coordinates (col, row)
    base = torch.round(cpx).detach().long()
    out = torch.zeros(b * box * box, device=pos.device, dtype=pos.dtype)
    img_index = torch.arange(b, device=pos.device)[:, None, None, None] * (box * box)
    n_fp = (2 * w + 1) ** 2
    chunk = chunk or max(1, int(2**24 // max(1, b * n_fp)))
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        col = base[:, s:e, 0, None, None] + offs[None, None, None, :]  # (B, k, 1, F)
        row = base[:, s:e, 1, None, None] + offs[None, None, :, None]  # (B, k, F, 1)
        dx = col.to(pos.dtype) - cpx[:, s:e, 0, None, None]
        dy = row.to(pos.dtype) - cpx[:, s:e, 1, None, None]
        iv = inv[:, s:e] * apix * apix  # inverse covariance in pixel units
        q = iv[..., 0, 0, None, None] * dx * dx + 2 * iv[..., 0, 1, None, None] * dx * dy + \
            iv[..., 1, 1, None, None] * dy * dy
        val = weight[:, s:e, None, None] * _gauss(0.5 * q)  # (B, k, F, F)
        inside = (col >= 0) & (col < box) & (row >= 0) & (row < box)
        val = torch.where(inside, val, torch.zeros((), dtype=val.dtype, device=val.device))
        idx = (img_index + row.clamp(0, box - 1) * box + col.clamp(0, box - 1)).expand(-1, e - s, -1, -1)
        out = out.index_add(0, idx.reshape(-1), val.reshape(-1))
    return out.view(b, box, box)


def project_dense(pos: torch.Tensor, amp: torch.Tensor, cov: torch.Tensor, mats, shifts_A=None, *, box: int,
                  apix: float, chunk: int = 64) -> torch.Tensor:
    """Reference projection: every Gaussian evaluated at every pixel (``B x chunk x H x W`` at a time)."""
    mats, shifts = _prep(mats, shifts_A, pos)
    b = mats.shape[0]
    k = pos.shape[-2]
    if cov.ndim == 1:  # isotropic sigmas
        cov = cov[:, None, None] ** 2 * torch.eye(3, device=pos.device, dtype=pos.dtype)
    c, _ = _image_centres(pos, mats, shifts)
    _, norm, inv = _aniso_terms(cov, mats, apix)
    a = amp if amp.ndim == 2 else amp[None].expand(b, -1)
    ax = axis_A(box, apix, pos.device, pos.dtype)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    out = torch.zeros(b, box, box, device=pos.device, dtype=pos.dtype)
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        dx = xx[None, None] - c[:, s:e, 0, None, None]
        dy = yy[None, None] - c[:, s:e, 1, None, None]
        iv = inv[:, s:e]
        q = iv[..., 0, 0, None, None] * dx * dx + 2 * iv[..., 0, 1, None, None] * dx * dy + \
            iv[..., 1, 1, None, None] * dy * dy
        out = out + ((a[:, s:e] * norm[:, s:e])[..., None, None] * _gauss(0.5 * q)).sum(dim=1)
    return out


def render_volume_iso(pos: torch.Tensor, amp: torch.Tensor, sigma: torch.Tensor, *, box: int, apix: float,
                      chunk: int | None = None, truncate: float = 3.5) -> torch.Tensor:
    """The isotropic mixture sampled on a ``box^3`` grid ``(z, y, x)``.

    Narrow Gaussians (the usual case) are evaluated separably on a truncated ``(2w+1)^3`` footprint
    (``w = truncate sigma``) and scattered with ``index_add``; the few wide ones (footprint over half the box) go
    through the dense separable product ``G_z^T @ (a G_y x G_x)``.  ``truncate=0`` forces the dense path.
    """
    if truncate <= 0:
        return _render_volume_iso_dense(pos, amp, sigma, box=box, apix=apix, chunk=chunk)
    with torch.no_grad():
        wk = torch.ceil(truncate * sigma / apix).long()
    out = torch.zeros(box**3, device=pos.device, dtype=pos.dtype)
    lo, limit = -1, max(1, box // 4)
    for hi in (2, 4, 8, 16, 32, 64):  # footprints grouped by width, so one wide Gaussian does not widen them all
        hi = min(hi, limit)
        sel = (wk > lo) & (wk <= hi)
        if bool(sel.any()):
            out = _render_volume_iso_footprint(out, pos[sel], amp[sel], sigma[sel], box, apix, hi, chunk)
        lo = hi
        if hi >= limit:
            break
    out = out.view(box, box, box)
    wide = wk > limit
    if bool(wide.any()):
        out = out + _render_volume_iso_dense(pos[wide], amp[wide], sigma[wide], box=box, apix=apix, chunk=chunk)
    return out


def _render_volume_iso_footprint(out, pos, amp, sigma, box, apix, w, chunk):
    k = pos.shape[0]
    offs = torch.arange(-w, w + 1, device=pos.device)
    cpx = pos / apix + box // 2
    base = torch.round(cpx).detach().long()  # (k, 3)
    f = 2 * w + 1
    chunk = chunk or max(1, int(2**23 // f**3))
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        idx = base[s:e, :, None] + offs[None, None, :]  # (k, 3, F)
        d = idx.to(pos.dtype) - cpx[s:e, :, None]
        g = _gauss(0.5 * d * d / (sigma[s:e, None, None] / apix) ** 2)
        g = torch.where((idx >= 0) & (idx < box), g, torch.zeros((), dtype=g.dtype, device=g.device))
        val = amp[s:e, None, None, None] * g[:, 2, :, None, None] * g[:, 1, None, :, None] * g[:, 0, None, None, :]
        ic = idx.clamp(0, box - 1)
        flat = (ic[:, 2, :, None, None] * box + ic[:, 1, None, :, None]) * box + ic[:, 0, None, None, :]
        out = out.index_add(0, flat.reshape(-1), val.reshape(-1))
    return out


def _render_volume_iso_dense(pos, amp, sigma, *, box, apix, chunk=None):
    ax = axis_A(box, apix, pos.device, pos.dtype)
    k = pos.shape[0]
    chunk = chunk or max(1, int(2**23 // (box * box)))
    out = torch.zeros(box, box, box, device=pos.device, dtype=pos.dtype)
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        inv = 0.5 / sigma[s:e, None] ** 2
        g = [_gauss(((ax[None] - pos[s:e, i:i + 1]) ** 2) * inv) for i in range(3)]  # x, y, z: (k, box)
        gyx = (g[1][:, :, None] * g[0][:, None, :] * amp[s:e, None, None]).reshape(e - s, box * box)
        out = out + (g[2].transpose(0, 1) @ gyx).view(box, box, box)
    return out


def render_volume_aniso(pos: torch.Tensor, amp: torch.Tensor, cov: torch.Tensor, *, box: int, apix: float,
                        half_width: int | None = None, chunk: int | None = None) -> torch.Tensor:
    """Anisotropic mixture on a ``box^3`` grid, each Gaussian on a truncated ``(2w+1)^3`` footprint."""
    if half_width is None:
        with torch.no_grad():
            big = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1).max()) / apix
            half_width = int(min(box, math.ceil(3.0 * float(big)) + 1))
    w = int(half_width)
    k = pos.shape[0]
    offs = torch.arange(-w, w + 1, device=pos.device)
    cpx = pos / apix + box // 2
    base = torch.round(cpx).detach().long()
    inv = torch.linalg.inv(cov) * apix * apix
    out = torch.zeros(box**3, device=pos.device, dtype=pos.dtype)
    n_fp = (2 * w + 1) ** 3
    chunk = chunk or max(1, int(2**23 // n_fp))
    for s in range(0, k, chunk):
        e = min(k, s + chunk)
        ix = base[s:e, 0, None, None, None] + offs[None, None, None, :]
        iy = base[s:e, 1, None, None, None] + offs[None, None, :, None]
        iz = base[s:e, 2, None, None, None] + offs[None, :, None, None]
        d = [ix.to(pos.dtype) - cpx[s:e, 0, None, None, None], iy.to(pos.dtype) - cpx[s:e, 1, None, None, None],
             iz.to(pos.dtype) - cpx[s:e, 2, None, None, None]]
        iv = inv[s:e]
        q = 0
        for i in range(3):
            for j in range(3):
                q = q + iv[:, i, j, None, None, None] * d[i] * d[j]
        val = amp[s:e, None, None, None] * _gauss(0.5 * q)
        inside = (ix >= 0) & (ix < box) & (iy >= 0) & (iy < box) & (iz >= 0) & (iz < box)
        val = torch.where(inside, val, torch.zeros((), dtype=val.dtype, device=val.device))
        idx = (iz.clamp(0, box - 1) * box + iy.clamp(0, box - 1)) * box + ix.clamp(0, box - 1)
        out = out.index_add(0, idx.expand(-1, 2 * w + 1, 2 * w + 1, 2 * w + 1).reshape(-1), val.reshape(-1))
    return out.view(box, box, box)


def render_tensors(g, *, box: int, apix: float) -> torch.Tensor:
    """3D rendering of a :class:`cryogui.core.gmm.model.GMMTensors` (dispatches iso/aniso)."""
    if g.anisotropic:
        return render_volume_aniso(g.pos, g.amp, g.covariance(), box=box, apix=apix)
    return render_volume_iso(g.pos, g.amp, g.sigma, box=box, apix=apix)


def project_tensors(g, mats, shifts_A=None, *, box: int, apix: float) -> torch.Tensor:
    """2D projections of a :class:`GMMTensors` at poses (dispatches iso/aniso fast paths)."""
    if g.anisotropic:
        return project_aniso(g.pos, g.amp, g.covariance(), mats, shifts_A, box=box, apix=apix)
    return project_iso(g.pos, g.amp, g.sigma, mats, shifts_A, box=box, apix=apix)


def project_images(g, mats, shifts_A=None, ctf: CTFParams | None = None, *, box: int, apix: float) -> torch.Tensor:
    """Projections with the CTF applied in Fourier space (``ctf`` holds one entry per pose; None: no CTF)."""
    img = project_tensors(g, mats, shifts_A, box=box, apix=apix)
    return img if ctf is None else apply_ctf(img, ctf, apix)


def render_model(model, box: int | None = None, apix: float | None = None, device=None) -> np.ndarray:
    """Numpy ``(box, box, box)`` float32 rendering of a :class:`GaussianModel` (defaults: its own grid)."""
    from cryogui.core.device import get_device
    from cryogui.core.gmm.model import GMMTensors

    box = int(box or model.box or 64)
    apix = float(apix or model.apix or 1.0)
    device = device or get_device()
    with torch.no_grad():
        g = GMMTensors(model, device=device, requires_grad=False)
        return render_tensors(g, box=box, apix=apix).cpu().numpy().astype(np.float32)


def project_model(model, mats, shifts_A=None, ctf: CTFParams | None = None, box: int | None = None,
                  apix: float | None = None, batch: int = 256, device=None) -> np.ndarray:
    """Numpy projections ``(n, box, box)`` of a :class:`GaussianModel` (optionally with CTF), in batches."""
    from cryogui.core.device import get_device
    from cryogui.core.gmm.model import GMMTensors

    box = int(box or model.box or 64)
    apix = float(apix or model.apix or 1.0)
    device = device or get_device()
    mats = np.asarray(mats, dtype=np.float64).reshape(-1, 3, 3)
    out = []
    with torch.no_grad():
        g = GMMTensors(model, device=device, requires_grad=False)
        for s in range(0, len(mats), batch):
            sl = slice(s, s + batch)
            sub_ctf = None if ctf is None else subset_ctf(ctf, np.arange(len(mats))[sl])
            sh = None if shifts_A is None else np.asarray(shifts_A)[sl]
            out.append(project_images(g, mats[sl], sh, sub_ctf, box=box, apix=apix).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def subset_ctf(ctf: CTFParams, idx) -> CTFParams:
    """The CTF parameters of a subset of particles."""
    from dataclasses import replace

    idx = np.asarray(idx)
    return replace(ctf, defocus_u=np.atleast_1d(ctf.defocus_u)[idx], defocus_v=np.atleast_1d(ctf.defocus_v)[idx],
                   defocus_angle=np.atleast_1d(ctf.defocus_angle)[idx])
