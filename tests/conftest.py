"""Shared fixtures.  ``shared_data`` points at ../shared/data and skips cleanly when it is absent (a user's fresh
checkout has no ../shared)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("CRYOGUI_THREADS", "2")
# settings, logs, journals and autosaves of every test (module-scoped windows too) go to a private home
os.environ["CRYOGUI_HOME"] = tempfile.mkdtemp(prefix="cryogui-test-home-")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRYOGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture
def one_torch_thread():
    """Tiny problems: one intra-op thread (on a loaded 2-core machine more threads only add contention)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def qapp(qapp_args):
    """The application as ``cryogui`` makes it (pytest-qt's fixture, overridden): among other things, Python's
    garbage collector then runs only on the GUI thread, never in a job's worker thread."""
    from cryogui.app.application import make_app

    return make_app()


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """Once a GUI test made the app, automatic collection is off: collect after each test on this (GUI) thread."""
    yield
    import sys

    app_mod = sys.modules.get("cryogui.app.application")
    if app_mod is not None and app_mod._collector is not None:
        app_mod._collector.check()


@pytest.fixture
def open_panel(qtbot, tmp_path):
    """``open_panel(PanelClass, size)``: a panel on its own, with a job manager, a session and settings of its own.

    Errors the panel reports (dialogs) are collected in ``panel.errors``; jobs are shut down afterwards.
    """
    from cryogui.models.session import Session
    from cryogui.models.settings import Settings
    from cryogui.views.base import AppContext
    from cryogui.workers.jobs import JobManager

    opened = []

    def make(cls, size=(1300, 900)):
        errors: list = []
        jobs = JobManager(error_reporter=lambda t, m, d: errors.append(m))
        ctx = AppContext(jobs=jobs, session=Session(), settings=Settings(tmp_path / "settings.json"),
                         log=logging.getLogger("test"), show_error=lambda t, m, d="": errors.append(m),
                         status=lambda s: None)
        panel = cls(ctx)
        panel.errors = errors
        panel.jobs = jobs
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        qtbot.waitExposed(panel)
        opened.append(panel)
        return panel

    yield make
    for panel in opened:
        panel.shutdown()
        panel.jobs.shutdown(5000)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """One small demo data set per test session (the tour, figure and smoke-job tests share it)."""
    from cryogui.demo import write_demo

    out = tmp_path_factory.mktemp("small_demo")
    write_demo(out, n_micrographs=1, n_particles=40, micrograph_size=512)
    return out


@pytest.fixture
def main_window(qtbot):
    """A real main window (as ``cryogui`` builds it), shown; its panels and jobs are shut down afterwards."""
    from cryogui.app.application import build_window, make_app

    make_app()
    w = build_window()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for p in w.panels.values():
        p.shutdown()
    w.jobs.shutdown(5000)
