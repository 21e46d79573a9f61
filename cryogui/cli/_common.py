"""Helpers shared by the commands: progress printing, JSON output, torch threads."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from cryogui.core.jobs import JobGenerator, JobResult, Snapshot, run_job


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def print_json(obj: dict) -> None:
    print(json.dumps(to_jsonable(obj), indent=None, sort_keys=False))


def start_cli_compute() -> None:
    """All cores for the CLI (DESIGN: set torch threads once at start-up)."""
    from cryogui.core.device import configure_threads

    configure_threads(for_gui=False)


def run_with_progress(gen: JobGenerator, label: str, quiet: bool = False) -> JobResult:
    """Iterate a job generator, drawing a one-line progress bar on stderr (at most ~5 updates a second)."""
    last_print = [0.0]
    interactive = sys.stderr.isatty()

    def show(s: Snapshot) -> None:
        now = time.perf_counter()
        if quiet or now - last_print[0] < 0.2:
            return
        last_print[0] = now
        metrics = " ".join(f"{k}={v:.4g}" for k, v in list(s.metrics.items())[:3])
        frac = s.fraction
        bar = "#" * int(frac * 30)
        line = f"{label} [{bar:<30}] {s.step}/{s.total} {metrics} {s.message}"
        if interactive:
            print("\r" + line[:150], end="", file=sys.stderr, flush=True)

    result = run_job(gen, show)
    if interactive and not quiet:
        print(file=sys.stderr)
    return result
