"""What every dock panel shares: the application context it is given and the hooks the main window calls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

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


REDRAW_INTERVAL_MS = 33  # panels redraw at most about 30 times a second


class PanelBase(QWidget):
    """Base class of the five dock panels.  Subclasses set ``panel_id`` and ``title`` and fill the widget.

    Drawing is coalesced: whatever changes the panel's data calls :meth:`schedule_redraw` naming the parts to
    draw again (snapshots may arrive far faster than a screen needs them); the panel's redraw timer, every
    ``REDRAW_INTERVAL_MS``, calls :meth:`redraw` once with every part named since the last time, if any.
    """

    panel_id: str = ""
    title: str = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"panel_{self.panel_id}")
        self._redraw_parts: set[str] = set()
        # a steady tick on the GUI thread (not started per request): schedule_redraw only notes what to draw, so
        # that it is cheap and safe to call from any callback
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.redraw_now)
        self._redraw_timer.start()

    # ---- coalesced drawing ---------------------------------------------------------------------------------------
    def schedule_redraw(self, *parts: str) -> None:
        """Ask for the named parts (``"all"`` when none is named) to be drawn again soon, by :meth:`redraw`."""
        self._redraw_parts.update(parts or ("all",))

    def redraw_now(self) -> None:
        """Draw what is pending now (the timer calls this; so may code that needs the picture at once)."""
        if not self._redraw_parts:
            return
        parts, self._redraw_parts = self._redraw_parts, set()
        self.redraw(parts)

    def redraw(self, parts: set[str]) -> None:
        """Draw the named parts from the panel's state (overridden; called on the GUI thread, never per snapshot)."""

    # ---- layout --------------------------------------------------------------------------------------------------
    def split_layout(self, controls: QWidget | None = None, *, margins: int | None = None,
                     scroll_width: int | None = None, h_scroll: bool = False) -> tuple[QSplitter, QWidget]:
        """Start the usual panel layout: a horizontal splitter filling the panel, the column of controls on its
        left.  ``controls``: that column (a new widget with a vertical layout when None); ``margins``: of the
        panel (Qt's default when None); ``scroll_width``: put the column in a scroll area at least this wide
        (none when None), which scrolls sideways too only with ``h_scroll``.  Returns the splitter and the column;
        the caller adds the right-hand side."""
        outer = QHBoxLayout(self)
        if margins is not None:
            outer.setContentsMargins(margins, margins, margins, margins)
        split = QSplitter(Qt.Horizontal)
        outer.addWidget(split)
        if controls is None:
            controls = QWidget()
            QVBoxLayout(controls)
        if scroll_width is None:
            split.addWidget(controls)
            return split, controls
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(controls)
        scroll.setMinimumWidth(scroll_width)
        if not h_scroll:
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        split.addWidget(scroll)
        return split, controls

    def help_html(self) -> str:
        """The panel's "How this works" text (HTML): the method's equations and what each control does."""
        return f"<h3>{self.title}</h3>"

    def load_demo(self, demo_dir: Path) -> None:
        """Populate the panel from the demo data set (``cryogui demo``)."""

    def open_path(self, path: Path, kind: str) -> bool:
        """A file the user opened from the File menu; return True if this panel took it."""
        return False

    def shutdown(self) -> None:
        """Stop drawing and cancel this panel's jobs (the window is closing)."""
        if shiboken6.isValid(self._redraw_timer):
            self._redraw_timer.stop()
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
