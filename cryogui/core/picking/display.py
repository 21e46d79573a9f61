"""What the Picking view draws, computed without Qt: binned, filtered micrographs and robust display levels."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

MAX_DISPLAY_SIDE = 2048


def display_bin(shape, max_side: int = MAX_DISPLAY_SIDE) -> int:
    """Binning factor so that the displayed image is at most ``max_side`` pixels on its longer side."""
    return max(1, int(math.ceil(max(shape) / max_side)))


def bin_image(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean-bin by an integer factor (the ragged edge is dropped)."""
    if factor <= 1:
        return np.asarray(img, dtype=np.float32)
    ny, nx = img.shape[0] // factor * factor, img.shape[1] // factor * factor
    return img[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor).mean((1, 3), dtype=np.float32)


def filter_image(img: np.ndarray, apix: float, lowpass_A: float | None = None,
                 highpass_A: float | None = None) -> np.ndarray:
    """Gaussian low-pass / high-pass at resolutions given in Angstrom (``apix`` = A per pixel of ``img``).

    The Gaussian's sigma (px) for a cut-off resolution ``R`` is ``R / (2 pi apix) * sqrt(2 ln 2)`` so that the
    transfer falls to one half at 1 / R."""
    out = np.asarray(img, dtype=np.float32)
    apix = float(apix) if apix and apix > 0 else 1.0
    if lowpass_A and lowpass_A > 2 * apix:
        s = lowpass_A / (2 * math.pi * apix) * math.sqrt(2 * math.log(2))
        out = ndimage.gaussian_filter(out, s, mode="reflect")
    if highpass_A and highpass_A > 2 * apix:
        s = highpass_A / (2 * math.pi * apix) * math.sqrt(2 * math.log(2))
        out = out - ndimage.gaussian_filter(out, s, mode="reflect")
    return out


def robust_levels(img: np.ndarray, contrast: float = 1.0, invert: bool = False,
                  max_samples: int = 250_000) -> tuple[float, float]:
    """Display levels (black, white): the median -/+ 3 robust standard deviations (from the MAD) of a subsample,
    narrowed by ``contrast`` (> 1 = more contrast); swapped when ``invert``.  Robust to large contamination and
    hot pixels, unlike min/max or 1-99 percentiles when ice covers a tenth of the field."""
    flat = np.asarray(img).reshape(-1)
    step = max(1, flat.size // max_samples)
    sub = flat[::step]
    sub = sub[np.isfinite(sub)]
    if sub.size == 0:
        return (0.0, 1.0)
    med = float(np.median(sub))
    sd = 1.4826 * float(np.median(np.abs(sub - med)))
    if sd <= 0:
        sd = float(np.std(sub)) or 1e-6
    half = 3.0 * sd / max(float(contrast), 1e-3)
    lo, hi = med - half, med + half
    return (hi, lo) if invert else (lo, hi)


def prepare_display(img: np.ndarray, apix: float, lowpass_A=None, highpass_A=None,
                    max_side: int = MAX_DISPLAY_SIDE) -> tuple[np.ndarray, int]:
    """(display image, binning factor): binned to at most ``max_side``, then filtered at the binned pixel size."""
    f = display_bin(img.shape, max_side)
    b = bin_image(img, f)
    return filter_image(b, (apix or 1.0) * f, lowpass_A, highpass_A), f


def confidence_colors(score: np.ndarray) -> np.ndarray:
    """RGBA (n, 4) uint8: low confidence blue -> yellow -> high confidence green; manual picks (NaN) cyan."""
    s = np.clip(np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-1.0), -1, 1)
    out = np.empty((len(s), 4), dtype=np.uint8)
    t = np.clip(s, 0, 1)
    out[:, 0] = (255 * np.clip(2 - 2 * t, 0, 1) * np.clip(2 * t, 0, 1) + 60 * (1 - t)).astype(np.uint8)
    out[:, 1] = (80 + 175 * t).astype(np.uint8)
    out[:, 2] = (230 * (1 - t) ** 2).astype(np.uint8)
    out[:, 3] = 255
    manual = s < 0
    out[manual] = (0, 230, 255, 255)
    return out


def display_job(load, apix: float, lowpass_A=None, highpass_A=None, max_side: int = MAX_DISPLAY_SIDE):
    """Job: read a micrograph (``load()`` returns the array) and prepare it for display off the GUI thread.
    Returns (display image, binning factor)."""
    from cryogui.core.jobs import Snapshot

    yield Snapshot(0, 2, message="reading the micrograph")
    img = np.asarray(load())
    if img.ndim == 3:
        img = img[0]
    yield Snapshot(1, 2, message="filtering for display")
    out = prepare_display(img, apix, lowpass_A, highpass_A, max_side)
    yield Snapshot(2, 2, message="ready")
    return out
