"""Distance learning (the seed's first step): a Siamese network that maps each projection to an embedding so that
a distance of two embeddings predicts the angular distance of their orientations,

    loss = sum_ij w_ij ( d_hat(x_i, x_j) - t_ij )^2 / sum_ij w_ij,
    t_ij = 2 arccos |<q_i, q_j>|,   w_ij = 1 / (c + t_ij).

Three heads (``SiameseConfig.head``) define d_hat from the embeddings e = f(x):

* ``"chord"`` (default): free vectors, d_hat = 2 arcsin(|| e_i - e_j || / (2 sqrt 2)), the angle of SO(3) whose
  rotation matrices are that far apart (|| R_i - R_j ||_F = 2 sqrt 2 sin(theta / 2)).  Rotation matrices are an
  exact solution, so the geometry matches the target; the plain Euclidean distance cannot (large angles get
  compressed, small ones inflated).
* ``"rotation"``: f(x) is a rotation (6 numbers, Gram-Schmidt), d_hat its geodesic angle; the embedding is then a
  pose estimate up to a global rotation (:meth:`TrainedDistance.embed` returns unit quaternions).
* ``"euclidean"``: d_hat = || e_i - e_j || (the seed's choice; models saved before the heads existed).

Measured on 5,000 noiseless EMD-1832 projections (3,000 steps of 96 images, then recovery from the predicted
distances): chord 0.143 rad median error after alignment, euclidean 0.42 rad, rotation 0.58 rad (its embedding is
accurate locally but folded globally).  At SNR 0.1 (chord head, 3,000 steps): 0.57 rad with the defaults (32 px,
width 16), 0.44 rad with a 16 px input (a stronger low-pass) and width 32; the Euclidean head at 800 steps gave 1.18.
Most of the gain there is fitting the training images (the recovered set): held-out distance errors stay 0.3-0.6 rad.

Recovery needs precise small distances most, so a batch is made of groups: an anchor and ``group - 1`` images
drawn among its nearest orientations, and small true distances weigh more.  The network keeps the in-plane
information (no global pooling): distances are between full orientations.

Unlike the seed (which ran the network on every pair), each step embeds a mini-batch of B images once and uses
all B (B - 1) / 2 pairs among them, so a step costs B forward passes for B^2 / 2 pairs.  After training, recovery
embeds every image once and the distances come from the embeddings (:class:`recover.EmbeddingDistance`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cryogui.core.device import get_device
from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.rotations import canonical_quaternion
from cryogui.errors import InputError


@dataclass(frozen=True)
class SiameseConfig:
    size: int = 32  # images are resampled to size x size (Fourier crop / pad); at SNR ~0.1, 16 (with width 32)
    embed_dim: int = 32
    width: int = 16
    steps: int = 3000  # ~58 passes over 5,000 images; there, chord head: 0.143 rad (5000 steps: 0.138; 800: 0.32)
    batch: int = 96  # images per step (all pairs among them are used)
    lr: float = 2e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    seed: int = 0
    report_every: int = 50
    group: int = 4  # each batch is batch // group anchors, each with group - 1 of its orientation neighbours
    neighbours: int = 24  # the anchors' neighbours are drawn from their this-many nearest orientations
    small_weight: float = 0.3  # pair weight 1 / (small_weight + true angle): small distances count more
    head: str = "chord"  # how d_hat comes from the embeddings: "chord", "rotation" or "euclidean" (module doc)


HEADS = ("rotation", "chord", "euclidean")
_CHORD = 2.0 * np.sqrt(2.0)  # || R_i - R_j ||_F of two rotations at angle pi


def rotation_from_6d(a: torch.Tensor) -> torch.Tensor:
    """``(n, 6)`` -> ``(n, 3, 3)`` rotation matrices by Gram-Schmidt on two 3-vectors (a continuous representation of
    SO(3), unlike quaternions or Euler angles)."""
    b1 = F.normalize(a[:, :3], dim=-1, eps=1e-6)
    a2 = a[:, 3:6]
    b2 = F.normalize(a2 - torch.sum(b1 * a2, dim=-1, keepdim=True) * b1, dim=-1, eps=1e-6)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=-1)], dim=-1)


def embedding_distance(ei: torch.Tensor, ej: torch.Tensor, head: str) -> torch.Tensor:
    """Predicted angle between embeddings.  "euclidean": ``|| e_i - e_j ||``.  "rotation" (flattened rotation
    matrices) and "chord" (free vectors): the geodesic angle of SO(3) from the chord,
    ``|| R_i - R_j ||_F = 2 sqrt(2) sin(theta / 2)``, so that rotation matrices are an exact solution; past the
    largest chord the angle grows linearly (a gradient that pulls the pair back)."""
    chord = torch.sqrt(torch.sum((ei - ej) ** 2, dim=-1) + 1e-12)
    if head == "euclidean":
        return chord
    s = chord / _CHORD
    sc = s.clamp(max=0.999)
    return 2.0 * torch.asin(sc) + (s - sc)


class EmbeddingNet(nn.Module):
    """CNN ``f``: ``(n, s, s)`` images -> embeddings: ``(n, embed_dim)`` vectors (heads "euclidean" and "chord") or
    flattened rotation matrices ``(n, 9)`` (``head="rotation"``)."""

    def __init__(self, size: int = 32, embed_dim: int = 32, width: int = 32, head: str = "euclidean"):
        super().__init__()
        if head not in HEADS:
            raise InputError(f"unknown distance head {head!r} (one of {', '.join(HEADS)})")
        self.head_kind = head
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 5, padding=2), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(), nn.MaxPool2d(2),
        )
        s = size // 8
        out = 6 if head == "rotation" else embed_dim
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * s * s, 256), nn.ReLU(), nn.Linear(256, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x[:, None]))
        if self.head_kind == "rotation":
            return rotation_from_6d(out).reshape(len(out), 9)
        return out


def prepare_images(images, size: int) -> torch.Tensor:
    """Resample ``(n, b, b)`` images to ``size`` by Fourier cropping/padding and normalise each (mean 0, std 1)."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise InputError(f"distance learning needs square images (n, b, b), got shape {tuple(x.shape)}")
    b = x.shape[-1]
    if b != size:
        f = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        if size < b:
            lo = b // 2 - size // 2
            f = f[:, lo:lo + size, lo:lo + size]
        else:
            pad = size // 2 - b // 2
            f = F.pad(f, (pad, size - b - pad, pad, size - b - pad))
        x = torch.fft.ifft2(torch.fft.ifftshift(f, dim=(-2, -1))).real * (size / b) ** 2
    x = x - x.mean(dim=(1, 2), keepdim=True)
    return x / x.std(dim=(1, 2), keepdim=True).clamp(min=1e-6)


def _pair_angles(q: torch.Tensor) -> torch.Tensor:
    return 2.0 * torch.arccos(torch.abs(q @ q.T).clamp(max=1.0))


def _orientation_neighbours(q: torch.Tensor, k: int, chunk: int = 1024) -> np.ndarray:
    """``(n, k)`` indices of each orientation's ``k`` nearest others (largest |<q_i, q_j>|)."""
    if k < 1:
        return np.zeros((len(q), 0), dtype=np.int64)
    out = []
    for s in range(0, len(q), chunk):
        dot = torch.abs(q[s:s + chunk] @ q.T)
        r = torch.arange(s, min(s + chunk, len(q)), device=q.device)
        dot[r - s, r] = -1.0
        out.append(torch.topk(dot, k, dim=1).indices.cpu().numpy())
    return np.concatenate(out)


def _batch_indices(rng: np.random.Generator, knn: np.ndarray, n: int, n_anchor: int, group: int,
                   bsz: int) -> np.ndarray:
    """Positions (into the training set) of one batch: anchors plus neighbours of each, topped up at random."""
    anchors = rng.choice(n, size=n_anchor, replace=False)
    parts = [anchors]
    if group > 1 and knn.shape[1] > 0:
        pick = rng.integers(0, knn.shape[1], size=(n_anchor, group - 1))
        parts.append(knn[anchors[:, None], pick].ravel())
    idx = np.concatenate(parts)
    if len(idx) < bsz:
        parts.append(rng.choice(n, size=bsz - len(idx), replace=True))
        idx = np.concatenate(parts)
    return idx


class Embeddings(np.ndarray):
    """Embeddings ``(n, d)`` that know how their distances are measured (``metric``: "euclidean", "chord", or
    "rotation" for unit quaternions), so that :class:`recover.EmbeddingDistance` needs no more than the array."""

    metric = "euclidean"

    def __array_finalize__(self, obj):
        self.metric = getattr(obj, "metric", "euclidean")


def tag_embeddings(e: np.ndarray, metric: str) -> Embeddings:
    out = np.asarray(e, dtype=np.float32).view(Embeddings)
    out.metric = metric
    return out


@dataclass
class TrainedDistance:
    model: EmbeddingNet
    config: SiameseConfig
    box: int
    losses: list
    val_losses: list

    def embed(self, images, batch: int = 512, device=None) -> np.ndarray:
        return embed_images(self.model, images, self.config.size, batch=batch, device=device)


def embed_images(model: EmbeddingNet, images, size: int, batch: int = 512, device=None) -> np.ndarray:
    device = torch.device(device) if device is not None else get_device()
    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = prepare_images(np.asarray(images[s:s + batch]), size).to(device)
            out.append(model(x).cpu().double().numpy())
    e = np.concatenate(out)
    head = getattr(model, "head_kind", "euclidean")
    if head == "rotation":  # unit quaternions of the embedded rotations
        from cryogui.core.rotations import matrix_to_quaternion

        return tag_embeddings(canonical_quaternion(matrix_to_quaternion(e.reshape(-1, 3, 3))), "rotation")
    return tag_embeddings(e, head)


def train_siamese(images, quats, cfg: SiameseConfig = SiameseConfig(), device=None) -> Iterator[Snapshot]:
    """Job: train the embedding on images ``(n, b, b)`` with known orientations ``quats`` ``(n, 4)``.

    Snapshots: metrics ``loss`` (training, radians^2) and ``val_loss`` (held-out images); ``data["pred"]`` and
    ``data["true"]`` hold predicted and true distances of held-out pairs (the scatter).  Returns a
    :class:`TrainedDistance`.
    """
    images = np.asarray(images)
    n = len(images)
    if n < 8:
        raise InputError(f"distance learning needs at least 8 images with poses, got {n}")
    if len(quats) != n:
        raise InputError(f"{n} images but {len(quats)} orientations")
    if cfg.size % 8 or cfg.size < 8:
        raise InputError(f"internal image size must be a multiple of 8, got {cfg.size}")
    device = torch.device(device) if device is not None else get_device()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x = prepare_images(images, cfg.size).to(device)
    q = torch.as_tensor(canonical_quaternion(quats), dtype=torch.float32, device=device)
    perm = rng.permutation(n)
    n_val = max(2, int(round(cfg.val_fraction * n))) if n >= 20 else 0
    val, tr = perm[:n_val], perm[n_val:]
    val_t = torch.as_tensor(val[:256], device=device)
    iu = torch.triu_indices(len(val_t), len(val_t), 1, device=device)
    val_true = _pair_angles(q[val_t])[iu[0], iu[1]] if n_val else None
    model = EmbeddingNet(cfg.size, cfg.embed_dim, cfg.width, cfg.head).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    bsz = min(cfg.batch, len(tr))
    group = max(1, min(int(cfg.group), bsz))
    n_anchor = max(1, bsz // group)
    knn = _orientation_neighbours(q[torch.as_tensor(tr, device=device)], min(cfg.neighbours, len(tr) - 1))
    losses, val_losses = [], []
    with torch.enable_grad():
        for step in range(1, cfg.steps + 1):
            model.train()
            idx = torch.as_tensor(tr[_batch_indices(rng, knn, len(tr), n_anchor, group, bsz)], device=device)
            m = len(idx)
            xb, qb = x[idx], q[idx]
            e = model(xb)  # each image embedded once
            ib = torch.triu_indices(m, m, 1, device=device)
            t = _pair_angles(qb)[ib[0], ib[1]]
            keep = idx[ib[0]] != idx[ib[1]]
            d = embedding_distance(e[ib[0]], e[ib[1]], cfg.head)
            w = keep.float() / (cfg.small_weight + t)
            loss = torch.sum(w * (d - t) ** 2) / w.sum().clamp(min=1e-9)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            lv = float(loss.detach())
            if not np.isfinite(lv):
                from cryogui.errors import JobDiverged

                raise JobDiverged(f"distance learning diverged at step {step}")
            losses.append(lv)
            if step % cfg.report_every == 0 or step == cfg.steps:
                metrics = {"loss": float(np.mean(losses[-cfg.report_every:]))}
                data = {"losses": freeze(np.asarray(losses))}
                if n_val:
                    model.eval()
                    with torch.no_grad():
                        ev = model(x[val_t])
                        pv = embedding_distance(ev[iu[0]], ev[iu[1]], cfg.head)
                        vl = float(torch.mean((pv - val_true) ** 2))
                    val_losses.append((step, vl))
                    metrics["val_loss"] = vl
                    data["pred"] = freeze(pv[:2000])
                    data["true"] = freeze(val_true[:2000])
                yield Snapshot(step, cfg.steps, metrics=metrics, data=data, message=f"step {step}/{cfg.steps}")
    model.eval()
    return TrainedDistance(model.cpu(), cfg, int(images.shape[-1]), losses, val_losses)
