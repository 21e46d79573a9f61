"""What every dock panel shares: the application context it is given and the hooks the main window calls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from cryogui.models.session import Session
    from cryogui.models.settings import Settings
    from cryogui.workers.jobs import JobManager


@dataclass
class AppContext:
    """Handed to every panel: the shared services of the application."""

    jobs: "JobManager"
    session: "Session"
    settings: "Settings"
    log: logging.Logger
    show_error: Callable[[str, str, str], None]  # (title, message, details) -> dialog + log
    status: Callable[[str], None]  # a line in the status bar


class PanelBase(QWidget):
    """Base class of the five dock panels.  Subclasses set ``panel_id`` and ``title`` and fill the widget."""

    panel_id: str = ""
    title: str = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"panel_{self.panel_id}")

    def help_html(self) -> str:
        """The panel's "How this works" text (HTML): the method's equations and what each control does."""
        return f"<h3>{self.title}</h3>"

    def load_demo(self, demo_dir: Path) -> None:
        """Populate the panel from the demo data set (``cryogui demo``)."""

    def open_path(self, path: Path, kind: str) -> bool:
        """A file the user opened from the File menu; return True if this panel took it."""
        return False

    def shutdown(self) -> None:
        """Cancel this panel's jobs (the window is closing)."""
        for handle in self.ctx.jobs.active():
            if handle.key.startswith(f"{self.panel_id}."):
                handle.cancel()


class SessionSummaryPanel(PanelBase):
    """A panel that lists what the session holds of the kinds it will work on (before its method is built)."""

    kinds: tuple[str, ...] = ()
    blurb: str = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        layout = QVBoxLayout(self)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextFormat(self._label.textFormat().RichText)
        layout.addWidget(self._label)
        layout.addStretch(1)
        ctx.session.subscribe(lambda kind, item: self._refresh())
        self._refresh()

    def _refresh(self) -> None:
        rows = []
        for item in self.ctx.session.items():
            if item.kind in self.kinds:
                rows.append(f"<li><b>{item.kind}</b>: {item.name} {item.meta.get('summary', '')}</li>")
        body = "<ul>" + "".join(rows) + "</ul>" if rows else "<p><i>Nothing loaded yet (File menu).</i></p>"
        self._label.setText(f"<p>{self.blurb}</p><p>Loaded data:</p>{body}")
