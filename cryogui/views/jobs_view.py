"""The jobs area: one row per background job with its progress, state and pause/cancel buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from cryogui.workers.jobs import JobHandle, JobManager


class _JobRow(QWidget):
    def __init__(self, handle: JobHandle, parent=None):
        super().__init__(parent)
        self.handle = handle
        self.setObjectName(f"job_{handle.id}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 1, 4, 1)
        self.label = QLabel(handle.title)
        self.label.setMinimumWidth(160)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("starting")
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setObjectName("pause")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setObjectName("cancel")
        for w in (self.label, self.bar, self.pause_btn, self.cancel_btn):
            lay.addWidget(w)
        lay.setStretch(1, 1)
        self.pause_btn.clicked.connect(self._toggle_pause)
        self.cancel_btn.clicked.connect(handle.cancel)
        handle.snapshot.connect(self._on_snapshot)
        handle.state_changed.connect(self._on_state)
        handle.finished.connect(self._on_state)

    def _toggle_pause(self) -> None:
        if self.handle.state == "paused":
            self.handle.resume()
        else:
            self.handle.pause()

    def _on_snapshot(self, snap) -> None:
        if snap.total > 0:
            self.bar.setValue(int(1000 * snap.fraction))
            self.bar.setFormat(f"{snap.step}/{snap.total} {snap.message}".strip())
        else:
            self.bar.setRange(0, 0)

    def _on_state(self, state: str) -> None:
        self.pause_btn.setText("Resume" if state == "paused" else "Pause")
        finished = state in ("done", "cancelled", "failed")
        self.pause_btn.setEnabled(not finished)
        self.cancel_btn.setEnabled(not finished)
        if finished:
            self.bar.setRange(0, 1000)
            if state == "done":
                self.bar.setValue(1000)
            self.bar.setFormat(state)
        elif state == "paused":
            self.bar.setFormat(f"paused {self.bar.format()}")


class JobsView(QWidget):
    """Lists the job manager's jobs, newest first; keeps the last few finished ones."""

    KEEP_FINISHED = 6

    def __init__(self, jobs: JobManager, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.setObjectName("jobs_view")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("No background jobs.")
        self.empty.setAlignment(Qt.AlignCenter)
        outer.addWidget(self.empty)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self._inner = QWidget()
        self._rows = QVBoxLayout(self._inner)
        self._rows.addStretch(1)
        scroll.setWidget(self._inner)
        outer.addWidget(scroll)
        jobs.job_added.connect(self._add)
        jobs.job_finished.connect(lambda h: self._prune())

    def sizeHint(self):  # noqa: N802 (Qt name): a short strip under the panels
        from PySide6.QtCore import QSize

        return QSize(600, 110)

    def rows(self) -> list[_JobRow]:
        return [self._rows.itemAt(i).widget() for i in range(self._rows.count() - 1)]

    def _add(self, handle: JobHandle) -> None:
        self.empty.hide()
        self._rows.insertWidget(0, _JobRow(handle))
        self._prune()

    def _prune(self) -> None:
        finished = [r for r in self.rows() if not r.handle.is_active]
        for row in finished[self.KEEP_FINISHED:]:
            self._rows.removeWidget(row)
            row.deleteLater()
