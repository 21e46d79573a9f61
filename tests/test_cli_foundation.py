from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cryogui.cli import main
from cryogui.io.mrc import write_mrc


def run_cli(*args):
    res = subprocess.run([sys.executable, "-m", "cryogui", *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    return res


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "cryogui 0.1.0" in capsys.readouterr().out


def test_info_json_for_a_map(tmp_path, capsys):
    p = write_mrc(tmp_path / "m.mrc", np.zeros((10, 12, 14), np.float32), apix=3.3, origin=(1, 2, 3))
    assert main(["info", str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "map" and info["shape"] == [10, 12, 14]
    assert info["pixel_size"] == pytest.approx(3.3) and info["origin"] == pytest.approx([1, 2, 3])


def test_bad_file_one_line_on_stderr_exit_2(tmp_path):
    p = tmp_path / "broken.mrc"
    p.write_bytes(b"\x00" * 2048 + b"garbage")
    res = run_cli("info", p)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "broken.mrc" in lines[0]
    assert "Traceback" not in res.stderr


def test_missing_file_exit_2():
    res = run_cli("info", "/nonexistent/file.star")
    assert res.returncode == 2 and "no such file" in res.stderr


@pytest.mark.shared_data
def test_info_on_every_real_map_and_micrograph(shared_data):
    expected = {
        "maps/emd_1832.map": ([64, 64, 64], 5.7), "maps/emd_5625.map": ([56, 56, 56], 4.23),
        "maps/EMD-3197.map": ([20, 20, 20], 11.4), "maps/EMD-3001.map": ([25, 43, 73], 0.44825),
        "micrographs/fei-extended_bin8.mrc": ([479, 463], 6.8302),
        "micrographs/epu2.9_example_bin8.mrc": ([512, 512], 5.3324),
        "micrographs/Ucsf_stack_1142_DW.mrc": ([927, 959], 1.0),
        "micrographs/Ucsf_stack_1142_DW_mask.mrc": ([927, 959], 1.0),
    }
    res = run_cli("info", "--json", *[shared_data / k for k in expected])
    assert res.returncode == 0, res.stderr
    infos = json.loads(res.stdout)
    for info, (name, (shape, apix)) in zip(infos, expected.items()):
        assert info["shape"] == shape, name
        assert info["pixel_size"] == pytest.approx(apix, rel=1e-3), name


@pytest.mark.shared_data
def test_info_pick_counts_on_real_files(shared_data):
    cases = {"picks/TcdA1-0018_frames_sum.cbox": 120, "picks/TcdA1-0019_frames_sum.cbox": 129,
             "micrographs/Ucsf_stack_1142_DW_autopick.star": 45,
             "picks/tomo_subtomo_picks_one_loop.star": 16}
    res = run_cli("info", "--json", *[shared_data / k for k in cases])
    assert res.returncode == 0, res.stderr
    for info, (name, n) in zip(json.loads(res.stdout), cases.items()):
        assert info["picks"] == n, name


@pytest.mark.shared_data
def test_info_on_real_cryosparc_files(shared_data):
    cases = {"cryosparc_P12_J24_001_particles.cs": (2019, True), "cryosparc_J2_particles_exported.cs": (22, False),
             "empiar_10076_7.cs": (7, False)}
    res = run_cli("info", "--json", *[shared_data / "particles" / k for k in cases])
    assert res.returncode == 0, res.stderr
    for info, (name, (n, poses)) in zip(json.loads(res.stdout), cases.items()):
        assert info["rows"] == n and info["has_poses"] == poses, name


@pytest.mark.shared_data
def test_info_on_real_particle_star(shared_data, capsys):
    assert main(["info", str(shared_data / "particles/relion31.star"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["particles"] == 5 and info["pixel_size"] == pytest.approx(2.806) and info["box"] == 256
    assert info["blocks"]["optics"]["rows"] == 1


def test_demo_writes_a_readable_data_set(tmp_path):
    out = tmp_path / "demo"
    res = run_cli("demo", "--out", out, "--micrographs", "1", "--particles", "12", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    for f in summary["files"]:
        assert (out / f).exists(), f
    res = run_cli("info", "--json", out / "particles/particles.star", out / "maps/demo_map.mrc",
                  out / "micrographs/mic_000.mrc")
    infos = json.loads(res.stdout)
    assert infos[0]["particles"] == 12 and infos[0]["has_ctf"] and infos[0]["has_poses"]
    assert infos[1]["shape"] == [64, 64, 64] and infos[1]["pixel_size"] == pytest.approx(4.0)
    assert infos[2]["kind"] == "micrograph" and infos[2]["pixel_size"] == pytest.approx(2.0)
