"""Compiled (numba) nearest-point search on a cell grid, and one fused Lloyd pass over the voxels, for the CPU.

The points are binned into a uniform grid of cubic cells (about two points per cell of their bounding box).  A query
visits the cells in shells of growing Chebyshev radius around its own cell and stops once the unvisited cells lie
farther than its second-nearest point found so far, so the two nearest points it returns are exact.

A Lloyd pass (:func:`lloyd_pass`) walks the voxels once: with Hamerly's bounds it keeps a voxel's label when the
distance to its point is within the lower bound on every other point (the bound shrinks by the largest move of the
other points), searches the grid otherwise, and accumulates the energy, the cell masses and the cell moments in the
same loop.  2D densities use the same code with z = 0.
"""

from __future__ import annotations

import math

import numpy as np

from cryogui.core import jit

AVAILABLE = jit.AVAILABLE  # without numba, cvt.py takes its k-d tree path
_njit = jit.njit


def as_xyz(a: np.ndarray) -> np.ndarray:
    """(m, 2) or (m, 3) coordinates as a contiguous float64 (m, 3) array (z = 0 for 2D)."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape[1] == 3:
        return np.ascontiguousarray(a)
    out = np.zeros((len(a), 3))
    out[:, :a.shape[1]] = a
    return out


@_njit
def _build_grid(P, lo, h, gx, gy, gz):  # pragma: no cover - compiled
    n = P.shape[0]
    cell = np.empty(n, dtype=np.int64)
    for i in range(n):
        cx = min(max(int((P[i, 0] - lo[0]) / h), 0), gx - 1)
        cy = min(max(int((P[i, 1] - lo[1]) / h), 0), gy - 1)
        cz = min(max(int((P[i, 2] - lo[2]) / h), 0), gz - 1)
        cell[i] = (cz * gy + cy) * gx + cx
    start = np.zeros(gx * gy * gz + 1, dtype=np.int64)
    for i in range(n):
        start[cell[i] + 1] += 1
    for c in range(gx * gy * gz):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return order, start


class Grid:
    """The points binned into cubic cells of about one point each (built per set of positions; cheap next to the
    queries).  ``volume``: the volume (area) the points occupy, when known (a map's support is often a small part of
    the points' bounding box); default the bounding box."""

    def __init__(self, points_xyz: np.ndarray, flat: bool, volume: float | None = None):
        P = points_xyz
        lo = P.min(axis=0)
        ext = np.maximum(P.max(axis=0) - lo, 0.0)
        dims_used = 2 if flat else 3
        vol = float(np.prod(np.maximum(ext[:dims_used], 1e-12))) if volume is None else float(volume)
        h = (1.0 * vol / max(len(P), 1)) ** (1.0 / dims_used)
        h = max(h, float(ext[:dims_used].max()) / 256.0, 1e-9)  # at most 256 cells per axis
        g = [max(1, int(math.floor(ext[a] / h)) + 1) for a in range(3)]
        if flat:
            g[2] = 1
        self.lo, self.h = lo.astype(np.float64), float(h)
        self.dims = tuple(g)
        self.order, self.start = _build_grid(P, self.lo, self.h, g[0], g[1], g[2])
        self.P = np.ascontiguousarray(P[self.order])  # cell by cell: the search reads contiguous memory


@_njit
def _two_nearest(P, order, start, lo, h, gx, gy, gz, qx, qy, qz):  # pragma: no cover - compiled
    """(position in the cell-ordered ``P`` of the nearest point, its squared distance, squared distance of the
    second nearest)."""
    cx = min(max(int(math.floor((qx - lo[0]) / h)), 0), gx - 1)
    cy = min(max(int(math.floor((qy - lo[1]) / h)), 0), gy - 1)
    cz = min(max(int(math.floor((qz - lo[2]) / h)), 0), gz - 1)
    b1 = np.inf
    b2 = np.inf
    i1 = -1
    r = 0
    while True:
        for z in range(cz - r, cz + r + 1):
            if z < 0 or z >= gz:
                continue
            zr = abs(z - cz) == r
            for y in range(cy - r, cy + r + 1):
                if y < 0 or y >= gy:
                    continue
                full = zr or abs(y - cy) == r
                step = 1 if full or r == 0 else 2 * r
                x = cx - r
                while x <= cx + r:
                    if 0 <= x < gx:
                        c = (z * gy + y) * gx + x
                        for k in range(start[c], start[c + 1]):
                            dx = qx - P[k, 0]
                            dy = qy - P[k, 1]
                            dz = qz - P[k, 2]
                            d = dx * dx + dy * dy + dz * dz
                            if d < b1:
                                b2 = b1
                                b1 = d
                                i1 = k
                            elif d < b2:
                                b2 = d
                    x += step
        # the cells not yet visited lie beyond the faces of the block of radius r that have cells behind them
        bound = np.inf
        if cx - r > 0:
            bound = min(bound, qx - (lo[0] + (cx - r) * h))
        if cx + r + 1 < gx:
            bound = min(bound, lo[0] + (cx + r + 1) * h - qx)
        if cy - r > 0:
            bound = min(bound, qy - (lo[1] + (cy - r) * h))
        if cy + r + 1 < gy:
            bound = min(bound, lo[1] + (cy + r + 1) * h - qy)
        if cz - r > 0:
            bound = min(bound, qz - (lo[2] + (cz - r) * h))
        if cz + r + 1 < gz:
            bound = min(bound, lo[2] + (cz + r + 1) * h - qz)
        if bound == np.inf or (bound > 0 and bound * bound >= b2):
            return i1, b1, b2
        r += 1


@_njit
def _query_all(P, order, start, lo, h, gx, gy, gz, Q):  # pragma: no cover - compiled
    m = Q.shape[0]
    lab = np.empty(m, dtype=np.int64)
    d1 = np.empty(m)
    d2 = np.empty(m)
    for v in range(m):
        k, d1[v], d2[v] = _two_nearest(P, order, start, lo, h, gx, gy, gz, Q[v, 0], Q[v, 1], Q[v, 2])
        lab[v] = order[k]
    return lab, d1, d2


def two_nearest(points: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query: the index of its nearest point, the squared distance to it and to the second nearest
    (inf when there is one point).  Exact; points and queries are (k, 2) or (k, 3)."""
    flat = np.asarray(points).shape[1] == 2
    g = Grid(as_xyz(points), flat)
    return _query_all(g.P, g.order, g.start, g.lo, g.h, *g.dims, as_xyz(queries))


@_njit
def _lloyd_pass(X, W, P0, P, order, start, lo, h, gx, gy, gz, labels, lower, moves, first):  # pragma: no cover
    m = X.shape[0]
    n = P.shape[0]
    # the largest move, and the largest among the other points for the point that made it (Hamerly)
    a1 = -1
    m1 = 0.0
    m2 = 0.0
    if not first:
        for i in range(n):
            if moves[i] > m1:
                m2 = m1
                m1 = moves[i]
                a1 = i
            elif moves[i] > m2:
                m2 = moves[i]
    mass = np.zeros(n)
    mom = np.zeros((n, 3))
    d2 = np.empty(m)
    searched = 0
    for v in range(m):
        qx, qy, qz = X[v, 0], X[v, 1], X[v, 2]
        search = first
        if not first:
            lab = labels[v]
            lower[v] -= m2 if lab == a1 else m1
            dx = qx - P0[lab, 0]
            dy = qy - P0[lab, 1]
            dz = qz - P0[lab, 2]
            dd = dx * dx + dy * dy + dz * dz
            # a relative margin keeps the test on the safe side of the bounds' rounding
            search = math.sqrt(dd) >= lower[v] * (1.0 - 1e-12)
        if search:
            k, dd, s2 = _two_nearest(P, order, start, lo, h, gx, gy, gz, qx, qy, qz)
            lab = order[k]
            labels[v] = lab
            lower[v] = math.sqrt(s2)
            searched += 1
        d2[v] = dd
        w = W[v]
        mass[lab] += w
        mom[lab, 0] += w * qx
        mom[lab, 1] += w * qy
        mom[lab, 2] += w * qz
    return d2, mass, mom, searched


class GridLloyd:
    """Labels of fixed voxels for points that move a little each iteration, with the cell masses and moments of
    each pass: the compiled counterpart of :class:`cryogui.core.pointcloud.cvt.BoundedAssignment`."""

    def __init__(self, coords: np.ndarray, weights: np.ndarray, voxel_volume: float):
        self.d = coords.shape[1]
        self.volume = len(coords) * float(voxel_volume)  # the support: where the points live
        self.X = as_xyz(coords)
        self.W = np.ascontiguousarray(weights, dtype=np.float64)
        self.labels = np.zeros(len(coords), dtype=np.int64)
        self.lower = np.zeros(len(coords))
        self.first = True
        self.queried = 0
        self.moments: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, pts: np.ndarray, moves: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Squared distance to the nearest point and its index for every voxel; ``moments`` = (masses, weighted
        coordinate sums (n, d)) of the same assignment."""
        first = self.first or moves is None
        P0 = as_xyz(pts)
        g = Grid(P0, self.d == 2, self.volume)
        mv = np.zeros(len(pts)) if moves is None else np.ascontiguousarray(moves, dtype=np.float64)
        d2, mass, mom, self.queried = _lloyd_pass(self.X, self.W, P0, g.P, g.order, g.start, g.lo, g.h, *g.dims,
                                                  self.labels, self.lower, mv, first)
        self.first = False
        self.moments = (mass, mom[:, :self.d])
        return d2, self.labels
