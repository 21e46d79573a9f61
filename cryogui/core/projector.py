"""Projections of a voxel map at given poses (RELION convention, see :mod:`cryogui.core.rotations`).

The projection at pose A with origin shift (sx, sy) in Angstrom is

    P(x, y) = sum_z V(A^T ((x, y, z) + (sx, sy, 0)))

with coordinates in pixels relative to the box centre (index ``box // 2``, RELION's centre).  The map is sampled
trilinearly (torch ``grid_sample``), so the object's centre appears at ``centre - shift``: RELION's origin
(rlnOriginX/YAngst) is the shift that brings the particle back to the centre.  Checked against ``relion_project``
(``tests/test_poses_relion.py``: correlation > 0.999 with origins of a few pixels).  Batches keep memory at
``batch * box^3`` samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from cryogui.core.device import get_device


def _grid(box: int, device, dtype) -> torch.Tensor:
    c = torch.arange(box, device=device, dtype=dtype) - box // 2
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    return torch.stack([x, y, z], dim=-1)  # (z, y, x, 3) in pixels


def project_batches(volume, mats, apix: float = 1.0, shifts_A=None, batch: int | None = None,
                    device=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, images)`` for consecutive batches of poses; ``images`` is ``(b, box, box)`` float32 numpy."""
    device = torch.device(device) if device is not None else get_device()
    vol = torch.as_tensor(np.array(volume, copy=True), dtype=torch.float32, device=device)
    if vol.ndim != 3 or len(set(vol.shape)) != 1:
        raise ValueError(f"projection needs a cubic map, got shape {tuple(vol.shape)}")
    box = vol.shape[0]
    mats = torch.as_tensor(np.asarray(mats, dtype=np.float32), device=device).reshape(-1, 3, 3)
    n = mats.shape[0]
    shifts = torch.zeros((n, 2), device=device) if shifts_A is None else \
        torch.as_tensor(np.asarray(shifts_A, dtype=np.float32), device=device).reshape(n, 2) / apix
    if batch is None:
        batch = max(1, int(2**24 // box**3))
    grid = _grid(box, device, torch.float32)
    vin = vol[None, None]
    half = box // 2
    for start in range(0, n, batch):
        a = mats[start:start + batch]
        b = a.shape[0]
        pts = grid[None].expand(b, -1, -1, -1, -1).clone()
        pts[..., 0] += shifts[start:start + batch, 0].view(b, 1, 1, 1)
        pts[..., 1] += shifts[start:start + batch, 1].view(b, 1, 1, 1)
        # reference coordinates: A^T r  (row vector r @ A)
        src = torch.einsum("bzyxi,bij->bzyxj", pts, a)
        # grid_sample with align_corners=True: index i <-> -1 + 2 i / (box - 1)
        norm = (src + half) * (2.0 / (box - 1)) - 1.0
        sampled = F.grid_sample(vin.expand(b, -1, -1, -1, -1), norm, mode="bilinear", padding_mode="zeros",
                                align_corners=True)
        yield start, sampled[:, 0].sum(dim=1).cpu().numpy().astype(np.float32)


def project(volume, mats, apix: float = 1.0, shifts_A=None, batch: int | None = None, device=None) -> np.ndarray:
    """All projections ``(n, box, box)`` at once (see :func:`project_batches`)."""
    parts = [imgs for _, imgs in project_batches(volume, mats, apix, shifts_A, batch, device)]
    return np.concatenate(parts, axis=0)
