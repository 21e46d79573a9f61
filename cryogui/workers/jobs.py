"""Background jobs: any core job generator (see :mod:`cryogui.core.jobs`) in a worker thread.

* progress, pause, resume, single step and cancel (between two yields of the generator);
* snapshots coalesced to at most ``max_rate`` per second before they cross to the GUI thread (the latest wins);
* errors reported with message and traceback (to the callback, the log, and the manager's error reporter);
* one job per key: starting a job with a key that is running cancels the older one (latest request wins).

Built on superqt's ``GeneratorWorker`` (a QRunnable in Qt's global thread pool).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from superqt.utils import GeneratorWorker

from cryogui.core.jobs import Snapshot
from cryogui.errors import InputError

log = logging.getLogger("cryogui.jobs")
_ids = itertools.count(1)


class _Control:
    """State shared between the GUI thread and the worker's wrapper generator (plain attributes: atomic in CPython)."""

    def __init__(self, max_rate: float | None):
        self.interval = 1.0 / max_rate if max_rate else 0.0
        self.delay = 0.0
        self.step_requested = False
        self.cancelled = False
        self.result: Any = None
        self.latest: Snapshot | None = None


def _throttled(gen: Generator, ctrl: _Control, worker_ref: list) -> Generator[Snapshot, None, Any]:
    """Yield the core generator's snapshots at most once per ``ctrl.interval``; the last one always gets through."""
    last_emit = 0.0
    pending: Snapshot | None = None
    try:
        while True:
            try:
                snap = next(gen)
            except StopIteration as stop:
                ctrl.result = stop.value
                break
            ctrl.latest = snap
            if ctrl.delay > 0:  # teaching speed control: sleep in small slices so cancel stays prompt
                end = time.perf_counter() + ctrl.delay
                while not ctrl.cancelled and time.perf_counter() < end:
                    time.sleep(min(0.02, end - time.perf_counter()))
            if ctrl.cancelled:
                return None
            now = time.perf_counter()
            if ctrl.step_requested or now - last_emit >= ctrl.interval:
                pending = None
                last_emit = now
                if ctrl.step_requested:
                    ctrl.step_requested = False
                    worker_ref[0].pause()
                yield snap
            else:
                pending = snap
        if pending is not None:
            yield pending
        return ctrl.result
    finally:
        gen.close()


class JobHandle(QObject):
    """One running job.  Signals are delivered in the GUI thread."""

    snapshot = Signal(object)  # throttled Snapshot
    result = Signal(object)  # the generator's return value
    failed = Signal(str, str)  # message, traceback
    finished = Signal(str)  # final state: "done" | "cancelled" | "failed"
    state_changed = Signal(str)

    def __init__(self, key: str, title: str, factory: Callable[[], Generator], max_rate: float | None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.id = next(_ids)
        self.key = key
        self.title = title
        self.state = "starting"
        self.last: Snapshot | None = None
        self.error: tuple[str, str] | None = None
        self.started_at = time.time()
        self._ctrl = _Control(max_rate)
        self._factory = factory
        self._worker: GeneratorWorker | None = None
        self._done = threading.Event()

    # ---- control (GUI thread) --------------------------------------------------------------------------------
    def pause(self) -> None:
        if self._worker is not None and self.state == "running":
            self._worker.pause()

    def resume(self) -> None:
        if self._worker is not None and self.state == "paused":
            self._worker.resume()

    def step(self) -> None:
        """Run until the next snapshot reaches the GUI, then pause again."""
        if self._worker is None or self.state in ("done", "cancelled", "failed"):
            return
        self._ctrl.step_requested = True
        if self.state == "paused":
            self._worker.resume()

    def cancel(self) -> None:
        if self.state in ("done", "cancelled", "failed"):
            return
        self._ctrl.cancelled = True
        if self._worker is not None:
            self._worker.quit()
            if self.state == "paused":
                self._worker.resume()

    def set_delay(self, seconds: float) -> None:
        self._ctrl.delay = max(0.0, float(seconds))

    @property
    def is_active(self) -> bool:
        return self.state in ("starting", "running", "paused")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread has finished (for tests and shutdown)."""
        return self._done.wait(timeout)

    # ---- wiring ---------------------------------------------------------------------------------------------
    def _start(self) -> None:
        ref: list = [None]
        try:
            gen = self._factory()
        except Exception as exc:  # bad parameters caught before the thread starts
            self._on_error(exc)
            self._done.set()
            self._set_state("failed")
            self.finished.emit("failed")
            return
        worker = GeneratorWorker(_throttled, gen, self._ctrl, ref)
        ref[0] = worker
        self._worker = worker
        worker.yielded.connect(self._on_yield)
        worker.errored.connect(self._on_error)
        worker.paused.connect(lambda: self._set_state("paused"))
        worker.resumed.connect(lambda: self._set_state("running"))
        # set from the worker thread itself, so that wait() works while the GUI thread blocks
        worker.finished.connect(self._done.set, Qt.DirectConnection)
        worker.finished.connect(self._on_finished)
        worker.returned.connect(self._on_returned)
        worker.started.connect(lambda: self._set_state("running") if self.state == "starting" else None)
        self._set_state("running")
        worker.start()

    def _set_state(self, state: str) -> None:
        if state != self.state and not (self.state in ("done", "cancelled", "failed")):
            self.state = state
            self.state_changed.emit(state)

    def _on_yield(self, snap: Any) -> None:
        if self._ctrl.cancelled or snap is None:
            return
        self.last = snap
        self.snapshot.emit(snap)

    def _on_returned(self, value: Any) -> None:
        if not self._ctrl.cancelled:
            self.result.emit(value)

    def _on_error(self, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, InputError):
            message = f"{type(exc).__name__}: {message}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error = (message, tb)
        self.failed.emit(message, tb)

    def _on_finished(self) -> None:
        if self.error is not None:
            final = "failed"
        elif self._ctrl.cancelled:
            final = "cancelled"
        else:
            final = "done"
        self._set_state(final)
        self._done.set()
        self.finished.emit(final)
        self._worker = None


class JobManager(QObject):
    """Starts jobs, keeps one per key, reports errors, and shuts everything down on exit."""

    job_added = Signal(object)  # JobHandle
    job_finished = Signal(object)  # JobHandle

    def __init__(self, parent: QObject | None = None,
                 error_reporter: Callable[[str, str, str], None] | None = None):
        super().__init__(parent)
        self._by_key: dict[str, JobHandle] = {}
        self.handles: list[JobHandle] = []
        self.error_reporter = error_reporter

    def start(self, key: str, title: str, factory: Callable[[], Generator], *,
              on_snapshot: Callable[[Snapshot], None] | None = None,
              on_result: Callable[[Any], None] | None = None,
              on_error: Callable[[str, str], None] | None = None,
              on_finished: Callable[[str], None] | None = None,
              max_rate: float | None = 30.0) -> JobHandle:
        """Run ``factory()`` (a core job generator) in a worker thread; see the module docstring."""
        old = self._by_key.get(key)
        if old is not None and old.is_active:
            log.info("job %s: superseded by a newer request", old.title)
            old.cancel()
        handle = JobHandle(key, title, factory, max_rate, parent=self)
        if on_snapshot:
            handle.snapshot.connect(on_snapshot)
        if on_result:
            handle.result.connect(on_result)
        if on_error:
            handle.failed.connect(on_error)
        handle.failed.connect(lambda msg, tb, h=handle: self._report(h, msg, tb))
        if on_finished:
            handle.finished.connect(on_finished)
        handle.finished.connect(lambda state, h=handle: self._finished(h, state))
        self._by_key[key] = handle
        self.handles.append(handle)
        self.job_added.emit(handle)
        log.info("job started: %s", title)
        handle._start()
        return handle

    def active(self) -> list[JobHandle]:
        return [h for h in self.handles if h.is_active]

    def get(self, key: str) -> JobHandle | None:
        return self._by_key.get(key)

    def cancel_all(self) -> None:
        for h in self.active():
            h.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel every job and wait for the worker threads to end.  True when all ended in time."""
        self.cancel_all()
        ok = QThreadPool.globalInstance().waitForDone(timeout_ms)
        return bool(ok)

    def _report(self, handle: JobHandle, message: str, tb: str) -> None:
        log.error("job %s failed: %s\n%s", handle.title, message, tb)
        if self.error_reporter is not None:
            self.error_reporter(f"{handle.title} failed", message, tb)

    def _finished(self, handle: JobHandle, state: str) -> None:
        log.info("job %s: %s", handle.title, state)
        self.job_finished.emit(handle)
        # keep the list short: forget finished jobs beyond the last 50
        if len(self.handles) > 50:
            self.handles = [h for h in self.handles if h.is_active] + \
                [h for h in self.handles if not h.is_active][-40:]
