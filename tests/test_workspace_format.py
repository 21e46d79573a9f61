"""The workspace format without Qt: round trip, relative paths, versions, moved files, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cryogui.errors import InputError
from cryogui.models import workspace as wsm
from cryogui.models.workspace import (MissingFiles, Workspace, decode, encode, load_workspace, pickstore_state,
                                      restore_pickstore, save_workspace)

FIXTURE = Path(__file__).parent / "data" / "workspace_v1" / "demo.cryogui"


def _fixture_workspace(ref_dir: Path) -> Workspace:
    """What tests/data/workspace_v1 holds (regenerate with ``python tests/test_workspace_format.py``)."""
    from cryogui.core.gmm.model import GaussianModel
    from cryogui.core.pointcloud.result import PointCloudResult
    from cryogui.models.picks import PickStore

    store = PickStore()
    store.set_picks("mic_a", {"x": [10.0, 20.0], "y": [30.0, 40.0], "score": [0.9, np.nan], "diameter": [50.0, 52.0]})
    store.add("mic_a", 70.0, 80.0)
    store.undo()
    arrays: dict = {}
    panels = {
        "picking": encode({"store": pickstore_state(store), "controls": {"threshold": 42},
                           "micrographs": [ref_dir / "mic_a.mrc"]}, arrays, "picking"),
        "pointcloud": encode({"results": {"trn": PointCloudResult(method="trn", points=np.arange(6.0).reshape(3, 2),
                                                                   weights=np.array([0.2, 0.3, 0.5]), energy=1.5,
                                                                   iterations=60, history=[(1, 3.0), (60, 1.5)])},
                              "random_energy": float("nan")}, arrays, "pointcloud"),
        "gaussfit": encode({"model": GaussianModel(positions=np.eye(3), amplitudes=[1.0, 2.0, 3.0],
                                                   sigmas=[4.0, 5.0, 6.0], box=16, apix=2.0)}, arrays, "gaussfit"),
    }
    return Workspace(panels=panels, arrays=arrays, app_version="0.1.0",
                     files=[{"kind": "micrograph", "path": {"$path": str(ref_dir / "mic_a.mrc")}}])


def test_round_trip_of_results_arrays_and_special_values(tmp_path):
    from cryogui.core.gmm.model import GaussianModel

    arrays: dict = {}
    model = GaussianModel(positions=np.ones((2, 3)), amplitudes=[1.0, 2.0], sigmas=[3.0, 4.0])
    state = {"model": model, "curve": [(1, 0.5), (2, 0.25)], "nan": float("nan"), "none": None,
             "ints": np.arange(5, dtype=np.int32), "flag": True, "name": "x"}
    ws = Workspace(panels={"gaussfit": encode(state, arrays, "gaussfit")}, arrays=arrays)
    folder = save_workspace(tmp_path / "w", ws)
    assert folder.name == "w.cryogui"
    assert sorted(p.name for p in (folder / "arrays").iterdir()) == ["gaussfit.npz"]
    doc = json.loads((folder / "workspace.json").read_text())
    assert doc["format"] == "cryogui-workspace" and doc["version"] == wsm.VERSION
    back, missing = load_workspace(folder)
    assert missing == []
    out = decode(back.panels["gaussfit"], back.arrays)
    np.testing.assert_array_equal(out["model"].positions, model.positions)
    np.testing.assert_array_equal(out["model"].sigmas, model.sigmas)
    assert out["curve"] == [(1, 0.5), (2, 0.25)] and np.isnan(out["nan"]) and out["none"] is None
    assert out["ints"].dtype == np.int32 and out["flag"] is True and out["name"] == "x"


def test_paths_inside_the_project_are_relative_and_follow_a_moved_project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "m.mrc").write_bytes(b"x")
    outside = tmp_path / "elsewhere.mrc"
    outside.write_bytes(b"y")
    ws = Workspace(panels={"picking": {"mic": {"$path": str(proj / "data" / "m.mrc")},
                                       "other": {"$path": str(outside)}}})
    save_workspace(proj / "ws", ws)
    doc = json.loads((proj / "ws.cryogui" / "workspace.json").read_text())
    assert doc["panels"]["picking"]["mic"] == {"$path": "../data/m.mrc"}
    assert doc["panels"]["picking"]["other"] == {"$path": str(outside)}
    shutil.move(proj, tmp_path / "moved")
    back, missing = load_workspace(tmp_path / "moved" / "ws.cryogui")
    assert missing == []
    assert back.panels["picking"]["mic"] == {"$path": str(tmp_path / "moved" / "data" / "m.mrc")}


def test_a_moved_file_is_named_and_everything_else_loads(tmp_path):
    (tmp_path / "a.mrc").write_bytes(b"x")
    ws = Workspace(panels={"picking": {"mics": [{"$path": str(tmp_path / "a.mrc")},
                                                {"$path": str(tmp_path / "gone.mrc")}], "threshold": 7}})
    folder = save_workspace(tmp_path / "w", ws)
    back, missing = load_workspace(folder)
    assert missing == [str(tmp_path / "gone.mrc")]
    assert back.panels["picking"]["threshold"] == 7
    err = MissingFiles(folder, missing)
    assert isinstance(err, InputError)
    assert "gone.mrc" in str(err) and "moved" in str(err) and str(folder) in str(err)


def test_versions_newer_foreign_and_migrated(tmp_path, monkeypatch):
    folder = save_workspace(tmp_path / "w", Workspace(panels={"poses": {"n": 1}}))
    doc = json.loads((folder / "workspace.json").read_text())
    (folder / "workspace.json").write_text(json.dumps({**doc, "version": wsm.VERSION + 1}))
    with pytest.raises(InputError, match="newer cryogui"):
        load_workspace(folder)
    (folder / "workspace.json").write_text(json.dumps({**doc, "format": "something-else"}))
    with pytest.raises(InputError, match="not a cryogui workspace"):
        load_workspace(folder)
    # a future version 2 reads version-1 files through its migration hook
    (folder / "workspace.json").write_text(json.dumps(doc))
    monkeypatch.setattr(wsm, "VERSION", 2)
    monkeypatch.setitem(wsm.MIGRATIONS, 1, lambda d: {**d, "panels": {"poses": {"n": d["panels"]["poses"]["n"] + 1}}})
    back, _ = load_workspace(folder)
    assert back.panels["poses"] == {"n": 2} and back.version == 2
    with pytest.raises(InputError, match="no such workspace"):
        load_workspace(tmp_path / "nothing.cryogui")


def test_the_version_1_fixture_still_opens():
    ws, missing = load_workspace(FIXTURE)
    assert ws.app_version == "0.1.0"
    assert len(missing) == 1 and missing[0].endswith("mic_a.mrc")  # the fixture refers to a file that is not there
    pc = decode(ws.panels["pointcloud"], ws.arrays)
    trn = pc["results"]["trn"]
    np.testing.assert_array_equal(trn.points, np.arange(6.0).reshape(3, 2))
    assert trn.history == [(1, 3.0), (60, 1.5)] and trn.energy == 1.5 and np.isnan(pc["random_energy"])
    model = decode(ws.panels["gaussfit"], ws.arrays)["model"]
    np.testing.assert_array_equal(model.amplitudes, [1.0, 2.0, 3.0])
    assert model.box == 16 and model.apix == 2.0
    from cryogui.models.picks import PickStore

    store = PickStore()
    pick = decode(ws.panels["picking"], ws.arrays)
    restore_pickstore(store, pick["store"])
    assert store.count("mic_a") == 2 and np.isnan(store.arrays("mic_a")["score"][1])
    assert pick["controls"]["threshold"] == 42
    assert store.redo() and store.count("mic_a") == 3


def test_pick_store_history_round_trip(tmp_path):
    from cryogui.models.picks import PickStore

    a = PickStore(tmp_path / "j.jsonl")
    a.set_picks("m", {"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
    a.move("m", [1], [20.0], [50.0])
    a.remove("m", [0])
    a.set_flag("m", good=False)
    a.undo()
    b = PickStore(tmp_path / "k.jsonl")
    heard = []
    b.subscribe(heard.append)
    state = json.loads(json.dumps(pickstore_state(a)))  # it is plain JSON
    restore_pickstore(b, state)
    assert heard == ["m"]
    assert b.table().equals(a.table()) and b.flags == a.flags
    assert b.redo() and b.flags["m"] == {"good": False}
    assert b.undo() and b.undo() and b.count("m") == 3
    assert b.undo() and b.arrays("m")["x"][1] == 2.0
    assert PickStore.recover(tmp_path / "k.jsonl").count("m") == 3  # the journal saw the restored state
    a.close_journal()
    b.close_journal()


def test_a_failed_save_leaves_the_previous_workspace_intact(tmp_path, monkeypatch):
    import cryogui.io.workspace as wio

    folder = save_workspace(tmp_path / "w", Workspace(panels={"motion": {"v": 1}},
                                                      arrays={"motion.c": np.arange(3.0)}))
    before = (folder / "workspace.json").read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(wio.np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        save_workspace(folder, Workspace(panels={"motion": {"v": 2}}, arrays={"motion.c": np.zeros(3)}))
    assert (folder / "workspace.json").read_text() == before
    back, _ = load_workspace(folder)
    assert back.panels["motion"] == {"v": 1}
    np.testing.assert_array_equal(back.arrays["motion.c"], np.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.cryogui"]  # no temporary folder left behind
    # killed between the two renames: the set-aside copy is what opens
    folder.rename(tmp_path / "w.cryogui.old")
    back, _ = load_workspace(folder)
    assert back.panels["motion"] == {"v": 1}


def test_only_cryogui_classes_are_rebuilt_and_arrays_need_a_panel(tmp_path):
    with pytest.raises(InputError, match="not a cryogui class"):
        decode({"$dataclass": "os.system", "fields": {}}, {})
    with pytest.raises(TypeError):
        encode({"a": object()}, {}, "x")
    with pytest.raises(ValueError, match="panel"):
        save_workspace(tmp_path / "w", Workspace(panels={}, arrays={"nobody.a": np.zeros(1)}))


if __name__ == "__main__":  # regenerate the version-1 fixture (only when the format version changes: keep the old!)
    out = FIXTURE
    if out.exists():
        raise SystemExit(f"{out} exists: a fixture of a released version is never rewritten")
    save_workspace(out, _fixture_workspace(out.parent / "files"))
    print("wrote", out)
