"""Orientation recovery from pairwise distances (the seed's second step).

Unit quaternions ``q_i`` are optimised so that their pairwise angular distances ``2 arccos |<q_i, q_j>|`` match
target distances ``d_ij``:

    L(q) = mean over a mini-batch of pairs (i, j) of ( 2 arccos |<q_i, q_j>| - d_ij )^2

with Adam on unnormalised 4-vectors (normalised in the forward pass).  The targets come from a
:class:`PairDistance`: the exact angles of known poses (sanity check), a learned Siamese embedding
(:mod:`cryogui.core.poses.siamese`), or plain image distances mapped to angles (baseline).  The result is defined
up to a global rotation and a mirror: compare with :func:`cryogui.core.poses.align.align_orientations`.
"""

from __future__ import annotations

import abc

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from cryogui.core.device import get_device
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.rotations import canonical_quaternion, quaternion_to_matrix, viewing_direction
from cryogui.errors import InputError


def quat_pair_distance(qi: torch.Tensor, qj: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``2 arccos |<qi, qj>|`` for unit quaternion tensors ``(m, 4)`` (clamped for finite gradients)."""
    dot = torch.abs(torch.sum(qi * qj, dim=-1)).clamp(max=1.0 - eps)
    return 2.0 * torch.arccos(dot)


class PairDistance(abc.ABC):
    """Target distance (radians) for index pairs; subclasses hold what they need on ``device``."""

    name = "pairs"
    n: int = 0
    default_neighbours: int = 0  # > 0: recovery trusts mostly each particle's nearest neighbours by this distance

    def neighbours(self, k: int, chunk: int = 1024) -> torch.Tensor | None:
        """``(n, k)`` indices of each particle's ``k`` nearest others by this distance (None: not supported)."""
        return None

    @abc.abstractmethod
    def __call__(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Distances in radians for the index pairs ``(i, j)``."""

    def to(self, device) -> "PairDistance":
        return self


class ExactDistance(PairDistance):
    """Exact angular distances of known orientations (quaternions ``(n, 4)``)."""

    name = "exact"

    def __init__(self, quats):
        self.q = torch.as_tensor(canonical_quaternion(quats), dtype=torch.float32)
        self.n = len(self.q)

    def to(self, device):
        self.q = self.q.to(device)
        return self

    def __call__(self, i, j):
        return quat_pair_distance(self.q[i], self.q[j], eps=0.0)


class EmbeddingDistance(PairDistance):
    """Distances of learned embeddings (a Siamese network trained so that they predict the angle).

    ``metric="euclidean"``: ``|| e_i - e_j ||`` (clipped to pi).  ``metric="chord"``: the SO(3) angle of a chord,
    ``2 arcsin(min(1, || e_i - e_j || / (2 sqrt 2)))``.  ``metric="rotation"``: the embeddings are unit quaternions
    (the rotation head of :mod:`siamese`) and the distance is ``2 arccos |<e_i, e_j>|``, computed from the chord
    for precision at small angles.  ``metric=None``: the array's own ``metric`` (what
    :meth:`siamese.TrainedDistance.embed` returns carries it), else "rotation" for ``(n, 4)`` unit vectors, else
    "euclidean".
    """

    name = "learned"
    # kNN-graph recovery (neighbours > 0) is available but off by default: on 1,000 noiseless EMD-1832 projections
    # it folded (1.12 rad median vs 0.19 rad with random pairs), since embedding neighbours were ~0.7 rad apart
    default_neighbours = 0

    def __init__(self, embeddings, metric: str | None = None):
        metric = metric or getattr(embeddings, "metric", None)
        e = np.asarray(embeddings, dtype=np.float64)
        if e.ndim != 2 or len(e) == 0:
            raise InputError(f"embeddings must be a non-empty (n, d) array, got shape {e.shape}")
        if metric is None:
            unit = e.shape[1] == 4 and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-3)
            metric = "rotation" if unit else "euclidean"
        if metric not in ("euclidean", "chord", "rotation"):
            raise InputError(f"unknown embedding metric {metric!r} (euclidean, chord or rotation)")
        if metric == "rotation":
            if e.shape[1] != 4:
                raise InputError(f"rotation embeddings must be (n, 4) quaternions, got shape {e.shape}")
            e = canonical_quaternion(e)
        self.metric = metric
        self.e = torch.as_tensor(e, dtype=torch.float32)
        self.n = len(self.e)

    def quaternions(self) -> np.ndarray | None:
        """The embedded orientations (rotation metric), a possible start for the recovery; None otherwise."""
        return canonical_quaternion(self.e.cpu().double().numpy()) if self.metric == "rotation" else None

    def _dist(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.metric == "euclidean":
            return torch.linalg.vector_norm(a - b, dim=-1).clamp(max=np.pi)
        if self.metric == "chord":
            return 2.0 * torch.asin((torch.linalg.vector_norm(a - b, dim=-1) / (2.0 * np.sqrt(2.0))).clamp(max=1.0))
        c = torch.minimum(torch.linalg.vector_norm(a - b, dim=-1), torch.linalg.vector_norm(a + b, dim=-1))
        return 4.0 * torch.asin((0.5 * c).clamp(max=np.sqrt(0.5)))

    def neighbours(self, k, chunk=1024):
        k = int(min(k, self.n - 1))
        out = []
        for s in range(0, self.n, chunk):
            d = self._dist(self.e[s:s + chunk, None, :], self.e[None, :, :])
            r = torch.arange(s, min(s + chunk, self.n), device=d.device)
            d[r - s, r] = float("inf")
            out.append(torch.topk(d, k, dim=1, largest=False).indices)
        return torch.cat(out)

    def to(self, device):
        self.e = self.e.to(device)
        return self

    def __call__(self, i, j):
        return self._dist(self.e[i], self.e[j])


def so3_distance_quantiles(u: torch.Tensor) -> torch.Tensor:
    """Inverse CDF of the angle between two uniform random rotations (density (1 - cos t) / pi on [0, pi])."""
    grid = torch.linspace(0, np.pi, 2049, dtype=torch.float64)
    cdf = (grid - torch.sin(grid)) / np.pi
    idx = torch.searchsorted(cdf, u.double().clamp(0, 1).cpu()).clamp(1, len(grid) - 1)
    c0, c1 = cdf[idx - 1], cdf[idx]
    t = (u.double().cpu() - c0) / (c1 - c0).clamp(min=1e-12)
    return (grid[idx - 1] + t * (grid[idx] - grid[idx - 1])).to(dtype=torch.float32, device=u.device)


class ImageDistance(PairDistance):
    """Baseline: Euclidean distance of normalised images, mapped to an angle by rank (quantile matching to the
    distance distribution of uniformly random rotations).  It knows nothing about poses."""

    name = "image"

    def __init__(self, images, n_calibration: int = 20000, seed: int = 0, n_components: int = 64):
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(len(images), -1)
        x = x - x.mean(dim=1, keepdim=True)
        x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
        if n_components and x.shape[1] > n_components and len(x) > n_components:
            # distances in the leading principal components (cheap per pair, close to the full distance)
            xc = x - x.mean(dim=0, keepdim=True)
            _, _, v = torch.linalg.svd(xc[: min(len(xc), 4000)], full_matrices=False)
            x = xc @ v[:n_components].T
        self.x = x
        self.n = len(x)
        g = torch.Generator().manual_seed(seed)
        i = torch.randint(0, self.n, (n_calibration,), generator=g)
        j = torch.randint(0, self.n, (n_calibration,), generator=g)
        keep = i != j
        self.ref = torch.sort(torch.linalg.vector_norm(x[i[keep]] - x[j[keep]], dim=-1)).values

    def to(self, device):
        self.x = self.x.to(device)
        self.ref = self.ref.to(device)
        return self

    def __call__(self, i, j):
        d = torch.linalg.vector_norm(self.x[i] - self.x[j], dim=-1)
        u = torch.searchsorted(self.ref, d).float() / max(1, len(self.ref))
        return so3_distance_quantiles(u)


def _reseed_outliers(q: torch.Tensor, source: PairDistance, g: torch.Generator, partners: int = 256,
                     tries: int = 256, factor: float = 3.0, nbr: torch.Tensor | None = None) -> int:
    """Move particles stuck in a wrong local minimum: for each particle whose mean squared residual against random
    partners exceeds ``factor`` x the median, try ``tries`` random orientations and keep the best (in place).
    Returns how many particles moved."""
    n = q.shape[0]
    dev = q.device
    m = min(partners, n - 1)
    with torch.no_grad():
        qn = q / q.norm(dim=1, keepdim=True).clamp(min=1e-8)
        idx = torch.arange(n, device=dev)
        if nbr is not None:  # trusted partners: the neighbour graph
            part = nbr
            m = part.shape[1]
        else:
            part = torch.randint(0, n - 1, (n, m), generator=g).to(dev)
            part = part + (part >= idx[:, None]).long()
        target = source(idx[:, None].expand(n, m).reshape(-1), part.reshape(-1)).reshape(n, m)
        res = torch.mean((quat_pair_distance(qn[:, None, :], qn[part]) - target) ** 2, dim=1)
        bad = torch.nonzero(res > factor * torch.median(res).clamp(min=1e-6)).flatten()
        moved = 0
        for k in bad.tolist():
            cand = torch.randn((tries, 4), generator=g).to(dev)
            cand = torch.cat([qn[k:k + 1], cand / cand.norm(dim=1, keepdim=True)])
            d = quat_pair_distance(cand[:, None, :], qn[part[k]][None])  # (tries + 1, m)
            r = torch.mean((d - target[k][None]) ** 2, dim=1)
            best = int(torch.argmin(r))
            if best > 0:
                q[k] = cand[best] * q[k].norm()
                moved += 1
    return moved


@dataclass
class RecoverResult:
    quats: np.ndarray  # (n, 4) recovered orientations (canonical)
    losses: list[float] = field(default_factory=list)
    errors: list[tuple[int, float]] = field(default_factory=list)  # (step, median error rad) when truth known


def recover_orientations(source: PairDistance, *, steps: int = 3000, batch_pairs: int = 4096, lr: float = 0.05,
                         seed: int = 0, report_every: int = 50, q_true=None, init=None, candidates: int | None = None,
                         explore: float = 0.4, reseed: bool = True, neighbours: int | None = None,
                         far_weight: float = 0.1, restarts: int | None = None,
                         device=None) -> Iterator[Snapshot]:
    """Job: recover ``source.n`` orientations from pairwise target distances.

    The problem has local minima (parts of the set folded into a mirrored arrangement), so ``candidates``
    independent random starts are optimised together (one batched tensor) for the first ``explore`` fraction of
    the steps; the one with the lowest loss on a fixed set of pairs (no truth used) is kept and refined.  A fold
    can still win that early choice, so the whole run is repeated ``restarts`` times (seeds ``seed``,
    ``seed + 1``, ...) and the result with the lowest final loss on a fixed set of random pairs is kept (default:
    3 restarts above 1,000 particles from random starts, else 1).  On 5,000 noiseless EMD-1832 projections with
    learned (chord-head) distances, 1 run in 5 ended folded (0.22 rad median error, loss 0.147) and 4 in 5 not
    (0.143 rad, loss 0.092): the final loss tells them apart without the truth.

    With ``neighbours`` = k > 0 (default: the source's ``default_neighbours``, 0 for all built-in sources), half
    of each batch of pairs comes from a kNN graph built on the predicted distances (small predicted distances are
    the reliable ones) and half from random pairs whose loss is weighted by ``far_weight`` (they keep the global
    arrangement):

        L = mean_kNN (d(q_i, q_j) - d_ij)^2 + far_weight * mean_random (d(q_i, q_j) - d_ij)^2.

    Particles left in a wrong local minimum (large residual against their partners) are re-seeded at the best of
    many random orientations a few times during refinement (``reseed``).

    Snapshots: ``points`` = current viewing directions ``(n, 3)`` of the best candidate; metrics ``loss`` and,
    when ``q_true`` is given, ``median_error_rad`` after alignment (``data["quats"]`` holds the quaternions);
    ``metrics["restart"]`` counts the runs.  Returns a :class:`RecoverResult` (the kept run's).
    """
    n = int(source.n)
    if n < 3:
        raise InputError(f"orientation recovery needs at least 3 particles, got {n}")
    if restarts is None:
        restarts = 1 if init is not None or n <= 1000 else 3
    if int(restarts) < 1:
        raise InputError(f"restarts must be >= 1, got {restarts}")
    restarts = int(restarts)
    kw = dict(steps=steps, batch_pairs=batch_pairs, lr=lr, report_every=report_every, q_true=q_true, init=init,
              candidates=candidates, explore=explore, reseed=reseed, neighbours=neighbours, far_weight=far_weight,
              device=device)
    if restarts == 1:
        return (yield from _recover_run(source, seed=seed, **kw))
    dev = torch.device(device) if device is not None else get_device()
    source = source.to(dev)
    i, j = random_pairs(n, min(50_000, n * (n - 1) // 2), torch.Generator(device="cpu").manual_seed(10_007 + seed),
                        dev)
    with torch.no_grad():
        target = source(i, j)
    best, best_loss = None, float("inf")
    for r in range(restarts):
        run = _recover_run(source, seed=seed + r, step_offset=r * steps, total_steps=restarts * steps, restart=r,
                           restarts=restarts, **kw)
        res = yield from run
        with torch.no_grad():
            qq = torch.as_tensor(res.quats, dtype=torch.float32, device=dev)
            loss = float(torch.mean((quat_pair_distance(qq[i], qq[j]) - target) ** 2))
        if loss < best_loss:
            best, best_loss = res, loss
    return best


def random_pairs(n: int, m: int, g: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``m`` random index pairs (i, j) of ``n`` particles, never a particle with itself (drawn on the CPU with ``g``,
    so that a seed gives the same pairs on every device)."""
    i = torch.randint(0, n, (m,), generator=g)
    j = torch.randint(0, n - 1, (m,), generator=g)
    return i.to(device), (j + (j >= i).long()).to(device)


def _recover_run(source: PairDistance, *, steps, batch_pairs, lr, seed, report_every, q_true, init, candidates,
                 explore, reseed, neighbours, far_weight, device, step_offset: int = 0, total_steps: int | None = None,
                 restart: int = 0, restarts: int = 1) -> Iterator[Snapshot]:
    """One run of :func:`recover_orientations` (snapshot steps count from ``step_offset`` of ``total_steps``)."""
    from cryogui.core.poses.align import align_orientations

    n = int(source.n)
    if n < 3:
        raise InputError(f"orientation recovery needs at least 3 particles, got {n}")
    if candidates is None:
        candidates = 8 if n <= 1000 else 4  # small sets are cheap and fold more easily
    if steps < 1 or batch_pairs < 1 or not lr > 0 or candidates < 1:
        raise InputError("steps, batch of pairs, candidates and learning rate must be positive")
    device = torch.device(device) if device is not None else get_device()
    source = source.to(device)
    batch_pairs = min(int(batch_pairs), max(256, n * (n - 1) // 2))  # no point in more pairs than exist
    g = torch.Generator(device="cpu").manual_seed(seed)
    explore_end = int(round(explore * steps)) if candidates > 1 and init is None else 0
    n_cand = candidates if explore_end > 0 else 1
    reseed_at = {int(f * steps) for f in (0.5, 0.6, 0.7, 0.8)} if reseed else set()

    def pairs(m):
        return random_pairs(n, m, g, device)

    k_nbr = int(source.default_neighbours if neighbours is None else neighbours)
    nbr = source.neighbours(k_nbr) if k_nbr > 0 and n > 2 else None
    if nbr is not None:
        nbr = nbr.to(device)
        n_near = batch_pairs // 2
        wf = float(far_weight)
        g_i = torch.arange(n, device=device)[:, None].expand_as(nbr).reshape(-1)
        g_j = nbr.reshape(-1)
    else:
        n_near, wf = 0, 1.0

    def batch(m):
        """Pairs (i, j) and per-pair weights (mean over each part)."""
        if n_near == 0:
            i, j = pairs(m)
            return i, j, torch.full((m,), 1.0 / m, device=device)
        e = torch.randint(0, len(g_i), (n_near,), generator=g).to(device)
        i2, j2 = pairs(m - n_near)
        w = torch.cat([torch.full((n_near,), 1.0 / n_near, device=device),
                       torch.full((m - n_near,), wf / max(1, m - n_near), device=device)])
        return torch.cat([g_i[e], i2]), torch.cat([g_j[e], j2]), w

    ei, ej, ew = batch(min(20000, 8 * batch_pairs))
    with torch.no_grad():
        eval_target = source(ei, ej)

    with torch.enable_grad():
        if init is None:
            q0 = torch.randn((n_cand, n, 4), generator=g)
        else:
            q0 = torch.as_tensor(np.asarray(init), dtype=torch.float32).reshape(1, n, 4)
        q = torch.nn.Parameter(q0.to(device))
        opt = torch.optim.Adam([q], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.01)
        result = RecoverResult(quats=np.zeros((n, 4)))
        best = 0
        prev_transform = None
        for step in range(1, steps + 1):
            i, j, w = batch(batch_pairs)
            with torch.no_grad():
                target = source(i, j)
            qn = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-8)
            per = torch.sum(w * (quat_pair_distance(qn[:, i], qn[:, j]) - target) ** 2, dim=1)
            loss = per.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step in reseed_at and q.shape[0] == 1:
                if _reseed_outliers(q.data[0], source, g, nbr=nbr) > 0:
                    opt = torch.optim.Adam([q], lr=sched.get_last_lr()[0])
                    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.01)
                    for group in opt.param_groups:
                        group["initial_lr"] = lr
                    sched.last_epoch = step
            if step == explore_end and q.shape[0] > 1:
                with torch.no_grad():
                    qn = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-8)
                    ev = torch.sum(ew * (quat_pair_distance(qn[:, ei], qn[:, ej]) - eval_target) ** 2, dim=1)
                    best = int(torch.argmin(ev))
                q = torch.nn.Parameter(q.detach()[best:best + 1].clone())
                opt = torch.optim.Adam([q], lr=sched.get_last_lr()[0])
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.01)
                for group in opt.param_groups:
                    group["initial_lr"] = lr
                sched.last_epoch = step
                best = 0
            lv = float(per.detach().min()) if q.shape[0] > 1 else float(per.detach()[0])
            if not np.isfinite(lv):
                from cryogui.errors import JobDiverged

                raise JobDiverged(f"orientation recovery diverged at step {step} (loss {lv})")
            result.losses.append(lv)
            if step % report_every == 0 or step == steps:
                k = int(torch.argmin(per.detach())) if q.shape[0] > 1 else 0
                cur = canonical_quaternion(q.detach()[k].cpu().double().numpy())
                metrics = {"loss": lv, "restart": float(restart + 1)}
                if q_true is not None:
                    al = align_orientations(q_true, cur, restarts=3, iters=30, seed=seed, init=prev_transform)
                    prev_transform = al.transform
                    metrics["median_error_rad"] = al.median_rad
                    result.errors.append((step, al.median_rad))
                dirs = viewing_direction(quaternion_to_matrix(cur))
                total = total_steps or steps
                note = (" (exploring)" if step < explore_end else "") + \
                    (f" (run {restart + 1}/{restarts})" if restarts > 1 else "")
                yield Snapshot(step_offset + step, total, points=freeze(dirs), metrics=metrics,
                               data={"quats": freeze(cur)}, message=f"step {step_offset + step}/{total}{note}")
    result.quats = canonical_quaternion(q.detach()[0].cpu().double().numpy())
    return result
