"""The exact TRN update as a compiled per-sample loop (numba), for the CPU.

Each sample is applied in order, exactly as the seed's update: the K nearest points (K = the ranks whose weight
exp(-k/lambda) is at least the tolerance, as in :func:`cryogui.core.pointcloud.trn.n_ranks`) move by
eps exp(-k/lambda) (sample - point); the moves of the other points are below the tolerance times the winner's and
are skipped, as the torch block path does.  What makes it fast is how the K nearest are found:

- Points are stored structure-of-arrays (one contiguous row per coordinate) and grouped in blocks of ``BLOCK``
  points that are close in space (a Morton / Z-order sort, redone now and then as the points move).  Block b holds
  the slots b, b + nb, b + 2 nb, ... so that one vectorised pass computes every squared distance and, at the same
  time, the smallest distance in each block.
- A threshold g on the squared distance (twice the K-th squared distance of the last sample whose nearest block
  was the same, else of the previous sample) selects the few blocks whose minimum is <= g; only their points with
  distance <= g enter a sorted list of K.  If fewer than K points lie within g, g doubles and the blocks are
  scanned again for the points between the old and the new g.  Once at least K points lie within g, the K nearest
  of them are the K nearest of all: no point is ever skipped, so the result does not depend on the sort (a stale
  order only costs time) nor on how good the guess of g was.
- Ties in distance rank the lower original index first (a stable sort), whatever the storage order.
"""

from __future__ import annotations

import math

import numpy as np

from cryogui.core import jit

AVAILABLE = jit.AVAILABLE  # without numba, trn.py takes its torch block path
_njit = jit.njit

BLOCK = 16  # points per block (one vectorised minimum per block)
_G_FACTOR = 2.0  # next threshold = this x the K-th squared distance of the previous sample
_G_GROW = 2.0  # threshold growth when fewer than K points lie within it


@_njit
def trn_blocks(PT, orig, n, S, eps, lam, log_inv_tol, g, g_block):  # pragma: no cover - compiled
    """Apply samples ``S`` (m, d) in order to the points ``PT`` (d, nb * BLOCK) in place; return the next threshold.

    ``orig`` (nb * BLOCK) is each slot's index in the caller's order (-1 for the padding slots, whose coordinates
    are +inf); ``n`` is the number of real points; ``g`` the starting threshold on the squared distance (<= 0: none).
    """
    d, N = PT.shape
    nb = N // BLOCK
    k_cap = 1
    for s in range(S.shape[0]):
        k = int(math.ceil(lam[s] * log_inv_tol)) + 1
        if k > k_cap:
            k_cap = k
    k_cap = min(k_cap, n)
    best_d = np.empty(k_cap, dtype=PT.dtype)
    best_i = np.empty(k_cap, dtype=np.int64)
    best_o = np.empty(k_cap, dtype=np.int64)
    buf = np.empty(N, dtype=PT.dtype)
    bmin = np.empty(nb, dtype=PT.dtype)
    big = float(np.finfo(PT.dtype).max)
    if not g > 0.0:
        g = big
    X = PT[0]
    Y = PT[1 % d]
    Z = PT[2 % d]
    for s in range(S.shape[0]):
        k = min(n, int(math.ceil(lam[s] * log_inv_tol)) + 1)
        # 1. all squared distances and each block's minimum (slot j * nb + b is point j of block b)
        if d == 3:
            sx, sy, sz = S[s, 0], S[s, 1], S[s, 2]
            for b in range(nb):
                dx, dy, dz = sx - X[b], sy - Y[b], sz - Z[b]
                dd = dx * dx + dy * dy + dz * dz
                buf[b] = dd
                bmin[b] = dd
            for j in range(1, BLOCK):
                o = j * nb
                for b in range(nb):
                    dx, dy, dz = sx - X[o + b], sy - Y[o + b], sz - Z[o + b]
                    dd = dx * dx + dy * dy + dz * dz
                    buf[o + b] = dd
                    u = bmin[b]
                    bmin[b] = dd if dd < u else u
        elif d == 2:
            sx, sy = S[s, 0], S[s, 1]
            for b in range(nb):
                dx, dy = sx - X[b], sy - Y[b]
                dd = dx * dx + dy * dy
                buf[b] = dd
                bmin[b] = dd
            for j in range(1, BLOCK):
                o = j * nb
                for b in range(nb):
                    dx, dy = sx - X[o + b], sy - Y[o + b]
                    dd = dx * dx + dy * dy
                    buf[o + b] = dd
                    u = bmin[b]
                    bmin[b] = dd if dd < u else u
        else:
            for i in range(N):
                diff = S[s, 0] - PT[0, i]
                buf[i] = diff * diff
            for c in range(1, d):
                for i in range(N):
                    diff = S[s, c] - PT[c, i]
                    buf[i] += diff * diff
            for b in range(nb):
                bmin[b] = buf[b]
            for j in range(1, BLOCK):
                o = j * nb
                for b in range(nb):
                    dd = buf[o + b]
                    u = bmin[b]
                    bmin[b] = dd if dd < u else u
        # 2. the K nearest among the points within g (g grows until at least K points lie within it); g is what
        #    the last sample nearest to the same block needed, else what the previous sample needed
        b_near = 0
        for b in range(1, nb):
            if bmin[b] < bmin[b_near]:
                b_near = b
        if g_block[b_near] > 0.0:
            g = g_block[b_near]
        m = 0
        g_lo = -1.0
        while True:
            for b in range(nb):
                if bmin[b] <= g:
                    for j in range(BLOCK):
                        i = j * nb + b
                        dd = buf[i]
                        if dd <= g and dd > g_lo:
                            o = orig[i]
                            if m < k:
                                pos = m
                                m += 1
                            elif dd < best_d[k - 1] or (dd == best_d[k - 1] and o < best_o[k - 1]):
                                pos = k - 1
                            else:
                                continue
                            while pos > 0 and (best_d[pos - 1] > dd or (best_d[pos - 1] == dd and best_o[pos - 1] > o)):
                                best_d[pos] = best_d[pos - 1]
                                best_i[pos] = best_i[pos - 1]
                                best_o[pos] = best_o[pos - 1]
                                pos -= 1
                            best_d[pos] = dd
                            best_i[pos] = i
                            best_o[pos] = o
            if m >= k:
                break
            if g >= big:  # non-finite distances: move the points that have one
                k = m
                break
            g_lo = g
            g = _G_GROW * g if 0.0 < g < big / _G_GROW else big
        if k > 0:
            g = _G_FACTOR * float(best_d[k - 1])
            g_block[b_near] = g
        # 3. the seed's move of the K nearest, weights eps exp(-r / lambda) = eps q^r
        f = eps[s]
        q = math.exp(-1.0 / lam[s])
        for r in range(k):
            i = best_i[r]
            for c in range(d):
                PT[c, i] += f * (S[s, c] - PT[c, i])
            f *= q
    return g


@_njit
def _morton_codes(points, bits):  # pragma: no cover - compiled
    n, d = points.shape
    lo = np.empty(d)
    scale = np.empty(d)
    for j in range(d):
        a = points[:, j].min()
        b = points[:, j].max()
        lo[j] = a
        scale[j] = (1 << bits) / (b - a) if b > a else 0.0
    top = (1 << bits) - 1
    code = np.zeros(n, dtype=np.int64)
    for i in range(n):
        c = 0
        for j in range(d):
            q = min(max(int((points[i, j] - lo[j]) * scale[j]), 0), top)
            for bit in range(bits):
                c |= ((q >> bit) & 1) << (bit * d + j)
        code[i] = c
    return code


def morton_order(points: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``points`` (n, d) along a Morton (Z-order) curve over their bounding box."""
    n, d = points.shape
    bits = int(min(62 // d, max(1, math.ceil(math.log2(max(n, 2)) / d) + 3)))  # ~2^(3d) cells per point or so
    return np.argsort(_morton_codes(np.ascontiguousarray(points, dtype=np.float64), bits), kind="stable")


class SequentialTRN:
    """Points held in :func:`trn_blocks`' layout between calls (blocks re-sorted every ``resort`` samples; by
    default every max(4 n, 8192))."""

    def __init__(self, points: np.ndarray, dtype=None, resort: int | None = None):
        points = np.asarray(points)
        if points.ndim != 2 or len(points) < 1:
            raise ValueError(f"points must have shape (n, d) with n >= 1, got {points.shape}")
        self.n, self.d = points.shape
        self.dtype = np.dtype(dtype or points.dtype)
        # re-sorting costs about as much as a few hundred samples; the points move little once spread, so rarely
        self.resort = max(1, int(resort if resort is not None else max(4 * self.n, 8192)))
        self._g = 0.0
        self._layout(points)

    def _layout(self, points: np.ndarray) -> None:
        n, nb = self.n, -(-self.n // BLOCK)
        order = morton_order(points)
        rank = np.arange(n)
        slot = (rank % BLOCK) * nb + rank // BLOCK  # the r-th point along the curve: block r // BLOCK
        self.PT = np.full((self.d, nb * BLOCK), np.inf, dtype=self.dtype)
        self.PT[:, slot] = points[order].T
        self.orig = np.full(nb * BLOCK, -1, dtype=np.int64)
        self.orig[slot] = order
        self._slot = np.empty(n, dtype=np.int64)
        self._slot[order] = slot
        self._g_block = np.zeros(nb)  # per block: the threshold the last sample nearest to it needed
        self._since = 0

    def points(self) -> np.ndarray:
        """The points (n, d) in the caller's order."""
        return self.PT[:, self._slot].T.copy()

    def apply(self, S: np.ndarray, eps: np.ndarray, lam: np.ndarray, tol: float) -> None:
        """Apply the samples ``S`` (m, d) in order, with per-sample eps and lambda."""
        if self._since >= self.resort:
            self._layout(self.points())
        self._g = trn_blocks(self.PT, self.orig, self.n, np.ascontiguousarray(S, dtype=self.dtype),
                             np.ascontiguousarray(eps, dtype=np.float64), np.ascontiguousarray(lam, dtype=np.float64),
                             math.log(1.0 / tol), self._g, self._g_block)
        self._since += len(S)


def apply_exact(P: np.ndarray, S: np.ndarray, eps: np.ndarray, lam: np.ndarray, tol: float) -> None:
    """Apply the samples ``S`` to the points ``P`` (n, d) in place (one :class:`SequentialTRN` call)."""
    state = SequentialTRN(P)
    state.apply(S, eps, lam, tol)
    P[...] = state.points()
