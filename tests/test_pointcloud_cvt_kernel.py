"""CVT's nearest-point assignment: the compiled cell-grid search and fused Lloyd pass (cvt_kernel), and the bounded
k-d tree path, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from cryogui.core.jobs import run_job
from cryogui.core.pointcloud import cvt_kernel
from cryogui.core.pointcloud.cvt import run_cvt
from cryogui.core.pointcloud.density import density_from_array, gaussian_example_2d

pytestmark = pytest.mark.skipif(not cvt_kernel.AVAILABLE, reason="numba is not importable")


def brute_two(points, queries):
    d = ((queries[:, None, :] - points[None]) ** 2).sum(-1)
    order = np.argsort(d, axis=1)
    d1 = d[np.arange(len(d)), order[:, 0]]
    d2 = d[np.arange(len(d)), order[:, 1]] if points.shape[0] > 1 else np.full(len(d), np.inf)
    return d1, d2


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("n", [1, 2, 7, 300])
def test_two_nearest_is_exact_for_clustered_points_and_far_queries(ndim, n):
    rng = np.random.default_rng(n)
    # an anisotropic cluster plus a few outliers: crowded and empty cells; queries far outside the points' box
    pts = rng.normal(size=(n, ndim)) * np.array([1.0, 4.0, 0.3])[:ndim]
    pts[: max(1, n // 20)] += 25.0
    q = rng.normal(size=(400, ndim)) * 10.0
    q[:5] = pts[:5] if n >= 5 else q[:5]  # queries exactly on points
    lab, d1, d2 = cvt_kernel.two_nearest(pts, q)
    b1, b2 = brute_two(pts, q)
    np.testing.assert_allclose(d1, b1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d2, b2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(((q - pts[lab]) ** 2).sum(1), b1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["grid", "kdtree"])
def test_bounded_assignment_equals_full_search_and_sums_its_cells(kind):
    """Hamerly's bounds skip voxels but never change the answer, in the compiled grid pass and in the k-d tree
    path; the grid pass's masses and moments are those of its labels."""
    from cryogui.core.pointcloud.cvt import BoundedAssignment

    rng = np.random.default_rng(3)
    data = rng.random((10, 11, 12)) + np.exp(-((np.indices((10, 11, 12)) - 5.0) ** 2).sum(0) / 8)
    dens = density_from_array(data, spacing=(1.5, 2.0, 2.5), origin=(3, -2, 1))
    pts = dens.sample(40, rng)
    if kind == "grid":
        assign = cvt_kernel.GridLloyd(dens.coords, dens.weights, float(np.prod(dens.spacing)))
    else:
        assign = BoundedAssignment(dens.coords, backend="kdtree")
    assign.update(pts)
    skipped = []
    for scale in (4.0, 0.5, 0.05, 0.005):
        step = rng.normal(scale=scale, size=pts.shape)
        pts = pts + step
        d2, lab = assign.update(pts, np.sqrt((step ** 2).sum(1)))
        b1, _ = brute_two(pts, dens.coords)
        np.testing.assert_allclose(d2, b1, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(((dens.coords - pts[lab]) ** 2).sum(1), b1, rtol=1e-10, atol=1e-10)
        if assign.moments is not None:
            mass, mom = assign.moments
            np.testing.assert_allclose(mass, np.bincount(lab, weights=dens.weights, minlength=40), atol=1e-14)
            for k in range(3):
                np.testing.assert_allclose(mom[:, k], np.bincount(lab, weights=dens.weights * dens.coords[:, k],
                                                                     minlength=40), atol=1e-12)
        skipped.append(assign.queried < len(dens.coords))
    assert skipped[-1]
    assert (assign.moments is not None) == (kind == "grid")


@pytest.mark.parametrize("ndim", [2, 3])
def test_grid_and_kdtree_backends_give_the_same_cvt(ndim):
    rng = np.random.default_rng(5)
    if ndim == 2:
        dens = gaussian_example_2d(40)
    else:
        dens = density_from_array(rng.random((9, 10, 11)) ** 3, spacing=1.7)
    out = {}
    for backend in ("grid", "kdtree"):
        snaps = []
        res = run_job(run_cvt(dens, 25, iterations=8, seed=1, tol=0, backend=backend), snaps.append).value
        out[backend] = (res, [s.metrics["energy"] for s in snaps])
    (g, eg), (_, ek) = out["grid"], out["kdtree"]
    # exact ties between lattice voxels may be broken differently; the energies agree to rounding
    np.testing.assert_allclose(eg, ek, rtol=1e-6)
    np.testing.assert_allclose(g.weights.sum(), 1.0)
    assert np.all(np.diff(eg) <= 1e-12 * eg[0])
