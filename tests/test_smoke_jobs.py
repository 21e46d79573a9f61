"""Each panel's smoke job (``cryogui --smoke-test``) starts a real job through the panel's controls and it finishes
"done" on a small demo data set."""

from __future__ import annotations


import pytest

pytestmark = pytest.mark.gui


from cryogui.app.registry import PANELS  # noqa: E402

PANEL_IDS = tuple(spec.panel_id for spec in PANELS)


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
