"""The job manager: completion, cancel, errors, throttling, latest-wins, pause/step, and signal storms."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QObject, QThread, Signal

from cryogui.core.jobs import Snapshot, run_job
from cryogui.errors import InputError
from cryogui.workers.jobs import JobManager

pytestmark = pytest.mark.gui


def counting_job(n: int, sleep: float = 0.0, closed: list | None = None):
    try:
        for i in range(n):
            if sleep:
                time.sleep(sleep)
            yield Snapshot(i + 1, n, points=np.full((2, 2), i, float), metrics={"i": float(i)})
        return {"sum": n * (n - 1) // 2}
    finally:
        if closed is not None:
            closed.append(True)


def failing_job():
    yield Snapshot(1, 3)
    raise ValueError("the loss became NaN at step 2")


@pytest.fixture
def manager(qtbot):
    errors = []
    m = JobManager(error_reporter=lambda title, msg, tb: errors.append((title, msg, tb)))
    m.errors = errors
    yield m
    m.shutdown(3000)


def test_job_runs_to_completion(qtbot, manager):
    got, results = [], []
    h = manager.start("t.done", "count", lambda: counting_job(20, 0.005), on_snapshot=got.append,
                      on_result=results.append)
    with qtbot.waitSignal(h.finished, timeout=10000) as blocker:
        pass
    assert blocker.args == ["done"]
    assert results == [{"sum": 190}]
    assert got and got[-1].step == 20  # the last snapshot always gets through the throttle
    assert h.state == "done"


def test_cancel_mid_run_stops_within_a_second_and_closes_the_generator(qtbot, manager):
    closed = []
    got = []
    h = manager.start("t.cancel", "slow", lambda: counting_job(10_000, 0.01, closed), on_snapshot=got.append)
    qtbot.waitUntil(lambda: len(got) >= 2, timeout=5000)
    t0 = time.perf_counter()
    h.cancel()
    assert h.wait(1.0), "worker thread still running 1 s after cancel"
    assert time.perf_counter() - t0 < 1.0
    qtbot.waitUntil(lambda: h.state == "cancelled", timeout=2000)
    qtbot.waitUntil(lambda: closed == [True], timeout=2000)
    assert got[-1].step < 10_000


def test_error_is_reported_with_message_and_traceback(qtbot, manager):
    failures = []
    h = manager.start("t.fail", "fails", failing_job, on_error=lambda m, tb: failures.append((m, tb)))
    with qtbot.waitSignal(h.finished, timeout=5000) as blocker:
        pass
    assert blocker.args == ["failed"]
    msg, tb = failures[0]
    assert "NaN at step 2" in msg and "ValueError" in msg
    assert "failing_job" in tb  # the traceback names the frame that raised
    assert manager.errors and manager.errors[0][1] == msg


def test_bad_parameters_fail_before_the_thread_starts(qtbot, manager):
    def factory():
        raise InputError("n must be positive")

    failures = []
    h = manager.start("t.bad", "bad", factory, on_error=lambda m, tb: failures.append(m))
    assert h.state == "failed" and failures == ["n must be positive"]


def test_snapshots_are_throttled(qtbot, manager):
    got = []
    t0 = time.perf_counter()
    h = manager.start("t.fast", "fast", lambda: counting_job(20_000), on_snapshot=got.append, max_rate=30)
    with qtbot.waitSignal(h.finished, timeout=20000):
        pass
    elapsed = time.perf_counter() - t0
    assert got[-1].step == 20_000
    assert len(got) <= 30 * elapsed + 3, (len(got), elapsed)
    assert len(got) < 20_000


def test_latest_request_of_a_key_wins(qtbot, manager):
    first = manager.start("t.key", "first", lambda: counting_job(10_000, 0.01))
    second = manager.start("t.key", "second", lambda: counting_job(3, 0.0))
    with qtbot.waitSignal(second.finished, timeout=5000):
        pass
    assert first.wait(2.0)
    qtbot.waitUntil(lambda: first.state == "cancelled", timeout=2000)
    assert second.state == "done"
    assert manager.get("t.key") is second


def test_pause_resume_and_step(qtbot, manager):
    got = []
    h = manager.start("t.pause", "pausable", lambda: counting_job(10_000, 0.002), on_snapshot=got.append)
    qtbot.waitUntil(lambda: len(got) >= 1, timeout=5000)
    h.pause()
    qtbot.waitUntil(lambda: h.state == "paused", timeout=3000)
    qtbot.wait(100)
    n_paused = len(got)
    qtbot.wait(300)
    assert len(got) == n_paused  # nothing arrives while paused
    h.step()
    qtbot.waitUntil(lambda: len(got) == n_paused + 1 and h.state == "paused", timeout=3000)
    step_before = got[-1].step
    h.resume()
    qtbot.waitUntil(lambda: len(got) >= n_paused + 3, timeout=5000)
    assert got[-1].step > step_before
    h.cancel()
    assert h.wait(1.0)


def test_delay_slows_a_job_down(qtbot, manager):
    got = []
    h = manager.start("t.delay", "slowed", lambda: counting_job(1000), on_snapshot=got.append)
    h.set_delay(0.2)
    qtbot.wait(700)
    assert got[-1].step < 20  # without the delay 1000 steps take milliseconds
    h.cancel()
    assert h.wait(1.0)


def test_ten_thousand_signals_from_a_worker_thread(qtbot):
    """PySide6 6.12.0 on Python 3.11 aborts after a few hundred emits (bool_dealloc); the pin keeps us safe."""

    class Emitter(QObject):
        tick = Signal(object, bool)

    class Thread(QThread):
        def __init__(self):
            super().__init__()
            self.emitter = Emitter()

        def run(self):
            for i in range(10_000):
                self.emitter.tick.emit(Snapshot(i, 10_000), True)

    received = []
    t = Thread()
    t.emitter.tick.connect(lambda s, flag: received.append(s.step))
    t.start()
    qtbot.waitUntil(lambda: len(received) == 10_000, timeout=30_000)
    t.wait()
    assert received[-1] == 9999


def test_ten_thousand_unthrottled_snapshots_through_the_manager(qtbot, manager):
    got = []
    h = manager.start("t.storm", "storm", lambda: counting_job(10_000), on_snapshot=got.append, max_rate=None)
    with qtbot.waitSignal(h.finished, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: len(got) == 10_000, timeout=30_000)
    assert [s.step for s in got[:3]] == [1, 2, 3]


def test_run_job_collects_return_value_and_can_stop():
    res = run_job(counting_job(5))
    assert res.value == {"sum": 10} and res.n_snapshots == 5
    closed: list = []
    seen: list = []
    res = run_job(counting_job(100, closed=closed), on_snapshot=seen.append, should_stop=lambda: len(seen) >= 3)
    assert res.value is None and len(seen) == 3 and closed == [True]
