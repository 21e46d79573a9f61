"""What a file is, from its extension and a look inside: used by File > Open and ``cryogui info``."""

from __future__ import annotations

from pathlib import Path

from cryogui.errors import FormatError
from cryogui.io.mrc import MRC_SUFFIXES, read_header

COORD_SUFFIXES = (".box", ".cbox", ".txt", ".csv", ".tsv")


def detect_kind(path: str | Path) -> str:
    """``map`` | ``stack`` | ``micrograph`` | ``particles`` | ``coords`` | ``star`` | ``cs`` | ``model``.

    Raises :class:`FormatError` for a missing file or an extension cryogui does not read.
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in MRC_SUFFIXES:
        h = read_header(path)
        if h["nz"] == 1:
            return "micrograph"
        if suffix == ".mrcs" or h["ispg"] == 0:
            return "stack"
        return "map"
    if suffix == ".star":
        from cryogui.io.star import read_star

        blocks = read_star(path)
        cols = set().union(*(set(df.columns) for df in blocks.values()))
        if "rlnImageName" in cols:
            return "particles"
        if "rlnCoordinateX" in cols:
            return "coords"
        return "star"
    if suffix == ".cs":
        return "cs"
    if suffix in COORD_SUFFIXES:
        return "coords"
    if suffix == ".json":
        return "model"
    raise FormatError(path, f"unknown file type '{suffix or path.name}' (cryogui reads .mrc/.mrcs/.map, .star, "
                            ".box, .cbox, .txt, .csv, .cs and Gaussian-model .json)")
