"""``cryogui simulate motion`` and ``cryogui motion``: files, JSON summary, STAR subsets, and bad input (exit 2)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import starfile
from scipy.stats import spearmanr

from cryogui.cli import main as cli_main
from cryogui.cli.motion import parse_focus
from cryogui.errors import InputError
from cryogui.io.gmm_json import load_model, save_model
from cryogui.io.motion import load_particle_data, read_vectors_json, write_subset_star
from cryogui.io.star import load_images, read_particles


@pytest.fixture(scope="module")
def simdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("motion_sim")
    rc = cli_main(["simulate", "motion", "--out", str(out), "--particles", "60", "--classes", "5", "--box", "32",
                   "--apix", "6", "--gaussians", "32", "--snr", "0", "--angle", "20", "--seed", "1"])
    assert rc == 0
    return out


def test_simulate_motion_writes_stack_star_model_and_truth(simdir):
    pset = read_particles(simdir / "particles.star")
    assert len(pset) == 60 and pset.has_poses and pset.has_ctf and pset.apix == pytest.approx(6.0)
    assert load_images(pset, [0, 59]).shape == (2, 32, 32)
    truth = pd.read_csv(simdir / "truth.csv")
    assert list(truth.columns) == ["particle", "class", "motion"] and len(truth) == 60
    assert truth["motion"].min() >= -1 and truth["motion"].max() <= 1 and truth["class"].nunique() > 1
    model = load_model(simdir / "model.json")
    assert len(model) == 32 and model.box == 32
    extra = json.loads((simdir / "truth_motion.json").read_text())
    assert np.array(extra["displacement_per_unit_motion_A"]).shape == (32, 3)


def test_motion_command_writes_columns_and_json(simdir, tmp_path, capsys):
    out = tmp_path / "sub" / "motion.star"
    vec = tmp_path / "motion.json"
    rc = cli_main(["motion", "--particles", str(simdir / "particles.star"), "--model", str(simdir / "model.json"),
                   "--modes", "2", "--coord-modes", "1", "--out", str(out), "--vectors", str(vec), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["modes"] == 2 and summary["particles"] == 60 and len(summary["explained_variance"]) == 2
    assert summary["seconds"] > 0
    back = read_particles(out)
    assert {"cryoguiMotion1", "cryoguiMotion2"} <= set(back.df.columns)
    assert load_images(back, [0]).shape == (1, 32, 32)  # image names still resolve from the new folder
    truth = pd.read_csv(simdir / "truth.csv")
    assert abs(spearmanr(back.df["cryoguiMotion1"], truth["motion"]).correlation) > 0.8
    vectors = read_vectors_json(vec)
    assert vectors["vectors"].shape == (2, 32, 3) and len(vectors["flexibility"]) == 32


def test_subset_star_is_relion_readable(simdir, tmp_path):
    pset, data = load_particle_data(simdir / "particles.star")
    coords = np.linspace(-5, 5, len(pset))[:, None]
    path = write_subset_star(tmp_path / "subset.star", pset, np.arange(10, 20), coords)
    back = read_particles(path)
    assert len(back) == 10
    np.testing.assert_allclose(back.df["cryoguiMotion1"], coords[10:20, 0], atol=1e-5)
    np.testing.assert_allclose(load_images(back), data.images[10:20])
    blocks = starfile.read(path, always_dict=True)
    assert set(blocks) == {"optics", "particles"}
    if shutil.which("relion_star_printtable"):
        res = subprocess.run(["relion_star_printtable", str(path), "data_particles", "rlnImageName"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and len(res.stdout.split()) == 10


def _expect_exit2(capsys, argv, fragment):
    rc = cli_main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and fragment in err


def test_bad_inputs_exit_2(simdir, tmp_path, capsys):
    star = simdir / "particles.star"
    model = simdir / "model.json"
    blocks = starfile.read(star, always_dict=True)
    no_pose = tmp_path / "nopose.star"
    starfile.write({"optics": blocks["optics"], "particles": blocks["particles"].drop(
        columns=["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"])}, no_pose)
    shutil.copy(simdir / "particles.mrcs", tmp_path / "particles.mrcs")
    _expect_exit2(capsys, ["motion", "--particles", str(no_pose), "--model", str(model)], "no poses")
    no_ctf = tmp_path / "noctf.star"
    starfile.write({"optics": blocks["optics"], "particles": blocks["particles"].drop(
        columns=["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"])}, no_ctf)
    _expect_exit2(capsys, ["motion", "--particles", str(no_ctf), "--model", str(model)], "no CTF")
    m = load_model(model)
    m.box = 64
    bad_box = save_model(tmp_path / "box64.json", m)
    _expect_exit2(capsys, ["motion", "--particles", str(star), "--model", str(bad_box)], "box")
    m.box, m.apix = 32, 3.0
    bad_apix = save_model(tmp_path / "apix3.json", m)
    _expect_exit2(capsys, ["motion", "--particles", str(star), "--model", str(bad_apix)], "A/px")
    _expect_exit2(capsys, ["motion", "--particles", str(star), "--model", str(model), "--modes", "5",
                           "--max-particles", "6"], "too few")
    _expect_exit2(capsys, ["motion", "--particles", str(star), "--model", str(model), "--focus", "box:1,2"],
                  "--focus")
    _expect_exit2(capsys, ["motion", "--particles", str(tmp_path / "missing.star"), "--model", str(model)],
                  "missing.star")


def test_parse_focus():
    pos = np.array([[0.0, 0, 0], [10, 0, 0], [20, 5, 0], [30, 0, 0]])
    assert list(parse_focus("0-1,3", pos)) == [0, 1, 3]
    assert list(parse_focus("box:5,25,-1,10,-1,1", pos)) == [1, 2]
    assert parse_focus(None, pos) is None
    with pytest.raises(InputError):
        parse_focus("7", pos)
