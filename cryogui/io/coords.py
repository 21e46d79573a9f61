"""Particle picks in the formats users exchange, converted at this boundary to one table.

Every reader returns a :class:`pandas.DataFrame` with columns

* ``micrograph`` (str): the micrograph the pick belongs to, as written in the file, or the file's stem;
* ``x``, ``y`` (float): the particle centre in pixels, x = column, y = row of the MRC array (RELION's convention);
* ``score`` (float): confidence / figure of merit, NaN when the format has none;
* ``diameter`` (float): estimated particle diameter in pixels, NaN when none.

Conversions (verified on real files in ../shared/data):

* RELION ``.star``: ``rlnCoordinateX/Y`` are centres; ``rlnAutopickFigureOfMerit`` is the score.
* crYOLO ``.cbox``: ``_CoordinateX/Y`` are the lower-left corner of a ``_Width`` x ``_Height`` box: centre =
  corner + size / 2 per row; ``_EstWidth`` is the estimated diameter, ``_Confidence`` the score.
* EMAN1 ``.box``: ``x y w h`` with (x, y) the lower-left corner: centre = corner + (w/2, h/2).
* Topaz ``.txt``: ``image_name x_coord y_coord score`` (tab separated), centres.
* ``.csv`` / ``.tsv``: ``micrograph,x,y,score,diameter`` (centres); common aliases are accepted on read.
* cryoSPARC ``.cs`` (read only): ``location/center_x_frac``, ``location/center_y_frac`` are fractions of the
  micrograph width/height with the origin at the bottom-left, ``location/micrograph_shape`` is ``[ny, nx]``:
  x = fx * nx and y = (1 - fy) * ny (y flipped).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from cryogui.core.picking.names import micrograph_key
from cryogui.errors import FormatError, InputError
from cryogui.io.atomic import atomic_path

COLUMNS = ["micrograph", "x", "y", "score", "diameter"]
FORMATS = {".star": "star", ".cbox": "cbox", ".box": "box", ".txt": "topaz", ".csv": "csv", ".tsv": "csv",
           ".cs": "cs"}
WRITABLE = ("star", "cbox", "box", "topaz", "csv")
PER_MICROGRAPH = ("cbox", "box")
_DIAMETER_COLUMNS = ("rlnDiameterPx", "rlnDiameter", "rlnEstimatedDiameter", "rlnParticleDiameter")


def empty_picks() -> pd.DataFrame:
    return pd.DataFrame({"micrograph": pd.Series([], dtype=object), "x": pd.Series([], dtype=float),
                         "y": pd.Series([], dtype=float), "score": pd.Series([], dtype=float),
                         "diameter": pd.Series([], dtype=float)})


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        f = fmt.lower().lstrip(".")
        f = {"txt": "topaz", "tsv": "csv", "relion": "star", "eman": "box", "cryolo": "cbox",
             "cryosparc": "cs"}.get(f, f)
        if f not in set(FORMATS.values()):
            raise InputError(f"unknown picks format '{fmt}' (star, cbox, box, topaz, csv, cs)")
        return f
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise FormatError(path, f"unknown picks format '{suffix or Path(path).name}' "
                                "(.star, .cbox, .box, .txt (Topaz), .csv, .tsv, .cs)")
    return FORMATS[suffix]


def _finish(path, mic, x, y, score=None, diameter=None) -> pd.DataFrame:
    n = len(x)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise FormatError(path, "some coordinates are not finite numbers")
    score = np.full(n, np.nan) if score is None else np.asarray(score, dtype=np.float64)
    diameter = np.full(n, np.nan) if diameter is None else np.asarray(diameter, dtype=np.float64)
    if isinstance(mic, str):
        mic = [mic] * n
    return pd.DataFrame({"micrograph": pd.Series(list(mic), dtype=object).astype(str), "x": x, "y": y,
                         "score": score, "diameter": diameter})


def _num(path, values, what) -> np.ndarray:
    out = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    return out


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc})") from None
    if b"\x00" in raw[:4096]:
        raise FormatError(path, "is a binary file, not a text picks file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ---- readers ----------------------------------------------------------------------------------------------------
def _read_star(path: Path) -> pd.DataFrame:
    from cryogui.io.star import read_star

    blocks = read_star(path)
    df = None
    for name in ("particles", "coordinates", "", *blocks.keys()):
        b = blocks.get(name)
        if b is not None and "rlnCoordinateX" in b.columns and "rlnCoordinateY" in b.columns:
            df = b
            break
    if df is None:
        raise FormatError(path, "no block with rlnCoordinateX and rlnCoordinateY")
    x = _num(path, df["rlnCoordinateX"], "rlnCoordinateX")
    y = _num(path, df["rlnCoordinateY"], "rlnCoordinateY")
    if np.isnan(x).any() or np.isnan(y).any():
        raise FormatError(path, "rlnCoordinateX/Y hold non-numeric values")
    mic = (df["rlnMicrographName"].astype(str).tolist() if "rlnMicrographName" in df
           else micrograph_key(path))
    score = _num(path, df["rlnAutopickFigureOfMerit"], "") if "rlnAutopickFigureOfMerit" in df else None
    diameter = None
    for c in _DIAMETER_COLUMNS:
        if c in df:
            diameter = _num(path, df[c], c)
            break
    return _finish(path, mic, x, y, score, diameter)


def _star_loops(text: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    """A small STAR loop reader for crYOLO's files (which hold ``<NA>`` cells): {block: (labels, rows)}."""
    blocks: dict[str, tuple[list[str], list[list[str]]]] = {}
    block = None
    labels: list[str] = []
    rows: list[list[str]] = []
    in_loop = False
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("data_"):
            if block is not None and labels:
                blocks[block] = (labels, rows)
            block, labels, rows, in_loop = s[5:], [], [], False
            continue
        if s.startswith("loop_"):
            in_loop, labels, rows = True, [], []
            continue
        if s.startswith("_"):
            if in_loop and not rows:
                labels.append(s.split()[0][1:])
            continue
        if in_loop and labels:
            rows.append(s.split())
    if block is not None and labels:
        blocks[block] = (labels, rows)
    return blocks


def _read_cbox(path: Path, default_box) -> pd.DataFrame:
    text = _text(path)
    loops = _star_loops(text)
    if "cryolo" in loops:
        labels, rows = loops["cryolo"]
    else:
        cands = [v for v in loops.values() if "CoordinateX" in v[0]]
        if not cands:
            raise FormatError(path, "no data_cryolo loop with _CoordinateX/_CoordinateY: not a crYOLO .cbox")
        labels, rows = cands[0]
    if "CoordinateX" not in labels or "CoordinateY" not in labels:
        raise FormatError(path, "the cbox loop has no _CoordinateX/_CoordinateY")
    width = len(labels)
    bad = [i for i, r in enumerate(rows) if len(r) != width]
    if bad:
        raise FormatError(path, f"row {bad[0] + 1} of the cbox loop has {len(rows[bad[0]])} values, "
                                f"expected {width}")
    table = pd.DataFrame(rows, columns=labels) if rows else pd.DataFrame(columns=labels)

    def col(name):
        if name not in table:
            return np.full(len(table), np.nan)
        return pd.to_numeric(table[name].replace("<NA>", np.nan), errors="coerce").to_numpy(np.float64)

    cx, cy = col("CoordinateX"), col("CoordinateY")
    if np.isnan(cx).any() or np.isnan(cy).any():
        raise FormatError(path, "_CoordinateX/_CoordinateY hold non-numeric values")
    w, h = col("Width"), col("Height")
    h = np.where(np.isnan(h), w, h)
    if default_box is not None:
        w = np.where(np.isnan(w) | (w <= 0), float(default_box), w)
        h = np.where(np.isnan(h) | (h <= 0), float(default_box), h)
    if len(w) and (np.isnan(w).any() or np.isnan(h).any()):
        raise FormatError(path, "some rows have no _Width/_Height: give a default box size to convert corners "
                                "to centres")
    est = col("EstWidth")
    est_h = col("EstHeight")
    diameter = np.where(np.isnan(est_h), est, np.where(np.isnan(est), est_h, 0.5 * (est + est_h)))
    return _finish(path, micrograph_key(path), cx + w / 2.0, cy + h / 2.0, col("Confidence"), diameter)


def _split_rows(text: str) -> list[list[str]]:
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _read_box(path: Path, default_box) -> pd.DataFrame:
    rows = _split_rows(_text(path))
    xs, ys, ws, hs = [], [], [], []
    for i, r in enumerate(rows):
        try:
            vals = [float(v) for v in r[:4]]
        except ValueError:
            raise FormatError(path, f"line {i + 1} is not numeric (EMAN .box: x y width height)") from None
        if len(vals) < 2:
            raise FormatError(path, f"line {i + 1} has fewer than 2 values (EMAN .box: x y width height)")
        if len(vals) < 4:
            if default_box is None:
                raise FormatError(path, f"line {i + 1} has no box size: give a default box size")
            vals = vals[:2] + [float(default_box), float(default_box)]
        xs.append(vals[0]), ys.append(vals[1]), ws.append(vals[2]), hs.append(vals[3])
    x, y, w, h = (np.asarray(v, dtype=np.float64) for v in (xs, ys, ws, hs))
    if not (np.isfinite(w).all() and np.isfinite(h).all()):
        raise FormatError(path, "box sizes must be finite")
    df = _finish(path, micrograph_key(path), x + w / 2.0, y + h / 2.0)
    if len(w) and np.all(w == w[0]):
        df.attrs["box"] = float(w[0])
    return df


def _read_table(path: Path, sep: str | None) -> pd.DataFrame:
    text = _text(path)
    if not text.strip():
        return pd.DataFrame()
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, engine="python", comment="#", skipinitialspace=True)
    except Exception as exc:  # pandas raises several kinds on malformed text
        raise FormatError(path, f"cannot be parsed as a table ({type(exc).__name__}: {exc})") from None


def _pick_col(df, names):
    lower = {str(c).strip().lower(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _read_generic_table(path: Path, df: pd.DataFrame, what: str) -> pd.DataFrame:
    if df.empty and not len(df.columns):
        return empty_picks()
    cx = _pick_col(df, ["x", "x_coord", "rlnCoordinateX", "center_x", "xcoord"])
    cy = _pick_col(df, ["y", "y_coord", "rlnCoordinateY", "center_y", "ycoord"])
    if cx is None or cy is None:
        raise FormatError(path, f"no x/y columns ({what} needs columns {'x_coord, y_coord' if what == 'Topaz' else 'x, y'})")
    x, y = _num(path, df[cx], cx), _num(path, df[cy], cy)
    if np.isnan(x).any() or np.isnan(y).any():
        raise FormatError(path, f"columns {cx}/{cy} hold non-numeric values")
    cm = _pick_col(df, ["micrograph", "image_name", "micrograph_name", "rlnMicrographName", "image"])
    mic = df[cm].astype(str).tolist() if cm is not None else micrograph_key(path)
    cs = _pick_col(df, ["score", "confidence", "rlnAutopickFigureOfMerit", "fom"])
    cd = _pick_col(df, ["diameter", "diameter_px", "size", "est_width"])
    return _finish(path, mic, x, y, _num(path, df[cs], cs) if cs is not None else None,
                   _num(path, df[cd], cd) if cd is not None else None)


def _read_topaz(path: Path) -> pd.DataFrame:
    return _read_generic_table(path, _read_table(path, r"\s+"), "Topaz")


def _read_csv(path: Path) -> pd.DataFrame:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    return _read_generic_table(path, _read_table(path, sep), "CSV")


def _read_cs(path: Path, micrograph_shape) -> pd.DataFrame:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FormatError(path, f"is not a cryoSPARC .cs (numpy record) file ({type(exc).__name__})") from None
    names = arr.dtype.names or ()
    if "location/center_x_frac" not in names or "location/center_y_frac" not in names:
        raise FormatError(path, "has no pick locations (location/center_x_frac, location/center_y_frac): "
                                "export the picks job's particles, not an alignment result")
    fx = np.asarray(arr["location/center_x_frac"], dtype=np.float64)
    fy = np.asarray(arr["location/center_y_frac"], dtype=np.float64)
    if "location/micrograph_shape" in names:
        shp = np.asarray(arr["location/micrograph_shape"], dtype=np.float64).reshape(len(arr), -1)
        ny, nx = shp[:, 0], shp[:, 1]
        if micrograph_shape is not None:
            bad = (ny <= 0) | (nx <= 0)
            ny = np.where(bad, micrograph_shape[0], ny)
            nx = np.where(bad, micrograph_shape[1], nx)
    elif micrograph_shape is not None:
        ny = np.full(len(arr), float(micrograph_shape[0]))
        nx = np.full(len(arr), float(micrograph_shape[1]))
    else:
        raise FormatError(path, "has no location/micrograph_shape: give the micrograph shape")
    if "location/micrograph_path" in names:
        mic = [m.decode() if isinstance(m, bytes) else str(m) for m in arr["location/micrograph_path"]]
    else:
        mic = micrograph_key(path)
    score = None
    for c in ("pick_stats/ncc_score", "pick_stats/power", "blob/score"):
        if c in names:
            score = np.asarray(arr[c], dtype=np.float64)
            break
    x = fx * nx
    y = (1.0 - fy) * ny          # origin bottom-left in cryoSPARC -> row index from the top of the array
    return _finish(path, mic, x, y, score)


def read_picks(path: str | Path, micrograph_shape=None, default_box=None, fmt: str | None = None) -> pd.DataFrame:
    """Read picks from any supported format (by extension, or ``fmt``) into the common table.

    micrograph_shape: ``(ny, nx)``, used by cryoSPARC files that lack ``location/micrograph_shape``.
    default_box:      box size (px) for .box/.cbox rows that carry none.
    Raises :class:`FormatError` naming the file and the problem.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    if not path.exists():
        raise FormatError(path, "no such file")
    if path.is_dir():
        raise FormatError(path, "is a folder, not a picks file")
    if kind == "star":
        df = _read_star(path)
    elif kind == "cbox":
        df = _read_cbox(path, default_box)
    elif kind == "box":
        df = _read_box(path, default_box)
    elif kind == "topaz":
        df = _read_topaz(path)
    elif kind == "csv":
        df = _read_csv(path)
    else:
        df = _read_cs(path, micrograph_shape)
    df.attrs["source"] = str(path)
    df.attrs["format"] = kind
    return df


def count_picks(path: str | Path) -> dict[str, int]:
    """``{micrograph: number of picks}`` (for ``cryogui info``)."""
    df = read_picks(path)
    return {str(k): int(v) for k, v in df.groupby("micrograph", sort=True).size().items()}


# ---- writers ----------------------------------------------------------------------------------------------------
def _check_table(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("x", "y") if c not in df]
    if missing:
        raise InputError(f"picks table lacks column(s) {', '.join(missing)}")
    out = df.copy()
    if "micrograph" not in out:
        out["micrograph"] = ""
    for c in ("score", "diameter"):
        if c not in out:
            out[c] = np.nan
    return out[COLUMNS]


def _box_sizes(df: pd.DataFrame, box, path) -> np.ndarray:
    if box is not None:
        return np.full(len(df), float(box))
    d = df["diameter"].to_numpy(np.float64)
    if len(d) and np.isfinite(d).all():
        return np.round(d * 1.5)
    if "box" in df.attrs:
        return np.full(len(df), float(df.attrs["box"]))
    if len(df) == 0:
        return np.zeros(0)
    raise InputError(f"{path}: this format stores box corners: give a box size (px)")


def _fmt(v: float) -> str:
    return "<NA>" if not np.isfinite(v) else f"{v:.6g}" if abs(v) < 1e5 else f"{v:.2f}"


def write_picks(path: str | Path, df: pd.DataFrame, box: float | None = None, fmt: str | None = None) -> Path:
    """Write picks atomically in the format of ``path``'s extension (or ``fmt``).

    .box and .cbox hold one micrograph: a table with several micrographs must go through
    :func:`write_picks_per_micrograph`.  ``box`` is the box size (px) for .box/.cbox (default: 1.5 x each pick's
    diameter).  cryoSPARC .cs is read-only.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind == "cs":
        raise InputError(f"{path}: cryoSPARC .cs picks are read-only; export .star, .cbox, .box, .txt or .csv")
    t = _check_table(df)
    if kind in PER_MICROGRAPH and t["micrograph"].nunique() > 1:
        raise InputError(f"{path}: a .{kind} file holds one micrograph but the picks span "
                         f"{t['micrograph'].nunique()}; export one file per micrograph")
    with atomic_path(path) as tmp:
        if kind == "star":
            out = pd.DataFrame({"rlnMicrographName": t["micrograph"].astype(str),
                                "rlnCoordinateX": t["x"].astype(float), "rlnCoordinateY": t["y"].astype(float)})
            if t["score"].notna().any():
                out["rlnAutopickFigureOfMerit"] = t["score"].fillna(0.0).astype(float)
            if t["diameter"].notna().any():
                out["rlnDiameterPx"] = t["diameter"].astype(float)
            import starfile

            starfile.write({"particles": out}, tmp, overwrite=True)
        elif kind == "box":
            sizes = _box_sizes(t, box, path)
            lines = [f"{x - s / 2:.2f}\t{y - s / 2:.2f}\t{s:.0f}\t{s:.0f}"
                     for x, y, s in zip(t["x"], t["y"], sizes)]
            tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
        elif kind == "cbox":
            sizes = _box_sizes(t, box, path)
            head = ["", "data_global", "", "_cbox_format_version 1.0", "", "data_cryolo", "", "loop_"]
            labels = ["CoordinateX", "CoordinateY", "CoordinateZ", "Width", "Height", "Depth", "EstWidth",
                      "EstHeight", "Confidence", "NumBoxes", "Angle"]
            head += [f"_{lab} #{i + 1}" for i, lab in enumerate(labels)]
            body = []
            for x, y, s, d, c in zip(t["x"], t["y"], sizes, t["diameter"], t["score"]):
                body.append(" ".join([_fmt(x - s / 2), _fmt(y - s / 2), "<NA>", _fmt(s), _fmt(s), "<NA>", _fmt(d),
                                      _fmt(d), _fmt(c), "<NA>", "<NA>"]))
            tmp.write_text("\n".join(head + body) + "\n")
        elif kind == "topaz":
            lines = ["image_name\tx_coord\ty_coord\tscore"]
            for m, x, y, c in zip(t["micrograph"], t["x"], t["y"], t["score"]):
                lines.append(f"{micrograph_key(m) or 'micrograph'}\t{x:.2f}\t{y:.2f}\t"
                             f"{c if np.isfinite(c) else 0.0:.6g}")
            tmp.write_text("\n".join(lines) + "\n")
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            t.to_csv(tmp, index=False, sep=sep, float_format="%.6g")
    return path


def write_picks_per_micrograph(out_dir: str | Path, df: pd.DataFrame, fmt: str, box: float | None = None,
                               suffix: str = "") -> list[Path]:
    """One file per micrograph, ``<out_dir>/<micrograph key><suffix>.<ext>``; returns the paths written."""
    kind = detect_format("x", fmt)
    ext = {"star": ".star", "cbox": ".cbox", "box": ".box", "topaz": ".txt", "csv": ".csv"}.get(kind)
    if ext is None:
        raise InputError(f"cannot write picks as '{fmt}'")
    out_dir = Path(out_dir)
    t = _check_table(df)
    paths = []
    for mic, sub in t.groupby("micrograph", sort=True):
        p = out_dir / f"{micrograph_key(mic) or 'micrograph'}{suffix}{ext}"
        sub = sub.copy()
        sub.attrs = dict(df.attrs)
        write_picks(p, sub, box=box, fmt=kind)
        paths.append(p)
    return paths


def concat_picks(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    tables = [t[COLUMNS] for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else empty_picks()

