"""The main window as a user meets it: five docks, menus, help, opening good and bad files, layout, clean exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PySide6.QtWidgets import QDockWidget, QMessageBox

from cryogui.app.registry import PANELS
from cryogui.io.mrc import write_mrc

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window):
    return main_window


def test_five_object_named_docks(window):
    names = {d.objectName() for d in window.findChildren(QDockWidget)}
    for pid in ("picking", "pointcloud", "gaussfit", "motion", "poses"):
        assert f"dock_{pid}" in names
        assert window.findChild(object, f"panel_{pid}") is not None
    titles = [window.docks[s.panel_id].windowTitle() for s in PANELS]
    assert titles == ["Picking", "Point cloud", "Gaussian fit", "Eigen-motion", "Poses"]
    assert {"dock_jobs", "dock_log"} <= names


def test_menus_and_device_in_status_bar(window):
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Help"]
    view_items = [a.text() for a in window.menuBar().actions()[1].menu().actions()]
    assert "Picking" in view_items and "Reset layout".replace("R", "&R") in view_items
    assert window.device_label.text().startswith("Compute: CPU") or "CUDA" in window.device_label.text()


def test_view_menu_toggles_a_dock(window, qtbot):
    act = window.docks["poses"].toggleViewAction()
    act.trigger()
    assert not window.docks["poses"].isVisible()
    window.reset_layout()
    assert window.docks["poses"].isVisible() or window.docks["poses"].isVisibleTo(window)


def test_help_dialog_per_panel(window, qtbot):
    window.show_help("pointcloud")
    dlg = window.findChild(object, "help_pointcloud")
    assert dlg is not None and dlg.isVisible()
    assert "Point cloud" in dlg.windowTitle()


def test_open_map_and_bad_file_keeps_loaded_data(window, qtbot, tmp_path):
    good = write_mrc(tmp_path / "ok.mrc", np.ones((8, 8, 8), np.float32), apix=2.0)
    kinds = window.open_paths([good])
    assert kinds == ["map"]
    assert len(window.session.items("map")) == 1
    bad = tmp_path / "corrupt.mrc"
    bad.write_bytes(good.read_bytes()[:2000])
    kinds = window.open_paths([bad])
    assert kinds == []
    assert len(window.session.items("map")) == 1  # nothing already loaded is lost
    boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "error_dialog" and b.isVisible()]
    assert boxes and "corrupt.mrc" in boxes[-1].text()
    assert str(good.resolve()) in window.settings.recent_files()


def test_unknown_extension_message(window, tmp_path):
    p = tmp_path / "notes.docx"
    p.write_text("hello")
    window.open_paths([p])
    boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "error_dialog"]
    assert "unknown file type" in boxes[-1].text()


def test_job_appears_in_jobs_area_with_cancel(window, qtbot):
    import time

    from cryogui.core.jobs import Snapshot

    def endless():
        i = 0
        while True:
            i += 1
            time.sleep(0.01)
            yield Snapshot(i, 0)

    h = window.jobs.start("test.endless", "Endless job", endless)
    qtbot.waitUntil(lambda: "1 job(s) running" in window.jobs_label.text(), timeout=3000)
    rows = window.jobs_view.rows()
    assert rows and rows[0].label.text() == "Endless job"
    rows[0].cancel_btn.click()
    assert h.wait(1.0)
    qtbot.waitUntil(lambda: window.jobs_label.text() == "No jobs running", timeout=3000)


def test_log_goes_to_the_dock_and_a_file(window, qtbot):
    import logging

    from cryogui.models.paths import log_dir

    logging.getLogger("cryogui.test").info("hello from the test")
    qtbot.waitUntil(lambda: "hello from the test" in window.log_view.toPlainText(), timeout=2000)
    for h in logging.getLogger("cryogui").handlers:
        h.flush()
    assert "hello from the test" in (log_dir() / "cryogui.log").read_text()


def test_layout_is_restored_on_next_start(qtbot):
    from cryogui.app.application import build_window, make_app

    make_app()
    w1 = build_window()
    qtbot.addWidget(w1)
    w1.show()
    w1.docks["motion"].hide()
    w1.resize(1111, 777)
    qtbot.wait(50)
    w1.close()
    w2 = build_window()
    qtbot.addWidget(w2)
    w2.show()
    assert not w2.docks["motion"].isVisible()
    assert w2.width() == 1111
    w2.reset_layout()
    w2.close()


def test_window_closes_cleanly_while_a_job_is_busy(tmp_path):
    """A real process: start the window, start a long job, close; exit code 0 and no worker thread left."""
    script = textwrap.dedent("""
        import sys, time, threading
        from PySide6.QtCore import QTimer
        from cryogui.app.application import make_app, build_window
        from cryogui.core.jobs import Snapshot

        def busy():
            i = 0
            while True:
                i += 1
                time.sleep(0.02)
                yield Snapshot(i, 0)

        app = make_app()
        w = build_window()
        w.show()
        h = w.jobs.start("test.busy", "busy", busy)
        QTimer.singleShot(800, w.close)
        code = app.exec()
        alive = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
        print("STATE", h.state, "THREADS", alive, "ACTIVE", w.jobs.active())
        sys.exit(code)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "STATE cancelled" in res.stdout
    assert "ACTIVE []" in res.stdout
