"""``cryogui fit`` and ``cryogui render``: map and particle fits end to end, JSON summary, bad input -> exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cryogui.cli import main
from cryogui.core.gmm.render import project_model, render_model
from cryogui.core.gmm.sanity import truth_model
from cryogui.core.rotations import matrix_to_euler, random_rotations
from cryogui.io.gmm_json import load_model
from cryogui.io.mrc import read_mrc, write_mrc
from cryogui.io.star import particles_to_blocks, read_star, write_star

APIX, BOX = 2.0, 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("gmmcli")
    truth = truth_model(8, BOX, APIX, seed=5)
    vol = render_model(truth, device="cpu")
    write_mrc(d / "map.mrc", vol, APIX, origin=(10.0, 20.0, 30.0))
    n = 120
    mats = random_rotations(n, seed=1)
    rng = np.random.default_rng(0)
    from cryogui.core.ctf import CTFParams
    du = rng.uniform(8000, 12000, n)
    ctf = CTFParams(du, du - 100, rng.uniform(0, 180, n))
    imgs = project_model(truth, mats, None, ctf, box=BOX, apix=APIX, device="cpu")
    write_mrc(d / "stack.mrcs", imgs, APIX)
    ang = matrix_to_euler(mats)
    df = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@stack.mrcs" for i in range(n)],
                       "rlnAngleRot": ang[:, 0], "rlnAngleTilt": ang[:, 1], "rlnAnglePsi": ang[:, 2],
                       "rlnOriginXAngst": 0.0, "rlnOriginYAngst": 0.0, "rlnDefocusU": du, "rlnDefocusV": du - 100,
                       "rlnDefocusAngle": ctf.defocus_angle})
    write_star(d / "particles.star", particles_to_blocks(df, APIX, BOX))
    return d


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_fit_map_cli(data, tmp_path, capsys):
    rc = main(["fit", str(data / "map.mrc"), "--gaussians", "8", "--iterations", "120", "--out",
               str(tmp_path / "m.json"), "--map-out", str(tmp_path / "fit.mrc"), "--cmm-out", str(tmp_path / "m.cmm"),
               "--json"])
    assert rc == 0
    s = _json(capsys)
    for key in ("final_loss", "correlation", "fsc05_A", "fsc0143_A", "gaussians", "seconds"):
        assert key in s
    assert s["gaussians"] == 8 and s["correlation"] > 0.97
    assert s["fsc0143_A"] <= s["fsc05_A"] < 20
    fitted = read_mrc(tmp_path / "fit.mrc")
    assert fitted.data.shape == (BOX,) * 3 and fitted.apix == pytest.approx(APIX)
    assert fitted.origin == pytest.approx((10.0, 20.0, 30.0))  # the target's frame
    # render the saved model on a finer grid: same place in space, same mass
    rc = main(["render", str(tmp_path / "m.json"), "--out", str(tmp_path / "r.mrc"), "--box", "48", "--apix", "1.0"])
    assert rc == 0
    fine = read_mrc(tmp_path / "r.mrc")
    centre_coarse = np.asarray(fitted.origin) + (BOX // 2) * APIX
    centre_fine = np.asarray(fine.origin) + 24 * 1.0
    np.testing.assert_allclose(centre_fine, centre_coarse)
    assert fine.data.sum() * 1.0 == pytest.approx(fitted.data.sum() * APIX**3, rel=0.02)


def test_fit_particles_cli(data, tmp_path, capsys):
    rc = main(["fit", "--particles", str(data / "particles.star"), "--gaussians", "8", "--epochs", "3",
               "--batch-size", "16", "--reference", str(data / "map.mrc"), "--init", "cvt", "--out",
               str(tmp_path / "p.json"), "--map-out", str(tmp_path / "p.mrc"), "--json"])
    assert rc == 0
    s = _json(capsys)
    assert s["n_particles"] == 120 and s["correlation"] > 0.9 and s["fsc0143_A"] < 20
    assert len(load_model(tmp_path / "p.json")) == 8


def _edit_star(src, dst, drop=(), optics=None):
    blocks = read_star(src)
    blocks["particles"] = blocks["particles"].drop(columns=list(drop))
    if optics:
        for k, v in optics.items():
            blocks["optics"][k] = v
    write_star(dst, blocks)


@pytest.mark.parametrize("case, expect", [
    ("no_poses", "no poses"), ("no_ctf", "no CTF"), ("size", "px but the STAR file says"),
    ("apix", "pixel size"), ("nan_map", "NaN"), ("no_target", "either"), ("bad_init", "--init"),
    ("bad_model", "cryogui-gmm"),
])
def test_bad_input_exits_2(data, tmp_path, capsys, case, expect):
    star = tmp_path / "particles.star"
    (tmp_path / "stack.mrcs").symlink_to(data / "stack.mrcs")
    args = ["fit", "--particles", str(star), "--gaussians", "4", "--epochs", "1", "--out", str(tmp_path / "o.json")]
    if case == "no_poses":
        _edit_star(data / "particles.star", star, drop=["rlnAngleTilt"])
    elif case == "no_ctf":
        _edit_star(data / "particles.star", star, drop=["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"])
    elif case == "size":
        _edit_star(data / "particles.star", star, optics={"rlnImageSize": 32})
    elif case == "apix":
        (tmp_path / "stack.mrcs").unlink()
        write_mrc(tmp_path / "stack.mrcs", read_mrc(data / "stack.mrcs").data, 3.0)
        _edit_star(data / "particles.star", star)
    elif case == "nan_map":
        arr = np.zeros((8, 8, 8), np.float32)
        arr[2, 3, 4] = np.nan
        write_mrc(tmp_path / "nan.mrc", arr, 1.0)
        args = ["fit", str(tmp_path / "nan.mrc"), "--gaussians", "4", "--out", str(tmp_path / "o.json")]
    elif case == "no_target":
        args = ["fit", "--gaussians", "4", "--out", str(tmp_path / "o.json")]
    elif case == "bad_init":
        args = ["fit", str(data / "map.mrc"), "--gaussians", "4", "--init", "banana", "--out", str(tmp_path / "o.json")]
    elif case == "bad_model":
        (tmp_path / "x.json").write_text("{}")
        args = ["render", str(tmp_path / "x.json"), "--out", str(tmp_path / "x.mrc")]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert expect in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


def test_sanity_cli(tmp_path, capsys):
    rc = main(["fit", "--sanity", "--gaussians", "4", "--epochs", "3", "--json"])
    assert rc == 0
    s = _json(capsys)
    assert s["perturbed_final_rmsd_A"] < s["perturbed_start_rmsd_A"]
    assert np.isfinite(s["random_start_rmsd_A"])
