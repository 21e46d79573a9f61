"""Point-cloud core: density, TRN update, CVT (Lloyd), energy, bad input, cancel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cryogui.core.jobs import Snapshot, run_job
from cryogui.core.pointcloud.cvt import run_cvt
from cryogui.core.pointcloud.density import density_from_array, density_from_volume, gaussian_example_2d
from cryogui.core.pointcloud.energy import energy, energy_brute_force, nearest, random_energy
from cryogui.core.pointcloud.trn import n_ranks, run_trn, trn_schedule, trn_step_reference
from cryogui.errors import InputError
from cryogui.io.mrc import Volume


def blob3d(box=12, seed=0):
    rng = np.random.default_rng(seed)
    ax = np.arange(box) - box / 2
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    vol = np.exp(-(x ** 2 + (y / 0.7) ** 2 + (z / 1.3) ** 2) / 12.0) + 0.3 * np.exp(-((x - 3) ** 2 + y ** 2 + z ** 2) / 3)
    return (vol + 0.01 * rng.random(vol.shape)).astype(np.float32)


# ---- TRN ------------------------------------------------------------------------------------------------------
def test_trn_one_step_matches_hand_computation():
    # points (0,0), (2,0), (5,1); sample (1.5, 0.5): squared distances 2.5, 0.5, 12.5 -> ranks 1, 0, 2
    # eps = 0.5, lambda = 1: each point moves by 0.5 exp(-rank) (sample - point)
    P = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 1.0]])
    s = np.array([1.5, 0.5])
    e1, e2 = 0.5 * math.exp(-1), 0.5 * math.exp(-2)
    expected = np.array([[1.5 * e1, 0.5 * e1], [1.75, 0.25], [5 - 3.5 * e2, 1 - 0.5 * e2]])
    np.testing.assert_allclose(trn_step_reference(P, s, 0.5, 1.0), expected, atol=1e-12)
    dens = density_from_array(np.ones((8, 8)), spacing=1.0)
    gen = run_trn(dens, 3, init_points=P, samples=s[None, :], eps0=0.5, lam0=1.0, dtype=torch.float64,
                  device="cpu", track_energy=False)
    res = run_job(gen).value
    np.testing.assert_allclose(res.points, expected, atol=1e-9)


def test_trn_schedule_is_the_seed_annealing():
    e, l = trn_schedule(np.array([0, 1000, 2000]), 2000, 0.5, 0.05, 1.0, 0.5)
    np.testing.assert_allclose(e, [0.5, 0.5 * 0.1 ** 0.5, 0.05])
    np.testing.assert_allclose(l, [1.0, 0.5 ** 0.5, 0.5])
    assert n_ranks(1.0, 10_000) == math.ceil(math.log(1e7)) + 1
    assert n_ranks(1.0, 5) == 5


@pytest.mark.parametrize("ndim", [2, 3])
def test_exact_trn_equals_sequential_numpy_loop(ndim):
    dens = gaussian_example_2d(40) if ndim == 2 else density_from_array(blob3d(), spacing=2.5, origin=(10, -5, 3))
    n, steps = 60, 400
    rng = np.random.default_rng(3)
    P0 = dens.sample(n, rng)
    S = dens.sample(steps, rng)
    ref = P0.copy()
    for t in range(steps):
        e, lam = trn_schedule(t, steps, 0.5, 0.05, 1.0, 0.5)
        ref = trn_step_reference(ref, S[t], float(e), float(lam))
    res = run_job(run_trn(dens, n, init_points=P0, samples=S, dtype=torch.float64, device="cpu",
                          track_energy=False)).value
    scale = float(np.ptp(dens.coords, axis=0).max())
    assert np.abs(res.points - ref).max() < 1e-6 * scale
    assert res.iterations == steps


@pytest.mark.parametrize("minibatch", [False, True])
def test_fast_trn_energy_close_to_exact(minibatch, monkeypatch):
    """Fast mode: the compiled loop with fewer ranks on a CPU with numba; mini-batches without it (and on CUDA)."""
    from cryogui.core.pointcloud import trn_kernel

    dens = gaussian_example_2d(60)
    exact = run_job(run_trn(dens, 150, seed=1, mode="exact", track_energy=False)).value
    if minibatch:
        monkeypatch.setattr(trn_kernel, "AVAILABLE", False)
    fast = run_job(run_trn(dens, 150, seed=1, mode="fast", batch=8, track_energy=False)).value
    from cryogui.core.device import get_device

    batched = minibatch or not trn_kernel.AVAILABLE or get_device().type == "cuda"
    assert fast.params["batch"] == (8 if batched else 1)
    assert abs(fast.energy - exact.energy) <= 0.03 * exact.energy
    assert exact.energy < 0.75 * random_energy(dens, 150)


def test_trn_snapshots_and_energy_history():
    dens = gaussian_example_2d(40)
    snaps: list[Snapshot] = []
    res = run_job(run_trn(dens, 30, steps=600, report_every=100, seed=0), snaps.append).value
    assert [s.step for s in snaps] == [0, 100, 200, 300, 400, 500, 600]
    assert all(s.points.shape == (30, 2) and not s.points.flags.writeable for s in snaps)
    assert snaps[-1].metrics["energy"] < snaps[0].metrics["energy"]
    assert res.energy == pytest.approx(energy(dens, res.points))
    assert [h[0] for h in res.history] == [s.step for s in snaps]


# ---- CVT --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ndim", [2, 3])
def test_lloyd_never_increases_energy(ndim):
    dens = gaussian_example_2d(50) if ndim == 2 else density_from_array(blob3d(14), spacing=3.0)
    snaps: list[Snapshot] = []
    res = run_job(run_cvt(dens, 40, iterations=25, seed=2, tol=0), snaps.append).value
    e = np.array([s.metrics["energy"] for s in snaps])
    assert len(e) == 26
    assert np.all(np.diff(e) <= 1e-12 * e[0])
    assert e[-1] < 0.8 * e[0]
    # the reported energy is the energy of the reported points; masses are the cells' shares
    assert e[-1] == pytest.approx(energy_brute_force(dens, snaps[-1].points), rel=1e-9)
    assert res.weights.sum() == pytest.approx(1.0)
    assert np.all(res.weights >= 0)
    if ndim == 2:
        lab = snaps[-1].data["labels"]
        assert lab.shape == dens.grid.shape and lab.max() == 39 and lab.min() >= -1


def test_cvt_beats_random_sampling_on_seed_example():
    dens = gaussian_example_2d(100)
    res = run_job(run_cvt(dens, 200, iterations=60)).value
    assert res.energy <= 0.6 * random_energy(dens, 200)


def test_cvt_converges_and_stops_early():
    dens = density_from_array(np.ones((20, 20)), spacing=1.0)
    res = run_job(run_cvt(dens, 4, iterations=200, seed=0)).value
    assert res.converged and res.iterations < 200
    # four points on a uniform square settle at the quadrant centres
    np.testing.assert_allclose(np.sort(res.points[:, 0]), [4.5, 4.5, 14.5, 14.5], atol=0.2)
    np.testing.assert_allclose(res.weights, 0.25, atol=0.01)


def test_cvt_one_voxel_lands_in_the_map_frame():
    data = np.zeros((6, 7, 8), np.float32)
    data[2, 3, 5] = 1.0  # z=2, y=3, x=5
    vol = Volume(data=data, apix=2.0, origin=(-10.0, 4.0, 100.0), voxel_size=(2.0, 2.0, 2.0))
    dens = density_from_volume(vol)
    res = run_job(run_cvt(dens, 1, iterations=3)).value
    np.testing.assert_allclose(res.points[0], [-10 + 5 * 2, 4 + 3 * 2, 100 + 2 * 2])


# ---- energy -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["kdtree", "torch"])
def test_energy_against_brute_force(backend):
    rng = np.random.default_rng(0)
    dens = density_from_array(rng.random((6, 7, 5)) - 0.3, spacing=(1.5, 2.0, 2.5), origin=(1, 2, 3))
    pts = dens.sample(9, rng)
    diff = dens.coords[:, None, :] - pts[None]
    manual = sum(w * min(((c - p) ** 2).sum() for p in pts) for c, w in zip(dens.coords, dens.weights))
    assert energy_brute_force(dens, pts) == pytest.approx(manual, rel=1e-12)
    assert energy(dens, pts, backend=backend) == pytest.approx(manual, rel=1e-9)
    d2, idx = nearest(pts, dens.coords, backend=backend)
    np.testing.assert_array_equal(idx, (diff ** 2).sum(-1).argmin(1))


def test_energy_of_points_on_every_voxel_is_zero():
    dens = density_from_array(np.arange(1, 13, dtype=float).reshape(3, 4), spacing=2.0)
    assert energy(dens, dens.coords) == pytest.approx(0.0, abs=1e-12)
    assert random_energy(dens, 3) > 0


# ---- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data,threshold,msg", [
    (np.full((4, 4, 4), np.nan), None, "NaN"),
    (-np.ones((4, 4, 4)), None, "no positive density"),
    (np.zeros((0, 4, 4)), None, "empty"),
    (np.ones((4, 4, 4)), 5.0, "above the map's maximum"),
    (np.ones(10), None, "2D image or a 3D map"),
])
def test_bad_density_input(data, threshold, msg):
    with pytest.raises(InputError, match=msg):
        density_from_array(data, threshold=threshold, name="bad.mrc")


def test_too_many_points_and_bad_parameters():
    dens = density_from_array(np.eye(5), name="eye.mrc")
    with pytest.raises(InputError, match="only 5 pixels of eye.mrc"):
        next(run_cvt(dens, 6))
    with pytest.raises(InputError, match="at least 1"):
        next(run_trn(dens, 0))
    with pytest.raises(InputError, match="eps0"):
        next(run_trn(dens, 2, eps0=1.5))
    with pytest.raises(InputError, match="iterations"):
        next(run_cvt(dens, 2, iterations=0))


# ---- cancel -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["trn", "cvt"])
def test_cancel_mid_run_closes_the_generator(method):
    dens = gaussian_example_2d(40)
    gen = run_trn(dens, 50, steps=5000, report_every=50) if method == "trn" else \
        run_cvt(dens, 50, iterations=100, tol=0)
    first = next(gen)
    second = next(gen)
    assert second.step > first.step
    gen.close()  # what the job manager does on cancel
    assert gen.gi_frame is None
    with pytest.raises(StopIteration):
        next(gen)
    stops = iter([False, False, True])
    result = run_job(run_trn(dens, 50, steps=5000, report_every=50) if method == "trn" else
                     run_cvt(dens, 50, iterations=100, tol=0), should_stop=lambda: next(stops))
    assert result.value is None and result.n_snapshots == 2


def test_fast_batch_kdtree_equals_dense_batch():
    """The CPU (k-d tree) and CUDA (dense distances) mini-batch kernels are the same update."""
    from cryogui.core.pointcloud.trn import _fast_batch, _fast_batch_kdtree

    rng = np.random.default_rng(5)
    P = torch.as_tensor(rng.normal(size=(300, 3)))
    S = torch.as_tensor(rng.normal(size=(20, 3)))
    eps = torch.linspace(0.5, 0.4, 20, dtype=torch.float64)
    lam = torch.linspace(1.0, 0.9, 20, dtype=torch.float64)
    a, b = P.clone(), P.clone()
    _fast_batch(a, S, eps, lam)
    _fast_batch_kdtree(b, S, eps, lam)
    assert not torch.equal(a, P)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_cvt_cells_equal_full_search_every_iteration():
    """The 2D cells a CVT run reports are the nearest-point labels of a brute-force search (random moves against
    brute force: tests/test_pointcloud_cvt_kernel.py)."""
    dens = gaussian_example_2d(50)
    snaps = []
    run_job(run_cvt(dens, 30, iterations=12, seed=4, tol=0), snaps.append)
    for s in snaps:
        diff = dens.coords[:, None, :] - s.points[None]
        truth = (diff ** 2).sum(-1).argmin(1)
        np.testing.assert_array_equal(s.data["labels"].ravel()[dens.flat_index], truth)


def test_compiled_exact_trn_equals_the_seed_update_sample_by_sample():
    """The numba loop (the CPU exact path) against the plain numpy reference of the seed's update."""
    from cryogui.core.pointcloud import trn_kernel
    from cryogui.core.pointcloud.trn import _TOL, trn_schedule, trn_step_reference

    if not trn_kernel.AVAILABLE:
        pytest.skip("numba is not importable here")
    rng = np.random.default_rng(5)
    n, m = 300, 400
    P0 = rng.normal(size=(n, 3))
    S = rng.normal(size=(m, 3))
    eps, lam = trn_schedule(np.arange(m), m, 0.5, 0.05, 1.0, 0.5)
    ref = P0.copy()
    for s in range(m):
        ref = trn_step_reference(ref, S[s], eps[s], lam[s])
    got = P0.copy()
    trn_kernel.apply_exact(got, S, eps, lam, _TOL)
    # skipped terms are below 1e-7 of the winner's move
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert np.abs(got - P0).max() > 0.1  # the points did move


def test_compiled_and_torch_block_exact_paths_agree(monkeypatch):
    """Without numba the CPU runs the torch exact blocks (as CUDA does): both give the same cloud."""
    from cryogui.core.pointcloud import trn_kernel
    from cryogui.core.pointcloud.density import gaussian_example_2d

    if not trn_kernel.AVAILABLE:
        pytest.skip("numba is not importable here")
    dens = gaussian_example_2d()
    compiled = run_job(run_trn(dens, 60, steps=600, seed=2, device="cpu")).value
    monkeypatch.setattr(trn_kernel, "AVAILABLE", False)
    blocks = run_job(run_trn(dens, 60, steps=600, seed=2, device="cpu")).value
    np.testing.assert_allclose(compiled.points, blocks.points, atol=1e-4)
    assert compiled.energy == pytest.approx(blocks.energy, rel=1e-5)
