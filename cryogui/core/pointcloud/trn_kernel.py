"""The exact TRN update as a compiled per-sample loop (numba), for the CPU.

For each sample, in order: the squared distances to all n points, the K nearest by insertion into a sorted list of
K (K = the ranks whose weight exp(-k/lambda) is at least the tolerance, as in :func:`cryogui.core.pointcloud.trn.
n_ranks`), and the seed's move of those K points.  Moves of the other points are below the tolerance times the
winner's and are skipped, exactly as the numpy/torch block paths do.  A few microseconds a sample at n = 2,000, where
a numpy loop over the seed's update costs hundreds: the loop's per-call overhead, not arithmetic, is what costs.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; the numpy block path in trn.py remains for a platform where it cannot load
    import numba

    _njit = numba.njit(cache=True, nogil=True)
    AVAILABLE = True
except Exception:  # noqa: BLE001 - any import failure means "not available"
    AVAILABLE = False

    def _njit(f):
        return f


@_njit
def trn_sequential(P, S, eps, lam, log_inv_tol):  # pragma: no cover - compiled
    """Apply samples ``S`` (m, d) in order to points ``P`` (n, d) in place, with per-sample eps and lambda."""
    n, d = P.shape
    k_cap = 1
    for s in range(S.shape[0]):
        k = int(math.ceil(lam[s] * log_inv_tol)) + 1
        if k > k_cap:
            k_cap = k
    k_cap = min(k_cap, n)
    best_d = np.empty(k_cap, dtype=np.float64)
    best_i = np.empty(k_cap, dtype=np.int64)
    for s in range(S.shape[0]):
        k = min(n, int(math.ceil(lam[s] * log_inv_tol)) + 1)
        m = 0
        for i in range(n):
            dd = 0.0
            for j in range(d):
                diff = S[s, j] - P[i, j]
                dd += diff * diff
            if m < k:
                pos = m
                m += 1
            elif dd < best_d[k - 1]:
                pos = k - 1
            else:
                continue
            while pos > 0 and best_d[pos - 1] > dd:  # ties keep the lower index first (a stable sort)
                best_d[pos] = best_d[pos - 1]
                best_i[pos] = best_i[pos - 1]
                pos -= 1
            best_d[pos] = dd
            best_i[pos] = i
        e = eps[s]
        inv_l = 1.0 / lam[s]
        for r in range(m):
            i = best_i[r]
            f = e * math.exp(-r * inv_l)
            for j in range(d):
                P[i, j] += f * (S[s, j] - P[i, j])


def apply_exact(P: np.ndarray, S: np.ndarray, eps: np.ndarray, lam: np.ndarray, tol: float) -> None:
    """Run :func:`trn_sequential` on contiguous arrays (P is updated in place)."""
    trn_sequential(P, np.ascontiguousarray(S, dtype=P.dtype), np.ascontiguousarray(eps, dtype=np.float64),
                   np.ascontiguousarray(lam, dtype=np.float64), math.log(1.0 / tol))
