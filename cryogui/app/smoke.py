"""Tiny real jobs, one per panel, for ``cryogui --smoke-test`` (the packaged app's self-check).

Each panel is driven from outside through its own controls and public methods, exactly as a user would: set a small
problem size, press the panel's Run button, and hand back the :class:`JobHandle` that the job manager started.  Every
job finishes in a few seconds on a laptop CPU.  ``None`` means the panel has nothing loaded to run on.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Callable

log = logging.getLogger("cryogui.app")


def _started(window, key: str):
    handle = window.jobs.get(key)
    return handle if handle is not None and handle.is_active else None


def _picking(window, panel):
    if not panel.order:
        return None
    if panel.current is None:
        panel.set_current(panel.order[0])
    panel.method.setCurrentIndex(0)  # scale-space: no model weights needed
    panel.pick_btn.click()
    return _started(window, "picking.autopick")


def _pointcloud(window, panel):
    panel.source_box.setCurrentIndex(0)  # the seed's 2D Gaussian example
    panel.n_points.setValue(50)
    panel.trn_steps.setValue(500)
    panel.cvt_iters.setValue(2)
    panel.speed.setValue(panel.speed.maximum())  # full speed on this panel
    for m, box in panel.use.items():
        box.setChecked(m == "cvt")
    try:
        panel.run_btn.click()
    finally:
        for box in panel.use.values():
            box.setChecked(True)
    return _started(window, "pointcloud.cvt")


def _gaussfit(window, panel):
    if panel.map_vol is None:
        return None
    panel.target_kind.setCurrentIndex(0)  # fit the map
    panel.init_combo.setCurrentIndex(0)  # random start
    panel.n_spin.setValue(20)
    panel.iter_spin.setValue(5)
    panel.run_btn.click()
    return _started(window, "gaussfit.run")


def _motion(window, panel):
    if panel.inputs is None or panel.model is None:
        loading = _started(window, "motion.load")
        if loading is not None:
            return loading
        panel.load_simulation(n=60, out_dir=Path(tempfile.mkdtemp(prefix="cryogui_smoke_motion_")))
        return _started(window, "motion.load")
    panel.modes.setValue(2)
    panel.nonlinear.setChecked(False)
    panel.focus.setChecked(False)
    panel.run_btn.click()
    return _started(window, "motion.run")


def _poses(window, panel):
    if panel.volume is None:
        return None
    panel.n_spin.setValue(max(10, panel.n_spin.minimum()))
    panel.snr.setValue(0.0)
    panel.ctf_box.setChecked(False)
    panel.speed.setValue(0)  # 0 = full speed on this panel
    panel.gen_btn.click()
    return _started(window, "poses.generate")


SMOKERS: dict[str, Callable] = {"picking": _picking, "pointcloud": _pointcloud, "gaussfit": _gaussfit,
                                "motion": _motion, "poses": _poses}


def smoke_job(window, panel_id: str):
    """Start the tiny job of ``panel_id`` through its controls and return the JobHandle (None: nothing to run)."""
    panel = window.panels.get(panel_id)
    run = SMOKERS.get(panel_id)
    if panel is None or run is None:
        return None
    window.docks[panel_id].raise_()
    handle = run(window, panel)
    log.info("smoke test: %s -> %s", panel_id, "no job" if handle is None else handle.title)
    return handle
