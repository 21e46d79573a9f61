"""Size-agnostic default picker: scale-space blob detection with a size-consistency prior.

1. Scale search.  The scale-normalised LoG response ``R_s = s^2 lap(G_s * I)`` is computed for diameters from
   ``min_diameter`` to ``max_diameter`` (4 scales per octave, on a binned pyramid).  Strong local maxima of each
   scale are candidates; each candidate's characteristic scale is the scale where its own ``R_s`` is largest
   (Lindeberg), and its diameter is ``d = 2 sqrt(2) s`` (a disk of radius r peaks at s = r / sqrt(2)).
2. Size consistency (the seed's prior: one particle species has one size).  The dominant diameter ``d0`` is the
   mode of the candidates' diameters.  Picks far from it are down-weighted by ``exp(-ln(d/d0)^2 / (2 tol^2))``
   (tol = 0.3).
3. Detection at ``d0``: local maxima of ``R`` at the dominant scale, at least ``0.6 d0`` apart (duplicate
   suppression), scored by their robust z-score against the response's own noise level.
4. Rejection of what is not a particle: ridges and edges (carbon edges, the rim of ice contamination) by the ratio
   of the Hessian eigenvalues; over-dark spots (ice contamination, thick ice) by their darkness relative to the
   typical pick; picks within ``d0 / 2`` of the border.
5. Confidence in [0, 1]: ``sigmoid((z - z_c) / w)`` times the size and rejection weights, where ``z_c`` sits just
   above the largest z expected from noise alone for that many independent positions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.picking.scalespace import build_pyramid, hessian_at, robust_z, sample

K_DIAMETER = 3.3   # d / sigma* for a projected sphere (a flat disk would give 2 sqrt 2)


@dataclass
class AutopickParams:
    diameter: float | None = None        # approximate diameter (px): narrows the scale search to 0.6-1.6x
    min_diameter: float = 16.0           # search range (px) when the size is not given
    max_diameter: float | None = None    # default: a quarter of the shorter side
    threshold: float = 0.5               # default confidence threshold (applied by callers; all picks >= floor kept)
    floor: float = 0.05                  # picks below this confidence are dropped
    scales_per_octave: int = 4
    size_tolerance: float = 0.3          # sigma of ln(d / d0) in the size prior
    edge_ratio: float = 0.2              # smallest / largest Hessian eigenvalue below this: an edge or ridge
    max_darkness: float = 3.0            # darker than this many times the typical pick: contamination
    border: float = 0.5                  # drop picks closer than border x d0 to the image edge
    dark_is_signal: bool = True          # raw micrographs: protein dark
    max_work_side: int = 2048            # larger micrographs are analysed binned (min diameter scales with it)


def _min_factor(shape, p: AutopickParams) -> int:
    f = 1
    while max(shape) / f > p.max_work_side:
        f *= 2
    return f


def _diameters(p: AutopickParams, shape) -> np.ndarray:
    if p.diameter:
        lo, hi = 0.6 * p.diameter, 1.6 * p.diameter
    else:
        lo = p.min_diameter * _min_factor(shape, p)
        hi = p.max_diameter or min(shape) / 4.0
    hi = max(hi, lo * 1.5)
    n = int(np.ceil(np.log2(hi / lo) * p.scales_per_octave)) + 1
    return lo * 2.0 ** (np.arange(n) / p.scales_per_octave)


def _remove_plane(img: np.ndarray) -> np.ndarray:
    """Subtract a robust plane fitted on a coarse grid (ice-thickness gradient)."""
    ny, nx = img.shape
    step = max(1, min(ny, nx) // 64)
    sub = img[: ny // step * step, : nx // step * step].reshape(ny // step, step, nx // step, step).mean((1, 3))
    yy, xx = np.mgrid[: sub.shape[0], : sub.shape[1]]
    a = np.stack([np.ones(sub.size), xx.ravel(), yy.ravel()], 1).astype(np.float64)
    b = sub.ravel().astype(np.float64)
    keep = np.ones(b.size, dtype=bool)
    coef = np.zeros(3)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(a[keep], b[keep], rcond=None)
        r = b - a @ coef
        mad = np.median(np.abs(r[keep] - np.median(r[keep]))) + 1e-12
        keep = np.abs(r - np.median(r[keep])) < 2.5 * 1.4826 * mad
    gx = (coef[1] * ((np.arange(nx) + 0.5) / step - 0.5)).astype(np.float32)
    gy = (coef[0] + coef[2] * ((np.arange(ny) + 0.5) / step - 0.5)).astype(np.float32)
    out = img - gy[:, None]
    out -= gx[None, :]
    return out


def _peaks(zmap: torch.Tensor, radius: float, zmin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima (iy, ix, z) of a 2D map above zmin, at least ``radius`` binned pixels apart (3x3 maxima, then
    greedy suppression)."""
    a = zmap.detach().cpu().numpy()
    h, w = a.shape
    iy, ix = np.nonzero(a[1:-1, 1:-1] > zmin)
    iy, ix = iy + 1, ix + 1
    zz = a[iy, ix]
    is_max = np.ones(len(zz), dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                is_max &= zz >= a[iy + dy, ix + dx]
    iy, ix, zz = iy[is_max], ix[is_max], zz[is_max]
    if radius > 1.5 and len(iy) > 1:
        keep = _nms(ix.astype(float), iy.astype(float), zz.astype(float), radius)
        iy, ix, zz = iy[keep], ix[keep], zz[keep]
    return iy, ix, zz


def _nms(x, y, score, radius) -> np.ndarray:
    """Greedy non-maximum suppression: indices kept, best first; ``radius`` may be per point."""
    from scipy.spatial import cKDTree

    order = np.argsort(-score)
    if len(order) == 0:
        return order
    radius = np.broadcast_to(np.asarray(radius, dtype=float), score.shape)
    tree = cKDTree(np.c_[x, y])
    removed = np.zeros(len(score), dtype=bool)
    keep = []
    for i in order:
        if removed[i]:
            continue
        keep.append(i)
        for j in tree.query_ball_point([x[i], y[i]], radius[i]):
            if j != i:
                removed[j] = True
    return np.asarray(keep, dtype=np.int64)


def _char_scale(responses, idx, x, y, lo=None, hi=None) -> np.ndarray:
    """Characteristic scale index (fractional, parabolic peak) of each position over the response stack."""
    lo = 0 if lo is None else max(0, lo)
    hi = len(responses) if hi is None else min(len(responses), hi)
    vals = np.stack([sample(r, f, x, y) for r, f in responses[lo:hi]], 1)  # (n, scales)
    j = np.argmax(vals, 1)
    out = j.astype(np.float64)
    inner = (j > 0) & (j < vals.shape[1] - 1)
    if inner.any():
        a = vals[inner, j[inner] - 1]
        b = vals[inner, j[inner]]
        c = vals[inner, j[inner] + 1]
        den = a - 2 * b + c
        off = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
        out[inner] += np.clip(off, -0.5, 0.5)
    return out + lo


def _edge_weight(g, f, sigma, x, y, edge_ratio) -> np.ndarray:
    """1 for round blobs, 0 for edges and ridges, from the smoothed map g at scale sigma:

    * the ratio of the Hessian eigenvalues (a ridge has one near zero);
    * the slope relative to the curvature, sigma |grad L| / (sigma^2 lap L): ~0 at a blob centre, ~1 on the dark
      side of a step edge (where the LoG of a step peaks)."""
    hxx, hyy, hxy = hessian_at(g, f, sigma, x, y)
    tr, det = hxx + hyy, hxx * hyy - hxy ** 2
    disc = np.sqrt(np.maximum(tr ** 2 / 4 - det, 0))
    lmax, lmin = tr / 2 + disc, tr / 2 - disc
    ratio = np.where(lmax > 0, lmin / np.maximum(lmax, 1e-12), -1.0)
    w_ratio = np.clip((ratio - 0.5 * edge_ratio) / (0.5 * edge_ratio), 0, 1)
    a = g.detach().cpu().numpy()
    h, w = a.shape
    ix = np.clip(np.floor(np.asarray(x) / f).astype(np.int64), 1, w - 2)
    iy = np.clip(np.floor(np.asarray(y) / f).astype(np.int64), 1, h - 2)
    gx = 0.5 * (a[iy, ix + 1] - a[iy, ix - 1])
    gy = 0.5 * (a[iy + 1, ix] - a[iy - 1, ix])
    slope = (sigma / f) * np.hypot(gx, gy) / np.maximum(tr, 1e-12)
    w_slope = np.clip((0.8 - slope) / 0.3, 0, 1)
    return w_ratio * np.where(tr > 0, w_slope, 0.0)


def find_scale(pyr, diameters: np.ndarray, params: AutopickParams) -> tuple[float, dict]:
    """Dominant particle diameter (px) from the data, and diagnostics (histogram over the searched diameters).

    Strong (z > 6), round (Hessian test) maxima of every scale are candidates; each is assigned its
    characteristic scale (largest normalised response at its position) and votes with that response, capped so
    that a few huge blobs (contamination) cannot outvote the many particles."""
    responses, cand = [], []
    for j, d in enumerate(diameters):
        sigma = d / K_DIAMETER
        r, f, g = pyr.response(sigma)
        responses.append((r, f))
        med, sd = robust_z(r, exclude_radius=1.5 * sigma / f)
        iy, ix, zz = _peaks((r - med) / sd, 0.35 * d / f, 6.0)
        if len(zz) > 300:
            top = np.argsort(-zz)[:300]
            iy, ix, zz = iy[top], ix[top], zz[top]
        if len(zz) == 0:
            continue
        x, y = (ix + 0.5) * f - 0.5, (iy + 0.5) * f - 0.5
        ok = _edge_weight(g, f, sigma, x, y, params.edge_ratio) > 0.5
        cand.append(np.c_[x[ok], y[ok], zz[ok], np.full(int(ok.sum()), d)])
    hist = np.zeros(len(diameters))
    cand = np.concatenate(cand) if cand else np.zeros((0, 4))
    if len(cand) == 0:
        return float(np.sqrt(diameters[0] * diameters[-1])), {"histogram": hist, "candidates": 0,
                                                             "responses": responses}
    js = _char_scale(responses, None, cand[:, 0], cand[:, 1])
    jint = np.clip(np.round(js).astype(int), 0, len(diameters) - 1)
    rchar = np.zeros(len(jint))
    for j in np.unique(jint):
        sel = jint == j
        rchar[sel] = sample(responses[j][0], responses[j][1], cand[sel, 0], cand[sel, 1])
    dchar = diameters[0] * 2.0 ** (js / params.scales_per_octave)
    keep = _nms(cand[:, 0], cand[:, 1], rchar, 0.35 * dchar)
    js, jint, rchar = js[keep], jint[keep], np.maximum(rchar[keep], 0)
    if rchar.max() <= 0:
        rchar = np.ones_like(rchar)
    w = np.minimum(rchar, np.percentile(rchar, 90))
    np.add.at(hist, jint, w)
    smooth = np.convolve(hist, [0.25, 0.5, 0.25], mode="same")
    j0 = int(np.argmax(smooth))
    near = np.abs(js - j0) <= 1.0
    jref = float(np.average(js[near], weights=w[near])) if near.any() and w[near].sum() > 0 else float(j0)
    d0 = float(diameters[0] * 2.0 ** (jref / params.scales_per_octave))
    return d0, {"histogram": hist, "candidates": int(len(js)), "responses": responses}


def autopick(image: np.ndarray, params: AutopickParams | None = None, device=None) -> pd.DataFrame:
    """Pick one micrograph (y, x).  Returns x, y (centres, px), score (confidence in [0, 1]), diameter (px), with
    ``attrs['diameter']`` the dominant diameter and ``attrs['threshold']`` the default threshold."""
    from cryogui.core.device import get_device

    p = params or AutopickParams()
    dev = device or get_device()
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 32:
        from cryogui.errors import InputError

        raise InputError(f"auto-picking needs a 2D micrograph of at least 32 x 32 pixels (got shape {img.shape})")
    if not np.isfinite(img).all():
        from cryogui.errors import InputError

        raise InputError("the micrograph holds NaN or infinite values")
    with torch.no_grad():
        return _autopick(img, p, dev)


def _autopick(img: np.ndarray, p: AutopickParams, dev) -> pd.DataFrame:
    img = _remove_plane(img)
    pyr = build_pyramid(img, dev, dark_is_signal=p.dark_is_signal,
                        max_work_side=p.max_work_side if not p.diameter else max(img.shape))
    diameters = _diameters(p, img.shape)
    d0, diag = find_scale(pyr, diameters, p)
    responses = diag.get("responses") or [pyr.response(d / K_DIAMETER)[:2] for d in diameters]
    s0 = d0 / K_DIAMETER
    r0, f0, g0 = pyr.response(s0)
    med, sd = robust_z(r0, exclude_radius=1.5 * s0 / f0)
    z0 = (r0 - med) / sd
    iy, ix, zz = _peaks(z0, 0.6 * d0 / f0, 2.0)
    x = (ix + 0.5) * f0 - 0.5
    y = (iy + 0.5) * f0 - 0.5
    ny, nx = img.shape
    b = p.border * d0
    inside = (x >= b) & (x <= nx - 1 - b) & (y >= b) & (y <= ny - 1 - b)
    x, y, zz = x[inside], y[inside], zz[inside]
    out = pd.DataFrame({"x": x, "y": y, "score": np.zeros(len(x)), "diameter": np.full(len(x), d0)})
    out.attrs.update({"diameter": d0, "threshold": p.threshold, "histogram": diag["histogram"].tolist(),
                      "diameters": diameters.tolist()})
    if len(x) == 0:
        return out
    # per-pick diameter: characteristic scale near the dominant one
    j0 = int(np.argmin(np.abs(np.log(diameters / d0))))
    js = _char_scale(responses, None, x, y, j0 - 4, j0 + 5)
    d_i = diameters[0] * 2.0 ** (js / p.scales_per_octave)
    w_size = np.exp(-0.5 * (np.log(d_i / d0) / p.size_tolerance) ** 2)
    w_edge = _edge_weight(g0, f0, s0, x, y, p.edge_ratio)
    # darkness of the smoothed image relative to the typical strong pick
    gmed, _ = robust_z(g0)
    dark = gmed - sample(g0, f0, x, y)
    n_indep = max(10.0, nx * ny / (math.pi * (0.5 * d0) ** 2))
    zc = math.sqrt(2 * math.log(n_indep)) + 1.0
    strong = (zz > zc + 1) & (w_edge > 0.5) & (w_size > 0.5)
    dref = float(np.median(dark[strong])) if strong.sum() >= 3 else float(np.median(np.abs(dark)) + 1e-9)
    dref = max(dref, 1e-9)
    w_dark = np.clip((p.max_darkness * 1.25 - dark / dref) / (0.25 * p.max_darkness), 0, 1)
    conf = 1.0 / (1.0 + np.exp(-(zz - zc) / 0.75))
    score = conf * w_size * w_edge * w_dark
    out["score"] = score
    out["diameter"] = d_i
    out = out[out.score >= p.floor].sort_values("score", ascending=False).reset_index(drop=True)
    out.attrs.update({"diameter": d0, "threshold": p.threshold, "histogram": diag["histogram"].tolist(),
                      "diameters": diameters.tolist(), "z_c": zc})
    return out


def load_array(src) -> np.ndarray:
    """A micrograph from an array or a zero-argument loader; the first section of a 3D array."""
    img = np.asarray(src() if callable(src) else src)
    return img[0] if img.ndim == 3 else img


def autopick_job(micrographs: Sequence[tuple[str, object]], params: AutopickParams | None = None,
                 device=None) -> Iterator[Snapshot]:
    """Job: pick several micrographs.  Each item is (name, array, or a callable that loads the array, so that the
    reading happens in the job).  Yields one snapshot per micrograph (its picks as ``points`` (n, 4): x, y, score,
    diameter; ``data['micrograph']`` its name) and returns one table with a ``micrograph`` column."""
    p = params or AutopickParams()
    tables = []
    n = len(micrographs)
    yield Snapshot(0, n, message=f"auto-picking {n} micrograph(s)")
    for i, (name, src) in enumerate(micrographs):
        img = load_array(src)
        t = autopick(img, p, device)
        t.insert(0, "micrograph", str(name))
        tables.append(t)
        good = int((t.score >= p.threshold).sum())
        yield Snapshot(i + 1, n, points=freeze(t[["x", "y", "score", "diameter"]].to_numpy(np.float64)),
                       metrics={"picks": float(good), "diameter": float(t.attrs.get("diameter", np.nan))},
                       data={"micrograph": str(name), "histogram": freeze(np.asarray(t.attrs["histogram"])),
                             "diameters": freeze(np.asarray(t.attrs["diameters"]))},
                       message=f"{name}: {good} picks, diameter {t.attrs.get('diameter', float('nan')):.0f} px")
    if tables:
        out = pd.concat(tables, ignore_index=True)
    else:
        out = pd.DataFrame(columns=["micrograph", "x", "y", "score", "diameter"])
    out.attrs["params"] = asdict(p)
    return out
