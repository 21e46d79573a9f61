"""Topology Representing Network (neural gas) point clouds, exactly as the seed states the update.

Start from n points r_m sampled from the density p.  At step t draw a sample r_t ~ p, rank the points by their
distance to it (k_m = 0 for the closest) and move every point

    r_m <- r_m + eps(t) exp(-k_m / lambda(t)) (r_t - r_m),
    eps(t) = eps0 (epsf / eps0)^(t / t_f),   lambda(t) = lambda0 (lambdaf / lambda0)^(t / t_f),   t = 0 .. t_f - 1.

Defaults (any n): eps0 = 0.5, epsf = 0.05, lambda0 = 1, lambdaf = 0.5 are the seed's values, and t_f = 20 n samples
(the seed used 10 n, 2,000 samples for 200 points; 20 n gets most of the way to the CVT energy).  Why they hold for
any n: the ranks k_m count neighbours, so exp(-k/lambda) only involves the few points nearest the sample whatever
n is (lambda is measured in neighbours, not Angstrom), and every point needs a fixed number of "wins" to settle, so
t_f must grow like n.  Starting from samples of p, no large initial lambda is needed to spread the points.

Modes
- ``"exact"``: the sequential update above.  Terms with exp(-k/lambda) < 1e-7 (moves of less than 1e-7 of the
  winner's, at the level of float32 rounding) are skipped, so only the K = ceil(lambda ln 1e7) + 1 nearest ranks are
  computed.  A compiled loop applies the samples one by one on the CPU (:mod:`cryogui.core.pointcloud.trn_kernel`,
  numba: points in spatially sorted blocks, so that each sample ranks only the few blocks near it, exactly), also
  when a GPU is present.  Where numba cannot load, torch processes samples in blocks with the exact sequential
  result: a block is cut before the first sample whose K nearest points were already moved by an earlier sample of
  the block, or into whose K nearest a moved point would enter.
- ``"fast"``: only the ranks whose weight is at least 1e-4 of the winner's (K = ceil(lambda ln 1e4) + 1).  On CUDA,
  and on a CPU where numba cannot load, mini-batches of B samples against the same positions (default
  B = n / (5K), at least 1; the K nearest from a dense distance block on CUDA, from a k-d tree on CPU); a point
  touched by several samples of a batch moves by sum_s w_s (r_s - r_m) / max(1, sum_s w_s), a convex step.  On a CPU
  with numba the compiled sequential loop is faster than any mini-batch (measured: 1.2 s against 4.1 s for 100,000
  samples and 10,000 points), so there the fast mode is that loop with the shorter rank list.  Its final energy
  stays within 2 % of the exact mode (measured in the benchmark, checked in the tests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator

import numpy as np
import torch

from cryogui.core.device import get_device
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.pointcloud import trn_kernel
from cryogui.core.pointcloud.density import Density
from cryogui.core.pointcloud.energy import energy as cloud_energy
from cryogui.core.pointcloud.result import PointCloudResult
from cryogui.errors import InputError

TRN_DEFAULTS = {"eps0": 0.5, "epsf": 0.05, "lam0": 1.0, "lamf": 0.5, "samples_per_point": 20}
_TOL = 1e-7
_FAST_TOL = 1e-4
_SAMPLE_CHUNK = 1 << 16
_WINDOW = 1 << 14  # exact mode on CPU: samples per call of the compiled loop (at most; snapshots cut it)


def trn_schedule(t, steps: int, eps0: float, epsf: float, lam0: float, lamf: float):
    """eps(t) and lambda(t) of the seed (t may be an array)."""
    frac = np.asarray(t, dtype=np.float64) / float(steps)
    return eps0 * (epsf / eps0) ** frac, lam0 * (lamf / lam0) ** frac


def trn_step_reference(points: np.ndarray, sample: np.ndarray, eps: float, lam: float) -> np.ndarray:
    """One step of the seed's update in plain numpy (all n ranks): the reference the tests and benchmark use."""
    d2 = ((sample - points) ** 2).sum(1)
    rank = d2.argsort().argsort()
    return points + eps * np.exp(-rank / lam)[:, None] * (sample - points)


def n_ranks(lam: float, n: int, tol: float = _TOL) -> int:
    """How many nearest ranks carry a weight exp(-k/lam) >= tol."""
    return int(min(n, math.ceil(lam * math.log(1.0 / tol)) + 1))


def _check(density: Density, n_points: int, steps, eps0, epsf, lam0, lamf, mode) -> tuple[int, int]:
    n = density.check_points(n_points)
    if steps is None:
        steps = TRN_DEFAULTS["samples_per_point"] * n
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise InputError(f"--iterations: {steps!r} is not a whole number") from None
    if steps < 1:
        raise InputError(f"--iterations: TRN needs at least 1 sample step, got {steps}")
    for name, v in (("eps0", eps0), ("epsf", epsf)):
        if not (0 < v <= 1):
            raise InputError(f"TRN {name} must be in (0, 1], got {v}")
    for name, v in (("lambda0", lam0), ("lambdaf", lamf)):
        if not (v > 0 and math.isfinite(v)):
            raise InputError(f"TRN {name} must be positive, got {v}")
    if mode not in ("exact", "fast"):
        raise InputError(f"TRN mode must be 'exact' or 'fast', got {mode!r}")
    return n, steps


def _sqdist(A, B):
    """Squared distances (a, b) from the expanded form (one matmul; coordinates are centred on the density)."""
    a2 = (A * A).sum(1, keepdim=True)
    b2 = (B * B).sum(1)
    return torch.addmm(a2 + b2[None, :], A, B.T, beta=1.0, alpha=-2.0)


@torch.no_grad()
def _exact_block(P, S, eps, lam, max_block):
    """Apply as many leading samples of S (B, d) as the exact sequential update allows; return how many."""
    n, d = P.shape
    B = S.shape[0]
    K = n_ranks(float(lam[0]), n)
    D = _sqdist(S, P)
    dk, idx = torch.topk(D, K, dim=1, largest=False, sorted=True)
    L = B
    if B > 1:
        ar = torch.arange(B, device=P.device)
        owner = torch.full((n,), B, dtype=torch.long, device=P.device)
        owner.scatter_reduce_(0, idx.reshape(-1), ar.repeat_interleave(K), reduce="amin")
        conflict = (owner[idx] < ar[:, None]).any(1)
        hit = torch.nonzero(conflict)
        if len(hit):
            L = int(hit[0, 0])
    ranks = torch.arange(K, device=P.device, dtype=P.dtype)
    w = eps[:L, None] * torch.exp(-ranks[None, :] / lam[:L, None])
    old = P[idx[:L]]
    new = old + w[..., None] * (S[:L, None, :] - old)
    if L > 1:
        dn = _sqdist(S[:L], new.reshape(L * K, d))
        ar = torch.arange(L, device=P.device)
        mover = ar.repeat_interleave(K)
        bad = ((dn < dk[:L, K - 1:K]) & (mover[None, :] < ar[:, None])).any(1)
        hit = torch.nonzero(bad)
        if len(hit):
            L = int(hit[0, 0])
    P[idx[:L].reshape(-1)] = new[:L].reshape(-1, d)
    return L


def _fast_batch(P, S, eps, lam, tol=_FAST_TOL):
    n, d = P.shape
    K = n_ranks(float(lam[0]), n, tol)
    D = _sqdist(S, P)
    _, idx = torch.topk(D, K, dim=1, largest=False, sorted=True)
    ranks = torch.arange(K, device=P.device, dtype=P.dtype)
    w = (eps[:, None] * torch.exp(-ranks[None, :] / lam[:, None])).reshape(-1)
    flat = idx.reshape(-1)
    pull = torch.zeros_like(P).index_add_(0, flat, w[:, None] * S.repeat_interleave(K, 0))
    wsum = torch.zeros(n, device=P.device, dtype=P.dtype).index_add_(0, flat, w)
    scale = 1.0 / torch.clamp(wsum, min=1.0)
    P += (pull - wsum[:, None] * P) * scale[:, None]


def _fast_batch_kdtree(P, S, eps, lam, tol=_FAST_TOL):
    """The same mini-batch update with the K nearest points from a k-d tree on the points (CPU): no B x n matrix."""
    from scipy.spatial import cKDTree

    n, d = P.shape
    K = n_ranks(float(lam[0]), n, tol)
    Pn = P.numpy().astype(np.float64)
    Sn = S.numpy().astype(np.float64)
    _, idx = cKDTree(Pn).query(Sn, k=K, workers=max(1, torch.get_num_threads()))
    idx = np.asarray(idx).reshape(len(Sn), K)
    w = eps.numpy()[:, None].astype(np.float64) * np.exp(-np.arange(K)[None, :] / lam.numpy()[:, None])
    flat, wf = idx.ravel(), w.ravel()
    wsum = np.bincount(flat, weights=wf, minlength=n)
    scale = 1.0 / np.maximum(wsum, 1.0)
    for k in range(d):
        pull = np.bincount(flat, weights=wf * np.repeat(Sn[:, k], K), minlength=n)
        Pn[:, k] += (pull - wsum * Pn[:, k]) * scale
    P.copy_(torch.from_numpy(Pn))


def default_batch(n: int, lam0: float) -> int:
    return max(1, n // (5 * n_ranks(lam0, n, _FAST_TOL)))


def run_trn(density: Density, n_points: int, *, steps: int | None = None, eps0: float = 0.5, epsf: float = 0.05,
            lam0: float = 1.0, lamf: float = 0.5, mode: str = "exact", batch: int | None = None, seed: int = 0,
            init_points: np.ndarray | None = None, samples: np.ndarray | None = None,
            report_every: int | None = None, track_energy: bool = True, device=None,
            dtype: torch.dtype | None = None) -> Generator[Snapshot, None, PointCloudResult]:
    """TRN point cloud of ``density`` with ``n_points`` points over ``steps`` samples (t_f; default 20 n).

    Yields a :class:`Snapshot` about every ``report_every`` samples (default: 100 snapshots per run) with the points
    (Angstrom, map frame) and, when ``track_energy``, the quantisation energy; returns a :class:`PointCloudResult`.
    The initial cloud is ``density.sample(n, default_rng(seed))`` (the same start as :func:`run_cvt` for a seed).
    ``samples`` (t_f, d) replaces the random sample stream (tests, teaching); then ``steps`` defaults to its length.
    """
    if samples is not None:
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != density.ndim:
            raise InputError(f"samples must have shape (t, {density.ndim}), got {samples.shape}")
        steps = len(samples) if steps is None else min(int(steps), len(samples))
    n, steps = _check(density, n_points, steps, eps0, epsf, lam0, lamf, mode)
    rng = np.random.default_rng(seed)
    start = density.sample(n, rng) if init_points is None else np.array(init_points, dtype=np.float64)
    if start.shape != (n, density.ndim):
        raise InputError(f"initial points must have shape ({n}, {density.ndim}), got {start.shape}")
    dev = torch.device(device) if device is not None else get_device()
    if dtype is None:
        dtype = torch.float32
    shift = density.centre
    # the compiled sequential loop runs on the CPU, also beside a GPU: for the exact update, one sample after the
    # other, it is far faster than torch blocks on CUDA (measured on an H100: 3 against 126 us a sample at n = 2,000);
    # the fast mode's mini-batches use CUDA when present.  Without numba, exact blocks or mini-batches in torch.
    compiled = trn_kernel.AVAILABLE and (mode == "exact" or dev.type == "cpu")
    tol = _TOL if mode == "exact" else _FAST_TOL
    P = torch.as_tensor(start - shift, dtype=dtype, device="cpu" if compiled else dev)
    report_every = max(1, int(report_every) if report_every else steps // 100)
    if batch is None:
        batch = default_batch(n, lam0)
    batch = max(1, int(batch))
    history: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    seq = trn_kernel.SequentialTRN(P.numpy()) if compiled else None

    def snap(t: int) -> Snapshot:
        if seq is not None:
            P.copy_(torch.from_numpy(seq.points()))
        pts = P.detach().double().cpu().numpy() + shift
        metrics = {}
        if track_energy:
            e = cloud_energy(density, pts, device=dev)
            history.append((t, e))
            metrics["energy"] = e
        e_t, l_t = trn_schedule(min(t, steps - 1), steps, eps0, epsf, lam0, lamf)
        metrics.update({"eps": float(e_t), "lambda": float(l_t), "seconds": time.perf_counter() - t0})
        return Snapshot(t, steps, points=freeze(pts), metrics=metrics, message=f"TRN sample {t}/{steps}")

    yield snap(0)
    t = 0
    block = 8
    next_report = report_every
    given = samples
    samples = None
    s_base = 0
    sched = None
    while t < steps:
        if samples is None or t - s_base >= len(samples):
            s_base = t
            m = min(_SAMPLE_CHUNK, steps - t)
            chunk = density.sample(m, rng) if given is None else given[t:t + m]
            if compiled:  # numpy samples and their eps, lambda for the compiled loop
                samples = np.ascontiguousarray(chunk - shift, dtype=seq.dtype)
                sched = trn_schedule(np.arange(t, t + m), steps, eps0, epsf, lam0, lamf)
            else:
                samples = torch.as_tensor(chunk - shift, dtype=dtype, device=dev)
        avail = s_base + len(samples) - t
        size = min(_WINDOW if compiled else block if mode == "exact" else batch, avail,
                   next_report - t)
        if compiled:  # the compiled sequential loop (trn_kernel): the seed's update, sample by sample
            a = t - s_base
            seq.apply(samples[a:a + size], sched[0][a:a + size], sched[1][a:a + size], tol)
            done = size
        else:
            ts = torch.arange(t, t + size, device=dev, dtype=torch.float64) / steps
            eps_t = (eps0 * (epsf / eps0) ** ts).to(dtype)
            lam_t = (lam0 * (lamf / lam0) ** ts).to(dtype)
            S = samples[t - s_base:t - s_base + size]
            if mode == "exact":
                done = _exact_block(P, S, eps_t, lam_t, block)
                if done == size and size == block:
                    block = min(1024, block * 2)
                elif done < size:
                    block = max(2, int(1.5 * done) + 2)
            else:
                if dev.type == "cpu":
                    _fast_batch_kdtree(P, S, eps_t, lam_t)
                else:
                    _fast_batch(P, S, eps_t, lam_t)
                done = size
        t += done
        if t >= next_report or t >= steps:
            next_report = t + report_every
            yield snap(t)
    if seq is not None:
        P.copy_(torch.from_numpy(seq.points()))
    pts = P.detach().double().cpu().numpy() + shift
    if history and history[-1][0] == steps:
        final = history[-1][1]
    else:
        final = cloud_energy(density, pts, device=dev)
    return PointCloudResult("trn", pts, None, final, steps, history,
                            params={"eps0": eps0, "epsf": epsf, "lambda0": lam0, "lambdaf": lamf, "mode": mode,
                                    "batch": batch if mode == "fast" and not compiled else 1, "seed": seed,
                                    "samples": steps})
