"""``cryogui project`` and ``cryogui poses train|recover|compare`` end to end on tiny inputs, and their bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cryogui.cli import main
from cryogui.core.simulate.maps import demo_map
from cryogui.io.mrc import write_mrc
from cryogui.io.star import read_particles, read_star, write_star


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("proj")
    v = demo_map(box=16, apix=16.0, seed=1)
    write_mrc(d / "map.mrc", v.data, v.apix)
    rc = main(["project", str(d / "map.mrc"), "--num", "40", "--angle-coverage", "360", "90", "360", "--seed", "3",
               "--snr", "2", "--out", str(d / "stack.mrcs"), "--quiet"])
    assert rc == 0
    return d


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_project_writes_stack_and_star_in_range(small_set):
    ps = read_particles(small_set / "stack.star")
    assert len(ps) == 40 and ps.box == 16 and ps.apix == pytest.approx(16.0)
    assert ps.angles()[:, 1].max() <= 90.0  # tilt coverage 90 from 0
    assert (small_set / "stack.mrcs").exists()


def test_project_config_file_and_command_line_wins(tmp_path, small_set, capsys):
    cfg = tmp_path / "protein.config"
    cfg.write_text(f"input_file = {small_set / 'map.mrc'}\nprojections_num = 12\nangle_shift = [0, 10, 0]\n"
                   "angle_coverage = 90, 20, 45\nseed = 1\n")
    rc = main(["project", "--config", str(cfg), "--num", "7", "--out", str(tmp_path / "c.mrcs"), "--quiet"])
    assert rc == 0
    summary = _last_json(capsys)
    assert summary["n"] == 7  # command line wins
    ang = read_particles(tmp_path / "c.star").angles()
    assert ang[:, 0].max() <= 90 and 10 <= ang[:, 1].min() and ang[:, 1].max() <= 30 and ang[:, 2].max() <= 45


def test_recover_exact_then_compare(small_set, capsys, tmp_path):
    rc = main(["poses", "recover", "--particles", str(small_set / "stack.star"), "--distance", "exact",
               "--steps", "500", "--out", str(tmp_path / "rec.star"), "--json", "--quiet"])
    assert rc == 0
    s = _last_json(capsys)
    assert s["n"] == 40 and s["median_rad_vs_input"] < 0.05
    rc = main(["poses", "compare", str(small_set / "stack.star"), str(tmp_path / "rec.star"), "--json"])
    assert rc == 0
    c = _last_json(capsys)
    assert set(c) >= {"median_deg", "mean_deg", "median_rad", "mirror", "n"}
    assert c["n"] == 40 and c["median_rad"] < 0.05 and isinstance(c["mirror"], bool)
    # comparing a file with itself: zero error, no mirror
    main(["poses", "compare", str(small_set / "stack.star"), str(small_set / "stack.star"), "--json"])
    c = _last_json(capsys)
    assert c["median_rad"] < 1e-6 and c["mirror"] is False


def test_train_then_recover_learned_and_image(small_set, capsys, tmp_path):
    model = tmp_path / "d.pt"
    rc = main(["poses", "train", "--particles", str(small_set / "stack.star"), "--out", str(model), "--steps", "30",
               "--size", "16", "--batch", "16", "--json", "--quiet"])
    assert rc == 0 and model.exists()
    t = _last_json(capsys)
    assert t["n"] == 40 and t["loss"] > 0
    for kind, extra in (("learned", ["--model", str(model)]), ("image", [])):
        rc = main(["poses", "recover", "--particles", str(small_set / "stack.star"), "--distance", kind, *extra,
                   "--steps", "60", "--out", str(tmp_path / f"{kind}.star"), "--json", "--quiet"])
        assert rc == 0
        r = _last_json(capsys)
        assert r["distance"] == kind and 0 <= r["median_rad_vs_input"] <= np.pi
        assert len(read_particles(tmp_path / f"{kind}.star")) == 40


def _write_bad(tmp_path, small_set, drop=(), image_names=None):
    blocks = read_star(small_set / "stack.star")
    df = blocks["particles"].drop(columns=list(drop))
    if image_names is not None:
        df["rlnImageName"] = image_names
    blocks["particles"] = df
    out = tmp_path / "bad.star"
    write_star(out, blocks)
    return out


def test_bad_inputs_exit_2_with_one_line(small_set, tmp_path, capsys):
    no_angles = _write_bad(tmp_path, small_set, drop=["rlnAngleTilt"])
    assert main(["poses", "compare", str(no_angles), str(small_set / "stack.star")]) == 2
    assert "rlnAngleTilt" in capsys.readouterr().err
    missing = _write_bad(tmp_path, small_set, image_names=[f"{i + 1}@nowhere.mrcs" for i in range(40)])
    assert main(["poses", "train", "--particles", str(missing), "--out", str(tmp_path / "x.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    past = _write_bad(tmp_path, small_set, image_names=[f"{i + 100}@stack.mrcs" for i in range(40)])
    (tmp_path / "stack.mrcs").symlink_to(small_set / "stack.mrcs")
    assert main(["poses", "recover", "--particles", str(past), "--distance", "image",
                 "--out", str(tmp_path / "r.star")]) == 2
    assert "past the end" in capsys.readouterr().err
    # no image in common
    other = tmp_path / "other.star"
    blocks = read_star(small_set / "stack.star")
    blocks["particles"]["rlnImageName"] = [f"{i + 1}@other.mrcs" for i in range(40)]
    write_star(other, blocks)
    assert main(["poses", "compare", str(other), str(small_set / "stack.star")]) == 2
    assert "no image in common" in capsys.readouterr().err
    # learned without a model, a bad model file, a bad map, bad angle ranges
    assert main(["poses", "recover", "--particles", str(small_set / "stack.star"), "--out",
                 str(tmp_path / "r.star")]) == 2
    assert "--model" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["poses", "recover", "--particles", str(small_set / "stack.star"), "--model",
                 str(tmp_path / "junk.pt"), "--out", str(tmp_path / "r.star")]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert main(["project", str(tmp_path / "nomap.mrc"), "--num", "3", "--out", str(tmp_path / "o.mrcs")]) == 2
    assert "nomap.mrc" in capsys.readouterr().err
    assert main(["project", str(small_set / "map.mrc"), "--num", "3", "--angle-shift", "0", "150", "0",
                 "--out", str(tmp_path / "o.mrcs")]) == 2
    assert "tilt" in capsys.readouterr().err


def test_cs_without_poses_is_a_clear_error(shared_data, capsys, tmp_path):
    cs = shared_data / "particles" / "empiar_10076_7.cs"
    assert main(["poses", "compare", str(cs), str(cs)]) == 2
    err = capsys.readouterr().err
    assert "no poses" in err and err.count("\n") == 1


def test_cs_reader_conventions(shared_data):
    from cryogui.core.rotations import axis_angle_to_matrix, euler_to_matrix
    from cryogui.io.cryosparc import read_cs

    path = shared_data / "particles" / "cryosparc_P12_J24_001_particles.cs"
    raw = np.load(path)
    df = read_cs(path)
    assert len(df) == 2019
    a = euler_to_matrix(df[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
    r = axis_angle_to_matrix(raw["alignments3D/pose"].astype(float))
    assert np.allclose(a, np.swapaxes(r, 1, 2), atol=1e-5)  # RELION A = cryoSPARC R^T
    assert np.allclose(df["rlnOriginXAngst"], raw["alignments3D/shift"][:, 0] * raw["alignments3D/psize_A"], atol=1e-4)
    assert np.allclose(df["rlnDefocusAngle"], np.rad2deg(raw["ctf/df_angle_rad"]), atol=1e-4)
    # the CTF of the EMPIAR .cs matches its STAR twin
    star = read_particles(shared_data / "particles" / "empiar_10076_7.star").df
    cs = read_cs(shared_data / "particles" / "empiar_10076_7.cs")
    assert np.allclose(cs["rlnDefocusU"], star["rlnDefocusU"], atol=0.1)
    assert np.allclose(cs["rlnDefocusAngle"], star["rlnDefocusAngle"], atol=0.01)
    assert list(cs["rlnImageName"].str.split("@").str[1]) == ["empiar_10076_7.mrc"] * 7


def test_cs_picks_flip_y(tmp_path):
    from cryogui.io.cryosparc import read_cs

    arr = np.zeros(2, dtype=[("uid", "<u8"), ("location/micrograph_path", "S20"),
                             ("location/center_x_frac", "<f4"), ("location/center_y_frac", "<f4"),
                             ("location/micrograph_shape", "<u4", (2,))])
    arr["location/micrograph_path"] = b"mic.mrc"
    arr["location/center_x_frac"] = [0.25, 0.5]
    arr["location/center_y_frac"] = [0.1, 0.5]
    arr["location/micrograph_shape"] = [400, 800]  # [y, x]
    with open(tmp_path / "p.cs", "wb") as fh:
        np.save(fh, arr)
    df = read_cs(tmp_path / "p.cs")
    assert np.allclose(df["rlnCoordinateX"], [200, 400]) and np.allclose(df["rlnCoordinateY"], [360, 200])
    assert "rlnAngleRot" not in df
    assert isinstance(df, pd.DataFrame)
