"""RELION STAR files: generic blocks, and particle sets (RELION 3.0 and 3.1+ with an optics table).

Particle sets are returned with the optics table merged into each row and a few normalised columns that the rest of
the program relies on:

* ``pixel_size``  (Angstrom per image pixel; from rlnImagePixelSize, rlnPixelSize, or detector size / magnification)
* ``origin_x_A`` / ``origin_y_A`` (rlnOriginX/YAngst, or rlnOriginX/Y in pixels times the pixel size)

Writers produce RELION 3.1 files (optics table, origins in Angstrom) atomically.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from cryogui.errors import FormatError
from cryogui.io.atomic import atomic_path

OPTICS_COLUMNS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnAmplitudeContrast", "rlnSphericalAberration",
                  "rlnVoltage", "rlnImagePixelSize", "rlnImageSize", "rlnImageDimensionality"]


def read_star(path: str | Path) -> dict[str, pd.DataFrame]:
    """All blocks of a STAR file as DataFrames (a simple key/value block becomes a one-row frame).

    Raises :class:`FormatError` for a missing, empty or unparsable file.
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file")
    if path.stat().st_size == 0:
        raise FormatError(path, "the file is empty")
    try:
        head = path.read_bytes()[:4096]
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc})") from None
    if b"\x00" in head:
        raise FormatError(path, "is a binary file, not a STAR file")
    if b"data_" not in path.read_bytes():
        raise FormatError(path, "has no 'data_' block: not a STAR file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blocks = starfile.read(path, always_dict=True, parse_as_string=["rlnImageName", "rlnMicrographName",
                                                                            "rlnImageOriginalName"])
    except Exception as exc:  # starfile raises many kinds on malformed text
        raise FormatError(path, f"is not a valid STAR file ({type(exc).__name__}: {exc})") from None
    out: dict[str, pd.DataFrame] = {}
    for name, block in blocks.items():
        if isinstance(block, dict):
            block = pd.DataFrame([block])
        out[name] = block
    if not out:
        raise FormatError(path, "holds no data blocks")
    return out


def write_star(path: str | Path, blocks: dict[str, pd.DataFrame]) -> Path:
    """Write blocks atomically (keys are block names without ``data_``)."""
    path = Path(path)
    with atomic_path(path, suffix=".star") as tmp:
        starfile.write(blocks, tmp, overwrite=True)
    return path


def _pick_block(blocks: dict[str, pd.DataFrame], prefer: tuple[str, ...]) -> tuple[str, pd.DataFrame]:
    for name in prefer:
        if name in blocks and len(blocks[name].columns):
            return name, blocks[name]
    for name, df in blocks.items():
        if name != "optics" and len(df):
            return name, df
    name, df = next(iter(blocks.items()))
    return name, df


@dataclass
class ParticleSet:
    """Particles of a STAR file: one row per particle, optics merged, normalised columns added.

    ``source`` is the STAR file's path; image names are resolved relative to its folder (and, like RELION, to the
    current folder).  ``optics`` keeps the optics table (or None for a RELION 3.0 file).
    """

    df: pd.DataFrame
    source: str | None = None
    optics: pd.DataFrame | None = None
    block: str = "particles"

    def __len__(self) -> int:
        return len(self.df)

    # ---- columns with checks ------------------------------------------------------------------------------
    def require(self, *columns: str, what: str = "") -> None:
        missing = [c for c in columns if c not in self.df.columns]
        if missing:
            raise FormatError(self.source or "particles", f"missing column(s) {', '.join(missing)}"
                              + (f" needed for {what}" if what else ""))

    def has(self, *columns: str) -> bool:
        return all(c in self.df.columns for c in columns)

    @property
    def has_poses(self) -> bool:
        return self.has("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")

    @property
    def has_ctf(self) -> bool:
        return self.has("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle")

    def angles(self) -> np.ndarray:
        """rot, tilt, psi in degrees, ``(n, 3)``."""
        self.require("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", what="poses")
        return self.df[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(np.float64)

    def shifts_A(self) -> np.ndarray:
        """Origin shifts (x, y) in Angstrom, ``(n, 2)``; zeros when the file has none."""
        return self.df[["origin_x_A", "origin_y_A"]].to_numpy(np.float64)

    @property
    def apix(self) -> float | None:
        v = self.df["pixel_size"].dropna() if "pixel_size" in self.df else pd.Series([], dtype=float)
        return float(v.iloc[0]) if len(v) else None

    @property
    def box(self) -> int | None:
        if "rlnImageSize" in self.df:
            return int(self.df["rlnImageSize"].iloc[0])
        return None

    def ctf_params(self):
        """Per-particle :class:`cryogui.core.ctf.CTFParams` (first optics group's voltage, Cs, Q0)."""
        from cryogui.core.ctf import CTFParams

        self.require("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", what="the CTF")
        df = self.df
        first = df.iloc[0]
        return CTFParams(
            defocus_u=df["rlnDefocusU"].to_numpy(np.float64),
            defocus_v=df["rlnDefocusV"].to_numpy(np.float64),
            defocus_angle=df["rlnDefocusAngle"].to_numpy(np.float64),
            voltage=float(first.get("rlnVoltage", 300.0)),
            cs=float(first.get("rlnSphericalAberration", 2.7)),
            amplitude_contrast=float(first.get("rlnAmplitudeContrast", 0.1)),
            bfactor=0.0,
            phase_shift=float(first.get("rlnPhaseShift", 0.0)),
        )

    def image_refs(self) -> list[tuple[int, Path]]:
        """(0-based index in stack, stack path) per particle from ``rlnImageName`` (``12@stack.mrcs``)."""
        self.require("rlnImageName", what="reading the particle images")
        base = Path(self.source).parent if self.source else Path(".")
        refs = []
        for name in self.df["rlnImageName"].astype(str):
            m = re.match(r"^\s*(\d+)@(.+?)\s*$", name)
            if m:
                idx, stack = int(m.group(1)) - 1, m.group(2)
            else:
                idx, stack = 0, name.strip()
            p = Path(stack)
            if not p.is_absolute():
                p = base / p if (base / p).exists() or not p.exists() else p
            refs.append((idx, p))
        return refs


def _pixel_size(df: pd.DataFrame) -> pd.Series:
    for col in ("rlnImagePixelSize", "rlnPixelSize", "rlnMicrographPixelSize"):
        if col in df:
            return df[col].astype(float)
    if "rlnDetectorPixelSize" in df and "rlnMagnification" in df:
        return df["rlnDetectorPixelSize"].astype(float) * 1e4 / df["rlnMagnification"].astype(float)
    return pd.Series(np.nan, index=df.index)


def read_particles(path: str | Path) -> ParticleSet:
    """A particle (or coordinate) STAR file as a :class:`ParticleSet`, RELION 3.0 or 3.1+."""
    path = Path(path)
    blocks = read_star(path)
    optics = blocks.get("optics")
    name, df = _pick_block(blocks, ("particles", "images", ""))
    df = df.copy()
    if len(df) == 0:
        raise FormatError(path, f"block data_{name} has no rows")
    if optics is not None and "rlnOpticsGroup" in df and "rlnOpticsGroup" in optics:
        extra = [c for c in optics.columns if c not in df.columns or c == "rlnOpticsGroup"]
        df = df.merge(optics[extra], on="rlnOpticsGroup", how="left")
    df["pixel_size"] = _pixel_size(df)
    for axis in ("X", "Y"):
        col_a, col_px = f"rlnOrigin{axis}Angst", f"rlnOrigin{axis}"
        if col_a in df:
            df[f"origin_{axis.lower()}_A"] = df[col_a].astype(float)
        elif col_px in df:
            df[f"origin_{axis.lower()}_A"] = df[col_px].astype(float) * df["pixel_size"].fillna(1.0)
        else:
            df[f"origin_{axis.lower()}_A"] = 0.0
    numeric = [c for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnDefocusU", "rlnDefocusV",
                           "rlnDefocusAngle", "rlnCoordinateX", "rlnCoordinateY") if c in df]
    for c in numeric:
        vals = pd.to_numeric(df[c], errors="coerce")
        if vals.isna().any():
            bad = int(vals.isna().sum())
            raise FormatError(path, f"column {c} has {bad} non-numeric or NaN value(s)")
        df[c] = vals
    return ParticleSet(df=df, source=str(path), optics=optics, block=name)


def particles_to_blocks(df: pd.DataFrame, apix: float, box: int, voltage: float = 300.0, cs: float = 2.7,
                        amplitude_contrast: float = 0.1) -> dict[str, pd.DataFrame]:
    """RELION 3.1 blocks (one optics group) for a particle table with rln* columns plus optional normalised ones."""
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnAmplitudeContrast": [amplitude_contrast],
        "rlnSphericalAberration": [cs], "rlnVoltage": [voltage], "rlnImagePixelSize": [apix], "rlnImageSize": [box],
        "rlnImageDimensionality": [2]})
    out = df.copy()
    if "origin_x_A" in out:
        out["rlnOriginXAngst"] = out.pop("origin_x_A")
        out["rlnOriginYAngst"] = out.pop("origin_y_A")
    drop = [c for c in out.columns if not (c.startswith("rln") or c.startswith("cryogui"))]
    drop += [c for c in OPTICS_COLUMNS if c in out and c != "rlnOpticsGroup"]
    out = out.drop(columns=drop + [c for c in ("rlnOriginX", "rlnOriginY") if c in out])
    out["rlnOpticsGroup"] = 1
    return {"optics": optics, "particles": out}


def write_particles(path: str | Path, pset: ParticleSet, df: pd.DataFrame | None = None) -> Path:
    """Write a (possibly modified or subset) particle table as RELION 3.1, keeping the set's optics values."""
    df = pset.df if df is None else df
    first = df.iloc[0] if len(df) else pset.df.iloc[0]
    blocks = particles_to_blocks(df, apix=float(pset.apix or 1.0), box=int(pset.box or 0),
                                 voltage=float(first.get("rlnVoltage", 300.0)),
                                 cs=float(first.get("rlnSphericalAberration", 2.7)),
                                 amplitude_contrast=float(first.get("rlnAmplitudeContrast", 0.1)))
    if pset.optics is not None and len(pset.optics):
        blocks["optics"] = pset.optics
        blocks["particles"]["rlnOpticsGroup"] = df["rlnOpticsGroup"].to_numpy() if "rlnOpticsGroup" in df else 1
    return write_star(path, blocks)


def load_images(pset: ParticleSet, indices=None) -> np.ndarray:
    """Particle images ``(n, b, b)`` float32 for the rows ``indices`` (all by default), read through memory maps.

    Raises :class:`FormatError` when a stack is missing, an index runs past its end, or the image size disagrees
    with the STAR file.
    """
    from cryogui.io.mrc import read_mrc

    refs = pset.image_refs()
    if indices is None:
        indices = range(len(refs))
    stacks: dict[Path, np.ndarray] = {}
    out = []
    for i in indices:
        idx, stack = refs[int(i)]
        if stack not in stacks:
            if not stack.exists():
                raise FormatError(pset.source or "particles", f"image stack {stack} does not exist")
            vol = read_mrc(stack, mmap=True)
            arr = vol.data if vol.data.ndim == 3 else vol.data[None]
            stacks[stack] = arr
            box = pset.box
            if box and arr.shape[-1] != box:
                raise FormatError(stack, f"images are {arr.shape[-1]} px but the STAR file says {box} px")
            # a header pixel size of 0 or exactly 1.0 is the common 'unset' default (RELION trusts the STAR file)
            if vol.apix and vol.apix != 1.0 and pset.apix and abs(vol.apix - pset.apix) > 0.01 * pset.apix:
                raise FormatError(stack, f"pixel size {vol.apix:.3f} A disagrees with the STAR file's "
                                         f"{pset.apix:.3f} A")
        arr = stacks[stack]
        if idx >= arr.shape[0]:
            raise FormatError(pset.source or "particles",
                              f"image {idx + 1}@{stack.name} is past the end of the stack ({arr.shape[0]} images)")
        out.append(np.asarray(arr[idx], dtype=np.float32))
    if not out:
        raise FormatError(pset.source or "particles", "no particles selected")
    return np.stack(out)


def write_particle_stack(star_path, stack: np.ndarray, table: pd.DataFrame, apix: float):
    """Write ``stack`` as ``<star>.mrcs`` beside a RELION 3.1 STAR file that references it (both atomic)."""
    from cryogui.io.mrc import write_mrc

    star_path = Path(star_path)
    stack_path = star_path.with_suffix(".mrcs")
    write_mrc(stack_path, stack, apix, stack=True)
    df = table.copy()
    df.insert(0, "rlnImageName", [f"{i + 1:06d}@{stack_path.name}" for i in range(len(df))])
    first = df.iloc[0]
    blocks = particles_to_blocks(df.drop(columns=[c for c in ("rlnVoltage", "rlnSphericalAberration",
                                                              "rlnAmplitudeContrast") if c in df]),
                                 apix=apix, box=stack.shape[-1], voltage=float(first.get("rlnVoltage", 300.0)),
                                 cs=float(first.get("rlnSphericalAberration", 2.7)),
                                 amplitude_contrast=float(first.get("rlnAmplitudeContrast", 0.1)))
    write_star(star_path, blocks)
    return star_path, stack_path
