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
  computed.  Samples are processed in blocks, with the exact sequential result: a block is cut before the first
  sample whose K nearest points were already moved by an earlier sample of the block, or into whose K nearest a
  moved point would enter (CUDA).  On CPU, a compiled loop applies the samples one by one
  (:mod:`cryogui.core.pointcloud.trn_kernel`, numba).  Where numba cannot load, windows of 512 samples run in rounds over a sliding list of pending
  samples: a sample whose K-ball meets no earlier pending sample's ball is applied in the current round (disjoint
  balls: disjoint moves, unchanged neighbours), and a sample that overtakes a blocked one is checked against that one's
  final ball (on failure the window is restored and replayed in blocks).  The K nearest come from
  :class:`_ExactCPU`: one small matmul against cached [-2 P^T; |P|^2] and a cut at an upper bound of the K-th
  distance (from K points cached per grid cell) instead of a partial sort of every row.  What limits the speed is
  the number of rounds: at n = 2,000 in 3D a round holds ~10-20 samples, and every round costs a fixed few dozen
  numpy calls (the benchmark prints the figures).
- ``"fast"``: mini-batches of B samples against the same positions (default B = n / (5K), at least 1; the K nearest
  from a k-d tree on CPU, from a dense distance block on CUDA); a point touched by several samples of a batch moves
  by sum_s w_s (r_s - r_m) / max(1, sum_s w_s), a convex step.  Its final energy stays within 2 % of the exact mode
  (measured in the benchmark, checked in the tests).
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
_SAMPLE_CHUNK = 1 << 16
_WINDOW = 512  # exact mode on CPU: samples per window (one checkpoint each)


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


def _exact_block_numpy(P: np.ndarray, S: np.ndarray, eps: np.ndarray, lam: np.ndarray) -> int:
    """:func:`_exact_block` in numpy (CPU: far less overhead per call than torch on such small arrays); P in place."""
    n, d = P.shape
    B = S.shape[0]
    K = n_ranks(float(lam[0]), n)
    D = (S * S).sum(1)[:, None] + (P * P).sum(1)[None, :] - 2.0 * (S @ P.T)
    part = np.argpartition(D, K - 1, axis=1)[:, :K] if K < n else np.broadcast_to(np.arange(n), (B, n))
    dpart = np.take_along_axis(D, part, 1)
    order = np.argsort(dpart, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, 1)
    dk = np.take_along_axis(dpart, order, 1)
    L = B
    if B > 1:
        ar = np.arange(B)
        owner = np.full(n, B)
        np.minimum.at(owner, idx.ravel(), np.repeat(ar, K))
        hit = np.flatnonzero((owner[idx] < ar[:, None]).any(1))
        if hit.size:
            L = int(hit[0])
    w = eps[:L, None] * np.exp(-np.arange(K)[None, :] / lam[:L, None])
    old = P[idx[:L]]
    new = old + w[..., None] * (S[:L, None, :] - old)
    if L > 1:
        dn = ((S[:L, None, :] - new.reshape(1, L * K, d)) ** 2).sum(-1)
        ar = np.arange(L)
        mover = np.repeat(ar, K)
        hit = np.flatnonzero(((dn < dk[:L, K - 1:K]) & (mover[None, :] < ar[:, None])).any(1))
        if hit.size:
            L = int(hit[0])
    P[idx[:L].ravel()] = new[:L].reshape(-1, d)
    return L


class _ExactCPU:
    """The exact block update on CPU with a cheap, exact search for each sample's K nearest points.

    Distances to all n points come from one small matmul per block against ``A = [-2 P^T; |P|^2]`` (kept current
    for the moved columns only); instead of a full partial sort of each row, an upper bound tau on the K-th nearest
    distance comes from K distinct points cached for the sample's grid cell (the K nearest of the last sample there;
    any K distinct points give a valid bound, however stale), and only the points with D <= tau (plus rounding slack)
    are ranked, by distances recomputed directly.  The result is the same set and order as a full sort.
    """

    def __init__(self, P: np.ndarray, lo: np.ndarray, hi: np.ndarray, k_max: int):
        n, d = P.shape
        self.P, self.n, self.d, self.k = P, n, d, int(min(k_max, n))
        self.A = np.empty((d + 1, n), dtype=np.float64)
        Pd = P.astype(np.float64)
        self.A[:d] = -2.0 * Pd.T
        self.A[d] = (Pd * Pd).sum(1)
        ext = np.maximum(hi - lo, 1e-12)
        cells = max(1.0, min(4.0 * n, 4e6 / self.k))  # ~4 cells per point: tighter bounds, cheap to initialise
        h = (float(np.prod(ext)) / cells) ** (1.0 / d)
        self.lo, self.h = lo, h
        self.dims = np.maximum(1, np.ceil(ext / h).astype(np.int64))
        self.strides = np.cumprod(np.r_[1, self.dims[:-1]])
        grids = np.meshgrid(*[lo[i] + (np.arange(self.dims[i]) + 0.5) * h for i in range(d)], indexing="ij")
        centres = np.stack([g.ravel(order="F") for g in grids], 1)
        from scipy.spatial import cKDTree

        _, idx = cKDTree(P.astype(np.float64)).query(centres, k=self.k)
        self.cache = np.asarray(idx, dtype=np.int64).reshape(len(centres), self.k)
        scale2 = float((np.maximum(np.abs(lo), np.abs(hi)) ** 2).sum())
        self.slack = 1e-12 * (scale2 + 1.0)  # float64 rounding of the expanded form, with a wide margin
        self.tiny = 1e-5 * math.sqrt(scale2 + 1.0)  # ball-test margin: float32 rounding of stored points
        self.rounds = self.fallbacks = 0

    def cell(self, S: np.ndarray) -> np.ndarray:
        c = np.clip(((S - self.lo) / self.h).astype(np.int64), 0, self.dims - 1)
        return c @ self.strides

    def knn(self, S: np.ndarray):
        """Indices and squared distances (B, k) of the k nearest points of each sample, nearest first."""
        B, d, k, n = len(S), self.d, self.k, self.n
        S = np.asarray(S, dtype=np.float64)
        Dp = S @ self.A[:d] + self.A[d]          # |p|^2 - 2 s.p: the squared distance less |s|^2 (float64)
        cells = self.cell(S)
        tau = Dp[np.arange(B)[:, None], self.cache[cells]].max(1) + self.slack
        f = np.flatnonzero(Dp <= tau[:, None])   # row-major: rows ascending
        r = f // n
        dist = Dp.ravel()[f] + (S * S).sum(1)[r]
        order = np.lexsort((dist, r))
        counts = np.bincount(r, minlength=B)
        sel = order[(np.cumsum(counts) - counts)[:, None] + np.arange(k)[None, :]]
        return f[sel] - r[sel] * n, dist[sel], cells

    def window(self, S: np.ndarray, eps: np.ndarray, lam: np.ndarray, pending: int = 16) -> None:
        """Apply all samples of S (in order) exactly, many per round: see :meth:`_levels`.  If a blocked sample's
        K-ball grew past what a sample that overtook it assumed, restore and replay the window block by block."""
        keep_P, keep_A = self.P.copy(), self.A.copy()
        if self._levels(np.asarray(S, dtype=np.float64), eps, lam, pending):
            return
        self.fallbacks += 1
        self.P[...] = keep_P
        self.A[...] = keep_A
        t = 0
        while t < len(S):
            t += self.block(S[t:t + 8], eps[t:t + 8], lam[t:t + 8])

    def _levels(self, S, eps, lam, pending) -> bool:
        """Rounds over a sliding list of pending samples (in order).  Each pending sample j has its K nearest from
        the current points and the radius R_j of that K-ball; every point it moves stays inside its ball.  A sample is
        ready when its ball meets no earlier pending sample's ball: the ready samples then move disjoint point sets and
        see none of each other's moves, so applying them at once equals applying them in order.  A ready j that
        overtakes a blocked earlier i is right only if i's ball, when i finally runs, still misses j's ball:
        clearance_i = min_j (|s_i - s_j| - R_j) is recorded and checked when i runs (False: replay needed)."""
        P, A, d, n = self.P, self.A, self.d, self.n
        W = len(S)
        k_row = np.minimum(np.ceil(lam * math.log(1.0 / _TOL)).astype(np.int64) + 1, min(n, self.k))
        idx = np.zeros((W, self.k), dtype=np.int64)
        dist = np.zeros((W, self.k))
        cells = np.zeros(W, dtype=np.int64)
        fresh = np.zeros(W, dtype=bool)
        clear = np.full(W, np.inf)
        pend = np.zeros(0, dtype=np.int64)
        nxt = 0
        tiny = self.tiny
        while nxt < W or pend.size:
            add = min(W - nxt, pending - pend.size)
            if add > 0:
                pend = np.concatenate([pend, np.arange(nxt, nxt + add)])
                nxt += add
            need = pend[~fresh[pend]]
            if need.size:
                idx[need], dist[need], cells[need] = self.knn(S[need])
                fresh[need] = True
            self.rounds += 1
            kr = int(k_row[pend].max())
            R = np.sqrt(dist[pend, kr - 1])
            Sp = S[pend]
            diff = Sp[:, None, :] - Sp[None, :, :]
            dd = np.sqrt((diff * diff).sum(-1))
            ov = dd <= R[:, None] + R[None, :] + tiny
            blocked = np.tril(ov, -1).any(1)
            ready = ~blocked
            r = pend[ready]
            if (R[ready] + tiny >= clear[r]).any():
                return False
            if blocked.any():
                later_ready = np.triu(np.ones((len(pend), len(pend)), dtype=bool), 1) & ready[None, :]
                gap = np.where(later_ready, dd - R[None, :], np.inf).min(1)
                clear[pend] = np.minimum(clear[pend], gap)
            moved = idx[r, :kr]
            ranks = np.arange(kr)
            w = eps[r, None] * np.exp(-ranks[None, :] / lam[r, None])
            w[ranks[None, :] >= k_row[r][:, None]] = 0.0
            old = P[moved]
            new = old + w[..., None] * (S[r][:, None, :] - old)
            flat = moved.ravel()
            P[flat] = new.reshape(-1, d)
            stored = P[flat].astype(np.float64)
            A[:d, flat] = -2.0 * stored.T
            A[d, flat] = (stored * stored).sum(1)
            self.cache[cells[r]] = idx[r]
            fresh[pend[blocked & ov[:, ready].any(1)]] = False
            pend = pend[blocked]
        return True

    def block(self, S: np.ndarray, eps: np.ndarray, lam: np.ndarray) -> int:
        """Apply as many leading samples of S as the exact sequential update allows (as :func:`_exact_block`)."""
        P, n, d = self.P, self.n, self.d
        B = len(S)
        K = min(n_ranks(float(lam[0]), n), self.k)
        full, dfull, cells = self.knn(S)
        idx, dk = full[:, :K], dfull[:, :K]
        L = B
        if B > 1:
            ar = np.arange(B)
            owner = np.full(n, B)
            np.minimum.at(owner, idx.ravel(), np.repeat(ar, K))
            hit = np.flatnonzero((owner[idx] < ar[:, None]).any(1))
            if hit.size:
                L = int(hit[0])
        w = eps[:L, None] * np.exp(-np.arange(K)[None, :] / lam[:L, None])
        old = P[idx[:L]]
        new = old + w[..., None] * (S[:L, None, :] - old)
        if L > 1:
            dn = ((S[:L, None, :] - new.reshape(1, L * K, d)) ** 2).sum(-1)
            ar = np.arange(L)
            mover = np.repeat(ar, K)
            hit = np.flatnonzero(((dn < dk[:L, K - 1:K]) & (mover[None, :] < ar[:, None])).any(1))
            if hit.size:
                L = int(hit[0])
        moved = idx[:L].ravel()
        newf = new[:L].reshape(-1, d)
        P[moved] = newf
        newf = P[moved].astype(np.float64)  # as stored (float32 points: rounded)
        self.A[:d, moved] = -2.0 * newf.T
        self.A[d, moved] = (newf * newf).sum(1)
        self.cache[cells[:L]] = full[:L]
        return L


@torch.no_grad()
def _fast_batch(P, S, eps, lam, tol=1e-4):
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


def _fast_batch_kdtree(P, S, eps, lam, tol=1e-4):
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
    return max(1, n // (5 * n_ranks(lam0, n, 1e-4)))


def run_trn(density: Density, n_points: int, *, steps: int | None = None, eps0: float = 0.5, epsf: float = 0.05,
            lam0: float = 1.0, lamf: float = 0.5, mode: str = "exact", batch: int | None = None, seed: int = 0,
            init_points: np.ndarray | None = None, samples: np.ndarray | None = None, report_every: int | None = None, track_energy: bool = True,
            device=None, dtype: torch.dtype | None = None) -> Generator[Snapshot, None, PointCloudResult]:
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
    P = torch.as_tensor(start - shift, dtype=dtype, device=dev)
    report_every = max(1, int(report_every) if report_every else steps // 100)
    if batch is None:
        batch = default_batch(n, lam0)
    batch = max(1, int(batch))
    history: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def snap(t: int) -> Snapshot:
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
    cpu_exact = None
    compiled = False
    sched = sched_base = s_np = None
    if mode == "exact" and dev.type == "cpu":
        pad = np.asarray(density.spacing, dtype=np.float64)
        lo = density.coords.min(0) - pad - shift
        hi = density.coords.max(0) + pad - shift
        if given is not None:
            lo = np.minimum(lo, given.min(0) - shift)
            hi = np.maximum(hi, given.max(0) - shift)
        lo, hi = np.minimum(lo, start.min(0) - shift), np.maximum(hi, start.max(0) - shift)
        cpu_exact = None if trn_kernel.AVAILABLE else \
            _ExactCPU(P.numpy(), lo, hi, max(n_ranks(lam0, n), n_ranks(lamf, n)))
        compiled = trn_kernel.AVAILABLE
    while t < steps:
        if samples is None or t - s_base >= len(samples):
            s_base = t
            m = min(_SAMPLE_CHUNK, steps - t)
            chunk = density.sample(m, rng) if given is None else given[t:t + m]
            samples = torch.as_tensor(chunk - shift, dtype=dtype, device=dev)
        avail = s_base + len(samples) - t
        size = min(_WINDOW if (cpu_exact is not None or compiled) else block if mode == "exact" else batch, avail,
                   next_report - t)
        if compiled:  # the compiled sequential loop (trn_kernel): the seed's update, sample by sample
            if sched is None or t - s_base >= len(sched[0]) or sched_base != s_base:
                e_all, l_all = trn_schedule(np.arange(s_base, s_base + len(samples)), steps, eps0, epsf, lam0, lamf)
                sched, sched_base, s_np = (e_all, l_all), s_base, samples.numpy()
            a = t - s_base
            trn_kernel.apply_exact(P.numpy(), s_np[a:a + size], sched[0][a:a + size], sched[1][a:a + size], _TOL)
            done = size
        elif cpu_exact is not None:  # numpy all the way: a few microseconds per block matter here
            if sched is None or t - s_base >= len(sched[0]) or sched_base != s_base:
                e_all, l_all = trn_schedule(np.arange(s_base, s_base + len(samples)), steps, eps0, epsf, lam0, lamf)
                sched, sched_base, s_np = (e_all, l_all), s_base, samples.numpy()
            a = t - s_base
            cpu_exact.window(s_np[a:a + size], sched[0][a:a + size], sched[1][a:a + size])
            done = size
        else:
            ts = torch.arange(t, t + size, device=dev, dtype=torch.float64) / steps
            eps_t = (eps0 * (epsf / eps0) ** ts).to(dtype)
            lam_t = (lam0 * (lamf / lam0) ** ts).to(dtype)
            S = samples[t - s_base:t - s_base + size]
        if mode == "exact":
            if cpu_exact is None and not compiled:
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
    pts = P.detach().double().cpu().numpy() + shift
    if history and history[-1][0] == steps:
        final = history[-1][1]
    else:
        final = cloud_energy(density, pts, device=dev)
    return PointCloudResult("trn", pts, None, final, steps, history,
                            params={"eps0": eps0, "epsf": epsf, "lambda0": lam0, "lambdaf": lamf, "mode": mode,
                                    "batch": batch if mode == "fast" else 1, "seed": seed, "samples": steps})
