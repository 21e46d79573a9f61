"""Fitting Gaussian mixtures by Adam, as job generators (see :mod:`cryogui.core.jobs`).

* :func:`fit_map` -- to a voxel map, real-space loss ``mean((V_theta - V)^2) / var(V)`` (or, ``fsc_weighted``, a
  Fourier loss with each shell normalised by the target's power in it, so that fine detail counts as much as bulk).
* :func:`fit_particles` -- to particle images with known poses, origins and CTF: ``mean((CTF * P_theta - I)^2) /
  var(I)`` over mini-batches, with a held-out validation set.

Both support adaptive density control (as in 3D Gaussian splatting: every few hundred steps, Gaussians with
negligible amplitude are pruned and replaced by splitting -- wide ones -- or cloning -- narrow ones -- those whose
position gradient is largest, so the count stays at N), a :class:`FitControl` whose learning rate may be changed
while the job runs, and divergence detection: a non-finite or exploding loss stops the fit, which says so and returns
the best model seen.  The losses are normalised by the target's variance (1 = as bad as an empty model), and
"exploding" means above both 0.5 and ``divergence_factor`` times the best loss so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from cryogui.core.ctf import CTFParams, ctf_2d
from cryogui.core.device import get_device
from cryogui.core.gmm import metrics
from cryogui.core.gmm.init import pointcloud_start, prepare_start
from cryogui.core.gmm.model import GaussianModel, GMMTensors
from cryogui.core.gmm.render import project_tensors, render_tensors
from cryogui.core.jobs import Snapshot, freeze
from cryogui.errors import InputError


@dataclass
class FitControl:
    """Knobs a running fit reads at every step (set from another thread: plain attribute writes)."""

    lr: float = 0.02
    batch_size: int = 64


@dataclass
class FitResult:
    """What a fit returns: the best model, its loss, the loss history, and how it ended."""

    model: GaussianModel
    loss: float
    history: dict = field(default_factory=dict)
    diverged: bool = False
    message: str = ""
    seconds: float = 0.0
    rendered: np.ndarray | None = None  # the best model on the target grid (map fits)


def _optimizer(g: GMMTensors, lr: float, apix: float, amp_scale: float) -> torch.optim.Adam:
    groups = [{"params": [g.pos], "scale": 5.0 * apix}, {"params": [g.amp], "scale": amp_scale}]
    if g.anisotropic:
        groups += [{"params": [g.log_scales], "scale": 1.0}, {"params": [g.quat], "scale": 1.0}]
    else:
        groups += [{"params": [g.log_sigma], "scale": 1.0}]
    for grp in groups:
        grp["lr"] = lr * grp["scale"]
    return torch.optim.Adam(groups, lr=lr)


def _set_lr(opt: torch.optim.Adam, lr: float) -> None:
    for grp in opt.param_groups:
        grp["lr"] = lr * grp["scale"]


def _clamp_widths(g: GMMTensors, apix: float, max_A: float) -> None:
    lo, hi = math.log(0.5 * apix), math.log(max_A)
    with torch.no_grad():
        (g.log_scales if g.anisotropic else g.log_sigma).clamp_(lo, hi)


def density_control(model: GaussianModel, grad_norm: np.ndarray, *, seed: int = 0,
                    prune_fraction: float = 0.01, max_replace: float = 0.05) -> tuple[GaussianModel, dict]:
    """Prune Gaussians whose |amplitude| is below ``prune_fraction`` of the largest and re-use them to split (wide)
    or clone (narrow) the Gaussians with the largest mean position gradient; the count is unchanged.  Returns the
    new model and counts ``{"pruned", "split", "cloned"}``."""
    rng = np.random.default_rng(seed)
    n = len(model)
    amp = np.abs(model.amplitudes)
    weak = np.flatnonzero(amp < prune_fraction * amp.max())
    weak = weak[np.argsort(amp[weak])][: max(1, int(max_replace * n))]
    if len(weak) == 0:
        return model, {"pruned": 0, "split": 0, "cloned": 0}
    order = np.argsort(-grad_norm)
    donors = [i for i in order if i not in set(weak.tolist())][: len(weak)]
    pos = model.positions.copy()
    amps = model.amplitudes.copy()
    sig = model.sigmas.copy()
    scales = None if model.scales is None else model.scales.copy()
    quats = None if model.quats is None else model.quats.copy()
    median = np.median(sig)
    n_split = n_clone = 0
    for w, d in zip(weak, donors):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        if sig[d] > median:  # split: two narrower children either side
            off = direction * sig[d] * 0.5
            pos[w], pos[d] = pos[d] + off, pos[d] - off
            sig[d] = sig[w] = sig[d] / 1.3
            if scales is not None:
                scales[d] = scales[d] / 1.3
                scales[w], quats[w] = scales[d], quats[d]
            amps[w] = amps[d]
            n_split += 1
        else:  # clone: the same Gaussian twice, each with half the amplitude, slightly apart
            pos[w] = pos[d] + direction * sig[d] * 0.25
            sig[w] = sig[d]
            if scales is not None:
                scales[w], quats[w] = scales[d], quats[d]
            amps[d] = amps[w] = amps[d] * 0.5
            n_clone += 1
    new = GaussianModel(pos, amps, sigmas=sig if scales is None else None, scales=scales, quats=quats,
                        box=model.box, apix=model.apix, origin=model.origin, meta=dict(model.meta))
    return new, {"pruned": len(weak), "split": n_split, "cloned": n_clone}


def _fourier_weights(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ft = torch.fft.rfftn(target)
    shell = metrics._shell_index(target.shape, device=target.device)
    n = int(shell.max()) + 1
    power = torch.zeros(n, device=target.device, dtype=target.dtype).index_add(
        0, shell.reshape(-1), (ft.abs() ** 2).reshape(-1))
    count = torch.zeros(n, device=target.device, dtype=target.dtype).index_add(
        0, shell.reshape(-1), torch.ones_like(shell.reshape(-1), dtype=target.dtype))
    w = 1.0 / (power / count.clamp_min(1)).clamp_min(1e-12)
    return ft, w[shell] / w[shell].mean()


def _check_map(target) -> np.ndarray:
    t = np.asarray(target, dtype=np.float32)
    if t.ndim != 3 or len(set(t.shape)) != 1:
        raise InputError(f"the target map must be a cube, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise InputError("the target map contains NaN or infinite values")
    if t.std() == 0:
        raise InputError("the target map is constant: nothing to fit")
    return t


def fit_map(target, apix: float, n_gaussians: int, *, iterations: int = 500, anisotropic: bool = False,
            init="random", lr: float = 0.1, seed: int = 0, control: FitControl | None = None,
            density_every: int = 0, fsc_weighted: bool = False, report_every: int = 10,
            origin=(0.0, 0.0, 0.0), device=None, divergence_factor: float = 20.0):
    """Job generator: fit ``n_gaussians`` to a cubic map ``target`` (z, y, x) with pixel size ``apix``.

    Yields a :class:`Snapshot` every ``report_every`` steps (points: positions in A; metrics: loss, correlation,
    lr; data: amplitudes, sigmas, loss history, FSC curve against the target) and returns a :class:`FitResult`.
    ``init``: ``"random"`` (samples of the density), ``"trn"`` / ``"cvt"`` (a point cloud of the density computed
    first, by the point-cloud panel's code), an ``(n, 3)`` point cloud in A, or a :class:`GaussianModel`.
    ``density_every``: steps between density-control rounds (0: every ``iterations // 8``; < 0: never).
    The learning rate is ``control.lr`` (changeable while running) times a decay to 0.1 at the end.
    """
    t0 = time.perf_counter()
    target = _check_map(target)
    if n_gaussians < 1 or iterations < 1:
        raise InputError("the number of Gaussians and of iterations must be at least 1")
    control = control or FitControl(lr=lr)
    device = torch.device(device) if device is not None else get_device()
    box = target.shape[0]
    rng_seed = seed
    init_label = init if isinstance(init, str) else None
    if isinstance(init, str) and init in ("trn", "cvt"):
        from dataclasses import replace as _replace

        gen = pointcloud_start(init, target, apix, n_gaussians, seed=seed)
        while True:
            try:
                s = next(gen)
            except StopIteration as stop:
                init = stop.value
                break
            yield _replace(s, step=0, total=iterations, message=f"initialising from a {init.upper()} point cloud: "
                                                                 f"{s.message}", metrics={}, data={})
    with torch.no_grad():
        model = prepare_start(init, n_gaussians, target=target, apix=apix, box=box, anisotropic=anisotropic,
                              seed=seed, origin=origin)
        model.origin = tuple(origin)
        if init_label:
            model.meta["init"] = init_label
        tgt = torch.tensor(target, device=device)
        var = float(tgt.var())
        empty_loss = float((tgt * tgt).mean()) / var  # the loss of a model with nothing in it
        g = GMMTensors(model, device=device)
        # least-squares amplitude scale so that the first render has the right brightness
        r = render_tensors(g, box=box, apix=apix)
        scale = float((r * tgt).sum() / (r * r).sum().clamp_min(1e-20))
        g.amp.mul_(scale if scale > 0 else 1.0)
        amp_scale = float(g.amp.abs().median().clamp_min(1e-12))
        ft_target, fweights = _fourier_weights(tgt) if fsc_weighted else (None, None)
    opt = _optimizer(g, control.lr, apix, amp_scale)
    every = density_every if density_every > 0 else max(50, iterations // 8)
    grad_acc = torch.zeros(len(g), device=device)
    hist_step, hist_loss = [], []
    best_loss, best_model, best_render = float("inf"), g.to_model(), None
    diverged, message = False, ""
    n_bad = 0
    for step in range(1, iterations + 1):
        frac = (step - 1) / max(1, iterations - 1)
        _set_lr(opt, control.lr * 0.1**frac)
        with torch.enable_grad():
            opt.zero_grad(set_to_none=True)
            rend = render_tensors(g, box=box, apix=apix)
            if fsc_weighted:
                diff = torch.fft.rfftn(rend) - ft_target
                loss = (fweights * diff.abs() ** 2).mean() / (ft_target.abs() ** 2).mean()
            else:
                loss = ((rend - tgt) ** 2).mean() / var
            loss.backward()
        lval = float(loss.detach())
        # exploding, or thrown out of the box (as bad as an empty model after having been much better)
        n_bad = n_bad + 1 if (lval >= 0.99 * empty_loss and best_loss < 0.5 * empty_loss) else 0
        if not math.isfinite(lval) or (step > 5 and lval > max(0.5, divergence_factor * best_loss)) or n_bad >= 5:
            diverged = True
            message = (f"the fit diverged at step {step} (loss {lval:.3g}); stopped and kept the best model "
                       f"(loss {best_loss:.4g}). Try a smaller learning rate.")
            yield Snapshot(step, iterations, points=freeze(best_model.positions), metrics={"loss": best_loss},
                           message=message)
            break
        if lval < best_loss:
            best_loss = lval
            best_model = g.to_model()
            best_render = rend.detach()
        with torch.no_grad():
            grad_acc += g.pos.grad.norm(dim=1)
        opt.step()
        _clamp_widths(g, apix, box * apix / 8)
        hist_step.append(step)
        hist_loss.append(lval)
        if density_every >= 0 and step % every == 0 and step < 0.8 * iterations:
            with torch.no_grad():
                new, counts = density_control(g.to_model(), grad_acc.cpu().numpy(), seed=rng_seed + step)
            if counts["pruned"]:
                g = GMMTensors(new, device=device)
                opt = _optimizer(g, control.lr, apix, amp_scale)
            grad_acc = torch.zeros(len(g), device=device)
        if step % report_every == 0 or step == iterations:
            with torch.no_grad():
                rnp = rend.detach().cpu().numpy()
                corr = metrics.correlation(rnp, target)
                freqs, curve = metrics.fsc(rnp, target, apix)
            m = g.to_model()
            yield Snapshot(step, iterations, points=freeze(m.positions),
                           metrics={"loss": lval, "correlation": corr, "lr": opt.param_groups[0]["lr"] / 5 / apix,
                                    "gaussians": float(len(m))},
                           data={"amplitudes": freeze(m.amplitudes), "sigmas": freeze(m.sigmas),
                                 "loss_steps": np.asarray(hist_step), "train_loss": np.asarray(hist_loss),
                                 "fsc_freq": freqs, "fsc": curve},
                           message=f"step {step}/{iterations} loss {lval:.4g} corr {corr:.4f}")
    rendered = best_render.cpu().numpy() if best_render is not None else None
    if not message:
        message = f"finished {iterations} steps, loss {best_loss:.4g}"
    best_model.meta.update({"target": "map", "loss": best_loss, "iterations": len(hist_step)})
    return FitResult(best_model, best_loss, {"step": hist_step, "train": hist_loss}, diverged, message,
                     time.perf_counter() - t0, rendered)


def _check_particles(images, mats, shifts_A, ctf, apix):
    imgs = np.asarray(images)
    if imgs.ndim != 3 or imgs.shape[1] != imgs.shape[2]:
        raise InputError(f"particle images must be a stack of square images, got shape {imgs.shape}")
    n = len(imgs)
    mats = np.array(mats, dtype=np.float64).reshape(-1, 3, 3)  # writable copies for torch
    if len(mats) != n:
        raise InputError(f"{len(mats)} poses for {n} particle images")
    shifts = np.zeros((n, 2)) if shifts_A is None else np.array(shifts_A, dtype=np.float64).reshape(n, 2)
    if ctf is not None and len(ctf) != n:
        raise InputError(f"{len(ctf)} CTF entries for {n} particle images")
    if not apix or apix <= 0:
        raise InputError("the particles' pixel size is unknown")
    if n < 2:
        raise InputError("a particle fit needs at least 2 particles (training and validation)")
    return imgs, mats, shifts


def fit_particles(images, mats, shifts_A, ctf: CTFParams | None, apix: float, n_gaussians: int, *,
                  epochs: int = 5, batch_size: int = 64, val_fraction: float = 0.1, anisotropic: bool = False,
                  init="random", init_map=None, reference=None, lr: float = 0.02, seed: int = 0,
                  control: FitControl | None = None, density_control_on: bool = True, report_every: int = 5,
                  strip: int = 4, device=None, divergence_factor: float = 20.0):
    """Job generator: fit ``n_gaussians`` to particle images ``(n, b, b)`` with known poses ``mats`` (RELION A),
    origins ``shifts_A`` (RELION rlnOriginX/YAngst) and ``ctf`` (None: no CTF), pixel size ``apix``.

    A random ``val_fraction`` of the particles is held out for the validation loss.  ``init_map`` (optional) seeds
    random initialisation from a map's density; ``reference`` (optional map) gives the FSC curve and resolution in
    the snapshots.  Snapshots (every ``report_every`` batches) carry the loss histories, the FSC curve and, once per
    epoch, ``strip`` observed/rendered/residual validation images.  Returns a :class:`FitResult`.
    """
    t0 = time.perf_counter()
    imgs, mats, shifts = _check_particles(images, mats, shifts_A, ctf, apix)
    control = control or FitControl(lr=lr, batch_size=batch_size)
    device = torch.device(device) if device is not None else get_device()
    n, box = len(imgs), imgs.shape[-1]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = max(1, int(round(val_fraction * n)))
    val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
    if reference is not None:
        reference = _check_map(reference)
    with torch.no_grad():
        start_map = _check_map(init_map) if init_map is not None else None
        model = prepare_start(init, n_gaussians, target=start_map, apix=apix, box=box, anisotropic=anisotropic,
                              seed=seed)
        g = GMMTensors(model, device=device)
        img_t = torch.as_tensor(imgs, dtype=torch.float32, device=device)
        var = float(img_t[torch.as_tensor(train_idx[:256], device=device)].var())
        mats_t = torch.as_tensor(mats, dtype=torch.float32, device=device)
        shifts_t = torch.as_tensor(shifts, dtype=torch.float32, device=device)
        ctf_all = None if ctf is None else ctf_2d(ctf, box, apix, rfft=True, device=device)

        def render(idx):
            it = torch.as_tensor(idx, device=device)
            p = project_tensors(g, mats_t[it], shifts_t[it], box=box, apix=apix)
            if ctf_all is not None:
                p = torch.fft.irfft2(torch.fft.rfft2(p) * ctf_all[it], s=(box, box))
            return p, img_t[it]

        first = train_idx[: min(len(train_idx), 128)]
        r, o = render(first)
        scale = float((r * o).sum() / (r * r).sum().clamp_min(1e-20))
        if not isinstance(init, GaussianModel):
            g.amp.mul_(scale if scale > 0 else 1.0)
        amp_scale = float(g.amp.abs().median().clamp_min(1e-12))
    opt = _optimizer(g, control.lr, apix, amp_scale)
    n_batches = max(1, math.ceil(len(train_idx) / max(1, control.batch_size)))
    total = epochs * n_batches
    step = 0
    hist = {"step": [], "train": [], "val_step": [], "val": []}
    best_loss, best_model = float("inf"), g.to_model()
    diverged, message = False, ""
    fsc_freq = fsc_curve = None
    strip_imgs = None
    res = {}
    for epoch in range(epochs):
        bs = max(1, int(control.batch_size))
        order = rng.permutation(train_idx)
        grad_acc = torch.zeros(len(g), device=device)
        for bstart in range(0, len(order), bs):
            step += 1
            _set_lr(opt, control.lr * 0.1 ** (min(1.0, (step - 1) / max(1, total - 1))))
            with torch.enable_grad():
                opt.zero_grad(set_to_none=True)
                pred, obs = render(order[bstart:bstart + bs])
                loss = ((pred - obs) ** 2).mean() / var
                loss.backward()
            lval = float(loss.detach())
            if not math.isfinite(lval) or (step > 5 and lval > max(0.5, divergence_factor * min(hist["train"] or [lval]))):
                diverged = True
                message = (f"the fit diverged at epoch {epoch + 1} (loss {lval:.3g}); stopped and kept the best "
                           f"model. Try a smaller learning rate.")
                break
            with torch.no_grad():
                grad_acc += g.pos.grad.norm(dim=1)
            opt.step()
            _clamp_widths(g, apix, box * apix / 4)
            hist["step"].append(step)
            hist["train"].append(lval)
            if step % report_every == 0:
                yield _particle_snapshot(step, total, g, hist, fsc_freq, fsc_curve, strip_imgs, res,
                                         f"epoch {epoch + 1}/{epochs} batch loss {lval:.4g}")
        if diverged:
            break
        # validation, strip, FSC against the reference
        with torch.no_grad():
            vl, cnt = 0.0, 0
            for s in range(0, len(val_idx), 256):
                pred, obs = render(val_idx[s:s + 256])
                vl += float(((pred - obs) ** 2).sum())
                cnt += obs.numel()
            vloss = vl / cnt / var
            hist["val_step"].append(step)
            hist["val"].append(vloss)
            if vloss < best_loss:
                best_loss, best_model = vloss, g.to_model()
            pred, obs = render(val_idx[:strip])
            strip_imgs = np.stack([obs.cpu().numpy(), pred.cpu().numpy(), (obs - pred).cpu().numpy()])
            if reference is not None:
                vol = render_tensors(g, box=box, apix=apix).cpu().numpy()
                res = metrics.fsc_resolution(vol, reference, apix)
                res["correlation"] = metrics.correlation(vol, reference)
                fsc_freq, fsc_curve = res["freqs"], res["fsc"]
        if density_control_on and epoch < epochs - 1:
            with torch.no_grad():
                new, counts = density_control(g.to_model(), grad_acc.cpu().numpy(), seed=seed + epoch)
            if counts["pruned"]:
                g = GMMTensors(new, device=device)
                opt = _optimizer(g, control.lr, apix, amp_scale)
        yield _particle_snapshot(step, total, g, hist, fsc_freq, fsc_curve, strip_imgs, res,
                                 f"epoch {epoch + 1}/{epochs} validation loss {vloss:.4g}")
    if not message:
        message = f"finished {epochs} epochs, validation loss {best_loss:.4g}"
    if diverged:
        yield _particle_snapshot(step, total, g, hist, fsc_freq, fsc_curve, strip_imgs, res, message)
    best_model.meta.update({"target": "particles", "loss": best_loss, "epochs": epochs, "particles": n})
    best_model.box, best_model.apix = box, apix
    return FitResult(best_model, best_loss, hist, diverged, message, time.perf_counter() - t0)


def _particle_snapshot(step, total, g, hist, fsc_freq, fsc_curve, strip_imgs, res, message) -> Snapshot:
    m = g.to_model()
    data = {"amplitudes": freeze(m.amplitudes), "sigmas": freeze(m.sigmas),
            "loss_steps": np.asarray(hist["step"]), "train_loss": np.asarray(hist["train"]),
            "val_steps": np.asarray(hist["val_step"]), "val_loss": np.asarray(hist["val"])}
    metrics_ = {"loss": hist["train"][-1] if hist["train"] else float("nan"), "gaussians": float(len(m))}
    if hist["val"]:
        metrics_["val_loss"] = hist["val"][-1]
    if fsc_curve is not None:
        data["fsc_freq"], data["fsc"] = np.asarray(fsc_freq), np.asarray(fsc_curve)
        metrics_["fsc0143_A"] = res.get("fsc0143_A", float("nan"))
        metrics_["correlation"] = res.get("correlation", float("nan"))
    if strip_imgs is not None:
        data["strip"] = freeze(strip_imgs)
    return Snapshot(step, total, points=freeze(m.positions), metrics=metrics_, data=data, message=message)
