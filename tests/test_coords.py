"""Picks formats: real files, conversions of corners/origins, round trips, fuzzed parsers."""


import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryogui.errors import FormatError, InputError
from cryogui.io.coords import (COLUMNS, count_picks, micrograph_key, read_picks, write_picks,
                               write_picks_per_micrograph)


def _table(n=5, seed=0, mic="mic_001"):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"micrograph": mic, "x": rng.uniform(50, 900, n).round(2), "y": rng.uniform(50, 900, n).round(2),
                         "score": rng.uniform(0, 1, n).round(4), "diameter": rng.uniform(40, 60, n).round(1)})


# ---- real files ---------------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_real_cbox_counts_and_centres(shared_data):
    a = read_picks(shared_data / "picks" / "TcdA1-0018_frames_sum.cbox")
    b = read_picks(shared_data / "picks" / "TcdA1-0019_frames_sum.cbox")
    assert len(a) == 120 and len(b) == 129
    assert list(a.columns) == COLUMNS
    # first row: corner (3700.367, 3874.456), 220 px box, EstWidth 232 / EstHeight 222, confidence 0.6578
    assert a.x[0] == pytest.approx(3700.3671875 + 110) and a.y[0] == pytest.approx(3874.455551147461 + 110)
    assert a.diameter[0] == pytest.approx(227.0) and a.score[0] == pytest.approx(0.6578449)
    assert set(a.micrograph) == {"TcdA1-0018_frames_sum"}
    assert count_picks(shared_data / "picks" / "TcdA1-0019_frames_sum.cbox") == {"TcdA1-0019_frames_sum": 129}


@pytest.mark.shared_data
def test_real_filament_cbox_reads_main_block(shared_data):
    df = read_picks(shared_data / "picks" / "ActLifeact_03211.cbox")
    assert len(df) == 16
    assert df.x[0] == pytest.approx(5.987737909516682 + 50)
    assert df.diameter.isna().all()


@pytest.mark.shared_data
def test_real_relion_autopick_star(shared_data):
    df = read_picks(shared_data / "micrographs" / "Ucsf_stack_1142_DW_autopick.star")
    assert len(df) == 45
    assert df.x[0] == pytest.approx(839.125024) and df.y[0] == pytest.approx(19.979167)
    assert df.score[0] == pytest.approx(0.624705)
    assert set(df.micrograph) == {"Ucsf_stack_1142_DW"}     # from the file name, _autopick stripped


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["cryosparc_J2_particles_exported.cs", "empiar_10076_7.cs",
                                  "cryosparc_P12_J24_001_particles.cs"])
def test_real_cs_without_locations_is_a_clear_error(shared_data, name):
    with pytest.raises(FormatError, match="no pick locations"):
        read_picks(shared_data / "particles" / name)


# ---- conversions --------------------------------------------------------------------------------------------
def test_cs_fraction_and_y_flip(tmp_path):
    dt = np.dtype([("uid", "<u8"), ("location/micrograph_path", "S20"), ("location/micrograph_shape", "<u4", (2,)),
                   ("location/center_x_frac", "<f4"), ("location/center_y_frac", "<f4")])
    arr = np.zeros(2, dtype=dt)
    arr["location/micrograph_path"] = [b"m/a.mrc", b"m/a.mrc"]
    arr["location/micrograph_shape"] = [[400, 1000], [400, 1000]]   # [ny, nx]
    arr["location/center_x_frac"] = [0.25, 0.5]
    arr["location/center_y_frac"] = [0.25, 0.9]
    p = tmp_path / "picks.cs"
    with open(p, "wb") as fh:
        np.save(fh, arr)
    df = read_picks(p)
    assert df.x.tolist() == pytest.approx([250.0, 500.0])
    assert df.y.tolist() == pytest.approx([300.0, 40.0])       # bottom-left origin: row = (1 - fy) * ny
    assert df.micrograph[0] == "m/a.mrc"
    with pytest.raises(InputError):
        write_picks(tmp_path / "out.cs", df)


def test_box_corner_to_centre(tmp_path):
    p = tmp_path / "m1.box"
    p.write_text("10\t20\t100\t100\n30 40 50 50\n")
    df = read_picks(p)
    assert df.x.tolist() == [60.0, 55.0] and df.y.tolist() == [70.0, 65.0]
    assert df.micrograph.tolist() == ["m1", "m1"]


def test_topaz_reads_centres(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("image_name\tx_coord\ty_coord\tscore\nmicA\t100\t200\t-1.5\nmicB\t5\t6\t2.5\n")
    df = read_picks(p)
    assert df.micrograph.tolist() == ["micA", "micB"] and df.score.tolist() == [-1.5, 2.5]
    assert df.x.tolist() == [100.0, 5.0]


@pytest.mark.parametrize("ext", [".star", ".csv", ".tsv", ".txt"])
def test_round_trip_multi_micrograph(tmp_path, ext):
    df = pd.concat([_table(4, 0, "mic_001"), _table(3, 1, "mic_002")], ignore_index=True)
    p = write_picks(tmp_path / f"all{ext}", df)
    back = read_picks(p)
    assert len(back) == 7
    np.testing.assert_allclose(back.x, df.x, atol=0.01)
    np.testing.assert_allclose(back.y, df.y, atol=0.01)
    np.testing.assert_allclose(back.score, df.score, atol=1e-4)
    assert back.micrograph.map(micrograph_key).tolist() == df.micrograph.tolist()
    if ext in (".star", ".csv", ".tsv"):
        np.testing.assert_allclose(back.diameter, df.diameter, atol=0.01)


@pytest.mark.parametrize("ext", [".box", ".cbox"])
def test_round_trip_per_micrograph(tmp_path, ext):
    df = pd.concat([_table(4, 0, "mic_001"), _table(3, 1, "mic_002")], ignore_index=True)
    with pytest.raises(InputError, match="one micrograph"):
        write_picks(tmp_path / f"all{ext}", df, box=64)
    paths = write_picks_per_micrograph(tmp_path, df, fmt=ext, box=64)
    assert [p.name for p in paths] == [f"mic_001{ext}", f"mic_002{ext}"]
    back = read_picks(paths[1])
    np.testing.assert_allclose(back.x, df.x[4:], atol=0.01)
    np.testing.assert_allclose(back.y, df.y[4:], atol=0.01)
    if ext == ".cbox":
        np.testing.assert_allclose(back.score, df.score[4:], atol=1e-4)
        np.testing.assert_allclose(back.diameter, df.diameter[4:], atol=0.01)
    text = paths[0].read_text()
    x0, y0 = df.x[0] - 32, df.y[0] - 32
    assert f"{x0:.2f}"[:6] in text and f"{y0:.2f}"[:6] in text     # written as lower-left corners


def test_write_is_atomic_and_keeps_old_file_on_error(tmp_path):
    p = tmp_path / "a.box"
    write_picks(p, _table(3), box=50)
    before = p.read_text()
    bad = _table(3)
    bad["diameter"] = np.nan
    with pytest.raises(InputError, match="box size"):
        write_picks(p, bad)
    assert p.read_text() == before
    assert [q.name for q in tmp_path.iterdir()] == ["a.box"]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_picks(tmp_path / "missing.star")
    p = tmp_path / "bad.box"
    p.write_text("1 2 three 4\n")
    with pytest.raises(FormatError, match="bad.box"):
        read_picks(p)
    q = tmp_path / "x.pdf"
    q.write_text("hi")
    with pytest.raises(FormatError, match="unknown picks format"):
        read_picks(q)
    r = tmp_path / "r.star"
    r.write_text("data_\nloop_\n_rlnAngleRot #1\n1.0\n")
    with pytest.raises(FormatError, match="rlnCoordinateX"):
        read_picks(r)


def test_micrograph_key():
    assert micrograph_key("a/b/mic_001.mrc") == "mic_001"
    assert micrograph_key("mic_001_autopick.star") == "mic_001"
    assert micrograph_key("mic_001") == "mic_001"


# ---- fuzz: text parsers return a valid table or raise FormatError, nothing else -----------------------------
_text = st.text(alphabet=st.sampled_from(list("0123456789.-+eE \t\n_#abcxyNA<>,loopdata")), max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_text, ext=st.sampled_from([".box", ".cbox", ".txt", ".csv", ".star"]))
def test_fuzz_text_parsers(tmp_path, body, ext):
    p = tmp_path / f"f{ext}"
    p.write_text(body)
    try:
        df = read_picks(p, default_box=None)
    except FormatError:
        return
    assert list(df.columns) == COLUMNS
    assert np.isfinite(df.x.to_numpy(float)).all() and np.isfinite(df.y.to_numpy(float)).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(xs=st.lists(st.floats(0, 4000, allow_nan=False), min_size=1, max_size=8),
       ext=st.sampled_from([".box", ".cbox", ".txt", ".csv", ".star"]))
def test_fuzz_round_trip_values(tmp_path, xs, ext):
    df = pd.DataFrame({"micrograph": "m", "x": xs, "y": xs[::-1], "score": 0.5, "diameter": 40.0})
    p = write_picks(tmp_path / f"m{ext}", df, box=60)
    back = read_picks(p)
    np.testing.assert_allclose(back.x, df.x, atol=0.02)
    np.testing.assert_allclose(back.y, df.y, atol=0.02)
