"""Learned picker: a small fully convolutional detector (centre heatmap + size) in torch, as the seed proposes.

Size-agnostic training (the seed's key idea): patches are cropped from simulated micrographs at random positions
and random *sizes* and resized to one input size, so the network sees particles of every apparent diameter
(about 8-40 px in its 128 px input) and is not tied to one.  Targets, on a stride-4 grid: a Gaussian heatmap at each
particle centre and ln(diameter) there.  Loss: focal binary cross-entropy on the heatmap + L1 on ln(size) at centres
+ the seed's size-consistency term L_sc = (1/N) sum_i (s_i - mean s)^2 over the predicted sizes of each patch
(weighted by the predicted heatmap).

At inference the micrograph is binned by a few factors; the factor whose picks are most confident wins and its
picks are kept (size consistency across the micrograph comes from using one scale).  Fine-tuning from the user's
curated picks is a job generator (:func:`finetune_job`) that yields the loss as it goes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from cryogui.core.jobs import Snapshot, freeze

INPUT = 128
STRIDE = 4
WEIGHTS = Path(__file__).resolve().parents[2] / "resources" / "picker" / "picker.pt"


class PickerNet(nn.Module):
    """~40k parameters: two stride-2 convolutions, then dilated convolutions (receptive field ~120 px)."""

    def __init__(self, width: int = 24):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=4, dilation=4), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=8, dilation=8), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(w, 2, 1)
        with torch.no_grad():
            self.head.bias[0] = -4.0          # start with a low background probability
            self.head.bias[1] = math.log(20.0)

    def forward(self, x):
        out = self.head(self.body(x))
        return out[:, 0], out[:, 1]           # heatmap logits, ln(diameter in input px)


def normalise(img: torch.Tensor) -> torch.Tensor:
    """Zero median, unit robust spread, per image (batch of (H, W))."""
    flat = img.reshape(img.shape[0], -1)
    step = max(1, flat.shape[1] // 20000)
    sub = flat[:, ::step]
    med = sub.median(dim=1).values
    mad = (sub - med[:, None]).abs().median(dim=1).values * 1.4826 + 1e-6
    return (img - med[:, None, None]) / mad[:, None, None]


def _targets(centres: list[np.ndarray], n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Heatmap, ln-size target and centre mask on the stride grid; centres are (x, y, d) in input px."""
    b = len(centres)
    heat = np.zeros((b, n_out, n_out), dtype=np.float32)
    size = np.zeros((b, n_out, n_out), dtype=np.float32)
    mask = np.zeros((b, n_out, n_out), dtype=np.float32)
    yy, xx = np.mgrid[:n_out, :n_out].astype(np.float32)
    for k, c in enumerate(centres):
        for x, y, d in c:
            gx, gy = x / STRIDE, y / STRIDE
            if not (0 <= gx < n_out and 0 <= gy < n_out):
                continue
            s = max(0.7, d / STRIDE / 6.0)
            heat[k] = np.maximum(heat[k], np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * s * s)))
            ix, iy = int(round(gx)), int(round(gy))
            if 0 <= ix < n_out and 0 <= iy < n_out:
                heat[k, iy, ix] = 1.0
                mask[k, iy, ix] = 1.0
                size[k, iy, ix] = math.log(d)
    return torch.from_numpy(heat), torch.from_numpy(size), torch.from_numpy(mask)


def loss_fn(logits, logsize, heat, size, mask, sc_weight: float = 0.05) -> tuple[torch.Tensor, dict]:
    p = torch.sigmoid(logits)
    pos = heat >= 0.999
    # CenterNet-style focal loss
    pos_loss = -((1 - p) ** 2 * F.logsigmoid(logits))[pos].sum()
    neg_loss = -(((1 - heat) ** 4) * p ** 2 * F.logsigmoid(-logits))[~pos].sum()
    n_pos = max(1.0, float(pos.sum()))
    l_heat = (pos_loss + neg_loss) / n_pos
    l_size = (F.l1_loss(logsize, size, reduction="none") * mask).sum() / max(1.0, float(mask.sum()))
    w = p.detach() * (p.detach() > 0.3)
    sw = w.sum(dim=(1, 2)) + 1e-6
    mean_s = (w * logsize).sum(dim=(1, 2)) / sw
    l_sc = ((w * (logsize - mean_s[:, None, None]) ** 2).sum(dim=(1, 2)) / sw).mean()
    total = l_heat + l_size + sc_weight * l_sc
    return total, {"loss": float(total.detach()), "heatmap": float(l_heat.detach()), "size": float(l_size.detach()),
                   "consistency": float(l_sc.detach())}


def synthetic_batch(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Random-size crops of simulated micrographs resized to INPUT px: apparent diameters ~8-40 px."""
    from cryogui.core.simulate.micrographs import simulate_micrograph

    imgs, cents = [], []
    for _ in range(n):
        apparent = float(np.exp(rng.uniform(np.log(8), np.log(40))))
        scale = float(rng.uniform(1.0, 3.0))               # crop side = INPUT * scale, resized to INPUT
        side = int(INPUT * scale)
        d = apparent * scale
        density = rng.uniform(0.15, 0.45)                  # area fraction covered by particles
        n_part = max(1, int(density * side * side / (math.pi * (d / 2) ** 2)))
        img, truth = simulate_micrograph(shape=(side, side), diameter_px=d, n_particles=n_part,
                                         snr=float(np.exp(rng.uniform(np.log(0.08), np.log(1.0)))),
                                         seed=int(rng.integers(1 << 30)), contamination=bool(rng.random() < 0.4),
                                         ice_gradient=True)
        t = torch.from_numpy(img)[None, None]
        t = F.interpolate(t, size=(INPUT, INPUT), mode="area")[0, 0]
        f = INPUT / side
        c = np.c_[(truth.x.to_numpy() + 0.5) * f - 0.5, (truth.y.to_numpy() + 0.5) * f - 0.5,
                  truth.diameter.to_numpy() * f]
        imgs.append(t)
        cents.append(c)
    return torch.stack(imgs), cents


def _augment(x: torch.Tensor, cents: list[np.ndarray], rng) -> tuple[torch.Tensor, list[np.ndarray]]:
    out, oc = [], []
    n = x.shape[-1]
    for img, c in zip(x, cents):
        c = c.copy()
        if rng.random() < 0.5:
            img = img.flip(-1)
            c[:, 0] = n - 1 - c[:, 0]
        if rng.random() < 0.5:
            img = img.flip(-2)
            c[:, 1] = n - 1 - c[:, 1]
        if rng.random() < 0.5:
            img = img.transpose(-1, -2)
            c[:, [0, 1]] = c[:, [1, 0]]
        out.append(img)
        oc.append(c)
    return torch.stack(out), oc


def train_job(steps: int = 1500, batch: int = 16, pool: int = 384, lr: float = 2e-3, seed: int = 0,
              model: PickerNet | None = None, device=None, report_every: int = 25) -> Iterator[Snapshot]:
    """Train on synthetic data; yields the loss; returns the trained model (on CPU)."""
    from cryogui.core.device import get_device

    dev = device or get_device()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = (model or PickerNet()).to(dev)
    yield Snapshot(0, steps, message=f"simulating {pool} training patches")
    xs, cs = [], []
    for i in range(0, pool, 32):
        x, c = synthetic_batch(min(32, pool - i), rng)
        xs.append(x)
        cs += c
        yield Snapshot(0, steps, message=f"simulated {min(pool, i + 32)}/{pool} patches")
    data = normalise(torch.cat(xs))
    with torch.enable_grad():
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        history = []
        for step in range(1, steps + 1):
            idx = rng.choice(len(data), size=batch, replace=False)
            x, c = _augment(data[idx], [cs[i] for i in idx], rng)
            parts = _train_step(model, opt, x, c, dev)
            sched.step()
            history.append(parts["loss"])
            if step % report_every == 0 or step == steps:
                yield Snapshot(step, steps, points=freeze(np.asarray(history)), metrics=parts,
                               message=f"step {step}/{steps} loss {parts['loss']:.3f}")
    return model.cpu().eval()


def _train_step(net: PickerNet, opt, x: torch.Tensor, centres, dev) -> dict:
    """One optimiser step on images ``x`` (b, s, s) with their particle centres; returns the loss parts."""
    heat, size, mask = _targets(centres, INPUT // STRIDE)
    logits, logsize = net(x[:, None].to(dev))
    loss, parts = loss_fn(logits, logsize, heat.to(dev), size.to(dev), mask.to(dev))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return parts


def model_bytes(model: PickerNet) -> bytes:
    """The weights (float16) as bytes; callers write them atomically (``cryogui.io.atomic.write_bytes_atomic``)."""
    buf = io.BytesIO()
    state = {k: v.detach().cpu().to(torch.float16) for k, v in model.state_dict().items()}
    torch.save({"state": state, "version": 1, "width": model.head.in_channels}, buf)
    return buf.getvalue()


def model_state(model: PickerNet) -> dict:
    """The weights as plain values and float32 numpy arrays, as a workspace keeps a fine-tuned picker."""
    return {"version": 1, "width": int(model.head.in_channels),
            "state": {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}}


def model_from_state(state: dict) -> PickerNet:
    """The inverse of :func:`model_state`; :class:`InputError` for a damaged or foreign copy."""
    from cryogui.errors import InputError

    try:
        model = PickerNet(width=int(state.get("width", 24)))
        model.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=torch.float32)
                               for k, v in dict(state["state"]).items()})
    except Exception as exc:
        raise InputError(f"workspace: not learned-picker weights ({type(exc).__name__}: {exc})") from None
    return model.eval()


def load_default_model(path: str | Path | None = None) -> PickerNet:
    from cryogui.errors import InputError

    path = Path(path) if path is not None else WEIGHTS
    if not path.exists():
        raise InputError(f"{path}: no learned-picker weights (run `make train-picker`)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = PickerNet(width=int(blob.get("width", 24)))
        model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    except Exception as exc:
        raise InputError(f"{path}: not learned-picker weights ({type(exc).__name__}: {exc})") from None
    return model.eval()


def _bins_for(shape, diameter: float | None, max_work_side: int = 1536) -> list[int]:
    """Binning factors to try: the network sees apparent diameters of ~8-40 px, so a few octaves cover any size;
    never finer than needed to bring the micrograph under ``max_work_side``."""
    if diameter:
        return [max(1, int(round(diameter / 20.0)))]
    side, big = min(shape), max(shape)
    return [2 ** k for k in range(0, 6) if side / 2 ** k >= 96 and big / 2 ** k <= max_work_side]


def learned_pick(image: np.ndarray, model: PickerNet, diameter: float | None = None, device=None,
                 floor: float = 0.05) -> pd.DataFrame:
    """Pick one micrograph; x, y, score (heatmap peak in [0, 1]), diameter (px), attrs['diameter'], attrs['bin']."""
    from cryogui.core.device import get_device

    dev = device or get_device()
    model = model.to(dev).eval()
    img = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))
    best = None
    with torch.no_grad():
        for b in _bins_for(img.shape, diameter):
            x = F.avg_pool2d(img[None, None], b) if b > 1 else img[None, None]
            x = normalise(x[:, 0])[:, None].to(dev)
            logits, logsize = model(x)
            p = torch.sigmoid(logits[0])
            m = F.max_pool2d(p[None, None], 3, stride=1, padding=1)[0, 0]
            peaks = torch.nonzero((p >= m) & (p > floor))
            sc = p[peaks[:, 0], peaks[:, 1]].cpu().numpy()
            ds = torch.exp(logsize[0][peaks[:, 0], peaks[:, 1]]).cpu().numpy() * b
            iy, ix = peaks[:, 0].cpu().numpy(), peaks[:, 1].cpu().numpy()
            quality = float(np.sort(sc)[-20:].mean()) if len(sc) else 0.0
            if best is None or quality > best[0]:
                best = (quality, b, ix, iy, sc, ds)
    _, b, ix, iy, sc, ds = best
    xs = (ix * STRIDE + 0.5) * b - 0.5
    ys = (iy * STRIDE + 0.5) * b - 0.5
    out = pd.DataFrame({"x": xs, "y": ys, "score": sc.astype(np.float64), "diameter": ds.astype(np.float64)})
    if len(out):
        from cryogui.core.picking.autopick import _nms

        d0 = float(np.median(out.diameter[out.score >= 0.5])) if (out.score >= 0.5).any() else float(
            np.median(out.diameter))
        keep = _nms(out.x.to_numpy(), out.y.to_numpy(), out.score.to_numpy(), 0.45 * d0)
        out = out.iloc[keep].sort_values("score", ascending=False).reset_index(drop=True)
        out.attrs["diameter"] = d0
    out.attrs["bin"] = b
    out.attrs["threshold"] = 0.5
    return out


def learned_pick_job(micrographs: Sequence[tuple[str, object]], model: PickerNet, diameter: float | None = None,
                     device=None) -> Iterator[Snapshot]:
    """Job: learned picking of several micrographs (name, array or a loader callable); returns one table."""
    from cryogui.core.picking.autopick import load_array

    tables = []
    n = len(micrographs)
    yield Snapshot(0, n, message=f"learned picking of {n} micrograph(s)")
    for i, (name, src) in enumerate(micrographs):
        img = load_array(src)
        t = learned_pick(img, model, diameter, device)
        t.insert(0, "micrograph", str(name))
        tables.append(t)
        good = int((t.score >= 0.5).sum())
        yield Snapshot(i + 1, n, points=freeze(t[["x", "y", "score", "diameter"]].to_numpy(np.float64)),
                       metrics={"picks": float(good)}, data={"micrograph": str(name)},
                       message=f"{name}: {good} picks")
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["micrograph", "x", "y", "score", "diameter"])


def finetune_job(model: PickerNet, examples: Sequence[tuple[np.ndarray, pd.DataFrame]], steps: int = 200,
                 batch: int = 8, lr: float = 5e-4, seed: int = 0, device=None) -> Iterator[Snapshot]:
    """Fine-tune on curated picks: ``examples`` are (micrograph, picks with x, y, diameter).  Crops of random
    position and size (around 1-3x the input, so apparent sizes vary) are resized to the input size.  Yields the
    loss; returns the fine-tuned model (a copy, on CPU)."""
    import copy

    from cryogui.core.device import get_device
    from cryogui.errors import InputError

    if not examples or all(len(p) == 0 for _, p in examples):
        raise InputError("fine-tuning needs at least one micrograph with curated picks")
    dev = device or get_device()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = copy.deepcopy(model).to(dev).train()
    prepared = []
    for img, picks in examples:
        d = picks["diameter"].to_numpy(np.float64) if "diameter" in picks else np.full(len(picks), np.nan)
        med = np.nanmedian(d) if np.isfinite(d).any() else 40.0
        d = np.where(np.isfinite(d), d, med)
        prepared.append((torch.as_tensor(np.ascontiguousarray(img, dtype=np.float32)),
                         np.c_[picks["x"].to_numpy(np.float64), picks["y"].to_numpy(np.float64), d], med))
    history = []
    with torch.enable_grad():
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        for step in range(1, steps + 1):
            xs, cs = [], []
            for _ in range(batch):
                img, c, med = prepared[int(rng.integers(len(prepared)))]
                apparent = float(np.exp(rng.uniform(np.log(10), np.log(32))))
                side = int(min(min(img.shape), max(INPUT // 2, INPUT * med / apparent)))
                y0 = int(rng.integers(0, img.shape[0] - side + 1))
                x0 = int(rng.integers(0, img.shape[1] - side + 1))
                crop = img[y0:y0 + side, x0:x0 + side][None, None]
                crop = F.interpolate(crop, size=(INPUT, INPUT), mode="area" if side >= INPUT else "bilinear")
                f = INPUT / side
                cc = np.c_[(c[:, 0] - x0 + 0.5) * f - 0.5, (c[:, 1] - y0 + 0.5) * f - 0.5, c[:, 2] * f]
                xs.append(crop[0, 0])
                cs.append(cc)
            x = normalise(torch.stack(xs))
            x, cs = _augment(x, cs, rng)
            parts = _train_step(net, opt, x, cs, dev)
            history.append(parts["loss"])
            if step % 5 == 0 or step == steps:
                yield Snapshot(step, steps, points=freeze(np.asarray(history)), metrics=parts,
                               message=f"fine-tune {step}/{steps} loss {parts['loss']:.3f}")
    return net.cpu().eval()
