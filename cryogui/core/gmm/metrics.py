"""Figures of merit: FSC between maps, FRC per image (differentiable), real-space correlation, parameter recovery."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def _shell_index(shape, device=None) -> torch.Tensor:
    """Integer Fourier shell of each coefficient of an rfftn of ``shape`` (last axis halved)."""
    freqs = [torch.fft.fftfreq(n, device=device) * n for n in shape[:-1]]
    freqs.append(torch.fft.rfftfreq(shape[-1], device=device) * shape[-1])
    grids = torch.meshgrid(*freqs, indexing="ij")
    r = torch.sqrt(sum(g * g for g in grids))
    return torch.round(r).long()


def fsc(map1, map2, apix: float) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation of two cubic maps: ``(frequencies in 1/A, fsc)`` for shells 0 .. box//2."""
    a = torch.as_tensor(np.asarray(map1, dtype=np.float64))
    b = torch.as_tensor(np.asarray(map2, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"FSC needs maps of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    fa, fb = torch.fft.rfftn(a), torch.fft.rfftn(b)
    shell = _shell_index(a.shape).reshape(-1)
    n = a.shape[0] // 2 + 1
    keep = shell < n
    sh = shell[keep]
    num = torch.zeros(n, dtype=torch.float64).index_add(0, sh, (fa * fb.conj()).real.reshape(-1)[keep])
    da = torch.zeros(n, dtype=torch.float64).index_add(0, sh, (fa.abs() ** 2).reshape(-1)[keep])
    db = torch.zeros(n, dtype=torch.float64).index_add(0, sh, (fb.abs() ** 2).reshape(-1)[keep])
    curve = (num / torch.sqrt(da * db).clamp_min(1e-30)).numpy()
    freqs = np.arange(n) / (a.shape[0] * apix)
    return freqs, curve


def resolution_at(freqs: np.ndarray, curve: np.ndarray, threshold: float) -> float:
    """Resolution in Angstrom where the curve first falls below ``threshold`` (linear interpolation between
    shells); the Nyquist resolution when it never does.  Shell 0 is ignored."""
    for i in range(1, len(curve)):
        if curve[i] < threshold:
            f0, f1, c0, c1 = freqs[i - 1], freqs[i], curve[i - 1], curve[i]
            f = f1 if c0 == c1 else f0 + (c0 - threshold) / (c0 - c1) * (f1 - f0)
            return float(1.0 / f) if f > 0 else float("inf")
    return float(1.0 / freqs[-1])


def fsc_resolution(map1, map2, apix: float) -> dict:
    """FSC curve and resolutions at 0.5 and 0.143 (Angstrom) as a dict."""
    freqs, curve = fsc(map1, map2, apix)
    return {"freqs": freqs, "fsc": curve, "fsc05_A": resolution_at(freqs, curve, 0.5),
            "fsc0143_A": resolution_at(freqs, curve, 0.143)}


def frc(images1: torch.Tensor, images2: torch.Tensor) -> torch.Tensor:
    """Fourier ring correlation per image pair, torch and differentiable: ``(n, box//2 + 1)`` for images
    ``(n, box, box)``.  Ring 0 is the mean term.  Used by the eigen-motion panel to differentiate w.r.t. Gaussian
    positions and amplitudes."""
    f1 = torch.fft.rfft2(images1)
    f2 = torch.fft.rfft2(images2)
    box = images1.shape[-1]
    shell = _shell_index(images1.shape[-2:], device=images1.device).reshape(-1)
    n = box // 2 + 1
    keep = (shell < n).nonzero().squeeze(1)
    sh = shell[keep]
    b = images1.shape[0]

    def ring_sum(x):
        x = x.reshape(b, -1)[:, keep]
        return torch.zeros(b, n, dtype=x.dtype, device=x.device).index_add(1, sh, x)

    num = ring_sum((f1 * f2.conj()).real)
    d1 = ring_sum(f1.real ** 2 + f1.imag ** 2)
    d2 = ring_sum(f2.real ** 2 + f2.imag ** 2)
    return num / torch.sqrt(d1 * d2 + 1e-20)


def correlation(a, b, mask=None) -> float:
    """Real-space Pearson correlation of two arrays (optionally inside a boolean mask)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if mask is not None:
        a, b = a[mask], b[mask]
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def recovery(true_pos, fit_pos, true_amp=None, fit_amp=None) -> dict:
    """Parameter recovery: one-to-one matching of fitted to true positions (Hungarian assignment on the distance
    matrix), RMSD in Angstrom of matched pairs, and the matching (indices, distances).  With amplitudes, also
    their relative RMS error after matching."""
    t = np.asarray(true_pos, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(fit_pos, dtype=np.float64).reshape(-1, 3)
    d = np.linalg.norm(t[:, None, :] - f[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(d)
    dist = d[rows, cols]
    out = {"rmsd_A": float(np.sqrt(np.mean(dist**2))) if len(dist) else float("nan"),
           "median_A": float(np.median(dist)) if len(dist) else float("nan"),
           "matched": int(len(rows)), "true_index": rows, "fit_index": cols, "distances_A": dist}
    if true_amp is not None and fit_amp is not None:
        ta = np.asarray(true_amp, dtype=np.float64)[rows]
        fa = np.asarray(fit_amp, dtype=np.float64)[cols]
        out["amplitude_rel_rms"] = float(np.sqrt(np.mean((fa - ta) ** 2)) / max(1e-12, np.sqrt(np.mean(ta**2))))
    return out
