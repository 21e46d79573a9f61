"""cryoSPARC ``.cs`` particle files (read-only), converted to a RELION-style table at this boundary.

A ``.cs`` file is a numpy structured array (``np.load``).  Conversions (verify against real files, see tests):

* poses: ``alignments3D/pose`` is an axis-angle vector in radians; cryoSPARC's matrix ``R = exp([pose]x)`` is the
  transpose of RELION's ``A`` (the same transpose cryoDRGN applies when it parses cryoSPARC poses), so
  ``A = R^T`` and rot/tilt/psi follow from A;
* shifts: ``alignments3D/shift`` in pixels of ``alignments3D/psize_A`` -> ``rlnOriginX/YAngst`` (same sign);
* CTF: ``ctf/df1_A``, ``df2_A`` -> rlnDefocusU/V, ``df_angle_rad`` -> rlnDefocusAngle (degrees), ``accel_kv``,
  ``cs_mm``, ``amp_contrast``, ``phase_shift_rad`` (degrees);
* images: ``blob/path`` (a leading ``>`` marks an imported path) and ``blob/idx`` (0-based) -> ``rlnImageName``
  ``idx+1@path``; ``blob/psize_A`` -> pixel size, ``blob/shape`` [y, x] -> rlnImageSize;
* picks: ``location/center_x_frac``/``center_y_frac`` are fractions of the micrograph with the origin at the
  bottom-left and ``location/micrograph_shape`` is [y, x], so ``x = fx * nx`` and ``y = (1 - fy) * ny`` (pixels,
  RELION rows counted from the top of the array).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cryogui.core.rotations import axis_angle_to_matrix, matrix_to_euler
from cryogui.errors import FormatError


def _load(path: Path) -> np.ndarray:
    if not path.exists():
        raise FormatError(path, "no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FormatError(path, f"is not a cryoSPARC .cs file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.names is None:
        raise FormatError(path, "is not a cryoSPARC .cs file (no named fields)")
    if len(arr) == 0:
        raise FormatError(path, "holds no particles")
    return arr


def _str(col) -> list[str]:
    return [(v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for v in col]


def cs_poses_to_euler(pose) -> np.ndarray:
    """cryoSPARC axis-angle poses ``(n, 3)`` radians -> RELION rot/tilt/psi degrees ``(n, 3)``."""
    a = np.swapaxes(axis_angle_to_matrix(np.asarray(pose, dtype=np.float64)), -1, -2)
    return matrix_to_euler(a)


def read_cs(path: str | Path) -> pd.DataFrame:
    """A ``.cs`` file as a DataFrame with rln-style columns plus ``pixel_size``, ``origin_x_A``, ``origin_y_A``.

    Columns appear only when the file has the fields (a .cs without 3D alignments has no rlnAngle* columns).
    """
    path = Path(path)
    arr = _load(path)
    names = set(arr.dtype.names)
    n = len(arr)
    df = pd.DataFrame(index=np.arange(n))
    if "uid" in names:
        df["cryoguiUid"] = arr["uid"].astype(np.uint64).astype(str)
    if "blob/path" in names and "blob/idx" in names:
        paths = [p.lstrip(">") for p in _str(arr["blob/path"])]
        df["rlnImageName"] = [f"{int(i) + 1:06d}@{p}" for i, p in zip(arr["blob/idx"], paths)]
    psize = None
    for key in ("blob/psize_A", "alignments3D/psize_A"):
        if key in names:
            psize = arr[key].astype(np.float64)
            break
    df["pixel_size"] = psize if psize is not None else np.nan
    if "blob/shape" in names:
        df["rlnImageSize"] = np.asarray(arr["blob/shape"]).reshape(n, -1)[:, -1].astype(int)
    if "alignments3D/pose" in names:
        pose = np.asarray(arr["alignments3D/pose"], dtype=np.float64).reshape(n, 3)
        if not np.all(np.isfinite(pose)):
            raise FormatError(path, "alignments3D/pose holds non-finite values")
        ang = cs_poses_to_euler(pose)
        df["rlnAngleRot"], df["rlnAngleTilt"], df["rlnAnglePsi"] = ang[:, 0], ang[:, 1], ang[:, 2]
    if "alignments3D/shift" in names:
        sh = np.asarray(arr["alignments3D/shift"], dtype=np.float64).reshape(n, 2)
        ps = arr["alignments3D/psize_A"].astype(np.float64) if "alignments3D/psize_A" in names else psize
        ps = np.ones(n) if ps is None else ps
        df["rlnOriginXAngst"] = sh[:, 0] * ps
        df["rlnOriginYAngst"] = sh[:, 1] * ps
    df["origin_x_A"] = df["rlnOriginXAngst"] if "rlnOriginXAngst" in df else 0.0
    df["origin_y_A"] = df["rlnOriginYAngst"] if "rlnOriginYAngst" in df else 0.0
    ctf = {"ctf/df1_A": "rlnDefocusU", "ctf/df2_A": "rlnDefocusV", "ctf/accel_kv": "rlnVoltage",
           "ctf/cs_mm": "rlnSphericalAberration", "ctf/amp_contrast": "rlnAmplitudeContrast"}
    for key, col in ctf.items():
        if key in names:
            df[col] = arr[key].astype(np.float64)
    if "ctf/df_angle_rad" in names:
        df["rlnDefocusAngle"] = np.rad2deg(arr["ctf/df_angle_rad"].astype(np.float64))
    if "ctf/phase_shift_rad" in names:
        df["rlnPhaseShift"] = np.rad2deg(arr["ctf/phase_shift_rad"].astype(np.float64))
    if "location/center_x_frac" in names and "location/micrograph_shape" in names:
        shape = np.asarray(arr["location/micrograph_shape"]).reshape(n, 2).astype(np.float64)  # [y, x]
        df["rlnCoordinateX"] = arr["location/center_x_frac"].astype(np.float64) * shape[:, 1]
        df["rlnCoordinateY"] = (1.0 - arr["location/center_y_frac"].astype(np.float64)) * shape[:, 0]
    if "location/micrograph_path" in names:
        df["rlnMicrographName"] = [p.lstrip(">") for p in _str(arr["location/micrograph_path"])]
    return df


def read_cs_particles(path: str | Path):
    """A ``.cs`` file as a :class:`cryogui.io.star.ParticleSet` (image names resolve next to the file)."""
    from cryogui.io.star import ParticleSet

    return ParticleSet(df=read_cs(path), source=str(path), optics=None, block="particles")
