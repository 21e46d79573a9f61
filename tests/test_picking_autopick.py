"""The size-agnostic picker on simulated micrographs (it is never told the size)."""

import numpy as np
import pytest
import torch

from cryogui.core.jobs import run_job
from cryogui.core.picking.autopick import AutopickParams, autopick, autopick_job
from cryogui.core.picking.metrics import score_picks
from cryogui.core.simulate.micrographs import simulate_micrograph
from cryogui.errors import InputError

torch.set_num_threads(1)


@pytest.mark.parametrize("diameter,n", [(40, 70), (100, 25)])
def test_finds_both_sizes_without_being_told(diameter, n):
    img, truth = simulate_micrograph(shape=(768, 768), diameter_px=diameter, n_particles=n, snr=0.2, seed=11)
    picks = autopick(img)
    s = score_picks(picks, truth, threshold=0.5)
    assert s["f"] >= 0.9, s
    assert 0.6 * diameter < picks.attrs["diameter"] < 1.3 * diameter
    good = picks[picks.score >= 0.5]
    assert ((good.score >= 0) & (good.score <= 1)).all()
    assert np.median(good.diameter) == pytest.approx(picks.attrs["diameter"], rel=0.25)


def test_contamination_and_carbon_are_not_picked():
    img, truth = simulate_micrograph(shape=(768, 768), diameter_px=40, n_particles=60, snr=0.3, seed=2,
                                     contamination=True)
    picks = autopick(img)
    s = score_picks(picks, truth, threshold=0.5)
    assert s["fp"] <= 2, s
    assert s["recall"] >= 0.9


def test_no_duplicates():
    img, truth = simulate_micrograph(shape=(512, 512), diameter_px=50, n_particles=30, snr=0.5, seed=4)
    p = autopick(img)
    p = p[p.score >= 0.5]
    d = np.hypot(p.x.to_numpy()[:, None] - p.x.to_numpy()[None], p.y.to_numpy()[:, None] - p.y.to_numpy()[None])
    d[np.diag_indices_from(d)] = np.inf
    assert d.min() > 0.4 * p.attrs["diameter"]


def test_known_diameter_and_job(tmp_path):
    img, truth = simulate_micrograph(shape=(512, 512), diameter_px=60, n_particles=20, snr=0.3, seed=8)
    res = run_job(autopick_job([("m1", img), ("m2", img[::-1].copy())], AutopickParams(diameter=60)))
    assert res.n_snapshots == 3
    assert set(res.value.micrograph) == {"m1", "m2"}
    assert res.last.data["micrograph"] == "m2" and res.last.points.shape[1] == 4
    s = score_picks(res.value[res.value.micrograph == "m1"], truth, threshold=0.5)
    assert s["f"] >= 0.9


def test_bad_input():
    with pytest.raises(InputError):
        autopick(np.zeros((10, 10)))
    a = np.zeros((64, 64), dtype=np.float32)
    a[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        autopick(a)
