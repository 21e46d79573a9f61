"""Job generators that chain the steps the GUI runs in the background (loading images, embedding, density), so
that nothing of it happens on the GUI thread."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cryogui.core.jobs import Snapshot, freeze
from cryogui.core.poses.density import direction_density
from cryogui.errors import InputError


def _images(images=None) -> np.ndarray:
    """``images`` is an array, or a callable that reads them (the caller's io, run here in the job's thread)."""
    if callable(images):
        return np.asarray(images())
    if images is not None:
        return np.asarray(images)
    raise InputError("no particle images: load a STAR file with images or generate projections")


def density_job(dirs, bandwidth_deg: float = 10.0) -> Iterator[Snapshot]:
    """Job: local density of viewing directions (returns the array)."""
    yield Snapshot(0, 1, message="density of viewing directions")
    rho = direction_density(dirs, bandwidth_deg=bandwidth_deg)
    yield Snapshot(1, 1, data={"density": freeze(rho)})
    return rho


def train_job(quats, cfg, images=None) -> Iterator[Snapshot]:
    """Job: load images if needed, then :func:`siamese.train_siamese`."""
    from cryogui.core.poses.siamese import train_siamese

    yield Snapshot(0, cfg.steps, message="reading images")
    imgs = _images(images)
    return (yield from train_siamese(imgs, quats, cfg))


def recover_job(kind: str, *, quats=None, images=None, model=None, start: str = "random",
                **kw) -> Iterator[Snapshot]:
    """Job: build the distance source (``exact`` | ``learned`` | ``image``) and run the recovery.

    ``quats`` are the known orientations (needed for ``exact``; otherwise used only to report the error).
    ``start="embedding"`` starts the recovery from the embedded orientations of a rotation-head model (learned
    distances only) instead of random ones."""
    from cryogui.core.poses.recover import EmbeddingDistance, ExactDistance, ImageDistance, recover_orientations

    steps = int(kw.get("steps", 3000))
    yield Snapshot(0, steps, message=f"preparing {kind} distances")
    if kind == "exact":
        if quats is None:
            raise InputError("exact distances need known poses (this particle set has none)")
        source = ExactDistance(quats)
    elif kind == "learned":
        if model is None:
            raise InputError("learned distances need a trained distance model: run 'Learn distances' first")
        source = EmbeddingDistance(model.embed(_images(images)))
        if start == "embedding":
            if source.quaternions() is None:
                raise InputError("starting from the embedding needs a distance model with the rotation head")
            kw["init"] = source.quaternions()
    elif kind == "image":
        source = ImageDistance(_images(images), seed=int(kw.get("seed", 0)))
    else:
        raise InputError(f"unknown distance kind {kind!r} (exact, learned or image)")
    if start not in ("random", "embedding") or (start == "embedding" and kind != "learned"):
        raise InputError(f"recovery start {start!r}: 'random', or 'embedding' with learned distances")
    return (yield from recover_orientations(source, q_true=quats, **kw))
