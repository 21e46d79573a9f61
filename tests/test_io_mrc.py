from __future__ import annotations

import numpy as np
import pytest

from cryogui.errors import FormatError
from cryogui.io.mrc import read_header, read_mrc, write_mrc


def test_round_trip_keeps_pixel_size_origin_and_data(tmp_path):
    data = np.random.default_rng(0).normal(size=(8, 10, 12)).astype(np.float32)
    p = write_mrc(tmp_path / "m.mrc", data, apix=1.7, origin=(-10.0, 5.0, 2.5))
    vol = read_mrc(p)
    assert vol.shape == (8, 10, 12)
    assert vol.apix == pytest.approx(1.7, rel=1e-6)
    assert vol.origin == pytest.approx((-10.0, 5.0, 2.5))
    np.testing.assert_array_equal(vol.data, data)
    assert vol.kind == "map"


def test_stack_flag_and_mmap(tmp_path):
    data = np.zeros((5, 16, 16), np.float32)
    data[3, 4, 5] = 2.0
    p = write_mrc(tmp_path / "s.mrcs", data, apix=2.0)
    vol = read_mrc(p, mmap=True)
    assert vol.kind == "stack"
    assert float(vol.data[3, 4, 5]) == 2.0


def test_micrograph_is_2d(tmp_path):
    p = write_mrc(tmp_path / "mic.mrc", np.ones((20, 30), np.float32), apix=1.2)
    vol = read_mrc(p)
    assert vol.shape == (20, 30) and vol.kind == "image"


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    p = write_mrc(tmp_path / "keep.mrc", np.ones((4, 4, 4), np.float32), apix=1.0)
    before = p.read_bytes()
    import mrcfile

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mrcfile, "new", boom)
    with pytest.raises(OSError):
        write_mrc(p, np.zeros((4, 4, 4), np.float32), apix=1.0)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["keep.mrc"]  # no temporary left behind


@pytest.mark.parametrize("case", ["empty", "truncated", "text", "missing", "nan", "short"])
def test_bad_files_raise_format_error_naming_the_file(tmp_path, case):
    good = write_mrc(tmp_path / "good.mrc", np.ones((16, 16, 16), np.float32), apix=1.0)
    p = tmp_path / f"{case}.mrc"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "truncated":
        p.write_bytes(good.read_bytes()[:3000])
    elif case == "text":
        p.write_text("data_\nloop_\n_rlnCoordinateX\n" * 100)
    elif case == "nan":
        arr = np.ones((4, 4, 4), np.float32)
        arr[1, 1, 1] = np.nan
        write_mrc(p, arr, apix=1.0)
    elif case == "short":
        p.write_bytes(b"\x00" * 100)
    with pytest.raises(FormatError) as err:
        read_mrc(p)
    assert p.name in str(err.value)


def test_truncated_header_check_names_the_problem(tmp_path):
    good = write_mrc(tmp_path / "good.mrc", np.ones((16, 16, 16), np.float32), apix=1.0)
    p = tmp_path / "cut.mrc"
    p.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(FormatError, match="truncated"):
        read_header(p)


@pytest.mark.shared_data
@pytest.mark.parametrize("name,shape,apix", [
    ("maps/emd_1832.map", (64, 64, 64), 5.7),
    ("maps/emd_5625.map", (56, 56, 56), 4.23),
    ("maps/EMD-3197.map", (20, 20, 20), 11.4),
    ("maps/EMD-3001.map", (25, 43, 73), 0.44825),
    ("micrographs/fei-extended_bin8.mrc", (479, 463), 6.8302),
    ("micrographs/epu2.9_example_bin8.mrc", (512, 512), 5.3324),
    ("micrographs/Ucsf_stack_1142_DW.mrc", (927, 959), 1.0),
])
def test_real_files(shared_data, name, shape, apix):
    vol = read_mrc(shared_data / name)
    assert vol.shape == shape
    assert vol.apix == pytest.approx(apix, rel=1e-3)


@pytest.mark.shared_data
def test_emd1832_origin_from_nstart(shared_data):
    vol = read_mrc(shared_data / "maps/emd_1832.map")
    assert vol.origin == pytest.approx((-32 * 5.7, -32 * 5.7, -32 * 5.7), rel=1e-5)


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = write_mrc(tmp_path / "perm.mrc", np.ones((4, 4, 4), np.float32), apix=1.0)
        assert p.stat().st_mode & 0o777 == 0o644
        os.chmod(p, 0o640)
        write_mrc(p, np.ones((4, 4, 4), np.float32), apix=1.0)  # overwriting keeps the file's mode
        assert p.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
