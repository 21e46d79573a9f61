"""Point clouds on disk: ChimeraX markers (.cmm), PDB pseudo-atoms (.pdb) and CSV (.csv).

Coordinates are Angstrom in the map's frame (voxel index i sits at origin + i x voxel size, the origin being the
header origin if set, otherwise nstart x voxel size), so that the markers overlap the map when both are opened in
ChimeraX.  2D clouds get z = 0.  Weights (CVT cell masses, summing to 1) travel exactly in .cmm (a ``weight``
attribute, which ChimeraX ignores) and .csv (column ``weight``); the PDB B-factor column holds n x weight (the mass
relative to the mean, 2 decimals).  All writes are atomic.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from cryogui.errors import FormatError, InputError
from cryogui.io.atomic import write_text_atomic

CLOUD_SUFFIXES = (".cmm", ".pdb", ".csv")


def to_xyz(points: np.ndarray) -> np.ndarray:
    """(n, 2) or (n, 3) -> (n, 3) float64 (z = 0 for 2D)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise InputError(f"a point cloud must be (n, 2) or (n, 3), got shape {pts.shape}")
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    if not np.all(np.isfinite(pts)):
        raise InputError("the point cloud contains NaN or infinite coordinates")
    return pts


def default_radius(points: np.ndarray) -> float:
    """Marker radius: 0.3 x the median nearest-neighbour distance (1 A for a single point)."""
    pts = to_xyz(points)
    if len(pts) < 2:
        return 1.0
    d, _ = cKDTree(pts).query(pts, k=2)
    r = 0.3 * float(np.median(d[:, 1]))
    return r if r > 0 else 1.0


def _check_weights(weights, n: int):
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != n:
        raise InputError(f"{w.size} weights for {n} points")
    return w


def write_cmm(path: str | Path, points: np.ndarray, weights: np.ndarray | None = None, radius: float | None = None,
              name: str = "point cloud", color=(1.0, 0.85, 0.1)) -> Path:
    pts = to_xyz(points)
    w = _check_weights(weights, len(pts))
    r = default_radius(pts) if radius is None else float(radius)
    out = io.StringIO()
    out.write(f'<marker_set name="{_xml_escape(name)}">\n')
    for i, (x, y, z) in enumerate(pts):
        extra = f' weight="{w[i]:.9g}"' if w is not None else ""
        out.write(f'<marker id="{i + 1}" x="{x:.4f}" y="{y:.4f}" z="{z:.4f}" r="{color[0]:g}" g="{color[1]:g}" '
                  f'b="{color[2]:g}" radius="{r:.4g}"{extra}/>\n')
    out.write("</marker_set>\n")
    write_text_atomic(path, out.getvalue())
    return Path(path)


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def read_cmm(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Markers of every marker set in a .cmm file -> ``(points (n, 3), weights or None)``."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FormatError(path, f"not a readable ChimeraX marker file ({exc})") from None
    pts, ws = [], []
    for m in root.iter("marker"):
        try:
            pts.append([float(m.get("x")), float(m.get("y")), float(m.get("z"))])
        except (TypeError, ValueError):
            raise FormatError(path, f"marker {m.get('id')} has no valid x, y, z") from None
        ws.append(m.get("weight"))
    if not pts:
        raise FormatError(path, "no markers")
    weights = None if any(w is None for w in ws) else np.array([float(w) for w in ws])
    return np.array(pts, dtype=np.float64), weights


def write_pdb(path: str | Path, points: np.ndarray, weights: np.ndarray | None = None) -> Path:
    """Pseudo-atoms (HETATM, element C, residue PSE), one residue per point; B-factor = n x weight."""
    pts = to_xyz(points)
    w = _check_weights(weights, len(pts))
    if np.any(pts >= 9999.9995) or np.any(pts <= -999.9995):
        raise InputError("coordinates outside the PDB range (-999.999 .. 9999.999 A): export .cmm or .csv instead")
    bfac = w * len(pts) if w is not None else np.zeros(len(pts))
    lines = ["REMARK   1 cryogui point cloud: pseudo-atoms in the map frame (Angstrom)"]
    if w is not None:
        lines.append("REMARK   2 B-factor column = point weight x number of points (relative mass)")
    chains = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i, (x, y, z) in enumerate(pts):
        serial = (i % 99999) + 1
        resseq = (i % 9999) + 1
        chain = chains[(i // 9999) % len(chains)]
        lines.append(f"HETATM{serial:5d}  C   PSE {chain}{resseq:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                     f"{1.0:6.2f}{min(bfac[i], 999.99):6.2f}           C")
    lines.append("END")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)


def read_pdb(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """ATOM/HETATM coordinates and B-factors of a PDB file -> ``(points (n, 3), bfactors (n,))``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc})") from None
    pts, bs = [], []
    for line in text.splitlines():
        if line.startswith(("ATOM", "HETATM")):
            try:
                pts.append([float(line[30:38]), float(line[38:46]), float(line[46:54])])
                bs.append(float(line[60:66]) if len(line) >= 66 and line[60:66].strip() else 0.0)
            except ValueError:
                raise FormatError(path, f"bad coordinates in line {line!r}") from None
    if not pts:
        raise FormatError(path, "no ATOM or HETATM records")
    return np.array(pts), np.array(bs)


def write_csv(path: str | Path, points: np.ndarray, weights: np.ndarray | None = None) -> Path:
    """Columns ``x,y,z`` (Angstrom) and ``weight`` when weights are given."""
    pts = to_xyz(points)
    w = _check_weights(weights, len(pts))
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    wr.writerow(["x", "y", "z"] + (["weight"] if w is not None else []))
    for i, p in enumerate(pts):
        wr.writerow([repr(float(v)) for v in p] + ([repr(float(w[i]))] if w is not None else []))
    write_text_atomic(path, out.getvalue())
    return Path(path)


def read_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc})") from None
    if not rows or not {"x", "y", "z"} <= set(rows[0]):
        raise FormatError(path, "needs a header with columns x,y,z and at least one row")
    try:
        pts = np.array([[float(r["x"]), float(r["y"]), float(r["z"])] for r in rows])
        w = np.array([float(r["weight"]) for r in rows]) if "weight" in rows[0] else None
    except (TypeError, ValueError) as exc:
        raise FormatError(path, f"non-numeric value ({exc})") from None
    return pts, w


def write_cloud(path: str | Path, points: np.ndarray, weights: np.ndarray | None = None, **kw) -> Path:
    """Write by suffix: .cmm, .pdb or .csv."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".cmm":
        return write_cmm(path, points, weights, **kw)
    if suffix == ".pdb":
        return write_pdb(path, points, weights)
    if suffix == ".csv":
        return write_csv(path, points, weights)
    raise InputError(f"{path}: unknown point-cloud format {suffix or '(no suffix)'!r}; use .cmm, .pdb or .csv")


def read_cloud(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read by suffix; for .pdb the second value is the B-factor column."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".cmm":
        return read_cmm(path)
    if suffix == ".pdb":
        return read_pdb(path)
    if suffix == ".csv":
        return read_csv(path)
    raise InputError(f"{path}: unknown point-cloud format {suffix!r}; use .cmm, .pdb or .csv")


def write_animation(path: str | Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Frames (h, w, 3|4) uint8 -> an animated GIF, or MP4 when imageio-ffmpeg is installed (atomic)."""
    import imageio.v2 as imageio

    path = Path(path)
    suffix = path.suffix.lower()
    if not frames:
        raise InputError("no frames recorded yet: run a method first")
    if suffix not in (".gif", ".mp4"):
        raise InputError(f"{path}: animations are written as .gif or .mp4")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise InputError("MP4 needs the imageio-ffmpeg package; export a .gif instead") from None
    h = min(f.shape[0] for f in frames)
    w = min(f.shape[1] for f in frames)
    clean = [np.ascontiguousarray(f[:h, :w, :3], dtype=np.uint8) for f in frames]
    from cryogui.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        if suffix == ".gif":
            imageio.mimsave(str(tmp), clean, format="GIF", duration=1000.0 / fps, loop=0)  # ms per frame
        else:
            imageio.mimsave(str(tmp), clean, fps=fps)
    return path
