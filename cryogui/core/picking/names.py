"""Micrograph names as used to match picks to micrographs (shared by io, metrics and the panel)."""

from __future__ import annotations

from pathlib import Path

COORD_SUFFIXES = ("_autopick", "_manualpick", "_picks", "_pick", "_coords", "_coordinates")
EXTENSIONS = (".mrcs", ".mrc", ".star", ".cbox", ".box", ".txt", ".csv", ".tsv", ".tif", ".tiff", ".map")


def micrograph_key(name: str | Path) -> str:
    """The file name without folders, extension and the usual coordinate-file suffixes
    (``mic_001.mrc``, ``a/b/mic_001.star``, ``mic_001_autopick.star`` -> ``mic_001``)."""
    s = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    for ext in EXTENSIONS:
        if s.lower().endswith(ext):
            s = s[: -len(ext)]
            break
    for suf in COORD_SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            s = s[: -len(suf)]
            break
    return s
