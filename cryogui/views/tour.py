"""The guided tour's window (Back / Next / Run this step / Close) and the temporary frame that points at a control.

The steps themselves (what each does on the real panels) live in :mod:`cryogui.app.tour`; this widget only shows
them and calls back.
"""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import (QDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout,
                               QWidget)

HIGHLIGHT_MS = 3000


def flash(widget: QWidget | None, msecs: int = HIGHLIGHT_MS) -> QFrame | None:
    """Draw a bright frame around ``widget`` for ``msecs`` (on top of everything, mouse clicks pass through)."""
    if widget is None or not widget.isVisible():
        return None
    top = widget.window()
    frame = QFrame(top)
    frame.setObjectName("tour_highlight")
    frame.setAttribute(Qt.WA_TransparentForMouseEvents)
    frame.setStyleSheet("QFrame#tour_highlight { border: 3px solid #ff8c00; border-radius: 4px;"
                        " background: rgba(255, 140, 0, 30); }")
    pos = widget.mapTo(top, QPoint(0, 0))
    pad = 4
    frame.setGeometry(pos.x() - pad, pos.y() - pad, widget.width() + 2 * pad, widget.height() + 2 * pad)
    frame.show()
    frame.raise_()
    QTimer.singleShot(msecs, frame.deleteLater)
    return frame


class TourView(QDialog):
    """A non-modal step-by-step guide.  ``steps`` have ``title``, ``html`` and ``expect`` (what to look at)."""

    def __init__(self, steps: Sequence, show_step: Callable[[int], None], run_step: Callable[[int], None],
                 check_step: Callable[[int], bool], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tour_dialog")
        self.setWindowTitle("cryogui tour")
        self.setModal(False)
        self.steps = list(steps)
        self._show, self._run, self._check = show_step, run_step, check_step
        self.index = 0
        lay = QVBoxLayout(self)
        self.counter = QLabel()
        self.counter.setObjectName("tour_counter")
        self.title = QLabel()
        self.title.setObjectName("tour_title")
        self.title.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.title.setWordWrap(True)
        lay.addWidget(self.counter)
        lay.addWidget(self.title)
        self.text = QTextBrowser()
        self.text.setObjectName("tour_text")
        self.text.setOpenExternalLinks(True)
        lay.addWidget(self.text, 1)
        self.result = QLabel()
        self.result.setObjectName("tour_result")
        self.result.setWordWrap(True)
        lay.addWidget(self.result)
        row = QHBoxLayout()
        self.back_btn = QPushButton("< Back")
        self.run_btn = QPushButton("Run this step")
        self.run_btn.setDefault(True)
        self.next_btn = QPushButton("Next >")
        self.close_btn = QPushButton("Close")
        self.back_btn.clicked.connect(lambda: self.go(self.index - 1))
        self.next_btn.clicked.connect(lambda: self.go(self.index + 1))
        self.run_btn.clicked.connect(lambda: self._run(self.index))
        self.close_btn.clicked.connect(self.close)
        for b in (self.back_btn, self.run_btn, self.next_btn):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.close_btn)
        lay.addLayout(row)
        self._poll = QTimer(self)
        self._poll.setInterval(400)
        self._poll.timeout.connect(self.refresh_check)
        self.resize(460, 520)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._poll.start()
        self.go(self.index)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._poll.stop()
        super().closeEvent(event)

    def go(self, index: int) -> None:
        self.index = max(0, min(len(self.steps) - 1, index))
        step = self.steps[self.index]
        self.counter.setText(f"Step {self.index + 1} of {len(self.steps)}")
        self.title.setText(step.title)
        self.text.setHtml(step.html + (f"<p><b>Look at:</b> {step.expect}</p>" if step.expect else ""))
        self.back_btn.setEnabled(self.index > 0)
        self.next_btn.setEnabled(self.index < len(self.steps) - 1)
        self._show(self.index)
        self.refresh_check()

    def refresh_check(self) -> bool:
        try:
            ok = bool(self._check(self.index))
        except Exception:  # a check never breaks the tour
            ok = False
        if ok:
            self.result.setText("<span style='color:#1a7f37'>&#10004; You should see it now.</span>")
        else:
            self.result.setText("<span style='color:#8a6d00'>Press <b>Run this step</b> (or do it yourself "
                                "with the framed control), then watch the panel.</span>")
        return ok
