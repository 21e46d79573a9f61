"""Files of the Poses tools: projection sets (MRCS + STAR), generator config files, distance models, and particle
sets from RELION STAR or cryoSPARC .cs with their poses and row matching."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cryogui.core.poses.siamese import EmbeddingNet, SiameseConfig, TrainedDistance
from cryogui.core.rotations import euler_to_quaternion
from cryogui.errors import FormatError, InputError
from cryogui.io.atomic import atomic_path


def write_projection_set(stack_path: str | Path, stack: np.ndarray, table: pd.DataFrame, apix: float) -> Path:
    """Write ``stack`` to ``stack_path`` (.mrcs) and a RELION 3.1 STAR file beside it (same stem, ``.star``).

    Returns the STAR path.  Both writes are atomic.
    """
    from cryogui.io.mrc import write_mrc
    from cryogui.io.star import particles_to_blocks, write_star

    stack_path = Path(stack_path)
    if stack_path.suffix.lower() not in (".mrcs", ".mrc"):
        raise InputError(f"{stack_path}: the output stack must end in .mrcs")
    if not stack_path.parent.is_dir():
        raise InputError(f"{stack_path.parent}: output folder does not exist")
    star_path = stack_path.with_suffix(".star")
    write_mrc(stack_path, stack, apix, stack=True)
    df = table.copy()
    df.insert(0, "rlnImageName", [f"{i + 1:06d}@{stack_path.name}" for i in range(len(df))])
    opt = {k: float(df.pop(c).iloc[0]) for k, c in (("voltage", "rlnVoltage"), ("cs", "rlnSphericalAberration"),
                                                    ("amplitude_contrast", "rlnAmplitudeContrast")) if c in df}
    write_star(star_path, particles_to_blocks(df, apix=apix, box=stack.shape[-1], **opt))
    return star_path


def read_config_file(path: str | Path) -> dict[str, str]:
    """``key=value`` lines (``#`` comments, blank lines ignored); keys are normalised to snake_case."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: config file does not exist")
    out: dict[str, str] = {}
    for k, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise InputError(f"{path}:{k}: expected key=value, got {line!r}")
        key, val = (s.strip() for s in line.split("=", 1))
        out[key.lstrip("-").replace("-", "_").lower()] = val
    return out


def save_distance_model(trained: TrainedDistance, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": "cryogui.siamese.v2", "config": asdict(trained.config), "box": trained.box,
                    "state_dict": {k: v.cpu() for k, v in trained.model.state_dict().items()},
                    "losses": trained.losses, "val_losses": trained.val_losses}, tmp)
    return path


def load_distance_model(path: str | Path) -> TrainedDistance:
    """A model saved by :func:`save_distance_model`: format v2 (with the distance head), or v1 (written before the
    rotation head existed: always the Euclidean head)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: distance model does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a cryogui distance model ({type(exc).__name__})") from None
    return _build_model(blob, str(path))


def distance_model_state(trained: TrainedDistance) -> dict:
    """The model as plain values and numpy arrays, as a workspace keeps it (:func:`distance_model_from_state`)."""
    return {"format": "cryogui.siamese.v2", "config": asdict(trained.config), "box": trained.box,
            "state_dict": {k: v.detach().cpu().numpy() for k, v in trained.model.state_dict().items()},
            "losses": list(trained.losses), "val_losses": list(trained.val_losses)}


def distance_model_from_state(state: dict, where: str = "workspace") -> TrainedDistance:
    """The inverse of :func:`distance_model_state` (``where`` names the source in error messages)."""
    blob = dict(state)
    blob["state_dict"] = {k: torch.as_tensor(v) for k, v in dict(state.get("state_dict") or {}).items()}
    return _build_model(blob, where)


def _build_model(blob, where: str) -> TrainedDistance:
    fmt = blob.get("format") if isinstance(blob, dict) else None
    if fmt not in ("cryogui.siamese.v1", "cryogui.siamese.v2"):
        raise InputError(f"{where}: not a cryogui distance model (made by 'cryogui poses train')")
    conf = dict(blob["config"])
    if fmt == "cryogui.siamese.v1":
        conf["head"] = "euclidean"
    known = set(SiameseConfig.__dataclass_fields__)
    unknown = sorted(set(conf) - known)
    if unknown:
        raise InputError(f"{where}: distance model from a newer cryogui (unknown settings {', '.join(unknown)})")
    cfg = SiameseConfig(**conf)
    model = EmbeddingNet(cfg.size, cfg.embed_dim, cfg.width, cfg.head)
    try:
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"{where}: distance model weights do not match its settings ({type(exc).__name__})") from None
    model.eval()
    return TrainedDistance(model, cfg, int(blob["box"]), list(blob.get("losses", [])),
                           list(blob.get("val_losses", [])))


def read_any_particles(path: str | Path):
    """A :class:`cryogui.io.star.ParticleSet` from a ``.star`` or ``.cs`` file."""
    from cryogui.io.cryosparc import read_cs_particles
    from cryogui.io.star import read_particles

    path = Path(path)
    if path.suffix.lower() == ".cs":
        return read_cs_particles(path)
    return read_particles(path)


def pose_quaternions(pset) -> np.ndarray:
    """``(n, 4)`` quaternions of a particle set's rot/tilt/psi (clear error when it has none)."""
    if not pset.has_poses:
        what = "3D alignments (alignments3D/pose)" if str(pset.source).endswith(".cs") else \
            "angle columns rlnAngleRot, rlnAngleTilt, rlnAnglePsi"
        raise FormatError(pset.source or "particles", f"has no poses: missing {what}")
    return euler_to_quaternion(pset.angles())


def image_key(name: str) -> str:
    """``000012@dir/stack.mrcs`` -> ``12@stack.mrcs`` (index without zeros, file name without folder)."""
    m = re.match(r"^\s*0*(\d+)@(.+?)\s*$", str(name))
    if not m:
        return Path(str(name).strip()).name
    return f"{int(m.group(1))}@{Path(m.group(2)).name}"


def match_rows(a, b) -> tuple[np.ndarray, np.ndarray, str]:
    """Row indices of ``a`` and ``b`` that hold the same particle: by ``rlnImageName`` when both have it, else by
    order when both have the same length.  Raises InputError when nothing matches."""
    if "rlnImageName" in a.df and "rlnImageName" in b.df:
        ka = [image_key(x) for x in a.df["rlnImageName"].astype(str)]
        kb = {image_key(x): i for i, x in enumerate(b.df["rlnImageName"].astype(str))}
        ia, ib = [], []
        for i, k in enumerate(ka):
            if k in kb:
                ia.append(i)
                ib.append(kb[k])
        if not ia:
            raise InputError(f"{a.source} and {b.source} have no image in common (matched by rlnImageName)")
        return np.asarray(ia), np.asarray(ib), "rlnImageName"
    if len(a) != len(b):
        raise InputError(f"{a.source} ({len(a)} rows) and {b.source} ({len(b)} rows) have no rlnImageName to "
                         f"match and differ in length")
    return np.arange(len(a)), np.arange(len(b)), "order"
