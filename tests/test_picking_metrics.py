"""Metrics against hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from cryogui.core.picking.metrics import average_precision, match_picks, pr_curve, score_picks


def _df(rows, cols=("x", "y", "score", "diameter")):
    return pd.DataFrame(rows, columns=list(cols))


def test_hand_computed_case():
    truth = _df([(100, 100, np.nan, 40), (200, 100, np.nan, 40), (300, 100, np.nan, 40)])
    # radius 0.3 x 40 = 12 px
    pred = _df([(105, 100, 0.9, 40),      # TP (5 px)
                (100, 110, 0.8, 40),      # duplicate of truth 0: FP (truth already taken)
                (200, 111, 0.7, 40),      # TP (11 px)
                (300, 113, 0.6, 40),      # FP (13 px > 12)
                (500, 500, 0.2, 40)])     # FP
    s = score_picks(pred, truth, threshold=None)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 3, 1)
    assert s["precision"] == pytest.approx(2 / 5) and s["recall"] == pytest.approx(2 / 3)
    assert s["f"] == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert s["pred_tp"].tolist() == [True, False, True, False, False]
    # AP: curve P = 1, 1/2, 2/3, 2/4, 2/5 at R = 1/3, 1/3, 2/3, 2/3, 2/3 -> 1/3 * 1 + 1/3 * 2/3
    assert s["ap"] == pytest.approx(1 / 3 + 2 / 9)
    s2 = score_picks(pred, truth, threshold=0.65)
    assert (s2["tp"], s2["fp"], s2["fn"]) == (2, 1, 1)
    assert s2["truth_hit"].tolist() == [True, True, False]
    s3 = score_picks(pred, truth, threshold=0.75)
    assert s3["truth_hit"].tolist() == [True, False, False]


def test_greedy_order_by_confidence():
    truth = _df([(0, 0, np.nan, 100)])
    pred = _df([(1, 0, 0.1, 100), (20, 0, 0.9, 100)])    # the confident, farther one wins
    m = match_picks(pred, truth)
    assert m.is_tp.tolist() == [False, True] and m.truth_hit.tolist() == [1]


def test_radius_frac_and_default_diameter():
    truth = pd.DataFrame({"x": [0.0], "y": [0.0]})
    pred = pd.DataFrame({"x": [14.0], "y": [0.0], "score": [1.0]})
    assert score_picks(pred, truth, default_diameter=50)["tp"] == 1       # 0.3 * 50 = 15
    assert score_picks(pred, truth, default_diameter=40)["tp"] == 0       # 12
    assert score_picks(pred, truth, radius_frac=0.5, default_diameter=40)["tp"] == 1


def test_per_micrograph_matching():
    truth = pd.DataFrame({"micrograph": ["a.mrc", "b.mrc"], "x": [10.0, 10.0], "y": [10.0, 10.0],
                          "diameter": [40.0, 40.0]})
    pred = pd.DataFrame({"micrograph": ["a", "a"], "x": [10.0, 11.0], "y": [10.0, 10.0], "score": [1.0, 0.5]})
    s = score_picks(pred, truth)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)


def test_empty_and_ap_limits():
    truth = _df([(0, 0, np.nan, 10)])
    s = score_picks(_df([]), truth)
    assert s["precision"] == 0 and s["recall"] == 0 and s["f"] == 0 and s["ap"] == 0
    thr, p, r = pr_curve(np.array([0.9, 0.8]), np.array([True, True]), 2)
    assert average_precision(p, r) == pytest.approx(1.0)
    assert thr.tolist() == [0.9, 0.8]
