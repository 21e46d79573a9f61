"""One job for the GUI: build the density (in the worker thread), measure the random-sampling reference, then run
TRN or CVT, adding ``random_energy`` to every snapshot's metrics.  Also small Qt-free display helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import numpy as np

from cryogui.core.jobs import Snapshot
from cryogui.core.pointcloud.cvt import run_cvt
from cryogui.core.pointcloud.density import density_from_array
from cryogui.core.pointcloud.energy import random_energy
from cryogui.core.pointcloud.result import PointCloudResult
from cryogui.core.pointcloud.trn import run_trn


def pointcloud_job(data: np.ndarray, spacing, origin, threshold: float | None, method: str, n_points: int,
                   params: dict, name: str = "map") -> Generator[Snapshot, None, PointCloudResult]:
    """TRN (``method="trn"``, params passed to :func:`run_trn`) or CVT (to :func:`run_cvt`) on a raw array."""
    density = density_from_array(data, spacing=spacing, origin=origin, threshold=threshold, name=name)
    n = density.check_points(n_points)
    seed = int(params.get("seed", 0))
    gen = run_trn(density, n, **params) if method == "trn" else run_cvt(density, n, **params)
    first = next(gen)  # validates the parameters before the reference costs anything
    rnd = random_energy(density, n, seed=seed)
    extra = {"random_energy": rnd, "support": float(density.n_support)}
    yield dataclasses.replace(first, metrics={**first.metrics, **extra})
    while True:
        try:
            snap = next(gen)
        except StopIteration as stop:
            res = stop.value
            res.params["random_energy"] = rnd
            return res
        yield dataclasses.replace(snap, metrics={**snap.metrics, **extra})


def default_threshold(data: np.ndarray) -> float:
    """A starting threshold for a map: 10 % of its maximum (0 for a 2D image, whose whole positive part counts)."""
    arr = np.asarray(data)
    if arr.ndim == 2:
        return 0.0
    return float(max(0.0, 0.1 * float(np.nanmax(arr))))


def cell_boundaries_rgba(labels: np.ndarray, color=(0, 0, 0), alpha: int = 200) -> np.ndarray:
    """An RGBA overlay (h, w, 4) uint8 that draws the Voronoi cell borders of a 2D label image (-1 = outside)."""
    lab = np.asarray(labels)
    edge = np.zeros(lab.shape, dtype=bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge &= lab >= 0
    out = np.zeros(lab.shape + (4,), dtype=np.uint8)
    out[edge] = (*color, alpha)
    return out


def sweeps(step: int, method: str, n_points: int) -> float:
    """The energy-curve x axis: Lloyd iterations for CVT, samples per point (t / n) for TRN."""
    return float(step) if method == "cvt" else float(step) / max(1, n_points)


HELP_HTML = """
<h3>Point cloud: TRN and CVT</h3>
<p>Represent a density <i>p</i> (a 2D image or a 3D map, values above the threshold, normalised to sum 1) by
<i>n</i> points. Both methods start from the same <i>n</i> random samples of <i>p</i> (same seed).</p>
<h4>TRN (topology representing network, neural gas)</h4>
<p>At each step <i>t</i> draw a sample <i>r<sub>t</sub></i> ~ <i>p</i>, rank the points by distance to it
(<i>k<sub>m</sub></i> = 0 for the closest) and move every point:</p>
<p align="center"><i>r<sub>m</sub></i> &larr; <i>r<sub>m</sub></i> + &epsilon;(t) exp(&minus;k<sub>m</sub>/&lambda;(t))
(<i>r<sub>t</sub></i> &minus; <i>r<sub>m</sub></i>),<br>
&epsilon;(t) = &epsilon;<sub>0</sub>(&epsilon;<sub>f</sub>/&epsilon;<sub>0</sub>)<sup>t/t<sub>f</sub></sup>,
&lambda;(t) = &lambda;<sub>0</sub>(&lambda;<sub>f</sub>/&lambda;<sub>0</sub>)<sup>t/t<sub>f</sub></sup>.</p>
<p>Defaults: &epsilon; 0.5 &rarr; 0.05, &lambda; 1 &rarr; 0.5 (in neighbours, so they suit any <i>n</i>),
t<sub>f</sub> = 20 <i>n</i> samples (0 in the <b>samples</b> box). <b>exact</b> mode follows the update sample by
sample; <b>fast</b> mode keeps only the ranks whose weight is at least 10<sup>&minus;4</sup> and, on a GPU, applies
mini-batches of samples at once (for large <i>n</i>; final energy within 2 %).</p>
<h4>CVT (centroidal Voronoi tessellation, Lloyd)</h4>
<p>Assign every pixel/voxel <i>v</i> to its nearest point (its Voronoi cell <i>V<sub>i</sub></i>, drawn as lines in
2D) and move each point to the density-weighted centroid of its cell:
<i>m<sub>i</sub></i> = &Sigma;<sub>v&isin;V<sub>i</sub></sub> w<sub>v</sub>,
<i>p<sub>i</sub></i> &larr; (1/m<sub>i</sub>) &Sigma;<sub>v&isin;V<sub>i</sub></sub> w<sub>v</sub> x<sub>v</sub>.
The masses <i>m<sub>i</sub></i> weight the cloud (marker size). Stops when no point moves.</p>
<h4>Energy</h4>
<p>E = &Sigma;<sub>v</sub> w<sub>v</sub> min<sub>i</sub> |x<sub>v</sub> &minus; p<sub>i</sub>|<sup>2</sup>
(&Aring;<sup>2</sup>): what CVT minimises (never increases under Lloyd). The dashed line is the energy of
<i>n</i> plain random samples: a good cloud lies well below it. x axis: Lloyd iterations (CVT) or samples per point
t/n (TRN).</p>
<h4>Controls</h4>
<ul><li><b>Density</b>: the seed's 2D Gaussian on [&minus;1,1]<sup>2</sup>, the demo map, or maps opened from the
File menu / <b>Open map</b>. <b>Threshold</b>: density at or below it is ignored; in 3D it is also the isosurface
level.</li>
<li><b>Run</b> starts the ticked methods side by side; <b>Step</b> advances to the next frame and pauses;
<b>Pause</b>/<b>Resume</b>, <b>Cancel</b>; <b>Speed</b> slows the run down for a class.</li>
<li><b>Export cloud</b> writes ChimeraX markers (.cmm), PDB pseudo-atoms or CSV in the map's frame (header origin,
else nstart &times; voxel size), so markers and map overlap in ChimeraX. <b>Export animation</b> writes the recorded
frames as a GIF (MP4 when imageio-ffmpeg is installed).</li></ul>
"""
