"""Eigen-motion files: loading a particle set for the analysis, the output STAR (input + ``cryoguiMotion1..K``),
the eigen-motion vectors as JSON, STAR subsets, and the simulated data set (stack, STAR, model, truth)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cryogui.core.motion.gradients import ParticleData
from cryogui.core.rotations import euler_to_matrix
from cryogui.errors import FormatError, InputError
from cryogui.io.atomic import atomic_path
from cryogui.io.star import ParticleSet, load_images, read_particles, write_particle_stack, write_particles

MOTION_COLUMN = "cryoguiMotion{}"


def check_particles(pset: ParticleSet, require_ctf: bool = True) -> None:
    """FormatError naming the file when poses, CTF or the pixel size are missing."""
    src = pset.source or "particles"
    if not pset.has_poses:
        raise FormatError(src, "has no poses (rlnAngleRot/rlnAngleTilt/rlnAnglePsi): the eigen-motion analysis "
                               "needs particles from a consensus refinement")
    if require_ctf and not pset.has_ctf:
        raise FormatError(src, "has no CTF parameters (rlnDefocusU/rlnDefocusV/rlnDefocusAngle)")
    if not pset.apix:
        raise FormatError(src, "has no pixel size (rlnImagePixelSize in the optics table)")


def load_particle_data(path, require_ctf: bool = True, indices=None) -> tuple[ParticleSet, ParticleData]:
    """A particle STAR file and its images as (:class:`ParticleSet`, :class:`ParticleData`)."""
    pset = read_particles(path)
    check_particles(pset, require_ctf)
    images = load_images(pset, indices)
    df = pset.df if indices is None else pset.df.iloc[np.asarray(indices)]
    sub = pset if indices is None else ParticleSet(df.reset_index(drop=True), pset.source, pset.optics, pset.block)
    mats = euler_to_matrix(sub.angles())
    ctf = sub.ctf_params() if sub.has_ctf else None
    return sub, ParticleData(images, mats, sub.shifts_A(), ctf, float(pset.apix))


def load_model(path):
    """A Gaussian model JSON (the Gaussian-fit panel's format)."""
    from cryogui.io.gmm_json import load_model as _load

    return _load(path)


def _relink_images(df: pd.DataFrame, pset: ParticleSet, out: Path) -> pd.DataFrame:
    """Image names rewritten relative to the output's folder, so the written STAR still finds its stacks."""
    if "rlnImageName" not in df or not pset.source:
        return df
    refs = pset.image_refs()
    df = df.copy()
    base = out.resolve().parent
    names = []
    for (idx, stack), row_idx in zip(refs, range(len(refs))):
        rel = os.path.relpath(Path(stack).resolve(), base)
        names.append(f"{idx + 1:06d}@{rel}")
    df["rlnImageName"] = names
    return df


def write_motion_star(path, pset: ParticleSet, coords: np.ndarray) -> Path:
    """The input particles plus one column per mode, ``cryoguiMotion1``, ``cryoguiMotion2``, ... (atomic)."""
    path = Path(path)
    coords = np.asarray(coords).reshape(len(pset), -1)
    df = _relink_images(pset.df, pset, path)
    for m in range(coords.shape[1]):
        df[MOTION_COLUMN.format(m + 1)] = coords[:, m].astype(np.float64)
    return write_particles(path, pset, df)


def write_subset_star(path, pset: ParticleSet, indices, coords: np.ndarray | None = None) -> Path:
    """The particles ``indices`` (rows of ``pset``) as a RELION STAR file, with motion columns when given."""
    path = Path(path)
    idx = np.asarray(indices, dtype=int)
    if len(idx) == 0:
        raise InputError("no particles in the selected range")
    df = _relink_images(pset.df, pset, path)
    if coords is not None:
        coords = np.asarray(coords).reshape(len(pset), -1)
        for m in range(coords.shape[1]):
            df[MOTION_COLUMN.format(m + 1)] = coords[:, m].astype(np.float64)
    return write_particles(path, pset, df.iloc[idx].reset_index(drop=True))


def vectors_to_dict(result) -> dict:
    return {
        "format": "cryogui-motion", "version": 1, "kind": result.kind,
        "units": {"vectors": "displacement in Angstrom per unit coordinate (largest Gaussian displacement 1)"
                  if result.kind == "position" else "amplitude change per unit coordinate",
                  "coords": "Angstrom of the most mobile Gaussian"},
        "modes": result.n_modes,
        "explained_variance": [float(v) for v in result.explained_variance],
        "eigenvalues": [float(v) for v in result.eigenvalues[:100]],
        "flexibility": [float(v) for v in result.flexibility],
        "focus": [int(i) for i in np.nonzero(result.focus)[0]],
        "positions": np.asarray(result.model.positions).tolist(),
        "vectors": np.asarray(result.vectors).tolist(),
        "c_range": float(result.c_range),
        "summary": {k: v for k, v in result.summary().items() if k != "seconds_by_stage"},
    }


def write_vectors_json(path, result) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(vectors_to_dict(result), indent=1))
    return path


def read_vectors_json(path) -> dict:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FormatError(path, f"cannot be read as JSON ({exc})") from None
    if d.get("format") != "cryogui-motion":
        raise FormatError(path, "is not a cryogui motion vectors file")
    d["vectors"] = np.asarray(d["vectors"], dtype=np.float64)
    return d


def write_simulation(out_dir, sim) -> dict:
    """``particles.star`` + ``particles.mrcs``, ``model.json`` (consensus t = 0 model), ``truth.csv`` (particle,
    class, motion) and ``truth_motion.json`` (displacement field, moving Gaussians, hinge); returns the paths."""
    from cryogui.io.gmm_json import save_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    star, mrcs = write_particle_stack(out / "particles.star", sim.stack, sim.table, float(sim.model.apix))
    model = save_model(out / "model.json", sim.model)
    truth = out / "truth.csv"
    with atomic_path(truth, suffix=".csv") as tmp:
        sim.truth.to_csv(tmp, index=False)
    extra = out / "truth_motion.json"
    with atomic_path(extra, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps({
            "displacement_per_unit_motion_A": sim.displacement.tolist(), "moving": np.nonzero(sim.moving)[0].tolist(),
            "hinge_A": sim.hinge.tolist(), "max_angle_deg": sim.max_angle_deg,
            "motion": "arm rotated by motion * max_angle_deg about z through the hinge"}, indent=1))
    return {"star": str(star), "stack": str(mrcs), "model": str(model), "truth": str(truth),
            "truth_motion": str(extra)}
