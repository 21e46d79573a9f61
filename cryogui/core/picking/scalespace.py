"""Scale space of a micrograph: scale-normalised Laplacian-of-Gaussian responses on a mean-binned pyramid.

For a scale sigma (pixels of the original image) the response is computed on the pyramid level binned by
``f = 2**k`` with ``sigma / f`` between about 2.8 and 5.6 binned pixels: one FFT per level, one inverse FFT per
scale (the Gaussian), then the Laplacian and Hessian by finite differences of the smoothed map:

    R_sigma = sigma^2 * laplacian(G_sigma * I)          (Lindeberg's gamma = 1 normalisation)

so that a dark disk of radius r gives its largest positive response at sigma = r / sqrt(2) whatever its size.
Levels are reflect-padded before the FFT so that the image border does not wrap around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

#: sigma (binned pixels) at which a pyramid level stops being used and the next (2x coarser) one takes over
SIGMA_LOW = 2.8


@dataclass
class Level:
    factor: int               # binning factor relative to the original image
    shape: tuple[int, int]    # unpadded binned shape
    pad: int
    spectrum: torch.Tensor    # rfft2 of the padded level
    fy2: torch.Tensor         # squared frequencies (cycles / binned px)^2, broadcast to the spectrum
    fx2: torch.Tensor
    padded_w: int


@dataclass
class Pyramid:
    shape: tuple[int, int]
    device: torch.device
    levels: dict[int, Level] = field(default_factory=dict)
    images: dict[int, torch.Tensor] = field(default_factory=dict)

    min_factor: int = 1       # never work finer than this binning (large micrographs)

    def level_for(self, sigma: float) -> int:
        """The binning factor used for a scale sigma (original pixels)."""
        f = self.min_factor
        while sigma / (2 * f) >= SIGMA_LOW and min(self.shape) / (2 * f) >= 32:
            f *= 2
        return f

    def _level(self, f: int) -> Level:
        if f in self.levels:
            return self.levels[f]
        img = self.images[1]
        g = 1
        while g < f:
            nxt = g * 2
            if nxt not in self.images:
                src = self.images[g]
                h, w = src.shape[-2] // 2 * 2, src.shape[-1] // 2 * 2
                self.images[nxt] = F.avg_pool2d(src[..., :h, :w], 2)
            g = nxt
        lv = self.images[f]
        h, w = lv.shape[-2:]
        pad = int(min(48, h // 2 - 1, w // 2 - 1))
        x = lv - lv.mean()
        if pad > 0:
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        # grow to FFT-friendly sizes (factors 2, 3, 5): a prime factor like 131 makes the FFT many times slower
        ey, ex = _fast_size(x.shape[-2]) - x.shape[-2], _fast_size(x.shape[-1]) - x.shape[-1]
        if ey or ex:
            x = F.pad(x, (0, ex, 0, ey), mode="replicate")
        spec = torch.fft.rfft2(x[0, 0])
        fy = torch.fft.fftfreq(x.shape[-2], device=self.device, dtype=torch.float32)[:, None]
        fx = torch.fft.rfftfreq(x.shape[-1], device=self.device, dtype=torch.float32)[None, :]
        level = Level(f, (h, w), pad, spec, fy * fy, fx * fx, x.shape[-1])
        self.levels[f] = level
        return level

    def smooth(self, sigma: float) -> tuple[torch.Tensor, int, float]:
        """(G_sigma * I on the binned grid, binning factor, sigma in binned px)."""
        f = self.level_for(sigma)
        level = self._level(f)
        sb = sigma / f
        g = torch.exp(-2.0 * math.pi ** 2 * sb ** 2 * (level.fy2 + level.fx2))
        out = torch.fft.irfft2(level.spectrum * g, s=(level.fy2.shape[0], level.padded_w))
        p = level.pad
        return out[p:p + level.shape[0], p:p + level.shape[1]], f, sb

    def response(self, sigma: float) -> tuple[torch.Tensor, int, torch.Tensor]:
        """(normalised LoG sigma^2 lap(G_sigma * I), binning factor, the smoothed map G_sigma * I) on the binned
        grid; the Laplacian is the 5-point stencil on the smoothed map (accurate for sigma >= 2.8 binned px)."""
        g, f, sb = self.smooth(sigma)
        gp = F.pad(g[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
        lap = gp[1:-1, 2:] + gp[1:-1, :-2] + gp[2:, 1:-1] + gp[:-2, 1:-1] - 4.0 * g
        return lap * (sb * sb), f, g


def hessian_at(g: torch.Tensor, factor: int, sigma: float, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sigma^2-normalised Hessian (xx, yy, xy) of a smoothed binned map at original-pixel positions."""
    a = g.detach().cpu().numpy() if g.device.type != "cpu" else g.numpy()
    h, w = a.shape
    ix = np.clip(np.floor(np.asarray(x) / factor).astype(np.int64), 1, w - 2)
    iy = np.clip(np.floor(np.asarray(y) / factor).astype(np.int64), 1, h - 2)
    c = a[iy, ix]
    hxx = a[iy, ix + 1] + a[iy, ix - 1] - 2 * c
    hyy = a[iy + 1, ix] + a[iy - 1, ix] - 2 * c
    hxy = 0.25 * (a[iy + 1, ix + 1] + a[iy - 1, ix - 1] - a[iy + 1, ix - 1] - a[iy - 1, ix + 1])
    sb2 = (sigma / factor) ** 2
    return hxx * sb2, hyy * sb2, hxy * sb2


def _fast_size(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def build_pyramid(image: np.ndarray, device: torch.device, dark_is_signal: bool = True,
                  max_work_side: int = 2048) -> Pyramid:
    """Pyramid of a micrograph (y, x).  With ``dark_is_signal`` (raw micrographs) blobs give positive LoG.
    Micrographs longer than ``max_work_side`` are never analysed finer than the binning that brings them under it."""
    img = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32), device=device)
    if not dark_is_signal:
        img = -img
    pyr = Pyramid(shape=tuple(img.shape), device=device)
    pyr.images[1] = img[None, None]
    while max(img.shape) / pyr.min_factor > max_work_side:
        pyr.min_factor *= 2
    return pyr


def sample(map_: torch.Tensor, factor: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values of a binned map at original-pixel positions (nearest binned pixel)."""
    h, w = map_.shape
    ix = np.clip(np.floor(np.asarray(x) / factor).astype(np.int64), 0, w - 1)
    iy = np.clip(np.floor(np.asarray(y) / factor).astype(np.int64), 0, h - 1)
    return map_.detach().cpu().numpy()[iy, ix] if map_.device.type != "cpu" else map_.numpy()[iy, ix]


def robust_z(map_: torch.Tensor, exclude_radius: float = 0.0) -> tuple[float, float]:
    """(median, robust standard deviation from the MAD) of a map's noise.

    The map is subsampled every ``step`` pixels (about half the exclusion radius).  With ``exclude_radius``
    (binned px) a second pass leaves out everything within that radius of pixels more than 2.5 robust sigmas from
    the median, so that densely packed particles do not inflate the noise level."""
    step = max(1, int(exclude_radius // 2), int(math.sqrt(map_.numel() / 250_000)))
    sub = map_[::step, ::step].float()
    med = sub.median()
    sd = 1.4826 * (sub - med).abs().median() + 1e-12
    if exclude_radius > 0:
        k = 2 * int(math.ceil(exclude_radius / step)) + 1
        out = ((sub - med).abs() > 2.5 * sd).float()[None, None]
        out = F.max_pool2d(out, k, stride=1, padding=k // 2)[0, 0]
        keep = out < 0.5
        if int(keep.sum()) > 0.05 * keep.numel():
            vals = sub[keep]
            med = vals.median()
            sd = 1.4826 * (vals - med).abs().median() + 1e-12
    return float(med), float(sd)
