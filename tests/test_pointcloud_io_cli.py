"""Point-cloud export (round trips, map frame) and the ``cryogui pointcloud`` command."""

from __future__ import annotations

import json

import mrcfile
import numpy as np
import pytest

from cryogui.cli import main as cli_main
from cryogui.core.jobs import run_job
from cryogui.core.pointcloud.cvt import run_cvt
from cryogui.core.pointcloud.density import density_from_volume
from cryogui.errors import InputError
from cryogui.io.mrc import read_mrc, write_mrc
from cryogui.io.pointcloud import read_cloud, write_cloud


@pytest.fixture
def cloud():
    rng = np.random.default_rng(0)
    pts = rng.normal(scale=40.0, size=(25, 3)) + [100.0, -50.0, 7.0]
    w = rng.random(25)
    return pts, w / w.sum()


@pytest.mark.parametrize("suffix", [".cmm", ".csv", ".pdb"])
def test_round_trip(tmp_path, cloud, suffix):
    pts, w = cloud
    path = write_cloud(tmp_path / f"c{suffix}", pts, w)
    back, wb = read_cloud(path)
    tol = {".cmm": 1e-4, ".csv": 1e-12, ".pdb": 1e-3}[suffix]
    np.testing.assert_allclose(back, pts, atol=tol)
    if suffix == ".pdb":
        np.testing.assert_allclose(wb, w * len(w), atol=0.006)  # B-factor = relative mass, 2 decimals
    else:
        np.testing.assert_allclose(wb, w, rtol=1e-8)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_2d_cloud_gets_z_zero_and_csv_columns(tmp_path):
    write_cloud(tmp_path / "a.csv", np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == "x,y,z"
    back, w = read_cloud(tmp_path / "a.csv")
    np.testing.assert_array_equal(back, [[1, 2, 0], [3, 4, 0]])
    assert w is None


def test_bad_export(tmp_path, cloud):
    with pytest.raises(InputError, match="unknown point-cloud format"):
        write_cloud(tmp_path / "a.txt", cloud[0])
    with pytest.raises(InputError, match="PDB range"):
        write_cloud(tmp_path / "a.pdb", cloud[0] * 1000)
    with pytest.raises(InputError, match="weights"):
        write_cloud(tmp_path / "a.csv", cloud[0], cloud[1][:3])


def _one_voxel_map(path, origin=None, nstart=None):
    data = np.zeros((8, 9, 10), np.float32)
    data[1, 2, 3] = 5.0  # z=1, y=2, x=3
    with mrcfile.new(str(path), overwrite=True) as m:
        m.set_data(data)
        m.voxel_size = 2.5
        if origin is not None:
            m.header.origin.x, m.header.origin.y, m.header.origin.z = origin
        if nstart is not None:
            m.header.nxstart, m.header.nystart, m.header.nzstart = nstart
    return path


@pytest.mark.parametrize("origin,nstart,expected", [
    ((12.5, -25.0, 50.0), None, (12.5 + 3 * 2.5, -25.0 + 2 * 2.5, 50.0 + 1 * 2.5)),  # header origin
    (None, (-4, 6, 10), ((-4 + 3) * 2.5, (6 + 2) * 2.5, (10 + 1) * 2.5)),  # no origin: nstart x voxel size
])
def test_exported_marker_sits_on_the_voxel_in_the_map_frame(tmp_path, origin, nstart, expected):
    mp = _one_voxel_map(tmp_path / "m.mrc", origin, nstart)
    res = run_job(run_cvt(density_from_volume(read_mrc(mp)), 1, iterations=2)).value
    for suffix in (".cmm", ".pdb", ".csv"):
        back, _ = read_cloud(write_cloud(tmp_path / f"o{suffix}", res.points, res.weights))
        np.testing.assert_allclose(back[0], expected, atol=1e-3)


# ---- CLI --------------------------------------------------------------------------------------------------------
def test_cli_cvt_json_and_csv(tmp_path, capsys):
    vol = np.zeros((16, 16, 16), np.float32)
    vol[4:12, 5:11, 3:13] = 1.0
    mp = tmp_path / "box.mrc"
    write_mrc(mp, vol, 3.0, origin=(30.0, 0.0, -30.0))
    out = tmp_path / "cloud.csv"
    rc = cli_main(["pointcloud", str(mp), "--method", "cvt", "--points", "40", "--iterations", "30",
                   "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("method", "points", "iterations", "energy", "random_energy", "seconds"):
        assert key in summary
    assert summary["method"] == "cvt" and summary["points"] == 40
    assert 0 < summary["energy"] < 0.7 * summary["random_energy"]
    lines = out.read_text().splitlines()
    assert lines[0] == "x,y,z,weight" and len(lines) == 41
    pts, w = read_cloud(out)
    assert w.sum() == pytest.approx(1.0)
    lo = np.array([30 + 3 * 3.0, 0 + 5 * 3.0, -30 + 4 * 3.0])
    hi = np.array([30 + 12 * 3.0, 0 + 10 * 3.0, -30 + 11 * 3.0])
    assert np.all(pts >= lo - 1e-6) and np.all(pts <= hi + 1e-6)


def test_cli_trn_builtin_2d(tmp_path, capsys):
    out = tmp_path / "t.cmm"
    rc = cli_main(["pointcloud", "gaussian2d", "--method", "trn", "--points", "50", "--iterations", "500",
                   "--mode", "fast", "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["iterations"] == 500 and s["energy"] < s["random_energy"]
    pts, _ = read_cloud(out)
    assert pts.shape == (50, 3) and np.all(np.abs(pts[:, :2]) <= 1.0) and np.all(pts[:, 2] == 0)


@pytest.mark.parametrize("args,msg", [
    (["--threshold", "10"], "above the map's maximum"),
    (["--points", "100000"], "voxels of"),
    (["--out", "cloud.xyz"], "use a .cmm, .pdb or .csv"),
    (["--iterations", "0"], "at least 1"),
])
def test_cli_bad_input_exits_2(tmp_path, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    vol = np.zeros((8, 8, 8), np.float32)
    vol[2:6, 2:6, 2:6] = 1.0
    write_mrc(tmp_path / "m.mrc", vol, 2.0)
    base = {"--points": "10", "--out": "cloud.csv", "--method": "cvt"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    argv = ["pointcloud", "m.mrc"] + [x for kv in base.items() for x in kv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cloud.csv").exists()


def test_cli_nan_and_missing_map(tmp_path, capsys):
    vol = np.ones((4, 4, 4), np.float32)
    vol[1, 1, 1] = np.nan
    with mrcfile.new(str(tmp_path / "nan.mrc")) as m:
        m.set_data(vol)
    assert cli_main(["pointcloud", str(tmp_path / "nan.mrc"), "--method", "trn", "--points", "3",
                     "--out", str(tmp_path / "a.csv")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert cli_main(["pointcloud", str(tmp_path / "none.mrc"), "--method", "trn", "--points", "3",
                     "--out", str(tmp_path / "a.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_real_map(shared_data, tmp_path, capsys):
    out = tmp_path / "emd1832.pdb"
    rc = cli_main(["pointcloud", str(shared_data / "maps" / "emd_1832.map"), "--method", "cvt", "--points", "150",
                   "--iterations", "40", "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["energy"] <= 0.6 * s["random_energy"]
    pts, _ = read_cloud(out)
    # EMD-1832: 64^3 at 5.7 A/px with nstart -32: the map spans about -182 .. +177 A on each axis
    assert np.all(pts > -183) and np.all(pts < 178)


def test_write_animation_gif(tmp_path):
    from PIL import Image

    from cryogui.io.pointcloud import write_animation

    frames = [np.full((12, 16, 3), 40 * i, np.uint8) for i in range(4)]
    write_animation(tmp_path / "a.gif", frames, fps=5)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 4 and im.size == (16, 12)
        im.seek(1)
        assert im.info["duration"] == 200  # ms per frame at 5 fps
    with pytest.raises(InputError, match="no frames"):
        write_animation(tmp_path / "b.gif", [])
    with pytest.raises(InputError, match=".gif or .mp4"):
        write_animation(tmp_path / "b.avi", frames)
