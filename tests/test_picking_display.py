"""Display helpers computed in core (levels, binning, filters); the layering is checked by test_architecture."""

import numpy as np
import pytest

from cryogui.core.picking.display import (bin_image, confidence_colors, display_bin, filter_image, prepare_display,
                                          robust_levels)


def test_levels_are_robust_to_outliers_and_invert():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(200, 200)).astype(np.float32)
    img[0, :50] = 1e6
    lo, hi = robust_levels(img)
    assert -3.2 < lo < -2.8 and 2.8 < hi < 3.2
    lo2, hi2 = robust_levels(img, contrast=2.0)
    assert hi2 - lo2 == pytest.approx((hi - lo) / 2, rel=1e-6)
    assert robust_levels(img, invert=True) == (hi, lo)


def test_binning_and_display_size():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(bin_image(a, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert display_bin((4096, 4096)) == 2 and display_bin((1000, 900)) == 1
    img = np.zeros((4096, 3000), dtype=np.float32)
    disp, f = prepare_display(img, apix=1.0, lowpass_A=20)
    assert f == 2 and disp.shape == (2048, 1500)


def test_lowpass_in_angstrom_keeps_low_kills_high():
    y, x = np.mgrid[:256, :256]
    low = np.sin(2 * np.pi * x / 64.0)            # 64 px period = 128 A at 2 A/px
    high = np.sin(2 * np.pi * x / 4.0)            # 8 A
    out = filter_image((low + high).astype(np.float32), apix=2.0, lowpass_A=30)
    inner = (slice(20, -20), slice(20, -20))
    assert np.corrcoef(out[inner].ravel(), low[inner].ravel())[0, 1] > 0.99
    hp = filter_image((low + high).astype(np.float32), apix=2.0, highpass_A=30)
    assert np.corrcoef(hp[inner].ravel(), high[inner].ravel())[0, 1] > 0.95


def test_confidence_colours():
    c = confidence_colors(np.array([0.0, 1.0, np.nan]))
    assert c.shape == (3, 4) and c.dtype == np.uint8
    assert c[1, 1] > c[0, 1] and c[0, 2] > c[1, 2]     # greener when confident, bluer when not
    assert tuple(c[2]) == (0, 230, 255, 255)
