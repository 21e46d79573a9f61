"""Simulated micrographs: deterministic, truth inside the image, particles dark, nothing on contamination."""

import numpy as np
import pytest

from cryogui.cli.pick import write_micrograph_set
from cryogui.core.simulate.micrographs import simulate_micrograph


def test_deterministic_and_truth_valid():
    a, ta = simulate_micrograph(shape=(256, 300), diameter_px=30, n_particles=20, seed=3)
    b, tb = simulate_micrograph(shape=(256, 300), diameter_px=30, n_particles=20, seed=3)
    assert a.shape == (256, 300) and a.dtype == np.float32
    assert np.array_equal(a, b) and ta.equals(tb)
    assert list(ta.columns) == ["x", "y", "diameter"]
    assert len(ta) >= 10
    assert (ta.x >= 0).all() and (ta.x < 300).all() and (ta.y >= 0).all() and (ta.y < 256).all()
    c, _ = simulate_micrograph(shape=(256, 300), diameter_px=30, n_particles=20, seed=4)
    assert not np.array_equal(a, c)


def test_particles_are_dark_and_sizes_mixed():
    img, truth = simulate_micrograph(shape=(512, 512), sizes=(20, 50), n_particles=30, snr=5.0, seed=1,
                                     contamination=False, ice_gradient=False)
    centres = img[truth.y.astype(int), truth.x.astype(int)]
    assert np.median(centres) < np.median(img) - 1.0 * img.std() * 0.3
    d = truth.diameter.to_numpy()
    assert (np.abs(d - 20) < 4).sum() > 3 and (np.abs(d - 50) < 8).sum() > 3


def test_bad_parameters():
    with pytest.raises(ValueError):
        simulate_micrograph(shape=(8, 8))
    with pytest.raises(ValueError):
        simulate_micrograph(snr=0)


def test_set_writes_mrc_and_truth(tmp_path):
    from cryogui.io.mrc import read_mrc
    from cryogui.io.star import read_star

    paths = write_micrograph_set(tmp_path, count=2, shape=(128, 128), diameter_px=20, n_particles=5, apix=2.0)
    assert [p.name for p in paths] == ["mic_000.mrc", "mic_001.mrc"]
    v = read_mrc(paths[0])
    assert v.data.shape == (128, 128) and abs(v.apix - 2.0) < 1e-5
    df = next(iter(read_star(tmp_path / "truth.star").values()))
    assert set(df.rlnMicrographName) == {"mic_000.mrc", "mic_001.mrc"}
    assert {"rlnCoordinateX", "rlnCoordinateY", "rlnDiameterPx"} <= set(df.columns)
