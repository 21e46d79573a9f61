"""MRC / MRCS maps, stacks and micrographs.

A :class:`Volume` carries its pixel size and origin with it, always.  Arrays are indexed (z, y, x) for maps and
stacks, (y, x) for micrographs: x is the column, as in the file.  Large files are memory-mapped on request.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mrcfile
import numpy as np

from cryogui.core.volume import Volume
from cryogui.errors import FormatError
from cryogui.io.atomic import atomic_path

MRC_SUFFIXES = (".mrc", ".mrcs", ".map", ".rec", ".st", ".ali")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise FormatError(path, "no such file")
    if path.is_dir():
        raise FormatError(path, "is a folder, not an MRC file")
    if path.stat().st_size == 0:
        raise FormatError(path, "the file is empty")
    if path.stat().st_size < 1024:
        raise FormatError(path, f"only {path.stat().st_size} bytes: too short for an MRC header (1024 bytes)")


def read_mrc(path: str | Path, mmap: bool = False, allow_nan: bool = False) -> Volume:
    """Read an MRC/MRCS file.  ``mmap=True`` maps the data instead of reading it (large stacks and micrographs).

    Raises :class:`FormatError` for a missing, empty, truncated or corrupt file, an unsupported mode, or
    (unless ``allow_nan``) NaN or infinite values.
    """
    path = Path(path)
    read_header(path)  # checks existence, size, mode and truncation with a clear message
    opener = mrcfile.mmap if mmap else mrcfile.open
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mrc = opener(str(path), mode="r", permissive=True)
    except ValueError as exc:
        raise FormatError(path, f"not a valid MRC file ({exc})") from None
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc})") from None
    try:
        data = mrc.data
        if data is None:
            raise FormatError(path, "the header is valid but the file holds no data")
        h = mrc.header
        vs = mrc.voxel_size
        voxel = (float(vs.x), float(vs.y), float(vs.z))
        apix = voxel[0] if voxel[0] > 0 else None
        origin = (float(h.origin.x), float(h.origin.y), float(h.origin.z))
        if origin == (0.0, 0.0, 0.0) and apix:
            origin = (float(h.nxstart) * voxel[0], float(h.nystart) * voxel[1], float(h.nzstart) * voxel[2])
        is_stack = bool(mrc.is_image_stack()) or (path.suffix.lower() == ".mrcs" and data.ndim == 3)
        if data.ndim == 3 and path.suffix.lower() == ".mrcs" and data.shape[0] == 1:
            is_stack = True
        if not mmap:
            data = np.asarray(data)
            mrc.close()
        if data.dtype.kind == "c":
            raise FormatError(path, f"complex data (mode {int(h.mode)}) is not an image")
        if not allow_nan and data.dtype.kind == "f":
            sample = data if data.size <= 16_000_000 else data.reshape(-1)[:: max(1, data.size // 4_000_000)]
            if not np.all(np.isfinite(sample)):
                raise FormatError(path, "contains NaN or infinite values")
        if data.size == 0:
            raise FormatError(path, "holds an empty array")
        return Volume(data=data, apix=apix, origin=origin, voxel_size=voxel if apix else None, is_stack=is_stack,
                      path=str(path), extra={"mode": int(h.mode), "nstart": (int(h.nxstart), int(h.nystart),
                                                                              int(h.nzstart))})
    except FormatError:
        mrc.close()
        raise


def read_header(path: str | Path) -> dict:
    """Shape, mode, voxel size and origin from the header only (no data read), for ``cryogui info``."""
    path = Path(path)
    _check_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(str(path), mode="r", header_only=True, permissive=True) as mrc:
                h = mrc.header
                nx, ny, nz = int(h.nx), int(h.ny), int(h.nz)
                vs = mrc.voxel_size
                mode = int(h.mode)
                ispg = int(h.ispg)
                origin = (float(h.origin.x), float(h.origin.y), float(h.origin.z))
                nstart = (int(h.nxstart), int(h.nystart), int(h.nzstart))
                ext = int(h.nsymbt)
    except ValueError as exc:
        raise FormatError(path, f"not a valid MRC file ({exc})") from None
    if min(nx, ny, nz) < 1:
        raise FormatError(path, f"the header says the data is {nx} x {ny} x {nz}: not an MRC file, or a corrupt "
                                "header")
    bytes_per = {0: 1, 1: 2, 2: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}.get(mode)
    if bytes_per is None:
        raise FormatError(path, f"unsupported MRC mode {mode}")
    expected = int(nx * ny * nz * bytes_per)
    available = path.stat().st_size - 1024 - max(ext, 0)
    if available < expected:
        raise FormatError(path, f"truncated: the header promises {expected} data bytes, the file has fewer")
    return {"nx": nx, "ny": ny, "nz": nz, "mode": mode, "ispg": ispg,
            "voxel_size": (float(vs.x), float(vs.y), float(vs.z)), "origin": origin, "nstart": nstart}


def write_mrc(path: str | Path, data: np.ndarray, apix: float | None, origin=(0.0, 0.0, 0.0),
              stack: bool | None = None) -> Path:
    """Write float32 data atomically with its pixel size and origin (Angstrom).  ``stack`` marks an image stack
    (defaults to True for ``.mrcs``)."""
    path = Path(path)
    arr = np.ascontiguousarray(data, dtype=np.float32)
    if arr.size == 0:
        raise ValueError(f"{path}: refusing to write an empty array")
    if stack is None:
        stack = path.suffix.lower() == ".mrcs"
    with atomic_path(path) as tmp:
        with mrcfile.new(str(tmp), overwrite=True) as mrc:
            mrc.set_data(arr)
            if stack and arr.ndim == 3:
                mrc.set_image_stack()
            if apix:
                mrc.voxel_size = float(apix)
            mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = (float(o) for o in origin)
            mrc.update_header_stats()
    return path


def write_volume(path: str | Path, vol: Volume) -> Path:
    return write_mrc(path, vol.data, vol.apix, vol.origin, stack=vol.is_stack)
