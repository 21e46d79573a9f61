"""Fourier shell correlation of two maps (for checking reconstructions against the map they came from)."""

from __future__ import annotations

import numpy as np


def fsc(a, b, apix: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(frequency 1/A, FSC)`` per shell from 0 to Nyquist for two cubic maps of the same size."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"FSC needs two 3D maps of the same shape, got {a.shape} and {b.shape}")
    fa, fb = np.fft.fftn(a), np.fft.fftn(b)
    box = a.shape[0]
    f = np.fft.fftfreq(box)
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    shell = np.round(r * box).astype(int)
    nshell = box // 2 + 1
    m = shell < nshell
    s = shell[m]
    num = np.bincount(s, (fa * np.conj(fb)).real[m], nshell)
    da = np.bincount(s, (np.abs(fa) ** 2)[m], nshell)
    db = np.bincount(s, (np.abs(fb) ** 2)[m], nshell)
    out = num / np.sqrt(np.maximum(da * db, 1e-30))
    return np.arange(nshell) / (box * apix), out


def resolution_at(freq: np.ndarray, curve: np.ndarray, threshold: float = 0.5) -> float:
    """Resolution (A) where the curve first drops below ``threshold`` (inf when at the first shell)."""
    below = np.nonzero(curve[1:] < threshold)[0]
    if len(below) == 0:
        return float(1.0 / freq[-1])
    k = below[0] + 1
    return float(1.0 / freq[k]) if freq[k] > 0 else float("inf")
