"""Each panel's smoke job (``cryogui --smoke-test``) starts a real job through the panel's controls and it finishes
"done" on a small demo data set."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module", autouse=True)
def _own_home(tmp_path_factory):
    """Settings, autosaves and logs of these tests go to a folder of their own, not the user's."""
    old = os.environ.get("CRYOGUI_HOME")
    os.environ["CRYOGUI_HOME"] = str(tmp_path_factory.mktemp("home"))
    yield
    if old is None:
        os.environ.pop("CRYOGUI_HOME", None)
    else:
        os.environ["CRYOGUI_HOME"] = old


PANEL_IDS = ("picking", "pointcloud", "gaussfit", "motion", "poses")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """One small demo data set per test session (shared by test_tour/test_figures/test_smoke_jobs)."""
    from cryogui.demo import write_demo

    out = tmp_path_factory.getbasetemp() / "small_demo"
    if not (out / "written").exists():
        write_demo(out, n_micrographs=1, n_particles=40, micrograph_size=512)
        (out / "written").write_text("ok")
    return out


@pytest.fixture
def window(qtbot, small_demo, monkeypatch, tmp_path):
    import pyqtgraph as pg

    from cryogui.app.application import build_window, make_app

    pg.setConfigOptions(imageAxisOrder="row-major")
    make_app()
    w = build_window()
    qtbot.addWidget(w)
    w.show()
    w.panels["motion"].load_demo = lambda d: None  # the 800-particle simulation is not needed here
    w.load_demo(small_demo)
    w.jobs.cancel_all()  # the panels' own demo runs are not what is tested here
    qtbot.waitUntil(lambda: not w.jobs.active(), timeout=30_000)
    yield w
    for p in w.panels.values():
        p.shutdown()
    w.jobs.shutdown(5000)


def test_every_panel_smoke_job_finishes_done(window, qtbot):
    from cryogui.app.smoke import smoke_job

    states = {}
    for pid in PANEL_IDS:
        handle = smoke_job(window, pid)
        assert handle is not None, pid
        assert handle.key.startswith(pid + "."), handle.key
        qtbot.waitUntil(lambda: not handle.is_active, timeout=60_000)
        states[pid] = handle.state
    assert states == {pid: "done" for pid in PANEL_IDS}
    # what the jobs left behind is visible in the panels
    assert window.panels["picking"].store.count(window.panels["picking"].current) > 0
    assert "cvt" in window.panels["pointcloud"].results
    assert window.panels["gaussfit"].model is not None
    assert window.panels["motion"].inputs is not None  # the first motion smoke job loads its particles
    # the next one runs the analysis itself
    handle = smoke_job(window, "motion")
    assert handle is not None and handle.key == "motion.run"
    qtbot.waitUntil(lambda: not handle.is_active, timeout=60_000)
    assert handle.state == "done"
    assert window.panels["motion"].result is not None and window.panels["motion"].result.n_modes == 2
    assert window.panels["poses"].images is not None and len(window.panels["poses"].images) == 10


def test_a_panel_with_nothing_loaded_has_no_smoke_job(qtbot):
    from cryogui.app.application import build_window, make_app
    from cryogui.app.smoke import smoke_job

    make_app()
    w = build_window()
    qtbot.addWidget(w)
    try:
        assert smoke_job(w, "picking") is None
        assert smoke_job(w, "gaussfit") is None
        assert smoke_job(w, "nonexistent") is None
    finally:
        for p in w.panels.values():
            p.shutdown()
        w.jobs.shutdown(5000)
