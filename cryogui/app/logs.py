"""Logging: a rotating file under the user's log folder, and a Qt handler that feeds the log dock."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cryogui.models.paths import log_dir

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class QtLogEmitter(QObject):
    message = Signal(str, int)  # text, level


class QtLogHandler(logging.Handler):
    """Forwards records to the GUI thread through a signal (queued across threads)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.emitter = QtLogEmitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.message.emit(self.format(record).split("\n")[0], record.levelno)
        except RuntimeError:  # the emitter was deleted at shutdown
            pass


def setup_logging() -> tuple[Path, QtLogHandler]:
    root = logging.getLogger("cryogui")
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_cryogui", False):
            root.removeHandler(h)
            h.close()
    path = log_dir() / "cryogui.log"
    fh = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    fh.setFormatter(logging.Formatter(FORMAT))
    fh._cryogui = True  # type: ignore[attr-defined]
    qt = QtLogHandler()
    qt._cryogui = True  # type: ignore[attr-defined]
    root.addHandler(fh)
    root.addHandler(qt)
    return path, qt
