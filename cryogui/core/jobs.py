"""The one protocol for long computations.

Every long computation in ``cryogui.core`` is a generator function that yields :class:`Snapshot` objects and can be
stopped between two yields (the consumer simply stops iterating and calls ``close()``).  Its ``return`` value is the
job's result.  Three consumers share it:

* the GUI, through :mod:`cryogui.workers`, which runs it in a thread and throttles what reaches the screen;
* the CLI, through :func:`run_job`, which prints progress;
* the tests, which iterate it directly.

A snapshot holds copies (numpy arrays, floats), never a live tensor or a Qt object, so it may cross threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

R = TypeVar("R")


@dataclass(frozen=True)
class Snapshot:
    """Progress of a job at one moment.

    step / total: progress counter (total may be 0 when unknown).
    points:       the main array that a view draws (point cloud, Gaussian centres, picks...), copied.
    metrics:      scalar figures of merit at this step (energy, loss, ...).
    data:         any further arrays the job wants to show (images, curves), copied.
    message:      one human line ("epoch 3/10").
    """

    step: int
    total: int = 0
    points: np.ndarray | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] (0 when the total is unknown)."""
        if self.total <= 0:
            return 0.0
        return min(1.0, max(0.0, self.step / self.total))


JobGenerator = Generator[Snapshot, None, R]


class JobResult:
    """What :func:`run_job` returns: the generator's return value and the last snapshot it yielded."""

    def __init__(self, value: Any, last: Snapshot | None, n_snapshots: int, seconds: float):
        self.value = value
        self.last = last
        self.n_snapshots = n_snapshots
        self.seconds = seconds


def run_job(
    gen: JobGenerator,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> JobResult:
    """Iterate a job generator to its end (or until ``should_stop()``), calling ``on_snapshot`` for each snapshot.

    Returns a :class:`JobResult`; when stopped early its value is ``None`` and the generator is closed.
    """
    t0 = time.perf_counter()
    last: Snapshot | None = None
    n = 0
    try:
        while True:
            if should_stop is not None and should_stop():
                gen.close()
                return JobResult(None, last, n, time.perf_counter() - t0)
            try:
                snap = next(gen)
            except StopIteration as stop:
                return JobResult(stop.value, last, n, time.perf_counter() - t0)
            last = snap
            n += 1
            if on_snapshot is not None:
                on_snapshot(snap)
    finally:
        gen.close()


def freeze(arr: Any) -> np.ndarray:
    """A read-only numpy copy of an array or tensor, safe to hand to another thread."""
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out
