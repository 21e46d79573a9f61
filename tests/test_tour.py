"""Help > Tour: every step runs end to end on the real panels (small demo data set) and its check sees the result."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.gui


SMALL = {"points": 40, "trn_steps": 60, "cvt_iters": 8, "gauss_n": 20, "gauss_iters": 10, "motion_n": 60,
         "recover_steps": 60}


@pytest.fixture(scope="module")
def window():
    """One window for the module: the end-to-end test starts it empty, the dialog test reuses what it loaded."""
    import pyqtgraph as pg

    from cryogui.app.application import build_window, make_app

    pg.setConfigOptions(imageAxisOrder="row-major")
    make_app()
    w = build_window()
    w.show()
    # the panel's own demo start simulates 800 particles; the tour's step loads a small set instead
    w.panels["motion"].load_demo = lambda d: None
    yield w
    for p in w.panels.values():
        p.shutdown()
    w.jobs.shutdown(5000)
    w.close()


def test_every_tour_step_runs_and_its_check_passes(window, small_demo, qtbot):
    from cryogui.app.tour import Tour

    tour = Tour(window, small_demo, sizes=SMALL)
    assert len(tour.steps) >= 9
    assert not tour.check(0)  # nothing loaded yet: the welcome step's result is not visible
    passed = []
    for i, step in enumerate(tour.steps):
        tour.run_step(i)
        if step.panel_id:
            assert window.panels[step.panel_id].isVisible(), step.title  # its dock was raised
        t0 = time.monotonic()
        qtbot.waitUntil(lambda i=i: tour.check(i), timeout=60_000)
        passed.append(step.title)
        print(f"step {i}: {time.monotonic() - t0:.1f} s")
        if i == 0:  # the panels start their own demo runs on loading; the steps below start theirs
            window.jobs.cancel_all()
            qtbot.waitUntil(lambda: not window.jobs.active(), timeout=30_000)
    assert len(passed) == len(tour.steps)
    # what the steps produced, as the user sees it
    picking = window.panels["picking"]
    assert picking.store.count(picking.current) > 0 and picking.threshold_value() == pytest.approx(0.7)
    assert window.panels["gaussfit"].model is not None
    assert window.panels["motion"].result.n_modes == 2
    assert window.panels["poses"].recovered.shape[1] == 4


def test_tour_dialog_navigates_frames_the_control_and_runs_a_step(window, small_demo, qtbot):
    from PySide6.QtWidgets import QFrame

    from cryogui.app.tour import install_tour

    act = install_tour(window, small_demo)
    help_menu = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help"][0]
    assert help_menu.actions()[0] is act
    window.tour.sizes.update(SMALL)
    act.trigger()
    view = window.tour.view
    qtbot.waitUntil(view.isVisible, timeout=5000)
    assert view.counter.text() == f"Step 1 of {len(window.tour.steps)}"
    assert not view.back_btn.isEnabled()
    view.run_btn.click()  # load the demo data (already there from the test above: nothing to do)
    qtbot.waitUntil(lambda: window.tour.check(0), timeout=30_000)
    window.jobs.cancel_all()
    assert "&#10004;" in view.result.text() or "\u2714" in view.result.text() or view.refresh_check()
    view.next_btn.click()
    assert view.index == 1 and "Picking" in view.title.text()
    assert window.panels["picking"].isVisible()

    def framed():
        frames = [f for f in window.findChildren(QFrame) if f.objectName() == "tour_highlight" and f.isVisible()]
        btn = window.panels["picking"].pick_btn
        return bool(frames) and frames[-1].geometry().contains(btn.mapTo(window, btn.rect().center()))
    qtbot.waitUntil(framed, timeout=5000)
    view.back_btn.click()
    assert view.index == 0
    view.close_btn.click()
    assert not view.isVisible()
