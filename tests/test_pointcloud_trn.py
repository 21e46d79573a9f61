"""Exact TRN on CPU: the compiled block loop (trn_kernel) against the seed's update, step by step."""

from __future__ import annotations

import numpy as np
import pytest

from cryogui.core.pointcloud import trn_kernel
from cryogui.core.pointcloud.trn import _TOL, n_ranks, trn_schedule, trn_step_reference

pytestmark = pytest.mark.skipif(not trn_kernel.AVAILABLE, reason="numba is not importable here")


def _reference(P0, S, eps, lam, truncated=False):
    """The seed's update sample by sample (numpy).  ``stable``: ties rank the lower index first and, as the
    compiled loop does, ranks whose weight is below the tolerance do not move (so the two agree to rounding)."""
    r = P0.copy()
    for s in range(len(S)):
        if truncated:
            d2 = ((S[s] - r) ** 2).sum(1)
            rank = d2.argsort(kind="stable").argsort(kind="stable")
            w = eps[s] * np.exp(-rank / lam[s]) * (rank < n_ranks(lam[s], len(r)))
            r = r + w[:, None] * (S[s] - r)
        else:
            r = trn_step_reference(r, S[s], eps[s], lam[s])
    return r


def _run_in_windows(P0, S, eps, lam, window, resort):
    seq = trn_kernel.SequentialTRN(P0, resort=resort)
    for a in range(0, len(S), window):
        seq.apply(S[a:a + window], eps[a:a + window], lam[a:a + window], _TOL)
    return seq


@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_block_loop_equals_seed_update_across_windows_and_resorts(ndim):
    """Several calls, the blocks re-sorted every 25 samples, n not a multiple of the block size."""
    rng = np.random.default_rng(ndim)
    n, m = 203, 300
    P0 = rng.normal(size=(n, ndim))
    S = rng.normal(size=(m, ndim))
    eps, lam = trn_schedule(np.arange(m), m, 0.5, 0.05, 2.0, 0.5)
    got = _run_in_windows(P0, S, eps, lam, window=37, resort=25).points()
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam), atol=1e-6)  # skipped ranks: < 1e-7 of the winner
    assert np.abs(got - P0).max() > 0.1


def test_points_crossing_blocks_stay_exact():
    """Big steps (eps near 1) throw points across the cloud between re-sorts: the blocks' spatial order goes
    stale (and their Morton order changes), the K nearest must still be exact."""
    rng = np.random.default_rng(7)
    n, m = 160, 240
    P0 = rng.uniform(-1, 1, size=(n, 3))
    # samples alternate between two far corners, so the winners jump back and forth across the whole cloud
    corners = np.array([[3.0, 3.0, 3.0], [-3.0, -3.0, -3.0]])
    S = corners[np.arange(m) % 2] + 0.3 * rng.normal(size=(m, 3))
    eps = np.full(m, 0.95)
    lam = np.full(m, 1.5)
    seq = trn_kernel.SequentialTRN(P0, resort=10 ** 9)  # never re-sorted: the first order goes stale
    order0 = trn_kernel.morton_order(P0)
    seq.apply(S, eps, lam, _TOL)
    got = seq.points()
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam, truncated=True), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam), atol=1e-4)  # skipped: < 1e-7 of the winner's move
    assert not np.array_equal(trn_kernel.morton_order(got), order0)  # points did change places along the curve
    assert np.abs(got - P0).max() > 3.0
    # the same with re-sorts in between
    again = _run_in_windows(P0, S, eps, lam, window=16, resort=16).points()
    np.testing.assert_allclose(again, got, atol=1e-12)


def test_threshold_grows_for_a_far_sample_and_small_clouds():
    """A sample far from every point after many near ones (the threshold must grow many times), a cloud smaller
    than one block, and K larger than n (lambda large: every point moves)."""
    rng = np.random.default_rng(3)
    P0 = rng.normal(scale=0.01, size=(40, 3))
    S = np.concatenate([rng.normal(scale=0.01, size=(30, 3)), [[500.0, -200.0, 40.0]],
                        rng.normal(scale=0.01, size=(10, 3))])
    eps = np.full(len(S), 0.3)
    lam = np.full(len(S), 1.0)
    got = _run_in_windows(P0, S, eps, lam, window=len(S), resort=10 ** 9).points()
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam, truncated=True), rtol=0, atol=1e-9)
    assert np.abs(got[:, 0]).max() > 100  # the far sample did pull its winner
    for n in (1, 3, 17):
        P = rng.normal(size=(n, 2))
        S2 = rng.normal(size=(20, 2))
        e2, l2 = np.full(20, 0.5), np.full(20, 50.0)  # K = ceil(50 ln 1e7) + 1 > n
        got = _run_in_windows(P, S2, e2, l2, window=7, resort=5).points()
        np.testing.assert_allclose(got, _reference(P, S2, e2, l2), atol=1e-6)  # skipped ranks: < 1e-7 of the winner


def test_ties_rank_the_lower_index_first():
    """Points on an integer lattice and samples on lattice points: many exactly equal distances.  The ranks are
    those of a stable sort by original index, whatever order the blocks store the points in."""
    g = np.arange(-3, 4, dtype=np.float64)
    P0 = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)[::-1].copy()
    rng = np.random.default_rng(0)
    S = rng.integers(-3, 4, size=(6, 2)).astype(np.float64)
    eps, lam = np.full(6, 0.5), np.full(6, 0.6)
    got = _run_in_windows(P0, S, eps, lam, window=1, resort=10 ** 9).points()
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam, truncated=True), rtol=0, atol=1e-12)


def test_float32_points_match_the_float64_update():
    rng = np.random.default_rng(11)
    n, m = 500, 400
    P0 = rng.normal(size=(n, 3))
    S = rng.normal(size=(m, 3))
    eps, lam = trn_schedule(np.arange(m), m, 0.5, 0.05, 1.0, 0.5)
    seq = trn_kernel.SequentialTRN(P0.astype(np.float32))
    seq.apply(S, eps, lam, _TOL)
    got = seq.points()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(P0, S, eps, lam), atol=1e-4)


def test_morton_order_is_a_permutation_that_groups_neighbours():
    rng = np.random.default_rng(1)
    P = rng.uniform(size=(4096, 3))
    order = trn_kernel.morton_order(P)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(P)))
    blocks = P[order].reshape(-1, trn_kernel.BLOCK, 3)
    extent = (blocks.max(1) - blocks.min(1)).max(1)
    shuffled = P.reshape(-1, trn_kernel.BLOCK, 3)
    assert np.median(extent) < 0.5 * np.median((shuffled.max(1) - shuffled.min(1)).max(1))


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_on_a_gpu_exact_trn_runs_the_compiled_loop_and_fast_uses_cuda_minibatches():
    """With CUDA present, exact TRN still runs the compiled CPU loop (same points as device='cpu'); fast mode's
    mini-batches run on CUDA and end within 2 % of the exact energy."""
    from cryogui.core.jobs import run_job
    from cryogui.core.pointcloud.density import gaussian_example_2d
    from cryogui.core.pointcloud.trn import run_trn

    dens = gaussian_example_2d(60)
    cpu = run_job(run_trn(dens, 120, seed=3, mode="exact", device="cpu", track_energy=False)).value
    gpu = run_job(run_trn(dens, 120, seed=3, mode="exact", device="cuda", track_energy=False)).value
    np.testing.assert_array_equal(gpu.points, cpu.points)
    fast = run_job(run_trn(dens, 120, seed=3, mode="fast", batch=6, device="cuda", track_energy=False)).value
    assert fast.params["batch"] == 6
    assert abs(fast.energy - cpu.energy) <= 0.02 * cpu.energy
