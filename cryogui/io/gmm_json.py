"""Gaussian mixture models on disk: JSON with units, and ChimeraX marker files (.cmm) of the centres.

JSON layout (``format: cryogui-gmm``, version 1)::

    {"format": "cryogui-gmm", "version": 1,
     "units": {"positions": "Angstrom from the centre voxel (box//2) of the grid, x y z", "amplitudes": "map units
               (peak value)", "sigmas": "Angstrom", "scales": "Angstrom", "quaternions": "w x y z"},
     "grid": {"box": 64, "apix": 4.0, "origin_A": [0, 0, 0]},
     "gaussians": {"positions": [[x, y, z], ...], "amplitudes": [...], "sigmas": [...],
                   "scales": [[sx, sy, sz], ...] (anisotropic only), "quaternions": [[w, x, y, z], ...]},
     "meta": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cryogui.core.gmm.model import GaussianModel
from cryogui.errors import FormatError, InputError
from cryogui.io.atomic import write_text_atomic

UNITS = {"positions": "Angstrom from the centre voxel (box//2) of the grid, x y z",
         "amplitudes": "map units (peak value of each Gaussian)", "sigmas": "Angstrom", "scales": "Angstrom",
         "quaternions": "w x y z (unit)"}


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def model_to_dict(model: GaussianModel) -> dict:
    g = {"positions": np.round(model.positions, 5), "amplitudes": model.amplitudes, "sigmas": model.sigmas}
    if model.anisotropic:
        g["scales"] = model.scales
        g["quaternions"] = model.quats
    return _plain({"format": "cryogui-gmm", "version": 1, "units": UNITS,
                   "grid": {"box": model.box, "apix": model.apix, "origin_A": list(model.origin)},
                   "gaussians": g, "meta": model.meta})


def save_model(path: str | Path, model: GaussianModel) -> Path:
    """Write a model as JSON, atomically."""
    path = Path(path)
    write_text_atomic(path, json.dumps(model_to_dict(model), indent=1))
    return path


def load_model(path: str | Path) -> GaussianModel:
    """Read a model JSON; :class:`FormatError` names the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"is not valid JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != "cryogui-gmm":
        raise FormatError(path, "is not a cryogui Gaussian model (format 'cryogui-gmm')")
    try:
        g = d["gaussians"]
        grid = d.get("grid", {})
        return GaussianModel(np.asarray(g["positions"], float), np.asarray(g["amplitudes"], float),
                             sigmas=np.asarray(g["sigmas"], float) if "scales" not in g else None,
                             scales=np.asarray(g["scales"], float) if "scales" in g else None,
                             quats=np.asarray(g["quaternions"], float) if "quaternions" in g else None,
                             box=grid.get("box"), apix=grid.get("apix"),
                             origin=tuple(grid.get("origin_A") or (0.0, 0.0, 0.0)), meta=d.get("meta") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(path, f"malformed Gaussian model ({type(exc).__name__}: {exc})") from None
    except InputError as exc:
        raise FormatError(path, str(exc)) from None


def write_cmm(path: str | Path, model: GaussianModel, name: str = "gaussians") -> Path:
    """ChimeraX/Chimera marker file of the centres, in the map's frame (Angstrom, origin applied), radius = sigma,
    coloured from blue (low amplitude) to red (high)."""
    path = Path(path)
    box = model.box or 0
    apix = model.apix or 1.0
    frame = np.asarray(model.origin, float) + (box // 2) * apix
    xyz = model.positions + frame
    a = model.amplitudes
    t = (a - a.min()) / (np.ptp(a) or 1.0)
    lines = [f'<marker_set name="{name}">']
    for i, (p, s, c) in enumerate(zip(xyz, model.sigmas, t)):
        lines.append(f'<marker id="{i + 1}" x="{p[0]:.3f}" y="{p[1]:.3f}" z="{p[2]:.3f}" r="{c:.3f}" g="0.2" '
                     f'b="{1 - c:.3f}" radius="{s:.3f}" note="amplitude {a[i]:.4g}"/>')
    lines.append("</marker_set>")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def read_cmm_positions(path: str | Path) -> np.ndarray:
    """Marker positions ``(n, 3)`` in Angstrom (the file's frame) from a .cmm file."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(str(path)).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FormatError(path, f"is not a marker file ({exc})") from None
    pts = [[float(m.get("x")), float(m.get("y")), float(m.get("z"))] for m in root.iter("marker")]
    if not pts:
        raise FormatError(path, "holds no markers")
    return np.asarray(pts)


def load_particle_data(star: str, use_ctf: bool = True):
    """Particles for a fit: ``(images, mats, shifts_A, ctf or None, apix, pset)`` with clear errors for a STAR
    without poses or CTF, missing stacks, and stacks whose size or pixel size disagrees with the STAR file."""
    from cryogui.core.rotations import euler_to_matrix
    from cryogui.io.star import load_images, read_particles

    pset = read_particles(star)
    if not pset.has_poses:
        raise InputError(f"{star}: no poses (rlnAngleRot, rlnAngleTilt, rlnAnglePsi): a fit needs known poses")
    if use_ctf and not pset.has_ctf:
        raise InputError(f"{star}: no CTF columns (rlnDefocusU, rlnDefocusV, rlnDefocusAngle); use --no-ctf to "
                         "fit without a CTF")
    images = load_images(pset)
    apix = pset.apix
    if not apix:
        raise InputError(f"{star}: no pixel size (rlnImagePixelSize in the optics table)")
    if images.shape[-1] != images.shape[-2]:
        raise InputError(f"{star}: images must be square, got {images.shape[-2:]}")
    if not np.all(np.isfinite(images)):
        raise InputError(f"{star}: the particle images contain NaN or infinite values")
    mats = euler_to_matrix(pset.angles())
    ctf = pset.ctf_params() if use_ctf else None
    if ctf is not None:  # writable copies (torch warns about read-only pandas buffers)
        from dataclasses import replace

        ctf = replace(ctf, defocus_u=np.array(ctf.defocus_u), defocus_v=np.array(ctf.defocus_v),
                      defocus_angle=np.array(ctf.defocus_angle))
    return images, mats, pset.shifts_A(), ctf, float(apix), pset
