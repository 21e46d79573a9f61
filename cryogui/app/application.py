"""``run_gui``: the QApplication, the main window, the demo data, and the screenshot / smoke-test modes."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

log = logging.getLogger("cryogui.app")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cryogui", description="Open the cryogui window (on FILEs, or the demo data).")
    p.add_argument("files", nargs="*", type=Path, help="micrographs, maps, STAR, coordinate or .cs files")
    p.add_argument("--demo-dir", type=Path, default=None, help="where the demo data set lives (made if missing)")
    p.add_argument("--no-demo", action="store_true", help="start empty instead of on the demo data")
    p.add_argument("--screenshot", type=Path, default=None, metavar="DIR",
                   help="render the window and each panel to PNGs in DIR, then quit")
    p.add_argument("--settle", type=float, default=4.0, help="seconds to let jobs run before --screenshot")
    p.add_argument("--smoke-test", action="store_true", help="open every panel, then quit with exit code 0")
    return p.parse_args(argv)


_collector = None


def collect_garbage_on_gui_thread():
    """Run Python's cyclic garbage collector only on the GUI thread, from a timer (pyqtgraph's GarbageCollector).

    Left automatic, a collection can start in a worker thread and free Qt wrappers there; Qt then waits for the GUI
    thread while that thread waits for Python's lock, and the application freezes.  Returns the collector; its
    ``check()`` collects as the automatic collector would have, and is safe to call from the GUI thread."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=0.5)
    return _collector


def make_app():
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    # vispy's marching cubes subtracts 1 from a uint8 table entry; under numpy 2 that warns of an overflow whose
    # wrapped value it then uses correctly (checked on volumes over 256 voxels long): not the user's concern
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"vispy\.geometry\.isosurface")
    app.setApplicationName("cryogui")
    app.setOrganizationName("cryogui")
    app.setDesktopFileName("io.github.cryogui")
    from PySide6.QtGui import QIcon

    import cryogui

    # a checkout and the bundle have resources/ beside the package; an installed desktop file has the theme icon
    icon = Path(cryogui.__file__).resolve().parents[1] / "resources" / "icons" / "io.github.cryogui.svg"
    app.setWindowIcon(QIcon.fromTheme("io.github.cryogui", QIcon(str(icon))))
    return app


def build_window():
    """The main window with logging and the compute device wired up (used by ``run_gui`` and the tests)."""
    from cryogui.app.logs import setup_logging
    from cryogui.app.main_window import MainWindow
    from cryogui.core.device import configure_threads, describe_device

    configure_threads(for_gui=True)
    log_path, handler = setup_logging()
    window = MainWindow(log_handler=handler, device_text=describe_device())
    from cryogui.app.workspace import install_workspace

    install_workspace(window)
    log.info("cryogui started; log file %s", log_path)
    return window


def start_demo(window, demo_dir: Path) -> None:
    """Write the demo data in a background job if needed, then load it into the window."""
    from cryogui.demo import demo_is_complete, demo_job

    if demo_is_complete(demo_dir):
        window.load_demo(demo_dir)
        return
    window.ctx.jobs.start("app.demo", "Preparing demo data", lambda: demo_job(demo_dir),
                          on_result=lambda _: window.load_demo(demo_dir))


def grab_widget(widget, path: Path):
    """Save ``widget`` as a PNG from the real screen pixels (OpenGL views included), falling back to Qt's own
    rendering where the screen gives nothing; returns the pixmap."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    screen = widget.screen() or app.primaryScreen()
    pix = screen.grabWindow(widget.winId())
    if pix.isNull() or pix.width() < 10:
        pix = widget.grab()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pix.save(str(path)):
        raise OSError(f"{path}: the screenshot could not be written")
    return pix


def grab_screenshots(window, out: Path) -> list[Path]:
    """Save the whole window, then each panel raised in turn, as PNGs (real pixels from the screen)."""
    from PySide6.QtWidgets import QApplication

    from cryogui.app.registry import PANELS

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance()
    saved = []

    def grab(name: str) -> None:
        for _ in range(10):
            app.processEvents()
        saved.append(out / f"{name}.png")
        grab_widget(window, saved[-1])

    grab("main_window")
    for spec in PANELS:
        window.docks[spec.panel_id].raise_()
        grab(f"panel_{spec.panel_id}")
    window.docks[PANELS[0].panel_id].raise_()
    return saved


def _smoke_step(window, app, pending: list, results: dict, deadline_s: float = 180.0) -> None:
    """Raise each panel in turn and run its tiny job to the end; then close the window."""
    from PySide6.QtCore import QTimer

    demo = window.jobs.get("app.demo")
    if demo is not None and demo.is_active:
        QTimer.singleShot(500, lambda: _smoke_step(window, app, pending, results, deadline_s))
        return
    if not pending:
        window.close()
        return
    panel = pending.pop(0)
    window.docks[panel.panel_id].raise_()
    from cryogui.app.smoke import smoke_job

    try:
        handle = smoke_job(window, panel.panel_id)
    except Exception as exc:  # noqa: BLE001 - reported as the panel's result
        results[panel.panel_id] = f"failed to start: {exc}"
        QTimer.singleShot(0, lambda: _smoke_step(window, app, pending, results, deadline_s))
        return
    if handle is None:
        results[panel.panel_id] = "no job"
        QTimer.singleShot(0, lambda: _smoke_step(window, app, pending, results, deadline_s))
        return
    import time

    t0 = time.monotonic()

    def poll() -> None:
        if handle.is_active and time.monotonic() - t0 < deadline_s:
            QTimer.singleShot(200, poll)
            return
        if handle.is_active:
            handle.cancel()
            results[panel.panel_id] = "timed out"
        else:
            results[panel.panel_id] = handle.state
        _smoke_step(window, app, pending, results, deadline_s)

    QTimer.singleShot(200, poll)


def run_gui(argv: list[str]) -> int:
    args = _parse(argv)
    results: dict[str, str] = {}
    from PySide6.QtCore import QTimer

    from cryogui.models.paths import demo_dir as default_demo_dir

    app = make_app()
    window = build_window()
    from cryogui.app.figures import install_figures
    from cryogui.app.tour import install_tour

    install_tour(window, args.demo_dir or default_demo_dir())
    install_figures(window)
    window.show()
    restored = False
    if not args.smoke_test and args.screenshot is None:
        from cryogui.app.workspace import maybe_offer_restore

        restored = maybe_offer_restore(window)  # after a crash: offer the autosaved workspace
    if args.files:
        window.open_paths(args.files)
    elif not args.no_demo and not restored:
        start_demo(window, args.demo_dir or default_demo_dir())

    if args.screenshot is not None:
        def shoot() -> None:
            if window.jobs.get("app.demo") is not None and window.jobs.get("app.demo").is_active:
                QTimer.singleShot(500, shoot)
                return
            QTimer.singleShot(int(args.settle * 1000), lambda: (grab_screenshots(window, args.screenshot),
                                                                window.close()))
        QTimer.singleShot(500, shoot)
    elif args.smoke_test:
        QTimer.singleShot(500, lambda: _smoke_step(window, app, list(window.panels.values()), results))
    code = app.exec()
    # a job that was between two yields when the window closed finishes its step before the interpreter ends
    from PySide6.QtCore import QThreadPool

    if not QThreadPool.globalInstance().waitForDone(30_000):
        log.warning("a background job did not stop within 30 s of closing")
    if args.smoke_test:
        for pid, state in results.items():
            print(f"smoke test: {pid}: {state}")
        ok = len(results) == len(window.panels) and all(state == "done" for state in results.values())
        return 0 if ok and code == 0 else 1
    return int(code)
