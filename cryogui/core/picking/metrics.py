"""Picking accuracy against ground truth: greedy matching by confidence, precision / recall / F / AP, PR curve.

A prediction matches a truth particle when their centres are closer than ``radius_frac x diameter`` (the truth
particle's diameter when known, else the prediction's, else ``default_diameter``).  Predictions are visited from the
most to the least confident; each takes the nearest still-unmatched truth within its radius.  Then

    precision = TP / predictions,  recall = TP / truth,  F = 2 P R / (P + R)

and AP is the area under the precision-recall curve obtained by sweeping the confidence threshold (all-point
interpolation: precision made monotone from the right, summed over recall steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Match:
    """Result of matching one set of predictions to one set of truth positions."""

    order: np.ndarray        # prediction indices sorted by decreasing confidence
    is_tp: np.ndarray        # per prediction (original order): matched a truth particle
    truth_hit: np.ndarray    # per truth particle: index of the prediction that matched it, or -1
    n_truth: int


def _radius(pred_d, truth_d, radius_frac, default_diameter):
    return radius_frac * np.where(np.isfinite(truth_d), truth_d,
                                  np.where(np.isfinite(pred_d), pred_d, default_diameter))


def match_picks(pred: pd.DataFrame, truth: pd.DataFrame, radius_frac: float = 0.3,
                default_diameter: float = 50.0) -> Match:
    """Greedy matching on one micrograph (columns x, y, optional score, diameter)."""
    from scipy.spatial import cKDTree

    n_p, n_t = len(pred), len(truth)
    is_tp = np.zeros(n_p, dtype=bool)
    hit = np.full(n_t, -1, dtype=np.int64)
    score = pred["score"].to_numpy(np.float64) if "score" in pred else np.ones(n_p)
    score = np.where(np.isfinite(score), score, -np.inf)
    order = np.argsort(-score, kind="stable")
    if n_p == 0 or n_t == 0:
        return Match(order, is_tp, hit, n_t)
    px, py = pred["x"].to_numpy(np.float64), pred["y"].to_numpy(np.float64)
    tx, ty = truth["x"].to_numpy(np.float64), truth["y"].to_numpy(np.float64)
    pd_ = pred["diameter"].to_numpy(np.float64) if "diameter" in pred else np.full(n_p, np.nan)
    td = truth["diameter"].to_numpy(np.float64) if "diameter" in truth else np.full(n_t, np.nan)
    tree = cKDTree(np.c_[tx, ty])
    rmax = float(np.nanmax(np.r_[_radius(np.nan, td, radius_frac, default_diameter),
                                 _radius(pd_, np.full(n_p, np.nan), radius_frac, default_diameter)]))
    for i in order:
        cands = tree.query_ball_point([px[i], py[i]], rmax)
        best, best_d = -1, np.inf
        for j in cands:
            if hit[j] >= 0:
                continue
            dist = np.hypot(px[i] - tx[j], py[i] - ty[j])
            r = _radius(pd_[i], td[j], radius_frac, default_diameter)
            if dist <= r and dist < best_d:
                best, best_d = j, dist
        if best >= 0:
            hit[best] = i
            is_tp[i] = True
    return Match(order, is_tp, hit, n_t)


def pr_curve(scores: np.ndarray, is_tp: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, recall) when keeping predictions with score >= each threshold (descending)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(is_tp[order])
    k = np.arange(1, len(order) + 1)
    precision = tp / k
    recall = tp / max(n_truth, 1) if n_truth else np.zeros(len(order))
    return scores[order], precision, recall


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    if len(precision) == 0:
        return 0.0
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [recall[-1]]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.diff(r) > 0
    return float(np.sum((r[1:][steps] - r[:-1][steps]) * p[1:][steps]))


def score_picks(pred: pd.DataFrame, truth: pd.DataFrame, threshold: float | None = None,
                radius_frac: float = 0.3, default_diameter: float = 50.0) -> dict:
    """Precision, recall, F at ``threshold`` (all predictions when None) and AP over all predictions.

    Both tables may hold a ``micrograph`` column: matching is then done per micrograph (by
    :func:`cryogui.core.picking.names.micrograph_key`).  Returns a dict with precision, recall, f, ap, tp, fp, fn,
    n_pred, n_truth and the PR curve arrays (``curve_threshold``, ``curve_precision``, ``curve_recall``), plus
    per-row flags ``pred_tp`` (aligned with ``pred``) and ``truth_hit`` (aligned with ``truth``).
    """
    from cryogui.core.picking.names import micrograph_key

    pred = pred.reset_index(drop=True)
    truth = truth.reset_index(drop=True)
    if "micrograph" in pred and "micrograph" in truth:
        pk = pred["micrograph"].map(micrograph_key)
        tk = truth["micrograph"].map(micrograph_key)
        groups = sorted(set(pk) | set(tk))
    else:
        pk = pd.Series([""] * len(pred))
        tk = pd.Series([""] * len(truth))
        groups = [""]
    pred_tp = np.zeros(len(pred), dtype=bool)
    truth_hit = np.zeros(len(truth), dtype=bool)
    truth_best = np.full(len(truth), -np.inf)    # score of the prediction that matched each truth
    for g in groups:
        pi = np.flatnonzero((pk == g).to_numpy())
        ti = np.flatnonzero((tk == g).to_numpy())
        m = match_picks(pred.iloc[pi], truth.iloc[ti], radius_frac, default_diameter)
        pred_tp[pi] = m.is_tp
        truth_hit[ti] = m.truth_hit >= 0
        sc = pred["score"].to_numpy(np.float64)[pi] if "score" in pred else np.ones(len(pi))
        truth_best[ti] = np.where(m.truth_hit >= 0, sc[np.maximum(m.truth_hit, 0)] if len(pi) else -np.inf,
                                  -np.inf)
    scores = pred["score"].to_numpy(np.float64) if "score" in pred else np.ones(len(pred))
    scores = np.where(np.isfinite(scores), scores, 1.0)
    thr, prec, rec = pr_curve(scores, pred_tp, len(truth))
    ap = average_precision(prec, rec)
    keep = scores >= threshold if threshold is not None else np.ones(len(pred), dtype=bool)
    tp = int((pred_tp & keep).sum())
    n_pred = int(keep.sum())
    fp = n_pred - tp
    fn = len(truth) - tp
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / len(truth) if len(truth) else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    hit_now = truth_hit & (truth_best >= (threshold if threshold is not None else -np.inf))
    return {"precision": precision, "recall": recall, "f": f, "ap": ap, "tp": tp, "fp": fp, "fn": fn,
            "n_pred": n_pred, "n_truth": int(len(truth)), "threshold": threshold,
            "curve_threshold": thr, "curve_precision": prec, "curve_recall": rec,
            "pred_tp": pred_tp, "truth_hit": hit_now}
