"""cryogui pick / picks convert / picks score / simulate micrographs, in process."""

import json

import pytest

from cryogui.cli import main
from cryogui.io.coords import read_picks


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("CRYOGUI_THREADS", "1")


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_simulate_pick_score_convert(tmp_path, capsys):
    d = tmp_path / "sim"
    assert main(["simulate", "micrographs", "--out", str(d), "--count", "2", "--diameter", "44", "--n-particles",
                 "30", "--size", "512", "--json"]) == 0
    sim = _json(capsys)
    assert len(sim["micrographs"]) == 2 and (d / "truth.star").exists()
    out = tmp_path / "picks.star"
    assert main(["pick", *sim["micrographs"], "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert summary["picks"] > 30 and summary["median_diameter_px"] > 25
    df = read_picks(out)
    assert len(df) == summary["picks"] and (df.score >= 0.5).all()
    text = out.read_text()
    for label in ("rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit",
                  "rlnDiameterPx"):
        assert label in text
    assert main(["picks", "score", str(out), str(d / "truth.star"), "--json"]) == 0
    s = _json(capsys)
    assert s["f"] >= 0.9 and s["n_truth"] >= 50 and set(s) >= {"precision", "recall", "f", "ap"}
    assert main(["picks", "convert", str(out), str(tmp_path / "x.cbox"), "--json"]) == 0
    conv = _json(capsys)
    assert len(conv["written"]) == 2
    back = read_picks(conv["written"][0])
    assert abs(back.x.iloc[0] - df[df.micrograph.str.endswith("mic_000.mrc")].x.iloc[0]) < 0.01


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["picks", "score", str(tmp_path / "no.star"), str(tmp_path / "no2.star")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    assert main(["pick", str(tmp_path / "none.mrc"), "--out", str(tmp_path / "p.star")]) == 2
    assert main(["simulate", "micrographs", "--out", str(tmp_path), "--snr", "0"]) == 2
