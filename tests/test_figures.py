"""Figure export: every panel's plots as PNG at the requested width and as SVG, 3D views and whole panels as PNG,
and a running method recorded as a GIF."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytestmark = pytest.mark.gui


from cryogui.app.registry import PANELS  # noqa: E402

PANEL_IDS = tuple(spec.panel_id for spec in PANELS)


@pytest.fixture(scope="module")
def window(small_demo):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from cryogui.app.application import build_window, make_app
    from cryogui.app.figures import install_figures

    pg.setConfigOptions(imageAxisOrder="row-major")
    make_app()
    w = build_window()
    install_figures(w)
    w.show()
    w.panels["motion"].load_demo = lambda d: None  # not needed: the motion panel still has its plots
    w.load_demo(small_demo)
    w.jobs.cancel_all()
    app = QApplication.instance()
    import time

    t0 = time.monotonic()
    while w.jobs.active() and time.monotonic() - t0 < 30:
        app.processEvents()
        time.sleep(0.02)
    yield w
    for p in w.panels.values():
        p.shutdown()
    w.jobs.shutdown(5000)
    w.close()


def _png_size(path):
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert not img.isNull(), path
    return img.width(), img.height()


@pytest.mark.parametrize("pid", PANEL_IDS)
def test_each_panel_exports_a_plot_as_png_and_svg(window, pid, tmp_path, qtbot):
    from cryogui.views.figure_export import export_png, export_svg, find_figures

    window.docks[pid].raise_()
    qtbot.waitUntil(lambda: window.panels[pid].isVisible(), timeout=5000)
    qtbot.wait(50)
    figs = find_figures(window.panels[pid])
    plots = [f for f in figs if f.kind == "plot"]
    assert plots, f"{pid}: no pyqtgraph view found"
    assert figs[-1].kind == "panel"
    fig = plots[0]
    png = export_png(fig, tmp_path / "a.png", width=1200)
    w, h = _png_size(png)
    assert w == 1200 and h > 50
    svg = export_svg(fig, tmp_path / "a.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert any(el.tag.endswith("path") for el in root.iter())
    panel_png = export_png(figs[-1], tmp_path / "panel.png", width=800)
    assert _png_size(panel_png)[0] == 800


def test_vispy_canvas_exports_at_the_requested_width(window, tmp_path, qtbot):
    from PySide6.QtGui import QImage

    from cryogui.views.figure_export import export_png, find_figures

    window.docks["gaussfit"].raise_()
    qtbot.waitUntil(lambda: window.panels["gaussfit"].isVisible(), timeout=5000)
    canvases = [f for f in find_figures(window.panels["gaussfit"]) if f.kind == "canvas"]
    if not canvases:
        pytest.skip("no OpenGL context here (the 3D view shows a label instead)")
    path = export_png(canvases[0], tmp_path / "c.png", width=1000)
    img = QImage(str(path))
    assert img.width() == 1000
    # the map's isosurface is drawn: not a blank image
    from cryogui.views.figure_export import qimage_to_rgb

    rgb = qimage_to_rgb(img)
    assert rgb.std() > 5


def test_export_figures_writes_every_view_and_svg_only_for_plots(window, tmp_path):
    from cryogui.views.figure_export import export_figures

    window.docks["pointcloud"].raise_()
    files = export_figures(window.panels["pointcloud"], tmp_path, width=600, prefix="pc_")
    names = {p.name for p in files}
    assert "pc_panel.png" in names and "pc_panel.svg" not in names
    assert any(n.endswith(".svg") for n in names)
    assert all(p.exists() and p.stat().st_size > 0 for p in files)


def test_too_small_width_is_refused_with_a_message(window, tmp_path):
    from cryogui.errors import InputError
    from cryogui.views.figure_export import export_png, find_figures

    fig = find_figures(window.panels["pointcloud"])[0]
    with pytest.raises(InputError, match="width"):
        export_png(fig, tmp_path / "x.png", width=3)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_record_a_running_method(window, tmp_path, qtbot, suffix):
    import imageio.v2 as imageio

    from cryogui.views.figure_export import Recorder, ffmpeg_available

    assert ffmpeg_available()  # imageio-ffmpeg is a dependency: MP4 always works
    window.docks["pointcloud"].raise_()
    panel = window.panels["pointcloud"]
    panel.source_box.setCurrentIndex(0)
    panel.n_points.setValue(50)
    panel.cvt_iters.setValue(5)
    panel.use["trn"].setChecked(False)
    panel.step_btn.click()  # starts CVT paused after its first snapshot
    panel.use["trn"].setChecked(True)
    handle = window.jobs.get("pointcloud.cvt")
    qtbot.waitUntil(lambda: handle.state == "paused", timeout=20_000)
    rec = Recorder(panel, tmp_path / f"run{suffix}", fps=20, width=400, handle=handle)
    saved = []
    rec.saved.connect(saved.append)
    rec.start()
    qtbot.wait(200)
    handle.set_delay(0.25)  # teaching speed: the run lasts over a second whatever the machine's load
    handle.resume()
    qtbot.waitUntil(lambda: bool(saved), timeout=60_000)
    assert handle.state == "done"
    reader = imageio.get_reader(saved[0], format="FFMPEG" if suffix == ".mp4" else None)
    frames = [f for f in reader]  # list(reader) would ask the ffmpeg reader for a length it cannot know
    reader.close()
    assert len(frames) >= 3
    assert abs(frames[0].shape[1] - 400) <= 16  # video codecs round the width to a multiple of 16
    assert not np.array_equal(frames[0], frames[-1])  # the points moved / the curve grew


def test_file_menu_has_the_export_and_record_actions(window, qtbot):
    from cryogui.app.figures import ExportFigureDialog, RecordDialog

    export_act, record_act = window.figure_actions
    file_menu = window.menuBar().actions()[0].menu()
    assert export_act in file_menu.actions() and record_act in file_menu.actions()
    window.docks["poses"].raise_()
    qtbot.wait(50)
    export_act.trigger()
    dlg = [d for d in window.findChildren(ExportFigureDialog) if d.isVisible()][-1]
    assert dlg.panel_id == "poses"
    assert len(dlg.chosen()) == dlg.list.count() >= 2
    dlg.close()
    record_act.trigger()
    rec = [d for d in window.findChildren(RecordDialog) if d.isVisible()][-1]
    assert rec.panel_id == "poses"
    rec.close()


def test_export_dialog_writes_the_ticked_views(window, tmp_path, qtbot):
    from PySide6.QtCore import Qt

    from cryogui.app.figures import open_export_dialog

    window.docks["gaussfit"].raise_()
    qtbot.wait(50)
    dlg = open_export_dialog(window, "gaussfit")
    for i in range(dlg.list.count()):
        if i > 0:
            dlg.list.item(i).setCheckState(Qt.Unchecked)
    dlg.dir_edit.setText(str(tmp_path))
    dlg.width_spin.setValue(1000)
    files = dlg.export()
    first = dlg.list.item(0).data(Qt.UserRole)
    assert {p.name for p in files} == {f"gaussfit_{first}.png", f"gaussfit_{first}.svg"}
    assert _png_size(tmp_path / f"gaussfit_{first}.png")[0] == 1000
    dlg.close()
