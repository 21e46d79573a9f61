"""The seed's milestones 3 and 4 as one reproducible routine.

3. Sanity check: images ``I_i = Gamma(V_theta*, phi_i)`` of a known mixture ``theta*`` at known poses; fit from a
   random start and compare the fitted ``theta`` with ``theta*``.
4. Evaluation: start from ``theta* + epsilon`` (positions perturbed by Gaussian noise) and check that the fit returns
   to ``theta*``.

Recovery is measured by one-to-one matching of fitted to true positions (:func:`metrics.recovery`).
"""

from __future__ import annotations

import time

import numpy as np

from cryogui.core.gmm import metrics
from cryogui.core.gmm.fit import FitControl, fit_particles
from cryogui.core.gmm.model import GaussianModel
from cryogui.core.gmm.render import project_model
from cryogui.core.jobs import Snapshot
from cryogui.core.rotations import random_rotations


def truth_model(n: int = 12, box: int = 32, apix: float = 2.0, seed: int = 0) -> GaussianModel:
    """A known mixture: ``n`` Gaussians in a ball of radius ``box * apix / 4``, kept at least 2 sigma apart."""
    rng = np.random.default_rng(seed)
    r = box * apix / 4
    sigma = 1.5 * apix
    pts: list[np.ndarray] = []
    while len(pts) < n:
        p = rng.uniform(-r, r, 3)
        if np.linalg.norm(p) <= r and all(np.linalg.norm(p - q) > 2.2 * sigma for q in pts):
            pts.append(p)
    return GaussianModel(np.array(pts), rng.uniform(0.6, 1.4, n), sigmas=np.full(n, sigma), box=box, apix=apix,
                         meta={"init": "truth"})


def run_sanity(n_gaussians: int = 12, n_images: int = 300, box: int = 32, apix: float = 2.0, epochs: int = 8,
               noise_A: float = 2.0, snr: float | None = None, seed: int = 0, lr: float = 0.05,
               control: FitControl | None = None, device=None):
    """Job generator: milestone 3 (random start) then milestone 4 (truth + ``noise_A`` Angstrom).  Snapshots come
    from the two fits (their messages say which); returns a dict with the recovery of each, the truth, the fitted
    models and the images' poses."""
    t0 = time.perf_counter()
    truth = truth_model(n_gaussians, box, apix, seed)
    mats = random_rotations(n_images, seed=seed + 1)
    images = project_model(truth, mats, box=box, apix=apix, device=device)
    if snr:
        rng = np.random.default_rng(seed + 2)
        images = images + rng.normal(0, np.sqrt(images.var() / snr), images.shape).astype(np.float32)
    control = control or FitControl(lr=lr, batch_size=32)
    out = {"truth": truth}
    rng = np.random.default_rng(seed + 3)
    noisy = GaussianModel(truth.positions + rng.normal(0, noise_A, truth.positions.shape), truth.amplitudes,
                          sigmas=truth.sigmas * 1.2, box=box, apix=apix, meta={"init": "truth+noise"})
    starts = (("random start (milestone 3)", "random"), ("truth + noise (milestone 4)", noisy))
    for label, init in starts:
        gen = fit_particles(images, mats, None, None, apix, n_gaussians, epochs=epochs,
                            batch_size=control.batch_size, lr=control.lr, init=init, seed=seed, control=control,
                            density_control_on=(init == "random"), device=device)
        while True:
            try:
                s = next(gen)
            except StopIteration as stop:
                res = stop.value
                break
            yield Snapshot(s.step, s.total, points=s.points, metrics=s.metrics, data=s.data,
                           message=f"{label}: {s.message}")
        rec = metrics.recovery(truth.positions, res.model.positions, truth.amplitudes, res.model.amplitudes)
        key = "random" if init == "random" else "perturbed"
        out[key] = {"rmsd_A": rec["rmsd_A"], "median_A": rec["median_A"],
                    "amplitude_rel_rms": rec["amplitude_rel_rms"], "val_loss": res.loss, "model": res.model}
        if init != "random":
            start = metrics.recovery(truth.positions, noisy.positions)
            out[key]["start_rmsd_A"] = start["rmsd_A"]
    out["seconds"] = time.perf_counter() - t0
    return out
