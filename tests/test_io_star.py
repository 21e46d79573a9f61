from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryogui.errors import FormatError
from cryogui.io.star import read_particles, read_star, write_star, write_particle_stack, load_images

STAR30 = """# RELION; version 3.0
data_images
loop_
_rlnImageName #1
_rlnAngleRot #2
_rlnAngleTilt #3
_rlnAnglePsi #4
_rlnOriginX #5
_rlnOriginY #6
_rlnDefocusU #7
_rlnDefocusV #8
_rlnDefocusAngle #9
_rlnDetectorPixelSize #10
_rlnMagnification #11
_rlnVoltage #12
1@stack.mrcs 10.0 20.0 30.0 1.5 -2.0 15000 14000 45.0 5.0 25000 300
2@stack.mrcs 11.0 21.0 31.0 0.0 1.0 16000 15500 40.0 5.0 25000 300
"""

STAR31 = """
# version 30001
data_optics
loop_
_rlnOpticsGroup
_rlnOpticsGroupName
_rlnAmplitudeContrast
_rlnSphericalAberration
_rlnVoltage
_rlnImagePixelSize
_rlnImageSize
_rlnImageDimensionality
1 opticsGroup1 0.1 2.7 300.0 1.5 64 2
2 opticsGroup2 0.1 2.7 200.0 1.5 64 2

# version 30001
data_particles
loop_
_rlnImageName
_rlnAngleRot
_rlnAngleTilt
_rlnAnglePsi
_rlnOriginXAngst
_rlnOriginYAngst
_rlnOpticsGroup
1@a.mrcs 1 2 3 3.0 -1.5 1
2@a.mrcs 4 5 6 0.0 0.0 2
"""


def test_relion30_origins_in_pixels_become_angstrom(tmp_path):
    p = tmp_path / "p30.star"
    p.write_text(STAR30)
    ps = read_particles(p)
    assert len(ps) == 2
    assert ps.apix == pytest.approx(2.0)  # 5 um / 25000
    np.testing.assert_allclose(ps.shifts_A()[0], [3.0, -4.0])
    np.testing.assert_allclose(ps.angles()[1], [11, 21, 31])
    ctf = ps.ctf_params()
    assert ctf.voltage == 300 and ctf.defocus_u[1] == 16000


def test_relion31_optics_merged(tmp_path):
    p = tmp_path / "p31.star"
    p.write_text(STAR31)
    ps = read_particles(p)
    assert ps.apix == pytest.approx(1.5) and ps.box == 64
    assert list(ps.df["rlnVoltage"]) == [300.0, 200.0]
    np.testing.assert_allclose(ps.shifts_A()[0], [3.0, -1.5])


def test_missing_pose_columns_named(tmp_path):
    p = tmp_path / "nopose.star"
    p.write_text("data_particles\nloop_\n_rlnImageName\n_rlnDefocusU\n1@x.mrcs 1000\n")
    ps = read_particles(p)
    with pytest.raises(FormatError, match="rlnAngleRot"):
        ps.angles()


def test_nan_in_numeric_column(tmp_path):
    p = tmp_path / "nan.star"
    p.write_text("data_particles\nloop_\n_rlnImageName\n_rlnAngleRot\n1@x.mrcs nan\n2@x.mrcs 3\n")
    with pytest.raises(FormatError, match="rlnAngleRot"):
        read_particles(p)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"hello world\nno blocks here\n"])
def test_not_star_files(tmp_path, content):
    p = tmp_path / "bad.star"
    p.write_bytes(content)
    with pytest.raises(FormatError) as err:
        read_star(p)
    assert "bad.star" in str(err.value)


def test_write_particle_stack_round_trip(tmp_path):
    stack = np.random.default_rng(1).normal(size=(3, 16, 16)).astype(np.float32)
    table = pd.DataFrame({"rlnAngleRot": [1.0, 2, 3], "rlnAngleTilt": [4.0, 5, 6], "rlnAnglePsi": [7.0, 8, 9],
                          "rlnOriginXAngst": [0.5, 0, 0], "rlnOriginYAngst": [0, 0, -1.0]})
    star, mrcs = write_particle_stack(tmp_path / "parts.star", stack, table, apix=2.5)
    ps = read_particles(star)
    assert ps.apix == 2.5 and ps.box == 16
    np.testing.assert_allclose(ps.shifts_A()[2], [0, -1.0])
    np.testing.assert_array_equal(load_images(ps, [2]), stack[2:3])


def test_stack_size_mismatch_and_past_end(tmp_path):
    stack = np.zeros((2, 16, 16), np.float32)
    table = pd.DataFrame({"rlnAngleRot": [1.0, 2], "rlnAngleTilt": [4.0, 5], "rlnAnglePsi": [7.0, 8]})
    star, _ = write_particle_stack(tmp_path / "p.star", stack, table, apix=2.0)
    ps = read_particles(star)
    ps.df.loc[1, "rlnImageName"] = "5@p.mrcs"
    with pytest.raises(FormatError, match="past the end"):
        load_images(ps, [1])
    ps.df["rlnImageSize"] = 32
    with pytest.raises(FormatError, match="32 px"):
        load_images(ps, [0])


def test_write_star_is_atomic_on_error(tmp_path, monkeypatch):
    p = tmp_path / "x.star"
    write_star(p, {"particles": pd.DataFrame({"rlnCoordinateX": [1.0]})})
    before = p.read_text()
    import starfile

    def half_then_fail(data, path, **kw):
        open(path, "w").write("data_particles\nloop_\n_rlnCoo")  # a crash half-way through
        raise OSError("disk full")

    monkeypatch.setattr(starfile, "write", half_then_fail)
    with pytest.raises(OSError):
        write_star(p, {"particles": pd.DataFrame({"rlnCoordinateX": [2.0]})})
    assert p.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["x.star"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("data_loop_ rlnXY#0123456789.-\n\t@abc")), max_size=300))
def test_fuzz_star_parser_raises_only_format_error(tmp_path, text):
    p = tmp_path / "fuzz.star"
    p.write_text(text)
    try:
        blocks = read_star(p)
    except FormatError:
        return
    assert isinstance(blocks, dict) and blocks


@pytest.mark.shared_data
@pytest.mark.parametrize("name,n,apix", [("relion31.star", 5, 2.806), ("relion31.6opticsgroups.star", 139, None),
                                         ("relion5.star", 17, 0.89), ("empiar_10076_7.star", 7, 1.31),
                                         ("FinalRefinement-OriginalParticles-PfCRT.star", 5, 1.035)])
def test_real_particle_files(shared_data, name, n, apix):
    ps = read_particles(shared_data / "particles" / name)
    assert len(ps) == n
    if apix:
        assert ps.apix == pytest.approx(apix, rel=1e-3)


@pytest.mark.shared_data
def test_real_star_files_parse(shared_data):
    for f in sorted((shared_data / "star").rglob("*.star")):
        blocks = read_star(f)
        assert blocks, f


@pytest.mark.shared_data
def test_real_stack_images(shared_data):
    ps = read_particles(shared_data / "particles/relion31.star")
    imgs = load_images(ps)
    assert imgs.shape == (5, 256, 256) and np.isfinite(imgs).all()
