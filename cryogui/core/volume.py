"""A map, stack or image with its geometry (pixel size and origin travel with the data, always)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    """An image, stack or map with its geometry.

    data:        numpy array, (y, x) for an image, (n, y, x) for a stack, (z, y, x) for a map.
    apix:        pixel size in Angstrom (x); ``None`` when the header does not say (voxel size 0).
    origin:      (x, y, z) in Angstrom of voxel (0, 0, 0): the header origin if set, else nstart x voxel size.
    voxel_size:  (x, y, z) in Angstrom (differs from apix only for anisotropic voxels).
    is_stack:    True for particle stacks (``.mrcs`` or ispg 0 with nz > 1 in a stack file).
    path:        where it was read from, if anywhere.
    """

    data: np.ndarray
    apix: float | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    voxel_size: tuple[float, float, float] | None = None
    is_stack: bool = False
    path: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def kind(self) -> str:
        if self.data.ndim == 2:
            return "image"
        return "stack" if self.is_stack else "map"

    def apix_or(self, default: float) -> float:
        return float(self.apix) if self.apix else float(default)
