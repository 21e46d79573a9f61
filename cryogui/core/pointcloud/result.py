"""What a point-cloud job returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PointCloudResult:
    """A point cloud in the density's frame (Angstrom, ``(x, y[, z])``).

    ``weights``: the mass of each point's Voronoi cell (sums to 1) for CVT, ``None`` for TRN.
    ``energy``: the quantisation energy of the final cloud (Angstrom^2); ``history``: ``(step, energy)`` pairs.
    """

    method: str
    points: np.ndarray
    weights: np.ndarray | None
    energy: float
    iterations: int
    history: list[tuple[int, float]] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    converged: bool = False
