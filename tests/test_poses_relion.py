"""Our angle and origin conventions against RELION itself (skipped when RELION is not installed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from cryogui.core.jobs import run_job
from cryogui.core.poses.fsc import fsc
from cryogui.core.poses.generator import GeneratorConfig, generate_projections
from cryogui.io.poses_files import write_projection_set
from cryogui.core.projector import project
from cryogui.core.rotations import euler_to_matrix
from cryogui.core.simulate.maps import demo_map
from cryogui.io.mrc import read_mrc, write_mrc
from cryogui.io.star import particles_to_blocks, write_star

pytestmark = [pytest.mark.relion,
              pytest.mark.skipif(shutil.which("relion_project") is None or shutil.which("relion_reconstruct") is None,
                                 reason="RELION is not installed")]


@pytest.fixture(scope="module")
def small_map():
    return demo_map(box=48, apix=5.0, seed=0)


def test_projections_match_relion_project_with_origins(tmp_path, small_map):
    v = small_map
    rng = np.random.default_rng(1)
    n = 8
    ang = np.stack([rng.uniform(-180, 180, n), np.rad2deg(np.arccos(rng.uniform(-1, 1, n))),
                    rng.uniform(-180, 180, n)], axis=1)
    shifts = rng.uniform(-15, 15, size=(n, 2))  # Angstrom: up to 3 px
    write_mrc(tmp_path / "map.mrc", v.data, v.apix)
    df = pd.DataFrame({"rlnImageName": [f"{i + 1}@none.mrcs" for i in range(n)], "rlnAngleRot": ang[:, 0],
                       "rlnAngleTilt": ang[:, 1], "rlnAnglePsi": ang[:, 2], "rlnOriginXAngst": shifts[:, 0],
                       "rlnOriginYAngst": shifts[:, 1]})
    write_star(tmp_path / "ang.star", particles_to_blocks(df, v.apix, v.shape[0]))
    subprocess.run(["relion_project", "--i", "map.mrc", "--o", "rp", "--ang", "ang.star", "--angpix",
                    str(v.apix)], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    theirs = read_mrc(tmp_path / "rp.mrcs").data
    ours = project(v.data, euler_to_matrix(ang), apix=v.apix, shifts_A=shifts)
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(theirs, ours)]
    assert min(corr) >= 0.99, corr
    # the opposite origin sign must be clearly worse (the test can tell the convention apart)
    flipped = project(v.data, euler_to_matrix(ang), apix=v.apix, shifts_A=-shifts)
    corr_f = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(theirs, flipped)]
    assert np.mean(corr_f) < np.mean(corr) - 0.05


def test_relion_reconstruct_gives_back_the_map(tmp_path, small_map):
    v = small_map
    stack, table = run_job(generate_projections(v.data, v.apix, GeneratorConfig(n=250, ctf=True, seed=2))).value
    star = write_projection_set(tmp_path / "gen.mrcs", stack, table, v.apix)
    subprocess.run(["relion_reconstruct", "--i", star.name, "--o", "rec.mrc", "--ctf", "--angpix", str(v.apix)],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    rec = read_mrc(tmp_path / "rec.mrc").data
    assert np.corrcoef(rec.ravel(), v.data.ravel())[0, 1] > 0.98  # positive: protein white, right hand
    _, curve = fsc(rec, v.data, v.apix)
    assert np.all(curve[1:12] > 0.95)
